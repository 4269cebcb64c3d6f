"""``ceasewatch fires …``: the satellite-fire model (baseline, classify, report).

A Typer sub-app; the main CLI mounts it with ``app.add_typer(fires_app, name="fires")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from ceasewatch.errors import CeasewatchError

app = typer.Typer(
    help="Satellite fires: which ones are the war's (baseline of normal activity, classify, "
    "report).",
    no_args_is_help=True,
)

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store location (DuckDB file or postgresql:// URL); env CEASEWATCH_STORE.",
        show_default=False,
    ),
]


@contextmanager
def _open(store: str | None) -> Iterator[Any]:
    from ceasewatch.settings import Settings
    from ceasewatch.store.open import open_store

    s = Settings()
    st = open_store(store or s.store)
    try:
        yield st
    finally:
        st.close()


def _fail(e: Exception) -> None:
    console.print(f"[bold red]error:[/] {e}")
    raise typer.Exit(code=1)


def _when(text: str, option: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(text.replace("Z", "+00:00"))
    except ValueError:
        _fail(CeasewatchError(f"{option} {text!r} is not an ISO 8601 date or time"))
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@app.command("baseline")
def baseline_cmd(
    until: Annotated[
        str, typer.Option("--until", help="End of normal times (ISO 8601, exclusive)")
    ],
    store: StoreOpt = None,
) -> None:
    """Fit normal fire activity per 0.1° cell and time of year on the stored detections."""
    from ceasewatch.store.fires import run_baseline

    ts = _when(until, "--until")
    try:
        with _open(store) as st, console.status("fitting the fire baseline…"):
            r = run_baseline(st, ts)
    except CeasewatchError as e:
        _fail(e)
    out.print(
        f"baseline until {r.until.date()}: {r.n_detections:,} detections "
        f"({r.n_pixel_days:,} burning pixel-days) in years {', '.join(map(str, r.years))}; "
        f"{r.rows:,} cell-bin rows stored in {r.seconds:.1f} s "
        f"({r.detections_per_s:,.0f} detections/s)"
    )


@app.command("classify")
def classify_cmd(
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="First time to classify (ISO 8601; default: the baseline's end)"
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Classify up to this time (exclusive)")
    ] = None,
    no_line: Annotated[
        bool, typer.Option("--no-line", help="Ignore the line of contact (no proximity prior)")
    ] = False,
    store: StoreOpt = None,
) -> None:
    """Give every detection after the baseline a war_probability and war_related."""
    from ceasewatch.store.fires import run_classify

    lo = _when(since, "--since") if since else None
    hi = _when(until, "--until") if until else None
    try:
        with _open(store) as st, console.status("classifying fires…"):
            r = run_classify(st, since=lo, until=hi, use_line=not no_line)
    except CeasewatchError as e:
        _fail(e)
    if r.classified == 0:
        out.print(f"no fire detections to classify from {r.since}")
        return
    out.print(
        f"classified {r.classified:,} detections from {r.since.date() if r.since else '?'}: "
        f"{r.war_related:,} war-related ({r.war_related / r.classified:.1%}); "
        f"proximity prior {'from the stored line of contact' if r.with_line else 'not used'}; "
        f"{r.seconds:.1f} s ({r.detections_per_s:,.0f} detections/s)"
    )
    table = Table("month", "detections", "war-related", "share")
    for m, (w, n) in sorted(r.by_month.items()):
        table.add_row(m, f"{n:,}", f"{w:,}", f"{w / n:.1%}")
    out.print(table)


@app.command("report")
def report_cmd(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write")] = Path(
        "fires-report"
    ),
    end: Annotated[
        str | None, typer.Option("--date", help="Last day YYYY-MM-DD (default: last classified)")
    ] = None,
    weeks: Annotated[int, typer.Option("--weeks", help="Weeks in the weekly table")] = 12,
    admin: Annotated[
        Path | None,
        typer.Option("--admin", help="Oblast (ADM1) GeoJSON for the per-oblast table"),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """War-related fires per week and per oblast, and the map of the last 7 days."""
    from ceasewatch.report.fires import build_fire_report, write_fire_report

    day = None
    if end is not None:
        try:
            day = date.fromisoformat(end)
        except ValueError:
            _fail(CeasewatchError(f"--date {end!r} is not YYYY-MM-DD"))
    try:
        with _open(store) as st:
            report = build_fire_report(st, end=day, weeks=weeks, admin_path=admin)
        paths = write_fire_report(report, output)
    except CeasewatchError as e:
        _fail(e)
    for k, p in paths.items():
        out.print(f"{k:>8}: {p}")
