"""Loading the guarantee data sets into the store: one batch per file, quarantine kept.

Each function reads a file with :mod:`ceasewatch.guarantee.importers`, then in one
transaction opens a batch (so ``ceasewatch batches`` lists it), adds the rows as the new
snapshot of its table(s), puts unreadable rows in the shared quarantine (so ``ceasewatch
quarantine list`` shows them, with line and reason) and logs the import in ``ledger_log``.
The same file twice (same SHA-256) adds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ceasewatch.errors import IngestError
from ceasewatch.guarantee import importers
from ceasewatch.guarantee import schema as gs
from ceasewatch.ingest.pipeline import BatchResult, file_sha256
from ceasewatch.store import guarantee as sg

if TYPE_CHECKING:
    from ceasewatch.store.open import AnyStore

Reader = Callable[[Path], tuple[dict[str, pd.DataFrame], pd.DataFrame, int]]


def _reason_key(reason: str) -> str:
    head = reason.split("'")[0].strip()
    return head or reason[:40]


def _load(store: AnyStore, path: Path, source: str, read: Reader, *, actor: str) -> BatchResult:
    path = Path(path)
    if not path.is_file():
        msg = f"file {str(path)!r} does not exist or is not a file"
        raise IngestError(msg)
    t0 = time.perf_counter()
    sha = file_sha256(path)
    result = BatchResult(source, path.name, sha, None)
    prev = store.find_batch(source, sha)
    if prev is not None:
        result.batch_id = int(prev["batch_id"])
        result.skipped_file = True
        return result
    tables, quarantine, rows_read = read(path)
    result.rows_read = rows_read
    with store.transaction():
        batch_id = store.begin_batch(
            {
                "source": source,
                "file_name": path.name,
                "file_path": str(path.resolve()),
                "file_sha256": sha,
                "file_bytes": path.stat().st_size,
                "started_at": datetime.now(UTC),
            }
        )
        result.batch_id = batch_id
        counts = {}
        for table, frame in tables.items():
            counts[table] = sg.put_dataset(store, table, frame, batch_id=batch_id)
        first = next(iter(tables))
        result.loaded = counts[first]
        if not quarantine.empty:
            store.add_quarantine(
                quarantine.assign(batch_id=batch_id, source=source, file_name=path.name)
            )
            for reason in quarantine["reason"]:
                key = _reason_key(str(reason))
                result.reasons[key] = result.reasons.get(key, 0) + 1
        result.quarantined = len(quarantine)
        store.finish_batch(batch_id, {"loaded": result.loaded, "quarantined": result.quarantined})
        sg.log_write(
            store,
            actor=actor,
            action="ingest",
            table=",".join(tables),
            key=path.name,
            new={"file_sha256": sha, "rows_read": rows_read, "quarantined": len(quarantine)}
            | {f"rows_{t}": n for t, n in counts.items()},
            batch_id=batch_id,
        )
    result.seconds = time.perf_counter() - t0
    return result


def ingest_kiel(store: AnyStore, path: Path, *, actor: str = "ingest") -> BatchResult:
    """Load a Kiel Ukraine Support Tracker workbook (tables ``aid_kiel``,
    ``heavy_weapons_kiel``). ``loaded`` counts the aid records."""

    def read(p: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, int]:
        k = importers.kiel_from_workbook(p)
        return {"aid_kiel": k.aid, "heavy_weapons_kiel": k.heavy_weapons}, k.quarantine, k.rows_read

    return _load(store, path, gs.SOURCE_KIEL, read, actor=actor)


def ingest_air_attacks(store: AnyStore, path: Path, *, actor: str = "ingest") -> BatchResult:
    """Load the daily missile and drone attack records (table ``air_attacks``)."""

    def read(p: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, int]:
        frame, q = importers.air_attacks_from_csv(p)
        return {"air_attacks": frame}, q, len(frame) + len(q)

    return _load(store, path, gs.SOURCE_AIR_ATTACKS, read, actor=actor)


def ingest_air_alerts(store: AnyStore, path: Path, *, actor: str = "ingest") -> BatchResult:
    """Load the official air-raid alert records (table ``air_alerts``)."""

    def read(p: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, int]:
        frame, q = importers.air_alerts_from_csv(p)
        return {"air_alerts": frame}, q, len(frame) + len(q)

    return _load(store, path, gs.SOURCE_AIR_ALERTS, read, actor=actor)


def ingest_losses(store: AnyStore, path: Path, *, actor: str = "ingest") -> BatchResult:
    """Load equipment losses: the MoD daily cumulative JSON (``losses_mod``) or the Oryx
    by-model JSON (``losses_oryx``), told apart by their fields."""
    if importers.is_oryx_json(path):

        def read_oryx(p: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, int]:
            frame, q = importers.losses_from_oryx_json(p)
            return {"losses_oryx": frame}, q, len(frame) + len(q)

        return _load(store, path, gs.SOURCE_LOSSES_ORYX, read_oryx, actor=actor)

    def read_mod(p: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, int]:
        frame, q = importers.losses_from_mod_json(p)
        n = int(frame["line_no"].nunique()) + len(q)
        return {"losses_mod": frame}, q, n

    return _load(store, path, gs.SOURCE_LOSSES_MOD, read_mod, actor=actor)
