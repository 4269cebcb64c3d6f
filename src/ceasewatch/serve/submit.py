"""A monitor's field report POSTed to the API becomes one ingest batch.

The observations are validated by the field-report importer's own rules
(:func:`ceasewatch.ingest.field_report.check_records`, the code that checks a file's
chunk), numbered as the lines of a JSON Lines file with one observation per line, so that
a report stored through the API and the same report imported from such a file give the
same events, byte for byte. They are stored the way
:func:`ceasewatch.ingest.pipeline.ingest_file` stores a file: a batch with provenance
(the SHA-256 of the canonical request), versioned events, the batch closed, plus an
audit entry. Unlike a file, a request with any bad observation is refused whole (422,
every problem listed) so that the monitor can fix and resend it; resending an identical
report is recognised and stores nothing.

Validation runs in the request's own worker thread (it costs about a millisecond for a
few observations). Storing goes through a single writer thread with group commit:
requests that arrive together are stored in one transaction, each still its own batch
with its own audit entry; a request waits for its group, never for more than
:data:`MAX_GROUP_JOBS` others. A group of one, the usual case, costs only what the store
needs for one batch: no frame is copied or concatenated and no query is made besides
the store's own.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from ceasewatch.ingest.field_report import FieldReportSource, check_records
from ceasewatch.normalize import schema
from ceasewatch.serve.errors import InvalidRequestError
from ceasewatch.store.audit import append_audit, canonical_json, lock
from ceasewatch.store.open import AnyStore

MAX_GROUP_JOBS = 256
MAX_GROUP_ROWS = 20_000
SUBMIT_TIMEOUT_S = 120.0
SOURCE = FieldReportSource.name


def event_id_of(source: str, source_event_id: str) -> str:
    """The store's stable event id (see ``DuckDBStore.add_events``)."""
    return hashlib.md5(f"{source}\x1f{source_event_id}".encode()).hexdigest()[:20]


@dataclass
class _Job:
    records: list[dict[str, Any]]
    actor: str
    events: pd.DataFrame
    event_ids: list[str]
    sha: str
    size: int
    future: Future[dict[str, Any]] = field(default_factory=Future)


