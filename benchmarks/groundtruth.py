"""Ground truth for corroboration: synthetic incidents, their reports, noise, and a scorer.

:func:`generate` places true incidents along a front line and has each reported by 1-4
distinct sources, each with its own precision (location noise within the source's radius,
time jitter within its time precision), plus unrelated noise events (random fires and
clashes). :func:`pairwise_scores` scores a predicted clustering against the truth by
pairwise precision, recall and F1 (contingency-table counts, no pair loops), overall and
per precision level of a pair's coarser member.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import front_line

from ceasewatch.normalize import schema
from ceasewatch.normalize.crs import metric_crs, to_metric, to_wgs84

DAY = 86_400.0
HOUR = 3_600.0
LINE_KM = 1_200.0
START = pd.Timestamp("2024-03-01T00:00:00Z")

SOURCES = ("acled", "firms", "field_report", "eor", "claims")
#: relative chance that a source reports a given incident (among those that can)
SOURCE_WEIGHTS = np.array([0.30, 0.25, 0.20, 0.15, 0.10])
#: P(1, 2, 3, 4 sources report an incident)
N_SOURCES_P = np.array([0.35, 0.30, 0.20, 0.15])

#: geo precision levels used in the per-level scores (upper bounds, metres)
LEVEL_EDGES = (500.0, 2_000.0, 5_000.0, 15_000.0)
LEVEL_NAMES = ("<=500m", "<=2km", "<=5km", "<=15km", ">15km")


def precision_level(geo_precision_m: np.ndarray | pd.Series) -> pd.Categorical:
    """Ordered precision level of each event (finest first)."""
    codes = np.searchsorted(np.asarray(LEVEL_EDGES), np.asarray(geo_precision_m, float))
    return pd.Categorical.from_codes(codes, categories=list(LEVEL_NAMES), ordered=True)


def _disc(rng: np.random.Generator, n: int, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Uniform offsets within discs of ``radius`` metres."""
    rho = radius * np.sqrt(rng.uniform(0, 1, n))
    th = rng.uniform(0, 2 * np.pi, n)
    return rho * np.cos(th), rho * np.sin(th)


