"""Corroboration: events from different sources that describe one happening become an
incident.

Two events could be the same happening, given each one's precision, when their location
discs (radius = ``geo_precision_m``) come within ``link_tolerance_m`` of each other, their
time intervals overlap within ``time_tolerance_s`` (a fire seen from space may have been
lit up to ``fire_lead_s`` before the overpass), their categories share a group
(:data:`CATEGORY_GROUPS`), and they come from different reports (``report_group``: two
records of one report are by construction different happenings). Events too coarse to pin
anything (an oblast-level location, a month-level date) are never linked: a
province-level ACLED event does not pin a FIRMS fire 40 km away.

Links are taken best-first (closest in space and time relative to the precisions), and
two incidents merge only if every member of one could be the same happening as every
member of the other (complete linkage): no chain through a coarse record joins two
distinct fires, and no incident holds two records of one report. Candidate pairs come
from k-d trees over scaled space-time coordinates, per precision class; only the union
runs as a loop over candidate links.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.spatial import cKDTree

from ceasewatch.evaluate.frames import join_unique
from ceasewatch.normalize import schema, vocab
from ceasewatch.normalize.crs import metric_crs, to_metric, to_wgs84
from ceasewatch.normalize.timeprec import time_bounds

#: categories that can describe one and the same happening share a group: a strike, the
#: explosion a monitor heard, the fire a satellite saw; a clash, the bursts of fire heard.
#: A category in no group links only to itself.
CATEGORY_GROUPS: dict[str, frozenset[str]] = {
    "explosive": frozenset(
        {
            "shelling",
            "air_strike",
            "missile_strike",
            "drone_strike",
            "remote_explosive",
            "explosion_observed",
            "projectile_observed",
            "fire_detection",
            "armed_clash",
            "muzzle_flash",
        }
    ),
    "ground": frozenset({"armed_clash", "small_arms_fire", "muzzle_flash", "illumination_flare"}),
}


@dataclass(frozen=True)
class CorroborationParams:
    """Tuning of the linking rule (units in the names)."""

    #: slack added to the sum of the two location radii
    link_tolerance_m: float = 1_000.0
    #: slack between two time intervals (reporting clocks, rounding of times)
    time_tolerance_s: float = 900.0
    #: a fire seen from space may have been lit this long before the overpass
    fire_lead_s: float = 6 * 3_600.0
    #: records less precise than this are never linked
    max_geo_precision_m: float = 25_000.0
    max_time_span_s: float = 8 * 86_400.0


def compatibility(category: pd.Series) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Category codes and the matrix of which codes may describe one happening."""
    codes, uniques = pd.factorize(category)
    names = [str(u) for u in uniques]
    k = len(names)
    compat = np.eye(k, dtype=bool)
    for members in CATEGORY_GROUPS.values():
        inside = np.array([n in members for n in names], dtype=bool)
        compat |= inside[:, None] & inside[None, :]
    return np.asarray(codes, dtype=np.int64), compat


def _epoch_s(ts: pd.Series) -> npt.NDArray[np.float64]:
    return np.asarray(ts.astype("datetime64[us, UTC]").astype("int64"), dtype=float) / 1e6


def candidate_pairs(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    mid: npt.NDArray[np.float64],
    r: npt.NDArray[np.float64],
    hw: npt.NDArray[np.float64],
    params: CorroborationParams,
) -> npt.NDArray[np.int64]:
    """Index pairs ``(i, j)``, ``i < j``, close enough in space and time to be checked."""
    r_edges = np.array([1_000.0, 5_000.0, np.inf])
    t_edges = np.array([300.0, 7_200.0, 0.6 * 86_400.0, 4.1 * 86_400.0, np.inf])
    rc = np.searchsorted(r_edges, r, side="left")
    tc = np.searchsorted(t_edges, hw, side="left")
    cls = rc * len(t_edges) + tc
    classes = np.unique(cls)
    members = {c: np.flatnonzero(cls == c) for c in classes}
    rmax = {c: float(r[members[c]].max()) for c in classes}
    tmax = {c: float(hw[members[c]].max()) for c in classes}
    out = []
    for ai, a in enumerate(classes):
        for b in classes[ai:]:
            ia, ib = members[a], members[b]
            big_r = rmax[a] + rmax[b] + params.link_tolerance_m
            big_t = tmax[a] + tmax[b] + params.time_tolerance_s
            pa_ = np.column_stack([x[ia] / big_r, y[ia] / big_r, mid[ia] / big_t])
            pb_ = np.column_stack([x[ib] / big_r, y[ib] / big_r, mid[ib] / big_t])
            ta, tb = cKDTree(pa_), cKDTree(pb_)
            m = ta.sparse_distance_matrix(tb, 1.0, p=np.inf, output_type="ndarray")
            if len(m) == 0:
                continue
            i = ia[m["i"]]
            j = ib[m["j"]]
            keep = i != j
            i, j = i[keep], j[keep]
            out.append(np.column_stack([np.minimum(i, j), np.maximum(i, j)]))
    if not out:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.unique(np.vstack(out), axis=0)
    return pairs.astype(np.int64)


