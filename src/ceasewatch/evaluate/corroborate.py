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
   distinct fires; a record coarse in place (beyond ``coarse_geo_precision_m``) first
   tries the incidents of two or more precise records it is linked to (a lone fire within
   15 km is as likely a stray one), then lone records;
3. coarse records with no precise partner join among themselves, by complete linkage
   (every member linked to every other: back-to-back day-long windows do not chain).

A merge that would put two records of one report together is refused (cannot-link). No
method can be monotone under every addition and also keep that cannot-link, or avoid
chains through coarse records (see tests/evaluate/test_corroborate_invariants.py); what
can move when an event is added is a coarse record, to a better match. Candidate links
come from a space-time grid and the union runs in compiled kernels
(:mod:`ceasewatch.evaluate._corroborate_kernel`), one connected component of the links
at a time (records in time order, components shared out among the cores); no Python loop
per event or link.
"""

from __future__ import annotations

import functools
import itertools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import CRS, Transformer

from ceasewatch.evaluate.frames import join_unique_codes
from ceasewatch.normalize import schema, vocab
from ceasewatch.normalize.crs import to_metric, to_wgs84
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
    #: records known no better than this in time or place are coarse: each joins at most
    #: one incident of precise records, so no chain runs through it
    coarse_time_span_s: float = 12 * 3_600.0
    coarse_geo_precision_m: float = 5_000.0
    #: a record coarser in place than ``coarse_geo_precision_m`` joins an incident of two
    #: or more precise records, if it is linked to one, before a lone precise record (a
    #: lone record may be unrelated noise: a stray fire within 15 km is likely)
    coarse_prefers_corroborated: bool = True


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
    from scipy.spatial import cKDTree  # imported when used: scipy takes ~1 s to load

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


def corroborate(
    events: pd.DataFrame,
    params: CorroborationParams | None = None,
    *,
    timings: dict[str, float] | None = None,
) -> pd.Series:
    """Incident id of each event (index aligned with ``events``).

    ``events`` needs event_id, report_group, occurred_at, time_precision, time_window_s,
    lon, lat, geo_precision_m, category and recorded_at; an optional ``war_related``
    column (fire-anomaly model) keeps probable field fires out of incidents. An incident's
    id is derived from its anchor, the member recorded first (ties broken by event id), so
    an incident keeps its id when later records join it. The result does not depend on the
    input order (links are taken best-first, ties broken by the event ids). ``timings``,
    if given, receives the seconds spent in each phase (a diagnostic for benchmarks).
    """
    from ceasewatch.evaluate import _corroborate_kernel as kern

    clock = _Clock(timings)
    params = params or CorroborationParams()
    n = len(events)
    if n == 0:
        return pd.Series([], index=events.index, dtype="object")
    id_array = _large_strings(events[schema.EVENT_ID])
    ids = _arrow_strings(id_array, schema.EVENT_ID)
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
    clock("columns")
    # records in time order: linked records lie near each other in memory
    idx = np.flatnonzero(eligible)
    idx = idx[np.argsort(lo[idx] + hi[idx])]

    rec = (
        _epoch_s(events[schema.RECORDED_AT])
        if schema.RECORDED_AT in events
        else np.zeros(n, dtype=float)
    )
    rec = np.nan_to_num(rec, nan=np.inf)
    anchor = np.arange(n, dtype=np.int64)
    clock("columns")
    if len(idx) > 1:
        # codes of every row, then of the eligible ones (no gather of strings)
        groups = _group_codes(events[schema.REPORT_GROUP])[idx]
        cat, compat = compatibility(events[schema.CATEGORY])
        cat = cat[idx]
        clock("codes")
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
        clock("candidate links")
        if len(li):
            order = _best_first(idx, li, lj, score, ids)
            clock("best-first sort")
            coarse = (sub.hi - sub.lo > params.coarse_time_span_s) | (
                sub.r > params.coarse_geo_precision_m
            )
            sub_roots = _incidents(sub, li[order], lj[order], coarse, params)
            clock("union (components, three phases)")
            anchor[idx] = idx[kern.anchors_by_id(sub_roots, rec[idx], idx, *ids)]
            clock("anchors")

    # one text per incident (its anchor's id, prefixed), shared by all its members
    is_anchor = np.zeros(n, dtype=bool)
    is_anchor[anchor] = True
    anchors = np.flatnonzero(is_anchor)
    position = np.cumsum(is_anchor) - 1
    sep = pa.scalar("", pa.large_string())
    prefixed = pc.binary_join_element_wise(
        pa.scalar("I", pa.large_string()), id_array.take(pa.array(anchors)), sep
    ).to_numpy(zero_copy_only=False)
    out = pd.Series(
        prefixed[position[anchor]], index=events.index, name=schema.INCIDENT_ID, dtype="object"
    )
    clock("incident ids (strings)")
    return out


class _Clock:
    """Adds the seconds since its last call to ``timings[phase]`` (no-op without one)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def __call__(self, phase: str) -> None:
        if self.timings is None:
            return
        now = time.perf_counter()
        self.timings[phase] = self.timings.get(phase, 0.0) + now - self.last
        self.last = now


