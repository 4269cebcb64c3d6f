"""``ceasewatch guarantee ...``: the working group's ledger from the command line.

Thin wrappers: each command parses options, calls one library function, prints the
result. The main CLI mounts :data:`app` as ``ceasewatch guarantee`` and adds the ingest and
report commands with :func:`register_ingest_commands` and :func:`register_report_command`.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ceasewatch.errors import CeasewatchError
from ceasewatch.guarantee import schema as gs
from ceasewatch.ingest.pipeline import BatchResult
from ceasewatch.settings import Settings

app = typer.Typer(
    help="The guarantee ledger: guarantors, commitments, contingents, zones, meetings.",
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
ActorOpt = Annotated[
    str | None,
    typer.Option(
        "--actor", help="Who makes the change (logged); default: $USER.", show_default=False
    ),
]
DateOpt = Annotated[str | None, typer.Option("--on", help="Date YYYY-MM-DD (default today)")]


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextmanager
def _open(store: str | None) -> Iterator[Any]:
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


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(CeasewatchError(f"{name} {value!r} is not a date YYYY-MM-DD"))
    return None


def _print_batch(r: BatchResult, path: Path) -> None:
    if r.skipped_file:
        out.print(f"{path.name}: already loaded as batch {r.batch_id}; nothing added")
        return
    out.print(
        f"{path.name}: batch {r.batch_id}: {r.rows_read:,} records read, {r.loaded:,} loaded"
        + (
            f", {r.new_version:,} updated, {r.unchanged:,} unchanged"
            if r.new_version or r.unchanged
            else ""
        )
        + f", {r.quarantined:,} quarantined"
    )
    for reason, n in sorted(r.reasons.items(), key=lambda kv: -kv[1]):
        out.print(f"  quarantined {n:,}: {reason}")


# --- ledger commands --------------------------------------------------------------------
@app.command("add-guarantor")
def add_guarantor_cmd(
    guarantor_id: Annotated[str, typer.Argument(help="Short code, e.g. UK, FR, EU")],
    name: Annotated[str, typer.Argument(help="Full name")],
    kind: Annotated[str, typer.Option("--kind", help="country | organisation")] = "country",
    source: Annotated[str | None, typer.Option("--source")] = None,
    notes: Annotated[str | None, typer.Option("--notes")] = None,
    actor: ActorOpt = None,
    store: StoreOpt = None,
) -> None:
    """Add a guarantor (a country or an organisation)."""
    from ceasewatch.guarantee.ledger import add_guarantor

    try:
        with _open(store) as st:
            add_guarantor(
                st, guarantor_id, name, kind=kind, source=source, notes=notes, actor=_actor(actor)
            )
    except CeasewatchError as e:
        _fail(e)
    out.print(f"added guarantor {guarantor_id} ({name})")


@app.command("add-commitment")
def add_commitment_cmd(
    commitment_id: Annotated[str, typer.Argument(help="Unique id, e.g. UK-AD-1")],
    guarantor: Annotated[str, typer.Option("--guarantor", help="Guarantor id")],
    component: Annotated[str, typer.Option("--component", help=" | ".join(gs.COMPONENTS))],
    description: Annotated[str, typer.Option("--description", help="What is committed")],
    quantity: Annotated[float | None, typer.Option("--quantity")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="troops, systems, EUR, ...")] = None,
    value_eur: Annotated[float | None, typer.Option("--value-eur")] = None,
    due: Annotated[str | None, typer.Option("--due", help="Due date YYYY-MM-DD")] = None,
    status: Annotated[str, typer.Option("--status", help="Initial status")] = "proposed",
    on: DateOpt = None,
    source: Annotated[str | None, typer.Option("--source")] = None,
    notes: Annotated[str | None, typer.Option("--notes")] = None,
    actor: ActorOpt = None,
    store: StoreOpt = None,
) -> None:
    """Add a commitment (default status proposed, dated today or --on)."""
    from ceasewatch.guarantee.ledger import add_commitment

    fields: dict[str, Any] = {
        "commitment_id": commitment_id,
        "guarantor_id": guarantor,
        "component": component,
        "description": description,
        "quantity": quantity,
        "unit": unit,
        "value_eur": value_eur,
        "due_date": due,
        "status": status,
        "source": source,
        "notes": notes,
    }
    if on is not None and status in gs.STATUS_DATE:
        fields[gs.STATUS_DATE[status]] = on
    try:
        with _open(store) as st:
            add_commitment(st, actor=_actor(actor), **fields)
    except CeasewatchError as e:
        _fail(e)
    out.print(f"added commitment {commitment_id} ({component}, {status})")


@app.command("set-status")
def set_status_cmd(
    commitment_id: Annotated[str, typer.Argument()],
    status: Annotated[str, typer.Argument(help=" | ".join(gs.STATUSES))],
    on: DateOpt = None,
    delivered_quantity: Annotated[
        float | None, typer.Option("--delivered-quantity", help="What arrived (partial)")
    ] = None,
    note: Annotated[str | None, typer.Option("--note")] = None,
    source: Annotated[str | None, typer.Option("--source")] = None,
    actor: ActorOpt = None,
    store: StoreOpt = None,
) -> None:
    """Move a commitment one step: proposed → pledged → agreed → delivered/deployed.

    Any status but the last may go to withdrawn. The step's date is recorded (default today).
    """
    from ceasewatch.guarantee.ledger import set_status

    day = _date(on, "--on")
    try:
        with _open(store) as st:
            rec = set_status(
                st,
                commitment_id,
                status,
                on=day,
                delivered_quantity=delivered_quantity,
                note=note,
                source=source,
                actor=_actor(actor),
            )
    except CeasewatchError as e:
        _fail(e)
    out.print(f"{commitment_id}: {status} on {rec[gs.STATUS_DATE[status]]}")


@app.command("update")
def update_cmd(
    table: Annotated[str, typer.Argument(help=" | ".join(gs.LEDGER_TABLES))],
    key: Annotated[str, typer.Argument(help="The record's id")],
    set_: Annotated[
        list[str], typer.Option("--set", help="field=value (repeatable; empty value clears)")
    ],
    actor: ActorOpt = None,
    store: StoreOpt = None,
) -> None:
    """Change fields of a ledger record (logged with the old and new values)."""
    from ceasewatch.guarantee.ledger import update_record

    changes: dict[str, Any] = {}
    for item in set_:
        if "=" not in item:
            _fail(CeasewatchError(f"--set {item!r}: expected field=value"))
        k, v = item.split("=", 1)
        changes[k.strip()] = v
    try:
        if table not in gs.LEDGER_TABLES:
            msg = f"table {table!r} is not a ledger table; choose {', '.join(gs.LEDGER_TABLES)}"
            raise CeasewatchError(msg)
        with _open(store) as st:
            update_record(st, table, key, changes, actor=_actor(actor))
    except CeasewatchError as e:
        _fail(e)
    out.print(f"updated {table} {key}: {', '.join(changes)}")


@app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="Ledger file: YAML (all tables) or CSV (one table)")],
    table: Annotated[
        str | None, typer.Option("--table", help="Table of a CSV file (default: its name)")
    ] = None,
    actor: ActorOpt = None,
    store: StoreOpt = None,
) -> None:
    """Import a ledger file; invalid records are quarantined with line and reason."""
    from ceasewatch.guarantee.ledger import import_ledger

    try:
        with _open(store) as st:
            r = import_ledger(st, path, actor=_actor(actor), table=table)
    except CeasewatchError as e:
        _fail(e)
    _print_batch(r, path)


@app.command("scorecard")
def scorecard_cmd(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Day YYYY-MM-DD (default today)")
    ] = None,
    fmt: Annotated[str, typer.Option("-f", "--format", help="table | csv")] = "table",
    store: StoreOpt = None,
) -> None:
    """Guarantor × component: committed vs delivered, and what is overdue."""
    from ceasewatch.guarantee.commitments import overdue, scorecard
    from ceasewatch.store.guarantee import ledger_table

    day = _date(as_of, "--as-of") or datetime.now(UTC).date()
    with _open(store) as st:
        com = ledger_table(st, "commitments")
        sc = scorecard(com, as_of=day, guarantors=ledger_table(st, "guarantors"))
    if fmt == "csv":
        sc.to_csv(sys.stdout, index=False)
        return
    if fmt != "table":
        _fail(CeasewatchError(f"--format {fmt!r}: choose table or csv"))
    t = Table(
        "guarantor",
        "component",
        "commitments",
        "pledged+agreed",
        "delivered/deployed",
        "withdrawn",
        "committed €",
        "delivered €",
        "overdue",
        title=f"Scorecard as of {day}",
    )
    for r in sc.itertuples():
        t.add_row(
            str(getattr(r, "guarantor", r.guarantor_id)),
            r.component,
            str(r.n_commitments),
            str(r.n_pledged + r.n_agreed),
            str(r.n_delivered + r.n_deployed),
            str(r.n_withdrawn),
            f"{r.committed_value_eur / 1e6:,.0f} m",
            f"{r.delivered_value_eur / 1e6:,.0f} m",
            f"[bold red]{r.n_overdue}[/]" if r.n_overdue else "0",
        )
    out.print(t)
    od = overdue(com, as_of=day)
    for r in od.itertuples():
        out.print(
            f"overdue: {r.commitment_id} ({r.guarantor_id}, {r.component}) {r.status}, "
            f"due {r.due_date}, {r.days_overdue} days late"
        )


@app.command("log")
def log_cmd(
    verify: Annotated[bool, typer.Option("--verify", help="Recompute the hash chain")] = False,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    store: StoreOpt = None,
) -> None:
    """The ledger's change log (append-only, hash-chained)."""
    from ceasewatch.store.guarantee import ledger_log, verify_ledger_log

    with _open(store) as st:
        log = ledger_log(st)
        problems = verify_ledger_log(st) if verify else []
    t = Table("id", "time", "actor", "action", "table", "key", title=f"{len(log)} change(s)")
    for r in log.tail(limit).itertuples():
        t.add_row(
            str(r.log_id), str(r.logged_at)[:19], r.actor, r.action, r.table_name, str(r.record_key)
        )
    out.print(t)
    if verify:
        if problems:
            for p in problems:
                out.print(f"[bold red]{p}[/]")
            raise typer.Exit(code=1)
        out.print(f"[green]ok[/]: hash chain intact over {len(log)} rows")


