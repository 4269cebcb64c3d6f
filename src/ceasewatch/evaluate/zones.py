"""Distance to the line of contact, side of the line, zone band and sector, vectorized.

Pure functions over arrays: no I/O, no Python loop per event.

Two exact methods give the same answers:

- the *reference* (small inputs): pyproj into the metric CRS, the STR-tree's nearest
  segment, point-in-polygon tests per control area;
- the *fast* one (large inputs), on structures built once per :class:`ZoneModel`: the
  projection as polynomials (checked against pyproj to 1 µm), a two-level grid that gives
  each point the few segments that can be its nearest (the distance is the exact minimum
  over them), the zone straight from the grid where a cell is clear of every band edge, and
  side/sector from lon/lat grids of the polygons with exact tests near their edges. Points
  within a centimetre of a band edge, outside the grids or with NaN coordinates go through
  the reference, so zones are identical and distances agree to well under a millimetre
  before the rounding both apply.

The fast method runs as one compiled loop over the events (numba, parallel over the cores;
``_zones_kernel.py``) doing exactly the operations of the numpy code below, which remains
as the fallback when numba cannot be imported (a warning says so) and as the
kernel's check in the tests. The kernels compile on first use or load from numba's disk
cache; :func:`warm_up` does that ahead of time and says how long it took.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import ModuleType
from typing import Literal, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import shapely

from ceasewatch.agreement import zone_cache
from ceasewatch.agreement.geometry import (
    KIND_SHIFT,
    LABEL_SUB,
    PAYLOAD_SHIFT,
    ZONE_MASK,
    ZONE_SHIFT,
    DistanceIndex,
    FastProjection,
    LabelRaster,
    ZoneModel,
)
from ceasewatch.normalize import schema
from ceasewatch.normalize.crs import to_metric

_kernel: ModuleType | None
try:
    from ceasewatch.evaluate import _zones_kernel as _kernel
except Exception as exc:  # numba missing or unusable: the numpy path (slower)
    _kernel = None
    warnings.warn(
        f"numba unavailable ({type(exc).__name__}: {exc}); zone evaluation falls back to "
        "numpy, several times slower",
        RuntimeWarning,
        stacklevel=2,
    )

Method = Literal["auto", "fast", "reference"]

#: below this many events "auto" uses the reference method unless the fast structures exist
#: (in memory, or in the disk cache from this many events: ``agreement/zone_cache.py``)
FAST_MIN_EVENTS = 200_000
CACHED_MIN_EVENTS = 10_000
#: events per unit of work (fits the per-core cache with the temporaries)
CHUNK = 32_768
#: at most this many threads
MAX_WORKERS = 8
#: distances within this of a band edge are recomputed by the reference method (m)
EDGE_TOLERANCE_M = 0.01

_STR = pd.StringDtype("pyarrow", na_value=np.nan)
_POW2 = np.ldexp(1.0, np.arange(64))
#: the reference's pieces (pyproj transformers, GEOS prepared polygons) are used from one
#: worker thread at a time; few points go through them
_EXACT = threading.Lock()
#: run the fast method through the compiled kernels (False: the numpy path)
USE_NUMBA = _kernel is not None


# --- the reference ---------------------------------------------------------------------------


def distance_to_line_m_reference(
    lon: npt.ArrayLike, lat: npt.ArrayLike, model: ZoneModel
) -> npt.NDArray[np.float64]:
    """Distance in metres from each point to the line (pyproj + the STR-tree's nearest)."""
    x, y = to_metric(lon, lat, model.crs)
    if len(x) == 0:
        return np.empty(0)
    pts = shapely.points(x, y)
    idx, dist = model.segment_tree.query_nearest(pts, return_distance=True, all_matches=False)
    out = np.full(len(x), np.nan)
    # to the millimetre: a point placed exactly on a band's edge must not fall out of the
    # band through floating-point noise of the projection (~1e-9 m)
    out[idx[0]] = np.round(dist, 3)
    return out


def zone_of_distance(distance_km: npt.ArrayLike, model: ZoneModel) -> npt.NDArray[np.object_]:
    """Id of the narrowest band containing each distance (bounds inclusive), or 'outside'."""
    return _zone_ids(model)[_zone_codes(np.asarray(distance_km, dtype=float), model)]


def _zone_ids(model: ZoneModel) -> npt.NDArray[np.object_]:
    return np.array([*model.zone_ids, schema.ZONE_OUTSIDE], dtype=object)


def _zone_codes(d_km: npt.NDArray[np.float64], model: ZoneModel) -> npt.NDArray[np.intp]:
    """Index of the narrowest band holding each distance (bounds inclusive); the number of
    bands for 'outside' and NaN."""
    widths = model.widths_km
    if len(d_km) > 64 and len(widths) <= 8 and np.all(np.diff(widths) > 0):
        # the number of bands narrower than the distance, as searchsorted(side="left")
        pos = np.zeros(len(d_km), dtype=np.intp)
        for w in widths:
            pos += d_km > w
        pos[np.isnan(d_km)] = len(widths)
        return pos
    pos = np.searchsorted(widths, d_km, side="left")
    return np.where(np.isnan(d_km), len(widths), pos)


def side_of_reference(
    lon: npt.ArrayLike, lat: npt.ArrayLike, model: ZoneModel
) -> npt.NDArray[np.object_]:
    """Side by exact point-in-polygon tests on every point."""
    lo = np.asarray(lon, dtype=float)
    la = np.asarray(lat, dtype=float)
    model.prepared()
    return np.array(model.side_labels, dtype=object)[model.side_codes_exact(lo, la)]


def sector_of_reference(
    lon: npt.ArrayLike, lat: npt.ArrayLike, model: ZoneModel
) -> npt.NDArray[np.object_]:
    """Sector by exact point-in-polygon tests on every point."""
    lo = np.asarray(lon, dtype=float)
    la = np.asarray(lat, dtype=float)
    if not model.agreement.sectors:
        return np.full(len(lo), None, dtype=object)
    model.prepared()
    return np.array(model.sector_labels, dtype=object)[model.sector_codes_exact(lo, la)]


def evaluate_zones_reference(
    lon: npt.ArrayLike, lat: npt.ArrayLike, model: ZoneModel
) -> pd.DataFrame:
    """:func:`evaluate_zones` by the reference method (every point the slow exact way)."""
    d_km = distance_to_line_m_reference(lon, lat, model) / 1_000.0
    return pd.DataFrame(
        {
            schema.DISTANCE_TO_LINE_KM: d_km,
            schema.SIDE: side_of_reference(lon, lat, model),
            schema.ZONE: zone_of_distance(d_km, model),
            schema.SECTOR: sector_of_reference(lon, lat, model),
        }
    )


# --- the fast method -------------------------------------------------------------------------


def _use_fast(n: int, model: ZoneModel, method: Method) -> bool:
    """Whether to take the fast method (building its structures if need be)."""
    if method == "reference" or n == 0 or model.agreement.line.is_empty:
        return False
    # "auto": fast for large inputs, or when the structures exist, or when a batch is worth
    # building them once to keep on disk
    small = n < FAST_MIN_EVENTS and "distance_index" not in model.__dict__
    if method == "auto" and small and (n < CACHED_MIN_EVENTS or zone_cache.cache_dir() is None):
        return False
    try:
        zone_cache.ensure(model)
    except ValueError:  # a line too detailed for the index: the reference it is
        return False
    return True


def _nearest_d2(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    seg: npt.NDArray[np.intp],
    index: DistanceIndex,
) -> npt.NDArray[np.float64]:
    """Squared distance from each point to segment ``seg`` of the index."""
    s = index.segments
    dx = s.dx.take(seg, mode="clip")
    dy = s.dy.take(seg, mode="clip")
    ex = x - s.x0.take(seg, mode="clip")
    ey = y - s.y0.take(seg, mode="clip")
    t = ex * dx
    t += ey * dy
    t *= s.il2.take(seg, mode="clip")
    np.clip(t, 0.0, 1.0, out=t)
    dx *= t
    dy *= t
    ex -= dx
    ey -= dy
    ex *= ex
    ey *= ey
    ex += ey
    return ex


def _distance_fast(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], index: DistanceIndex
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """Exact distance (m, unrounded) of points inside the index's square, and each one's
    packed cell entry."""
    # top cell, then the sub-cell of its power-of-two sub-grid
    gx = x - index.x0
    gx *= index.inv_cell
    gy = y - index.y0
    gy *= index.inv_cell
    tx = gx.astype(np.intp)
    ty = gy.astype(np.intp)
    gx -= tx
    gy -= ty
    ty *= index.n_top
    ty += tx
    top = index.top.take(ty, mode="clip").astype(np.intp)
    shift = top & 7
    top >>= 3
    scale = _POW2.take(shift, mode="clip")
    gx *= scale
    gy *= scale
    sx = gx.astype(np.intp)
    sy = gy.astype(np.intp)
    sy <<= shift
    top += sy
    top += sx
    entry = index.sub.take(top, mode="clip")
    # the exact minimum over the cell's candidates: the first for every point, then the
    # others of the points that have more
    seg = (entry >> PAYLOAD_SHIFT).astype(np.intp)
    kind = entry >> KIND_SHIFT
    kind &= 3
    two = np.flatnonzero(kind == 1)
    many = np.flatnonzero(kind == 2)
    cand = index.candidates
    at2 = seg.take(two)
    seg[two] = cand.take(at2, mode="clip")
    at_many = seg.take(many)
    at_many += 1
    if len(many):
        seg[many] = cand.take(at_many, mode="clip")
    d2 = _nearest_d2(x, y, seg, index)
    if len(two):
        at2 += 1
        seg2 = cand.take(at2, mode="clip").astype(np.intp)
        dm = _nearest_d2(x.take(two), y.take(two), seg2, index)
        np.minimum(d2.take(two), dm, out=dm)
        d2[two] = dm
    if len(many):
        # all their other candidates as one flat list of (point, candidate)
        extra = cand.take(at_many - 1).astype(np.intp) - 1
        first = np.cumsum(extra) - extra
        slot = np.arange(1, int(extra.sum()) + 1) - np.repeat(first, extra)
        slot += np.repeat(at_many, extra)
        pts = np.repeat(many, extra)
        segs = cand.take(slot, mode="clip").astype(np.intp)
        dm = _nearest_d2(x.take(pts), y.take(pts), segs, index)
        dm = np.minimum.reduceat(dm, first)
        np.minimum(d2.take(many), dm, out=dm)
        d2[many] = dm
    np.sqrt(d2, out=d2)
    return d2, entry


def _bbox(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
) -> tuple[float, float, float, float]:
    """lon/lat min and max (NaN if any is NaN; an empty box holds nothing)."""
    if len(lon) == 0:
        return (np.inf, np.inf, -np.inf, -np.inf)
    return (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))


