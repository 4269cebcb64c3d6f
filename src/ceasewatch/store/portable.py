"""The store methods whose SQL both engines run as written (through ``con``: DuckDB's own
connection, or the PostGIS store's adapter), defined once for both stores."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ceasewatch.errors import NotFoundError

#: the columns of the ``event_eval`` table (each event's zones), in table order
EVENT_EVAL_COLUMNS = (
    "event_id",
    "content_sha",
    "agreement_version",
    "distance_to_line_km",
    "side",
    "zone",
    "sector",
)


def event_eval_columns(columns: list[str] | None) -> list[str]:
    """``columns`` checked against the ``event_eval`` table's (they go into SQL); all of
    them for None."""
    if columns is None:
        return list(EVENT_EVAL_COLUMNS)
    unknown = [c for c in columns if c not in EVENT_EVAL_COLUMNS]
    if unknown:
        msg = f"event_eval has no column {', '.join(map(repr, unknown))}"
        raise ValueError(msg)
    return list(columns)


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

    def _claims_table(self) -> None:
        """Create this session's ``_claims`` table (source ids read per batch) if need be."""
        raise NotImplementedError

    def finish_batch(self, batch_id: int, counts: dict[str, int]) -> None:
        self._claims_table()
        self.con.execute("DELETE FROM _claims WHERE batch_id = ?", [batch_id])
        self.con.execute(
            "UPDATE batches SET finished_at = ?, rows_loaded = ?, rows_new_version = ?, "
            "rows_unchanged = ?, rows_quarantined = ?, status = 'done' WHERE batch_id = ?",
            [
                datetime.now(UTC),
                counts.get("loaded", 0),
                counts.get("new_version", 0),
                counts.get("unchanged", 0),
                counts.get("quarantined", 0),
                batch_id,
            ],
        )

    def quarantine(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> pd.DataFrame:
        """Quarantined rows recorded in ``(since, until]`` (all when not given)."""
        return self._df(
            "SELECT * FROM quarantine WHERE (? IS NULL OR recorded_at > ?) "
            "AND (? IS NULL OR recorded_at <= ?) ORDER BY batch_id, line_no",
            [since, since, until, until],
        )

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
        rows = self.con.execute("SELECT count(DISTINCT event_id) FROM events").fetchall()
        return int(rows[0][0]) if rows else 0

    def transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def lock(self, name: str) -> None:
        """Hold the writer lock ``name`` until the transaction ends, where the store has
        such locks (PostGIS: several processes write; DuckDB has one writer anyway)."""

    def add_agreement(self, record: dict[str, Any]) -> int:
        with self.transaction():
            # the version is numbered from what is stored: one writer at a time
            self.lock("agreements")
            rows = self.con.execute(
                "SELECT coalesce(max(version), 0) + 1 FROM agreements"
            ).fetchall()
            version = int(rows[0][0])
            self.con.execute(
                "INSERT INTO agreements VALUES (?,?,?,?,?,?,?,?)",
                [
                    version,
                    record["name"],
                    record["effective"],
                    datetime.now(UTC),
                    record["sha256"],
                    record.get("label"),
                    record.get("source_path"),
                    json.dumps(record["document"]),
                ],
            )
        return version

    def agreements(self) -> pd.DataFrame:
        return self._df(
            "SELECT version, name, effective, loaded_at, sha256, label, source_path "
            "FROM agreements ORDER BY version"
        )

    def agreement_document(self, version: int) -> dict[str, Any]:
        rows = self.con.execute(
            "SELECT document FROM agreements WHERE version = ?", [version]
        ).fetchall()
        if not rows:
            msg = f"agreement version {version} is not in the store {self._shown_location()}"
            raise NotFoundError(msg)
        doc: dict[str, Any] = json.loads(rows[0][0])
        return doc

    def set_violation_status(
        self, violation_id: str, status: str, *, comment: str, actor: str
    ) -> None:
        rows = self.con.execute(
            "SELECT 1 FROM violations WHERE violation_id = ?", [violation_id]
        ).fetchall()
        if not rows:
            msg = f"violation {violation_id!r} does not exist"
            raise NotFoundError(msg)
        self.con.execute(
            "INSERT INTO violation_status VALUES (?,?,?,?,?)",
            [violation_id, status, comment, actor, datetime.now(UTC)],
        )
