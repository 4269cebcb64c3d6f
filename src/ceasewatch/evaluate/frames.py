"""Small vectorized frame helpers shared by the evaluation functions."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def join_unique(frame: pd.DataFrame, key: str, col: str, *, sep: str = ";") -> pd.Series:
    """Per ``key`` (in order of first appearance): the sorted distinct non-null values of
    ``col`` joined by ``sep``; keys whose values are all null get an empty string."""
    codes, keys = pd.factorize(frame[key])
    ok = codes >= 0
    joined = join_unique_codes(
        np.asarray(codes[ok], dtype=np.int64), len(keys), frame[col][ok], sep=sep
    )
    return pd.Series(joined, index=pd.Index(keys), dtype=object)


def join_unique_codes(
    key: npt.NDArray[np.int64], n_keys: int, col: pd.Series, *, sep: str = ";"
) -> npt.NDArray[Any]:
    """Per key ``0 .. n_keys - 1``: the sorted distinct non-null values of ``col`` (as
    text) joined by ``sep``, "" when there are none; no Python call per key (the distinct
    (key, value) pairs are found on integer codes and joined by Arrow)."""
    ok = col.notna().to_numpy(dtype=bool)
    if not ok.any():
        return np.full(n_keys, "", dtype=object)
    codes, uniques = pd.factorize(col[ok].astype(str), sort=True)
    m = len(uniques)
    flat = key[ok].astype(np.int64) * m + codes
    if n_keys * m <= 8 * len(flat) + 4096:
        # few distinct values (categories, sources): a mark per (key, value) finds the
        # distinct pairs, in order, without sorting every row
        seen = np.zeros(n_keys * m, dtype=bool)
        seen[flat] = True
        pairs = np.flatnonzero(seen)
    else:
        pairs = np.unique(flat)
    counts = np.bincount(pairs // m, minlength=n_keys)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]), type=pa.int64())
    values = pc.take(pa.array(np.asarray(uniques, dtype=object), type=pa.large_string()), pairs % m)
    lists = pa.LargeListArray.from_arrays(offsets, values)
    glue = pa.scalar(sep, pa.large_string())
    return np.asarray(pc.binary_join(lists, glue).to_numpy(zero_copy_only=False), dtype=object)