def _label_fast(
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    raster: LabelRaster,
    exact: Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]], npt.NDArray[np.int16]],
    bbox: tuple[float, float, float, float] | None = None,
) -> npt.NDArray[np.int16]:
    """Label codes from the raster; exact tests for points in sub-cells an edge touches."""
    clamp = not raster.holds(bbox or _bbox(lon, lat))
    fx = lon - raster.lon0
    fx *= raster.inv_cell
    fy = lat - raster.lat0
    fy *= raster.inv_cell
    if clamp:  # onto the grid; NaN → 0: the border, i.e. beyond all the polygons
        np.fmax(fx, 0.0, out=fx)
        np.fmin(fx, raster.nx - 1.0, out=fx)
        np.fmax(fy, 0.0, out=fy)
        np.fmin(fy, raster.ny - 1.0, out=fy)
    ix = fx.astype(np.intp)
    iy = fy.astype(np.intp)
    iy *= raster.nx
    iy += ix
    code = raster.top.take(iy, mode="clip")
    cut = np.flatnonzero(code < 0)
    if len(cut):
        m = LABEL_SUB
        block = -code.take(cut).astype(np.intp) - 1
        block *= m * m
        fx = fx.take(cut)
        fx -= ix.take(cut)
        fx *= m
        fy = fy.take(cut)
        fy -= np.floor(fy)
        fy *= m
        block += np.minimum(fy.astype(np.intp), m - 1) * m
        block += np.minimum(fx.astype(np.intp), m - 1)
        sub = raster.sub.take(block, mode="clip")
        unsure = np.flatnonzero(sub < 0)
        if len(unsure):
            pick = cut.take(unsure)
            with _EXACT:
                sub[unsure] = exact(lon.take(pick), lat.take(pick))
        code[cut] = sub
    return code.astype(np.int16, copy=False)