def corroborate(events: pd.DataFrame, params: CorroborationParams | None = None) -> pd.Series:
    """Incident id of each event (index aligned with ``events``).

    ``events`` needs event_id, report_group, occurred_at, time_precision, time_window_s,
    lon, lat, geo_precision_m, category and recorded_at; an optional ``war_related``
    column (fire-anomaly model) keeps probable field fires out of incidents. An incident's
    id is derived from its anchor, the member recorded first (ties broken by event id), so
    an incident keeps its id when later records join it. The result does not depend on the
    input order.
    """
    params = params or CorroborationParams()
    n = len(events)
    if n == 0:
        return pd.Series([], index=events.index, dtype="object")
    # canonical order: results independent of the caller's row order
    order = np.argsort(events[schema.EVENT_ID].to_numpy(dtype=str), kind="stable")
    ev = events.iloc[order].reset_index(drop=True)

    t = _epoch_s(ev[schema.OCCURRED_AT])
    lo, hi = time_bounds(
        t,
        ev[schema.TIME_PRECISION].to_numpy(dtype=object),
        ev[schema.TIME_WINDOW_S].to_numpy(dtype=float),
    )
    lo = np.where(ev[schema.CATEGORY].to_numpy() == "fire_detection", lo - params.fire_lead_s, lo)
    mid = (lo + hi) / 2
    hw = (hi - lo) / 2
    r = ev[schema.GEO_PRECISION_M].to_numpy(dtype=float)
    eligible = (r <= params.max_geo_precision_m) & (hi - lo <= params.max_time_span_s)
    if schema.WAR_RELATED in ev:
        # a fire the fire-anomaly model judged a probable field fire is not evidence of
        # anything; an unclassified one (no value) is treated as before
        field_fire = (ev[schema.CATEGORY] == "fire_detection") & (
            ev[schema.WAR_RELATED].astype("boolean") == False  # noqa: E712
        ).fillna(False)
        eligible &= ~field_fire.to_numpy(dtype=bool)

    parent = np.arange(n)
    idx = np.flatnonzero(eligible)
    if len(idx) > 1:
        lon = ev[schema.LON].to_numpy(dtype=float)
        lat = ev[schema.LAT].to_numpy(dtype=float)
        crs = metric_crs(
            float(np.min(lon[idx])),
            float(np.min(lat[idx])),
            float(np.max(lon[idx])),
            float(np.max(lat[idx])),
        )
        x = np.zeros(n)
        y = np.zeros(n)
        x[idx], y[idx] = to_metric(lon[idx], lat[idx], crs)
        pairs = candidate_pairs(x[idx], y[idx], mid[idx], r[idx], hw[idx], params)
        if len(pairs):
            groups, _ = pd.factorize(ev[schema.REPORT_GROUP])
            cat, compat = compatibility(ev[schema.CATEGORY])
            link = _Linker(x, y, lo, hi, r, np.asarray(groups, dtype=np.int64), cat, compat, params)
            i, j = idx[pairs[:, 0]], idx[pairs[:, 1]]
            ok = link.ok(i, j)
            i, j = i[ok], j[ok]
            dist = np.hypot(x[i] - x[j], y[i] - y[j])
            score = dist / (r[i] + r[j] + params.link_tolerance_m) + np.abs(mid[i] - mid[j]) / (
                hw[i] + hw[j] + params.time_tolerance_s
            )
            link_order = np.lexsort((j, i, score))
            parent = _complete_union(n, i[link_order], j[link_order], link)

    roots = _find_all(parent)
    rec = _epoch_s(ev[schema.RECORDED_AT]) if schema.RECORDED_AT in ev else np.zeros(n)
    # anchor: earliest recorded member, then smallest event id (rows are sorted by id)
    anchor_key = pd.DataFrame({"root": roots, "rec": rec, "pos": np.arange(n)})
    anchors = anchor_key.sort_values(["root", "rec", "pos"]).groupby("root")["pos"].first()
    anchor_ids = ev[schema.EVENT_ID].to_numpy(dtype=str)[anchors.to_numpy()]
    root_to_id = pd.Series(np.char.add("I", anchor_ids.astype(str)), index=anchors.index)
    inc = root_to_id.reindex(roots).to_numpy()
    out = np.empty(n, dtype=object)
    out[order] = inc
    return pd.Series(out, index=events.index, name=schema.INCIDENT_ID)


