"""Ingest throughput: FIRMS CSV into the store vs the analyst's pandas read.

Baseline (same run, same file): ``pandas.read_csv`` + ``to_datetime`` (no validation, no
store). ceasewatch: ``ingest_file`` (streamed, validated, quarantine, raw kept, stored).
Last line: throughput, peak memory and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
from _common import firms_csv, peak_rss_mb, timed

from ceasewatch.ingest.base import get_source
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.store.duckdb import open_store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=200_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = firms_csv(Path(tmp) / "firms.csv", args.rows)

        def baseline() -> int:
            df = pd.read_csv(path)
            df["t"] = pd.to_datetime(
                df["acq_date"] + " " + df["acq_time"].astype(str).str.zfill(4), utc=True
            )
            return len(df)

        n_base, t_base = timed(baseline)
        store = open_store(Path(tmp) / "b.duckdb")
        result, t_cw = timed(lambda: ingest_file(store, get_source("firms"), path))
        assert result.loaded == n_base == args.rows, (result.loaded, n_base)
        assert len(store.events(columns=["event_id"])) == args.rows
        store.close()
    print(f"baseline pandas.read_csv: {n_base / t_base:,.0f} rows/s ({t_base:.2f} s)")
    print(f"ceasewatch ingest firms:  {args.rows / t_cw:,.0f} rows/s ({t_cw:.2f} s)")
    print(
        f"ingest firms rows={args.rows} throughput={args.rows / t_cw:,.0f} rows/s "
        f"peak_rss={peak_rss_mb():,.0f} MB ratio_to_baseline={t_base / t_cw:.2f}"
    )


if __name__ == "__main__":
    main()
