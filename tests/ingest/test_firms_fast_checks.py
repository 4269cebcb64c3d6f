"""FIRMS normaliser shortcuts give what the general checks give.

* Coordinates written with digits, ``.``, ``e``, ``E`` and ``-`` alone are cast without
  the number pattern: over that alphabet DuckDB's cast refuses whatever the pattern
  refuses (Hypothesis, against the pattern-checked expression).
* A chunk from the quote-free reader names the uncommon bytes of its file; without white
  space or JSON-special bytes among them the columns are not scanned: the events are the
  same as for the same chunk without that knowledge.
"""

from __future__ import annotations

import itertools

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ceasewatch.ingest.base import get_source
from ceasewatch.ingest.csvstream import UNCOMMON_BYTES_KEY
from ceasewatch.ingest.firms import _NOT_PLAIN_NUMBER_BYTES, _number
from ceasewatch.normalize import schema

# the bytes the shortcut takes (so widening it without care fails here)
ALPHABET = "".join(chr(b) for b in range(256) if not _NOT_PLAIN_NUMBER_BYTES[b])
PLAIN = st.text(alphabet=ALPHABET, max_size=14)


def test_plain_cast_agrees_on_every_short_text() -> None:
    """Every text of up to 4 characters over the alphabet (digits other than 0 and 1
    behave as 1 does, so they are left out to keep it small)."""
    small = [c for c in ALPHABET if c not in "23456789"]
    values = [""]
    for n in range(1, 5):
        values += ["".join(p) for p in itertools.product(small, repeat=n)]
    _check(values)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(PLAIN, min_size=1, max_size=40))
def test_plain_cast_agrees_with_the_number_pattern(values: list[str]) -> None:
    _check(values)


def _check(values: list[str]) -> None:
    con = duckdb.connect()
    vals = pa.table({"x": values})  # noqa: F841 - read by the query below
    rows = con.sql(f"SELECT {_number('x', plain=True)}, {_number('x')} FROM vals").fetchall()
    for value, (fast, checked) in zip(values, rows, strict=True):
        assert fast == checked or (fast != fast and checked != checked), value


HEADER = ["latitude", "longitude", "acq_date", "acq_time", "satellite", "instrument",
          "confidence"]  # fmt: skip
CELL = st.sampled_from(
    ["47.5", "-33.25", "1e1", "91", "", "2025-09-20", "0705", "705", "N", "VIIRS", "h",
     "n", "55", " 47.5 ", "x y", "a\tb", 'q"q', "back\\slash", "é", "2025-13-40"]
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(CELL, min_size=7, max_size=7), min_size=1, max_size=30))
def test_uncommon_bytes_shortcut_gives_the_same_events(rows: list[list[str]]) -> None:
    columns = {h: pa.array([r[i] for r in rows], pa.string()) for i, h in enumerate(HEADER)}
    columns[schema.LINE_NO] = pa.array(range(2, len(rows) + 2), pa.int64())
    plain = pa.table(columns)
    # what the reader would record: every uncommon byte of the values
    text = "".join(v for r in rows for v in r).encode()
    uncommon = bytes(sorted({b for b in text if not 0x21 <= b < 0x7F or b in b'"\\'}))
    known = plain.replace_schema_metadata({UNCOMMON_BYTES_KEY: uncommon})
    source = get_source("firms")
    ev_a, q_a = source.normalize_table(plain)
    ev_b, q_b = source.normalize_table(known)
    assert ev_a.equals(ev_b)
    assert q_a.equals(q_b)
