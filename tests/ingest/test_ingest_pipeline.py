"""The ingest pipeline: idempotency and versions, wrong kinds of file, atomicity, fuzzing."""

from __future__ import annotations

import functools
import itertools
import json
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from conftest import shared_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ceasewatch.errors import SourceFormatError
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
FIRMS_HEADER = [
    "latitude", "longitude", "brightness", "scan", "track", "acq_date", "acq_time",
    "satellite", "instrument", "confidence", "version", "bright_t31", "frp", "daynight",
]  # fmt: skip
JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, tzinfo=UTC)


def acled_record(event_id: str, **values: str) -> dict[str, str]:
    row = {h: "" for h in ACLED_HEADER}
    row.update(
        id=event_id.removeprefix("UKR"),
        iso="804",
        event_id_cnty=event_id,
        event_date="03/09/2023 00:00:00",
        year="2023",
        time_precision="1",
        event_type="Explosions/Remote violence",
        sub_event_type="Shelling/artillery/missile attack",
        actor1="Military Forces of Russia (2000-)",
        country="Ukraine",
        admin1="Kharkiv",
        location="Kupiansk",
        latitude="49.7106",
        longitude="37.6156",
        notes=f"Shelling of Kupiansk ({event_id}).",
        fatalities="0",
        geo_precision="1",
    )
    row.update(values)
    return row


def csv_line(fields: list[str], newline: str = "\n") -> str:
    """One CSV record. Unlike ``csv.writer`` with ``lineterminator="\\n"``, a field with a
    lone ``\\r`` is quoted too (unquoted, it would end the record for any CSV reader)."""

    def quote(value: str) -> str:
        if any(c in value for c in ',"\r\n'):
            return '"' + value.replace('"', '""') + '"'
        return value

    return ",".join(quote(v) for v in fields) + newline


def csv_text(header: list[str], rows: list[list[str]], newline: str = "\n") -> str:
    return "".join(csv_line(r, newline) for r in [header, *rows])


def write_acled(path: Path, records: list[dict[str, str]]) -> Path:
    rows = [[r[h] for h in ACLED_HEADER] for r in records]
    path.write_text(csv_text(ACLED_HEADER, rows), encoding="utf-8")
    return path


def write_firms(path: Path, n: int = 3) -> Path:
    """``n`` detections of one VIIRS overpass, one pixel apart."""
    rest = ["330.1", "0.4", "0.4", "2023-09-03", "0049", "N", "VIIRS", "n", "2.0NRT"]
    rows = [[f"48.{i:05d}", "37.61560", *rest, "290.2", "3.1", "N"] for i in range(n)]
    path.write_text(csv_text(FIRMS_HEADER, rows), encoding="utf-8")
    return path


def count_versions(store: DuckDBStore, event_id: str) -> int:
    row = store.con.execute("select count(*) from events where event_id = ?", [event_id]).fetchone()
    assert row is not None
    return int(row[0])


# --- idempotency and versions ---------------------------------------------------------
def test_same_file_twice_adds_nothing(tmp_path, store) -> None:
    records = [acled_record(f"UKR{i}") for i in range(1, 6)]
    records.append(acled_record("UKR99", latitude="not a latitude"))
    path = write_acled(tmp_path / "a.csv", records)
    first = ingest_file(store, get_source("acled"), path)
    assert (first.loaded, first.quarantined, first.skipped_file) == (5, 1, False)
    before = (store.events(with_raw=True), store.quarantine(), store.batches())

    second = ingest_file(store, get_source("acled"), path)
    assert second.skipped_file
    assert second.batch_id == first.batch_id
    assert (second.rows_read, second.loaded, second.new_version, second.unchanged) == (0, 0, 0, 0)
    assert second.quarantined == 0
    pd.testing.assert_frame_equal(store.events(with_raw=True), before[0])
    pd.testing.assert_frame_equal(store.quarantine(), before[1])
    pd.testing.assert_frame_equal(store.batches(), before[2])
    assert store.con.execute("select count(*) from events").fetchone()[0] == 5

    # the same bytes under another name are the same file
    copy = tmp_path / "copy-of-a.csv"
    copy.write_bytes(path.read_bytes())
    assert ingest_file(store, get_source("acled"), copy).skipped_file
    assert len(store.batches()) == 1


