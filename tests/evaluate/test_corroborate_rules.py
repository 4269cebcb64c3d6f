"""Corroboration: which events become one incident, and how an incident is summarised."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import make_events
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from ceasewatch.evaluate.corroborate import corroborate, summarise_incidents
from ceasewatch.normalize import schema, vocab

GEOD = Geod(ellps="WGS84")
ORIGIN = (37.5, 48.5)
DAY = "2023-06-01"


def at(east_m: float, north_m: float = 0.0, origin: tuple[float, float] = ORIGIN) -> dict:
    """lon/lat of a point ``east_m`` east and ``north_m`` north of ``origin``."""
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], 90.0, east_m)
    lon, lat, _ = GEOD.fwd(lon, lat, 0.0, north_m)
    return {schema.LON: float(lon), schema.LAT: float(lat)}


def acled(eid: str, **kw: Any) -> dict:
    """An ACLED record: town-level place (2 km), day precision, report group 'acled'."""
    row = {
        schema.EVENT_ID: eid,
        schema.SOURCE: "acled",
        schema.OCCURRED_AT: pd.Timestamp(f"{DAY}T00:00:00Z"),
        schema.TIME_PRECISION: "day",
        schema.GEO_PRECISION_M: 2_000.0,
        schema.CATEGORY: "shelling",
        schema.RELIABILITY: "B",
        schema.CREDIBILITY: 2,
        schema.REPORT_GROUP: "acled",
        **at(0.0),
    }
    row.update(kw)
    return row


def firms(eid: str, **kw: Any) -> dict:
    """A VIIRS fire detection: 375 m pixel, minute precision, one overpass per group."""
    row = {
        schema.EVENT_ID: eid,
        schema.SOURCE: "firms",
        schema.OCCURRED_AT: pd.Timestamp(f"{DAY}T10:30:00Z"),
        schema.TIME_PRECISION: "minute",
        schema.GEO_PRECISION_M: 375.0,
        schema.CATEGORY: "fire_detection",
        schema.RELIABILITY: "B",
        schema.CREDIBILITY: 3,
        schema.REPORT_GROUP: f"firms:N:{DAY}T1030",
        **at(1_000.0),
    }
    row.update(kw)
    return row


def field(eid: str, **kw: Any) -> dict:
    """A monitor's field report (one report group per report)."""
    row = {
        schema.EVENT_ID: eid,
        schema.SOURCE: "field_report",
        schema.OCCURRED_AT: pd.Timestamp(f"{DAY}T10:25:00Z"),
        schema.TIME_PRECISION: "minute",
        schema.GEO_PRECISION_M: 500.0,
        schema.CATEGORY: "explosion_observed",
        schema.RELIABILITY: "A",
        schema.CREDIBILITY: 2,
        schema.REPORT_GROUP: f"fr:{eid}",
        **at(500.0),
    }
    row.update(kw)
    return row


def frame(*rows: dict) -> pd.DataFrame:
    """Canonical events from row dicts (columns a row leaves out take make_events' default)."""
    keys = sorted({k for r in rows for k in r})
    defaults = make_events(1).iloc[0].to_dict()
    cols = {k: [r.get(k, defaults[k]) for r in rows] for k in keys}
    return make_events(len(rows), **cols)


def ids_by_event(events: pd.DataFrame) -> dict[str, str]:
    inc = corroborate(events)
    assert inc.index.equals(events.index)
    return dict(zip(events[schema.EVENT_ID], inc, strict=True))


# --- linking -------------------------------------------------------------------------------


def test_acled_and_firms_one_km_apart_same_day_are_one_incident() -> None:
    ids = ids_by_event(frame(acled("a1"), firms("f1")))
    assert ids["a1"] == ids["f1"]


def test_province_level_acled_does_not_pin_a_fire_40_km_away() -> None:
    # a 75 km radius would reach the fire, but an oblast-level place pins nothing
    ids = ids_by_event(frame(acled("a1", geo_precision_m=75_000.0), firms("f1", **at(40_000.0))))
    assert ids["a1"] != ids["f1"]
    # the same pair with a town-level ACLED place 40 km away is not linked either
    ids = ids_by_event(frame(acled("a1"), firms("f1", **at(40_000.0))))
    assert ids["a1"] != ids["f1"]


