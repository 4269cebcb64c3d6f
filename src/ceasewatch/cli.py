"""The ``ceasewatch`` command line: thin wrappers around library functions."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from ceasewatch.errors import CeasewatchError
from ceasewatch.settings import Settings

if TYPE_CHECKING:
    from ceasewatch.agreement.model import Agreement

app = typer.Typer(
    help="ceasewatch: monitor a ceasefire and the security guarantees that back it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
agreement_app = typer.Typer(help="Agreements as data: validate, load, derive from control maps.")
ingest_app = typer.Typer(help="Load source files into the store.")
quarantine_app = typer.Typer(help="Rows that could not be loaded, with line and reason.")
events_app = typer.Typer(help="Events (one source record each).")
incidents_app = typer.Typer(help="Incidents (events merged across sources).")
violations_app = typer.Typer(help="Violations of the agreement.")
report_app = typer.Typer(help="Reports.")
coverage_app = typer.Typer(help="How much was observed, per source, sector and day.")
app.add_typer(agreement_app, name="agreement")
app.add_typer(ingest_app, name="ingest")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(events_app, name="events")
app.add_typer(incidents_app, name="incidents")
app.add_typer(violations_app, name="violations")
app.add_typer(report_app, name="report")
app.add_typer(coverage_app, name="coverage")


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
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="ISO 8601 time: use only what the store knew then."),
]
FormatOpt = Annotated[str, typer.Option("-f", "--format", help="csv | geojson | gpkg | parquet")]
OutOpt = Annotated[Path, typer.Option("-o", "--output", help="File to write.")]


def _settings(store: str | None) -> Settings:
    s = Settings()
    if store:
        s = s.model_copy(update={"store": store})
    return s


@contextmanager
def _open(store: str | None) -> Iterator[Any]:
    from ceasewatch.store.open import open_store

    st = open_store(_settings(store).store)
    try:
        yield st
    finally:
        st.close()


def _as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _fail(CeasewatchError(f"--as-of {value!r} is not an ISO 8601 time"))
        raise
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _fail(e: Exception) -> None:
    console.print(f"[bold red]error:[/] {e}")
    raise typer.Exit(code=1)


# --- agreement -------------------------------------------------------------------------
@agreement_app.command("validate")
def agreement_validate(path: Path) -> None:
    """Check an agreement folder or YAML file; report every problem at once."""
    from ceasewatch.agreement.model import validate_agreement

    problems = validate_agreement(path)
    if not problems:
        out.print(f"[green]ok[/]: {path} is a valid agreement")
        return
    table = Table("file", "field", "problem", title=f"{len(problems)} problem(s) in {path}")
    for f, k, m in problems:
        table.add_row(f, k, m)
    out.print(table)
    raise typer.Exit(code=1)


@agreement_app.command("load")
def agreement_load(
    path: Path,
    store: StoreOpt = None,
    prepare: Annotated[
        bool,
        typer.Option(
            "--prepare/--no-prepare",
            help="Build the zone structures of fast evaluation now and keep them in the "
            "zone cache ($CEASEWATCH_CACHE_DIR; 'off' turns it off).",
        ),
    ] = True,
) -> None:
    """Store an agreement as a new version (amendments are new versions)."""
    from ceasewatch.agreement.store import load_agreement_into

    try:
        with _open(store) as st:
            version, agreement = load_agreement_into(st, path)
    except CeasewatchError as e:
        _fail(e)
    out.print(
        f"loaded agreement [bold]{agreement.name}[/] as version {version} "
        f"(effective {agreement.effective.isoformat()})"
    )
    if prepare:
        _prepare_zones(agreement)


def _prepare_zones(agreement: Agreement) -> None:
    """Build (or find) the agreement's fast zone structures in the zone cache; say which."""
    from ceasewatch.agreement import zone_cache
    from ceasewatch.agreement.geometry import ZoneModel

    if zone_cache.cache_dir() is None or agreement.line.is_empty:
        return
    model = ZoneModel(agreement)
    t0 = time.perf_counter()
    try:
        how = zone_cache.ensure(model)
    except ValueError as e:  # a line too detailed for the index: the exact method it is
        out.print(f"[yellow]zone structures not built[/]: {e}; evaluation uses the exact method")
        return
    path = zone_cache.path_of(model)
    if how == "built" and (path is None or not path.is_file()):
        out.print("[yellow]zone structures built but not cached[/] (see the warning above)")
        return
    verb = "built" if how == "built" else "found"
    out.print(f"zone structures {verb} in {time.perf_counter() - t0:.1f} s: {path}")


