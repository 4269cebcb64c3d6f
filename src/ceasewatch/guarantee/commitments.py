"""Guarantors and their commitments: record validation, the status lifecycle, the scorecard.

Pure functions over dicts and frames; the store-facing operations are in
:mod:`ceasewatch.guarantee.ledger`.

The lifecycle of a commitment::

    proposed → pledged → agreed → delivered | deployed
        └──────────┴─────────┴──────────┴──────────┴──→ withdrawn

One step at a time: a commitment cannot jump from ``proposed`` to ``delivered``, go back,
or leave ``withdrawn``. Presence and monitoring are ``deployed``, armaments ``delivered``,
air defense either (a system handed over, or operated by the guarantor's own crews).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from ceasewatch.errors import CeasewatchError
from ceasewatch.guarantee import schema as gs


class LedgerError(CeasewatchError, ValueError):
    """A ledger record is invalid (missing field, unknown value, unknown reference)."""


class TransitionError(LedgerError):
    """A status change the commitment lifecycle does not allow."""


_NEXT: dict[str, tuple[str, ...]] = {
    "proposed": ("pledged", "withdrawn"),
    "pledged": ("agreed", "withdrawn"),
    "agreed": ("delivered", "deployed", "withdrawn"),
    "delivered": ("withdrawn",),
    "deployed": ("withdrawn",),
    "withdrawn": (),
}

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def allowed_next(component: str, status: str) -> tuple[str, ...]:
    """The statuses a commitment of ``component`` may move to from ``status``."""
    fulfil = gs.FULFILMENT_BY_COMPONENT.get(component, gs.FULFILLED)
    return tuple(s for s in _NEXT.get(status, ()) if s not in gs.FULFILLED or s in fulfil)


def check_transition(commitment_id: str, component: str, old: str, new: str) -> None:
    """Raise :class:`TransitionError` unless ``old → new`` is a step of the lifecycle."""
    if new not in gs.STATUSES:
        msg = (
            f"commitment {commitment_id!r}: status {new!r} is not a status; "
            f"allowed: {', '.join(gs.STATUSES)}"
        )
        raise TransitionError(msg)
    nxt = allowed_next(component, old)
    if new in nxt:
        return
    if new == old:
        why = "it already has that status"
    elif old == "withdrawn":
        why = "a withdrawn commitment is final; add a new commitment instead"
    elif new in gs.FULFILLED and new not in gs.FULFILMENT_BY_COMPONENT.get(component, ()):
        why = f"a {component} commitment is {' or '.join(sorted(allowed_fulfil(component)))}"
    elif gs.STATUSES.index(new) < gs.STATUSES.index(old):
        why = "the lifecycle does not go back"
    else:
        why = "steps cannot be skipped"
    allowed = ", ".join(nxt) if nxt else "none"
    msg = (
        f"commitment {commitment_id!r}: cannot go from {old!r} to {new!r} ({why}); "
        f"allowed from {old!r}: {allowed}"
    )
    raise TransitionError(msg)


def allowed_fulfil(component: str) -> frozenset[str]:
    return gs.FULFILMENT_BY_COMPONENT.get(component, gs.FULFILLED)


# --- record parsing -------------------------------------------------------------------
def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and value.strip() in ("", ".")


def parse_value(spec: gs.FieldSpec, value: Any) -> Any:
    """``value`` as the field's kind; raises ``ValueError`` with a message naming the field."""
    if _is_blank(value):
        return None
    kind = spec.kind
    if kind in ("text", "enum"):
        text = str(value).strip()
        if kind == "enum" and text not in spec.choices:
            msg = f"{spec.name} {text!r} is not allowed; choose one of {', '.join(spec.choices)}"
            raise ValueError(msg)
        return text
    if kind == "int":
        try:
            number = float(str(value).replace(",", "").strip())
        except ValueError:
            msg = f"{spec.name} {value!r} is not a whole number"
            raise ValueError(msg) from None
        if not number.is_integer():
            msg = f"{spec.name} {value!r} is not a whole number"
            raise ValueError(msg)
        return int(number)
    if kind == "float":
        try:
            return float(str(value).replace(",", "").strip())
        except ValueError:
            msg = f"{spec.name} {value!r} is not a number"
            raise ValueError(msg) from None
    if kind == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            msg = f"{spec.name} {value!r} is not a date YYYY-MM-DD"
            raise ValueError(msg) from None
    if kind == "list":
        if isinstance(value, list | tuple):
            items = [str(v).strip() for v in value]
        else:
            items = [v.strip() for v in str(value).split(";")]
        items = [v for v in items if v]
        return ";".join(items) if items else None
    msg = f"unknown field kind {kind!r}"
    raise AssertionError(msg)


