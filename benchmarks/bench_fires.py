"""War-fire classifier: accuracy against independent event data, placebos, totals, speed.

On the real files of ../shared/data/raw (when present):

1. ingest the FIRMS reduced-layout files 2016, 2018-2022 and the 2023 VIIRS file into an
   in-memory store, fit the baseline until 24 Feb 2022 and classify everything after it,
   once without and once with a line of contact (DeepState snapshots of the first day of
   each month, April 2022 on, as agreement versions: the proximity prior);
2. precision and recall against CIR Eyes on Russia 2022 incidents for a grid of (d km,
   t days), with the base rate (share of all fires near an incident) and the ceiling (share
   of incidents with any fire near them); UCDP 2022-23 and the ACLED 2023 sample at one
   (d, t);
3. placebos: the war-related rate west of 28°E in 2022, and in each pre-war year held out
   (baseline from the other years);
4. monthly totals beside The Economist's published totals;
5. speed of the baseline and of classifying one year, and the same-run comparison with an
   Economist-style rule on the same baseline (last line).

Without the real files it times the model on generated detections only.
"""

from __future__ import annotations

import argparse
import math
import re
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from _common import peak_rss_mb, timed
from scipy import ndimage
from scipy.spatial import cKDTree

from ceasewatch.evaluate import fire_anomaly as fa
from ceasewatch.store.duckdb import DuckDBStore
from ceasewatch.store.fires import (
    fire_class_table,
    fire_detections,
    load_baseline,
    run_baseline,
    run_classify,
)

RAW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "raw"
WAR_START = "2022-02-24"
ECONOMIST = (
    ("2022-02-24", "2023-02-18", 14_068),
    ("2022-02-24", "2024-06-19", 93_834),
)
KM_LAT = 111.32
KM_LON = 111.32 * math.cos(math.radians(48.5))

#: CIR layers that are not fighting (presence of troops, arrests, graves, other)
EOR_NOT_FIGHTING = (
    "Russian Military Presence",
    "Detentions",
    "Mass grave",
    "Other",
    "Russian Allies",
)


# --- data ------------------------------------------------------------------------------
def load_store(store: DuckDBStore) -> tuple[int, float]:
    from ceasewatch.ingest.base import get_source
    from ceasewatch.ingest.pipeline import ingest_file

    files = sorted((RAW / "firms_history").glob("ukr_fire_data_*.csv"))
    files.append(RAW / "firms" / "fire_nrt_SV-C2_400448.csv")
    t0 = time.perf_counter()
    n = 0
    for f in files:
        n += ingest_file(store, get_source("firms"), f).loaded
    return n, time.perf_counter() - t0


def deepstate_agreements(store: DuckDBStore, work: Path) -> int:
    """Load one agreement version per month (April 2022 - November 2023) whose line of
    contact is the edge of DeepState's occupied area on the month's first snapshot."""
    from ceasewatch.agreement.from_control import agreement_from_control
    from ceasewatch.agreement.store import load_agreement_into

    tar_path = (
        RAW
        / "frontline_deepstate"
        / "DanielRose2310_deepstatemaps-history_geojsons_20220403-20250803.tar.xz"
    )
    boundary = RAW / "admin_boundaries" / "geoBoundaries-UKR-ADM1_simplified.geojson"
    with tarfile.open(tar_path, "r:xz") as tar:
        names = [n for n in tar.getnames() if re.fullmatch(r"geojsons/\d+\.geojson", n)]
    stamps = np.array(sorted(int(Path(n).stem) for n in names))
    months = pd.date_range("2022-04-01", "2023-11-01", freq="MS", tz="UTC")
    chosen = sorted(
        {int(stamps[min(np.searchsorted(stamps, m.timestamp()), len(stamps) - 1)]) for m in months}
    )
    wanted = {f"geojsons/{s}.geojson" for s in chosen}
    with tarfile.open(tar_path, "r:xz") as tar:
        for member in tar:
            if member.name in wanted:
                data = tar.extractfile(member)
                assert data is not None
                (work / Path(member.name).name).write_bytes(data.read())
    n = 0
    for s in chosen:
        when = datetime.fromtimestamp(s, UTC)
        folder = agreement_from_control(
            work / f"{s}.geojson",
            boundary,
            effective=when,
            parties=("UA", "RU"),
            out_dir=work / f"agreement_{s}",
        )
        load_agreement_into(store, folder)
        n += 1
    return n


