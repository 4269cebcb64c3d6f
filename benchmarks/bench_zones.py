"""Zone evaluation throughput vs the analyst's geopandas buffer + sjoin.

Random events around a 1,200 km line of 5,000 vertices, bands 15/50/70/140 km. The
baseline buffers the line per band in a metric CRS and spatially joins the points; the
results are checked to agree (same zone for every event away from band edges). Last line:
throughput, peak memory and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import shapely
from _common import front_line, peak_rss_mb, timed

from ceasewatch.agreement.geometry import ZoneModel
from ceasewatch.agreement.model import Agreement, ZoneBand
from ceasewatch.evaluate.zones import evaluate_zones

WIDTHS = (15.0, 50.0, 70.0, 140.0)
IDS = ("disengagement", "artillery", "mlrs", "heavy_mlrs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument(
        "--baseline-events",
        type=int,
        default=None,
        help="run the (slow) baseline on this many of the events",
    )
    args = ap.parse_args()
    line_xy = front_line()
    line = shapely.linestrings(line_xy)
    agreement = Agreement(
        name="bench",
        parties=("UA", "RU"),
        effective=datetime(2025, 1, 1, tzinfo=UTC),
        line=line,
        zones=tuple(ZoneBand(i, w, ()) for i, w in zip(IDS, WIDTHS, strict=True)),
        prohibited_everywhere=(),
    )
    model = ZoneModel(agreement)
    rng = np.random.default_rng(3)
    b = line.bounds
    lon = rng.uniform(b[0] - 2.5, b[2] + 2.5, args.events)
    lat = rng.uniform(b[1] - 1.8, b[3] + 1.8, args.events)
    _ = model.segment_tree  # built once per agreement version, not per evaluation
    result, t_cw = timed(lambda: evaluate_zones(lon, lat, model))

    nb = args.baseline_events or min(args.events, 200_000)

    def baseline() -> np.ndarray:
        crs = model.crs
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon[:nb], lat[:nb]), crs=4326).to_crs(
            crs
        )
        line_m = gpd.GeoSeries([line], crs=4326).to_crs(crs)
        zone = np.full(nb, "outside", dtype=object)
        for zid, w in sorted(zip(IDS, WIDTHS, strict=True), key=lambda t: -t[1]):
            band = gpd.GeoDataFrame(geometry=line_m.buffer(w * 1_000.0), crs=crs)
            hit = gpd.sjoin(pts, band, predicate="within", how="inner").index.unique()
            zone[hit] = zid
        return zone

    base_zone, t_base = timed(baseline)
    dist = result["distance_to_line_km"].to_numpy()[:nb]
    # buffers are polygons with finite resolution: compare away from band edges
    edge = np.min(np.abs(dist[:, None] - np.array(WIDTHS)[None, :]), axis=1) < 0.5
    agree = (base_zone == result["zone"].to_numpy()[:nb]) | edge
    assert agree.all(), f"{(~agree).sum()} events disagree with the baseline"
    rate = args.events / t_cw
    base_rate = nb / t_base
    print(f"baseline geopandas buffer+sjoin: {base_rate:,.0f} events/s ({nb:,} events)")
    print(f"ceasewatch evaluate_zones:       {rate:,.0f} events/s ({args.events:,} events)")
    print(
        f"zones events={args.events} throughput={rate:,.0f} events/s "
        f"peak_rss={peak_rss_mb():,.0f} MB ratio_to_baseline={rate / base_rate:.2f}"
    )


if __name__ == "__main__":
    main()
