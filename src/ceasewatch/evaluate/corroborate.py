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

Incidents are built from these pairwise links in three phases, links taken best-first
(closest in space and time relative to the precisions; ties by the event ids):

1. precise records (known to better than ``coarse_time_span_s`` and
   ``coarse_geo_precision_m``) join along their links: when no two of them share a report,
   their incidents are exactly the connected components of the links, so adding an event
   never separates two precise records;
2. each coarse record (a day-level date, a town-level place) joins the incident of its
   best precise partner, and only that one: no chain through a coarse record joins two
   distinct fires;
3. coarse records with no precise partner join among themselves, by complete linkage
   (every member linked to every other: back-to-back day-long windows do not chain).

A merge that would put two records of one report together is refused (cannot-link). No
method can be monotone under every addition and also keep that cannot-link, or avoid
chains through coarse records (see tests/evaluate/test_corroborate_invariants.py); what
can move when an event is added is a coarse record, to a better match. Candidate links
come from a space-time grid and the union runs in compiled kernels
(:mod:`ceasewatch.evaluate._corroborate_kernel`); no Python loop per event or link.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.spatial import cKDTree

from ceasewatch.evaluate.frames import join_unique
from ceasewatch.normalize import schema, vocab
from ceasewatch.normalize.crs import metric_crs, to_metric, to_wgs84
from ceasewatch.normalize.timeprec import PRECISION_SPAN_S, time_bounds

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
    #: records known no better than this in time or place are coarse: each joins at most
    #: one incident of precise records, so no chain runs through it
    coarse_time_span_s: float = 12 * 3_600.0
    coarse_geo_precision_m: float = 5_000.0


#: threads the link search runs on (its kernel releases the GIL)
_THREADS = max(1, min(8, os.cpu_count() or 1))


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
    input order (links are taken best-first, ties broken by the event ids).
    """
    from ceasewatch.evaluate import _corroborate_kernel as kern

    params = params or CorroborationParams()
    n = len(events)
    if n == 0:
        return pd.Series([], index=events.index, dtype="object")
    ids = _arrow_strings(events[schema.EVENT_ID], schema.EVENT_ID)
    lo, hi = _time_bounds(events, params)
    r = events[schema.GEO_PRECISION_M].to_numpy(dtype=float)
    lon = events[schema.LON].to_numpy(dtype=float)
    lat = events[schema.LAT].to_numpy(dtype=float)
    eligible = (
        (r <= params.max_geo_precision_m)
        & (hi - lo <= params.max_time_span_s)
        & np.isfinite(lon)
        & np.isfinite(lat)
        & np.isfinite(lo)
        & np.isfinite(hi)
    )
    if schema.WAR_RELATED in events:
        # a fire the fire-anomaly model judged a probable field fire is not evidence of
        # anything; an unclassified one (no value) is treated as before
        field_fire = (events[schema.CATEGORY] == "fire_detection") & (
            events[schema.WAR_RELATED].astype("boolean") == False  # noqa: E712
        ).fillna(False)
        eligible &= ~field_fire.to_numpy(dtype=bool)
    idx = np.flatnonzero(eligible)

    roots = np.arange(n, dtype=np.int64)
    if len(idx) > 1:
        groups = _group_codes(events[schema.REPORT_GROUP].iloc[idx])
        cat, compat = compatibility(events[schema.CATEGORY].iloc[idx])
        sub = _Records(
            lon=lon[idx],
            lat=lat[idx],
            lo=lo[idx],
            hi=hi[idx],
            r=r[idx],
            group=groups,
            cat=cat,
            compat=compat,
        )
        li, lj, score = _links(sub, params)
        if len(li):
            order = _best_first(idx, li, lj, score, ids)
            coarse = (sub.hi - sub.lo > params.coarse_time_span_s) | (
                sub.r > params.coarse_geo_precision_m
            )
            rf = np.column_stack(
                [sub.lon, sub.lat, sub.lo, sub.hi, np.zeros(len(idx)), np.zeros(len(idx)), sub.r]
            )
            sub_roots = kern.union_phases(
                len(idx), li[order], lj[order], coarse, groups, int(groups.max()) + 1,
                rf, cat, compat, params.link_tolerance_m, params.time_tolerance_s,
            )  # fmt: skip
            roots[idx] = idx[sub_roots]

    rec = (
        _epoch_s(events[schema.RECORDED_AT])
        if schema.RECORDED_AT in events
        else np.zeros(n, dtype=float)
    )
    anchor = kern.anchors_by_id(roots, np.nan_to_num(rec, nan=np.inf), *ids)
    ev_ids = _large_strings(events[schema.EVENT_ID])
    sep = pa.scalar("", pa.large_string())
    prefixed = pc.binary_join_element_wise(pa.scalar("I", pa.large_string()), ev_ids, sep)
    inc = pc.take(prefixed, pa.array(anchor)).to_numpy(zero_copy_only=False)
    return pd.Series(inc, index=events.index, name=schema.INCIDENT_ID, dtype="object")


@dataclass(frozen=True)
class _Records:
    """The eligible records, as arrays (degrees, seconds since the epoch, metres)."""

    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    lo: npt.NDArray[np.float64]
    hi: npt.NDArray[np.float64]
    r: npt.NDArray[np.float64]
    group: npt.NDArray[np.int64]
    cat: npt.NDArray[np.int64]
    compat: npt.NDArray[np.bool_]


def _arrow_strings(
    col: pd.Series, name: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Offsets and UTF-8 bytes of a string column (no Python object per value)."""
    arr = _large_strings(col)
    if arr.null_count:
        msg = f"{name}: {arr.null_count} missing value(s); every event needs one"
        raise ValueError(msg)
    return _buffers(arr)


