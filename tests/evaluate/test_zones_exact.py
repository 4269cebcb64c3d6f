"""Exactness of the zone layer: distances against an independent geodesic truth, band edges,
line ends, a folded line, side of the line, and invariance under reprojection."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import shapely
from conftest import TEST_LINE, write_agreement
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS, Geod, Transformer

from ceasewatch.agreement.geometry import ZoneModel
from ceasewatch.agreement.model import load_agreement
from ceasewatch.evaluate.zones import evaluate_zones, zone_of_distance

GEOD = Geod(ellps="WGS84")
WGS84 = CRS.from_epsg(4326)

# --- an independent truth ------------------------------------------------------------------


def densify_geodesic(
    coords: list[tuple[float, float]], step_m: float = 50.0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The line's vertices plus points every ``step_m`` along the geodesic of each segment."""
    lons: list[float] = []
    lats: list[float] = []
    for (x0, y0), (x1, y1) in itertools.pairwise(coords):
        _, _, d = GEOD.inv(x0, y0, x1, y1)
        n = int(np.ceil(d / step_m)) - 1
        pts = GEOD.npts(x0, y0, x1, y1, n) if n > 0 else []
        lons += [x0, *(p[0] for p in pts)]
        lats += [y0, *(p[1] for p in pts)]
    lons.append(coords[-1][0])
    lats.append(coords[-1][1])
    return np.array(lons), np.array(lats)


def _ecef(lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.float64]:
    a = 6_378_137.0
    f = 1 / 298.257223563
    e2 = f * (2 - f)
    lo = np.radians(np.asarray(lon, dtype=float))
    la = np.radians(np.asarray(lat, dtype=float))
    n = a / np.sqrt(1 - e2 * np.sin(la) ** 2)
    return np.column_stack(
        [n * np.cos(la) * np.cos(lo), n * np.cos(la) * np.sin(lo), n * (1 - e2) * np.sin(la)]
    )


def geodesic_distance_to_line(
    lon: npt.ArrayLike, lat: npt.ArrayLike, coords: list[tuple[float, float]]
) -> npt.NDArray[np.float64]:
    """Brute-force minimum ellipsoidal distance from each point to the densified line.

    The 3-D chord (ECEF) never exceeds the geodesic and is within 0.01 % of it at these
    ranges, so every densified point whose chord is within 0.2 % + 100 m of the smallest
    chord is a candidate, and the true nearest one is always among them; Geod.inv then
    measures the candidates on the ellipsoid.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = densify_geodesic(coords)
    line_xyz = _ecef(dlon, dlat)
    pts_xyz = _ecef(lon, lat)
    out = np.empty(len(lon))
    chunk = 100
    for s in range(0, len(lon), chunk):
        chord = np.linalg.norm(pts_xyz[s : s + chunk, None, :] - line_xyz[None, :, :], axis=2)
        cmin = chord.min(axis=1)
        for k in range(chord.shape[0]):
            cand = np.flatnonzero(chord[k] <= cmin[k] * 1.002 + 100.0)
            _, _, d = GEOD.inv(
                np.full(len(cand), lon[s + k]),
                np.full(len(cand), lat[s + k]),
                dlon[cand],
                dlat[cand],
            )
            out[s + k] = d.min()
    return out


def random_points_around(
    coords: list[tuple[float, float]], n: int, max_km: float, seed: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Points at a random azimuth and distance (0..max_km) from random places on the line."""
    rng = np.random.default_rng(seed)
    dlon, dlat = densify_geodesic(coords, 1_000.0)
    i = rng.integers(0, len(dlon), n)
    az = rng.uniform(-180.0, 180.0, n)
    dist = rng.uniform(0.0, max_km * 1_000.0, n)
    lon, lat, _ = GEOD.fwd(dlon[i], dlat[i], az, dist)
    return np.asarray(lon), np.asarray(lat)


def shapely_distance_m(
    lon: npt.ArrayLike, lat: npt.ArrayLike, coords: list[tuple[float, float]], crs: CRS
) -> npt.NDArray[np.float64]:
    """Exact planar distance in ``crs``, projected here with pyproj directly."""
    t = Transformer.from_crs(WGS84, crs, always_xy=True)
    c = np.asarray(coords, dtype=float)
    lx, ly = t.transform(c[:, 0], c[:, 1])
    line_m = shapely.linestrings(np.column_stack([lx, ly]))
    px, py = t.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(shapely.distance(shapely.points(px, py), line_m), dtype=float)


