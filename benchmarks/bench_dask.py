"""Zone evaluation on a Dask LocalCluster over partitioned GeoParquet, 1 and 2 workers,
against the single-machine path on the same files.

The events (random points around a 1,200 km line of 5,000 vertices, bands 15/50/70/140 km,
control areas either side, times over a year) are generated and written in chunks, one
GeoParquet file per ``--rows-per-file`` rows (a WKB point beside lon/lat), so 10⁸ events
are never in memory at once. Then, in one run:

- the baseline: the single-machine path, ``evaluate_zones`` (on all the machine's cores)
  over the files one after the other, read with pyarrow;
- the Dask path: ``dask.dataframe.read_parquet`` and ``map_partitions`` of the engine's
  per-partition function, the zone model scattered to the workers once, on a LocalCluster
  of 1, then 2 worker processes (one thread each).

Agreement: every partition's result (distance, side, zone, sector, agreement version of
every event) is hashed row by row and the per-partition sums of the hashes must be equal
between the baseline and every Dask run. Last line: throughput, peak memory and the
scaling ratio (2 workers over 1) and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import peak_rss_mb
from bench_zones import bench_model

from ceasewatch.agreement.geometry import ZoneModel
from ceasewatch.evaluate.dask_engine import (
    built_model,
    dask_client,
    zones_of_partition,
)
from ceasewatch.normalize import schema

START = pd.Timestamp("2025-01-01T00:00:00Z")
ZONES = ("disengagement", "artillery", "mlrs", "heavy_mlrs", "outside")
SIDES = ("RU", "UA", "unknown", "outside")
GEO_META = (
    b'{"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": '
    b'{"encoding": "WKB", "geometry_types": ["Point"], "crs": null}}}'
)


def generate(directory: Path, n: int, rows_per_file: int, model: ZoneModel, seed: int) -> int:
    """Write ``n`` events as GeoParquet files of ``rows_per_file``; the number of files."""
    directory.mkdir(parents=True, exist_ok=True)
    b = model.agreement.line.bounds
    files = 0
    for k, s in enumerate(range(0, n, rows_per_file)):
        m = min(rows_per_file, n - s)
        rng = np.random.default_rng(seed + k)
        lon = rng.uniform(b[0] - 2.5, b[2] + 2.5, m)
        lat = rng.uniform(b[1] - 1.8, b[3] + 1.8, m)
        # files in time order: the k-th file covers its slice of the year
        span_us = 365 * 86_400 * 10**6
        t0 = START.value // 1_000 + span_us * s // n
        t1 = START.value // 1_000 + span_us * (s + m) // n
        t = np.sort(rng.integers(t0, max(t1, t0 + 1), m)).astype("datetime64[us]")
        table = pa.table(
            {
                "event_no": pa.array(np.arange(s, s + m, dtype=np.int64)),
                schema.OCCURRED_AT: pa.array(t, type=pa.timestamp("us", tz="UTC")),
                schema.LON: lon,
                schema.LAT: lat,
                "geometry": pa.array(shapely.to_wkb(shapely.points(lon, lat)), type=pa.binary()),
            }
        )
        table = table.replace_schema_metadata({b"geo": GEO_META})
        pq.write_table(table, directory / f"part-{k:05d}.parquet", row_group_size=m)
        files += 1
    return files


def digest(z: pd.DataFrame) -> int:
    """Sum of per-row hashes of a zone result (uint64, wrapping): event number, the bits of
    the distance, and the zone, side and sector as codes of fixed label lists."""
    h = z["event_no"].to_numpy().astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    dist = np.nan_to_num(z[schema.DISTANCE_TO_LINE_KM].to_numpy(dtype=float), nan=-1.0)
    h ^= dist.view(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    # the generated agreement has no sectors: every sector must be null
    assert z[schema.SECTOR].isna().all(), "a sector where the agreement defines none"
    for k, (col, labels) in enumerate(((schema.ZONE, ZONES), (schema.SIDE, SIDES))):
        codes = np.full(len(z), -1, dtype=np.int64)
        for i, label in enumerate(labels):
            codes[(z[col] == label).to_numpy(dtype=bool, na_value=False)] = i
        assert (codes >= 0).all(), f"an unexpected {col} label"
        h += (codes.astype(np.uint64) + np.uint64(1)) * np.uint64(0x165667B19E3779F9 + k)
    h += z[schema.AGREEMENT_VERSION].to_numpy().astype(np.uint64)
    return int(h.sum(dtype=np.uint64))


def summarise(part: pd.DataFrame, agreements: Any, models: Any) -> pd.DataFrame:
    """The engine's per-partition function, reduced to a digest and zone counts."""
    z = zones_of_partition(part, agreements, models, keep=("event_no",))
    counts = z[schema.ZONE].value_counts()
    return pd.DataFrame(
        {
            "first": [int(part["event_no"].iloc[0]) if len(part) else -1],
            "n": [len(z)],
            "digest": [digest(z)],
            **{f"zone_{k}": [int(counts.get(k, 0))] for k in ZONES},
        }
    )


