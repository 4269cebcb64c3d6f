"""The team store: PostgreSQL + PostGIS behind the same protocol as the DuckDB store.

Chosen by a ``postgresql://`` (or ``postgres://``) location. What differs from the
embedded store, and why:

* **Schema**: named, ordered migrations (``store/migrations/NNNN_name.sql``) recorded in
  ``schema_migrations``; applied on open (under an advisory lock, so two processes opening
  a fresh database at once do not race) or by ``ceasewatch store migrate``.
* **Geometry**: events, incidents and violations keep lon/lat (what every reader selects)
  and a generated ``geometry(Point, 4326)`` column with a GiST index for spatial SQL.
* **Transactions**: ``transaction()`` is one PostgreSQL transaction; an ingest is one batch
  in one transaction, so a killed ingest leaves nothing behind.
* **Concurrency**: several processes write at once. Writers that derive a number from
  what is stored (event versions, the audit chain's next ``seq``, agreement versions, the
  guarantee log) take a transaction-scoped advisory lock (:meth:`PostGISStore.lock`) for
  that part, so no record is lost or duplicated; keys are unique constraints.
* **Bulk writes** use ``COPY`` (CSV written by Arrow, no Python loop per row).
* **Component modules** (audit, users, decisions, alerts, the fire model, the guarantee
  ledger, parts of the web service) use ``store.con`` with DuckDB-style SQL and ``?``
  placeholders: :class:`PgConnection` is the small adapter that runs it here, and hands
  frames back through DuckDB's own pandas conversion so that columns and dtypes are the
  DuckDB store's.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql as pgsql

from ceasewatch import __version__
from ceasewatch.errors import StoreError
from ceasewatch.normalize import schema
from ceasewatch.store.location import is_postgres_url, redact
from ceasewatch.store.portable import EVENT_EVAL_COLUMNS, PortableQueries, event_eval_columns

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


# --- SQL translation ---------------------------------------------------------------------
_DDL_TYPES = (
    (re.compile(r"\bDOUBLE\b(?!\s+PRECISION)", re.IGNORECASE), "DOUBLE PRECISION"),
    (re.compile(r"\bTINYINT\b", re.IGNORECASE), "SMALLINT"),
)
#: DuckDB settings that mean nothing to PostgreSQL (the web service sets its threads)
_DUCKDB_ONLY = re.compile(
    r"^\s*(SET\s+(threads|memory_limit|preserve_insertion_order|enable_progress_bar)\b|PRAGMA\b)",
    re.IGNORECASE,
)


def _placeholder(value: Any) -> str:
    """The ``%s`` for one parameter, typed where PostgreSQL cannot infer it."""
    if isinstance(value, list | tuple | np.ndarray | pd.Series):
        items = [v for v in value if v is not None]
        if items and all(isinstance(v, bool | np.bool_) for v in items):
            return "%s::boolean[]"
        if items and all(isinstance(v, int | np.integer) for v in items):
            return "%s::bigint[]"
        if items and all(isinstance(v, float | np.floating) for v in items):
            return "%s::double precision[]"
        return "%s::text[]"
    if isinstance(value, float | np.floating) and not isinstance(value, bool):
        return "%s::double precision"
    return "%s"


def _param(value: Any) -> Any:
    """A DuckDB-style parameter as psycopg adapts it."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | pd.Series | tuple):
        return [_param(v) for v in list(value)]
    if isinstance(value, list):
        return [_param(v) for v in value]
    return value


