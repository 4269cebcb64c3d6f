"""The embedded default store: one DuckDB database file, no server.

Geometry is kept as WGS84 lon/lat columns; agreement geometry as GeoJSON inside the
stored agreement document. Events are versioned: a source that re-issues a record with
the same id and different content adds a version; identical content adds nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from ceasewatch import __version__
from ceasewatch.errors import StoreError
from ceasewatch.normalize import schema
from ceasewatch.store.portable import EVENT_EVAL_COLUMNS, PortableQueries, event_eval_columns

#: 2: ``event_eval``, ``incidents`` and ``incident_members`` are created without a primary
#: key (an evaluation replaces their rows by delete + insert in one transaction of the single
#: writer, and checks that what it writes names each key once; keeping an index of 10^6 text
#: keys cost more than half of the writes). Stores of version 1 keep their keys and work the
#: same.
#: 3: ``events`` is created without its primary key ``(event_id, version)`` and with an
#: index on ``event_id``. Storing 10^6 FIRMS events (insert + commit) took 5.1 s with the
#: key, 4.0 s with the index; and the key served no lookup by ``event_id`` (an index of a
#: composite key is not searched by its first column alone: 18-25 ms scans at 10^6 events,
#: 1 ms with the index). A version is unique by construction: the store has a single
#: writer (the file's lock; one write lock in the web service), each write draws an
#: event's next version from the stored ones in its transaction, and no write names an
#: event twice (the writers refuse it; a file's repeated source ids are quarantined).
#: Stores of versions 1 and 2 keep their key and get no index.
SCHEMA_VERSION = 3

_DDL = """
CREATE SEQUENCE IF NOT EXISTS batch_seq START 1;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS batches (
    batch_id BIGINT PRIMARY KEY, source TEXT NOT NULL, file_name TEXT, file_path TEXT,
    file_sha256 TEXT, file_bytes BIGINT, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ,
    rows_loaded BIGINT, rows_new_version BIGINT, rows_unchanged BIGINT,
    rows_quarantined BIGINT, status TEXT, ceasewatch_version TEXT
);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT NOT NULL, version INTEGER NOT NULL, content_sha TEXT NOT NULL,
    source TEXT NOT NULL, source_event_id TEXT NOT NULL, occurred_at TIMESTAMPTZ NOT NULL,
    time_precision TEXT NOT NULL, time_window_s DOUBLE NOT NULL,
    lon DOUBLE NOT NULL, lat DOUBLE NOT NULL, geo_precision_m DOUBLE NOT NULL,
    category TEXT NOT NULL, weapon_class TEXT, actor TEXT, attributed_to TEXT,
    fatalities DOUBLE, count BIGINT NOT NULL, reliability TEXT NOT NULL,
    credibility TINYINT NOT NULL, report_group TEXT NOT NULL, location_name TEXT,
    admin1 TEXT, notes TEXT, raw TEXT NOT NULL, line_no BIGINT, batch_id BIGINT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    batch_id BIGINT NOT NULL, source TEXT NOT NULL, file_name TEXT, line_no BIGINT,
    reason TEXT NOT NULL, raw TEXT, recorded_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS agreements (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, effective TIMESTAMPTZ NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL, sha256 TEXT NOT NULL, label TEXT, source_path TEXT,
    document TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS event_eval (
    event_id TEXT NOT NULL, content_sha TEXT NOT NULL, agreement_version INTEGER NOT NULL,
    distance_to_line_km DOUBLE, side TEXT, zone TEXT, sector TEXT
);
CREATE TABLE IF NOT EXISTS incidents (
    incident_id TEXT NOT NULL, occurred_at TIMESTAMPTZ, time_precision TEXT,
    lon DOUBLE, lat DOUBLE, geo_precision_m DOUBLE, category TEXT, categories TEXT,
    weapon_class TEXT, weapon_classes TEXT, n_events INTEGER, n_sources INTEGER,
    sources TEXT, confidence DOUBLE, fatalities DOUBLE, attributed_to TEXT,
    location_name TEXT, agreement_version INTEGER, distance_to_line_km DOUBLE, side TEXT,
    zone TEXT, sector TEXT, updated_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS incident_members (
    event_id TEXT NOT NULL, incident_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS violations (
    violation_id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, agreement_version INTEGER,
    rule TEXT, rules TEXT, zone TEXT, sector TEXT, side TEXT, distance_to_line_km DOUBLE,
    occurred_at TIMESTAMPTZ, time_precision TEXT, lon DOUBLE, lat DOUBLE, category TEXT,
    weapon_class TEXT, severity TEXT, confidence DOUBLE, responsibility TEXT,
    weapon_in_zone BOOLEAN, evidence_event_ids TEXT, matched_event_ids TEXT,
    n_sources INTEGER, sources TEXT,
    fatalities DOUBLE, location_name TEXT, detected_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ, active BOOLEAN NOT NULL
);
CREATE TABLE IF NOT EXISTS violation_status (
    violation_id TEXT NOT NULL, status TEXT NOT NULL, comment TEXT, actor TEXT,
    changed_at TIMESTAMPTZ NOT NULL
);
"""

_EVENT_STORE_COLUMNS = (
    "event_id",
    "version",
    "content_sha",
    *schema.EVENT_COLUMNS,
    "batch_id",
    "recorded_at",
)


def _now() -> datetime:
    return datetime.now(UTC)


#: :meth:`DuckDBStore.add_events` stores a batch of at most this many rows with one
#: SELECT and one INSERT of values (no staging table)
SMALL_BATCH_ROWS = 64


def _sql_value(v: Any) -> Any:
    """A frame cell as a query parameter, as a registered frame gives it (NaN, NA and NaT
    are NULL)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    item = getattr(v, "item", None)
    return item() if callable(item) else v


def _as_arrow(frame: Any) -> Any:
    """A pandas frame as an Arrow table (its index left out, as DuckDB leaves it out of a
    pandas frame), anything else as it is. DuckDB reads pandas' Arrow-backed text one
    Python object at a time: storing the zones of 10⁶ events took 1.2-1.5 s from the frame
    and 0.8 s from Arrow. NaN in a float column is NULL either way. A frame Arrow cannot
    type (a column of mixed Python objects) goes as it is."""
    if not isinstance(frame, pd.DataFrame):
        return frame
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError):
        return frame


class DuckDBStore(PortableQueries):
    """A store in one DuckDB file (``:memory:`` for tests)."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.location = str(path)
        if self.location != ":memory:":
            Path(self.location).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(self.location, read_only=read_only)
        except duckdb.Error as e:
            msg = f"cannot open the store {self.location!r}: {e}"
            raise StoreError(msg) from e
        self.con.execute("SET TimeZone='UTC'")
        if not read_only:
            self.con.execute(_DDL)
            self.con.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
            )
            if self.schema_version() >= 3:
                self.con.execute("CREATE INDEX IF NOT EXISTS events_event_id ON events (event_id)")
        self._depth = 0

    # --- plumbing ------------------------------------------------------------------
    def schema_version(self) -> int:
        """The schema version the store was made with (see ``SCHEMA_VERSION``)."""
        rows = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
        return int(rows[0][0]) if rows else 1

    def _settle(self) -> None:
        """Close any result an earlier ``execute()`` left open (a ``fetchone()`` leaves
        it open): DuckDB refuses to register a frame or start a relation on the
        connection meanwhile, and an ``execute()`` of its own closes it."""
        self.con.execute("SELECT 1").fetchall()

    def _register(self, name: str, frame: Any) -> None:
        """``frame`` (pandas or Arrow) as the view ``name`` of the connection; a pandas
        frame goes as Arrow (see :func:`_as_arrow`)."""
        self._settle()
        self.con.register(name, _as_arrow(frame))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.con.execute("BEGIN TRANSACTION")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
        finally:
            self._depth = 0

    def _shown_location(self) -> str:
        return str(self.location)

    # --- batches -------------------------------------------------------------------
    def _claims_table(self) -> None:
        self.con.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _claims "
            "(batch_id BIGINT, source_event_id TEXT, line_no BIGINT)"
        )

    def begin_batch(self, meta: dict[str, Any]) -> int:
        # one statement: the id drawn and the row written together
        row = self.con.execute(
            "INSERT INTO batches (batch_id, source, file_name, file_path, file_sha256, "
            "file_bytes, started_at, status, ceasewatch_version) "
            "VALUES (nextval('batch_seq'),?,?,?,?,?,?,?,?) RETURNING batch_id",
            [
                meta["source"],
                meta.get("file_name"),
                meta.get("file_path"),
                meta.get("file_sha256"),
                meta.get("file_bytes"),
                meta.get("started_at", _now()),
                "running",
                __version__,
            ],
        ).fetchall()
        return int(row[0][0])

    def claim_source_ids(self, batch_id: int, ids: pd.Series, line_no: pd.Series) -> pd.Series:
        """Record that ``ids`` were read in ``batch_id``; returns, aligned with ``ids``, the
        line where each was already read earlier in the batch (NaN for a first sighting).

        The claims live in a temporary table, so a file with more ids than memory works.
        """
        self._claims_table()
        frame = pd.DataFrame(
            {
                "pos": range(len(ids)),
                "source_event_id": ids.to_numpy(),
                "line_no": line_no.to_numpy(),
            }
        )
        self._register("_ids", frame)
        try:
            seen = self.con.execute(
                "SELECT i.pos, c.line_no FROM _ids i JOIN _claims c "
                "ON c.batch_id = ? AND c.source_event_id = i.source_event_id",
                [batch_id],
            ).df()
            self.con.execute(
                "INSERT INTO _claims SELECT ?, source_event_id, line_no FROM _ids "
                "WHERE pos NOT IN (SELECT pos FROM _ids i JOIN _claims c "
                "ON c.batch_id = ? AND c.source_event_id = i.source_event_id)",
                [batch_id, batch_id],
            )
        finally:
            self.con.unregister("_ids")
        out = pd.Series(float("nan"), index=ids.index)
        if not seen.empty:
            out.iloc[seen["pos"].to_numpy()] = seen["line_no"].to_numpy(dtype=float)
        return out

    def add_quarantine(self, rows: pd.DataFrame) -> None:
        if rows.empty:
            return
        frame = rows[["batch_id", "source", "file_name", "line_no", "reason", "raw"]].copy()
        frame["recorded_at"] = _now()
        self._register("_q", frame)
        try:
            self.con.execute("INSERT INTO quarantine SELECT * FROM _q")
        finally:
            self.con.unregister("_q")

    # --- events --------------------------------------------------------------------
    def add_events(
        self, events: pd.DataFrame, *, batch_id: int, recorded_at: datetime
    ) -> dict[str, int]:
        if events.empty:
            return {"loaded": 0, "new_version": 0, "unchanged": 0}
        if len(events) <= SMALL_BATCH_ROWS:
            return self._add_few_events(events, batch_id=batch_id, recorded_at=recorded_at)
        frame = events[list(schema.EVENT_COLUMNS)]
        self._register("_chunk", frame)
        try:
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE _staged AS SELECT "
                "substr(md5(source || chr(31) || source_event_id), 1, 20) AS event_id, "
                "md5(raw) AS content_sha, * FROM _chunk"
            )
        finally:
            self.con.unregister("_chunk")
        # two rows of one record would both be stored as its next version
        self._check_unique("_staged", "event_id", "events")
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE _status AS "
            "SELECT s.event_id, s.content_sha, cur.version AS cur_version, "
            "cur.content_sha AS cur_sha FROM _staged s LEFT JOIN ("
            "  SELECT event_id, max(version) AS version, arg_max(content_sha, version) "
            "  AS content_sha FROM events WHERE event_id IN (SELECT event_id FROM _staged) "
            "  GROUP BY event_id) cur USING (event_id)"
        )
        counts = self.con.execute(
            "SELECT count(*) FILTER (WHERE cur_version IS NULL), "
            "count(*) FILTER (WHERE cur_version IS NOT NULL AND cur_sha <> content_sha), "
            "count(*) FILTER (WHERE cur_sha = content_sha) FROM _status"
        ).fetchall()[0]
        cols = ", ".join(f"s.{c}" for c in schema.EVENT_COLUMNS)
        self.con.execute(
            f"INSERT INTO events SELECT s.event_id, coalesce(st.cur_version, 0) + 1, "
            f"s.content_sha, {cols}, ?, ? FROM _staged s JOIN _status st USING (event_id) "
            f"WHERE st.cur_sha IS NULL OR st.cur_sha <> s.content_sha",
            [batch_id, recorded_at],
        )
        self.con.execute("DROP TABLE _staged; DROP TABLE _status")
        return {
            "loaded": int(counts[0]),
            "new_version": int(counts[1]),
            "unchanged": int(counts[2]),
        }

    def _add_few_events(
        self, events: pd.DataFrame, *, batch_id: int, recorded_at: datetime
    ) -> dict[str, int]:
        """:meth:`add_events` for a few rows (a POSTed field report): the ids and content
        hashes computed here (the hex of DuckDB's ``md5`` of the same UTF-8 text), one
        SELECT of the current versions, one INSERT of the rows; no staging table and no
        frame registration, whose fixed costs are milliseconds."""
        cols = list(schema.EVENT_COLUMNS)
        rows = list(zip(*(events[c].tolist() for c in cols), strict=True))
        src, sid = cols.index(schema.SOURCE), cols.index(schema.SOURCE_EVENT_ID)
        raw = cols.index(schema.RAW)
        ids = [hashlib.md5(f"{r[src]}\x1f{r[sid]}".encode()).hexdigest()[:20] for r in rows]
        if len(set(ids)) < len(ids):
            # two rows of one record would both be stored as its next version
            msg = f"events: {len(ids) - len(set(ids))} event_id value(s) repeated; nothing written"
            raise ValueError(msg)
        shas = [hashlib.md5(str(r[raw]).encode("utf-8")).hexdigest() for r in rows]
        marks = ",".join("?" * len(set(ids)))
        cur = {
            e: (int(v), s)
            for e, v, s in self.con.execute(
                "SELECT event_id, max(version), arg_max(content_sha, version) FROM events "
                f"WHERE event_id IN ({marks}) GROUP BY event_id",
                list(dict.fromkeys(ids)),
            ).fetchall()
        }
        counts = {"loaded": 0, "new_version": 0, "unchanged": 0}
        values: list[Any] = []
        for r, e, s in zip(rows, ids, shas, strict=True):
            version, old = cur.get(e, (0, None))
            if old == s:
                counts["unchanged"] += 1
                continue
            counts["loaded" if old is None else "new_version"] += 1
            values += [e, version + 1, s, *(_sql_value(v) for v in r), batch_id, recorded_at]
        if values:
            one = "(" + ",".join("?" * len(_EVENT_STORE_COLUMNS)) + ")"
            n = len(values) // len(_EVENT_STORE_COLUMNS)
            self.con.execute(
                f"INSERT INTO events ({', '.join(_EVENT_STORE_COLUMNS)}) VALUES "
                + ",".join([one] * n),
                values,
            )
        return counts

    def add_event_table(
        self, events: pa.Table, *, batch_id: int, recorded_at: datetime
    ) -> tuple[dict[str, int], pd.DataFrame]:
        """:meth:`claim_source_ids` and :meth:`add_events` for one Arrow chunk, in SQL.

        The fast path of the ingest pipeline (``events`` has ``schema.EVENT_COLUMNS``). A
        source id already read in this batch (earlier in the chunk or in an earlier chunk)
        is not stored: those rows come back as quarantine rows (``line_no``, ``reason``,
        ``raw``). The rest is stored as :meth:`add_events` stores (new, new version or
        unchanged), straight from the Arrow chunk: no pandas copy, no staging table.
        """
        no_dups = pd.DataFrame(
            {
                schema.LINE_NO: pd.Series([], dtype="int64"),
                "reason": pd.Series([], dtype="object"),
                schema.RAW: pd.Series([], dtype="object"),
            }
        )
        if events.num_rows == 0:
            return {"loaded": 0, "new_version": 0, "unchanged": 0}, no_dups
        con = self.con
        self._claims_table()
        key = "substr(md5(source || chr(31) || source_event_id), 1, 20)"
        dups = no_dups
        self._register("_chunk", events)
        try:
            # a duplicate: claimed in an earlier chunk, or not the first (by line) in this one
            dups = con.execute(
                "WITH firsts AS (SELECT source_event_id, min(line_no) AS first_line, "
                "count(*) AS n FROM _chunk GROUP BY source_event_id), "
                "earlier AS (SELECT c.source_event_id, min(c.line_no) AS first_line "
                "FROM _claims c SEMI JOIN _chunk k USING (source_event_id) "
                "WHERE c.batch_id = ? GROUP BY c.source_event_id) "
                "SELECT k.line_no, 'duplicate source id ''' || k.source_event_id || "
                "''' in the same file (first on line ' || "
                "coalesce(e.first_line, f.first_line) || ', kept)' AS reason, k.raw "
                "FROM _chunk k JOIN firsts f USING (source_event_id) "
                "LEFT JOIN earlier e USING (source_event_id) "
                "WHERE e.first_line IS NOT NULL OR (f.n > 1 AND k.line_no > f.first_line) "
                "ORDER BY k.line_no",
                [batch_id],
            ).df()
            # what is kept names each source id once in the batch, so each event id once
            keep = ""
            if not dups.empty:
                self._register("_dup_lines", dups[[schema.LINE_NO]])
                keep = "WHERE line_no NOT IN (SELECT line_no FROM _dup_lines)"
            con.execute(
                f"INSERT INTO _claims SELECT ?, source_event_id, line_no FROM _chunk {keep}",
                [batch_id],
            )
            # the current version of those of the chunk's events already stored
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _cur AS SELECT event_id, max(version) AS version, "
                "arg_max(content_sha, version) AS content_sha FROM events "
                f"WHERE event_id IN (SELECT {key} FROM _chunk {keep}) GROUP BY event_id"
            )
            new_version = unchanged = 0
            if con.execute("SELECT count(*) FROM _cur").fetchall()[0][0]:
                got = con.execute(
                    "SELECT count(*) FILTER (WHERE s.sha <> c.content_sha), "
                    "count(*) FILTER (WHERE s.sha = c.content_sha) FROM "
                    f"(SELECT {key} AS event_id, md5(raw) AS sha FROM _chunk {keep}) s "
                    "JOIN _cur c USING (event_id)"
                ).fetchall()[0]
                new_version, unchanged = int(got[0]), int(got[1])
            cols = ", ".join(f"s.{c}" for c in schema.EVENT_COLUMNS)
            inserted = con.execute(
                f"INSERT INTO events SELECT s.event_id, coalesce(c.version, 0) + 1, "
                f"s.content_sha, {cols}, ?, ? FROM (SELECT {key} AS event_id, "
                f"md5(raw) AS content_sha, * FROM _chunk {keep}) s "
                "LEFT JOIN _cur c USING (event_id) "
                "WHERE c.content_sha IS NULL OR c.content_sha <> s.content_sha",
                [batch_id, recorded_at],
            ).fetchall()[0][0]
            con.execute("DROP TABLE _cur")
        finally:
            con.unregister("_chunk")
            if not dups.empty:
                con.unregister("_dup_lines")
        counts = {
            "loaded": int(inserted) - new_version,
            "new_version": new_version,
            "unchanged": unchanged,
        }
        return counts, (no_dups if dups.empty else dups)

    def _arrow_df(self, sql: str, params: list[Any]) -> pd.DataFrame:
        """What ``_df`` gives, through Arrow (for large results: ``.df()`` converts text
        about twice as slowly). A text column with no value comes back as objects (None),
        as ``.df()`` has it."""
        self._settle()
        rel = self.con.sql(sql, params=params)
        if rel is None:  # pragma: no cover - a SELECT always gives a relation
            return self._df(sql, params)
        table = rel.to_arrow_table()
        if not all(_same_as_df(f.type) for f in table.schema):
            # a type whose conversion differs from .df()'s (dates, decimals, …)
            return self._df(sql, params)
        frame = table.to_pandas()
        for name, field in zip(table.column_names, table.schema, strict=True):
            column = table.column(name)
            if field.type in _NULLABLE and column.null_count:
                # integers or booleans with a missing value: pandas' nullable dtypes, as
                # .df() gives them
                frame[name] = column.to_pandas(types_mapper=_NULLABLE.get)
        for name in frame.columns:
            col = frame[name]
            if isinstance(col.dtype, pd.StringDtype) and not col.notna().any():
                frame[name] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        return frame

    def _current_events_sql(
        self, columns: str, as_of: datetime | None
    ) -> tuple[str, list[datetime | None]]:
        """The current version of each event as of ``as_of``, and the query's parameters.
        Only the events with more than one version are ranked by a window; the others
        (nearly all: a version 2 is a corrected record) are taken as they are, which
        spares a partition of every row by its text key (1.6 -> 1.0 s for 10^6 events)."""
        recorded = "(? IS NULL OR recorded_at <= ?)"
        sql = (
            f"WITH multi AS (SELECT event_id FROM events WHERE version > 1 AND {recorded}) "
            f"SELECT {columns} FROM events WHERE {recorded} AND event_id NOT IN "
            f"(SELECT event_id FROM multi) "
            f"UNION ALL SELECT {columns} FROM events WHERE {recorded} AND event_id IN "
            f"(SELECT event_id FROM multi) "
            "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY version DESC) = 1"
        )
        return sql, [as_of] * sql.count("?")

    def events(
        self,
        *,
        as_of: datetime | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        columns: list[str] | None = None,
        with_raw: bool = False,
    ) -> pd.DataFrame:
        if columns is None:
            cols = [c for c in _EVENT_STORE_COLUMNS if with_raw or c != schema.RAW]
        else:
            cols = columns
        # the sort keys are always selected inside, whatever the caller asked for
        inner_cols = [*cols, *(c for c in ("occurred_at", "event_id") if c not in cols)]
        inner, params = self._current_events_sql(", ".join(inner_cols), as_of)
        sql = (
            f"SELECT {', '.join(cols)} FROM ({inner}) WHERE (? IS NULL OR occurred_at >= ?) "
            "AND (? IS NULL OR occurred_at < ?) ORDER BY occurred_at, event_id"
        )
        return self._arrow_df(sql, [*params, since, since, until, until])

    def iter_events(
        self, *, as_of: datetime | None = None, chunk_rows: int = 500_000
    ) -> Iterator[pd.DataFrame]:
        cols = ", ".join(_EVENT_STORE_COLUMNS)
        cur = self.con.cursor()
        # a cursor does not inherit the connection's settings: times come back in UTC
        cur.execute("SET TimeZone='UTC'")
        current, params = self._current_events_sql(cols, as_of)
        rel = cur.sql(current + " ORDER BY occurred_at, event_id", params=params)
        if rel is None:  # pragma: no cover - a SELECT always gives a relation
            return
        # streamed from the relation (a DB-API result's reader copies the rows first)
        for batch in rel.to_arrow_reader(chunk_rows):
            yield batch.to_pandas()

    # --- agreements ----------------------------------------------------------------
    # --- evaluation ----------------------------------------------------------------
    def evaluated_event_ids(self) -> pd.DataFrame:
        return self._df("SELECT event_id, content_sha, agreement_version FROM event_eval")

    def put_event_eval(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        self._register("_ev", frame[list(EVENT_EVAL_COLUMNS)])
        try:
            with self.transaction():
                self._check_unique("_ev", "event_id", "event zones")
                self.con.execute(
                    "DELETE FROM event_eval WHERE event_id IN (SELECT event_id FROM _ev)"
                )
                self.con.execute("INSERT INTO event_eval SELECT * FROM _ev")
        finally:
            self.con.unregister("_ev")

    def event_eval(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The stored zones of the events (``columns`` only, when given)."""
        return self._df(f"SELECT {', '.join(event_eval_columns(columns))} FROM event_eval")

    def replace_incidents(
        self, event_ids: pd.Series, incidents: pd.DataFrame, members: pd.DataFrame
    ) -> None:
        self._register("_inc", incidents)
        self._register("_mem", members[["event_id", "incident_id"]])
        try:
            with self.transaction():
                self._check_unique("_mem", "event_id", "incident members")
                self._check_unique("_inc", "incident_id", "incidents")
                cols = ", ".join(incidents.columns)
                if not self.con.execute("SELECT count(*) FROM incident_members").fetchall()[0][0]:
                    # nothing stored yet (a first evaluation): nothing to replace
                    self.con.execute("INSERT INTO incident_members SELECT * FROM _mem")
                    # (incidents without members are not kept, as below)
                    self.con.execute("DELETE FROM incidents")
                    self.con.execute(
                        f"INSERT INTO incidents ({cols}) SELECT {cols} FROM _inc "
                        "WHERE incident_id IN (SELECT incident_id FROM _mem)"
                    )
                    return
                self._register("_ids", pd.DataFrame({"event_id": event_ids.astype(str)}))
                # only rows that change are written: an event that left every incident is
                # deleted, one that moved is deleted and inserted, a new one inserted (the
                # members of a changed incident mostly stay where they are, and rewriting
                # them is what costs)
                self.con.execute(
                    "DELETE FROM incident_members WHERE event_id IN "
                    "(SELECT event_id FROM _ids ANTI JOIN _mem USING (event_id))"
                )
                self.con.execute(
                    "DELETE FROM incident_members o USING _mem m WHERE o.event_id = m.event_id "
                    "AND o.incident_id IS DISTINCT FROM m.incident_id"
                )
                self.con.execute(
                    "INSERT INTO incident_members SELECT m.event_id, m.incident_id "
                    "FROM _mem m ANTI JOIN incident_members o USING (event_id)"
                )
                self.con.execute(
                    "DELETE FROM incidents WHERE incident_id IN (SELECT incident_id FROM _inc)"
                )
                self.con.execute(f"INSERT INTO incidents ({cols}) SELECT {cols} FROM _inc")
                # incidents left without members were dissolved into others
                self.con.execute(
                    "DELETE FROM incidents WHERE incident_id NOT IN "
                    "(SELECT DISTINCT incident_id FROM incident_members)"
                )
        finally:
            for name in ("_ids", "_inc", "_mem"):
                self.con.unregister(name)  # (a name never registered: nothing happens)

    def _check_unique(self, relation: str, key: str, what: str) -> None:
        """Refuse rows that name a key twice: the tables of an evaluation have no primary
        key (see ``SCHEMA_VERSION``), so their writers check what they write."""
        got = self.con.execute(
            f"SELECT count({key}) - count(DISTINCT {key}), count(*) - count({key}) FROM {relation}"
        ).fetchall()[0]
        if got[0] or got[1]:
            msg = f"{what}: {got[0]} {key} value(s) repeated, {got[1]} missing; nothing written"
            raise ValueError(msg)

    def incidents(self) -> pd.DataFrame:
        return self._df("SELECT * FROM incidents ORDER BY occurred_at, incident_id")

    def incident_members(self) -> pd.DataFrame:
        return self._df("SELECT * FROM incident_members")

    def put_violations(self, violations: pd.DataFrame, *, incident_ids: pd.Series) -> None:
        """Replace the violations of ``incident_ids`` by ``violations``.

        A violation that no longer holds is kept, inactive, so that its review history
        stays readable; one that holds again becomes active with its history intact.
        """
        now = _now()
        ids = pd.DataFrame({"incident_id": incident_ids.astype(str).to_numpy()})
        self._register("_iids", ids)
        try:
            self.con.execute(
                "UPDATE violations SET active = false, updated_at = ? "
                "WHERE incident_id IN (SELECT incident_id FROM _iids) AND active",
                [now],
            )
            # incidents that no longer exist lose their violations too
            self.con.execute(
                "UPDATE violations SET active = false, updated_at = ? WHERE active AND "
                "incident_id NOT IN (SELECT incident_id FROM incidents)",
                [now],
            )
        finally:
            self.con.unregister("_iids")
        if violations.empty:
            return
        frame = violations.copy()
        frame["updated_at"] = now
        frame["active"] = True
        self._register("_v", frame)
        try:
            cols = [c for c in frame.columns if c != "detected_at"]
            col_sql = ", ".join(cols)
            updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "violation_id")
            self.con.execute(
                f"INSERT INTO violations ({col_sql}, detected_at) SELECT {col_sql}, ? FROM _v "
                f"ON CONFLICT (violation_id) DO UPDATE SET {updates}",
                [now],
            )
        finally:
            if self._depth == 0:
                self.con.unregister("_v")

    def violations(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        include_inactive: bool = False,
    ) -> pd.DataFrame:
        return self._df(
            "SELECT v.*, coalesce(s.status, 'detected') AS status FROM violations v "
            "LEFT JOIN (SELECT violation_id, arg_max(status, changed_at) AS status "
            "FROM violation_status GROUP BY violation_id) s USING (violation_id) "
            "WHERE (? OR v.active) AND (? IS NULL OR v.occurred_at >= ?) "
            "AND (? IS NULL OR v.occurred_at < ?) ORDER BY v.occurred_at, v.violation_id",
            [include_inactive, since, since, until, until],
        )

    def violation_statuses(self, *, as_of: datetime | None = None) -> pd.DataFrame:
        """Latest analyst status of each violation (as set by ``as_of`` when given)."""
        return self._df(
            "SELECT violation_id, arg_max(status, changed_at) AS status FROM violation_status "
            "WHERE (? IS NULL OR changed_at <= ?) GROUP BY violation_id",
            [as_of, as_of],
        )


def _same_as_df(t: pa.DataType) -> bool:
    """Whether Arrow's ``to_pandas`` of type ``t`` gives what DuckDB's ``.df()`` gives
    (with the nullable dtypes below): numbers, booleans, text, UTC timestamps."""
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or (pa.types.is_timestamp(t) and t.tz is not None)
    )


#: Arrow types and the pandas nullable dtype ``.df()`` gives them when a value is missing
_NULLABLE = {
    pa.bool_(): pd.BooleanDtype(),
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
}


def open_store(location: str | Path, *, read_only: bool = False) -> DuckDBStore:
    """Open the store at ``location`` (a DuckDB file path or ``:memory:``)."""
    loc = str(location)
    if loc.startswith(("postgresql://", "postgres://")):
        msg = (
            f"store {loc.split('@')[-1]!r}: the PostGIS store is not available in this "
            "version; use a DuckDB file path"
        )
        raise StoreError(msg)
    return DuckDBStore(loc, read_only=read_only)