def baseline(files: list[Path], agreements: Any, models: Any) -> pd.DataFrame:
    """The single-machine path: each file read with pyarrow, evaluated on every core."""
    from ceasewatch.evaluate.run import applicable_version
    from ceasewatch.evaluate.zones import evaluate_zones

    rows = []
    for f in files:
        part = pq.read_table(f, columns=["event_no", schema.OCCURRED_AT, schema.LON, schema.LAT])
        frame = part.to_pandas()
        versions = applicable_version(frame[schema.OCCURRED_AT], agreements)
        z = evaluate_zones(frame[schema.LON].to_numpy(), frame[schema.LAT].to_numpy(), models[1])
        z.insert(0, "event_no", frame["event_no"].to_numpy())
        z[schema.AGREEMENT_VERSION] = versions
        z[schema.SECTOR] = z[schema.SECTOR].astype(object)
        counts = z[schema.ZONE].value_counts()
        rows.append(
            {
                "first": int(frame["event_no"].iloc[0]),
                "n": len(z),
                "digest": digest(z),
                **{f"zone_{k}": int(counts.get(k, 0)) for k in ZONES},
            }
        )
    return pd.DataFrame(rows)


def on_cluster(
    data: Path, workers: int, agreements: dict[int, Any], models: dict[int, ZoneModel]
) -> tuple[pd.DataFrame, float, float]:
    """The Dask path with ``workers`` processes; result, seconds and the workers' peak RSS
    (MB, the largest)."""
    import dask
    import dask.dataframe as dd

    with dask_client(n_workers=workers, threads_per_worker=1, processes=True) as client:
        t0 = time.perf_counter()
        # the zone model, its structures built once (on the client), shipped to each worker
        a_f, m_f = client.scatter([agreements, models], broadcast=True, hash=False)
        frame = dd.read_parquet(
            str(data),
            columns=["event_no", schema.OCCURRED_AT, schema.LON, schema.LAT],
            split_row_groups=False,
        )
        meta = pd.DataFrame(
            {"first": [0], "n": [0], "digest": [0], **{f"zone_{k}": [0] for k in ZONES}}
        ).iloc[:0]
        lazy = frame.map_partitions(summarise, dask.delayed(a_f), dask.delayed(m_f), meta=meta)
        out: pd.DataFrame = client.compute(lazy).result()
        seconds = time.perf_counter() - t0
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    return out.sort_values("first").reset_index(drop=True), seconds, max(peaks.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    ap.add_argument("--rows-per-file", type=int, default=2_000_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/ceasewatch-bench-dask"))
    ap.add_argument("--keep", action="store_true", help="keep (and reuse) the generated files")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]

    model = bench_model()
    agreement = dataclasses.replace(model.agreement, version=1)
    agreements = {1: agreement}
    data = args.dir / f"events-{args.events}"
    if not (args.keep and data.exists()):
        shutil.rmtree(data, ignore_errors=True)
        t0 = time.perf_counter()
        n_files = generate(data, args.events, args.rows_per_file, model, seed=11)
        t_gen = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in data.glob("*.parquet")) / 1e9
        print(
            f"generated {args.events:,} events in {n_files} GeoParquet files ({size:.1f} GB) "
            f"in {t_gen:.0f} s"
        )
    files = sorted(data.glob("*.parquet"))

    # built once per agreement version; the same built model is shipped to the workers
    t0 = time.perf_counter()
    models = {1: built_model(agreement)}
    t_build = time.perf_counter() - t0
    print(f"zone model structures built in {t_build:.1f} s")
    t0 = time.perf_counter()
    base = baseline(files, agreements, models)
    t_base = time.perf_counter() - t0
    base_rate = args.events / t_base
    print(
        f"single machine (evaluate_zones on {os.cpu_count()} threads, file by file): "
        f"{t_base:.1f} s, {base_rate:,.0f} events/s; zones "
        + ", ".join(f"{k} {int(base[f'zone_{k}'].sum()):,}" for k in ZONES)
    )

    rates: dict[int, float] = {}
    worker_peak = 0.0
    for w in workers:
        out, seconds, peak = on_cluster(data, w, agreements, models)
        assert len(out) == len(base), f"{w} workers: {len(out)} partitions vs {len(base)}"
        assert (out["n"].to_numpy() == base["n"].to_numpy()).all(), "row counts differ"
        same = out["digest"].to_numpy() == base["digest"].to_numpy()
        assert same.all(), f"{w} workers: {(~same).sum()} partitions differ from the baseline"
        rates[w] = args.events / seconds
        worker_peak = max(worker_peak, peak)
        print(
            f"dask, {w} worker(s) x 1 thread: {seconds:.1f} s, {rates[w]:,.0f} events/s, "
            f"worker peak RSS {peak:,.0f} MB; all {len(out)} partitions equal the baseline"
        )
    lo, hi = min(workers), max(workers)
    scaling = rates[hi] / rates[lo]
    if args.keep is False:
        shutil.rmtree(data, ignore_errors=True)
    print(
        f"dask_zones events={args.events} throughput_{lo}w={rates[lo]:,.0f} events/s "
        f"throughput_{hi}w={rates[hi]:,.0f} events/s baseline={base_rate:,.0f} events/s "
        f"peak_rss_worker={worker_peak:,.0f} MB peak_rss_client={peak_rss_mb():,.0f} MB "
        f"scaling_{hi}w_over_{lo}w={scaling:.2f} ratio_to_baseline={rates[hi] / base_rate:.2f} "
        f"cores={os.cpu_count()}"
    )


if __name__ == "__main__":
    main()
