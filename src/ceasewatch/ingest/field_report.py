"""Monitors' field reports: observations from a position, OSCE SMM style.

The layout is documented in ``docs/field-reports.md``. JSON (a list of observations or
``{"observations": [...]}``), JSON Lines (one observation per line; streamed) and CSV with
the same field names are read. The estimated location of what was observed is derived
from the observer's position, the bearing and the distance band, on the WGS84 ellipsoid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import Geod

from ceasewatch.errors import IngestError, SourceFormatError
from ceasewatch.ingest.base import (
    SMALL_BATCH_ROWS,
    EventSource,
    iter_json_lines,
    register_source,
    rows_to_json,
    small_rows_json,
)
from ceasewatch.ingest.csvstream import BadRow, ProgressFn
from ceasewatch.normalize import schema, vocab

FIELDS = (
    "report_id",
    "observation_id",
    "observer_id",
    "observer_lon",
    "observer_lat",
    "window_start",
    "window_end",
    "kind",
    "count",
    "bearing_deg",
    "distance_min_km",
    "distance_max_km",
    "weapon_class",
    "assessment",
    "reliability",
    "credibility",
    "notes",
)
REQUIRED = frozenset(
    {
        "report_id",
        "observation_id",
        "observer_id",
        "observer_lon",
        "observer_lat",
        "window_start",
        "kind",
        "count",
    }
)
#: bearing error assumed for a monitor's estimate of direction
BEARING_ERROR_DEG = 10.0
MIN_UNCERTAINTY_M = 250.0
MAX_WINDOW_S = 24 * 3600.0
_GEOD = Geod(ellps="WGS84")


def impact_points(
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    bearing_deg: npt.NDArray[np.float64],
    dmin_km: npt.NDArray[np.float64],
    dmax_km: npt.NDArray[np.float64],
    *,
    sighting: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Estimated location and its uncertainty radius (m) for each observation.

    The point lies at the middle of the distance band along the bearing. The radius
    combines the band's half-width with a ±10° bearing error at the band's far end.
    Without a bearing the observer's position is used, with the far end of the band (or
    5 km) as the radius; a sighting without a bearing gets 500 m.
    """
    n = len(lon)
    dmin = np.where(np.isnan(dmin_km), dmax_km, dmin_km)
    dmax = np.where(np.isnan(dmax_km), dmin, dmax_km)
    has_dist = ~np.isnan(dmax)
    has_bearing = ~np.isnan(bearing_deg) & has_dist
    mid_m = np.nan_to_num((dmin + dmax) / 2 * 1_000.0)
    out_lon, out_lat, _ = _GEOD.fwd(
        lon, lat, np.nan_to_num(bearing_deg), np.where(has_bearing, mid_m, 0.0)
    )
    out_lon = np.asarray(out_lon, dtype=float)
    out_lat = np.asarray(out_lat, dtype=float)
    radial = np.nan_to_num((dmax - dmin) / 2 * 1_000.0)
    lateral = np.nan_to_num(dmax * 1_000.0 * np.tan(np.radians(BEARING_ERROR_DEG)))
    radius = np.hypot(radial, lateral)
    no_bearing_r = np.where(has_dist, np.nan_to_num(dmax) * 1_000.0, 5_000.0)
    if sighting is not None:
        no_bearing_r = np.where(sighting & ~has_dist, 500.0, no_bearing_r)
    radius = np.where(has_bearing, radius, no_bearing_r)
    out_lon = np.where(has_bearing, out_lon, lon)
    out_lat = np.where(has_bearing, out_lat, lat)
    return out_lon, out_lat, np.maximum(radius, MIN_UNCERTAINTY_M) + np.zeros(n)


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    return str(value)


_Obj = npt.NDArray[np.object_]


def _json_array(rows: Sequence[str]) -> _Obj:
    out: _Obj = np.empty(len(rows), dtype=object)
    out[:] = rows
    return out