@agreement_app.command("list")
def agreement_list(store: StoreOpt = None) -> None:
    """Agreement versions in the store."""
    with _open(store) as st:
        frame = st.agreements()
    table = Table("version", "name", "effective", "loaded_at", "label")
    for r in frame.itertuples():
        table.add_row(
            str(r.version), r.name, str(r.effective), str(r.loaded_at), str(r.label or "")
        )
    out.print(table)


@agreement_app.command("from-control")
def agreement_from_control_cmd(
    control: Annotated[
        Path, typer.Argument(help="Control-area GeoJSON (e.g. a DeepState snapshot)")
    ],
    boundary: Annotated[Path, typer.Option("--boundary", help="Country GeoJSON (e.g. ADM2 units)")],
    effective: Annotated[str, typer.Option("--effective", help="ISO 8601 effective time")],
    parties: Annotated[str, typer.Option("--parties", help="FIRST,SECOND (second holds the area)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write")],
    zones: Annotated[str, typer.Option("--zones", help="Band widths in km")] = "15,50,70,140",
    name: Annotated[str | None, typer.Option("--name")] = None,
) -> None:
    """Write an agreement folder whose line of contact is the edge of a controlled area."""
    from ceasewatch.agreement.from_control import agreement_from_control, line_length_km
    from ceasewatch.agreement.model import load_agreement

    try:
        eff = datetime.fromisoformat(effective.replace("Z", "+00:00"))
        if eff.tzinfo is None:
            eff = eff.replace(tzinfo=UTC)
        codes = tuple(p.strip() for p in parties.split(","))
        if len(codes) != 2:
            msg = f"--parties expects two codes like UA,RU, got {parties!r}"
            raise CeasewatchError(msg)
        widths = [float(z) for z in zones.split(",")]
        path = agreement_from_control(
            control,
            boundary,
            effective=eff,
            parties=(codes[0], codes[1]),
            zones_km=widths,
            out_dir=output,
            name=name,
        )
        agreement = load_agreement(path)
    except (CeasewatchError, ValueError) as e:
        _fail(e)
    out.print(
        f"wrote {path} (line of contact {line_length_km(agreement.line):,.0f} km, "
        f"{len(agreement.zones)} zones)"
    )


# --- ingest ----------------------------------------------------------------------------
def _ingest(source_name: str, files: list[Path], store: str | None) -> None:
    from ceasewatch.ingest.base import get_source

    _ingest_with(get_source(source_name), files, store)