def translate(query: str, params: Sequence[Any] | None = None) -> str:
    """DuckDB-style SQL for psycopg: ``?`` → ``%s`` (typed for lists and floats), ``%`` →
    ``%%``, and in ``CREATE`` statements the DuckDB type names PostgreSQL lacks."""
    out: list[str] = []
    n = 0
    i = 0
    quote: str | None = None
    while i < len(query):
        ch = query[i]
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            value = params[n] if params is not None and n < len(params) else None
            out.append(_placeholder(value))
            n += 1
        elif ch == "%":
            out.append("%%")
        elif ch == "-" and query.startswith("--", i):
            end = query.find("\n", i)
            end = len(query) if end < 0 else end
            out.append(query[i:end].replace("%", "%%").replace("?", " "))
            i = end
            continue
        else:
            out.append(ch)
        i += 1
    text = "".join(out)
    if params is not None and n != len(params):
        msg = f"the query has {n} placeholders but {len(params)} parameters were given"
        raise StoreError(msg)
    if re.match(r"^\s*CREATE\b", text, re.IGNORECASE):
        for pattern, repl in _DDL_TYPES:
            text = pattern.sub(repl, text)
    return text


# --- results -------------------------------------------------------------------------------
def _arrow_type(oid: int, geometry_oid: int | None) -> pa.DataType:
    return {
        16: pa.bool_(),
        20: pa.int64(),
        # this schema uses SMALLINT only where DuckDB has TINYINT (credibility 1-6)
        21: pa.int8(),
        23: pa.int32(),
        26: pa.int64(),
        700: pa.float32(),
        701: pa.float64(),
        1700: pa.float64(),
        1082: pa.date32(),
        1114: pa.timestamp("us"),
        1184: pa.timestamp("us", tz="UTC"),
    }.get(oid, pa.string())


_LOCAL = threading.local()


def _duck() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB of this thread: turns Arrow into DuckDB's pandas frames."""
    con: duckdb.DuckDBPyConnection | None = getattr(_LOCAL, "duck", None)
    if con is None:
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        _LOCAL.duck = con
    return con


def _column(values: Sequence[Any], typ: pa.DataType) -> pa.Array:
    if pa.types.is_floating(typ):
        values = [None if v is None else float(v) for v in values]
    elif pa.types.is_string(typ) and any(not isinstance(v, str | None) for v in values):
        values = [None if v is None else str(v) for v in values]
    return pa.array(values, type=typ)


@dataclass
class PgResult:
    """The rows of one statement with the fetch methods of a DuckDB result."""

    columns: list[str]
    types: list[pa.DataType]
    rows: list[tuple[Any, ...]]
    _pos: int = 0

    @property
    def description(self) -> list[tuple[Any, ...]]:
        return [
            (c, str(t), None, None, None, None, None)
            for c, t in zip(self.columns, self.types, strict=True)
        ]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self.rows[self._pos :]
        self._pos = len(self.rows)
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._pos >= len(self.rows):
            return None
        self._pos += 1
        return self.rows[self._pos - 1]

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        rows = self.rows[self._pos : self._pos + size]
        self._pos += len(rows)
        return rows

    def arrow(self) -> pa.Table:
        rows = self.rows[self._pos :]
        self._pos = len(self.rows)
        cols = list(zip(*rows, strict=True)) if rows else [() for _ in self.columns]
        arrays = [_column(list(v), t) for v, t in zip(cols, self.types, strict=True)]
        names = _unique_names(self.columns)
        return pa.Table.from_arrays(arrays, names=names)

    fetch_arrow_table = arrow

    def df(self) -> pd.DataFrame:
        table = self.arrow()
        frame = _duck().from_arrow(table).df()
        frame.columns = list(self.columns)
        return frame

    fetchdf = df


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        out.append(n if k == 0 else f"{n}_{k}")
        seen[n] = k + 1
    return out


_EMPTY = PgResult([], [], [])


# --- frames in -------------------------------------------------------------------------------
def _pg_type(typ: pa.DataType) -> str:
    if pa.types.is_boolean(typ):
        return "BOOLEAN"
    if pa.types.is_int8(typ) or pa.types.is_int16(typ) or pa.types.is_uint8(typ):
        return "SMALLINT"
    if pa.types.is_int32(typ) or pa.types.is_uint16(typ):
        return "INTEGER"
    if pa.types.is_integer(typ):
        return "BIGINT"
    if pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return "DOUBLE PRECISION"
    if pa.types.is_timestamp(typ):
        return "TIMESTAMPTZ" if typ.tz else "TIMESTAMP"
    if pa.types.is_date(typ):
        return "DATE"
    return "TEXT"


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    # columns Arrow could not type (all null) are text; dictionaries are decoded
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_null(t):
            t = pa.string()
        elif pa.types.is_dictionary(t):
            t = t.value_type
        elif pa.types.is_large_string(t):
            t = pa.string()
        fields.append(pa.field(f.name, t))
    return table.cast(pa.schema(fields))


