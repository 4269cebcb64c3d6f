"""The FIRMS importer on the real VIIRS and MODIS files and on small hand-made files.

Expected values come from the file text through the ``csv`` module, independently of the
importer.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from conftest import shared_file

from ceasewatch.ingest.base import get_source
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.store.duckdb import DuckDBStore

VIIRS_HEADER = [
    "latitude", "longitude", "brightness", "scan", "track", "acq_date", "acq_time",
    "satellite", "instrument", "confidence", "version", "bright_t31", "frp", "daynight",
]  # fmt: skip
LETTER_CONFIDENCE = {"l": 30.0, "n": 60.0, "h": 90.0}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _when(row: dict[str, str]) -> datetime:
    return datetime.strptime(f"{row['acq_date']} {row['acq_time']}", "%Y-%m-%d %H%M").replace(
        tzinfo=UTC
    )


def _valid(row: dict[str, str]) -> bool:
    try:
        lat, lon = float(row["latitude"]), float(row["longitude"])
        _when(row)
    except ValueError:
        return False
    conf = row["confidence"].strip().lower()
    conf_ok = conf in LETTER_CONFIDENCE or (conf.isdigit() and 0 <= int(conf) <= 100)
    return abs(lat) <= 90 and abs(lon) <= 180 and len(row["acq_time"]) == 4 and conf_ok


def _key(row: dict[str, str]) -> tuple[str, ...]:
    # a detection's identity: satellite, instrument, overpass time and pixel centre
    fields = ("satellite", "instrument", "acq_date", "acq_time", "latitude", "longitude")
    return tuple(row[k] for k in fields)


def _expected_counts(rows: list[dict[str, str]]) -> tuple[int, int]:
    """(loaded, quarantined): valid rows with a first-seen identity are loaded."""
    loaded = len({_key(r) for r in rows if _valid(r)})
    return loaded, len(rows) - loaded


@pytest.fixture(scope="module")
def viirs() -> Iterator[tuple[list[dict[str, str]], pd.DataFrame, object, DuckDBStore]]:
    path = shared_file("firms", "fire_nrt_SV-C2_400448.csv")
    rows = _rows(path)
    store = DuckDBStore(":memory:")
    result = ingest_file(store, get_source("firms"), path)
    events = store.events(with_raw=True)
    yield rows, events, result, store
    store.close()


def test_viirs_counts(viirs) -> None:
    rows, events, result, store = viirs
    expected_loaded, expected_quarantined = _expected_counts(rows)
    # SOURCE.md: 42,415 detections, no two with the same pixel and overpass, all valid
    assert (len(rows), expected_loaded, expected_quarantined) == (42_415, 42_415, 0)
    assert result.rows_read == len(rows)
    assert (result.loaded, result.quarantined) == (expected_loaded, expected_quarantined)
    assert len(events) == expected_loaded
    assert store.quarantine().empty
    assert (events["category"] == "fire_detection").all()
    assert (events["geo_precision_m"] == 375.0).all()
    assert (events["time_precision"] == "minute").all()


def test_viirs_values_row_by_row(viirs) -> None:
    rows, events, _, _ = viirs
    # the store orders by occurred_at; the file line tells which row an event came from
    by_line = events.set_index("line_no").sort_index()
    assert by_line.index.tolist() == list(range(2, len(rows) + 2))  # no multi-line rows
    when = pd.to_datetime([_when(r) for r in rows], utc=True)
    assert (by_line["occurred_at"].to_numpy() == when.to_numpy()).all()
    assert by_line["lat"].tolist() == [float(r["latitude"]) for r in rows]
    assert by_line["lon"].tolist() == [float(r["longitude"]) for r in rows]
    # low confidence → Admiralty credibility 4 (doubtful); nominal and high → 3
    expected_cred = [4 if r["confidence"] == "l" else 3 for r in rows]
    assert by_line["credibility"].tolist() == expected_cred
    assert Counter(expected_cred)[4] == 2_728  # SOURCE.md: l 2,728
    # each detection is its own report (adjacent pixels of one fire may be corroborated);
    # its id is satellite, instrument, date, time and the coordinates as written
    expected_ids = [
        f"{r['satellite']}|VIIRS|{r['acq_date']}|{r['acq_time']}|{r['latitude']}|{r['longitude']}"
        for r in rows
    ]
    assert by_line["source_event_id"].tolist() == expected_ids
    assert by_line["report_group"].tolist() == ["firms:" + i for i in expected_ids]


def test_viirs_spot_checks(viirs) -> None:
    """A few rows checked by hand against the file text."""
    rows, events, _, _ = viirs
    by_line = events.set_index("line_no")
    first = by_line.loc[2]  # 47.62075,35.71787,...,2023-02-24,1106,N,VIIRS,n,...
    assert first["occurred_at"] == pd.Timestamp("2023-02-24T11:06:00Z")
    assert (first["lat"], first["lon"]) == (47.62075, 35.71787)
    assert first["credibility"] == 3
    assert json.loads(first["raw"]) == rows[0]
    # a night overpass with a leading-zero time, and the last row of the file
    night = next(i for i, r in enumerate(rows) if r["acq_time"].startswith("00"))
    ev = by_line.loc[night + 2]
    hh, mm = int(rows[night]["acq_time"][:2]), int(rows[night]["acq_time"][2:])
    assert ev["occurred_at"].hour == hh == 0
    assert ev["occurred_at"].minute == mm
    assert by_line.loc[len(rows) + 1]["occurred_at"] == pd.Timestamp(_when(rows[-1]))
    low = next(i for i, r in enumerate(rows) if r["confidence"] == "l")
    assert by_line.loc[low + 2]["credibility"] == 4


def test_modis_file_loads() -> None:
    path = shared_file("firms_history", "MODIS-2021.csv")
    rows = _rows(path)
    expected_loaded, expected_quarantined = _expected_counts(rows)
    assert (len(rows), expected_loaded, expected_quarantined) == (10_796, 10_796, 0)
    store = DuckDBStore(":memory:")
    try:
        result = ingest_file(store, get_source("firms"), path)
        assert (result.loaded, result.quarantined) == (expected_loaded, expected_quarantined)
        ev = store.events().set_index("line_no").sort_index()
    finally:
        store.close()
    assert (ev["geo_precision_m"] == 1_000.0).all()  # MODIS pixel
    # numeric confidence: below 40 is doubtful (credibility 4)
    assert ev["credibility"].tolist() == [4 if int(r["confidence"]) < 40 else 3 for r in rows]
    assert ev.loc[2, "occurred_at"] == pd.Timestamp("2021-01-08T09:06:00Z")  # Terra 0906
    assert ev.loc[2, "source_event_id"] == "Terra|MODIS|2021-01-08|0906|47.8698|33.4421"
    assert set(ev["source_event_id"].str.split("|").str[0]) == {"Terra", "Aqua"}


# --- hand-made files with malformed rows ----------------------------------------------
def viirs_row(**values: str) -> list[str]:
    row = dict(
        latitude="47.62075",
        longitude="35.71787",
        brightness="344.94",
        scan="0.52",
        track="0.5",
        acq_date="2023-02-24",
        acq_time="1106",
        satellite="N",
        instrument="VIIRS",
        confidence="n",
        version="2.0NRT",
        bright_t31="269.52",
        frp="7.75",
        daynight="D",
    )
    row.update(values)
    return [row[h] for h in VIIRS_HEADER]


def test_malformed_rows_quarantined_with_exact_lines(tmp_path, store) -> None:
    rows = [
        viirs_row(),  # 2
        viirs_row(acq_time="2460", latitude="47.1"),  # 3 bad time
        viirs_row(acq_date="2023-13-01", latitude="47.2"),  # 4 bad date
        viirs_row(latitude="95.0"),  # 5 latitude out of range
        viirs_row(longitude="E35.1", latitude="47.3"),  # 6 not a number
        viirs_row(latitude="47.4", version="2.0\nNRT\nnote"),  # 7-9 good, quoted newlines
        viirs_row(confidence="x", latitude="47.5"),  # 10 bad confidence
        viirs_row(latitude="47.6")[:9],  # 11 too few fields
        viirs_row()[:1] + viirs_row(),  # 12 too many fields
        viirs_row(),  # 13 the same detection as line 2
        viirs_row(latitude="47.7", acq_time="49"),  # 14 good: HHMM without padding
    ]
    text = "\n".join(",".join(f'"{v}"' if "\n" in v else v for v in r) for r in rows)
    path = tmp_path / "firms.csv"
    path.write_text(",".join(VIIRS_HEADER) + "\n" + text + "\n", encoding="utf-8")
    result = ingest_file(store, get_source("firms"), path)
    expected = {
        3: "acq_time '2460'",
        4: "acq_date '2023-13-01'",
        5: "latitude '95.0'",
        6: "longitude 'E35.1'",
        10: "confidence 'x'",
        11: "malformed row: 9 fields, expected 14",
        12: "malformed row: 15 fields, expected 14",
        13: "duplicate source id 'N|VIIRS|2023-02-24|1106|47.62075|35.71787'",
    }
    q = store.quarantine()
    assert sorted(q["line_no"]) == sorted(expected)
    for line, reason in zip(q["line_no"], q["reason"], strict=True):
        assert expected[line] in reason
    ev = store.events(with_raw=True).set_index("line_no")
    assert sorted(ev.index) == [2, 7, 14]
    assert json.loads(ev.loc[7, "raw"])["version"] == "2.0\nNRT\nnote"
    assert ev.loc[14, "occurred_at"] == pd.Timestamp("2023-02-24T00:49:00Z")
    assert (result.loaded, result.quarantined, result.rows_read) == (3, 8, 11)