def _ingest_with(src: Any, files: list[Path], store: str | None) -> None:
    from ceasewatch.ingest.pipeline import ingest_file

    bad = False
    with _open(store) as st:
        for f in files:
            with Progress(
                TextColumn(f"[bold]{src.name}[/] {f.name}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
                disable=not console.is_terminal,
            ) as progress:
                task = progress.add_task(
                    "ingest", total=max(f.stat().st_size, 1) if f.exists() else 1
                )

                def hook(done: int, _total: int, t: Any = task) -> None:
                    progress.update(t, completed=done)

                try:
                    r = ingest_file(
                        st,
                        src,
                        f,
                        progress=hook,
                    )
                except CeasewatchError as e:
                    console.print(f"[bold red]error:[/] {e}")
                    bad = True
                    continue
            if r.skipped_file:
                out.print(f"{f.name}: already ingested as batch {r.batch_id}; nothing added")
                continue
            out.print(
                f"{f.name}: batch {r.batch_id}: {r.rows_read:,} rows read, {r.loaded:,} loaded, "
                f"{r.new_version:,} new versions, {r.unchanged:,} unchanged, "
                f"{r.quarantined:,} quarantined ({r.rows_per_s:,.0f} rows/s)"
            )
            for reason, n in sorted(r.reasons.items(), key=lambda kv: -kv[1]):
                out.print(f"  quarantined {n:,}: {reason}")
    if bad:
        raise typer.Exit(code=1)


FilesArg = Annotated[list[Path], typer.Argument(help="Files to load", exists=False)]


@ingest_app.command("acled")
def ingest_acled(files: FilesArg, store: StoreOpt = None) -> None:
    """ACLED export CSV (event_id_cnty, event_date, event_type, …)."""
    _ingest("acled", files, store)


@ingest_app.command("firms")
def ingest_firms(files: FilesArg, store: StoreOpt = None) -> None:
    """NASA FIRMS VIIRS/MODIS CSV (latitude, longitude, acq_date, acq_time, …)."""
    _ingest("firms", files, store)


@ingest_app.command("field-report")
def ingest_field_report(files: FilesArg, store: StoreOpt = None) -> None:
    """Monitors' field reports (JSON, JSON Lines or CSV; docs/field-reports.md)."""
    _ingest("field_report", files, store)


@ingest_app.command("ucdp")
def ingest_ucdp(files: FilesArg, store: StoreOpt = None) -> None:
    """UCDP GED CSV (where_prec/date_prec mapped, best/low/high deaths kept)."""
    _ingest("ucdp", files, store)


@ingest_app.command("eor")
def ingest_eor(files: FilesArg, store: StoreOpt = None) -> None:
    """Eyes on Russia (CIR) incident CSV."""
    _ingest("eor", files, store)


@ingest_app.command("claims")
def ingest_claims(files: FilesArg, store: StoreOpt = None) -> None:
    """A party's claims (CSV or JSON; docs/claims.md): a graded source, kept side by side."""
    _ingest("claims", files, store)


@ingest_app.command("table")
def ingest_table(
    files: FilesArg,
    mapping: Annotated[Path, typer.Option("--mapping", help="YAML mapping to canonical columns")],
    store: StoreOpt = None,
) -> None:
    """Any CSV, GeoJSON, GeoPackage or GeoParquet with a column mapping (docs/table-mapping.md)."""
    from ceasewatch.ingest.table import table_source

    try:
        source = table_source(mapping)
    except CeasewatchError as e:
        _fail(e)
    _ingest_with(source, files, store)


# --- quarantine, batches -----------------------------------------------------------------
@quarantine_app.command("list")
def quarantine_list(
    store: StoreOpt = None,
    fmt: Annotated[str, typer.Option("-f", "--format", help="table | csv")] = "table",
    batch: Annotated[int | None, typer.Option("--batch", help="Only this batch")] = None,
) -> None:
    """One row per quarantined record: batch, source, file, line, reason."""
    with _open(store) as st:
        q = st.quarantine()
    if batch is not None:
        q = q[q["batch_id"] == batch]
    cols = ["batch_id", "source", "file_name", "line_no", "reason", "raw"]
    if fmt == "csv":
        q[cols].to_csv(sys.stdout, index=False)
        return
    if fmt != "table":
        _fail(CeasewatchError(f"--format {fmt!r}: choose table or csv"))
    table = Table(
        "batch", "source", "file", "line", "reason", title=f"{len(q)} quarantined record(s)"
    )
    for r in q.itertuples():
        table.add_row(str(r.batch_id), r.source, str(r.file_name), str(r.line_no), r.reason)
    out.print(table)


@app.command("batches")
def batches_list(store: StoreOpt = None) -> None:
    """Every loaded file: source, hash, time, counts."""
    with _open(store) as st:
        b = st.batches()
    table = Table(
        "batch",
        "source",
        "file",
        "sha256",
        "started",
        "loaded",
        "new ver.",
        "unchanged",
        "quarantined",
    )
    for r in b.itertuples():
        table.add_row(
            str(r.batch_id),
            r.source,
            str(r.file_name),
            str(r.file_sha256)[:12],
            str(r.started_at)[:19],
            str(r.rows_loaded),
            str(r.rows_new_version),
            str(r.rows_unchanged),
            str(r.rows_quarantined),
        )
    out.print(table)


# --- evaluate ----------------------------------------------------------------------------
@app.command("evaluate")
def evaluate_cmd(
    store: StoreOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Re-evaluate every event")] = False,
    as_of: AsOfOpt = None,
    engine: Annotated[
        str, typer.Option("--engine", help="local (this process) | dask (a Dask cluster)")
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Dask scheduler address (tcp://host:8786); default: a local cluster "
            "with one worker per core",
        ),
    ] = None,
    input_dir: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="With --engine dask: evaluate a directory of event GeoParquet files "
            "instead of the store (needs --out and --agreement)",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Directory for the results of --input")
    ] = None,
    agreement_path: Annotated[
        Path | None,
        typer.Option("--agreement", help="Agreement folder or YAML file, for --input"),
    ] = None,
    window_days: Annotated[
        float,
        typer.Option("--window-days", help="Dask: days of events per corroboration window"),
    ] = 28.0,
) -> None:
    """Corroborate events into incidents, locate them in zones, apply the rules.

    With --as-of, evaluate in memory what the store knew then (nothing is stored).
    With --engine dask, the work runs on a Dask cluster (same results, same writes);
    with --input DIR --out DIR --agreement PATH, on a directory of GeoParquet events
    without a store (see docs/scale-out.md)."""
    from ceasewatch.evaluate.run import evaluate_as_of, evaluate_store

    if engine not in ("local", "dask"):
        _fail(CeasewatchError(f"--engine {engine!r} is not known; choose local or dask"))
    if engine == "local" and (scheduler or input_dir or out_dir):
        _fail(CeasewatchError("--scheduler, --input and --out need --engine dask"))
    if window_days <= 0:
        _fail(CeasewatchError(f"--window-days {window_days} must be positive"))
    if engine == "dask":
        _evaluate_dask(
            store, full, as_of, scheduler, input_dir, out_dir, agreement_path, window_days
        )
        return
    when = _as_of(as_of)
    if when is not None:
        try:
            with _open(store) as st:
                frames = evaluate_as_of(st, when)
        except CeasewatchError as e:
            _fail(e)
        out.print(
            f"as of {when.isoformat()}: {len(frames.event_zones):,} events → "
            f"{len(frames.incidents):,} incidents, {len(frames.violations):,} violations "
            "(not stored; use the exports or `report daily` with --as-of)"
        )
        return
    try:
        with _open(store) as st, console.status("evaluating…"):
            r = evaluate_store(st, full=full)
    except CeasewatchError as e:
        _fail(e)
    _print_evaluation(r)