def _places(
    rng: np.random.Generator, n: int, lx: np.ndarray, ly: np.ndarray, spread_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Random points along the (metric) line, offset across it by N(0, spread_m)."""
    seg = rng.integers(0, len(lx) - 1, n)
    f = rng.uniform(0, 1, n)
    dx, dy = lx[seg + 1] - lx[seg], ly[seg + 1] - ly[seg]
    norm = np.hypot(dx, dy)
    off = rng.normal(0, spread_m, n)
    return lx[seg] + f * dx - off * dy / norm, ly[seg] + f * dy + off * dx / norm


def _day_date(t: np.ndarray) -> np.ndarray:
    """Epoch seconds of 00:00 UTC of the local (UTC+3) date of ``t``."""
    return np.floor((t + 3 * HOUR) / DAY) * DAY


def _minute(t: np.ndarray) -> np.ndarray:
    return np.floor(t / 60.0) * 60.0


def generate(
    n_incidents: int,
    *,
    seed: int,
    noise_share: float = 0.3,
    density: float = 1.0,
    spread_km: float = 8.0,
    acled_coarse_share: float = 0.25,
) -> tuple[pd.DataFrame, pd.Series]:
    """Events in the canonical columns and the true incident label of each event.

    ``density`` is true incidents per day per 100 km of front line (the scenario spans
    ``n_incidents / (density * 12)`` days of a 1,200 km line); ``noise_share`` the share
    of all events that are unrelated noise (random fires and clashes); ``spread_km`` the
    standard deviation of incidents' distance across the line; ``acled_coarse_share`` the
    share of ACLED events at 15 km (town/district) instead of 2 km precision. Noise events
    get truth labels of their own (singletons). Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    line = front_line(n_vertices=2_000, length_km=LINE_KM, seed=1)
    crs = metric_crs(
        float(line[:, 0].min()) - 1,
        float(line[:, 1].min()) - 1,
        float(line[:, 0].max()) + 1,
        float(line[:, 1].max()) + 1,
    )
    lx, ly = to_metric(line[:, 0], line[:, 1], crs)
    lx, ly = np.asarray(lx, float), np.asarray(ly, float)
    days = max(1.0, n_incidents / (density * LINE_KM / 100.0))
    t0 = START.value / 1e9

    # --- true incidents ---------------------------------------------------------------
    ix, iy = _places(rng, n_incidents, lx, ly, spread_km * 1_000.0)
    it = t0 + rng.uniform(0, days * DAY, n_incidents)
    ground = rng.uniform(0, 1, n_incidents) < 0.2  # clashes; the rest explosive
    k = rng.choice(4, size=n_incidents, p=N_SOURCES_P) + 1
    # weighted choice of k distinct sources (Gumbel top-k); FIRMS sees no clashes
    logw = np.log(np.broadcast_to(SOURCE_WEIGHTS, (n_incidents, len(SOURCES))).copy())
    logw[ground, SOURCES.index("firms")] = -np.inf
    keys = logw + rng.gumbel(size=logw.shape)
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    k = np.minimum(k, np.isfinite(keys).sum(axis=1))
    inc_idx, src_idx = np.nonzero(rank < k[:, None])
    n_rep = len(inc_idx)

    src = np.asarray(SOURCES, dtype=object)[src_idx]
    T = it[inc_idx]
    gr = ground[inc_idx]
    radius = np.empty(n_rep)
    occ = np.empty(n_rep)
    prec = np.full(n_rep, "minute", dtype=object)
    window = np.zeros(n_rep)
    cat = np.empty(n_rep, dtype=object)
    group = np.empty(n_rep, dtype=object)
    rel = np.full(n_rep, "B", dtype=object)

    m = src == "acled"
    c = m.sum()
    radius[m] = np.where(rng.uniform(0, 1, c) < acled_coarse_share, 15_000.0, 2_000.0)
    prec[m] = "day"
    occ[m] = _day_date(T[m])
    cat[m] = np.where(gr[m], "armed_clash", "shelling")
    group[m] = "acled"  # ACLED never double-codes one happening

    m = src == "firms"
    radius[m] = 375.0
    occ[m] = _minute(T[m] + rng.uniform(0, 6 * HOUR, m.sum()))
    cat[m] = "fire_detection"
    rel[m] = "A"

    m = src == "field_report"
    c = m.sum()
    radius[m] = rng.uniform(1_000.0, 5_000.0, c).round(-2)
    window[m] = 1_800.0
    occ[m] = _minute(T[m] - rng.uniform(0, 1_800.0 - 60.0, c))
    cat[m] = np.where(gr[m], "small_arms_fire", "explosion_observed")
    rel[m] = "A"

    m = src == "eor"
    c = m.sum()
    radius[m] = np.where(rng.uniform(0, 1, c) < 0.5, 500.0, 5_000.0)
    day_prec = rng.uniform(0, 1, c) < 0.3
    prec[np.flatnonzero(m)[day_prec]] = "day"
    jitter = np.clip(rng.normal(0, 300.0, c), -720.0, 720.0)
    occ[m] = np.where(day_prec, _day_date(T[m]), _minute(T[m] + jitter))
    cat[m] = np.where(gr[m], "armed_clash", rng.choice(["shelling", "drone_strike"], c))
    rel[m] = "C"

    m = src == "claims"
    radius[m] = 5_000.0
    prec[m] = "day"
    occ[m] = _day_date(T[m])
    cat[m] = np.where(gr[m], "armed_clash", "shelling")
    rel[m] = "E"

    dx, dy = _disc(rng, n_rep, radius)
    ex, ey = ix[inc_idx] + dx, iy[inc_idx] + dy
    label = inc_idx.astype(np.int64)

    # --- unrelated noise: random fires and clashes -------------------------------------
    n_noise = round(n_rep * noise_share / max(1e-9, 1.0 - noise_share))
    nx, ny = _places(rng, n_noise, lx, ly, 1.5 * spread_km * 1_000.0)
    nt = t0 + rng.uniform(0, days * DAY, n_noise)
    fire = rng.uniform(0, 1, n_noise) < 0.7
    clash_acled = ~fire & (rng.uniform(0, 1, n_noise) < 0.5)
    clash_fr = ~fire & ~clash_acled
    n_src = np.where(fire, "firms", np.where(clash_acled, "acled", "field_report")).astype(object)
    n_rad = np.where(fire, 375.0, np.where(clash_acled, 2_000.0, 3_000.0))
    n_prec = np.where(clash_acled, "day", "minute").astype(object)
    n_occ = np.where(clash_acled, _day_date(nt), _minute(nt))
    n_win = np.where(clash_fr, 1_800.0, 0.0)
    n_cat = np.where(
        fire, "fire_detection", np.where(clash_acled, "armed_clash", "small_arms_fire")
    )
    ndx, ndy = _disc(rng, n_noise, n_rad)

    src = np.concatenate([src, n_src])
    x = np.concatenate([ex, nx + ndx])
    y = np.concatenate([ey, ny + ndy])
    radius = np.concatenate([radius, n_rad])
    occ = np.concatenate([occ, n_occ])
    prec = np.concatenate([prec, n_prec])
    window = np.concatenate([window, n_win])
    cat = np.concatenate([cat, n_cat.astype(object)])
    group = np.concatenate([group, np.empty(n_noise, dtype=object)])
    rel = np.concatenate([rel, np.where(fire, "A", "B").astype(object)])
    label = np.concatenate([label, n_incidents + np.arange(n_noise, dtype=np.int64)])
    n = len(src)

    # report groups: one per record, except ACLED ('acled') and field reports (one report
    # per team sector of ~50 km and day: its records are by construction distinct)
    rec_no = np.arange(n)
    group = np.where(pd.isna(group), np.char.add("g", rec_no.astype(str)), group).astype(object)
    group[src == "acled"] = "acled"
    fr = np.flatnonzero(src == "field_report")
    sector = np.floor(x[fr] / 50_000.0).astype(np.int64)
    day_no = np.floor((occ[fr] - t0) / DAY).astype(np.int64)
    group[fr] = np.char.add(
        np.char.add("fr-", sector.astype(str)), np.char.add("-", day_no.astype(str))
    )

    lon, lat = to_wgs84(x, y, crs)
    # shuffle rows and give ids unrelated to the truth
    perm = rng.permutation(n)
    ids = np.char.add("ev", np.char.zfill(rng.permutation(n).astype(str), 8))
    occurred = pd.to_datetime(occ[perm], unit="s", utc=True).astype("datetime64[us, UTC]")
    recorded = pd.to_datetime(occ[perm] + 2 * DAY, unit="s", utc=True).astype("datetime64[us, UTC]")
    s = src[perm]
    events = pd.DataFrame(
        {
            schema.EVENT_ID: ids,
            schema.SOURCE: s,
            schema.SOURCE_EVENT_ID: np.char.add("S", rec_no.astype(str)),
            schema.OCCURRED_AT: occurred,
            schema.TIME_PRECISION: prec[perm],
            schema.TIME_WINDOW_S: window[perm],
            schema.LON: np.asarray(lon, float)[perm],
            schema.LAT: np.asarray(lat, float)[perm],
            schema.GEO_PRECISION_M: radius[perm],
            schema.CATEGORY: cat[perm],
            schema.WEAPON_CLASS: None,
            schema.ACTOR: None,
            schema.ATTRIBUTED_TO: None,
            schema.FATALITIES: np.nan,
            schema.COUNT: 1,
            schema.RELIABILITY: rel[perm],
            schema.CREDIBILITY: np.where(s == "claims", 4, 2).astype(np.int64),
            schema.REPORT_GROUP: group[perm],
            schema.LOCATION_NAME: None,
            schema.ADMIN1: None,
            schema.NOTES: None,
            schema.RAW: "{}",
            schema.LINE_NO: rec_no + 2,
            schema.RECORDED_AT: recorded,
        }
    )
    truth = pd.Series(label[perm], index=events.index, name="true_incident")
    return events, truth


def _pair_counts(t: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    """(true pairs, predicted pairs, pairs in both) from integer label codes."""
    if len(t) == 0:
        return 0.0, 0.0, 0.0

    def c2(counts: np.ndarray) -> float:
        c = counts.astype(np.float64)
        return float((c * (c - 1) / 2).sum())

    nt = np.bincount(t)
    np_ = np.bincount(p)
    joint = t.astype(np.int64) * (int(p.max()) + 1) + p
    _, nij = np.unique(joint, return_counts=True)
    return c2(nt), c2(np_), c2(nij)


def _prf(true_pairs: float, pred_pairs: float, tp: float) -> dict[str, float]:
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_pairs": true_pairs,
        "pred_pairs": pred_pairs,
        "tp_pairs": tp,
    }


def pairwise_scores(
    truth: pd.Series | np.ndarray,
    predicted: pd.Series | np.ndarray,
    *,
    by: pd.Series | np.ndarray | pd.Categorical | None = None,
) -> dict:
    """Pairwise precision, recall and F1 of ``predicted`` against ``truth``.

    A pair of events counts as predicted together when they share a predicted label, as
    truly together when they share a true label. Counts come from the contingency table
    (``Σ C(n_ij, 2)`` etc.). With ``by`` (an ordered level per event, e.g.
    :func:`precision_level` of the geo precision, or numbers), each pair is also counted
    at the level of its coarser (higher) member: pairs whose coarser member is at level
    ``k`` are those among events at levels ``<= k`` minus those among levels ``< k``.
    Returns ``{"precision", "recall", "f1", "true_pairs", "pred_pairs", "tp_pairs",
    "levels": {level: {...}}}`` (``levels`` only with ``by``). With no pair on a side
    precision (or recall) is 1.0 by convention.
    """
    t_codes, _ = pd.factorize(np.asarray(truth))
    p_codes, _ = pd.factorize(np.asarray(predicted))
    if len(t_codes) != len(p_codes):
        raise ValueError("truth and predicted differ in length")
    out = _prf(*_pair_counts(t_codes, p_codes))
    if by is None:
        return out
    if isinstance(by, pd.Series) and isinstance(by.dtype, pd.CategoricalDtype):
        by = by.array
    if isinstance(by, pd.Categorical):
        levels = list(by.categories)
        lv = np.asarray(by.codes, dtype=np.int64)
    else:
        levels_arr, lv = np.unique(np.asarray(by), return_inverse=True)
        levels = list(levels_arr)
    prev = np.zeros(3)
    per: dict = {}
    for k, name in enumerate(levels):
        sel = lv <= k
        cur = np.array(_pair_counts(t_codes[sel], p_codes[sel]))
        d = cur - prev
        prev = cur
        if d[0] or d[1]:
            res = _prf(*d.tolist())
            res["events"] = int((lv == k).sum())
            per[name] = res
    out["levels"] = per
    return out


def format_scores(name: str, scores: dict) -> str:
    """A small table of pairwise scores, overall and per level."""
    rows = [f"{name:>12} {'level':>8} {'precision':>9} {'recall':>7} {'f1':>6} {'true_pairs':>10}"]
    for lvl, s in [("all", scores), *scores.get("levels", {}).items()]:
        rows.append(
            f"{name:>12} {lvl:>8} {s['precision']:9.4f} {s['recall']:7.4f} {s['f1']:6.4f}"
            f" {int(s['true_pairs']):>10}"
        )
    return "\n".join(rows)