def validate_report(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The canonical events of a POSTed report, ``line_no`` = position + 1.

    Raises :class:`InvalidRequestError` with ``detail`` = ``[{index, observation_id,
    reason}]`` (index 0-based, sorted) when any observation is bad, a repeated
    ``report_id``/``observation_id`` included.
    """
    events, quarantined, bad = check_records(list(records))
    problems: list[dict[str, Any]] = [
        {"index": b.line_no - 1, "observation_id": None, "reason": b.reason} for b in bad
    ]
    for line, reason in zip(
        quarantined[schema.LINE_NO].tolist(), quarantined["reason"].tolist(), strict=True
    ):
        problems.append(
            {
                "index": line - 1,
                "observation_id": records[line - 1].get("observation_id"),
                "reason": reason,
            }
        )
    dup = events[schema.SOURCE_EVENT_ID].duplicated(keep="first").to_numpy()
    if dup.any():
        for line, sid in zip(
            events[schema.LINE_NO].to_numpy()[dup].tolist(),
            events[schema.SOURCE_EVENT_ID].to_numpy()[dup].tolist(),
            strict=True,
        ):
            problems.append(
                {
                    "index": line - 1,
                    "observation_id": records[line - 1].get("observation_id"),
                    "reason": f"duplicate report_id/observation_id {sid!r} in the same report",
                }
            )
    if problems:
        problems.sort(key=lambda p: int(p["index"]))
        msg = (
            f"{len(problems)} of {len(records)} observation(s) are invalid; "
            "nothing was stored: "
            + "; ".join(f"#{p['index']}: {p['reason']}" for p in problems[:3])
        )
        raise InvalidRequestError(msg, detail=problems)
    return events


def _rounds(jobs: list[_Job]) -> list[list[_Job]]:
    """Split jobs so that no two in a round share a source id or a payload (each round is
    stored by one ``add_events`` call, which takes each event once)."""
    rounds: list[tuple[list[_Job], set[str]]] = []
    for job in jobs:
        keys = set(job.event_ids) | {"sha:" + job.sha}
        for members, taken in rounds:
            if not keys & taken:
                members.append(job)
                taken |= keys
                break
        else:
            rounds.append(([job], set(keys)))
    return [members for members, _ in rounds]


def _add_group(
    store: AnyStore, jobs: list[_Job], batch_ids: list[int], now: datetime
) -> list[dict[str, int]]:
    """Store the events of several jobs with one ``add_events`` call; each job's counts."""
    allev = pd.concat([job.events for job in jobs], ignore_index=True)
    event_ids = [e for job in jobs for e in job.event_ids]
    owner = np.repeat(np.asarray(batch_ids, dtype=np.int64), [len(j.event_ids) for j in jobs])
    # what each event will be: new, a new version, or unchanged (as add_events decides)
    cur = dict(
        store.con.execute(
            "SELECT event_id, arg_max(content_sha, version) FROM events "
            "WHERE event_id IN (SELECT unnest(?)) GROUP BY event_id",
            [event_ids],
        ).fetchall()
    )
    new_sha = [hashlib.md5(str(r).encode("utf-8")).hexdigest() for r in allev[schema.RAW]]
    state = np.asarray(
        [
            "loaded" if e not in cur else "unchanged" if cur[e] == s else "new_version"
            for e, s in zip(event_ids, new_sha, strict=True)
        ]
    )
    store.add_events(allev, batch_id=batch_ids[0], recorded_at=now)
    mapping = pd.DataFrame({"event_id": event_ids, "batch_id": owner})
    store.con.register("_api_batches", mapping)
    try:
        store.con.execute(
            "UPDATE events SET batch_id = m.batch_id FROM _api_batches m "
            "WHERE events.event_id = m.event_id AND events.batch_id = ? "
            "AND events.recorded_at = ?",
            [batch_ids[0], now],
        )
    finally:
        store.con.unregister("_api_batches")
    return [
        {
            k: int(((owner == b) & (state == k)).sum())
            for k in ("loaded", "new_version", "unchanged")
        }
        for b in batch_ids
    ]


def _store_round(store: AnyStore, jobs: list[_Job]) -> dict[int, dict[str, Any]]:
    """Store one round (inside the caller's transaction); each job's result by ``id``."""
    # one writer of field reports at a time on the store (PostGIS: two services on one
    # database would otherwise both find no batch for the same report and store it twice)
    lock(store, "events")
    now = datetime.now(UTC)
    results: dict[int, dict[str, Any]] = {}
    previous = dict(
        store.con.execute(
            "SELECT file_sha256, min(batch_id) FROM batches WHERE source = ? "
            "AND status = 'done' AND file_sha256 IN (SELECT unnest(?)) GROUP BY file_sha256",
            [SOURCE, [job.sha for job in jobs]],
        ).fetchall()
    )
    fresh: list[_Job] = []
    for job in jobs:
        if job.sha in previous:
            results[id(job)] = {
                "batch_id": int(previous[job.sha]),
                "duplicate": True,
                "loaded": 0,
                "new_version": 0,
                "unchanged": len(job.event_ids),
                "event_ids": job.event_ids,
            }
        else:
            fresh.append(job)
    if not fresh:
        return results
    batch_ids = [
        store.begin_batch(
            {
                "source": SOURCE,
                "file_name": f"api:{job.actor}",
                "file_path": None,
                "file_sha256": job.sha,
                "file_bytes": job.size,
                "started_at": now,
            }
        )
        for job in fresh
    ]
    if len(fresh) == 1:
        counts = [store.add_events(fresh[0].events, batch_id=batch_ids[0], recorded_at=now)]
    else:
        counts = _add_group(store, fresh, batch_ids, now)
    for job, batch_id, count in zip(fresh, batch_ids, counts, strict=True):
        store.finish_batch(batch_id, {**count, "quarantined": 0})
        append_audit(
            store,
            actor=job.actor,
            action="field_report.submit",
            entity="batch",
            entity_id=str(batch_id),
            payload={
                "source": SOURCE,
                "sha256": job.sha,
                "observations": len(job.records),
                "report_ids": sorted({str(r.get("report_id")) for r in job.records}),
                **count,
            },
            at=now,
        )
        results[id(job)] = {
            "batch_id": batch_id,
            "duplicate": False,
            **count,
            "event_ids": job.event_ids,
        }
    return results


class FieldReportWriter:
    """The single writer thread of field reports (group commit)."""

    def __init__(self, write: Callable[[], AbstractContextManager[AnyStore]]) -> None:
        self._write = write
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="cw-field-reports", daemon=True)
        self._thread.start()

    def submit(self, records: list[dict[str, Any]], *, actor: str) -> dict[str, Any]:
        """Validate and store ``records`` as one batch; see the module docstring.

        :class:`InvalidRequestError` with ``detail`` = ``[{index, observation_id,
        reason}]`` (index 0-based) when any observation is bad; nothing is stored then.
        """
        return self.enqueue(records, actor=actor).result(timeout=SUBMIT_TIMEOUT_S)

    def enqueue(self, records: list[dict[str, Any]], *, actor: str) -> Future[dict[str, Any]]:
        """Validate ``records`` (raising as :meth:`submit`) and queue them for the writer;
        the future holds :meth:`submit`'s result once committed (an async route awaits
        it without holding a worker thread)."""
        records = list(records)
        events = validate_report(records)
        body = canonical_json(records).encode("utf-8")
        job = _Job(
            records,
            actor,
            events,
            [event_id_of(SOURCE, s) for s in events[schema.SOURCE_EVENT_ID].tolist()],
            hashlib.sha256(body).hexdigest(),
            len(body),
        )
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=SUBMIT_TIMEOUT_S)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            rows = len(first.records)
            stop = False
            while len(jobs) < MAX_GROUP_JOBS and rows < MAX_GROUP_ROWS:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                jobs.append(nxt)
                rows += len(nxt.records)
            self._process(jobs)
            if stop:
                return

    def _process(self, jobs: list[_Job]) -> None:
        for members in _rounds(jobs):
            try:
                with self._write() as store:
                    results = _store_round(store, members)
            except Exception as e:  # a failed write must not leave requests waiting
                for job in members:
                    job.future.set_exception(e)
                continue
            # answered only once committed
            for job in members:
                job.future.set_result(results[id(job)])
