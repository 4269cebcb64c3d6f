"""Read queries of the API, pushed down into SQL: filters, keyset paging, as-of.

They run on a read cursor (see :mod:`ceasewatch.serve.context`) and return plain rows, so
a page costs one query whatever the size of the store. Pages are ordered by
``(occurred_at, id)``; the cursor is that key of the last row, so paging is stable when
records are added meanwhile (a new record lands before or after the cursor, never
duplicating or skipping one already listed).

The SQL runs on both stores: a DuckDB connection (or cursor) and the PostGIS store's
:class:`~ceasewatch.store.postgis.PgConnection` (which takes the same ``?`` placeholders
and has ``arg_max``, ``epoch_us``, ``string_split`` and ``list_has_any``, migration 0003).
What differs is chosen by :func:`dialect_of`: the ISO 8601 text of a time (``strftime``
vs ``to_char``) and, on PostgreSQL, the binary ``"C"`` collation wherever ids are ordered
or compared, so that keyset paging follows the DuckDB store's (and Python's) order
whatever the database's locale. No ``QUALIFY`` and no ``GROUP BY ALL``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, TypeAlias

import duckdb

from ceasewatch.serve.params import (
    CoverageParams,
    EventParams,
    ListParams,
    ViolationParams,
    as_list,
    decode_cursor,
    encode_cursor,
)
from ceasewatch.store.postgis import PgConnection

#: a read connection of either store
ReadConnection: TypeAlias = duckdb.DuckDBPyConnection | PgConnection
Dialect: TypeAlias = Literal["duckdb", "postgres"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

EVENT_COLUMNS: Final = (
    "event_id",
    "version",
    "source",
    "source_event_id",
    "occurred_at",
    "time_precision",
    "time_window_s",
    "lon",
    "lat",
    "geo_precision_m",
    "category",
    "weapon_class",
    "actor",
    "attributed_to",
    "fatalities",
    "count",
    "reliability",
    "credibility",
    "location_name",
    "admin1",
    "notes",
    "batch_id",
    "recorded_at",
    "zone",
    "sector",
    "side",
    "distance_to_line_km",
    "agreement_version",
    "incident_id",
)

INCIDENT_COLUMNS: Final = (
    "incident_id",
    "occurred_at",
    "time_precision",
    "lon",
    "lat",
    "geo_precision_m",
    "category",
    "categories",
    "weapon_class",
    "weapon_classes",
    "n_events",
    "n_sources",
    "sources",
    "confidence",
    "fatalities",
    "attributed_to",
    "location_name",
    "agreement_version",
    "distance_to_line_km",
    "side",
    "zone",
    "sector",
    "updated_at",
)

VIOLATION_COLUMNS: Final = (
    "violation_id",
    "incident_id",
    "status",
    "rule",
    "rules",
    "severity",
    "confidence",
    "zone",
    "sector",
    "side",
    "distance_to_line_km",
    "occurred_at",
    "time_precision",
    "lon",
    "lat",
    "category",
    "weapon_class",
    "responsibility",
    "weapon_in_zone",
    "evidence_event_ids",
    "matched_event_ids",
    "n_sources",
    "sources",
    "fatalities",
    "location_name",
    "agreement_version",
    "detected_at",
    "updated_at",
    "active",
)

#: times are formatted by the database (ISO 8601 UTC, microseconds only when present):
#: converting them to Python datetimes costs more than the query on a page of rows
TIME_COLUMNS: Final = frozenset({"occurred_at", "recorded_at", "updated_at", "detected_at"})


def dialect_of(con: Any) -> Dialect:
    """The SQL dialect of a read connection (a DuckDB one unless it is the PostGIS
    store's adapter)."""
    return "postgres" if isinstance(con, PgConnection) else "duckdb"


def _iso_sql(expr: str, dialect: Dialect = "duckdb") -> str:
    # mod(), not %: the PostGIS adapter escapes % for psycopg
    if dialect == "postgres":
        t = f"({expr}) AT TIME ZONE 'UTC'"
        return (
            f"CASE WHEN mod(epoch_us({expr}), 1000000) = 0 "
            f"""THEN to_char({t}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') """
            f"""ELSE to_char({t}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END"""
        )
    return (
        f"CASE WHEN epoch_us({expr}) % 1000000 = 0 "
        f"THEN strftime({expr}, '%Y-%m-%dT%H:%M:%SZ') "
        f"ELSE strftime({expr}, '%Y-%m-%dT%H:%M:%S.%fZ') END"
    )


def _col(alias: str, column: str, dialect: Dialect = "duckdb") -> str:
    expr = f"{alias}.{column}" if alias else column
    return f"{_iso_sql(expr, dialect)} AS {column}" if column in TIME_COLUMNS else expr


def _text(expr: str, dialect: Dialect) -> str:
    """``expr`` in binary (code point) order: DuckDB's default, PostgreSQL's ``"C"``."""
    return f'{expr} COLLATE "C"' if dialect == "postgres" else expr


def current_versions_sql(where: str = "", columns: str = "e.*") -> str:
    """The current version of each event (``where`` filters the versions considered,
    with alias ``e``): a ``row_number()`` subquery, which both engines run."""
    return (
        f"SELECT * FROM (SELECT {columns}, row_number() OVER (PARTITION BY e.event_id "
        f"ORDER BY e.version DESC) AS _cw_rn FROM events e {where}) _cw_v WHERE _cw_rn = 1"
    )


#: the exact sort key of each row, appended last and removed by ``_page``
_KEY_SQL = "epoch_us({alias}.occurred_at)"

_STATUS_SQL = (
    "(SELECT violation_id, arg_max(status, changed_at) AS status "
    "FROM violation_status GROUP BY violation_id)"
)


@dataclass
class Where:
    """A conjunction of SQL conditions with their parameters."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "true"


@dataclass
class Page:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    next_cursor: str | None


def _common(w: Where, p: ListParams, alias: str, *, zone_alias: str | None = None) -> None:
    za = zone_alias or alias
    bounds = p.bounds()
    if bounds is not None:
        x0, y0, x1, y1 = bounds
        w.add(f"{alias}.lon BETWEEN ? AND ? AND {alias}.lat BETWEEN ? AND ?", x0, x1, y0, y1)
    if p.since is not None:
        w.add(f"{alias}.occurred_at >= ?", p.since)
    if p.until is not None:
        w.add(f"{alias}.occurred_at < ?", p.until)
    if p.zone:
        w.add(f"{za}.zone IN (SELECT unnest(?))", as_list(p.zone))
    if p.sector:
        w.add(f"{za}.sector IN (SELECT unnest(?))", as_list(p.sector))


def _cursor(
    w: Where, cursor: str | None, alias: str, id_col: str, dialect: Dialect = "duckdb"
) -> None:
    if cursor:
        at, rid = decode_cursor(cursor)
        idx = _text(f"{alias}.{id_col}", dialect)
        w.add(
            f"({alias}.occurred_at > ? OR ({alias}.occurred_at = ? AND {idx} > ?))",
            at,
            at,
            rid,
        )


def _page(
    con: ReadConnection,
    sql: str,
    params: list[Any],
    columns: tuple[str, ...],
    limit: int,
    id_col: str,
) -> Page:
    """Run a page query whose last column is the row's ``epoch_us(occurred_at)``."""
    rows = con.execute(sql, [*params, limit + 1]).fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        at = _EPOCH + timedelta(microseconds=int(last[-1]))
        next_cursor = encode_cursor(at, str(last[columns.index(id_col)]))
    return Page(columns, [r[:-1] for r in rows], next_cursor)


def _current_events_cte(w_pre: Where) -> str:
    # candidates: any version matches the record-level filters; the current version (as
    # of) is then taken and every filter applied again to it
    cur = current_versions_sql(
        "WHERE e.event_id IN (SELECT event_id FROM cand) "
        "AND (?::TIMESTAMPTZ IS NULL OR e.recorded_at <= ?::TIMESTAMPTZ)"
    )
    return (
        "WITH cand AS (SELECT DISTINCT event_id FROM events e WHERE " + w_pre.sql() + "), "
        f"cur AS ({cur}) "
    )


def _event_select(dialect: Dialect = "duckdb") -> str:
    cols = []
    for c in EVENT_COLUMNS:
        if c in ("zone", "sector", "side", "distance_to_line_km", "agreement_version"):
            cols.append(f"v.{c}")
        elif c == "incident_id":
            cols.append("m.incident_id")
        else:
            cols.append(_col("e", c, dialect))
    return ", ".join(cols)


def _event_record_filters(w: Where, p: ListParams) -> None:
    _common(w, p, "e", zone_alias="v")
    if p.category:
        w.add("e.category IN (SELECT unnest(?))", as_list(p.category))
    if p.source:
        w.add("e.source IN (SELECT unnest(?))", as_list(p.source))


def query_events(con: ReadConnection, p: EventParams) -> Page:
    d = dialect_of(con)
    pre = Where()
    bounds = p.bounds()
    if bounds is not None:
        x0, y0, x1, y1 = bounds
        pre.add("e.lon BETWEEN ? AND ? AND e.lat BETWEEN ? AND ?", x0, x1, y0, y1)
    if p.since is not None:
        pre.add("e.occurred_at >= ?", p.since)
    if p.until is not None:
        pre.add("e.occurred_at < ?", p.until)
    if p.category:
        pre.add("e.category IN (SELECT unnest(?))", as_list(p.category))
    if p.source:
        pre.add("e.source IN (SELECT unnest(?))", as_list(p.source))
    w = Where()
    _event_record_filters(w, p)
    _cursor(w, p.cursor, "e", "event_id", d)
    sql = (
        _current_events_cte(pre)
        + f"SELECT {_event_select(d)}, {_KEY_SQL.format(alias='e')} FROM cur e "
        "LEFT JOIN event_eval v USING (event_id) LEFT JOIN incident_members m USING (event_id) "
        f"WHERE {w.sql()} ORDER BY e.occurred_at, {_text('e.event_id', d)} LIMIT ?"
    )
    params = [*pre.params, p.as_of, p.as_of, *w.params]
    return _page(con, sql, params, EVENT_COLUMNS, p.limit, "event_id")


def events_by_ids(con: ReadConnection, event_ids: list[str]) -> Page:
    d = dialect_of(con)
    sql = (
        f"WITH cur AS ({current_versions_sql('WHERE e.event_id IN (SELECT unnest(?))')}) "
        f"SELECT {_event_select(d)} FROM cur e "
        "LEFT JOIN event_eval v USING (event_id) LEFT JOIN incident_members m USING (event_id) "
        f"ORDER BY e.occurred_at, {_text('e.event_id', d)}"
    )
    rows = con.execute(sql, [event_ids]).fetchall()
    return Page(EVENT_COLUMNS, rows, None)


def event_versions(con: ReadConnection, event_id: str) -> list[dict[str, Any]]:
    rows = con.execute(
        "SELECT version, content_sha, batch_id, recorded_at FROM events WHERE event_id = ? "
        "ORDER BY version",
        [event_id],
    ).fetchall()
    return [
        {"version": r[0], "content_sha": r[1], "batch_id": r[2], "recorded_at": r[3]} for r in rows
    ]


def query_incidents(con: ReadConnection, p: ListParams) -> Page:
    d = dialect_of(con)
    w = Where()
    _common(w, p, "i")
    if p.category:
        w.add(
            "list_has_any(string_split(coalesce(i.categories, i.category), ';'), ?)",
            as_list(p.category),
        )
    if p.source:
        w.add("list_has_any(string_split(i.sources, ';'), ?)", as_list(p.source))
    _cursor(w, p.cursor, "i", "incident_id", d)
    cols = ", ".join(_col("i", c, d) for c in INCIDENT_COLUMNS)
    sql = (
        f"SELECT {cols}, {_KEY_SQL.format(alias='i')} FROM incidents i WHERE {w.sql()} "
        f"ORDER BY i.occurred_at, {_text('i.incident_id', d)} LIMIT ?"
    )
    return _page(con, sql, w.params, INCIDENT_COLUMNS, p.limit, "incident_id")


def incident_row(con: ReadConnection, incident_id: str) -> dict[str, Any] | None:
    cols = ", ".join(_col("", c, dialect_of(con)) for c in INCIDENT_COLUMNS)
    row = con.execute(
        f"SELECT {cols} FROM incidents WHERE incident_id = ?", [incident_id]
    ).fetchone()
    return dict(zip(INCIDENT_COLUMNS, row, strict=True)) if row else None


def incident_member_ids(con: ReadConnection, incident_id: str) -> list[str]:
    rows = con.execute(
        "SELECT event_id FROM incident_members WHERE incident_id = ? "
        f"ORDER BY {_text('event_id', dialect_of(con))}",
        [incident_id],
    ).fetchall()
    return [str(r[0]) for r in rows]


def _violation_filters(w: Where, p: ViolationParams) -> None:
    _common(w, p, "v")
    if not p.include_inactive:
        w.add("v.active")
    if p.category:
        w.add("v.category IN (SELECT unnest(?))", as_list(p.category))
    if p.source:
        w.add("list_has_any(string_split(v.sources, ';'), ?)", as_list(p.source))
    if p.status:
        w.add("coalesce(s.status, 'detected') IN (SELECT unnest(?))", as_list(p.status))
    if p.severity:
        w.add("v.severity IN (SELECT unnest(?))", as_list(p.severity))


def _violation_select(dialect: Dialect = "duckdb") -> str:
    return ", ".join(
        "coalesce(s.status, 'detected') AS status" if c == "status" else _col("v", c, dialect)
        for c in VIOLATION_COLUMNS
    )


def query_violations(con: ReadConnection, p: ViolationParams) -> Page:
    d = dialect_of(con)
    w = Where()
    _violation_filters(w, p)
    _cursor(w, p.cursor, "v", "violation_id", d)
    sql = (
        f"SELECT {_violation_select(d)}, {_KEY_SQL.format(alias='v')} FROM violations v "
        f"LEFT JOIN {_STATUS_SQL} s USING (violation_id) WHERE {w.sql()} "
        f"ORDER BY v.occurred_at, {_text('v.violation_id', d)} LIMIT ?"
    )
    return _page(con, sql, w.params, VIOLATION_COLUMNS, p.limit, "violation_id")


def violation_row(con: ReadConnection, violation_id: str) -> dict[str, Any] | None:
    row = con.execute(
        f"SELECT {_violation_select(dialect_of(con))} FROM violations v LEFT JOIN {_STATUS_SQL} s "
        "USING (violation_id) WHERE v.violation_id = ?",
        [violation_id],
    ).fetchone()
    return dict(zip(VIOLATION_COLUMNS, row, strict=True)) if row else None


def violations_of_incident(con: ReadConnection, incident_id: str) -> Page:
    d = dialect_of(con)
    rows = con.execute(
        f"SELECT {_violation_select(d)} FROM violations v LEFT JOIN {_STATUS_SQL} s "
        f"USING (violation_id) WHERE v.incident_id = ? ORDER BY {_text('v.violation_id', d)}",
        [incident_id],
    ).fetchall()
    return Page(VIOLATION_COLUMNS, rows, None)


def status_history(con: ReadConnection, violation_id: str) -> list[dict[str, Any]]:
    rows = con.execute(
        "SELECT status, comment, actor, changed_at FROM violation_status "
        f"WHERE violation_id = ? ORDER BY changed_at, {_text('status', dialect_of(con))}",
        [violation_id],
    ).fetchall()
    return [{"status": r[0], "comment": r[1], "actor": r[2], "changed_at": r[3]} for r in rows]


def current_status(con: ReadConnection, violation_id: str) -> str | None:
    """The violation's analyst status; None if there is no such violation."""
    row = con.execute(
        f"SELECT coalesce(s.status, 'detected') FROM violations v LEFT JOIN {_STATUS_SQL} s "
        "USING (violation_id) WHERE v.violation_id = ?",
        [violation_id],
    ).fetchone()
    return str(row[0]) if row else None


def daily_counts(con: ReadConnection, p: ViolationParams) -> list[dict[str, Any]]:
    """Violations per UTC day, zone and status (filters as the list, no paging)."""
    d = dialect_of(con)
    w = Where()
    _violation_filters(w, p)
    rows = con.execute(
        "SELECT day, zone, status, n FROM (SELECT CAST(v.occurred_at AS DATE) AS day, "
        "coalesce(v.zone, 'outside') AS zone, coalesce(s.status, 'detected') AS status, "
        f"count(*) AS n FROM violations v LEFT JOIN {_STATUS_SQL} s USING (violation_id) "
        f"WHERE {w.sql()} GROUP BY 1, 2, 3) c "
        f"ORDER BY day, {_text('zone', d)}, {_text('status', d)}",
        w.params,
    ).fetchall()
    return [{"day": r[0].isoformat(), "zone": r[1], "status": r[2], "n": int(r[3])} for r in rows]


def records_received(con: ReadConnection, p: CoverageParams) -> list[dict[str, Any]]:
    """Records received per source, UTC day and sector (current versions)."""
    d = dialect_of(con)
    w = Where()
    if p.since is not None:
        w.add("e.occurred_at >= ?", p.since)
    if p.until is not None:
        w.add("e.occurred_at < ?", p.until)
    if p.source:
        w.add("e.source IN (SELECT unnest(?))", as_list(p.source))
    if p.sector:
        w.add("v.sector IN (SELECT unnest(?))", as_list(p.sector))
    cur = current_versions_sql(columns="e.event_id, e.source, e.occurred_at")
    rows = con.execute(
        "SELECT source, day, sector, n FROM ("
        f"WITH cur AS ({cur}) "
        "SELECT e.source AS source, CAST(e.occurred_at AS DATE) AS day, "
        "coalesce(v.sector, '') AS sector, count(*) AS n "
        "FROM cur e LEFT JOIN event_eval v USING (event_id) "
        f"WHERE {w.sql()} GROUP BY 1, 2, 3) c "
        f"ORDER BY day, {_text('source', d)}, {_text('sector', d)}",
        w.params,
    ).fetchall()
    return [
        {"source": r[0], "day": r[1].isoformat(), "sector": r[2] or None, "n_records": int(r[3])}
        for r in rows
    ]


def has_table(con: ReadConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
        "AND table_schema = current_schema()",
        [name],
    ).fetchone()
    return bool(row and row[0])


def time_range(con: ReadConnection) -> tuple[datetime | None, datetime | None]:
    row = con.execute("SELECT min(occurred_at), max(occurred_at) FROM incidents").fetchone()
    return (row[0], row[1]) if row else (None, None)


def distinct_values(con: ReadConnection, sql: str) -> list[str]:
    """The non-null values of ``sql``'s first column, distinct, in code point order
    (sorted here: the database's collation may differ)."""
    return sorted({str(r[0]) for r in con.execute(sql).fetchall() if r[0] is not None})
