"""Zone evaluation throughput vs the analyst's geopandas buffer + sjoin.

Random events around a 1,200 km line of 5,000 vertices, bands 15/50/70/140 km, control
areas east and west of the line (so the side of the line is computed too). In one run:

- the baseline: the line buffered per band in the metric CRS and the points spatially
  joined (geopandas), on a subset; zones only;
- the reference (the exact method: pyproj + the STR-tree's nearest segment, point-in-polygon
  per control area), on a subset, for the agreement check;
- ceasewatch ``evaluate_zones`` on all the events (distance, side, zone, sector).

The fast results must equal the reference's: the same zone and side for every checked
event and distances within 1 m, on a random subset and on adversarial points (exactly on
band edges, on the line and its vertices, beyond its ends, NaN, far away). ``--chunked N``
then evaluates N events in chunks generated on the fly (bounded memory) and reports the
total time. Last line: throughput, peak memory and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from _common import front_line, peak_rss_mb, timed
from shapely.ops import split

from ceasewatch.agreement.geometry import ZoneModel
from ceasewatch.agreement.model import Agreement, ZoneBand
from ceasewatch.evaluate import zones as zones_mod
from ceasewatch.evaluate.zones import evaluate_zones, evaluate_zones_reference, warm_up
from ceasewatch.normalize.crs import to_metric, to_wgs84

WIDTHS = (15.0, 50.0, 70.0, 140.0)
IDS = ("disengagement", "artillery", "mlrs", "heavy_mlrs")


def control_areas(line: shapely.LineString) -> tuple[tuple[str, shapely.Polygon], ...]:
    """A box around the events cut in two by the line (extended straight past its ends):
    RU east of it, UA west."""
    xy = shapely.get_coordinates(line)
    b = line.bounds
    box = shapely.box(b[0] - 4.0, b[1] - 3.0, b[2] + 4.0, b[3] + 3.0)
    head = xy[0] + 30.0 * (xy[0] - xy[5]) / np.linalg.norm(xy[0] - xy[5])
    tail = xy[-1] + 30.0 * (xy[-1] - xy[-6]) / np.linalg.norm(xy[-1] - xy[-6])
    cut = shapely.linestrings(np.vstack([head, xy, tail]))
    pieces = sorted(split(box, cut).geoms, key=lambda p: -p.area)[:2]
    east, west = sorted(pieces, key=lambda p: -p.centroid.x)
    return (("RU", east), ("UA", west))


def bench_model() -> ZoneModel:
    line = shapely.linestrings(front_line())
    agreement = Agreement(
        name="bench",
        parties=("UA", "RU"),
        effective=datetime(2025, 1, 1, tzinfo=UTC),
        line=line,
        zones=tuple(ZoneBand(i, w, ()) for i, w in zip(IDS, WIDTHS, strict=True)),
        prohibited_everywhere=(),
        control=control_areas(line),
    )
    return ZoneModel(agreement)


def random_events(
    model: ZoneModel, n: int, seed: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    b = model.agreement.line.bounds
    lon = rng.uniform(b[0] - 2.5, b[2] + 2.5, n)
    lat = rng.uniform(b[1] - 1.8, b[3] + 1.8, n)
    return lon, lat


def adversarial_events(model: ZoneModel) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Points on every band edge (built in the metric CRS), on the line and its vertices,
    beyond its ends, NaN, and far outside the fast method's box."""
    x, y = to_metric(*shapely.get_coordinates(model.agreement.line).T, model.crs)
    mx, my = (x[:-1] + x[1:]) / 2.0, (y[:-1] + y[1:]) / 2.0
    dx, dy = x[1:] - x[:-1], y[1:] - y[:-1]
    length = np.hypot(dx, dy)
    nx, ny = -dy / length, dx / length
    pts_x, pts_y = [x, mx], [y, my]
    for w in WIDTHS:
        for off in (w * 1_000.0, w * 1_000.0 + 0.0004, w * 1_000.0 + 0.0006, w * 1_000.0 + 1.0):
            pts_x += [mx + off * nx, mx - off * nx]
            pts_y += [my + off * ny, my - off * ny]
    # beyond the ends, along the end segments
    for i, j in ((0, 1), (-1, -2)):
        ux, uy = x[i] - x[j], y[i] - y[j]
        u = np.hypot(ux, uy)
        dist = np.array([1.0, 500.0, 15_000.0, 50_000.0, 140_000.0, 140_000.0005, 300_000.0])
        pts_x.append(x[i] + dist * ux / u)
        pts_y.append(y[i] + dist * uy / u)
    lon, lat = to_wgs84(np.concatenate(pts_x), np.concatenate(pts_y), model.crs)
    extra_lon = np.array([np.nan, 30.0, np.nan, 0.0, 179.0, -120.0, 37.0])
    extra_lat = np.array([48.0, np.nan, np.nan, 0.0, 48.0, 60.0, 89.0])
    return np.concatenate([lon, extra_lon]), np.concatenate([lat, extra_lat])


