"""A monitor's field report POSTed to the API becomes one ingest batch.

The observations are validated by the field-report importer itself
(:meth:`FieldReportSource.normalize`, the same checks as for a file), and stored the way
:func:`ceasewatch.ingest.pipeline.ingest_file` stores a file: a batch with provenance
(the SHA-256 of the canonical request), versioned events, the batch closed, plus an
audit entry. Unlike a file, a request with any bad observation is refused whole (422,
every problem listed) so that the monitor can fix and resend it; resending an identical
report is recognised and stores nothing.

Group commit: the importer's validation has a fixed cost of tens of milliseconds per
call whatever the number of rows (pandas), and so has storing a frame. Requests that
arrive together are therefore validated in one call and stored in one transaction by a
single writer thread, each still its own batch with its own audit entry; a request waits
for its group, never for more than :data:`MAX_GROUP_JOBS` others.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ceasewatch.ingest.field_report import FieldReportSource, _records_frame
from ceasewatch.normalize import schema
from ceasewatch.serve.errors import InvalidRequestError
from ceasewatch.store.audit import append_audit, canonical_json
from ceasewatch.store.duckdb import DuckDBStore

MAX_GROUP_JOBS = 256
MAX_GROUP_ROWS = 20_000
SUBMIT_TIMEOUT_S = 120.0


def event_id_of(source: str, source_event_id: str) -> str:
    """The store's stable event id (see ``DuckDBStore.add_events``)."""
    return hashlib.md5(f"{source}\x1f{source_event_id}".encode()).hexdigest()[:20]


@dataclass
class _Job:
    records: list[dict[str, Any]]
    actor: str
    future: Future[dict[str, Any]] = field(default_factory=Future)
    first_line: int = 0  # global line of its first observation in the group
    events: pd.DataFrame | None = None
    sha: str = ""
    size: int = 0


def _problems(job: _Job, quarantined: pd.DataFrame, bad: list[Any]) -> list[dict[str, Any]]:
    lo, hi = job.first_line, job.first_line + len(job.records)
    out: list[dict[str, Any]] = []
    for b in bad:
        if lo <= b.line_no < hi:
            out.append({"index": b.line_no - lo, "observation_id": None, "reason": b.reason})
    mine = quarantined[(quarantined[schema.LINE_NO] >= lo) & (quarantined[schema.LINE_NO] < hi)]
    for line, reason in zip(mine[schema.LINE_NO], mine["reason"], strict=True):
        rec = job.records[int(line) - lo]
        out.append(
            {"index": int(line) - lo, "observation_id": rec.get("observation_id"), "reason": reason}
        )
    assert job.events is not None
    ev = job.events
    dup = ev[schema.SOURCE_EVENT_ID].duplicated(keep="first")
    for line, sid in zip(
        ev.loc[dup, schema.LINE_NO], ev.loc[dup, schema.SOURCE_EVENT_ID], strict=True
    ):
        out.append(
            {
                "index": int(line) - lo,
                "observation_id": job.records[int(line) - lo].get("observation_id"),
                "reason": f"duplicate report_id/observation_id {sid!r} in the same report",
            }
        )
    return sorted(out, key=lambda p: int(p["index"]))


def _rounds(jobs: list[_Job]) -> list[list[_Job]]:
    """Split jobs so that no two in a round share a source id or a payload (each round is
    stored by one ``add_events`` call, which takes each event once)."""
    rounds: list[tuple[list[_Job], set[str]]] = []
    for job in jobs:
        assert job.events is not None
        keys = set(job.events[schema.SOURCE_EVENT_ID].astype(str)) | {"sha:" + job.sha}
        for members, taken in rounds:
            if not keys & taken:
                members.append(job)
                taken |= keys
                break
        else:
            rounds.append(([job], set(keys)))
    return [members for members, _ in rounds]


