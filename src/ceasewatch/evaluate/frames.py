"""Small vectorized frame helpers shared by the evaluation functions."""

from __future__ import annotations

import pandas as pd


def join_unique(frame: pd.DataFrame, key: str, col: str, *, sep: str = ";") -> pd.Series:
    """Per ``key``: the sorted distinct non-null values of ``col`` joined by ``sep``.

    Keys whose values are all null get an empty string. Single-valued groups (the common
    case) are taken directly; only groups with several values are joined in Python.
    """
    keys = pd.Index(frame[key].drop_duplicates())
    sub = frame[[key, col]].dropna().drop_duplicates()
    sub = sub.assign(**{col: sub[col].astype(str)}).sort_values([key, col])
    sizes = sub.groupby(key, sort=False)[col].transform("size").to_numpy()
    single = sub[sizes == 1].set_index(key)[col]
    multi_rows = sub[sizes > 1]
    multi = multi_rows.groupby(key, sort=False)[col].agg(sep.join)
    out = pd.concat([single, multi])
    return out.reindex(keys).fillna("").astype(object)
