"""Storing agreement versions."""

from __future__ import annotations

from pathlib import Path

from ceasewatch.agreement.model import Agreement, agreement_to_document, load_agreement
from ceasewatch.store.base import Store


def load_agreement_into(store: Store, path: Path) -> tuple[int, Agreement]:
    """Validate the agreement at ``path`` and store it as a new version."""
    agreement = load_agreement(path)
    with store.transaction():
        version = store.add_agreement(
            {
                "name": agreement.name,
                "effective": agreement.effective,
                "sha256": agreement.sha256,
                "label": agreement.version_label,
                "source_path": agreement.source_path,
                "document": agreement_to_document(agreement),
            }
        )
    return version, agreement
