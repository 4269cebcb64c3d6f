"""Corroboration benchmark: speed, memory and pairwise F1 against a generated ground truth,
with a scikit-learn DBSCAN space-time baseline run on the same events.

    python benchmarks/bench_corroborate.py --events 100000 --seed 1

The baseline clusters (x_km, y_km, t_hours * km_per_hour) with ``DBSCAN(eps,
min_samples=1)`` (single linkage at ``eps``), t being the middle of each event's time
interval; eps and the time scale (6 km, 0.4 km/h) were the best pairwise F1 of a small
grid tried on another seed (2.5-10 km, 0.1-0.6 km/h). If there are more events than ``--baseline-max``, it runs on a contiguous time
slice of that many events (same density) and its rate is extrapolated linearly to all
events, which flatters the baseline (DBSCAN grows faster than linearly); the last line
says so. Kernels are compiled (or loaded from numba's cache) on a small slice first, and
that warm-up is printed, not counted. A diagnostic line says how many of the >= 10 km
records the pairwise evidence cannot settle (see :func:`coarse_ambiguity`). The last line
is machine-readable::

    corroborate events=N throughput=... events/s peak_rss=... MB f1=... ratio_to_baseline=...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import peak_rss_mb, timed
from groundtruth import format_scores, generate, pairwise_scores, precision_level

from ceasewatch.evaluate import corroborate as cw
from ceasewatch.evaluate.corroborate import _epoch_s, corroborate
from ceasewatch.normalize import schema
from ceasewatch.normalize.crs import metric_crs, to_metric
from ceasewatch.normalize.timeprec import time_bounds

#: mean records per true incident in groundtruth.generate (1-4 sources, P=.35/.3/.2/.15)
MEAN_REPORTS = 2.15


def dbscan_baseline(
    events: pd.DataFrame, eps_km: float = 6.0, km_per_hour: float = 0.4
) -> np.ndarray:
    """Cluster labels from DBSCAN on scaled space-time coordinates (min_samples=1)."""
    from sklearn.cluster import DBSCAN

    lon = events[schema.LON].to_numpy(dtype=float)
    lat = events[schema.LAT].to_numpy(dtype=float)
    crs = metric_crs(float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
    x, y = to_metric(lon, lat, crs)
    lo, hi = time_bounds(
        _epoch_s(events[schema.OCCURRED_AT]),
        events[schema.TIME_PRECISION].to_numpy(dtype=object),
        events[schema.TIME_WINDOW_S].to_numpy(dtype=float),
    )
    t_h = ((lo + hi) / 2 - lo.min()) / 3_600.0
    feats = np.column_stack([x / 1_000.0, y / 1_000.0, t_h * km_per_hour])
    return DBSCAN(eps=eps_km, min_samples=1, algorithm="kd_tree", n_jobs=1).fit_predict(feats)


def coarse_ambiguity(
    events: pd.DataFrame, truth: pd.Series, min_geo_precision_m: float = 10_000.0
) -> tuple[int, float, float]:
    """How far the pairwise evidence can pin the records at least this coarse.

    For each such record that links (by corroboration's own pairwise rule) to a record of
    its true incident, the share that also links to a record of another true incident
    that holds no record of the same report group: those the evidence cannot settle
    (the location of a 15 km record is uniform within 15 km of the truth, so every
    candidate within reach is as likely). Returns (records with a true partner, share
    ambiguous, mean number of wrong candidate incidents among them).
    """
    params = cw.CorroborationParams()
    lo, hi = cw._time_bounds(events, params)
    groups = cw._group_codes(events[schema.REPORT_GROUP])
    cat, compat = cw.compatibility(events[schema.CATEGORY])
    rec = cw._Records(
        lon=events[schema.LON].to_numpy(dtype=float),
        lat=events[schema.LAT].to_numpy(dtype=float),
        lo=lo,
        hi=hi,
        r=events[schema.GEO_PRECISION_M].to_numpy(dtype=float),
        group=groups,
        cat=cat,
        compat=compat,
    )
    i, j, _ = cw._links(rec, params)
    t = truth.to_numpy()
    coarse = rec.r >= min_geo_precision_m
    a = np.concatenate([i, j])
    b = np.concatenate([j, i])
    keep = coarse[a]
    a, b = a[keep], b[keep]
    # incidents already holding a record of a's report group are no candidates
    holds = pd.MultiIndex.from_arrays([t, groups]).unique()
    blocked = pd.MultiIndex.from_arrays([t[b], groups[a]]).isin(holds) & (t[b] != t[a])
    a, b = a[~blocked], b[~blocked]
    frame = pd.DataFrame({"a": a, "inc": t[b], "true": t[b] == t[a]}).drop_duplicates(["a", "inc"])
    per = frame.groupby("a").agg(true=("true", "any"), wrong=("true", lambda s: int((~s).sum())))
    has_true = per[per["true"]]
    if has_true.empty:
        return 0, 0.0, 0.0
    amb = has_true["wrong"] > 0
    return len(has_true), float(amb.mean()), float(has_true.loc[amb, "wrong"].mean() or 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000, help="approximate event count")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--noise-share", type=float, default=0.3)
    ap.add_argument("--density", type=float, default=1.0, help="incidents/day/100 km of line")
    ap.add_argument("--eps-km", type=float, default=6.0, help="DBSCAN eps (km)")
    ap.add_argument("--km-per-hour", type=float, default=0.4, help="DBSCAN time scale")
    ap.add_argument("--baseline-max", type=int, default=200_000, help="DBSCAN subset size")
    args = ap.parse_args()

    n_inc = max(1, round(args.events * (1 - args.noise_share) / MEAN_REPORTS))
    (events, truth), t_gen = timed(
        lambda: generate(n_inc, seed=args.seed, noise_share=args.noise_share, density=args.density)
    )
    n = len(events)
    level = precision_level(events[schema.GEO_PRECISION_M])
    print(f"generated {n:,} events ({n_inc:,} true incidents) in {t_gen:.1f} s")
    print(events[schema.SOURCE].value_counts().to_string())

    # compile (or load from numba's cache) the kernels first: a one-off per process
    _, t_jit = timed(lambda: corroborate(events.iloc[:2_000]))
    print(f"warm-up (kernels compiled or loaded, 2,000 events): {t_jit:.2f} s, not counted")
    inc, t_cw = timed(lambda: corroborate(events))
    rss_cw = peak_rss_mb()
    s_cw = pairwise_scores(truth, inc, by=level)
    rate_cw = n / t_cw
    print(
        f"\nceasewatch corroborate: {t_cw:.2f} s, {rate_cw:,.0f} events/s, peak RSS {rss_cw:.0f} MB"
    )
    print(format_scores("ceasewatch", s_cw))

    # baseline on all events or on a contiguous time slice of --baseline-max events
    if n > args.baseline_max:
        t_sort = np.argsort(events[schema.OCCURRED_AT].to_numpy(), kind="stable")
        start = (n - args.baseline_max) // 2
        sub = np.sort(t_sort[start : start + args.baseline_max])
        ev_b, tr_b = events.iloc[sub], truth.iloc[sub]
        note = f"subset={len(sub)} (time slice; rate extrapolated linearly, flatters DBSCAN)"
    else:
        sub = None
        ev_b, tr_b = events, truth
        note = "subset=none"
    lab_b, t_b = timed(lambda: dbscan_baseline(ev_b, args.eps_km, args.km_per_hour))
    rate_b = len(ev_b) / t_b
    s_b = pairwise_scores(tr_b, lab_b, by=precision_level(ev_b[schema.GEO_PRECISION_M]))
    print(
        f"\nDBSCAN baseline (eps={args.eps_km} km, {args.km_per_hour} km/h, min_samples=1) on "
        f"{len(ev_b):,} events: {t_b:.2f} s, {rate_b:,.0f} events/s; {note}"
    )
    print(format_scores("dbscan", s_b))
    if sub is not None:
        s_cw_sub = pairwise_scores(
            tr_b, inc.iloc[sub], by=precision_level(ev_b[schema.GEO_PRECISION_M])
        )
        print("\nceasewatch on the same slice (clustered with all events):")
        print(format_scores("ceasewatch", s_cw_sub))

    n_c, amb, wrong = coarse_ambiguity(events, truth)
    print(
        f"\n>=10 km records with a true partner in reach: {n_c:,}; {amb:.1%} of them also "
        f"reach another true incident (mean {wrong:.2f} wrong candidates): the pairwise "
        f"evidence cannot settle those"
    )

    ratio = rate_cw / rate_b
    verdict = "met" if rate_cw >= 1e5 else "NOT met"
    print(
        f"\n10^6 events in <= 10 s (>= 100,000 events/s): {verdict} "
        f"({1e6 / rate_cw:.1f} s per 10^6 events at this rate); "
        f">= 10x DBSCAN: {'met' if ratio >= 10 else 'NOT met'} ({ratio:.2f}x); "
        f"F1 >= 0.95: {'met' if s_cw['f1'] >= 0.95 else 'NOT met'} ({s_cw['f1']:.4f}); "
        + ", ".join(f"{k} {v['f1']:.4f}" for k, v in s_cw["levels"].items())
    )
    print(
        f"corroborate events={n} throughput={rate_cw:.0f} events/s peak_rss={rss_cw:.0f} MB "
        f"f1={s_cw['f1']:.4f} ratio_to_baseline={ratio:.2f} f1_baseline={s_b['f1']:.4f} "
        f"seconds={t_cw:.2f} baseline_{note.split(' ')[0]}"
    )


if __name__ == "__main__":
    main()
