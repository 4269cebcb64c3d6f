"""The Store protocol: every stage reads and writes through it.

The embedded default is :class:`ceasewatch.store.duckdb.DuckDBStore`. Frames in and out
use the column names of :mod:`ceasewatch.normalize.schema`; times are tz-aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import pandas as pd


@runtime_checkable
class Store(Protocol):
    """What the pipeline needs from a store."""

    location: str

    def transaction(self) -> AbstractContextManager[None]:
        """All writes inside commit together or not at all."""
        ...

    def close(self) -> None: ...

    # batches and quarantine
    def find_batch(self, source: str, file_sha256: str) -> dict[str, Any] | None: ...
    def begin_batch(self, meta: dict[str, Any]) -> int: ...
    def finish_batch(self, batch_id: int, counts: dict[str, int]) -> None: ...
    def batches(self) -> pd.DataFrame: ...
    def add_quarantine(self, rows: pd.DataFrame) -> None: ...
    def quarantine(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> pd.DataFrame: ...

    # events
    def add_events(
        self, events: pd.DataFrame, *, batch_id: int, recorded_at: datetime
    ) -> dict[str, int]: ...
    def events(
        self,
        *,
        as_of: datetime | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        columns: list[str] | None = None,
        with_raw: bool = False,
    ) -> pd.DataFrame: ...
    def iter_events(
        self, *, as_of: datetime | None = None, chunk_rows: int = 500_000
    ) -> Iterator[pd.DataFrame]: ...
    def count_events(self) -> int: ...

    # agreements
    def add_agreement(self, record: dict[str, Any]) -> int: ...
    def agreements(self) -> pd.DataFrame: ...
    def agreement_document(self, version: int) -> dict[str, Any]: ...

    # evaluation results
    def evaluated_event_ids(self) -> pd.DataFrame: ...
    def put_event_eval(self, frame: pd.DataFrame) -> None: ...
    def event_eval(self) -> pd.DataFrame: ...
    def replace_incidents(
        self, event_ids: pd.Series, incidents: pd.DataFrame, members: pd.DataFrame
    ) -> None: ...
    def incidents(self) -> pd.DataFrame: ...
    def incident_members(self) -> pd.DataFrame: ...
    def put_violations(self, violations: pd.DataFrame, *, incident_ids: pd.Series) -> None: ...
    def violations(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        include_inactive: bool = False,
    ) -> pd.DataFrame: ...
    def set_violation_status(
        self, violation_id: str, status: str, *, comment: str, actor: str
    ) -> None: ...
