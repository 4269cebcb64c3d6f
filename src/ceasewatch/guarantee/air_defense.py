"""Air defense: interception rates with uncertainty, launch trends, collapse alerts,
alert-hours, and protected zones (population covered, incidents inside).

Pure functions over frames (see :mod:`ceasewatch.guarantee.importers` for the columns).

The interception counts are one party's claims (the Ukrainian Air Force), which cannot be
independently verified; the intervals below express sampling noise under those claims,
not doubt about the claims themselves. Interceptions within one salvo are not independent
trials, so the binomial (Wilson) interval is widened by a design effect: the class's
over-dispersion of per-record rates (quasi-binomial φ ≥ 1), i.e. the interval is computed
for an effective number of launches n/φ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import Geod
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

KYIV_TZ: Final = "Europe/Kyiv"
_GEOD: Final = Geod(ellps="WGS84")

# --- interception rates ---------------------------------------------------------------


def wilson_interval(
    k: npt.ArrayLike, n: npt.ArrayLike, *, z: float = 1.96
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Wilson score interval of a proportion k/n (arrays; NaN where n == 0)."""
    k_a = np.asarray(k, dtype=float)
    n_a = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k_a / n_a
        denom = 1 + z**2 / n_a
        centre = (p + z**2 / (2 * n_a)) / denom
        half = z * np.sqrt(p * (1 - p) / n_a + z**2 / (4 * n_a**2)) / denom
    lo = np.where(n_a > 0, np.clip(centre - half, 0, 1), np.nan)
    hi = np.where(n_a > 0, np.clip(centre + half, 0, 1), np.nan)
    return lo, hi


def _rated(attacks: pd.DataFrame) -> pd.DataFrame:
    """Records usable for a rate: destroyed reported and something launched."""
    a = attacks[attacks["destroyed"].notna() & (attacks["launched"] > 0)].copy()
    a["destroyed"] = a["destroyed"].astype(float)
    a["launched"] = a["launched"].astype(float)
    return a


def dispersion_by_class(attacks: pd.DataFrame) -> pd.Series:
    """Quasi-binomial over-dispersion φ of per-record interception rates, per class
    (≥ 1; 1 when there are too few records or no variation)."""
    a = _rated(attacks)
    if a.empty:
        return pd.Series(dtype=float)
    pooled = a.groupby("weapon_class")["destroyed"].transform("sum") / a.groupby("weapon_class")[
        "launched"
    ].transform("sum")
    var = a["launched"] * pooled * (1 - pooled)
    chi = ((a["destroyed"] - a["launched"] * pooled) ** 2 / var).where(var > 0)
    g = pd.DataFrame({"c": a["weapon_class"], "chi": chi}).groupby("c")["chi"]
    phi = g.sum() / (g.count() - 1).clip(lower=1)
    return phi.where(g.count() > 2, 1.0).clip(lower=1.0).fillna(1.0)


def week_start(day: pd.Series) -> pd.Series:
    """Monday of the ISO week of each (naive, local) day."""
    d = pd.to_datetime(day).dt.normalize()
    return d - pd.to_timedelta(d.dt.day_of_week, unit="D")


def interception_weekly(
    attacks: pd.DataFrame, *, z: float = 1.96, design_effect: bool = True
) -> pd.DataFrame:
    """Per weapon class and week (Monday, Kyiv local day of ``time_start``): launched,
    destroyed, the claimed interception rate and its interval (``lo``, ``hi``)."""
    cols = [
        "weapon_class",
        "week",
        "n_records",
        "launched",
        "destroyed",
        "rate",
        "lo",
        "hi",
        "n_eff",
    ]
    a = _rated(attacks)
    if a.empty:
        return pd.DataFrame(columns=cols)
    a["week"] = week_start(a["day"])
    g = (
        a.groupby(["weapon_class", "week"])
        .agg(
            n_records=("launched", "size"),
            launched=("launched", "sum"),
            destroyed=("destroyed", "sum"),
        )
        .reset_index()
    )
    phi = dispersion_by_class(attacks) if design_effect else pd.Series(dtype=float)
    g["n_eff"] = g["launched"] / g["weapon_class"].map(phi).fillna(1.0)
    g["rate"] = g["destroyed"] / g["launched"]
    lo, hi = wilson_interval(g["rate"] * g["n_eff"], g["n_eff"], z=z)
    g["lo"], g["hi"] = lo, hi
    return g[cols]


def totals_by_period(attacks: pd.DataFrame, *, freq: str = "M") -> pd.DataFrame:
    """Launched and destroyed per class and period (``M`` month, ``W`` week) of the local
    day; ``destroyed`` sums only the records that report it."""
    if attacks.empty:
        return pd.DataFrame(columns=["weapon_class", "period", "launched", "destroyed"])
    a = attacks.copy()
    day = pd.to_datetime(a["day"])
    a["period"] = week_start(day) if freq == "W" else day.dt.to_period(freq).dt.to_timestamp()
    a["destroyed"] = a["destroyed"].astype("Float64")
    g = a.groupby(["weapon_class", "period"]).agg(
        launched=("launched", "sum"), destroyed=("destroyed", "sum"), n_records=("launched", "size")
    )
    return g.reset_index()


