"""The fast zone evaluation gives the reference's answers: the same zone, side and sector
for every point and distances within a millimetre (both round to the millimetre), on
random and adversarial points: exactly on band edges, on the line and its vertices, beyond
its ends, in a tightly folded line, on the index's cell boundaries, outside the fast
method's box, NaN; and its polynomial projection agrees with pyproj.

Every test runs twice: through the compiled numba kernel and through the numpy path (the
fallback without numba); the kernel also gives the numpy path's results to the bit."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from conftest import TEST_LINE, write_agreement
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS, Transformer
from test_zones_exact import folded_line, random_points_around

from ceasewatch.agreement.geometry import TOP_CELL_M, FastProjection, ZoneModel
from ceasewatch.agreement.model import load_agreement
from ceasewatch.evaluate import zones as zones_mod
from ceasewatch.evaluate.zones import (
    distance_to_line_m,
    distance_to_line_m_reference,
    evaluate_zones,
    evaluate_zones_reference,
    sector_of,
    side_of,
)
from ceasewatch.normalize.crs import to_metric, to_wgs84

WGS84 = CRS.from_epsg(4326)
Arr = npt.NDArray[np.float64]


@pytest.fixture(scope="module", params=["numba", "numpy"], autouse=True)
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """The fast method through the compiled kernel, then through the numpy path."""
    use = request.param == "numba"
    # numba is a declared dependency: its kernel must be there, not silently skipped
    assert not use or zones_mod._kernel is not None, "numba kernel failed to import"
    before = zones_mod.USE_NUMBA
    zones_mod.USE_NUMBA = use
    yield str(request.param)
    zones_mod.USE_NUMBA = before


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ZoneModel:
    folder = write_agreement(tmp_path_factory.mktemp("agreement") / "a")
    return ZoneModel(load_agreement(folder))


@pytest.fixture(scope="module")
def folded(tmp_path_factory: pytest.TempPathFactory) -> ZoneModel:
    coords = folded_line()
    folder = tmp_path_factory.mktemp("folded") / "f"
    m = ZoneModel(load_agreement(write_agreement(folder, line=coords, control=False)))
    # control areas that follow every fold (comb-shaped polygons)
    east = shapely.Polygon([*coords, (40.0, coords[-1][1]), (40.0, coords[0][1])])
    west = shapely.Polygon([*coords, (32.0, coords[-1][1]), (32.0, coords[0][1])])
    assert east.is_valid and west.is_valid
    return ZoneModel(dataclasses.replace(m.agreement, control=(("RU", east), ("UA", west))))


def assert_same(model: ZoneModel, lon: Arr, lat: Arr, **kw: object) -> pd.DataFrame:
    """Fast == reference: identical zone/side/sector and dtypes, |Δd| ≤ 1 mm."""
    fast = evaluate_zones(lon, lat, model, method="fast", **kw)  # type: ignore[arg-type]
    ref = evaluate_zones_reference(lon, lat, model)
    assert list(fast.columns) == list(ref.columns)
    assert (fast.dtypes == ref.dtypes).all(), (fast.dtypes, ref.dtypes)
    for col in ("zone", "side", "sector"):
        f, r = fast[col].to_numpy(), ref[col].to_numpy()
        same = (f == r) | (pd.isna(f) & pd.isna(r))
        assert same.all(), f"{col}: {(~same).sum()} differ, e.g. {f[~same][:5]} vs {r[~same][:5]}"
    d_f = fast["distance_to_line_km"].to_numpy()
    d_r = ref["distance_to_line_km"].to_numpy()
    assert (np.isnan(d_f) == np.isnan(d_r)).all()
    ok = ~np.isnan(d_r)
    err_mm = np.abs(d_f[ok] - d_r[ok]) * 1e6
    assert err_mm.max(initial=0.0) <= 1.0 + 1e-6, f"distances differ by {err_mm.max()} mm"
    return fast


def offsets_from_segments(model: ZoneModel, offsets_m: list[float]) -> tuple[Arr, Arr]:
    """Points at the given perpendicular offsets (both sides) from each segment's middle
    and from points along it, built in the metric CRS."""
    c = shapely.get_coordinates(model.agreement.line)
    x, y = to_metric(c[:, 0], c[:, 1], model.crs)
    f = np.array([0.1, 0.5, 0.9])
    dx, dy = x[1:] - x[:-1], y[1:] - y[:-1]
    length = np.hypot(dx, dy)
    nx, ny = -dy / length, dx / length
    bx = (x[:-1, None] + f * dx[:, None]).ravel()
    by = (y[:-1, None] + f * dy[:, None]).ravel()
    nx, ny = np.repeat(nx, len(f)), np.repeat(ny, len(f))
    px = np.concatenate([bx + s * o * nx for o in offsets_m for s in (1.0, -1.0)])
    py = np.concatenate([by + s * o * ny for o in offsets_m for s in (1.0, -1.0)])
    return to_wgs84(px, py, model.crs)


# --- projection ----------------------------------------------------------------------------


def test_polynomial_projection_matches_pyproj(model: ZoneModel) -> None:
    fp = model.fast_projection
    assert fp is not None
    lon_lo, lat_lo, lon_hi, lat_hi = fp.box
    rng = np.random.default_rng(1)
    lon = np.concatenate([rng.uniform(lon_lo, lon_hi, 50_000), [lon_lo, lon_hi, lon_lo, lon_hi]])
    lat = np.concatenate([rng.uniform(lat_lo, lat_hi, 50_000), [lat_lo, lat_hi, lat_hi, lat_lo]])
    x, y = fp.project(lon, lat)
    t = Transformer.from_crs(WGS84, model.crs, always_xy=True)
    tx, ty = t.transform(lon, lat)
    err = max(np.abs(x - tx).max(), np.abs(y - ty).max())
    assert err < 1e-6  # a micrometre (the brief asks for a millimetre)
    assert fp.max_error_m < 1e-6


def test_projection_is_none_for_other_crs() -> None:
    box = (30.0, 45.0, 40.0, 52.0)
    assert FastProjection.build(CRS.from_epsg(3857), box) is None
    assert FastProjection.build(CRS.from_epsg(32636), box) is None


def test_without_polynomial_projection_still_exact(tmp_path: Path) -> None:
    # pyproj projects, the index still finds the distances
    m = ZoneModel(load_agreement(write_agreement(tmp_path / "p")))
    m.__dict__["fast_projection"] = None
    lon, lat = random_points_around(TEST_LINE, 2_000, 250.0, seed=3)
    assert_same(m, np.append(lon, [np.nan, 0.0]), np.append(lat, [48.0, 0.0]))


# --- distances and zones -------------------------------------------------------------------


def test_random_points_around_the_line(model: ZoneModel) -> None:
    lon, lat = random_points_around(TEST_LINE, 6_000, 300.0, seed=11)
    rng = np.random.default_rng(12)
    lon = np.concatenate([lon, rng.uniform(20.0, 45.0, 4_000)])
    lat = np.concatenate([lat, rng.uniform(42.0, 54.0, 4_000)])
    z = assert_same(model, lon, lat)
    assert set(z["zone"]) == {"disengagement", "artillery", "mlrs", "heavy_mlrs", "outside"}
    assert set(z["side"]) >= {"RU", "UA"}


@pytest.mark.parametrize("band_km", [15.0, 50.0, 70.0, 140.0])
def test_points_exactly_on_band_edges(model: ZoneModel, band_km: float) -> None:
    w = band_km * 1_000.0
    # on the edge, and either side of the millimetre rounding and of the edge itself
    lon, lat = offsets_from_segments(
        model, [w, w - 1.0, w - 0.0004, w + 0.0004, w + 0.0006, w + 1.0]
    )
    z = assert_same(model, lon, lat)
    assert (z["distance_to_line_km"] <= band_km).any() and (
        z["distance_to_line_km"] > band_km
    ).any()


def test_points_on_the_line_and_its_vertices(model: ZoneModel) -> None:
    c = np.asarray(TEST_LINE)
    lon, lat = offsets_from_segments(model, [0.0, 1e-6, 0.001, 0.5])
    lon = np.concatenate([c[:, 0], lon])
    lat = np.concatenate([c[:, 1], lat])
    z = assert_same(model, lon, lat)
    assert (z["distance_to_line_km"].iloc[: len(c)] == 0.0).all()
    assert (z["distance_to_line_km"] <= 0.0005 / 1_000 + 1e-12).sum() >= len(c)
    assert (z["zone"] == "disengagement").all()


@pytest.mark.parametrize("end", [0, -1])
def test_beyond_the_ends(model: ZoneModel, end: int) -> None:
    c = shapely.get_coordinates(model.agreement.line)
    x, y = to_metric(c[:, 0], c[:, 1], model.crs)
    j = 1 if end == 0 else -2
    ux, uy = x[end] - x[j], y[end] - y[j]
    u = np.hypot(ux, uy)
    ang = np.radians(np.repeat([-80.0, -45.0, 0.0, 45.0, 80.0], 9))
    dist = np.tile(
        [0.001, 1.0, 500.0, 14_999.9995, 15_000.0, 50_000.0, 70_000.0, 140_000.0, 300_000.0], 5
    )
    ca, sa = np.cos(ang), np.sin(ang)
    px = x[end] + dist * (ca * ux - sa * uy) / u
    py = y[end] + dist * (sa * ux + ca * uy) / u
    lon, lat = to_wgs84(px, py, model.crs)
    assert_same(model, lon, lat)


def test_folded_line(folded: ZoneModel) -> None:
    coords = folded_line()
    lon, lat = random_points_around(coords, 3_000, 80.0, seed=5)
    rng = np.random.default_rng(6)
    # inside the fold, between the 1 km apart legs, and on band edges of every leg
    lon = np.concatenate([lon, rng.uniform(36.0, 36.3, 3_000)])
    lat = np.concatenate([lat, rng.uniform(48.0, 48.36, 3_000)])
    elon, elat = offsets_from_segments(folded, [0.0, 250.0, 500.0, 15_000.0, 50_000.0])
    z = assert_same(folded, np.concatenate([lon, elon]), np.concatenate([lat, elat]))
    assert (z["distance_to_line_km"].iloc[3_000:6_000] < 1.1).all()


def test_points_on_index_cell_boundaries(model: ZoneModel) -> None:
    idx = model.distance_index
    # every level's cell edges and corners near the line
    c = shapely.get_coordinates(model.agreement.line)
    x, y = to_metric(c[:, 0], c[:, 1], model.crs)
    pts_x, pts_y = [], []
    for h in (TOP_CELL_M * 4, TOP_CELL_M, TOP_CELL_M / 4, TOP_CELL_M / 32):
        gx = idx.x0 + h * np.round((x - idx.x0) / h)
        gy = idx.y0 + h * np.round((y - idx.y0) / h)
        for k in range(-2, 3):
            pts_x += [gx + k * h, gx + k * h, gx + 0.37 * h]
            pts_y += [gy + k * h, gy + 0.37 * h, gy + k * h]
    lon, lat = to_wgs84(np.concatenate(pts_x), np.concatenate(pts_y), model.crs)
    assert_same(model, lon, lat)


def test_outside_the_fast_box_nan_and_empty(model: ZoneModel) -> None:
    fp = model.fast_projection
    assert fp is not None
    lon_lo, lat_lo, lon_hi, lat_hi = fp.box
    lon = np.array(
        [np.nan, 35.0, np.nan, lon_lo - 0.01, lon_hi + 0.5, 35.0, 0.0, 179.9, 35.0, 36.0]
    )
    lat = np.array([48.0, np.nan, np.nan, 48.0, 47.0, lat_hi + 0.1, 0.0, -60.0, lat_lo, 48.0])
    z = assert_same(model, lon, lat)
    assert np.isnan(z["distance_to_line_km"].iloc[:3]).all()
    assert (z["zone"].iloc[:3] == "outside").all()
    assert np.isfinite(z["distance_to_line_km"].iloc[3:]).all()
    empty = evaluate_zones(np.array([]), np.array([]), model, method="fast")
    pd.testing.assert_frame_equal(empty, evaluate_zones_reference([], [], model))


def test_many_chunks_and_threads(model: ZoneModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zones_mod, "CHUNK", 997)
    lon, lat = random_points_around(TEST_LINE, 8_000, 200.0, seed=21)
    lon[::1_000] = np.nan
    lon[5::1_000] = 0.0  # beyond the box: some chunks mix both paths
    one = evaluate_zones(lon, lat, model, method="fast", workers=1)
    two = assert_same(model, lon, lat, workers=3)
    pd.testing.assert_frame_equal(one, two)


def test_multiline_with_repeated_vertices_and_a_lone_point(tmp_path: Path) -> None:
    m = ZoneModel(load_agreement(write_agreement(tmp_path / "m")))
    line = shapely.multilinestrings(
        [
            shapely.linestrings(
                [(35.0, 47.0), (35.0, 47.0), (35.5, 47.5), (35.5, 47.5), (36.0, 47.4)]
            ),
            shapely.linestrings([(37.0, 48.0), (37.0, 48.0)]),  # a lone point
            shapely.linestrings(
                [(33.0, 46.0), (33.2, 46.1), (33.0, 46.0), (33.2, 46.1)]
            ),  # doubled back
        ]
    )
    m = ZoneModel(dataclasses.replace(m.agreement, line=line))
    lon, lat = random_points_around(
        [(35.0, 47.0), (37.0, 48.0), (33.0, 46.0)], 4_000, 160.0, seed=4
    )
    lon = np.concatenate([lon, [35.0, 37.0, 33.2, 35.25]])
    lat = np.concatenate([lat, [47.0, 48.0, 46.1, 47.25]])
    assert_same(m, lon, lat)


def test_detailed_line_on_a_small_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a line of 3,000 vertices 100-300 m apart, indexed with budgets far too small for
    # it (cells keep many candidates, built in many batches): still exact
    import ceasewatch.agreement.geometry as geometry

    rng = np.random.default_rng(30)
    steps = np.cumsum(rng.normal(0.0, 0.002, (3_000, 2)) + np.array([-0.0012, -0.0008]), axis=0)
    coords = [(37.6 + a, 49.7 + b) for a, b in steps]
    m = ZoneModel(load_agreement(write_agreement(tmp_path / "d")))
    m = ZoneModel(dataclasses.replace(m.agreement, line=shapely.linestrings(coords)))
    monkeypatch.setattr(geometry, "MAX_CELLS", 20_000)
    monkeypatch.setattr(geometry, "MAX_PAIRS", 100_000)
    monkeypatch.setattr(geometry, "PAIR_BATCH", 7_000)
    assert m.distance_index.n_leaves <= 20_000
    lon, lat = random_points_around(coords[::50], 4_000, 200.0, seed=31)
    near = np.asarray(coords)[rng.integers(0, len(coords), 2_000)] + rng.normal(
        0, 0.003, (2_000, 2)
    )
    assert_same(m, np.concatenate([lon, near[:, 0]]), np.concatenate([lat, near[:, 1]]))


def test_boundary_and_sectors(tmp_path: Path) -> None:
    m = ZoneModel(load_agreement(write_agreement(tmp_path / "s")))
    sectors = (
        ("north", shapely.box(34.0, 48.0, 39.0, 50.0)),
        ("south", shapely.Polygon([(31.0, 45.5), (38.0, 46.5), (36.0, 48.2), (31.5, 47.5)])),
        ("overlap", shapely.box(35.0, 47.5, 36.5, 48.5)),  # listed last: the others win
    )
    boundary = shapely.Polygon([(28.0, 44.5), (40.0, 45.0), (40.5, 51.0), (29.0, 51.5)])
    m = ZoneModel(dataclasses.replace(m.agreement, sectors=sectors, boundary=boundary))
    lon, lat = random_points_around(TEST_LINE, 6_000, 350.0, seed=8)
    # on sector and boundary edges and corners
    edges = np.concatenate(
        [shapely.get_coordinates(shapely.segmentize(shapely.boundary(g), 0.05)) for _, g in sectors]
        + [shapely.get_coordinates(boundary)]
    )
    lon = np.concatenate([lon, edges[:, 0]])
    lat = np.concatenate([lat, edges[:, 1]])
    z = assert_same(m, lon, lat)
    assert {"north", "south", "overlap"} <= set(z["sector"].dropna())
    assert "outside" in set(z["side"])
    # a sector no point falls in: the column stays all-null (object), as the reference's
    far = assert_same(m, np.array([20.0, 21.0]), np.array([40.0, 41.0]))
    assert far["sector"].isna().all()
    # the array functions agree too
    np.testing.assert_array_equal(
        side_of(lon, lat, m, method="fast"), side_of(lon, lat, m, method="reference")
    )
    np.testing.assert_array_equal(
        sector_of(lon, lat, m, method="fast"), sector_of(lon, lat, m, method="reference")
    )


def test_distance_function_and_auto(tmp_path: Path) -> None:
    m = ZoneModel(load_agreement(write_agreement(tmp_path / "d")))
    lon, lat = random_points_around(TEST_LINE, 3_000, 200.0, seed=9)
    ref = distance_to_line_m_reference(lon, lat, m)
    # small inputs: "auto" does not build the structures...
    np.testing.assert_array_equal(distance_to_line_m(lon, lat, m), ref)
    assert "distance_index" not in m.__dict__
    fast = distance_to_line_m(lon, lat, m, method="fast")
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-3 + 1e-9)
    # ...and uses them once they exist
    assert "distance_index" in m.__dict__
    np.testing.assert_array_equal(distance_to_line_m(lon, lat, m), fast)


# --- properties ----------------------------------------------------------------------------

_ROUNDTRIPS = {
    crs: (
        Transformer.from_crs(WGS84, CRS.from_user_input(crs), always_xy=True),
        Transformer.from_crs(CRS.from_user_input(crs), WGS84, always_xy=True),
    )
    for crs in ("EPSG:3857", "EPSG:32636")
}

_points = st.lists(
    st.tuples(st.floats(20.0, 50.0, allow_nan=False), st.floats(38.0, 58.0, allow_nan=False)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(pts=_points)
def test_fast_equals_reference_anywhere(model: ZoneModel, pts: list[tuple[float, float]]) -> None:
    p = np.asarray(pts, dtype=float)
    assert_same(model, p[:, 0], p[:, 1])


@settings(max_examples=60, deadline=None)
@given(pts=_points, crs=st.sampled_from(sorted(_ROUNDTRIPS)))
def test_fast_zones_unchanged_by_reprojection(
    model: ZoneModel, pts: list[tuple[float, float]], crs: str
) -> None:
    p = np.asarray(pts, dtype=float)
    before = evaluate_zones(p[:, 0], p[:, 1], model, method="fast")
    fwd, inv = _ROUNDTRIPS[crs]
    lon2, lat2 = inv.transform(*fwd.transform(p[:, 0], p[:, 1]))
    after = evaluate_zones(lon2, lat2, model, method="fast")
    d = before["distance_to_line_km"].to_numpy()
    near_edge = (np.abs(d[:, None] - model.widths_km[None, :]) <= 0.001).any(axis=1)
    assert list(before["zone"][~near_edge]) == list(after["zone"][~near_edge])
    np.testing.assert_allclose(after["distance_to_line_km"].to_numpy(), d, rtol=0, atol=1e-3)


# --- the compiled kernel against the numpy path ------------------------------------------


def _both(model: ZoneModel, lon: Arr, lat: Arr, **kw: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    before = zones_mod.USE_NUMBA
    try:
        zones_mod.USE_NUMBA = True
        k = evaluate_zones(lon, lat, model, method="fast", **kw)  # type: ignore[arg-type]
        zones_mod.USE_NUMBA = False
        n = evaluate_zones(lon, lat, model, method="fast", **kw)  # type: ignore[arg-type]
    finally:
        zones_mod.USE_NUMBA = before
    return k, n


def test_kernel_equals_numpy_path_to_the_bit(model: ZoneModel, folded: ZoneModel) -> None:
    lon, lat = random_points_around(TEST_LINE, 20_000, 300.0, seed=41)
    elon, elat = offsets_from_segments(model, [0.0, 15_000.0, 15_000.0004, 50_000.0, 140_000.0])
    lon = np.concatenate([lon, elon, [np.nan, 0.0, 35.0]])
    lat = np.concatenate([lat, elat, [48.0, 0.0, np.nan]])
    for m in (model, folded):
        k, n = _both(m, lon, lat)
        pd.testing.assert_frame_equal(k, n)
        np.testing.assert_array_equal(
            k["distance_to_line_km"].to_numpy(), n["distance_to_line_km"].to_numpy()
        )


def test_kernel_without_its_polynomials(model: ZoneModel, monkeypatch: pytest.MonkeyPatch) -> None:
    # a projection with more terms than the kernel takes: numpy projects, the kernel does
    # the rest
    monkeypatch.setattr(zones_mod, "_kernel_projection", lambda m: None)
    lon, lat = random_points_around(TEST_LINE, 3_000, 250.0, seed=42)
    fp = model.fast_projection
    assert fp is not None
    lon = np.concatenate([lon, [np.nan, fp.box[0] - 0.5, 35.0]])
    lat = np.concatenate([lat, [48.0, 48.0, fp.box[3] + 0.5]])
    assert_same(model, lon, lat)


def test_kernel_threads_give_the_same(model: ZoneModel) -> None:
    lon, lat = random_points_around(TEST_LINE, 30_000, 200.0, seed=43)
    one = evaluate_zones(lon, lat, model, method="fast", workers=1)
    two = evaluate_zones(lon, lat, model, method="fast", workers=2)
    many = evaluate_zones(lon, lat, model, method="fast", workers=64)
    pd.testing.assert_frame_equal(one, two)
    pd.testing.assert_frame_equal(one, many)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 65_535, 65_536, 65_537, 200_003])
def test_kernel_label_strings(n: int) -> None:
    if zones_mod._kernel is None:
        pytest.skip("numba not importable: no kernel to test")
    labels = ("a", "", None, "heavy_mlrs", "a label longer than sixteen bytes", "zone é ✓")
    rng = np.random.default_rng(n)
    for dtype in (np.int8, np.int16):
        codes = rng.integers(0, len(labels), n).astype(dtype)
        if n > 10:
            codes[-10:] = 4  # the longest at the very end of the last block
        got = zones_mod._kernel_strings(codes, labels)
        got.validate(full=True)
        want = pa.array([labels[c] for c in codes], type=pa.large_string())
        assert got.equals(want)
        assert got.null_count == want.null_count
    no_null = zones_mod._kernel_strings(np.zeros(n, dtype=np.int8), ("x", "y"))
    assert no_null.null_count == 0 and no_null.equals(pa.array(["x"] * n, pa.large_string()))


def test_warm_up_reports_the_compile_time() -> None:
    t = zones_mod.warm_up()
    if zones_mod._kernel is None or not zones_mod.USE_NUMBA:
        assert t is None
    else:
        assert t is not None and t >= 0.0


def test_numpy_fallback_when_numba_cannot_be_imported(tmp_path: Path) -> None:
    # numba blocked in a fresh interpreter: a warning, then the numpy path, same answers
    code = (
        "import sys, warnings\n"
        "sys.modules['numba'] = None\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    from ceasewatch.evaluate import zones\n"
        "assert not zones.USE_NUMBA and zones._kernel is None\n"
        "assert any('numba unavailable' in str(x.message) for x in w), [str(x.message) for x in w]\n"
        "assert zones.warm_up() is None\n"
        "print('fallback ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "fallback ok" in out.stdout