def raw_json_of_columns(columns: Mapping[str, Sequence[object]]) -> _Obj:
    """The raw record text of each row of text columns (:func:`rows_to_json`)."""
    if columns and len(next(iter(columns.values()))) <= SMALL_BATCH_ROWS:
        rows = small_rows_json(columns)  # a POSTed report: no frame to build
        if rows is not None:
            return _json_array(rows)
    return raw_json_of_frame(pd.DataFrame(dict(columns), dtype=object))


def raw_json_of_frame(frame: pd.DataFrame) -> _Obj:
    """The raw record text of each row of a raw frame (:func:`rows_to_json`)."""
    return _json_array(rows_to_json(frame).tolist())


@dataclass
class RecordColumns:
    """Observation objects as text columns: :data:`FIELDS` then ``_extra`` (the other
    members as JSON text, ``""`` when none), the 1-based line (or list position) of each,
    and the entries that are not objects."""

    columns: dict[str, list[str]]
    line_no: list[int]
    bad: list[BadRow]

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.columns, columns=[*FIELDS, "_extra"], dtype=object)
        frame[schema.LINE_NO] = np.asarray(self.line_no, dtype=np.int64)
        return frame


def record_columns(records: Sequence[object], line_nos: Sequence[int]) -> RecordColumns:
    """The text of each observation's fields, as a file's records are read."""
    columns: dict[str, list[str]] = {k: [] for k in (*FIELDS, "_extra")}
    lines: list[int] = []
    bad: list[BadRow] = []
    for rec, line in zip(records, line_nos, strict=True):
        if not isinstance(rec, dict):
            bad.append(BadRow(line, "observation is not a JSON object", json.dumps(rec)[:2000]))
            continue
        for k in FIELDS:
            columns[k].append(_as_text(rec.get(k)))
        extra = {k: v for k, v in rec.items() if k not in FIELDS}
        columns["_extra"].append(
            json.dumps(extra, ensure_ascii=False, default=str) if extra else ""
        )
        lines.append(line)
    return RecordColumns(columns, lines, bad)


def _records_frame(records: list[object], line_nos: list[int]) -> tuple[pd.DataFrame, list[BadRow]]:
    got = record_columns(records, line_nos)
    return got.frame(), got.bad


# --- the rules ----------------------------------------------------------------------------
# One definition, vectorized over columns (numpy and Arrow kernels, a fixed cost of
# microseconds per call): a file's chunk of 50 000 rows and a POSTed report of one go
# through the same code. The text operations are the ones pandas' ``str`` accessor runs on
# its Arrow-backed strings, the number and time parsers are pandas' own, so the results
# are those of the pandas implementation this replaced.

#: a time must carry its offset (a time without one would silently be taken as UTC)
_OFFSET = r"[T ]\d{2}.*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


def _arrow_text(values: Sequence[object] | pd.Series | np.ndarray) -> pa.Array:
    if isinstance(values, pd.Series):
        values = values.astype(str)
    arr = pa.array(values, type=pa.large_string(), from_pandas=True)
    return pc.utf8_trim_whitespace(arr)


def _objects(arr: pa.Array) -> _Obj:
    out: _Obj = arr.to_numpy(zero_copy_only=False).astype(object, copy=False)
    return out


def _contains(values: pa.Array, pattern: str) -> npt.NDArray[np.bool_]:
    # as pandas' str.contains: RE2 (Arrow) on ASCII text without newlines; Python's re,
    # whose \d and $ differ, otherwise
    ascii_only = pc.all(pc.string_is_ascii(values)).as_py() is not False
    if ascii_only and not pc.any(pc.match_substring(values, "\n")).as_py():
        out: npt.NDArray[np.bool_] = np.asarray(
            pc.match_substring_regex(values, pattern).to_numpy(zero_copy_only=False), dtype=bool
        )
        return out
    rx = re.compile(pattern)
    return np.fromiter((rx.search(v) is not None for v in values.to_pylist()), bool, len(values))


def _number(text: _Obj) -> npt.NDArray[Any]:
    """:func:`ceasewatch.ingest.base.to_float` of stripped text: pandas' parser, ``""`` and
    unparseable text as NaN (int64 when every value is a whole number, as pandas gives)."""
    values = np.where(text == "", np.nan, text).astype(object)
    out = np.asarray(pd.to_numeric(values, errors="coerce"))
    if out.dtype.kind not in "iuf":
        out = out.astype(float)
    return out


