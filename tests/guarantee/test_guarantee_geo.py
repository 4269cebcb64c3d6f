"""Protected zones (population covered, incidents inside) and contingents' coverage."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file
from pyproj import Geod
from shapely.geometry import LineString, Polygon, box

from ceasewatch.guarantee import air_defense as ad
from ceasewatch.guarantee import presence
from ceasewatch.guarantee.importers import places_from_geonames

GEOD = Geod(ellps="WGS84")


def _at(lon: float, lat: float, az: float, km: float) -> tuple[float, float]:
    x, y, _ = GEOD.fwd(lon, lat, az, km * 1000)
    return float(x), float(y)


def test_population_share_tiny_case() -> None:
    site = (30.0, 50.0)
    pts = [
        _at(*site, 0, 0.0),  # the centre
        _at(*site, 90, 9.9),  # just inside 10 km
        _at(*site, 180, 10.1),  # just outside
        _at(*site, 270, 30.0),  # inside the polygon zone only
    ]
    places = pd.DataFrame(
        {"lon": [p[0] for p in pts], "lat": [p[1] for p in pts], "population": [100, 20, 5, 50]}
    )
    x, y = pts[3]
    zones = [
        ad.Zone("S", "site", ad.geodesic_circle(*site, 10.0), site[0], site[1], 10.0),
        ad.Zone("P", "poly", box(x - 0.01, y - 0.01, x + 0.01, y + 0.01)),
    ]
    per, tot = ad.population_in_zones(places, zones)
    per = per.set_index("zone_id")
    assert per.loc["S", "population"] == 120 and per.loc["S", "n_places"] == 2
    assert per.loc["P", "population"] == 50
    assert tot["population_covered"] == 170 and tot["share"] == pytest.approx(170 / 175)
    members = ad.zone_membership(places["lon"], places["lat"], zones)
    assert list(members) == ["S", "S", None, "P"]
    # the polygon drawn for the map is within 0.5 % of the radius
    ring = np.asarray(zones[0].geometry.exterior.coords)
    _, _, d = GEOD.inv(
        np.full(len(ring), site[0]), np.full(len(ring), site[1]), ring[:, 0], ring[:, 1]
    )
    assert np.allclose(d, 10_000, rtol=1e-6)


def test_population_share_geonames_kyiv() -> None:
    places = places_from_geonames(shared_file("populated_places", "cities15000.zip"))
    assert len(places) == 256 and places["population"].sum() == 26_266_326
    kyiv = (30.5234, 50.4501)
    zone = ad.Zone("K", "Kyiv", ad.geodesic_circle(*kyiv, 40.0), *kyiv, 40.0)
    _per, tot = ad.population_in_zones(places, [zone])
    # independently: haversine on a sphere of 6371 km (within 0.5 % of the ellipsoid)
    lon, lat = np.radians(places["lon"]), np.radians(places["lat"])
    lon0, lat0 = np.radians(kyiv[0]), np.radians(kyiv[1])
    h = np.sin((lat - lat0) / 2) ** 2 + np.cos(lat) * np.cos(lat0) * np.sin((lon - lon0) / 2) ** 2
    km = 2 * 6371.0 * np.arcsin(np.sqrt(h))
    inside = places[km <= 40.0]
    assert set(inside["name"]) == {
        "Kyiv",
        "Brovary",
        "Boryspil’",
        "Bucha",
        "Irpin",
        "Vasylkiv",
        "Boyarka",
        "Vyshneve",
        "Obukhiv",
        "Vyshhorod",
    }
    assert tot["population_covered"] == inside["population"].sum() == 3_185_278
    assert tot["share"] == pytest.approx(3_185_278 / 26_266_326)


def test_air_incidents_in_zones() -> None:
    zone = ad.Zone("K", "Kyiv", ad.geodesic_circle(30.52, 50.45, 20.0), 30.52, 50.45, 20.0)
    events = pd.DataFrame(
        {
            "event_id": ["a", "b", "c"],
            "category": ["missile_strike", "drone_strike", "shelling"],
            "lon": [30.53, 32.0, 30.52],
            "lat": [50.46, 49.0, 50.45],
        }
    )
    inc = ad.air_incidents_in_zones(events, [zone]).set_index("event_id")
    assert list(inc.index) == ["a", "b"]  # shelling is not an air incident
    assert inc.loc["a", "in_protected_zone"] and not inc.loc["b", "in_protected_zone"]


def _contingents() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "contingent_id": "A",
                "guarantor_id": "UK",
                "role": "deterrence",
                "strength": 1000,
                "base_lon": 35.0,
                "base_lat": 48.0,
                "sectors": "North;South",
                "start_date": date(2025, 1, 10),
                "end_date": None,
            },
            {
                "contingent_id": "B",
                "guarantor_id": "FR",
                "role": "training",
                "strength": 300,
                "base_lon": 34.0,
                "base_lat": 48.0,
                "sectors": "South",
                "start_date": date(2025, 1, 1),
                "end_date": date(2025, 1, 5),
            },
            {
                "contingent_id": "C",
                "guarantor_id": "PL",
                "role": "logistics",
                "strength": 200,
                "base_lon": 30.0,
                "base_lat": 50.0,
                "sectors": "Nowhere",
                "start_date": None,
                "end_date": None,
            },
        ]
    )


def test_sector_coverage() -> None:
    line = LineString([(36.0, 49.0), (36.0, 47.0)])  # a north-south line at 36° E
    sectors = {
        "North": box(35.5, 48.0, 36.5, 49.5),
        "South": box(35.5, 46.5, 36.5, 48.0),
        "Middle": Polygon(),
    }
    cov = presence.sector_coverage(
        _contingents(),
        ["North", "South", "Middle"],
        on=date(2025, 1, 20),
        line=line,
        sector_geometries={k: v for k, v in sectors.items() if not v.is_empty},
    ).set_index("sector")
    assert cov.loc["North", "covered"] and cov.loc["South", "covered"]
    assert not cov.loc["Middle", "covered"]
    # B ended on 5 January: only A covers South on the 20th
    assert cov.loc["South", "strength"] == 1000 and cov.loc["South", "nations"] == "UK"
    # a misspelt or unknown sector shows up, flagged
    assert not cov.loc["Nowhere", "known"] and cov.loc["Nowhere", "covered"]
    # distance from (35°E, 48°N) to the meridian 36°E: about 74.6 km
    _, _, d = GEOD.inv(35.0, 48.0, 36.0, 48.0)
    assert cov.loc["North", "nearest_base_km"] == pytest.approx(d / 1000, rel=0.005)
    early = presence.sector_coverage(_contingents(), ["North", "South"], on=date(2025, 1, 3))
    assert early.set_index("sector").loc["South", "nations"] == "FR"
    assert not early.set_index("sector").loc["North", "covered"]


def test_violations_by_presence() -> None:
    v = pd.DataFrame(
        {
            "sector": ["North"] * 4 + ["South"],
            "occurred_at": pd.to_datetime(
                [
                    "2025-01-02T10:00Z",
                    "2025-01-03T10:00Z",
                    "2025-01-04T10:00Z",
                    "2025-01-15T10:00Z",
                    "2025-01-15T10:00Z",
                ]
            ),
        }
    )
    out = presence.violations_by_presence(
        v, _contingents(), ["North", "South"], start=date(2025, 1, 1), end=date(2025, 1, 20)
    ).set_index("sector")
    # North: A present from the 10th (11 days), absent 1-9 (9 days)
    assert (out.loc["North", "days_with"], out.loc["North", "days_without"]) == (11, 9)
    assert out.loc["North", "violations_without"] == 3 and out.loc["North", "violations_with"] == 1
    assert out.loc["North", "per_day_without"] == pytest.approx(3 / 9)
    # South: B 1-5 and A from the 10th: 16 days with, 4 without
    assert (out.loc["South", "days_with"], out.loc["South", "days_without"]) == (16, 4)