def _zones_fast(
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    model: ZoneModel,
    d_km: npt.NDArray[np.float64],
    zone: npt.NDArray[np.int8],
) -> None:
    """Distance (km, to the millimetre) and zone code of points in the index's square into
    ``d_km`` and ``zone``; lon/lat are theirs, for the few recomputed by the reference."""
    index = model.distance_index
    raw, entry = _distance_fast(x, y, index)
    flagged = np.flatnonzero(entry & 1)
    raw_f = raw.take(flagged)
    np.round(raw, 3, out=d_km)
    d_km /= 1_000.0
    entry >>= ZONE_SHIFT
    entry &= ZONE_MASK
    zone[:] = entry
    if len(flagged):
        # cells that reach near a band edge: the zone from the distance, as the reference
        # does, and the reference itself within a centimetre of an edge
        zone[flagged] = _zone_codes(d_km.take(flagged), model)
        near = np.zeros(len(flagged), dtype=bool)
        for w in model.widths_km:
            near |= np.abs(raw_f - w * 1_000.0) < EDGE_TOLERANCE_M
        redo = flagged[near]
        if len(redo):
            with _EXACT:
                dr = distance_to_line_m_reference(lon.take(redo), lat.take(redo), model)
            dr /= 1_000.0
            d_km[redo] = dr
            zone[redo] = _zone_codes(dr, model)


