"""Which satellite fires are the war's: a baseline of normal fire activity and a classifier.

Pure, vectorized functions over arrays (no store, no loop per detection); the store side is
:mod:`ceasewatch.store.fires`, the method and its measured accuracy ``docs/fires.md``.

**Baseline.** Detections before ``until`` are counted per grid cell (``cell_deg``, 0.1° by
default: about 11 km north-south, 7.5 km east-west over Ukraine), per day-of-year bin
(``bin_days``, 14 by default: 26 bins) and per year. A year counts for a bin only for the
days it covers (the span of its detections, cut at ``until``), so a partial year adds
exposure, not zeros. The expected rate (detections per cell-day) of a cell and bin is

1. the cell's pooled rate over all years (count / covered days),
2. smoothed over time of year (weights 1-2-1 over the neighbouring bins, circular),
3. raised to its 3×3-neighbourhood average (binomial weights 1-2-1 × 1-2-1) where that is
   higher: farmers burn a different field next year, so a cell whose neighbours burn in a
   season may burn too, while a cell's own habit is never smoothed away,
4. floored at ``min_rate`` (no history is not a promise of no fire).

The spread is a negative binomial (Poisson-gamma) whose dispersion ``φ`` (variance =
``μ + φμ²``) is estimated from the 7-day counts of every covered year and both weeks of the
bin, pooled over the 3×3 neighbourhood and the neighbouring bins (moment estimator
``Σ(s² − m) / Σm²``), clipped to [``dispersion_min``, ``dispersion_max``]. It carries the
year-to-year variation (a wet spring, a ban on stubble burning) and the clustering of
detections (one field burnt is a dozen pixels). The same is done for the 3×3 block sums
(``dispersion_block``). A prediction for a 7-day window is therefore a distribution: its
mean ``μ = Σ daily rates`` and its upper ``upper_quantile`` bound.

**Classifier.** For each detection on day ``d`` in cell ``c``:

* ``surprise_cell`` = −log10 P(N ≥ n) of the cell's count ``n`` in the centred 7-day
  window under NB(μ, φ) (rates interpolated linearly between bin centres);
* ``surprise_block`` = the same for the 3×3 block of cells around ``c``;
* ``persistence_days``: days within ``persistence_days`` before or after ``d``, but at least
  ``persistence_gap_days`` away from it, on which a block centred within
  ``persistence_radius_cells`` of ``c`` had a detection and an excess 7-day window (P <
  1 − ``upper_quantile``). Field burning is an episode; fighting comes back.
* a proximity prior from the distance to the line of contact when one is known:
  ``prior_near`` within ``prior_near_km``, falling linearly to 0 at ``prior_far_km`` and
  to ``prior_far`` at twice that distance and beyond; 0 when no agreement is loaded.

``logit = intercept + coef_cell·min(surprise_cell, cap) + coef_block·min(surprise_block,
cap) + coef_persistence·log1p(persistence_days) + prior`` and ``war_probability =
1 / (1 + e^−logit)``; ``war_related = war_probability ≥ threshold``. The prior alone can
never reach the threshold (``intercept + prior_near`` is far below it): it is a prior, not
a verdict.

Every window looks up to ``persistence_days`` + 3 days ahead: a fire's probability can
still change while later detections arrive, and classification is re-run over that span.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from ceasewatch.errors import CeasewatchError

MODEL_VERSION: Final = "fire-anomaly/1"

#: cell ids: (iy + offset) * 100 000 + (ix + offset), iy/ix = floor(lat|lon / cell_deg)
_OFFSET: Final = 50_000
_STRIDE: Final = 100_000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FireModelParams:
    """Every tuning value of the model (units in the names); documented in docs/fires.md."""

    cell_deg: float = 0.1
    #: the unit of activity: a burning pixel-day, detections deduplicated on this grid
    pixel_deg: float = 0.01
    bin_days: int = 14
    window_days: int = 7
    #: floor of the expected rate, detections per cell-day
    min_rate: float = 0.002
    dispersion_min: float = 0.05
    dispersion_max: float = 30.0
    #: dispersion where a cell and its neighbours never burnt in the baseline years
    dispersion_default: float = 2.0
    upper_quantile: float = 0.95
    persistence_days: int = 60
    persistence_gap_days: int = 7
    persistence_radius_cells: int = 2
    surprise_cap: float = 8.0
    intercept: float = -9.0
    coef_cell: float = 0.4
    coef_block: float = 0.3
    coef_persistence: float = 1.0
    prior_near_km: float = 25.0
    prior_far_km: float = 100.0
    prior_near: float = 1.0
    prior_far: float = -1.0
    threshold: float = 0.5

    @property
    def n_bins(self) -> int:
        return 365 // self.bin_days

    @property
    def half_window(self) -> int:
        return self.window_days // 2

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FireModelParams:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})


# --- grid and calendar -------------------------------------------------------------------
def cell_index(
    lat: npt.ArrayLike, lon: npt.ArrayLike, cell_deg: float = 0.1
) -> tuple[IntArray, IntArray]:
    """Row and column of each point's grid cell (floor of degrees / cell size)."""
    la = np.asarray(lat, dtype=float)
    lo = np.asarray(lon, dtype=float)
    # the small epsilon keeps 47.0 / 0.1 = 469.99999… in row 470
    iy = np.floor(la / cell_deg + 1e-9).astype(np.int64)
    ix = np.floor(lo / cell_deg + 1e-9).astype(np.int64)
    return iy, ix


