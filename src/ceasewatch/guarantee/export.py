"""Exports of the guarantee tables: CSV, GeoJSON, GeoPackage, (Geo)Parquet.

Tables with a place get a geometry: contingents their base (point), protected zones their
umbrella (a site's geodesic circle, or the declared polygon); the other tables are written
with empty geometry in the geographic formats, so every table exports in every format.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

import geopandas as gpd
import pandas as pd
import shapely

from ceasewatch.errors import CeasewatchError
from ceasewatch.guarantee.air_defense import geodesic_circle
from ceasewatch.store import guarantee as sg

if TYPE_CHECKING:
    from ceasewatch.store.open import AnyStore

FORMATS: Final = ("csv", "geojson", "gpkg", "parquet")

#: every exportable table
EXPORT_TABLES: Final = (
    "guarantors",
    "commitments",
    "guarantor_support",
    "contingents",
    "protected_zones",
    "meetings",
    "ledger_log",
    "aid_kiel",
    "heavy_weapons_kiel",
    "air_attacks",
    "air_alerts",
    "losses_mod",
    "losses_oryx",
)


def _geometry(table: str, frame: pd.DataFrame) -> gpd.GeoSeries:
    if frame.empty:
        return gpd.GeoSeries([], crs="EPSG:4326")
    if table == "contingents":
        lon = pd.to_numeric(frame["base_lon"], errors="coerce")
        lat = pd.to_numeric(frame["base_lat"], errors="coerce")
        geoms = [
            None if pd.isna(x) or pd.isna(y) else shapely.Point(x, y)
            for x, y in zip(lon, lat, strict=True)
        ]
        return gpd.GeoSeries(geoms, index=frame.index, crs="EPSG:4326")
    if table == "protected_zones":
        geoms = []
        for r in frame.to_dict("records"):
            if r.get("kind") == "site":
                geoms.append(
                    geodesic_circle(float(r["lon"]), float(r["lat"]), float(r["radius_km"]))
                )
            else:
                geoms.append(shapely.from_wkt(r["geometry_wkt"]) if r.get("geometry_wkt") else None)
        return gpd.GeoSeries(geoms, index=frame.index, crs="EPSG:4326")
    return gpd.GeoSeries([None] * len(frame), index=frame.index, crs="EPSG:4326")


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
        elif out[col].dtype == object:
            sample = out[col].dropna()
            if not sample.empty and hasattr(sample.iloc[0], "isoformat"):
                out[col] = out[col].map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v)
    return out


def write_guarantee_table(frame: pd.DataFrame, path: Path, fmt: str, *, table: str) -> Path:
    """Write one guarantee table to ``path`` in ``fmt`` (csv | geojson | gpkg | parquet)."""
    if fmt not in FORMATS:
        msg = f"format {fmt!r} is not supported; choose one of {', '.join(FORMATS)}"
        raise CeasewatchError(msg)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = _plain(frame)
    if fmt == "csv":
        plain.to_csv(path, index=False)
        return path
    gdf = gpd.GeoDataFrame(plain, geometry=_geometry(table, frame), crs="EPSG:4326")
    if fmt == "parquet":
        gdf.to_parquet(path, index=False)
    elif fmt == "geojson":
        if path.exists():
            path.unlink()
        gdf.to_file(path, driver="GeoJSON", engine="pyogrio")
    else:
        gdf.to_file(path, driver="GPKG", layer=table, engine="pyogrio")
    return path


def export_table(store: AnyStore, table: str, path: Path, fmt: str) -> tuple[Path, int]:
    """Export a guarantee table from the store; returns (path, rows written)."""
    if table not in EXPORT_TABLES:
        msg = f"table {table!r} is not exportable; choose one of {', '.join(EXPORT_TABLES)}"
        raise CeasewatchError(msg)
    frame = sg.export_frame(store, table)
    if "raw" in frame.columns and fmt in ("geojson", "gpkg"):
        # the raw source record stays in CSV and Parquet; map formats stay light
        frame = frame.drop(columns=["raw"])
    return write_guarantee_table(frame, path, fmt, table=table), len(frame)