def _is_in(values: pa.Array, allowed: Iterable[str]) -> npt.NDArray[np.bool_]:
    got = pc.is_in(values, value_set=pa.array(list(allowed), type=pa.large_string()))
    return np.asarray(got.to_numpy(zero_copy_only=False), dtype=bool)


def _lookup(values: pa.Array, table: Mapping[str, str]) -> tuple[_Obj, npt.NDArray[np.bool_]]:
    """``table[value]`` per value (``None`` when absent) and the mask of absent ones."""
    idx = pc.index_in(values, value_set=pa.array(list(table), type=pa.large_string()))
    found = _objects(pc.take(pa.array(list(table.values()), type=pa.large_string()), idx))
    return found, np.asarray(pc.is_null(idx).to_numpy(zero_copy_only=False), dtype=bool)


class _Reasons:
    """The first reason each row cannot be loaded (as :class:`RowChecks`, over arrays)."""

    def __init__(self, n: int) -> None:
        self.reason: _Obj = np.full(n, None, dtype=object)
        self.ok = np.ones(n, dtype=bool)

    def flag(self, mask: npt.NDArray[np.bool_], reason: str | tuple[str, _Obj, str]) -> None:
        """``reason`` is a text, or ``(before, values, after)``: the row's value echoed."""
        new = mask & self.ok
        if not new.any():
            return
        if isinstance(reason, str):
            self.reason[new] = reason
        else:
            before, values, after = reason
            self.reason[new] = before + values[new] + after
        self.ok &= ~new


