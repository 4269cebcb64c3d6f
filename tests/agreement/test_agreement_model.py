"""The agreement as data: the DESIGN.md example, validation messages, amendments."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from conftest import write_agreement

from ceasewatch.agreement.model import (
    agreement_from_document,
    agreement_to_document,
    load_agreement,
    validate_agreement,
)
from ceasewatch.agreement.store import load_agreement_into
from ceasewatch.errors import AgreementError

DESIGN_EXAMPLE = """name: Cessation of hostilities (draft)
parties: [UA, RU]
effective: 2025-09-01T00:00:00Z
line_of_contact: line.geojson          # (Multi)LineString, WGS84
control: control.geojson               # optional: polygons with a `party` property
zones:                                  # bands measured from the line, each side
  - {id: disengagement, width_km: 15,  prohibits: [any_military_activity]}
  - {id: artillery,     width_km: 50,  prohibits: [artillery_100mm_plus]}
  - {id: mlrs,          width_km: 70,  prohibits: [mlrs]}
  - {id: heavy_mlrs,    width_km: 140, prohibits: [heavy_mlrs, tactical_missiles]}
prohibited_everywhere: [shelling, air_strike, missile_strike, drone_strike, armed_clash]
sectors: sectors.geojson               # optional: named reporting sectors
"""


def _fc(features: list[dict]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": features})


def _design_folder(tmp_path: Path) -> Path:
    folder = write_agreement(tmp_path / "a")
    (folder / "agreement.yaml").write_text(DESIGN_EXAMPLE)
    sector = {
        "type": "Feature",
        "properties": {"sector": "East"},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[36, 47], [39, 47], [39, 50], [36, 50], [36, 47]]],
        },
    }
    (folder / "sectors.geojson").write_text(_fc([sector]))
    return folder


def test_design_example_loads_as_it_stands(tmp_path: Path) -> None:
    folder = _design_folder(tmp_path)
    assert validate_agreement(folder) == []
    a = load_agreement(folder)
    assert a.parties == ("UA", "RU")
    assert a.effective == datetime(2025, 9, 1, tzinfo=UTC)
    assert [z.width_km for z in a.zones] == [15, 50, 70, 140]
    assert a.zones[0].prohibits == ("any_military_activity",)
    assert {p for p, _ in a.control} == {"UA", "RU"}
    assert [s for s, _ in a.sectors] == ["East"]
    # defaults for what the example leaves out
    assert a.report_cutoff == time(19, 30)
    assert a.timezone == "Europe/Kyiv"
    assert a.boundary is None
    # the YAML file itself can be given instead of the folder
    assert load_agreement(folder / "agreement.yaml").sha256 == a.sha256


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    folder = write_agreement(tmp_path / "bad")
    (folder / "agreement.yaml").write_text(
        """name: ""
parties: [UA]
effective: 2025-09-01T00:00:00
line_of_contact: missing.geojson
zones:
  - {id: disengagement, width_km: -5, prohibits: [any_military_activity]}
  - {id: artillery, width_km: 50, prohibits: [howitzers]}
prohibited_everywhere: [shelling, bombing]
report_cutoff: "25:99"
timezone: Mars/Olympus
prohibited_everywere: [oops]
"""
    )
    problems = validate_agreement(folder)
    fields = {field for _, field, _ in problems}
    assert {
        "name",
        "parties",
        "effective",
        "line_of_contact",
        "zones[0].width_km",
        "zones[1].prohibits",
        "prohibited_everywhere",
        "report_cutoff",
        "timezone",
        "prohibited_everywere",
    } <= fields
    messages = {field: msg for _, field, msg in problems}
    assert "-5" in messages["zones[0].width_km"]
    assert "howitzers" in messages["zones[1].prohibits"]
    assert "bombing" in messages["prohibited_everywhere"]
    assert "time zone" in messages["effective"]
    assert "missing.geojson" in messages["line_of_contact"]
    assert all(f == "agreement.yaml" for f, k, _ in problems if k != "-")
    with pytest.raises(AgreementError, match=r"problem\(s\)") as exc:
        load_agreement(folder)
    assert len(exc.value.problems) == len(problems)


def test_geometry_problems_name_the_geojson_file(tmp_path: Path) -> None:
    folder = write_agreement(tmp_path / "g")
    (folder / "line.geojson").write_text(
        _fc(
            [
                {
                    "type": "Feature",
                    "properties": {},
                    "geometry": {"type": "Point", "coordinates": [30, 50]},
                }
            ]
        )
    )
    control = json.loads((folder / "control.geojson").read_text())
    control["features"][0]["properties"]["party"] = "XX"
    (folder / "control.geojson").write_text(json.dumps(control))
    problems = validate_agreement(folder)
    assert ("line.geojson", "features[0].geometry") in {(f, k) for f, k, _ in problems}
    bad_party = [m for f, k, m in problems if f == "control.geojson"]
    assert bad_party and "'XX'" in bad_party[0] and "UA" in bad_party[0]


def test_document_round_trip(tmp_path: Path) -> None:
    a = load_agreement(_design_folder(tmp_path))
    b = agreement_from_document(json.loads(json.dumps(agreement_to_document(a))), version=3)
    assert b.version == 3
    assert b.line.equals(a.line)
    assert b.zones == a.zones
    assert b.effective == a.effective
    assert [p for p, _ in b.control] == [p for p, _ in a.control]


def test_report_period_ends_at_local_cutoff(tmp_path: Path) -> None:
    a = load_agreement(_design_folder(tmp_path))
    start, end = a.report_period(date(2025, 9, 14))
    # 19:30 Kyiv summer time (UTC+3) is 16:30 UTC
    assert end == datetime(2025, 9, 14, 16, 30, tzinfo=UTC)
    assert start == datetime(2025, 9, 13, 16, 30, tzinfo=UTC)
    # winter time (UTC+2)
    assert a.report_period(date(2025, 12, 1))[1] == datetime(2025, 12, 1, 17, 30, tzinfo=UTC)


def test_unquoted_cutoff_is_understood(tmp_path: Path) -> None:
    folder = write_agreement(tmp_path / "c", extra="report_cutoff: 18:00\n")
    assert load_agreement(folder).report_cutoff == time(18, 0)


def test_amendments_are_new_versions(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    v1, _ = load_agreement_into(store, write_agreement(tmp_path / "v1"))
    v2, a2 = load_agreement_into(
        store, write_agreement(tmp_path / "v2", effective="2023-06-01T00:00:00Z")
    )
    assert (v1, v2) == (1, 2)
    versions = store.agreements()
    assert list(versions["version"]) == [1, 2]
    assert store.agreement_document(2)["effective"] == "2023-06-01T00:00:00Z"
    assert a2.effective == datetime(2023, 6, 1, tzinfo=UTC)
