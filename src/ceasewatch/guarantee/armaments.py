"""Armaments: pledged vs delivered by donor, category and value; the heavy-weapon gap.

Pure functions over the frames of :func:`ceasewatch.guarantee.importers.kiel_from_workbook`
(or the store's ``aid_kiel`` / ``heavy_weapons_kiel``). Kiel values in-kind items with its
own market-price estimates (USD, per item) and gives package totals in EUR on the first row
of each package. A missing delivered value counts as nothing delivered, so delivered
figures and ratios are lower bounds. Release 7 has no delivery dates, so the delivery lag
comes from the ledger (:func:`ceasewatch.guarantee.commitments.delivery_lag`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _military(aid: pd.DataFrame, aid_type: str | None) -> pd.DataFrame:
    if aid.empty or aid_type is None:
        return aid
    return aid[aid["aid_type"] == aid_type]


def aid_by_donor(aid: pd.DataFrame, *, aid_type: str | None = "Military") -> pd.DataFrame:
    """Per donor: packages and items, committed vs delivered value, delivery ratio.

    ``committed_eur``/``delivered_eur``: package totals in EUR (first row of each package);
    ``committed_usd``/``delivered_usd``: Kiel's own item estimates in USD. ``delivery_ratio``
    is delivered_usd / committed_usd over items that have a committed estimate.
    """
    cols = [
        "donor",
        "n_packages",
        "n_items",
        "committed_eur",
        "delivered_eur",
        "committed_usd",
        "delivered_usd",
        "delivery_ratio",
    ]
    a = _military(aid, aid_type)
    if a.empty:
        return pd.DataFrame(columns=cols)
    first = a[a["package_first"].astype(bool)]
    pk = first.groupby("donor").agg(
        n_packages=("aid_id", "nunique"),
        committed_eur=("package_value_eur", "sum"),
        delivered_eur=("package_delivered_eur", "sum"),
    )
    valued = a[a["value_committed_usd"].notna()]
    it = a.groupby("donor").agg(n_items=("aid_id", "size"))
    est = valued.groupby("donor").agg(
        committed_usd=("value_committed_usd", "sum"),
        delivered_usd=("value_delivered_usd", lambda s: s.fillna(0).sum()),
    )
    out = it.join(pk, how="left").join(est, how="left").reset_index()
    for c in ("n_packages",):
        out[c] = out[c].fillna(0).astype("int64")
    for c in ("committed_eur", "delivered_eur", "committed_usd", "delivered_usd"):
        out[c] = out[c].fillna(0.0)
    out["delivery_ratio"] = (out["delivered_usd"] / out["committed_usd"]).where(
        out["committed_usd"] > 0
    )
    return out[cols].sort_values("committed_eur", ascending=False).reset_index(drop=True)


def aid_by_category(aid: pd.DataFrame, *, by_donor: bool = False) -> pd.DataFrame:
    """Military items by weapon category (air_defense, artillery, armour, ...): units and
    estimated value committed vs delivered, the gap and the delivery ratio."""
    keys = ["donor", "category"] if by_donor else ["category"]
    a = _military(aid, "Military")
    cols = [
        *keys,
        "n_items",
        "units_committed",
        "units_delivered",
        "committed_usd",
        "delivered_usd",
        "gap_usd",
        "delivery_ratio",
    ]
    if a.empty:
        return pd.DataFrame(columns=cols)
    a = a.assign(
        category=a["category"].fillna("unspecified"),
        _dv=a["value_delivered_usd"].where(a["value_committed_usd"].notna()).fillna(0.0),
    )
    g = a.groupby(keys).agg(
        n_items=("aid_id", "size"),
        units_committed=("units_committed", "sum"),
        units_delivered=("units_delivered", "sum"),
        committed_usd=("value_committed_usd", "sum"),
        delivered_usd=("_dv", "sum"),
    )
    g["gap_usd"] = g["committed_usd"] - g["delivered_usd"]
    g["delivery_ratio"] = (g["delivered_usd"] / g["committed_usd"]).where(g["committed_usd"] > 0)
    return g.reset_index()[cols].sort_values("committed_usd", ascending=False)


def heavy_weapons_gap(heavy: pd.DataFrame, *, by: tuple[str, ...] = ("category",)) -> pd.DataFrame:
    """Heavy-weapon systems committed vs delivered (units), grouped by ``by`` columns
    (``category``, ``donor``, ``system``...). A system the delivered sheet does not list
    counts as zero delivered and is flagged in ``n_unreported``."""
    cols = [*by, "committed", "delivered", "gap", "delivery_ratio", "n_unreported"]
    if heavy.empty:
        return pd.DataFrame(columns=cols)
    h = heavy.assign(
        _d=heavy["delivered"].fillna(0.0),
        _u=(~heavy["delivered_reported"].astype(bool)).astype("int64"),
    )
    g = h.groupby(list(by)).agg(
        committed=("committed", "sum"), delivered=("_d", "sum"), n_unreported=("_u", "sum")
    )
    g["gap"] = g["committed"] - g["delivered"]
    g["delivery_ratio"] = (g["delivered"] / g["committed"]).where(g["committed"] > 0)
    return g.reset_index()[cols].sort_values("committed", ascending=False).reset_index(drop=True)


def aid_by_month(aid: pd.DataFrame, *, aid_type: str | None = "Military") -> pd.DataFrame:
    """Committed package value (EUR) by announcement month; ``until``/``between`` dates
    count in the month of their upper bound."""
    a = _military(aid, aid_type)
    if a.empty:
        return pd.DataFrame(columns=["month", "committed_eur", "n_packages"])
    first = a[a["package_first"].astype(bool)].copy()
    first["month"] = pd.to_datetime(first["announced_on"]).dt.to_period("M").dt.to_timestamp()
    g = first.groupby("month").agg(
        committed_eur=("package_value_eur", "sum"), n_packages=("aid_id", "nunique")
    )
    return g.reset_index()


def losses_context(losses_mod: pd.DataFrame, categories: tuple[str, ...]) -> pd.DataFrame:
    """MoD cumulative claims for ``categories`` as a wide daily frame (index = date)."""
    if losses_mod.empty:
        return pd.DataFrame()
    m = losses_mod[losses_mod["category"].isin(categories)]
    wide = m.pivot_table(index="date", columns="category", values="cumulative", aggfunc="last")
    wide.index = pd.to_datetime(wide.index)
    return wide.sort_index().replace([np.inf, -np.inf], np.nan)
