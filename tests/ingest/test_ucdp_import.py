"""The UCDP GED importer on the real Ukraine file and on small hand-made files.

Expected values are computed from the file's bytes with the ``csv`` module, independently
of the importer: the bytes are split as Latin-1 (one character per byte, so nothing is
lost), then each value is decoded as UTF-8, or as cp1252 where it is not UTF-8.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from ceasewatch.errors import SourceFormatError
from ceasewatch.ingest.base import get_source
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.normalize.timeprec import time_bounds
from ceasewatch.store.duckdb import DuckDBStore

HEADER = [
    "id", "relid", "year", "active_year", "code_status", "type_of_violence", "conflict_dset_id",
    "conflict_new_id", "conflict_name", "dyad_dset_id", "dyad_new_id", "dyad_name",
    "side_a_dset_id", "side_a_new_id", "side_a", "side_b_dset_id", "side_b_new_id", "side_b",
    "number_of_sources", "source_article", "source_office", "source_date", "source_headline",
    "source_original", "where_prec", "where_coordinates", "where_description", "adm_1", "adm_2",
    "latitude", "longitude", "geom_wkt", "priogrid_gid", "country", "country_id", "region",
    "event_clarity", "date_prec", "date_start", "date_end", "deaths_a", "deaths_b",
    "deaths_civilians", "deaths_unknown", "best", "high", "low", "gwnoa", "gwnob",
]  # fmt: skip
#: the issue's table: where_prec → radius in metres
GEO_M = {"1": 1e3, "2": 1e4, "3": 3e4, "4": 1e5, "5": 2e5, "6": 6e5, "7": 1e5}
#: UCDP codebook date_prec → canonical precision
TIME_P = {"1": "day", "2": "day", "3": "week", "4": "month", "5": "year"}
FULL_SPAN_S = {
    "day": 86_400.0,
    "week": 7 * 86_400.0,
    "month": 31 * 86_400.0,
    "year": 366 * 86_400.0,
}
CLASH_FAMILY = {"armed_clash", "shelling", "air_strike", "missile_strike", "drone_strike"}
DAY = timedelta(days=1)


def _decode(value: str) -> tuple[str, bool]:
    """A value split as Latin-1 → its text, and whether it had to be read as cp1252."""
    raw = value.encode("latin-1")
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined: those are read as Latin-1
        return "".join(_cp1252(b) for b in raw), True


def _cp1252(b: int) -> str:
    try:
        return bytes([b]).decode("cp1252")
    except UnicodeDecodeError:
        return chr(b)


def _date(text: str) -> datetime:
    """UCDP's two Excel layouts seen in the file, month first."""
    for fmt in ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    raise ValueError(text)


def _file_rows(path: Path) -> list[dict[str, str]]:
    """Every record with ``_line`` (first physical line) and ``_cp1252`` (fields so read)."""
    out = []
    reader = csv.reader(io.StringIO(path.read_bytes().decode("latin-1"), newline=""))
    header = next(reader)
    previous_end = reader.line_num
    for fields in reader:
        row: dict[str, str] = {}
        decoded = []
        for name, value in zip(header, fields, strict=True):
            row[name], fell_back = _decode(value)
            if fell_back:
                decoded.append(name)
        row["_line"] = str(previous_end + 1)
        row["_cp1252"] = ",".join(decoded)
        previous_end = reader.line_num
        out.append(row)
    return out


@pytest.fixture(scope="module")
def ucdp() -> Iterator[tuple[list[dict[str, str]], pd.DataFrame, object, DuckDBStore]]:
    path = shared_file("events_ucdp", "UCDP-Ukraine.csv")
    rows = _file_rows(path)
    store = DuckDBStore(":memory:")
    result = ingest_file(store, get_source("ucdp"), path)
    events = store.events(with_raw=True).set_index("source_event_id")
    yield rows, events, result, store
    store.close()


