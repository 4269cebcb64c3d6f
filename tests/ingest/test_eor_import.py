"""The CIR Eyes on Russia importer on the real export and on small hand-made files.

Expected values are computed from the file with the ``csv`` module and the Twitter/X
status-id arithmetic written out here, independently of the importer.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from conftest import shared_file

from ceasewatch.ingest.base import get_source
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.store.duckdb import DuckDBStore

HEADER = [
    "entry", "date", "event_group", "title", "brief description", "lat", "lon", "country",
    "province", "district", "town/city", "arms/munition", "violence level", "link",
    "geolocation",
]  # fmt: skip
STATUS = re.compile(r"(?:twitter|x)\.com/[^/?#\s]+/status(?:es)?/(\d{15,20})")
STRIKES = {"shelling", "air_strike", "missile_strike", "drone_strike"}


def posted(row: dict[str, str]) -> date | None:
    """UTC date of the earliest Twitter/X status the row links (snowflake id: milliseconds
    since 2010-11-04T01:42:54.657Z in the bits above the lowest 22)."""
    ids = [int(m) for col in ("link", "geolocation") for m in STATUS.findall(row[col])]
    if not ids:
        return None
    epoch = datetime(2010, 11, 4, 1, 42, 54, 657_000, tzinfo=UTC)
    return min(epoch + timedelta(milliseconds=i >> 22) for i in ids).date()


def _file_rows(path: Path) -> list[dict[str, str]]:
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        previous_end = 1
        for row in reader:
            row["_line"] = str(previous_end + 1)
            previous_end = reader.line_num
            out.append(row)
    return out


def _problem(row: dict[str, str]) -> str | None:
    """Why a row cannot be loaded, from the rules of the importer's docstring."""
    if not row["entry"].strip():
        return "entry is empty"
    try:
        day = datetime.strptime(row["date"], "%Y-%m-%d").date()
    except ValueError:
        return "date"
    post = posted(row)
    if post is not None and (day - post).days > 7:
        return "after post"
    return None


@pytest.fixture(scope="module")
def eor() -> Iterator[tuple[list[dict[str, str]], pd.DataFrame, object, DuckDBStore]]:
    path = shared_file("events_cir_eyes_on_russia", "events.csv")
    rows = _file_rows(path)
    store = DuckDBStore(":memory:")
    result = ingest_file(store, get_source("eor"), path)
    events = store.events(with_raw=True).set_index("source_event_id")
    yield rows, events, result, store
    store.close()