def eyes_on_russia() -> pd.DataFrame:
    e = pd.read_csv(RAW / "events_cir_eyes_on_russia" / "events.csv")
    e["date"] = pd.to_datetime(e["date"], errors="coerce")
    fighting = ~e["event_group"].fillna("").str.startswith(EOR_NOT_FIGHTING)
    keep = (
        e["country"].isin(["Ukraine", "Crimea"])
        & e["date"].between(WAR_START, "2022-11-30")
        & fighting
        & e["lat"].notna()
    )
    e = e[keep]
    return pd.DataFrame({"lon": e["lon"], "lat": e["lat"], "day": fa.day_number(e["date"])})


def ucdp() -> pd.DataFrame:
    u = pd.read_csv(RAW / "events_ucdp" / "UCDP-Ukraine.csv", encoding="cp1252")
    u["date"] = pd.to_datetime(u["date_start"], format="mixed", errors="coerce")
    keep = (u["date"] >= WAR_START) & (u["where_prec"] <= 3) & (u["date_prec"] <= 2)
    u = u[keep]
    return pd.DataFrame(
        {"lon": u["longitude"], "lat": u["latitude"], "day": fa.day_number(u["date"])}
    )


def acled_2023() -> pd.DataFrame:
    a = pd.read_csv(RAW / "events_acled" / "ACLED-Ukraine.csv")
    a["date"] = pd.to_datetime(a["event_date"], format="%d/%m/%Y %H:%M:%S", errors="coerce")
    keep = (
        (a["date"] >= "2023-02-24")
        & (a["date"] <= "2023-11-11")
        & a["event_type"].isin(["Explosions/Remote violence", "Battles"])
        & (a["geo_precision"] <= 2)
    )
    a = a[keep]
    return pd.DataFrame(
        {"lon": a["longitude"], "lat": a["latitude"], "day": fa.day_number(a["date"])}
    )


# --- matching --------------------------------------------------------------------------
class Pairs:
    """Every (fire, incident) pair within ``d_max`` km and ``t_max`` days."""

    def __init__(self, fires: pd.DataFrame, inc: pd.DataFrame, d_max: float, t_max: int):
        self.n_fires, self.n_inc = len(fires), len(inc)
        tree = cKDTree(np.c_[inc["lon"].to_numpy() * KM_LON, inc["lat"].to_numpy() * KM_LAT])
        pts = np.c_[fires["lon"].to_numpy() * KM_LON, fires["lat"].to_numpy() * KM_LAT]
        lists = tree.query_ball_point(pts, d_max)
        lens = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
        i = np.repeat(np.arange(len(fires)), lens)
        j = np.concatenate(
            [np.asarray(x, dtype=np.int64) for x in lists if x] or [np.empty(0, np.int64)]
        )
        dt = np.abs(fires["day"].to_numpy()[i] - inc["day"].to_numpy()[j])
        ok = dt <= t_max
        self.i, self.j, self.dt = i[ok], j[ok], dt[ok]
        self.dist = np.hypot(
            pts[self.i, 0] - tree.data[self.j, 0], pts[self.i, 1] - tree.data[self.j, 1]
        )

    def scores(self, flagged: np.ndarray, d: float, t: int) -> dict[str, float]:
        m = (self.dist <= d) & (self.dt <= t)
        near_fire = np.bincount(self.i[m], minlength=self.n_fires) > 0
        inc_any = np.bincount(self.j[m], minlength=self.n_inc) > 0
        inc_war = np.bincount(self.j[m & flagged[self.i]], minlength=self.n_inc) > 0
        precision = float(near_fire[flagged].mean()) if flagged.any() else float("nan")
        base = float(near_fire.mean())
        recall_fires = float(flagged[near_fire].mean()) if near_fire.any() else float("nan")
        return {
            "precision": precision,
            "base": base,
            "lift": precision / base if base else float("nan"),
            "recall_fires": recall_fires,
            "recall_inc": float(inc_war.mean()),
            "ceiling": float(inc_any.mean()),
            "f1": 2 * precision * recall_fires / (precision + recall_fires)
            if precision + recall_fires > 0
            else 0.0,
        }


