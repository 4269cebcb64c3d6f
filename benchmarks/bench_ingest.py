"""Ingest throughput: FIRMS CSV into the store vs bare CSV readers on the same file.

Baselines (same run, same file, no validation, no store):

- ``pandas.read_csv`` + ``to_datetime`` of the overpass time (what an analyst writes);
- ``pyarrow.csv.read_csv`` alone (multithreaded parse, the reader's speed limit).

ceasewatch, parse + validate: the FIRMS reader and normaliser alone (every row to a
canonical event or a quarantine row, raw record built), no store.

ceasewatch: ``ingest_file`` into a DuckDB store file (streamed in blocks, every row
validated, bad rows quarantined with their line, raw record and content hash kept,
versioned events stored). The rows loaded must equal the rows the baselines read, and the
stored coordinates must equal pandas' parse. Wall and CPU seconds are printed for each:
the machine is shared, so the ratios (same run) are the figures to compare.
Last line: throughput, peak memory and the ratios to both baselines.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
from _common import firms_csv, peak_rss_mb

from ceasewatch.ingest.base import get_source
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.store.duckdb import open_store


def clocked(fn):  # type: ignore[no-untyped-def]
    """(result, wall seconds, CPU seconds of this process)."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=200_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = firms_csv(Path(tmp) / "firms.csv", args.rows)
        mb = path.stat().st_size / 1e6

        def pandas_baseline() -> pd.DataFrame:
            df = pd.read_csv(path)
            df["t"] = pd.to_datetime(
                df["acq_date"] + " " + df["acq_time"].astype(str).str.zfill(4), utc=True
            )
            return df

        def arrow_baseline() -> int:
            return pacsv.read_csv(path).num_rows

        def parse_validate() -> tuple[int, int]:
            # the reader and the normaliser without the store: rows to canonical events
            # and quarantine rows, as ingest_file does per chunk
            source = get_source("firms")
            events = quarantined = 0
            for table, bad in source.read_tables(path):
                ev, q = source.normalize_table(table)
                events += ev.num_rows
                quarantined += len(q) + len(bad)
            return events, quarantined

        store = open_store(Path(tmp) / "b.duckdb")
        df, t_pd, c_pd = clocked(pandas_baseline)
        n_pa, t_pa, c_pa = clocked(arrow_baseline)
        (n_pv, q_pv), t_pv, c_pv = clocked(parse_validate)
        assert (n_pv, q_pv) == (args.rows, 0), (n_pv, q_pv)
        result, t_cw, c_cw = clocked(lambda: ingest_file(store, get_source("firms"), path))
        n_base = len(df)
        assert result.loaded == n_base == n_pa == args.rows, (result.loaded, n_base, n_pa)
        assert result.quarantined == 0, result.reasons
        stored = store.events(columns=["line_no", "lat", "lon", "occurred_at"])
        assert len(stored) == args.rows
        stored = stored.sort_values("line_no")
        # the same values as pandas read (row i of the frame is line i + 2)
        assert (stored["line_no"].to_numpy() == np.arange(2, args.rows + 2)).all()
        # (pandas' default float parser may be one ulp off the correctly rounded value)
        assert np.abs(stored["lat"].to_numpy() - df["latitude"].to_numpy()).max() < 1e-9
        assert np.abs(stored["lon"].to_numpy() - df["longitude"].to_numpy()).max() < 1e-9
        minutes = "datetime64[m]"
        assert (
            stored["occurred_at"].values.astype(minutes) == df["t"].values.astype(minutes)
        ).all()
        store.close()
    rate = args.rows / t_cw
    print(f"file: {args.rows:,} FIRMS rows, {mb:,.0f} MB")
    print(f"baseline pandas.read_csv+to_datetime: {n_base / t_pd:>12,.0f} rows/s "
          f"({t_pd:.2f} s wall, {c_pd:.2f} s CPU)")  # fmt: skip
    print(f"baseline pyarrow.csv.read_csv:        {n_pa / t_pa:>12,.0f} rows/s "
          f"({t_pa:.2f} s wall, {c_pa:.2f} s CPU)")  # fmt: skip
    print(f"ceasewatch parse + validate (no store): {n_pv / t_pv:>10,.0f} rows/s "
          f"({t_pv:.2f} s wall, {c_pv:.2f} s CPU)")  # fmt: skip
    print(f"ceasewatch ingest firms (stored):     {rate:>12,.0f} rows/s "
          f"({t_cw:.2f} s wall, {c_cw:.2f} s CPU)")  # fmt: skip
    print(
        f"ingest firms rows={args.rows} throughput={rate:,.0f} rows/s "
        f"parse_validate={n_pv / t_pv:,.0f} rows/s "
        f"peak_rss={peak_rss_mb():,.0f} MB ratio_to_baseline={t_pd / t_cw:.2f} "
        f"ratio_to_pyarrow={t_pa / t_cw:.2f}"
    )


if __name__ == "__main__":
    main()
