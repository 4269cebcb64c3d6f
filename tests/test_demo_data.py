"""The demo scenario generator: deterministic, in the real layouts, geographically sound."""

from __future__ import annotations

import csv
import json
import math
import re
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from pyproj import Geod
from shapely.geometry import LineString, Point, shape

from ceasewatch.demo_data import (
    FIELD_REPORT_FIELDS,
    OBSERVER_POSTS,
    SECTOR_NAMES,
    TRUTH_COLUMNS,
    DemoInputs,
    generate_demo_inputs,
)

RAW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "raw"
REAL_ACLED = RAW / "events_acled" / "ACLED-Ukraine.csv"
REAL_FIRMS = RAW / "firms" / "fire_nrt_SV-C2_400448.csv"
GEOD = Geod(ellps="WGS84")

EXPECTED_ACLED_HEADER = [
    "id",
    "iso",
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "inter1",
    "actor2",
    "assoc_actor_2",
    "inter2",
    "interaction",
    "region",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "source_scale",
    "notes",
    "fatalities",
    "timestamp",
    "geo_precision",
    "source",
    "civilian_targeting",
    "disorder_type",
    "tags",
    "actor_dyad",
]
EXPECTED_FIRMS_HEADER = [
    "latitude",
    "longitude",
    "brightness",
    "scan",
    "track",
    "acq_date",
    "acq_time",
    "satellite",
    "instrument",
    "confidence",
    "version",
    "bright_t31",
    "frp",
    "daynight",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoInputs:
    return generate_demo_inputs(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def truth(demo: DemoInputs) -> pd.DataFrame:
    return pd.read_csv(demo.truth_csv, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def scenario(demo: DemoInputs) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(demo.scenario_json.read_text(encoding="utf-8"))
    return doc


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _geojson(path: Path) -> list[tuple[dict[str, Any], Any]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [(f["properties"], shape(f["geometry"])) for f in doc["features"]]


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _split_ids(value: str) -> list[str]:
    return [v for v in value.split(";") if v]


# --- determinism and the call --------------------------------------------------------------
def test_same_seed_gives_byte_identical_files(demo: DemoInputs, tmp_path: Path) -> None:
    t0 = time.perf_counter()
    again = generate_demo_inputs(tmp_path / "again")
    elapsed = time.perf_counter() - t0
    first, second = _files(demo.truth_csv.parent), _files(tmp_path / "again")
    assert sorted(first) == sorted(second)
    assert len(first) == 10
    for name, content in first.items():
        assert second[name] == content, name
    assert again.start == demo.start and again.end == demo.end
    assert elapsed < 5.0


def test_another_seed_gives_another_scenario(demo: DemoInputs, tmp_path: Path) -> None:
    other = generate_demo_inputs(tmp_path / "other", seed=8)
    assert other.truth_csv.read_bytes() != demo.truth_csv.read_bytes()
    assert other.acled_csv.read_bytes() != demo.acled_csv.read_bytes()


def test_paths_and_dates(demo: DemoInputs) -> None:
    assert demo.start == date(2025, 9, 1) and demo.end == date(2025, 10, 5)
    for name in ("agreement.yaml", "line.geojson", "control.geojson", "sectors.geojson"):
        assert (demo.agreement_dir / name).is_file()
    assert (demo.agreement_dir / "boundary.geojson").is_file()
    for path in (demo.acled_csv, demo.firms_csv, demo.field_reports_json, demo.truth_csv):
        assert path.is_absolute() and path.is_file()


def test_custom_window(tmp_path: Path) -> None:
    out = generate_demo_inputs(tmp_path, seed=3, days=20, end=date(2025, 6, 30))
    assert out.start == date(2025, 6, 11)
    days = pd.read_csv(out.truth_csv, usecols=["day"])["day"]
    assert days.min() >= "2025-06-11" and days.max() <= "2025-06-30"


def test_too_few_days_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"days=5 is too short .* at least 14"):
        generate_demo_inputs(tmp_path, days=5)


# --- layouts -------------------------------------------------------------------------------
def test_headers_are_the_real_layouts(demo: DemoInputs) -> None:
    acled = _rows(demo.acled_csv)
    firms = _rows(demo.firms_csv)
    assert acled[0] == EXPECTED_ACLED_HEADER
    assert len(EXPECTED_ACLED_HEADER) == 33
    assert firms[0] == EXPECTED_FIRMS_HEADER
    assert all(len(r) == 33 for r in acled[1:])
    assert sum(len(r) != 14 for r in firms[1:]) == 1  # the truncated line planted on purpose
    assert _rows(demo.truth_csv)[0] == list(TRUTH_COLUMNS)


def test_headers_equal_the_real_files(demo: DemoInputs) -> None:
    if not (REAL_ACLED.is_file() and REAL_FIRMS.is_file()):
        pytest.skip(f"the real ACLED/FIRMS samples are not under {RAW}")
    assert _rows(demo.acled_csv)[0] == _rows(REAL_ACLED)[0]
    assert _rows(demo.firms_csv)[0] == _rows(REAL_FIRMS)[0]
    # same line ending and number style as the real files
    assert b"\r\n" not in demo.acled_csv.read_bytes()
    assert b"\r\n" not in demo.firms_csv.read_bytes()


def test_acled_values_look_like_acled(demo: DemoInputs) -> None:
    frame = pd.read_csv(demo.acled_csv, dtype=str, keep_default_na=False)
    assert frame["event_date"].str.fullmatch(r"\d{2}/\d{2}/\d{4} 00:00:00").all()
    assert frame["event_id_cnty"].str.fullmatch(r"UKR9\d{5}").all()
    assert frame["event_id_cnty"].is_unique and frame["id"].is_unique
    assert set(frame["iso"]) == {"804"}
    assert frame["geo_precision"].isin(["1", "2", "3"]).all()
    ok = frame["event_date"] != "31/02/2025 00:00:00"
    days = pd.to_datetime(frame.loc[ok, "event_date"], format="%d/%m/%Y %H:%M:%S")
    assert days.min() >= pd.Timestamp(demo.start) and days.max() <= pd.Timestamp(demo.end)
    pairs = set(zip(frame["event_type"], frame["sub_event_type"], strict=True))
    assert ("Explosions/Remote violence", "Shelling/artillery/missile attack") in pairs
    assert ("Explosions/Remote violence", "Air/drone strike") in pairs
    assert ("Battles", "Armed clash") in pairs
    assert ("Protests", "Peaceful protest") in pairs
    assert {"Military Forces of Russia (2000-)", "Military Forces of Ukraine (2019-)"} <= set(
        frame["actor1"]
    )
    notes = " ".join(frame["notes"])
    for word in ("artillery", "mortars", "MLRS", "Grad", "drone", "KAB", "missile"):
        assert word in notes
    assert frame["notes"].str.match(r"(Interception: )?On \d{1,2} [A-Z][a-z]+ 20\d\d, ").all()


def test_firms_values_look_like_viirs(demo: DemoInputs) -> None:
    rows = [r for r in _rows(demo.firms_csv)[1:] if len(r) == 14]
    frame = pd.DataFrame(rows, columns=EXPECTED_FIRMS_HEADER)
    assert frame["acq_time"].str.fullmatch(r"\d{4}").all()
    assert set(frame["confidence"]) == {"l", "n", "h"}
    assert set(frame["daynight"]) == {"D", "N"}
    assert set(frame["satellite"]) == {"N"} and set(frame["version"]) == {"2.0NRT"}
    scan = frame["scan"].astype(float)
    assert scan.between(0.32, 0.8).all()
    bright = frame["brightness"].astype(float)
    assert bright.between(295, 367).all()
    day_time = frame.loc[frame["daynight"] == "D", "acq_time"].astype(int)
    assert day_time.between(930, 1115).all()


def test_field_reports_follow_the_documented_schema(demo: DemoInputs) -> None:
    from ceasewatch.normalize import schema

    observations = json.loads(demo.field_reports_json.read_text(encoding="utf-8"))
    assert isinstance(observations, list) and len(observations) > 0
    order = {name: i for i, name in enumerate(FIELD_REPORT_FIELDS)}
    kinds = {"explosion", "projectile", "burst", "flash", "flare", "heavy_weapon_sighting"}
    for obs in observations:
        keys = list(obs)
        assert set(keys) <= set(FIELD_REPORT_FIELDS)
        assert keys == sorted(keys, key=order.__getitem__)
        assert obs["kind"] in kinds
        assert obs["window_start"].endswith("Z") and obs["window_end"].endswith("Z")
        assert obs["window_start"] <= obs["window_end"]
        assert obs["distance_min_km"] < obs["distance_max_km"]
        assert obs["reliability"] in ("A", "B") and obs["credibility"] in (2, 3)
        if "weapon_class" in obs:
            assert obs["weapon_class"] in schema.WEAPON_CLASSES
    ids = [(o["report_id"], o["observation_id"]) for o in observations]
    assert len(ids) == len(set(ids))


# --- geography -----------------------------------------------------------------------------
def test_line_length_is_plausible(demo: DemoInputs) -> None:
    ((_, line),) = _geojson(demo.agreement_dir / "line.geojson")
    assert isinstance(line, LineString) and line.is_simple
    length_km = GEOD.geometry_length(line) / 1_000.0
    assert 900.0 <= length_km <= 1_200.0


@pytest.mark.parametrize(
    ("town", "lon", "lat", "within_km"),
    [
        ("Kupiansk", 37.615, 49.711, 1.0),
        ("Lyman", 37.80, 48.99, 1.0),
        ("Siversk", 38.10, 48.87, 1.0),
        ("Chasiv Yar", 37.83, 48.59, 1.0),
        ("Toretsk", 37.84, 48.39, 1.0),
        ("Pokrovsk", 37.18, 48.28, 1.0),
        ("Kurakhove", 37.28, 47.98, 1.0),
        ("Velyka Novosilka", 36.84, 47.85, 1.0),
        ("Huliaipole", 36.26, 47.66, 1.0),
        ("Robotyne", 35.84, 47.45, 1.0),
        ("Kamianske", 35.37, 47.54, 1.0),
        ("Kherson", 32.62, 46.64, 5.0),
        ("Dnipro mouth", 32.0, 46.5, 5.0),
    ],
)
def test_line_runs_through_the_front_line_towns(
    demo: DemoInputs, town: str, lon: float, lat: float, within_km: float
) -> None:
    ((_, line),) = _geojson(demo.agreement_dir / "line.geojson")
    nearest = line.interpolate(line.project(Point(lon, lat)))
    _, _, dist_m = GEOD.inv(lon, lat, nearest.x, nearest.y)
    assert dist_m / 1_000.0 <= within_km, town


def test_control_polygons_split_the_boundary(demo: DemoInputs) -> None:
    control = {
        props["party"]: geom for props, geom in _geojson(demo.agreement_dir / "control.geojson")
    }
    ((_, boundary),) = _geojson(demo.agreement_dir / "boundary.geojson")
    ((_, line),) = _geojson(demo.agreement_dir / "line.geojson")
    assert set(control) == {"UA", "RU"}
    ua, ru = control["UA"], control["RU"]
    assert not ua.is_empty and not ru.is_empty and ua.is_valid and ru.is_valid
    assert 15 <= len(boundary.exterior.coords) <= 60
    assert ua.intersection(ru).area < 1e-9
    assert abs(ua.area + ru.area - boundary.area) < 1e-6 * boundary.area
    assert 0.1 < ru.area / boundary.area < 0.3
    # the line is their common border
    vertices = shapely.points(shapely.get_coordinates(line))
    assert np.all(shapely.distance(ua, vertices) < 1e-5)
    assert np.all(shapely.distance(ru, vertices) < 1e-5)
    for lon, lat, party in [
        (30.52, 50.45, "UA"),  # Kyiv
        (35.19, 47.82, "UA"),  # Zaporizhzhia
        (32.62, 46.66, "UA"),  # Kherson
        (37.80, 48.02, "RU"),  # Donetsk
        (35.37, 46.85, "RU"),  # Melitopol
        (34.11, 44.96, "RU"),  # Simferopol
    ]:
        assert control[party].contains(Point(lon, lat)), (lon, lat)


def test_sectors_cover_the_line(demo: DemoInputs) -> None:
    sectors = _geojson(demo.agreement_dir / "sectors.geojson")
    ((_, line),) = _geojson(demo.agreement_dir / "line.geojson")
    assert [props["sector"] for props, _ in sectors] == list(SECTOR_NAMES)
    assert 5 <= len(sectors) <= 6
    union = shapely.union_all([geom for _, geom in sectors])
    covered = GEOD.geometry_length(line.intersection(union)) / GEOD.geometry_length(line)
    assert covered >= 0.99
    for i, (_, a) in enumerate(sectors):
        assert a.is_valid and not a.is_empty
        for _, b in sectors[i + 1 :]:
            assert a.intersection(b).area < 1e-6 * a.area
    # about 150 km either side: Kharkiv (~70 km from the line) in, Kyiv out
    assert union.contains(Point(36.25, 49.98))
    assert not union.contains(Point(30.52, 50.45))


def test_observer_posts_sit_near_the_line_on_the_ukrainian_side(demo: DemoInputs) -> None:
    control = {
        props["party"]: geom for props, geom in _geojson(demo.agreement_dir / "control.geojson")
    }
    ((_, line),) = _geojson(demo.agreement_dir / "line.geojson")
    for post_id, _, lon, lat in OBSERVER_POSTS:
        assert control["UA"].contains(Point(lon, lat)), post_id
        nearest = line.interpolate(line.project(Point(lon, lat)))
        _, _, dist_m = GEOD.inv(lon, lat, nearest.x, nearest.y)
        assert 3_000.0 <= dist_m <= 15_000.0, post_id


def test_agreement_yaml(demo: DemoInputs) -> None:
    doc = yaml.safe_load((demo.agreement_dir / "agreement.yaml").read_text(encoding="utf-8"))
    assert doc["parties"] == ["UA", "RU"]
    effective = doc["effective"]
    if isinstance(effective, str):
        effective = datetime.fromisoformat(effective.replace("Z", "+00:00"))
    assert effective == datetime(2025, 9, 4, tzinfo=UTC)
    assert [(z["id"], z["width_km"]) for z in doc["zones"]] == [
        ("disengagement", 15),
        ("artillery", 50),
        ("mlrs", 70),
        ("heavy_mlrs", 140),
    ]
    assert doc["zones"][0]["prohibits"] == ["any_military_activity"]
    assert doc["zones"][3]["prohibits"] == ["heavy_mlrs", "tactical_missiles"]
    assert doc["prohibited_everywhere"] == [
        "shelling",
        "air_strike",
        "missile_strike",
        "drone_strike",
        "armed_clash",
        "small_arms_fire",
        "explosion_observed",
    ]
    assert doc["report_cutoff"] == "19:30" and doc["timezone"] == "Europe/Kyiv"
    for key in ("line_of_contact", "control", "sectors", "boundary"):
        assert (demo.agreement_dir / doc[key]).is_file()


def test_agreement_loads_with_the_agreement_parser(demo: DemoInputs) -> None:
    model = pytest.importorskip("ceasewatch.agreement.model")
    agreement, problems = model.parse_agreement(demo.agreement_dir)
    assert problems == []
    assert agreement is not None


# --- malformed rows ------------------------------------------------------------------------
def test_malformed_rows_are_planted_and_documented(
    demo: DemoInputs, scenario: dict[str, Any]
) -> None:
    planted = {(m["file"], m["field"]): m for m in scenario["malformed"]}
    assert len(planted) == 6
    acled_lines = demo.acled_csv.read_text(encoding="utf-8").splitlines()
    acled = _rows(demo.acled_csv)

    bad_date = planted[("acled.csv", "event_date")]
    row = acled[bad_date["line"] - 1]
    assert row[3] == "31/02/2025 00:00:00" and row[2] == bad_date["id"]
    assert "31/02/2025 00:00:00" in acled_lines[bad_date["line"] - 1]
    bad_lat = planted[("acled.csv", "latitude")]
    row = acled[bad_lat["line"] - 1]
    assert abs(float(row[21])) > 90 and row[2] == bad_lat["id"]

    firms = _rows(demo.firms_csv)
    bad_num = firms[planted[("firms.csv", "latitude")]["line"] - 1]
    assert len(bad_num) == 14
    with pytest.raises(ValueError):
        float(bad_num[0])
    truncated = firms[planted[("firms.csv", "(row)")]["line"] - 1]
    assert len(truncated) < 14

    observations = json.loads(demo.field_reports_json.read_text(encoding="utf-8"))
    bearing = observations[planted[("field_reports.json", "bearing_deg")]["position"] - 1]
    assert bearing["bearing_deg"] == 400
    no_lat = observations[planted[("field_reports.json", "observer_lat")]["position"] - 1]
    assert "observer_lat" not in no_lat and "observer_lon" in no_lat
    assert sum(1 for o in observations if "observer_lat" not in o) == 1
    assert sum(1 for o in observations if not 0 <= o.get("bearing_deg", 0) <= 360) == 1


def test_real_importers_quarantine_exactly_the_planted_rows(
    demo: DemoInputs, scenario: dict[str, Any]
) -> None:
    base = pytest.importorskip("ceasewatch.ingest.base")
    expected: dict[str, set[int]] = {}
    for m in scenario["malformed"]:
        expected.setdefault(m["file"], set()).add(m.get("line", m.get("position")))
    for name, path in (
        ("acled", demo.acled_csv),
        ("firms", demo.firms_csv),
        ("field_report", demo.field_reports_json),
    ):
        source = base.get_source(name)
        n_events, bad_lines = 0, set()
        for raw, bad in source.read_chunks(path):
            events, quarantine = source.normalize(raw)
            n_events += len(events)
            bad_lines |= {int(v) for v in quarantine["line_no"]} | {b.line_no for b in bad}
        assert bad_lines == expected[path.name], name
        assert n_events > 0


# --- the ground truth ----------------------------------------------------------------------
def test_truth_points_at_existing_records(demo: DemoInputs, truth: pd.DataFrame) -> None:
    acled = pd.read_csv(demo.acled_csv, dtype=str, keep_default_na=False)
    firms = [r for r in _rows(demo.firms_csv)[1:] if len(r) == 14]
    firms_keys = {f"{r[0]},{r[1]},{r[5]},{r[6]}" for r in firms}
    observations = json.loads(demo.field_reports_json.read_text(encoding="utf-8"))
    field_ids = {f"{o['report_id']}/{o['observation_id']}" for o in observations}
    acled_ids = set(acled["event_id_cnty"])
    referenced: list[str] = []
    for _, inc in truth.iterrows():
        a, f, o = (_split_ids(inc[c]) for c in ("acled_ids", "firms_keys", "field_ids"))
        assert set(a) <= acled_ids and set(f) <= firms_keys and set(o) <= field_ids
        assert 1 <= bool(a) + bool(f) + bool(o) <= 3
        assert len(a) <= 1 and len(f) <= 3
        assert _split_ids(inc["source_ids"]) == [*a, *f, *o]
        referenced += [*a, *f, *o]
    assert len(referenced) == len(set(referenced))  # a record reports one incident at most
    assert truth["incident_id"].is_unique
    assert set(truth["category"]) == {
        "shelling",
        "drone_strike",
        "missile_strike",
        "air_strike",
        "armed_clash",
        "small_arms_fire",
        "heavy_weapon_sighting",
    }
    assert set(truth["side"]) == {"UA", "RU"}


def test_record_counts(scenario: dict[str, Any], truth: pd.DataFrame) -> None:
    counts = scenario["counts"]
    assert counts["incidents"] == len(truth)
    assert 500 <= counts["acled_rows"] <= 900
    assert 2_000 <= counts["firms_rows"] <= 4_000
    assert 300 <= counts["field_observations"] <= 600
    assert counts["acled_rows_unrelated"] >= 10
    assert counts["firms_rows_unrelated"] > counts["firms_rows_of_incidents"]


def test_distances_to_the_line(truth: pd.DataFrame) -> None:
    km = truth["distance_km"].astype(float)
    assert (km < 20).mean() >= 0.75
    assert ((km >= 20) & (km <= 80)).sum() >= 10
    assert ((km >= 100) & (km <= 300)).sum() >= 3
    assert km.max() <= 300
    deep = truth[km >= 100]
    assert set(deep["category"]) <= {"missile_strike", "drone_strike"}


def test_escalation_is_visible(truth: pd.DataFrame, scenario: dict[str, Any]) -> None:
    first = scenario["escalation"]["first_day"]
    effective = scenario["effective"][:10]
    post = truth[truth["day"] >= effective]
    last_week = post[post["day"] >= first]
    before = post[post["day"] < first]
    n_before_days = (date.fromisoformat(first) - date.fromisoformat(effective)).days
    ratios = {
        s: ((last_week["sector"] == s).sum() / 7)
        / max((before["sector"] == s).sum() / n_before_days, 0.1)
        for s in SECTOR_NAMES
    }
    sector = scenario["escalation"]["sector"]
    assert ratios[sector] >= 3.0
    assert max(ratios, key=ratios.__getitem__) == sector
    assert (truth["escalation"] == "true").sum() >= 50
    # more fighting before the ceasefire than after it (outside the escalation)
    pre_per_day = (truth["day"] < effective).sum() / 3
    assert pre_per_day > 1.5 * len(before) / n_before_days


def test_sources_agree_with_the_truth(demo: DemoInputs, truth: pd.DataFrame) -> None:
    by_id = {}
    for _, inc in truth.iterrows():
        for rid in _split_ids(inc["source_ids"]):
            by_id[rid] = inc
    acled = pd.read_csv(demo.acled_csv, dtype=str, keep_default_na=False)
    for _, row in acled[acled["event_id_cnty"].isin(by_id)].iterrows():
        inc = by_id[row["event_id_cnty"]]
        _, _, d = GEOD.inv(
            float(row["longitude"]), float(row["latitude"]), float(inc["lon"]), float(inc["lat"])
        )
        limit = 3_100.0 if row["geo_precision"] == "1" else 15_100.0
        assert d <= limit, row["event_id_cnty"]
        assert row["event_date"] == f"{date.fromisoformat(inc['day']):%d/%m/%Y} 00:00:00"
    for r in _rows(demo.firms_csv)[1:]:
        key = f"{r[0]},{r[1]},{r[5]},{r[6]}" if len(r) == 14 else ""
        if key not in by_id:
            continue
        inc = by_id[key]
        _, _, d = GEOD.inv(float(r[1]), float(r[0]), float(inc["lon"]), float(inc["lat"]))
        assert d <= 500.0
        seen = datetime.strptime(f"{r[5]} {r[6]}", "%Y-%m-%d %H%M").replace(tzinfo=UTC)
        happened = datetime.fromisoformat(inc["occurred_at"].replace("Z", "+00:00"))
        assert timedelta(0) < seen - happened <= timedelta(hours=8, minutes=5)
    observations = json.loads(demo.field_reports_json.read_text(encoding="utf-8"))
    for obs in observations:
        inc = by_id.get(f"{obs['report_id']}/{obs['observation_id']}")
        if inc is None:
            continue
        mid_m = (obs["distance_min_km"] + obs["distance_max_km"]) / 2 * 1_000.0
        lon, lat, _ = GEOD.fwd(obs["observer_lon"], obs["observer_lat"], obs["bearing_deg"], mid_m)
        radius = math.hypot(
            (obs["distance_max_km"] - obs["distance_min_km"]) / 2 * 1_000.0,
            obs["distance_max_km"] * 1_000.0 * math.tan(math.radians(10)),
        )
        _, _, d = GEOD.inv(lon, lat, float(inc["lon"]), float(inc["lat"]))
        assert d <= max(radius, 250.0)
        start = datetime.fromisoformat(obs["window_start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(obs["window_end"].replace("Z", "+00:00"))
        happened = datetime.fromisoformat(inc["occurred_at"].replace("Z", "+00:00"))
        assert start <= happened <= end
        assert re.fullmatch(r"SMM-\d{4}-\d{2}-\d{2}-T\d{2}", obs["report_id"])
