"""Zone geometry built once per agreement version, in a metric CRS.

The line of contact is cut into straight segments indexed by an STR-tree in a conformal
metric CRS fitted to the area; distances are then exact point-to-segment distances in that
CRS. Control areas, the boundary and sectors stay in WGS84 for point-in-polygon tests.

For large evaluations the model also builds, on first use (``evaluate/zones.py`` decides
when), structures that give the same answers much faster:

- :class:`FastProjection`: the metric CRS (a Lambert conformal conic) as polynomials in
  degrees over a box around the line, proven against pyproj to a micrometre when built;
- :class:`DistanceIndex`: a two-level grid over the metric plane whose every cell lists the
  few segments that can be the nearest one of a point in it (Voronoi regions, bounds and
  pairwise dominance), with the zone of cells clear of every band edge;
- :class:`LabelRaster`: side and sector codes on lon/lat grids, with the cells that polygon
  edges cross marked for exact tests.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import CRS
from scipy import ndimage
from shapely.geometry.base import BaseGeometry

from ceasewatch.agreement.model import Agreement
from ceasewatch.normalize import schema
from ceasewatch.normalize.crs import metric_crs, to_metric, to_wgs84


def line_segments(line: BaseGeometry) -> npt.NDArray[np.float64]:
    """All straight segments of a (Multi)LineString as an ``(n, 4)`` array x0 y0 x1 y1."""
    parts = shapely.get_parts(line)
    segs = []
    for part in parts:
        xy = shapely.get_coordinates(part)
        if len(xy) >= 2:
            segs.append(np.hstack([xy[:-1], xy[1:]]))
    if not segs:
        return np.empty((0, 4))
    return np.vstack(segs)


# --- fast forward projection ---------------------------------------------------------------

#: a projected coordinate from :class:`FastProjection` must agree with pyproj to this (m)
PROJECTION_TOLERANCE_M = 1e-6
#: how far around the line's lon/lat box the fast evaluation reaches (degrees of latitude)
FAST_MARGIN_DEG = 6.0


def _horner(coef: npt.NDArray[np.float64], t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Polynomial with ``coef`` (highest power first) at ``t``, in place on one buffer."""
    out = np.full_like(t, coef[0])
    for c in coef[1:]:
        out *= t
        out += c
    return out


def _unscaled(coef: npt.NDArray[np.float64], half: float, mid: float) -> npt.NDArray[np.float64]:
    """Coefficients (highest power first) in v of the polynomial ``coef`` in
    t = (v − mid) / half (one operation less per evaluation)."""
    k = np.arange(len(coef) - 1, -1, -1, dtype=float)
    in_s = coef / half**k  # in s = v − mid = half·t
    if mid == 0.0:
        return np.asarray(in_s, dtype=np.float64)
    in_v = np.polynomial.Polynomial(in_s[::-1])(np.polynomial.Polynomial([-mid, 1.0]))
    return np.asarray(in_v.coef[::-1], dtype=np.float64)


def _cheb_fit(
    fn: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]],
    lo: float,
    hi: float,
    scale: float,
    tol: float,
) -> npt.NDArray[np.float64] | None:
    """Monomial coefficients (highest first) in t = (v - mid) / half of a polynomial that
    matches ``fn`` on [lo, hi] to ``tol`` / ``scale``, or None if no degree up to 40 does."""
    mid, half = (lo + hi) / 2.0, (hi - lo) / 2.0
    check = np.linspace(-1.0, 1.0, 4001)
    truth = fn(mid + half * check)
    for deg in range(4, 41):
        nodes = np.cos(np.pi * (np.arange(deg + 1) + 0.5) / (deg + 1))
        cheb = np.polynomial.chebyshev.chebfit(nodes, fn(mid + half * nodes), deg)
        mono = np.asarray(np.polynomial.chebyshev.cheb2poly(cheb)[::-1], dtype=np.float64)
        err = np.max(np.abs(_horner(mono, check) - truth)) * scale
        if err < tol:
            return mono
    return None