def cell_id(iy: npt.ArrayLike, ix: npt.ArrayLike) -> IntArray:
    return (np.asarray(iy, dtype=np.int64) + _OFFSET) * _STRIDE + (
        np.asarray(ix, dtype=np.int64) + _OFFSET
    )


def cell_yx(cell: npt.ArrayLike) -> tuple[IntArray, IntArray]:
    c = np.asarray(cell, dtype=np.int64)
    return c // _STRIDE - _OFFSET, c % _STRIDE - _OFFSET


def day_number(when: Any) -> IntArray:
    """Days since 1970-01-01 (UTC) of timestamps, datetimes or dates."""
    ts = pd.to_datetime(pd.Series(np.asarray(when)) if not isinstance(when, pd.Series) else when)
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.to_numpy().astype("datetime64[D]").astype(np.int64)


def day_of_year(day: npt.ArrayLike) -> IntArray:
    """0-based day of year of day numbers."""
    d = np.asarray(day, dtype=np.int64).astype("datetime64[D]")
    return (d - d.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)


def year_of(day: npt.ArrayLike) -> IntArray:
    d = np.asarray(day, dtype=np.int64).astype("datetime64[D]")
    return d.astype("datetime64[Y]").astype(np.int64) + 1970


def bin_of(doy: npt.ArrayLike, params: FireModelParams) -> IntArray:
    return np.minimum(np.asarray(doy, dtype=np.int64) // params.bin_days, params.n_bins - 1)


def pixel_days(
    lat: npt.ArrayLike, lon: npt.ArrayLike, day: npt.ArrayLike, pixel_deg: float
) -> tuple[FloatArray, FloatArray, IntArray]:
    """The distinct burning pixel-days among detections: (lat, lon, day) of one point per
    ``pixel_deg`` pixel and day (the pixel's centre).

    A second satellite seeing the same fire, or one detection loaded from two files, adds
    detections but no pixel-day: the measure does not change with the sensor mix.
    """
    py, px = cell_index(lat, lon, pixel_deg)
    d = np.asarray(day, dtype=np.int64)
    if len(d) == 0:
        return np.empty(0), np.empty(0), np.empty(0, dtype=np.int64)
    # one int64 key per (day, pixel): 2^20 pixels a side covers the globe at 0.001°
    key = (d << 42) | ((py + (1 << 20)) << 21) | (px + (1 << 20))
    u = np.unique(key)
    uy = ((u >> 21) & ((1 << 21) - 1)) - (1 << 20)
    ux = (u & ((1 << 21) - 1)) - (1 << 20)
    return (
        np.asarray((uy + 0.5) * pixel_deg, dtype=np.float64),
        np.asarray((ux + 0.5) * pixel_deg, dtype=np.float64),
        np.asarray(u >> 42, dtype=np.int64),
    )


def _bin_centres(params: FireModelParams) -> FloatArray:
    starts = np.arange(params.n_bins) * params.bin_days
    ends = np.append(starts[1:], 365)  # the last bin takes the remaining days (and 29 Feb…)
    return (starts + ends - 1) / 2.0


def doy_weights(params: FireModelParams) -> FloatArray:
    """(366, n_bins) weights interpolating bin values linearly between bin centres,
    circularly over the year end."""
    centres = _bin_centres(params)
    nb = params.n_bins
    ext = np.concatenate([[centres[-1] - 365.0], centres, [centres[0] + 365.0]])
    idx = np.concatenate([[nb - 1], np.arange(nb), [0]])
    t = np.arange(366, dtype=float)
    j = np.clip(np.searchsorted(ext, t, side="right") - 1, 0, len(ext) - 2)
    frac = (t - ext[j]) / (ext[j + 1] - ext[j])
    w = np.zeros((366, nb))
    np.add.at(w, (np.arange(366), idx[j]), 1.0 - frac)
    np.add.at(w, (np.arange(366), idx[j + 1]), frac)
    return w


def _box(a: npt.NDArray[Any], radius: int = 1, weights: FloatArray | None = None) -> FloatArray:
    """Sum over the (2r+1)² neighbourhood on the last two axes (zeros beyond the edge);
    with separable 1-D ``weights`` (length 2r+1), the weighted sum."""
    from scipy import ndimage  # imported when used: scipy takes ~1 s to load

    k = np.ones(2 * radius + 1) if weights is None else np.asarray(weights, dtype=float)
    out = ndimage.correlate1d(np.asarray(a, dtype=np.float64), k, axis=-1, mode="constant")
    return np.asarray(ndimage.correlate1d(out, k, axis=-2, mode="constant"), dtype=np.float64)


_BINOMIAL3: Final = np.array([1.0, 2.0, 1.0]) / 4.0  # separable: 1-2-1 × 1-2-1 / 16


# --- baseline ----------------------------------------------------------------------------
@dataclass
class Baseline:
    """Expected fire activity per cell and bin, on a dense grid starting at (iy0, ix0)."""

    until: pd.Timestamp
    params: FireModelParams
    iy0: int
    ix0: int
    #: expected detections per cell-day, (n_bins, ny, nx)
    expected: FloatArray
    #: NB dispersion of a cell's 7-day count, (n_bins, ny, nx)
    dispersion: FloatArray
    #: NB dispersion of a 3×3 block's 7-day count, (n_bins, ny, nx)
    dispersion_block: FloatArray
    years: tuple[int, ...] = ()
    n_detections: int = 0
    n_pixel_days: int = 0
    exposure_days: dict[int, int] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.expected.shape[1]), int(self.expected.shape[2])

    def to_frame(self) -> pd.DataFrame:
        """Rows (cell, bin, expected, dispersion, dispersion_block) of every cell of the grid
        (cells beyond it read as the floor and the default dispersion)."""
        p = self.params
        ny, nx = self.shape
        yy = np.repeat(np.arange(ny), nx)
        xx = np.tile(np.arange(nx), ny)
        nb = p.n_bins
        cells = cell_id(yy + self.iy0, xx + self.ix0)
        return pd.DataFrame(
            {
                "cell": np.repeat(cells, nb),
                "bin": np.tile(np.arange(nb), len(cells)).astype(np.int32),
                "expected": self.expected[:, yy, xx].T.reshape(-1),
                "dispersion": self.dispersion[:, yy, xx].T.reshape(-1),
                "dispersion_block": self.dispersion_block[:, yy, xx].T.reshape(-1),
            }
        )

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, *, until: pd.Timestamp, params: FireModelParams, **meta: Any
    ) -> Baseline:
        if frame.empty:
            msg = "the stored fire baseline is empty"
            raise CeasewatchError(msg)
        iy, ix = cell_yx(frame["cell"].to_numpy())
        iy0, ix0 = int(iy.min()), int(ix.min())
        ny, nx = int(iy.max()) - iy0 + 1, int(ix.max()) - ix0 + 1
        nb = params.n_bins
        exp = np.full((nb, ny, nx), params.min_rate)
        disp = np.full((nb, ny, nx), params.dispersion_default)
        dispb = np.full((nb, ny, nx), params.dispersion_default)
        b = frame["bin"].to_numpy().astype(np.int64)
        exp[b, iy - iy0, ix - ix0] = frame["expected"].to_numpy()
        disp[b, iy - iy0, ix - ix0] = frame["dispersion"].to_numpy()
        dispb[b, iy - iy0, ix - ix0] = frame["dispersion_block"].to_numpy()
        return cls(until, params, iy0, ix0, exp, disp, dispb, **meta)

    def regrid(self, iy0: int, ix0: int, ny: int, nx: int) -> tuple[FloatArray, ...]:
        """(expected, dispersion, dispersion_block) on another grid window (floor and
        default dispersion outside the baseline's own grid)."""
        p = self.params
        nb = p.n_bins
        out = (
            np.full((nb, ny, nx), p.min_rate),
            np.full((nb, ny, nx), p.dispersion_default),
            np.full((nb, ny, nx), p.dispersion_default),
        )
        by, bx = self.shape
        y_lo, y_hi = max(iy0, self.iy0), min(iy0 + ny, self.iy0 + by)
        x_lo, x_hi = max(ix0, self.ix0), min(ix0 + nx, self.ix0 + bx)
        if y_lo < y_hi and x_lo < x_hi:
            src = (slice(None), slice(y_lo - self.iy0, y_hi - self.iy0))
            src_x = slice(x_lo - self.ix0, x_hi - self.ix0)
            dst = (slice(None), slice(y_lo - iy0, y_hi - iy0), slice(x_lo - ix0, x_hi - ix0))
            for o, a in zip(
                out, (self.expected, self.dispersion, self.dispersion_block), strict=True
            ):
                o[dst] = a[src][:, :, src_x]
        return out


