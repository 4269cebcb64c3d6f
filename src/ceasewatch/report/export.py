"""Exports of events, incidents and violations: CSV, GeoJSON, GeoPackage, GeoParquet.

Coordinates are written as the source gave them (never rounded); times as ISO 8601 UTC to
the source's own precision (FIRMS to the minute, ACLED to the day).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Final

import geopandas as gpd
import pandas as pd

from ceasewatch.errors import CeasewatchError
from ceasewatch.evaluate.coverage import coverage_table
from ceasewatch.evaluate.run import evaluate_as_of, load_agreements
from ceasewatch.normalize import schema
from ceasewatch.normalize.timeprec import PRECISION_ISO_FORMAT
from ceasewatch.store.base import Store
from ceasewatch.store.fires import fire_classes

FORMATS: Final = ("csv", "geojson", "gpkg", "parquet")

EVENT_EXPORT_COLUMNS: Final = (
    schema.EVENT_ID,
    schema.SOURCE,
    schema.SOURCE_EVENT_ID,
    schema.VERSION,
    schema.OCCURRED_AT,
    schema.TIME_PRECISION,
    schema.TIME_WINDOW_S,
    schema.LON,
    schema.LAT,
    schema.GEO_PRECISION_M,
    schema.CATEGORY,
    schema.WEAPON_CLASS,
    schema.COUNT,
    schema.FATALITIES,
    schema.RELIABILITY,
    schema.CREDIBILITY,
    schema.REPORT_GROUP,
    schema.INCIDENT_ID,
    schema.DISTANCE_TO_LINE_KM,
    schema.SIDE,
    schema.ZONE,
    schema.SECTOR,
    schema.AGREEMENT_VERSION,
    schema.WAR_PROBABILITY,
    schema.WAR_RELATED,
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


def events_table(store: Store, *, as_of: datetime | None = None) -> pd.DataFrame:
    """Events with their incident and zone evaluation (as known at ``as_of``)."""
    events = store.events(as_of=as_of)
    if as_of is None:
        ev = store.event_eval().drop(columns=["content_sha"])
        mem = store.incident_members()
    else:
        frames = evaluate_as_of(store, as_of)
        ev, mem = frames.event_zones, frames.members
    out = (
        events.merge(ev, on=schema.EVENT_ID, how="left")
        .merge(mem, on=schema.EVENT_ID, how="left")
        .merge(fire_classes(store), on=schema.EVENT_ID, how="left")
    )
    return out[[c for c in EVENT_EXPORT_COLUMNS if c in out.columns]]


def violations_table(
    store: Store, *, include_inactive: bool = False, as_of: datetime | None = None
) -> pd.DataFrame:
    """Violations with their evidence (as known at ``as_of``)."""
    v = (
        store.violations(include_inactive=include_inactive)
        if as_of is None
        else (evaluate_as_of(store, as_of).violations)
    )
    return v[[c for c in VIOLATION_EXPORT_COLUMNS if c in v.columns]]


def incidents_table(store: Store, *, as_of: datetime | None = None) -> pd.DataFrame:
    if as_of is None:
        return store.incidents()
    return evaluate_as_of(store, as_of).incidents.drop(columns=["updated_at"])


def coverage_from_store(store: Store, *, as_of: datetime | None = None) -> pd.DataFrame:
    """Records and observation hours per source, sector and report day (all days with
    data), with ``observed`` False for sector-days no source covered."""
    agreements = load_agreements(store, as_of=as_of)
    if not agreements:
        msg = "no agreement in the store: sectors and report days come from it"
        raise CeasewatchError(msg)
    agreement = agreements[max(agreements)]
    events = store.events(
        as_of=as_of,
        columns=[
            schema.EVENT_ID,
            schema.SOURCE,
            schema.OCCURRED_AT,
            schema.REPORT_GROUP,
            schema.TIME_WINDOW_S,
        ],
    )
    if as_of is None:
        zones = store.event_eval()[[schema.EVENT_ID, schema.SECTOR]]
    else:
        zones = evaluate_as_of(store, as_of).event_zones[[schema.EVENT_ID, schema.SECTOR]]
    events = events.merge(zones, on=schema.EVENT_ID, how="left")
    table = coverage_table(events, agreement, sectors=[s for s, _ in agreement.sectors])
    return table.assign(day=table["day"].astype(str))


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
    if schema.LON not in frame or schema.LAT not in frame:
        # a table without coordinates (coverage): no geometry, so CSV or Parquet only
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
            return path
        msg = f"format {fmt!r} needs coordinates; this table has none: use csv or parquet"
        raise CeasewatchError(msg)
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