def test_real_file_counts(eor) -> None:
    """6,650 rows read, 6,611 loaded, 39 quarantined:

    - 4 rows without an ``entry`` (lines 73, 102, 127, 1389);
    - 4 rows without a date (lines 6648-6651; SOURCE.md: "4 rows have no parsable date");
    - 23 rows dated more than 7 days after the Twitter/X post they cite, which cannot be
      their date: the 3 later dates of SOURCE.md (2023-02-24, 2024-02-24, 2024-02-26,
      posted in February 2022), 8 dated in March for posts of 24-28 February (a month
      typo, CIR's entries UW4064-UW4076 and UW4784), and 12 others 8-58 days after;
    - 8 repeats of an entry id already loaded (UW0104, UW0105, UW0132, UW0454, UW0523 ×2,
      UW3355, UW5227): the first is kept, as for every source.
    """
    rows, events, result, store = eor
    assert len(rows) == 6650
    problems = {int(r["_line"]): _problem(r) for r in rows}
    bad = {ln: p for ln, p in problems.items() if p}
    by_reason = Counter(bad.values())
    assert by_reason == {"entry is empty": 4, "date": 4, "after post": 23}
    assert sorted(ln for ln, p in bad.items() if p == "entry is empty") == [73, 102, 127, 1389]
    assert sorted(ln for ln, p in bad.items() if p == "date") == [6648, 6649, 6650, 6651]
    late = [r for r in rows if problems[int(r["_line"])] == "after post"]
    gaps = Counter(
        (datetime.strptime(r["date"], "%Y-%m-%d").date() - posted(r)).days  # type: ignore[operator]
        for r in late
    )
    assert (gaps[365] + gaps[730], gaps[28]) == (3, 8)
    assert sorted(r["date"] for r in late if r["date"] >= "2023")[:3] == [
        "2023-02-24",
        "2024-02-24",
        "2024-02-26",
    ]
    # then the first of each entry id among the rest is loaded, the others are repeats
    seen: dict[str, int] = {}
    repeats = []
    for r in rows:
        if problems[int(r["_line"])]:
            continue
        if r["entry"] in seen:
            repeats.append(r["entry"])
        else:
            seen[r["entry"]] = int(r["_line"])
    assert sorted(repeats) == sorted(
        ["UW0104", "UW0105", "UW0132", "UW0454", "UW0523", "UW0523", "UW3355", "UW5227"]
    )
    assert (result.rows_read, result.loaded, result.quarantined) == (6650, 6611, 39)
    assert len(seen) == 6611 and set(events.index) == set(seen)
    q = store.quarantine()
    reasons = Counter(
        "date after post" if "after its source was posted" in r else r.split("'")[0].strip()
        for r in q["reason"]
    )
    assert reasons == {
        "entry is empty": 4,
        "date": 4,
        "date after post": 23,
        "duplicate source id": 8,
    }
    lines = set(q["line_no"])
    assert set(bad) <= lines
    after = q[q["reason"].str.contains("after its source was posted")].set_index("line_no")
    assert set(after.index) == {ln for ln, p in bad.items() if p == "after post"}
    assert (
        "date '2024-02-24' is 730 days after its source was posted (2022-02-24"
        in (after.at[6646, "reason"])
    )


def test_real_file_values(eor) -> None:
    rows, events, _, _ = eor
    loaded = {r["entry"]: r for r in reversed(rows) if not _problem(r)}  # first one wins
    assert len(loaded) == len(events)
    by_entry = events.to_dict("index")
    for entry, r in loaded.items():
        ev = by_entry[entry]
        assert ev["line_no"] == int(r["_line"])
        assert ev["occurred_at"] == pd.Timestamp(r["date"], tz="UTC")
        assert ev["time_precision"] == "day"
        assert (ev["lat"], ev["lon"]) == (float(r["lat"]), float(r["lon"]))
        geolocated = r["geolocation"].strip() != ""
        assert ev["geo_precision_m"] == (500.0 if geolocated else 5_000.0)
        assert (ev["reliability"], ev["credibility"]) == (("B", 2) if geolocated else ("C", 3))
        assert ev["report_group"] == f"eor:{entry}"
        assert json.loads(ev["raw"]) == {k: v for k, v in r.items() if k != "_line"}
        post = posted(r)
        lag = (date.fromisoformat(r["date"]) - post).days if post else 0
        assert (f"dated {lag} day(s) after its source was posted" in ev["notes"]) == (lag >= 1)
    geolocated = sum(1 for r in loaded.values() if r["geolocation"].strip())
    assert (events["geo_precision_m"] == 500.0).sum() == geolocated