def _distance_zone_chunk(
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    model: ZoneModel,
    d_km: npt.NDArray[np.float64],
    zone: npt.NDArray[np.int8],
    bbox: tuple[float, float, float, float] | None = None,
) -> None:
    """Distance and zone code of one chunk into ``d_km`` and ``zone``."""
    fp = model.fast_projection
    if fp is not None and fp.holds(bbox or _bbox(lon, lat)):
        x, y = fp.project(lon, lat)
        _zones_fast(lon, lat, x, y, model, d_km, zone)
        return
    # some points beyond the fast box (or NaN): those by the reference
    if fp is not None:
        fast = np.flatnonzero(fp.inside(lon, lat))
        lo, la = lon.take(fast), lat.take(fast)
        x, y = fp.project(lo, la)
    else:
        with _EXACT:
            x, y = to_metric(lon, lat, model.crs)
        sq = model.distance_index
        size = sq.n_top / sq.inv_cell
        fast = np.flatnonzero((x >= sq.x0) & (x < sq.x0 + size) & (y >= sq.y0) & (y < sq.y0 + size))
        lo, la, x, y = lon.take(fast), lat.take(fast), x.take(fast), y.take(fast)
    dk = np.empty(len(fast))
    zk = np.empty(len(fast), dtype=np.int8)
    _zones_fast(lo, la, x, y, model, dk, zk)
    rest = np.ones(len(lon), dtype=bool)
    rest[fast] = False
    slow = np.flatnonzero(rest)
    with _EXACT:
        ds = distance_to_line_m_reference(lon.take(slow), lat.take(slow), model) / 1_000.0
    d_km[fast] = dk
    zone[fast] = zk
    d_km[slow] = ds
    zone[slow] = _zone_codes(ds, model)


def _arrow_strings(codes: npt.ArrayLike, labels: tuple[str | None, ...]) -> pa.Array:
    return pa.array(list(labels), type=pa.large_string()).take(pa.array(codes))


def _series(chunks: list[pa.Array]) -> pd.Series:
    """A pandas ``str`` column, as pandas infers it from Python strings (NaN for None)."""
    return pd.Series(pa.chunked_array(chunks, type=pa.large_string()), dtype=_STR, copy=False)


def _all_null(n: int) -> pd.Series:
    """An all-null object column (None): typed up front, so that pandas does not look
    at a million Nones to infer a type (10 ms when a frame is built of it)."""
    return pd.Series(np.full(n, None, dtype=object), dtype=object, copy=False)


def _chunks(n: int) -> list[slice]:
    return [slice(s, min(n, s + CHUNK)) for s in range(0, n, CHUNK)]


def _map(fn: Callable[[slice], object], n: int, workers: int | None) -> list[object]:
    """``fn`` over the chunks of ``n`` events, on ``workers`` threads (numpy and arrow
    release the GIL), results in chunk order."""
    parts = _chunks(n)
    nw = min(workers or os.cpu_count() or 1, MAX_WORKERS, len(parts))
    if nw <= 1:
        return [fn(c) for c in parts]
    with ThreadPoolExecutor(nw) as pool:
        return list(pool.map(fn, parts))


