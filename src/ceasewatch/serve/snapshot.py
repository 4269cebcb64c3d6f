"""In-memory read snapshots of events, incidents and violations for the list routes.

A list request (bbox, time range, zone, sector, category, source, status, severity,
cursor) is answered from columnar arrays held in memory instead of a query per request:

* rows sorted by ``(occurred_at µs, id)``, the API's page order, so a time range and a
  cursor are two binary searches;
* a uniform 0.25° grid over lon/lat (cells sorted by row, CSR-style) for bounding boxes:
  a box touches a few cell runs per grid row, scanned exactly afterwards;
* the other filters as integer codes (``pandas.factorize``), tested with ``numpy.isin``;
* each row's GeoJSON feature serialized once with orjson, on first use.

The rows are those of the SQL in :mod:`ceasewatch.serve.queries` (same columns, same
formatting), so the answers are those of the queries it replaces.

Freshness: the audit log is the store's generation counter. Every write of the service
appends an audit entry; after each write (and, throttled, on reads, for writes made by
another connection: on the PostGIS team store, other processes such as ``ceasewatch
ingest`` write while the service runs) the entries since the snapshot's last ``seq`` are
read (on PostGIS an entry's ``seq`` is taken under a lock held until its transaction
commits, so entries become visible in ``seq`` order and none is skipped): a field report
adds the events of its batch, a status change replaces one violation, user, token and
decision entries change nothing here, anything else (an evaluation, an ingest batch)
rebuilds the snapshot. Snapshots are immutable; a refresh swaps in a new one, so a
request reads one consistent state without locks.

A refresh after a few rows costs those rows, not the store: the batch's rows alone are
read (by batch id, before any window function), and each table is a large base segment
plus a small delta segment of the rows written since (:class:`Table`), merged into a new
base once the delta exceeds :data:`DELTA_MAX_ROWS`.

``as_of`` snapshots are built the same way from :func:`evaluate_as_of` (what the store
knew then), on an in-memory DuckDB holding its frames, and cached.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import duckdb
import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from ceasewatch.serve.output import feature
from ceasewatch.serve.params import ListParams, as_list, decode_cursor, encode_cursor
from ceasewatch.serve.queries import (
    _STATUS_SQL,
    EVENT_COLUMNS,
    INCIDENT_COLUMNS,
    VIOLATION_COLUMNS,
    Dialect,
    ReadConnection,
    _col,
    _event_select,
    _text,
    _violation_select,
    current_versions_sql,
    dialect_of,
)

log = logging.getLogger("ceasewatch.serve")

GRID_DEG: Final = 0.25
_NX: Final = 1440  # 360 / GRID_DEG
_NY: Final = 720  # 180 / GRID_DEG
#: a box spanning more grid rows than this is scanned over its time range instead
_MAX_GRID_ROWS: Final = 240
_NULL_KEY: Final = np.iinfo(np.int64).max
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NO_POSITIONS: Final = np.empty(0, dtype=np.intp)

#: audit actions that do not change events, incidents or violations
_NO_READ_EFFECT: Final = ("user.", "token.", "incident.", "agreement.")

Filter = tuple[str, str, str | None]  # (kind 'eq'|'any', column, fallback column)


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[str, ...]
    id_col: str
    #: query parameter → how it filters
    filters: dict[str, Filter] = field(default_factory=dict)
    has_active: bool = False


EVENTS: Final = TableSpec(
    "events",
    EVENT_COLUMNS,
    "event_id",
    {
        "zone": ("eq", "zone", None),
        "sector": ("eq", "sector", None),
        "category": ("eq", "category", None),
        "source": ("eq", "source", None),
    },
)
INCIDENTS: Final = TableSpec(
    "incidents",
    INCIDENT_COLUMNS,
    "incident_id",
    {
        "zone": ("eq", "zone", None),
        "sector": ("eq", "sector", None),
        "category": ("any", "categories", "category"),
        "source": ("any", "sources", None),
    },
)
VIOLATIONS: Final = TableSpec(
    "violations",
    VIOLATION_COLUMNS,
    "violation_id",
    {
        "zone": ("eq", "zone", None),
        "sector": ("eq", "sector", None),
        "category": ("eq", "category", None),
        "source": ("any", "sources", None),
        "status": ("eq", "status", None),
        "severity": ("eq", "severity", None),
    },
    has_active=True,
)


def _objects(values: Any, n: int) -> npt.NDArray[np.object_]:
    out = np.empty(n, dtype=object)
    if n:
        out[:] = list(values)
    return out


#: a segment of at most this many rows (a write's delta) is indexed with plain Python
#: containers: pandas' fixed costs per call would be most of the work
SMALL_SEGMENT: Final = 2_048


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _floats(values: npt.NDArray[np.object_]) -> npt.NDArray[np.float64]:
    if len(values) <= SMALL_SEGMENT:
        out = np.empty(len(values), dtype=np.float64)
        for i, v in enumerate(values.tolist()):
            try:
                out[i] = np.nan if _missing(v) else float(v)
            except (TypeError, ValueError):
                out[i] = np.nan
        return out
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )


def _factorize(
    values: npt.NDArray[np.object_], fallback: npt.NDArray[np.object_] | None
) -> tuple[npt.NDArray[np.intp], list[Any]]:
    """``pandas.factorize`` of ``values`` (``fallback``'s value where one is missing):
    codes in order of first appearance, -1 for a missing value; the uniques."""
    if len(values) > SMALL_SEGMENT:
        series = pd.Series(values, dtype=object)
        if fallback is not None:
            series = series.where(series.notna(), pd.Series(fallback, dtype=object))
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        return np.asarray(codes, dtype=np.intp), list(uniques)
    seen: dict[Any, int] = {}
    out = np.empty(len(values), dtype=np.intp)
    alt = fallback.tolist() if fallback is not None else None
    for i, v in enumerate(values.tolist()):
        if alt is not None and _missing(v):
            v = alt[i]
        out[i] = -1 if _missing(v) else seen.setdefault(v, len(seen))
    return out, list(seen)


class Segment:
    """Rows of one table, sorted by ``(key, id)``, with their filter indexes (immutable)."""

    def __init__(
        self,
        spec: TableSpec,
        cols: dict[str, npt.NDArray[np.object_]],
        key: npt.NDArray[np.int64],
        memo: npt.NDArray[np.object_] | None = None,
    ) -> None:
        self.spec = spec
        self.cols = cols
        self.key = key
        self.n = len(key)
        self.ids = cols[spec.id_col]
        self.lon = _floats(cols["lon"])
        self.lat = _floats(cols["lat"])
        self.memo = memo if memo is not None else np.full(self.n, None, dtype=object)
        self._index: pd.Index | None = None
        self.codes: dict[str, npt.NDArray[np.intp]] = {}
        self.lookup: dict[str, dict[Any, int]] = {}
        self.tokens: dict[str, list[frozenset[str]]] = {}
        for param, (kind, col, fallback) in spec.filters.items():
            codes, uniques = _factorize(cols[col], cols[fallback] if fallback else None)
            self.codes[param] = codes
            self.lookup[param] = {u: i for i, u in enumerate(uniques)}
            if kind == "any":
                self.tokens[param] = [frozenset(v for v in str(u).split(";") if v) for u in uniques]
        self.active = (
            np.fromiter(
                (False if _missing(v) else bool(v) for v in cols["active"].tolist()),
                dtype=bool,
                count=self.n,
            )
            if spec.has_active
            else None
        )
        self._build_grid()

    # --- spatial index ------------------------------------------------------------
    def _build_grid(self) -> None:
        ok = ~(np.isnan(self.lon) | np.isnan(self.lat))
        cx = np.clip(np.floor((np.nan_to_num(self.lon) + 180.0) / GRID_DEG), 0, _NX - 1)
        cy = np.clip(np.floor((np.nan_to_num(self.lat) + 90.0) / GRID_DEG), 0, _NY - 1)
        cell = np.where(ok, cy.astype(np.int64) * _NX + cx.astype(np.int64), -1)
        self.grid_order = np.argsort(cell, kind="stable")
        self.grid_cells = cell[self.grid_order]

    def _bbox_positions(
        self, bounds: tuple[float, float, float, float], lo: int, hi: int
    ) -> npt.NDArray[np.intp]:
        """Positions in ``[lo, hi)`` inside ``bounds`` (edges inclusive), ascending."""
        x0, y0, x1, y1 = bounds
        cx0, cx1 = (int(min(max((x + 180.0) // GRID_DEG, 0), _NX - 1)) for x in (x0, x1))
        cy0, cy1 = (int(min(max((y + 90.0) // GRID_DEG, 0), _NY - 1)) for y in (y0, y1))
        if cy1 - cy0 + 1 <= _MAX_GRID_ROWS:
            rows = np.arange(cy0, cy1 + 1, dtype=np.int64) * _NX
            starts = np.searchsorted(self.grid_cells, rows + cx0, "left")
            ends = np.searchsorted(self.grid_cells, rows + cx1, "right")
            total = int((ends - starts).sum())
        else:
            total = hi - lo + 1
        if total <= hi - lo:
            parts = [self.grid_order[s:e] for s, e in zip(starts, ends, strict=True) if e > s]
            pos = np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.intp)
            pos = pos[(pos >= lo) & (pos < hi)]
        else:
            pos = np.arange(lo, hi, dtype=np.intp)
        lon, lat = self.lon[pos], self.lat[pos]
        return pos[(lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)]

    # --- selection ------------------------------------------------------------------
    def _after(self, key: int, rid: str) -> int:
        """First position after the cursor ``(key, rid)``."""
        lo = int(np.searchsorted(self.key, key, "left"))
        hi = int(np.searchsorted(self.key, key, "right"))
        if hi == lo:
            return lo
        return lo + bisect.bisect_right(self.ids[lo:hi].tolist(), rid)

    def _mask(
        self,
        pos: npt.NDArray[np.intp],
        wanted: dict[str, npt.NDArray[np.intp]],
        active_only: bool,
        dropped: npt.NDArray[np.intp],
    ) -> npt.NDArray[np.intp]:
        if dropped.size:
            pos = pos[~np.isin(pos, dropped, assume_unique=True)]
        if active_only and self.active is not None:
            pos = pos[self.active[pos]]
        for param, codes in wanted.items():
            pos = pos[np.isin(self.codes[param][pos], codes)]
        return pos

    def _wanted(self, params: ListParams) -> dict[str, npt.NDArray[np.intp]] | None:
        """Filter codes by parameter; None when a filter can match nothing."""
        out: dict[str, npt.NDArray[np.intp]] = {}
        for param, (kind, _column, _fallback) in self.spec.filters.items():
            values = as_list(getattr(params, param, None))
            if not values:
                continue
            if kind == "eq":
                codes = [self.lookup[param][v] for v in values if v in self.lookup[param]]
            else:
                want = set(values)
                codes = [i for i, toks in enumerate(self.tokens[param]) if toks & want]
            if not codes:
                return None
            out[param] = np.asarray(codes, dtype=np.intp)
        return out

    def matches(
        self,
        params: ListParams,
        *,
        active_only: bool = False,
        dropped: npt.NDArray[np.intp] = _NO_POSITIONS,
    ) -> npt.NDArray[np.intp]:
        """Ascending positions of rows matching ``params`` after its cursor, not in
        ``dropped`` (sorted): at least the first ``limit + 1`` of them, when there are."""
        limit = params.limit
        empty = np.empty(0, dtype=np.intp)
        lo, hi = 0, self.n
        if params.since is not None:
            lo = int(np.searchsorted(self.key, _us(params.since), "left"))
        if params.until is not None:
            hi = int(np.searchsorted(self.key, _us(params.until), "left"))
        if params.cursor:
            at, rid = decode_cursor(params.cursor)
            lo = max(lo, self._after(_us(at), rid))
        wanted = self._wanted(params)
        if lo >= hi or wanted is None:
            return empty
        bounds = params.bounds()
        if bounds is not None:
            return self._mask(self._bbox_positions(bounds, lo, hi), wanted, active_only, dropped)
        found: list[npt.NDArray[np.intp]] = []
        count = 0
        step = max(4_096, 8 * (limit + 1))
        start = lo
        while start < hi and count <= limit:
            stop = min(hi, start + step)
            part = self._mask(np.arange(start, stop, dtype=np.intp), wanted, active_only, dropped)
            found.append(part)
            count += len(part)
            start = stop
            step *= 4
        return np.concatenate(found) if found else empty

    def cursor_of(self, i: int) -> str:
        at = _EPOCH + timedelta(microseconds=int(self.key[i]))
        return encode_cursor(at, str(self.ids[i]))

    # --- output ---------------------------------------------------------------------
    def row(self, i: int) -> tuple[Any, ...]:
        return tuple(self.cols[c][i] for c in self.spec.columns)

    def feature_json(self, i: int) -> bytes:
        """Row ``i`` as a GeoJSON feature (serialized once, then kept)."""
        b: bytes | None = self.memo[i]
        if b is None:
            b = orjson.dumps(feature(self.spec.columns, self.row(i), self.spec.id_col))
            self.memo[i] = b
        return b

    # --- updates --------------------------------------------------------------------
    def positions_of(self, ids: npt.NDArray[np.object_]) -> npt.NDArray[np.intp]:
        """The position of each of ``ids`` here, -1 where absent (a hash lookup per id:
        the index is built once per segment, on first use)."""
        if self.n <= SMALL_SEGMENT:
            where = {rid: i for i, rid in enumerate(self.ids.tolist())}
            return np.fromiter((where.get(r, -1) for r in ids.tolist()), np.intp, len(ids))
        if self._index is None:
            self._index = pd.Index(self.ids)
        return np.asarray(self._index.get_indexer(pd.Index(ids)), dtype=np.intp)

    def merge(self, dropped: npt.NDArray[np.intp], new: Segment) -> Segment:
        """A new segment: this one without the rows at ``dropped`` (sorted positions) and
        with ``new``'s rows (whose ids are no longer here) in their place in the order."""
        if new.n == 0 and dropped.size == 0:
            return self
        keep = np.ones(self.n, dtype=bool)
        keep[dropped] = False
        kkey = self.key[keep]
        kids = self.ids[keep]
        pos = _insertion_points(kkey, kids, new.key, new.ids)
        cols = {c: np.insert(self.cols[c][keep], pos, new.cols[c]) for c in self.spec.columns}
        key = np.insert(kkey, pos, new.key)
        memo = np.insert(self.memo[keep], pos, new.memo)
        return Segment(self.spec, cols, key, memo)

    def upsert(self, new: Segment) -> Segment:
        """A new segment: this one with ``new``'s rows added or replacing rows of the same
        id (costs this segment's size: used on the small delta, and to compact)."""
        if new.n == 0:
            return self
        at = self.positions_of(new.ids)
        return self.merge(np.sort(at[at >= 0]), new)


def _insertion_points(
    key: npt.NDArray[np.int64],
    ids: npt.NDArray[np.object_],
    new_key: npt.NDArray[np.int64],
    new_ids: npt.NDArray[np.object_],
) -> npt.NDArray[np.intp]:
    """Where each of the rows ``(new_key, new_ids)`` goes among the rows ``(key, ids)``
    (both sorted by ``(key, id)``, no id in both), for ``np.insert``."""
    pos = np.searchsorted(key, new_key, "left")
    end = np.searchsorted(key, new_key, "right")
    for j in np.nonzero(end > pos)[0]:  # ties on the time key: order by id
        s, e = int(pos[j]), int(end[j])
        pos[j] = s + bisect.bisect_left(ids[s:e].tolist(), new_ids[j])
    return pos


#: a delta segment larger than this is merged into the base (see :class:`Table`)
DELTA_MAX_ROWS: Final = 512


class Table:
    """One table's rows as of a snapshot: a large immutable *base* segment, minus the
    base rows since replaced (``dropped``), plus a small *delta* segment of the rows
    written since the base was built.

    A write costs what its rows and the delta cost, not the store: its rows go into a new
    delta (rebuilt, at most :data:`DELTA_MAX_ROWS` rows) and the base rows of the same ids
    are marked dropped (a hash lookup per id). Once the delta is larger than that, it is
    merged into a new base (the cost of the table, once per that many rows). A page is
    selected in both segments and merged by ``(key, id)``. Positions number the base's
    rows ``0 .. base.n - 1`` and the delta's from ``base.n`` on.
    """

    def __init__(
        self,
        base: Segment,
        delta: Segment | None = None,
        dropped: npt.NDArray[np.intp] = _NO_POSITIONS,
        *,
        delta_max_rows: int = DELTA_MAX_ROWS,
    ) -> None:
        self.spec = base.spec
        self.base = base
        self.delta = delta if delta is not None else _empty_segment(base.spec)
        self.dropped = dropped
        self.delta_max_rows = delta_max_rows
        self.n = base.n - len(dropped) + self.delta.n

    @property
    def layered(self) -> bool:
        """Whether rows were written since the base was built."""
        return self.delta.n > 0 or self.dropped.size > 0

    # --- selection ------------------------------------------------------------------
    def select(
        self, params: ListParams, *, active_only: bool = False
    ) -> tuple[npt.NDArray[np.intp], str | None]:
        """Positions of one page of rows matching ``params`` and the next cursor."""
        limit = params.limit
        got = self.base.matches(params, active_only=active_only, dropped=self.dropped)
        if self.delta.n:
            extra = self.delta.matches(params, active_only=active_only)
            if extra.size:
                got = got[: limit + 1]
                extra = extra[: limit + 1]
                at = _insertion_points(
                    self.base.key[got],
                    self.base.ids[got],
                    self.delta.key[extra],
                    self.delta.ids[extra],
                )
                got = np.insert(got, at, extra + self.base.n)
        if len(got) > limit:
            return got[:limit], self.cursor_of(int(got[limit - 1]))
        return got, None

    def _at(self, i: int) -> tuple[Segment, int]:
        return (self.base, i) if i < self.base.n else (self.delta, i - self.base.n)

    def cursor_of(self, i: int) -> str:
        seg, j = self._at(i)
        return seg.cursor_of(j)

    # --- output ---------------------------------------------------------------------
    def row(self, i: int) -> tuple[Any, ...]:
        seg, j = self._at(i)
        return seg.row(j)

    def rows(self, pos: npt.NDArray[np.intp]) -> Iterator[tuple[Any, ...]]:
        return (self.row(int(i)) for i in pos)

    def feature_json(self, i: int) -> bytes:
        """Row ``i`` as a GeoJSON feature (serialized once, then kept)."""
        seg, j = self._at(i)
        return seg.feature_json(j)

    def _order(self) -> npt.NDArray[np.intp]:
        """Every live position in ``(key, id)`` order (costs the table: for checks)."""
        keep = np.setdiff1d(np.arange(self.base.n, dtype=np.intp), self.dropped)
        at = _insertion_points(
            self.base.key[keep], self.base.ids[keep], self.delta.key, self.delta.ids
        )
        return np.insert(keep, at, np.arange(self.delta.n, dtype=np.intp) + self.base.n)

    @property
    def key(self) -> npt.NDArray[np.int64]:
        """The sort key of every row, in order (costs the table: for checks)."""
        return np.concatenate([self.base.key, self.delta.key])[self._order()]

    @property
    def ids(self) -> npt.NDArray[np.object_]:
        """The id of every row, in order (costs the table: for checks)."""
        return np.concatenate([self.base.ids, self.delta.ids])[self._order()]

    # --- updates --------------------------------------------------------------------
    def upsert(self, new: Segment) -> Table:
        """A new table: this one with ``new``'s rows added or replacing rows of the same id."""
        if new.n == 0:
            return self
        at = self.base.positions_of(new.ids)
        dropped = np.union1d(self.dropped, at[at >= 0]).astype(np.intp)
        delta = self.delta.upsert(new)
        if delta.n > self.delta_max_rows:
            base = self.base.merge(dropped, delta)
            return Table(base, delta_max_rows=self.delta_max_rows)
        return Table(self.base, delta, dropped, delta_max_rows=self.delta_max_rows)


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _segment(spec: TableSpec, rows: list[tuple[Any, ...]]) -> Segment:
    """A segment of query rows whose last column is the sort key."""
    n = len(rows)
    columns = list(zip(*rows, strict=True)) if n else [() for _ in range(len(spec.columns) + 1)]
    cols = {c: _objects(columns[i], n) for i, c in enumerate(spec.columns)}
    key = np.fromiter(columns[-1], dtype=np.int64, count=n)
    return Segment(spec, cols, key)


_EMPTY: dict[str, Segment] = {}


def _empty_segment(spec: TableSpec) -> Segment:
    seg = _EMPTY.get(spec.name)
    if seg is None or seg.spec is not spec:
        seg = _EMPTY[spec.name] = _segment(spec, [])
    return seg


def _table(spec: TableSpec, rows: list[tuple[Any, ...]]) -> Table:
    """A table of query rows whose last column is the sort key."""
    return Table(_segment(spec, rows))


def _key(alias: str) -> str:
    return f"coalesce(epoch_us({alias}.occurred_at), {_NULL_KEY})"


def events_sql(where: str = "", dialect: Dialect = "duckdb") -> str:
    return (
        f"WITH cur AS ({current_versions_sql(where)}) "
        f"SELECT {_event_select(dialect)}, {_key('e')} FROM cur e "
        "LEFT JOIN event_eval v USING (event_id) LEFT JOIN incident_members m USING (event_id) "
        f"ORDER BY e.occurred_at, {_text('e.event_id', dialect)}"
    )


def batch_events_sql(dialect: Dialect = "duckdb", *, batches: int = 2) -> str:
    """The rows of :func:`events_sql` for the events the batches ``?`` (a list, after
    its least and greatest member) wrote: their current versions among those batches'
    rows. Only those rows are read, windowed and joined (the range lets both engines
    skip the rest of the events table); a later version written by another batch is
    another audit entry, read with these or after them.

    One batch stores an event at most once (``add_events`` takes each event once), so
    for ``batches=1`` its rows are the current versions as they are: no window."""
    if batches == 1:
        return (
            f"SELECT {_event_select(dialect)}, {_key('e')} FROM events e "
            "LEFT JOIN event_eval v USING (event_id) "
            "LEFT JOIN incident_members m USING (event_id) "
            "WHERE e.batch_id >= ? AND e.batch_id <= ? AND e.batch_id IN (SELECT unnest(?)) "
            f"ORDER BY e.occurred_at, {_text('e.event_id', dialect)}"
        )
    where = "WHERE e.batch_id >= ? AND e.batch_id <= ? AND e.batch_id IN (SELECT unnest(?))"
    return (
        f"WITH cur AS ({current_versions_sql(where)}) "
        f"SELECT {_event_select(dialect)}, {_key('e')} FROM cur e "
        "LEFT JOIN event_eval v USING (event_id) LEFT JOIN incident_members m USING (event_id) "
        f"ORDER BY e.occurred_at, {_text('e.event_id', dialect)}"
    )


def incidents_sql(dialect: Dialect = "duckdb") -> str:
    cols = ", ".join(_col("i", c, dialect) for c in INCIDENT_COLUMNS)
    return (
        f"SELECT {cols}, {_key('i')} FROM incidents i "
        f"ORDER BY i.occurred_at, {_text('i.incident_id', dialect)}"
    )


def violations_sql(where: str = "", dialect: Dialect = "duckdb") -> str:
    return (
        f"SELECT {_violation_select(dialect)}, {_key('v')} FROM violations v "
        f"LEFT JOIN {_STATUS_SQL} s USING (violation_id) {where} "
        f"ORDER BY v.occurred_at, {_text('v.violation_id', dialect)}"
    )


@dataclass(frozen=True)
class Snapshot:
    """The three tables as of audit entry ``seq``."""

    events: Table
    incidents: Table
    violations: Table
    seq: int
    built_at: float


def build_snapshot(con: ReadConnection, seq: int) -> Snapshot:
    d = dialect_of(con)
    return Snapshot(
        _table(EVENTS, con.execute(events_sql(dialect=d)).fetchall()),
        _table(INCIDENTS, con.execute(incidents_sql(d)).fetchall()),
        _table(VIOLATIONS, con.execute(violations_sql(dialect=d)).fetchall()),
        seq,
        time.monotonic(),
    )


def audit_seq(con: ReadConnection) -> int:
    row = con.execute("SELECT coalesce(max(seq), 0) FROM audit_log").fetchone()
    return int(row[0]) if row else 0


class Snapshots:
    """The current snapshot of an app, refreshed from the audit log (see the module)."""

    def __init__(
        self,
        reader: Callable[[], ReadConnection],
        *,
        poll_s: float = 0.5,
        on_auth_change: Callable[[], None] | None = None,
    ) -> None:
        self._reader = reader
        #: called when entries of user or token changes are seen (made by this app or by
        #: another process on a shared store), e.g. to drop cached authentications
        self._on_auth_change = on_auth_change
        self._lock = threading.Lock()
        self.poll_s = poll_s
        self._last_poll = time.monotonic()
        con = reader()
        self._snap = build_snapshot(con, audit_seq(con))
        self.full_builds = 1
        self.delta_updates = 0

    def poll_due(self) -> bool:
        """Whether :meth:`current` would first look at the store."""
        return time.monotonic() - self._last_poll > self.poll_s

    def current(self) -> Snapshot:
        """The snapshot, first caught up when another connection may have written."""
        now = time.monotonic()
        if now - self._last_poll > self.poll_s:
            self._last_poll = now
            con = self._reader()
            if audit_seq(con) > self._snap.seq:
                self.refresh(con)
        return self._snap

    def apply(self, written: Sequence[Any]) -> bool:
        """Bring the snapshot up to date with writes this app just committed, from the
        rows they returned (``written``: ``RoundWrite``s, in order) instead of reading
        them back. Only when those writes are all that happened since the snapshot (their
        audit entries follow its ``seq`` with no gap) and each returned its rows;
        otherwise False, and the caller refreshes from the audit log."""
        with self._lock:
            snap = self._snap
            seq = snap.seq
            rows: list[tuple[Any, ...]] = []
            for w in written:
                if w.rows is None or w.first_seq != seq + 1:
                    return False
                seq = w.last_seq
                rows += w.rows
            events = snap.events
            if rows:
                last = len(EVENTS.columns)
                id_at = EVENTS.columns.index(EVENTS.id_col)
                rows.sort(key=lambda r: (r[last], r[id_at]))
                events = events.upsert(_segment(EVENTS, rows))
            self._snap = Snapshot(events, snap.incidents, snap.violations, seq, time.monotonic())
            self.delta_updates += 1
            return True

    def refresh(self, con: ReadConnection) -> Snapshot:
        """Catch up with the audit entries after the snapshot's (on ``con``, which must see
        the committed writes)."""
        with self._lock:
            snap = self._snap
            entries = con.execute(
                "SELECT seq, action, entity_id FROM audit_log WHERE seq > ? ORDER BY seq",
                [snap.seq],
            ).fetchall()
            if not entries:
                return snap
            seq = int(entries[-1][0])
            batches: list[int] = []
            violations: list[str] = []
            full = False
            auth_changed = False
            for _s, action, entity_id in entries:
                if str(action).startswith(("user.", "token.")):
                    auth_changed = True
                if action == "field_report.submit":
                    batches.append(int(entity_id))
                elif action == "violation.status":
                    violations.append(str(entity_id))
                elif not str(action).startswith(_NO_READ_EFFECT):
                    full = True
            if auth_changed and self._on_auth_change is not None:
                self._on_auth_change()
            d = dialect_of(con)
            if full:
                self._snap = build_snapshot(con, seq)
                self.full_builds += 1
                return self._snap
            events, viols = snap.events, snap.violations
            if batches:
                ids = sorted(set(batches))
                rows = con.execute(
                    batch_events_sql(d, batches=len(ids)), [ids[0], ids[-1], ids]
                ).fetchall()
                events = events.upsert(_segment(EVENTS, rows))
            if violations:
                rows = con.execute(
                    violations_sql("WHERE v.violation_id IN (SELECT unnest(?))", d),
                    [sorted(set(violations))],
                ).fetchall()
                viols = viols.upsert(_segment(VIOLATIONS, rows))
            self._snap = Snapshot(events, snap.incidents, viols, seq, time.monotonic())
            self.delta_updates += 1
            return self._snap


# --- as of ------------------------------------------------------------------------------


class AsOfCache:
    """Snapshots of what the store knew at a time, by (time, audit seq), newest last."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[int, int], Snapshot] = OrderedDict()

    def get(
        self,
        as_of: datetime,
        seq: int,
        locked_store: Callable[[], AbstractContextManager[Any]],
    ) -> Snapshot:
        key = (_us(as_of), seq)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            with locked_store() as store:
                snap = as_of_snapshot(store, as_of, seq)
            self._cache[key] = snap
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
            return snap


def as_of_snapshot(store: Any, as_of: datetime, seq: int) -> Snapshot:
    """The three tables as the store knew them at ``as_of``: the event versions recorded
    by then, evaluated by :func:`evaluate_as_of` (agreements loaded and decisions and
    statuses set by then)."""
    from ceasewatch.evaluate.run import evaluate_as_of

    frames = evaluate_as_of(store, as_of)
    events = store.events(as_of=as_of)
    violations = frames.violations.copy()
    for col, default in (("detected_at", pd.NaT), ("updated_at", pd.NaT), ("active", True)):
        if col not in violations:
            violations[col] = default
    for col in ("detected_at", "updated_at"):
        violations[col] = pd.to_datetime(violations[col], utc=True)
    statuses = violations[["violation_id", "status"]].assign(changed_at=as_of)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        for name, frame in (
            ("events", events),
            ("event_eval", frames.event_zones),
            ("incident_members", frames.members),
            ("incidents", frames.incidents),
            ("violations", violations.drop(columns=["status"])),
            ("violation_status", statuses),
        ):
            con.register(f"_{name}", frame)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _{name}")
            con.unregister(f"_{name}")
        return build_snapshot(con, seq)
    finally:
        con.close()
