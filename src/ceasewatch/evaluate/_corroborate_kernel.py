"""Compiled kernels of corroboration (numba): candidate links on a space-time grid, and
the three-phase union of incidents with the same-report cannot-link.

Distances are on the WGS84 ellipsoid in a local frame at the pair's mean latitude
(meridional and prime-vertical radii of curvature), symmetric in the two events and
accurate to about a millimetre per kilometre at the few-ten-kilometre scale of a link.
Grid cells are in degrees, sized so that every pair within reach lies in adjacent cells
whatever the latitude of the data. Importing this module compiles nothing; the kernels
are compiled on first use or loaded from numba's on-disk cache.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _cache_dir_fallback() -> None:
    """Point numba's cache at a user directory if it cannot write next to this file."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    pycache = Path(__file__).resolve().parent / "__pycache__"
    try:
        pycache.mkdir(exist_ok=True)
        with tempfile.TemporaryFile(dir=pycache):
            pass
        return
    except OSError:
        pass
    target = Path(tempfile.gettempdir()) / f"ceasewatch-numba-{os.getuid()}"
    target.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(target)
    try:  # numba imported already: its config was read; set it there too
        import numba.core.config as numba_config

        setattr(numba_config, "CACHE_DIR", str(target))  # noqa: B010
    except ImportError:  # pragma: no cover
        pass


_cache_dir_fallback()

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

#: WGS84 semi-major axis (m) and first eccentricity squared
A_M = 6_378_137.0
E2 = 6.69437999014e-3


@njit(inline="always", cache=True, fastmath=False, error_model="numpy", nogil=True)
def _dist_m(lon1, lat1, lon2, lat2):  # type: ignore[no-untyped-def]
    """Distance (m) in the local ellipsoidal frame at the pair's mean latitude."""
    phi = np.radians(0.5 * (lat1 + lat2))
    s = np.sin(phi)
    w2 = 1.0 - E2 * s * s
    w = np.sqrt(w2)
    n = A_M / w
    m = A_M * (1.0 - E2) / (w2 * w)
    dx = n * np.cos(phi) * np.radians(lon2 - lon1)
    dy = m * np.radians(lat2 - lat1)
    return np.sqrt(dx * dx + dy * dy)


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def cell_starts(cell_sorted, ncell):  # type: ignore[no-untyped-def]
    """Start of each cell in points sorted by cell (``ncell + 1`` offsets)."""
    start = np.zeros(ncell + 1, dtype=np.int64)
    for k in range(len(cell_sorted)):
        start[cell_sorted[k] + 1] += 1
    for c in range(ncell):
        start[c + 1] += start[c]
    return start


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def order_by_cell(cell, ncell):  # type: ignore[no-untyped-def]
    """Stable order of ``cell`` (a counting sort: rows in time order stay in time order
    within each cell)."""
    pos = np.zeros(ncell + 1, dtype=np.int64)
    for k in range(len(cell)):
        pos[cell[k] + 1] += 1
    for c in range(ncell):
        pos[c + 1] += pos[c]
    out = np.empty(len(cell), dtype=np.int64)
    for k in range(len(cell)):
        c = cell[k]
        out[pos[c]] = k
        pos[c] += 1
    return out