def _print_evaluation(r: Any, extra: str = "") -> None:
    if r.events_evaluated == 0:
        out.print(f"nothing to evaluate ({r.events_total:,} events, all up to date)")
        return
    out.print(
        f"evaluated {r.events_evaluated:,} of {r.events_total:,} events "
        f"({r.events_per_s:,.0f} events/s); window {r.events_in_window:,} events → "
        f"{r.incidents:,} incidents, {r.violations:,} violations{extra}"
    )


def _evaluate_dask(
    store: str | None,
    full: bool,
    as_of: str | None,
    scheduler: str | None,
    input_dir: Path | None,
    out_dir: Path | None,
    agreement_path: Path | None,
    window_days: float,
) -> None:
    from ceasewatch.evaluate import dask_engine

    if as_of is not None:
        _fail(CeasewatchError("--as-of is evaluated in memory: use --engine local"))
    if (input_dir is None) != (out_dir is None):
        _fail(CeasewatchError("--input and --out go together"))
    try:
        if input_dir is not None and out_dir is not None:
            from ceasewatch.agreement.model import load_agreement

            if agreement_path is None:
                _fail(CeasewatchError("--input needs --agreement PATH (the agreement to apply)"))
                return
            import dataclasses

            agreement = dataclasses.replace(load_agreement(agreement_path), version=1)
            with dask_engine.dask_client(scheduler) as client, console.status("evaluating…"):
                d = dask_engine.evaluate_directory(
                    client, input_dir, out_dir, {1: agreement}, window_days=window_days
                )
            rate = d.events / d.seconds if d.seconds > 0 else float("nan")
            out.print(
                f"evaluated {d.events:,} events ({rate:,.0f} events/s) → {d.incidents:,} "
                f"incidents, {d.violations:,} violations; {d.stitch.windows} windows; "
                f"written to {out_dir}"
            )
            return
        stitch = dask_engine.StitchReport()
        with (
            _open(store) as st,
            dask_engine.dask_client(scheduler) as client,
            console.status("evaluating on Dask…"),
        ):
            r = dask_engine.evaluate_store_dask(
                st, client, full=full, window_days=window_days, report=stitch
            )
    except CeasewatchError as e:
        _fail(e)
        return
    _print_evaluation(r, f" (dask, {stitch.windows} windows)")