def test_same_report_group_never_merged_even_when_identical() -> None:
    ev = frame(acled("a1"), acled("a2"), acled("a3"))
    ids = ids_by_event(ev)
    assert len(set(ids.values())) == 3
    # two fire pixels of one overpass likewise
    ids = ids_by_event(frame(firms("f1"), firms("f2", **at(1_300.0))))
    assert ids["f1"] != ids["f2"]


def test_chain_through_a_shared_neighbour_does_not_merge_one_report_group() -> None:
    # F is close to both A1 and A2 (both ACLED): it may join one of them, never both
    ev = frame(acled("a1", **at(0.0)), firms("f1", **at(700.0)), acled("a2", **at(2_000.0)))
    ids = ids_by_event(ev)
    assert ids["a1"] != ids["a2"]
    # best-first: the fire joins the nearer record
    assert ids["f1"] == ids["a1"]
    ev = frame(acled("a1", **at(0.0)), firms("f1", **at(1_500.0)), acled("a2", **at(2_000.0)))
    ids = ids_by_event(ev)
    assert ids["a1"] != ids["a2"]
    assert ids["f1"] == ids["a2"]


def test_heavy_weapon_sighting_never_merged_with_fire_detection() -> None:
    sighting = field("s1", category="heavy_weapon_sighting", weapon_class="mlrs", **at(1_000.0))
    ids = ids_by_event(frame(sighting, firms("f1")))
    assert ids["s1"] != ids["f1"]
    # the same report as an observed explosion does corroborate the fire
    ids = ids_by_event(frame(field("x1", **at(1_000.0)), firms("f1")))
    assert ids["x1"] == ids["f1"]


def test_events_three_days_apart_are_separate() -> None:
    t = pd.Timestamp(f"{DAY}T10:30:00Z")
    ev = frame(
        field("x1", occurred_at=t, **at(1_000.0)),
        firms("f1", occurred_at=t + pd.Timedelta(days=3)),
        firms("f2", occurred_at=t + pd.Timedelta(hours=1), report_group="firms:other"),
    )
    ids = ids_by_event(ev)
    assert ids["x1"] != ids["f1"]
    assert ids["x1"] == ids["f2"]  # an hour apart is the same happening


def test_incident_id_is_stable_when_a_later_record_joins() -> None:
    first = frame(acled("m1", recorded_at=pd.Timestamp("2023-06-02T00:00:00Z")))
    before = ids_by_event(first)
    assert before["m1"] == "Im1"
    # the later record's id sorts first; the anchor is still the earliest recorded member
    later = firms("a0", recorded_at=pd.Timestamp("2023-06-05T00:00:00Z"))
    after = ids_by_event(
        frame(later, acled("m1", recorded_at=pd.Timestamp("2023-06-02T00:00:00Z")))
    )
    assert after["a0"] == after["m1"] == before["m1"]
    # a tie in recorded_at falls back to the smaller event id
    tied = ids_by_event(frame(firms("a0"), acled("m1")))
    assert tied["m1"] == tied["a0"] == "Ia0"


def test_observation_windows_link_only_when_they_meet() -> None:
    # monitors' reports with explicit windows: 800 s windows 5 h apart do not meet (they
    # must overlap within 15 min), even beside a report with a 4 h window (which widens
    # the candidate search of their precision class)
    t = pd.Timestamp(f"{DAY}T06:00:00Z")
    ev = frame(
        field("y1", occurred_at=t, time_window_s=800.0),
        field("z1", occurred_at=t + pd.Timedelta(hours=5), time_window_s=800.0),
        field("w1", occurred_at=t, time_window_s=4 * 3_600.0, **at(0.0, 30_000.0)),
        field("w2", occurred_at=t + pd.Timedelta(minutes=320), time_window_s=7_200.0),
    )
    ids = ids_by_event(ev)
    assert ids["y1"] != ids["z1"]
    # the 2 h window starting 6 min after z1's ends is within the 15 min tolerance
    assert ids["w2"] == ids["z1"]


