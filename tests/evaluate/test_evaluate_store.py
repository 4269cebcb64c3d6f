"""evaluate_store end to end: incremental runs, incident identity, agreement amendments and
analyst status across re-evaluation."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import TEST_LINE, make_events, write_agreement
from pyproj import Geod, Transformer

from ceasewatch.agreement.geometry import ZoneModel
from ceasewatch.agreement.store import load_agreement_into
from ceasewatch.evaluate.run import evaluate_store
from ceasewatch.normalize import schema
from ceasewatch.store.duckdb import DuckDBStore

GEOD = Geod(ellps="WGS84")
DAY1 = pd.Timestamp("2023-06-01T00:00:00Z")


def place(model: ZoneModel, km: float, *, segment: int = 2) -> dict[str, float]:
    """lon/lat ``km`` from the middle of a segment of the test line, on the RU side."""
    fwd = Transformer.from_crs("EPSG:4326", model.crs, always_xy=True)
    inv = Transformer.from_crs(model.crs, "EPSG:4326", always_xy=True)
    (x0, y0), (x1, y1) = (fwd.transform(*TEST_LINE[k]) for k in (segment, segment + 1))
    length = np.hypot(x1 - x0, y1 - y0)
    nx, ny = -(y1 - y0) / length, (x1 - x0) / length
    off = km * 1_000.0
    lon, lat = inv.transform((x0 + x1) / 2 + off * nx, (y0 + y1) / 2 + off * ny)
    return {schema.LON: float(lon), schema.LAT: float(lat)}


def east_of(p: dict[str, float], metres: float) -> dict[str, float]:
    lon, lat, _ = GEOD.fwd(p[schema.LON], p[schema.LAT], 90.0, metres)
    return {schema.LON: float(lon), schema.LAT: float(lat)}


def acled(sid: str, where: dict[str, float], when: pd.Timestamp, **kw: Any) -> dict[str, Any]:
    return {
        schema.SOURCE: "acled",
        schema.SOURCE_EVENT_ID: sid,
        schema.OCCURRED_AT: when.normalize(),
        schema.TIME_PRECISION: "day",
        schema.GEO_PRECISION_M: 2_000.0,
        schema.CATEGORY: "shelling",
        schema.RELIABILITY: "B",
        schema.CREDIBILITY: 2,
        schema.REPORT_GROUP: "acled",
        **where,
        **kw,
    }


def firms(sid: str, where: dict[str, float], when: pd.Timestamp, **kw: Any) -> dict[str, Any]:
    return {
        schema.SOURCE: "firms",
        schema.SOURCE_EVENT_ID: sid,
        schema.OCCURRED_AT: when,
        schema.TIME_PRECISION: "minute",
        schema.GEO_PRECISION_M: 375.0,
        schema.CATEGORY: "fire_detection",
        schema.RELIABILITY: "B",
        schema.CREDIBILITY: 3,
        schema.REPORT_GROUP: f"firms:N:{when.isoformat()}",
        **where,
        **kw,
    }


def monitor(sid: str, where: dict[str, float], when: pd.Timestamp, **kw: Any) -> dict[str, Any]:
    return {
        schema.SOURCE: "field_report",
        schema.SOURCE_EVENT_ID: sid,
        schema.OCCURRED_AT: when,
        schema.TIME_PRECISION: "minute",
        schema.GEO_PRECISION_M: 500.0,
        schema.CATEGORY: "explosion_observed",
        schema.RELIABILITY: "A",
        schema.CREDIBILITY: 2,
        schema.REPORT_GROUP: f"fr:{sid}",
        **where,
        **kw,
    }


def ingest(store: DuckDBStore, rows: list[dict[str, Any]], recorded_at: str) -> dict[str, str]:
    """Add ``rows`` as one batch; returns source_event_id → the store's event_id."""
    keys = sorted({k for r in rows for k in r})
    defaults = make_events(1).iloc[0].to_dict()
    ev = make_events(len(rows), **{k: [r.get(k, defaults[k]) for r in rows] for k in keys})
    # the raw record: what the source said (a correction changes it)
    ev[schema.RAW] = [json.dumps(r, default=str, sort_keys=True) for r in rows]
    frame = ev[list(schema.EVENT_COLUMNS)]
    bid = store.begin_batch({"source": str(frame[schema.SOURCE].iloc[0])})
    store.add_events(frame, batch_id=bid, recorded_at=datetime.fromisoformat(recorded_at))
    ids = store.events(columns=[schema.EVENT_ID, schema.SOURCE_EVENT_ID])
    return dict(zip(ids[schema.SOURCE_EVENT_ID], ids[schema.EVENT_ID], strict=True))


