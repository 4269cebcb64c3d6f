"""Loading a file: one batch with provenance, streamed in chunks, bad rows quarantined.

Re-ingesting a file already loaded adds nothing (same source and SHA-256: skipped); a
record already stored with the same content adds nothing either; a record re-issued by
its source with the same id and new content becomes a new version of that event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ceasewatch.errors import IngestError
from ceasewatch.ingest.base import EventSource, bad_rows_frame
from ceasewatch.normalize import schema
from ceasewatch.store.audit import append_audit
from ceasewatch.store.base import Store

ProgressHook = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass
class BatchResult:
    """What one ingest did."""

    source: str
    file_name: str
    file_sha256: str
    batch_id: int | None
    rows_read: int = 0
    loaded: int = 0
    new_version: int = 0
    unchanged: int = 0
    quarantined: int = 0
    skipped_file: bool = False
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else float("nan")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _reason_key(reason: str) -> str:
    # group "latitude 'abc' is …" and "latitude 'xyz' is …" under one heading
    head = reason.split("'")[0].strip()
    return head or reason[:40]


def ingest_file(
    store: Store,
    source: EventSource,
    path: Path,
    *,
    progress: ProgressHook | None = None,
    recorded_at: datetime | None = None,
    actor: str = "ingest",
) -> BatchResult:
    """Load ``path`` as ``source`` into ``store`` in one transaction.

    Parameters
    ----------
    recorded_at
        When we learned these records (default: now, UTC). Tests set it to replay history.
    actor
        Who loaded the file, for the audit log.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"file {str(path)!r} does not exist or is not a file"
        raise IngestError(msg)
    t0 = datetime.now(UTC)
    sha = file_sha256(path)
    result = BatchResult(source.name, path.name, sha, None)
    previous = store.find_batch(source.name, sha)
    if previous is not None:
        result.batch_id = int(previous["batch_id"])
        result.skipped_file = True
        return result
    total = path.stat().st_size
    done = 0

    def on_read(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(min(done, total), total)

    when = recorded_at or t0
    with store.transaction():
        batch_id = store.begin_batch(
            {
                "source": source.name,
                "file_name": path.name,
                "file_path": str(path.resolve()),
                "file_sha256": sha,
                "file_bytes": total,
                "started_at": t0,
            }
        )
        result.batch_id = batch_id
        read_tables = getattr(source, "read_tables", None)
        normalize_table = getattr(source, "normalize_table", None)
        add_table = getattr(store, "add_event_table", None)
        if read_tables is not None and normalize_table is not None and add_table is not None:
            # the fast path: Arrow chunks from the reader to the store, no pandas copy
            for table, bad in read_tables(path, on_read=on_read):
                result.rows_read += table.num_rows + len(bad)
                events, quarantined = normalize_table(table)
                counts, dups = add_table(events, batch_id=batch_id, recorded_at=when)
                parts = [q for q in (quarantined, dups) if not q.empty]
                if bad:
                    parts.append(bad_rows_frame(bad))
                _tally(result, counts)
                if parts:
                    _quarantine(store, result, pd.concat(parts, ignore_index=True), path)
        else:
            for raw, bad in source.read_chunks(path, on_read=on_read):
                result.rows_read += len(raw) + len(bad)
                events, quarantined = source.normalize(raw)
                events, dup_rows = _claim(store, batch_id, events)
                parts = [q for q in (quarantined, dup_rows) if not q.empty]
                if bad:
                    parts.append(bad_rows_frame(bad))
                _tally(result, store.add_events(events, batch_id=batch_id, recorded_at=when))
                if parts:
                    _quarantine(store, result, pd.concat(parts, ignore_index=True), path)
        store.finish_batch(
            batch_id,
            {
                "loaded": result.loaded,
                "new_version": result.new_version,
                "unchanged": result.unchanged,
                "quarantined": result.quarantined,
            },
        )
        append_audit(
            store,  # type: ignore[arg-type]  # the audit log needs a SQL store
            actor=actor,
            action="ingest.batch",
            entity="batch",
            entity_id=str(batch_id),
            payload={
                "source": source.name,
                "file_name": path.name,
                "file_sha256": sha,
                "file_bytes": total,
                "loaded": result.loaded,
                "new_version": result.new_version,
                "unchanged": result.unchanged,
                "quarantined": result.quarantined,
            },
        )
    result.seconds = (datetime.now(UTC) - t0).total_seconds()
    return result


def _claim(store: Store, batch_id: int, events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``events`` without the source ids already read in this batch, and the quarantine
    rows of those (the first of each id is kept)."""
    # the ids seen so far live in the store, not in memory: a 10 GB file has more ids
    # than fit
    ids = events[schema.SOURCE_EVENT_ID].astype(str)
    dup_in_chunk = ids.duplicated(keep="first")
    earlier = store.claim_source_ids(
        batch_id, ids[~dup_in_chunk], events.loc[~dup_in_chunk, schema.LINE_NO]
    ).reindex(ids.index)
    dup = dup_in_chunk | earlier.notna()
    if not dup.any():
        return events, pd.DataFrame(columns=[schema.LINE_NO, "reason", schema.RAW])
    chunk_first = events[~dup_in_chunk].set_index(schema.SOURCE_EVENT_ID)[schema.LINE_NO]
    firsts = earlier[dup].fillna(ids[dup].map(chunk_first)).fillna(-1).astype("int64")
    rows = pd.DataFrame(
        {
            schema.LINE_NO: events.loc[dup, schema.LINE_NO].to_numpy(),
            "reason": (
                "duplicate source id '" + ids[dup] + "' in the same file "
                "(first on line " + firsts.astype(str) + ", kept)"
            ).to_numpy(),
            schema.RAW: events.loc[dup, schema.RAW].to_numpy(),
        }
    )
    return events[~dup], rows


def _tally(result: BatchResult, counts: dict[str, int]) -> None:
    result.loaded += counts["loaded"]
    result.new_version += counts["new_version"]
    result.unchanged += counts["unchanged"]


def _quarantine(store: Store, result: BatchResult, rows: pd.DataFrame, path: Path) -> None:
    rows = rows.assign(batch_id=result.batch_id, source=result.source, file_name=path.name)
    store.add_quarantine(rows)
    result.quarantined += len(rows)
    for reason in rows["reason"]:
        key = _reason_key(str(reason))
        result.reasons[key] = result.reasons.get(key, 0) + 1