#: columns of the float and integer record tables the link kernel reads
F_LON, F_LAT, F_LO, F_HI, F_MID, F_HW, F_R = range(7)
I_IDX, I_GROUP, I_CAT, I_TKEY = range(4)


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _lower(gi, a, b, v):  # type: ignore[no-untyped-def]
    """First row in ``gi[a:b]`` whose time key is >= ``v``."""
    while a < b:
        h = (a + b) >> 1
        if gi[h, I_TKEY] < v:
            a = h + 1
        else:
            b = h
    return a


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def links(  # type: ignore[no-untyped-def]
    qf, qi, qcell, gf, gi, start, same_set, ncx, ncy, compat, hw_max_q, hw_max_g,
    link_tol_m, time_tol_s, cap,
):  # fmt: skip
    """Compatible pairs between query records and gridded records.

    ``qf``/``qi`` and ``gf``/``gi`` are row tables (float columns ``F_*``, integer columns
    ``I_*``), both sorted by cell of the same grid (``qcell``: the queries' cells), then
    time key; ``start`` holds each grid cell's first row. A pair is kept when the two
    records come from different report groups, their categories are compatible, their
    location discs come within ``link_tol_m`` and their time intervals within
    ``time_tol_s``. With ``same_set`` (queries are the gridded records) each pair is
    reported once: a query meets its own cell and the cells after it (right, and the
    row above), the cells before it meet it from their side. Returns ``(i, j, score,
    count, stop)`` in record indices (``i < j``): the links of the queries before
    ``stop``, ``count <= cap`` of them; ``stop < len(qf)`` when the links of the run of
    queries (of one cell) starting at ``stop`` would not fit, and the caller goes on
    from there with more room (only that run's work is done twice). ``score`` is the distance
    relative to its reach plus the time gap relative to its reach (0 = same place and
    time).

    The queries of one cell meet the rows of each of the 3 x 3 cells around it in time
    order: one cursor per neighbouring cell moves forward only (a merge, no search per
    query), from the earliest time any query of the run can reach.
    """
    oi = np.empty(cap, dtype=np.int64)
    oj = np.empty(cap, dtype=np.int64)
    osc = np.empty(cap, dtype=np.float64)
    cnt = 0
    cnt_before = 0
    nq = qf.shape[0]
    # the cursor lags every query of the run by this many time keys (monotone in the key)
    lag = np.int64(np.ceil(hw_max_q + hw_max_g + time_tol_s)) + 2
    s = 0
    while s < nq:
        c = qcell[s]
        e = s + 1
        while e < nq and qcell[e] == c:
            e += 1
        gx = c % ncx
        gy = c // ncx
        for yy in range(max(gy - 1, 0), min(gy + 2, ncy)):
            for xx in range(max(gx - 1, 0), min(gx + 2, ncx)):
                nc = yy * ncx + xx
                # within one set each pair of distinct cells is met from one side only
                if same_set and nc < c and yy == gy:
                    continue
                if same_set and yy < gy:
                    continue
                a, b = start[nc], start[nc + 1]
                if a == b:
                    continue
                p = _lower(gi, a, b, qi[s, I_TKEY] - lag)
                for q in range(s, e):
                    t_first = qi[q, I_TKEY] - lag
                    while p < b and gi[p, I_TKEY] < t_first:
                        p += 1
                    if p == b:
                        break
                    i = qi[q, I_IDX]
                    lon_i, lat_i = qf[q, F_LON], qf[q, F_LAT]
                    lo_i, hi_i, mid_i, hw_i, r_i = (
                        qf[q, F_LO],
                        qf[q, F_HI],
                        qf[q, F_MID],
                        qf[q, F_HW],
                        qf[q, F_R],
                    )
                    g_i, c_i = qi[q, I_GROUP], qi[q, I_CAT]
                    reach_t = hw_i + hw_max_g + time_tol_s
                    t_lo = np.int64(np.floor(mid_i - reach_t)) - 1
                    t_hi = np.int64(np.ceil(mid_i + reach_t)) + 1
                    row = p
                    while row < b:
                        tk = gi[row, I_TKEY]
                        if tk > t_hi:
                            break
                        if tk < t_lo:
                            row += 1
                            continue
                        j = gi[row, I_IDX]
                        cur = row
                        row += 1
                        if same_set and nc == c and j <= i:
                            continue
                        if g_i == gi[cur, I_GROUP] or not compat[c_i, gi[cur, I_CAT]]:
                            continue
                        if lo_i - time_tol_s > gf[cur, F_HI] or gf[cur, F_LO] - time_tol_s > hi_i:
                            continue
                        reach = r_i + gf[cur, F_R] + link_tol_m
                        d = _dist_m(lon_i, lat_i, gf[cur, F_LON], gf[cur, F_LAT])
                        if d > reach:
                            continue
                        if cnt < cap:
                            oi[cnt] = min(i, j)
                            oj[cnt] = max(i, j)
                            dt = abs(mid_i - gf[cur, F_MID])
                            osc[cnt] = d / reach + dt / (hw_i + gf[cur, F_HW] + time_tol_s)
                        cnt += 1
        if cnt > cap:
            # out of room in this run of queries: return the runs before it
            return oi, oj, osc, cnt_before, s
        cnt_before = cnt
        s = e
    return oi, oj, osc, cnt, nq


