"""Compiled per-event kernels of the fast zone evaluation (numba).

One fused loop over the events, parallel over the cores: the polynomial projection, the
index's cell, the exact minimum distance over the cell's candidate segments, the zone, and
the side and sector codes from the label rasters. Each step does the same floating-point
operations in the same order as the numpy code of ``zones.py`` (no fast-math, so no fused
multiply-adds), so both give the same bits. What the structures cannot settle is flagged
for the exact method: points beyond the projection's box or the index (and NaN), distances
within a centimetre of a band edge, points in label sub-cells a polygon edge crosses.

A second kernel writes an Arrow ``large_string`` column (offsets, bytes, validity) from
label codes, without a Python object per event.

Importing this module compiles nothing: the kernels are compiled on first use, or loaded
from numba's on-disk cache (``cache=True``). When the package directory is not writable
and ``NUMBA_CACHE_DIR`` is unset, the cache goes to the user's cache directory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ceasewatch.paths import user_cache_dir


def _cache_dir_fallback() -> None:
    """Point numba's cache at a user directory if it cannot write next to this file."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = Path(__file__).resolve().parent
    pycache = here / "__pycache__"
    try:
        pycache.mkdir(exist_ok=True)
        with tempfile.TemporaryFile(dir=pycache):
            pass
        return
    except OSError:
        pass
    target = user_cache_dir() / "numba"
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        target = Path(tempfile.gettempdir()) / f"ceasewatch-numba-{os.getuid()}"
        target.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(target)
    try:  # numba imported already: its config was read; set it there too
        import numba.core.config as numba_config

        setattr(numba_config, "CACHE_DIR", str(target))  # noqa: B010
    except ImportError:  # pragma: no cover
        pass


_cache_dir_fallback()

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

#: per-event flags the kernel sets
FLAG_EXACT = 1  # distance and zone by the exact method
FLAG_SIDE = 2  # side by the exact point-in-polygon test
FLAG_SECTOR = 4  # sector likewise


#: coefficients of the projection's polynomials as the kernel takes them: padded with
#: leading zeros to these lengths (the same values to the bit: 0·t + 0 is 0), so that its
#: loops have fixed lengths and the projection vectorizes
RHO_TERMS = 16
SIN_COS_TERMS = 8


@njit(inline="always", cache=True, fastmath=False, error_model="numpy", nogil=True)
def _horner(coef, t, terms):  # type: ignore[no-untyped-def]
    out = coef[0]
    for k in range(1, terms):
        out *= t
        out += coef[k]
    return out


@njit(inline="always", cache=True, fastmath=False, error_model="numpy", nogil=True)
def _d2(x, y, s, seg):  # type: ignore[no-untyped-def]
    """Squared distance from (x, y) to piece ``s`` (rows x0 y0 dx dy 1/length²)."""
    b = 5 * s
    dx = seg[b + 2]
    dy = seg[b + 3]
    ex = x - seg[b]
    ey = y - seg[b + 1]
    t = ex * dx
    t += ey * dy
    t *= seg[b + 4]
    t = min(max(t, 0.0), 1.0)
    ex -= dx * t
    ey -= dy * t
    return ex * ex + ey * ey


@njit(inline="always", cache=True, fastmath=False, error_model="numpy", nogil=True)
def _label_cell(lon, lat, geo, dim):  # type: ignore[no-untyped-def]
    """Flat index of a raster's top cell holding the point (clamped onto the raster, NaN
    to its border)."""
    nx = dim[0]
    fx = (lon - geo[0]) * geo[2]
    fy = (lat - geo[1]) * geo[2]
    if not fx >= 0.0:
        fx = 0.0
    if fx > nx - 1.0:
        fx = nx - 1.0
    if not fy >= 0.0:
        fy = 0.0
    if fy > dim[1] - 1.0:
        fy = dim[1] - 1.0
    return np.intp(fy) * nx + np.intp(fx)


@njit(inline="always", cache=True, fastmath=False, error_model="numpy", nogil=True)
def _label_sub(lon, lat, code, geo, dim, sub, m):  # type: ignore[no-untyped-def]
    """The label in a cut top cell (``code`` < 0) from its sub-grid; -1: test exactly."""
    nx = dim[0]
    fx = (lon - geo[0]) * geo[2]
    fy = (lat - geo[1]) * geo[2]
    if not fx >= 0.0:
        fx = 0.0
    if fx > nx - 1.0:
        fx = nx - 1.0
    if not fy >= 0.0:
        fy = 0.0
    if fy > dim[1] - 1.0:
        fy = dim[1] - 1.0
    block = (np.intp(-code) - 1) * m * m
    sx = np.intp((fx - np.intp(fx)) * m)
    sy = np.intp((fy - np.floor(fy)) * m)
    block += min(sy, m - 1) * m + min(sx, m - 1)
    return np.int32(sub[block])