def test_real_file_categories(eor) -> None:
    """Each CIR layer keeps to the categories its table and the strike words allow."""
    rows, events, _, _ = eor
    loaded = {r["entry"]: r for r in reversed(rows) if not _problem(r)}
    allowed_by_layer = [
        (r"^russian (military|allies) presence", {"heavy_weapon_sighting", "armed_clash"}),
        (r"^ground battle", {"armed_clash"}),
        (r"^bombing or explosion|^munitions", {"explosion_observed", "armed_clash"}),
        (r"^civilian casualt", {"violence_against_civilians", "armed_clash"}),
        (r"^detentions", {"strategic_development", "armed_clash"}),
        (r"^russian firing positions", {"shelling"}),
    ]
    for entry, r in loaded.items():
        cat = events.at[entry, "category"]
        assert cat in {
            "heavy_weapon_sighting", "shelling", "air_strike", "missile_strike", "drone_strike",
            "armed_clash", "explosion_observed", "violence_against_civilians",
            "strategic_development", "other",
        }  # fmt: skip
        group = r["event_group"].lower()
        for pattern, allowed in allowed_by_layer:
            if re.search(pattern, group):
                # a strike named in the words (or by the munition) refines any layer
                assert cat in allowed | STRIKES, (entry, group, cat)
        if cat == "other":
            assert re.search(r"damage|losses|grave|^other", group), (entry, group)
    counts = events["category"].value_counts()
    # every layer is mapped: no row of a known layer falls through to "other" unless the
    # layer says only that something happened (damage, losses, graves, "Other")
    assert counts["heavy_weapon_sighting"] > 1000
    assert counts.sum() == 6611


# --- hand-made files ------------------------------------------------------------------
def eor_row(**values: str) -> dict[str, str]:
    row = dict.fromkeys(HEADER, "")
    row.update(
        {
            "entry": "UW1",
            "date": "2022-03-01",
            "event_group": "Bombing or Explosion Feb - June",
            "title": "01/03/2022 Explosion in the city centre",
            "brief description": "Explosion in the city centre",
            "lat": "49.99",
            "lon": "36.23",
            "country": "Ukraine",
            "province": "Kharkiv Oblast",
            "town/city": "Kharkiv",
            "link": "https://t.me/example/1",
            "geolocation": "https://t.me/example/2",
        }
    )
    row.update(values)
    return row


def write(path: Path, rows: list[dict[str, str]], *, raw: bytes | None = None) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        for r in rows:
            w.writerow([r[h] for h in HEADER])
    if raw is not None:
        path.write_bytes(path.read_bytes() + raw)


#: a status posted 2022-02-24T22:11:42Z (UW4067's link in the real file)
STATUS_24FEB = "https://twitter.com/RALee85/status/1496971121413046274"


def test_dates_checked_against_the_post(tmp_path, store) -> None:
    rows = [
        eor_row(entry="A", date="2022-02-25", link=STATUS_24FEB),  # 1 day after: kept, noted
        eor_row(entry="B", date="2022-03-03", link=STATUS_24FEB),  # 7 days after: kept
        eor_row(entry="C", date="2022-03-04", link=STATUS_24FEB),  # 8 days: quarantined
        eor_row(entry="D", date="2024-02-24", geolocation=STATUS_24FEB.replace("twitter", "x")),
        eor_row(entry="E", date="2022-02-20", link=STATUS_24FEB),  # before the post: fine
        eor_row(entry="F", date=""),
        eor_row(entry="G", date="01/03/2022"),  # not yyyy-mm-dd
        eor_row(entry="H", date="2999-01-01"),  # the future
        eor_row(entry="I", lat="0", lon="0"),
        eor_row(entry="J", lat="91"),
        eor_row(entry=""),
    ]
    write(tmp_path / "e.csv", rows)
    result = ingest_file(store, get_source("eor"), tmp_path / "e.csv")
    q = store.quarantine().set_index("line_no")["reason"].to_dict()
    assert q == {
        4: "date '2022-03-04' is 8 days after its source was posted (2022-02-24, from the "
        "Twitter/X status id in link/geolocation): not this event's date",
        5: "date '2024-02-24' is 730 days after its source was posted (2022-02-24, from the "
        "Twitter/X status id in link/geolocation): not this event's date",
        7: "date '' is not a date (expected yyyy-mm-dd)",
        8: "date '01/03/2022' is not a date (expected yyyy-mm-dd)",
        9: "date '2999-01-01' is in the future",
        10: "lat/lon '0', '0' is a placeholder, not a location",
        11: "lat '91' is not a number in [-90, 90]",
        12: "entry is empty",
    }
    ev = store.events().set_index("source_event_id")
    assert sorted(ev.index) == ["A", "B", "E"]
    assert ev.at["A", "notes"].endswith("; dated 1 day(s) after its source was posted (2022-02-24)")
    assert "after its source" not in ev.at["E", "notes"]
    assert (result.loaded, result.quarantined) == (3, 8)