def _incidents(
    rec: _Records,
    li: npt.NDArray[np.int64],
    lj: npt.NDArray[np.int64],
    coarse: npt.NDArray[np.bool_],
    params: CorroborationParams,
) -> npt.NDArray[np.int64]:
    """Incident root of each record from its links sorted best-first (three phases, see
    the module docstring), one connected component of the links at a time, components
    shared out among the cores."""
    from ceasewatch.evaluate import _corroborate_kernel as kern

    n = len(rec.r)
    perm, cstart, comp = kern.link_components(n, li, lj)
    ii, jj = li[perm], lj[perm]
    parent = np.arange(n, dtype=np.int64)
    size = np.ones(n, dtype=np.int64)
    nxt = np.full(n, -1, dtype=np.int64)
    tail = np.arange(n, dtype=np.int64)
    attached = np.zeros(n, dtype=np.bool_)
    strong = np.zeros(len(ii), dtype=np.bool_)
    prefer = (rec.r > params.coarse_geo_precision_m) & params.coarse_prefers_corroborated
    n_groups = int(rec.group.max()) + 1
    # the records of each report group (the cannot-link looks them up)
    gmem = kern.order_by_cell(rec.group, n_groups)
    gstart = kern.cell_starts(rec.group[gmem], n_groups)
    # contiguous ranges of components with about as many links each
    ncomp = len(cstart) - 1
    cuts = np.searchsorted(cstart, np.linspace(0, len(ii), _THREADS + 1)[1:-1])
    bounds = [0, *np.clip(cuts, 0, ncomp).tolist(), ncomp]
    args = (parent, size, nxt, tail, attached)
    rest = (coarse, rec.group, rec.table, rec.cat, rec.compat)
    tol = (params.link_tolerance_m, params.time_tolerance_s)
    jobs = [(c0, c1) for c0, c1 in itertools.pairwise(bounds) if c1 > c0]

    def run(c0: int, c1: int) -> None:
        mark = np.full(n_groups, -1, dtype=np.int64)  # one per thread
        kern.union_phases(
            ii, jj, cstart, c0, c1, *args, mark, strong, *rest, *tol,
            prefer, gstart, gmem, comp,
        )  # fmt: skip

    if len(jobs) == 1:
        run(*jobs[0])
    else:
        with ThreadPoolExecutor(len(jobs)) as pool:
            for f in [pool.submit(run, c0, c1) for c0, c1 in jobs]:
                f.result()
    return np.asarray(kern.roots_of(parent), dtype=np.int64)


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

    @functools.cached_property
    def table(self) -> npt.NDArray[np.float64]:
        """The float columns ``F_*`` of the kernels, one row per record (the time columns
        ``F_MID`` relative to the earliest record)."""
        mid = (self.lo + self.hi) / 2
        hw = (self.hi - self.lo) / 2
        return np.column_stack([self.lon, self.lat, self.lo, self.hi, mid - mid.min(), hw, self.r])