@njit(inline="always", cache=True, fastmath=False, error_model="numpy", nogil=True)
def _find(parent, a):  # type: ignore[no-untyped-def]
    root = a
    while parent[root] != root:
        root = parent[root]
    while parent[a] != root:
        nxt = parent[a]
        parent[a] = root
        a = nxt
    return root


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _try_union(  # type: ignore[no-untyped-def]
    parent, size, nxt, tail, group, mark, stamp, a, b, gstart, gmem, comp, multi
):
    """Merge the incidents of ``a`` and ``b`` unless that puts two records of one report
    group together; returns whether they are (now) one incident.

    ``gmem[gstart[g]:gstart[g + 1]]`` are the records of group ``g``, ``comp`` each
    record's component. Only records whose group has other records can clash (a fire
    pixel is its own report): each incident keeps a list of those (``multi``: see
    :func:`_multi_lists`), and only they are scanned. The smaller incident's are: each
    looks up the other records of its group in the larger incident when that costs less
    than marking the groups of the larger incident's (a record joining a large incident
    then costs its group's size, not the incident's).
    """
    head2, nxt2, _tail2, cnt2 = multi
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra == rb:
        return True
    if size[ra] < size[rb]:
        ra, rb = rb, ra
    lookups = 0
    k = head2[rb]
    while k != -1 and lookups <= cnt2[ra]:
        g = group[k]
        lookups += gstart[g + 1] - gstart[g]
        k = nxt2[k]
    if lookups <= cnt2[ra]:
        k = head2[rb]
        while k != -1:
            g = group[k]
            for p in range(gstart[g], gstart[g + 1]):
                x = gmem[p]
                # a record of another component is in no incident of this one (and
                # may be in another thread's hands)
                if x != k and comp[x] == comp[k] and _find(parent, x) == ra:
                    return False
            k = nxt2[k]
    else:
        # mark the larger incident's groups, scan the smaller one's
        k = head2[ra]
        while k != -1:
            mark[group[k]] = stamp
            k = nxt2[k]
        k = head2[rb]
        while k != -1:
            if mark[group[k]] == stamp:
                return False
            k = nxt2[k]
    _merge(parent, size, nxt, tail, multi, ra, rb)
    return True


@njit(inline="always", cache=True, fastmath=False, error_model="numpy", nogil=True)
def _merge(parent, size, nxt, tail, multi, ra, rb):  # type: ignore[no-untyped-def]
    """Incident ``rb`` joins incident ``ra`` (both roots): parent, size, member lists."""
    head2, nxt2, tail2, cnt2 = multi
    parent[rb] = ra
    size[ra] += size[rb]
    nxt[tail[ra]] = rb
    tail[ra] = tail[rb]
    if head2[rb] != -1:
        if head2[ra] == -1:
            head2[ra] = head2[rb]
        else:
            nxt2[tail2[ra]] = head2[rb]
        tail2[ra] = tail2[rb]
        cnt2[ra] += cnt2[rb]


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _multi_lists(group, gstart):  # type: ignore[no-untyped-def]
    """Per incident (every record alone at first), the list of its records whose report
    group has other records: ``(head, next, tail, count)``, head -1 for none."""
    n = len(group)
    head2 = np.full(n, -1, dtype=np.int64)
    nxt2 = np.full(n, -1, dtype=np.int64)
    tail2 = np.arange(n, dtype=np.int64)
    cnt2 = np.zeros(n, dtype=np.int64)
    for k in range(n):
        g = group[k]
        if gstart[g + 1] - gstart[g] > 1:
            head2[k] = k
            cnt2[k] = 1
    return head2, nxt2, tail2, cnt2


