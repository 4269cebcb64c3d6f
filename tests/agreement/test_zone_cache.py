"""The zone cache: structures loaded from disk equal the built ones, a different geometry is a
different file, a bad file is rebuilt, and "auto" evaluation uses the cache."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import TEST_LINE, write_agreement
from typer.testing import CliRunner

from ceasewatch.agreement import geometry, zone_cache
from ceasewatch.agreement.geometry import ZoneModel
from ceasewatch.agreement.model import Agreement, load_agreement
from ceasewatch.agreement.store import load_agreement_into
from ceasewatch.cli import app
from ceasewatch.evaluate import zones
from ceasewatch.evaluate.run import load_agreements
from ceasewatch.evaluate.zones import evaluate_zones


def random_points_around(
    coords: list[tuple[float, float]], n: int, max_km: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Points up to ~``max_km`` from random vertices of the line (lon/lat degrees)."""
    rng = np.random.default_rng(seed)
    c = np.asarray(coords)[rng.integers(0, len(coords), n)]
    r = rng.uniform(0.0, max_km / 111.0, n)
    az = rng.uniform(0.0, 2 * np.pi, n)
    return c[:, 0] + r * np.cos(az) / np.cos(np.radians(c[:, 1])), c[:, 1] + r * np.sin(az)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(zone_cache.ENV, str(folder))
    return folder / "zones"


@pytest.fixture
def agreement(tmp_path: Path) -> Agreement:
    a = load_agreement(write_agreement(tmp_path / "a"))
    sectors = (
        ("north", shapely.box(34.0, 48.0, 39.0, 50.0)),
        ("south", shapely.Polygon([(31.0, 45.5), (38.0, 46.5), (36.0, 48.2), (31.5, 47.5)])),
    )
    boundary = shapely.Polygon([(28.0, 44.5), (40.0, 45.0), (40.5, 51.0), (29.0, 51.5)])
    return dataclasses.replace(a, sectors=sectors, boundary=boundary)


def _assert_same_structure(a: object, b: object, where: str) -> None:
    if a is None or b is None:
        assert a is b, where
        return
    assert type(a) is type(b), where
    for f in dataclasses.fields(a):  # type: ignore[arg-type]
        x, y = getattr(a, f.name), getattr(b, f.name)
        if dataclasses.is_dataclass(x):
            _assert_same_structure(x, y, f"{where}.{f.name}")
        elif isinstance(x, np.ndarray):
            assert isinstance(y, np.ndarray) and x.dtype == y.dtype, f"{where}.{f.name}"
            np.testing.assert_array_equal(x, y, err_msg=f"{where}.{f.name}")
        else:
            # a scalar: the same value, of the same kind (numpy's float64 is a float)
            assert np.asarray(x).dtype == np.asarray(y).dtype and x == y, f"{where}.{f.name}"


def test_loaded_structures_equal_the_built_ones(cache: Path, agreement: Agreement) -> None:
    built = ZoneModel(agreement)
    assert zone_cache.ensure(built) == "built"
    assert zone_cache.ensure(built) == "memory"
    files = list(cache.glob("*.npz"))
    assert [f.stem for f in files] == [zone_cache.cache_key(built)]
    loaded = ZoneModel(agreement)
    assert zone_cache.ensure(loaded) == "disk"
    for name in zone_cache.STRUCTURES:
        assert name in loaded.__dict__
        _assert_same_structure(getattr(built, name), getattr(loaded, name), name)
    # and they answer the same, and as the exact method does
    lon, lat = random_points_around(TEST_LINE, 20_000, 300.0, seed=4)
    lon, lat = np.append(lon, [np.nan, 10.0]), np.append(lat, [48.0, 10.0])
    fast = evaluate_zones(lon, lat, loaded, method="fast")
    pd.testing.assert_frame_equal(fast, evaluate_zones(lon, lat, built, method="fast"))
    ref = evaluate_zones(lon, lat, ZoneModel(agreement), method="reference")
    for col in ("zone", "side", "sector"):
        pd.testing.assert_series_equal(fast[col], ref[col])
    np.testing.assert_allclose(
        fast["distance_to_line_km"], ref["distance_to_line_km"], rtol=0, atol=1e-6
    )


def test_an_agreement_without_side_or_sectors(cache: Path, tmp_path: Path) -> None:
    a = load_agreement(write_agreement(tmp_path / "n", control=False))
    assert zone_cache.ensure(ZoneModel(a)) == "built"
    m = ZoneModel(a)
    assert zone_cache.ensure(m) == "disk"
    assert m.side_raster is None and m.sector_raster is None
    assert m.fast_projection is not None


