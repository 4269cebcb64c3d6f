"""The raw-record JSON built in SQL equals DuckDB's own ``to_json`` of the row, byte for
byte, and the byte scan behind its shortcuts finds exactly the bytes asked for."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ceasewatch.ingest.base import (
    JSON_SPECIAL_BYTES,
    json_connection,
    json_lock,
    json_object_sql,
    text_has_bytes,
)

# ASCII, JSON's special characters, white space and a few multi-byte characters
_TEXT = st.text(alphabet=st.sampled_from(list('ab1.,-"\\\n\t\x00 é€𝄞')), max_size=8)
_COLUMN = st.lists(st.one_of(st.none(), _TEXT), min_size=1, max_size=6)


def _to_json(table: pa.Table, *, pass_table: bool) -> tuple[list[str], list[str]]:
    cols = table.column_names
    with json_lock():
        con = json_connection()
        con.register("_t", table)
        try:
            expr = json_object_sql(con, "_t", cols, table if pass_table else None)
            ours = [r[0] for r in con.execute(f"SELECT {expr} FROM _t t").fetchall()]
            theirs = [r[0] for r in con.execute("SELECT to_json(t)::VARCHAR FROM _t t").fetchall()]
        finally:
            con.unregister("_t")
    return ours, theirs


@settings(max_examples=150, deadline=None)
@given(
    columns=st.lists(_COLUMN, min_size=1, max_size=4),
    names=st.lists(st.sampled_from(["a", "b", "latitude", "x y"]), min_size=4, max_size=4),
    pass_table=st.booleans(),
)
def test_json_object_equals_to_json(
    columns: list[list[str | None]], names: list[str], pass_table: bool
) -> None:
    n = min(len(c) for c in columns)
    used = list(dict.fromkeys(names))[: len(columns)]
    columns = columns[: len(used)]
    table = pa.table(
        {name: pa.array(c[:n], pa.string()) for name, c in zip(used, columns, strict=True)}
    )
    ours, theirs = _to_json(table, pass_table=pass_table)
    assert ours == theirs


def test_json_object_with_numbers_and_no_nulls() -> None:
    # the pieces of the concat: literal keys merged around columns without NULL
    table = pa.table(
        {
            "lat": pa.array(["47.1", "", "-3"]),
            "note": pa.array(['say "hi"', None, "a\\b"]),
            "n": pa.array([1, None, 3], pa.int64()),
        }
    )
    ours, theirs = _to_json(table, pass_table=True)
    assert ours == theirs
    assert ours[0] == '{"lat":"47.1","note":"say \\"hi\\"","n":1}'


@settings(max_examples=200, deadline=None)
@given(values=st.lists(_TEXT, max_size=6), offset=st.integers(0, 3))
def test_text_has_bytes_finds_exactly_the_masked_bytes(values: list[str], offset: int) -> None:
    array = pa.array(values, pa.string())
    data = "".join(values).encode()
    expected = any(JSON_SPECIAL_BYTES[b] for b in data)
    assert text_has_bytes(array, JSON_SPECIAL_BYTES) == expected
    chunked = pa.chunked_array([array.slice(0, offset), array.slice(offset)], pa.string())
    assert text_has_bytes(chunked, JSON_SPECIAL_BYTES) == expected
    nothing = np.zeros(256, dtype=bool)
    assert not text_has_bytes(array, nothing)
    everything = np.ones(256, dtype=bool)
    assert text_has_bytes(array, everything) == bool(data)