def _find_all(parent: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    roots = parent.copy()
    while True:
        nxt = roots[roots]
        if np.array_equal(nxt, roots):
            return roots
        roots = nxt


@dataclass(frozen=True)
class _Linker:
    """The pairwise test: could records ``i`` and ``j`` describe one happening?"""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    lo: npt.NDArray[np.float64]
    hi: npt.NDArray[np.float64]
    r: npt.NDArray[np.float64]
    groups: npt.NDArray[np.int64]
    cat: npt.NDArray[np.int64]
    compat: npt.NDArray[np.bool_]
    params: CorroborationParams

    def ok(self, i: npt.NDArray[np.int64], j: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        p = self.params
        dist = np.hypot(self.x[i] - self.x[j], self.y[i] - self.y[j])
        return np.asarray(
            (self.groups[i] != self.groups[j])
            & self.compat[self.cat[i], self.cat[j]]
            & (dist <= self.r[i] + self.r[j] + p.link_tolerance_m)
            & (self.lo[i] - p.time_tolerance_s <= self.hi[j])
            & (self.lo[j] - p.time_tolerance_s <= self.hi[i]),
            dtype=bool,
        )


def _complete_union(
    n: int, ii: npt.NDArray[np.int64], jj: npt.NDArray[np.int64], link: _Linker
) -> npt.NDArray[np.int64]:
    """Union best-first; two incidents merge only when every member of one could be the
    same happening as every member of the other (so no chain through a coarse record
    joins two distinct happenings, and no report group appears twice)."""
    parent = list(range(n))
    members: dict[int, npt.NDArray[np.int64]] = {}

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in zip(ii.tolist(), jj.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        ma = members.get(ra)
        mb = members.get(rb)
        if ma is None:
            ma = np.array([ra], dtype=np.int64)
        if mb is None:
            mb = np.array([rb], dtype=np.int64)
        if len(ma) > 1 or len(mb) > 1:
            ai = np.repeat(ma, len(mb))
            bj = np.tile(mb, len(ma))
            if not link.ok(ai, bj).all():
                continue
        if len(ma) < len(mb):
            ra, rb, ma, mb = rb, ra, mb, ma
        parent[rb] = ra
        members[ra] = np.concatenate([ma, mb])
        members.pop(rb, None)
    return np.array([find(a) for a in range(n)], dtype=np.int64)


def summarise_incidents(events: pd.DataFrame, incident_id: pd.Series) -> pd.DataFrame:
    """One row per incident: representative place and time, category, sources, confidence.

    The place is the precision-weighted mean (weights 1/radius²) of the members; the time
    is that of the member known most precisely. Confidence combines independent sources:
    ``1 - Π(1 - w_s)``, with ``w_s`` the best Admiralty weight among source ``s``'s records.
    """
    ev = events.assign(**{schema.INCIDENT_ID: incident_id.to_numpy()})
    if ev.empty:
        return pd.DataFrame(columns=[schema.INCIDENT_ID])
    lon = ev[schema.LON].to_numpy(dtype=float)
    lat = ev[schema.LAT].to_numpy(dtype=float)
    crs = metric_crs(float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
    x, y = to_metric(lon, lat, crs)
    w = 1.0 / np.maximum(ev[schema.GEO_PRECISION_M].to_numpy(dtype=float), 1.0) ** 2
    t = _epoch_s(ev[schema.OCCURRED_AT])
    lo, hi = time_bounds(
        t,
        ev[schema.TIME_PRECISION].to_numpy(dtype=object),
        ev[schema.TIME_WINDOW_S].to_numpy(dtype=float),
    )
    ev = ev.assign(
        _wx=x * w,
        _wy=y * w,
        _w=w,
        _span=hi - lo,
        _prio=ev[schema.CATEGORY].map(schema.CATEGORY_PRIORITY).fillna(0),
        _weight=vocab.admiralty_weight(
            ev[schema.RELIABILITY].to_numpy(dtype=object),
            ev[schema.CREDIBILITY].to_numpy(dtype=np.int64),
        ),
        _weapon_rank=ev[schema.WEAPON_CLASS]
        .map({c: i for i, c in enumerate(schema.WEAPON_CLASSES)})
        .fillna(-1),
    )
    g = ev.groupby(schema.INCIDENT_ID, sort=True)
    sums = g[["_wx", "_wy", "_w"]].sum()
    ix, iy = to_wgs84(sums["_wx"] / sums["_w"], sums["_wy"] / sums["_w"], crs)
    # precision of the mean: radius of the best member, never better than that
    best_time = (
        ev.sort_values([schema.INCIDENT_ID, "_span", schema.EVENT_ID])
        .groupby(schema.INCIDENT_ID)
        .first()
    )
    top_cat = (
        ev.sort_values([schema.INCIDENT_ID, "_prio"], ascending=[True, False])
        .groupby(schema.INCIDENT_ID)[schema.CATEGORY]
        .first()
    )
    heavy = (
        ev[ev["_weapon_rank"] >= 0]
        .sort_values([schema.INCIDENT_ID, "_weapon_rank"], ascending=[True, False])
        .groupby(schema.INCIDENT_ID)[schema.WEAPON_CLASS]
        .first()
    )
    per_source = ev.groupby([schema.INCIDENT_ID, schema.SOURCE])["_weight"].max()
    confidence = 1.0 - (1.0 - per_source).groupby(level=0).prod()

    def joined(col: str) -> pd.Series:
        return join_unique(ev, schema.INCIDENT_ID, col).reindex(sums.index)

    attributed = joined(schema.ATTRIBUTED_TO)
    location = (
        ev.sort_values([schema.INCIDENT_ID, schema.GEO_PRECISION_M])
        .groupby(schema.INCIDENT_ID)[schema.LOCATION_NAME]
        .first()
    )
    out = pd.DataFrame(
        {
            schema.INCIDENT_ID: sums.index.to_numpy(),
            schema.OCCURRED_AT: best_time[schema.OCCURRED_AT].to_numpy(),
            schema.TIME_PRECISION: best_time[schema.TIME_PRECISION].to_numpy(),
            schema.LON: ix,
            schema.LAT: iy,
            schema.GEO_PRECISION_M: g[schema.GEO_PRECISION_M].min().to_numpy(),
            schema.CATEGORY: top_cat.to_numpy(),
            "categories": joined(schema.CATEGORY).to_numpy(),
            schema.WEAPON_CLASS: heavy.reindex(sums.index).to_numpy(),
            "weapon_classes": joined(schema.WEAPON_CLASS).to_numpy(),
            "n_events": g.size().to_numpy(),
            "n_sources": g[schema.SOURCE].nunique().to_numpy(),
            "sources": joined(schema.SOURCE).to_numpy(),
            schema.CONFIDENCE: confidence.reindex(sums.index).to_numpy(),
            schema.FATALITIES: g[schema.FATALITIES].max().to_numpy(),
            schema.ATTRIBUTED_TO: attributed.replace("", None).to_numpy(),
            schema.LOCATION_NAME: location.reindex(sums.index).to_numpy(),
        }
    )
    return out