# --- the Economist-style rule on the same baseline ---------------------------------------
def economist_style(baseline: fa.Baseline, det: pd.DataFrame, target: np.ndarray) -> np.ndarray:
    """war_related by a re-implementation of the published rule (README of
    TheEconomist/the-economist-war-fire-model) on our baseline: a cell-day is in excess when
    its burning pixel-days exceed the upper 95 % bound and the mean by more than 2; it is
    sustained when the cell or a cell within ~50 km has another excess day 7-180 days
    apart; fires of sustained excess cell-days are war-related, and so is every fire in the
    cell within 10 days after one."""
    p = baseline.params
    u_la, u_lo, u_d = fa.pixel_days(det["lat"], det["lon"], det["day"], p.pixel_deg)
    u_iy, u_ix = fa.cell_index(u_la, u_lo, p.cell_deg)
    d = det["day"].to_numpy()
    iy, ix = fa.cell_index(det["lat"], det["lon"], p.cell_deg)
    out = np.zeros(len(det), dtype=bool)
    tgt = np.nonzero(target)[0]
    lo_day, hi_day = int(d[tgt].min()), int(d[tgt].max())
    for c0 in range(lo_day, hi_day + 1, 366):
        c1 = min(c0 + 365, hi_day)
        ctx = fa._context(baseline, u_d, u_iy, u_ix, c0 - 190, c1 + 190)
        nz = np.nonzero(ctx.count > 0)
        excess = np.zeros(ctx.count.shape, dtype=bool)
        upper = fa.nb_quantile(0.95, ctx.rate[nz], ctx.phi[nz])
        excess[nz] = (ctx.count[nz] > upper) & (ctx.count[nz] - ctx.rate[nz] - 2 > 0)
        near = ndimage.maximum_filter(excess, size=(1, 11, 11), mode="constant")
        nd = excess.shape[0]
        t = np.arange(nd)

        def window(cs: np.ndarray, a: np.ndarray, b: np.ndarray, nd: int = nd) -> np.ndarray:
            # per day t: the count over days [a(t), b(t)) from the cumulative sums ``cs``
            return cs[np.clip(b, 0, nd)] - cs[np.clip(a, 0, nd)]

        cs = np.zeros((nd + 1, *excess.shape[1:]), dtype=np.int32)
        np.cumsum(near, axis=0, dtype=np.int32, out=cs[1:])
        others = window(cs, t - 180, t - 6) + window(cs, t + 7, t + 181)
        war_cd = excess & (others > 0)
        # every cell-day within 10 days after a war cell-day
        wcs = np.zeros_like(cs)
        np.cumsum(war_cd, axis=0, dtype=np.int32, out=wcs[1:])
        war_any = war_cd | (window(wcs, t - 10, t) > 0)
        sel = tgt[(d[tgt] >= c0) & (d[tgt] <= c1)]
        out[sel] = war_any[d[sel] - ctx.d0, iy[sel] - ctx.iy0, ix[sel] - ctx.ix0]
    return out[target]


