"""Frames the DuckDB store hands to DuckDB: as Arrow, with the values DuckDB reads from
pandas itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ceasewatch.store.duckdb import DuckDBStore, _as_arrow


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.5, np.nan, None],
            "s": pd.Series(["a", None, "é"], dtype="str"),
            "o": pd.Series([None, "b", None], dtype=object),
            "t": pd.to_datetime(["2025-01-01T00:00:00Z", None, "2025-01-02T12:30:00Z"]),
            "i": [1, 2, 3],
        },
        index=[10, 20, 30],
    )


def test_a_frame_goes_as_arrow_and_reads_the_same() -> None:
    frame = _frame()
    table = _as_arrow(frame)
    assert isinstance(table, pa.Table)
    assert table.column_names == list(frame.columns)  # the index left out
    st = DuckDBStore(":memory:")
    st.con.register("_pandas", frame)
    st._register("_arrow", frame)
    q = "SELECT x, x IS NULL, s, o, t, i FROM {} ORDER BY i"
    assert st.con.execute(q.format("_arrow")).fetchall() == (
        st.con.execute(q.format("_pandas")).fetchall()
    )
    st.close()


def test_a_frame_arrow_cannot_type_goes_as_it_is() -> None:
    mixed = pd.DataFrame({"m": pd.Series([1, "two", 3.0], dtype=object)})
    assert _as_arrow(mixed) is mixed
    table = pa.table({"a": [1]})
    assert _as_arrow(table) is table
    st = DuckDBStore(":memory:")
    st._register("_mixed", mixed)
    assert st.con.execute("SELECT count(*) FROM _mixed").fetchall() == [(3,)]
    st.close()