def _arrow_strings(arr: pa.Array, name: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Offsets and UTF-8 bytes of a large_string array (see :func:`_large_strings`), no
    Python object per value; a missing value is refused."""
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
    """Each event's time interval (s since the epoch, :func:`time_bounds`), a fire's
    opened by ``fire_lead_s``."""
    lo, hi = time_bounds(
        _epoch_s(events[schema.OCCURRED_AT]),
        events[schema.TIME_PRECISION],
        events[schema.TIME_WINDOW_S].to_numpy(dtype=float),
    )
    fire = (events[schema.CATEGORY] == "fire_detection").to_numpy(dtype=bool)
    lo = np.where(fire, lo - params.fire_lead_s, lo)
    return lo, hi


def _links(
    rec: _Records, params: CorroborationParams
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Every compatible pair ``(i, j)``, ``i < j``, with its score, from a space-time grid.

    Records are split into classes by location and time precision (a dense class also
    by finer time precision); each class is put on a grid of cells in degrees no smaller
    than the largest reach of a link into it (a dense class: one grid per reach of the
    classes it meets, so fire pixels meet fire pixels on cells of their own reach), each
    cell's records sorted by time, so a record finds all its partners of a class in the
    3 x 3 cells around it within a time range. Two classes meet on the grid of the larger
    one, the smaller one binned on it.
    """
    tol_m, tol_s = params.link_tolerance_m, params.time_tolerance_s
    mid = (rec.lo + rec.hi) / 2
    hw = (rec.hi - rec.lo) / 2
    base = float(mid.min())
    mid_rel = mid - base
    tkey = np.floor(mid_rel).astype(np.int64)
    # location classes: up to 5 km, coarser; records up to 1 km get a class of their own
    # when they are nearly all of those up to 5 km (fire pixels among a few town-level
    # records, whose reach would otherwise size every pixel's cells): with more of the
    # coarser ones, the extra class pairs cost more than the finer cells save
    upto_5km = int((rec.r <= 5_000.0).sum())
    edges = [1_000.0, 5_000.0] if (rec.r <= 1_000.0).sum() >= 0.9 * upto_5km else [5_000.0]
    r_cls = np.searchsorted(np.array(edges), rec.r, side="left")
    t_cls = np.searchsorted(np.array([1.5 * 86_400.0]), rec.hi - rec.lo, side="left")
    cls = (r_cls * 2 + t_cls) * 2
    # a dense class is split in time, so that a fire pixel's search is not sized by the
    # reach and time range of the day-level, town-level records among it (a sparse one
    # is not: each class pair costs a pass over the queries)
    shorter = hw <= 0.3 * 86_400.0
    for c in np.unique(cls).tolist():
        m = np.flatnonzero(cls == c)
        if _candidates_per_query(rec, m, mid, hw, float(rec.r[m].max()) + tol_m, tol_s) > 64.0:
            cls[m[shorter[m]]] += 1
    present = np.unique(cls).tolist()
    members = {int(c): np.flatnonzero(cls == c) for c in present}
    lon0, lat0 = float(rec.lon.min()), float(rec.lat.min())
    lon1, lat1 = float(rec.lon.max()), float(rec.lat.max())
    lat_abs = min(89.0, float(np.abs(rec.lat).max()))
    fcols = rec.table
    icols = np.column_stack([np.arange(len(rec.r)), rec.group, rec.cat, tkey])
    hw_max = {c: float(hw[members[c]].max()) for c in present}

    r_max = {c: float(rec.r[members[c]].max()) for c in present}
    grids: dict[tuple[int, float], _Grid] = {}

    r_all = float(rec.r.max())
    # a dense class gets a grid per reach of the classes it meets (its fine records on
    # cells of their own reach), a sparse one a single grid for all of them
    dense = {
        c: _candidates_per_query(rec, members[c], mid, hw, r_all + tol_m, tol_s) > 64.0
        for c in present
    }

    def grid_of(b: int, other: int) -> _Grid:
        # cells no smaller than the reach of a link between the two classes
        reach = r_max[b] + (r_max[other] if dense[b] else r_all) + tol_m
        if (b, reach) not in grids:
            grids[b, reach] = _Grid.build(
                rec, tkey, fcols, icols, members[b], reach, (lon0, lat0, lon1, lat1), lat_abs
            )
        return grids[b, reach]

    out_i, out_j, out_s = [], [], []
    for ai, a in enumerate(present):
        for b in present[ai:]:
            # the larger class is gridded, the smaller one queries it
            g_cls, q_cls = (a, b) if len(members[a]) >= len(members[b]) else (b, a)
            g = grid_of(g_cls, q_cls)
            if a == b:
                qf, qi, qcell = g.f, g.i, g.cell
            else:
                qf, qi, qcell = g.bin(rec, tkey, fcols, icols, members[q_cls])
            # the kernel releases the GIL: one thread per core over slices of the queries
            bounds = np.linspace(0, len(qf), _THREADS + 1).astype(int)
            args = (
                g.f,
                g.i,
                g.start,
                a == b,
                g.ncx,
                g.ncy,
                rec.compat,
                hw_max[q_cls],
                hw_max[g_cls],
            )
            slices = [(qf[q0:q1], qi[q0:q1], qcell[q0:q1]) for q0, q1 in itertools.pairwise(bounds)]
            if len(qf) * len(g.f) < 1 << 24:  # a small pair: no threads
                results = [_links_of(qf, qi, qcell, args, tol_m, tol_s)]
            else:
                with ThreadPoolExecutor(_THREADS) as pool:
                    futures = [
                        pool.submit(_links_of, sq, si, sc, args, tol_m, tol_s)
                        for sq, si, sc in slices
                    ]
                    results = [f.result() for f in futures]
            for i, j, s, cnt in results:
                out_i.append(i[:cnt])
                out_j.append(j[:cnt])
                out_s.append(s[:cnt])
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)