# --- runs ------------------------------------------------------------------------------
def fmt(x: float) -> str:
    return "  n/a" if x != x else f"{x:5.3f}"


def real(args: argparse.Namespace) -> None:
    store = DuckDBStore(":memory:")
    n, ingest_s = load_store(store)
    print(
        f"ingested {n:,} FIRMS detections (reduced 2016, 2018-2022 + VIIRS 2023) in {ingest_s:.1f} s"
    )
    rb = run_baseline(store, WAR_START)
    print(
        f"baseline until {WAR_START}: {rb.n_detections:,} detections ({rb.n_pixel_days:,} burning "
        f"pixel-days, years {', '.join(map(str, rb.years))}) in {rb.seconds:.1f} s "
        f"(fit {rb.fit_seconds:.1f} s; target < 60 s)"
    )
    year = run_classify(store, until="2023-01-01", use_line=False)
    print(
        f"classify one year (24 Feb - 31 Dec 2022): {year.classified:,} detections in "
        f"{year.seconds:.1f} s (model {year.model_seconds:.1f} s; target < 10 s)"
    )
    run_classify(store, use_line=False)
    plain = fire_class_table(store)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        n_agr = deepstate_agreements(store, Path(tmp))
        agr_s = time.perf_counter() - t0
    with_line = run_classify(store)
    prior = fire_class_table(store)
    print(
        f"{n_agr} DeepState line-of-contact versions loaded in {agr_s:.0f} s; classify with the "
        f"proximity prior: {with_line.classified:,} in {with_line.seconds:.1f} s "
        f"(distances {with_line.distance_seconds:.1f} s)"
    )
    det = fire_detections(store)
    baseline_obj = load_baseline(store)
    assert baseline_obj is not None
    target = (det["occurred_at"] >= pd.Timestamp(WAR_START, tz="UTC")).to_numpy()
    t0 = time.perf_counter()
    econ = economist_style(baseline_obj, det, target)
    econ_s = time.perf_counter() - t0
    runs = {
        "model": plain.set_index("event_id")["war_related"],
        "model+line": prior.set_index("event_id")["war_related"],
        "econ-style": pd.Series(econ, index=det.loc[target, "event_id"].to_numpy()),
        "within10km": prior.set_index("event_id")["distance_to_line_km"] <= 10.0,
    }
    fires = det[target].reset_index(drop=True)
    fires["month"] = fires["occurred_at"].dt.strftime("%Y-%m")
    flags = {
        k: v.reindex(fires["event_id"]).fillna(False).to_numpy(dtype=bool) for k, v in runs.items()
    }

    # --- accuracy vs Eyes on Russia -----------------------------------------------------------
    eor = eyes_on_russia()
    in_eor = (fires["occurred_at"] <= pd.Timestamp("2022-11-30 23:59", tz="UTC")).to_numpy()
    f22 = fires[in_eor].reset_index(drop=True)
    pairs = Pairs(f22, eor, 25.0, 7)
    print(
        f"\nprecision / recall vs CIR Eyes on Russia ({len(eor):,} fighting incidents, 24 Feb - 30 Nov "
        f"2022; {len(f22):,} fires). A fire matches when an incident lies within d km and t days."
    )
    print("  precision = share of war-related fires that match; base = the same for all fires;")
    print("  recall(fires) = share of matching fires classified war-related; recall(inc) = share")
    print("  of incidents with a war-related fire; ceiling = share with any fire.")
    print(
        f"{'rule':>11} {'d km':>5} {'t d':>4} {'prec':>6} {'base':>6} {'lift':>5} {'rec(f)':>6} {'rec(i)':>6} {'ceil':>6} {'flagged':>8}"
    )
    grid = [(d, t) for d in (2.0, 5.0, 10.0, 25.0) for t in (1, 3, 7)]
    results: dict[tuple[str, float, int], dict[str, float]] = {}
    for name in ("model", "model+line", "econ-style", "within10km"):
        fl = flags[name][in_eor]
        for d, t in grid:
            s = pairs.scores(fl, d, t)
            results[(name, d, t)] = s
            if name in ("model", "model+line") or (d, t) in ((5.0, 3), (10.0, 3)):
                print(
                    f"{name:>11} {d:5.0f} {t:4d} {fmt(s['precision']):>6} {fmt(s['base']):>6} "
                    f"{s['lift']:5.2f} {fmt(s['recall_fires']):>6} {fmt(s['recall_inc']):>6} "
                    f"{fmt(s['ceiling']):>6} {int(fl.sum()):8,}"
                )
    for label, inc, sel in (
        ("UCDP GED 2022-23", ucdp(), fires["occurred_at"] <= pd.Timestamp("2023-02-28", tz="UTC")),
        (
            "ACLED sample 2023",
            acled_2023(),
            fires["occurred_at"] >= pd.Timestamp("2023-02-24", tz="UTC"),
        ),
    ):
        sel_ = sel.to_numpy()
        fsub = fires[sel_].reset_index(drop=True)
        pr = Pairs(fsub, inc, 10.0, 3)
        for name in ("model", "model+line"):
            s = pr.scores(flags[name][sel_], 10.0, 3)
            print(
                f"{label} ({len(inc):,} events), {name}, d=10 km t=3 d: precision {fmt(s['precision'])} "
                f"(base {fmt(s['base'])}, lift {s['lift']:.2f}), recall(fires) {fmt(s['recall_fires'])}, "
                f"recall(inc) {fmt(s['recall_inc'])} of ceiling {fmt(s['ceiling'])}"
            )

    # --- placebos ----------------------------------------------------------------------------
    y22 = (fires["occurred_at"] < pd.Timestamp("2023-01-01", tz="UTC")).to_numpy()
    west = (fires["lon"] < 28.0).to_numpy() & y22
    print(
        f"\nplacebo 2022 west of 28°E ({int(west.sum()):,} fires): war-related rate "
        f"{flags['model'][west].mean():.4f} (model), {flags['model+line'][west].mean():.4f} "
        f"(model+line), {flags['econ-style'][west].mean():.4f} (econ-style)"
    )
    east = (fires["lon"] >= 35.0).to_numpy() & y22
    n10 = results[("within10km", 10.0, 3)]
    print(
        f"naive rule 'within 10 km of the line' at d=10 km t=3 d: precision "
        f"{n10['precision']:.3f}, recall(fires) {n10['recall_fires']:.3f}, F1 {n10['f1']:.3f}; "
        f"model F1 {results[('model', 10.0, 3)]['f1']:.3f}, model+line F1 "
        f"{results[('model+line', 10.0, 3)]['f1']:.3f}"
    )
    print(f"  for contrast, 2022 east of 35°E: {flags['model'][east].mean():.4f} (model)")
    pre_years = [y for y in rb.years if y < 2022]
    rates = []
    d_all = det["day"].to_numpy()
    years_all = fa.year_of(d_all)
    for y in pre_years:
        others = [o for o in rb.years if o != y]
        b = fa.fit_baseline(det["lat"], det["lon"], d_all, WAR_START, years=others)
        ctx = (d_all >= fa.day_number(pd.Series([pd.Timestamp(f"{y - 1}-10-25")]))[0]) & (
            d_all <= fa.day_number(pd.Series([pd.Timestamp(f"{y + 1}-03-08")]))[0]
        )
        sub = det[ctx]
        tg = years_all[ctx] == y
        r = fa.classify_detections(b, sub["lat"], sub["lon"], sub["day"], target=tg)
        e = economist_style(b, sub.reset_index(drop=True), tg)
        rates.append((y, len(r), float(r["war_related"].mean()), float(e.mean())))
    print("placebo pre-war years, each held out of its own baseline (rate model / econ-style):")
    for y, n_y, rm, re_ in rates:
        print(f"  {y}: {n_y:,} fires, {rm:.4f} / {re_:.4f}")
    pooled = sum(r[1] * r[2] for r in rates) / sum(r[1] for r in rates)
    print(f"  pooled: {pooled:.4f}")

    # --- totals vs The Economist -------------------------------------------------------------
    print("\nwar-related fires per month (model / model+line / econ-style / all detections):")
    g = fires.assign(**{k: v for k, v in flags.items()}).groupby("month")
    tab = g[["model", "model+line", "econ-style"]].sum().join(g.size().rename("all"))
    for m, row in tab.iterrows():
        print(
            f"  {m}: {int(row['model']):6,} {int(row['model+line']):6,} {int(row['econ-style']):6,} {int(row['all']):7,}"
        )
    for lo, hi, theirs in ECONOMIST:
        sel = (fires["occurred_at"] >= pd.Timestamp(lo, tz="UTC")) & (
            fires["occurred_at"] < pd.Timestamp(hi, tz="UTC") + pd.Timedelta(days=1)
        )
        ours = {k: int(v[sel.to_numpy()].sum()) for k, v in flags.items() if k != "within10km"}
        last = fires.loc[sel, "occurred_at"].max()
        print(
            f"{lo} to {hi}: The Economist {theirs:,}; ours {ours['model']:,} (model), "
            f"{ours['model+line']:,} (model+line), {ours['econ-style']:,} (econ-style) "
            f"on data to {last:%Y-%m-%d} with no detections 1 Jan - 23 Feb 2023"
        )

    # --- last line -----------------------------------------------------------------------------
    ours = results[("model", 10.0, 3)]
    theirs = results[("econ-style", 10.0, 3)]
    print(
        f"\nEconomist-style rule on the same baseline took {econ_s:.1f} s; peak memory "
        f"{peak_rss_mb():,.0f} MB"
    )
    print(
        f"throughput: baseline {rb.n_detections / rb.seconds:,.0f} detections/s, classify "
        f"{year.classified / year.seconds:,.0f} detections/s; F1 ratio model / Economist-style "
        f"rule = {ours['f1'] / theirs['f1']:.2f} (EoR, d=10 km, t=3 d; F1 of precision and "
        f"recall(fires); >1: ours separates war fires better), precision ratio "
        f"{ours['precision'] / theirs['precision']:.2f}"
    )


