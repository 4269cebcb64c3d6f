"""The mission's daily report, as pure functions over frames.

In the manner of the OSCE SMM daily reports: one report per report day, the day being the
24 hours ``(period_start, period_end]`` that end at the daily cut-off (19:30 Kyiv time by
default); numbered; summary bullets first, then tables, the map and the 30-day trend.

:func:`build_daily_report` computes everything (counts, comparisons, notable incidents,
source coverage, quarantine) into a :class:`DailyReport`; :func:`write_daily_report`
renders it as Markdown and as one self-contained HTML file (inline CSS, figures embedded as
base64 data URIs, no external URL) plus the two PNG figures.

Counting conventions
--------------------
* dismissed violations are excluded from every count and table (their number is stated);
* a violation belongs to the report day whose period contains its ``occurred_at``; the
  periods of earlier days end at the same local cut-off time (so across a DST change a
  period is 23 or 25 hours long);
* the "7-day mean" is the mean over the 7 report days before the report day, counting
  only the days with data: at least one record received from any source, or a violation
  (a day without any data is not a quiet day); the "previous day" is ``n/a`` when it has
  no data.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import jinja2
import pandas as pd
from shapely.geometry.base import BaseGeometry

from ceasewatch.normalize import schema
from ceasewatch.report import charts

# --- input columns that are not canonical event/violation columns ----------------------
#: violations: number of distinct sources and their ';'-joined names
N_SOURCES: Final = "n_sources"
SOURCES: Final = "sources"
#: received: report day and number of records received from the source on it
RECEIVED_DAY: Final = "day"
N_RECORDS: Final = "n_records"
#: quarantine: file the row came from and why it was quarantined
FILE_NAME: Final = "file_name"
REASON: Final = "reason"

DEFAULT_TIMEZONE: Final = "Europe/Kyiv"
#: how many days of history the report looks at (chart, source coverage)
HISTORY_DAYS: Final = 30
#: days averaged for the "7-day mean"
BASELINE_DAYS: Final = 7
MAX_NOTABLE: Final = 15
MAX_QUARANTINE_ROWS: Final = 20
MAX_EVIDENCE_SHOWN: Final = 5
#: severities counted as "breach or worse"
BREACH_OR_WORSE: Final = frozenset({"breach", "expanded_attack"})
STATUS_DISMISSED: Final = "dismissed"

NO_ZONE: Final = "(no zone)"
NO_SECTOR: Final = "(no sector)"
NO_CATEGORY: Final = "(no category)"

SIDE_NOTE: Final = (
    "The side given for a violation is the party controlling the territory where it was "
    "located; it is not an attribution of responsibility for the violation."
)

_VIOLATION_REQUIRED: Final = (
    schema.VIOLATION_ID,
    schema.OCCURRED_AT,
    schema.LON,
    schema.LAT,
    schema.ZONE,
    schema.SECTOR,
    schema.SIDE,
    schema.CATEGORY,
    schema.SEVERITY,
    schema.CONFIDENCE,
    schema.STATUS,
)
_VIOLATION_OPTIONAL: Final = (
    schema.INCIDENT_ID,
    schema.RULE,
    schema.WEAPON_CLASS,
    N_SOURCES,
    SOURCES,
    schema.AGREEMENT_VERSION,
    schema.DISTANCE_TO_LINE_KM,
    schema.EVIDENCE_EVENT_IDS,
    schema.FATALITIES,
    schema.LOCATION_NAME,
)
_RECEIVED_REQUIRED: Final = (schema.SOURCE, RECEIVED_DAY, N_RECORDS)
_QUARANTINE_REQUIRED: Final = (schema.BATCH_ID, schema.SOURCE, FILE_NAME, schema.LINE_NO, REASON)

_SEVERITY_RANK: Final = {s: i for i, s in enumerate(schema.SEVERITIES)}
_DAY: Final = "_report_day"


# --- geometry and result types ---------------------------------------------------------
@dataclass(frozen=True)
class ReportGeometry:
    """Geometry drawn on the map; all WGS84 lon/lat shapely geometries.

    ``bands`` are ``(zone id, width_km, band polygon)``, narrowest first; ``control`` is
    ``(party code, polygon)``.
    """

    line: BaseGeometry
    bands: list[tuple[str, float, BaseGeometry]] = field(default_factory=list)
    control: list[tuple[str, BaseGeometry]] = field(default_factory=list)


@dataclass(frozen=True)
class CountRow:
    """One row of a count table: violations on the report day vs the days before.

    ``previous`` is ``None`` when the previous day has no data (no record received, no
    violation), ``mean7`` when none of the 7 days before has data.
    """

    label: str
    today: int
    previous: int | None
    mean7: float | None
    #: what was observed behind the count (records received, hours observed) on the day
    coverage: str = ""
    #: False when nothing at all was received for this row on the day: "not observed",
    #: never "zero violations"
    observed: bool = True

    @property
    def change_previous(self) -> int | None:
        return None if self.previous is None else self.today - self.previous

    @property
    def change_mean7(self) -> float | None:
        return None if self.mean7 is None else self.today - self.mean7


@dataclass(frozen=True)
class NotableIncident:
    """One incident of the report day (its violations merged; fields of the worst one)."""

    incident_id: str
    violation_ids: tuple[str, ...]
    rules: tuple[str, ...]
    occurred_at: datetime
    place: str
    lon: float
    lat: float
    category: str
    weapon_class: str | None
    zone: str
    sector: str
    side: str
    distance_to_line_km: float | None
    severity: str
    confidence: float
    status: str
    n_sources: int
    sources: tuple[str, ...]
    evidence_event_ids: tuple[str, ...]
    fatalities: float | None


@dataclass(frozen=True)
class SourceCoverage:
    """Records received from one source: report day, previous day, 7-day mean."""

    source: str
    today: int
    previous: int
    mean7: float
    #: nothing received on the report day although something was earlier in the 30 days
    silent: bool
    #: nothing received at all in the 30 days
    no_records: bool

    @property
    def flag(self) -> str:
        if self.silent:
            return "SILENT"
        if self.no_records:
            return "no records in 30 days"
        return ""


@dataclass(frozen=True)
class QuarantineRow:
    """One quarantined input row."""

    batch_id: str
    source: str
    file_name: str
    line_no: int | None
    reason: str


@dataclass(frozen=True)
class DailyReport:
    """Everything the daily report shows, computed; rendering only formats it."""

    number: str
    title: str
    day: date
    period_start: datetime
    period_end: datetime
    timezone: str
    agreement_name: str
    agreement_version: int
    generated_at: datetime
    as_of: datetime | None
    #: summary bullets, plain text
    summary: tuple[str, ...]
    #: all-violations row (label "Total") and the tables by zone, sector and category
    total: CountRow
    by_zone: tuple[CountRow, ...]
    by_sector: tuple[CountRow, ...]
    by_category: tuple[CountRow, ...]
    #: violations of the day per severity, highest first (only severities present)
    by_severity: tuple[tuple[str, int], ...]
    n_incidents: int
    n_breach_or_worse: int
    #: dismissed violations of the day, excluded from all counts
    n_dismissed: int
    #: report days of the 7 before the report day with data (records received or violations)
    baseline_days: tuple[date, ...]
    #: report days of the 30 without any data (no record received, no violation)
    no_data_days: tuple[date, ...]
    most_affected_zone: tuple[str, ...]
    most_affected_sector: tuple[str, ...]
    notable: tuple[NotableIncident, ...]
    #: incidents of the day in all (``notable`` shows at most 15)
    n_notable_total: int
    sources: tuple[SourceCoverage, ...]
    silent_sources: tuple[str, ...]
    records_today: int
    quarantine_by_source: tuple[tuple[str, int], ...]
    quarantine_rows: tuple[QuarantineRow, ...]
    n_quarantined: int
    #: zone ids in display order (bands narrowest first, then others)
    zones: tuple[str, ...]
    #: violations per report day (index, 30 days, oldest first) and zone (columns)
    daily_by_zone: pd.DataFrame = field(compare=False, repr=False)
    #: the day's violations to map: lon, lat, severity
    map_points: pd.DataFrame = field(compare=False, repr=False)
    geometry: ReportGeometry = field(compare=False, repr=False)
    #: a few lines on the guarantee components (commitments, air defense, presence)
    guarantee_lines: tuple[str, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_quiet(self) -> bool:
        return self.total.today == 0


# --- input preparation -----------------------------------------------------------------
def _require(frame: pd.DataFrame, required: Sequence[str], name: str) -> pd.DataFrame:
    """A copy of ``frame`` with the required columns (added empty when the frame is)."""
    frame = frame.copy()
    missing = [c for c in required if c not in frame.columns]
    if missing and len(frame):
        raise ValueError(f"{name} frame lacks columns: {', '.join(missing)}")
    for c in missing:
        frame[c] = pd.Series(dtype=object)
    return frame


def _as_utc(moment: datetime, name: str) -> pd.Timestamp:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return pd.Timestamp(moment).tz_convert("UTC")


def _report_days(
    ts: pd.Series, tz: ZoneInfo, cutoff: timedelta, anchor_shift: timedelta
) -> pd.Series:
    """The report day of each timestamp: its local date, or the next one after the cut-off."""
    if ts.empty:
        return pd.Series([], index=ts.index, dtype=object)
    wall = ts.dt.tz_convert(tz).dt.tz_localize(None)
    midnight = wall.dt.normalize()
    after = (wall - midnight) > cutoff
    days = midnight + pd.to_timedelta(after.astype(int), unit="D") + anchor_shift
    return days.dt.date


def _text(value: Any, default: str = "") -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return default
    return str(value)


def _float_or_none(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)


def _split(value: Any) -> tuple[str, ...]:
    return tuple(p.strip() for p in _text(value).split(";") if p.strip())


# --- counting ----------------------------------------------------------------------------
def _count_rows(
    frame: pd.DataFrame,
    key: str,
    *,
    day: date,
    previous_covered: bool,
    baseline: Sequence[date],
    always: Sequence[str] = (),
    fixed_order: bool = False,
) -> list[CountRow]:
    window = [day - timedelta(days=i) for i in range(BASELINE_DAYS, -1, -1)]
    tab = pd.crosstab(frame[key], frame[_DAY]) if len(frame) else pd.DataFrame()
    tab = tab.reindex(columns=window, fill_value=0)
    tab.index = tab.index.map(str)
    present = [str(k) for k in tab.index[tab.sum(axis=1) > 0]]
    labels = list(dict.fromkeys([*always, *present]))
    tab = tab.reindex(index=labels, fill_value=0)
    table: dict[str, dict[date, int]] = {
        label: {d: int(n) for d, n in zip(window, tab.loc[label].to_numpy(), strict=True)}
        for label in labels
    }
    rows = []
    for label in labels:
        counts = table[label]
        rows.append(
            CountRow(
                label=label,
                today=counts[day],
                previous=counts[day - timedelta(days=1)] if previous_covered else None,
                mean7=sum(counts[d] for d in baseline) / len(baseline) if baseline else None,
            )
        )
    if not fixed_order:
        rows.sort(key=lambda r: (-r.today, -(r.mean7 or 0.0), r.label))
    else:
        first = {z: i for i, z in enumerate(always)}
        rows.sort(
            key=lambda r: (
                first.get(r.label, len(first)),
                r.label in (schema.ZONE_OUTSIDE, NO_ZONE),
                r.label,
            )
        )
    return rows


def _with_sector_coverage(
    rows: list[CountRow], coverage: pd.DataFrame, day: date
) -> list[CountRow]:
    """Each sector row with what was observed in the sector on the day; a sector with no
    record from any source is "not observed" (its zero is not a calm day)."""
    cov = coverage[coverage["day"] == day].groupby("sector")[["n_records", "hours_observed"]].sum()
    out = []
    for r in rows:
        n = int(cov["n_records"].get(r.label, 0)) if not cov.empty else 0
        h = float(cov["hours_observed"].get(r.label, 0.0)) if not cov.empty else 0.0
        note = f"{n} records" + (f", {h:.1f} h observed" if h > 0 else "")
        observed = n > 0 or r.today > 0 or r.label == NO_SECTOR
        out.append(dataclasses.replace(r, coverage=note if observed else "none", observed=observed))
    return out


def _most_affected(rows: Iterable[CountRow]) -> tuple[str, ...]:
    rows = list(rows)
    top = max((r.today for r in rows), default=0)
    if top == 0:
        return ()
    return tuple(r.label for r in rows if r.today == top)


def _notable(today: pd.DataFrame, limit: int | None = None) -> tuple[list[NotableIncident], int]:
    """The day's incidents, worst first (at most ``limit`` of them built), and how many
    incidents the day has in all."""
    if today.empty:
        return [], 0
    frame = today.copy()
    frame["_rank"] = frame[schema.SEVERITY].map(_SEVERITY_RANK).fillna(-1)
    frame["_conf"] = pd.to_numeric(frame[schema.CONFIDENCE], errors="coerce").fillna(0.0)
    frame["_inc"] = [
        _text(i, default=_text(v))
        for i, v in zip(frame[schema.INCIDENT_ID], frame[schema.VIOLATION_ID], strict=True)
    ]
    frame = frame.sort_values(
        ["_rank", "_conf", schema.OCCURRED_AT, schema.VIOLATION_ID],
        ascending=[False, False, True, True],
        kind="stable",
    )
    # incidents in the order of their worst violation; only the first ``limit`` are built
    order = frame["_inc"].drop_duplicates()
    n_total = len(order)
    if limit is not None and n_total > limit:
        frame = frame[frame["_inc"].isin(order.iloc[:limit].tolist())]
    out: list[NotableIncident] = []
    for inc_id, group in frame.groupby("_inc", sort=False):
        worst = group.iloc[0]
        lon, lat = float(worst[schema.LON]), float(worst[schema.LAT])
        name = _text(worst[schema.LOCATION_NAME]).strip()
        evidence = tuple(
            dict.fromkeys(e for v in group[schema.EVIDENCE_EVENT_IDS] for e in _split(v))
        )
        srcs = tuple(dict.fromkeys(s for v in group[SOURCES] for s in _split(v)))
        n_src = pd.to_numeric(group[N_SOURCES], errors="coerce").max()
        out.append(
            NotableIncident(
                incident_id=str(inc_id),
                violation_ids=tuple(str(v) for v in group[schema.VIOLATION_ID]),
                rules=tuple(dict.fromkeys(_text(r) for r in group[schema.RULE] if _text(r))),
                occurred_at=pd.Timestamp(worst[schema.OCCURRED_AT]).to_pydatetime(),
                place=name or format_lonlat(lon, lat),
                lon=lon,
                lat=lat,
                category=_text(worst[schema.CATEGORY], NO_CATEGORY),
                weapon_class=_text(worst[schema.WEAPON_CLASS]) or None,
                zone=_text(worst[schema.ZONE], NO_ZONE),
                sector=_text(worst[schema.SECTOR], NO_SECTOR),
                side=_text(worst[schema.SIDE], schema.SIDE_UNKNOWN),
                distance_to_line_km=_float_or_none(worst[schema.DISTANCE_TO_LINE_KM]),
                severity=_text(worst[schema.SEVERITY], "unknown"),
                confidence=float(worst["_conf"]),
                status=_text(worst[schema.STATUS]),
                n_sources=int(n_src) if pd.notna(n_src) else len(srcs),
                sources=srcs,
                evidence_event_ids=evidence,
                fatalities=_float_or_none(
                    pd.to_numeric(group[schema.FATALITIES], errors="coerce").max()
                ),
            )
        )
    return out, n_total


def _source_coverage(received: pd.DataFrame, day: date) -> list[SourceCoverage]:
    if received.empty:
        return []
    prev = day - timedelta(days=1)
    baseline = [day - timedelta(days=i) for i in range(1, BASELINE_DAYS + 1)]
    first = day - timedelta(days=HISTORY_DAYS - 1)
    rows = []
    for source, group in received.groupby(schema.SOURCE, sort=True):
        per_day = group.groupby(RECEIVED_DAY)[N_RECORDS].sum()
        earlier = int(per_day[[d for d in per_day.index if first <= d < day]].sum())
        today = int(per_day.get(day, 0))
        rows.append(
            SourceCoverage(
                source=str(source),
                today=today,
                previous=int(per_day.get(prev, 0)),
                mean7=float(sum(int(per_day.get(d, 0)) for d in baseline) / BASELINE_DAYS),
                silent=today == 0 and earlier > 0,
                no_records=today == 0 and earlier == 0,
            )
        )
    rows.sort(key=lambda r: (not r.silent, r.source))
    return rows


# --- formatting (shared by both templates) -------------------------------------------------
def format_lonlat(lon: float, lat: float) -> str:
    """``48.5983°N 37.7411°E``: 4 decimals, hemisphere letters."""
    ns = "N" if lat >= 0 else "S"
    ew = "E" if lon >= 0 else "W"
    return f"{abs(lat):.4f}°{ns} {abs(lon):.4f}°{ew}"


def _fmt_count(value: int | None) -> str:
    return "n/a" if value is None else str(value)


def _fmt_mean(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _fmt_change(value: float | None, decimals: int = 0) -> str:
    if value is None:
        return "n/a"
    if abs(value) < 0.5 * 10**-decimals:
        return "0" if decimals == 0 else f"{0:.{decimals}f}"
    return f"{value:+.{decimals}f}"


def _pct(value: float, base: float) -> str:
    if base == 0:
        return ""
    return f" ({(value - base) / base * 100:+.0f}%)"


def _fmt_local(moment: datetime, tz: ZoneInfo, fmt: str = "%d %b %Y %H:%M") -> str:
    return moment.astimezone(tz).strftime(fmt)


def _fmt_utc(moment: datetime, fmt: str = "%d %b %Y %H:%M") -> str:
    return pd.Timestamp(moment).tz_convert("UTC").strftime(fmt)


def _utc_offset(moment: datetime, tz: ZoneInfo) -> str:
    off = moment.astimezone(tz).utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _fmt_km(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.1f} km"


def _fmt_evidence(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:MAX_EVIDENCE_SHOWN])
    more = len(ids) - MAX_EVIDENCE_SHOWN
    return f"{shown} (+{more} more)" if more > 0 else shown


def _md_cell(value: Any) -> str:
    """Text safe in a Markdown table cell: no line breaks, pipes and HTML escaped."""
    text = " ".join(_text(value).split())
    for ch in ("\\", "|", "<", ">", "[", "]", "`", "*"):
        text = text.replace(ch, "\\" + ch)
    return text


def _human(value: Any) -> str:
    return _text(value).replace("_", " ")


# --- building --------------------------------------------------------------------------------
def build_daily_report(
    *,
    day: date,
    period_start: datetime,
    period_end: datetime,
    agreement_name: str,
    agreement_version: int,
    violations: pd.DataFrame,
    received: pd.DataFrame,
    quarantine: pd.DataFrame,
    geometry: ReportGeometry,
    generated_at: datetime,
    as_of: datetime | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    number: str | None = None,
    sector_coverage: pd.DataFrame | None = None,
    sectors: Sequence[str] = (),
    guarantee_lines: Sequence[str] = (),
) -> DailyReport:
    """Compute the daily report of ``day`` (the period ``(period_start, period_end]``).

    ``violations`` holds the violations of the 30 days up to ``period_end`` (dismissed ones
    included: they are counted apart); ``received`` the records received per source and
    report day (``source``, ``day``, ``n_records``); ``quarantine`` the rows quarantined in
    batches loaded during the period. ``timezone`` is that of the cut-off (local times in
    the report); ``number`` defaults to ``<day of year>/<year>``. Empty frames (even
    without columns) are a quiet day.
    """
    tz = ZoneInfo(timezone)
    start = _as_utc(period_start, "period_start")
    end = _as_utc(period_end, "period_end")
    if end <= start:
        raise ValueError("period_end must be after period_start")
    generated = _as_utc(generated_at, "generated_at").to_pydatetime()
    data_as_of = None if as_of is None else _as_utc(as_of, "as_of").to_pydatetime()
    end_local = end.tz_convert(tz)
    cutoff = end_local.tz_localize(None) - end_local.tz_localize(None).normalize()
    anchor_shift = timedelta(days=(day - end_local.date()).days)
    days30 = [day - timedelta(days=i) for i in range(HISTORY_DAYS - 1, -1, -1)]
    prev_day = day - timedelta(days=1)
    baseline_all = [day - timedelta(days=i) for i in range(BASELINE_DAYS, 0, -1)]

    # received: per source and report day
    rec = _require(received, _RECEIVED_REQUIRED, "received")
    if len(rec):
        rec[RECEIVED_DAY] = pd.to_datetime(rec[RECEIVED_DAY]).dt.date
        rec[N_RECORDS] = pd.to_numeric(rec[N_RECORDS], errors="coerce").fillna(0).astype(int)
        rec[schema.SOURCE] = rec[schema.SOURCE].astype(str)
        rec = rec[rec[RECEIVED_DAY].isin(days30)]
    per_day_records = rec.groupby(RECEIVED_DAY)[N_RECORDS].sum() if len(rec) else pd.Series()
    sources = _source_coverage(rec, day)
    silent = tuple(s.source for s in sources if s.silent)
    records_today = sum(s.today for s in sources)

    # violations: assign report days, split off the dismissed ones
    vio = _require(violations, _VIOLATION_REQUIRED, "violations")
    for c in _VIOLATION_OPTIONAL:
        if c not in vio.columns:
            vio[c] = pd.Series(pd.NA, index=vio.index, dtype=object)
    vio[schema.OCCURRED_AT] = pd.to_datetime(vio[schema.OCCURRED_AT], utc=True)
    vio = vio[vio[schema.OCCURRED_AT].notna()]  # cannot be placed in any report day
    in_period = (vio[schema.OCCURRED_AT] > start) & (vio[schema.OCCURRED_AT] <= end)
    vio[_DAY] = _report_days(vio[schema.OCCURRED_AT], tz, cutoff, anchor_shift)
    vio.loc[in_period, _DAY] = day
    keep = in_period | (vio[_DAY] < day) if len(vio) else in_period
    vio = vio[keep & vio[_DAY].isin(days30)]
    dismissed = vio[schema.STATUS].astype("string").fillna("") == STATUS_DISMISSED
    n_dismissed = int((dismissed & (vio[_DAY] == day)).sum())
    # a day has data when records were received on it, or violations (even dismissed) exist
    covered = {d for d, n in per_day_records.items() if n > 0} | set(vio[_DAY])
    baseline = tuple(d for d in baseline_all if d in covered)
    previous_covered = prev_day in covered
    vio = vio[~dismissed].copy()
    vio[schema.ZONE] = vio[schema.ZONE].astype("string").fillna(NO_ZONE).astype(str)
    vio[schema.SECTOR] = vio[schema.SECTOR].astype("string").fillna(NO_SECTOR).astype(str)
    vio[schema.CATEGORY] = vio[schema.CATEGORY].astype("string").fillna(NO_CATEGORY).astype(str)
    vio["_all"] = "Total"
    today = vio[vio[_DAY] == day]

    band_zones = [z for z, _w, _g in geometry.bands]
    kwargs: dict[str, Any] = {
        "day": day,
        "previous_covered": previous_covered,
        "baseline": baseline,
    }
    total = _count_rows(vio, "_all", always=["Total"], **kwargs)[0]
    by_zone = _count_rows(vio, schema.ZONE, always=band_zones, fixed_order=True, **kwargs)
    by_sector = _count_rows(vio, schema.SECTOR, always=list(sectors), **kwargs)
    if sector_coverage is not None:
        by_sector = _with_sector_coverage(by_sector, sector_coverage, day)
        day_records = int(per_day_records.get(day, 0))
        note = f"{day_records} records"
        by_zone = [dataclasses.replace(r, coverage=note) for r in by_zone]
        total = dataclasses.replace(total, coverage=note)
    by_category = _count_rows(vio, schema.CATEGORY, **kwargs)
    if sector_coverage is not None:
        by_category = [dataclasses.replace(r, coverage=note) for r in by_category]
    zones = tuple(r.label for r in by_zone)
    extra_zones = sorted(set(vio[schema.ZONE]) - set(zones))  # zones seen only > 7 days ago
    zones = (*zones, *extra_zones)

    sev_counts = today[schema.SEVERITY].astype("string").fillna("unknown").value_counts()
    by_severity = tuple(
        sorted(
            ((str(s), int(n)) for s, n in sev_counts.items()),
            key=lambda sn: -_SEVERITY_RANK.get(sn[0], -1),
        )
    )
    n_breach = int(today[schema.SEVERITY].isin(list(BREACH_OR_WORSE)).sum())
    incidents, n_incidents = _notable(today, MAX_NOTABLE)

    # 30-day series for the chart
    daily = pd.crosstab(vio[_DAY], vio[schema.ZONE]) if len(vio) else pd.DataFrame()
    daily = daily.reindex(index=days30, columns=list(zones), fill_value=0)
    map_points = (
        today[[schema.LON, schema.LAT, schema.SEVERITY]]
        .dropna(subset=[schema.LON, schema.LAT])
        .reset_index(drop=True)
    )

    # quarantine
    qua = _require(quarantine, _QUARANTINE_REQUIRED, "quarantine")
    qua_by_source: tuple[tuple[str, int], ...] = ()
    qua_rows: tuple[QuarantineRow, ...] = ()
    if len(qua):
        counts = qua[schema.SOURCE].astype("string").fillna("(unknown)").value_counts()
        qua_by_source = tuple(
            sorted(((str(s), int(n)) for s, n in counts.items()), key=lambda sn: (-sn[1], sn[0]))
        )
        line_no = pd.to_numeric(qua[schema.LINE_NO], errors="coerce")
        first = qua.assign(_line=line_no).sort_values(
            [schema.BATCH_ID, FILE_NAME, "_line"], kind="stable", na_position="last"
        )
        qua_rows = tuple(
            QuarantineRow(
                batch_id=_text(r[schema.BATCH_ID]),
                source=_text(r[schema.SOURCE]),
                file_name=_text(r[FILE_NAME]),
                line_no=None if pd.isna(r["_line"]) else int(r["_line"]),
                reason=_text(r[REASON]),
            )
            for _, r in first.head(MAX_QUARANTINE_ROWS).iterrows()
        )

    number = number or f"{day.timetuple().tm_yday}/{day.year}"
    title = f"{agreement_name} (version {agreement_version}): daily report {number}"
    zone_rows = [r for r in by_zone if r.label not in (schema.ZONE_OUTSIDE, NO_ZONE)] or by_zone
    report = DailyReport(
        number=number,
        title=title,
        day=day,
        period_start=start.to_pydatetime(),
        period_end=end.to_pydatetime(),
        timezone=timezone,
        agreement_name=agreement_name,
        agreement_version=int(agreement_version),
        generated_at=generated,
        as_of=data_as_of,
        summary=(),
        total=total,
        by_zone=tuple(by_zone),
        by_sector=tuple(by_sector),
        by_category=tuple(by_category),
        by_severity=by_severity,
        n_incidents=n_incidents,
        n_breach_or_worse=n_breach,
        n_dismissed=n_dismissed,
        baseline_days=baseline,
        no_data_days=tuple(d for d in days30 if d not in covered),
        most_affected_zone=_most_affected(zone_rows),
        most_affected_sector=_most_affected(
            [r for r in by_sector if r.label != NO_SECTOR] or by_sector
        ),
        notable=tuple(incidents[:MAX_NOTABLE]),
        n_notable_total=n_incidents,
        sources=tuple(sources),
        silent_sources=silent,
        records_today=records_today,
        quarantine_by_source=qua_by_source,
        quarantine_rows=qua_rows,
        n_quarantined=len(qua),
        zones=zones,
        daily_by_zone=daily,
        map_points=map_points,
        geometry=geometry,
        guarantee_lines=tuple(guarantee_lines),
    )
    return _with_summary(report)


def _with_summary(r: DailyReport) -> DailyReport:
    """The report with its summary bullets (plain text) filled in."""
    from dataclasses import replace

    t = r.total
    bullets: list[str] = []
    n_sources_today = sum(1 for s in r.sources if s.today > 0)
    coverage = (
        f"{r.records_today} records were received from {n_sources_today} of "
        f"{len(r.sources)} sources in the period"
    )
    if r.silent_sources:
        coverage += f"; silent (nothing received, data earlier): {', '.join(r.silent_sources)}"
    coverage += "."
    dismissed = (
        f" {r.n_dismissed} dismissed violation{'s' if r.n_dismissed != 1 else ''} "
        "excluded from all counts."
        if r.n_dismissed
        else " Dismissed violations are excluded from all counts (none today)."
    )
    if t.today == 0:
        if r.records_today == 0:
            bullets.append(
                "No violations were recorded in the period, but no records were received "
                "from any source either: the absence of violations reflects an absence of "
                "data, not a quiet day." + dismissed
            )
        else:
            bullets.append("No violations were recorded in the period (a quiet day)." + dismissed)
    else:
        bullets.append(
            f"{t.today} violation{'s' if t.today != 1 else ''} in {r.n_incidents} "
            f"incident{'s' if r.n_incidents != 1 else ''} recorded in the period." + dismissed
        )
    if t.previous is None:
        bullets.append("Previous day: n/a (no data: no records were received on it).")
    else:
        bullets.append(
            f"Previous day: {t.previous} violations; change {_fmt_change(t.change_previous)}"
            f"{_pct(t.today, t.previous)}."
        )
    if t.mean7 is None:
        bullets.append("7-day mean: n/a (no data on any of the 7 days before).")
    else:
        days_note = (
            f" (over the {len(r.baseline_days)} of 7 days with data)"
            if len(r.baseline_days) < BASELINE_DAYS
            else ""
        )
        bullets.append(
            f"7-day mean of the 7 days before: {t.mean7:.1f} violations per day{days_note}; "
            f"change {_fmt_change(t.change_mean7, 1)}{_pct(t.today, t.mean7)}."
        )
    parts = []
    for kind, labels, rows in (
        ("zone", r.most_affected_zone, r.by_zone),
        ("sector", r.most_affected_sector, r.by_sector),
    ):
        if labels:
            n = next(x.today for x in rows if x.label == labels[0])
            each = " each" if len(labels) > 1 else ""
            parts.append(f"{kind} {', '.join(labels)} ({n} violations{each})")
    if parts:
        bullets.append("Most affected: " + "; ".join(parts) + ".")
    if t.today:
        sev = ", ".join(f"{_human(s)} {n}" for s, n in r.by_severity)
        bullets.append(f"Breach or worse: {r.n_breach_or_worse} (by severity: {sev}).")
    bullets.append(coverage)
    if r.n_quarantined:
        bullets.append(
            f"{r.n_quarantined} input records were quarantined in batches loaded during the "
            "period (see section 9)."
        )
    return replace(r, summary=tuple(bullets))


# --- rendering -------------------------------------------------------------------------------
def _filters(report: DailyReport) -> dict[str, Callable[..., str]]:
    tz = report.tz
    return {
        "count": _fmt_count,
        "mean": _fmt_mean,
        "change": _fmt_change,
        "km": _fmt_km,
        "local": lambda m, fmt="%d %b %Y %H:%M": _fmt_local(m, tz, fmt),
        "utc": _fmt_utc,
        "offset": lambda m: _utc_offset(m, tz),
        "evidence": _fmt_evidence,
        "human": _human,
        "md": _md_cell,
        "conf": lambda c: f"{c:.2f}",
        "lonlat": format_lonlat,
    }


def _environment(*, html: bool, report: DailyReport) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ceasewatch", "report/templates"),
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(_filters(report))
    return env


def _context(report: DailyReport) -> dict[str, Any]:
    return {
        "r": report,
        "side_note": SIDE_NOTE,
        "max_notable": MAX_NOTABLE,
        "baseline_n": len(report.baseline_days),
        "sections": [
            ("by_zone", "Violations by zone", report.by_zone, "zone"),
            ("by_sector", "Violations by sector", report.by_sector, "sector"),
            ("by_category", "Violations by category", report.by_category, "category"),
        ],
    }


def render_markdown(
    report: DailyReport, *, map_src: str = "map.png", chart_src: str = "chart.png"
) -> str:
    """The report as Markdown; figures referenced by the given relative paths."""
    env = _environment(html=False, report=report)
    return env.get_template("daily.md.j2").render(
        **_context(report), map_src=map_src, chart_src=chart_src
    )


def render_html(report: DailyReport, *, map_png: bytes, chart_png: bytes) -> str:
    """The report as one self-contained HTML page (figures embedded as data URIs)."""

    def uri(png: bytes) -> str:
        return "data:image/png;base64," + base64.b64encode(png).decode("ascii")

    env = _environment(html=True, report=report)
    return env.get_template("daily.html.j2").render(
        **_context(report), map_src=uri(map_png), chart_src=uri(chart_png)
    )


def render_map_png(report: DailyReport) -> bytes:
    """The report's situation map as PNG bytes."""
    g = report.geometry
    return charts.render_map(
        line=g.line,
        bands=g.bands,
        control=g.control,
        points=report.map_points,
        title=(
            f"Violations {_fmt_local(report.period_start, report.tz, '%d %b %H:%M')} – "
            f"{_fmt_local(report.period_end, report.tz, '%d %b %Y %H:%M')} "
            f"({report.timezone}), by severity"
        ),
    )


