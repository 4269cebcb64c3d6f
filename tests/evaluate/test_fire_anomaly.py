"""The war-fire model on generated detections with a known truth, and end to end through the
store and the CLI (generated data and a small subset of the real FIRMS history)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file, write_agreement
from typer.testing import CliRunner

from ceasewatch.errors import CeasewatchError
from ceasewatch.evaluate import fire_anomaly as fa
from ceasewatch.fires_cli import app as fires_app
from ceasewatch.ingest.base import get_source
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.store.duckdb import DuckDBStore
from ceasewatch.store.fires import (
    fire_class_table,
    fire_classes,
    load_baseline,
    run_baseline,
    run_classify,
)

# a 1° x 2° region: 10 x 20 cells of 0.1°
LAT0, LON0 = 48.0, 30.0
SEASONAL = (48.25, 30.25, 48.45, 30.65)  # field burning in days 100-113 every year
INJECTED = (48.65, 31.25, 48.85, 31.65)  # fighting in days 200-260 of the test year


def _day(year: int, doy: int | np.ndarray) -> np.ndarray:
    return fa.day_number(pd.Series([pd.Timestamp(f"{year}-01-01")]))[0] + np.asarray(doy)


def _box_points(rng: np.random.Generator, box: tuple[float, float, float, float], n: int):
    return rng.uniform(box[0], box[2], n), rng.uniform(box[1], box[3], n)


def generate_year(
    rng: np.random.Generator, year: int, *, seasonal: float = 1.0, injected: bool = False
) -> pd.DataFrame:
    """Background fires, a seasonal burn (intensity ``seasonal`` × a random year factor)
    and, optionally, the injected fighting. ``kind`` tells them apart."""
    parts = []
    # background: about 0.01 detections per cell-day, all year
    n_bg = rng.poisson(0.01 * 200 * 365)
    lat, lon = _box_points(rng, (LAT0, LON0, LAT0 + 1.0, LON0 + 2.0), n_bg)
    parts.append(("background", lat, lon, rng.integers(0, 365, n_bg)))
    # seasonal field burning: a few burn days in days 100-113, dozens of pixels each
    factor = seasonal * rng.gamma(4.0, 0.25)
    for burn_day in rng.choice(np.arange(100, 114), size=4, replace=False):
        n = rng.poisson(40 * factor)
        lat, lon = _box_points(rng, SEASONAL, n)
        parts.append(("seasonal", lat, lon, np.full(n, burn_day)))
    if injected:
        for d in range(200, 261):
            if rng.random() < 0.7:  # fighting most days
                n = rng.poisson(25)
                lat, lon = _box_points(rng, INJECTED, n)
                parts.append(("injected", lat, lon, np.full(n, d)))
    frames = [
        pd.DataFrame({"kind": k, "lat": la, "lon": lo, "day": _day(year, d)})
        for k, la, lo, d in parts
    ]
    return pd.concat(frames, ignore_index=True)


def generate(seed: int = 3, *, test_year: int = 2022, injected: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    years = [generate_year(rng, y) for y in range(2016, 2022)]
    years.append(generate_year(rng, test_year, injected=injected))
    return pd.concat(years, ignore_index=True)


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, fa.Baseline, pd.DataFrame]:
    det = generate()
    base = fa.fit_baseline(det["lat"], det["lon"], det["day"], "2022-01-01")
    target = fa.year_of(det["day"].to_numpy()) == 2022
    res = fa.classify_detections(base, det["lat"], det["lon"], det["day"], target=target)
    return det[target].reset_index(drop=True), base, res


def test_injected_anomaly_is_found(synthetic) -> None:
    det, _, res = synthetic
    inj = (det["kind"] == "injected").to_numpy()
    assert inj.sum() > 200
    assert res.loc[inj, "war_related"].mean() > 0.8
    assert res.loc[inj, "war_probability"].median() > 0.5
    # all but the ragged first and last days of the episode
    doy = fa.day_of_year(det["day"].to_numpy())
    middle = inj & (doy >= 210) & (doy <= 250)
    assert res.loc[middle, "war_related"].mean() > 0.9
    # the evidence behind it: far above the upper bound, persistent
    assert (res.loc[inj, "observed_window"] > res.loc[inj, "upper_window"]).mean() > 0.9
    assert res.loc[inj, "persistence_days"].median() >= 20


def test_seasonal_burn_and_background_are_not_flagged(synthetic) -> None:
    det, _, res = synthetic
    seasonal = (det["kind"] == "seasonal").to_numpy()
    background = (det["kind"] == "background").to_numpy()
    assert seasonal.sum() > 50
    assert res.loc[seasonal, "war_related"].sum() == 0
    assert res.loc[seasonal, "war_probability"].max() < 0.2
    # background fires that happen to fall inside the fighting area are flagged with it
    inside = (
        det["lat"].between(INJECTED[0] - 0.1, INJECTED[2] + 0.1)
        & det["lon"].between(INJECTED[1] - 0.1, INJECTED[3] + 0.1)
    ).to_numpy()
    assert res.loc[background & ~inside, "war_related"].mean() < 0.005


def test_placebo_on_a_normal_generated_year() -> None:
    """A normal year held out of the baseline: (almost) nothing is war-related."""
    det = generate(seed=11, test_year=2022, injected=False)
    base = fa.fit_baseline(det["lat"], det["lon"], det["day"], "2022-01-01")
    target = fa.year_of(det["day"].to_numpy()) == 2022
    res = fa.classify_detections(base, det["lat"], det["lon"], det["day"], target=target)
    assert len(res) > 800
    assert res["war_related"].mean() < 0.002


def test_an_unusually_big_seasonal_burn_alone_is_not_war() -> None:
    """Three times the usual field burning in its usual season: an excess, but one episode
    (no persistence): not war-related."""
    rng = np.random.default_rng(8)
    years = [generate_year(rng, y) for y in range(2016, 2022)]
    years.append(generate_year(rng, 2022, seasonal=3.0))
    det = pd.concat(years, ignore_index=True)
    base = fa.fit_baseline(det["lat"], det["lon"], det["day"], "2022-01-01")
    target = fa.year_of(det["day"].to_numpy()) == 2022
    res = fa.classify_detections(base, det["lat"], det["lon"], det["day"], target=target)
    seasonal = (det.loc[target, "kind"] == "seasonal").to_numpy()
    assert res.loc[seasonal, "surprise_block"].median() > 2  # it is unusual …
    assert res.loc[seasonal, "war_related"].sum() == 0  # … but not the war


def test_baseline_expectation_and_interval(synthetic) -> None:
    _, base, _ = synthetic
    p = base.params
    assert base.years == (2016, 2017, 2018, 2019, 2020, 2021)
    iy, ix = fa.cell_index([48.35], [30.45], p.cell_deg)
    y, x = int(iy[0]) - base.iy0, int(ix[0]) - base.ix0
    b = int(fa.bin_of([106], p)[0])
    burn = base.expected[b, y, x]
    quiet = base.expected[20, y, x]
    # ~160 pixel-days per season over 8 cells and 14 days: ~1.4 per cell-day
    assert 0.5 < burn < 3.0
    assert quiet < 0.05
    assert p.dispersion_min <= base.dispersion.min() <= base.dispersion.max() <= p.dispersion_max
    mu = burn * 7
    lo_q, hi_q = (
        fa.nb_quantile(0.05, mu, base.dispersion[b, y, x]),
        fa.nb_quantile(0.95, mu, base.dispersion[b, y, x]),
    )
    assert lo_q < mu < hi_q  # a prediction comes with an interval
    # stored and read back: the same arrays
    back = fa.Baseline.from_frame(base.to_frame(), until=base.until, params=p)
    e2, d2, b2 = back.regrid(base.iy0, base.ix0, *base.shape)
    assert np.allclose(e2, base.expected)
    assert np.allclose(d2, base.dispersion)
    assert np.allclose(b2, base.dispersion_block)


def test_grid_calendar_and_probability_helpers() -> None:
    p = fa.FireModelParams()
    iy, ix = fa.cell_index([47.0, 47.09999, -0.05], [35.1, 35.0, -0.01], 0.1)
    assert iy.tolist() == [470, 470, -1] and ix.tolist() == [351, 350, -1]
    assert fa.cell_yx(fa.cell_id(iy, ix))[0].tolist() == iy.tolist()
    w = fa.doy_weights(p)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert w[6, 0] == pytest.approx(1.0, abs=0.04)  # the first bin's centre (day 6.5)
    # two detections of one pixel and day (two satellites) are one burning pixel-day
    _, _, d = fa.pixel_days([48.0011, 48.0012, 48.0011], [30.0, 30.0001, 30.0], [5, 5, 6], 0.01)
    assert len(d) == 2
    # the proximity prior alone never makes a fire war-related, nor does one big episode
    top = p.intercept + p.coef_cell * p.surprise_cap + p.coef_block * p.surprise_cap
    assert top + p.prior_near < 0
    assert fa.war_probability([0.0], [0.0], [0], [p.prior_near], p)[0] < 1e-3
    assert fa.proximity_prior([0.0, 25.0, 62.5, 100.0, 150.0, 500.0, np.nan], p).tolist() == [
        1.0,
        1.0,
        0.5,
        0.0,
        -0.5,
        -1.0,
        0.0,
    ]


def test_baseline_refuses_too_little_data() -> None:
    with pytest.raises(CeasewatchError, match="no fire detections before"):
        fa.fit_baseline([48.0], [30.0], _day(2022, [10]), "2021-01-01")
    with pytest.raises(CeasewatchError, match="do not cover every time of year"):
        fa.fit_baseline([48.0, 48.0], [30.0, 30.0], _day(2021, [100, 200]), "2022-01-01")


# --- through the store and the CLI ------------------------------------------------------
def _write_reduced(path: Path, det: pd.DataFrame) -> Path:
    dates = det["day"].to_numpy().astype("datetime64[D]").astype(str)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["LATITUDE", "LONGITUDE", "ACQ_DATE"])
        for la, lo, d in zip(det["lat"].round(5), det["lon"].round(5), dates, strict=True):
            w.writerow([f"{la:.5f}", f"{lo:.5f}", d])
    return path


def test_store_and_cli_end_to_end(tmp_path) -> None:
    det = generate(seed=4)
    path = _write_reduced(tmp_path / "fires.csv", det)
    db = str(tmp_path / "cw.duckdb")
    store = DuckDBStore(db)
    r = ingest_file(store, get_source("firms"), path)
    assert r.loaded == len(det)
    store.close()
    run = CliRunner()
    res = run.invoke(fires_app, ["baseline", "--until", "2022-01-01", "--store", db])
    assert res.exit_code == 0, res.output
    assert "baseline until 2022-01-01" in res.output
    res = run.invoke(fires_app, ["classify", "--store", db])
    assert res.exit_code == 0, res.output
    n22 = int((fa.year_of(det["day"].to_numpy()) == 2022).sum())
    assert f"classified {n22:,} detections" in res.output
    assert "proximity prior not used" in res.output
    res = run.invoke(fires_app, ["report", "--store", db, "-o", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    for name in ("fires.md", "weekly.csv", "oblasts.csv", "map.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 0
    store = DuckDBStore(db)
    try:
        fc = fire_classes(store)
        assert list(fc.columns) == ["event_id", "war_probability", "war_related"]
        assert len(fc) == n22
        assert fc["war_probability"].between(0, 1).all()
        ev = store.events()[["event_id", "lat", "lon", "occurred_at"]].merge(fc, on="event_id")
        inj = ev["lat"].between(INJECTED[0], INJECTED[2]) & ev["lon"].between(
            INJECTED[1], INJECTED[3]
        )
        assert ev.loc[inj, "war_related"].mean() > 0.8
        assert ev.loc[~inj, "war_related"].mean() < 0.01
        # classifying again replaces, never duplicates
        again = run_classify(store)
        assert again.classified == n22 and len(fire_classes(store)) == n22
        # a line of contact through the fighting raises its probabilities (a prior)
        before = fire_class_table(store).set_index("event_id")["war_probability"]
        line = [(31.4, 48.0), (31.45, 49.0)]
        folder = write_agreement(tmp_path / "agr", effective="2022-01-01T00:00:00Z", line=line)
        from ceasewatch.agreement.store import load_agreement_into

        load_agreement_into(store, folder)
        with_line = run_classify(store)
        assert with_line.with_line
        after = fire_class_table(store).set_index("event_id")
        assert after["distance_to_line_km"].notna().all()
        near = after["distance_to_line_km"] < 20
        assert (after.loc[near, "war_probability"] >= before[near[near].index]).all()
        far = after["distance_to_line_km"] > 150
        assert not after.loc[far, "war_related"].any()
    finally:
        store.close()


def test_classify_needs_a_baseline(store) -> None:
    with pytest.raises(CeasewatchError, match="no fire baseline"):
        run_classify(store)
    assert load_baseline(store) is None
    assert fire_classes(store).empty


def test_real_subset_end_to_end(tmp_path) -> None:
    """East Ukraine (47-50°N, 36-40°E) from the real 2020 and 2021 files: baseline on 2020,
    the pre-war year 2021 classified as a placebo."""
    rows = []
    for year in (2020, 2021):
        src = shared_file("firms_history", f"ukr_fire_data_{year}.csv")
        with open(src, newline="") as fh:
            for r in csv.DictReader(fh):
                if 47 <= float(r["LATITUDE"]) < 50 and 36 <= float(r["LONGITUDE"]) < 40:
                    rows.append(r)
    path = tmp_path / "east.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["LATITUDE", "LONGITUDE", "ACQ_DATE"])
        w.writeheader()
        w.writerows(rows)
    n21 = sum(r["ACQ_DATE"].startswith("2021") for r in rows)
    store = DuckDBStore(":memory:")
    try:
        assert ingest_file(store, get_source("firms"), path).loaded == len(rows)
        b = run_baseline(store, "2021-01-01")
        assert b.years == (2020,)
        c = run_classify(store)
        assert c.classified == n21 > 5_000
        fc = fire_class_table(store)
        assert fc["war_probability"].between(0, 1).all()
        p = load_baseline(store)
        assert p is not None
        assert (fc["war_related"] == (fc["war_probability"] >= p.params.threshold)).all()
        assert fc["war_related"].mean() < 0.02  # a pre-war year: near zero
    finally:
        store.close()