CATEGORY_CASES = [
        ("Russian Military Presence March 2022", "Convoy of tanks moving south", "", "heavy_weapon_sighting", "tank"),
        ("Russian Military Presence January 2022", "Iskander missile systems at a training ground", "", "heavy_weapon_sighting", "tactical_missiles"),
        ("Russian Military Presence March 2022", "Aftermath of shelling in the district", "", "shelling", None),
        ("Civilian Infrastructure Damage March 2022", "Civilians fleeing mall struck by missile", "", "missile_strike", None),
        ("Civilian Infrastructure Damage April 2022", "Damage to a school", "", "other", None),
        ("Bombing or Explosion Feb - June", "A UAV strikes two patrol boats", "", "drone_strike", "drone"),
        ("Bombing or Explosion Feb - June", "Aftermath of an airstrike on the barracks", "", "air_strike", None),
        ("Bombing or Explosion Feb - June", "Explosion at the fuel depot", "", "explosion_observed", None),
        ("Munitions", "Rocket remnant in a playground", "Uragan 9M27K", "shelling", "heavy_mlrs"),
        ("Munitions", "Rocket in Snizhne", "Tochka-U", "missile_strike", "tactical_missiles"),
        ("Ground Battle", "Street battles in the city centre", "", "armed_clash", None),
        ("Russian Firing Positions", "Traces of firing positions", "", "shelling", None),
        ("Civilian Casualty", "Bodies along a highway", "", "violence_against_civilians", None),
        ("Detentions or Arrests", "People being arrested", "", "strategic_development", None),
        ("Mass grave or Burial", "New graves in the cemetery", "", "other", None),
        ("A layer added later", "Something seen", "", "other", None),
]  # fmt: skip


def test_category_table(tmp_path, store) -> None:
    """(layer, title, arms/munition) → (category, weapon class), one row each."""
    rows = [
        eor_row(
            entry=f"C{i}",
            event_group=group,
            title=title,
            **{"brief description": title, "arms/munition": munition},
        )
        for i, (group, title, munition, _, _) in enumerate(CATEGORY_CASES)
    ]
    write(tmp_path / "c.csv", rows)
    ingest_file(store, get_source("eor"), tmp_path / "c.csv")
    ev = store.events().set_index("source_event_id")
    got = [
        (ev.at[f"C{i}", "category"], ev.at[f"C{i}", "weapon_class"])
        for i in range(len(CATEGORY_CASES))
    ]
    want = [(c, w) for *_, c, w in CATEGORY_CASES]
    assert [(c, None if pd.isna(w) else w) for c, w in got] == want


def test_not_geolocated_and_not_utf8(tmp_path, store) -> None:
    write(
        tmp_path / "g.csv",
        [eor_row(entry="N", geolocation="")],
        raw=b"M,2022-03-01,Other,Kharkiv\x92s centre,Kharkiv\x92s centre,49.99,36.23,"
        b"Ukraine,,,Kharkiv,,1,,https://t.me/geo/1\n",
    )
    ingest_file(store, get_source("eor"), tmp_path / "g.csv")
    ev = store.events(with_raw=True).set_index("source_event_id")
    assert (
        ev.at["N", "geo_precision_m"],
        ev.at["N", "reliability"],
        ev.at["N", "credibility"],
    ) == (
        5_000.0,
        "C",
        3,
    )
    assert json.loads(ev.at["M", "raw"])["title"] == "Kharkiv’s centre"
    assert ev.at["M", "notes"].endswith("not UTF-8, read as cp1252: title, brief description")