def _store_round(
    store: DuckDBStore, jobs: list[_Job], source: FieldReportSource
) -> dict[int, dict[str, Any]]:
    """Store one round (inside the caller's transaction); each job's result by ``id``."""
    now = datetime.now(UTC)
    results: dict[int, dict[str, Any]] = {}
    fresh: list[_Job] = []
    for job in jobs:
        assert job.events is not None
        ids = [event_id_of(source.name, s) for s in job.events[schema.SOURCE_EVENT_ID].astype(str)]
        previous = store.con.execute(
            "SELECT batch_id FROM batches WHERE source = ? AND file_sha256 = ? "
            "AND status = 'done' ORDER BY batch_id LIMIT 1",
            [source.name, job.sha],
        ).fetchone()
        if previous is not None:
            results[id(job)] = {
                "batch_id": int(previous[0]),
                "duplicate": True,
                "loaded": 0,
                "new_version": 0,
                "unchanged": len(ids),
                "event_ids": ids,
            }
        else:
            fresh.append(job)
    if fresh:
        frames = []
        for job in fresh:
            assert job.events is not None
            batch_id = store.begin_batch(
                {
                    "source": source.name,
                    "file_name": f"api:{job.actor}",
                    "file_path": None,
                    "file_sha256": job.sha,
                    "file_bytes": job.size,
                    "started_at": now,
                }
            )
            ev = job.events.copy()
            ev[schema.LINE_NO] = ev[schema.LINE_NO] - job.first_line + 1
            ev["_batch_id"] = batch_id
            ev["_event_id"] = [
                event_id_of(source.name, s) for s in ev[schema.SOURCE_EVENT_ID].astype(str)
            ]
            frames.append(ev)
            results[id(job)] = {"batch_id": batch_id}
        allev = pd.concat(frames, ignore_index=True)
        # what each event will be: new, a new version, or unchanged (as add_events decides)
        cur = dict(
            store.con.execute(
                "SELECT event_id, arg_max(content_sha, version) FROM events "
                "WHERE event_id IN (SELECT unnest(?)) GROUP BY event_id",
                [allev["_event_id"].tolist()],
            ).fetchall()
        )
        new_sha = [hashlib.md5(str(r).encode("utf-8")).hexdigest() for r in allev[schema.RAW]]
        state = [
            "loaded" if e not in cur else "unchanged" if cur[e] == s else "new_version"
            for e, s in zip(allev["_event_id"], new_sha, strict=True)
        ]
        allev["_state"] = state
        first_batch = int(allev["_batch_id"].iloc[0])
        store.add_events(allev, batch_id=first_batch, recorded_at=now)
        mapping = allev[["_event_id", "_batch_id"]].rename(
            columns={"_event_id": "event_id", "_batch_id": "batch_id"}
        )
        store.con.register("_api_batches", mapping)
        try:
            store.con.execute(
                "UPDATE events SET batch_id = m.batch_id FROM _api_batches m "
                "WHERE events.event_id = m.event_id AND events.batch_id = ? "
                "AND events.recorded_at = ?",
                [first_batch, now],
            )
        finally:
            store.con.unregister("_api_batches")
        for job, ev in zip(fresh, frames, strict=True):
            counts = {
                k: int(
                    (allev.loc[allev["_batch_id"] == ev["_batch_id"].iloc[0], "_state"] == k).sum()
                )
                for k in ("loaded", "new_version", "unchanged")
            }
            batch_id = results[id(job)]["batch_id"]
            store.finish_batch(batch_id, {**counts, "quarantined": 0})
            append_audit(
                store,
                actor=job.actor,
                action="field_report.submit",
                entity="batch",
                entity_id=str(batch_id),
                payload={
                    "source": source.name,
                    "sha256": job.sha,
                    "observations": len(job.records),
                    "report_ids": sorted({str(r.get("report_id")) for r in job.records}),
                    **counts,
                },
                at=now,
            )
            results[id(job)].update(
                {"duplicate": False, **counts, "event_ids": ev["_event_id"].tolist()}
            )
    return results


class FieldReportWriter:
    """The single writer thread of field reports (group commit)."""

    def __init__(self, write: Callable[[], AbstractContextManager[DuckDBStore]]) -> None:
        self._write = write
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._source = FieldReportSource()
        self._thread = threading.Thread(target=self._run, name="cw-field-reports", daemon=True)
        self._thread.start()

    def submit(self, records: list[dict[str, Any]], *, actor: str) -> dict[str, Any]:
        """Validate and store ``records`` as one batch; see the module docstring.

        :class:`InvalidRequestError` with ``detail`` = ``[{index, observation_id,
        reason}]`` (index 0-based) when any observation is bad; nothing is stored then.
        """
        job = _Job(list(records), actor)
        body = canonical_json(job.records).encode("utf-8")
        job.sha = hashlib.sha256(body).hexdigest()
        job.size = len(body)
        self._queue.put(job)
        return job.future.result(timeout=SUBMIT_TIMEOUT_S)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=SUBMIT_TIMEOUT_S)

    def _run(self) -> None:
        # the importers keep a DuckDB connection per thread (ingest.base); this thread
        # ends cleanly in close(), which matters: one left on an anyio worker thread
        # aborts the interpreter at exit
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
        try:
            records: list[object] = []
            for job in jobs:
                job.first_line = len(records) + 1
                records.extend(job.records)
            frame, bad = _records_frame(records, list(range(1, len(records) + 1)))
            events, quarantined = self._source.normalize(frame)
            good: list[_Job] = []
            for job in jobs:
                lo, hi = job.first_line, job.first_line + len(job.records)
                job.events = events[(events[schema.LINE_NO] >= lo) & (events[schema.LINE_NO] < hi)]
                problems = _problems(job, quarantined, bad)
                if problems:
                    msg = (
                        f"{len(problems)} of {len(job.records)} observation(s) are invalid; "
                        "nothing was stored: "
                        + "; ".join(f"#{p['index']}: {p['reason']}" for p in problems[:3])
                    )
                    job.future.set_exception(InvalidRequestError(msg, detail=problems))
                else:
                    good.append(job)
        except Exception as e:  # a bug must not leave requests waiting
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(e)
            return
        for members in _rounds(good):
            try:
                with self._write() as store:
                    results = _store_round(store, members, self._source)
            except Exception as e:
                for job in members:
                    job.future.set_exception(e)
                continue
            # answered only once committed
            for job in members:
                job.future.set_result(results[id(job)])