def incident_of(store: DuckDBStore, event_id: str) -> str:
    m = store.incident_members()
    return str(m.loc[m["event_id"] == event_id, "incident_id"].item())


@pytest.fixture
def loaded(store: DuckDBStore, tmp_path: Path) -> tuple[DuckDBStore, ZoneModel]:
    _, agreement = load_agreement_into(store, write_agreement(tmp_path / "v1"))
    return store, ZoneModel(agreement)


def test_second_run_with_nothing_new_evaluates_nothing(
    loaded: tuple[DuckDBStore, ZoneModel],
) -> None:
    store, model = loaded
    p = place(model, 30.0)
    ingest(
        store,
        [
            acled("A1", p, DAY1),
            firms("F1", east_of(p, 800.0), DAY1 + pd.Timedelta(hours=10)),
            acled("A2", place(model, 5.0, segment=4), DAY1, category="armed_clash"),
            monitor("M1", place(model, 60.0, segment=1), DAY1 + pd.Timedelta(days=2)),
        ],
        "2023-06-03T00:00:00+00:00",
    )
    first = evaluate_store(store)
    assert first.events_total == 4
    assert first.events_evaluated == 4
    assert first.incidents == 3
    assert len(store.event_eval()) == 4
    incidents = store.incidents()
    violations = store.violations()
    assert len(violations) == 2  # the shelling (with its fire) and the clash

    second = evaluate_store(store)
    assert second.events_total == 4
    assert second.events_evaluated == 0
    assert second.incidents == 0
    pd.testing.assert_frame_equal(store.incidents(), incidents)
    pd.testing.assert_frame_equal(store.violations(), violations)


def test_corroborating_event_keeps_the_incident_id(
    loaded: tuple[DuckDBStore, ZoneModel],
) -> None:
    store, model = loaded
    p = place(model, 30.0)
    ids = ingest(store, [acled("A1", p, DAY1)], "2023-06-02T00:00:00+00:00")
    evaluate_store(store)
    inc = incident_of(store, ids["A1"])
    assert inc == "I" + ids["A1"]
    before = store.violations().set_index(schema.INCIDENT_ID).loc[inc]
    assert before["n_sources"] == 1

    ids = ingest(
        store,
        [
            firms("F1", east_of(p, 900.0), DAY1 + pd.Timedelta(hours=9)),
            monitor("M1", east_of(p, 400.0), DAY1 + pd.Timedelta(hours=9, minutes=5)),
        ],
        "2023-06-09T00:00:00+00:00",
    )
    again = evaluate_store(store)
    assert again.events_evaluated == 2
    assert incident_of(store, ids["F1"]) == incident_of(store, ids["M1"]) == inc
    incidents = store.incidents().set_index(schema.INCIDENT_ID)
    assert list(incidents.index) == [inc]
    assert incidents.loc[inc, "n_sources"] == 3
    assert incidents.loc[inc, "n_events"] == 3
    after = store.violations(include_inactive=True)
    assert len(after) == 1
    v = after.iloc[0]
    assert v[schema.VIOLATION_ID] == before[schema.VIOLATION_ID]
    assert bool(v["active"])
    assert v["n_sources"] == 3
    assert v[schema.CONFIDENCE] > before[schema.CONFIDENCE]
    assert set(v[schema.EVIDENCE_EVENT_IDS].split(";")) == {ids["A1"], ids["F1"], ids["M1"]}


def _amend(folder: Path, effective: str) -> Path:
    write_agreement(folder, effective=effective, extra="version_label: amendment-1\n")
    yml = folder / "agreement.yaml"
    text = yml.read_text()
    for old, new in (("15,", "20,"), ("50,", "60,"), ("70,", "100,"), ("140,", "200,")):
        assert f"width_km: {old}" in text
        text = text.replace(f"width_km: {old}", f"width_km: {new}")
    yml.write_text(text)
    return folder