def test_overlapping_file_loads_only_the_new_record(tmp_path, store) -> None:
    old = [acled_record(f"UKR{i}") for i in range(1, 6)]
    ingest_file(store, get_source("acled"), write_acled(tmp_path / "week1.csv", old))
    # the new record comes first, so every old record moves to another line
    path = write_acled(tmp_path / "week2.csv", [acled_record("UKR6"), *old])
    result = ingest_file(store, get_source("acled"), path)
    assert not result.skipped_file
    assert (result.rows_read, result.loaded, result.new_version, result.unchanged) == (6, 1, 0, 5)
    assert result.quarantined == 0
    events = store.events()
    assert sorted(events["source_event_id"]) == [f"UKR{i}" for i in range(1, 7)]
    assert events.groupby("source_event_id")["batch_id"].first().to_dict() == {
        **{f"UKR{i}": 1 for i in range(1, 6)},
        "UKR6": 2,
    }
    assert (events["version"] == 1).all()
    assert store.con.execute("select count(*) from events").fetchone()[0] == 6
    batches = store.batches().set_index("batch_id")
    assert batches.loc[2, ["rows_loaded", "rows_unchanged", "rows_new_version"]].tolist() == [
        1,
        5,
        0,
    ]
    assert (batches["status"] == "done").all()


def test_reissued_record_keeps_the_old_version(tmp_path, store) -> None:
    v1 = [acled_record("UKR1"), acled_record("UKR2")]
    v2 = [
        acled_record("UKR1", fatalities="3", notes="Shelling of Kupiansk; 3 killed."),
        acled_record("UKR2"),
    ]
    source = get_source("acled")
    ingest_file(store, source, write_acled(tmp_path / "v1.csv", v1), recorded_at=JAN)
    result = ingest_file(store, source, write_acled(tmp_path / "v2.csv", v2), recorded_at=FEB)
    assert (result.loaded, result.new_version, result.unchanged) == (0, 1, 1)

    current = store.events().set_index("source_event_id")
    assert len(current) == 2
    assert current.at["UKR1", "version"] == 2
    assert current.at["UKR1", "fatalities"] == 3.0
    assert current.at["UKR1", "notes"] == "Shelling of Kupiansk; 3 killed."
    assert current.at["UKR2", "version"] == 1
    event_id = current.at["UKR1", "event_id"]
    assert count_versions(store, event_id) == 2
    assert count_versions(store, current.at["UKR2", "event_id"]) == 1
    # the old version is still there, and is what we knew before the re-issue
    old = store.con.execute(
        "select fatalities, recorded_at from events where event_id = ? and version = 1",
        [event_id],
    ).fetchone()
    assert old[0] == 0.0
    assert old[1] == JAN
    then = store.events(as_of=datetime(2024, 1, 15, tzinfo=UTC)).set_index("source_event_id")
    assert then.at["UKR1", "fatalities"] == 0.0

    # re-issuing the same new content again adds nothing
    again = write_acled(tmp_path / "v2-again.csv", list(reversed(v2)))
    result = ingest_file(store, source, again)
    assert (result.loaded, result.new_version, result.unchanged) == (0, 0, 2)
    assert count_versions(store, event_id) == 2


def test_firms_overlap_and_reissue(tmp_path, store) -> None:
    source = get_source("firms")
    ingest_file(store, source, write_firms(tmp_path / "day.csv", 3))
    result = ingest_file(store, source, write_firms(tmp_path / "day-more.csv", 5))
    assert (result.loaded, result.unchanged, result.new_version) == (2, 3, 0)
    assert len(store.events()) == 5