_ARROW_OF_PG = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "double precision": pa.float64(),
    "real": pa.float32(),
    "boolean": pa.bool_(),
    "text": pa.string(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "timestamp without time zone": pa.timestamp("us"),
    "date": pa.date32(),
}


def _coerce(table: pa.Table, target: dict[str, str]) -> pa.Table:
    """Cast ``table``'s columns to the Arrow types of the target columns (a float column
    of whole numbers into BIGINT, anything into TEXT, ...); a lossy cast is an error."""
    arrays = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        want = _ARROW_OF_PG.get(target.get(name, ""))
        if want is not None and not col.type.equals(want):
            try:
                if pa.types.is_string(want) and not pa.types.is_string(col.type):
                    col = col.cast(pa.string())
                elif pa.types.is_timestamp(want) and pa.types.is_timestamp(col.type):
                    col = col.cast(pa.timestamp("us", tz=col.type.tz), safe=False)
                else:
                    col = col.cast(want)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                msg = f"column {name!r} ({col.type}) does not fit {target[name]}: {e}"
                raise StoreError(msg) from e
        arrays.append(col)
    return pa.Table.from_arrays(arrays, names=table.column_names)


def _csv(table: pa.Table) -> bytes:
    # strings are always quoted and nulls written as nothing: COPY tells NULL from ''
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, batch_size=65_536))
    return buf.getvalue()


class PgConnection:
    """The subset of DuckDB's connection API the component modules use, on PostgreSQL.

    ``execute(sql, params)`` takes DuckDB-style SQL with ``?`` placeholders and returns an
    object with ``fetchall/fetchone/fetchmany/df/fetchdf/arrow``; ``register(name, frame)``
    makes a frame queryable as a temporary table (loaded with COPY) until ``unregister``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.raw: psycopg.Connection[Any] = psycopg.connect(
                url, autocommit=True, cursor_factory=psycopg.ClientCursor
            )
        except psycopg.Error as e:
            msg = f"cannot connect to the store {redact(url)}: {e}".strip()
            raise StoreError(msg) from e
        self.raw.execute("SET TimeZone = 'UTC'")
        self._registered: set[str] = set()

    def execute(self, query: str, parameters: Sequence[Any] | None = None) -> PgResult:
        if _DUCKDB_ONLY.match(query):
            return _EMPTY
        # always a list, even empty: psycopg turns the ``%%`` of ``translate`` back into
        # ``%`` only when parameters are passed
        params = [] if parameters is None else [_param(p) for p in parameters]
        text = translate(query, params)
        with self.raw.cursor() as cur:
            cur.execute(text, params)
            if cur.description is None:
                return _EMPTY
            cols = [d.name for d in cur.description]
            types = [_arrow_type(d.type_code, None) for d in cur.description]
            return PgResult(cols, types, cur.fetchall())

    def cursor(self) -> PgConnection:
        """A new connection to the same database (DuckDB's cursors are per-thread views)."""
        return PgConnection(self.url)

    def register(self, name: str, frame: pd.DataFrame) -> None:
        table = _to_arrow(frame)
        cols = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in table.schema)
        self.raw.execute(f'DROP TABLE IF EXISTS pg_temp."{name}"')
        self.raw.execute(f'CREATE TEMP TABLE "{name}" ({cols})')
        self.copy_in(name, table)
        self._registered.add(name)

    def unregister(self, name: str) -> None:
        self.raw.execute(f'DROP TABLE IF EXISTS pg_temp."{name}"')
        self._registered.discard(name)

    def copy_in(self, table_name: str, data: pa.Table | pd.DataFrame) -> int:
        """COPY ``data`` (its columns, by name) into ``table_name``; returns the rows."""
        table = data if isinstance(data, pa.Table) else _to_arrow(data)
        if table.num_rows == 0:
            return 0
        cols = pgsql.SQL(", ").join(pgsql.Identifier(c) for c in table.column_names)
        stmt = pgsql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
            pgsql.Identifier(*table_name.split(".")), cols
        )
        with self.raw.cursor() as cur, cur.copy(stmt) as copy:
            for start in range(0, table.num_rows, 200_000):
                copy.write(_csv(table.slice(start, 200_000)))
        return int(table.num_rows)

    def close(self) -> None:
        self.raw.close()


