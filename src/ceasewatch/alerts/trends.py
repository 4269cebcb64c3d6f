"""Trend, spike, escalation and silence detection: pure functions over frames and arrays.

Counting
--------
Violations are counted per *dimension* (``sector``, ``zone``, ``category`` or ``total``)
and per period: the report day (the 24 h ending at the agreement's local cut-off, as in
the daily report) or the UTC hour. Dismissed violations are never counted; which
statuses count is the policy's ``count_statuses``.

The spike test
--------------
Each period's count ``k`` is compared with the distribution of counts in the trailing
``baseline_days`` (28 by default) of *observed* periods of the same key, the period
itself excluded:

* the baseline's mean ``m`` and sample variance ``s²`` give a negative binomial with that
  mean and variance ``v = max(s², m) · (1 + 1/n)`` (the ``1/n`` term is the uncertainty of
  a mean estimated from ``n`` periods); with ``v == m`` it is Poisson;
* ``p = P(X >= k)`` is its upper tail; the period is a ``warning`` when ``p`` is at most
  the warning threshold, a ``notice`` when at most the notice threshold;
* low counts: the expected count is floored at ``min_expected`` (a sector that was quiet
  for four weeks does not make one incident "infinitely unlikely"), a spike needs at least
  ``min_count`` violations and at least ``min_ratio`` times the expected count, and no
  test is made on fewer than ``min_baseline_days`` observed baseline days;
* coverage: a sector-day where no source delivered any record is *not observed*; it is
  left out of every baseline (an unobserved day is not a quiet day) and is never tested.
  For the zone, category and total dimensions a day is observed when any sector was.
  Without a coverage table every period counts as observed.
* a period still running (the current report day) is tested with what it holds so far
  against a *whole* period's distribution: an alert can come early in the day, never
  from the day being incomplete.

An *expanded attack* is a sector where, within ``window_hours``, at least
``min_breaches`` violations graded breach or worse happened and (by default) the sector
also shows a spike (notice or above, daily or hourly) overlapping that window; a
violation the agreement's own ladder grades ``expanded_attack`` is one by itself. A
*silent* source (or an unobserved sector) is a run of days without any record whose
probability under the key's own baseline is below ``p_value`` (``P(0)^days``), for keys
that deliver at least ``min_mean_per_day``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from ceasewatch.normalize import schema

LEVELS: Final = schema.SEVERITIES
LEVEL_RANK: Final = {lvl: i for i, lvl in enumerate(LEVELS)}
DIMENSIONS: Final = ("sector", "zone", "category", "total")
TOTAL_KEY: Final = "all"
NO_KEY: Final = "(none)"

#: alert kinds
KIND_VIOLATION: Final = "violation"
KIND_SPIKE: Final = "spike"
KIND_EXPANDED: Final = "expanded_attack"
KIND_SILENT_SOURCE: Final = "source_silent"
KIND_SECTOR_UNOBSERVED: Final = "sector_unobserved"
KIND_CLOCK_OPENED: Final = "clock_opened"
KIND_CLOCK_WARNING: Final = "clock_warning"
KIND_CLOCK_MISSED: Final = "clock_missed"
KIND_CLOCK_CLOSED: Final = "clock_closed"
ALERT_KINDS: Final = (
    KIND_VIOLATION,
    KIND_SPIKE,
    KIND_EXPANDED,
    KIND_SILENT_SOURCE,
    KIND_SECTOR_UNOBSERVED,
    KIND_CLOCK_OPENED,
    KIND_CLOCK_WARNING,
    KIND_CLOCK_MISSED,
    KIND_CLOCK_CLOSED,
)

SPIKE_COLUMNS: Final = (
    "dimension",
    "key",
    "freq",
    "period",
    "period_start",
    "period_end",
    "count",
    "expected",
    "variance",
    "n_baseline",
    "p_value",
    "level",
    "partial",
    "status",
)
EXPANDED_COLUMNS: Final = (
    "sector",
    "day",
    "started_at",
    "crossed_at",
    "n_breaches",
    "violation_ids",
    "reason",
)
SILENCE_COLUMNS: Final = (
    "dimension",
    "key",
    "day",
    "run_start",
    "run_days",
    "expected_per_day",
    "p_value",
)


# --- policy ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SpikeThresholds:
    """When a period's count is a spike (see the module docstring).

    ``notice``/``warning`` are upper-tail probabilities (``None``: that level is off).
    """

    notice: float | None = 0.01
    warning: float | None = 0.001
    min_count: int = 5
    min_expected: float = 0.5
    min_ratio: float = 2.0

    def level(self, k: float, expected: float, p: float) -> str | None:
        if not (k >= self.min_count and k >= self.min_ratio * expected):
            return None
        if self.warning is not None and p <= self.warning:
            return "warning"
        if self.notice is not None and p <= self.notice:
            return "notice"
        return None


@dataclass(frozen=True)
class ExpandedAttackRule:
    """A sector's breaches growing into an expanded attack (see the module docstring)."""

    window_hours: float = 24.0
    min_breaches: int = 5
    require_spike: bool = True
    #: the least spike level (in the sector, daily or hourly) that ``require_spike`` needs
    spike_level: str = "notice"
    #: severities counted as breaches
    levels: tuple[str, ...] = ("breach", "expanded_attack")