# --- exports -----------------------------------------------------------------------------
def _export(kind: str, fmt: str, output: Path, store: str | None, as_of: str | None = None) -> None:
    from ceasewatch.report import export

    when = _as_of(as_of)
    try:
        with _open(store) as st:
            frame = {
                "events": export.events_table,
                "incidents": export.incidents_table,
                "violations": export.violations_table,
                "coverage": export.coverage_from_store,
            }[kind](st, as_of=when)
        export.write_table(frame, output, fmt, layer=kind)
    except CeasewatchError as e:
        _fail(e)
    out.print(f"wrote {len(frame):,} {kind} to {output}")


@events_app.command("export")
def events_export(
    fmt: FormatOpt = "csv",
    output: OutOpt = Path("events.csv"),
    store: StoreOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Events with their incident, distance to the line, side and zone."""
    _export("events", fmt, output, store, as_of)


@incidents_app.command("export")
def incidents_export(
    fmt: FormatOpt = "csv",
    output: OutOpt = Path("incidents.csv"),
    store: StoreOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Incidents with their sources, confidence and zone."""
    _export("incidents", fmt, output, store, as_of)


@violations_app.command("export")
def violations_export(
    fmt: FormatOpt = "csv",
    output: OutOpt = Path("violations.csv"),
    store: StoreOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Violations with rule, zone, side, severity, confidence and evidence."""
    _export("violations", fmt, output, store, as_of)


@coverage_app.command("export")
def coverage_export(
    fmt: Annotated[str, typer.Option("-f", "--format", help="csv | parquet")] = "csv",
    output: OutOpt = Path("coverage.csv"),
    store: StoreOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Records received and hours observed per source, sector and report day."""
    _export("coverage", fmt, output, store, as_of)


# --- report ------------------------------------------------------------------------------
@report_app.command("daily")
def report_daily(
    day: Annotated[str, typer.Option("--date", help="Report day YYYY-MM-DD")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write")] = Path(
        "report"
    ),
    store: StoreOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """The daily report: report.html, report.md, map.png, chart.png.

    With --as-of, exactly what was known then (the same bytes every time)."""
    from ceasewatch.report.run import write_daily_report_from_store

    try:
        d = date.fromisoformat(day)
    except ValueError:
        _fail(CeasewatchError(f"--date {day!r} is not YYYY-MM-DD"))
    try:
        with _open(store) as st:
            paths = write_daily_report_from_store(st, d, output, as_of=_as_of(as_of))
    except CeasewatchError as e:
        _fail(e)
    for k, p in paths.items():
        out.print(f"{k:>5}: {p}")


# --- web service, users, audit --------------------------------------------------------
user_app = typer.Typer(help="Users of the web service and their API tokens.")
app.add_typer(user_app, name="user")


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port")] = 8000,
    store: StoreOpt = None,
) -> None:
    """The web service: API (OpenAPI at /docs) and the map dashboard at /."""
    from ceasewatch.serve.app import run
    from ceasewatch.serve.settings import ServeSettings

    update: dict[str, Any] = {"host": host, "port": port}
    if store:
        update["store"] = store
    from ceasewatch.store.postgis import redact

    where = redact(str(update.get("store") or ServeSettings().store))
    out.print(f"serving {where} on http://{host}:{port}/")
    run(ServeSettings().model_copy(update=update))


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[str, typer.Option("--role", help="observer | monitor | analyst | admin")],
    store: StoreOpt = None,
) -> None:
    """Add a user with a role (no token yet: `ceasewatch user token NAME`)."""
    from ceasewatch.store.auth import add_user

    try:
        with _open(store) as st:
            user = add_user(st, name, role, actor=_actor())
    except CeasewatchError as e:
        _fail(e)
    out.print(f"added user {user.name} ({user.role})")


@user_app.command("token")
def user_token(name: str, store: StoreOpt = None) -> None:
    """Issue an API token for a user; it is shown once, and stored only as a hash."""
    from ceasewatch.store.auth import issue_token

    try:
        with _open(store) as st:
            t = issue_token(st, name, actor=_actor())
    except CeasewatchError as e:
        _fail(e)
    out.print(f"token id {t.token_id} for {name} (shown once, keep it safe):")
    print(t.token)


@user_app.command("revoke")
def user_revoke(token_id: str, store: StoreOpt = None) -> None:
    """Revoke an API token at once."""
    from ceasewatch.store.auth import revoke_token

    try:
        with _open(store) as st:
            info = revoke_token(st, token_id, actor=_actor())
    except CeasewatchError as e:
        _fail(e)
    out.print(f"revoked token {info.token_id}")


@app.command("verify")
def verify_cmd(store: StoreOpt = None) -> None:
    """Recompute the audit log's hash chain; name the first broken entry."""
    from ceasewatch.store.audit import chain_head, verify_chain

    with _open(store) as st:
        check = verify_chain(st)
        head = chain_head(st)
    if not check.ok:
        console.print(
            f"[bold red]audit chain broken[/] at entry {check.first_bad_seq}: {check.message}"
        )
        raise typer.Exit(code=1)
    if head is None:
        out.print("audit log is empty")
    else:
        out.print(f"audit chain intact: {head[0]:,} entries, head {head[1]}")


# --- demo --------------------------------------------------------------------------------
@app.command("demo")
def demo_cmd(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for inputs and outputs")] = Path(
        "demo-output"
    ),
    store: StoreOpt = None,
    seed: Annotated[int, typer.Option("--seed")] = 7,
) -> None:
    """Generate a realistic scenario, ingest it, evaluate, and write the report and map."""
    from ceasewatch.demo import run_demo

    store_path = _settings(store).store if store else str(out_dir / "ceasewatch.duckdb")
    try:
        summary = run_demo(out_dir, store=store_path, seed=seed, echo=out.print)
    except CeasewatchError as e:
        _fail(e)
    out.print(summary)