def check_observations(
    text: Mapping[str, Sequence[object] | pd.Series | np.ndarray],
    raw_json: _Obj,
    line_no: npt.NDArray[np.int64],
    *,
    index: pd.Index | None = None,
    source: str = "field_report",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The importer's rules over the observations' text fields (:data:`FIELDS`, each a
    column of text): canonical events of the valid ones and quarantine rows
    (``line_no``, ``reason``, ``raw``) of the others, a row's first problem as its reason.

    Used by :meth:`FieldReportSource.normalize` for a file's chunk and by the web
    service for a POSTed report. ``raw_json`` is each row's raw record text, ``index`` the
    index of the returned frames (default 0..n-1).
    """
    n = len(line_no)
    if index is None:
        index = pd.RangeIndex(n)
    arrow = {c: _arrow_text(text[c]) for c in FIELDS}
    txt = {c: _objects(arrow[c]) for c in FIELDS}
    checks = _Reasons(n)

    for col in ("report_id", "observation_id", "observer_id"):
        checks.flag(txt[col] == "", f"{col} is missing")
    olon = _number(txt["observer_lon"])
    olat = _number(txt["observer_lat"])
    checks.flag(
        np.isnan(olat) | (np.abs(olat) > 90),
        ("observer_lat '", txt["observer_lat"], "' is not a number in [-90, 90]"),
    )
    checks.flag(
        np.isnan(olon) | (np.abs(olon) > 180),
        ("observer_lon '", txt["observer_lon"], "' is not a number in [-180, 180]"),
    )

    end_given = txt["window_end"] != ""
    # both ends in one parse: pandas' ISO 8601 parser, errors as NaT
    times = pd.to_datetime(
        np.concatenate(
            [txt["window_start"], np.where(end_given, txt["window_end"], txt["window_start"])]
        ),
        errors="coerce",
        utc=True,
        format="ISO8601",
    )
    start, end = times[:n], times[n:]
    checks.flag(
        start.isna() | ~_contains(arrow["window_start"], _OFFSET),
        ("window_start '", txt["window_start"], "' is not an ISO 8601 time with offset"),
    )
    checks.flag(
        end.isna() | (end_given & ~_contains(arrow["window_end"], _OFFSET)),
        ("window_end '", txt["window_end"], "' is not an ISO 8601 time with offset"),
    )
    window_s = np.asarray((end - start).total_seconds(), dtype=float)
    checks.flag(window_s < 0, "window_end is before window_start")
    checks.flag(window_s > MAX_WINDOW_S, "window longer than 24 h")

    kind_arrow = pc.utf8_lower(arrow["kind"])
    kind = _objects(kind_arrow)
    category, unknown_kind = _lookup(kind_arrow, vocab.FIELD_REPORT_KINDS)
    checks.flag(
        unknown_kind,
        ("kind '", txt["kind"], "' is not one of " + ", ".join(vocab.FIELD_REPORT_KINDS)),
    )
    count = _number(txt["count"])
    checks.flag(
        ~np.isfinite(count) | (count < 1) | (count != np.floor(count)),
        ("count '", txt["count"], "' is not a whole number ≥ 1"),
    )

    bearing = _number(txt["bearing_deg"])
    checks.flag(
        (txt["bearing_deg"] != "") & (np.isnan(bearing) | (bearing < 0) | (bearing > 360)),
        ("bearing_deg '", txt["bearing_deg"], "' is not in 0-360"),
    )
    dmin = _number(txt["distance_min_km"])
    dmax = _number(txt["distance_max_km"])
    checks.flag(
        (txt["distance_min_km"] != "") & (~np.isfinite(dmin) | (dmin < 0)),
        ("distance_min_km '", txt["distance_min_km"], "' is not a number ≥ 0"),
    )
    checks.flag(
        (txt["distance_max_km"] != "") & (~np.isfinite(dmax) | (dmax < 0)),
        ("distance_max_km '", txt["distance_max_km"], "' is not a number ≥ 0"),
    )
    checks.flag(dmax < dmin, "distance_max_km is less than distance_min_km")
    checks.flag(dmax > 60, "distance_max_km over 60 km is beyond what a monitor can observe")

    weapon_arrow = pc.utf8_lower(arrow["weapon_class"])
    weapon = _objects(weapon_arrow)
    checks.flag(
        (weapon != "") & ~_is_in(weapon_arrow, schema.WEAPON_CLASSES),
        (
            "weapon_class '",
            txt["weapon_class"],
            "' is not one of " + ", ".join(schema.WEAPON_CLASSES),
        ),
    )
    assessment_arrow = pc.if_else(
        pc.equal(arrow["assessment"], ""), "undetermined", pc.utf8_lower(arrow["assessment"])
    )
    checks.flag(
        ~_is_in(assessment_arrow, vocab.ASSESSMENTS),
        ("assessment '", txt["assessment"], "' is not one of " + ", ".join(vocab.ASSESSMENTS)),
    )
    default_rel, default_cred = vocab.DEFAULT_GRADES["field_report"]
    rel_arrow = pc.if_else(
        pc.equal(arrow["reliability"], ""), default_rel, pc.utf8_upper(arrow["reliability"])
    )
    checks.flag(
        ~_is_in(rel_arrow, schema.RELIABILITY_GRADES),
        ("reliability '", txt["reliability"], "' is not A-F"),
    )
    cred = _number(np.where(txt["credibility"] == "", str(default_cred), txt["credibility"]))
    checks.flag(
        ~np.isin(cred, [1, 2, 3, 4, 5, 6]), ("credibility '", txt["credibility"], "' is not 1-6")
    )

    ok = checks.ok
    quarantine = pd.DataFrame(
        {
            schema.LINE_NO: np.asarray(line_no[~ok], dtype=np.int64),
            "reason": checks.reason[~ok],
            schema.RAW: raw_json[~ok],
        }
    )
    # the derived values of the valid rows only
    kind, weapon, count = kind[ok], weapon[ok], count[ok]
    lon, lat, radius = impact_points(
        olon[ok].astype(float),
        olat[ok].astype(float),
        bearing[ok].astype(float),
        dmin[ok].astype(float),
        dmax[ok].astype(float),
        sighting=kind == "heavy_weapon_sighting",
    )
    explosion = kind == "explosion"
    category = np.where(
        explosion & np.isin(weapon, list(vocab.SHELLING_WEAPONS)), "shelling", category[ok]
    )
    category = np.where(
        explosion & np.isin(weapon, list(vocab.MISSILE_WEAPONS)), "missile_strike", category
    )
    count_int = count.astype(np.int64)
    notes = txt["notes"][ok]
    assessment = _objects(assessment_arrow)[ok]
    note_text = kind + " ×" + count_int.astype(str).astype(object) + ", " + assessment
    note_text = note_text + np.where(notes != "", "; " + notes, "")
    report_id = txt["report_id"][ok]
    empty = np.full(int(ok.sum()), pd.NA, dtype=object)
    weapon_or_none = weapon.copy()
    weapon_or_none[weapon == ""] = None
    events = pd.DataFrame(
        {
            schema.SOURCE: source,
            schema.SOURCE_EVENT_ID: pd.array(
                report_id + "/" + txt["observation_id"][ok], dtype="str"
            ),
            schema.OCCURRED_AT: start[ok].astype("datetime64[us, UTC]").array,
            schema.TIME_PRECISION: "minute",
            schema.TIME_WINDOW_S: window_s[ok],
            schema.LON: lon,
            schema.LAT: lat,
            schema.GEO_PRECISION_M: radius,
            schema.CATEGORY: pd.array(category.astype(object), dtype="str"),
            schema.WEAPON_CLASS: pd.array(weapon_or_none, dtype="str"),
            schema.ACTOR: empty,
            schema.ATTRIBUTED_TO: empty.copy(),
            schema.FATALITIES: np.nan,
            schema.COUNT: count_int,
            schema.RELIABILITY: pd.array(_objects(rel_arrow)[ok], dtype="str"),
            schema.CREDIBILITY: cred[ok],
            # observations of one report are distinct: never merged with each other
            schema.REPORT_GROUP: pd.array("field_report:" + report_id, dtype="str"),
            schema.LOCATION_NAME: empty.copy(),
            schema.ADMIN1: empty.copy(),
            schema.NOTES: pd.array(note_text, dtype="str"),
            schema.RAW: pd.Series(raw_json[ok], index=index[ok], dtype=object),
            schema.LINE_NO: np.asarray(line_no[ok], dtype=np.int64),
        },
        index=index[ok],
    )
    return events, quarantine


def check_records(
    records: Sequence[object], *, first_line: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame, list[BadRow]]:
    """:func:`check_observations` of observation objects (a POSTed report), numbered from
    ``first_line`` as the lines of a JSON Lines file with one observation per line: the
    events, the quarantine rows and the entries that are not objects."""
    got = record_columns(records, range(first_line, first_line + len(records)))
    raw_json = raw_json_of_columns(got.columns)
    events, quarantine = check_observations(
        got.columns, raw_json, np.asarray(got.line_no, dtype=np.int64)
    )
    return events, quarantine, got.bad


# --- the common case of a few observations, without the vectorized machinery ----------
# A POSTed report holds a few observations; the rules above cost a fixed few milliseconds
# of pandas and Arrow calls whatever their number. :func:`quick_events` handles the
# common case (every observation valid, every value in its plain form) in plain Python
# and gives up on anything else, which then goes through :func:`check_records`: the rules
# and their reasons stay defined once, above. A property test checks that whenever it
# answers, the answer is exactly that of :func:`check_records`.

_PLAIN_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:\d{2})")
_PLAIN_NUMBER = re.compile(r"-?\d{1,4}(?:\.\d{1,15})?")
_PLAIN_WHOLE = re.compile(r"\d{1,4}")
_NEGATIVE_ZERO = re.compile(r"-0+(?:\.0*)?")
#: at most this many observations take the quick path
QUICK_MAX = 64


def _plain_numbers(values: list[str]) -> list[float] | None:
    """The numbers of one field over the report, as :func:`_number` gives them once cast
    to float; None unless every value is empty or a plain decimal."""
    out: list[float] = []
    for v in values:
        if v == "":
            out.append(float("nan"))
        elif _PLAIN_NUMBER.fullmatch(v) and not _NEGATIVE_ZERO.fullmatch(v):
            out.append(float(v))
        else:
            return None
    return out


def _plain_time(text: str) -> datetime | None:
    if not _PLAIN_TIME.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None


def quick_events(records: Sequence[object]) -> list[tuple[Any, ...]] | None:
    """The events :func:`check_records` makes of ``records`` when every observation is
    valid and plain, as query parameters in ``schema.EVENT_COLUMNS`` order (``line_no``
    = position + 1; no NaN, NA or NaT: None); None to let :func:`check_records` decide
    (an invalid or unusual observation, a repeated id, more than :data:`QUICK_MAX`)."""
    n = len(records)
    if n == 0 or n > QUICK_MAX or not all(type(r) is dict for r in records):
        return None
    got = record_columns(records, range(1, n + 1))
    raw = got.columns
    txt: dict[str, list[str]] = {}
    for f in FIELDS:
        values = raw[f]
        if any(v != v.strip() for v in values):
            return None  # surrounding whitespace: trimmed by Arrow's rules
        txt[f] = values
    if any(v == "" for f in ("report_id", "observation_id", "observer_id") for v in txt[f]):
        return None
    olon, olat = _plain_numbers(txt["observer_lon"]), _plain_numbers(txt["observer_lat"])
    bearing = _plain_numbers(txt["bearing_deg"])
    dmin, dmax = _plain_numbers(txt["distance_min_km"]), _plain_numbers(txt["distance_max_km"])
    if olon is None or olat is None or bearing is None or dmin is None or dmax is None:
        return None
    kinds: list[str] = []
    categories: list[str] = []
    weapons: list[str | None] = []
    assessments: list[str] = []
    grades: list[tuple[str, int]] = []
    counts: list[int] = []
    starts: list[datetime] = []
    windows: list[float] = []
    default_rel, default_cred = vocab.DEFAULT_GRADES["field_report"]
    for i in range(n):
        if not (abs(olon[i]) <= 180 and abs(olat[i]) <= 90):
            return None
        start = _plain_time(txt["window_start"][i])
        end_text = txt["window_end"][i]
        end = start if end_text == "" else _plain_time(end_text)
        if start is None or end is None:
            return None
        window = (end - start).total_seconds()
        if not 0 <= window <= MAX_WINDOW_S:
            return None
        kind = txt["kind"][i]
        if not kind.isascii() or kind.lower() not in vocab.FIELD_REPORT_KINDS:
            return None
        kind = kind.lower()
        count = txt["count"][i]
        if not _PLAIN_WHOLE.fullmatch(count) or int(count) < 1:
            return None
        b, lo, hi = bearing[i], dmin[i], dmax[i]
        if (b == b and not 0 <= b <= 360) or (lo == lo and lo < 0) or (hi == hi and hi < 0):
            return None
        if (lo == lo and hi == hi and hi < lo) or (hi == hi and hi > 60):
            return None
        weapon = txt["weapon_class"][i]
        if not weapon.isascii() or (weapon and weapon.lower() not in schema.WEAPON_CLASSES):
            return None
        assessment = txt["assessment"][i] or "undetermined"
        if not assessment.isascii() or assessment.lower() not in vocab.ASSESSMENTS:
            return None
        reliability = txt["reliability"][i] or default_rel
        if not reliability.isascii() or reliability.upper() not in schema.RELIABILITY_GRADES:
            return None
        credibility = txt["credibility"][i] or str(default_cred)
        if credibility not in ("1", "2", "3", "4", "5", "6"):
            return None
        kinds.append(kind)
        categories.append(vocab.FIELD_REPORT_KINDS[kind])
        weapons.append(weapon.lower() or None)
        assessments.append(assessment.lower())
        grades.append((reliability.upper(), int(credibility)))
        counts.append(int(count))
        starts.append(start)
        windows.append(window)
    ids = [f"{r}/{o}" for r, o in zip(txt["report_id"], txt["observation_id"], strict=True)]
    if len(set(ids)) != n:
        return None
    lon, lat, radius = impact_points(
        np.asarray(olon, dtype=float),
        np.asarray(olat, dtype=float),
        np.asarray(bearing, dtype=float),
        np.asarray(dmin, dtype=float),
        np.asarray(dmax, dtype=float),
        sighting=np.asarray([k == "heavy_weapon_sighting" for k in kinds]),
    )
    raw_json = raw_json_of_columns(raw)
    rows: list[tuple[Any, ...]] = []
    for i in range(n):
        category = categories[i]
        if kinds[i] == "explosion" and weapons[i] in vocab.SHELLING_WEAPONS:
            category = "shelling"
        elif kinds[i] == "explosion" and weapons[i] in vocab.MISSILE_WEAPONS:
            category = "missile_strike"
        notes = txt["notes"][i]
        note = f"{kinds[i]} ×{counts[i]}, {assessments[i]}" + (f"; {notes}" if notes else "")
        event: dict[str, Any] = {
            schema.SOURCE: FieldReportSource.name,
            schema.SOURCE_EVENT_ID: ids[i],
            schema.OCCURRED_AT: starts[i],
            schema.TIME_PRECISION: "minute",
            schema.TIME_WINDOW_S: windows[i],
            schema.LON: float(lon[i]),
            schema.LAT: float(lat[i]),
            schema.GEO_PRECISION_M: float(radius[i]),
            schema.CATEGORY: category,
            schema.WEAPON_CLASS: weapons[i],
            schema.ACTOR: None,
            schema.ATTRIBUTED_TO: None,
            schema.FATALITIES: None,
            schema.COUNT: counts[i],
            schema.RELIABILITY: grades[i][0],
            schema.CREDIBILITY: grades[i][1],
            schema.REPORT_GROUP: "field_report:" + txt["report_id"][i],
            schema.LOCATION_NAME: None,
            schema.ADMIN1: None,
            schema.NOTES: note,
            schema.RAW: str(raw_json[i]),
            schema.LINE_NO: i + 1,
        }
        rows.append(tuple(event[c] for c in schema.EVENT_COLUMNS))
    return rows


@register_source
class FieldReportSource(EventSource):
    name = "field_report"
    title = "field report (docs/field-reports.md)"
    required_columns = REQUIRED
    chunk_records = 50_000

    def read_chunks(
        self, path: Path, *, on_read: ProgressFn | None = None
    ) -> Iterator[tuple[pd.DataFrame, list[BadRow]]]:
        suffix = path.suffix.lower()
        if suffix == ".csv":
            yield from super().read_chunks(path, on_read=on_read)
            return
        if suffix in (".jsonl", ".ndjson"):
            yield from self._read_jsonl(path, on_read)
            return
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            msg = (
                f"{path.name} is not valid JSON ({e}); field reports are a JSON list, "
                "JSON Lines or CSV"
            )
            raise IngestError(msg) from e
        if on_read is not None:
            on_read(path.stat().st_size)
        if isinstance(doc, dict) and "observations" in doc:
            doc = doc["observations"]
        if not isinstance(doc, list):
            msg = f'{path.name}: expected a JSON list of observations or {{"observations": [...]}}'
            raise SourceFormatError(msg)
        first = next((r for r in doc if isinstance(r, dict)), None)
        if first is not None:
            missing = sorted(REQUIRED - set(first))
            if len(missing) > len(REQUIRED) // 2:
                msg = (
                    f"{path.name} is not a {self.title} file: missing field(s) {', '.join(missing)}"
                )
                raise SourceFormatError(msg)
        # in a JSON list the "line" is the observation's position in the list (1-based)
        for start in range(0, len(doc), self.chunk_records):
            part = doc[start : start + self.chunk_records]
            yield _records_frame(part, list(range(start + 1, start + 1 + len(part))))

    def _read_jsonl(
        self, path: Path, on_read: ProgressFn | None
    ) -> Iterator[tuple[pd.DataFrame, list[BadRow]]]:
        return iter_json_lines(
            path, _records_frame, chunk_records=self.chunk_records, on_read=on_read
        )

    def normalize(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        for col in FIELDS:
            if col not in raw:
                raw[col] = ""
        cols = [c for c in raw.columns if c != schema.LINE_NO]
        return check_observations(
            {c: raw[c] for c in FIELDS},
            raw_json_of_frame(raw[cols]),
            raw[schema.LINE_NO].to_numpy(dtype=np.int64),
            index=raw.index,
            source=self.name,
        )
