"""The command line end to end on small generated files (no ../shared needed)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from conftest import write_agreement
from typer.testing import CliRunner

from ceasewatch.cli import app
from ceasewatch.demo_data import ACLED_COLUMNS, FIRMS_VIIRS_COLUMNS

# the real layouts, as the demo writes them (tests/test_demo_data.py checks them against
# the real files)
ACLED_HEADER = list(ACLED_COLUMNS)
FIRMS_HEADER = list(FIRMS_VIIRS_COLUMNS)

runner = CliRunner()


def acled_row(
    eid: str,
    day: str,
    lat: str,
    lon: str,
    sub: str = "Shelling/artillery/missile attack",
    etype: str = "Explosions/Remote violence",
    notes: str = "shelled with artillery",
    fatalities: str = "0",
) -> dict[str, str]:
    row = dict.fromkeys(ACLED_HEADER, "")
    row.update(
        id="1",
        iso="804",
        event_id_cnty=eid,
        event_date=f"{day} 00:00:00",
        year=day[-4:],
        time_precision="1",
        event_type=etype,
        sub_event_type=sub,
        actor1="Military Forces of Russia (2000-)",
        country="Ukraine",
        admin1="Donetsk",
        location="Siversk",
        latitude=lat,
        longitude=lon,
        notes=notes,
        fatalities=fatalities,
        geo_precision="1",
        source="Ukrinform",
    )
    return row


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_text(buf.getvalue())
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    acled = write_csv(
        tmp_path / "acled.csv",
        ACLED_HEADER,
        [
            acled_row("UKR1", "10/06/2023", "48.8667", "38.1000"),  # Siversk, ~on the line area
            acled_row("UKR2", "10/06/2023", "48.5000", "37.5000", notes="MLRS Grad strike"),
            acled_row("UKR3", "31/02/2023", "48.5", "37.5"),  # impossible date
            acled_row("UKR4", "01/02/2023", "48.5", "37.5"),  # before the ceasefire
            acled_row(
                "UKR5",
                "11/06/2023",
                "50.45",
                "30.52",
                etype="Protests",
                sub="Peaceful protest",
                notes="protest in Kyiv",
            ),
        ],
    )
    firms = write_csv(
        tmp_path / "firms.csv",
        FIRMS_HEADER,
        [
            dict(
                zip(
                    FIRMS_HEADER,
                    [
                        "48.87123",
                        "38.10456",
                        "340.1",
                        "0.5",
                        "0.5",
                        "2023-06-10",
                        "1106",
                        "N",
                        "VIIRS",
                        "n",
                        "2.0NRT",
                        "290",
                        "8.2",
                        "D",
                    ],
                    strict=True,
                )
            ),
            dict(
                zip(
                    FIRMS_HEADER,
                    [
                        "abc",
                        "38.1",
                        "340.1",
                        "0.5",
                        "0.5",
                        "2023-06-10",
                        "1106",
                        "N",
                        "VIIRS",
                        "n",
                        "2.0NRT",
                        "290",
                        "8.2",
                        "D",
                    ],
                    strict=True,
                )
            ),
        ],
    )
    reports = tmp_path / "reports.json"
    reports.write_text(
        json.dumps(
            [
                {
                    "report_id": "R1",
                    "observation_id": "1",
                    "observer_id": "T1",
                    "observer_lon": 38.05,
                    "observer_lat": 48.85,
                    "window_start": "2023-06-10T16:00:00Z",
                    "window_end": "2023-06-10T16:30:00Z",
                    "kind": "explosion",
                    "count": 4,
                    "bearing_deg": 60,
                    "distance_min_km": 2,
                    "distance_max_km": 6,
                    "weapon_class": "artillery_100mm_plus",
                    "assessment": "impact",
                },
                {
                    "report_id": "R1",
                    "observation_id": "2",
                    "observer_id": "T1",
                    "observer_lon": 38.05,
                    "window_start": "2023-06-10T16:00:00Z",
                    "kind": "burst",
                    "count": 2,
                },
            ]
        )
    )
    return {
        "acled": acled,
        "firms": firms,
        "reports": reports,
        "agreement": write_agreement(tmp_path / "agreement"),
    }


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_end_to_end(tmp_path: Path, files: dict[str, Path]) -> None:
    store = str(tmp_path / "cw.duckdb")
    assert "valid agreement" in run("agreement", "validate", str(files["agreement"]))
    assert "version 1" in run("agreement", "load", str(files["agreement"]), "--store", store)

    out = run("ingest", "acled", str(files["acled"]), "--store", store)
    assert "4 loaded" in out and "1 quarantined" in out
    assert "already ingested" in run("ingest", "acled", str(files["acled"]), "--store", store)
    assert "1 quarantined" in run("ingest", "firms", str(files["firms"]), "--store", store)
    assert "1 quarantined" in run("ingest", "field-report", str(files["reports"]), "--store", store)

    q = pd.read_csv(io.StringIO(run("quarantine", "list", "-f", "csv", "--store", store)))
    assert len(q) == 3
    assert set(q["source"]) == {"acled", "firms", "field_report"}
    acled_q = q[q["source"] == "acled"].iloc[0]
    assert acled_q["line_no"] == 4 and "31/02/2023" in acled_q["reason"]
    assert "observer_lat" in q[q["source"] == "field_report"].iloc[0]["reason"]
    assert "already" not in run("quarantine", "list", "--store", store)

    assert "violations" in run("evaluate", "--store", store)
    assert "nothing to evaluate" in run("evaluate", "--store", store)

    for fmt in ("csv", "geojson", "gpkg", "parquet"):
        path = tmp_path / f"events.{fmt}"
        run("events", "export", "-f", fmt, "-o", str(path), "--store", store)
        frame = (
            pd.read_csv(path)
            if fmt == "csv"
            else (gpd.read_parquet(path) if fmt == "parquet" else gpd.read_file(path))
        )
        assert len(frame) == 6  # 4 ACLED + 1 FIRMS + 1 field observation
        for col in (
            "source",
            "source_event_id",
            "occurred_at",
            "lon",
            "lat",
            "category",
            "incident_id",
            "distance_to_line_km",
            "side",
            "zone",
        ):
            assert col in frame.columns, (fmt, col)
    ev = pd.read_csv(tmp_path / "events.csv", dtype={"lon": str, "lat": str})
    firms = ev[ev["source"] == "firms"].iloc[0]
    assert (firms["lon"], firms["lat"]) == ("38.10456", "48.87123")  # never rounded
    assert firms["occurred_at"] == "2023-06-10T11:06Z"  # FIRMS to the minute
    acled = ev[ev["source_event_id"] == "UKR1"].iloc[0]
    assert acled["occurred_at"] == "2023-06-10"  # ACLED to the day
    assert set(ev["side"]) <= {"UA", "RU", "unknown", "outside"}

    run("violations", "export", "-f", "csv", "-o", str(tmp_path / "v.csv"), "--store", store)
    v = pd.read_csv(tmp_path / "v.csv")
    for col in (
        "violation_id",
        "rule",
        "zone",
        "side",
        "occurred_at",
        "lon",
        "lat",
        "confidence",
        "severity",
        "evidence_event_ids",
    ):
        assert col in v.columns
    # the protest and the pre-ceasefire shelling are not violations
    assert (
        not v["evidence_event_ids"]
        .str.contains("|".join(ev.loc[ev["source_event_id"].isin(["UKR4", "UKR5"]), "event_id"]))
        .any()
    )
    # the ACLED shelling at Siversk is corroborated by the FIRMS pixel next to it
    siversk = ev[ev["source_event_id"] == "UKR1"].iloc[0]["incident_id"]
    assert (ev["incident_id"] == siversk).sum() >= 2
    run(
        "violations", "export", "-f", "geojson", "-o", str(tmp_path / "v.geojson"), "--store", store
    )
    assert len(gpd.read_file(tmp_path / "v.geojson")) == len(v)

    out = run(
        "report", "daily", "--date", "2023-06-10", "-o", str(tmp_path / "rep"), "--store", store
    )
    for name in ("report.html", "report.md", "map.png", "chart.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "firms" in md and "acled" in md


def test_wrong_kind_of_file_fails_with_missing_columns(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    store = str(tmp_path / "cw.duckdb")
    result = runner.invoke(app, ["ingest", "acled", str(files["firms"]), "--store", store])
    assert result.exit_code == 1
    assert "event_id_cnty" in result.output and "ACLED" in result.output


def test_invalid_agreement_exit_code(tmp_path: Path) -> None:
    folder = write_agreement(tmp_path / "a")
    (folder / "agreement.yaml").write_text("name: x\nparties: [UA]\n")
    result = runner.invoke(app, ["agreement", "validate", str(folder)])
    assert result.exit_code == 1
    assert "parties" in result.output and "line_of_contact" in result.output


def test_evaluate_without_agreement_says_what_to_do(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--store", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 1
    assert "agreement load" in result.output