# --- wrong kind of file ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("source_name", "write", "missing", "title"),
    [
        (
            "acled",
            write_firms,
            "event_date, event_id_cnty, event_type, geo_precision, sub_event_type, time_precision",
            "ACLED export",
        ),
        (
            "firms",
            lambda p: write_acled(p, [acled_record("UKR1")]),
            "acq_date, acq_time",
            "NASA FIRMS fire detections CSV",
        ),
        (
            "field_report",
            lambda p: write_acled(p, [acled_record("UKR1")]),
            "count, kind, observation_id, observer_id, observer_lat, observer_lon, "
            "report_id, window_start",
            "field report",
        ),
    ],
    ids=["firms-as-acled", "acled-as-firms", "acled-as-field-report"],
)
def test_wrong_kind_refused_at_once(tmp_path, store, source_name, write, missing, title) -> None:
    path = write(tmp_path / "input.csv")
    progress: list[int] = []
    with pytest.raises(SourceFormatError) as err:
        ingest_file(store, get_source(source_name), path, progress=lambda d, t: progress.append(d))
    msg = str(err.value)
    assert f"missing column(s) {missing} " in msg
    assert f"is not a {title}" in msg
    assert "input.csv" in msg
    assert progress == []  # refused on the header, before any data block was read
    assert store.batches().empty  # no batch left behind, 'running' or otherwise
    assert store.events().empty
    assert store.quarantine().empty


def test_real_files_of_the_wrong_kind(store) -> None:
    acled = shared_file("events_acled", "ACLED-Ukraine.csv")
    firms = shared_file("firms", "fire_nrt_SV-C2_400448.csv")
    with pytest.raises(SourceFormatError, match=r"missing column\(s\) acq_date, acq_time \("):
        ingest_file(store, get_source("firms"), acled)
    with pytest.raises(SourceFormatError, match=r"not a ACLED export file: missing column\(s\) "):
        ingest_file(store, get_source("acled"), firms)
    assert store.batches().empty
    # the refusal leaves nothing that blocks the right import afterwards
    result = ingest_file(store, get_source("acled"), acled)
    assert (result.skipped_file, result.loaded) == (False, 1000)
    assert store.batches()["status"].tolist() == ["done"]


def test_failure_midway_rolls_back_everything(tmp_path, store, monkeypatch) -> None:
    records = [acled_record(f"UKR{i}") for i in range(1, 13)]
    path = write_acled(tmp_path / "a.csv", records)
    monkeypatch.setattr(
        ingest_base,
        "iter_csv_chunks",
        functools.partial(csvstream.iter_csv_chunks, block_bytes=1024),
    )
    source = get_source("acled")
    calls = {"n": 0}
    normalize = source.normalize

    def failing(raw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return normalize(raw)

    monkeypatch.setattr(source, "normalize", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_file(store, source, path)
    assert calls["n"] == 3  # two chunks had been stored before the failure
    assert store.batches().empty
    assert store.events().empty
    monkeypatch.setattr(source, "normalize", normalize)
    assert ingest_file(store, source, path).loaded == 12


# --- fuzzing: random mixes of good and garbage rows -----------------------------------
TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),  # any unicode
    st.lists(st.sampled_from(["a", ",", '"', "\r", "\n", "\r\n", " "]), max_size=40).map("".join),
)
BAD_KINDS = ("date", "lat", "lon", "geo", "type", "time", "short", "long", "huge", "dup")
ROW = st.one_of(
    st.tuples(st.just("blank"), st.just(""), st.just(0)),
    # about one good row in ten has a ~100 kB notes field
    st.tuples(st.just("good"), TEXT, st.integers(0, 9).map(lambda x: x == 0)),
    st.tuples(st.sampled_from(BAD_KINDS), TEXT, st.integers(1, 32)),
)


def _bad_record(kind: str, text: str, k: int, i: str, good_ids: list[str]) -> list[str]:
    rec = acled_record(f"B{i}", notes=text)
    if kind == "date":
        rec["event_date"] = "d" + text
    elif kind == "lat":
        rec["latitude"] = ["91", "-90.0001", "1e400", "nan", "", "lat " + text][k % 6]
    elif kind == "lon":
        rec["longitude"] = ["180.5", "-181", "inf", "1,5", "lon " + text][k % 5]
    elif kind == "geo":
        rec["geo_precision"] = ["0", "4", "1.5", "", "g" + text][k % 5]
    elif kind == "type":
        rec["event_type"] = "t" + text
    elif kind == "time":
        rec["time_precision"] = ["0", "4", "", "day"][k % 4]
    elif kind == "huge":
        rec["event_date"] = "x" * 100_000
        rec["notes"] = text * 10
    elif kind == "dup":  # the id of an earlier good row (there is always one)
        rec = acled_record(good_ids[k % len(good_ids)], notes="again " + text)
    fields = [rec[h] for h in ACLED_HEADER]
    if kind == "short":
        return fields[:k]  # 1-32 of 33 fields; the first (id) is never empty
    if kind == "long":
        return [*fields, *([text] * (1 + k % 3))]
    return fields


