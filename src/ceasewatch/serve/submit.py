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

Validation: a report of plain valid observations is checked on the event loop by
:func:`~ceasewatch.ingest.field_report.quick_events` (half a millisecond, the rules'
events); any other goes to the rules in a worker process (:func:`validation_pool`).
Storing goes through a single writer thread with group commit: requests that arrive
together are stored in one transaction with four statements (:func:`_store_round`), each
still its own batch with its own audit entry; a request waits for its group, never for
more than :data:`MAX_GROUP_JOBS` others. Once committed, the events' rows returned by the
INSERT update the read snapshot (:class:`RoundWrite`).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ceasewatch import __version__
from ceasewatch.ingest.field_report import FieldReportSource, check_records, quick_events
from ceasewatch.normalize import schema
from ceasewatch.serve.errors import InvalidRequestError
from ceasewatch.serve.queries import EVENT_COLUMNS, Dialect, _col, dialect_of
from ceasewatch.serve.snapshot import _NULL_KEY
from ceasewatch.store.audit import (
    HEAD_SQL,
    append_audit_many,
    canonical_json,
    ensure_audit_ready,
    lock,
)
from ceasewatch.store.duckdb import _EVENT_STORE_COLUMNS, _sql_value
from ceasewatch.store.open import AnyStore

log = logging.getLogger("ceasewatch.serve")

MAX_GROUP_JOBS = 256
MAX_GROUP_ROWS = 20_000
SUBMIT_TIMEOUT_S = 120.0
SOURCE = FieldReportSource.name


def event_id_of(source: str, source_event_id: str) -> str:
    """The store's stable event id (see ``DuckDBStore.add_events``)."""
    return hashlib.md5(f"{source}\x1f{source_event_id}".encode()).hexdigest()[:20]


def _rows_of(events: pd.DataFrame) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Each event's values as query parameters (``schema.EVENT_COLUMNS``) and the content
    hash of its raw record (as ``add_events`` computes it)."""
    cols = list(schema.EVENT_COLUMNS)
    rows = [
        tuple(_sql_value(v) for v in r)
        for r in zip(*(events[c].tolist() for c in cols), strict=True)
    ]
    raw = cols.index(schema.RAW)
    return rows, [hashlib.md5(str(r[raw]).encode("utf-8")).hexdigest() for r in rows]


@dataclass
class _Job:
    records: list[dict[str, Any]]
    actor: str
    events: pd.DataFrame | None
    event_ids: list[str]
    sha: str
    size: int
    future: Future[dict[str, Any]] = field(default_factory=Future)
    #: :func:`_rows_of` the events (computed from ``events`` when not given)
    rows: list[tuple[Any, ...]] | None = None
    shas: list[str] | None = None

    def __post_init__(self) -> None:
        if self.rows is None or self.shas is None:
            assert self.events is not None
            self.rows, self.shas = _rows_of(self.events)


@dataclass(frozen=True)
class Prepared:
    """A validated report, ready for the writer (what :func:`prepare_report` returns)."""

    event_ids: list[str]
    rows: list[tuple[Any, ...]]
    shas: list[str]
    sha: str
    size: int


def prepare_report(records: list[dict[str, Any]], *, quick: bool = True) -> Prepared:
    """Validate ``records`` (raising as :func:`validate_report`) and compute what the
    writer stores: plain values only, so that a worker process can return it.

    With ``quick``, a report of plain valid observations is checked by
    :func:`~ceasewatch.ingest.field_report.quick_events` (plain Python, a fraction of a
    millisecond, the same events); anything else by the rules themselves."""
    got = quick_prepare(records) if quick else None
    if got is not None:
        return got
    rows, shas = _rows_of(validate_report(records))
    return _prepared(records, rows, shas)


def quick_prepare(records: list[dict[str, Any]]) -> Prepared | None:
    """:func:`prepare_report` when the quick path can answer (cheap enough to run on the
    event loop), else None."""
    rows = quick_events(records)
    if rows is None:
        return None
    return _prepared(
        records, rows, [hashlib.md5(str(r[_RAW_AT]).encode("utf-8")).hexdigest() for r in rows]
    )


def _prepared(
    records: list[dict[str, Any]], rows: list[tuple[Any, ...]], shas: list[str]
) -> Prepared:
    body = canonical_json(records).encode("utf-8")
    return Prepared(
        [event_id_of(SOURCE, str(r[_SOURCE_EVENT_ID_AT])) for r in rows],
        rows,
        shas,
        hashlib.sha256(body).hexdigest(),
        len(body),
    )


_RAW_AT = schema.EVENT_COLUMNS.index(schema.RAW)
_SOURCE_EVENT_ID_AT = schema.EVENT_COLUMNS.index(schema.SOURCE_EVENT_ID)


def _prepare_in_worker(records: list[dict[str, Any]]) -> tuple[bool, Any]:
    """:func:`prepare_report` in a worker process: ``(True, Prepared)`` or ``(False,
    (message, detail))`` for an invalid report (exceptions are not sent between
    processes: their keyword arguments would be lost)."""
    try:
        return True, prepare_report(records)
    except InvalidRequestError as e:
        return False, (str(e), e.detail)


def _warm_up() -> bool:
    """Run in a new worker process: import what validation needs before the first report."""
    return True


_POOLS: dict[int, ProcessPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def validation_pool(processes: int) -> ProcessPoolExecutor:
    """The process pool that validates POSTed reports (one per size, shared by the apps
    of this process; started with ``spawn``, never by forking a process whose DuckDB and
    worker threads are running)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(processes)
        if pool is None:
            pool = ProcessPoolExecutor(
                max_workers=processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_import_validation,
            )
            _POOLS[processes] = pool
            for _ in range(processes):
                pool.submit(_warm_up)
        return pool


