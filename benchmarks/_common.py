"""Shared helpers for the benchmarks: timing, peak memory, synthetic inputs."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from pyproj import Geod

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def front_line(n_vertices: int = 5_000, length_km: float = 1_200.0, seed: int = 1) -> np.ndarray:
    """A wiggly line of ``n_vertices`` from Kupiansk south-west to the Dnipro mouth."""
    rng = np.random.default_rng(seed)
    geod = Geod(ellps="WGS84")
    lon, lat = 37.62, 49.71
    step = length_km * 1_000.0 / (n_vertices - 1)
    az = 200.0
    out = [(lon, lat)]
    for _ in range(n_vertices - 1):
        az += rng.normal(0, 8.0)
        az = 0.9 * az + 0.1 * 225.0
        lon, lat, _ = geod.fwd(lon, lat, az, step)
        out.append((lon, lat))
    return np.array(out)


def firms_csv(path: Path, rows: int, seed: int = 2) -> Path:
    """A FIRMS VIIRS CSV in the real layout with ``rows`` detections over Ukraine."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(44.5, 52.3, rows).round(5)
    lon = rng.uniform(22.3, 40.1, rows).round(5)
    days = rng.integers(0, 270, rows)
    date = (np.datetime64("2023-02-24") + days).astype(str)
    hhmm = np.char.zfill(rng.integers(0, 24, rows).astype(str), 2)
    mm = np.char.zfill(rng.integers(0, 60, rows).astype(str), 2)
    conf = rng.choice(np.array(["l", "n", "h"]), rows)
    with open(path, "w") as fh:
        fh.write(
            "latitude,longitude,brightness,scan,track,acq_date,acq_time,satellite,instrument,"
            "confidence,version,bright_t31,frp,daynight\n"
        )
        block = 200_000
        for s in range(0, rows, block):
            e = min(rows, s + block)
            lines = [
                f"{lat[i]},{lon[i]},330.5,0.5,0.4,{date[i]},{hhmm[i]}{mm[i]},N,VIIRS,{conf[i]},"
                f"2.0NRT,290.1,5.2,D"
                for i in range(s, e)
            ]
            fh.write("\n".join(lines) + "\n")
    return path
