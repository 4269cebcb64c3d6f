"""Claims by a party (docs/claims.md): layouts, validation, and disagreement kept side by side."""

from __future__ import annotations

import contextlib
import csv
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ceasewatch.errors import SourceFormatError
from ceasewatch.evaluate.corroborate import corroborate, summarise_incidents
from ceasewatch.ingest.base import get_source
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.store.duckdb import DuckDBStore

FIELDS = [
    "claim_id", "claimant", "claimed_at", "occurred_at", "date", "time_precision", "place",
    "lon", "lat", "location_precision_m", "count", "category", "weapon_class",
    "attributed_to", "fatalities", "source_url", "reliability", "credibility", "notes",
]  # fmt: skip

#: the CSV example of docs/claims.md, as an object
RU_17: dict[str, Any] = {
    "claim_id": "17",
    "claimant": "RU",
    "claimed_at": "2025-09-15T08:00:00+03:00",
    "date": "2025-09-14",
    "place": "Horlivka",
    "lon": 38.05,
    "lat": 48.30,
    "location_precision_m": 3000,
    "count": 14,
    "category": "shelling",
    "weapon_class": "artillery_100mm_plus",
    "attributed_to": "UA",
    "source_url": "https://example.org/ru/17",
    "notes": "shelled Horlivka 14 times",
}
#: the JSON example of docs/claims.md: the other side's account of the same afternoon
UA_203: dict[str, Any] = {
    "claim_id": "203",
    "claimant": "UA",
    "claimed_at": "2025-09-14T20:00:00Z",
    "occurred_at": "2025-09-14T16:10:00+03:00",
    "place": "Horlivka outskirts",
    "lon": 38.06,
    "lat": 48.31,
    "location_precision_m": 5000,
    "category": "shelling",
    "attributed_to": "RU",
    "source_url": "https://example.org/ua/203",
}


def claim(ident: str, **changes: Any) -> dict[str, Any]:
    out = {**RU_17, "claim_id": ident, **changes}
    return {k: v for k, v in out.items() if v is not None}


