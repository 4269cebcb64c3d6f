"""``ceasewatch store migrate|copy``: the team store's schema and moving between stores."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from ceasewatch.errors import CeasewatchError
from ceasewatch.settings import Settings

store_app = typer.Typer(
    help="The store itself: schema migrations (PostGIS) and copying between stores.",
    no_args_is_help=True,
)
console = Console(stderr=True, soft_wrap=True)


def _fail(e: Exception) -> None:
    console.print(f"[bold red]error:[/] {e}")
    raise typer.Exit(code=1)


@store_app.command("migrate")
def migrate_cmd(
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Store location (postgresql:// URL; a DuckDB file needs no migration); "
            "env CEASEWATCH_STORE.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Apply the schema migrations a PostGIS store lacks (idempotent) and list them."""
    from ceasewatch.store.postgis import PgConnection, applied_migrations, is_postgres_url
    from ceasewatch.store.postgis import migrate as run_migrations

    location = store or Settings().store
    if not is_postgres_url(str(location)):
        console.print(f"{location}: a DuckDB store creates its tables on open; nothing to migrate")
        return
    try:
        con = PgConnection(str(location))
        try:
            applied = run_migrations(con)
            table = applied_migrations(con)
        finally:
            con.close()
    except CeasewatchError as e:
        _fail(e)
        return
    for mg in applied:
        console.print(f"applied {mg.version:04d}_{mg.name}")
    console.print(
        f"schema at migration {int(table['version'].max()):04d} "
        f"({len(table)} applied, {len(applied)} now)"
    )


@store_app.command("copy")
def copy_cmd(
    source: Annotated[
        str, typer.Option("--from", help="Source store (DuckDB file or postgresql:// URL).")
    ],
    target: Annotated[
        str, typer.Option("--to", help="Target store (DuckDB file or postgresql:// URL).")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace the contents of a non-empty target.")
    ] = False,
) -> None:
    """Copy every table (events, evaluations, audit log, users, ledger, alerts, ...) from
    one store to another; the audit chain still verifies on the target."""
    from ceasewatch.store.audit import verify_chain
    from ceasewatch.store.open import open_store
    from ceasewatch.store.transfer import copy_store

    try:
        src = open_store(source, read_only=True)
    except CeasewatchError as e:
        _fail(e)
        return
    try:
        dst = open_store(target)
    except CeasewatchError as e:
        src.close()
        _fail(e)
        return
    try:
        with Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def hook(table: str, done: int, total: int) -> None:
                if table not in tasks:
                    tasks[table] = bar.add_task(table, total=max(total, 1))
                bar.update(tasks[table], completed=done if total else 1)

            result = copy_store(src, dst, force=force, progress=hook)
        check = verify_chain(dst)
    except CeasewatchError as e:
        _fail(e)
        return
    finally:
        src.close()
        dst.close()
    console.print(f"copied {result.rows:,} rows in {len(result.tables)} tables to the target")
    if not check.ok:
        _fail(CeasewatchError(f"the copied audit chain does not verify: {check.message}"))
    console.print(check.message)


def register(app: typer.Typer) -> None:
    """Mount ``ceasewatch store ...`` on the main app."""
    app.add_typer(store_app, name="store")
