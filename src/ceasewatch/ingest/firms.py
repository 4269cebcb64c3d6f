"""NASA FIRMS active-fire detections (VIIRS and MODIS CSV layouts).

Two layouts are read, told apart by the header (column names compared case-insensitively):

* **full** (``latitude, longitude, acq_date, acq_time``, usually with ``satellite``,
  ``instrument``, ``confidence`` …): ``acq_date`` + ``acq_time`` (HHMM, UTC) give the
  overpass time to the minute; confidence is ``l``/``n``/``h`` for VIIRS and 0-100 for
  MODIS. The location uncertainty is the instrument's pixel size. A detection has no id of
  its own: its source id is satellite, instrument, date, time and the coordinates exactly as
  FIRMS wrote them.
* **reduced** (``LATITUDE, LONGITUDE, ACQ_DATE`` and no ``acq_time``: the multi-year
  extracts of the war-fire models, MODIS and VIIRS merged with nothing to tell them apart):
  time precision ``day`` (``occurred_at`` = the UTC date at 00:00), location uncertainty
  1 km (the coarser of the two sensors), no confidence (Admiralty credibility of the source
  default). Its source id is ``date|latitude|longitude|k`` with the text as written and
  ``k`` the occurrence of that exact (date, latitude, longitude) in the file (1 for the
  first). Identical rows are kept as distinct detections, not quarantined as duplicates:
  without time or sensor, MODIS and VIIRS (or two overpasses) seeing the same pixel
  centre on the same day print the same row, and dropping one would undercount the fire
  activity the fire model measures. The ids stay idempotent: re-loading the same rows,
  in any order, gives the same multiset of ids, so nothing is added twice. The counter is
  carried from one read block to the next for the days the block holds, counted over the
  file so far (memory bounded by a block and a day's detections, wherever the blocks
  fall); a repeat of a day that comes back after other days, in a file not sorted by
  date, gets an id already used and is quarantined as a duplicate source id, visibly.

Every detection becomes a ``fire_detection`` event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ceasewatch.errors import SourceFormatError
from ceasewatch.ingest.base import (
    EventSource,
    columns_with_bytes,
    json_connection,
    json_lock,
    json_object_sql,
    register_source,
    text_has_bytes,
)
from ceasewatch.ingest.csvstream import (
    BadRow,
    ProgressFn,
    iter_csv_chunks,
    iter_csv_tables,
    read_header,
)
from ceasewatch.normalize import schema, vocab

#: columns of the full layout (lower case; the header is compared case-insensitively)
FULL_COLUMNS = frozenset({"latitude", "longitude", "acq_date", "acq_time"})
#: columns of the reduced layout: no overpass time, no attributes
REDUCED_COLUMNS = frozenset({"latitude", "longitude", "acq_date"})
#: location uncertainty of a reduced-layout detection: MODIS (1 km) and VIIRS (375 m)
#: are merged and cannot be told apart, so the coarser
REDUCED_GEO_PRECISION_M = 1_000.0

# a number as pandas ``to_numeric`` reads one (ASCII digits): DuckDB's cast alone would
# also take ``1_000``; ``nan`` and ``inf`` are refused here and out of range there alike
_NUMBER = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
# what Python's ``str.strip()`` removes (the white space of Latin-1; wider Unicode space
# characters are kept)
_WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0"
# bytes of those characters in UTF-8: a column without any needs no stripping
_WHITESPACE_BYTES = np.zeros(256, dtype=bool)
_WHITESPACE_BYTES[:0x21] = True
_WHITESPACE_BYTES[0xC2] = True


def _q(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _strip(expr: str) -> str:
    return f"trim({expr}, {_q(_WHITESPACE)})"


# bytes of a number without a sign ``+``: over these alone DuckDB's cast to DOUBLE refuses
# everything ``_NUMBER`` refuses (it would take ``+-1``, but not ``--1``, ``1e`` or ``.``)
_NOT_PLAIN_NUMBER_BYTES = np.ones(256, dtype=bool)
_NOT_PLAIN_NUMBER_BYTES[list(b"0123456789.eE-")] = False


def _number(txt: str, *, plain: bool = False) -> str:
    """SQL: the number a text holds, or NULL. ``plain``: the column holds none but
    ``_NOT_PLAIN_NUMBER_BYTES``' complement, so the cast alone decides (3-4x faster)."""
    if plain:
        return f"TRY_CAST({txt} AS DOUBLE)"
    return f"CASE WHEN regexp_full_match({txt}, {_q(_NUMBER)}) THEN TRY_CAST({txt} AS DOUBLE) END"