def check_agreement(fast: pd.DataFrame, ref: pd.DataFrame, what: str) -> float:
    """Same zone and side for every event, distances within 1 m; the worst |Δd| (m)."""
    zf, zr = fast["zone"].to_numpy(), ref["zone"].to_numpy()
    assert (zf == zr).all(), f"{what}: {(zf != zr).sum()} zones differ"
    sf, sr = fast["side"].to_numpy(), ref["side"].to_numpy()
    assert (sf == sr).all(), f"{what}: {(sf != sr).sum()} sides differ"
    df = fast["distance_to_line_km"].to_numpy()
    dr = ref["distance_to_line_km"].to_numpy()
    assert (np.isnan(df) == np.isnan(dr)).all(), f"{what}: NaN distances differ"
    ok = ~np.isnan(dr)
    worst = float(np.max(np.abs(df[ok] - dr[ok]), initial=0.0) * 1_000.0)
    assert worst <= 1.0, f"{what}: distances differ by up to {worst} m"
    return worst


def baseline_zones(
    model: ZoneModel, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
) -> npt.NDArray[np.object_]:
    """The analyst's way: buffer the line per band in the metric CRS, spatially join."""
    crs = model.crs
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326).to_crs(crs)
    line_m = gpd.GeoSeries([model.agreement.line], crs=4326).to_crs(crs)
    zone = np.full(len(lon), "outside", dtype=object)
    for zid, w in sorted(zip(IDS, WIDTHS, strict=True), key=lambda t: -t[1]):
        band = gpd.GeoDataFrame(geometry=line_m.buffer(w * 1_000.0), crs=crs)
        hit = gpd.sjoin(pts, band, predicate="within", how="inner").index.unique()
        zone[hit] = zid
    return zone


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument(
        "--baseline-events", type=int, default=200_000, help="events for the (slow) baseline"
    )
    ap.add_argument(
        "--reference-events",
        type=int,
        default=200_000,
        help="events checked against the exact reference method",
    )
    ap.add_argument(
        "--chunked", type=int, default=0, help="also evaluate this many events in chunks"
    )
    ap.add_argument("--chunk", type=int, default=10_000_000, help="events per chunk")
    ap.add_argument("--workers", type=int, default=None, help="threads (default: the cores)")
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="time each method this many times and keep the best (the machine is shared)",
    )
    args = ap.parse_args()

    model = bench_model()
    # built once per agreement version, not per evaluation
    _, t_build = timed(lambda: (model.distance_index, model.fast_projection, model.side_raster))
    idx = model.distance_index
    print(
        f"structures built in {t_build:.1f} s: {idx.n_leaves:,} cells, "
        f"{(idx.nbytes + (model.side_raster.nbytes if model.side_raster else 0)) / 1e6:.0f} MB; "
        f"projection within {model.fast_projection.max_error_m * 1e9:.0f} nm of pyproj"
        if model.fast_projection
        else "projection by pyproj"
    )
    # the compiled kernels: compiled, or loaded from numba's disk cache, once per process
    t_warm = warm_up()
    print(
        "numpy path (numba unavailable)"
        if t_warm is None
        else f"numba kernels ready in {t_warm:.2f} s (compile or cache load; once per process, "
        "not in the throughput)"
    )
    lon, lat = random_events(model, args.events, seed=3)

    times = []
    for _ in range(args.repeat):
        result = None  # free the previous run's frame first
        result, t = timed(lambda: evaluate_zones(lon, lat, model, workers=args.workers))
        times.append(t)
    rate = args.events / min(times)

    nb = min(args.events, args.baseline_events)
    base_times = []
    for _ in range(args.repeat):
        base_zone, t = timed(lambda: baseline_zones(model, lon[:nb], lat[:nb]))
        base_times.append(t)
    base_rate = nb / min(base_times)
    # buffers are polygons with finite resolution: compare away from band edges
    dist = result["distance_to_line_km"].to_numpy()[:nb]
    edge = np.min(np.abs(dist[:, None] - np.array(WIDTHS)[None, :]), axis=1) < 0.5
    agree = (base_zone == result["zone"].to_numpy()[:nb]) | edge
    assert agree.all(), f"{(~agree).sum()} events disagree with the baseline"

    nr = min(args.events, args.reference_events)
    ref, t_ref = timed(lambda: evaluate_zones_reference(lon[:nr], lat[:nr], model))
    worst = check_agreement(result.iloc[:nr], ref, "random events")
    alon, alat = adversarial_events(model)
    adv = evaluate_zones(alon, alat, model, method="fast")
    worst_adv = check_agreement(adv, evaluate_zones_reference(alon, alat, model), "adversarial")
    print(
        f"agreement with the reference: {nr:,} random + {len(alon):,} adversarial events, "
        f"same zone and side, |Δd| ≤ {max(worst, worst_adv) * 1_000:.1f} mm"
    )
    runs = f"best of {args.repeat}"
    print(
        f"baseline geopandas buffer+sjoin: {base_rate:,.0f} events/s ({nb:,} events, zones, "
        f"{runs}: {', '.join(f'{nb / t:,.0f}' for t in base_times)})"
    )
    print(f"reference (exact, STR-tree):     {nr / t_ref:,.0f} events/s ({nr:,} events)")
    print(
        f"ceasewatch evaluate_zones:       {rate:,.0f} events/s ({args.events:,} events, "
        f"{runs}: {', '.join(f'{args.events / t:,.0f}' for t in times)})"
    )

    if args.chunked:
        del result, lon, lat
        t0 = time.perf_counter()
        counts = pd.Series(0, index=[*IDS, "outside"])
        done = 0
        seed = 100
        while done < args.chunked:
            n = min(args.chunk, args.chunked - done)
            clon, clat = random_events(model, n, seed)
            z = evaluate_zones(clon, clat, model, workers=args.workers)
            counts = counts.add(z["zone"].value_counts(), fill_value=0)
            done += n
            seed += 1
        t_chunked = time.perf_counter() - t0
        print(
            f"chunked: {done:,} events in {t_chunked:.1f} s ({done / t_chunked:,.0f} events/s, "
            f"chunks of {args.chunk:,}; generation included); zones: "
            + ", ".join(f"{k} {int(v):,}" for k, v in counts.items())
        )
    print(
        f"zones events={args.events} throughput={rate:,.0f} events/s "
        f"peak_rss={peak_rss_mb():,.0f} MB ratio_to_baseline={rate / base_rate:.2f} "
        f"cores={os.cpu_count()} engine={'numba' if zones_mod.USE_NUMBA else 'numpy'} "
        f"load={os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