# --- migrations ------------------------------------------------------------------------------
_MIGRATION_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_MIGRATE_LOCK = 7_242_001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def migrations() -> list[Migration]:
    """The migrations shipped with this version, in order."""
    folder = resources.files("ceasewatch.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        m = _MIGRATION_RE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda mg: mg.version)
    versions = [mg.version for mg in found]
    if versions != list(range(1, len(found) + 1)):
        msg = f"store migrations are not numbered 1, 2, 3, ... without gaps: {versions}"
        raise StoreError(msg)
    return found


def migrate(con: PgConnection) -> list[Migration]:
    """Apply the migrations the database lacks (each recorded in ``schema_migrations``);
    returns those applied now. Idempotent; safe with several processes at once."""
    shipped = migrations()
    raw = con.raw
    applied_now: list[Migration] = []
    with raw.transaction():
        raw.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATE_LOCK])
        raw.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL, "
            "ceasewatch_version TEXT)"
        )
        done = {
            int(r[0]): (str(r[1]), str(r[2]))
            for r in raw.execute("SELECT version, name, sha256 FROM schema_migrations").fetchall()
        }
        known = {mg.version: mg for mg in shipped}
        newer = sorted(set(done) - set(known))
        if newer:
            msg = (
                f"the store {redact(con.url)} has schema migrations {newer} that this version "
                f"of ceasewatch ({__version__}) does not know: upgrade ceasewatch"
            )
            raise StoreError(msg)
        for mg in shipped:
            if mg.version in done:
                name, sha = done[mg.version]
                if sha != mg.sha256:
                    msg = (
                        f"schema migration {mg.version:04d}_{name} in {redact(con.url)} differs "
                        "from the one shipped (migrations must never be edited once released)"
                    )
                    raise StoreError(msg)
                continue
            try:
                raw.execute(mg.sql)
            except psycopg.Error as e:
                msg = f"schema migration {mg.version:04d}_{mg.name} failed: {e}"
                raise StoreError(msg) from e
            raw.execute(
                "INSERT INTO schema_migrations VALUES (%s, %s, %s, %s, %s)",
                [mg.version, mg.name, mg.sha256, _now(), __version__],
            )
            applied_now.append(mg)
    return applied_now


def applied_migrations(con: PgConnection) -> pd.DataFrame:
    return con.execute(
        "SELECT version, name, sha256, applied_at FROM schema_migrations ORDER BY version"
    ).df()