_RUNS = itertools.count(1)


@pytest.fixture(scope="module")
def fuzz_store() -> Iterator[DuckDBStore]:
    """One store for all examples (opening one costs ~0.1 s); every example's ids are new."""
    shared = DuckDBStore(":memory:")
    yield shared
    shared.close()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(specs=st.lists(ROW, min_size=1, max_size=15), crlf=st.booleans(), small=st.booleans())
def test_fuzzed_acled_files(fuzz_store, specs, crlf, small) -> None:
    newline = "\r\n" if crlf else "\n"
    run = next(_RUNS)
    rows: list[list[str]] = []
    good: dict[str, str] = {}  # id → notes
    good_ids: list[str] = []
    is_good: list[bool | None] = []
    # a first row unique to this example: no two examples write the same file (the shared
    # store would skip it as already loaded)
    for i, (kind, text, extra) in enumerate([("good", f"example {run}", False), *specs]):
        if kind == "blank":
            rows.append([])  # an empty line: skipped, but it is a line
            is_good.append(None)
        elif kind == "good":
            notes = (text or "x") * (100_000 // max(len(text), 1)) if extra else text
            rec = acled_record(f"G{run}-{i}", notes=notes, latitude=f"{45 + i / 100:.4f}")
            rows.append([rec[h] for h in ACLED_HEADER])
            good[rec["event_id_cnty"]] = notes
            good_ids.append(rec["event_id_cnty"])
            is_good.append(True)
        else:
            rows.append(_bad_record(kind, text, extra, f"{run}-{i}", good_ids))
            is_good.append(False)
    # each row's first physical line, counted in the text as written
    pieces = [csv_line(ACLED_HEADER, newline)]
    starts, newlines = [], 1
    for row in rows:
        starts.append(newlines + 1)
        pieces.append(csv_line(row, newline))
        newlines += pieces[-1].count("\n")
    text = "".join(pieces)
    good_lines = sorted(ln for ln, g in zip(starts, is_good, strict=True) if g)
    bad_lines = sorted(ln for ln, g in zip(starts, is_good, strict=True) if g is False)
    n_rows = sum(g is not None for g in is_good)

    # small: read in blocks just longer than the longest record (several rows per block,
    # boundaries anywhere, also inside quoted CRLFs); otherwise in one block
    block = max(len(p.encode()) for p in pieces) + 1 if small else 16 << 20
    reader = functools.partial(csvstream.iter_csv_chunks, block_bytes=block)
    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch.object(ingest_base, "iter_csv_chunks", reader),
    ):
        path = Path(tmp) / "fuzz.csv"
        path.write_bytes(text.encode("utf-8"))
        result = ingest_file(fuzz_store, get_source("acled"), path)
    events = fuzz_store.events(with_raw=True)
    events = events[events["batch_id"] == result.batch_id]
    quarantine = fuzz_store.quarantine()
    quarantine = quarantine[quarantine["batch_id"] == result.batch_id]

    assert not result.skipped_file
    assert result.rows_read == n_rows
    assert result.loaded == len(good)
    assert result.quarantined == n_rows - len(good)
    assert result.loaded + result.quarantined == result.rows_read
    assert sorted(events["line_no"]) == good_lines
    assert sorted(quarantine["line_no"]) == bad_lines
    assert set(events["source_event_id"]) == set(good)
    for _, ev in events.iterrows():
        assert json.loads(ev["raw"])["notes"] == good[ev["source_event_id"]]
