"""The Dask engine gives the single-machine results: per-event zones, incidents (as sets of
event ids), violations, on generated data crossing many window edges, on the demo store and
on a partitioned GeoParquet directory; the stitch check catches a disagreeing window."""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import write_agreement
from typer.testing import CliRunner

from ceasewatch.agreement.model import Agreement, load_agreement
from ceasewatch.agreement.store import load_agreement_into
from ceasewatch.cli import app
from ceasewatch.errors import CeasewatchError
from ceasewatch.evaluate import dask_engine as de
from ceasewatch.evaluate.corroborate import CorroborationParams
from ceasewatch.evaluate.run import evaluate_events, evaluate_store
from ceasewatch.normalize import schema
from ceasewatch.store.duckdb import open_store

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _groundtruth() -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("groundtruth", BENCH / "groundtruth.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with de.dask_client(n_workers=2, threads_per_worker=1, processes=False) as c:
        yield c


@pytest.fixture(scope="module")
def agreement(tmp_path_factory: pytest.TempPathFactory) -> Agreement:
    folder = write_agreement(
        tmp_path_factory.mktemp("agreement") / "ag", effective="2024-01-01T00:00:00Z"
    )
    return dataclasses.replace(load_agreement(folder), version=1)


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    """~1,200 events over ~55 days along a front line: many incidents cross window edges."""
    ev, _ = _groundtruth().generate(400, seed=5, density=0.6)
    return ev


def incident_sets(members: pd.DataFrame) -> set[frozenset[str]]:
    groups = members.groupby("incident_id")["event_id"].agg(frozenset)
    return set(groups)


def assert_same_frames(local: Any, dask: Any) -> None:
    """Same incidents (sets of event ids, same ids), same violations, same zones."""
    assert incident_sets(local.members) == incident_sets(dask.members)
    lm = local.members.sort_values("event_id").reset_index(drop=True)
    dm = dask.members.sort_values("event_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(lm, dm, check_dtype=False)
    key = schema.INCIDENT_ID
    li = local.incidents.drop(columns=["updated_at"]).sort_values(key).reset_index(drop=True)
    di = dask.incidents.drop(columns=["updated_at"]).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(li, di[li.columns], check_dtype=False, atol=1e-9)
    vk = schema.VIOLATION_ID
    lv = local.violations.sort_values(vk).reset_index(drop=True)
    dv = dask.violations.sort_values(vk).reset_index(drop=True)
    assert len(lv) > 0
    pd.testing.assert_frame_equal(lv, dv[lv.columns], check_dtype=False, atol=1e-9)


def test_windows_cover_time_once_with_halo() -> None:
    params = CorroborationParams()
    halo = de.halo_s(params)
    assert halo >= 2 * params.max_time_span_s
    ws = de.windows_over(0.0, 100 * de.DAY_S, 30 * de.DAY_S, halo)
    assert len(ws) == 4
    assert ws[0].core_lo == -np.inf and ws[-1].core_hi == np.inf
    for a, b in itertools.pairwise(ws):
        assert a.core_hi == b.core_lo
        assert a.hi - a.core_hi == halo and b.core_lo - b.lo == halo


def test_generated_events_equal_single_machine(
    client: Any, events: pd.DataFrame, agreement: Agreement
) -> None:
    local = evaluate_events(events, {1: agreement})
    report = de.StitchReport()
    dask = de.evaluate_events_dask(
        client, events, {1: agreement}, window_days=12.0, rows_per_partition=500, report=report
    )
    # the data span many windows, and incidents cross their edges
    assert report.windows >= 4
    t = de._epoch_s(events[schema.OCCURRED_AT])
    edges = [w.core_hi for w in de.windows_over(t.min(), t.max(), 12 * de.DAY_S, 1.0)[:-1]]
    occ = events.set_index(schema.EVENT_ID)[schema.OCCURRED_AT]
    span = (
        local.members.assign(t=de._epoch_s(local.members["event_id"].map(occ)))
        .groupby("incident_id")["t"]
        .agg(["min", "max"])
    )
    crossing = sum(((span["min"] < e) & (span["max"] >= e)).sum() for e in edges)
    assert crossing > 0
    assert_same_frames(local, dask)
    lz = local.event_zones.sort_values(schema.EVENT_ID).reset_index(drop=True)
    dz = dask.event_zones.sort_values(schema.EVENT_ID).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        lz.astype(object).where(lz.notna(), None),
        dz[lz.columns].astype(object).where(dz[lz.columns].notna(), None),
    )


def test_stitch_check_catches_a_disagreeing_window(
    events: pd.DataFrame, agreement: Agreement
) -> None:
    params = CorroborationParams()
    ev = events.reset_index(drop=True)
    t = de._epoch_s(ev[schema.OCCURRED_AT])
    halo = de.halo_s(params)
    windows = de.windows_over(t.min(), t.max(), 10 * de.DAY_S, halo)[:3]
    models = {1: de.ZoneModel(agreement)}
    results = [
        de.evaluate_window(w, de._window_events(ev, t, w, ()), {1: agreement}, models, params)
        for w in windows
    ]
    ids = pd.concat([r.owned["event_id"] for r in results])
    assert de.check_stitch(results, ids, margin_s=halo / 2) == []
    # window 1 claims an incident that window 0 owns: every event must be owned once
    stolen = results[0].owned.iloc[:1]
    results[1].owned = pd.concat([results[1].owned, stolen], ignore_index=True)
    assert de.check_stitch(results, ids, margin_s=halo / 2) == [(0, 1)]
    merged = de._merged(windows, [(0, 1)])
    assert len(merged) == 2
    assert merged[0].core_lo == windows[0].core_lo and merged[0].core_hi == windows[1].core_hi


def test_directory_equals_single_machine(
    client: Any, events: pd.DataFrame, agreement: Agreement, tmp_path: Path
) -> None:
    src = tmp_path / "events"
    paths = de.write_partitioned_events(events, src, rows_per_file=400)
    assert len(paths) == -(-len(events) // 400)
    result = de.evaluate_directory(client, src, tmp_path / "out", {1: agreement}, window_days=30)
    local = evaluate_events(events, {1: agreement})
    members = pd.read_parquet(result.outputs["members"])
    violations = pd.read_parquet(result.outputs["violations"])
    assert result.events == len(events)
    assert incident_sets(members) == incident_sets(local.members)
    assert set(violations[schema.VIOLATION_ID]) == set(local.violations[schema.VIOLATION_ID])
    import geopandas as gpd

    zones = gpd.read_parquet(result.outputs["event_zones"])
    assert zones.crs is not None and zones.crs.to_epsg() == 4326
    merged = zones.merge(local.event_zones, on=schema.EVENT_ID, suffixes=("", "_local"))
    assert len(merged) == len(events)
    assert (merged[schema.ZONE] == merged[f"{schema.ZONE}_local"]).all()
    assert np.allclose(
        merged[schema.DISTANCE_TO_LINE_KM], merged[f"{schema.DISTANCE_TO_LINE_KM}_local"]
    )


def test_directory_without_report_group_is_refused(events: pd.DataFrame, tmp_path: Path) -> None:
    events.drop(columns=[schema.REPORT_GROUP]).iloc[:10].to_parquet(tmp_path / "a.parquet")
    with pytest.raises(CeasewatchError, match=r"lacks column.*report_group"):
        de.read_events_dir(tmp_path)
    with pytest.raises(CeasewatchError, match=r"does not exist"):
        de.read_events_dir(tmp_path / "nowhere")


@pytest.fixture(scope="module")
def demo_stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo scenario ingested once into a DuckDB file, copied: one per engine."""
    from ceasewatch.demo_data import generate_demo_inputs
    from ceasewatch.ingest.base import get_source
    from ceasewatch.ingest.pipeline import ingest_file

    base = tmp_path_factory.mktemp("demo")
    inputs = generate_demo_inputs(base / "inputs", seed=7)
    path = base / "local.duckdb"
    st = open_store(path)
    try:
        load_agreement_into(st, inputs.agreement_dir)
        for source, f in (
            ("acled", inputs.acled_csv),
            ("firms", inputs.firms_csv),
            ("field_report", inputs.field_reports_json),
        ):
            ingest_file(st, get_source(source), f)
    finally:
        st.close()
    other = base / "dask.duckdb"
    shutil.copy(path, other)
    return path, other


def test_demo_store_same_results_and_writes(client: Any, demo_stores: tuple[Path, Path]) -> None:
    local_path, dask_path = demo_stores
    st = open_store(local_path)
    try:
        r_local = evaluate_store(st)
        l_members, l_incidents = st.incident_members(), st.incidents()
        l_violations, l_eval = st.violations(), st.event_eval()
    finally:
        st.close()
    st = open_store(dask_path)
    try:
        report = de.StitchReport()
        r_dask = de.evaluate_store_dask(st, client, window_days=9.0, report=report)
        d_members, d_incidents = st.incident_members(), st.incidents()
        d_violations, d_eval = st.violations(), st.event_eval()
        # nothing is due afterwards, as after the local path
        assert de.evaluate_store_dask(st, client).events_evaluated == 0
    finally:
        st.close()
    assert report.windows >= 4
    assert r_dask.events_evaluated == r_local.events_evaluated > 1_000
    assert (r_dask.incidents, r_dask.violations) == (r_local.incidents, r_local.violations)
    assert incident_sets(l_members) == incident_sets(d_members)
    vk = schema.VIOLATION_ID
    # when each run detected them differs; everything else must not
    lv = (
        l_violations.drop(columns=["detected_at", "updated_at"])
        .sort_values(vk)
        .reset_index(drop=True)
    )
    dv = (
        d_violations.drop(columns=["detected_at", "updated_at"])
        .sort_values(vk)
        .reset_index(drop=True)
    )
    assert len(lv) > 0
    pd.testing.assert_frame_equal(lv, dv, check_dtype=False, atol=1e-9)
    key = schema.INCIDENT_ID
    li = l_incidents.drop(columns=["updated_at"]).sort_values(key).reset_index(drop=True)
    di = d_incidents.drop(columns=["updated_at"]).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(li, di, check_dtype=False, atol=1e-9)
    le = l_eval.sort_values(schema.EVENT_ID).reset_index(drop=True)
    dz = d_eval.sort_values(schema.EVENT_ID).reset_index(drop=True)
    pd.testing.assert_frame_equal(le, dz, check_dtype=False)


def test_cli_rejects_bad_engine_and_unreachable_scheduler(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["evaluate", "--engine", "spark", "--store", str(tmp_path / "s.db")])
    assert r.exit_code == 1
    assert "--engine 'spark' is not known" in r.output
    r = runner.invoke(app, ["evaluate", "--scheduler", "tcp://127.0.0.1:1"])
    assert r.exit_code == 1
    assert "need --engine dask" in r.output
    r = runner.invoke(
        app, ["evaluate", "--engine", "dask", "--input", str(tmp_path), "--store", "x"]
    )
    assert r.exit_code == 1
    assert "--input and --out go together" in r.output


def test_cli_dask_directory(client: Any, events: pd.DataFrame, tmp_path: Path) -> None:
    folder = write_agreement(tmp_path / "ag", effective="2024-01-01T00:00:00Z")
    src = tmp_path / "events"
    first = events.sort_values(schema.OCCURRED_AT).iloc[:300]
    paths = de.write_partitioned_events(first, src)
    days = first[schema.OCCURRED_AT].dt.strftime("%Y-%m-%d").nunique()
    assert len(paths) == days > 1  # one file per day
    # the test's in-process cluster, by its scheduler's address (no processes to start)
    r = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--engine",
            "dask",
            "--input",
            str(src),
            "--out",
            str(tmp_path / "out"),
            "--agreement",
            str(folder),
            "--scheduler",
            client.scheduler.address,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "evaluated 300 events" in r.output
    assert (tmp_path / "out" / "violations.parquet").exists()
