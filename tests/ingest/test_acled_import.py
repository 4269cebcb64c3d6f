"""The ACLED importer on the real 1,000-event export and on small hand-made files.

Expected values are computed from the file text with the ``csv`` module, independently of
the importer, and compared with what the store holds.
"""

from __future__ import annotations

import csv
import functools
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from conftest import shared_file

from ceasewatch.ingest import base as ingest_base
from ceasewatch.ingest import csvstream
from ceasewatch.ingest.base import get_source
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.store.duckdb import DuckDBStore

ACLED_HEADER = [
    "id", "iso", "event_id_cnty", "event_date", "year", "time_precision", "event_type",
    "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2",
    "interaction", "region", "country", "admin1", "admin2", "admin3", "location", "latitude",
    "longitude", "source_scale", "notes", "fatalities", "timestamp", "geo_precision", "source",
    "civilian_targeting", "disorder_type", "tags", "actor_dyad",
]  # fmt: skip

#: ACLED (event_type, sub_event_type) → the canonical categories allowed for it. Written
#: out here from ACLED's codebook, not taken from the importer's table.
ALLOWED = {
    ("Battles", "Armed clash"): {"armed_clash"},
    ("Battles", "Non-state actor overtakes territory"): {"territory_change"},
    ("Battles", "Government regains territory"): {"territory_change"},
    ("Explosions/Remote violence", "Shelling/artillery/missile attack"): {
        "shelling",
        "missile_strike",
    },
    ("Explosions/Remote violence", "Air/drone strike"): {
        "air_strike",
        "drone_strike",
        "missile_strike",
    },
    ("Explosions/Remote violence", "Remote explosive/landmine/IED"): {"remote_explosive"},
    ("Explosions/Remote violence", "Grenade"): {"remote_explosive"},
    ("Strategic developments", "Disrupted weapons use"): {"strategic_development"},
    ("Strategic developments", "Looting/property destruction"): {"strategic_development"},
    ("Strategic developments", "Headquarters or base established"): {"strategic_development"},
    ("Protests", "Peaceful protest"): {"protest"},
    ("Riots", "Violent demonstration"): {"riot"},
    ("Violence against civilians", "Attack"): {"violence_against_civilians"},
    ("Violence against civilians", "Abduction/forced disappearance"): {
        "violence_against_civilians"
    },
}
EXPLOSION_CATEGORIES = {
    "shelling",
    "air_strike",
    "drone_strike",
    "missile_strike",
    "remote_explosive",
}
GEO_PRECISION_M = {"1": 2_000.0, "2": 15_000.0, "3": 75_000.0}
TIME_PRECISION = {"1": "day", "2": "week", "3": "month"}


# --- the real export ------------------------------------------------------------------
def _file_rows(path: Path) -> list[dict[str, str]]:
    """Every record of the file with its first physical line (``_line``)."""
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        previous_end = 1
        for row in reader:
            row["_line"] = str(previous_end + 1)
            previous_end = reader.line_num
            out.append(row)
    return out


def _valid(row: dict[str, str]) -> bool:
    """The checks ACLED's codebook implies, written independently of the importer."""
    try:
        datetime.strptime(row["event_date"], "%d/%m/%Y %H:%M:%S")
        lat, lon = float(row["latitude"]), float(row["longitude"])
    except ValueError:
        return False
    return (
        row["event_id_cnty"].strip() != ""
        and abs(lat) <= 90
        and abs(lon) <= 180
        and row["geo_precision"] in GEO_PRECISION_M
        and row["time_precision"] in TIME_PRECISION
        and (row["event_type"], row["sub_event_type"]) in ALLOWED
    )


@pytest.fixture(scope="module")
def acled() -> Iterator[tuple[list[dict[str, str]], pd.DataFrame, object, DuckDBStore]]:
    path = shared_file("events_acled", "ACLED-Ukraine.csv")
    rows = _file_rows(path)
    store = DuckDBStore(":memory:")
    result = ingest_file(store, get_source("acled"), path)
    events = store.events(with_raw=True).set_index("source_event_id")
    yield rows, events, result, store
    store.close()


