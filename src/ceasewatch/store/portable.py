"""The store methods whose SQL both engines run as written (through ``con``: DuckDB's own
connection, or the PostGIS store's adapter), defined once for both stores."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ceasewatch.errors import NotFoundError


class PortableQueries:
    """Mixed into :class:`~ceasewatch.store.duckdb.DuckDBStore` and
    :class:`~ceasewatch.store.postgis.PostGISStore`."""

    con: Any

    def _df(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()

    def _shown_location(self) -> str:
        """The store's location as messages may show it."""
        raise NotImplementedError

    def close(self) -> None:
        self.con.close()

    def find_batch(self, source: str, file_sha256: str) -> dict[str, Any] | None:
        rows = self._df(
            "SELECT * FROM batches WHERE source = ? AND file_sha256 = ? AND status = 'done' "
            "ORDER BY batch_id LIMIT 1",
            [source, file_sha256],
        )
        return None if rows.empty else rows.iloc[0].to_dict()

    def batches(self) -> pd.DataFrame:
        return self._df("SELECT * FROM batches ORDER BY batch_id")

    def count_events(self) -> int:
        row = self.con.execute("SELECT count(DISTINCT event_id) FROM events").fetchone()
        return int(row[0]) if row else 0

    def agreements(self) -> pd.DataFrame:
        return self._df(
            "SELECT version, name, effective, loaded_at, sha256, label, source_path "
            "FROM agreements ORDER BY version"
        )

    def agreement_document(self, version: int) -> dict[str, Any]:
        row = self.con.execute(
            "SELECT document FROM agreements WHERE version = ?", [version]
        ).fetchone()
        if row is None:
            msg = f"agreement version {version} is not in the store {self._shown_location()}"
            raise NotFoundError(msg)
        doc: dict[str, Any] = json.loads(row[0])
        return doc

    def set_violation_status(
        self, violation_id: str, status: str, *, comment: str, actor: str
    ) -> None:
        row = self.con.execute(
            "SELECT 1 FROM violations WHERE violation_id = ?", [violation_id]
        ).fetchone()
        if row is None:
            msg = f"violation {violation_id!r} does not exist"
            raise NotFoundError(msg)
        self.con.execute(
            "INSERT INTO violation_status VALUES (?,?,?,?,?)",
            [violation_id, status, comment, actor, datetime.now(UTC)],
        )