def test_real_file_counts(ucdp) -> None:
    """3,883 rows read, 3,883 loaded, 0 quarantined.

    Why nothing is quarantined (each checked on every row below, independently): every
    ``id`` is present and unique; every ``date_start``/``date_end`` is one of the two Excel
    layouts (M/D/YYYY h:mm:ss AM: 2,446 starts; MM/DD/YYYY HH:MM: 1,437 starts, SOURCE.md)
    with ``date_end >= date_start``; coordinates lie in Ukraine; ``where_prec`` is 1-7,
    ``date_prec`` 1-5, ``type_of_violence`` 1-3, ``best`` a whole number. The 301 records
    (302 physical lines, SOURCE.md) with cp1252 bytes are read, not refused.
    """
    rows, events, result, store = ucdp
    ids = [r["id"] for r in rows]
    assert len(rows) == 3883 and len(set(ids)) == 3883
    starts = Counter("AM" if r["date_start"].endswith("M") else "24h" for r in rows)
    assert (starts["AM"], starts["24h"]) == (2446, 1437)
    for r in rows:
        assert _date(r["date_end"]) >= _date(r["date_start"])
        assert 44 < float(r["latitude"]) < 53 and 22 < float(r["longitude"]) < 41
        assert r["where_prec"] in GEO_M and r["date_prec"] in TIME_P
        assert r["type_of_violence"] in {"1", "2", "3"} and r["best"].isdigit()
    assert (result.rows_read, result.loaded, result.quarantined) == (3883, 3883, 0)
    assert store.quarantine().empty
    assert set(events.index) == set(ids)
    assert sum(1 for r in rows if r["_cp1252"]) == 301


def test_real_file_values(ucdp) -> None:
    rows, events, _, _ = ucdp
    by_id = events.to_dict("index")
    for r in rows:
        ev = by_id[r["id"]]
        assert ev["line_no"] == int(r["_line"])
        assert ev["lon"] == float(r["longitude"]) and ev["lat"] == float(r["latitude"])
        assert ev["geo_precision_m"] == GEO_M[r["where_prec"]]
        assert ev["time_precision"] == TIME_P[r["date_prec"]]
        assert ev["fatalities"] == float(r["best"])
        assert ev["actor"] == f"{r['side_a']} | {r['side_b']}"
        # empty names are null
        for col, name in (("location_name", "where_coordinates"), ("admin1", "adm_1")):
            assert ev[col] == r[name] if r[name] else pd.isna(ev[col])
        # low and high stay in the raw record and are named in the notes
        assert f"(low {r['low']}, high {r['high']})" in ev["notes"]
        raw = json.loads(ev["raw"])
        assert raw == {k: v for k, v in r.items() if not k.startswith("_")}
        if r["_cp1252"]:
            named = r["_cp1252"].replace(",", ", ")
            assert ev["notes"].endswith(f"not UTF-8, read as cp1252: {named}")
        else:
            assert "cp1252" not in ev["notes"]
    # SOURCE.md: sum of best = 18,480; type_of_violence 1: 3,876, 2: 1, 3: 6
    assert events["fatalities"].sum() == 18_480
    assert Counter(r["type_of_violence"] for r in rows) == {"1": 3876, "3": 6, "2": 1}
    # the apostrophes of the cp1252 bytes come out as themselves
    assert "Ukraine’s Lvov" in json.loads(events.loc["149250", "raw"])["source_headline"]


def test_real_file_time_intervals(ucdp) -> None:
    """The stored time interval holds UCDP's whole range [date_start, date_end + 1 day) and
    is not wider than the range or the precision's span (plus the 3 h of a local day)."""
    rows, events, _, _ = ucdp
    ev = events.loc[[r["id"] for r in rows]]
    t = ev["occurred_at"].astype("int64").to_numpy() / 1e6
    lo, hi = time_bounds(
        t, ev["time_precision"].to_numpy(dtype=object), ev["time_window_s"].to_numpy()
    )
    start = np.array([_date(r["date_start"]).timestamp() for r in rows])
    stop = np.array([(_date(r["date_end"]) + DAY).timestamp() for r in rows])
    assert (lo <= start).all() and (hi >= stop).all()
    span = np.maximum(stop - start, ev["time_precision"].map(FULL_SPAN_S).to_numpy())
    assert (hi - lo <= span + 3 * 3600 + 1e-6).all()
    counts = ev["time_precision"].value_counts().to_dict()
    # date_prec 1: 2,809 and 2: 819 are days; 3: 87 weeks, 4: 116 months, 5: 52 years
    assert counts == {"day": 3628, "month": 116, "week": 87, "year": 52}


def test_real_file_categories(ucdp) -> None:
    rows, events, _, _ = ucdp
    categories = events["category"].to_dict()
    for r in rows:
        cat = categories[r["id"]]
        if r["type_of_violence"] == "3":
            assert cat == "violence_against_civilians"
            continue
        assert cat in CLASH_FAMILY
        # refined only where the source headlines say so
        words = (r["source_headline"] + " " + r["source_article"]).lower()
        if cat == "shelling":
            assert re.search(r"shell|artillery|mortar|grad|rocket|mlrs|howitzer", words)
        elif cat == "missile_strike":
            assert re.search(r"missile|iskander|kalibr|kh-|tochka|cruise|ballistic", words)
        elif cat == "drone_strike":
            assert re.search(r"drone|uav|shahed|geran|lancet|kamikaze", words)
        elif cat == "air_strike":
            assert re.search(r"air ?strike|air raid|airstrike|bomb|aviation", words)
    counts = events["category"].value_counts()
    assert counts["violence_against_civilians"] == 6
    assert counts.sum() == 3883