def test_amended_agreement_applies_from_its_effective_time(
    loaded: tuple[DuckDBStore, ZoneModel], tmp_path: Path
) -> None:
    store, model = loaded
    early = pd.Timestamp("2023-04-01T08:00:00Z")
    late = pd.Timestamp("2023-08-01T08:00:00Z")
    sighting = {"category": "heavy_weapon_sighting", "weapon_class": "mlrs"}
    ids = ingest(
        store,
        [
            monitor("E-mlrs", place(model, 55.0), early, **sighting),
            monitor("E-saf", place(model, 18.0, segment=4), early, category="small_arms_fire"),
            monitor("L-mlrs", place(model, 55.0), late, **sighting),
            monitor("L-saf", place(model, 18.0, segment=4), late, category="small_arms_fire"),
        ],
        "2023-08-02T00:00:00+00:00",
    )
    evaluate_store(store)
    v1 = store.violations().set_index(schema.INCIDENT_ID)
    assert set(v1.index) == {"I" + ids["E-mlrs"], "I" + ids["L-mlrs"]}
    assert (v1[schema.AGREEMENT_VERSION] == 1).all()
    assert (v1[schema.RULE] == "zone:mlrs").all()
    old_late_id = v1.loc["I" + ids["L-mlrs"], schema.VIOLATION_ID]

    version, _ = load_agreement_into(store, _amend(tmp_path / "v2", "2023-07-01T00:00:00Z"))
    assert version == 2
    result = evaluate_store(store)
    assert result.events_evaluated == 2  # only the events after the amendment

    v = store.violations().set_index(schema.INCIDENT_ID)
    assert set(v.index) == {"I" + ids["E-mlrs"], "I" + ids["L-mlrs"], "I" + ids["L-saf"]}
    assert v.loc["I" + ids["E-mlrs"], schema.AGREEMENT_VERSION] == 1
    assert v.loc["I" + ids["L-mlrs"], schema.AGREEMENT_VERSION] == 2
    assert v.loc["I" + ids["L-saf"], schema.AGREEMENT_VERSION] == 2
    # the new widths: 18 km is inside the 20 km disengagement band, 55 km in the 60 km one
    assert v.loc["I" + ids["L-saf"], schema.RULE] == "zone:disengagement"
    assert v.loc["I" + ids["L-mlrs"], schema.ZONE] == "artillery"
    assert v.loc["I" + ids["E-mlrs"], schema.ZONE] == "mlrs"
    assert v.loc["I" + ids["L-mlrs"], schema.VIOLATION_ID] != old_late_id
    # the late incident's judgement under version 1 is kept, inactive
    every = store.violations(include_inactive=True).set_index(schema.VIOLATION_ID)
    assert not bool(every.loc[old_late_id, "active"])
    assert every.loc[old_late_id, schema.AGREEMENT_VERSION] == 1

    ev = store.event_eval().set_index("event_id")
    assert ev.loc[ids["E-saf"], schema.AGREEMENT_VERSION] == 1
    assert ev.loc[ids["E-saf"], schema.ZONE] == "artillery"
    assert ev.loc[ids["L-saf"], schema.AGREEMENT_VERSION] == 2
    assert ev.loc[ids["L-saf"], schema.ZONE] == "disengagement"
    assert evaluate_store(store).events_evaluated == 0


def test_analyst_status_survives_re_evaluation(loaded: tuple[DuckDBStore, ZoneModel]) -> None:
    store, model = loaded
    p = place(model, 30.0)
    ingest(store, [acled("A1", p, DAY1)], "2023-06-02T00:00:00+00:00")
    evaluate_store(store)
    vid = store.violations()[schema.VIOLATION_ID].item()
    store.set_violation_status(vid, "confirmed", comment="crater seen", actor="analyst-1")
    assert store.violations().set_index(schema.VIOLATION_ID).loc[vid, "status"] == "confirmed"

    ingest(
        store,
        [firms("F1", east_of(p, 900.0), DAY1 + pd.Timedelta(hours=9))],
        "2023-06-05T00:00:00+00:00",
    )
    assert evaluate_store(store).events_evaluated == 1
    after = store.violations().set_index(schema.VIOLATION_ID)
    assert list(after.index) == [vid]
    assert after.loc[vid, "status"] == "confirmed"
    assert after.loc[vid, "n_sources"] == 2

    full = evaluate_store(store, full=True)
    assert full.events_evaluated == 2
    after = store.violations().set_index(schema.VIOLATION_ID)
    assert list(after.index) == [vid]
    assert after.loc[vid, "status"] == "confirmed"

    # a correction of the anchor record (a new version, recorded after the fire) is the
    # same happening: same incident, same violation, status kept, severity re-graded
    ids = ingest(store, [acled("A1", p, DAY1, fatalities=1.0)], "2023-06-10T00:00:00+00:00")
    assert evaluate_store(store).events_evaluated == 1
    assert incident_of(store, ids["A1"]) == incident_of(store, ids["F1"]) == "I" + ids["A1"]
    every = store.violations(include_inactive=True).set_index(schema.VIOLATION_ID)
    assert list(every.index) == [vid]
    assert bool(every.loc[vid, "active"])
    assert every.loc[vid, "status"] == "confirmed"
    assert every.loc[vid, schema.SEVERITY] == "breach"  # one fatality now
    assert every.loc[vid, schema.FATALITIES] == 1.0


