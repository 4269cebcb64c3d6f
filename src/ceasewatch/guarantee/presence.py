"""Military presence: which sectors of the line have a contingent, how far bases are from
the line, and violations per sector with and without a contingent present.

Pure functions over the ``contingents`` table and plain geometry (WGS84 lon/lat); distances
are computed in the project's metric CRS (Lambert conformal conic fitted to the area).

Comparing violation rates where a contingent is present with where it is not shows an
association, not an effect: contingents are placed where the guarantors choose, often
where the risk is highest or lowest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from ceasewatch.normalize.crs import metric_crs, to_metric


def _split(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [s.strip() for s in str(value).split(";") if s.strip()]


def active_on(frame: pd.DataFrame, on: date) -> pd.Series:
    """Rows whose ``start_date``..``end_date`` (inclusive; open when missing) covers ``on``."""
    if frame.empty:
        return pd.Series([], dtype=bool)
    start = pd.to_datetime(frame["start_date"])
    end = pd.to_datetime(frame["end_date"])
    t = pd.Timestamp(on)
    return (start.isna() | (start <= t)) & (end.isna() | (end >= t))


def contingent_sectors(contingents: pd.DataFrame) -> pd.DataFrame:
    """One row per contingent and assigned sector."""
    rows = []
    for r in contingents.to_dict("records"):
        for s in _split(r.get("sectors")):
            rows.append({**r, "sector": s})
    cols = [*contingents.columns, "sector"]
    return pd.DataFrame(rows, columns=cols)


def base_distance_km(
    lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray, line: BaseGeometry
) -> np.ndarray:
    """Distance (km) from each base to ``line`` (WGS84), in a metric CRS."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    out = np.full(x.shape, np.nan)
    ok = ~(np.isnan(x) | np.isnan(y))
    if not ok.any() or line.is_empty:
        return out
    b = line.bounds
    crs = metric_crs(
        min(b[0], x[ok].min()),
        min(b[1], y[ok].min()),
        max(b[2], x[ok].max()),
        max(b[3], y[ok].max()),
    )
    line_m = shapely.transform(line, lambda a, c: to_metric(a, c, crs), interleaved=False)
    px, py = to_metric(x[ok], y[ok], crs)
    out[ok] = shapely.distance(shapely.points(px, py), line_m) / 1000.0
    return out


def sector_coverage(
    contingents: pd.DataFrame,
    sectors: Sequence[str],
    *,
    on: date,
    line: BaseGeometry | None = None,
    sector_geometries: dict[str, BaseGeometry] | None = None,
) -> pd.DataFrame:
    """Per sector of the line on day ``on``: the active contingents assigned to it, their
    strength, nations and roles, and the distance from the nearest of their bases to the
    line (to the sector's stretch of it when ``sector_geometries`` are given).

    Sectors named by contingents but not in ``sectors`` are listed too (``known`` False),
    so a misspelt assignment shows up instead of disappearing.
    """
    act = contingents[active_on(contingents, on)] if not contingents.empty else contingents
    cs = contingent_sectors(act)
    names = list(dict.fromkeys([*sectors, *cs["sector"].tolist()]))
    rows = []
    for name in names:
        here = cs[cs["sector"] == name]
        dist = np.nan
        if line is not None and not here.empty:
            target = line
            if sector_geometries and name in sector_geometries:
                part = line.intersection(sector_geometries[name])
                target = part if not part.is_empty else line
            d = base_distance_km(
                here["base_lon"].astype(float), here["base_lat"].astype(float), target
            )
            dist = float(np.nanmin(d)) if np.isfinite(d).any() else np.nan
        rows.append(
            {
                "sector": name,
                "known": name in sectors,
                "covered": not here.empty,
                "n_contingents": len(here),
                "strength": int(pd.to_numeric(here["strength"], errors="coerce").fillna(0).sum()),
                "nations": ", ".join(sorted(set(here["guarantor_id"].astype(str)))),
                "roles": ", ".join(sorted(set(here["role"].astype(str)))),
                "contingents": ", ".join(here["contingent_id"].astype(str)),
                "nearest_base_km": dist,
            }
        )
    return pd.DataFrame(rows)


def presence_days(
    contingents: pd.DataFrame, sectors: Sequence[str], start: date, end: date
) -> pd.DataFrame:
    """Sector × day (``start``..``end`` inclusive): whether a contingent was assigned and
    active that day."""
    days = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D")
    grid = pd.MultiIndex.from_product([list(sectors), days], names=["sector", "day"])
    present = pd.Series(False, index=grid)
    cs = contingent_sectors(contingents)
    for r in cs.to_dict("records"):
        if r["sector"] not in sectors:
            continue
        s = pd.Timestamp(r["start_date"]) if r.get("start_date") else days[0]
        e = pd.Timestamp(r["end_date"]) if r.get("end_date") else days[-1]
        span = days[(days >= s) & (days <= e)]
        present.loc[[(r["sector"], d) for d in span]] = True
    return present.rename("present").reset_index()


def violations_by_presence(
    violations: pd.DataFrame,
    contingents: pd.DataFrame,
    sectors: Sequence[str],
    *,
    start: date,
    end: date,
    tz: str = "Europe/Kyiv",
) -> pd.DataFrame:
    """Per sector: violations per day on days with a contingent present vs without.

    ``violations`` needs ``sector`` and ``occurred_at`` (UTC); days are local days. An
    association, not an effect (see the module note).
    """
    grid = presence_days(contingents, sectors, start, end)
    if not violations.empty:
        v = violations[violations["sector"].isin(list(sectors))]
        vday = pd.to_datetime(v["occurred_at"], utc=True).dt.tz_convert(tz).dt.tz_localize(None)
        counts = (
            pd.DataFrame({"sector": v["sector"].to_numpy(), "day": vday.dt.normalize().to_numpy()})
            .groupby(["sector", "day"])
            .size()
            .rename("n")
        )
        grid = grid.merge(counts.reset_index(), on=["sector", "day"], how="left")
    else:
        grid["n"] = 0
    grid["n"] = grid["n"].fillna(0)
    rows = []
    for name, g in grid.groupby("sector", sort=False):
        w = g[g["present"]]
        wo = g[~g["present"]]
        rows.append(
            {
                "sector": name,
                "days_with": len(w),
                "violations_with": int(w["n"].sum()),
                "per_day_with": w["n"].mean() if len(w) else np.nan,
                "days_without": len(wo),
                "violations_without": int(wo["n"].sum()),
                "per_day_without": wo["n"].mean() if len(wo) else np.nan,
            }
        )
    return pd.DataFrame(rows)
