"""The vectorized ingest path gives what the row-by-row definitions give.

- the raw record JSON built by concatenation is byte for byte DuckDB's ``to_json`` of the
  row, on adversarial text (quotes, backslashes, control characters, Unicode, NULLs,
  non-text columns, odd column names);
- a FIRMS file through the Arrow fast path (``read_tables`` + ``normalize_table`` +
  ``add_event_table``) stores the same events and quarantine as the pandas path
  (``read_chunks`` + ``normalize`` + ``claim_source_ids`` + ``add_events``), read in blocks
  small enough that duplicates and multi-line values cross block boundaries;
- line numbers of quote-free files (the fast path that skips counting embedded newlines)
  are the physical lines, blank lines and CRLF included.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ceasewatch.ingest import firms as firms_mod
from ceasewatch.ingest.base import EventSource, rows_to_json
from ceasewatch.ingest.csvstream import iter_csv_chunks, iter_csv_tables, read_header
from ceasewatch.ingest.firms import FirmsSource
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.store.duckdb import DuckDBStore

ALPHABET = ["a", '"', "\\", "\n", "\r", "\t", "\x01", "\x1f", "\x7f", "é", "’", "\u2028", "/"]
ALPHABET += [" ", ",", "{", "😀", "'", "\x85", "\xa0"]


@pytest.mark.parametrize("seed", range(4))
def test_rows_to_json_is_duckdb_to_json(seed: int) -> None:
    rng = random.Random(seed)
    con = duckdb.connect()
    for trial in range(60):
        n = rng.randint(1, 6)
        cols: dict[str, list[str | None]] = {}
        for j in range(3):
            name = f"c{j}" if rng.random() < 0.8 else f'we"ird\\{j}\n'
            cols[name] = [
                "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 6)))
                if rng.random() < 0.9
                else None
                for _ in range(n)
            ]
        frame = pd.DataFrame(cols)
        if trial % 3 == 0:
            frame["num"] = np.linspace(-1.5, 2.25, n)
        if trial % 5 == 0:
            frame["int"] = np.arange(n)
        con.register("x", frame)
        want = [r[0] for r in con.execute("SELECT to_json(t)::VARCHAR FROM x t").fetchall()]
        assert rows_to_json(frame).tolist() == want
        for text, row in zip(want, frame.to_dict("records"), strict=True):
            back = json.loads(text)
            assert list(back) == list(row)


HEADER = [
    "latitude", "longitude", "brightness", "scan", "track", "acq_date", "acq_time",
    "satellite", "instrument", "confidence", "version", "bright_t31", "frp", "daynight",
]  # fmt: skip


def _field(v: str) -> str:
    return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\r\n') else v


def _firms_file(path: Path, seed: int) -> Path:
    """Good rows, bad values of every kind, repeats near and far, quoted multi-line and
    JSON-special text, blank lines, white space around values."""
    rng = random.Random(seed)
    lines = [",".join(HEADER)]
    seen: list[list[str]] = []
    for _ in range(400):
        row = [
            f"{47 + rng.random():.5f}", f"{35 + rng.random():.5f}", "330.1", "0.5", "0.4",
            "2023-02-24", f"{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}", "N", "VIIRS",
            rng.choice(["l", "n", "h", "55", "", " N "]), "2.0NRT", "290.0", "1.5", "D",
        ]  # fmt: skip
        kind = rng.random()
        if kind < 0.04:
            row[0] = rng.choice(["95.0", "abc", "", "nan", "1_0", " 47.5 "])
        elif kind < 0.08:
            row[1] = rng.choice(["181", "E35", "inf", "\t36.1"])
        elif kind < 0.11:
            row[6] = rng.choice(["2460", "49", "7", "12:30", "", "0961"])
        elif kind < 0.14:
            row[5] = rng.choice(["2023-13-01", "2023-02-30", "24/02/2023", "2023-2-4"])
        elif kind < 0.16:
            row[9] = rng.choice(["x", "101", "-1"])
        elif kind < 0.19:
            row[10] = rng.choice(['say "hi"', "back\\slash", "two\nlines", "crlf\r\nend"])
        elif kind < 0.21:
            row[8] = rng.choice(["modis", "", " viirs "])
        elif kind < 0.26 and seen:
            row = list(rng.choice(seen))  # the same detection again
        if rng.random() < 0.02:
            lines.append("")
        if rng.random() < 0.02:
            lines.append(",".join(_field(v) for v in row[:9]))  # too few fields
        seen.append(row)
        lines.append(",".join(_field(v) for v in row))
    path.write_bytes(("\r\n" if seed % 2 else "\n").join(lines).encode() + b"\n")
    return path


class _PandasFirms(FirmsSource):
    """FIRMS through the generic pandas path (no ``read_tables``)."""

    read_tables = None  # type: ignore[assignment]


def _stored(store: DuckDBStore) -> tuple[pd.DataFrame, pd.DataFrame]:
    ev = store.events(with_raw=True).drop(columns=["batch_id", "recorded_at"])
    ev = ev.sort_values("line_no").reset_index(drop=True)
    q = store.quarantine()[["line_no", "reason", "raw"]].sort_values("line_no")
    return ev, q.reset_index(drop=True)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("block", [700, 3000, 1 << 20])
def test_fast_path_equals_pandas_path(tmp_path, monkeypatch, seed: int, block: int) -> None:
    path = _firms_file(tmp_path / "f.csv", seed)
    monkeypatch.setattr(FirmsSource, "block_bytes", block)
    results, stored = [], []
    for source in (FirmsSource(), _PandasFirms()):
        store = DuckDBStore(":memory:")
        try:
            results.append(ingest_file(store, source, path))
            stored.append(_stored(store))
        finally:
            store.close()
    fast, slow = results
    assert (fast.rows_read, fast.loaded, fast.quarantined) == (
        slow.rows_read,
        slow.loaded,
        slow.quarantined,
    )
    assert fast.reasons == slow.reasons
    assert fast.quarantined > 0 and fast.loaded > 0
    pd.testing.assert_frame_equal(stored[0][0], stored[1][0])
    pd.testing.assert_frame_equal(stored[0][1], stored[1][1])


def test_fast_path_versions_and_reimport(tmp_path) -> None:
    """Same records again add nothing; a re-issued record becomes version 2."""
    rows = [
        f"47.{i:05d},35.5,330.1,0.5,0.4,2023-02-24,1106,N,VIIRS,n,2.0NRT,290.0,1.5,D"
        for i in range(50)
    ]
    (tmp_path / "a.csv").write_text("\n".join([",".join(HEADER), *rows]) + "\n")
    rows[7] = rows[7].replace("290.0", "290.5")  # re-issued with a new value
    (tmp_path / "b.csv").write_text("\n".join([",".join(HEADER), *reversed(rows)]) + "\n")
    store = DuckDBStore(":memory:")
    try:
        first = ingest_file(store, FirmsSource(), tmp_path / "a.csv")
        second = ingest_file(store, FirmsSource(), tmp_path / "b.csv")
        assert (first.loaded, first.quarantined) == (50, 0)
        assert (second.loaded, second.new_version, second.unchanged) == (0, 1, 49)
        got = store.con.execute(
            "SELECT version, count(*) FROM events GROUP BY version ORDER BY version"
        ).fetchall()
        assert got == [(1, 50), (2, 1)]
        ev = store.events(with_raw=True)
        assert len(ev) == 50
        changed = ev[ev["source_event_id"].str.contains("47.00007")]
        assert json.loads(changed["raw"].iloc[0])["bright_t31"] == "290.5"
    finally:
        store.close()


def test_normalize_table_matches_normalize(tmp_path) -> None:
    """The pandas entry point (used by the API) and the Arrow one agree."""
    path = _firms_file(tmp_path / "n.csv", 3)
    header = read_header(path)
    frame, _ = next(iter(iter_csv_chunks(path, header)))
    table, _ = next(iter(iter_csv_tables(path, header)))
    source = FirmsSource()
    events, quarantine = source.normalize(frame)
    events_t, quarantine_t = source.normalize_table(table)
    pd.testing.assert_frame_equal(
        events.reset_index(drop=True), events_t.to_pandas(), check_dtype=False
    )
    pd.testing.assert_frame_equal(quarantine, quarantine_t)
    assert set(events.index) <= set(frame.index)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_quote_free_line_numbers(tmp_path, newline: str) -> None:
    rows = [["1", "a"], [], ["2", "b"], ["3"], [], [], ["4", "c"], ["5", "d", "x"], ["6", "e"]]
    text = newline.join(["n,t", *(",".join(r) for r in rows)]) + newline
    path = tmp_path / "q.csv"
    path.write_text(text, newline="")
    got_good, got_bad = [], []
    for table, bad in iter_csv_tables(path, ["n", "t"], block_bytes=7):
        got_good += list(zip(table["n"].to_pylist(), table["line_no"].to_pylist(), strict=True))
        got_bad += [b.line_no for b in bad]
    assert got_good == [("1", 2), ("2", 4), ("4", 8), ("6", 10)]
    assert sorted(got_bad) == [5, 9]


def test_fast_path_only_for_capable_store_and_source() -> None:
    assert callable(getattr(FirmsSource(), "normalize_table", None))
    assert getattr(_PandasFirms(), "read_tables", None) is None
    assert not hasattr(EventSource, "normalize_table")
    assert firms_mod.REDUCED_GEO_PRECISION_M == 1_000.0
