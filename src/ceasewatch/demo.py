"""``ceasewatch demo``: a realistic scenario end to end, with no external file.

It generates the inputs in the real ACLED and FIRMS CSV layouts and as field reports (with
a few malformed rows), ingests them through the same importers as real files, evaluates,
exports, and writes the daily report and map of the scenario's last day.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ceasewatch.agreement.store import load_agreement_into
from ceasewatch.demo_data import generate_demo_inputs
from ceasewatch.evaluate.run import evaluate_store
from ceasewatch.guarantee.demo import (
    demo_air_alerts_csv,
    demo_air_attacks_csv,
    demo_ledger,
    load_demo_ledger,
)
from ceasewatch.guarantee.ingest import ingest_air_alerts, ingest_air_attacks
from ceasewatch.ingest.base import get_source
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.report import export
from ceasewatch.report.guarantees import report as guarantee_report
from ceasewatch.report.run import write_daily_report_from_store
from ceasewatch.store.open import open_store


def run_demo(
    out_dir: Path, *, store: str, seed: int = 7, echo: Callable[[str], None] = print
) -> str:
    """Run the whole demo into ``out_dir``; returns a summary of where things are."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store_path = Path(store)
    # the demo owns its store: start from scratch so that a re-run gives the same result
    for p in (store_path, store_path.with_suffix(store_path.suffix + ".wal")):
        if p.exists():
            p.unlink()
    t0 = time.perf_counter()
    inputs = generate_demo_inputs(out_dir / "inputs", seed=seed)
    echo(f"generated scenario {inputs.start} → {inputs.end} in {out_dir / 'inputs'}")
    st = open_store(store_path)
    try:
        version, agreement = load_agreement_into(st, inputs.agreement_dir)
        echo(
            f"agreement v{version}: {agreement.name}, "
            f"effective {agreement.effective:%Y-%m-%d %H:%MZ}"
        )
        rows = 0
        ingest_s = 0.0
        for source, path in (
            ("acled", inputs.acled_csv),
            ("firms", inputs.firms_csv),
            ("field_report", inputs.field_reports_json),
        ):
            r = ingest_file(st, get_source(source), path)
            rows += r.rows_read
            ingest_s += r.seconds
            echo(
                f"ingest {source:<12} {path.name}: {r.loaded:,} loaded, "
                f"{r.quarantined:,} quarantined"
                + (f" ({'; '.join(f'{n} {k}' for k, n in r.reasons.items())})" if r.reasons else "")
            )
        # the other guarantee components: a demo ledger and air attacks/alerts in the real
        # layouts, through the same importers as real files
        guarantee_dir = out_dir / "inputs" / "guarantees"
        ledger = demo_ledger(guarantee_dir, seed, start=inputs.start)
        load_demo_ledger(st, ledger)
        attacks = demo_air_attacks_csv(guarantee_dir, seed=seed, start=inputs.start, end=inputs.end)
        alerts = demo_air_alerts_csv(guarantee_dir, seed=seed, start=inputs.start, end=inputs.end)
        ra = ingest_air_attacks(st, attacks)
        rb = ingest_air_alerts(st, alerts)
        echo(f"guarantee ledger loaded; air attacks {ra.loaded:,} rows, alerts {rb.loaded:,} rows")
        ev = evaluate_store(st)
        echo(
            f"evaluate: {ev.events_evaluated:,} events → {ev.incidents:,} incidents, "
            f"{ev.violations:,} violations ({ev.events_per_s:,.0f} events/s)"
        )
        exports = out_dir / "exports"
        for kind, table in (
            ("events", export.events_table(st)),
            ("incidents", export.incidents_table(st)),
            ("violations", export.violations_table(st)),
        ):
            export.write_table(table, exports / f"{kind}.csv", "csv", layer=kind)
        export.write_table(
            export.violations_table(st),
            exports / "violations.geojson",
            "geojson",
            layer="violations",
        )
        paths = write_daily_report_from_store(st, inputs.end, out_dir / "report")
        gpaths = guarantee_report(st, out_dir / "guarantees", agreement=agreement, as_of=inputs.end)
        n_violations = len(st.violations())
    finally:
        st.close()
    elapsed = time.perf_counter() - t0
    rate = rows / ingest_s if ingest_s > 0 else float("nan")
    lines = [
        "",
        f"demo finished in {elapsed:.1f} s ({rows:,} rows ingested at {rate:,.0f} rows/s; "
        f"{n_violations:,} violations)",
        f"report:  {paths['html'].resolve()}",
        f"         {paths['md'].resolve()}",
        f"map:     {paths['map'].resolve()}",
        f"chart:   {paths['chart'].resolve()}",
        f"guarantee scorecard: {gpaths['html'].resolve()}",
        f"exports: {exports.resolve()}",
        f"store:   {store_path.resolve()}",
        "",
        "dashboard: ceasewatch serve --store " + str(store_path) + "  → http://127.0.0.1:8000/",
        "  (add a user first: ceasewatch user add NAME --role analyst --store "
        + str(store_path)
        + "; ceasewatch user token NAME --store "
        + str(store_path)
        + ")",
        "",
        "next: open the report in a browser, or explore the store:",
        f"  ceasewatch --help; ceasewatch violations export -f gpkg -o v.gpkg --store {store_path}",
        f"  ceasewatch report daily --date {inputs.end - pd.Timedelta(days=1):%Y-%m-%d} "
        f"-o other-day --store {store_path}",
    ]
    return "\n".join(lines)