def _as_arrays(
    lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    lo = np.ascontiguousarray(lon, dtype=float).ravel()
    la = np.ascontiguousarray(lat, dtype=float).ravel()
    if len(lo) != len(la):
        msg = f"lon and lat differ in length: {len(lo)} vs {len(la)}"
        raise ValueError(msg)
    return lo, la


def _prepare(model: ZoneModel, *, side: bool, sector: bool) -> None:
    """Build what the fast method needs once, before any thread uses it."""
    model.prepared()
    _ = model.fast_projection, model.distance_index, model.segment_tree
    if side:
        _ = model.side_raster
    if sector:
        _ = model.sector_raster


# --- the fast method, compiled ---------------------------------------------------------------

_F64 = np.float64


def _ro(a: npt.ArrayLike, dtype: npt.DTypeLike) -> npt.NDArray[np.generic]:
    """A read-only contiguous view (one compiled signature whatever the caller passes)."""
    v = np.ascontiguousarray(a, dtype=dtype).ravel().view()
    v.flags.writeable = False
    return v


_NO_F64 = _ro(np.zeros(1), _F64)
_NO_RHO = _ro(np.zeros(_kernel.RHO_TERMS if _kernel else 1), _F64)
_NO_SIN_COS = _ro(np.zeros(_kernel.SIN_COS_TERMS if _kernel else 1), _F64)


def _padded(coef: npt.NDArray[np.float64], terms: int) -> npt.NDArray[np.float64]:
    """Polynomial coefficients (highest power first) with leading zeros to ``terms``."""
    return np.concatenate([np.zeros(terms - len(coef)), coef])


def _kernel_projection(model: ZoneModel) -> FastProjection | None:
    """The model's polynomial projection if the kernel can evaluate it (else pyproj)."""
    fp = model.fast_projection
    if fp is None or _kernel is None:
        return None
    if len(fp.rho) > _kernel.RHO_TERMS or max(len(fp.sin), len(fp.cos)) > _kernel.SIN_COS_TERMS:
        return None
    return fp


def _raster_args(raster: LabelRaster | None, constant: int) -> tuple[object, ...]:
    """A label raster as the kernel takes it; None: ``constant`` everywhere."""
    if raster is None:
        return (
            _ro([0.0, 0.0, 1.0], _F64),
            _ro([1, 1], np.int64),
            _ro([constant], np.int32),
            _ro([-1], np.int16),
        )
    return (
        _ro([raster.lon0, raster.lat0, raster.inv_cell], _F64),
        _ro([raster.nx, raster.ny], np.int64),
        _ro(raster.top, np.int32),
        _ro(raster.sub, np.int16),
    )


def _model_args(model: ZoneModel, *, side: bool, sector: bool) -> tuple[object, ...]:
    """The model's structures as the evaluation kernel takes them (after ``projected``)."""
    fp = _kernel_projection(model)
    if fp is None:
        proj: tuple[object, ...] = (_ro([0.0, 0.0, -1.0, -1.0], _F64), 0.0, 0.0)
        proj += (_NO_RHO, _NO_SIN_COS, _NO_SIN_COS, 0.0, 0.0)
    else:
        assert _kernel is not None
        proj = (_ro(fp.box, _F64), float(fp.lon_0), float(fp.lat_mid))
        proj += (_ro(_padded(fp.rho, _kernel.RHO_TERMS), _F64),)
        proj += (_ro(_padded(fp.sin, _kernel.SIN_COS_TERMS), _F64),)
        proj += (_ro(_padded(fp.cos, _kernel.SIN_COS_TERMS), _F64),)
        proj += (float(fp.x_0), float(fp.y_0))
    ix = model.distance_index
    s = ix.segments
    w = np.asarray(model.widths_km, dtype=float)
    index: tuple[object, ...] = (float(ix.x0), float(ix.y0), float(ix.inv_cell), int(ix.n_top))
    index += (_ro(ix.top, np.int32), _ro(ix.sub, np.int32), _ro(ix.candidates, np.int32))
    index += (_ro(np.column_stack([s.x0, s.y0, s.dx, s.dy, s.il2]), _F64),)
    index += (_ro(w, _F64), bool(len(w) <= ZONE_MASK and np.all(np.diff(w) > 0)))
    index += (float(EDGE_TOLERANCE_M),)
    n_side = len(model.side_labels) - 2
    side_r = _raster_args(model.side_raster if side else None, n_side)
    sector_r = _raster_args(model.sector_raster if sector else None, 0)
    return (*proj, *index, *side_r, *sector_r, bool(sector), int(LABEL_SUB))


class _Threads:
    """numba threads for this thread's kernel calls within the block (None: all), handing
    out the kernels' blocks of events one by one (a thread descheduled on a busy machine
    does not hold the others up)."""

    def __init__(self, workers: int | None) -> None:
        self.workers = workers
        self.prev = 0
        self.prev_chunk = 0

    def __enter__(self) -> None:
        if _kernel is None:
            return
        self.prev_chunk = _kernel.set_chunksize(1)
        if self.workers is not None:
            self.prev = _kernel.set_threads(self.workers)

    def __exit__(self, *exc: object) -> None:
        if _kernel is None:
            return
        _kernel.set_chunksize(self.prev_chunk)
        if self.workers is not None:
            _kernel.set_threads(self.prev)


def _kernel_zones(
    lo: npt.NDArray[np.float64],
    la: npt.NDArray[np.float64],
    model: ZoneModel,
    *,
    side: bool,
    sector: bool,
    workers: int | None,
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.int8], npt.NDArray[np.int16], npt.NDArray[np.int16]
]:
    """Distance (km), zone, side and sector codes by the compiled kernel, the events it
    flags settled by the exact method."""
    assert _kernel is not None
    n = len(lo)
    fp = _kernel_projection(model)
    if fp is None:  # pyproj (or the numpy polynomials) projects, the kernel does the rest
        if model.fast_projection is not None:
            inside = model.fast_projection.inside(lo, la)
            x, y = np.full(n, np.nan), np.full(n, np.nan)
            x[inside], y[inside] = model.fast_projection.project(lo[inside], la[inside])
        else:
            with _EXACT:
                x, y = to_metric(lo, la, model.crs)
        px, py, projected = _ro(x, _F64), _ro(y, _F64), True
    else:
        px, py, projected = _NO_F64, _NO_F64, False
    d_km = np.empty(n)
    zone = np.empty(n, dtype=np.int8)
    side_c = np.empty(n, dtype=np.int16)
    sector_c = np.empty(n if sector else 0, dtype=np.int16)
    flags = np.empty(n, dtype=np.uint8)
    args = _model_args(model, side=side, sector=sector)
    with _Threads(workers):
        _kernel.evaluate(
            _ro(lo, _F64), _ro(la, _F64), px, py, projected, *args,
            d_km, zone, side_c, sector_c, flags,
        )  # fmt: skip
    odd = np.flatnonzero(flags)
    if len(odd):
        fl = flags.take(odd)
        redo = odd[(fl & _kernel.FLAG_EXACT) != 0]
        if len(redo):
            with _EXACT:
                dr = distance_to_line_m_reference(lo.take(redo), la.take(redo), model)
            dr /= 1_000.0
            d_km[redo] = dr
            zone[redo] = _zone_codes(dr, model)
        unsure = odd[(fl & _kernel.FLAG_SIDE) != 0]
        if side and len(unsure):
            with _EXACT:
                side_c[unsure] = model.side_codes_exact(lo.take(unsure), la.take(unsure))
        unsure = odd[(fl & _kernel.FLAG_SECTOR) != 0]
        if sector and len(unsure):
            with _EXACT:
                sector_c[unsure] = model.sector_codes_exact(lo.take(unsure), la.take(unsure))
    return d_km, zone, side_c, sector_c