def test_real_export_counts(acled) -> None:
    rows, events, result, store = acled
    # expected: the rows passing the independent checks, first occurrence of each id
    valid_ids = [r["event_id_cnty"] for r in rows if _valid(r)]
    expected_loaded = len(set(valid_ids))
    expected_quarantined = len(rows) - expected_loaded
    # SOURCE.md: 1,000 events, each with a unique event_id_cnty, all well-formed
    assert (len(rows), expected_loaded, expected_quarantined) == (1000, 1000, 0)
    assert result.rows_read == len(rows)
    assert result.loaded == expected_loaded
    assert result.quarantined == expected_quarantined
    assert len(store.quarantine()) == expected_quarantined
    assert len(events) == expected_loaded
    assert set(events.index) == set(valid_ids)
    batch = store.batches().iloc[0]
    assert batch["status"] == "done"
    assert batch["rows_loaded"] == expected_loaded


def test_real_export_categories(acled) -> None:
    rows, events, _, _ = acled
    by_pair = Counter((r["event_type"], r["sub_event_type"]) for r in rows)
    for r in rows:
        cat = events.at[r["event_id_cnty"], "category"]
        pair = (r["event_type"], r["sub_event_type"])
        assert cat in ALLOWED[pair], (r["event_id_cnty"], pair, cat)
        if r["event_type"] == "Explosions/Remote violence":
            assert cat in EXPLOSION_CATEGORIES
        if cat == "drone_strike":
            # refined from "Air/drone strike" by the notes only
            assert pair[1] == "Air/drone strike"
            assert re.search(r"drone|uav|shahed|geran|lancet|fpv|quadcopter", r["notes"], re.I)
        if cat == "missile_strike":
            assert re.search(
                r"missile|ballistic|cruise|iskander|kalibr|kh-\d|s-300", r["notes"], re.I
            )
    counts = events["category"].value_counts()
    # every Battles/Armed clash row (178 in the file) is an armed clash, nothing else is
    assert counts["armed_clash"] == by_pair[("Battles", "Armed clash")] == 178
    explosions = sum(n for (et, _), n in by_pair.items() if et == "Explosions/Remote violence")
    assert explosions == 772  # SOURCE.md
    assert sum(counts.get(c, 0) for c in EXPLOSION_CATEGORIES) == explosions
    assert counts["remote_explosive"] == (
        by_pair[("Explosions/Remote violence", "Remote explosive/landmine/IED")]
        + by_pair[("Explosions/Remote violence", "Grenade")]
    )
    # the two grouped sub-types are split, not lost: shelling+missile+air+drone add up
    grouped = (
        by_pair[("Explosions/Remote violence", "Shelling/artillery/missile attack")]
        + by_pair[("Explosions/Remote violence", "Air/drone strike")]
    )
    assert sum(counts.get(c, 0) for c in EXPLOSION_CATEGORIES - {"remote_explosive"}) == grouped
    assert counts["strategic_development"] == sum(
        n for (et, _), n in by_pair.items() if et == "Strategic developments"
    )
    assert counts["protest"] == 9
    assert counts["riot"] == 1
    assert counts["violence_against_civilians"] == 6


def test_real_export_values(acled) -> None:
    rows, events, _, _ = acled
    for r in rows:
        ev = events.loc[r["event_id_cnty"]]
        assert ev["geo_precision_m"] == GEO_PRECISION_M[r["geo_precision"]]
        assert ev["time_precision"] == TIME_PRECISION[r["time_precision"]]
        day = datetime.strptime(r["event_date"][:10], "%d/%m/%Y").replace(tzinfo=UTC)
        assert ev["occurred_at"] == pd.Timestamp(day)
        # exact floats: the file's text parsed, no rounding or reprojection
        assert ev["lon"] == float(r["longitude"])
        assert ev["lat"] == float(r["latitude"])
        assert ev["fatalities"] == float(r["fatalities"])
        assert ev["line_no"] == int(r["_line"])
        assert ev["source"] == "acled"
        raw = json.loads(ev["raw"])
        assert raw["event_id_cnty"] == r["event_id_cnty"]
        assert raw["notes"] == r["notes"]
        # the whole source record is kept, every column as written
        assert raw == {k: v for k, v in r.items() if k != "_line"}
    geo = Counter(r["geo_precision"] for r in rows)
    assert (geo["1"], geo["2"], geo["3"]) == (365, 619, 16)  # SOURCE.md
    assert events["fatalities"].sum() == 405  # SOURCE.md