def _large_strings(col: pd.Series) -> pa.Array:
    """The column as one Arrow large_string array (non-text values by their str())."""
    try:
        arr = pa.array(col, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(
            col.astype(object).where(col.notna(), None).map(str, na_action="ignore"),
            type=pa.large_string(),
            from_pandas=True,
        )
    if isinstance(arr, pa.ChunkedArray):  # pragma: no cover - pandas gives one chunk
        arr = arr.combine_chunks()
    return arr


def _buffers(arr: pa.Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    bufs = arr.buffers()
    off = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(1, np.uint8)
    return off, data


def _group_codes(col: pd.Series) -> npt.NDArray[np.int64]:
    """Dense codes of the report groups (a missing group is one group of its own).

    Groups are compared by a 64-bit hash of their text: a collision can only keep two
    records apart, never join two records of one report.
    """
    from ceasewatch.evaluate import _corroborate_kernel as kern

    filled = _large_strings(col).fill_null("\x00")
    off, data = _buffers(filled)
    codes, _ = pd.factorize(kern.hash_strings(off, data))
    return np.asarray(codes, dtype=np.int64)


def _time_bounds(
    events: pd.DataFrame, params: CorroborationParams
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each event's time interval (s since the epoch), a fire's opened by ``fire_lead_s``.

    The same bounds as :func:`~ceasewatch.normalize.timeprec.time_bounds`, computed from
    the codes of the precision column instead of one comparison per code.
    """
    t = _epoch_s(events[schema.OCCURRED_AT])
    codes, uniques = pd.factorize(events[schema.TIME_PRECISION])
    spans = np.array([PRECISION_SPAN_S.get(str(u), (0.0, 0.0)) for u in uniques] + [(0.0, 0.0)])
    codes = np.where(codes < 0, len(uniques), codes)
    window = np.nan_to_num(events[schema.TIME_WINDOW_S].to_numpy(dtype=float))
    lo = t - spans[codes, 0]
    hi = t + np.maximum(spans[codes, 1], window)
    fire = (events[schema.CATEGORY] == "fire_detection").to_numpy(dtype=bool)
    lo = np.where(fire, lo - params.fire_lead_s, lo)
    return lo, hi


def _links(
    rec: _Records, params: CorroborationParams
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Every compatible pair ``(i, j)``, ``i < j``, with its score, from a space-time grid.

    Records are split into classes by location and time precision; each class is put on
    a grid of cells in degrees no smaller than the largest reach of a link into it, each
    cell's records sorted by time, so a record finds all its partners of a class in the
    3 x 3 cells around it within a time range found by bisection.
    """
    from ceasewatch.evaluate import _corroborate_kernel as kern

    tol_m, tol_s = params.link_tolerance_m, params.time_tolerance_s
    mid = (rec.lo + rec.hi) / 2
    hw = (rec.hi - rec.lo) / 2
    base = float(mid.min())
    mid_rel = mid - base
    tkey = np.floor(mid_rel).astype(np.int64)
    r_cls = np.searchsorted(np.array([5_000.0]), rec.r, side="left")
    t_cls = np.searchsorted(np.array([1.5 * 86_400.0]), rec.hi - rec.lo, side="left")
    cls = r_cls * 2 + t_cls
    present = np.unique(cls)
    members = {int(c): np.flatnonzero(cls == c) for c in present}
    r_all = float(rec.r.max())
    lon0, lat0 = float(rec.lon.min()), float(rec.lat.min())
    lat_abs = min(89.0, float(np.abs(rec.lat).max()))
    fcols = np.column_stack([rec.lon, rec.lat, rec.lo, rec.hi, mid_rel, hw, rec.r])
    icols = np.column_stack([np.arange(len(rec.r)), rec.group, rec.cat, tkey])

    def _table(
        members_: npt.NDArray[np.int64],
        lon0: float,
        lat0: float,
        dlon: float,
        dlat: float,
        ncx: int,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        # rows of the records sorted by cell then time: neighbours in memory are
        # neighbours in space and time, and the kernel reads one row per candidate
        cx = np.floor((rec.lon[members_] - lon0) / dlon).astype(np.int64)
        cy = np.floor((rec.lat[members_] - lat0) / dlat).astype(np.int64)
        cell = cy * ncx + cx
        if ncx * ncy < 2**31 and int(tkey.max()) < 2**32:
            o = np.argsort((cell << 32) | tkey[members_])
        else:  # pragma: no cover - decades of data on a huge grid
            o = np.lexsort((tkey[members_], cell))
        rows = members_[o]
        return (
            np.take(fcols, rows, axis=0),
            np.take(icols, rows, axis=0),
            cell[o],
        )

    out_i, out_j, out_s = [], [], []
    for b in present.tolist():
        bi = members[b]
        reach_m = float(rec.r[bi].max()) + r_all + tol_m
        # cell sides no smaller than the reach anywhere in the data (N >= a, M >= a(1-e²))
        dlat = np.degrees(reach_m / (kern.A_M * (1 - kern.E2)))
        dlon = np.degrees(reach_m / (kern.A_M * np.cos(np.radians(lat_abs))))
        ncx = int((float(rec.lon.max()) - lon0) // dlon) + 1
        ncy = int((float(rec.lat.max()) - lat0) // dlat) + 1
        while ncx * ncy > 4_000_000:
            dlon, dlat = 2 * dlon, 2 * dlat
            ncx = int((float(rec.lon.max()) - lon0) // dlon) + 1
            ncy = int((float(rec.lat.max()) - lat0) // dlat) + 1
        gf, gi, gcell = _table(bi, lon0, lat0, dlon, dlat, ncx)
        start = kern.cell_starts(gcell, ncx * ncy)
        hw_max = float(hw[bi].max())
        for a in present.tolist():
            if a > b:
                continue
            if a == b:
                qf, qi = gf, gi
            else:
                qf, qi, _ = _table(members[a], lon0, lat0, dlon, dlat, ncx)
            # the kernel releases the GIL: one thread per core over slices of the queries
            bounds = np.linspace(0, len(qf), _THREADS + 1).astype(int)
            grid = (gf, gi, start, a == b, ncx, ncy, lon0, lat0, dlon, dlat, rec.compat, hw_max)
            slices = [(qf[q0:q1], qi[q0:q1]) for q0, q1 in itertools.pairwise(bounds)]
            with ThreadPoolExecutor(_THREADS) as pool:
                futures = [
                    pool.submit(_links_of, kern, sq, si, grid, tol_m, tol_s) for sq, si in slices
                ]
                for i, j, s, cnt in (f.result() for f in futures):
                    out_i.append(i[:cnt])
                    out_j.append(j[:cnt])
                    out_s.append(s[:cnt])
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)


def _links_of(
    kern: Any,
    qf: npt.NDArray[np.float64],
    qi: npt.NDArray[np.int64],
    grid: tuple[Any, ...],
    tol_m: float,
    tol_s: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64], int]:
    """The link kernel over one slice of queries, retried with room for every link."""
    cap = 4 * len(qf) + 1_024
    while True:
        i, j, s, cnt = kern.links(qf, qi, *grid, tol_m, tol_s, cap)
        if cnt <= cap:
            return i, j, s, int(cnt)
        cap = int(cnt)


def _best_first(
    idx: npt.NDArray[np.int64],
    li: npt.NDArray[np.int64],
    lj: npt.NDArray[np.int64],
    score: npt.NDArray[np.float64],
    ids: tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]],
) -> npt.NDArray[np.int64]:
    """Order of the links: best score first, ties by the two records' event ids."""
    from ceasewatch.evaluate import _corroborate_kernel as kern

    h = kern.hash_strings(*ids)
    hi_, hj = h[idx[li]], h[idx[lj]]
    hmin, hmax = np.minimum(hi_, hj), np.maximum(hi_, hj)
    order = np.argsort(score)
    return np.asarray(
        kern.order_ties(order, score, hmin, hmax, idx[li], idx[lj], *ids), dtype=np.int64
    )


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
