"""Monitors' field reports: observations from a position, OSCE SMM style.

The layout is documented in ``docs/field-reports.md``. JSON (a list of observations or
``{"observations": [...]}``), JSON Lines (one observation per line; streamed) and CSV with
the same field names are read. The estimated location of what was observed is derived
from the observer's position, the bearing and the distance band, on the WGS84 ellipsoid.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from pyproj import Geod

from ceasewatch.errors import IngestError, SourceFormatError
from ceasewatch.ingest.base import (
    EventSource,
    RowChecks,
    iter_json_lines,
    register_source,
    rows_to_json,
    to_float,
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


def _records_frame(records: list[object], line_nos: list[int]) -> tuple[pd.DataFrame, list[BadRow]]:
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    bad: list[BadRow] = []
    for rec, line in zip(records, line_nos, strict=True):
        if not isinstance(rec, dict):
            bad.append(BadRow(line, "observation is not a JSON object", json.dumps(rec)[:2000]))
            continue
        row = {k: _as_text(rec.get(k)) for k in FIELDS}
        extra = {k: v for k, v in rec.items() if k not in FIELDS}
        if extra:
            row["_extra"] = json.dumps(extra, ensure_ascii=False, default=str)
        rows.append(row)
        lines.append(line)
    frame = pd.DataFrame(rows, columns=[*FIELDS, "_extra"], dtype=object).fillna("")
    frame[schema.LINE_NO] = np.asarray(lines, dtype=np.int64)
    return frame, bad


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
        raw_json = rows_to_json(raw[cols])
        checks = RowChecks(raw.index)
        txt = {c: raw[c].astype(str).str.strip() for c in FIELDS}

        for col in ("report_id", "observation_id", "observer_id"):
            checks.flag(txt[col] == "", f"{col} is missing")
        olon = to_float(txt["observer_lon"])
        olat = to_float(txt["observer_lat"])
        checks.flag(
            olat.isna() | (olat.abs() > 90),
            "observer_lat '" + txt["observer_lat"] + "' is not a number in [-90, 90]",
        )
        checks.flag(
            olon.isna() | (olon.abs() > 180),
            "observer_lon '" + txt["observer_lon"] + "' is not a number in [-180, 180]",
        )

        start = pd.to_datetime(txt["window_start"], errors="coerce", utc=True, format="ISO8601")
        end_given = txt["window_end"] != ""
        end = pd.to_datetime(
            txt["window_end"].where(end_given, txt["window_start"]),
            errors="coerce",
            utc=True,
            format="ISO8601",
        )
        # a time without offset would silently be taken as UTC: refused (docs)
        offset = r"[T ]\d{2}.*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
        checks.flag(
            start.isna() | ~txt["window_start"].str.contains(offset),
            "window_start '" + txt["window_start"] + "' is not an ISO 8601 time with offset",
        )
        checks.flag(
            end.isna() | (end_given & ~txt["window_end"].str.contains(offset)),
            "window_end '" + txt["window_end"] + "' is not an ISO 8601 time with offset",
        )
        window_s = (end - start).dt.total_seconds()
        checks.flag(window_s < 0, "window_end is before window_start")
        checks.flag(window_s > MAX_WINDOW_S, "window longer than 24 h")

        kind = txt["kind"].str.lower()
        category = kind.map(vocab.FIELD_REPORT_KINDS)
        checks.flag(
            category.isna(),
            "kind '" + txt["kind"] + "' is not one of " + ", ".join(vocab.FIELD_REPORT_KINDS),
        )
        count = to_float(txt["count"])
        checks.flag(
            count.isna() | (count < 1) | (count != np.floor(count)),
            "count '" + txt["count"] + "' is not a whole number ≥ 1",
        )

        bearing = to_float(txt["bearing_deg"])
        checks.flag(
            (txt["bearing_deg"] != "") & (bearing.isna() | (bearing < 0) | (bearing > 360)),
            "bearing_deg '" + txt["bearing_deg"] + "' is not in 0-360",
        )
        dmin = to_float(txt["distance_min_km"])
        dmax = to_float(txt["distance_max_km"])
        checks.flag(
            (txt["distance_min_km"] != "") & (dmin.isna() | (dmin < 0)),
            "distance_min_km '" + txt["distance_min_km"] + "' is not a number ≥ 0",
        )
        checks.flag(
            (txt["distance_max_km"] != "") & (dmax.isna() | (dmax < 0)),
            "distance_max_km '" + txt["distance_max_km"] + "' is not a number ≥ 0",
        )
        checks.flag(dmax < dmin, "distance_max_km is less than distance_min_km")
        checks.flag(dmax > 60, "distance_max_km over 60 km is beyond what a monitor can observe")

        weapon = txt["weapon_class"].str.lower()
        checks.flag(
            (weapon != "") & ~weapon.isin(schema.WEAPON_CLASSES),
            "weapon_class '"
            + txt["weapon_class"]
            + "' is not one of "
            + ", ".join(schema.WEAPON_CLASSES),
        )
        assessment = txt["assessment"].str.lower().replace("", "undetermined")
        checks.flag(
            ~assessment.isin(vocab.ASSESSMENTS),
            "assessment '" + txt["assessment"] + "' is not one of " + ", ".join(vocab.ASSESSMENTS),
        )
        rel = txt["reliability"].str.upper().replace("", vocab.DEFAULT_GRADES["field_report"][0])
        checks.flag(
            ~rel.isin(schema.RELIABILITY_GRADES),
            "reliability '" + txt["reliability"] + "' is not A-F",
        )
        cred = to_float(
            txt["credibility"].replace("", str(vocab.DEFAULT_GRADES["field_report"][1]))
        )
        checks.flag(
            ~cred.isin([1, 2, 3, 4, 5, 6]), "credibility '" + txt["credibility"] + "' is not 1-6"
        )

        ok = checks.ok.to_numpy()
        sighting = (kind == "heavy_weapon_sighting").to_numpy()
        lon, lat, radius = impact_points(
            olon.fillna(0).to_numpy(dtype=float),
            olat.fillna(0).to_numpy(dtype=float),
            bearing.to_numpy(dtype=float),
            dmin.to_numpy(dtype=float),
            dmax.to_numpy(dtype=float),
            sighting=sighting,
        )
        shelling = (kind == "explosion") & weapon.isin(vocab.SHELLING_WEAPONS)
        category = category.where(~shelling, "shelling")
        missile = (kind == "explosion") & weapon.isin(vocab.MISSILE_WEAPONS)
        category = category.where(~missile, "missile_strike")
        notes = (
            kind
            + " ×"
            + count.fillna(0).astype("int64").astype(str)
            + ", "
            + assessment
            + np.where(txt["notes"] != "", "; " + txt["notes"], "")
        )
        events = pd.DataFrame(
            {
                schema.SOURCE: self.name,
                schema.SOURCE_EVENT_ID: txt["report_id"] + "/" + txt["observation_id"],
                schema.OCCURRED_AT: start.astype("datetime64[us, UTC]"),
                schema.TIME_PRECISION: "minute",
                schema.TIME_WINDOW_S: window_s.fillna(0.0),
                schema.LON: lon,
                schema.LAT: lat,
                schema.GEO_PRECISION_M: radius,
                schema.CATEGORY: category,
                schema.WEAPON_CLASS: weapon.where(weapon != "", pd.NA),
                schema.ACTOR: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.ATTRIBUTED_TO: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.FATALITIES: np.nan,
                schema.COUNT: count.fillna(1).astype("int64"),
                schema.RELIABILITY: rel,
                schema.CREDIBILITY: cred.fillna(6),
                # observations of one report are distinct: never merged with each other
                schema.REPORT_GROUP: "field_report:" + txt["report_id"],
                schema.LOCATION_NAME: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.ADMIN1: pd.Series(pd.NA, index=raw.index, dtype="object"),
                schema.NOTES: notes,
                schema.RAW: raw_json,
                schema.LINE_NO: raw[schema.LINE_NO],
            }
        )[ok]
        return events, checks.quarantine(raw_json, raw[schema.LINE_NO])