def _kernel_labels(
    lo: npt.NDArray[np.float64],
    la: npt.NDArray[np.float64],
    raster: LabelRaster,
    exact: Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]], npt.NDArray[np.int16]],
) -> npt.NDArray[np.int16]:
    """Label codes from a raster by the compiled kernel, exact tests where it cannot say."""
    assert _kernel is not None
    n = len(lo)
    out = np.empty(n, dtype=np.int16)
    flags = np.empty(n, dtype=np.uint8)
    geo, dim, top, sub = _raster_args(raster, 0)
    with _Threads(None):
        _kernel.labels(_ro(lo, _F64), _ro(la, _F64), geo, dim, top, sub, int(LABEL_SUB), out, flags)
    unsure = np.flatnonzero(flags)
    if len(unsure):
        with _EXACT:
            out[unsure] = exact(lo.take(unsure), la.take(unsure))
    return out


def _label_table(
    labels: tuple[str | None, ...],
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.bool_]
]:
    """Labels as the string kernel takes them: offsets, bytes, bytes padded to 16 each,
    validity."""
    enc = [b"" if lab is None else lab.encode() for lab in labels]
    off = np.zeros(len(enc) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(e) for e in enc])
    data = np.frombuffer(b"".join(enc) or b"\0", dtype=np.uint8).copy()
    pad = np.zeros((len(enc), 16), dtype=np.uint8)
    for k, e in enumerate(enc):
        pad[k, : min(16, len(e))] = np.frombuffer(e[:16], dtype=np.uint8)
    valid = np.array([lab is not None for lab in labels], dtype=bool)
    return off, data, pad.ravel(), valid