@app.command("export")
def export_cmd(
    table: Annotated[str, typer.Argument(help="A guarantee table (see docs/guarantees.md)")],
    fmt: Annotated[
        str, typer.Option("-f", "--format", help="csv | geojson | gpkg | parquet")
    ] = "csv",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write")] = None,
    store: StoreOpt = None,
) -> None:
    """Export a guarantee table (ledger, data set or log) as CSV/GeoJSON/GeoPackage/Parquet."""
    from ceasewatch.guarantee.export import export_table

    path = output or Path(f"{table}.{fmt}")
    try:
        with _open(store) as st:
            p, n = export_table(st, table, path, fmt)
    except CeasewatchError as e:
        _fail(e)
    out.print(f"wrote {n:,} {table} rows to {p}")


# --- ingest and report commands, for the main CLI to mount -----------------------------
FilesArg = Annotated[list[Path], typer.Argument(help="Files to load")]


def _ingest_files(fn: Callable[..., BatchResult], files: list[Path], store: str | None) -> None:
    bad = False
    with _open(store) as st:
        for f in files:
            try:
                r = fn(st, f)
            except CeasewatchError as e:
                console.print(f"[bold red]error:[/] {e}")
                bad = True
                continue
            _print_batch(r, f)
    if bad:
        raise typer.Exit(code=1)


