"""Exports of events, incidents and violations: CSV, GeoJSON, GeoPackage, GeoParquet.

Coordinates are written as the source gave them (never rounded); times as ISO 8601 UTC to
the source's own precision (FIRMS to the minute, ACLED to the day).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import geopandas as gpd
import pandas as pd

from ceasewatch.errors import CeasewatchError
from ceasewatch.normalize import schema
from ceasewatch.normalize.timeprec import PRECISION_ISO_FORMAT
from ceasewatch.store.base import Store

FORMATS: Final = ("csv", "geojson", "gpkg", "parquet")

EVENT_EXPORT_COLUMNS: Final = (
    schema.EVENT_ID,
    schema.SOURCE,
    schema.SOURCE_EVENT_ID,
    schema.VERSION,
    schema.OCCURRED_AT,
    schema.TIME_PRECISION,
    schema.LON,
    schema.LAT,
    schema.GEO_PRECISION_M,
    schema.CATEGORY,
    schema.WEAPON_CLASS,
    schema.COUNT,
    schema.FATALITIES,
    schema.RELIABILITY,
    schema.CREDIBILITY,
    schema.INCIDENT_ID,
    schema.DISTANCE_TO_LINE_KM,
    schema.SIDE,
    schema.ZONE,
    schema.SECTOR,
    schema.AGREEMENT_VERSION,
    schema.LOCATION_NAME,
    schema.ADMIN1,
    schema.ACTOR,
    schema.NOTES,
    schema.BATCH_ID,
    schema.LINE_NO,
    schema.RECORDED_AT,
)

VIOLATION_EXPORT_COLUMNS: Final = (
    schema.VIOLATION_ID,
    schema.RULE,
    "rules",
    schema.ZONE,
    schema.SECTOR,
    schema.SIDE,
    schema.OCCURRED_AT,
    schema.TIME_PRECISION,
    schema.LON,
    schema.LAT,
    schema.CONFIDENCE,
    schema.SEVERITY,
    schema.STATUS,
    schema.CATEGORY,
    schema.WEAPON_CLASS,
    schema.RESPONSIBILITY,
    "weapon_in_zone",
    schema.DISTANCE_TO_LINE_KM,
    schema.FATALITIES,
    "n_sources",
    "sources",
    schema.AGREEMENT_VERSION,
    schema.INCIDENT_ID,
    schema.EVIDENCE_EVENT_IDS,
    "matched_event_ids",
    schema.LOCATION_NAME,
)


def iso_to_precision(ts: pd.Series, precision: pd.Series) -> pd.Series:
    """ISO 8601 UTC text of each time, cut to its precision."""
    out = pd.Series("", index=ts.index, dtype=object)
    utc = ts.dt.tz_convert("UTC")
    for code, fmt in PRECISION_ISO_FORMAT.items():
        mask = (precision == code).to_numpy()
        if mask.any():
            out[mask] = utc[mask].dt.strftime(fmt)
    rest = out == ""
    if rest.any():
        out[rest] = utc[rest].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def events_table(store: Store) -> pd.DataFrame:
    """Current events with their incident and zone evaluation."""
    events = store.events()
    ev = store.event_eval().drop(columns=["content_sha"])
    mem = store.incident_members()
    out = events.merge(ev, on=schema.EVENT_ID, how="left").merge(
        mem, on=schema.EVENT_ID, how="left"
    )
    return out[[c for c in EVENT_EXPORT_COLUMNS if c in out.columns]]


def violations_table(store: Store, *, include_inactive: bool = False) -> pd.DataFrame:
    v = store.violations(include_inactive=include_inactive)
    return v[[c for c in VIOLATION_EXPORT_COLUMNS if c in v.columns]]


def incidents_table(store: Store) -> pd.DataFrame:
    return store.incidents()


def write_table(frame: pd.DataFrame, path: Path, fmt: str, *, layer: str) -> Path:
    """Write ``frame`` (with lon/lat columns) to ``path`` in ``fmt``."""
    if fmt not in FORMATS:
        msg = f"format {fmt!r} is not supported; choose one of {', '.join(FORMATS)}"
        raise CeasewatchError(msg)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = frame.copy()
    if schema.OCCURRED_AT in frame and schema.TIME_PRECISION in frame:
        frame[schema.OCCURRED_AT] = iso_to_precision(
            frame[schema.OCCURRED_AT], frame[schema.TIME_PRECISION]
        )
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            frame[col] = frame[col].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if fmt == "csv":
        frame.to_csv(path, index=False)
        return path
    gdf = gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame[schema.LON], frame[schema.LAT]), crs="EPSG:4326"
    )
    if fmt == "geojson":
        if path.exists():
            path.unlink()
        gdf.to_file(path, driver="GeoJSON", engine="pyogrio")
    elif fmt == "gpkg":
        gdf.to_file(path, driver="GPKG", layer=layer, engine="pyogrio")
    else:
        gdf.to_parquet(path, index=False)
    return path