def drop_validation_pool(pool: ProcessPoolExecutor) -> None:
    """Forget a broken pool: the next :func:`validation_pool` starts a new one."""
    with _POOLS_LOCK:
        for size, known in list(_POOLS.items()):
            if known is pool:
                del _POOLS[size]
    pool.shutdown(wait=False, cancel_futures=True)


def _import_validation() -> None:
    import ceasewatch.ingest.field_report  # noqa: F401  (pandas, pyarrow, the rules)


@atexit.register
def _shutdown_pools() -> None:
    with _POOLS_LOCK:
        for pool in _POOLS.values():
            pool.shutdown(wait=False, cancel_futures=True)
        _POOLS.clear()


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
    """Split jobs so that no two in a round share a source id or a payload (a round's
    events are numbered against the versions stored before it, once)."""
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


@dataclass(frozen=True)
class RoundWrite:
    """What a committed round changed in the read snapshot: audit entries
    ``first_seq..last_seq`` and, when every event it wrote is new (so it has no zone and
    no incident yet), those events' snapshot rows as the store formats them; ``rows`` is
    None when the snapshot must read them back (a new version keeps its evaluation)."""

    first_seq: int
    last_seq: int
    rows: list[tuple[Any, ...]] | None


#: the events' snapshot columns as an INSERT's RETURNING gives them for new events
_NOT_EVALUATED = ("zone", "sector", "side", "distance_to_line_km", "agreement_version")


def _returning_sql(dialect: Dialect) -> str:
    cols = [
        f"NULL AS {c}" if c in _NOT_EVALUATED or c == "incident_id" else _col("", c, dialect)
        for c in EVENT_COLUMNS
    ]
    return ", ".join([*cols, f"coalesce(epoch_us(occurred_at), {_NULL_KEY})"])