# --- the store -----------------------------------------------------------------------------
class PostGISStore(PortableQueries):
    """A store in a PostgreSQL + PostGIS database."""

    def __init__(self, url: str, *, read_only: bool = False, auto_migrate: bool = True) -> None:
        if not is_postgres_url(url):
            msg = f"{url!r} is not a postgresql:// URL"
            raise StoreError(msg)
        self.location = url
        self.con = PgConnection(url)
        self._depth = 0
        self._columns: dict[str, list[str]] = {}
        self._pg_types: dict[str, dict[str, str]] = {}
        if read_only:
            self.con.raw.execute("SET default_transaction_read_only = on")
        elif auto_migrate:
            migrate(self.con)
        row = self.con.raw.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'events' "
            "AND table_schema = current_schema()"
        ).fetchone()
        if not row or not row[0]:
            msg = (
                f"the store {redact(url)} has no ceasewatch schema: run `ceasewatch store migrate`"
            )
            raise StoreError(msg)

    def __repr__(self) -> str:
        return f"PostGISStore({redact(self.location)!r})"

    # --- plumbing ------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.con.raw.execute("BEGIN")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.con.raw.execute("ROLLBACK")
            raise
        else:
            try:
                self.con.raw.execute("COMMIT")
            except psycopg.Error as e:
                msg = f"the store {redact(self.location)} could not commit: {e}"
                raise StoreError(msg) from e
        finally:
            self._depth = 0

    def lock(self, name: str) -> None:
        """Hold the advisory lock ``name`` until the current transaction ends (writers that
        derive a number from what is stored take it; outside a transaction it is a no-op)."""
        if self._depth:
            self.con.raw.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", ["ceasewatch:" + name]
            )

    def _shown_location(self) -> str:
        return redact(self.location)

    def columns(self, table: str) -> list[str]:
        """The stored (not generated) columns of ``table``, in order."""
        if table not in self._columns:
            rows = self.con.raw.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND table_schema = current_schema() AND is_generated = 'NEVER' "
                "AND data_type <> 'USER-DEFINED' ORDER BY ordinal_position",
                [table],
            ).fetchall()
            self._columns[table] = [str(r[0]) for r in rows]
        return self._columns[table]

    def _stage(self, table: str, frame: pd.DataFrame, cols: list[str]) -> str:
        """COPY ``frame[cols]`` into a session temp table typed like ``table``'s columns."""
        tag = hashlib.md5(",".join(cols).encode()).hexdigest()[:10]
        name = f"_stage_{table}_{tag}"
        collist = ", ".join(f'"{c}"' for c in cols)
        self.con.raw.execute(
            f'CREATE TEMP TABLE IF NOT EXISTS "{name}" AS SELECT {collist} FROM "{table}" '
            "WITH NO DATA"
        )
        self.con.raw.execute(f'TRUNCATE "{name}"')
        self.con.copy_in(name, _coerce(_to_arrow(frame[cols]), self._types(table)))
        return name

    def _types(self, table: str) -> dict[str, str]:
        if table not in self._pg_types:
            rows = self.con.raw.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = %s AND table_schema = current_schema()",
                [table],
            ).fetchall()
            self._pg_types[table] = {str(r[0]): str(r[1]) for r in rows}
        return self._pg_types[table]

    # --- batches -------------------------------------------------------------------
    def begin_batch(self, meta: dict[str, Any]) -> int:
        row = self.con.execute("SELECT nextval('batch_seq')").fetchone()
        assert row is not None
        batch_id = int(row[0])
        self.con.execute(
            "INSERT INTO batches (batch_id, source, file_name, file_path, file_sha256, "
            "file_bytes, started_at, status, ceasewatch_version) VALUES (?,?,?,?,?,?,?,?,?)",
            [
                batch_id,
                meta["source"],
                meta.get("file_name"),
                meta.get("file_path"),
                meta.get("file_sha256"),
                meta.get("file_bytes"),
                meta.get("started_at", _now()),
                "running",
                __version__,
            ],
        )
        return batch_id

    def _claims_table(self) -> None:
        self.con.raw.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _claims (batch_id BIGINT, source_event_id TEXT, "
            "line_no BIGINT, PRIMARY KEY (batch_id, source_event_id))"
        )

    def claim_source_ids(self, batch_id: int, ids: pd.Series, line_no: pd.Series) -> pd.Series:
        """As :meth:`DuckDBStore.claim_source_ids`: the claims live in a session temp
        table, so a file with more ids than memory works."""
        self._claims_table()
        self.con.raw.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _claim_ids (pos BIGINT, source_event_id TEXT, "
            "line_no BIGINT)"
        )
        self.con.raw.execute("TRUNCATE _claim_ids")
        frame = pd.DataFrame(
            {
                "pos": np.arange(len(ids), dtype=np.int64),
                "source_event_id": ids.astype(str).to_numpy(dtype=object),
                "line_no": pd.array(line_no.to_numpy(), dtype="Int64"),
            }
        )
        self.con.copy_in("_claim_ids", frame)
        seen = self.con.execute(
            "SELECT i.pos, c.line_no FROM _claim_ids i JOIN _claims c "
            "ON c.batch_id = ? AND c.source_event_id = i.source_event_id",
            [batch_id],
        ).df()
        self.con.execute(
            "INSERT INTO _claims SELECT ?, source_event_id, line_no FROM _claim_ids "
            "ON CONFLICT DO NOTHING",
            [batch_id],
        )
        out = pd.Series(float("nan"), index=ids.index)
        if not seen.empty:
            out.iloc[seen["pos"].to_numpy()] = seen["line_no"].to_numpy(dtype=float)
        return out

    def add_quarantine(self, rows: pd.DataFrame) -> None:
        if rows.empty:
            return
        frame = rows[["batch_id", "source", "file_name", "line_no", "reason", "raw"]].copy()
        frame["recorded_at"] = _now()
        self.con.copy_in("quarantine", frame)

    # --- events --------------------------------------------------------------------
    def add_events(
        self, events: pd.DataFrame, *, batch_id: int, recorded_at: datetime
    ) -> dict[str, int]:
        if events.empty:
            return {"loaded": 0, "new_version": 0, "unchanged": 0}
        raw = self.con.raw
        staged = self._stage("events", events, list(schema.EVENT_COLUMNS))
        key = "substr(md5(s.source || chr(31) || s.source_event_id), 1, 20)"
        # versions are derived from what is stored: one event writer at a time
        cols = ", ".join(f'st."{c}"' for c in schema.EVENT_COLUMNS)
        names = ", ".join(f'"{c}"' for c in _EVENT_STORE_COLUMNS)
        # one pass: each staged event with the content hash of its current version, the
        # insert of the new and changed ones, and the counts
        query = (
            f"WITH st AS MATERIALIZED (SELECT {key} AS event_id, md5(s.raw) AS content_sha, "
            f"s.*, cur.version AS cur_version, cur.content_sha AS cur_sha "
            f'FROM "{staged}" s LEFT JOIN LATERAL (SELECT e.version, e.content_sha '
            f"FROM events e WHERE e.event_id = {key} ORDER BY e.version DESC LIMIT 1) cur "
            "ON true), "
            f"ins AS (INSERT INTO events ({names}) SELECT st.event_id, "
            f"coalesce(st.cur_version, 0) + 1, st.content_sha, {cols}, %s, %s FROM st "
            "WHERE st.cur_sha IS NULL OR st.cur_sha <> st.content_sha RETURNING 1) "
            "SELECT count(*) FILTER (WHERE cur_version IS NULL), "
            "count(*) FILTER (WHERE cur_version IS NOT NULL AND cur_sha <> content_sha), "
            "count(*) FILTER (WHERE cur_sha = content_sha), (SELECT count(*) FROM ins) FROM st"
        )
        # versions are derived from what is stored: one event writer at a time
        with self.transaction():
            self.lock("events")
            counts = raw.execute(query, [batch_id, recorded_at]).fetchone()
        assert counts is not None
        return {
            "loaded": int(counts[0]),
            "new_version": int(counts[1]),
            "unchanged": int(counts[2]),
        }

    @staticmethod
    def _current_events_sql(columns: str) -> str:
        return (
            f"SELECT DISTINCT ON (event_id) {columns} FROM events "
            "WHERE (? IS NULL OR recorded_at <= ?) ORDER BY event_id, version DESC"
        )

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
            unknown = [c for c in columns if c not in _EVENT_STORE_COLUMNS]
            if unknown:
                msg = f"unknown event columns: {', '.join(unknown)}"
                raise StoreError(msg)
            cols = columns
        inner_cols = [*cols, *(c for c in ("occurred_at", "event_id") if c not in cols)]
        inner = self._current_events_sql(", ".join(f'"{c}"' for c in inner_cols))
        query = (
            f"SELECT {', '.join(repr_ident(c) for c in cols)} FROM ({inner}) cur "
            "WHERE (? IS NULL OR occurred_at >= ?) AND (? IS NULL OR occurred_at < ?) "
            "ORDER BY occurred_at, event_id"
        )
        return self._df(query, [as_of, as_of, since, since, until, until])

    def iter_events(
        self, *, as_of: datetime | None = None, chunk_rows: int = 500_000
    ) -> Iterator[pd.DataFrame]:
        cols = ", ".join(f'"{c}"' for c in _EVENT_STORE_COLUMNS)
        query = (
            f"SELECT * FROM ({self._current_events_sql(cols)}) cur ORDER BY occurred_at, event_id"
        )
        params = [_param(as_of), _param(as_of)]
        text = translate(query, params)
        with psycopg.ClientCursor(self.con.raw) as client:
            bound = client.mogrify(text, params)
        # a server-side cursor on its own connection: bounded memory, the store stays usable
        conn = psycopg.connect(self.location)
        try:
            conn.execute("SET TimeZone = 'UTC'")
            with conn.transaction(), conn.cursor(name="cw_iter_events") as cur:
                cur.itersize = chunk_rows
                cur.execute(bound)
                assert cur.description is not None
                names = [d.name for d in cur.description]
                types = [_arrow_type(d.type_code, None) for d in cur.description]
                while True:
                    rows = cur.fetchmany(chunk_rows)
                    if not rows:
                        return
                    # as the DuckDB store's chunks: DuckDB's Arrow, then pandas
                    table = PgResult(names, types, rows).arrow()
                    yield _duck().from_arrow(table).to_arrow_table().to_pandas()
        finally:
            conn.close()

    # --- agreements ----------------------------------------------------------------
    # --- evaluation ----------------------------------------------------------------
    def evaluated_event_ids(self) -> pd.DataFrame:
        return self._df(
            "SELECT event_id, content_sha, agreement_version FROM event_eval ORDER BY event_id"
        )

    def _upsert(self, table: str, frame: pd.DataFrame, cols: list[str], key: list[str]) -> None:
        staged = self._stage(table, frame, cols)
        names = ", ".join(f'"{c}"' for c in cols)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in cols if c not in key)
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        self.con.raw.execute(
            f'INSERT INTO "{table}" ({names}) SELECT {names} FROM "{staged}" '
            f"ON CONFLICT ({', '.join(key)}) {action}"
        )

    def put_event_eval(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        with self.transaction():
            self.lock("evaluate")
            self._upsert("event_eval", frame, list(EVENT_EVAL_COLUMNS), ["event_id"])

    def event_eval(self, columns: list[str] | None = None) -> pd.DataFrame:
        """As :meth:`DuckDBStore.event_eval`."""
        cols = ", ".join(f'"{c}"' for c in event_eval_columns(columns))
        return self._df(f"SELECT {cols} FROM event_eval ORDER BY event_id")

    def _select(self, table: str, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(f'{prefix}"{c}"' for c in self.columns(table))

    def replace_incidents(
        self, event_ids: pd.Series, incidents: pd.DataFrame, members: pd.DataFrame
    ) -> None:
        raw = self.con.raw
        with self.transaction():
            self.lock("evaluate")
            # as DuckDBStore.replace_incidents: only rows that change are written (an
            # event that left every incident is deleted, one that moved or is new upserted)
            ids = pd.DataFrame({"event_id": event_ids.astype(str).to_numpy(dtype=object)})
            staged = self._stage("incident_members", ids, ["event_id"])
            pairs = ["event_id", "incident_id"]
            new = self._stage(
                "incident_members",
                members if not members.empty else pd.DataFrame(columns=pairs),
                pairs,
            )
            raw.execute(
                "DELETE FROM incident_members WHERE event_id IN "
                f'(SELECT event_id FROM "{staged}" EXCEPT SELECT event_id FROM "{new}")'
            )
            raw.execute(
                "INSERT INTO incident_members (event_id, incident_id) "
                f'SELECT event_id, incident_id FROM "{new}" ON CONFLICT (event_id) '
                "DO UPDATE SET incident_id = excluded.incident_id "
                "WHERE incident_members.incident_id IS DISTINCT FROM excluded.incident_id"
            )
            if not incidents.empty:
                self._upsert("incidents", incidents, list(incidents.columns), ["incident_id"])
            raw.execute(
                "DELETE FROM incidents i WHERE NOT EXISTS "
                "(SELECT 1 FROM incident_members m WHERE m.incident_id = i.incident_id)"
            )

    def incidents(self) -> pd.DataFrame:
        return self._df(
            f"SELECT {self._select('incidents')} FROM incidents ORDER BY occurred_at, incident_id"
        )

    def incident_members(self) -> pd.DataFrame:
        return self._df("SELECT event_id, incident_id FROM incident_members ORDER BY event_id")

    def put_violations(self, violations: pd.DataFrame, *, incident_ids: pd.Series) -> None:
        """As :meth:`DuckDBStore.put_violations`."""
        now = _now()
        raw = self.con.raw
        with self.transaction():
            self.lock("evaluate")
            ids = pd.DataFrame({"incident_id": incident_ids.astype(str).to_numpy(dtype=object)})
            staged = self._stage("incidents", ids, ["incident_id"])
            raw.execute(
                "UPDATE violations SET active = false, updated_at = %s "
                f'WHERE incident_id IN (SELECT incident_id FROM "{staged}") AND active',
                [now],
            )
            raw.execute(
                "UPDATE violations v SET active = false, updated_at = %s WHERE active AND "
                "NOT EXISTS (SELECT 1 FROM incidents i WHERE i.incident_id = v.incident_id)",
                [now],
            )
            if violations.empty:
                return
            frame = violations.copy()
            frame["updated_at"] = now
            frame["active"] = True
            cols = [c for c in frame.columns if c != "detected_at"]
            staged = self._stage("violations", frame, cols)
            names = ", ".join(f'"{c}"' for c in cols)
            updates = ", ".join(f'"{c}" = excluded."{c}"' for c in cols if c != "violation_id")
            raw.execute(
                f"INSERT INTO violations ({names}, detected_at) SELECT {names}, %s "
                f'FROM "{staged}" ON CONFLICT (violation_id) DO UPDATE SET {updates}',
                [now],
            )

    def violations(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        include_inactive: bool = False,
    ) -> pd.DataFrame:
        return self._df(
            f"SELECT {self._select('violations', 'v')}, coalesce(s.status, 'detected') AS status "
            "FROM violations v LEFT JOIN (SELECT DISTINCT ON (violation_id) violation_id, status "
            "FROM violation_status ORDER BY violation_id, changed_at DESC) s USING (violation_id) "
            "WHERE (? OR v.active) AND (? IS NULL OR v.occurred_at >= ?) "
            "AND (? IS NULL OR v.occurred_at < ?) ORDER BY v.occurred_at, v.violation_id",
            [include_inactive, since, since, until, until],
        )

    def violation_statuses(self, *, as_of: datetime | None = None) -> pd.DataFrame:
        return self._df(
            "SELECT DISTINCT ON (violation_id) violation_id, status FROM violation_status "
            "WHERE (? IS NULL OR changed_at <= ?) ORDER BY violation_id, changed_at DESC",
            [as_of, as_of],
        )


def repr_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def open_postgis(location: str, *, read_only: bool = False) -> PostGISStore:
    return PostGISStore(location, read_only=read_only)


__all__ = [
    "PgConnection",
    "PgResult",
    "PostGISStore",
    "applied_migrations",
    "is_postgres_url",
    "migrate",
    "migrations",
    "open_postgis",
]
