"""The FIRMS importer on the reduced layout (LATITUDE, LONGITUDE, ACQ_DATE only).

Expected values come from the file text through the ``csv`` module, independently of the
importer.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import shared_file

from ceasewatch.errors import SourceFormatError
from ceasewatch.ingest.base import get_source
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.store.duckdb import DuckDBStore


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_real_2021_file_loads_every_row() -> None:
    """ukr_fire_data_2021.csv: 57,595 rows (SOURCE.md), all valid, no two identical, so
    57,595 events and nothing quarantined; each a day-precision detection at 00:00 UTC."""
    path = shared_file("firms_history", "ukr_fire_data_2021.csv")
    rows = _rows(path)
    assert len(rows) == 57_595
    keys = [(r["ACQ_DATE"], r["LATITUDE"], r["LONGITUDE"]) for r in rows]
    assert len(set(keys)) == len(keys)  # no exact duplicate: every occurrence counter is 1
    store = DuckDBStore(":memory:")
    try:
        result = ingest_file(store, get_source("firms"), path)
        assert (result.rows_read, result.loaded, result.quarantined) == (57_595, 57_595, 0)
        assert store.quarantine().empty
        ev = store.events(with_raw=True).set_index("line_no").sort_index()
        assert ev.index.tolist() == list(range(2, 57_597))
        assert ev["source_event_id"].tolist() == [f"{d}|{la}|{lo}|1" for d, la, lo in keys]
        assert ev["report_group"].tolist() == [f"firms:{d}|{la}|{lo}|1" for d, la, lo in keys]
        assert ev["lat"].tolist() == [float(r["LATITUDE"]) for r in rows]
        assert ev["lon"].tolist() == [float(r["LONGITUDE"]) for r in rows]
        when = pd.to_datetime([r["ACQ_DATE"] for r in rows], utc=True)
        assert (ev["occurred_at"].to_numpy() == when.to_numpy()).all()
        assert (ev["time_precision"] == "day").all()
        assert (ev["geo_precision_m"] == 1_000.0).all()  # MODIS and VIIRS merged: 1 km
        assert (ev["category"] == "fire_detection").all()
        assert set(ev["reliability"]) == {"B"} and set(ev["credibility"]) == {3}
        assert json.loads(ev.loc[2, "raw"]) == rows[0]  # names kept as written (upper case)
        # idempotent: the same file again is skipped (the reordered copy: test below)
        again = ingest_file(store, get_source("firms"), path)
        assert again.skipped_file and store.count_events() == 57_595
    finally:
        store.close()


def test_reordered_copy_adds_nothing(tmp_path, store) -> None:
    text = "LATITUDE,LONGITUDE,ACQ_DATE\n" + "\n".join(
        [
            "48.1,37.5,2022-03-01",
            "48.1,37.5,2022-03-01",  # the same pixel and day twice: two detections
            "48.2,37.6,2022-03-01",
            "48.3,37.7,2022-03-02",
        ]
    )
    a = tmp_path / "a.csv"
    a.write_text(text + "\n")
    lines = text.splitlines()
    b = tmp_path / "b.csv"
    b.write_text("\n".join([lines[0], lines[4], lines[2], lines[3], lines[1]]) + "\n")
    r1 = ingest_file(store, get_source("firms"), a)
    r2 = ingest_file(store, get_source("firms"), b)
    assert (r1.loaded, r1.quarantined) == (4, 0)
    assert (r2.loaded, r2.unchanged, r2.new_version, r2.quarantined) == (0, 4, 0, 0)
    ids = sorted(store.events()["source_event_id"])
    assert ids == [
        "2022-03-01|48.1|37.5|1",
        "2022-03-01|48.1|37.5|2",
        "2022-03-01|48.2|37.6|1",
        "2022-03-02|48.3|37.7|1",
    ]


def test_malformed_rows_quarantined_with_exact_lines(tmp_path, store) -> None:
    lines = [
        "LATITUDE,LONGITUDE,ACQ_DATE",
        "47.5,35.1,2021-07-01",  # 2 good
        "95.0,35.1,2021-07-01",  # 3 latitude out of range
        "47.5,E35,2021-07-01",  # 4 longitude not a number
        "47.5,35.1,2021-02-30",  # 5 no such date
        "47.5,35.1,01/07/2021",  # 6 not yyyy-mm-dd
        "47.5,35.1",  # 7 too few fields
        "47.5,35.1,2021-07-01,x",  # 8 too many fields
        "47.5,35.1,2021-07-01",  # 9 identical to line 2: a second detection, kept
        "",  # 10 blank: ignored
        " 47.6 , 35.2 ,2021-07-02",  # 11 good, blanks stripped
        "47.5,35.1,2021-07-01",  # 12 third occurrence
    ]
    path = tmp_path / "reduced.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest_file(store, get_source("firms"), path)
    expected = {
        3: "latitude '95.0'",
        4: "longitude 'E35'",
        5: "acq_date '2021-02-30' is not yyyy-mm-dd",
        6: "acq_date '01/07/2021' is not yyyy-mm-dd",
        7: "malformed row: 2 fields, expected 3",
        8: "malformed row: 4 fields, expected 3",
    }
    q = store.quarantine()
    assert sorted(q["line_no"]) == sorted(expected)
    for line, reason in zip(q["line_no"], q["reason"], strict=True):
        assert expected[line] in reason
    ev = store.events().set_index("line_no").sort_index()
    assert ev.index.tolist() == [2, 9, 11, 12]
    assert ev["source_event_id"].tolist() == [
        "2021-07-01|47.5|35.1|1",
        "2021-07-01|47.5|35.1|2",
        "2021-07-02|47.6|35.2|1",
        "2021-07-01|47.5|35.1|3",
    ]
    assert ev.loc[11, "occurred_at"] == pd.Timestamp("2021-07-02T00:00:00Z")
    assert (result.loaded, result.quarantined, result.rows_read) == (4, 6, 10)
    assert result.reasons == {
        "latitude": 1,
        "longitude": 1,
        "acq_date": 2,
        "malformed row: 2 fields, expected 3": 1,
        "malformed row: 4 fields, expected 3": 1,
    }


@pytest.mark.parametrize("block", [30, 40, 64, 100, 1 << 20])
def test_occurrence_counter_crosses_read_blocks(tmp_path, store, block: int) -> None:
    """Identical rows in different read blocks still get distinct ids (1, 2, 3 …),
    wherever the blocks fall: also when a block between two repeats holds none."""
    row = "48.12345,37.54321,2022-05-05"
    body = [row, "48.2,37.6,2022-05-05", row, "48.3,37.7,2022-05-05", row, row]
    path = tmp_path / "blocks.csv"
    path.write_text("LATITUDE,LONGITUDE,ACQ_DATE\n" + "\n".join(body) + "\n")
    source = get_source("firms")
    source.block_bytes = block  # type: ignore[attr-defined]  # 30: one row per block
    result = ingest_file(store, source, path)
    assert (result.loaded, result.quarantined) == (6, 0)
    ids = store.events().set_index("line_no").sort_index()["source_event_id"].tolist()
    assert [i for i in ids if i.startswith("2022-05-05|48.12345")] == [
        f"2022-05-05|48.12345|37.54321|{k}" for k in (1, 2, 3, 4)
    ]


def test_upper_case_full_layout_keeps_minutes(tmp_path, store) -> None:
    """Column names are compared without regard to case: an upper-case full export (as
    written from FIRMS shapefiles) keeps its overpass time."""
    path = tmp_path / "upper.csv"
    path.write_text(
        "LATITUDE,LONGITUDE,ACQ_DATE,ACQ_TIME,SATELLITE,INSTRUMENT,CONFIDENCE\n"
        "47.62075,35.71787,2023-02-24,1106,N,VIIRS,n\n"
    )
    ingest_file(store, get_source("firms"), path)
    ev = store.events().iloc[0]
    assert ev["time_precision"] == "minute"
    assert ev["occurred_at"] == pd.Timestamp("2023-02-24T11:06:00Z")
    assert ev["source_event_id"] == "N|VIIRS|2023-02-24|1106|47.62075|35.71787"
    assert ev["geo_precision_m"] == 375.0


def test_neither_layout_is_refused_from_the_header(tmp_path, store) -> None:
    path = tmp_path / "other.csv"
    path.write_text("lat,lon,date\n47.5,35.1,2021-07-01\n")
    progress: list[int] = []
    with pytest.raises(SourceFormatError) as err:
        ingest_file(store, get_source("firms"), path, progress=lambda d, t: progress.append(d))
    msg = str(err.value)
    assert "missing column(s) acq_date, acq_time, latitude, longitude" in msg
    assert "LATITUDE, LONGITUDE, ACQ_DATE (reduced layout" in msg
    assert "found: lat, lon, date" in msg
    assert progress == []
    assert store.batches().empty and store.events().empty and store.quarantine().empty


def test_a_day_that_comes_back_later_repeats_an_id_visibly(tmp_path, store) -> None:
    """The counter is kept for the days of the latest block only: in a file not sorted by
    date, an exact repeat of a day that comes back after another day reuses an id and is
    quarantined as a duplicate (nothing is overwritten or silently dropped)."""
    row = "48.12345,37.54321,2022-05-05"
    body = [row, "48.2,37.6,2022-05-06", "48.3,37.7,2022-05-06", row]
    path = tmp_path / "unsorted.csv"
    path.write_text("LATITUDE,LONGITUDE,ACQ_DATE\n" + "\n".join(body) + "\n")
    source = get_source("firms")
    source.block_bytes = 30  # type: ignore[attr-defined]  # one row per block
    result = ingest_file(store, source, path)
    assert (result.loaded, result.quarantined) == (3, 1)
    assert result.reasons == {"duplicate source id": 1}
    stored = store.events().set_index("line_no").sort_index()["source_event_id"]
    assert stored.loc[2] == "2022-05-05|48.12345|37.54321|1"
    assert 5 not in stored.index