#: events per block of the kernels: each step runs over a block before the next, so the
#: table look-ups of a block's events are independent and overlap in the memory system
BLOCK = 256


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy", nogil=True)
def evaluate(  # type: ignore[no-untyped-def]
    lon,
    lat,
    px,
    py,
    projected,
    # projection
    box,
    lon_0,
    lat_mid,
    rho,
    psin,
    pcos,
    x_0,
    y_0,
    # index
    ix0,
    iy0,
    inv_cell,
    n_top,
    itop,
    isub,
    cand,
    seg,
    widths_km,
    widths_sorted,
    edge_tol,
    # labels
    side_geo,
    side_dim,
    side_top,
    side_sub,
    sec_geo,
    sec_dim,
    sec_top,
    sec_sub,
    has_sector,
    label_sub,
    # out
    d_km,
    zone,
    side,
    sector,
    flags,
):
    """Distance (km, to the millimetre), zone, side and sector codes of every event.

    ``projected``: ``px``/``py`` hold the metric coordinates (else they are projected here
    from lon/lat by the polynomials, inside ``box``). Events flagged ``FLAG_EXACT`` have
    NaN distance and the 'outside' zone code until the caller fills them in.
    """
    n = len(lon)
    nw = len(widths_km)
    size = n_top / inv_cell
    n_blocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        s0 = blk * BLOCK
        nb = min(n, s0 + BLOCK) - s0
        xs = np.empty(nb)
        ys = np.empty(nb)
        at = np.empty(nb, dtype=np.intp)
        lab = np.empty(nb, dtype=np.intp)
        lab2 = np.empty(nb, dtype=np.intp)
        # 1. the metric coordinates (a loop without branches: it vectorizes)
        if projected:
            for j in range(nb):
                xs[j] = px[s0 + j]
                ys[j] = py[s0 + j]
        else:
            for j in range(nb):
                la = lat[s0 + j]
                u = lon[s0 + j] - lon_0
                r = _horner(rho, la - lat_mid, RHO_TERMS)
                w = u * u
                x = _horner(psin, w, SIN_COS_TERMS)
                x *= u
                x *= r
                x += x_0
                y = _horner(pcos, w, SIN_COS_TERMS)
                y *= r
                xs[j] = x
                ys[j] = y_0 - y
        # side/sector top cells; the index's top cell (-1: the exact method)
        for j in range(nb):
            i = s0 + j
            lo = lon[i]
            la = lat[i]
            flags[i] = 0
            lab[j] = _label_cell(lo, la, side_geo, side_dim)
            if has_sector:
                lab2[j] = _label_cell(lo, la, sec_geo, sec_dim)
            x = xs[j]
            y = ys[j]
            inside = projected or (lo >= box[0] and lo <= box[2] and la >= box[1] and la <= box[3])
            if inside and x >= ix0 and x < ix0 + size and y >= iy0 and y < iy0 + size:
                tx = min(np.intp((x - ix0) * inv_cell), n_top - 1)
                ty = min(np.intp((y - iy0) * inv_cell), n_top - 1)
                at[j] = ty * n_top + tx
            else:
                at[j] = -1
        # 2. top entries → sub-cell; label top cells
        for j in range(nb):
            i = s0 + j
            c = side_top[lab[j]]
            side[i] = c
            if has_sector:
                sector[i] = sec_top[lab2[j]]
            t = at[j]
            if t < 0:
                continue
            gx = (xs[j] - ix0) * inv_cell
            gy = (ys[j] - iy0) * inv_cell
            gx -= min(np.intp(gx), n_top - 1)
            gy -= min(np.intp(gy), n_top - 1)
            e = np.intp(itop[t])
            shift = e & 7
            e >>= 3
            scale = np.float64(1 << shift)
            ssx = min(np.intp(gx * scale), (1 << shift) - 1)
            ssy = min(np.intp(gy * scale), (1 << shift) - 1)
            at[j] = e + (ssy << shift) + ssx
        # 3. sub-cell entries; label sub-cells where the top cell is cut
        for j in range(nb):
            i = s0 + j
            c = side[i]
            if c < 0:
                c = _label_sub(lon[i], lat[i], c, side_geo, side_dim, side_sub, label_sub)
                if c < 0:
                    flags[i] |= FLAG_SIDE
                side[i] = c
            if has_sector:
                c = sector[i]
                if c < 0:
                    c = _label_sub(lon[i], lat[i], c, sec_geo, sec_dim, sec_sub, label_sub)
                    if c < 0:
                        flags[i] |= FLAG_SECTOR
                    sector[i] = c
            if at[j] >= 0:
                lab[j] = np.intp(isub[at[j]])
        # 4. the first candidate (where it is in `candidates`)
        for j in range(nb):
            if at[j] < 0:
                continue
            entry = lab[j]
            kind = (entry >> 5) & 3
            p = entry >> 7
            if kind == 0:
                lab2[j] = p
            elif kind == 1:
                lab2[j] = cand[p]
            else:
                lab2[j] = cand[p + 1]
        # 5. the exact minimum over the candidates, the zone
        for j in range(nb):
            i = s0 + j
            if at[j] < 0:
                flags[i] |= FLAG_EXACT
                d_km[i] = np.nan
                zone[i] = nw
                continue
            x = xs[j]
            y = ys[j]
            entry = lab[j]
            kind = (entry >> 5) & 3
            p = entry >> 7
            d2 = _d2(x, y, lab2[j], seg)
            if kind == 1:
                d2 = min(d2, _d2(x, y, cand[p + 1], seg))
            elif kind == 2:
                for q in range(p + 2, p + 1 + cand[p]):
                    d2 = min(d2, _d2(x, y, cand[q], seg))
            raw = np.sqrt(d2)
            dk = np.rint(raw * 1000.0) / 1000.0
            dk /= 1000.0
            d_km[i] = dk
            if (entry & 1) == 0:
                zone[i] = (entry >> 1) & 15
            else:
                # near a band edge: the zone from the distance, as the reference has it;
                # the reference itself within a centimetre of an edge
                zc = 0
                near = False
                for b in range(nw):
                    wk = widths_km[b]
                    if dk > wk:
                        zc += 1
                    if abs(raw - wk * 1000.0) < edge_tol:
                        near = True
                zone[i] = zc
                if near or not widths_sorted:
                    flags[i] |= FLAG_EXACT


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy", nogil=True)
def labels(lon, lat, geo, dim, top, sub, label_sub, out, flags):  # type: ignore[no-untyped-def]
    """Label codes of every event from one raster; ``flags[i]`` 1 where the exact test must
    decide."""
    n = len(lon)
    for blk in prange((n + BLOCK - 1) // BLOCK):
        s0 = blk * BLOCK
        s1 = min(n, s0 + BLOCK)
        for i in range(s0, s1):
            out[i] = top[_label_cell(lon[i], lat[i], geo, dim)]
        for i in range(s0, s1):
            c = out[i]
            if c < 0:
                c = _label_sub(lon[i], lat[i], c, geo, dim, sub, label_sub)
                out[i] = c
            flags[i] = 1 if c < 0 else 0


@njit(parallel=True, cache=True, fastmath=False, error_model="numpy", nogil=True)
def label_strings(codes, lab_off, lab_bytes, lab_pad, lab_valid, offsets, validity):  # type: ignore[no-untyped-def]
    """Offsets (``n + 1``) and validity bits (if ``validity`` is not empty) of an Arrow
    large_string column whose value ``i`` is label ``codes[i]``; returns its bytes and its
    count of nulls (``lab_valid[c]`` False: label ``c`` is null; ``lab_pad``: each label's
    bytes padded to 16)."""
    n = len(codes)
    block = 1 << 16  # a multiple of 8: each validity byte is written by one block only
    nb = (n + block - 1) // block
    sums = np.zeros(nb + 1, dtype=np.int64)
    nulls = np.zeros(nb, dtype=np.int64)
    for b in prange(nb):
        s = 0
        z = 0
        for i in range(b * block, min(n, (b + 1) * block)):
            c = codes[i]
            s += lab_off[c + 1] - lab_off[c]
            if not lab_valid[c]:
                z += 1
        sums[b + 1] = s
        nulls[b] = z
    for b in range(nb):
        sums[b + 1] += sums[b]
    data = np.empty(sums[nb], dtype=np.uint8)
    offsets[0] = 0
    for b in prange(nb):
        pos = sums[b]
        lim = sums[b + 1]  # this block's bytes end here
        end = min(n, (b + 1) * block)
        for i in range(b * block, end):
            c = codes[i]
            a = lab_off[c]
            size = lab_off[c + 1] - a
            if size <= 16 and pos + 16 <= lim:
                # a fixed 16-byte copy (the next values overwrite what is past this one)
                for k in range(16):
                    data[pos + k] = lab_pad[c * 16 + k]
            else:
                for k in range(size):
                    data[pos + k] = lab_bytes[a + k]
            pos += size
            offsets[i + 1] = pos
        if len(validity):
            for byte in range(b * block // 8, (end + 7) // 8):
                v = 0
                for bit in range(8):
                    i = byte * 8 + bit
                    if i < n and lab_valid[codes[i]]:
                        v |= 1 << bit
                validity[byte] = v
    return data, nulls.sum()


def set_threads(n: int) -> int:
    """Use ``n`` threads (at most numba's pool) in this thread's next kernel calls; returns
    the previous setting."""
    prev: int = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, int(getattr(numba.config, "NUMBA_NUM_THREADS")))))  # noqa: B009
    return prev


def set_chunksize(n: int) -> int:
    """Hand out ``n`` iterations of a parallel loop at a time (0: split evenly up front) in
    this thread's next kernel calls; returns the previous setting."""
    prev: int = numba.get_parallel_chunksize()
    numba.set_parallel_chunksize(n)
    return prev
