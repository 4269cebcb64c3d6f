"""The quick path of a few field-report observations gives exactly the events of the
rules (``check_records``), or gives up.

``quick_events`` handles plain valid observations in plain Python; everything else goes
through the vectorized rules. Generated reports mix plain values with the forms the
rules treat specially (surrounding spaces, case, ``-0``, ``3.0``, out-of-range values,
times without offsets or with fractions, non-ASCII text, repeated ids, missing fields,
extra members): whenever the quick path answers, every observation must be valid under
the rules and each event identical, value for value and type for type.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ceasewatch.ingest.field_report import QUICK_MAX, check_records, quick_events
from ceasewatch.normalize import schema
from ceasewatch.serve.submit import _rows_of

NUMBERS = ["36.1", "-0", "-0.0", "0", "12", "12.50", " 37.2", "1e2", "inf", "nan", "", "181"]
TIMES = [
    "2025-09-12T08:30:00Z",
    "2025-09-12T08:30Z",
    "2025-09-12T11:30:00+03:00",
    "2025-09-12T08:30:00",
    "2025-09-12T08:30:00.250Z",
    "2025-09-12 08:30:00Z",
    "2025-02-30T08:30:00Z",
    "2025-09-12T08:30:00z",
    "",
]


def _value(options: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from(options)


observation = st.fixed_dictionaries(
    {
        "report_id": _value(["R-1", "R-2", " R-3", "", 7]),
        "observation_id": _value(["1", "2", "3", "x y"]),
        "observer_id": _value(["T07", "", "Ť1"]),
        "observer_lon": st.one_of(
            _value(NUMBERS), st.floats(-200, 200, allow_nan=False), st.integers(-190, 190)
        ),
        "observer_lat": st.one_of(_value(NUMBERS), st.floats(-95, 95, allow_nan=False)),
        "window_start": _value(TIMES),
        "kind": _value(["explosion", "Flare", "BURST", "heavy_weapon_sighting", "boom", " flash"]),
        "count": _value([1, 3, "2", "3.0", 0, -1, "x", 12000]),
    },
    optional={
        "window_end": _value([*TIMES, "2025-09-13T09:30:00Z", "2025-09-12T08:00:00Z"]),
        "bearing_deg": st.one_of(_value(["", "361", "-1", "90"]), st.integers(0, 360)),
        "distance_min_km": _value([0, 2, "3.5", -1, ""]),
        "distance_max_km": _value([1, 4, "5.5", 61, 70, ""]),
        "weapon_class": _value(["mortar", "MLRS", "tactical_missiles", "slingshot", ""]),
        "assessment": _value(["impact", "Outgoing", "", "maybe"]),
        "reliability": _value(["A", "b", "G", ""]),
        "credibility": _value(["1", 6, "2.0", "7", ""]),
        "notes": _value(["", "heard twice", "naïve", "a\nb", '"quoted"']),
        "extra_field": _value([1, "x", [1, 2], {"k": None}]),
    },
)


def _full(records: list[Any]) -> tuple[list[tuple[Any, ...]], int]:
    events, quarantined, bad = check_records(records)
    rows, _ = _rows_of(events)
    dups = int(events[schema.SOURCE_EVENT_ID].duplicated().sum())
    return rows, len(quarantined) + len(bad) + dups


def _typed(rows: list[tuple[Any, ...]]) -> list[tuple[tuple[str, Any], ...]]:
    return [tuple((type(v).__name__, v) for v in r) for r in rows]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(observation, min_size=1, max_size=5))
def test_quick_path_answers_only_as_the_rules_do(records: list[dict[str, Any]]) -> None:
    quick = quick_events(records)
    if quick is None:
        return
    rows, problems = _full(records)
    assert problems == 0, "the quick path accepted a report the rules refuse"
    assert _typed(quick) == _typed(rows)


def _plain(i: int) -> dict[str, Any]:
    return {
        "report_id": "R-9",
        "observation_id": str(i + 1),
        "observer_id": "T07",
        "observer_lon": 37.31 + i / 100,
        "observer_lat": "47.93",
        "window_start": f"2025-09-12T{8 + i % 10:02d}:30:00+03:00",
        "window_end": f"2025-09-12T{8 + i % 10:02d}:45:00+03:00",
        "kind": ["explosion", "Flare", "heavy_weapon_sighting", "burst"][i % 4],
        "count": [3, "12"][i % 2],
        "bearing_deg": [120, ""][i % 2],
        "distance_min_km": 2,
        "distance_max_km": "4.5",
        "weapon_class": ["MORTAR", "tactical_missiles", ""][i % 3],
        "notes": ["", "seen from the roof"][i % 2],
    }


@pytest.mark.parametrize("n", [1, 3, QUICK_MAX])
def test_plain_reports_take_the_quick_path_with_the_same_events(n: int) -> None:
    records = [_plain(i) for i in range(n)]
    quick = quick_events(records)
    assert quick is not None
    rows, problems = _full(records)
    assert problems == 0
    assert _typed(quick) == _typed(rows)


def test_unusual_reports_are_left_to_the_rules() -> None:
    base = [_plain(0), _plain(1)]
    assert quick_events([_plain(i) for i in range(QUICK_MAX + 1)]) is None
    for field, value in [
        ("count", 0),
        ("observer_lon", "-0"),
        ("window_start", "2025-09-12T08:30:00"),
        ("kind", "boom"),
        ("report_id", " R-9"),
    ]:
        assert quick_events([{**base[0], field: value}, base[1]]) is None
    assert quick_events([base[0], base[0]]) is None  # the same id twice
    assert quick_events([base[0], "not an object"]) is None  # type: ignore[list-item]