def write_csv(path: Path, claims: list[dict[str, Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        for c in claims:
            w.writerow({k: "" if v is None else v for k, v in c.items()})
    return path


def ingest(store, path: Path):
    return ingest_file(store, get_source("claims"), path)


def test_every_layout_gives_the_same_events(tmp_path) -> None:
    claims = [RU_17, UA_203]
    paths = {
        "csv": write_csv(tmp_path / "c.csv", claims),
        "json": tmp_path / "c.json",
        "wrapped": tmp_path / "w.json",
        "jsonl": tmp_path / "c.jsonl",
    }
    paths["json"].write_text(json.dumps(claims))
    paths["wrapped"].write_text(json.dumps({"claims": claims}))
    paths["jsonl"].write_text("".join(json.dumps(c) + "\n" for c in claims))
    cols = ["source_event_id", "occurred_at", "time_precision", "lon", "lat", "geo_precision_m"]
    cols += ["category", "weapon_class", "attributed_to", "count", "report_group", "notes"]
    frames = {}
    for name, path in paths.items():
        # a store each: the raw records differ (CSV text, JSON objects with their types)
        with contextlib.closing(DuckDBStore(":memory:")) as store:
            result = ingest(store, path)
            assert (result.loaded, result.quarantined) == (2, 0)
            events = store.events()[cols].sort_values("source_event_id")
            frames[name] = events.reset_index(drop=True)
    for name in ("json", "wrapped", "jsonl"):
        pd.testing.assert_frame_equal(frames[name], frames["csv"])
    ev = frames["csv"].set_index("source_event_id")
    assert ev.at["RU:17", "occurred_at"] == pd.Timestamp("2025-09-14T00:00:00Z")
    assert ev.at["RU:17", "time_precision"] == "day"
    assert ev.at["RU:17", "geo_precision_m"] == 3000.0
    assert ev.at["RU:17", "count"] == 14
    assert ev.at["RU:17", "attributed_to"] == "UA"
    assert ev.at["RU:17", "report_group"] == "claims:RU:17"
    assert ev.at["RU:17", "notes"] == (
        "claim by RU (2025-09-15T08:00:00+03:00), blaming UA: ×14; "
        "shelled Horlivka 14 times; https://example.org/ru/17"
    )
    assert ev.at["UA:203", "occurred_at"] == pd.Timestamp("2025-09-14T13:10:00Z")
    assert ev.at["UA:203", "time_precision"] == "minute"
    assert ev.at["UA:203", "attributed_to"] == "RU"


def test_json_raw_is_the_object_and_lines_are_positions(tmp_path, store) -> None:
    doc = [RU_17, "not an object", {**UA_203, "extra_field": {"nested": [1, 2]}}]
    (tmp_path / "c.json").write_text(json.dumps({"claims": doc}))
    result = ingest(store, tmp_path / "c.json")
    assert (result.loaded, result.quarantined) == (2, 1)
    q = store.quarantine()
    assert q[["line_no", "reason"]].values.tolist() == [
        [2, "malformed row: claim is not a JSON object"]
    ]
    ev = store.events(with_raw=True).set_index("source_event_id")
    assert ev.at["RU:17", "line_no"] == 1 and ev.at["UA:203", "line_no"] == 3
    assert json.loads(ev.at["RU:17", "raw"]) == RU_17
    assert json.loads(ev.at["UA:203", "raw"]) == doc[2]  # types and extra fields kept


def test_json_lines_bad_line_quarantined(tmp_path, store) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(
        (json.dumps(RU_17) + "\n\n").encode()
        + b'{"claim_id": "9", "claimant": "UA"\n'  # truncated
        + b"\xff\xfe not json\n"
        + (json.dumps(UA_203) + "\n").encode()
    )
    result = ingest(store, path)
    assert (result.loaded, result.quarantined) == (2, 2)
    q = store.quarantine().set_index("line_no")["reason"]
    assert sorted(q.index) == [3, 4]
    assert all(r.startswith("malformed row: not valid JSON") for r in q)
    assert dict(store.events().set_index("source_event_id")["line_no"]) == {
        "RU:17": 1,
        "UA:203": 5,
    }


#: (changes to a good claim, the start of the reason it is quarantined for)
INVALID = [
        ({"claim_id": ""}, "claim_id is missing"),
        ({"claimant": "R U"}, "claimant 'R U' is not a party code (e.g. UA, RU)"),
        ({"attributed_to": "the others"}, "attributed_to 'the others' is not a party code"),
        ({"claimed_at": "2025-09-15 08:00"}, "claimed_at '2025-09-15 08:00' is not an ISO 8601 time with offset or a yyyy-mm-dd date"),
        ({"date": None}, "neither occurred_at nor date is given"),
        ({"date": None, "occurred_at": "2025-09-14T16:10:00"}, "occurred_at '2025-09-14T16:10:00' is not an ISO 8601 time with offset"),
        ({"date": "14/09/2025"}, "date '14/09/2025' is not a date (yyyy-mm-dd)"),
        ({"occurred_at": "2025-09-13T10:00:00Z"}, "date '2025-09-14' disagrees with occurred_at '2025-09-13T10:00:00Z'"),
        ({"time_precision": "fortnight"}, "time_precision 'fortnight' is not one of second, minute, hour, day, week, month, year"),
        ({"time_precision": "hour"}, "time_precision 'hour' is finer than a date without a time"),
        ({"claimed_at": "2025-09-12"}, "date '2025-09-14' is after claimed_at '2025-09-12' (a claim cannot precede what it reports)"),
        ({"lat": 91}, "lat '91' is not a number in [-90, 90]"),
        ({"lon": None}, "lon '' is not a number in [-180, 180]"),
        ({"location_precision_m": 0}, "location_precision_m '0' is not a number > 0"),
        ({"count": 2.5}, "count '2.5' is not a whole number in 1-10^9"),
        ({"category": "bombardment"}, "category 'bombardment' is not one of shelling, "),
        ({"weapon_class": "trebuchet"}, "weapon_class 'trebuchet' is not one of small_arms, "),
        ({"fatalities": -2}, "fatalities '-2' is not a number ≥ 0"),
        ({"reliability": "G"}, "reliability 'G' is not A-F"),
        ({"credibility": 7}, "credibility '7' is not 1-6"),
]  # fmt: skip


def test_validation(tmp_path, store) -> None:
    """Each invalid claim between good ones: quarantined on its line, for its reason."""
    rows = [claim("good-0")]
    for i, (changes, _) in enumerate(INVALID):
        rows += [claim(f"bad-{i}", **changes), claim(f"good-{i + 1}")]
    write_csv(tmp_path / "c.csv", rows)
    result = ingest(store, tmp_path / "c.csv")
    assert (result.loaded, result.quarantined) == (len(INVALID) + 1, len(INVALID))
    q = store.quarantine().set_index("line_no")["reason"]
    # header on line 1, good-0 on line 2, then bad-i on line 3 + 2i
    assert sorted(q.index) == [3 + 2 * i for i in range(len(INVALID))]
    for i, (_, reason) in enumerate(INVALID):
        assert q[3 + 2 * i].startswith(reason), (i, q[3 + 2 * i])
    assert len(store.events()) == len(INVALID) + 1


def test_defaults_and_precisions(tmp_path, store) -> None:
    rows = [
        # no precision, grades, count, radius given: the documented defaults
        claim(
            "1",
            location_precision_m=None,
            count=None,
            weapon_class=None,
            reliability=None,
            credibility=None,
        ),
        # a time known to the day only: the local date as written, not the UTC one
        claim("2", date=None, occurred_at="2025-09-14T01:30:00+03:00", time_precision="day"),
        # a party code in lower case, a claim about its own side
        claim("3", claimant="ua", attributed_to="ua"),
        # a statement dated by its day: made by the end of that day
        claim("4", claimed_at="2025-09-14"),
    ]
    write_csv(tmp_path / "d.csv", rows)
    result = ingest(store, tmp_path / "d.csv")
    assert (result.loaded, result.quarantined) == (4, 0)
    ev = store.events().set_index("source_event_id")
    assert ev.at["RU:1", "geo_precision_m"] == 5_000.0
    assert (ev.at["RU:1", "count"], ev.at["RU:1", "reliability"], ev.at["RU:1", "credibility"]) == (
        1,
        "C",
        4,
    )
    assert ev.at["RU:2", "occurred_at"] == pd.Timestamp("2025-09-14T00:00:00Z")
    assert ev.at["UA:3", "attributed_to"] == "UA"
    assert ev.at["UA:3", "report_group"] == "claims:UA:3"
    assert "RU:4" in ev.index


def test_opposite_claims_land_in_one_incident_both_kept(tmp_path, store) -> None:
    """RU says UA shelled Horlivka on 14 September; UA says RU shelled it that afternoon.
    One happening, two accounts: one incident, both claims in it, each with its own
    attribution, and the incident's attribution shows the disagreement."""
    far = claim("18", place="Kherson", lon=32.62, lat=46.64)  # RU's other claim, elsewhere
    write_csv(tmp_path / "ru.csv", [RU_17, far])
    (tmp_path / "ua.json").write_text(json.dumps([UA_203]))
    ingest(store, tmp_path / "ru.csv")
    ingest(store, tmp_path / "ua.json")
    events = store.events()
    assert len(events) == 3  # nothing overwritten

    incident = corroborate(events)
    by_claim = dict(zip(events["source_event_id"], incident, strict=True))
    assert by_claim["RU:17"] == by_claim["UA:203"]
    assert by_claim["RU:18"] != by_claim["RU:17"]
    members = events[incident.to_numpy() == by_claim["RU:17"]].set_index("source_event_id")
    assert members["attributed_to"].to_dict() == {"RU:17": "UA", "UA:203": "RU"}
    assert set(members["report_group"]) == {"claims:RU:17", "claims:UA:203"}

    summary = summarise_incidents(events, incident).set_index("incident_id")
    row = summary.loc[by_claim["RU:17"]]
    assert row["attributed_to"] == "RU;UA"
    assert row["n_events"] == 2
    assert row["category"] == "shelling"
    # two claims are one kind of source: the second does not raise the confidence
    assert row["n_sources"] == 1
    assert row["confidence"] == pytest.approx(0.6 * 0.45)  # C/4
    assert summary.loc[by_claim["RU:18"], "attributed_to"] == "UA"


def test_wrong_kind_of_file_refused(tmp_path, store) -> None:
    (tmp_path / "x.csv").write_text("report_id,kind\nR1,explosion\n")
    with pytest.raises(SourceFormatError, match=r"not a party claims .* missing column\(s\)"):
        ingest(store, tmp_path / "x.csv")
    (tmp_path / "x.json").write_text(json.dumps([{"report_id": "R1", "kind": "explosion"}]))
    with pytest.raises(SourceFormatError, match=r"missing field\(s\) category, claim_id"):
        ingest(store, tmp_path / "x.json")
    assert store.batches().empty


def test_minimal_csv_raw_is_the_row_as_written(tmp_path, store) -> None:
    path = tmp_path / "min.csv"
    path.write_text(
        "claim_id,claimant,claimed_at,date,lon,lat,category\n"
        "1,UA,2025-09-15,2025-09-14,37.8,48.6,drone_strike\n"
    )
    result = ingest(store, path)
    assert (result.loaded, result.quarantined) == (1, 0)
    ev = store.events(with_raw=True).iloc[0]
    assert json.loads(ev["raw"]) == {
        "claim_id": "1",
        "claimant": "UA",
        "claimed_at": "2025-09-15",
        "date": "2025-09-14",
        "lon": "37.8",
        "lat": "48.6",
        "category": "drone_strike",
    }
    assert pd.isna(ev["attributed_to"]) and ev["report_group"] == "claims:UA:1"