def test_the_key_follows_the_geometry_and_the_builders(
    cache: Path, agreement: Agreement, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = zone_cache.cache_key(ZoneModel(agreement))
    assert zone_cache.cache_key(ZoneModel(dataclasses.replace(agreement))) == key
    line = shapely.get_coordinates(agreement.line)
    line[3, 0] += 1e-9
    others = [
        dataclasses.replace(agreement, line=shapely.linestrings(line)),
        dataclasses.replace(agreement, zones=agreement.zones[:-1]),
        dataclasses.replace(
            agreement, zones=(dataclasses.replace(agreement.zones[0], width_km=16.0),)
        ),
        dataclasses.replace(agreement, control=agreement.control[::-1]),
        dataclasses.replace(agreement, control=tuple(("X" + p, g) for p, g in agreement.control)),
        dataclasses.replace(agreement, boundary=None),
        dataclasses.replace(agreement, sectors=agreement.sectors[:1]),
    ]
    keys = {zone_cache.cache_key(ZoneModel(o)) for o in others}
    assert len(keys) == len(others) and key not in keys
    # not the name, the dates or the rules
    renamed = dataclasses.replace(agreement, name="other", prohibited_everywhere=())
    assert zone_cache.cache_key(ZoneModel(renamed)) == key
    # a builder's setting changed at run time is another key
    monkeypatch.setattr(geometry, "MAX_CELLS", 20_000)
    assert zone_cache.cache_key(ZoneModel(agreement)) != key


def test_the_key_survives_the_store(cache: Path, tmp_path: Path) -> None:
    from ceasewatch.store.duckdb import DuckDBStore

    folder = write_agreement(tmp_path / "s")
    st = DuckDBStore(":memory:")
    version, _ = load_agreement_into(st, folder)
    stored = load_agreements(st)[version]
    st.close()
    assert zone_cache.cache_key(ZoneModel(stored)) == zone_cache.cache_key(
        ZoneModel(load_agreement(folder))
    )


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other key", "pickled"])
def test_a_bad_file_is_ignored_and_replaced(
    cache: Path, agreement: Agreement, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    m = ZoneModel(agreement)
    zone_cache.ensure(m)
    path = zone_cache.path_of(m)
    assert path is not None
    good = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not an archive" * 100)
    elif damage == "other key":
        with np.load(path) as z:
            data = {k: z[k] for k in z.files}
        data["__key__"] = np.asarray("0" * 64)
        np.savez(path, **data)
    else:  # an object array would need pickle to load: never read
        with np.load(path) as z:
            data = {k: z[k] for k in z.files}
        data["distance_index.top"] = np.array([object()], dtype=object)
        np.savez(path, allow_pickle=True, **data)
    fresh = ZoneModel(agreement)
    with caplog.at_level(logging.WARNING, logger="ceasewatch.agreement.zone_cache"):
        assert zone_cache.load(fresh) is False
    assert "distance_index" not in fresh.__dict__
    if damage != "other key":
        assert "ignored" in caplog.text
    assert zone_cache.ensure(fresh) == "built"
    with np.load(path) as z, np.load(io.BytesIO(good)) as g:  # rebuilt, written again
        assert z.files == g.files
        for k in g.files:
            if not k.endswith("build_seconds"):  # (the time the build took)
                np.testing.assert_array_equal(z[k], g[k])
    assert zone_cache.ensure(ZoneModel(agreement)) == "disk"


def test_cache_off(monkeypatch: pytest.MonkeyPatch, agreement: Agreement) -> None:
    monkeypatch.setenv(zone_cache.ENV, "off")
    assert zone_cache.cache_dir() is None
    m = ZoneModel(agreement)
    assert zone_cache.path_of(m) is None
    assert zone_cache.ensure(m) == "built"
    assert zone_cache.ensure(ZoneModel(agreement)) == "built"
    # "auto" keeps to the exact method below FAST_MIN_EVENTS
    lon, lat = random_points_around(TEST_LINE, zones.CACHED_MIN_EVENTS, 100.0, seed=1)
    m2 = ZoneModel(agreement)
    evaluate_zones(lon, lat, m2)
    assert "distance_index" not in m2.__dict__


def test_default_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(zone_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert zone_cache.cache_dir() == tmp_path / "xdg" / "ceasewatch" / "zones"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert zone_cache.cache_dir() == tmp_path / "home" / ".cache" / "ceasewatch" / "zones"


def test_an_unwritable_cache_still_evaluates(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    agreement: Agreement,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder would be")
    monkeypatch.setenv(zone_cache.ENV, str(blocker))
    m = ZoneModel(agreement)
    with caplog.at_level(logging.WARNING, logger="ceasewatch.agreement.zone_cache"):
        assert zone_cache.ensure(m) == "built"
    assert "not written" in caplog.text
    lon, lat = random_points_around(TEST_LINE, 500, 100.0, seed=2)
    pd.testing.assert_frame_equal(
        evaluate_zones(lon, lat, m, method="fast"),
        evaluate_zones(lon, lat, ZoneModel(agreement), method="reference"),
        check_exact=False,
        atol=1e-6,
    )


def test_what_a_caller_set_is_kept_and_not_saved(cache: Path, agreement: Agreement) -> None:
    m = ZoneModel(agreement)
    m.__dict__["fast_projection"] = None  # pyproj instead of the polynomials
    assert zone_cache.ensure(m) == "built"
    assert m.fast_projection is None
    assert not list(cache.glob("*.npz"))
    # a cached file does not override it either
    zone_cache.ensure(ZoneModel(agreement))
    m2 = ZoneModel(agreement)
    m2.__dict__["fast_projection"] = None
    assert zone_cache.ensure(m2) == "disk"
    assert m2.fast_projection is None


def test_auto_uses_the_cache_from_cached_min_events(cache: Path, agreement: Agreement) -> None:
    n = zones.CACHED_MIN_EVENTS
    lon, lat = random_points_around(TEST_LINE, n, 200.0, seed=5)
    # below the threshold: the exact method, nothing built or written
    small = ZoneModel(agreement)
    evaluate_zones(lon[: n - 1], lat[: n - 1], small)
    assert "distance_index" not in small.__dict__ and not cache.exists()
    # from it: built once and kept...
    first = ZoneModel(agreement)
    a = evaluate_zones(lon, lat, first)
    assert "distance_index" in first.__dict__
    assert len(list(cache.glob("*.npz"))) == 1
    # ...then loaded by the next model (another process, in real use)
    second = ZoneModel(agreement)
    b = evaluate_zones(lon, lat, second)
    assert "distance_index" in second.__dict__
    pd.testing.assert_frame_equal(a, b)
    ref = evaluate_zones(lon, lat, ZoneModel(agreement), method="reference")
    pd.testing.assert_frame_equal(
        a.drop(columns="distance_to_line_km"), ref.drop(columns="distance_to_line_km")
    )
    np.testing.assert_allclose(a["distance_to_line_km"], ref["distance_to_line_km"], atol=1e-6)
    # a small batch still takes the exact method (loading would cost more than it saves)
    again = ZoneModel(agreement)
    evaluate_zones(lon[: n - 1], lat[: n - 1], again)
    assert "distance_index" not in again.__dict__


def test_cli_agreement_load_prepares_the_zones(cache: Path, tmp_path: Path) -> None:
    folder = write_agreement(tmp_path / "c")
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    r = runner.invoke(app, ["agreement", "load", str(folder), "--store", str(db)])
    assert r.exit_code == 0, r.output
    assert "zone structures built" in r.output
    assert len(list(cache.glob("*.npz"))) == 1
    r = runner.invoke(app, ["agreement", "load", str(folder), "--store", str(db)])
    assert "zone structures found" in r.output
    r = runner.invoke(app, ["agreement", "load", str(folder), "--store", str(db), "--no-prepare"])
    assert r.exit_code == 0 and "zone structures" not in r.output


def test_the_cache_keeps_the_most_recently_used_files(
    cache: Path, agreement: Agreement, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zone_cache, "MAX_FILES", 3)
    line = shapely.get_coordinates(agreement.line)
    variants = []
    for k in range(4):
        moved = line.copy()
        moved[:, 1] += 0.01 * k
        variants.append(dataclasses.replace(agreement, line=shapely.linestrings(moved)))
    paths = []
    for k, a in enumerate(variants[:3]):
        zone_cache.ensure(ZoneModel(a))
        p = zone_cache.path_of(ZoneModel(a))
        assert p is not None
        os.utime(p, (1_000_000 + k, 1_000_000 + k))  # written in this order
        paths.append(p)
    # loading the oldest makes it the most recently used
    assert zone_cache.ensure(ZoneModel(variants[0])) == "disk"
    leftover = cache / ".tmp-abandoned.npz"
    leftover.write_bytes(b"half a file")
    os.utime(leftover, (1_000_000, 1_000_000))
    zone_cache.ensure(ZoneModel(variants[3]))  # a fourth: the least recently used goes
    left = {p.name for p in cache.iterdir()}
    assert paths[1].name not in left
    assert {paths[0].name, paths[2].name} <= left
    assert len(left) == 3 and leftover.name not in left


def test_a_file_others_can_write_is_not_read(
    cache: Path, agreement: Agreement, caplog: pytest.LogCaptureFixture
) -> None:
    m = ZoneModel(agreement)
    zone_cache.ensure(m)
    path = zone_cache.path_of(m)
    assert path is not None
    assert path.stat().st_mode & 0o077 == 0  # the user's only
    assert cache.stat().st_mode & 0o077 == 0
    path.chmod(0o666)
    with caplog.at_level(logging.WARNING, logger="ceasewatch.agreement.zone_cache"):
        assert zone_cache.ensure(ZoneModel(agreement)) == "built"  # not read: rebuilt
    assert "can write it" in caplog.text
    assert path.stat().st_mode & 0o077 == 0  # and replaced by the user's own
    assert zone_cache.ensure(ZoneModel(agreement)) == "disk"