def test_location_discs_link_only_when_they_meet() -> None:
    # 1.5 km discs 6 km apart do not meet (reach 1.5 + 1.5 + 1 km), even beside a 5 km
    # disc of the same precision class elsewhere
    ev = frame(
        field("y1", geo_precision_m=1_500.0, **at(0.0)),
        field("z1", geo_precision_m=1_500.0, **at(6_000.0)),
        field("w1", geo_precision_m=5_000.0, **at(0.0, 40_000.0)),
        field("w2", geo_precision_m=4_000.0, **at(12_000.0)),
    )
    ids = ids_by_event(ev)
    assert ids["y1"] != ids["z1"]
    assert ids["w2"] == ids["z1"]  # 6 km apart, reach 1.5 + 4 + 1 km


@pytest.mark.parametrize("seed", range(6))
def test_tied_anchors_do_not_depend_on_row_order(seed: int) -> None:
    # every member recorded at the same instant: the anchor is the smallest event id
    ev = frame(field("r2"), acled("r3"), firms("r1"), field("r0", **at(40_000.0)))
    perm = np.random.default_rng(seed).permutation(len(ev))
    ids = ids_by_event(ev.iloc[perm])
    assert ids == {"r0": "Ir0", "r1": "Ir1", "r2": "Ir1", "r3": "Ir1"}


def test_empty_input() -> None:
    out = corroborate(make_events(0))
    assert len(out) == 0


# --- properties ----------------------------------------------------------------------------

_SOURCES = {
    "acled": ("acled", "day", 2_000.0),
    "firms": ("firms", "minute", 375.0),
    "field_report": ("field_report", "minute", 500.0),
    "coarse": ("acled", "month", 15_000.0),
}
_CATEGORIES = (
    "shelling",
    "fire_detection",
    "explosion_observed",
    "heavy_weapon_sighting",
    "small_arms_fire",
    "protest",
)


@st.composite
def event_sets(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(2, 14))
    rows = []
    for i in range(n):
        kind = draw(st.sampled_from(sorted(_SOURCES)))
        source, prec, geo = _SOURCES[kind]
        rows.append(
            {
                schema.EVENT_ID: f"e{draw(st.integers(0, 10**6)):07d}-{i}",
                schema.SOURCE: source,
                schema.TIME_PRECISION: prec,
                schema.GEO_PRECISION_M: geo,
                schema.OCCURRED_AT: pd.Timestamp(f"{DAY}T00:00:00Z")
                + pd.Timedelta(minutes=draw(st.integers(0, 3 * 24 * 60))),
                schema.CATEGORY: draw(st.sampled_from(_CATEGORIES)),
                schema.REPORT_GROUP: f"{source}:{draw(st.integers(0, 3))}",
                # few distinct times: ties, broken by event id, are common
                schema.RECORDED_AT: pd.Timestamp("2023-06-05T00:00:00Z")
                + pd.Timedelta(hours=draw(st.integers(0, 1))),
                **at(draw(st.floats(0, 6_000)), draw(st.floats(0, 6_000))),
            }
        )
    return frame(*rows)


@settings(max_examples=80, deadline=None)
@given(ev=event_sets(), perm_seed=st.integers(0, 2**32 - 1))
def test_corroboration_independent_of_row_order_and_idempotent(
    ev: pd.DataFrame, perm_seed: int
) -> None:
    base = ids_by_event(ev)
    perm = np.random.default_rng(perm_seed).permutation(len(ev))
    shuffled = ev.iloc[perm]
    # a non-trivial index too: the result must align on it
    shuffled = shuffled.set_axis(np.arange(100, 100 + len(ev))[::-1])
    assert ids_by_event(shuffled) == base
    assert ids_by_event(ev) == base  # idempotent
    # no incident ever holds two records of one report group
    groups = ev.assign(inc=ev[schema.EVENT_ID].map(base))
    assert not groups.duplicated(["inc", schema.REPORT_GROUP]).any()
    # every id names a member of its incident: the one recorded first
    for inc, members in groups.groupby("inc"):
        anchor = members.sort_values([schema.RECORDED_AT, schema.EVENT_ID]).iloc[0]
        assert inc == "I" + anchor[schema.EVENT_ID]