# --- hand-made files with malformed rows ----------------------------------------------
def acled_row(**values: str) -> list[str]:
    """One ACLED record (all 33 columns) with plausible defaults."""
    row = {h: "" for h in ACLED_HEADER}
    row.update(
        id="1",
        iso="804",
        event_id_cnty="UKR900001",
        event_date="14/08/2023 00:00:00",
        year="2023",
        time_precision="1",
        event_type="Explosions/Remote violence",
        sub_event_type="Shelling/artillery/missile attack",
        actor1="Military Forces of Russia (2000-)",
        inter1="8",
        region="Europe",
        country="Ukraine",
        admin1="Donetsk",
        location="Toretsk",
        latitude="48.3975",
        longitude="37.8472",
        notes="On 14 August 2023, Russian forces shelled Toretsk with artillery.",
        fatalities="0",
        geo_precision="1",
        source="Ukrinform",
        disorder_type="Political violence",
    )
    row.update(values)
    return [row[h] for h in ACLED_HEADER]


def write_csv(path: Path, rows: list[list[str]], newline: str = "\n") -> list[int]:
    """Write header + rows; return each row's first physical line, counted in the text."""
    lines = []
    text = ""
    for fields in [ACLED_HEADER, *rows]:
        lines.append(text.count("\n") + 1)
        buf = csv.StringIO()
        csv.writer(buf, lineterminator=newline).writerow(fields)
        text += buf.getvalue()
    path.write_bytes(text.encode("utf-8"))
    return lines[1:]


@pytest.fixture(params=[None, 1024], ids=["one-chunk", "1KiB-chunks"])
def chunked(request, monkeypatch) -> None:
    """Run the pipeline with the default block size, or with blocks of about 2 rows."""
    if request.param is not None:
        monkeypatch.setattr(
            ingest_base,
            "iter_csv_chunks",
            functools.partial(csvstream.iter_csv_chunks, block_bytes=request.param),
        )


