"""Storing agreement versions."""

from __future__ import annotations

from pathlib import Path

from ceasewatch.agreement.model import Agreement, agreement_to_document, load_agreement
from ceasewatch.store.audit import append_audit
from ceasewatch.store.base import Store


def load_agreement_into(store: Store, path: Path, *, actor: str = "cli") -> tuple[int, Agreement]:
    """Validate the agreement at ``path`` and store it as a new version (audited)."""
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
        append_audit(
            store,  # type: ignore[arg-type]  # the audit log needs a SQL store
            actor=actor,
            action="agreement.load",
            entity="agreement",
            entity_id=str(version),
            payload={
                "name": agreement.name,
                "effective": agreement.effective.isoformat(),
                "sha256": agreement.sha256,
                "label": agreement.version_label,
            },
        )
    return version, agreement