def _kernel_strings(codes: npt.NDArray[np.integer], labels: tuple[str | None, ...]) -> pa.Array:
    """An Arrow large_string column of ``labels[codes]`` (None: null), built by the kernel."""
    assert _kernel is not None
    n = len(codes)
    off, data, pad, valid = _label_table(labels)
    offsets = np.empty(n + 1, dtype=np.int64)
    has_null = not valid.all()
    validity = np.empty((n + 7) // 8 if has_null else 0, dtype=np.uint8)
    chars, nulls = _kernel.label_strings(codes, off, data, pad, valid, offsets, validity)
    return pa.LargeStringArray.from_buffers(
        n,
        pa.py_buffer(offsets),
        pa.py_buffer(chars),
        pa.py_buffer(validity) if has_null and nulls else None,
        null_count=int(nulls),
    )


def _evaluate_kernel(
    lo: npt.NDArray[np.float64], la: npt.NDArray[np.float64], model: ZoneModel, workers: int | None
) -> pd.DataFrame:
    """:func:`evaluate_zones` by the compiled kernel."""
    has_sectors = bool(model.agreement.sectors)
    _prepare(model, side=True, sector=has_sectors)
    d_km, zone, side, sector = _kernel_zones(
        lo, la, model, side=True, sector=has_sectors, workers=workers
    )
    with _Threads(workers):
        zone_col = _series([_kernel_strings(zone, (*model.zone_ids, schema.ZONE_OUTSIDE))])
        side_col = _series([_kernel_strings(side, model.side_labels)])
        sector_col: pd.Series | npt.NDArray[np.object_]
        if has_sectors and (sector != len(model.sector_labels) - 1).any():
            sector_col = _series([_kernel_strings(sector, model.sector_labels)])
        else:  # no point in any sector (or none defined): all null, as pandas keeps it
            sector_col = _all_null(len(lo))
    return pd.DataFrame(
        {
            schema.DISTANCE_TO_LINE_KM: d_km,
            schema.SIDE: side_col,
            schema.ZONE: zone_col,
            schema.SECTOR: sector_col,
        },
        copy=False,
    )


def warm_up() -> float | None:
    """Compile the kernels (or load them from numba's cache) now; the seconds it took, or
    None without numba."""
    if _kernel is None or not USE_NUMBA:
        return None
    from ceasewatch.agreement.model import Agreement, ZoneBand

    line = shapely.linestrings([(35.0, 47.0), (35.5, 47.5), (36.0, 47.4)])
    agreement = Agreement(
        name="warm-up",
        parties=("A", "B"),
        effective=datetime(2025, 1, 1, tzinfo=UTC),
        line=line,
        zones=(ZoneBand("near", 15.0, ()), ZoneBand("far", 50.0, ())),
        prohibited_everywhere=(),
        control=(
            ("A", shapely.box(30.0, 44.0, 35.2, 51.0)),
            ("B", shapely.box(35.2, 44.0, 41.0, 51.0)),
        ),
        sectors=(("s", shapely.box(34.0, 46.0, 36.0, 48.0)),),
    )
    m = ZoneModel(agreement)
    _prepare(m, side=True, sector=True)  # the structures: not part of the compile time
    lon = np.array([35.1, 35.2, 36.5, np.nan, 0.0])
    lat = np.array([47.1, 47.6, 47.0, 47.0, 0.0])
    t0 = time.perf_counter()
    evaluate_zones(lon, lat, m, method="fast")
    side_of(lon, lat, m, method="fast")
    return time.perf_counter() - t0


# --- public API --------------------------------------------------------------------------


def distance_to_line_m(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    model: ZoneModel,
    *,
    method: Method = "auto",
    workers: int | None = None,
) -> npt.NDArray[np.float64]:
    """Distance in metres from each point to the line of contact (metric CRS), exact, to
    the millimetre; NaN for NaN coordinates. ``method`` as for :func:`evaluate_zones`."""
    lo, la = _as_arrays(lon, lat)
    n = len(lo)
    if n == 0 or not _use_fast(n, model, method):
        return distance_to_line_m_reference(lo, la, model)
    _prepare(model, side=False, sector=False)
    if USE_NUMBA:
        return _kernel_zones(lo, la, model, side=False, sector=False, workers=workers)[0] * 1_000.0
    d_km = np.empty(n)
    zone = np.empty(n, dtype=np.int8)

    def work(c: slice) -> None:
        _distance_zone_chunk(lo[c], la[c], model, d_km[c], zone[c])

    _map(work, n, workers)
    return d_km * 1_000.0


def side_of(
    lon: npt.ArrayLike, lat: npt.ArrayLike, model: ZoneModel, *, method: Method = "auto"
) -> npt.NDArray[np.object_]:
    """Party whose control polygon contains each point; 'unknown' where none does;
    'outside' beyond the country boundary when the agreement gives one."""
    lo, la = _as_arrays(lon, lat)
    if not _use_fast(len(lo), model, method):
        return side_of_reference(lo, la, model)
    labels = np.array(model.side_labels, dtype=object)
    _prepare(model, side=True, sector=False)
    raster = model.side_raster
    if raster is None:
        return labels[np.full(len(lo), len(labels) - 2)]
    if USE_NUMBA:
        return labels[_kernel_labels(lo, la, raster, model.side_codes_exact)]
    return labels[_label_fast(lo, la, raster, model.side_codes_exact)]


def sector_of(
    lon: npt.ArrayLike, lat: npt.ArrayLike, model: ZoneModel, *, method: Method = "auto"
) -> npt.NDArray[np.object_]:
    """Reporting sector containing each point, or null where the agreement has none."""
    lo, la = _as_arrays(lon, lat)
    if not _use_fast(len(lo), model, method) or not model.agreement.sectors:
        return sector_of_reference(lo, la, model)
    _prepare(model, side=False, sector=True)
    raster = model.sector_raster
    assert raster is not None
    labels = np.array(model.sector_labels, dtype=object)
    if USE_NUMBA:
        return labels[_kernel_labels(lo, la, raster, model.sector_codes_exact)]
    return labels[_label_fast(lo, la, raster, model.sector_codes_exact)]


def evaluate_zones(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    model: ZoneModel,
    *,
    method: Method = "auto",
    workers: int | None = None,
) -> pd.DataFrame:
    """Distance (km), side, zone and sector of each point, in input order.

    ``method``: "reference" (every point the direct exact way), "fast" (the same results
    through structures built once per model; for large inputs) or "auto" (fast from
    ``FAST_MIN_EVENTS`` events, once the structures exist, or from ``CACHED_MIN_EVENTS``
    events when the zone cache is on: they are then loaded from it, or built and kept
    there for the next time). ``workers``: threads for
    the fast method (default: the cores).
    """
    lo, la = _as_arrays(lon, lat)
    n = len(lo)
    if n == 0 or not _use_fast(n, model, method):
        return evaluate_zones_reference(lo, la, model)
    if USE_NUMBA:
        return _evaluate_kernel(lo, la, model, workers)
    has_sectors = bool(model.agreement.sectors)
    _prepare(model, side=True, sector=has_sectors)
    d_km = np.empty(n)
    zone_labels = (*model.zone_ids, schema.ZONE_OUTSIDE)
    side_labels = model.side_labels
    sector_null = len(model.sector_labels) - 1

    def work(c: slice) -> tuple[pa.Array, pa.Array, pa.Array | None]:
        lon_c, lat_c = lo[c], la[c]
        bbox = _bbox(lon_c, lat_c)
        zone = np.empty(len(lon_c), dtype=np.int8)
        _distance_zone_chunk(lon_c, lat_c, model, d_km[c], zone, bbox)
        raster = model.side_raster
        if raster is None:
            side: npt.ArrayLike = np.full(len(lon_c), len(side_labels) - 2, dtype=np.int8)
        else:
            side = _label_fast(lon_c, lat_c, raster, model.side_codes_exact, bbox)
        sector = None
        if has_sectors:
            assert model.sector_raster is not None
            codes = _label_fast(lon_c, lat_c, model.sector_raster, model.sector_codes_exact, bbox)
            if (codes != sector_null).any():
                sector = _arrow_strings(codes, model.sector_labels)
        return (
            _arrow_strings(zone, zone_labels),
            _arrow_strings(side, side_labels),
            sector,
        )

    parts = cast(list[tuple[pa.Array, pa.Array, pa.Array | None]], _map(work, n, workers))
    sector_col: pd.Series | npt.NDArray[np.object_]
    if any(p[2] is not None for p in parts):
        sector_col = _series(
            [
                p[2] if p[2] is not None else pa.nulls(c.stop - c.start, pa.large_string())
                for p, c in zip(parts, _chunks(n), strict=True)
            ]
        )
    else:  # no point in any sector (or none defined): all null, as pandas keeps it (object)
        sector_col = _all_null(n)
    return pd.DataFrame(
        {
            schema.DISTANCE_TO_LINE_KM: d_km,
            schema.SIDE: _series([p[1] for p in parts]),
            schema.ZONE: _series([p[0] for p in parts]),
            schema.SECTOR: sector_col,
        },
        copy=False,
    )
