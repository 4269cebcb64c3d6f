"""Shared fixtures: the real data sets (skipped cleanly when absent), a store, builders."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ceasewatch.normalize import schema
from ceasewatch.store.duckdb import DuckDBStore

SHARED_RAW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "raw"

#: a simplified line of contact through real front-line towns (lon, lat)
TEST_LINE = [
    (37.62, 49.71),  # Kupiansk
    (37.80, 48.98),  # Lyman
    (37.18, 48.28),  # Pokrovsk
    (36.20, 47.60),
    (35.00, 47.40),
    (33.40, 46.90),
    (32.62, 46.64),  # Kherson
    (32.00, 46.50),
]


_ZONE_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """A zone cache of the test run's own (never the user's), removed at the end."""
    _ZONE_CACHE.append(tempfile.mkdtemp(prefix="ceasewatch-test-cache-"))
    os.environ["CEASEWATCH_CACHE_DIR"] = _ZONE_CACHE[-1]


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _ZONE_CACHE:
        shutil.rmtree(folder, ignore_errors=True)


def shared_file(*parts: str) -> Path:
    """A file of ../shared/data/raw, or skip the test with the reason."""
    path = SHARED_RAW.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (../shared/data is absent)")
    return path


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    st = DuckDBStore(":memory:")
    yield st
    st.close()


def write_agreement(
    folder: Path,
    *,
    effective: str = "2023-03-01T00:00:00Z",
    line: list[tuple[float, float]] | None = None,
    control: bool = True,
    extra: str = "",
) -> Path:
    """Write a small valid agreement folder (the DESIGN.md example plus control areas)."""
    folder.mkdir(parents=True, exist_ok=True)
    coords = line or TEST_LINE
    (folder / "line.geojson").write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "LineString", "coordinates": coords},
                    }
                ],
            }
        )
    )
    control_line = ""
    if control:
        # east of the line is RU, west UA: polygons closed around the line
        east = [*coords, (41.0, 46.0), (41.0, 50.5), coords[0]]
        west = [*coords, (22.0, 46.0), (22.0, 50.5), coords[0]]
        feats = [
            {
                "type": "Feature",
                "properties": {"party": "RU"},
                "geometry": {"type": "Polygon", "coordinates": [_ring(east)]},
            },
            {
                "type": "Feature",
                "properties": {"party": "UA"},
                "geometry": {"type": "Polygon", "coordinates": [_ring(west)]},
            },
        ]
        (folder / "control.geojson").write_text(
            json.dumps({"type": "FeatureCollection", "features": feats})
        )
        control_line = "control: control.geojson\n"
    (folder / "agreement.yaml").write_text(
        f"""name: Cessation of hostilities (draft)
parties: [UA, RU]
effective: {effective}
line_of_contact: line.geojson
{control_line}zones:
  - {{id: disengagement, width_km: 15,  prohibits: [any_military_activity]}}
  - {{id: artillery,     width_km: 50,  prohibits: [artillery_100mm_plus]}}
  - {{id: mlrs,          width_km: 70,  prohibits: [mlrs]}}
  - {{id: heavy_mlrs,    width_km: 140, prohibits: [heavy_mlrs, tactical_missiles]}}
prohibited_everywhere: [shelling, air_strike, missile_strike, drone_strike, armed_clash]
{extra}"""
    )
    return folder


def _ring(points: list[tuple[float, float]]) -> list[list[float]]:
    # shapely makes it valid on load; keep a simple closed ring
    from shapely.geometry import Polygon

    poly = Polygon(points).buffer(0)
    return [list(c) for c in poly.exterior.coords]


def make_events(n: int = 1, **columns: Any) -> pd.DataFrame:
    """Canonical events with sensible defaults; any column can be given (scalar or list)."""
    base: dict[str, Any] = {
        schema.EVENT_ID: [f"e{i:05d}" for i in range(n)],
        schema.SOURCE: "acled",
        schema.SOURCE_EVENT_ID: [f"S{i}" for i in range(n)],
        schema.OCCURRED_AT: pd.Timestamp("2023-06-01T12:00:00Z"),
        schema.TIME_PRECISION: "minute",
        schema.TIME_WINDOW_S: 0.0,
        schema.LON: 37.5,
        schema.LAT: 48.5,
        schema.GEO_PRECISION_M: 1_000.0,
        schema.CATEGORY: "shelling",
        schema.WEAPON_CLASS: None,
        schema.ACTOR: None,
        schema.ATTRIBUTED_TO: None,
        schema.FATALITIES: np.nan,
        schema.COUNT: 1,
        schema.RELIABILITY: "B",
        schema.CREDIBILITY: 2,
        schema.REPORT_GROUP: [f"g{i}" for i in range(n)],
        schema.LOCATION_NAME: None,
        schema.ADMIN1: None,
        schema.NOTES: None,
        schema.RAW: "{}",
        schema.LINE_NO: list(range(2, n + 2)),
        schema.RECORDED_AT: pd.Timestamp("2023-06-02T00:00:00Z"),
    }
    base.update(columns)
    frame = pd.DataFrame(
        {
            k: (v if isinstance(v, list | np.ndarray | pd.Series) else [v] * n)
            for k, v in base.items()
        }
    )
    frame[schema.OCCURRED_AT] = pd.to_datetime(frame[schema.OCCURRED_AT], utc=True)
    frame[schema.RECORDED_AT] = pd.to_datetime(frame[schema.RECORDED_AT], utc=True)
    return frame