def _map(expr: str, mapping: dict[str, float], default: str) -> str:
    whens = " ".join(f"WHEN {_q(k)} THEN {float(v)!r}" for k, v in mapping.items())
    return f"CASE {expr} {whens} ELSE {default} END"


def _first_reason(checks: list[tuple[str, str]]) -> str:
    """SQL: the reason of the first failing check (NULL when all pass)."""
    return "CASE " + " ".join(f"WHEN {cond} THEN {why}" for cond, why in checks) + " END"


#: checks both layouts share, in order: (failing condition, reason)
_LAT_LON_CHECKS = [
    (
        "lat IS NULL OR abs(lat) > 90",
        "'latitude ''' || lat_txt || ''' is not a number in [-90, 90]'",
    ),
    (
        "lon IS NULL OR abs(lon) > 180",
        "'longitude ''' || lon_txt || ''' is not a number in [-180, 180]'",
    ),
]


@register_source
class FirmsSource(EventSource):
    name = "firms"
    title = "NASA FIRMS fire detections CSV"
    required_columns = FULL_COLUMNS
    #: bytes per read block (tests make it small to cross block boundaries): each block is
    #: one insert into the store, and DuckDB commits a few large inserts into the indexed
    #: events table far faster than many small ones (3 M rows: 20-25 s with 128 MB blocks,
    #: 28-34 s with 32 MB ones; the memory peak is the open transaction's either way)
    block_bytes: int = 128 << 20

    def __init__(self) -> None:
        # per file: the layout, and the occurrence counts of the previous block's ids
        self._reduced: bool | None = None
        self._carry: pa.Table | None = None

    @staticmethod
    def layout(path: Path, header: list[str]) -> str:
        """``'full'`` or ``'reduced'`` from a header; refuses anything else."""
        lower = [h.strip().lower() for h in header]
        dup = sorted({h for h in lower if lower.count(h) > 1} & FULL_COLUMNS)
        if dup:
            msg = (
                f"{path.name}: column(s) {', '.join(dup)} appear twice (names are compared "
                "without regard to case)"
            )
            raise SourceFormatError(msg)
        if set(lower) >= FULL_COLUMNS:
            return "full"
        if set(lower) >= REDUCED_COLUMNS:
            return "reduced"
        missing = sorted(FULL_COLUMNS - set(lower))
        msg = (
            f"{path.name} is not a {FirmsSource.title} file: missing column(s) "
            f"{', '.join(missing)} (found: {', '.join(header[:12])}"
            f"{' …' if len(header) > 12 else ''}). A FIRMS file has latitude, longitude, "
            "acq_date, acq_time (full layout) or LATITUDE, LONGITUDE, ACQ_DATE (reduced "
            "layout, day precision). Check that you chose the right source for this file."
        )
        raise SourceFormatError(msg)

    def read_chunks(
        self, path: Path, *, on_read: ProgressFn | None = None
    ) -> Iterator[tuple[pd.DataFrame, list[BadRow]]]:
        header = read_header(path)
        self._reduced = self.layout(path, header) == "reduced"
        self._carry = None
        try:
            yield from iter_csv_chunks(path, header, block_bytes=self.block_bytes, on_read=on_read)
        finally:
            self._reduced = None
            self._carry = None

    def read_tables(
        self, path: Path, *, on_read: ProgressFn | None = None
    ) -> Iterator[tuple[pa.Table, list[BadRow]]]:
        """:meth:`read_chunks` as Arrow tables, for :meth:`normalize_table`."""
        header = read_header(path)
        self._reduced = self.layout(path, header) == "reduced"
        self._carry = None
        try:
            yield from iter_csv_tables(path, header, block_bytes=self.block_bytes, on_read=on_read)
        finally:
            self._reduced = None
            self._carry = None

    def normalize(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        cols = [c for c in raw.columns if c != schema.LINE_NO]
        table = pa.table(
            [pa.array(raw[c].astype(str).to_numpy(), pa.string()) for c in cols]
            + [pa.array(raw[schema.LINE_NO].to_numpy(), pa.int64())],
            names=[*cols, schema.LINE_NO],
        )
        events, quarantine = self.normalize_table(table)
        frame = events.to_pandas()
        # the events keep the index of their raw rows (line numbers are unique per row)
        where = pd.Index(raw[schema.LINE_NO].to_numpy()).get_indexer(frame[schema.LINE_NO])
        frame.index = raw.index[where]
        return frame, quarantine

    def normalize_table(self, raw: pa.Table) -> tuple[pa.Table, pd.DataFrame]:
        """Canonical events (Arrow, ``schema.EVENT_SCHEMA``) and quarantine rows of a chunk
        of text columns plus ``schema.LINE_NO``: one SQL query over the chunk, no Python
        per row; only the quarantined rows become Python objects."""
        cols = [c for c in raw.column_names if c != schema.LINE_NO]
        # names compared case-insensitively; the raw record keeps them as written
        by_lower = {c.strip().lower(): c for c in cols}
        reduced = self._reduced if self._reduced is not None else "acq_time" not in by_lower

        # columns of this chunk without white space are used as they are, not stripped
        spaced = columns_with_bytes(raw, cols, _WHITESPACE_BYTES)
        # coordinates written with digits, '.', 'e' and '-' alone need no pattern check
        plain = {
            name
            for name in ("latitude", "longitude")
            if name in by_lower
            and not text_has_bytes(raw.column(by_lower[name]), _NOT_PLAIN_NUMBER_BYTES)
        }

        def col(name: str, *, strip: bool = True) -> str | None:
            real = by_lower.get(name)
            if real is None:
                return None
            expr = 't."' + real.replace('"', '""') + '"'
            return _strip(expr) if strip and real in spaced else expr

        with json_lock():
            con = json_connection()
            con.register("_firms_raw", raw)
            try:
                raw_json = json_object_sql(con, "_firms_raw", cols, raw)
                if reduced:
                    out = self._reduced_table(con, raw_json, col, plain)
                else:
                    nulls = any(raw.column(c).null_count for c in cols)
                    sql = self._full_sql(raw_json, col, nulls=nulls, plain=plain)
                    out = con.sql(sql).to_arrow_table()
            finally:
                con.unregister("_firms_raw")
        reason = out.column("reason")
        if reason.null_count == len(reason):
            events, bad = out, out.slice(0, 0)
        else:
            ok = pc.is_null(reason)
            events, bad = out.filter(ok), out.filter(pc.invert(ok))
        quarantine = pd.DataFrame(
            {
                schema.LINE_NO: bad.column(schema.LINE_NO).to_numpy(zero_copy_only=False),
                "reason": pd.Series(bad.column("reason").to_pylist(), dtype="object"),
                schema.RAW: pd.Series(bad.column(schema.RAW).to_pylist(), dtype="object"),
            }
        )
        return events.drop_columns(["reason"]).cast(schema.EVENT_SCHEMA), quarantine

    def _select(self, *, precision: str, geo_m: str, credibility: str, sid: str) -> str:
        """The event columns (and ``reason``) over a relation with ``lat``, ``lon``,
        ``occurred``, ``raw``, ``line_no``."""
        reliability = vocab.DEFAULT_GRADES["firms"][0]
        return f"""
            {_q(self.name)} AS source, {sid} AS source_event_id, occurred AS occurred_at,
            {_q(precision)} AS time_precision, 0.0::DOUBLE AS time_window_s,
            coalesce(lon, 0.0) AS lon, coalesce(lat, 0.0) AS lat,
            ({geo_m})::DOUBLE AS geo_precision_m, 'fire_detection' AS category,
            NULL::VARCHAR AS weapon_class, NULL::VARCHAR AS actor,
            NULL::VARCHAR AS attributed_to, NULL::DOUBLE AS fatalities, 1::BIGINT AS count,
            {_q(reliability)} AS reliability, ({credibility})::TINYINT AS credibility,
            'firms:' || {sid} AS report_group, NULL::VARCHAR AS location_name,
            NULL::VARCHAR AS admin1, NULL::VARCHAR AS notes, raw,
            line_no::BIGINT AS line_no"""

    def _full_sql(
        self,
        raw_json: str,
        col: Callable[..., str | None],
        *,
        nulls: bool,
        plain: AbstractSet[str] = frozenset(),
    ) -> str:
        def text(name: str, default: str = "''") -> str:
            expr = col(name)
            return default if expr is None else expr

        default_cred = vocab.DEFAULT_GRADES["firms"][1]
        checks = [
            *_LAT_LON_CHECKS,
            (
                "NOT regexp_full_match(time_txt, '([01][0-9]|2[0-3])[0-5][0-9]')",
                "'acq_time ''' || time_raw || ''' is not HHMM'",
            ),
            ("occurred IS NULL", "'acq_date ''' || date_txt || ''' is not yyyy-mm-dd'"),
            (
                "conf_txt <> '' AND (conf IS NULL OR conf < 0 OR conf > 100)",
                "'confidence ''' || conf_txt || ''' is not l/n/h or 0-100'",
            ),
        ]
        parts = ["satellite", "instrument", "date_txt", "time_txt", "lat_txt", "lon_txt"]
        # ``concat`` (about twice as fast) reads NULL as '': only when no value is NULL
        sid = " || '|' || ".join(parts) if nulls else "concat(" + ", '|', ".join(parts) + ")"
        select = self._select(
            precision="minute",
            geo_m=_map("instrument", vocab.FIRMS_GEO_PRECISION_M, "1000.0"),
            credibility=f"CASE WHEN conf < 40 THEN 4 ELSE {default_cred} END",
            sid="sid",
        )
        return f"""
            WITH a AS (
                SELECT t.line_no, {raw_json} AS raw, {text("latitude")} AS lat_txt,
                    {text("longitude")} AS lon_txt, {text("acq_date")} AS date_txt,
                    {text("acq_time")} AS time_s, {col("acq_time", strip=False)} AS time_raw,
                    upper({text("instrument")}) AS instrument_s,
                    {text("satellite")} AS satellite, lower({text("confidence")}) AS conf_txt
                FROM _firms_raw t
            ), b AS (
                SELECT *, {_number("lat_txt", plain="latitude" in plain)} AS lat,
                    {_number("lon_txt", plain="longitude" in plain)} AS lon,
                    CASE WHEN length(time_s) < 4 THEN lpad(time_s, 4, '0') ELSE time_s END
                        AS time_txt,
                    CASE WHEN instrument_s = '' THEN 'VIIRS' ELSE instrument_s END AS instrument,
                    {_map("conf_txt", vocab.FIRMS_CONFIDENCE, _number("conf_txt"))} AS conf
                FROM a
            ), c AS (
                SELECT *, try_strptime(date_txt || ' ' || time_txt, '%Y-%m-%d %H%M')
                    AS occurred, {sid} AS sid
                FROM b
            )
            SELECT {select}, {_first_reason(checks)} AS reason FROM c"""

    def _reduced_table(
        self,
        con: duckdb.DuckDBPyConnection,
        raw_json: str,
        col: Callable[..., str | None],
        plain: AbstractSet[str],
    ) -> pa.Table:
        def text(name: str) -> str:
            expr = col(name)
            assert expr is not None
            return expr

        instrument = col("instrument")
        geo_m = (
            _map("instrument", vocab.FIRMS_GEO_PRECISION_M, repr(REDUCED_GEO_PRECISION_M))
            if instrument is not None
            else repr(REDUCED_GEO_PRECISION_M)
        )
        checks = [
            *_LAT_LON_CHECKS,
            ("occurred IS NULL", "'acq_date ''' || date_txt || ''' is not yyyy-mm-dd'"),
        ]
        carry = self._carry
        if carry is None:
            carry = pa.table(
                {
                    "base": pa.array([], pa.string()),
                    "k": pa.array([], pa.int64()),
                    "day": pa.array([], pa.string()),
                }
            )
        select = self._select(
            precision="day",
            geo_m=geo_m,
            credibility=str(vocab.DEFAULT_GRADES["firms"][1]),
            sid="base || '|' || k",
        )
        # occurrence of this exact (date, latitude, longitude) in the file so far: in the
        # chunk, plus the count carried from the previous chunk
        sql = f"""
            WITH a AS (
                SELECT t.line_no, {raw_json} AS raw, {text("latitude")} AS lat_txt,
                    {text("longitude")} AS lon_txt, {text("acq_date")} AS date_txt,
                    {"NULL" if instrument is None else f"upper({instrument})"}
                        AS instrument
                FROM _firms_raw t
            ), b AS (
                SELECT a.*, {_number("lat_txt", plain="latitude" in plain)} AS lat,
                    {_number("lon_txt", plain="longitude" in plain)} AS lon,
                    try_strptime(date_txt, '%Y-%m-%d') AS occurred,
                    date_txt || '|' || lat_txt || '|' || lon_txt AS base
                FROM a
            ), c AS (
                SELECT b.*, row_number() OVER (PARTITION BY b.base ORDER BY b.line_no)
                    + coalesce(_firms_carry.k, 0) AS k
                FROM b LEFT JOIN _firms_carry USING (base)
            )
            SELECT {select}, {_first_reason(checks)} AS reason, base, k, date_txt AS day
            FROM c ORDER BY line_no"""
        con.register("_firms_carry", carry)
        try:
            out = con.sql(sql).to_arrow_table()
        finally:
            con.unregister("_firms_carry")
        # for the next chunk: the last occurrence of each id of the days this chunk holds,
        # counted over the whole file so far (a day's detections may span several chunks)
        counts = pa.concat_tables([carry, out.select(["base", "k", "day"])])
        last = counts.group_by(["base", "day"]).aggregate([("k", "max")])
        days = pc.unique(out.column("day"))
        last = last.filter(pc.is_in(last.column("day"), value_set=days))
        self._carry = last.select(["base", "k_max", "day"]).rename_columns(["base", "k", "day"])
        return out.drop_columns(["base", "k", "day"])
