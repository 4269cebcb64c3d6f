"""The demo ledger, the scorecard report, the daily-report lines, exports and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import yaml
from conftest import write_agreement
from typer.testing import CliRunner

from ceasewatch.agreement.store import load_agreement_into
from ceasewatch.guarantee import air_defense as ad
from ceasewatch.guarantee.cli import app
from ceasewatch.guarantee.demo import (
    DEMO_SECTORS,
    demo_air_alerts_csv,
    demo_air_attacks_csv,
    demo_ledger,
    load_demo_ledger,
)
from ceasewatch.guarantee.export import EXPORT_TABLES, export_table
from ceasewatch.guarantee.importers import air_attacks_from_csv
from ceasewatch.guarantee.ingest import ingest_air_alerts, ingest_air_attacks
from ceasewatch.report.guarantees import guarantee_summary_lines, report
from ceasewatch.store import guarantee as sg
from ceasewatch.store.duckdb import DuckDBStore

START, END = date(2025, 9, 8), date(2025, 10, 5)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBStore]:
    tmp = tmp_path_factory.mktemp("gdemo")
    st = DuckDBStore(tmp / "g.duckdb")
    load_agreement_into(st, write_agreement(tmp / "agreement"))
    r = load_demo_ledger(st, demo_ledger(tmp / "in", 7, start=START))
    assert r.quarantined == 0 and r.loaded == r.rows_read == 52
    ingest_air_attacks(st, demo_air_attacks_csv(tmp / "in", seed=7, start=START, end=END))
    ingest_air_alerts(st, demo_air_alerts_csv(tmp / "in", seed=7, start=START, end=END))
    yield st
    st.close()


def test_demo_ledger_is_plausible(tmp_path: Path) -> None:
    data = yaml.safe_load(demo_ledger(tmp_path, 3, start=START).read_text())
    comps = {c["component"] for c in data["commitments"]}
    assert comps == {"presence", "air_defense", "armaments", "monitoring"}
    sectors = {s for c in data["contingents"] for s in c.get("sectors", [])}
    assert sectors < set(DEMO_SECTORS) and "Kherson-Dnipro" not in sectors
    zones = {z["name"].split()[0] for z in data["protected_zones"]}
    assert zones == {"Kyiv", "Kharkiv", "Odesa", "Dnipro", "Zaporizhzhia"}
    assert {m["status"] for m in data["meetings"]} == {"held", "cancelled", "confirmed", "proposed"}


def test_demo_attacks_show_a_collapse(tmp_path: Path) -> None:
    path = demo_air_attacks_csv(tmp_path, seed=7, start=START, end=END)
    frame, q = air_attacks_from_csv(path)
    assert q.empty and set(frame["time_start_precision"]) == {"day", "minute"}
    alerts = ad.collapse_alerts(ad.interception_weekly(frame))
    last = alerts[alerts["week"] == alerts["week"].max()]
    assert "ballistic_missile" in set(last["weapon_class"])


def test_report_writes_its_files(demo_store: DuckDBStore, tmp_path: Path) -> None:
    places = pd.DataFrame(
        {"lon": [30.52, 36.23, 24.03], "lat": [50.45, 49.99, 49.84], "population": [3, 2, 1]}
    )
    paths = report(demo_store, tmp_path / "out", as_of=END, places=places)
    for name in (
        "html",
        "md",
        "pledged_vs_delivered",
        "interception",
        "alert_hours",
        "coverage_map",
        "meetings_timeline",
    ):
        assert paths[name].is_file() and paths[name].stat().st_size > 1000, name
    html = paths["html"].read_text()
    assert "data:image/png;base64," in html and 'src="http' not in html
    md = paths["md"].read_text()
    for text in (
        "Scorecard: guarantor × component",
        "Overdue on 05 Oct 2025",
        "one party",
        "not independently verified",
        "Protected zones",
        "Sectors of the line",
        "Meetings",
        "Sources and their biases",
    ):
        assert text in md, text
    # Kyiv and Kharkiv are inside their umbrellas, Lviv is not: 5 of 6 people
    assert "83 %" in md
    assert paths["md"].read_text().count("| --- |") >= 1


def test_summary_lines(demo_store: DuckDBStore) -> None:
    lines = guarantee_summary_lines(demo_store, as_of=END)
    text = "\n".join(lines)
    assert text.startswith("Guarantee commitments:")
    assert "overdue" in text and "claims, unverified" in text
    assert "ALERT: claimed interception of ballistic_missile" in text
    assert "Reassurance force: 5 contingents active" in text
    assert "Next meeting: M6" in text
    assert guarantee_summary_lines(DuckDBStore(":memory:")) == []


@pytest.mark.parametrize("fmt", ["csv", "geojson", "gpkg", "parquet"])
def test_exports(demo_store: DuckDBStore, tmp_path: Path, fmt: str) -> None:
    for table in EXPORT_TABLES:
        path, _n = export_table(demo_store, table, tmp_path / f"{table}.{fmt}", fmt)
        assert path.is_file(), table
    zones = (
        gpd.read_file(tmp_path / f"protected_zones.{fmt}") if fmt in ("geojson", "gpkg") else None
    )
    if zones is not None:
        assert len(zones) == 5 and set(zones.geom_type) == {"Polygon"}
        c = gpd.read_file(tmp_path / f"contingents.{fmt}")
        assert set(c.geom_type) == {"Point"} and len(c) == 6


def test_cli(tmp_path: Path) -> None:
    db = str(tmp_path / "c.duckdb")
    run = CliRunner().invoke
    r = run(app, ["add-guarantor", "UK", "United Kingdom", "--store", db, "--actor", "t"])
    assert r.exit_code == 0, r.output
    r = run(
        app,
        [
            "add-commitment",
            "UK-1",
            "--guarantor",
            "UK",
            "--component",
            "armaments",
            "--description",
            "rounds",
            "--status",
            "pledged",
            "--on",
            "2025-09-01",
            "--due",
            "2025-09-30",
            "--value-eur",
            "1e8",
            "--store",
            db,
        ],
    )
    assert r.exit_code == 0, r.output
    r = run(app, ["set-status", "UK-1", "delivered", "--on", "2025-09-10", "--store", db])
    assert r.exit_code == 1 and "steps cannot be skipped" in r.output
    r = run(app, ["set-status", "UK-1", "agreed", "--on", "2025-09-10", "--store", db])
    assert r.exit_code == 0 and "UK-1: agreed on 2025-09-10" in r.output
    r = run(app, ["scorecard", "--as-of", "2025-10-10", "--store", db, "-f", "csv"])
    assert r.exit_code == 0 and "UK,United Kingdom,armaments,1" in r.output
    r = run(app, ["update", "guarantors", "UK", "--set", "notes=lead", "--store", db])
    assert r.exit_code == 0, r.output
    r = run(app, ["log", "--verify", "--store", db])
    assert r.exit_code == 0 and "hash chain intact over 4 rows" in r.output
    out = tmp_path / "c.csv"
    r = run(app, ["export", "commitments", "-f", "csv", "-o", str(out), "--store", db])
    assert r.exit_code == 0 and pd.read_csv(out)["status"].tolist() == ["agreed"]
    st = DuckDBStore(db)
    try:
        assert len(sg.ledger_log(st)) == 4
    finally:
        st.close()
