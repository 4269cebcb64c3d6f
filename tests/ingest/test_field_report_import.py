"""Field reports (docs/field-reports.md): every layout, the derived location, validation."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from ceasewatch.errors import SourceFormatError
from ceasewatch.ingest import field_report
from ceasewatch.ingest.base import get_source, rows_to_json, rows_to_json_sql, small_rows_json
from ceasewatch.ingest.pipeline import ingest_file

GEOD = Geod(ellps="WGS84")
FIELDS = [
    "report_id", "observation_id", "observer_id", "observer_lon", "observer_lat",
    "window_start", "window_end", "kind", "count", "bearing_deg", "distance_min_km",
    "distance_max_km", "weapon_class", "assessment", "reliability", "credibility", "notes",
]  # fmt: skip

#: the example of docs/field-reports.md
EXAMPLE: dict[str, Any] = {
    "report_id": "SMM-2025-09-14-T03",
    "observation_id": "1",
    "observer_id": "T03",
    "observer_lon": 37.7411,
    "observer_lat": 48.5983,
    "window_start": "2025-09-14T16:05:00Z",
    "window_end": "2025-09-14T16:40:00Z",
    "kind": "explosion",
    "count": 12,
    "bearing_deg": 95,
    "distance_min_km": 3,
    "distance_max_km": 5,
    "weapon_class": "artillery_100mm_plus",
    "assessment": "impact",
    "reliability": "A",
    "credibility": 2,
    "notes": "assessed as 152mm rounds",
}


def obs(observation_id: str, **changes: Any) -> dict[str, Any]:
    """The example observation with some fields changed; ``None`` removes a field."""
    out = {**EXAMPLE, "observation_id": observation_id, **changes}
    return {k: v for k, v in out.items() if v is not None}


def radius_m(dmin_km: float, dmax_km: float) -> float:
    """docs: sqrt(((dmax - dmin)/2)^2 + (dmax * tan(10°))^2), at least 250 m."""
    r = math.sqrt(((dmax_km - dmin_km) / 2) ** 2 + (dmax_km * math.tan(math.radians(10))) ** 2)
    return max(r * 1000.0, 250.0)


def ingest(store, path: Path):
    return ingest_file(store, get_source("field_report"), path)


def events_by_obs(store) -> pd.DataFrame:
    ev = store.events(with_raw=True)
    return ev.set_index(ev["source_event_id"].str.split("/").str[-1])


# --- the docs example and the derived location ----------------------------------------
def test_docs_example(tmp_path, store) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps([EXAMPLE]), encoding="utf-8")
    result = ingest(store, path)
    assert (result.loaded, result.quarantined) == (1, 0)
    ev = store.events(with_raw=True).iloc[0]
    lon, lat, _ = GEOD.fwd(37.7411, 48.5983, 95.0, 4_000.0)  # middle of 3-5 km
    assert ev["lon"] == pytest.approx(lon, abs=1e-9)
    assert ev["lat"] == pytest.approx(lat, abs=1e-9)
    assert ev["geo_precision_m"] == pytest.approx(radius_m(3, 5), rel=1e-12)
    assert ev["geo_precision_m"] == pytest.approx(1333.1, abs=0.1)  # by hand: √(1000²+881.6²)
    assert ev["category"] == "shelling"
    assert ev["weapon_class"] == "artillery_100mm_plus"
    assert ev["occurred_at"] == pd.Timestamp("2025-09-14T16:05:00Z")
    assert ev["time_window_s"] == 35 * 60
    assert ev["count"] == 12
    assert (ev["reliability"], ev["credibility"]) == ("A", 2)
    assert ev["source_event_id"] == "SMM-2025-09-14-T03/1"
    assert ev["report_group"] == "field_report:SMM-2025-09-14-T03"
    assert ev["line_no"] == 1
    raw = json.loads(ev["raw"])
    assert raw["notes"] == "assessed as 152mm rounds"
    assert float(raw["observer_lat"]) == 48.5983


@pytest.mark.parametrize(
    ("bearing", "dmin", "dmax"),
    [(0.0, 1.0, 1.0), (359.5, 0.0, 60.0), (180.0, 2.5, 7.5), (42.25, 10.0, 12.0), (360, 3, 4)],
)
def test_point_along_the_bearing(tmp_path, store, bearing, dmin, dmax) -> None:
    path = tmp_path / "r.json"
    o = obs("1", observer_lon=32.6178, observer_lat=46.6354, bearing_deg=bearing)
    o.update(distance_min_km=dmin, distance_max_km=dmax)
    path.write_text(json.dumps([o]), encoding="utf-8")
    ingest(store, path)
    ev = store.events().iloc[0]
    lon, lat, _ = GEOD.fwd(32.6178, 46.6354, bearing, (dmin + dmax) / 2 * 1000.0)
    assert ev["lon"] == pytest.approx(lon, abs=1e-9)
    assert ev["lat"] == pytest.approx(lat, abs=1e-9)
    assert ev["geo_precision_m"] == pytest.approx(radius_m(dmin, dmax), rel=1e-12)


def test_location_without_bearing(tmp_path, store) -> None:
    observations = [
        obs("band", bearing_deg=None, distance_min_km=2, distance_max_km=6),
        obs("nothing", bearing_deg=None, distance_min_km=None, distance_max_km=None),
        obs(
            "sighting",
            kind="heavy_weapon_sighting",
            bearing_deg=None,
            distance_min_km=None,
            distance_max_km=None,
            weapon_class="tank",
        ),
    ]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(observations), encoding="utf-8")
    ingest(store, path)
    ev = events_by_obs(store)
    # the observer's own position, exactly
    assert (ev["lon"] == 37.7411).all()
    assert (ev["lat"] == 48.5983).all()
    assert ev.at["band", "geo_precision_m"] == 6_000.0  # far end of the band
    assert ev.at["nothing", "geo_precision_m"] == 5_000.0  # no distance given
    assert ev.at["sighting", "geo_precision_m"] == 500.0
    assert ev.at["sighting", "category"] == "heavy_weapon_sighting"


# --- categories -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "weapon", "category"),
    [
        ("explosion", "artillery_100mm_plus", "shelling"),
        ("explosion", "mortar", "shelling"),
        ("explosion", "mlrs", "shelling"),
        ("explosion", None, "explosion_observed"),
        ("explosion", "small_arms", "explosion_observed"),
        ("EXPLOSION", None, "explosion_observed"),
        ("projectile", None, "projectile_observed"),
        ("burst", "small_arms", "small_arms_fire"),
        ("flash", None, "muzzle_flash"),
        ("flare", None, "illumination_flare"),
        ("heavy_weapon_sighting", "tank", "heavy_weapon_sighting"),
    ],
)
def test_category(tmp_path, store, kind, weapon, category) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps([obs("1", kind=kind, weapon_class=weapon)]), encoding="utf-8")
    ingest(store, path)
    ev = store.events().iloc[0]
    assert ev["category"] == category
    assert (ev["weapon_class"] if pd.notna(ev["weapon_class"]) else None) == weapon


def test_explosion_from_missiles_is_a_missile_strike(tmp_path, store) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps([obs("1", weapon_class="tactical_missiles")]), encoding="utf-8")
    ingest(store, path)
    assert store.events().iloc[0]["category"] == "missile_strike"


# --- validation -------------------------------------------------------------------------
INVALID = [
    # (observation_id, changes, words the reason must contain)
    ("bearing", {"bearing_deg": 400}, ["bearing_deg", "'400'"]),
    ("no-lat", {"observer_lat": None}, ["observer_lat"]),
    ("lat", {"observer_lat": 95.5}, ["observer_lat", "'95.5'"]),
    ("lon", {"observer_lon": "east"}, ["observer_lon", "'east'"]),
    ("order", {"window_end": "2025-09-14T15:00:00Z"}, ["window_end", "before window_start"]),
    ("start", {"window_start": "yesterday"}, ["window_start", "'yesterday'"]),
    ("naive", {"window_start": "2025-09-14T16:05:00"}, ["window_start", "16:05:00'"]),
    ("date", {"window_start": "2025-09-14"}, ["window_start", "'2025-09-14'"]),
    ("end-naive", {"window_end": "2025-09-14T16:40"}, ["window_end", "'2025-09-14T16:40'"]),
    ("long", {"window_end": "2025-09-16T16:40:00Z"}, ["window", "24 h"]),
    ("kind", {"kind": "bang"}, ["kind", "'bang'"]),
    ("count0", {"count": 0}, ["count", "'0'"]),
    ("count-frac", {"count": 2.5}, ["count", "'2.5'"]),
    ("band", {"distance_min_km": 6, "distance_max_km": 2}, ["distance_max_km", "distance_min_km"]),
    ("far", {"distance_max_km": 80}, ["distance_max_km", "60 km"]),
    ("neg", {"distance_min_km": -1}, ["distance_min_km", "'-1'"]),
    ("rel", {"reliability": "Z"}, ["reliability", "'Z'"]),
    ("cred", {"credibility": 7}, ["credibility", "'7'"]),
    ("weapon", {"weapon_class": "laser"}, ["weapon_class", "'laser'"]),
    ("assess", {"assessment": "maybe"}, ["assessment", "'maybe'"]),
    ("no-observer", {"observer_id": ""}, ["observer_id"]),
]


def test_each_invalid_field_is_quarantined_by_name(tmp_path, store) -> None:
    observations = [obs("good-1")] + [obs(oid, **ch) for oid, ch, _ in INVALID] + [obs("good-2")]
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"observations": observations}), encoding="utf-8")
    result = ingest(store, path)
    assert (result.loaded, result.quarantined) == (2, len(INVALID))
    q = store.quarantine().set_index("line_no")
    # the "line" of a JSON list entry is its 1-based position in the list
    assert sorted(q.index) == list(range(2, len(INVALID) + 2))
    for pos, (oid, _, words) in enumerate(INVALID, start=2):
        reason = q.at[pos, "reason"]
        assert json.loads(q.at[pos, "raw"])["observation_id"] == oid
        for word in words:
            assert word in reason, (oid, reason)
    assert sorted(events_by_obs(store).index) == ["good-1", "good-2"]
    assert events_by_obs(store)["line_no"].sort_values().tolist() == [1, len(INVALID) + 2]


def test_offsets_are_converted_to_utc(tmp_path, store) -> None:
    o = obs("1", window_start="2025-09-14T19:05:00+03:00", window_end="2025-09-14T19:40:00+03:00")
    path = tmp_path / "r.json"
    path.write_text(json.dumps([o]), encoding="utf-8")
    ingest(store, path)
    ev = store.events().iloc[0]
    assert ev["occurred_at"] == pd.Timestamp("2025-09-14T16:05:00Z")
    assert ev["time_window_s"] == 35 * 60


# --- layouts ---------------------------------------------------------------------------
def test_json_lines_with_a_broken_line(tmp_path, store) -> None:
    lines = [
        json.dumps(obs("1")),  # 1
        "",  # 2 blank: skipped
        '{"report_id": "SMM-2025-09-14-T03", "observation_id": "2", ',  # 3 broken JSON
        json.dumps(obs("3", kind="bang")),  # 4 invalid kind
        json.dumps([1, 2]),  # 5 not an object
        json.dumps(obs("6", notes="ünïcode — ✓")),  # 6
    ]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest(store, path)
    assert (result.rows_read, result.loaded, result.quarantined) == (5, 2, 3)
    q = store.quarantine().set_index("line_no")
    assert sorted(q.index) == [3, 4, 5]
    assert "not valid JSON" in q.at[3, "reason"]
    assert "observation_id" in json.loads(q.at[3, "raw"])["_text"]
    assert "kind 'bang'" in q.at[4, "reason"]
    assert "not a JSON object" in q.at[5, "reason"]
    ev = events_by_obs(store)
    assert ev["line_no"].to_dict() == {"1": 1, "6": 6}
    assert ev.at["6", "notes"].endswith("; ünïcode — ✓")


def test_json_list_and_wrapper_give_the_same_events(tmp_path, store) -> None:
    observations = [obs("1"), obs("2", kind="flare", weapon_class=None)]
    (tmp_path / "list.json").write_text(json.dumps(observations), encoding="utf-8")
    (tmp_path / "wrapped.json").write_text(
        json.dumps({"observations": observations, "meta": {"team": "T03"}}), encoding="utf-8"
    )
    first = ingest(store, tmp_path / "list.json")
    second = ingest(store, tmp_path / "wrapped.json")
    assert (first.loaded, second.loaded, second.unchanged) == (2, 0, 2)
    assert events_by_obs(store)["category"].to_dict() == {
        "1": "shelling",
        "2": "illumination_flare",
    }


def test_csv_layout(tmp_path, store) -> None:
    path = tmp_path / "r.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerow(obs("1"))  # line 2
        writer.writerow(obs("2", notes="first line\nsecond line"))  # lines 3-4
        writer.writerow(obs("3", bearing_deg=400))  # line 5
        writer.writerow(obs("4", bearing_deg="", distance_min_km="", distance_max_km=""))  # 6
    result = ingest(store, path)
    assert (result.loaded, result.quarantined) == (3, 1)
    q = store.quarantine()
    assert q["line_no"].tolist() == [5]
    assert "bearing_deg '400'" in q.iloc[0]["reason"]
    ev = events_by_obs(store)
    assert ev["line_no"].to_dict() == {"1": 2, "2": 3, "4": 6}
    lon, lat, _ = GEOD.fwd(37.7411, 48.5983, 95.0, 4_000.0)
    assert ev.at["1", "lon"] == pytest.approx(lon, abs=1e-9)
    assert ev.at["1", "lat"] == pytest.approx(lat, abs=1e-9)
    assert (ev.at["4", "lon"], ev.at["4", "lat"], ev.at["4", "geo_precision_m"]) == (
        37.7411,
        48.5983,
        5_000.0,
    )


def test_duplicate_observation_in_one_report(tmp_path, store) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps([obs("1"), obs("2"), obs("1", count=3)]), encoding="utf-8")
    result = ingest(store, path)
    assert (result.loaded, result.quarantined) == (2, 1)
    q = store.quarantine().iloc[0]
    assert q["line_no"] == 3
    assert "duplicate source id 'SMM-2025-09-14-T03/1'" in q["reason"]
    assert "first on line 1" in q["reason"]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"reports": []}, 'expected a JSON list of observations or {"observations": [...]}'),
        (
            [{"event_id_cnty": "UKR1", "event_date": "2023-01-01", "latitude": 48.0}],
            "is not a field report (docs/field-reports.md) file: missing field(s) count, kind, "
            "observation_id, observer_id, observer_lat, observer_lon, report_id, window_start",
        ),
    ],
    ids=["no-observations-key", "acled-like-records"],
)
def test_json_of_another_kind_is_refused(tmp_path, store, document, expected) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(SourceFormatError) as err:
        ingest(store, path)
    assert expected in str(err.value)
    assert store.batches().empty
    assert store.events().empty


# --- one set of rules for a file and for a POSTed report -------------------------------
@pytest.mark.parametrize(
    "changes",
    [
        {"count": "inf"},
        {"count": "1e400"},
        {"distance_min_km": "inf", "distance_max_km": None},
        {"distance_max_km": "-inf"},
    ],
    ids=["count-inf", "count-overflow", "dmin-inf", "dmax-minus-inf"],
)
def test_non_finite_numbers_are_quarantined_not_a_crash(tmp_path, store, changes) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps([obs("good"), obs("bad", **changes)]), encoding="utf-8")
    result = ingest(store, path)
    assert (result.loaded, result.quarantined) == (1, 1)
    field = next(iter(changes))
    assert store.quarantine().iloc[0]["reason"].startswith(f"{field} '")


def test_records_and_file_chunk_give_the_same_frames(tmp_path) -> None:
    """``check_records`` (the API's entry) and ``normalize`` (a file's chunk) are one code."""
    observations: list[object] = [
        obs("1"),
        obs("2", kind="BURST", weapon_class=None, notes='q"\n\\'),
        obs("3", observer_lat=95),
        obs("4", window_end="2025-09-14T15:00:00Z"),
        [1, 2],
        obs("6", bearing_deg=None, extra={"k": [1]}),
    ]
    events, quarantine, bad = field_report.check_records(observations)
    source = get_source("field_report")
    frame, file_bad = field_report._records_frame(observations, list(range(1, 7)))
    file_events, file_quarantine = source.normalize(frame)
    assert bad == file_bad and [b.line_no for b in bad] == [5]
    pd.testing.assert_frame_equal(
        events.reset_index(drop=True), file_events.reset_index(drop=True), check_exact=True
    )
    pd.testing.assert_frame_equal(quarantine, file_quarantine, check_exact=True)
    assert quarantine["line_no"].tolist() == [3, 4]
    assert quarantine["reason"].tolist() == [
        "observer_lat '95' is not a number in [-90, 90]",
        "window_end is before window_start",
    ]
    assert events["line_no"].tolist() == [1, 2, 6]


_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    columns=st.dictionaries(
        st.text(alphabet="abcxyz_é1 ", min_size=1, max_size=6), st.just(0), min_size=1, max_size=4
    ),
    rows=st.lists(st.lists(_TEXT, min_size=4, max_size=4), min_size=1, max_size=4),
)
def test_small_rows_json_is_rows_to_json_byte_for_byte(columns, rows) -> None:
    """rows_to_json's Python path (a few rows) writes DuckDB's to_json text exactly."""
    names = list(columns)
    data = {k: [r[i] for r in rows] for i, k in enumerate(names)}
    frame = pd.DataFrame(data, dtype=object)
    expected = rows_to_json_sql(frame).tolist()
    assert small_rows_json(data) == expected
    assert rows_to_json(frame).tolist() == expected


def test_small_rows_json_defers_what_it_does_not_write() -> None:
    assert small_rows_json({"a": ["x", None]}) is None  # not text
    assert small_rows_json({'a"b': ["x"]}) is None  # key to escape
    assert small_rows_json({"a": ["\ud800"]}) is None  # not UTF-8
    assert small_rows_json({"a": ["\x0b\x1f/é"]}) == ['{"a":"\\u000B\\u001F/é"}']
    # rows_to_json then asks DuckDB
    frame = pd.DataFrame({"a": ["x", None], "b": [1, 2]}, dtype=object)
    assert rows_to_json(frame).tolist() == rows_to_json_sql(frame).tolist()