def render_chart_png(report: DailyReport) -> bytes:
    """The report's 30-day chart as PNG bytes."""
    return charts.render_chart(
        daily=report.daily_by_zone,
        zones=report.zones,
        report_day=report.day,
        no_data_days=report.no_data_days,
        title=f"Violations per report day, last {HISTORY_DAYS} days, by zone (dismissed excluded)",
    )


def write_daily_report(report: DailyReport, out_dir: Path) -> dict[str, Path]:
    """Write the report's Markdown, HTML, map and chart into ``out_dir``.

    Files are ``report.html`` (self-contained), ``report.md``, ``map.png`` and
    ``chart.png``; one folder per report. Returns the paths under the keys ``html``,
    ``md``, ``map`` and ``chart``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "html": out_dir / "report.html",
        "md": out_dir / "report.md",
        "map": out_dir / "map.png",
        "chart": out_dir / "chart.png",
    }
    map_png = render_map_png(report)
    chart_png = render_chart_png(report)
    paths["map"].write_bytes(map_png)
    paths["chart"].write_bytes(chart_png)
    paths["md"].write_text(
        render_markdown(report, map_src=paths["map"].name, chart_src=paths["chart"].name),
        encoding="utf-8",
    )
    paths["html"].write_text(
        render_html(report, map_png=map_png, chart_png=chart_png), encoding="utf-8"
    )
    return paths