@dataclass(frozen=True)
class FastProjection:
    """The forward Lambert conformal conic (ellipsoidal, as PROJ computes it) of a metric CRS
    as polynomials in degrees over a lon/lat box:

        x = x₀ + R(lat)·u·S(u²),   y = y₀ − R(lat)·C(u²),   u = lon − lon₀

    (R the cone's radius, S and C the sine and cosine of n·u over u and u², n the cone
    constant). Valid inside ``box`` only (see :meth:`inside`); checked against pyproj on a
    dense grid of the box when built, to :data:`PROJECTION_TOLERANCE_M`.
    """

    box: tuple[float, float, float, float]  # lon_lo, lat_lo, lon_hi, lat_hi
    lon_0: float
    lat_mid: float
    rho: npt.NDArray[np.float64]  # in lat − lat_mid
    sin: npt.NDArray[np.float64]  # in u²
    cos: npt.NDArray[np.float64]
    x_0: float
    y_0: float
    max_error_m: float

    @staticmethod
    def build(crs: CRS, box: tuple[float, float, float, float]) -> FastProjection | None:
        """The polynomial projection of ``crs`` over ``box``, or None when ``crs`` is not
        a plain LCC in metres or the polynomials do not reach the tolerance."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = crs.to_dict()
        known = {"proj", "lat_0", "lon_0", "lat_1", "lat_2", "x_0", "y_0", "k_0", "k"}
        known |= {"ellps", "datum", "units", "no_defs", "type"}
        if p.get("proj") != "lcc" or p.get("units", "m") != "m" or set(p) - known:
            return None
        ell = crs.ellipsoid
        if ell is None:
            return None
        a = float(ell.semi_major_metre)
        rf = float(ell.inverse_flattening)
        es = 0.0 if rf == 0 else (2.0 - 1.0 / rf) / rf
        e = float(np.sqrt(es))
        lat_1 = float(p.get("lat_1", p.get("lat_0", 0.0)))
        lat_2 = float(p.get("lat_2", lat_1))
        lat_0 = float(p.get("lat_0", lat_1))
        lon_0 = float(p.get("lon_0", 0.0))
        k0 = float(p.get("k_0", p.get("k", 1.0)))
        if e == 0.0 or abs(lat_1 + lat_2) < 1e-9:
            return None

        def tsfn(phi: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            s = np.sin(phi)
            return np.asarray(np.tan(np.pi / 4 - phi / 2) * np.exp(e * np.arctanh(e * s)))

        def msfn(phi: float) -> float:
            return float(np.cos(phi) / np.sqrt(1.0 - es * np.sin(phi) ** 2))

        p1, p2, p0 = np.radians([lat_1, lat_2, lat_0])
        m1 = msfn(p1)
        ml1 = float(tsfn(np.array([p1]))[0])
        if abs(p1 - p2) >= 1e-10:
            n = np.log(m1 / msfn(p2)) / np.log(ml1 / float(tsfn(np.array([p2]))[0]))
        else:
            n = float(np.sin(p1))
        c = m1 * ml1 ** (-n) / n
        rho0 = c * float(tsfn(np.array([p0]))[0]) ** n
        lon_lo, lat_lo, lon_hi, lat_hi = box
        if not (lon_0 - 179.0 < lon_lo < lon_hi < lon_0 + 179.0) or not (
            -85.0 < lat_lo < lat_hi < 85.0
        ):
            return None
        tol = PROJECTION_TOLERANCE_M / 20.0
        rho_max = float(a * k0 * c * max(tsfn(np.radians([lat_lo, lat_hi]))) ** n)
        u_max = max(abs(lon_lo - lon_0), abs(lon_hi - lon_0))
        v_max = u_max * u_max
        k = n * np.pi / 180.0

        def sin_over_u(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            u = np.sqrt(np.maximum(v, 0.0))
            safe = np.where(u > 0, u, 1.0)
            return np.where(u > 0, np.sin(k * u) / safe, k)

        rho = _cheb_fit(
            lambda lat: a * k0 * c * tsfn(np.radians(lat)) ** n, lat_lo, lat_hi, 1.0, tol
        )
        sin = _cheb_fit(sin_over_u, 0.0, v_max, rho_max * u_max, tol)
        cos = _cheb_fit(lambda v: np.cos(k * np.sqrt(np.maximum(v, 0.0))), 0.0, v_max, rho_max, tol)
        if rho is None or sin is None or cos is None:
            return None
        fp = FastProjection(
            box=box,
            lon_0=lon_0,
            lat_mid=(lat_lo + lat_hi) / 2.0,
            rho=_unscaled(rho, (lat_hi - lat_lo) / 2.0, 0.0),
            sin=_unscaled(sin, v_max / 2.0, v_max / 2.0),
            cos=_unscaled(cos, v_max / 2.0, v_max / 2.0),
            x_0=float(p.get("x_0", 0.0)),
            y_0=float(p.get("y_0", 0.0)) + a * k0 * rho0,
            max_error_m=np.inf,
        )
        # the proof: against pyproj on a dense grid of the box, edges and corners included
        grid = np.meshgrid(np.linspace(lon_lo, lon_hi, 301), np.linspace(lat_lo, lat_hi, 301))
        glon, glat = grid[0].ravel(), grid[1].ravel()
        fx, fy = fp.project(glon, glat)
        tx, ty = to_metric(glon, glat, crs)
        err = float(max(np.max(np.abs(fx - tx)), np.max(np.abs(fy - ty))))
        if not err <= PROJECTION_TOLERANCE_M:
            return None
        return replace(fp, max_error_m=err)

    def inside(
        self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]:
        """Where the polynomials are valid (False for NaN)."""
        lon_lo, lat_lo, lon_hi, lat_hi = self.box
        return (lon >= lon_lo) & (lon <= lon_hi) & (lat >= lat_lo) & (lat <= lat_hi)

    def holds(self, bbox: tuple[float, float, float, float]) -> bool:
        """Whether the box holds ``bbox`` (lon/lat min, max; False if it has NaN)."""
        lon_lo, lat_lo, lon_hi, lat_hi = self.box
        return bool(
            bbox[0] >= lon_lo and bbox[2] <= lon_hi and bbox[1] >= lat_lo and bbox[3] <= lat_hi
        )

    def project(
        self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """x, y in metres of points inside the box."""
        r = _horner(self.rho, lat - self.lat_mid)
        u = lon - self.lon_0
        w = u * u
        x = _horner(self.sin, w)
        x *= u
        x *= r
        x += self.x_0
        y = _horner(self.cos, w)
        y *= r
        np.subtract(self.y_0, y, out=y)
        return x, y


# --- exact distance index ------------------------------------------------------------------


def _line_parts_m(line_m: BaseGeometry) -> list[npt.NDArray[np.float64]]:
    """Vertex arrays of each part of the (Multi)LineString, consecutive repeats removed."""
    out = []
    for part in shapely.get_parts(line_m):
        xy = shapely.get_coordinates(part)
        if len(xy) == 0:
            continue
        keep = np.ones(len(xy), dtype=bool)
        keep[1:] = np.any(xy[1:] != xy[:-1], axis=1)
        out.append(xy[keep])
    return out


@dataclass(frozen=True)
class Segments:
    """The straight pieces of the line (a lone vertex is a zero-length piece), with what the
    index needs to know of each: direction, length, the next piece's direction."""

    x0: npt.NDArray[np.float64]
    y0: npt.NDArray[np.float64]
    dx: npt.NDArray[np.float64]
    dy: npt.NDArray[np.float64]
    il2: npt.NDArray[np.float64]  # 1 / length², 0 for a lone vertex
    length: npt.NDArray[np.float64]
    ux: npt.NDArray[np.float64]
    uy: npt.NDArray[np.float64]
    nux: npt.NDArray[np.float64]  # direction of the next piece of the same part
    nuy: npt.NDArray[np.float64]
    first: npt.NDArray[np.bool_]
    last: npt.NDArray[np.bool_]
    anywhere: npt.NDArray[np.bool_]  # a lone vertex or a repeated piece: no region test

    @staticmethod
    def of(parts: list[npt.NDArray[np.float64]]) -> Segments:
        a: list[npt.NDArray[np.float64]] = []
        b: list[npt.NDArray[np.float64]] = []
        first: list[npt.NDArray[np.bool_]] = []
        last: list[npt.NDArray[np.bool_]] = []
        for xy in parts:
            if len(xy) == 1:
                xy = np.vstack([xy, xy])
            a.append(xy[:-1])
            b.append(xy[1:])
            f = np.zeros(len(xy) - 1, dtype=bool)
            la = np.zeros(len(xy) - 1, dtype=bool)
            f[0] = la[-1] = True
            first.append(f)
            last.append(la)
        p0 = np.vstack(a) if a else np.empty((0, 2))
        p1 = np.vstack(b) if b else np.empty((0, 2))
        dx = p1[:, 0] - p0[:, 0]
        dy = p1[:, 1] - p0[:, 1]
        length = np.hypot(dx, dy)
        pos = length > 0
        safe = np.where(pos, length, 1.0)
        ux = np.where(pos, dx / safe, 0.0)
        uy = np.where(pos, dy / safe, 0.0)
        f = np.concatenate(first) if first else np.empty(0, dtype=bool)
        la = np.concatenate(last) if last else np.empty(0, dtype=bool)
        # a piece repeated (either way round) is kept once, as a candidate wherever it is
        # near enough: ties everywhere would keep the index from ever separating copies
        swap = (p0[:, 0] > p1[:, 0]) | ((p0[:, 0] == p1[:, 0]) & (p0[:, 1] > p1[:, 1]))
        key = np.where(swap[:, None], np.hstack([p1, p0]), np.hstack([p0, p1]))
        _, keep, count = np.unique(key, axis=0, return_index=True, return_counts=True)
        anywhere = ~pos
        anywhere[keep] |= count > 1
        keep = np.sort(keep)
        return Segments(
            x0=p0[keep, 0].copy(),
            y0=p0[keep, 1].copy(),
            dx=dx[keep],
            dy=dy[keep],
            il2=np.where(pos, 1.0 / (safe * safe), 0.0)[keep],
            length=length[keep],
            ux=ux[keep],
            uy=uy[keep],
            nux=np.roll(ux, -1)[keep],
            nuy=np.roll(uy, -1)[keep],
            first=f[keep],
            last=la[keep],
            anywhere=anywhere[keep],
        )

    def __len__(self) -> int:
        return len(self.x0)

    def distance(
        self, px: npt.NDArray[np.float64], py: npt.NDArray[np.float64], k: npt.NDArray[np.intp]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Distance from each point to piece ``k``, and the vector from its nearest point."""
        ex = px - self.x0[k]
        ey = py - self.y0[k]
        dx = self.dx[k]
        dy = self.dy[k]
        t = np.clip((ex * dx + ey * dy) * self.il2[k], 0.0, 1.0)
        ex -= t * dx
        ey -= t * dy
        return np.hypot(ex, ey), ex, ey


#: the finest cell of the index (m), and the coarsest cell allowed to keep k candidates
MIN_CELL_M = 250.0
MAX_CELL_FOR_K = {1: np.inf, 2: 2_000.0, 3: 1_000.0, 4: 500.0}
#: cell size of the index's top grid (m); deeper cells are found through a per-cell sub-grid
TOP_CELL_M = 8_000.0
#: the most (cell, candidate) pairs one level of the build may hold, the most cells of the
#: index, and the most pairs refined at once (the build's memory)
MAX_PAIRS = 16_000_000
MAX_CELLS = 4_000_000
PAIR_BATCH = 1_000_000
#: cells with at most this many candidates are pruned pairwise
PAIRWISE_MAX_K = 8


def _dominated(
    d: npt.NDArray[np.float64],
    nx: npt.NDArray[np.float64],
    ny: npt.NDArray[np.float64],
    d2: npt.NDArray[np.float64],
    nx2: npt.NDArray[np.float64],
    ny2: npt.NDArray[np.float64],
    pad: float,
) -> npt.NDArray[np.bool_]:
    """Whether piece 1 is farther than piece 2 everywhere in a square cell of half-side
    ``pad``, from their distances ``d``/``d2`` at its centre and the unit vectors from
    their nearest points.

    g = d₁ − d₂ is C¹ with a gradient n₁ − n₂ that is (1/(d₁−r) + 1/(d₂−r))-Lipschitz
    within r = pad·√2 of the centre (the Hessian of the distance to a convex set is at most
    1/distance), so over the cell g ≥ g(c) − pad·‖n₁ − n₂‖₁ − r²/2·(1/(d₁−r) + 1/(d₂−r)).
    """
    r = pad * np.sqrt(2.0)
    out = (d > 1.01 * r) & (d2 > 1.01 * r) & (d - d2 > 1e-6)
    i = np.flatnonzero(out)
    d, d2 = d[i], d2[i]
    margin = np.abs(nx[i] - nx2[i])
    margin += np.abs(ny[i] - ny2[i])
    margin *= pad
    inv = 1.0 / (d - r)
    inv += 1.0 / (d2 - r)
    inv *= 0.5 * r * r
    margin += inv
    margin += 1e-9 * (d + d2) + 1e-6
    out[i] = d - d2 > margin
    return out


#: a sub-cell entry packs: first candidate | near-band-edge flag | zone | candidate count
#: (int32; bit 0: near a band edge; bits 1-4: zone; 5-6: kind: one candidate, two, more;
#: from bit 7: the candidate itself, or where its candidates are in `candidates`: the two,
#: or the count then them)
ZONE_SHIFT = 1
ZONE_MASK = 15
KIND_SHIFT = 5
PAYLOAD_SHIFT = 7
#: the deepest sub-grid of a top cell (2**depth cells per side)
MAX_SUB_DEPTH = int(np.log2(TOP_CELL_M / MIN_CELL_M))


@dataclass(frozen=True)
class _Leaves:
    """Quadtree leaves of one level: cells, their candidates (grouped), distance ranges."""

    level: int
    ix: npt.NDArray[np.int64]
    iy: npt.NDArray[np.int64]
    k: npt.NDArray[np.int64]
    candidates: npt.NDArray[np.intp]
    lo: npt.NDArray[np.float64]
    hi: npt.NDArray[np.float64]


def _refine_batched(
    s: Segments,
    ox: float,
    oy: float,
    h: float,
    cix: npt.NDArray[np.int64],
    ciy: npt.NDArray[np.int64],
    cnt: npt.NDArray[np.int64],
    ps: npt.NDArray[np.intp],
) -> tuple[
    npt.NDArray[np.intp],
    npt.NDArray[np.intp],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]:
    """:func:`_refine` in batches of cells of at most ``PAIR_BATCH`` pairs (bounded memory)."""
    ends = np.cumsum(cnt)
    if len(ends) == 0 or ends[-1] <= PAIR_BATCH:
        return _refine(s, ox, oy, h, cix, ciy, cnt, ps)
    parts = []
    c0 = 0
    while c0 < len(cnt):
        base = ends[c0 - 1] if c0 else 0
        c1 = max(c0 + 1, int(np.searchsorted(ends, base + PAIR_BATCH, side="right")))
        kept, cell, k, lo, ub = _refine(
            s, ox, oy, h, cix[c0:c1], ciy[c0:c1], cnt[c0:c1], ps[base : ends[c1 - 1]]
        )
        parts.append((kept, cell + c0, k, lo, ub))
        c0 = c1
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.concatenate([p[3] for p in parts]),
        np.concatenate([p[4] for p in parts]),
    )


def _refine(
    s: Segments,
    ox: float,
    oy: float,
    h: float,
    cix: npt.NDArray[np.int64],
    ciy: npt.NDArray[np.int64],
    cnt: npt.NDArray[np.int64],
    ps: npt.NDArray[np.intp],
) -> tuple[
    npt.NDArray[np.intp],
    npt.NDArray[np.intp],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]:
    """The candidates of square cells of side ``h`` (lower-left corners at ``ox + cix·h``,
    ``oy + ciy·h``) kept from ``ps`` (``cnt`` per cell, grouped by cell): those that can be
    the nearest piece of some point of the cell. Returns the kept pieces and their cells,
    the count per cell, and bounds of the distance over each cell."""
    pad = h / 2.0 * (1.0 + 1e-9) + 1e-6
    r = pad * np.sqrt(2.0)
    starts = np.cumsum(cnt) - cnt
    pc = np.repeat(np.arange(len(cix)), cnt)
    cx = np.asarray(ox + (cix + 0.5) * h, dtype=np.float64)
    cy = np.asarray(oy + (ciy + 0.5) * h, dtype=np.float64)
    px = cx[pc]
    py = cy[pc]
    d, qx, qy = s.distance(px, py, ps)
    dmin = np.minimum.reduceat(d, starts)
    # the piece nearest each cell's centre (first of ties)
    at_min = np.flatnonzero(d <= dmin[pc])
    first = np.ones(len(at_min), dtype=bool)
    first[1:] = pc[at_min[1:]] != pc[at_min[:-1]]
    star = at_min[first]
    # an upper bound of the distance over the cell: the farthest corner from that piece
    # (the distance to a segment is convex)
    ub = np.zeros(len(cix))
    for sx in (-1.0, 1.0):
        for sy in (-1.0, 1.0):
            dc, _, _ = s.distance(cx + sx * pad, cy + sy * pad, ps[star])
            np.maximum(ub, dc, out=ub)
    keep = d - r <= ub[pc] * (1.0 + 1e-12) + 1e-6
    # the piece's Voronoi region (its slab, or the wedge past its end vertex) meets the cell
    ux = s.ux[ps]
    uy = s.uy[ps]
    ext = pad * (np.abs(ux) + np.abs(uy)) + 1e-6
    along = (px - s.x0[ps]) * ux + (py - s.y0[ps]) * uy
    slab = (along + ext >= 0.0) & (along - ext <= s.length[ps])
    past_end = along - s.length[ps] + ext >= 0.0
    nux = s.nux[ps]
    nuy = s.nuy[ps]
    ext_n = pad * (np.abs(nux) + np.abs(nuy)) + 1e-6
    along_next = (px - s.x0[ps] - s.dx[ps]) * nux + (py - s.y0[ps] - s.dy[ps]) * nuy
    before_next = (along_next - ext_n <= 0.0) | s.last[ps]
    before_start = s.first[ps] & (along - ext <= 0.0)
    keep &= slab | (past_end & before_next) | before_start | s.anywhere[ps]
    # provably farther than another candidate everywhere in the cell (first than the
    # centre's nearest piece, then pairwise in cells left with few candidates)
    with np.errstate(invalid="ignore", divide="ignore"):
        nx = qx / d
        ny = qy / d
    keep &= ~_dominated(d, nx, ny, d[star][pc], nx[star][pc], ny[star][pc], pad)
    keep[star] = True
    k = np.add.reduceat(keep.astype(np.int64), starts)
    crowd = k > PAIRWISE_MAX_K
    if crowd.any():
        # cells with many candidates: also against the likely nearest piece of each corner
        # (the least distance linearly extrapolated there)
        big = crowd[pc] & keep
        for sx in (-1.0, 1.0):
            for sy in (-1.0, 1.0):
                guess = np.where(big, d + pad * (sx * nx + sy * ny), np.inf)
                gmin = np.minimum.reduceat(guess, starts)
                at = np.flatnonzero(big & (guess <= gmin[pc]))
                first = np.ones(len(at), dtype=bool)
                first[1:] = pc[at[1:]] != pc[at[:-1]]
                ref = np.full(len(cix), -1, dtype=np.intp)
                ref[pc[at[first]]] = at[first]
                rp = ref[pc]
                sel = np.flatnonzero(big & (rp >= 0) & (rp != np.arange(len(pc))))
                r_ = rp[sel]
                gone = _dominated(d[sel], nx[sel], ny[sel], d[r_], nx[r_], ny[r_], pad)
                keep[sel[gone]] = False
                big = crowd[pc] & keep
        k = np.add.reduceat(keep.astype(np.int64), starts)
    few = (k >= 2) & (k <= PAIRWISE_MAX_K)
    if few.any():
        # all ordered pairs (i, j) of the kept candidates of each such cell; a cell's
        # kept candidates are consecutive in `kept`
        kept = np.flatnonzero(keep & few[pc])
        kg = k[pc[kept]]
        new_cell = np.ones(len(kept), dtype=bool)
        new_cell[1:] = pc[kept[1:]] != pc[kept[:-1]]
        gstart = np.maximum.accumulate(np.where(new_cell, np.arange(len(kept)), 0))
        i = np.repeat(np.arange(len(kept)), kg)
        j = np.repeat(gstart, kg) + (np.arange(len(i)) - np.repeat(np.cumsum(kg) - kg, kg))
        a = kept[i]
        b = kept[j]
        dom = _dominated(d[a], nx[a], ny[a], d[b], nx[b], ny[b], pad) & (a != b)
        gone = np.bincount(i, weights=dom, minlength=len(kept)) > 0
        keep[kept[gone]] = False
        k = np.add.reduceat(keep.astype(np.int64), starts)
    return ps[keep], pc[keep], k, np.maximum(dmin - r, 0.0), ub


@dataclass(frozen=True)
class DistanceIndex:
    """Which pieces of the line can be nearest, for every cell of a two-level grid over a
    square of the metric plane.

    A quadtree is refined from the whole square: each cell keeps the pieces that can be the
    nearest piece of some point in it (a piece whose Voronoi region — its perpendicular slab,
    or the wedge beyond its end vertex — meets the cell, not provably farther than the
    cell's upper bound, and not provably farther than the piece nearest the cell's centre
    everywhere in the cell); it is split while it keeps many pieces. The leaves are laid
    out as a grid of ``TOP_CELL_M`` cells, each with its own power-of-two sub-grid. The
    distance of a point is then the exact minimum over its cell's few candidates.
    """

    x0: float
    y0: float
    inv_cell: float
    n_top: int
    top: npt.NDArray[np.int32]  # per top cell: first sub-cell << 3 | log2(sub-grid side)
    sub: npt.NDArray[np.int32]  # per sub-cell, packed (see ZONE_SHIFT)
    candidates: npt.NDArray[np.int32]
    segments: Segments
    n_leaves: int
    build_seconds: float

    @property
    def nbytes(self) -> int:
        return int(self.top.nbytes + self.sub.nbytes + self.candidates.nbytes)

    @staticmethod
    def build(
        segments: Segments,
        bounds: tuple[float, float, float, float],
        widths_m: npt.NDArray[np.float64],
    ) -> DistanceIndex:
        """The index over a square holding ``bounds`` (metric x/y), for bands ``widths_m``."""
        t0 = time.perf_counter()
        s = segments
        if len(s) >= 1 << 24:
            msg = "line too detailed for the distance index"
            raise ValueError(msg)
        xmin, ymin, xmax, ymax = bounds
        span = max(xmax - xmin, ymax - ymin, TOP_CELL_M)
        depth_top = int(np.ceil(np.log2(span / TOP_CELL_M)))
        size = TOP_CELL_M * (1 << depth_top)
        ox = (xmin + xmax) / 2.0 - size / 2.0
        oy = (ymin + ymax) / 2.0 - size / 2.0
        nseg = len(s)

        # state of one quadtree level: cells (ix, iy), and their candidate pieces as pairs
        # grouped by cell (every cell has at least one pair)
        cix = np.zeros(1, dtype=np.int64)
        ciy = np.zeros(1, dtype=np.int64)
        cnt = np.array([nseg], dtype=np.int64)
        ps = np.arange(nseg, dtype=np.intp)
        leaves: list[_Leaves] = []
        level = 0
        n_leaves = 0
        while len(cix):
            h = size / (1 << level)
            ps, pc, k, lo_cell, ub = _refine_batched(s, ox, oy, h, cix, ciy, cnt, ps)
            # leaves: few candidates for their size, or the finest cells
            limit = np.array([MAX_CELL_FOR_K.get(int(v), 0.0) for v in range(k.max() + 1)])
            leaf = (h <= limit[k]) | (h / 2.0 < MIN_CELL_M)
            # a bounded build (very detailed lines): split the cells with the most
            # candidates first, as far as the budget of cells and pairs goes
            split = np.flatnonzero(~leaf)
            n_leaves += int(leaf.sum())
            if n_leaves + 4 * len(split) > MAX_CELLS or 4 * k[split].sum() > MAX_PAIRS:
                order = split[np.argsort(-k[split], kind="stable")]
                room = (MAX_CELLS - n_leaves - len(split)) // 3
                fits = np.cumsum(4 * k[order]) <= MAX_PAIRS
                n_split = int(min(max(room, 0), fits.sum()))
                leaf[order[n_split:]] = True
                n_leaves += len(order) - n_split
            lp = leaf[pc]
            if leaf.any():
                leaves.append(
                    _Leaves(level, cix[leaf], ciy[leaf], k[leaf], ps[lp], lo_cell[leaf], ub[leaf])
                )
            # children of the others, each with all of its parent's remaining candidates
            inner = ~leaf
            ps = ps[~lp]
            kin = k[inner]
            st = np.cumsum(kin) - kin
            off = np.arange(len(ps)) - np.repeat(st, kin)
            base = 4 * np.repeat(st, kin) + off
            kk = np.repeat(kin, kin)
            new = np.empty(4 * len(ps), dtype=np.intp)
            for q in range(4):
                new[base + q * kk] = ps
            ps = new
            cnt = np.repeat(kin, 4)
            q4 = np.arange(4)
            cix = (2 * cix[inner][:, None] + (q4 % 2)[None, :]).ravel()
            ciy = (2 * ciy[inner][:, None] + (q4 // 2)[None, :]).ravel()
            level += 1
        return DistanceIndex._lay_out(leaves, ox, oy, size, depth_top, s, widths_m, t0)

    @staticmethod
    def _lay_out(
        leaves: list[_Leaves],
        ox: float,
        oy: float,
        size: float,
        depth_top: int,
        segments: Segments,
        widths_m: npt.NDArray[np.float64],
        t0: float,
    ) -> DistanceIndex:
        lvl = np.concatenate([np.full(len(lf.ix), lf.level, dtype=np.int64) for lf in leaves])
        ix = np.concatenate([lf.ix for lf in leaves])
        iy = np.concatenate([lf.iy for lf in leaves])
        k = np.concatenate([lf.k for lf in leaves])
        cand = np.concatenate([lf.candidates for lf in leaves]).astype(np.int32)
        lo = np.concatenate([lf.lo for lf in leaves])
        hi = np.concatenate([lf.hi for lf in leaves])
        # a cell whose distance range keeps a metre clear of every band edge has one zone
        # (the number of bands narrower than its distances); others are flagged
        w = np.asarray(widths_m, dtype=float)
        zone = np.searchsorted(w, lo, side="left").astype(np.int64)
        near = np.searchsorted(w, lo - 1.0, side="left") != np.searchsorted(
            w, hi + 1.0, side="right"
        )
        if len(w) > ZONE_MASK or not np.all(np.diff(w) > 0):
            near[:] = True
        zone[near] = 0
        # one candidate: itself in the entry; two: where the pair starts in `candidates`;
        # more: where their count starts, followed by them
        kind = np.minimum(k, 3) - 1
        stored = np.where(k >= 3, k + 1, np.where(k == 2, 2, 0))
        at = np.cumsum(stored) - stored
        cstart = np.cumsum(k) - k
        table = np.empty(int(stored.sum()), dtype=np.int32)
        big = np.flatnonzero(k >= 3)
        table[at[big]] = k[big]
        multi = np.flatnonzero(k >= 2)
        reps = k[multi]
        offs = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
        seg_at = at[multi] + (reps >= 3)
        table[np.repeat(seg_at, reps) + offs] = cand[np.repeat(cstart[multi], reps) + offs]
        payload = np.where(k == 1, cand[np.minimum(cstart, len(cand) - 1)], at)
        if payload.max(initial=0) >= 1 << 24:
            msg = "line too detailed for the distance index"
            raise ValueError(msg)
        entry = (payload << PAYLOAD_SHIFT) | (kind << KIND_SHIFT) | (zone << ZONE_SHIFT)
        entry |= near.astype(np.int64)
        entry = entry.astype(np.int32)
        cand = table
        n_top = 1 << depth_top
        top = np.full(n_top * n_top, -1, dtype=np.int64)
        assert MAX_SUB_DEPTH < 8
        shallow = np.flatnonzero(lvl <= depth_top)
        sub_parts = [entry[shallow]]
        for level in np.unique(lvl[shallow]):
            sel = shallow[lvl[shallow] == level]
            f = 1 << (depth_top - int(level))
            j = np.arange(f)
            tx = ix[sel][:, None, None] * f + j[None, None, :]
            ty = iy[sel][:, None, None] * f + j[None, :, None]
            pos = np.repeat(np.searchsorted(shallow, sel), f * f)
            top[(ty * n_top + tx).ravel()] = pos << 3
        n_sub = len(shallow)
        deep = np.flatnonzero(lvl > depth_top)
        if len(deep):
            rel = lvl[deep] - depth_top
            tx = ix[deep] >> rel
            ty = iy[deep] >> rel
            t = ty * n_top + tx
            depth = np.zeros(n_top * n_top, dtype=np.int64)
            np.maximum.at(depth, t, rel)
            tops = np.flatnonzero(depth)
            m2 = 1 << (2 * depth[tops])
            first_sub = np.full(n_top * n_top, -1, dtype=np.int64)
            first_sub[tops] = n_sub + np.concatenate([[0], np.cumsum(m2)[:-1]])
            top[tops] = (first_sub[tops] << 3) | depth[tops]
            sub_deep = np.full(int(m2.sum()), -1, dtype=np.int32)
            dl = depth[t]  # sub-grid depth of the leaf's top cell
            g_exp = dl - rel  # the leaf spans 2**g_exp sub-cells per side
            lx = ix[deep] - (tx << rel)
            ly = iy[deep] - (ty << rel)
            for ge in np.unique(g_exp):
                sel = np.flatnonzero(g_exp == ge)
                g = 1 << int(ge)
                j = np.arange(g)
                m = (1 << dl[sel])[:, None, None]
                sx = lx[sel][:, None, None] * g + j[None, None, :]
                sy = ly[sel][:, None, None] * g + j[None, :, None]
                pos = (first_sub[t[sel]][:, None, None] - n_sub + sy * m + sx).ravel()
                sub_deep[pos] = np.repeat(entry[deep[sel]], g * g)
            sub_parts.append(sub_deep)
        sub = np.concatenate(sub_parts)
        if (top < 0).any() or (sub < 0).any() or top.max() >= 1 << 31:
            msg = "distance index does not cover its square"
            raise AssertionError(msg)
        return DistanceIndex(
            x0=ox,
            y0=oy,
            inv_cell=float((1 << depth_top) / size),
            n_top=n_top,
            top=top.astype(np.int32),
            sub=sub,
            candidates=cand,
            segments=segments,
            n_leaves=len(lvl),
            build_seconds=time.perf_counter() - t0,
        )


# --- polygon label raster ------------------------------------------------------------------

LabelFn = Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]], npt.NDArray[np.int16]]

#: sub-cells per side of a top cell crossed by a polygon edge
LABEL_SUB = 16


def _edge_segments(
    geoms: list[BaseGeometry], max_len: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Start and end points ``(n, 2)`` of every edge of the polygons' boundaries, cut to at
    most ``max_len`` (degrees)."""
    lines = shapely.get_parts(
        shapely.segmentize(shapely.boundary(np.array(geoms, dtype=object)), max_len)
    )
    xy, part = shapely.get_coordinates(lines, return_index=True)
    same = part[1:] == part[:-1]
    return xy[:-1][same], xy[1:][same]


def _mark_cells(
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    lon0: float,
    lat0: float,
    cell: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Cells (ix, iy) that edges no longer than a cell may touch (their bounding boxes,
    padded)."""
    eps = cell * 1e-6
    lo = (np.minimum(a, b) - eps - [lon0, lat0]) / cell
    hi = (np.maximum(a, b) + eps - [lon0, lat0]) / cell
    ilo = np.floor(lo).astype(np.int64)
    ihi = np.floor(hi).astype(np.int64)
    ix = np.concatenate([ilo[:, 0], ihi[:, 0], ilo[:, 0], ihi[:, 0]])
    iy = np.concatenate([ilo[:, 1], ilo[:, 1], ihi[:, 1], ihi[:, 1]])
    return ix, iy


@dataclass(frozen=True)
class LabelRaster:
    """Which polygon label holds in each cell of a lon/lat grid over the polygons' extent.

    A cell no polygon edge touches has one label throughout (found by the exact test at one
    cell of each connected group of such cells); a top cell an edge touches is cut into
    ``LABEL_SUB``² sub-cells the same way; points in a sub-cell an edge touches are
    tested exactly. The grid has a border of cells beyond the polygons' extent, which
    stands for everything farther (and for NaN).
    """

    lon0: float
    lat0: float
    inv_cell: float
    nx: int
    ny: int
    top: npt.NDArray[np.int32]  # label code, or -(block + 1) for a cut top cell
    sub: npt.NDArray[np.int16]  # label code per sub-cell, -1 where an edge passes

    @staticmethod
    def build(geoms: list[BaseGeometry], label: LabelFn) -> LabelRaster:
        xmin, ymin, xmax, ymax = shapely.total_bounds(np.array(geoms, dtype=object))
        cell = 0.02
        while (xmax - xmin) * (ymax - ymin) / cell**2 > 4e6:
            cell *= 2.0
        lon0 = float(xmin) - cell
        lat0 = float(ymin) - cell
        nx = int(np.ceil((xmax - lon0) / cell)) + 2
        ny = int(np.ceil((ymax - lat0) / cell)) + 2
        a, b = _edge_segments(geoms, cell / 4.0)
        ix, iy = _mark_cells(a, b, lon0, lat0, cell)
        cut = np.zeros((ny, nx), dtype=bool)
        cut[np.clip(iy, 0, ny - 1), np.clip(ix, 0, nx - 1)] = True
        cut[0, :] = cut[-1, :] = cut[:, 0] = cut[:, -1] = False
        comp, _ = ndimage.label(~cut)
        top = _label_components(comp, lon0, lat0, cell, label)
        # cut cells: sub-grids
        blocks = np.flatnonzero(cut.ravel())
        nb = len(blocks)
        top.ravel()[blocks] = -(np.arange(nb) + 1)
        m = LABEL_SUB
        sc = cell / m
        a, b = _edge_segments(geoms, sc / 4.0)
        fx, fy = _mark_cells(a, b, lon0, lat0, sc)
        tb = np.full(nx * ny, -1, dtype=np.int64)
        tb[blocks] = np.arange(nb)
        ok = (fx >= 0) & (fy >= 0) & (fx < nx * m) & (fy < ny * m)
        fx, fy = fx[ok], fy[ok]
        blk = tb[(fy // m) * nx + fx // m]
        sub_cut = np.zeros((nb, m, m), dtype=bool)
        inb = blk >= 0
        sub_cut[blk[inb], fy[inb] % m, fx[inb] % m] = True
        structure = np.zeros((3, 3, 3), dtype=bool)
        structure[1] = ndimage.generate_binary_structure(2, 1)
        comp3, _ = ndimage.label(~sub_cut, structure=structure)
        # centre of sub-cell (block, j, i)
        bx = blocks % nx
        by = blocks // nx
        jj, ii = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
        sub_lon = lon0 + bx[:, None, None] * cell + (ii[None] + 0.5) * sc
        sub_lat = lat0 + by[:, None, None] * cell + (jj[None] + 0.5) * sc
        sub = np.full(nb * m * m, -1, dtype=np.int16)
        flat = comp3.ravel()
        free = np.flatnonzero(flat)
        if len(free):
            ids, first = np.unique(flat[free], return_index=True)
            rep = free[first]
            codes = np.full(int(ids.max()) + 1, -1, dtype=np.int16)
            codes[ids] = label(sub_lon.ravel()[rep], sub_lat.ravel()[rep])
            sub[free] = codes[flat[free]]
        return LabelRaster(
            lon0=lon0,
            lat0=lat0,
            inv_cell=1.0 / cell,
            nx=nx,
            ny=ny,
            top=top.ravel(),
            sub=sub,
        )

    @property
    def nbytes(self) -> int:
        return int(self.top.nbytes + self.sub.nbytes)

    def holds(self, bbox: tuple[float, float, float, float]) -> bool:
        """Whether ``bbox`` (lon/lat min, max) lies within the grid, border excluded (False
        if it has NaN)."""
        c = 1.0 / self.inv_cell
        return bool(
            bbox[0] >= self.lon0 + c
            and bbox[2] < self.lon0 + (self.nx - 1) * c
            and bbox[1] >= self.lat0 + c
            and bbox[3] < self.lat0 + (self.ny - 1) * c
        )


def _label_components(
    comp: npt.NDArray[np.int32], lon0: float, lat0: float, cell: float, label: LabelFn
) -> npt.NDArray[np.int32]:
    """Label of each cell of a grid of connected components (0: none) from one exact test
    per component."""
    flat = comp.ravel()
    out = np.zeros(flat.shape, dtype=np.int32)
    free = np.flatnonzero(flat)
    if len(free):
        ids, first = np.unique(flat[free], return_index=True)
        rep = free[first]
        nx = comp.shape[1]
        lon = lon0 + (rep % nx + 0.5) * cell
        lat = lat0 + (rep // nx + 0.5) * cell
        codes = np.zeros(int(ids.max()) + 1, dtype=np.int32)
        codes[ids] = label(lon, lat)
        out[free] = codes[flat[free]]
    return out.reshape(comp.shape)


@dataclass(frozen=True)
class ZoneModel:
    """An agreement's geometry prepared for fast, vectorized evaluation."""

    agreement: Agreement

    @cached_property
    def crs(self) -> CRS:
        margin = max((z.width_km for z in self.agreement.zones), default=100.0) / 80.0 + 1.0
        b = self.agreement.line.bounds
        return metric_crs(b[0] - margin, b[1] - margin, b[2] + margin, b[3] + margin)

    @cached_property
    def line_m(self) -> BaseGeometry:
        """The line of contact in the metric CRS."""
        return shapely.transform(
            self.agreement.line, lambda xy: np.column_stack(to_metric(xy[:, 0], xy[:, 1], self.crs))
        )

    @cached_property
    def segments_m(self) -> npt.NDArray[np.float64]:
        return line_segments(self.line_m)

    @cached_property
    def segment_tree(self) -> shapely.STRtree:
        s = self.segments_m
        return shapely.STRtree(shapely.linestrings(np.stack([s[:, :2], s[:, 2:]], axis=1)))

    @cached_property
    def widths_km(self) -> npt.NDArray[np.float64]:
        return np.array([z.width_km for z in self.agreement.zones], dtype=float)

    @cached_property
    def zone_ids(self) -> tuple[str, ...]:
        return tuple(z.id for z in self.agreement.zones)

    # --- acceleration structures for large evaluations (built on first use) --------------

    @cached_property
    def fast_box(self) -> tuple[float, float, float, float]:
        """The lon/lat box the fast evaluation covers: the line's box and ~1,100 km around
        it (points beyond it take the direct exact path)."""
        b = self.agreement.line.bounds
        lat_lo = max(b[1] - FAST_MARGIN_DEG, -80.0)
        lat_hi = min(b[3] + FAST_MARGIN_DEG, 80.0)
        coslat = np.cos(np.radians(max(abs(lat_lo), abs(lat_hi))))
        dlon = min(FAST_MARGIN_DEG / max(coslat, 1e-6), 60.0)
        lon_c = (b[0] + b[2]) / 2.0
        return (
            max(b[0] - dlon, lon_c - 150.0),
            lat_lo,
            min(b[2] + dlon, lon_c + 150.0),
            lat_hi,
        )

    @cached_property
    def fast_projection(self) -> FastProjection | None:
        """The metric CRS as polynomials over :attr:`fast_box` (None: use pyproj)."""
        return FastProjection.build(self.crs, self.fast_box)

    @cached_property
    def distance_index(self) -> DistanceIndex:
        """Candidate pieces of the line per cell, over the metric image of :attr:`fast_box`."""
        lon_lo, lat_lo, lon_hi, lat_hi = self.fast_box
        t = np.linspace(0.0, 1.0, 1001)
        lon = np.concatenate(
            [
                lon_lo + (lon_hi - lon_lo) * t,
                np.full_like(t, lon_hi),
                lon_lo + (lon_hi - lon_lo) * t,
                np.full_like(t, lon_lo),
            ]
        )
        lat = np.concatenate(
            [
                np.full_like(t, lat_lo),
                lat_lo + (lat_hi - lat_lo) * t,
                np.full_like(t, lat_hi),
                lat_lo + (lat_hi - lat_lo) * t,
            ]
        )
        x, y = to_metric(lon, lat, self.crs)
        pad = 0.01 * max(np.ptp(x), np.ptp(y)) + 1_000.0
        bounds = (x.min() - pad, y.min() - pad, x.max() + pad, y.max() + pad)
        seg = Segments.of(_line_parts_m(self.line_m))
        return DistanceIndex.build(seg, bounds, self.widths_km * 1_000.0)

    @cached_property
    def side_labels(self) -> tuple[str, ...]:
        """Side codes: the parties in the order of the control areas, then 'unknown' and
        'outside'."""
        parties = tuple(dict.fromkeys(label for label, _ in self.agreement.control))
        return (*parties, schema.SIDE_UNKNOWN, schema.SIDE_OUTSIDE)

    def side_codes_exact(
        self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int16]:
        """Side code of each point by exact point-in-polygon tests (WGS84 lon/lat): the
        first control area listed that contains it, 'unknown' where none does, 'outside'
        beyond the boundary when the agreement gives one."""
        a = self.agreement
        labels = self.side_labels
        out = np.full(len(lon), len(labels) - 2, dtype=np.int16)
        for label, geom in reversed(a.control):
            out[shapely.contains_xy(geom, lon, lat)] = labels.index(label)
        if a.boundary is not None:
            out[~shapely.contains_xy(a.boundary, lon, lat)] = len(labels) - 1
        return out

    @cached_property
    def side_raster(self) -> LabelRaster | None:
        """Side codes on a lon/lat grid (None: no control areas or boundary)."""
        geoms = [g for _, g in self.agreement.control]
        if self.agreement.boundary is not None:
            geoms.append(self.agreement.boundary)
        if not geoms:
            return None
        self.prepared()
        return LabelRaster.build(geoms, self.side_codes_exact)

    @cached_property
    def sector_labels(self) -> tuple[str | None, ...]:
        """Sector codes: the sector names in order, then None (no sector; an empty name
        counts as none)."""
        names = dict.fromkeys(label for label, _ in self.agreement.sectors if label != "")
        return (*names, None)

    def sector_codes_exact(
        self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int16]:
        """Sector code of each point (the first sector listed that contains it)."""
        labels = self.sector_labels
        none = len(labels) - 1
        out = np.full(len(lon), none, dtype=np.int16)
        for label, geom in reversed(self.agreement.sectors):
            out[shapely.contains_xy(geom, lon, lat)] = labels.index(label) if label else none
        return out

    @cached_property
    def sector_raster(self) -> LabelRaster | None:
        """Sector codes on a lon/lat grid (None: no sectors)."""
        if not self.agreement.sectors:
            return None
        self.prepared()
        return LabelRaster.build([g for _, g in self.agreement.sectors], self.sector_codes_exact)

    def prepared(self) -> None:
        """Prepare polygons for repeated containment tests."""
        for _, g in self.agreement.control:
            shapely.prepare(g)
        for _, g in self.agreement.sectors:
            shapely.prepare(g)
        if self.agreement.boundary is not None:
            shapely.prepare(self.agreement.boundary)

    def band_polygons(self, *, resolution: int = 8) -> list[tuple[str, float, BaseGeometry]]:
        """Each band as a WGS84 polygon (line buffered by its width, clipped to the boundary)."""
        out = []
        for z in self.agreement.zones:
            poly_m = shapely.buffer(self.line_m, z.width_km * 1_000.0, quad_segs=resolution)
            poly = shapely.transform(
                poly_m, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], self.crs))
            )
            if self.agreement.boundary is not None:
                poly = shapely.intersection(poly, self.agreement.boundary)
            out.append((z.id, z.width_km, poly))
        return out
