"""End to end through the CLI on a FIRMS file vs the analyst's geopandas script.

A ``--rows`` FIRMS VIIRS CSV (the real 14-column layout) of detections around the demo
line of contact (60 % within 20 km, 30 % 20-80 km, 10 % 80-300 km), spread over the demo
scenario's days. In one run, on the same file:

- ceasewatch through its CLI, as subprocesses with ``--store`` in a temporary folder:
  ``ceasewatch agreement load`` (not timed; it builds the zone structures into the run's
  own zone cache, ``CEASEWATCH_CACHE_DIR`` in the temporary folder), then ``ceasewatch
  ingest firms`` and ``ceasewatch evaluate`` (timed: ingest + evaluate, process start-up
  included);
- the baseline, the analyst's script as a subprocess of the same interpreter (start-up
  included too): ``pandas.read_csv``, geopandas points ``to_crs`` a metric CRS, the line
  buffered by 15/50/70/140 km, ``sjoin`` per band, each point given the narrowest band.

Both must give the same zone counts. The analyst's buffers are polygons (16 segments per
quarter circle: within ~0.2 km of the true band edge at 140 km) in a projected CRS, while
ceasewatch measures the distance to the line exactly; so points within 0.5 km of a band
edge may land in the neighbouring band. The counts of each zone must agree within the
number of such edge points. The baseline uses the same metric CRS as ceasewatch (handed to
it as an argument) so that projection choice does not add differences.
Last line: the two times and the ratio analyst / ceasewatch (> 1: ceasewatch is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from _common import peak_rss_mb, timed
from bench_daily_cycle import write_firms

from ceasewatch.agreement.geometry import ZoneModel
from ceasewatch.agreement.model import load_agreement
from ceasewatch.demo_data import generate_demo_inputs
from ceasewatch.store.duckdb import open_store

WIDTHS = {"disengagement": 15.0, "artillery": 50.0, "mlrs": 70.0, "heavy_mlrs": 140.0}
EDGE_KM = 0.5

ANALYST_SCRIPT = r"""
import json, sys
import geopandas as gpd
import numpy as np
import pandas as pd

csv_path, line_path, crs, widths = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
df = pd.read_csv(csv_path)
pts = gpd.GeoDataFrame(
    df, geometry=gpd.points_from_xy(df["longitude"], df["latitude"]), crs=4326
).to_crs(crs)
line = gpd.read_file(line_path).to_crs(crs)
zone = np.full(len(pts), "outside", dtype=object)
for zid, w in sorted(widths.items(), key=lambda kv: -kv[1]):  # widest first: narrowest wins
    band = gpd.GeoDataFrame({"zone": [zid]}, geometry=[line.buffer(w * 1000.0).union_all()], crs=crs)
    hit = gpd.sjoin(pts[["geometry"]], band, predicate="within", how="inner").index.unique()
    zone[hit] = zid
print(json.dumps(pd.Series(zone).value_counts().to_dict()))
"""


def cli(*args: str, store: Path) -> tuple[str, float]:
    """Run ``ceasewatch ARGS --store STORE``; (stdout, wall seconds)."""
    exe = Path(sys.executable).with_name("ceasewatch")
    t0 = time.perf_counter()
    p = subprocess.run(
        [str(exe), *args, "--store", str(store)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "CEASEWATCH_CACHE_DIR": str(store.parent / "cache")},
        check=False,
    )
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"ceasewatch {' '.join(args)} failed:\n{p.stdout}\n{p.stderr}")
    return p.stdout.strip(), dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        demo = generate_demo_inputs(tmp / "demo")
        agreement = load_agreement(demo.agreement_dir)
        start = datetime.combine(demo.start, datetime.min.time(), UTC)
        end = datetime.combine(demo.end, datetime.min.time(), UTC) + timedelta(days=1)
        csv_path, t_gen = timed(
            lambda: write_firms(tmp / "firms.csv", agreement.line, args.rows, start, end, 5)
        )
        print(
            f"wrote {args.rows:,} FIRMS rows ({csv_path.stat().st_size / 1e6:,.0f} MB, "
            f"{demo.start} to {demo.end}) in {t_gen:.1f} s (not timed)"
        )
        store = tmp / "cli.duckdb"
        msg, t_load = cli("agreement", "load", str(demo.agreement_dir), store=store)
        print(f"agreement load ({t_load:.1f} s, not timed): {' '.join(msg.split())}")
        msg, t_ingest = cli("ingest", "firms", str(csv_path), store=store)
        print(f"ceasewatch ingest firms: {t_ingest:.2f} s: {msg.splitlines()[0]}", flush=True)
        msg, t_eval = cli("evaluate", store=store)
        print(f"ceasewatch evaluate:     {t_eval:.2f} s: {msg}")
        t_cw = t_ingest + t_eval

        st = open_store(store)
        try:
            n_loaded = len(st.events(columns=["event_id"]))
            ev = st.event_eval()
        finally:
            st.close()
        assert n_loaded == args.rows, f"{n_loaded:,} of {args.rows:,} rows loaded"
        cw_counts = ev["zone"].value_counts().to_dict()
        d = ev["distance_to_line_km"].to_numpy(dtype=float)
        edge = np.min(np.abs(d[:, None] - np.array(list(WIDTHS.values()))[None, :]), axis=1)
        n_edge = int((edge < EDGE_KM).sum())

        script = tmp / "analyst.py"
        script.write_text(ANALYST_SCRIPT)
        crs = ZoneModel(agreement).crs.to_wkt()
        line_path = demo.agreement_dir / "line.geojson"
        t0 = time.perf_counter()
        p = subprocess.run(
            [sys.executable, str(script), str(csv_path), str(line_path), crs, json.dumps(WIDTHS)],
            capture_output=True,
            text=True,
            check=False,
        )
        t_base = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"analyst script failed:\n{p.stderr}")
        base_counts = json.loads(p.stdout.strip().splitlines()[-1])
        children_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0

    print(f"analyst script (read_csv, to_crs, buffer, sjoin): {t_base:.2f} s")
    print(f"zone counts (ceasewatch / analyst), tolerance {n_edge:,} points within {EDGE_KM} km")
    worst = 0
    for z in [*WIDTHS, "outside"]:
        a, b = int(cw_counts.get(z, 0)), int(base_counts.get(z, 0))
        worst = max(worst, abs(a - b))
        print(f"  {z:<14} {a:>10,} {b:>10,}  diff {a - b:+,}")
    assert worst <= n_edge, f"zone counts differ by {worst:,} > {n_edge:,} edge points"
    print(
        f"ceasewatch CLI ingest+evaluate: {args.rows / t_cw:,.0f} rows/s "
        f"(ingest {t_ingest:.2f} s, evaluate {t_eval:.2f} s); analyst "
        f"{args.rows / t_base:,.0f} rows/s; peak RSS: this process {peak_rss_mb():,.0f} MB, "
        f"largest subprocess {children_rss:,.0f} MB"
    )
    print(
        f"cli_firms rows={args.rows} ceasewatch_s={t_cw:.2f} analyst_s={t_base:.2f} "
        f"ratio_to_baseline={t_base / t_cw:.2f}"
    )


if __name__ == "__main__":
    main()