@njit(inline="always", cache=True, fastmath=False, error_model="numpy", nogil=True)
def _linked(i, j, rf, group, cat, compat, link_tol_m, time_tol_s):  # type: ignore[no-untyped-def]
    """The pairwise rule of :func:`links` for records ``i`` and ``j`` of table ``rf``."""
    if group[i] == group[j] or not compat[cat[i], cat[j]]:
        return False
    if rf[i, F_LO] - time_tol_s > rf[j, F_HI] or rf[j, F_LO] - time_tol_s > rf[i, F_HI]:
        return False
    d = _dist_m(rf[i, F_LON], rf[i, F_LAT], rf[j, F_LON], rf[j, F_LAT])
    return d <= rf[i, F_R] + rf[j, F_R] + link_tol_m


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def _try_union_complete(  # type: ignore[no-untyped-def]
    parent, size, nxt, tail, a, b, rf, group, cat, compat, link_tol_m, time_tol_s, multi
):
    """Merge the incidents of ``a`` and ``b`` only if every member of one is linked to
    every member of the other (complete linkage: no chain)."""
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra == rb:
        return True
    u = ra
    while u != -1:
        v = rb
        while v != -1:
            if not _linked(u, v, rf, group, cat, compat, link_tol_m, time_tol_s):
                return False
            v = nxt[v]
        u = nxt[u]
    if size[ra] < size[rb]:
        ra, rb = rb, ra
    _merge(parent, size, nxt, tail, multi, ra, rb)
    return True


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def link_components(n, ii, jj):  # type: ignore[no-untyped-def]
    """The links grouped by connected component of the link graph, keeping their order
    within each component (a stable counting sort by the component's smallest record).

    Returns ``(perm, cstart, comp)``: ``perm`` the new order of the links, ``cstart`` the
    first position in it of each component (and the end), ``comp`` each record's
    component (its smallest record). Incidents never span two
    components, so :func:`union_phases` may run component by component, on the few
    records and links of one at a time (in cache) and on several components at once.
    """
    parent = np.arange(n)
    m = len(ii)
    for k in range(m):
        ra = _find(parent, ii[k])
        rb = _find(parent, jj[k])
        if ra < rb:
            parent[rb] = ra
        elif rb < ra:
            parent[ra] = rb
    key = np.empty(m, dtype=np.int64)
    count = np.zeros(n + 1, dtype=np.int64)
    for k in range(m):
        c = _find(parent, ii[k])
        key[k] = c
        count[c + 1] += 1
    ncomp = 0
    for c in range(n):
        if count[c + 1] > 0:
            ncomp += 1
        count[c + 1] += count[c]
    perm = np.empty(m, dtype=np.int64)
    for k in range(m):
        c = key[k]
        perm[count[c]] = k
        count[c] += 1
    cstart = np.empty(ncomp + 1, dtype=np.int64)
    q = 0
    for p in range(m):
        if p == 0 or key[perm[p]] != key[perm[p - 1]]:
            cstart[q] = p
            q += 1
    cstart[ncomp] = m
    comp = np.empty(n, dtype=np.int64)
    for k in range(n):
        comp[k] = _find(parent, k)
    return perm, cstart, comp


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def union_phases(  # type: ignore[no-untyped-def]
    ii, jj, cstart, c0, c1, parent, size, nxt, tail, attached, mark, strong, coarse, group, rf,
    cat, compat, link_tol_m, time_tol_s, prefer, gstart, gmem, rcomp,
):  # fmt: skip
    """Incidents of components ``c0 .. c1 - 1``, from their links sorted best-first
    within each component (``cstart``: see :func:`link_components`).

    Phase 1 joins precise records (links between two precise records); phase 2 attaches
    each coarse record to the incident of its best precise partner that holds no record
    of its report group (at most one incident per coarse record: no chain through it);
    phase 3 joins the coarse records that found no precise partner among themselves by
    complete linkage (back-to-back day-long windows do not chain into weeks). Every merge
    is refused when it would put two records of one report group together. ``rf`` is the
    float record table (columns ``F_*``) the complete-linkage test reads. The union-find
    arrays (``parent`` .. ``attached``) are updated in place; components are independent,
    so calls on disjoint ranges may run at the same time (each with its own ``mark``).
    ``gstart``/``gmem`` list the records of each report group, ``rcomp`` gives each
    record's component (see :func:`_try_union`).
    Processing each component's links in the three phases gives the very incidents the
    phases give over all links at once: a merge only ever involves one component.
    """
    stamp = 0
    # the incident that last refused each coarse record (one of its records): incidents
    # only grow, so it keeps refusing, and the record's other links to it are skipped
    # without rescanning (a day-level ACLED record may reach a thousand pixels of one fire)
    refused = np.full(parent.shape[0], -1, dtype=np.int64)
    # this call's own lists (it touches only the records of its components)
    multi = _multi_lists(group, gstart)
    longest = 0
    for comp in range(c0, c1):
        longest = max(longest, cstart[comp + 1] - cstart[comp])
    # the component's links with one coarse end (phases 2) and with two (phase 3), in
    # their best-first order: the later phases pass over those only
    mixed = np.empty(longest, dtype=np.int64)
    both = np.empty(longest, dtype=np.int64)
    for comp in range(c0, c1):
        s, e = cstart[comp], cstart[comp + 1]
        n_mixed = 0
        n_both = 0
        for k in range(s, e):
            a, b = ii[k], jj[k]
            if not coarse[a] and not coarse[b]:
                stamp += 1
                _try_union(
                    parent, size, nxt, tail, group, mark, stamp, a, b, gstart, gmem, rcomp, multi
                )
            elif coarse[a] and coarse[b]:
                both[n_both] = k
                n_both += 1
            else:
                mixed[n_mixed] = k
                n_mixed += 1
        # a record with ``prefer`` tries incidents of two or more precise records first
        # (their sizes as phase 1 left them)
        for pref in range(1, -1, -1):
            if pref:
                for q in range(n_mixed):
                    k = mixed[q]
                    a, b = ii[k], jj[k]
                    c = a if coarse[a] else b
                    p = b if coarse[a] else a
                    strong[k] = not prefer[c] or size[_find(parent, p)] >= 2
            for q in range(n_mixed):
                k = mixed[q]
                if pref and not strong[k]:
                    continue
                a, b = ii[k], jj[k]
                c = a if coarse[a] else b
                p = b if coarse[a] else a
                if attached[c]:
                    continue
                if refused[c] != -1 and _find(parent, refused[c]) == _find(parent, p):
                    continue
                stamp += 1
                if _try_union(
                    parent, size, nxt, tail, group, mark, stamp, c, p, gstart, gmem, rcomp, multi
                ):
                    attached[c] = True
                else:
                    refused[c] = p
        for q in range(n_both):
            k = both[q]
            a, b = ii[k], jj[k]
            if attached[a] or attached[b]:
                continue
            _try_union_complete(
                parent,
                size,
                nxt,
                tail,
                a,
                b,
                rf,
                group,
                cat,
                compat,
                link_tol_m,
                time_tol_s,
                multi,
            )
    return stamp


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def roots_of(parent):  # type: ignore[no-untyped-def]
    """Root of every record."""
    n = len(parent)
    roots = np.empty(n, dtype=np.int64)
    for k in range(n):
        roots[k] = _find(parent, k)
    return roots


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def hash_strings(offsets, data):  # type: ignore[no-untyped-def]
    """64-bit FNV-1a hash of each string of an Arrow (large_)string column."""
    n = len(offsets) - 1
    out = np.empty(n, dtype=np.uint64)
    prime = np.uint64(1099511628211)
    for k in range(n):
        h = np.uint64(14695981039346656037)
        for p in range(offsets[k], offsets[k + 1]):
            h = (h ^ np.uint64(data[p])) * prime
        out[k] = h
    return out