# --- summaries -----------------------------------------------------------------------------


def _summary(*rows: dict) -> tuple[pd.DataFrame, dict[str, str]]:
    ev = frame(*rows)
    inc = corroborate(ev)
    s = summarise_incidents(ev, inc).set_index(schema.INCIDENT_ID)
    return s, dict(zip(ev[schema.EVENT_ID], inc, strict=True))


def _weight(rel: str, cred: int) -> float:
    return vocab.RELIABILITY_WEIGHT[rel] * vocab.CREDIBILITY_WEIGHT[cred]


def test_summary_confidence_grows_with_independent_sources() -> None:
    one, ids1 = _summary(acled("a1"))
    two, ids2 = _summary(acled("a1"), firms("f1"))
    c1 = one.loc[ids1["a1"], schema.CONFIDENCE]
    c2 = two.loc[ids2["a1"], schema.CONFIDENCE]
    assert c1 == np.float64(_weight("B", 2))
    assert c2 > c1
    assert np.isclose(c2, 1 - (1 - _weight("B", 2)) * (1 - _weight("B", 3)))
    # a second record of the same source is not independent: no gain
    same, ids3 = _summary(field("r1"), field("r2", **at(600.0)))
    assert ids3["r1"] == ids3["r2"]
    assert same.loc[ids3["r1"], "n_events"] == 2
    assert same.loc[ids3["r1"], "n_sources"] == 1
    assert np.isclose(same.loc[ids3["r1"], schema.CONFIDENCE], _weight("A", 2))
    # three sources beat two
    three, ids4 = _summary(acled("a1"), firms("f1"), field("r1"))
    assert len(set(ids4.values())) == 1
    assert three.loc[ids4["a1"], schema.CONFIDENCE] > c2


def test_summary_place_is_precision_weighted_and_sources_listed() -> None:
    s, ids = _summary(acled("a1", **at(0.0)), firms("f1", **at(1_000.0)))
    assert ids["a1"] == ids["f1"]
    row = s.loc[ids["a1"]]
    _, _, to_firms = GEOD.inv(row[schema.LON], row[schema.LAT], *at(1_000.0).values())
    _, _, to_acled = GEOD.inv(row[schema.LON], row[schema.LAT], *at(0.0).values())
    # weights 1/r²: 2000² / 375² ≈ 28 to 1 for the fire pixel → ~34 m from it
    expected = 1_000.0 / (1 + (2_000.0 / 375.0) ** 2)
    assert abs(to_firms - expected) < 5.0
    assert to_acled > 950.0
    assert row["n_sources"] == 2
    assert row["n_events"] == 2
    assert row["sources"] == "acled;firms"
    assert row[schema.GEO_PRECISION_M] == 375.0
    # the time is that of the member known most precisely
    assert row[schema.TIME_PRECISION] == "minute"
    assert row[schema.OCCURRED_AT] == pd.Timestamp(f"{DAY}T10:30:00Z")
    # the most specific category leads; all are kept
    assert row[schema.CATEGORY] == "shelling"
    assert row["categories"] == "fire_detection;shelling"


def test_summary_separate_incidents_keep_their_own_members() -> None:
    s, ids = _summary(acled("a1"), firms("f1"), acled("a2", **at(60_000.0)))
    assert len(s) == 2
    assert s.loc[ids["a2"], "n_sources"] == 1
    assert s.loc[ids["a2"], "sources"] == "acled"
    assert s.loc[ids["a1"], "n_sources"] == 2


def test_missing_event_id_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="event_id: 1 missing value"):
        corroborate(make_events(2, event_id=["x1", None]))


