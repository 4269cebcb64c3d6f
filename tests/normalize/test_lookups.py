"""The per-record lookups of time spans and Admiralty weights, done once per distinct
value, give what a comparison per code and a pandas ``map`` gave."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from ceasewatch.normalize import vocab
from ceasewatch.normalize.timeprec import PRECISION_SPAN_S, time_bounds


def reference_time_bounds(
    t: npt.NDArray[np.float64], precision: npt.NDArray[Any], window: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    before = np.zeros(len(precision))
    after = np.zeros(len(precision))
    for code, (b, a) in PRECISION_SPAN_S.items():
        mask = precision == code
        before[mask] = b
        after[mask] = a
    return t - before, t + np.maximum(after, np.nan_to_num(window))


def reference_weight(reliability: npt.NDArray[Any], credibility: npt.NDArray[Any]) -> Any:
    r = pd.Series(reliability, dtype=object).map(vocab.RELIABILITY_WEIGHT).fillna(0.3)
    c = pd.Series(credibility, dtype=object).map(vocab.CREDIBILITY_WEIGHT).fillna(0.5)
    return r.to_numpy(dtype=float) * c.to_numpy(dtype=float)


_CODES = [*PRECISION_SPAN_S, "fortnight", "", None, float("nan")]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_CODES),
            st.sampled_from([0.0, 3_600.0, 86_400.0 * 3, float("nan")]),
            st.floats(1.6e9, 1.8e9),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_time_bounds_equal_a_comparison_per_code(rows: list[tuple[Any, float, float]]) -> None:
    precision = np.array([r[0] for r in rows], dtype=object)
    window = np.array([r[1] for r in rows])
    t = np.array([r[2] for r in rows])
    got = time_bounds(t, precision, window)
    want = reference_time_bounds(t, precision, window)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*"ABCDEF", "G", "", None]),
            st.sampled_from([1, 2, 3, 4, 5, 6, 0, 9]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_admiralty_weight_equals_the_pandas_map(rows: list[tuple[Any, int]]) -> None:
    reliability = np.array([r[0] for r in rows], dtype=object)
    credibility = np.array([r[1] for r in rows], dtype=np.int64)
    got = vocab.admiralty_weight(reliability, credibility)
    np.testing.assert_array_equal(got, reference_weight(reliability, credibility))