def collapse_alerts(
    weekly: pd.DataFrame,
    *,
    trailing_weeks: int = 8,
    margin: float = 0.10,
    min_launched: float = 20,
    z: float = 1.96,
) -> pd.DataFrame:
    """Weeks whose interception rate fell below the trailing rate's lower bound by more
    than ``margin``, per class.

    The trailing rate pools the ``trailing_weeks`` weeks before (at least
    ``min_launched`` launched in them, and in the week itself); its lower bound uses the
    same effective sample size as the weekly rates. A row is an alert.
    """
    cols = [
        "weapon_class",
        "week",
        "launched",
        "rate",
        "hi",
        "trailing_rate",
        "trailing_lo",
        "drop",
    ]
    if weekly.empty:
        return pd.DataFrame(columns=cols)
    out = []
    for cls, w in weekly.sort_values("week").groupby("weapon_class"):
        w = w.set_index("week").asfreq("7D") if len(w) > 1 else w.set_index("week")
        w = w.assign(weapon_class=cls).fillna({"launched": 0, "destroyed": 0, "n_eff": 0})
        roll = w[["launched", "destroyed", "n_eff"]].rolling(trailing_weeks, min_periods=1).sum()
        prev = roll.shift(1)
        t_rate = prev["destroyed"] / prev["launched"]
        t_lo, _ = wilson_interval(t_rate * prev["n_eff"], prev["n_eff"], z=z)
        cand = pd.DataFrame(
            {
                "weapon_class": cls,
                "launched": w["launched"],
                "rate": w["rate"],
                "hi": w["hi"],
                "trailing_rate": t_rate,
                "trailing_lo": t_lo,
                "trailing_launched": prev["launched"],
            },
            index=w.index,
        )
        cand["drop"] = cand["trailing_rate"] - cand["rate"]
        hit = (
            (cand["launched"] >= min_launched)
            & (cand["trailing_launched"] >= min_launched)
            & (cand["rate"] < cand["trailing_lo"] - margin)
        )
        out.append(cand[hit.fillna(False)].reset_index(names="week"))
    if not out:
        return pd.DataFrame(columns=cols)
    res = pd.concat(out, ignore_index=True)
    return res[cols].sort_values(["week", "weapon_class"]).reset_index(drop=True)


# --- air-raid alerts --------------------------------------------------------------------


def alert_hours(
    alerts: pd.DataFrame,
    *,
    tz: str = KYIV_TZ,
    levels: Sequence[str] = ("oblast",),
) -> pd.DataFrame:
    """Hours under alert per oblast and local day.

    Alerts of the given ``levels`` are merged per oblast first (overlapping or touching
    alerts count once), then split at local midnight (days of 23 or 25 hours included).
    ``levels=("oblast",)`` is the whole-oblast alert time; adding ``raion``/``hromada`` gives
    the hours during which some part of the oblast was under alert. ``n_alerts`` counts the
    alerts that started that local day.
    """
    cols = ["oblast", "day", "alert_hours", "n_alerts"]
    a = alerts[alerts["level"].isin(list(levels))]
    if a.empty:
        return pd.DataFrame(columns=cols)
    a = a.sort_values(["oblast", "started_at"])
    # union of intervals per oblast: a new block starts where the start passes the
    # running maximum of the previous ends
    run_end = a.groupby("oblast")["finished_at"].transform(lambda s: s.cummax().shift())
    new_block = run_end.isna() | (a["started_at"] > run_end)
    block = new_block.cumsum()
    merged = a.groupby(block).agg(
        oblast=("oblast", "first"), start=("started_at", "min"), end=("finished_at", "max")
    )
    ls = merged["start"].dt.tz_convert(tz)
    le = merged["end"].dt.tz_convert(tz)
    first_day = ls.dt.tz_localize(None).dt.normalize()
    last_day = (le - pd.Timedelta(microseconds=1)).dt.tz_localize(None).dt.normalize()
    n_days = ((last_day - first_day).dt.days + 1).clip(lower=1)
    rep = merged.loc[merged.index.repeat(n_days)].copy()
    offs = rep.groupby(level=0).cumcount().to_numpy()
    rep["day"] = first_day.loc[rep.index].to_numpy() + pd.to_timedelta(offs, unit="D")
    day_start = rep["day"].dt.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    day_end = (rep["day"] + pd.Timedelta(days=1)).dt.tz_localize(
        tz, ambiguous=True, nonexistent="shift_forward"
    )
    rs = rep["start"].dt.tz_convert(tz)
    re_ = rep["end"].dt.tz_convert(tz)
    s = rs.where(rs > day_start, day_start)
    e = re_.where(re_ < day_end, day_end)
    rep["alert_hours"] = (e - s).dt.total_seconds().clip(lower=0) / 3600.0
    hours = rep.groupby(["oblast", "day"])["alert_hours"].sum()
    starts = (
        a.assign(day=a["started_at"].dt.tz_convert(tz).dt.tz_localize(None).dt.normalize())
        .groupby(["oblast", "day"])
        .size()
        .rename("n_alerts")
    )
    out = pd.concat([hours, starts], axis=1).fillna({"alert_hours": 0.0, "n_alerts": 0})
    out["n_alerts"] = out["n_alerts"].astype("int64")
    return out.reset_index()[cols]