_BATCH_INSERT_COLUMNS = (
    "batch_id, source, file_name, file_path, file_sha256, file_bytes, started_at, "
    "finished_at, rows_loaded, rows_new_version, rows_unchanged, rows_quarantined, status, "
    "ceasewatch_version"
)


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _round_state(
    store: AnyStore, jobs: list[_Job]
) -> tuple[dict[str, int], dict[str, tuple[int, str]], tuple[int, str] | None]:
    """In one query: the batches that already stored one of the jobs' payloads (sha →
    batch id), the current version and content hash of each of their events, and the
    audit chain's head (``(seq, hash)``, None for an empty log)."""
    shas = [job.sha for job in jobs]
    ids = list(dict.fromkeys(e for job in jobs for e in job.event_ids))
    # explicit placeholders: a third of the cost of ``IN (SELECT unnest(?))`` for a few
    rows = store.con.execute(
        "SELECT 0, file_sha256, min(batch_id), CAST(NULL AS TEXT) FROM batches "
        f"WHERE source = ? AND status = 'done' AND file_sha256 IN ({_marks(shas)}) "
        "GROUP BY file_sha256 "
        "UNION ALL SELECT 1, event_id, version, content_sha FROM events "
        f"WHERE event_id IN ({_marks(ids)}) "
        f"UNION ALL SELECT 2, hash, seq, CAST(NULL AS TEXT) FROM ({HEAD_SQL}) head",
        [SOURCE, *shas, *ids],
    ).fetchall()
    previous: dict[str, int] = {}
    current: dict[str, tuple[int, str]] = {}
    head: tuple[int, str] | None = None
    for kind, key, number, text in rows:
        if kind == 0:
            previous[str(key)] = int(number)
        elif kind == 1:
            if key not in current or int(number) > current[key][0]:
                current[str(key)] = (int(number), str(text))
        else:
            head = (int(number), str(key))
    return previous, current, head