@njit(inline="always", cache=True, fastmath=False, error_model="numpy", nogil=True)
def _str_less(offsets, data, a, b):  # type: ignore[no-untyped-def]
    """Whether string ``a`` sorts before string ``b`` (UTF-8 bytes: code point order)."""
    pa, ea = offsets[a], offsets[a + 1]
    pb, eb = offsets[b], offsets[b + 1]
    while pa < ea and pb < eb:
        if data[pa] != data[pb]:
            return data[pa] < data[pb]
        pa += 1
        pb += 1
    return (ea - offsets[a]) < (eb - offsets[b])


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def order_ties(order, sorted_score, ha, hb, ia, ib, offsets, data):  # type: ignore[no-untyped-def]
    """Within runs of ``order`` (sorted by score; ``sorted_score`` is the scores in that
    order, read in sequence) with equal scores, sort the links by the hashes ``ha <= hb``
    of their two ids, then by the ids themselves, so that the order never depends on the
    input order."""
    m = len(order)
    s = 0
    while s < m:
        e = s + 1
        while e < m and sorted_score[e] == sorted_score[s]:
            e += 1
        if e - s > 1:
            for p in range(s + 1, e):
                v = order[p]
                q = p - 1
                while q >= s:
                    u = order[q]
                    if ha[v] < ha[u] or (ha[v] == ha[u] and hb[v] < hb[u]):
                        pass
                    elif ha[v] == ha[u] and hb[v] == hb[u]:
                        if not _link_less(v, u, ia, ib, offsets, data):
                            break
                    else:
                        break
                    order[q + 1] = u
                    q -= 1
                order[q + 1] = v
        s = e
    return order


@njit(inline="always", cache=True, fastmath=False, error_model="numpy", nogil=True)
def _link_less(u, v, ia, ib, offsets, data):  # type: ignore[no-untyped-def]
    """Link ``u`` before link ``v`` by (smaller id, larger id) of their two records."""
    u1, u2 = ia[u], ib[u]
    if _str_less(offsets, data, u2, u1):
        u1, u2 = u2, u1
    v1, v2 = ia[v], ib[v]
    if _str_less(offsets, data, v2, v1):
        v1, v2 = v2, v1
    if _str_less(offsets, data, u1, v1):
        return True
    if _str_less(offsets, data, v1, u1):
        return False
    return _str_less(offsets, data, u2, v2)


@njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
def anchors_by_id(roots, rec, rows, offsets, data):  # type: ignore[no-untyped-def]
    """Position of each record's incident anchor: the member recorded first, ties broken
    by the smaller event id (record ``k``'s id is string ``rows[k]``)."""
    n = len(roots)
    best = np.arange(n)
    for k in range(n):
        rt = roots[k]
        b = best[rt]
        if k == b:
            continue
        if rec[k] < rec[b] or (rec[k] == rec[b] and _str_less(offsets, data, rows[k], rows[b])):
            best[rt] = k
    out = np.empty(n, dtype=np.int64)
    for k in range(n):
        out[k] = best[roots[k]]
    return out