def test_non_text_ids_and_groups_are_compared_as_text() -> None:
    # the same place and time, three reports: one incident anchored on the smallest id
    # as text ("10" < "9"); a missing report group is a group of its own
    ev = make_events(3, event_id=[9, 10, 11], report_group=[None, "a", 7])
    assert corroborate(ev).tolist() == ["I10", "I10", "I10"]
    same = make_events(2, report_group=[None, None])
    assert corroborate(same).nunique() == 2


# --- no dependence on the box of the input (the Dask engine's pins) ------------------------


def _pins(lon_lat: list[tuple[float, float, float]]) -> list[dict]:
    """Records like the Dask engine's pins: one report group, a category of no group."""
    return [
        {
            schema.EVENT_ID: f"~pin{k}",
            schema.SOURCE: "~pin",
            schema.TIME_PRECISION: "minute",
            schema.GEO_PRECISION_M: geo,
            schema.CATEGORY: "~pin",
            schema.REPORT_GROUP: "~pin",
            schema.RELIABILITY: "F",
            schema.CREDIBILITY: 6,
            schema.LON: lon,
            schema.LAT: lat,
        }
        for k, (lon, lat, geo) in enumerate(lon_lat)
    ]


def test_incidents_and_their_summary_do_not_depend_on_far_away_records() -> None:
    rows = [
        acled("a1"),
        firms("f1"),
        field("r1", **at(700.0, 300.0)),
        acled("a2", **at(30_000.0), geo_precision_m=15_000.0),
        firms("f2", **at(33_000.0, 2_000.0), report_group="firms:2"),
    ]
    alone = frame(*rows)
    inc = corroborate(alone)
    summary = summarise_incidents(alone, inc).set_index(schema.INCIDENT_ID)
    # pins at the corners of a box 600 km wide, as the Dask engine adds them
    pins = _pins([(33.0, 45.0, 1e9), (41.0, 51.0, 1e9), (34.0, 46.0, 0.0), (40.0, 50.0, 0.0)])
    pinned = frame(*rows, *pins)
    inc_p = corroborate(pinned)
    assert inc_p.iloc[: len(rows)].tolist() == inc.tolist()
    assert set(inc_p.iloc[len(rows) :]) == {f"I~pin{k}" for k in range(4)}
    summary_p = summarise_incidents(pinned, inc_p).set_index(schema.INCIDENT_ID)
    pd.testing.assert_frame_equal(summary_p.loc[summary.index], summary, check_exact=True)


def test_summary_place_in_a_given_crs_agrees_with_the_default() -> None:
    from ceasewatch.normalize.crs import metric_crs

    ev = frame(acled("a1"), firms("f1"), field("r1", **at(700.0, 300.0)))
    inc = corroborate(ev)
    base = summarise_incidents(ev, inc)
    for box in [(37.0, 48.0, 38.0, 49.0), (30.0, 44.0, 40.0, 52.0)]:
        other = summarise_incidents(ev, inc, crs=metric_crs(*box))
        _, _, d = GEOD.inv(base[schema.LON], base[schema.LAT], other[schema.LON], other[schema.LAT])
        assert np.all(np.asarray(d) < 0.5)


def test_links_of_equal_score_are_taken_in_the_order_of_their_ids() -> None:
    """B (report g2) ties with A and with C (both of report g1, so never together): the
    same place and time, equal scores. Which one B joins is decided by the event ids, the
    same whatever the input order."""
    rows = [
        firms(eid, **{schema.REPORT_GROUP: group, **at(0.0)})
        for eid, group in (("A", "g1"), ("B", "g2"), ("C", "g1"))
    ]
    seen = set()
    for order in itertools.permutations(range(3)):
        ids = ids_by_event(frame(*(rows[k] for k in order)))
        assert ids["A"] != ids["C"]
        assert ids["B"] in (ids["A"], ids["C"])
        seen.add(frozenset(e for e in "AC" if ids[e] == ids["B"]))
    assert len(seen) == 1