# --- hand-made files ------------------------------------------------------------------
def ucdp_row(**values: str | bytes) -> dict[str, str | bytes]:
    row: dict[str, str | bytes] = dict.fromkeys(HEADER, "")
    row.update(
        id="1",
        type_of_violence="1",
        dyad_name="Government of Ukraine - DPR",
        side_a="Government of Ukraine",
        side_b="DPR",
        source_headline="Fighting near Donetsk airport",
        where_prec="1",
        where_coordinates="Donetsk airport",
        adm_1="Donetsk oblast",
        latitude="48.07",
        longitude="37.74",
        event_clarity="1",
        date_prec="1",
        date_start="1/22/2015 12:00:00 AM",
        date_end="1/22/2015 12:00:00 AM",
        best="2",
        low="1",
        high="4",
    )
    row.update(values)
    return row


def write(path: Path, rows: list[list[str | bytes]]) -> list[int]:
    """Header + rows as bytes; each row's first physical line."""

    def field(v: str | bytes) -> bytes:
        b = v.encode() if isinstance(v, str) else v
        return b'"' + b.replace(b'"', b'""') + b'"' if any(c in b for c in b',"\r\n') else b

    data, lines = b",".join(h.encode() for h in HEADER) + b"\n", []
    for r in rows:
        lines.append(data.count(b"\n") + 1)
        data += b",".join(field(v) for v in r) + b"\n"
    path.write_bytes(data)
    return lines


def fields(row: dict[str, str | bytes]) -> list[str | bytes]:
    return [row[h] for h in HEADER]


def test_malformed_rows_quarantined_with_exact_lines(tmp_path, store) -> None:
    rows = [
        fields(ucdp_row(id="1")),
        fields(ucdp_row(id="2", date_start="13/45/2015 00:00")),  # not a date
        fields(ucdp_row(id="3", date_start="22/01/2015 00:00")),  # day first: never guessed
        fields(ucdp_row(id="4", date_end="1/21/2015 12:00:00 AM")),  # before the start
        fields(ucdp_row(id="5", latitude="91")),
        fields(ucdp_row(id="6", longitude="east")),
        fields(ucdp_row(id="7", where_prec="8")),
        fields(ucdp_row(id="8", date_prec="0")),
        fields(ucdp_row(id="9", type_of_violence="4")),
        fields(ucdp_row(id="10", best="-1")),
        # good, a headline over three lines with a cp1252 apostrophe
        fields(ucdp_row(id="11", source_headline=b"Kiev\x92s forces\nshell\nDonetsk")),
        fields(ucdp_row(id="12", dyad_name=b"Donetsk\x92s airport"))[:20],  # short
        [*fields(ucdp_row(id="13")), "surplus"],  # too many fields
        fields(ucdp_row(id="1", best="7")),  # the same id again
        fields(ucdp_row(id="14", date_start="2015-01-22", date_end="2015-01-24")),  # ISO: good
    ]
    lines = write(tmp_path / "ucdp.csv", rows)
    assert lines == [*range(2, 13), 15, 16, 17, 18]
    result = ingest_file(store, get_source("ucdp"), tmp_path / "ucdp.csv")

    expected = {
        3: "date_start '13/45/2015 00:00' is not a date",
        4: "date_start '22/01/2015 00:00' is not a date",
        5: "date_end '1/21/2015 12:00:00 AM' is before date_start '1/22/2015 12:00:00 AM'",
        6: "latitude '91' is not a number in [-90, 90]",
        7: "longitude 'east' is not a number in [-180, 180]",
        8: "where_prec '8' is not one of 1-7",
        9: "date_prec '0' is not one of 1-5",
        10: "type_of_violence '4' is not one of 1, 2, 3",
        11: "best '-1' is not a whole number ≥ 0",
        15: "malformed row: 20 fields, expected 49",
        16: "malformed row: 50 fields, expected 49",
        17: "duplicate source id '1' in the same file (first on line 2, kept)",
    }
    q = store.quarantine().set_index("line_no")
    assert sorted(q.index) == sorted(expected)
    for line, reason in expected.items():
        assert q.at[line, "reason"].startswith(reason), q.at[line, "reason"]
    # the short row's bytes that are not UTF-8 are read as cp1252 in its raw text too
    assert "Donetsk’s airport" in json.loads(q.at[15, "raw"])["_text"]
    events = store.events(with_raw=True).set_index("source_event_id")
    assert dict(events["line_no"]) == {"1": 2, "11": 12, "14": 18}
    assert events.at["11", "category"] == "shelling"
    assert json.loads(events.at["11", "raw"])["source_headline"] == "Kiev’s forces\nshell\nDonetsk"
    assert events.at["11", "notes"].endswith("not UTF-8, read as cp1252: source_headline")
    assert (result.rows_read, result.loaded, result.quarantined) == (15, 3, 12)