@dataclass(frozen=True)
class SilenceRule:
    """A source (or sector) that stops delivering."""

    min_mean_per_day: float = 3.0
    p_value: float = 0.001
    #: days a source's records usually arrive late (e.g. ``{"acled": 7}``): days more
    #: recent than that are not tested for silence
    lag_days: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertPolicy:
    """Everything the detectors need; read from the agreement's ``alerts`` key."""

    #: each violation graded at least this raises its own alert (``None``: none do)
    violation_min_level: str | None = "breach"
    count_statuses: tuple[str, ...] = ("detected", "under_review", "confirmed")
    dimensions: tuple[str, ...] = DIMENSIONS
    baseline_days: int = 28
    min_baseline_days: int = 7
    daily: SpikeThresholds = SpikeThresholds()
    #: hourly thresholds: the daily ones shared among 24 hours (Bonferroni)
    hourly: SpikeThresholds | None = SpikeThresholds(
        notice=0.01 / 24, warning=0.001 / 24, min_count=4, min_expected=0.5 / 24, min_ratio=3.0
    )
    expanded_attack: ExpandedAttackRule = ExpandedAttackRule()
    silence: SilenceRule = SilenceRule()
    #: how far back each detection pass looks again (late records, restarts), in days
    lookback_days: int = 2


@dataclass(frozen=True)
class DayGrid:
    """Report days: the 24 hours ``(cut-off the day before, cut-off]`` in local time."""

    timezone: str = "Europe/Kyiv"
    cutoff: time = time(19, 30)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def day_of(self, ts: pd.Series) -> pd.Series:
        """The report day of each UTC time (object dtype of ``date``)."""
        if ts.empty:
            return pd.Series([], index=ts.index, dtype=object)
        local = pd.to_datetime(ts, utc=True).dt.tz_convert(self.tz).dt.tz_localize(None)
        cut = timedelta(hours=self.cutoff.hour, minutes=self.cutoff.minute)
        return (local - cut).dt.ceil("D").dt.date

    def day_at(self, moment: datetime) -> date:
        day: date = self.day_of(pd.Series([pd.Timestamp(moment)]))[0]
        return day

    def period(self, day: date) -> tuple[datetime, datetime]:
        """``(start, end]`` of the report day, UTC."""
        end = datetime.combine(day, self.cutoff, tzinfo=self.tz)
        start = datetime.combine(day - timedelta(days=1), self.cutoff, tzinfo=self.tz)
        return start.astimezone(UTC), end.astimezone(UTC)