def synthetic(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(5)
    n_year = args.rows // 6
    parts = []
    for y in range(2016, 2022):
        lat = rng.uniform(44.5, 52.3, n_year)
        lon = rng.uniform(22.3, 40.1, n_year)
        doy = np.clip(rng.normal(200, 60, n_year), 0, 364).astype(int)
        day = fa.day_number(pd.Series([pd.Timestamp(f"{y}-01-01")]))[0] + doy
        parts.append(pd.DataFrame({"lat": lat, "lon": lon, "day": day}))
    det = pd.concat(parts, ignore_index=True)
    b, fit_s = timed(lambda: fa.fit_baseline(det["lat"], det["lon"], det["day"], "2021-01-01"))
    tgt = fa.year_of(det["day"].to_numpy()) == 2021
    _, cls_s = timed(
        lambda: fa.classify_detections(b, det["lat"], det["lon"], det["day"], target=tgt)
    )
    print("real data not available: timing on generated detections only")
    print(
        f"throughput: baseline {len(det) / fit_s:,.0f} detections/s ({len(det):,} in {fit_s:.1f} s), "
        f"classify {int(tgt.sum()) / cls_s:,.0f} detections/s; no accuracy ratio without real data"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=600_000, help="generated detections (no real data)")
    args = ap.parse_args()
    if (RAW / "firms_history").is_dir() and (RAW / "events_cir_eyes_on_russia").is_dir():
        real(args)
    else:
        synthetic(args)


if __name__ == "__main__":
    main()