def assert_close_to_geodesic(
    got_m: npt.NDArray[np.float64], truth_m: npt.NDArray[np.float64]
) -> None:
    tol = np.maximum(0.005 * truth_m, 50.0)
    err = np.abs(got_m - truth_m)
    bad = np.flatnonzero(err > tol)
    assert len(bad) == 0, (
        f"{len(bad)} points off the geodesic distance; worst: got {got_m[bad[:5]]}, "
        f"truth {truth_m[bad[:5]]}"
    )


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ZoneModel:
    folder = write_agreement(tmp_path_factory.mktemp("agreement") / "a")
    return ZoneModel(load_agreement(folder))


def _metric(model: ZoneModel) -> tuple[Transformer, Transformer]:
    fwd = Transformer.from_crs(WGS84, model.crs, always_xy=True)
    inv = Transformer.from_crs(model.crs, WGS84, always_xy=True)
    return fwd, inv


def offset_points(
    model: ZoneModel, coords: list[tuple[float, float]], offset_m: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Points ``offset_m`` perpendicular from each segment's midpoint (both sides), in the
    metric CRS, back to lon/lat; with each one's exact planar distance to the line (which
    is ``offset_m`` unless another part of the line comes closer)."""
    fwd, inv = _metric(model)
    c = np.asarray(coords, dtype=float)
    x, y = fwd.transform(c[:, 0], c[:, 1])
    mx, my = (x[:-1] + x[1:]) / 2, (y[:-1] + y[1:]) / 2
    dx, dy = x[1:] - x[:-1], y[1:] - y[:-1]
    length = np.hypot(dx, dy)
    nx, ny = -dy / length, dx / length
    px = np.concatenate([mx + offset_m * nx, mx - offset_m * nx])
    py = np.concatenate([my + offset_m * ny, my - offset_m * ny])
    line_m = shapely.linestrings(np.column_stack([x, y]))
    planar = np.asarray(shapely.distance(shapely.points(px, py), line_m), dtype=float)
    lon, lat = inv.transform(px, py)
    return np.asarray(lon), np.asarray(lat), planar


# --- distance ------------------------------------------------------------------------------


def test_distance_matches_geodesic_truth_and_shapely(model: ZoneModel) -> None:
    lon, lat = random_points_around(TEST_LINE, 2_000, 200.0, seed=20240601)
    got_m = evaluate_zones(lon, lat, model)["distance_to_line_km"].to_numpy() * 1_000.0
    assert np.isfinite(got_m).all()
    truth = geodesic_distance_to_line(lon, lat, TEST_LINE)
    assert truth.max() > 150_000.0  # the sample really reaches far from the line
    assert_close_to_geodesic(got_m, truth)
    exact = shapely_distance_m(lon, lat, TEST_LINE, model.crs)
    np.testing.assert_allclose(got_m, exact, rtol=0, atol=1.0)


def test_geodesic_truth_is_sound() -> None:
    # the truth helper itself: a point due north of a meridian segment's middle
    line = [(35.0, 47.0), (35.0, 48.0)]
    mid_lon, mid_lat, _ = GEOD.fwd(35.0, 47.0, 0.0, GEOD.inv(35.0, 47.0, 35.0, 48.0)[2] / 2)
    lon, lat, _ = GEOD.fwd(mid_lon, mid_lat, 90.0, 30_000.0)
    d = geodesic_distance_to_line([lon], [lat], line)
    assert abs(d[0] - 30_000.0) < 1.0


def test_points_on_the_line_are_at_zero(model: ZoneModel) -> None:
    c = np.asarray(TEST_LINE)
    z = evaluate_zones(c[:, 0], c[:, 1], model)
    assert (z["distance_to_line_km"] == 0.0).all()
    assert (z["zone"] == "disengagement").all()
    # points along each (projected) segment
    fwd, inv = _metric(model)
    x, y = fwd.transform(c[:, 0], c[:, 1])
    f = np.linspace(0.05, 0.95, 7)
    px = (x[:-1, None] + f * (x[1:, None] - x[:-1, None])).ravel()
    py = (y[:-1, None] + f * (y[1:, None] - y[:-1, None])).ravel()
    lon, lat = inv.transform(px, py)
    z = evaluate_zones(lon, lat, model)
    assert z["distance_to_line_km"].abs().max() <= 1e-6  # a millimetre
    assert (z["zone"] == "disengagement").all()


@pytest.mark.parametrize(
    ("offset_m", "zone"),
    [
        (15_000.0, "disengagement"),
        (15_001.0, "artillery"),
        (50_000.0, "artillery"),
        (50_001.0, "mlrs"),
        (70_000.0, "mlrs"),
        (70_001.0, "heavy_mlrs"),
        (140_000.0, "heavy_mlrs"),
        (140_001.0, "outside"),
        (160_000.0, "outside"),
    ],
)
def test_band_edges_are_inclusive(model: ZoneModel, offset_m: float, zone: str) -> None:
    lon, lat, planar = offset_points(model, TEST_LINE, offset_m)
    # keep the points whose nearest part of the line is their own segment's midpoint
    keep = np.abs(planar - offset_m) < 1e-6
    assert keep.sum() >= 8
    z = evaluate_zones(lon[keep], lat[keep], model)
    np.testing.assert_allclose(z["distance_to_line_km"], offset_m / 1_000.0, rtol=0, atol=1e-6)
    assert list(z["zone"]) == [zone] * int(keep.sum())


def test_zone_of_distance_bounds() -> None:
    class _M:
        widths_km = np.array([15.0, 50.0, 70.0, 140.0])
        zone_ids = ("disengagement", "artillery", "mlrs", "heavy_mlrs")

    got = zone_of_distance(
        [0.0, 15.0, 15.001, 50.0, 50.0001, 70.0, 140.0, 140.001, 1e6, np.nan],
        _M(),  # type: ignore[arg-type]
    )
    assert list(got) == [
        "disengagement",
        "disengagement",
        "artillery",
        "artillery",
        "mlrs",
        "mlrs",
        "heavy_mlrs",
        "outside",
        "outside",
        "outside",
    ]


@pytest.mark.parametrize("end", [0, -1])
def test_beyond_the_ends_distance_is_to_the_end_vertex(model: ZoneModel, end: int) -> None:
    end_pt = TEST_LINE[end]
    prev = TEST_LINE[1] if end == 0 else TEST_LINE[-2]
    _, back_az, _ = GEOD.inv(prev[0], prev[1], end_pt[0], end_pt[1])
    outward = back_az + 180.0  # azimuth at the end vertex, pointing away from the line
    az = np.repeat(outward + np.array([-60.0, -30.0, 0.0, 30.0, 60.0]), 6)
    dist = np.tile([500.0, 5_000.0, 14_000.0, 40_000.0, 100_000.0, 150_000.0], 5)
    lon, lat, _ = GEOD.fwd(np.full(len(az), end_pt[0]), np.full(len(az), end_pt[1]), az, dist)
    got_m = evaluate_zones(lon, lat, model)["distance_to_line_km"].to_numpy() * 1_000.0
    assert_close_to_geodesic(got_m, dist)
    assert_close_to_geodesic(got_m, geodesic_distance_to_line(lon, lat, TEST_LINE))
    zones = evaluate_zones(lon, lat, model)["zone"].to_numpy()
    assert (zones[dist == 150_000.0] == "outside").all()
    assert (zones[dist == 14_000.0] == "disengagement").all()


def folded_line() -> list[tuple[float, float]]:
    """A zig-zag of 22 km legs whose turns are 2 km apart (each leg 1 km from the next)."""
    dlat = 2.0 / 111.2  # ~2 km
    return [(36.0 + 0.3 * (i % 2), 48.0 + i * dlat / 2) for i in range(41)]


def test_folded_line_is_still_exact(tmp_path: Path) -> None:
    coords = folded_line()
    m = ZoneModel(load_agreement(write_agreement(tmp_path / "f", line=coords, control=False)))
    lon, lat = random_points_around(coords, 1_000, 60.0, seed=7)
    # and points inside the fold, between the legs
    rng = np.random.default_rng(8)
    lon = np.concatenate([lon, rng.uniform(36.0, 36.3, 300)])
    lat = np.concatenate([lat, rng.uniform(48.0, 48.36, 300)])
    got_m = evaluate_zones(lon, lat, m)["distance_to_line_km"].to_numpy() * 1_000.0
    truth = geodesic_distance_to_line(lon, lat, coords)
    assert_close_to_geodesic(got_m, truth)
    np.testing.assert_allclose(got_m, shapely_distance_m(lon, lat, coords, m.crs), atol=1.0)
    # inside the fold nothing is farther than half a leg spacing (plus the slant)
    inside = slice(1_000, None)
    assert got_m[inside].max() < 1_100.0


# --- side of the line ----------------------------------------------------------------------

SIDE_POINTS = {
    "RU": [(39.5, 48.0), (38.5, 49.5), (34.0, 46.7), (36.0, 47.0)],
    "UA": [(30.0, 49.0), (33.0, 47.8), (36.5, 48.5), (35.0, 48.5)],
}


def test_side_from_control_polygons(model: ZoneModel) -> None:
    for party, pts in SIDE_POINTS.items():
        p = np.asarray(pts)
        assert list(evaluate_zones(p[:, 0], p[:, 1], model)["side"]) == [party] * len(pts)


def test_side_outside_the_boundary(tmp_path: Path) -> None:
    folder = tmp_path / "b"
    write_agreement(folder, extra="boundary: boundary.geojson\n")
    box = shapely.box(28.0, 45.0, 40.0, 51.0)
    (folder / "boundary.geojson").write_text(json.dumps(shapely.geometry.mapping(box)))
    m = ZoneModel(load_agreement(folder))
    assert m.agreement.boundary is not None
    lon = np.array([39.5, 30.0, 40.5, 25.0, 35.0, 37.0])
    lat = np.array([48.0, 49.0, 48.0, 49.0, 52.0, 44.5])
    sides = list(evaluate_zones(lon, lat, m)["side"])
    # inside the boundary: the controlling party; outside it (even inside a control
    # polygon): 'outside'
    assert sides == ["RU", "UA", "outside", "outside", "outside", "outside"]


def test_side_unknown_without_control(tmp_path: Path) -> None:
    m = ZoneModel(load_agreement(write_agreement(tmp_path / "n", control=False)))
    p = np.asarray(SIDE_POINTS["RU"] + SIDE_POINTS["UA"])
    z = evaluate_zones(p[:, 0], p[:, 1], m)
    assert (z["side"] == "unknown").all()
    assert z["sector"].isna().all()


# --- reprojection --------------------------------------------------------------------------

_ROUNDTRIPS = {
    crs: (
        Transformer.from_crs(WGS84, CRS.from_user_input(crs), always_xy=True),
        Transformer.from_crs(CRS.from_user_input(crs), WGS84, always_xy=True),
    )
    for crs in ("EPSG:3857", "EPSG:32636")
}


@settings(max_examples=60, deadline=None)
@given(
    pts=st.lists(
        st.tuples(st.floats(29.0, 41.0, allow_nan=False), st.floats(44.5, 51.5, allow_nan=False)),
        min_size=1,
        max_size=40,
    ),
    crs=st.sampled_from(sorted(_ROUNDTRIPS)),
)
def test_zones_unchanged_by_reprojection(
    model: ZoneModel, pts: list[tuple[float, float]], crs: str
) -> None:
    p = np.asarray(pts, dtype=float)
    before = evaluate_zones(p[:, 0], p[:, 1], model)
    fwd, inv = _ROUNDTRIPS[crs]
    x, y = fwd.transform(p[:, 0], p[:, 1])
    lon2, lat2 = inv.transform(x, y)
    after = evaluate_zones(lon2, lat2, model)
    d = before["distance_to_line_km"].to_numpy()
    near_edge = (np.abs(d[:, None] - model.widths_km[None, :]) <= 0.001).any(axis=1)
    keep = ~near_edge
    assert list(before["zone"][keep]) == list(after["zone"][keep])
    np.testing.assert_allclose(after["distance_to_line_km"].to_numpy(), d, rtol=0, atol=1e-3)


# --- the fast method against the same truths ---------------------------------------------


def test_fast_distance_matches_geodesic_truth_and_shapely(model: ZoneModel) -> None:
    lon, lat = random_points_around(TEST_LINE, 2_000, 200.0, seed=20240602)
    got_m = (
        evaluate_zones(lon, lat, model, method="fast")["distance_to_line_km"].to_numpy() * 1_000.0
    )
    assert_close_to_geodesic(got_m, geodesic_distance_to_line(lon, lat, TEST_LINE))
    exact = shapely_distance_m(lon, lat, TEST_LINE, model.crs)
    np.testing.assert_allclose(got_m, exact, rtol=0, atol=1e-3)


@pytest.mark.parametrize(
    ("offset_m", "zone"),
    [
        (15_000.0, "disengagement"),
        (15_001.0, "artillery"),
        (140_000.0, "heavy_mlrs"),
        (140_001.0, "outside"),
    ],
)
def test_fast_band_edges_are_inclusive(model: ZoneModel, offset_m: float, zone: str) -> None:
    lon, lat, planar = offset_points(model, TEST_LINE, offset_m)
    keep = np.abs(planar - offset_m) < 1e-6
    z = evaluate_zones(lon[keep], lat[keep], model, method="fast")
    np.testing.assert_allclose(z["distance_to_line_km"], offset_m / 1_000.0, rtol=0, atol=1e-6)
    assert list(z["zone"]) == [zone] * int(keep.sum())


def test_fast_folded_line_is_still_exact(tmp_path: Path) -> None:
    coords = folded_line()
    m = ZoneModel(load_agreement(write_agreement(tmp_path / "f", line=coords, control=False)))
    lon, lat = random_points_around(coords, 1_000, 60.0, seed=17)
    rng = np.random.default_rng(18)
    lon = np.concatenate([lon, rng.uniform(36.0, 36.3, 300)])
    lat = np.concatenate([lat, rng.uniform(48.0, 48.36, 300)])
    got_m = evaluate_zones(lon, lat, m, method="fast")["distance_to_line_km"].to_numpy() * 1_000.0
    assert_close_to_geodesic(got_m, geodesic_distance_to_line(lon, lat, coords))
    np.testing.assert_allclose(got_m, shapely_distance_m(lon, lat, coords, m.crs), atol=1e-3)