# --- the negative binomial tail ----------------------------------------------------------
def nb_tail(k: npt.ArrayLike, mean: npt.ArrayLike, var: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``P(X >= k)`` for X negative binomial with ``mean`` and ``var`` (Poisson when
    ``var <= mean``); elementwise."""
    k_a = np.asarray(k, dtype=float)
    m = np.asarray(mean, dtype=float)
    v = np.maximum(np.asarray(var, dtype=float), m)
    k_a, m, v = np.broadcast_arrays(k_a, m, v)
    out = np.ones(k_a.shape, dtype=float)
    pos = k_a > 0
    pois = pos & (v <= m * (1 + 1e-9))
    if pois.any():
        out[pois] = stats.poisson.sf(k_a[pois] - 1, m[pois])
    nb = pos & ~pois
    if nb.any():
        r = m[nb] ** 2 / (v[nb] - m[nb])
        out[nb] = stats.nbinom.sf(k_a[nb] - 1, r, m[nb] / v[nb])
    return out


def nb_zero(mean: float, var: float) -> float:
    """``P(X == 0)`` for the same distribution."""
    v = max(var, mean)
    if v <= mean * (1 + 1e-9):
        return math.exp(-mean)
    r = mean**2 / (v - mean)
    return float((r / (r + mean)) ** r)


@dataclass(frozen=True)
class SpikeScores:
    """Per key × period: the baseline and the test (NaN where not tested)."""

    expected: npt.NDArray[np.float64]
    variance: npt.NDArray[np.float64]
    n_baseline: npt.NDArray[np.int64]
    p_value: npt.NDArray[np.float64]
    level: npt.NDArray[np.object_]
    status: npt.NDArray[np.object_]


def spike_scores(
    counts: npt.NDArray[np.float64],
    observed: npt.NDArray[np.bool_],
    *,
    baseline: int,
    min_baseline: int,
    thresholds: SpikeThresholds,
    targets: npt.NDArray[np.bool_] | None = None,
) -> SpikeScores:
    """Test every target period of every key against its trailing baseline.

    ``counts`` and ``observed`` are ``(keys, periods)`` in time order; a period that is not
    observed is left out of every baseline and not tested. ``targets`` (periods) selects
    which periods to test (default all). ``status`` says why a period was not tested:
    ``not_observed``, ``short_baseline``, or ``tested``.
    """
    c = np.asarray(counts, dtype=float)
    obs = np.asarray(observed, dtype=bool)
    if c.ndim != 2 or obs.shape != c.shape:
        msg = f"counts and observed must be 2-D of one shape, got {c.shape} and {obs.shape}"
        raise ValueError(msg)
    n_keys, n_t = c.shape
    tgt = np.ones(n_t, dtype=bool) if targets is None else np.asarray(targets, dtype=bool)
    cz = np.where(obs, c, 0.0)
    zeros = np.zeros((n_keys, 1))
    cs = np.concatenate([zeros, np.cumsum(cz, axis=1)], axis=1)
    cs2 = np.concatenate([zeros, np.cumsum(cz**2, axis=1)], axis=1)
    cn = np.concatenate([zeros, np.cumsum(obs.astype(float), axis=1)], axis=1)
    t = np.arange(n_t)
    lo = np.maximum(t - baseline, 0)
    s = cs[:, t] - cs[:, lo]
    s2 = cs2[:, t] - cs2[:, lo]
    n = cn[:, t] - cn[:, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / n
        var = np.where(n > 1, (s2 - n * mean**2) / (n - 1), mean)
    m = np.maximum(np.nan_to_num(mean), thresholds.min_expected)
    v = np.maximum(np.nan_to_num(var), m) * (1 + 1 / np.maximum(n, 1))
    status = np.full((n_keys, n_t), "tested", dtype=object)
    status[n < min_baseline] = "short_baseline"
    status[~obs & (c <= 0)] = "not_observed"
    status[:, ~tgt] = None
    tested = status == "tested"
    p = np.full((n_keys, n_t), np.nan)
    if tested.any():
        p[tested] = nb_tail(c[tested], m[tested], v[tested])
    level = np.full((n_keys, n_t), None, dtype=object)
    for i, j in zip(*np.nonzero(tested), strict=True):
        level[i, j] = thresholds.level(c[i, j], m[i, j], p[i, j])
    return SpikeScores(
        expected=np.where(tested, m, np.nan),
        variance=np.where(tested, v, np.nan),
        n_baseline=n.astype(np.int64),
        p_value=p,
        level=level,
        status=status,
    )


# --- counting --------------------------------------------------------------------------
def _keys_of(violations: pd.DataFrame, dimension: str) -> pd.Series:
    if dimension == "total":
        return pd.Series(TOTAL_KEY, index=violations.index, dtype=object)
    if dimension not in violations.columns:
        msg = f"dimension {dimension!r} is not a column of the violations; use one of {DIMENSIONS}"
        raise ValueError(msg)
    col = violations[dimension].astype(object)
    return col.where(col.notna() & (col.astype(str) != ""), NO_KEY).astype(str)


def counted_violations(
    violations: pd.DataFrame, *, statuses: Sequence[str], now: datetime | None = None
) -> pd.DataFrame:
    """The violations that count: statuses in ``statuses`` (dismissed never), known by
    ``now`` (``occurred_at <= now``)."""
    v = violations
    if v.empty:
        return v
    v = v[v[schema.OCCURRED_AT].notna()]
    if schema.STATUS in v.columns:
        st = v[schema.STATUS].astype(object).where(v[schema.STATUS].notna(), "detected")
        v = v[st.isin(list(statuses)) & (st != "dismissed")]
    if now is not None:
        v = v[pd.to_datetime(v[schema.OCCURRED_AT], utc=True) <= pd.Timestamp(now)]
    return v


@dataclass(frozen=True)
class PeriodAxis:
    """The periods of a count grid: labels, UTC bounds and the report day of each
    (``day_ord``: its proleptic ordinal, for fast lookups)."""

    freq: str
    labels: list[Any]
    starts: pd.DatetimeIndex
    ends: pd.DatetimeIndex
    days: list[date]

    @property
    def day_ord(self) -> npt.NDArray[np.int64]:
        return np.array([d.toordinal() for d in self.days], dtype=np.int64)


def period_axis(grid: DayGrid, freq: str, start: datetime, end: datetime) -> PeriodAxis:
    """Report days (``freq="D"``) or UTC hours (``"h"``) covering ``[start, end]``."""
    if freq == "D":
        d0, d1 = grid.day_at(start), grid.day_at(end)
        days = [d0 + timedelta(days=i) for i in range((d1 - d0).days + 1)]
        bounds = [grid.period(d) for d in days]
        return PeriodAxis(
            "D",
            list(days),
            pd.DatetimeIndex([b[0] for b in bounds]),
            pd.DatetimeIndex([b[1] for b in bounds]),
            days,
        )
    if freq == "h":
        h0 = pd.Timestamp(start).tz_convert(UTC).floor("h")
        h1 = pd.Timestamp(end).tz_convert(UTC).floor("h")
        starts = pd.date_range(h0, h1, freq="h")
        mids = pd.Series(starts + pd.Timedelta(minutes=30))
        return PeriodAxis(
            "h", list(starts), starts, starts + pd.Timedelta(hours=1), list(grid.day_of(mids))
        )
    msg = f"freq must be 'D' (report days) or 'h' (hours), got {freq!r}"
    raise ValueError(msg)


#: time precisions fine enough to be counted in a period of each length
PRECISE_ENOUGH: Final = {
    "D": frozenset({"second", "minute", "hour", "day"}),
    "h": frozenset({"second", "minute", "hour"}),
}


def count_matrix(
    violations: pd.DataFrame,
    *,
    dimension: str,
    axis: PeriodAxis,
    grid: DayGrid,
    keys: Iterable[str] = (),
) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Counts per key (rows: ``keys`` plus every key seen) and period of ``axis``.

    A violation whose time is known less precisely than the period (a day-precision
    record in an hourly count, a week-precision one in a daily count) is not counted.
    """
    key_list = list(dict.fromkeys([*keys]))
    v = violations
    if not v.empty and schema.TIME_PRECISION in v.columns:
        prec = v[schema.TIME_PRECISION]
        v = v[prec.isna() | prec.isin(PRECISE_ENOUGH[axis.freq])]
    if v.empty:
        return key_list, np.zeros((len(key_list), len(axis.labels)))
    ts = pd.to_datetime(v[schema.OCCURRED_AT], utc=True)
    k = _keys_of(v, dimension).to_numpy(dtype=object)
    key_list = list(dict.fromkeys([*key_list, *sorted(set(k))]))
    code = {key: i for i, key in enumerate(key_list)}
    rows = np.array([code[x] for x in k], dtype=np.int64)
    if axis.freq == "D":
        ords = np.array([d.toordinal() for d in grid.day_of(ts)], dtype=np.int64)
        cols = ords - axis.labels[0].toordinal()
    else:
        h0 = pd.Timestamp(axis.labels[0]).value
        cols = (pd.DatetimeIndex(ts).as_unit("ns").asi8 - h0) // 3_600_000_000_000
    ok = (cols >= 0) & (cols < len(axis.labels))
    out = np.zeros((len(key_list), len(axis.labels)))
    np.add.at(out, (rows[ok], cols[ok]), 1.0)
    return key_list, out


def observed_matrix(
    coverage: pd.DataFrame | None,
    *,
    dimension: str,
    keys: Sequence[str],
    axis: PeriodAxis,
) -> npt.NDArray[np.bool_]:
    """Which key × period was observed: from ``coverage`` (``sector``, ``day`` and
    ``observed`` or ``n_records``); everything when ``coverage`` is None."""
    shape = (len(keys), len(axis.labels))
    if coverage is None:
        return np.ones(shape, dtype=bool)
    if coverage.empty:
        return np.zeros(shape, dtype=bool)
    if "observed" in coverage.columns:
        seen = coverage[coverage["observed"].astype(bool)]
    else:
        seen = coverage[pd.to_numeric(coverage["n_records"], errors="coerce").fillna(0) > 0]
    ords = np.array([pd.Timestamp(d).toordinal() for d in seen["day"]], dtype=np.int64)
    day_ord = axis.day_ord
    if dimension != "sector":
        return np.repeat(np.isin(day_ord, ords)[None, :], len(keys), axis=0)
    sectors = seen["sector"].astype(str).to_numpy()
    out = np.zeros(shape, dtype=bool)
    for i, key in enumerate(keys):
        out[i] = np.isin(day_ord, ords[sectors == key])
    return out


def detect_spikes(
    violations: pd.DataFrame,
    *,
    policy: AlertPolicy,
    grid: DayGrid,
    now: datetime,
    coverage: pd.DataFrame | None = None,
    effective: datetime | None = None,
    targets_from: datetime | None = None,
    sectors: Sequence[str] = (),
    freqs: Sequence[str] = ("D", "h"),
) -> pd.DataFrame:
    """Spike tests of the periods from ``targets_from`` (default ``now - lookback_days``)
    up to the one holding ``now``, for every dimension of ``policy``.

    ``violations`` needs occurred_at, status and the dimension columns; ``coverage`` has
    ``sector, day, observed`` (see :func:`observed_matrix`); periods before ``effective``
    (the agreement's) are neither tested nor part of any baseline. Returns
    :data:`SPIKE_COLUMNS`, one row per tested (or untestable) key × period; spikes are
    the rows whose ``level`` is set.
    """
    now_ts = pd.Timestamp(now)
    v = counted_violations(violations, statuses=policy.count_statuses, now=now)
    first_target = pd.Timestamp(targets_from or now_ts - pd.Timedelta(days=policy.lookback_days))
    rows: list[pd.DataFrame] = []
    for freq in freqs:
        thr = policy.daily if freq == "D" else policy.hourly
        if thr is None:
            continue
        per_day = 1 if freq == "D" else 24
        base = policy.baseline_days * per_day
        start = first_target - pd.Timedelta(days=policy.baseline_days + 1)
        if effective is not None:
            start = max(start, pd.Timestamp(effective))
        if start > now_ts:
            continue
        axis = period_axis(grid, freq, start.to_pydatetime(), now_ts.to_pydatetime())
        valid = np.ones(len(axis.labels), dtype=bool)
        if effective is not None:
            valid = np.asarray(axis.starts >= pd.Timestamp(effective))
        targets = valid & np.asarray(axis.ends > first_target) & np.asarray(axis.starts <= now_ts)
        if not targets.any():
            continue
        for dim in policy.dimensions:
            keys, counts = count_matrix(
                v,
                dimension=dim,
                axis=axis,
                grid=grid,
                keys=sectors if dim == "sector" else (TOTAL_KEY,) if dim == "total" else (),
            )
            if not keys:
                continue
            obs = observed_matrix(coverage, dimension=dim, keys=keys, axis=axis) & valid[None, :]
            sc = spike_scores(
                counts,
                obs,
                baseline=base,
                min_baseline=policy.min_baseline_days * per_day,
                thresholds=thr,
                targets=targets,
            )
            ki, ti = np.nonzero(sc.status != None)  # noqa: E711 (elementwise on object array)
            if len(ki) == 0:
                continue
            rows.append(
                pd.DataFrame(
                    {
                        "dimension": dim,
                        "key": np.asarray(keys, dtype=object)[ki],
                        "freq": freq,
                        "period": np.asarray(axis.labels, dtype=object)[ti],
                        "period_start": axis.starts[ti],
                        "period_end": axis.ends[ti],
                        "count": counts[ki, ti].astype(int),
                        "expected": sc.expected[ki, ti],
                        "variance": sc.variance[ki, ti],
                        "n_baseline": sc.n_baseline[ki, ti],
                        "p_value": sc.p_value[ki, ti],
                        "level": sc.level[ki, ti],
                        "partial": np.asarray(axis.ends[ti] > now_ts),
                        "status": sc.status[ki, ti],
                    }
                )
            )
    if not rows:
        return pd.DataFrame(columns=list(SPIKE_COLUMNS))
    out = pd.concat(rows, ignore_index=True)
    return out.sort_values(["period_start", "freq", "dimension", "key"], kind="stable").reset_index(
        drop=True
    )


def spikes_only(scores: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`detect_spikes` that are spikes."""
    if scores.empty:
        return scores
    return scores[scores["level"].notna()].reset_index(drop=True)


# --- expanded attack ----------------------------------------------------------------------
def detect_expanded_attacks(
    violations: pd.DataFrame,
    spikes: pd.DataFrame,
    *,
    policy: AlertPolicy,
    grid: DayGrid,
    now: datetime,
    since: datetime | None = None,
) -> pd.DataFrame:
    """Sectors whose breaches grew into an expanded attack, one row per sector and report
    day (the first moment of that day the rule held), from ``since`` to ``now``.

    ``spikes`` are rows of :func:`detect_spikes` (only sector spikes at ``spike_level`` or
    above are used). ``started_at`` is the first breach of the window that met the rule (the
    initial breach, from which the 72 h clock runs); ``crossed_at`` the breach completing it.
    """
    rule = policy.expanded_attack
    v = counted_violations(violations, statuses=policy.count_statuses, now=now)
    if v.empty or schema.SECTOR not in v.columns:
        return pd.DataFrame(columns=list(EXPANDED_COLUMNS))
    v = v[v[schema.SEVERITY].isin(list(rule.levels)) & v[schema.SECTOR].notna()]
    window = pd.Timedelta(hours=rule.window_hours)
    since_ts = pd.Timestamp(since) if since is not None else None
    if since_ts is not None:
        v = v[pd.to_datetime(v[schema.OCCURRED_AT], utc=True) > since_ts - window]
    sp = spikes
    if not sp.empty:
        sp = sp[
            (sp["dimension"] == "sector")
            & sp["level"].map(
                lambda lvl: LEVEL_RANK.get(str(lvl), -1) >= LEVEL_RANK[rule.spike_level]
            )
        ]
    spike_bounds: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = {}
    if not sp.empty:
        for key, g in sp.groupby("key"):
            spike_bounds[str(key)] = (
                pd.DatetimeIndex(g["period_start"]).as_unit("ns").asi8,
                pd.DatetimeIndex(g["period_end"]).as_unit("ns").asi8,
            )
    w = window.value
    since_ns = since_ts.value if since_ts is not None else None
    out = []
    for sector, group in v.groupby(schema.SECTOR, sort=True):
        g = group.assign(_t=pd.to_datetime(group[schema.OCCURRED_AT], utc=True)).sort_values(
            ["_t", schema.VIOLATION_ID]
        )
        t = pd.DatetimeIndex(g["_t"]).as_unit("ns").asi8
        ea = (g[schema.SEVERITY] == "expanded_attack").to_numpy()
        ids = g[schema.VIOLATION_ID].astype(str).to_numpy()
        idx = np.arange(len(t))
        j = np.searchsorted(t, t - w, side="right")
        n = idx - j + 1
        ea_cum = np.concatenate([[0], np.cumsum(ea)])
        has_ea = (ea_cum[idx + 1] - ea_cum[j]) > 0
        enough = n >= rule.min_breaches
        if rule.require_spike:
            starts, ends = spike_bounds.get(str(sector), (np.array([]), np.array([])))
            spiking = np.array(
                [bool(((ends > ti - w) & (starts <= ti)).any()) for ti in t], dtype=bool
            )
            enough &= spiking
        hit = has_ea | enough
        if since_ns is not None:
            hit &= t >= since_ns
        if not hit.any():
            continue
        times = pd.Series(pd.to_datetime(t[hit], utc=True))
        days = grid.day_of(times).to_numpy()
        seen: set[date] = set()
        for i, day in zip(idx[hit], days, strict=True):
            if day in seen:
                continue
            seen.add(day)
            ji = int(j[i])
            reason = (
                "violation graded expanded_attack"
                if has_ea[i]
                else f"{int(n[i])} breaches within {rule.window_hours:g} h"
                + (" and a spike" if rule.require_spike else "")
            )
            out.append(
                {
                    "sector": str(sector),
                    "day": day,
                    "started_at": pd.Timestamp(int(t[ji]), tz=UTC),
                    "crossed_at": pd.Timestamp(int(t[i]), tz=UTC),
                    "n_breaches": int(n[i]),
                    "violation_ids": tuple(ids[ji : i + 1]),
                    "reason": reason,
                }
            )
    return pd.DataFrame(out, columns=list(EXPANDED_COLUMNS))


# --- silence -------------------------------------------------------------------------------
def detect_silence(
    records: pd.DataFrame,
    *,
    key_col: str,
    days: Sequence[date],
    rule: SilenceRule,
    baseline_days: int = 28,
    min_baseline_days: int = 7,
    last_complete_day: date | None = None,
    dimension: str = "source",
) -> pd.DataFrame:
    """Keys (sources, sectors) silent on the test ``days``: a run of days without any
    record whose probability ``P(0)^run_days`` under the key's baseline (the days before
    the run, from the key's first record on) is at most ``rule.p_value``.

    ``records`` has ``key_col``, ``day`` and ``n_records``. Only days up to
    ``last_complete_day`` minus the key's ``lag_days`` are tested. One row per key and
    test day; the run's first day identifies it (an alert per run, not per day).
    """
    if records.empty or not days:
        return pd.DataFrame(columns=list(SILENCE_COLUMNS))
    rec = records.copy()
    rec["day"] = pd.to_datetime(rec["day"]).dt.date
    last = last_complete_day or max(days)
    out = []
    for key, group in rec.groupby(key_col, sort=True):
        per_day = group.groupby("day")["n_records"].sum()
        per_day = per_day[per_day > 0]
        if per_day.empty:
            continue
        first = min(per_day.index)
        limit = last - timedelta(days=int(rule.lag_days.get(str(key), 0)))
        for d in sorted(days):
            if d > limit or d <= first or per_day.get(d, 0) > 0:
                continue
            run_start = d
            while (
                run_start - timedelta(days=1) > first
                and per_day.get(run_start - timedelta(days=1), 0) == 0
            ):
                run_start -= timedelta(days=1)
            base = [
                run_start - timedelta(days=i)
                for i in range(1, baseline_days + 1)
                if run_start - timedelta(days=i) >= first
            ]
            if len(base) < min_baseline_days:
                continue
            x = np.array([float(per_day.get(b, 0)) for b in base])
            m = float(x.mean())
            if m < rule.min_mean_per_day:
                continue
            v = float(x.var(ddof=1)) if len(x) > 1 else m
            run_days = (d - run_start).days + 1
            p = nb_zero(m, v) ** run_days
            if p <= rule.p_value:
                out.append(
                    {
                        "dimension": dimension,
                        "key": str(key),
                        "day": d,
                        "run_start": run_start,
                        "run_days": run_days,
                        "expected_per_day": m,
                        "p_value": p,
                    }
                )
    return pd.DataFrame(out, columns=list(SILENCE_COLUMNS))


# --- alerts ---------------------------------------------------------------------------------
def alert_id(kind: str, *parts: object) -> str:
    """A deterministic id from the alert's identifying content: the same finding always
    gets the same id, so detection can run again (after a restart) without duplicates."""
    text = "\x1f".join([kind, *(str(p) for p in parts)])
    return "A" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _iso(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize(UTC)
    return ts.tz_convert(UTC).isoformat().replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    """A JSON-able version of a frame cell."""
    if value is None:
        return None
    if isinstance(value, datetime | pd.Timestamp | date):
        return _iso(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        f = float(value)
        return None if math.isnan(f) else f
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, tuple | list | np.ndarray):
        return [_plain(x) for x in value]
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


@dataclass(frozen=True)
class Alert:
    """One finding to tell people about. ``payload`` is JSON-able."""

    alert_id: str
    kind: str
    level: str
    title: str
    raised_at: datetime
    subject: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """The alert as sent (webhook body, feed item): stable for a given alert."""
        return {
            "id": self.alert_id,
            "kind": self.kind,
            "level": self.level,
            "title": self.title,
            "subject": self.subject,
            "raised_at": _iso(self.raised_at),
            "data": {k: _plain(v) for k, v in self.payload.items()},
        }

    def body(self) -> bytes:
        """Canonical JSON bytes of :meth:`document` (what the HMAC signs)."""
        return json.dumps(self.document(), sort_keys=True, separators=(",", ":")).encode()


def _fmt_p(p: float) -> str:
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def alerts_from_violations(
    violations: pd.DataFrame, *, policy: AlertPolicy, now: datetime
) -> list[Alert]:
    """An alert for each violation graded at least ``policy.violation_min_level`` (the
    detection, before any analyst review: guarantors hear of a breach in minutes)."""
    if policy.violation_min_level is None or violations.empty:
        return []
    floor = LEVEL_RANK[policy.violation_min_level]
    v = counted_violations(violations, statuses=policy.count_statuses, now=now)
    v = v[v[schema.SEVERITY].map(lambda s: LEVEL_RANK.get(str(s), -1) >= floor)]
    out = []
    for _, r in v.iterrows():
        sev = str(r[schema.SEVERITY])
        where = _text(r.get(schema.SECTOR)) or "no sector"
        zone = _text(r.get(schema.ZONE))
        dist = r.get(schema.DISTANCE_TO_LINE_KM)
        dist_txt = f", {float(dist):.1f} km from the line" if _num(dist) else ""
        when = pd.Timestamp(r[schema.OCCURRED_AT]).tz_convert(UTC).strftime("%Y-%m-%d %H:%M")
        title = (
            f"{sev.replace('_', ' ').capitalize()}: {_text(r.get(schema.CATEGORY))} in "
            f"{where}" + (f" (zone {zone}{dist_txt})" if zone else dist_txt) + f", {when} UTC"
        )
        payload = {
            k: r.get(k)
            for k in (
                schema.VIOLATION_ID,
                schema.INCIDENT_ID,
                schema.AGREEMENT_VERSION,
                schema.RULE,
                schema.OCCURRED_AT,
                schema.SECTOR,
                schema.ZONE,
                schema.SIDE,
                schema.DISTANCE_TO_LINE_KM,
                schema.CATEGORY,
                schema.WEAPON_CLASS,
                schema.SEVERITY,
                schema.CONFIDENCE,
                schema.STATUS,
                schema.FATALITIES,
                schema.LON,
                schema.LAT,
                "n_sources",
                "sources",
            )
            if k in r.index
        }
        out.append(
            Alert(
                alert_id=alert_id(KIND_VIOLATION, r[schema.VIOLATION_ID], sev),
                kind=KIND_VIOLATION,
                level=sev,
                title=title,
                raised_at=now,
                subject=f"sector:{where}",
                payload=payload,
            )
        )
    return out


def alerts_from_spikes(spikes: pd.DataFrame, *, now: datetime) -> list[Alert]:
    """An alert per spike row (one per key, period and level)."""
    out = []
    for _, r in spikes_only(spikes).iterrows():
        period = r["period"]
        if r["freq"] == "D":
            what = f"report day {_iso(period)}"
        else:
            what = f"the hour from {pd.Timestamp(period).strftime('%Y-%m-%d %H:00')} UTC"
        so_far = " so far" if bool(r["partial"]) else ""
        label = "all sectors" if r["dimension"] == "total" else f"{r['dimension']} {r['key']}"
        title = (
            f"Spike ({r['level']}): {int(r['count'])} violations{so_far} in {label} on "
            f"{what} (expected {float(r['expected']):.1f}; p = {_fmt_p(float(r['p_value']))})"
        )
        out.append(
            Alert(
                alert_id=alert_id(
                    KIND_SPIKE, r["dimension"], r["key"], r["freq"], _iso(period), r["level"]
                ),
                kind=KIND_SPIKE,
                level=str(r["level"]),
                title=title,
                raised_at=now,
                subject=f"{r['dimension']}:{r['key']}",
                payload={c: r[c] for c in SPIKE_COLUMNS},
            )
        )
    return out


def alerts_from_expanded(expanded: pd.DataFrame, *, now: datetime) -> list[Alert]:
    """An ``expanded_attack`` alert per sector and report day."""
    out = []
    for _, r in expanded.iterrows():
        title = (
            f"Expanded attack in sector {r['sector']}: {r['reason']}; initial breach "
            f"{pd.Timestamp(r['started_at']).strftime('%Y-%m-%d %H:%M')} UTC"
        )
        out.append(
            Alert(
                alert_id=alert_id(KIND_EXPANDED, r["sector"], _iso(r["day"])),
                kind=KIND_EXPANDED,
                level="expanded_attack",
                title=title,
                raised_at=now,
                subject=f"sector:{r['sector']}",
                payload={c: r[c] for c in EXPANDED_COLUMNS},
            )
        )
    return out


def alerts_from_silence(silence: pd.DataFrame, *, now: datetime) -> list[Alert]:
    """A ``notice`` per silent run (a source) or unobserved run (a sector)."""
    out = []
    for _, r in silence.iterrows():
        if r["dimension"] == "source":
            kind = KIND_SILENT_SOURCE
            title = (
                f"Source {r['key']} silent: no record for {int(r['run_days'])} day(s) since "
                f"{_iso(r['run_start'])} (usually {float(r['expected_per_day']):.1f} a day)"
            )
        else:
            kind = KIND_SECTOR_UNOBSERVED
            title = (
                f"Sector {r['key']} not observed: no record from any source for "
                f"{int(r['run_days'])} day(s) since {_iso(r['run_start'])}; its quiet is not "
                "a calm"
            )
        out.append(
            Alert(
                alert_id=alert_id(kind, r["key"], _iso(r["run_start"])),
                kind=kind,
                level="notice",
                title=title,
                raised_at=now,
                subject=f"{r['dimension']}:{r['key']}",
                payload={c: r[c] for c in SILENCE_COLUMNS},
            )
        )
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _num(value: Any) -> bool:
    try:
        return value is not None and not math.isnan(float(value))
    except (TypeError, ValueError):
        return False


# --- false alarms ------------------------------------------------------------------------------
def simulate_false_alarms(
    *,
    mean_per_day: float,
    dispersion: float | None = None,
    n_sectors: int = 6,
    weeks: int = 52,
    seed: int = 0,
    policy: AlertPolicy | None = None,
) -> dict[str, float]:
    """False alarms of the daily and hourly spike tests on stationary counts.

    Each sector-day draws a rate (gamma with shape ``dispersion`` around ``mean_per_day``
    for a negative binomial, fixed for Poisson when ``dispersion`` is None); each hour of
    it a Poisson count of a 24th of that rate. After a burn-in of ``baseline_days``, every
    day and hour of ``weeks`` weeks is tested. Returns alerts per sector-week (any level
    and warning only, daily and hourly) and the share of sector-weeks with any alert.
    """
    pol = policy or AlertPolicy()
    rng = np.random.default_rng(seed)
    n_days = pol.baseline_days + weeks * 7
    if dispersion is None:
        rate = np.full((n_sectors, n_days), mean_per_day)
    else:
        rate = rng.gamma(dispersion, mean_per_day / dispersion, size=(n_sectors, n_days))
    hourly = rng.poisson(np.repeat(rate, 24, axis=1) / 24.0).astype(float)
    daily = hourly.reshape(n_sectors, n_days, 24).sum(axis=2)
    burn = pol.baseline_days
    day_t = np.arange(n_days) >= burn
    d = spike_scores(
        daily,
        np.ones_like(daily, dtype=bool),
        baseline=pol.baseline_days,
        min_baseline=pol.min_baseline_days,
        thresholds=pol.daily,
        targets=day_t,
    )
    levels_d = d.level[:, day_t]
    any_d = levels_d != None  # noqa: E711 (elementwise on object array)
    warn_d = levels_d == "warning"
    result = {
        "mean_per_day": mean_per_day,
        "dispersion": float("nan") if dispersion is None else dispersion,
        "sector_weeks": float(n_sectors * weeks),
        "daily_alerts_per_sector_week": float(any_d.sum()) / (n_sectors * weeks),
        "daily_warnings_per_sector_week": float(warn_d.sum()) / (n_sectors * weeks),
    }
    weeks_any = any_d.reshape(n_sectors, weeks, 7).any(axis=2)
    if pol.hourly is not None:
        hour_t = np.repeat(day_t, 24)
        h = spike_scores(
            hourly,
            np.ones_like(hourly, dtype=bool),
            baseline=pol.baseline_days * 24,
            min_baseline=pol.min_baseline_days * 24,
            thresholds=pol.hourly,
            targets=hour_t,
        )
        levels_h = h.level[:, hour_t]
        any_h = levels_h != None  # noqa: E711
        result["hourly_alerts_per_sector_week"] = float(any_h.sum()) / (n_sectors * weeks)
        result["hourly_warnings_per_sector_week"] = float((levels_h == "warning").sum()) / (
            n_sectors * weeks
        )
        weeks_any |= any_h.reshape(n_sectors, weeks, 7 * 24).any(axis=2)
    result["sector_weeks_with_any_alert"] = float(weeks_any.mean())
    return result