def _mount_components() -> None:
    """Sub-apps of the other components (each lives beside its library code)."""
    from ceasewatch.alerts.cli import (
        alerts_app,
        clocks_app,
        report_daily_pdf_cmd,
        report_weekly_cmd,
        watch_cmd,
    )
    from ceasewatch.fetch_cli import app as fetch_app
    from ceasewatch.fires_cli import app as fires_app
    from ceasewatch.guarantee.cli import app as guarantee_app
    from ceasewatch.guarantee.cli import register_ingest_commands, register_report_command
    from ceasewatch.store.cli import register as register_store

    app.add_typer(fetch_app, name="fetch", help="Fetch from the ACLED and FIRMS APIs.")
    app.add_typer(fires_app, name="fires", help="Satellite fires: which ones are the war's.")
    app.add_typer(
        guarantee_app, name="guarantee", help="The guarantee ledger: commitments, scorecard."
    )
    register_ingest_commands(ingest_app)
    register_report_command(report_app)
    register_store(app)
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(clocks_app, name="clocks")
    app.command("watch")(watch_cmd)
    report_app.command("weekly")(report_weekly_cmd)
    report_app.command("daily-pdf")(report_daily_pdf_cmd)


_mount_components()


def main() -> None:
    try:
        app()
    except CeasewatchError as e:
        console.print(f"[bold red]error:[/] {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