# --- protected zones ----------------------------------------------------------------


@dataclass(frozen=True)
class Zone:
    """A protected zone in WGS84: a site with a radius, or a polygon."""

    zone_id: str
    name: str
    geometry: BaseGeometry
    lon: float | None = None
    lat: float | None = None
    radius_km: float | None = None


def geodesic_circle(lon: float, lat: float, radius_km: float, *, n: int = 96) -> Polygon:
    """A circle of ``radius_km`` (on the ellipsoid) around a site, as a lon/lat polygon."""
    az = np.linspace(0, 360, n, endpoint=False)
    x, y, _ = _GEOD.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, radius_km * 1000.0))
    return Polygon(zip(x, y, strict=True))


def zones_from_frame(zones: pd.DataFrame) -> list[Zone]:
    """:class:`Zone` objects of the ``protected_zones`` table."""
    out = []
    for r in zones.to_dict("records"):
        if r.get("kind") == "site":
            geom = geodesic_circle(float(r["lon"]), float(r["lat"]), float(r["radius_km"]))
            out.append(
                Zone(
                    str(r["zone_id"]),
                    str(r["name"]),
                    geom,
                    float(r["lon"]),
                    float(r["lat"]),
                    float(r["radius_km"]),
                )
            )
        else:
            out.append(Zone(str(r["zone_id"]), str(r["name"]), shapely.from_wkt(r["geometry_wkt"])))
    return out


def inside_zone(lon: npt.ArrayLike, lat: npt.ArrayLike, zone: Zone) -> npt.NDArray[np.bool_]:
    """Which points lie in ``zone``: a site by geodesic distance ≤ radius (inclusive), a
    polygon by containment (boundary included)."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    if zone.radius_km is not None and zone.lon is not None and zone.lat is not None:
        _, _, dist = _GEOD.inv(np.full(x.shape, zone.lon), np.full(y.shape, zone.lat), x, y)
        return np.asarray(dist, dtype=float) <= zone.radius_km * 1000.0
    return np.asarray(shapely.intersects_xy(zone.geometry, x, y), dtype=bool)


def zone_membership(lon: npt.ArrayLike, lat: npt.ArrayLike, zones: Sequence[Zone]) -> pd.Series:
    """For each point, the ids of the zones containing it (';'-joined), or ``None``."""
    x = np.asarray(lon, dtype=float)
    hits: list[list[str]] = [[] for _ in range(len(x))]
    for z in zones:
        for i in np.flatnonzero(inside_zone(lon, lat, z)):
            hits[i].append(z.zone_id)
    return pd.Series([";".join(h) if h else None for h in hits], dtype=object)


def population_in_zones(
    places: pd.DataFrame, zones: Sequence[Zone]
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Population of populated places inside each zone and inside any zone.

    Returns a frame per zone (``zone_id``, ``name``, ``n_places``, ``population``,
    ``share``) and the totals (``population_total``, ``population_covered``, ``share``,
    ``n_places``, ``n_places_covered``). Places are points; a town counts whole when its
    point is inside (GeoNames gives towns above 15,000 people, so villages are missing).
    """
    total = float(places["population"].sum())
    rows = []
    any_in = np.zeros(len(places), dtype=bool)
    for z in zones:
        m = inside_zone(places["lon"], places["lat"], z)
        any_in |= m
        pop = float(places.loc[m, "population"].sum())
        rows.append(
            {
                "zone_id": z.zone_id,
                "name": z.name,
                "n_places": int(m.sum()),
                "population": pop,
                "share": pop / total if total > 0 else np.nan,
            }
        )
    covered = float(places.loc[any_in, "population"].sum())
    summary = {
        "population_total": total,
        "population_covered": covered,
        "share": covered / total if total > 0 else float("nan"),
        "n_places": float(len(places)),
        "n_places_covered": float(any_in.sum()),
    }
    frame = pd.DataFrame(rows, columns=["zone_id", "name", "n_places", "population", "share"])
    return frame, summary


#: event categories that are air incidents
AIR_CATEGORIES: Final = ("missile_strike", "drone_strike", "air_strike")


def air_incidents_in_zones(events: pd.DataFrame, zones: Sequence[Zone]) -> pd.DataFrame:
    """Air incidents (missile, drone, air strikes) with the protected zones they fell in;
    ``in_protected_zone`` flags them."""
    air = events[events["category"].isin(AIR_CATEGORIES)].copy()
    if air.empty:
        return air.assign(zone_ids=pd.Series(dtype=object), in_protected_zone=pd.Series(dtype=bool))
    air["zone_ids"] = zone_membership(air["lon"], air["lat"], zones).to_numpy()
    air["in_protected_zone"] = air["zone_ids"].notna()
    return air