def test_dates_precisions_and_windows(tmp_path, store) -> None:
    rows = [
        # one day, each layout
        ucdp_row(id="a", date_start="1/22/2015 12:00:00 AM", date_end="1/22/2015 12:00:00 AM"),
        ucdp_row(id="b", date_start="01/22/2015 00:00", date_end="01/22/2015 00:00"),
        ucdp_row(id="c", date_start="2015-01-22", date_end="2015-01-22"),
        # date_prec 2: a 3-day range, day precision and a window of the whole range
        ucdp_row(id="d", date_prec="2", date_start="2015-01-20", date_end="2015-01-22"),
        # date_prec 4: a 10-day range, month precision: occurred_at in its middle
        ucdp_row(id="e", date_prec="4", date_start="2015-01-01", date_end="2015-01-10"),
        # date_prec 5: a 400-day range is longer than a year: the span starts at date_start
        ucdp_row(id="f", date_prec="5", date_start="2015-01-01", date_end="2016-02-04"),
    ]
    write(tmp_path / "t.csv", [fields(r) for r in rows])
    ingest_file(store, get_source("ucdp"), tmp_path / "t.csv")
    ev = store.events().set_index("source_event_id")
    day = pd.Timestamp("2015-01-22T00:00:00Z")
    for k in "abc":
        assert (ev.at[k, "occurred_at"], ev.at[k, "time_precision"]) == (day, "day")
        assert ev.at[k, "time_window_s"] == 0.0
    assert ev.at["d", "occurred_at"] == pd.Timestamp("2015-01-20T00:00:00Z")
    assert (ev.at["d", "time_precision"], ev.at["d", "time_window_s"]) == ("day", 3 * 86_400.0)
    assert ev.at["e", "occurred_at"] == pd.Timestamp("2015-01-06T00:00:00Z")  # 1 Jan + 5 days
    assert ev.at["e", "time_precision"] == "month"
    assert ev.at["f", "occurred_at"] == pd.Timestamp("2015-01-01T00:00:00Z") + pd.Timedelta(
        days=183
    )
    assert ev.at["f", "time_window_s"] == (400 - 183) * 86_400.0


def test_categories_from_type_and_headlines(tmp_path, store) -> None:
    rows = [
        ucdp_row(id="1", source_headline="Two soldiers killed in clashes"),
        ucdp_row(id="2", source_headline="Shelling kills three in Donetsk"),
        ucdp_row(id="3", source_headline="Russian missile strike on Kramatorsk"),
        ucdp_row(id="4", source_headline="Drone attack on a checkpoint"),
        ucdp_row(id="5", source_headline="Air strike on Lugansk administration"),
        ucdp_row(id="6", type_of_violence="3", source_headline="Shelling of civilians"),
        ucdp_row(id="7", type_of_violence="2", source_headline="Clash of two militias"),
        ucdp_row(id="8", event_clarity="2"),
    ]
    write(tmp_path / "c.csv", [fields(r) for r in rows])
    ingest_file(store, get_source("ucdp"), tmp_path / "c.csv")
    ev = store.events().set_index("source_event_id")
    assert ev["category"].to_dict() == {
        "1": "armed_clash",
        "2": "shelling",
        "3": "missile_strike",
        "4": "drone_strike",
        "5": "air_strike",
        "6": "violence_against_civilians",  # one-sided: the weapon does not change what it is
        "7": "armed_clash",
        "8": "armed_clash",
    }
    assert ev.at["8", "credibility"] == 3 and ev.at["1", "credibility"] == 2
    assert ev["attributed_to"].isna().all()  # the dyad says who fought, not who fired


def test_wrong_kind_of_file_refused(tmp_path, store) -> None:
    path = tmp_path / "acled.csv"
    path.write_text("event_id_cnty,event_date,latitude,longitude\nUKR1,2023-01-01,48,37\n")
    with pytest.raises(SourceFormatError, match=r"not a UCDP GED CSV file: missing column\(s\)"):
        ingest_file(store, get_source("ucdp"), path)
    assert store.batches().empty