def _candidates_per_query(
    rec: _Records,
    m: npt.NDArray[np.int64],
    mid: npt.NDArray[np.float64],
    hw: npt.NDArray[np.float64],
    other_m: float,
    tol_s: float,
) -> float:
    """Rough number of rows a record of class ``m`` (record indices) meets in its 3 x 3
    cells (of the reach of a link to a record ``other_m`` away, tolerance included) and
    time range: for a sample of the class, the members in its cell of three reaches a side
    and the members within its time range, as fractions of the class, multiplied (the
    class's own clustering in space and in time counts, not its bounding box: fire
    pixels along a front over three days of a twelve-day window are dense)."""
    n = len(m)
    if n < 2:
        return 0.0
    reach = float(rec.r[m].max()) + other_m
    reach_t = 2 * float(hw[m].max()) + tol_s
    step = max(1, n // 4_096)
    sample = np.arange(0, n, step)
    # time: members within reach_t of each sampled member
    t_sorted = np.sort(mid[m])
    t_s = mid[m[sample]]
    near_t = np.searchsorted(t_sorted, t_s + reach_t, side="right") - np.searchsorted(
        t_sorted, t_s - reach_t, side="left"
    )
    # space: members in the sampled member's cell of 3 x reach a side
    lat = rec.lat[m]
    km_lon = 111.32e3 * np.cos(np.radians(min(89.0, float(np.abs(lat).max()))))
    cx = np.floor(rec.lon[m] * km_lon / (3 * reach)).astype(np.int64)
    cy = np.floor(lat * 110.57e3 / (3 * reach)).astype(np.int64)
    codes, _ = pd.factorize(cx * 4_000_003 + cy)
    per_cell = np.bincount(codes)
    near_xy = per_cell[codes[sample]]
    return n * float(np.mean(near_xy) / n) * float(np.mean(near_t) / n)


@dataclass(frozen=True)
class _Grid:
    """One class of records on a grid of cells in degrees: rows sorted by cell, then time
    key (neighbours in memory are neighbours in space and time), and each cell's first
    row."""

    lon0: float
    lat0: float
    dlon: float
    dlat: float
    ncx: int
    ncy: int
    f: npt.NDArray[np.float64]
    i: npt.NDArray[np.int64]
    cell: npt.NDArray[np.int64]
    start: npt.NDArray[np.int64]

    @staticmethod
    def build(
        rec: _Records,
        tkey: npt.NDArray[np.int64],
        fcols: npt.NDArray[np.float64],
        icols: npt.NDArray[np.int64],
        members: npt.NDArray[np.int64],
        reach_m: float,
        box: tuple[float, float, float, float],
        lat_abs: float,
    ) -> _Grid:
        from ceasewatch.evaluate import _corroborate_kernel as kern

        lon0, lat0, lon1, lat1 = box
        # cell sides no smaller than the reach anywhere in the data (N >= a, M >= a(1-e²))
        dlat = float(np.degrees(reach_m / (kern.A_M * (1 - kern.E2))))
        dlon = float(np.degrees(reach_m / (kern.A_M * np.cos(np.radians(lat_abs)))))
        while True:
            # the cell formula of _Grid.bin: the last record's cell is < ncx, < ncy
            ncx = int(np.floor((lon1 - lon0) / dlon)) + 1
            ncy = int(np.floor((lat1 - lat0) / dlat)) + 1
            # no more cells than a few per record (a small class on a fine grid would
            # spend its time on empty cells)
            if ncx * ncy <= min(4_000_000, 4 * len(members) + 4_096):
                break
            dlon, dlat = 2 * dlon, 2 * dlat
        empty = np.empty(0, dtype=np.int64)
        g = _Grid(lon0, lat0, dlon, dlat, ncx, ncy, fcols[:0], icols[:0], empty, empty)
        f, i, cell = g.bin(rec, tkey, fcols, icols, members)
        start = kern.cell_starts(cell, ncx * ncy)
        return _Grid(lon0, lat0, dlon, dlat, ncx, ncy, f, i, cell, start)

    def bin(
        self,
        rec: _Records,
        tkey: npt.NDArray[np.int64],
        fcols: npt.NDArray[np.float64],
        icols: npt.NDArray[np.int64],
        members: npt.NDArray[np.int64],
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Rows of ``members`` on this grid, sorted by cell then time key, and their cells."""
        from ceasewatch.evaluate import _corroborate_kernel as kern

        cx = np.floor((rec.lon[members] - self.lon0) / self.dlon).astype(np.int64)
        cy = np.floor((rec.lat[members] - self.lat0) / self.dlat).astype(np.int64)
        cell = cy * self.ncx + cx
        tk = tkey[members]
        if len(tk) > 1 and not bool(np.all(tk[1:] >= tk[:-1])):
            by_time = np.argsort(tk, kind="stable")
            members, cell = members[by_time], cell[by_time]
        o = kern.order_by_cell(cell, self.ncx * self.ncy)
        rows = members[o]
        return np.take(fcols, rows, axis=0), np.take(icols, rows, axis=0), cell[o]


def _links_of(
    qf: npt.NDArray[np.float64],
    qi: npt.NDArray[np.int64],
    qcell: npt.NDArray[np.int64],
    grid: tuple[Any, ...],
    tol_m: float,
    tol_s: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64], int]:
    """The link kernel over one slice of queries, resumed with more room where its
    output ran out (see :func:`~ceasewatch.evaluate._corroborate_kernel.links`)."""
    from ceasewatch.evaluate import _corroborate_kernel as kern

    links: Any = kern.links
    cap = 4 * len(qf) + 1_024
    parts_i, parts_j, parts_s = [], [], []
    q0 = 0
    while True:
        i, j, s, cnt, stop = links(qf[q0:], qi[q0:], qcell[q0:], *grid, tol_m, tol_s, cap)
        parts_i.append(i[:cnt])
        parts_j.append(j[:cnt])
        parts_s.append(s[:cnt])
        q0 += int(stop)
        if q0 >= len(qf):
            break
        cap *= 2
    if len(parts_i) == 1:
        return i, j, s, int(cnt)
    i, j, s = np.concatenate(parts_i), np.concatenate(parts_j), np.concatenate(parts_s)
    return i, j, s, len(i)


def _best_first(
    idx: npt.NDArray[np.int64],
    li: npt.NDArray[np.int64],
    lj: npt.NDArray[np.int64],
    score: npt.NDArray[np.float64],
    ids: tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]],
) -> npt.NDArray[np.int64]:
    """Order of the links: best score first, ties by the two records' event ids."""
    from ceasewatch.evaluate import _corroborate_kernel as kern

    ia, ib = idx[li], idx[lj]
    h = kern.hash_strings(*ids)
    hi_, hj = h[ia], h[ib]
    hmin, hmax = np.minimum(hi_, hj), np.maximum(hi_, hj)
    order = np.argsort(score)
    # the scores in sorted order: the kernel finds the runs of ties reading in sequence
    return np.asarray(
        kern.order_ties(order, score[order], hmin, hmax, ia, ib, *ids), dtype=np.int64
    )


def _ecef(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Earth-centred coordinates (m) of points on the WGS84 ellipsoid."""
    from ceasewatch.evaluate import _corroborate_kernel as kern

    phi, lam = np.radians(lat), np.radians(lon)
    n = kern.A_M / np.sqrt(1.0 - kern.E2 * np.sin(phi) ** 2)
    return (
        n * np.cos(phi) * np.cos(lam),
        n * np.cos(phi) * np.sin(lam),
        n * (1.0 - kern.E2) * np.sin(phi),
    )


def _from_ecef(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], z: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Longitude and geodetic latitude of Earth-centred points (their height dropped)."""
    # a transformer per call: they are not to be shared between threads
    to_geodetic = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
    lon, lat, _ = to_geodetic.transform(x, y, z)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _sorted_codes(values: Any, name: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
    """``pandas.factorize(values, sort=True)`` without sorting every value: the distinct
    values are found by hashing, then only they are sorted (text by Arrow). Every value
    must be present (a missing ``name`` is an error, not a group)."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    if len(codes) and int(codes.min()) < 0:
        msg = f"{name}: {int((codes < 0).sum())} missing value(s); every event needs one"
        raise ValueError(msg)
    uniq = np.asarray(uniques, dtype=object)
    if len(uniq) < 2:
        return codes.astype(np.int64), uniq
    if pd.api.types.infer_dtype(uniq, skipna=False) == "string":
        order = np.asarray(pc.sort_indices(pa.array(uniq, type=pa.large_string())), np.int64)
    else:  # numbers or mixed values: the order pandas gives them
        order = np.argsort(pd.factorize(uniq, sort=True)[0], kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank[codes], uniq[order]


def _text_rank(values: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Dense rank of the values (equal values share a rank): text by Arrow, anything
    else as pandas sorts it."""
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        arr = pa.array(values, type=pa.large_string())
        return np.asarray(pc.rank(arr, tiebreaker="dense"), dtype=np.int64)
    return np.asarray(pd.factorize(values, sort=True)[0], dtype=np.int64)


def _least_text_first(
    key: npt.NDArray[np.int64], values: npt.NDArray[Any]
) -> npt.NDArray[np.int64]:
    """Per key (``key`` sorted, rows in order within a key): the position of the first row
    holding the key's least value, as a stable sort by (key, value) would put first.
    Text is compared by Arrow (a minimum per key: no sort of the rows); anything else,
    or text with a missing value, is ranked as pandas sorts it."""
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        text = pa.array(values, type=pa.large_string())
        least = pa.table({"k": key, "v": text}).group_by("k").aggregate([("v", "min")])
        at = np.zeros(int(key.max()) + 1, dtype=np.int64)
        at[least["k"].to_numpy()] = np.arange(least.num_rows, dtype=np.int64)
        is_least = pc.equal(text, pc.take(least["v_min"], pa.array(at[key])))
        hit = np.flatnonzero(np.asarray(is_least.to_numpy(zero_copy_only=False), dtype=bool))
        return hit[_run_starts(key[hit])]
    sub = np.lexsort((_text_rank(values), key))
    return sub[_run_starts(key[sub])]


def _run_starts(sorted_key: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Whether each row is the first of its run of equal keys (``sorted_key`` sorted)."""
    start = np.ones(len(sorted_key), dtype=bool)
    start[1:] = sorted_key[1:] != sorted_key[:-1]
    return start


def _first_rows(
    key: npt.NDArray[np.int64],
    n_keys: int,
    sort_by: list[npt.NDArray[np.float64]],
    valid: npt.NDArray[np.bool_] | None = None,
    tie_text: npt.NDArray[Any] | None = None,
) -> npt.NDArray[np.int64]:
    """Per key ``0 .. n_keys - 1``, the position of its first row when the ``valid`` rows
    are sorted by key, then ``sort_by`` (ascending, NaN last), then ``tie_text``, ties kept
    in row order (-1 for a key without valid rows): what
    ``frame[valid].sort_values([key, *sort_by, tie_text]).groupby(key).first()`` picks,
    without sorting text unless two rows tie on every number."""
    rows = np.arange(len(key), dtype=np.int64) if valid is None else np.flatnonzero(valid)
    k = key[rows]
    cols = [np.asarray(c, dtype=float)[rows] for c in sort_by]
    order = np.lexsort([*reversed(cols), k])
    ks = k[order]
    head = _run_starts(ks)
    if tie_text is not None and len(ks):
        # rows that tie with their group's head on every number: the text decides
        head_at = np.maximum.accumulate(np.where(head, np.arange(len(ks)), 0))
        same = np.ones(len(ks), dtype=bool)
        for c in cols:
            cs = c[order]
            hv = cs[head_at]
            same &= (cs == hv) | (np.isnan(cs) & np.isnan(hv))
        tied_groups = np.unique(ks[same & ~head])
        if len(tied_groups):
            cand = same & np.isin(ks, tied_groups)
            pos = np.flatnonzero(cand)
            text = np.asarray(tie_text, dtype=object)[rows[order[pos]]]
            head[pos] = False
            head[pos[_least_text_first(ks[pos], text)]] = True
    out = np.full(n_keys, -1, dtype=np.int64)
    out[ks[head]] = rows[order[head]]
    return out


def _take(values: pd.Series, at: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """``values[at]`` (positions) as objects, None where ``at`` is -1 (only the rows
    taken become Python objects)."""
    out = np.full(len(at), None, dtype=object)
    ok = at >= 0
    out[ok] = values.iloc[at[ok]].to_numpy(dtype=object)
    return out


def summarise_incidents(
    events: pd.DataFrame, incident_id: pd.Series, crs: CRS | None = None
) -> pd.DataFrame:
    """One row per incident: representative place and time, category, sources, confidence.

    The place is the precision-weighted mean (weights 1/radius²) of the members: of their
    Earth-centred (ECEF) positions on the WGS84 ellipsoid brought back to the surface, so
    it depends on the members alone, not on what else is summarised with them; with a
    ``crs`` (a metric CRS) the mean is taken in that CRS instead. The time is that of the
    member known most precisely (ties: the smallest event id). Confidence combines
    independent sources: ``1 - Π(1 - w_s)``, with ``w_s`` the best Admiralty weight among
    source ``s``'s records. Incidents come sorted by id; the text columns are grouped by
    integer codes (one hash of the ids, one sort of the distinct ids), not by text.
    """
    if events.empty:
        return pd.DataFrame(columns=[schema.INCIDENT_ID])
    key, inc = _sorted_codes(incident_id, schema.INCIDENT_ID)
    n = len(inc)
    lon = events[schema.LON].to_numpy(dtype=float)
    lat = events[schema.LAT].to_numpy(dtype=float)
    if crs is None:
        x, y, z = _ecef(lon, lat)
    else:
        x, y = to_metric(lon, lat, crs)
        z = np.zeros(len(lon))
    geo = events[schema.GEO_PRECISION_M].to_numpy(dtype=float)
    w = 1.0 / np.maximum(geo, 1.0) ** 2
    t = _epoch_s(events[schema.OCCURRED_AT])
    lo, hi = time_bounds(
        t,
        events[schema.TIME_PRECISION],
        events[schema.TIME_WINDOW_S].to_numpy(dtype=float),
    )
    src_codes, src_names = _sorted_codes(events[schema.SOURCE], schema.SOURCE)
    weight = vocab.admiralty_weight(
        events[schema.RELIABILITY].to_numpy(dtype=object),
        events[schema.CREDIBILITY].to_numpy(dtype=np.int64),
    )
    nums = pd.DataFrame(
        {
            "_wx": x * w,
            "_wy": y * w,
            "_wz": z * w,
            "_w": w,
            "_geo": geo,
            "_fat": events[schema.FATALITIES].to_numpy(dtype=float),
        }
    )
    g = nums.groupby(key, sort=True)
    sums = g[["_wx", "_wy", "_wz", "_w"]].sum()
    mx, my, mz = (sums[c].to_numpy() / sums["_w"].to_numpy() for c in ("_wx", "_wy", "_wz"))
    ix, iy = _from_ecef(mx, my, mz) if crs is None else to_wgs84(mx, my, crs)

    occurred = events[schema.OCCURRED_AT]
    event_ids = events[schema.EVENT_ID].to_numpy(dtype=object)
    has_time = occurred.notna().to_numpy(dtype=bool)
    best_time = _first_rows(key, n, [hi - lo], valid=has_time, tie_text=event_ids)
    # the precision of that member; like group-by first(), each column's first value that
    # is present (the same member whenever both are, as the store has them)
    has_precision = events[schema.TIME_PRECISION].notna().to_numpy(dtype=bool)
    best_precision = (
        best_time
        if bool(has_time.all() and has_precision.all())
        else _first_rows(key, n, [hi - lo], valid=has_precision, tie_text=event_ids)
    )
    category = events[schema.CATEGORY]
    prio = vocab.lookup(category, schema.CATEGORY_PRIORITY, 0.0)
    top_cat = _first_rows(key, n, [-prio], valid=category.notna().to_numpy(dtype=bool))
    weapon = events[schema.WEAPON_CLASS]
    rank_f = vocab.lookup(weapon, {c: i for i, c in enumerate(schema.WEAPON_CLASSES)}, -1.0)
    heavy = _first_rows(key, n, [-rank_f], valid=rank_f >= 0)
    location = events[schema.LOCATION_NAME]
    place = _first_rows(key, n, [geo], valid=location.notna().to_numpy(dtype=bool))

    # confidence: the best weight of each (incident, source), combined in source order
    n_src = max(len(src_names), 1)
    pair = key * n_src + src_codes
    best = pd.Series(weight).groupby(pair, sort=True).max()
    pair_key = best.index.to_numpy(dtype=np.int64) // n_src
    confidence = 1.0 - (1.0 - best).groupby(pair_key, sort=True).prod()
    n_sources = np.bincount(pair_key, minlength=n)

    def joined(col: str) -> npt.NDArray[Any]:
        return join_unique_codes(key, n, events[col])

    attributed = joined(schema.ATTRIBUTED_TO)
    attributed[attributed == ""] = None
    return pd.DataFrame(
        {
            schema.INCIDENT_ID: inc,
            schema.OCCURRED_AT: occurred.array.take(best_time, allow_fill=True),
            schema.TIME_PRECISION: _take(events[schema.TIME_PRECISION], best_precision),
            schema.LON: ix,
            schema.LAT: iy,
            schema.GEO_PRECISION_M: g["_geo"].min().to_numpy(),
            schema.CATEGORY: _take(category, top_cat),
            "categories": joined(schema.CATEGORY),
            schema.WEAPON_CLASS: _take(weapon, heavy),
            "weapon_classes": joined(schema.WEAPON_CLASS),
            "n_events": np.bincount(key, minlength=n),
            "n_sources": n_sources,
            "sources": joined(schema.SOURCE),
            schema.CONFIDENCE: confidence.to_numpy(),
            schema.FATALITIES: g["_fat"].max().to_numpy(),
            schema.ATTRIBUTED_TO: attributed,
            schema.LOCATION_NAME: _take(location, place),
        }
    )
