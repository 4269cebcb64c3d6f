"""'As known at time T': a report regenerated with --as-of is byte-identical after late
and corrected records arrive; without --as-of it shows the new figures."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from conftest import write_agreement
from test_cli import ACLED_HEADER, acled_row, run, write_csv


def test_report_as_of_is_reproducible(tmp_path: Path) -> None:
    store = str(tmp_path / "cw.duckdb")
    run("agreement", "load", str(write_agreement(tmp_path / "agreement")), "--store", store)
    first = write_csv(
        tmp_path / "a1.csv",
        ACLED_HEADER,
        [
            acled_row("UKR1", "10/06/2023", "48.8667", "38.1000"),
            acled_row("UKR2", "10/06/2023", "48.5000", "37.5000", notes="MLRS Grad strike"),
        ],
    )
    run("ingest", "acled", str(first), "--store", store)
    run("evaluate", "--store", store)
    time.sleep(0.05)
    t1 = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    run(
        "report",
        "daily",
        "--date",
        "2023-06-10",
        "-o",
        str(tmp_path / "r1"),
        "--as-of",
        t1,
        "--store",
        store,
    )
    run("violations", "export", "-o", str(tmp_path / "v1.csv"), "--as-of", t1, "--store", store)

    # late records for the same day, and a correction of UKR1 (fatalities 0 → 3)
    late = write_csv(
        tmp_path / "a2.csv",
        ACLED_HEADER,
        [
            acled_row("UKR1", "10/06/2023", "48.8667", "38.1000", fatalities="3"),
            acled_row("UKR7", "10/06/2023", "47.9000", "37.3000", notes="drone strike"),
            acled_row("UKR8", "10/06/2023", "47.6000", "35.9000", notes="artillery"),
        ],
    )
    out = run("ingest", "acled", str(late), "--store", store)
    assert "2 loaded" in out and "1 new versions" in out
    run("evaluate", "--store", store)

    run(
        "report",
        "daily",
        "--date",
        "2023-06-10",
        "-o",
        str(tmp_path / "r2"),
        "--as-of",
        t1,
        "--store",
        store,
    )
    for name in ("report.html", "report.md", "map.png", "chart.png"):
        assert (tmp_path / "r1" / name).read_bytes() == (tmp_path / "r2" / name).read_bytes(), name
    run("violations", "export", "-o", str(tmp_path / "v2.csv"), "--as-of", t1, "--store", store)
    assert (tmp_path / "v1.csv").read_bytes() == (tmp_path / "v2.csv").read_bytes()
    assert len(pd.read_csv(tmp_path / "v1.csv")) == 2

    # without --as-of: the new figures
    run("report", "daily", "--date", "2023-06-10", "-o", str(tmp_path / "r3"), "--store", store)
    md_then = (tmp_path / "r1" / "report.md").read_text()
    md_now = (tmp_path / "r3" / "report.md").read_text()
    assert "2 violations" in md_then and "4 violations" in md_now
    run("violations", "export", "-o", str(tmp_path / "v3.csv"), "--store", store)
    v3 = pd.read_csv(tmp_path / "v3.csv")
    assert len(v3) == 4
    assert v3["fatalities"].max() == 3  # the corrected record
    # the store keeps both versions of the corrected record
    run("events", "export", "-o", str(tmp_path / "e_then.csv"), "--as-of", t1, "--store", store)
    then = pd.read_csv(tmp_path / "e_then.csv")
    assert set(then["source_event_id"]) == {"UKR1", "UKR2"}
    assert then.loc[then["source_event_id"] == "UKR1", "fatalities"].item() == 0


def test_coverage_export_marks_unobserved_sector_days(tmp_path: Path) -> None:
    store = str(tmp_path / "cw.duckdb")
    folder = write_agreement(tmp_path / "agreement", extra="sectors: sectors.geojson\n")
    (folder / "sectors.geojson").write_text(
        '{"type":"FeatureCollection","features":['
        '{"type":"Feature","properties":{"sector":"North"},"geometry":{"type":"Polygon",'
        '"coordinates":[[[36,48.6],[40,48.6],[40,50.5],[36,50.5],[36,48.6]]]}},'
        '{"type":"Feature","properties":{"sector":"South"},"geometry":{"type":"Polygon",'
        '"coordinates":[[[30,46],[40,46],[40,48.6],[30,48.6],[30,46]]]}}]}'
    )
    run("agreement", "load", str(folder), "--store", store)
    rows = [
        acled_row("UKR1", "10/06/2023", "48.8667", "38.1000"),  # North
        acled_row("UKR2", "11/06/2023", "47.6000", "35.9000"),
    ]  # South
    run("ingest", "acled", str(write_csv(tmp_path / "a.csv", ACLED_HEADER, rows)), "--store", store)
    run("evaluate", "--store", store)
    run("coverage", "export", "-o", str(tmp_path / "cov.csv"), "--store", store)
    cov = pd.read_csv(tmp_path / "cov.csv")
    by = cov.set_index(["sector", "day"])
    assert by.loc[("North", "2023-06-10"), "n_records"] == 1
    assert bool(by.loc[("North", "2023-06-10"), "observed"])
    assert not bool(by.loc[("South", "2023-06-10"), "observed"])
    assert not bool(by.loc[("North", "2023-06-11"), "observed"])
    # the daily report says "not observed" for the uncovered sector, not zero violations
    run("report", "daily", "--date", "2023-06-10", "-o", str(tmp_path / "r"), "--store", store)
    md = (tmp_path / "r" / "report.md").read_text()
    south = next(line for line in md.splitlines() if line.startswith("| South |"))
    assert "not observed" in south
    north = next(line for line in md.splitlines() if line.startswith("| North |"))
    assert "1 records" in north