def parse_record(
    table: gs.TableSpec, raw: Mapping[str, Any], *, partial: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """A ledger record from loose input (CSV row, YAML mapping, CLI options).

    Returns the clean record (every column of ``table``, missing ones ``None``) and every
    problem found (empty when valid). ``partial`` skips the required-field check (updates).
    """
    problems: list[str] = []
    known = set(table.columns)
    unknown = [k for k in raw if k not in known and not str(k).startswith("_")]
    if unknown:
        problems.append(
            f"unknown field(s) {', '.join(map(repr, unknown))} in {table.name}; "
            f"known: {', '.join(table.columns)}"
        )
    record: dict[str, Any] = {}
    for spec in table.fields:
        try:
            record[spec.name] = parse_value(spec, raw.get(spec.name))
        except ValueError as e:
            problems.append(str(e))
            record[spec.name] = None
            continue
        if spec.required and record[spec.name] is None and not partial:
            problems.append(f"{spec.name} is required")
    key = record.get(table.key)
    if key is not None and not _ID_RE.match(str(key)):
        problems.append(
            f"{table.key} {key!r} must be 1-64 letters, digits, '_', '-' or '.' (no spaces)"
        )
    problems += _table_checks(table.name, record)
    return record, problems


def _table_checks(table: str, r: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if table == "commitments":
        status = r.get("status")
        comp = r.get("component")
        if status in gs.FULFILLED and comp in gs.COMPONENTS and status not in allowed_fulfil(comp):
            problems.append(
                f"status {status!r} does not apply to a {comp} commitment; "
                f"use {' or '.join(sorted(allowed_fulfil(comp)))}"
            )
        for q in ("quantity", "value_eur", "delivered_quantity"):
            if r.get(q) is not None and r[q] < 0:
                problems.append(f"{q} {r[q]!r} is negative")
        # dates of the steps must not run backwards, nor lie beyond the current status
        last: tuple[str, date] | None = None
        for s in gs.STATUSES:
            d = r.get(gs.STATUS_DATE[s])
            if d is None:
                continue
            if last is not None and d < last[1]:
                problems.append(f"{s}_on {d} is before {last[0]}_on {last[1]}")
            last = (s, d)
            if status in gs.STATUSES and s != status and _later(s, status):
                problems.append(f"{s}_on is set but status is {status!r}")
    elif table == "contingents":
        if r.get("strength") is not None and r["strength"] < 0:
            problems.append(f"strength {r['strength']!r} is negative")
        problems += _lonlat(r.get("base_lon"), r.get("base_lat"), "base_lon", "base_lat")
        problems += _span(r)
    elif table == "protected_zones":
        if r.get("kind") == "site":
            if r.get("lon") is None or r.get("lat") is None or r.get("radius_km") is None:
                problems.append("a site zone needs lon, lat and radius_km")
            elif r["radius_km"] <= 0:
                problems.append(f"radius_km {r['radius_km']!r} must be positive")
            problems += _lonlat(r.get("lon"), r.get("lat"), "lon", "lat")
        elif r.get("kind") == "polygon":
            problems += _polygon_problems(r.get("geometry_wkt"))
        problems += _span(r)
    elif table == "guarantor_support":
        if r.get("provider_id") is not None and r.get("provider_id") == r.get("recipient_id"):
            problems.append(f"provider_id and recipient_id are both {r['provider_id']!r}")
        problems += _span(r)
    elif table == "meetings":
        cands = (r.get("venue_candidates") or "").split(";")
        venue = r.get("venue")
        if venue and r.get("venue_candidates") and venue not in cands:
            problems.append(f"venue {venue!r} is not among venue_candidates ({', '.join(cands)})")
        n = len((r.get("participants") or "").split(";")) if r.get("participants") else 0
        fmt = r.get("format")
        need = {"bilateral": (2, 2), "trilateral": (3, 3), "multilateral": (3, 10_000)}
        if fmt in need and n and not need[fmt][0] <= n <= need[fmt][1]:
            problems.append(f"a {fmt} meeting with {n} participant(s)")
    return problems


def _later(step: str, status: str) -> bool:
    """Whether ``step`` comes after ``status`` in the lifecycle (so it cannot have a date)."""
    if status == "withdrawn":
        return False
    if step == "withdrawn":
        return True
    if step in gs.FULFILLED and status in gs.FULFILLED:
        return True  # the other way of being fulfilled
    return gs.STATUSES.index(step) > gs.STATUSES.index(status)


def _lonlat(lon: float | None, lat: float | None, lon_name: str, lat_name: str) -> list[str]:
    out = []
    if lon is not None and not -180 <= lon <= 180:
        out.append(f"{lon_name} {lon!r} is outside -180..180")
    if lat is not None and not -90 <= lat <= 90:
        out.append(f"{lat_name} {lat!r} is outside -90..90")
    if (lon is None) != (lat is None):
        out.append(f"give both {lon_name} and {lat_name}, or neither")
    return out


def _span(r: dict[str, Any]) -> list[str]:
    s, e = r.get("start_date"), r.get("end_date")
    if s is not None and e is not None and e < s:
        return [f"end_date {e} is before start_date {s}"]
    return []


def _polygon_problems(wkt: str | None) -> list[str]:
    if not wkt:
        return ["a polygon zone needs geometry_wkt"]
    import shapely

    try:
        geom = shapely.from_wkt(wkt)
    except Exception as e:  # shapely raises its own GEOSException
        return [f"geometry_wkt is not valid WKT: {e}"]
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return [f"geometry_wkt is a {geom.geom_type}, expected Polygon or MultiPolygon"]
    return []


def apply_status(
    record: dict[str, Any],
    new: str,
    *,
    on: date,
    delivered_quantity: float | None = None,
) -> dict[str, Any]:
    """The commitment after a status change on ``on`` (checked; the input is unchanged)."""
    check_transition(str(record["commitment_id"]), str(record["component"]), record["status"], new)
    prev_dates = [
        record[gs.STATUS_DATE[s]] for s in gs.STATUSES if record.get(gs.STATUS_DATE[s]) is not None
    ]
    latest = max(prev_dates) if prev_dates else None
    if latest is not None and on < latest:
        msg = (
            f"commitment {record['commitment_id']!r}: {new} on {on} is before the last "
            f"recorded step ({latest})"
        )
        raise TransitionError(msg)
    out = dict(record)
    out["status"] = new
    out[gs.STATUS_DATE[new]] = on
    if delivered_quantity is not None:
        if delivered_quantity < 0:
            msg = f"delivered_quantity {delivered_quantity!r} is negative"
            raise LedgerError(msg)
        out["delivered_quantity"] = delivered_quantity
    elif new in gs.FULFILLED and out.get("delivered_quantity") is None:
        out["delivered_quantity"] = out.get("quantity")
    return out


# --- scorecard ------------------------------------------------------------------------
def overdue(commitments: pd.DataFrame, *, as_of: date) -> pd.DataFrame:
    """Commitments promised (pledged or agreed) whose ``due_date`` is before ``as_of``.

    A proposal is not yet a promise and is never overdue; a fulfilled or withdrawn one is
    not either. ``days_overdue`` counts whole days after the due date.
    """
    if commitments.empty:
        return commitments.assign(days_overdue=pd.Series(dtype="int64"))
    due = pd.to_datetime(commitments["due_date"])
    mask = commitments["status"].isin(["pledged", "agreed"]) & due.notna()
    mask &= due < pd.Timestamp(as_of)
    out = commitments[mask].copy()
    out["days_overdue"] = (pd.Timestamp(as_of) - due[mask]).dt.days.astype("int64")
    return out.sort_values("days_overdue", ascending=False)


def short_delivered(commitments: pd.DataFrame) -> pd.DataFrame:
    """Fulfilled commitments whose delivered quantity is below the committed one."""
    if commitments.empty:
        return commitments
    q = pd.to_numeric(commitments["quantity"], errors="coerce")
    dq = pd.to_numeric(commitments["delivered_quantity"], errors="coerce")
    mask = commitments["status"].isin(gs.FULFILLED) & q.notna() & dq.notna() & (dq < q)
    return commitments[mask]


def scorecard(
    commitments: pd.DataFrame, *, as_of: date, guarantors: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Guarantor × component: how many commitments at each status, value committed vs
    delivered, and what is overdue on ``as_of``.

    Values are in euros where the ledger gives them (``value_eur``); quantities are not
    summed across units. ``delivery_ratio`` is delivered value / committed value (NaN when
    nothing committed has a value).
    """
    cols = [
        "guarantor_id",
        "component",
        "n_commitments",
        *[f"n_{s}" for s in gs.STATUSES],
        "committed_value_eur",
        "delivered_value_eur",
        "delivery_ratio",
        "n_overdue",
        "max_days_overdue",
    ]
    if commitments.empty:
        return pd.DataFrame(columns=cols)
    c = commitments.copy()
    value = pd.to_numeric(c["value_eur"], errors="coerce")
    q = pd.to_numeric(c["quantity"], errors="coerce")
    dq = pd.to_numeric(c["delivered_quantity"], errors="coerce")
    # a partial delivery delivers its share of the value
    share = (dq / q).where(q > 0).clip(0, 1).fillna(1.0)
    c["_committed_v"] = value.where(c["status"].isin(gs.COMMITTED), 0.0).fillna(0.0)
    c["_delivered_v"] = (value * share).where(c["status"].isin(gs.FULFILLED), 0.0).fillna(0.0)
    c["_has_value"] = value.notna() & c["status"].isin(gs.COMMITTED)
    for s in gs.STATUSES:
        c[f"n_{s}"] = (c["status"] == s).astype("int64")
    od = overdue(commitments, as_of=as_of)
    c["_overdue"] = c["commitment_id"].isin(od["commitment_id"]).astype("int64")
    c["_days"] = c["commitment_id"].map(od.set_index("commitment_id")["days_overdue"]).fillna(0)
    g = c.groupby(["guarantor_id", "component"], sort=True)
    out = g.agg(
        n_commitments=("commitment_id", "size"),
        **{f"n_{s}": (f"n_{s}", "sum") for s in gs.STATUSES},
        committed_value_eur=("_committed_v", "sum"),
        delivered_value_eur=("_delivered_v", "sum"),
        _has_value=("_has_value", "any"),
        n_overdue=("_overdue", "sum"),
        max_days_overdue=("_days", "max"),
    ).reset_index()
    out["delivery_ratio"] = (out["delivered_value_eur"] / out["committed_value_eur"]).where(
        out["_has_value"] & (out["committed_value_eur"] > 0)
    )
    out["max_days_overdue"] = out["max_days_overdue"].astype("int64")
    out = out.drop(columns="_has_value")
    if guarantors is not None and not guarantors.empty:
        names = guarantors.set_index("guarantor_id")["name"]
        out.insert(1, "guarantor", out["guarantor_id"].map(names).fillna(out["guarantor_id"]))
        cols.insert(1, "guarantor")
    return out[cols]


def delivery_lag(commitments: pd.DataFrame) -> pd.DataFrame:
    """Days from pledge to delivery/deployment of each fulfilled commitment."""
    c = commitments[commitments["status"].isin(gs.FULFILLED)].copy()
    start = pd.to_datetime(c["pledged_on"]).fillna(pd.to_datetime(c["agreed_on"]))
    end = pd.to_datetime(c["delivered_on"]).fillna(pd.to_datetime(c["deployed_on"]))
    c["lag_days"] = (end - start).dt.days
    return c[["commitment_id", "guarantor_id", "component", "lag_days"]]