def _store_round(
    store: AnyStore, jobs: list[_Job]
) -> tuple[dict[int, dict[str, Any]], RoundWrite | None]:
    """Store one round (inside the caller's transaction): each job's result by ``id``,
    and the :class:`RoundWrite` (None when nothing was written).

    Four statements whatever the round's size: one query of the payloads already stored,
    the current versions of the round's events and the audit chain's head
    (:func:`_round_state`), one INSERT of the batches (complete, with their counts), one
    of the events (returning their snapshot rows) and one of the audit entries
    (:func:`append_audit_many`)."""
    # one writer of field reports at a time on the store (PostGIS: two services on one
    # database would otherwise both find no batch for the same report and store it twice)
    lock(store, "events")
    lock(store, "audit_log")  # its head is read below
    ensure_audit_ready(store)
    now = datetime.now(UTC)
    results: dict[int, dict[str, Any]] = {}
    previous, current, head = _round_state(store, jobs)
    fresh: list[_Job] = []
    for job in jobs:
        if job.sha in previous:
            results[id(job)] = {
                "batch_id": previous[job.sha],
                "duplicate": True,
                "loaded": 0,
                "new_version": 0,
                "unchanged": len(job.event_ids),
                "event_ids": job.event_ids,
            }
        else:
            fresh.append(job)
    if not fresh:
        return results, None
    counts: list[dict[str, int]] = []
    plans: list[list[tuple[str, int, str, tuple[Any, ...]]]] = []
    for job in fresh:
        count = {"loaded": 0, "new_version": 0, "unchanged": 0}
        plan = []
        assert job.shas is not None and job.rows is not None  # set by __post_init__
        for e, sha, row in zip(job.event_ids, job.shas, job.rows, strict=True):
            version, old = current.get(e, (0, None))
            if old == sha:
                count["unchanged"] += 1
                continue
            count["loaded" if old is None else "new_version"] += 1
            plan.append((e, version + 1, sha, row))
        counts.append(count)
        plans.append(plan)
    values: list[Any] = []
    for job, count in zip(fresh, counts, strict=True):
        values += [
            SOURCE,
            f"api:{job.actor}",
            None,
            job.sha,
            job.size,
            now,
            now,
            count["loaded"],
            count["new_version"],
            count["unchanged"],
            0,
            "done",
            __version__,
        ]
    one = "(nextval('batch_seq')," + ",".join("?" * 13) + ")"
    # the shas of a round are distinct (see _rounds): they tell which id each batch drew
    drawn = dict(
        (str(sha), int(b))
        for b, sha in store.con.execute(
            f"INSERT INTO batches ({_BATCH_INSERT_COLUMNS}) VALUES "
            + ",".join([one] * len(fresh))
            + " RETURNING batch_id, file_sha256",
            values,
        ).fetchall()
    )
    batch_ids = [drawn[job.sha] for job in fresh]
    planned = [(e, version) for plan in plans for e, version, _, _ in plan]
    if len(set(planned)) < len(planned):  # _rounds keeps a round's events apart
        msg = "a round of field reports names an event twice; nothing written"
        raise ValueError(msg)
    values = []
    for batch_id, plan in zip(batch_ids, plans, strict=True):
        for e, version, sha, row in plan:
            values += [e, version, sha, *row, batch_id, now]
    rows: list[tuple[Any, ...]] | None = []
    if values:
        width = len(_EVENT_STORE_COLUMNS)
        one = "(" + ",".join("?" * width) + ")"
        returned = store.con.execute(
            f"INSERT INTO events ({', '.join(_EVENT_STORE_COLUMNS)}) VALUES "
            + ",".join([one] * (len(values) // width))
            + f" RETURNING {_returning_sql(dialect_of(store.con))}",
            values,
        ).fetchall()
        # a new version keeps its event's evaluation: read back with it
        new_versions = any(c["new_version"] for c in counts)
        rows = None if new_versions else [tuple(r) for r in returned]
    seqs = append_audit_many(
        store,
        head=head,
        entries=[
            {
                "actor": job.actor,
                "action": "field_report.submit",
                "entity": "batch",
                "entity_id": str(batch_id),
                "payload": {
                    "source": SOURCE,
                    "sha256": job.sha,
                    "observations": len(job.records),
                    "report_ids": sorted({str(r.get("report_id")) for r in job.records}),
                    **count,
                },
                "at": now,
            }
            for job, batch_id, count in zip(fresh, batch_ids, counts, strict=True)
        ],
    )
    for job, batch_id, count in zip(fresh, batch_ids, counts, strict=True):
        results[id(job)] = {
            "batch_id": batch_id,
            "duplicate": False,
            **count,
            "event_ids": job.event_ids,
        }
    return results, RoundWrite(seqs[0], seqs[-1], rows)


class FieldReportWriter:
    """The single writer thread of field reports (group commit)."""

    def __init__(
        self,
        write: Callable[[], AbstractContextManager[AnyStore]],
        note: Callable[[RoundWrite], None] | None = None,
    ) -> None:
        self._write = write
        #: told, inside the write, what a round wrote (the context updates its read
        #: snapshot from it once committed, without reading the rows back)
        self._note = note
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
        """Validate ``records`` in this thread (raising as :meth:`submit`) and queue them
        for the writer; the future holds :meth:`submit`'s result once committed."""
        records = list(records)
        return self.queue_prepared(records, prepare_report(records), actor=actor)

    def queue_prepared(
        self, records: list[dict[str, Any]], prepared: Prepared, *, actor: str
    ) -> Future[dict[str, Any]]:
        """Queue a report validated by :func:`prepare_report` for the writer."""
        job = _Job(
            records,
            actor,
            None,
            prepared.event_ids,
            prepared.sha,
            prepared.size,
            rows=prepared.rows,
            shas=prepared.shas,
        )
        self._queue.put(job)
        return job.future

    async def submit_async(
        self, records: list[dict[str, Any]], *, actor: str, pool: ProcessPoolExecutor | None
    ) -> dict[str, Any]:
        """:meth:`submit` for a route: validated in ``pool``'s worker process (the rules'
        pandas and Arrow work then holds neither this process's interpreter nor a thread
        of it; without a pool, in a worker thread), then stored by the writer; the wait
        holds no thread."""
        records = list(records)
        loop = asyncio.get_running_loop()
        got: Any = quick_prepare(records)  # plain observations: no hop at all
        if got is None and pool is not None:
            try:
                ok, got = await asyncio.wrap_future(pool.submit(_prepare_in_worker, records))
            except BrokenProcessPool:  # a worker died (killed, out of memory): replaced
                log.warning("a field-report validation process died; validating in a thread")
                drop_validation_pool(pool)
                got = None
            else:
                if not ok:
                    message, detail = got
                    raise InvalidRequestError(message, detail=detail)
        prepared = (
            got if got is not None else await loop.run_in_executor(None, prepare_report, records)
        )
        future = self.queue_prepared(records, prepared, actor=actor)
        return await asyncio.wait_for(
            asyncio.shield(asyncio.wrap_future(future)), timeout=SUBMIT_TIMEOUT_S
        )

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
                    results, written = _store_round(store, members)
                    if written is not None and self._note is not None:
                        self._note(written)
            except Exception as e:  # a failed write must not leave requests waiting
                for job in members:
                    job.future.set_exception(e)
                continue
            # answered only once committed
            for job in members:
                job.future.set_result(results[id(job)])
