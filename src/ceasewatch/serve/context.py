"""What the routes share: the open store, its write lock, per-thread read connections.

Either store works:

* **DuckDB** (embedded, one process) runs concurrent readers well but one connection must
  not be used by two threads at once. Reads therefore go through one cursor per worker
  thread (each sees the last committed state).
* **PostGIS** (the team store): a psycopg connection is not thread-safe either, so each
  worker thread reads on a connection of its own (autocommit: each statement sees what is
  committed, by this service or by any other process). A connection left by a worker
  thread that has ended is handed to the next new thread, so there are never more than
  the worker threads alive; a broken one is replaced.

Writes go through the store itself, one at a time in this process under ``write()``,
inside a transaction that also holds their audit entry. On PostGIS other processes (two
ingests, a second service) write at once: the store's transaction-scoped locks order the
writers that derive a number from what is stored (event versions, the audit chain).

The list routes read an in-memory snapshot (:mod:`ceasewatch.serve.snapshot`) that every
write brings up to date, from its audit entries, before it returns; writes made by other
processes are picked up from the audit log on the next read (``snapshot_poll_s``).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import datetime
from typing import Any

import duckdb
import psycopg
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from ceasewatch.errors import CeasewatchError, StoreError
from ceasewatch.serve.errors import ApiError, InvalidRequestError
from ceasewatch.serve.output import choose_format, snapshot_page_response
from ceasewatch.serve.params import AsOfParams, check_limit
from ceasewatch.serve.queries import ReadConnection
from ceasewatch.serve.settings import ServeSettings
from ceasewatch.serve.snapshot import AsOfCache, Snapshot, Snapshots, Table
from ceasewatch.serve.submit import FieldReportWriter, RoundWrite, validation_pool
from ceasewatch.store.duckdb import DuckDBStore
from ceasewatch.store.open import AnyStore
from ceasewatch.store.postgis import PgConnection, PostGISStore

log = logging.getLogger("ceasewatch.serve")

#: a list page of at most this many rows from a current snapshot is answered on the event
#: loop (see :meth:`ServeContext.list_snapshot`)
INLINE_PAGE_ROWS = 1_000


class ReadView:
    """A read connection with the ``con``/``transaction()`` shape of a store."""

    def __init__(self, con: ReadConnection) -> None:
        self.con = con

    def transaction(self) -> AbstractContextManager[None]:
        return nullcontext()


def _close_reader(con: ReadConnection) -> None:
    with suppress(duckdb.Error, psycopg.Error):
        con.close()


class ServeContext:
    """The state of one app: settings, store, locks and caches."""

    def __init__(self, settings: ServeSettings, store: AnyStore) -> None:
        if not isinstance(store, DuckDBStore | PostGISStore):
            msg = f"the web service cannot run on a {type(store).__name__}"
            raise StoreError(msg)
        self.settings = settings
        self.store: AnyStore = store
        self._write_lock = threading.RLock()
        #: matplotlib's pyplot is not thread-safe: one report rendering at a time
        self.render_lock = threading.Lock()
        self._local = threading.local()
        #: read connections by the thread that uses them
        self._readers: dict[threading.Thread, ReadConnection] = {}
        self._readers_lock = threading.Lock()
        self._closed = False
        self._write_depth = 0
        self.geometry_cache: dict[tuple[int, str], Any] = {}
        #: authenticated tokens: sha256 → (user, monotonic expiry); cleared by every user
        #: or token change made through the app, and by those another process makes
        #: (seen in the audit log by the snapshot's refresh)
        self.auth_cache: dict[str, tuple[Any, float]] = {}
        #: rendered reports by (day, format, store fingerprint), oldest first
        self.report_cache: OrderedDict[tuple[Any, ...], tuple[str, str]] = OrderedDict()
        #: the list routes' in-memory snapshot, refreshed after every write
        self.snapshots = Snapshots(
            self.reader, poll_s=settings.snapshot_poll_s, on_auth_change=self.auth_cache.clear
        )
        #: snapshots of what the store knew at a time (``as_of``)
        self.as_of_cache = AsOfCache()
        #: the single writer of POSTed field reports (group commit)
        self.field_reports = FieldReportWriter(self.write, self.note_written)
        if settings.validate_processes:  # started now: ready for the first report
            validation_pool(settings.validate_processes)
        #: what the current write told it wrote (applied to the snapshot once committed)
        self._written: list[RoundWrite] = []

    @property
    def validation_pool(self) -> ProcessPoolExecutor | None:
        """The processes that validate POSTed reports (None: a thread validates them); a
        broken pool is replaced by a new one."""
        n = self.settings.validate_processes
        return validation_pool(n) if n else None

    @property
    def is_team_store(self) -> bool:
        """True on the PostGIS team store (other processes may write meanwhile)."""
        return isinstance(self.store, PostGISStore)

    def _new_reader(self) -> ReadConnection:
        store = self.store
        if isinstance(store, PostGISStore):
            # a connection of its own: psycopg connections are not thread-safe
            return PgConnection(store.location)
        with self._write_lock:  # DuckDB: a cursor of the store's connection
            cur = store.con.cursor()
        cur.execute("SET TimeZone='UTC'")
        return cur

    @staticmethod
    def _usable(con: ReadConnection) -> bool:
        if isinstance(con, PgConnection):
            return not (con.raw.closed or con.raw.broken)
        return True

    def reader(self) -> ReadConnection:
        """This thread's read connection on the store."""
        con: ReadConnection | None = getattr(self._local, "reader", None)
        if con is not None and self._usable(con):
            return con
        me = threading.current_thread()
        with self._readers_lock:
            if self._closed:
                msg = "the web service is shutting down"
                raise StoreError(msg)
            stale = self._readers.pop(me, None)
            if stale is not None:  # broken: replaced
                _close_reader(stale)
            con = None
            for thread, other in list(self._readers.items()):
                if not thread.is_alive():  # left by an ended worker thread: taken over
                    del self._readers[thread]
                    if con is None and self._usable(other):
                        con = other
                    else:
                        _close_reader(other)
        if con is None:
            con = self._new_reader()
        with self._readers_lock:
            if self._closed:
                _close_reader(con)
                msg = "the web service is shutting down"
                raise StoreError(msg)
            self._readers[me] = con
        self._local.reader = con
        return con

    @property
    def reader_count(self) -> int:
        """How many read connections are open (at most one per live worker thread)."""
        with self._readers_lock:
            return len(self._readers)

    def store_reader(self) -> ReadView:
        """This thread's read cursor dressed as a store, for library read functions that
        take one (``store.auth.list_users`` and the like)."""
        return ReadView(self.reader())

    @contextmanager
    def write(self) -> Iterator[AnyStore]:
        """The store, alone, inside one transaction (commit on success, else rollback);
        once committed, the read snapshot is brought up to date."""
        with self._write_lock:
            self._write_depth += 1
            try:
                with self.store.transaction():
                    yield self.store
            except BaseException:
                if self._write_depth == 1:
                    self._written.clear()  # rolled back: nothing of it is to be shown
                raise
            finally:
                self._write_depth -= 1
            if self._write_depth == 0:  # the outermost write: committed now
                written, self._written = self._written, []
                self._refresh_snapshot(written)

    def note_written(self, written: RoundWrite) -> None:
        """Called inside :meth:`write` by a writer that knows the snapshot rows of what it
        wrote: once committed, they update the snapshot without being read back."""
        self._written.append(written)

    def _refresh_snapshot(self, written: list[RoundWrite] | None = None) -> None:
        try:
            if written and self.snapshots.apply(written):
                return
            self.snapshots.refresh(self.store.con)
        except Exception:  # the next read's poll retries; the write itself is done
            log.exception("refreshing the read snapshot after a write failed")

    def snapshot(self) -> Snapshot:
        """The current read snapshot of events, incidents and violations."""
        return self.snapshots.current()

    async def list_page(
        self,
        request: Request,
        params: AsOfParams,
        pick: Callable[[Snapshot], Table],
        *,
        active_only: bool = False,
    ) -> Response:
        """A list route's page of ``pick(snapshot)`` (current, or as of ``params.as_of``).

        Answered on the event loop when the snapshot is current and the page small: no
        query to make and well under a millisecond of work, so a hop to a worker thread
        would cost more than the answer and add a thread to those contending for the
        interpreter. In a worker thread otherwise (``as_of``, a poll of the store due, a
        large page)."""
        check_limit(params.limit, self.settings.max_page_size)

        def page(snap: Snapshot | None) -> Response:
            if snap is None:
                snap = (
                    self.snapshot() if params.as_of is None else self.snapshot_as_of(params.as_of)
                )
            table = pick(snap)
            positions, next_cursor = table.select(params, active_only=active_only)
            return snapshot_page_response(
                request, choose_format(request, params.format), table, positions, next_cursor
            )

        inline = (
            params.as_of is None
            and params.limit <= INLINE_PAGE_ROWS
            and not self.snapshots.poll_due()
        )
        if inline:
            return page(self.snapshots.current())
        return await run_in_threadpool(page, None)

    def snapshot_as_of(self, as_of: datetime) -> Snapshot:
        """What the store knew at ``as_of`` (built by ``evaluate_as_of``, then cached)."""
        try:
            return self.as_of_cache.get(as_of, self.snapshots.current().seq, self.locked)
        except CeasewatchError as e:
            if isinstance(e, ApiError):
                raise
            msg = f"as_of {as_of.isoformat()}: {e}"
            raise InvalidRequestError(msg, detail={"as_of": as_of.isoformat()}) from e

    @contextmanager
    def locked(self) -> Iterator[AnyStore]:
        """The store, alone, without a transaction (for library reads that use it)."""
        with self._write_lock:
            yield self.store

    def close(self) -> None:
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            self.field_reports.close()
            with self._readers_lock:
                readers = list(self._readers.values())
                self._readers.clear()
            for con in readers:
                _close_reader(con)
            self.store.close()


async def get_context(request: Request) -> ServeContext:
    """The app's context (a coroutine: answered on the event loop, no worker thread)."""
    ctx: ServeContext = request.app.state.ctx
    return ctx