def _comparable(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    drop = [c for c in ("updated_at", "detected_at") if c in frame]
    return frame.drop(columns=drop).sort_values(key).reset_index(drop=True)


def test_incremental_run_matches_a_full_run_on_chained_windows(
    loaded: tuple[DuckDBStore, ZoneModel],
) -> None:
    # a monitor's back-to-back daily observation windows at one place: consecutive days
    # touch, so single linkage would chain three weeks into one incident; complete linkage
    # keeps only records that could all be the same happening together
    store, model = loaded
    p = place(model, 10.0)
    day = pd.Timedelta(days=1)
    rows = [
        monitor(f"D{k:02d}", p, DAY1 + k * day, time_window_s=86_400.0, category="shelling")
        for k in range(20)
    ]
    ingest(store, rows, "2023-06-25T00:00:00+00:00")
    evaluate_store(store)
    incidents = store.incidents()
    assert len(incidents) >= 10
    assert incidents["n_events"].max() <= 2

    late = monitor("D20", p, DAY1 + 20 * day, time_window_s=86_400.0, category="shelling")
    ingest(store, [late], "2023-06-26T00:00:00+00:00")
    result = evaluate_store(store)
    assert result.events_evaluated == 1
    assert 1 < result.events_in_window < 21  # a window around the new record, not everything
    assert store.incident_members()["event_id"].nunique() == 21
    incremental = (store.incidents(), store.violations())

    # the incremental result is the one a fresh evaluation of everything gives
    evaluate_store(store, full=True)
    pd.testing.assert_frame_equal(
        _comparable(store.incidents(), schema.INCIDENT_ID),
        _comparable(incremental[0], schema.INCIDENT_ID),
    )
    pd.testing.assert_frame_equal(
        _comparable(store.violations(), schema.VIOLATION_ID),
        _comparable(incremental[1], schema.VIOLATION_ID),
    )


def test_incremental_run_rewrites_only_changed_incidents_and_equals_a_full_run(
    loaded: tuple[DuckDBStore, ZoneModel],
) -> None:
    store, model = loaded
    p = place(model, 10.0)
    q = place(model, 10.0, segment=4)
    rows = [
        acled("A1", p, DAY1),
        firms("F1", east_of(p, 600.0), DAY1 + pd.Timedelta(hours=10)),
        acled("A2", q, DAY1),
        firms("F2", east_of(q, 600.0), DAY1 + pd.Timedelta(hours=11)),
        monitor("M1", place(model, 40.0, segment=1), DAY1 + pd.Timedelta(hours=3)),
    ]
    ids = ingest(store, rows, "2023-06-02T00:00:00+00:00")
    evaluate_store(store)
    before = store.incidents().set_index(schema.INCIDENT_ID)
    assert incident_of(store, ids["F1"]) == incident_of(store, ids["A1"])

    # a monitor hears the explosion at p: it joins that incident, the others are left alone
    ids = ingest(
        store,
        [monitor("M2", east_of(p, 300.0), DAY1 + pd.Timedelta(hours=10, minutes=5))],
        "2023-06-03T00:00:00+00:00",
    )
    # and F2's record is corrected to a place far from A2: it leaves that incident
    ids = ingest(
        store,
        [firms("F2", east_of(q, 30_000.0), DAY1 + pd.Timedelta(hours=11))],
        "2023-06-03T01:00:00+00:00",
    )
    result = evaluate_store(store)
    assert result.events_evaluated == 2
    assert result.incidents_written < result.incidents
    after = store.incidents().set_index(schema.INCIDENT_ID)
    inc_p = incident_of(store, ids["A1"])
    assert incident_of(store, ids["M2"]) == inc_p
    assert incident_of(store, ids["F2"]) != incident_of(store, ids["A2"])
    # the incident nobody touched was not written again; the changed ones were
    inc_m1 = incident_of(store, ids["M1"])
    assert after.loc[inc_m1, "updated_at"] == before.loc[inc_m1, "updated_at"]
    assert after.loc[inc_p, "updated_at"] > before.loc[inc_p, "updated_at"]
    assert after.loc[inc_p, "n_events"] == 3
    assert after.loc[incident_of(store, ids["A2"]), "n_events"] == 1
    incremental = (store.incidents(), store.violations(include_inactive=True))

    evaluate_store(store, full=True)
    pd.testing.assert_frame_equal(
        _comparable(store.incidents(), schema.INCIDENT_ID),
        _comparable(incremental[0], schema.INCIDENT_ID),
    )
    pd.testing.assert_frame_equal(
        _comparable(store.violations(include_inactive=True), schema.VIOLATION_ID),
        _comparable(incremental[1], schema.VIOLATION_ID),
    )
