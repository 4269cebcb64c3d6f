"""What the routes share: the open store, its write lock, per-thread read cursors.

DuckDB runs concurrent readers well but one connection must not be used by two threads at
once. Reads therefore go through one cursor per worker thread (each sees the last
committed state); writes go through the store itself, one at a time under ``write()``,
inside a transaction that also holds their audit entry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from typing import Any

import duckdb
from fastapi import Request

from ceasewatch.serve.settings import ServeSettings
from ceasewatch.serve.submit import FieldReportWriter
from ceasewatch.store.duckdb import DuckDBStore


class ReadView:
    """A read cursor with the ``con``/``transaction()`` shape of a store."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def transaction(self) -> AbstractContextManager[None]:
        return nullcontext()


class ServeContext:
    """The state of one app: settings, store, locks and caches."""

    def __init__(self, settings: ServeSettings, store: DuckDBStore) -> None:
        self.settings = settings
        self.store = store
        self._write_lock = threading.RLock()
        #: matplotlib's pyplot is not thread-safe: one report rendering at a time
        self.render_lock = threading.Lock()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._closed = False
        self.geometry_cache: dict[tuple[int, str], Any] = {}
        #: authenticated tokens: sha256 → (user, monotonic expiry); cleared by every user
        #: or token change made through the app (the only writer while it holds the store)
        self.auth_cache: dict[str, tuple[Any, float]] = {}
        #: rendered reports by (day, format, store fingerprint), oldest first
        self.report_cache: OrderedDict[tuple[Any, ...], tuple[str, str]] = OrderedDict()
        #: the single writer of POSTed field reports (group commit)
        self.field_reports = FieldReportWriter(self.write)

    def reader(self) -> duckdb.DuckDBPyConnection:
        """This thread's read cursor on the store."""
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            with self._write_lock:
                cur = self.store.con.cursor()
                cur.execute("SET TimeZone='UTC'")
                self._cursors.append(cur)
            self._local.cursor = cur
        return cur

    def store_reader(self) -> ReadView:
        """This thread's read cursor dressed as a store, for library read functions that
        take one (``store.auth.list_users`` and the like)."""
        return ReadView(self.reader())

    @contextmanager
    def write(self) -> Iterator[DuckDBStore]:
        """The store, alone, inside one transaction (commit on success, else rollback)."""
        with self._write_lock, self.store.transaction():
            yield self.store

    @contextmanager
    def locked(self) -> Iterator[DuckDBStore]:
        """The store, alone, without a transaction (for library reads that use it)."""
        with self._write_lock:
            yield self.store

    def close(self) -> None:
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            self.field_reports.close()
            for cur in self._cursors:
                with suppress(duckdb.Error):
                    cur.close()
            self.store.close()


def get_context(request: Request) -> ServeContext:
    ctx: ServeContext = request.app.state.ctx
    return ctx
