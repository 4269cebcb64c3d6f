"""``ceasewatch fetch``: download ACLED events and NASA FIRMS detections.

Thin wrappers around :func:`ceasewatch.ingest.fetch.fetch_acled` and
:func:`~ceasewatch.ingest.fetch.fetch_firms`; credentials come from the environment
(``CEASEWATCH_ACLED_*``, ``CEASEWATCH_FIRMS_MAP_KEY``; see ``docs/fetch.md``) and are never
printed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from ceasewatch.errors import CeasewatchError

if TYPE_CHECKING:
    from ceasewatch.ingest.fetch import FetchResult, FetchSettings

app = typer.Typer(
    help="Download source data from the ACLED and NASA FIRMS APIs (keys from the environment).",
    no_args_is_help=True,
)

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

_DATE = ["%Y-%m-%d"]
OutputOpt = Annotated[
    Path | None,
    typer.Option("-o", "--output", help="CSV file to write.", show_default=False),
]
IngestOpt = Annotated[
    bool, typer.Option("--ingest", help="Load the fetched file into the store afterwards.")
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store for --ingest (DuckDB file or postgresql:// URL; env CEASEWATCH_STORE).",
        show_default=False,
    ),
]
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Neither read nor write the HTTP response cache.")
]


def _fail(e: Exception) -> NoReturn:
    console.print(f"[bold red]error:[/] {e}", markup=True, highlight=False)
    raise typer.Exit(code=1)


def _print(text: str) -> None:
    # URLs and messages are printed as they are (no rich markup: a "[" is not a style)
    out.print(text, markup=False, highlight=False)


def _settings() -> FetchSettings:
    from ceasewatch.ingest.fetch import FetchSettings

    try:
        return FetchSettings()
    except ValidationError as e:
        # pydantic never echoes a SecretStr's value; only plain settings can be invalid
        _fail(CeasewatchError(f"invalid CEASEWATCH_* setting: {e}"))


def _report(result: FetchResult) -> None:
    for i, req in enumerate(result.requests, 1):
        origin = "cache" if req.from_cache else "network"
        _print(f"  request {i}: {req.url} -> {req.rows:,} row(s) ({origin})")
    _print(
        f"{result.source}: {result.rows:,} row(s) in {result.pages} request(s) "
        f"({result.from_network} from the network, {result.from_cache} from the cache; "
        f"auth: {result.auth}; {result.seconds:.1f} s) -> {result.path}"
    )


def _ingest(source: str, path: Path, store: str | None) -> None:
    from ceasewatch.ingest.base import get_source
    from ceasewatch.ingest.pipeline import ingest_file
    from ceasewatch.settings import Settings
    from ceasewatch.store.open import open_store

    st = open_store(store or Settings().store)
    try:
        r = ingest_file(st, get_source(source), path)
    finally:
        st.close()
    if r.skipped_file:
        _print(f"{path.name}: already ingested as batch {r.batch_id}; nothing added")
        return
    _print(
        f"{path.name}: batch {r.batch_id}: {r.rows_read:,} rows read, {r.loaded:,} loaded, "
        f"{r.new_version:,} new versions, {r.unchanged:,} unchanged, "
        f"{r.quarantined:,} quarantined"
    )
    for reason, n in sorted(r.reasons.items(), key=lambda kv: -kv[1]):
        _print(f"  quarantined {n:,}: {reason}")


@app.command("acled")
def acled(
    since: Annotated[
        datetime, typer.Option("--since", formats=_DATE, help="First event_date (yyyy-mm-dd).")
    ],
    until: Annotated[
        datetime | None,
        typer.Option(
            "--until", formats=_DATE, help="Last event_date (yyyy-mm-dd; default today, UTC)."
        ),
    ] = None,
    country: Annotated[
        str | None, typer.Option("--country", help="ACLED country name, e.g. Ukraine.")
    ] = None,
    bbox: Annotated[
        str | None,
        typer.Option("--bbox", help="west,south,east,north in degrees (inclusive)."),
    ] = None,
    page_size: Annotated[int, typer.Option("--page-size", help="Rows per request.")] = 5000,
    auth: Annotated[
        str, typer.Option("--auth", help="auto | oauth | key (legacy key + e-mail).")
    ] = "auto",
    output: OutputOpt = None,
    ingest: IngestOpt = False,
    store: StoreOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """ACLED events by date range and country or bounding box, as one ACLED export CSV."""
    from ceasewatch.ingest.fetch import fetch_acled

    d0 = since.date()
    d1 = until.date() if until is not None else datetime.now(UTC).date()
    path = output or Path(f"acled_{d0.isoformat()}_{d1.isoformat()}.csv")
    settings = _settings()
    try:
        result = fetch_acled(
            settings,
            country=country,
            bbox=bbox,
            since=d0,
            until=d1,
            out_path=path,
            page_size=page_size,
            auth=auth,  # type: ignore[arg-type]  # checked by fetch_acled
            use_cache=not no_cache,
        )
        _report(result)
        if ingest:
            _ingest("acled", path, store)
    except CeasewatchError as e:
        _fail(e)


@app.command("firms")
def firms(
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="VIIRS_SNPP_NRT, VIIRS_NOAA20_NRT, VIIRS_NOAA21_NRT, MODIS_NRT, LANDSAT_NRT, "
            "VIIRS_SNPP_SP, VIIRS_NOAA20_SP, MODIS_SP.",
        ),
    ] = "VIIRS_SNPP_NRT",
    area: Annotated[
        str, typer.Option("--area", help="west,south,east,north in degrees, or world.")
    ] = "22,44,41,53",
    days: Annotated[
        int, typer.Option("--days", help="Days to fetch; more than 10 are split into requests.")
    ] = 1,
    date: Annotated[
        datetime | None,
        typer.Option(
            "--date", formats=_DATE, help="First day (yyyy-mm-dd; default the most recent days)."
        ),
    ] = None,
    output: OutputOpt = None,
    ingest: IngestOpt = False,
    store: StoreOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """NASA FIRMS fire detections of an area (area API), as one FIRMS CSV."""
    from ceasewatch.ingest.fetch import fetch_firms

    day = date.date() if date is not None else None
    when = day.isoformat() if day is not None else "recent"
    path = output or Path(f"firms_{source.upper()}_{when}_{days}d.csv")
    settings = _settings()
    try:
        result = fetch_firms(
            settings,
            source=source,
            area=area,
            days=days,
            date=day,
            out_path=path,
            use_cache=not no_cache,
        )
        _report(result)
        if ingest:
            _ingest("firms", path, store)
    except CeasewatchError as e:
        _fail(e)