def ingest_kiel_cmd(files: FilesArg, store: StoreOpt = None) -> None:
    """Kiel Ukraine Support Tracker workbook (.xlsx): aid items, heavy weapons."""
    from ceasewatch.guarantee.ingest import ingest_kiel

    _ingest_files(ingest_kiel, files, store)


def ingest_air_attacks_cmd(files: FilesArg, store: StoreOpt = None) -> None:
    """Missile and drone attacks (missile_attacks_daily.csv): launched/destroyed by model."""
    from ceasewatch.guarantee.ingest import ingest_air_attacks

    _ingest_files(ingest_air_attacks, files, store)


def ingest_air_alerts_cmd(files: FilesArg, store: StoreOpt = None) -> None:
    """Official air-raid alerts (oblast/raion/hromada, start/end) CSV."""
    from ceasewatch.guarantee.ingest import ingest_air_alerts

    _ingest_files(ingest_air_alerts, files, store)


def ingest_losses_cmd(files: FilesArg, store: StoreOpt = None) -> None:
    """Equipment losses JSON: MoD daily cumulative, or Oryx by model (context series)."""
    from ceasewatch.guarantee.ingest import ingest_losses

    _ingest_files(ingest_losses, files, store)


def report_guarantees_cmd(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write")] = Path(
        "guarantees"
    ),
    as_of: Annotated[str | None, typer.Option("--as-of", help="Day YYYY-MM-DD")] = None,
    places: Annotated[
        Path | None,
        typer.Option("--places", help="GeoNames file (cities15000.zip) for population shares"),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """The guarantee scorecard: report.html, report.md and PNG charts."""
    from ceasewatch.report.guarantees import report

    day = _date(as_of, "--as-of")
    try:
        with _open(store) as st:
            paths = report(st, output, as_of=day, places=places)
    except CeasewatchError as e:
        _fail(e)
    for k, p in paths.items():
        out.print(f"{k:>20}: {p}")


def register_ingest_commands(ingest_app: typer.Typer) -> None:
    """Add ``kiel``, ``air-attacks``, ``air-alerts`` and ``losses`` to ``ceasewatch ingest``."""
    ingest_app.command("kiel")(ingest_kiel_cmd)
    ingest_app.command("air-attacks")(ingest_air_attacks_cmd)
    ingest_app.command("air-alerts")(ingest_air_alerts_cmd)
    ingest_app.command("losses")(ingest_losses_cmd)


def register_report_command(report_app: typer.Typer) -> None:
    """Add ``guarantees`` to ``ceasewatch report``."""
    report_app.command("guarantees")(report_guarantees_cmd)