def _coverage(day: IntArray, until_day: int) -> dict[int, tuple[int, int]]:
    """Per calendar year, the covered day range [first, last] (inclusive): from 1 January
    when the year's first detection is within two weeks of it (else that detection), to
    31 December likewise, cut at ``until``."""
    out: dict[int, tuple[int, int]] = {}
    years = year_of(day)
    for y in np.unique(years):
        d = day[years == y]
        jan1 = int(np.datetime64(f"{int(y)}-01-01", "D").astype(np.int64))
        dec31 = int(np.datetime64(f"{int(y)}-12-31", "D").astype(np.int64))
        first = int(d.min())
        last = int(d.max())
        lo = jan1 if first - jan1 <= 14 else first
        hi = dec31 if dec31 - last <= 14 else last
        hi = min(hi, until_day - 1)
        if hi >= lo:
            out[int(y)] = (lo, hi)
    return out


def _pooled_dispersion(
    mean: FloatArray, var: FloatArray, valid: npt.NDArray[np.bool_], params: FireModelParams
) -> FloatArray:
    """Moment estimate of φ pooled over the 3×3 neighbourhood and neighbouring bins."""
    num = np.where(valid, var - mean, 0.0)
    den = np.where(valid, mean**2, 0.0)
    num_s = _box(num)
    den_s = _box(den)
    num_s = num_s + np.roll(num_s, 1, axis=0) + np.roll(num_s, -1, axis=0)
    den_s = den_s + np.roll(den_s, 1, axis=0) + np.roll(den_s, -1, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(den_s > 1e-9, num_s / den_s, params.dispersion_default)
    return np.clip(phi, params.dispersion_min, params.dispersion_max)


def fit_baseline(
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    day: npt.ArrayLike,
    until: pd.Timestamp | str,
    *,
    params: FireModelParams | None = None,
    years: Sequence[int] | None = None,
) -> Baseline:
    """Fit the baseline on the detections strictly before ``until``.

    Parameters
    ----------
    lat, lon
        WGS84 degrees.
    day
        Day numbers (:func:`day_number`) of the detections (UTC dates).
    until
        End of the baseline period (exclusive), e.g. the start of the war.
    years
        Only these calendar years (default: every year with detections before ``until``);
        a placebo test leaves one normal year out and classifies it.

    Activity is counted in burning pixel-days (:func:`pixel_days`), not detections.
    """
    p = params or FireModelParams()
    until_ts = pd.Timestamp(until)
    if until_ts.tzinfo is None:
        until_ts = until_ts.tz_localize("UTC")
    until_day = int(day_number(pd.Series([until_ts]))[0])
    d_all = np.asarray(day, dtype=np.int64)
    keep = d_all < until_day
    n_detections = int(keep.sum())
    la, lo, d = pixel_days(
        np.asarray(lat, dtype=float)[keep],
        np.asarray(lon, dtype=float)[keep],
        d_all[keep],
        p.pixel_deg,
    )
    iy, ix = cell_index(la, lo, p.cell_deg)
    if len(d) == 0:
        msg = (
            f"no fire detections before {until_ts.isoformat()}: nothing to learn normal "
            "activity from"
        )
        raise CeasewatchError(msg)
    cover = _coverage(d, until_day)
    if years is not None:
        cover = {y: c for y, c in cover.items() if y in set(years)}
        if not cover:
            msg = f"none of the years {sorted(years)} has detections before {until_ts.date()}"
            raise CeasewatchError(msg)
    years = sorted(cover)
    nb = p.n_bins
    nwin = max(1, p.bin_days // p.window_days)

    # exposure: covered days per (year, bin) and fully covered windows per (year, bin, win)
    exposure = np.zeros((len(years), nb))
    win_ok = np.zeros((len(years), nb, nwin), dtype=bool)
    for j, y in enumerate(years):
        c_lo, c_hi = cover[y]
        days = np.arange(c_lo, c_hi + 1)
        b = bin_of(day_of_year(days), p)
        exposure[j] = np.bincount(b, minlength=nb)[:nb]
        doy = day_of_year(days)
        wi = (doy - b * p.bin_days) // p.window_days
        ok = wi < nwin
        cnt = np.zeros((nb, nwin))
        np.add.at(cnt, (b[ok], wi[ok]), 1)
        win_ok[j] = cnt >= p.window_days
    missing = np.nonzero(exposure.sum(axis=0) < p.bin_days / 2)[0]
    if len(missing):
        first = int(missing[0]) * p.bin_days + 1
        msg = (
            f"the detections before {until_ts.date()} do not cover every time of year "
            f"({len(missing)} of {nb} day-of-year bins have less than half a bin of data, the "
            f"first from day {first}): a baseline needs at least one full year"
        )
        raise CeasewatchError(msg)

    # dense grid with a margin of 2 cells (smoothing reach)
    iy0, ix0 = int(iy.min()) - 2, int(ix.min()) - 2
    ny, nx = int(iy.max()) - iy0 + 3, int(ix.max()) - ix0 + 3
    yidx = {int(y): j for j, y in enumerate(years)}
    yr = year_of(d)
    jj = np.array([yidx.get(int(v), -1) for v in np.unique(yr)])
    j_of = jj[np.searchsorted(np.unique(yr), yr)]
    inside = j_of >= 0
    doy = day_of_year(d)
    b = bin_of(doy, p)
    wi = np.minimum((doy - b * p.bin_days) // p.window_days, nwin)  # nwin = the leftover days
    ncell = ny * nx
    flat = (iy - iy0) * nx + (ix - ix0)
    key = ((j_of * nb + b) * (nwin + 1) + wi) * ncell + flat
    counts = np.bincount(key[inside], minlength=len(years) * nb * (nwin + 1) * ncell).reshape(
        len(years), nb, nwin + 1, ny, nx
    )

    # 1. pooled rate per cell-day; 2. time smoothing 1-2-1; 3. neighbourhood envelope; 4. floor
    per_bin = counts.sum(axis=2)  # (years, nb, ny, nx)
    rate = per_bin.sum(axis=0) / exposure.sum(axis=0)[:, None, None]
    rate_t = (np.roll(rate, 1, axis=0) + 2 * rate + np.roll(rate, -1, axis=0)) / 4.0
    expected = np.maximum(np.maximum(rate_t, _box(rate_t, 1, _BINOMIAL3)), p.min_rate)

    # dispersion of 7-day counts across the covered (year, window) samples of each bin
    wc = counts[:, :, :nwin]  # (years, nb, nwin, ny, nx)
    ok = win_ok[:, :, :, None, None]
    n_ok = ok.sum(axis=(0, 2))  # (nb, 1, 1)
    n_ok_f = np.maximum(n_ok, 1).astype(float)
    mean_c = np.where(ok, wc, 0.0).sum(axis=(0, 2)) / n_ok_f
    var_c = np.where(ok, (wc - mean_c[None, :, None]) ** 2, 0.0).sum(axis=(0, 2)) / np.maximum(
        n_ok - 1, 1
    )
    valid = np.broadcast_to(n_ok >= 2, mean_c.shape)
    dispersion = _pooled_dispersion(mean_c, var_c, valid, p)
    wb = _box(wc)
    mean_b = np.where(ok, wb, 0.0).sum(axis=(0, 2)) / n_ok_f
    var_b = np.where(ok, (wb - mean_b[None, :, None]) ** 2, 0.0).sum(axis=(0, 2)) / np.maximum(
        n_ok - 1, 1
    )
    dispersion_block = _pooled_dispersion(mean_b, var_b, valid, p)

    return Baseline(
        until=until_ts,
        params=p,
        iy0=iy0,
        ix0=ix0,
        expected=expected,
        dispersion=dispersion,
        dispersion_block=dispersion_block,
        years=tuple(int(y) for y in years),
        n_detections=n_detections,
        n_pixel_days=len(d),
        exposure_days={y: int(cover[y][1] - cover[y][0] + 1) for y in years},
    )


# --- classification ----------------------------------------------------------------------
def nb_sf(n: npt.ArrayLike, mu: npt.ArrayLike, phi: npt.ArrayLike) -> FloatArray:
    """P(N ≥ n) for N ~ NB(mean μ, variance μ + φμ²); 1 for n ≤ 0."""
    from scipy import stats  # imported when used: scipy takes ~1 s to load

    n_ = np.asarray(n, dtype=float)
    mu_ = np.maximum(np.asarray(mu, dtype=float), 1e-12)
    r = 1.0 / np.asarray(phi, dtype=float)
    out = stats.nbinom.sf(np.ceil(n_) - 1, r, r / (r + mu_))
    return np.where(n_ <= 0, 1.0, out)


def nb_quantile(q: float, mu: npt.ArrayLike, phi: npt.ArrayLike) -> FloatArray:
    """The q-quantile of NB(mean μ, variance μ + φμ²)."""
    from scipy import stats  # imported when used: scipy takes ~1 s to load

    mu_ = np.maximum(np.asarray(mu, dtype=float), 1e-12)
    r = 1.0 / np.asarray(phi, dtype=float)
    return np.asarray(stats.nbinom.ppf(q, r, r / (r + mu_)), dtype=float)


def proximity_prior(distance_km: npt.ArrayLike, params: FireModelParams) -> FloatArray:
    """Log-odds added for the distance to the line of contact (0 where unknown)."""
    p = params
    dist = np.asarray(distance_km, dtype=float)
    near = np.interp(dist, [p.prior_near_km, p.prior_far_km], [p.prior_near, 0.0])
    far = np.interp(dist, [p.prior_far_km, 2 * p.prior_far_km], [0.0, p.prior_far])
    out = np.where(dist <= p.prior_far_km, near, far)
    return np.where(np.isnan(dist), 0.0, out)


def war_probability(
    surprise_cell: npt.ArrayLike,
    surprise_block: npt.ArrayLike,
    persistence_days: npt.ArrayLike,
    prior: npt.ArrayLike,
    params: FireModelParams,
) -> FloatArray:
    p = params
    logit = (
        p.intercept
        + p.coef_cell * np.minimum(np.asarray(surprise_cell, dtype=float), p.surprise_cap)
        + p.coef_block * np.minimum(np.asarray(surprise_block, dtype=float), p.surprise_cap)
        + p.coef_persistence * np.log1p(np.asarray(persistence_days, dtype=float))
        + np.asarray(prior, dtype=float)
    )
    return np.asarray(1.0 / (1.0 + np.exp(-logit)), dtype=float)


@dataclass
class _Context:
    """Dense daily grid of one chunk of days: counts and expectations."""

    d0: int
    iy0: int
    ix0: int
    count: FloatArray  # (days, ny, nx) detections per cell-day
    rate: FloatArray  # expected detections per cell-day
    phi: FloatArray  # cell dispersion per day (interpolated)
    phi_block: FloatArray


def _context(
    baseline: Baseline, d: IntArray, iy: IntArray, ix: IntArray, d0: int, d1: int
) -> _Context:
    """Dense arrays over days [d0, d1] and the grid covering baseline and detections."""
    p = baseline.params
    by, bx = baseline.shape
    iy0 = min(baseline.iy0, int(iy.min()) - 1) if len(iy) else baseline.iy0
    ix0 = min(baseline.ix0, int(ix.min()) - 1) if len(ix) else baseline.ix0
    iy1 = max(baseline.iy0 + by, int(iy.max()) + 2) if len(iy) else baseline.iy0 + by
    ix1 = max(baseline.ix0 + bx, int(ix.max()) + 2) if len(ix) else baseline.ix0 + bx
    ny, nx = iy1 - iy0, ix1 - ix0
    nd = d1 - d0 + 1
    sel = (d >= d0) & (d <= d1)
    flat = ((d[sel] - d0) * ny + (iy[sel] - iy0)) * nx + (ix[sel] - ix0)
    count = np.bincount(flat, minlength=nd * ny * nx).reshape(nd, ny, nx).astype(np.float64)
    exp, disp, dispb = baseline.regrid(iy0, ix0, ny, nx)
    wts = doy_weights(p)[day_of_year(np.arange(d0, d1 + 1))]  # (nd, nb)
    nb = p.n_bins
    rate = (wts @ exp.reshape(nb, -1)).reshape(nd, ny, nx)
    phi = (wts @ disp.reshape(nb, -1)).reshape(nd, ny, nx)
    phib = (wts @ dispb.reshape(nb, -1)).reshape(nd, ny, nx)
    return _Context(d0, iy0, ix0, count, rate, phi, phib)


def _window_sum(a: FloatArray, half: int) -> FloatArray:
    """Centred sum over days [t − half, t + half] (zeros beyond the chunk's ends)."""
    from scipy import ndimage  # imported when used: scipy takes ~1 s to load

    k = np.ones(2 * half + 1)
    return np.asarray(ndimage.correlate1d(a, k, axis=0, mode="constant"), dtype=np.float64)


FEATURE_COLUMNS: Final = (
    "observed_window",
    "expected_window",
    "upper_window",
    "surprise_cell",
    "surprise_block",
    "persistence_days",
    "distance_to_line_km",
    "war_probability",
    "war_related",
)


def classify_detections(
    baseline: Baseline,
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    day: npt.ArrayLike,
    *,
    target: npt.ArrayLike | None = None,
    distance_km: npt.ArrayLike | None = None,
    params: FireModelParams | None = None,
    chunk_days: int = 366,
) -> pd.DataFrame:
    """Features and war probability of the ``target`` detections (all by default).

    Every detection given counts as context (neighbours, windows, persistence); pass the
    detections of ``persistence_days`` + 3 days either side of the targets. ``params``
    overrides the baseline's (only the classifier's values may differ: cell and bin sizes
    are the baseline's). Returns one row per target, in input order, with
    :data:`FEATURE_COLUMNS`.
    """
    p = params or baseline.params
    if (p.cell_deg, p.bin_days) != (baseline.params.cell_deg, baseline.params.bin_days):
        msg = "classifier parameters must keep the baseline's cell and bin sizes"
        raise CeasewatchError(msg)
    la = np.asarray(lat, dtype=float)
    lo = np.asarray(lon, dtype=float)
    d = np.asarray(day, dtype=np.int64)
    n = len(d)
    tgt = np.ones(n, dtype=bool) if target is None else np.asarray(target, dtype=bool)
    dist = np.full(n, np.nan) if distance_km is None else np.asarray(distance_km, dtype=float)
    iy, ix = cell_index(la, lo, p.cell_deg)
    # activity is counted in burning pixel-days; features are read at each detection's cell
    u_la, u_lo, u_d = pixel_days(la, lo, d, p.pixel_deg)
    u_iy, u_ix = cell_index(u_la, u_lo, p.cell_deg)
    out = {c: np.full(n, np.nan) for c in FEATURE_COLUMNS}
    out["distance_to_line_km"] = dist.copy()
    h = p.half_window
    reach = p.persistence_days + h
    tidx = np.nonzero(tgt)[0]
    if len(tidx):
        t_lo, t_hi = int(d[tidx].min()), int(d[tidx].max())
        for c0 in range(t_lo, t_hi + 1, chunk_days):
            c1 = min(c0 + chunk_days - 1, t_hi)
            these = tidx[(d[tidx] >= c0) & (d[tidx] <= c1)]
            if len(these) == 0:
                continue
            ctx = _context(baseline, u_d, u_iy, u_ix, c0 - reach, c1 + reach)
            _classify_chunk(ctx, p, d, iy, ix, these, out)
    prob = war_probability(
        out["surprise_cell"],
        out["surprise_block"],
        out["persistence_days"],
        proximity_prior(dist, p),
        p,
    )
    out["war_probability"] = prob
    frame = pd.DataFrame({c: out[c] for c in FEATURE_COLUMNS})
    frame["war_related"] = frame["war_probability"] >= p.threshold
    frame["persistence_days"] = frame["persistence_days"].astype("int64", errors="ignore")
    return frame[tgt].reset_index(drop=True)


def _classify_chunk(
    ctx: _Context,
    p: FireModelParams,
    d: IntArray,
    iy: IntArray,
    ix: IntArray,
    these: IntArray,
    out: dict[str, FloatArray],
) -> None:
    from scipy import ndimage  # imported when used: scipy takes ~1 s to load

    h = p.half_window
    obs_w = _window_sum(ctx.count, h)
    mu_w = _window_sum(ctx.rate, h)
    obs_b = _box(obs_w)
    mu_b = _box(mu_w)
    # features per distinct cell-day of the targets, then given to each detection
    ny, nx = int(ctx.count.shape[1]), int(ctx.count.shape[2])
    flat = ((d[these] - ctx.d0) * ny + (iy[these] - ctx.iy0)) * nx + (ix[these] - ctx.ix0)
    uniq, back = np.unique(flat, return_inverse=True)
    ti, rest = np.divmod(uniq, ny * nx)
    ty, tx = np.divmod(rest, nx)
    n_c = np.round(obs_w[ti, ty, tx])
    m_c = mu_w[ti, ty, tx]
    f_c = ctx.phi[ti, ty, tx]
    feats: dict[str, FloatArray] = {
        "observed_window": obs_w[ti, ty, tx],
        "expected_window": m_c,
        "upper_window": nb_quantile(p.upper_quantile, m_c, f_c),
        "surprise_cell": -np.log10(np.maximum(nb_sf(n_c, m_c, f_c), 1e-300)),
        "surprise_block": -np.log10(
            np.maximum(
                nb_sf(np.round(obs_b[ti, ty, tx]), mu_b[ti, ty, tx], ctx.phi_block[ti, ty, tx]),
                1e-300,
            )
        ),
    }
    # excess days: a block with a detection that day and an excess 7-day window
    blk_day = _box(ctx.count)
    nd = int(blk_day.shape[0])
    nz = np.nonzero(blk_day > 0.5)
    excess: npt.NDArray[np.bool_] = np.zeros(blk_day.shape, dtype=bool)
    if len(nz[0]):
        pv = nb_sf(np.round(obs_b[nz]), mu_b[nz], ctx.phi_block[nz])
        excess[nz] = pv < 1.0 - p.upper_quantile
    r = p.persistence_radius_cells
    if r > 0:
        excess = ndimage.maximum_filter(excess, size=(1, 2 * r + 1, 2 * r + 1), mode="constant")
    cs = np.zeros((nd + 1, ny, nx), dtype=np.int32)
    np.cumsum(excess, axis=0, dtype=np.int32, out=cs[1:])

    def count_days(a: IntArray, b: IntArray) -> IntArray:
        a_ = np.clip(a, 0, nd)
        b_ = np.clip(b, 0, nd)
        return np.asarray(np.where(b_ > a_, cs[b_, ty, tx] - cs[a_, ty, tx], 0), dtype=np.int64)

    before = count_days(ti - p.persistence_days, ti - p.persistence_gap_days + 1)
    after = count_days(ti + p.persistence_gap_days, ti + p.persistence_days + 1)
    feats["persistence_days"] = (before + after).astype(float)
    for name, values in feats.items():
        out[name][these] = values[back]
