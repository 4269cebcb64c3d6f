"""Distance to the line of contact, side of the line, zone band and sector, vectorized.

Pure functions over arrays: no I/O, no Python loop per event.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from ceasewatch.agreement.geometry import ZoneModel
from ceasewatch.normalize import schema
from ceasewatch.normalize.crs import to_metric


def distance_to_line_m(
    lon: npt.ArrayLike, lat: npt.ArrayLike, model: ZoneModel
) -> npt.NDArray[np.float64]:
    """Distance in metres from each point to the line of contact (metric CRS)."""
    x, y = to_metric(lon, lat, model.crs)
    if len(x) == 0:
        return np.empty(0)
    pts = shapely.points(x, y)
    idx, dist = model.segment_tree.query_nearest(pts, return_distance=True, all_matches=False)
    out = np.full(len(x), np.nan)
    # to the millimetre: a point placed exactly on a band's edge must not fall out of the
    # band through floating-point noise of the projection (~1e-9 m)
    out[idx[0]] = np.round(dist, 3)
    return out


def zone_of_distance(distance_km: npt.ArrayLike, model: ZoneModel) -> npt.NDArray[np.object_]:
    """Id of the narrowest band containing each distance (bounds inclusive), or 'outside'."""
    d = np.asarray(distance_km, dtype=float)
    widths = model.widths_km
    ids = np.array([*model.zone_ids, schema.ZONE_OUTSIDE], dtype=object)
    pos = np.searchsorted(widths, d, side="left")
    pos = np.where(np.isnan(d), len(widths), pos)
    return ids[pos]


def _label_by_polygons(
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    polygons: tuple[tuple[str, object], ...],
    default: str,
) -> npt.NDArray[np.object_]:
    out = np.full(len(lon), default, dtype=object)
    # first polygon listed wins where polygons overlap: fill from last to first
    for label, geom in reversed(polygons):
        inside = shapely.contains_xy(geom, lon, lat)
        out[inside] = label
    return out


def side_of(lon: npt.ArrayLike, lat: npt.ArrayLike, model: ZoneModel) -> npt.NDArray[np.object_]:
    """Party whose control polygon contains each point; 'unknown' where none does;
    'outside' beyond the country boundary when the agreement gives one."""
    lo = np.asarray(lon, dtype=float)
    la = np.asarray(lat, dtype=float)
    a = model.agreement
    out = _label_by_polygons(lo, la, a.control, schema.SIDE_UNKNOWN)
    if a.boundary is not None:
        out[~shapely.contains_xy(a.boundary, lo, la)] = schema.SIDE_OUTSIDE
    return out


def sector_of(lon: npt.ArrayLike, lat: npt.ArrayLike, model: ZoneModel) -> npt.NDArray[np.object_]:
    """Reporting sector containing each point, or null where the agreement has none."""
    lo = np.asarray(lon, dtype=float)
    la = np.asarray(lat, dtype=float)
    if not model.agreement.sectors:
        return np.full(len(lo), None, dtype=object)
    out = _label_by_polygons(lo, la, model.agreement.sectors, "")
    out[out == ""] = None
    return out


def evaluate_zones(lon: npt.ArrayLike, lat: npt.ArrayLike, model: ZoneModel) -> pd.DataFrame:
    """Distance (km), side, zone and sector of each point, in input order."""
    model.prepared()
    d_km = distance_to_line_m(lon, lat, model) / 1_000.0
    return pd.DataFrame(
        {
            schema.DISTANCE_TO_LINE_KM: d_km,
            schema.SIDE: side_of(lon, lat, model),
            schema.ZONE: zone_of_distance(d_km, model),
            schema.SECTOR: sector_of(lon, lat, model),
        }
    )