def test_malformed_rows_quarantined_with_exact_lines(tmp_path, store, chunked) -> None:
    good = acled_row
    multi_line_notes = "On 15 August 2023,\nshelling near Toretsk.\nTwo houses damaged."
    rows = [
        good(event_id_cnty="UKR1"),
        good(event_id_cnty="UKR2", event_date="31/02/2023 00:00:00"),  # bad date
        good(event_id_cnty="UKR3", latitude="91.5"),  # latitude out of range
        good(event_id_cnty="UKR4", longitude="thirty-seven"),  # not a number
        good(event_id_cnty="UKR5", event_type="Skirmishes"),  # unknown event_type
        good(event_id_cnty="UKR6")[:20],  # too few fields
        [*good(event_id_cnty="UKR7"), "surplus"],  # too many fields
        good(event_id_cnty="UKR8", notes=multi_line_notes),  # good, spans 3 lines
        good(event_id_cnty="UKR9", geo_precision="4"),  # bad, after the multi-line row
        good(event_id_cnty="UKR1", notes="re-sent"),  # duplicate id in the same file
        [*good(event_id_cnty="UKR10", notes="bad\nand\nmulti-line"), "x"],  # too many
        good(event_id_cnty="UKR11", event_date="2023-08-16"),  # good (ISO date)
        good(event_id_cnty="UKR12", latitude=""),  # bad, empty latitude
    ]
    lines = write_csv(tmp_path / "acled.csv", rows)
    # lines counted in the written text: the multi-line rows shift everything after them
    assert lines == [2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 17, 18]
    line = dict(zip([f"UKR{i}" for i in range(1, 10)], lines, strict=False))

    result = ingest_file(store, get_source("acled"), tmp_path / "acled.csv")

    expected = {
        line["UKR2"]: ("event_date", "'31/02/2023 00:00:00'"),
        line["UKR3"]: ("latitude", "'91.5'"),
        line["UKR4"]: ("longitude", "'thirty-seven'"),
        line["UKR5"]: ("event_type", "'Skirmishes'"),
        line["UKR6"]: ("malformed row", "20 fields, expected 33"),
        line["UKR7"]: ("malformed row", "34 fields, expected 33"),
        line["UKR9"]: ("geo_precision", "'4'"),
        lines[9]: ("duplicate source id", "'UKR1'"),
        lines[10]: ("malformed row", "34 fields, expected 33"),
        lines[12]: ("latitude", "''"),
    }
    q = store.quarantine()
    assert sorted(q["line_no"]) == sorted(expected)
    for _, bad in q.iterrows():
        field, value = expected[bad["line_no"]]
        assert field in bad["reason"], bad["reason"]
        assert value in bad["reason"], bad["reason"]
        assert bad["source"] == "acled"
        assert bad["file_name"] == "acled.csv"
        assert bad["batch_id"] == result.batch_id
    dup = q[q["line_no"] == lines[9]].iloc[0]
    assert "first on line 2" in dup["reason"]
    assert json.loads(dup["raw"])["notes"] == "re-sent"
    short = q[q["line_no"] == line["UKR6"]].iloc[0]
    assert "UKR6" in json.loads(short["raw"])["_text"]
    long_ml = q[q["line_no"] == lines[10]].iloc[0]
    assert "bad\nand\nmulti-line" in json.loads(long_ml["raw"])["_text"]

    events = store.events(with_raw=True).set_index("source_event_id")
    assert dict(events["line_no"]) == {"UKR1": 2, "UKR8": line["UKR8"], "UKR11": lines[11]}
    assert events.at["UKR8", "notes"] == multi_line_notes
    assert json.loads(events.at["UKR1", "raw"])["notes"] != "re-sent"  # the first is kept
    assert events.at["UKR11", "occurred_at"] == pd.Timestamp("2023-08-16T00:00:00Z")
    assert (result.rows_read, result.loaded, result.quarantined) == (13, 3, 10)
    assert result.loaded + result.quarantined == result.rows_read


def test_crlf_export_with_multiline_notes(tmp_path, store) -> None:
    notes = "Line one.\r\nLine two.\r\nLine three."
    rows = [
        acled_row(event_id_cnty="UKR1", notes=notes),
        acled_row(event_id_cnty="UKR2", latitude="-91"),
        acled_row(event_id_cnty="UKR3"),
    ]
    lines = write_csv(tmp_path / "crlf.csv", rows, newline="\r\n")
    assert lines == [2, 5, 6]
    ingest_file(store, get_source("acled"), tmp_path / "crlf.csv")
    events = store.events().set_index("source_event_id")
    assert dict(events["line_no"]) == {"UKR1": 2, "UKR3": 6}
    assert events.at["UKR1", "notes"] == notes
    assert store.quarantine()["line_no"].tolist() == [5]


def test_time_precision_and_notes_refinement(tmp_path, store) -> None:
    rows = [
        acled_row(event_id_cnty="A1", time_precision="2", geo_precision="3"),
        acled_row(
            event_id_cnty="A2",
            sub_event_type="Air/drone strike",
            notes="On 1 May 2023, Russian forces struck Kherson with Shahed drones.",
        ),
        acled_row(
            event_id_cnty="A3",
            sub_event_type="Air/drone strike",
            notes="On 1 May 2023, a guided aerial bomb hit Kherson.",
        ),
        acled_row(event_id_cnty="A4", notes="Russian forces launched an Iskander missile."),
        acled_row(event_id_cnty="A5", time_precision="4"),  # not 1-3
    ]
    write_csv(tmp_path / "t.csv", rows)
    ingest_file(store, get_source("acled"), tmp_path / "t.csv")
    ev = store.events().set_index("source_event_id")
    assert ev.at["A1", "time_precision"] == "week"
    assert ev.at["A1", "geo_precision_m"] == 75_000.0
    assert ev.at["A2", "category"] == "drone_strike"
    assert ev.at["A3", "category"] == "air_strike"
    assert ev.at["A4", "category"] == "missile_strike"
    q = store.quarantine()
    assert len(q) == 1
    assert "time_precision '4'" in q.iloc[0]["reason"]
