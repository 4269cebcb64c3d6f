"""Corroboration invariants, checked against an independent pairwise rule.

The rule (`_reference_links`) is written here from the documented definition: two records
link when they come from different report groups, their categories share a group, their
location discs (geodesic distance, pyproj) come within ``link_tolerance_m`` and their time
intervals (``normalize.timeprec.time_bounds``, a fire opened by ``fire_lead_s``) within
``time_tolerance_s``. Precise records are those known to better than
``coarse_time_span_s`` and ``coarse_geo_precision_m``; the others are coarse.

What is guaranteed, and tested:

* idempotent and independent of the input order (also of the index);
* no incident holds two records of one report group;
* no chain through a coarse record: the precise members of an incident are connected by
  links among themselves; a coarse member is linked to one of them (or, in an incident
  without precise members, to another coarse member);
* monotone: when no two records share a report group, the precise records' incidents are
  exactly the connected components of their links, so adding any event (precise or
  coarse) never separates two precise records: the only records an added event can
  separate are coarse ones (a coarse record moves to a better match, or a day-long
  record's complete-linkage group changes).

What cannot be guaranteed by any method, shown by `test_no_method_is_monotone_...`:
monotonicity for every addition together with the same-report cannot-link (a record
compatible with two records of one report), or together with "no chain through a coarse
record" (a coarse record compatible with two separate precise incidents).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from test_corroborate_rules import acled, at, firms, frame

from ceasewatch.evaluate.corroborate import (
    CATEGORY_GROUPS,
    CorroborationParams,
    corroborate,
)
from ceasewatch.normalize import schema
from ceasewatch.normalize.timeprec import time_bounds

GEOD = Geod(ellps="WGS84")
P = CorroborationParams()
DAY0 = pd.Timestamp("2023-06-01T00:00:00Z")

#: kind -> (source, time precision, geo precision m, window s, categories)
_KINDS: dict[str, tuple[str, str, float, float, tuple[str, ...]]] = {
    "firms": ("firms", "minute", 375.0, 0.0, ("fire_detection",)),
    "field": ("field_report", "minute", 1_500.0, 1_800.0, ("explosion_observed", "protest")),
    "eor": ("eor", "minute", 500.0, 0.0, ("shelling", "drone_strike", "armed_clash")),
    "acled": ("acled", "day", 2_000.0, 0.0, ("shelling", "armed_clash")),
    "acled_town": ("acled", "day", 15_000.0, 0.0, ("shelling",)),
    "claims": ("claims", "day", 5_000.0, 0.0, ("shelling",)),
}


def _row(draw: st.DrawFn, k: int, group: str | None) -> dict:
    kind = draw(st.sampled_from(sorted(_KINDS)))
    source, prec, geo, window, cats = _KINDS[kind]
    return {
        schema.EVENT_ID: f"e{draw(st.integers(0, 999)):03d}-{k}",
        schema.SOURCE: source,
        schema.TIME_PRECISION: prec,
        schema.TIME_WINDOW_S: window,
        schema.GEO_PRECISION_M: geo,
        schema.OCCURRED_AT: DAY0 + pd.Timedelta(minutes=draw(st.integers(0, 2 * 24 * 60))),
        schema.CATEGORY: draw(st.sampled_from(cats)),
        schema.REPORT_GROUP: group if group is not None else f"{source}:{k}",
        schema.RECORDED_AT: pd.Timestamp("2023-06-05T00:00:00Z")
        + pd.Timedelta(hours=draw(st.integers(0, 1))),
        **at(draw(st.floats(0, 12_000)), draw(st.floats(0, 12_000))),
    }


@st.composite
def distinct_reports(draw: st.DrawFn) -> list[dict]:
    """Event rows, each its own report (no cannot-link between any two)."""
    return [_row(draw, k, None) for k in range(draw(st.integers(1, 12)))]


@st.composite
def shared_reports(draw: st.DrawFn) -> list[dict]:
    """Event rows whose report groups come from a small pool (many cannot-links)."""
    n = draw(st.integers(2, 14))
    return [_row(draw, k, f"g{draw(st.integers(0, 3))}") for k in range(n)]


def _incidents(rows: list[dict]) -> dict[str, str]:
    ev = frame(*rows)
    return dict(zip(ev[schema.EVENT_ID], corroborate(ev), strict=True))


def _coarse(rows: list[dict]) -> dict[str, bool]:
    lo, hi = _bounds(rows)
    return {
        r[schema.EVENT_ID]: bool(
            (h - lo_ > P.coarse_time_span_s) or r[schema.GEO_PRECISION_M] > P.coarse_geo_precision_m
        )
        for r, lo_, h in zip(rows, lo, hi, strict=True)
    }


def _bounds(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    t = np.array([r[schema.OCCURRED_AT].value / 1e9 for r in rows])
    lo, hi = time_bounds(
        t,
        np.array([r[schema.TIME_PRECISION] for r in rows], dtype=object),
        np.array([r[schema.TIME_WINDOW_S] for r in rows], dtype=float),
    )
    fire = np.array([r[schema.CATEGORY] == "fire_detection" for r in rows])
    return np.where(fire, lo - P.fire_lead_s, lo), hi


def _compatible(a: str, b: str) -> bool:
    return a == b or any(a in g and b in g for g in CATEGORY_GROUPS.values())


def _reference_links(rows: list[dict]) -> set[frozenset[str]]:
    """Every linked pair of event ids, from the documented pairwise rule."""
    lo, hi = _bounds(rows)
    out = set()
    for i, a in enumerate(rows):
        for j in range(i + 1, len(rows)):
            b = rows[j]
            _, _, d = GEOD.inv(a[schema.LON], a[schema.LAT], b[schema.LON], b[schema.LAT])
            if (
                a[schema.REPORT_GROUP] != b[schema.REPORT_GROUP]
                and _compatible(a[schema.CATEGORY], b[schema.CATEGORY])
                and d <= a[schema.GEO_PRECISION_M] + b[schema.GEO_PRECISION_M] + P.link_tolerance_m
                and lo[i] - P.time_tolerance_s <= hi[j]
                and lo[j] - P.time_tolerance_s <= hi[i]
            ):
                out.add(frozenset((a[schema.EVENT_ID], b[schema.EVENT_ID])))
    return out


def _near_boundary(rows: list[dict]) -> bool:
    """Whether two records lie within a metre of their reach (where the geodesic of this
    test and corroboration's local ellipsoidal distance may round differently)."""
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            _, _, d = GEOD.inv(a[schema.LON], a[schema.LAT], b[schema.LON], b[schema.LAT])
            reach = a[schema.GEO_PRECISION_M] + b[schema.GEO_PRECISION_M] + P.link_tolerance_m
            if abs(d - reach) < 1.0:
                return True
    return False


def _components(nodes: list[str], edges: set[frozenset[str]]) -> dict[str, int]:
    label = {v: k for k, v in enumerate(nodes)}
    changed = True
    while changed:
        changed = False
        for e in edges:
            u, v = tuple(e)
            if u in label and v in label and label[u] != label[v]:
                label[u] = label[v] = min(label[u], label[v])
                changed = True
    return label


def _together(inc: dict[str, str]) -> set[frozenset[str]]:
    ids = sorted(inc)
    return {frozenset((a, b)) for k, a in enumerate(ids) for b in ids[k + 1 :] if inc[a] == inc[b]}


def _unique_ids(rows: list[dict]) -> list[dict]:
    seen: set[str] = set()
    out = []
    for r in rows:
        if r[schema.EVENT_ID] not in seen:
            seen.add(r[schema.EVENT_ID])
            out.append(r)
    return out


@settings(max_examples=60, deadline=None)
@given(rows=shared_reports(), seed=st.integers(0, 2**32 - 1))
def test_idempotent_and_independent_of_input_order(rows: list[dict], seed: int) -> None:
    rows = _unique_ids(rows)
    ev = frame(*rows)
    base = _incidents(rows)
    perm = np.random.default_rng(seed).permutation(len(ev))
    shuffled = ev.iloc[perm].set_axis(np.arange(50, 50 + len(ev))[::-1])
    inc = corroborate(shuffled)
    assert inc.index.equals(shuffled.index)
    assert dict(zip(shuffled[schema.EVENT_ID], inc, strict=True)) == base
    assert _incidents(rows) == base


@settings(max_examples=60, deadline=None)
@given(rows=shared_reports())
def test_no_report_twice_and_no_chain_through_a_coarse_record(rows: list[dict]) -> None:
    rows = _unique_ids(rows)
    assume(not _near_boundary(rows))
    inc = _incidents(rows)
    links = _reference_links(rows)
    coarse = _coarse(rows)
    # every pair put together is a chain of links (precision respected)
    group = {r[schema.EVENT_ID]: r[schema.REPORT_GROUP] for r in rows}
    for members in pd.Series(inc).groupby(pd.Series(inc)).groups.values():
        m = list(members)
        assert len({group[e] for e in m}) == len(m), "two records of one report together"
        precise = [e for e in m if not coarse[e]]
        if precise:
            # the precise members are joined by links among themselves, not via coarse ones
            assert len(set(_components(precise, links).values())) == 1
            for e in m:
                if coarse[e]:
                    assert any(frozenset((e, p)) in links for p in precise)
        else:
            # coarse records alone join by complete linkage: every pair linked
            assert all(frozenset((a, b)) in links for k, a in enumerate(m) for b in m[k + 1 :])


@settings(max_examples=60, deadline=None)
@given(rows=distinct_reports())
def test_precise_incidents_are_the_components_of_their_links(rows: list[dict]) -> None:
    rows = _unique_ids(rows)
    assume(not _near_boundary(rows))
    inc = _incidents(rows)
    coarse = _coarse(rows)
    precise = [r[schema.EVENT_ID] for r in rows if not coarse[r[schema.EVENT_ID]]]
    comp = _components(precise, _reference_links(rows))
    for k, a in enumerate(precise):
        for b in precise[k + 1 :]:
            assert (inc[a] == inc[b]) == (comp[a] == comp[b]), (a, b)
    # each coarse record joins at most one incident of precise records, and one it is
    # linked to whenever it has a precise partner
    links = _reference_links(rows)
    for e, is_coarse in coarse.items():
        partners = [p for p in precise if frozenset((e, p)) in links]
        if is_coarse and partners:
            assert inc[e] in {inc[p] for p in partners}


@settings(max_examples=80, deadline=None)
@given(rows=distinct_reports(), extra=distinct_reports())
def test_adding_an_event_never_splits_precise_records(rows: list[dict], extra: list[dict]) -> None:
    rows = _unique_ids(rows)
    new = {**extra[0], schema.EVENT_ID: "znew", schema.REPORT_GROUP: "new-report"}
    before = _incidents(rows)
    after = _incidents([*rows, new])
    coarse = _coarse([*rows, new])
    split = _together(before) - _together(after)
    # two precise records are never separated; what can move is a coarse record
    for pair in split:
        assert any(coarse[e] for e in pair), (
            f"precise records {sorted(pair)} separated by adding an event"
        )


@settings(max_examples=40, deadline=None)
@given(rows=distinct_reports(), extra=distinct_reports())
def test_adding_a_precise_event_to_precise_records_never_splits_an_incident(
    rows: list[dict], extra: list[dict]
) -> None:
    # with precise records only (no coarse record to move) the full invariant holds
    coarse_kinds = {"acled", "claims"}
    rows = [r for r in _unique_ids(rows) if r[schema.SOURCE] not in coarse_kinds]
    rows = [r for r in rows if r[schema.GEO_PRECISION_M] <= P.coarse_geo_precision_m]
    new = {**extra[0], schema.EVENT_ID: "znew", schema.REPORT_GROUP: "new-report"}
    if new[schema.SOURCE] in coarse_kinds or not rows:
        return
    before = _incidents(rows)
    after = _incidents([*rows, new])
    assert _together(before) <= _together(after)


def test_no_method_is_monotone_with_a_cannot_link() -> None:
    # a fire compatible with two ACLED records (one report): alone with either it is one
    # incident with it; with both, monotonicity would put the two ACLED records together,
    # which the cannot-link forbids. Corroboration keeps the cannot-link and the fire
    # joins the nearer record.
    a1, a2 = acled("a1", **at(0.0)), acled("a2", **at(2_500.0))
    f = firms("f1", **at(1_000.0))
    assert len(set(_incidents([a1, f]).values())) == 1
    assert len(set(_incidents([a2, f]).values())) == 1
    both = _incidents([a1, a2, f])
    assert both["a1"] != both["a2"]
    assert both["f1"] == both["a1"]


def test_no_method_is_monotone_without_chains_through_coarse_records() -> None:
    # a town-level ACLED record (15 km) compatible with two fires 20 km apart, of
    # different overpasses: it is one incident with either fire alone; with both, a
    # monotone method would chain the two fires through it. The coarse record joins the
    # better match only, and the fires stay apart.
    town = acled("t1", geo_precision_m=15_000.0, **at(0.0))
    f1 = firms("f1", report_group="firms:1", **at(-9_000.0))
    f2 = firms("f2", report_group="firms:2", **at(11_000.0))
    assert len(set(_incidents([town, f1]).values())) == 1
    assert len(set(_incidents([town, f2]).values())) == 1
    both = _incidents([town, f1, f2])
    assert both["f1"] != both["f2"]
    assert both["t1"] == both["f1"]


# --- the compiled path against a straightforward reference ---------------------------------
#
# `_reference_corroborate` is the method written out plainly: every pair of eligible records
# tested (no grid), links sorted best-first by (score, FNV-1a hashes of the two ids, the ids),
# the three phases over all links at once with a union-find of Python sets, the anchor the
# member recorded first (then the smallest id). The compiled path (grid with moving cursors,
# records in time order, links grouped by connected component, components on several
# threads) must give the very same incident ids. The distance is the kernel's own formula
# (local ellipsoidal frame), evaluated here by numpy; the score uses the same arithmetic.


def _fnv1a(text: str) -> int:
    h = 14695981039346656037
    for byte in text.encode():
        h = ((h ^ byte) * 1099511628211) % 2**64
    return h


def _dist_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    a, e2 = 6_378_137.0, 6.69437999014e-3
    phi = np.radians(0.5 * (lat1 + lat2))
    s = np.sin(phi)
    w2 = 1.0 - e2 * s * s
    w = np.sqrt(w2)
    dx = (a / w) * np.cos(phi) * np.radians(lon2 - lon1)
    dy = (a * (1.0 - e2) / (w2 * w)) * np.radians(lat2 - lat1)
    return np.sqrt(dx * dx + dy * dy)


def _reference_corroborate(ev: pd.DataFrame, p: CorroborationParams = P) -> list[str]:
    ids = ev[schema.EVENT_ID].astype(str).tolist()
    t = ev[schema.OCCURRED_AT].astype("datetime64[us, UTC]").astype("int64").to_numpy() / 1e6
    lo, hi = time_bounds(
        t,
        ev[schema.TIME_PRECISION].to_numpy(dtype=object),
        ev[schema.TIME_WINDOW_S].to_numpy(dtype=float),
    )
    fire = (ev[schema.CATEGORY] == "fire_detection").to_numpy()
    lo = np.where(fire, lo - p.fire_lead_s, lo)
    lon = ev[schema.LON].to_numpy(dtype=float)
    lat = ev[schema.LAT].to_numpy(dtype=float)
    r = ev[schema.GEO_PRECISION_M].to_numpy(dtype=float)
    grp = ev[schema.REPORT_GROUP].astype(str).tolist()
    cat = ev[schema.CATEGORY].astype(str).tolist()
    ok = (r <= p.max_geo_precision_m) & (hi - lo <= p.max_time_span_s)
    el = np.flatnonzero(ok)
    mid = (lo + hi) / 2
    mid_rel = mid - mid[el].min() if len(el) else mid
    hw = (hi - lo) / 2

    def linked(i: int, j: int) -> tuple[bool, float]:
        if grp[i] == grp[j] or not _compatible(cat[i], cat[j]):
            return False, 0.0
        if lo[i] - p.time_tolerance_s > hi[j] or lo[j] - p.time_tolerance_s > hi[i]:
            return False, 0.0
        reach = r[i] + r[j] + p.link_tolerance_m
        d = float(_dist_m(lon[i], lat[i], lon[j], lat[j]))
        if d > reach:
            return False, 0.0
        dt = abs(mid_rel[i] - mid_rel[j])
        return True, d / reach + dt / (hw[i] + hw[j] + p.time_tolerance_s)

    links = []
    for a_, i in enumerate(el):
        for j in el[a_ + 1 :]:
            ok_, score = linked(int(i), int(j))
            if ok_:
                hi_, hj_ = _fnv1a(ids[i]), _fnv1a(ids[j])
                first, second = sorted((ids[i], ids[j]))
                key = (score, min(hi_, hj_), max(hi_, hj_), first, second)
                links.append((key, int(i), int(j)))
    links.sort()
    coarse = (hi - lo > p.coarse_time_span_s) | (r > p.coarse_geo_precision_m)
    sets = {k: {k} for k in range(len(ids))}

    def merge(a: int, b: int, complete: bool = False) -> bool:
        sa, sb = sets[a], sets[b]
        if sa is sb:
            return True
        if complete:
            if not all(linked(u, v)[0] for u in sa for v in sb):
                return False
        elif {grp[u] for u in sa} & {grp[v] for v in sb}:
            return False
        union = sa | sb
        for k in union:
            sets[k] = union
        return True

    for _, i, j in links:
        if not coarse[i] and not coarse[j]:
            merge(i, j)
    attached = np.zeros(len(ids), dtype=bool)
    # a record coarse in place tries incidents of two or more precise records first
    prefer = (r > p.coarse_geo_precision_m) & p.coarse_prefers_corroborated
    corroborated = {k for k in range(len(ids)) if len(sets[k]) >= 2}
    for first_pass in (True, False):
        for _, i, j in links:
            if coarse[i] != coarse[j]:
                c, q = (i, j) if coarse[i] else (j, i)
                if first_pass and prefer[c] and q not in corroborated:
                    continue
                if not attached[c] and merge(c, q):
                    attached[c] = True
    for _, i, j in links:
        if coarse[i] and coarse[j] and not attached[i] and not attached[j]:
            merge(i, j, complete=True)
    rec = ev[schema.RECORDED_AT].astype("datetime64[us, UTC]").astype("int64").tolist()
    return ["I" + min((rec[k], ids[k]) for k in sets[m])[1] for m in range(len(ids))]


def _random_events(seed: int) -> pd.DataFrame:
    """Dense random events: many links, shared report groups, coarse records, exact ties
    (records repeated at one place and time), spread over one or several grid cells."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 260))
    kinds = sorted(_KINDS)
    extent_m = float(rng.choice([3_000.0, 20_000.0, 80_000.0]))
    hours = float(rng.choice([6.0, 48.0, 240.0]))
    rows = []
    for k in range(n):
        source, prec, geo, window, cats = _KINDS[kinds[int(rng.integers(len(kinds)))]]
        if k > 0 and rng.uniform() < 0.15:  # an exact copy of an earlier place and time
            prev = rows[int(rng.integers(len(rows)))]
            place = {schema.LON: prev[schema.LON], schema.LAT: prev[schema.LAT]}
            when = prev[schema.OCCURRED_AT]
        else:
            place = at(float(rng.uniform(0, extent_m)), float(rng.uniform(0, extent_m)))
            when = DAY0 + pd.Timedelta(minutes=int(rng.integers(0, int(hours * 60))))
        pool = int(rng.integers(0, 2 * n))
        rows.append(
            {
                schema.EVENT_ID: f"e{int(rng.integers(0, 10**6)):06d}-{k}",
                schema.SOURCE: source,
                schema.TIME_PRECISION: prec,
                schema.TIME_WINDOW_S: window,
                schema.GEO_PRECISION_M: geo,
                schema.OCCURRED_AT: when,
                schema.CATEGORY: cats[int(rng.integers(len(cats)))],
                schema.REPORT_GROUP: f"{source}:{pool if pool < n // 3 else k}",
                schema.RECORDED_AT: pd.Timestamp("2023-06-05T00:00:00Z")
                + pd.Timedelta(hours=int(rng.integers(0, 3))),
                **place,
            }
        )
    return frame(*rows)


@pytest.mark.parametrize("prefer", [True, False])
@pytest.mark.parametrize("seed", range(30))
def test_compiled_path_equals_the_straightforward_reference(seed: int, prefer: bool) -> None:
    ev = _random_events(seed)
    p = CorroborationParams(coarse_prefers_corroborated=prefer)
    got = corroborate(ev, p).tolist()
    assert got == _reference_corroborate(ev, p)
    # the rows in another order give the same ids
    perm = np.random.default_rng(seed + 1).permutation(len(ev))
    assert corroborate(ev.iloc[perm], p).tolist() == [got[k] for k in perm]
