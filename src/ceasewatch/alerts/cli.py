"""Commands: ``ceasewatch alerts …``, ``ceasewatch clocks …``, ``ceasewatch watch`` and
``ceasewatch report weekly`` / ``report daily-pdf``.

Thin wrappers around library functions, mounted by :mod:`ceasewatch.cli`::

    app.add_typer(alerts_app, name="alerts")
    app.add_typer(clocks_app, name="clocks")
    app.command("watch")(watch_cmd)
    report_app.command("weekly")(report_weekly_cmd)
    report_app.command("daily-pdf")(report_daily_pdf_cmd)

The alerts configuration (channels, feeds, interval) is a YAML file given with
``--config`` or ``CEASEWATCH_ALERTS_CONFIG`` (``docs/alerts.md``).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from ceasewatch.errors import CeasewatchError
from ceasewatch.settings import Settings

alerts_app = typer.Typer(help="Alerts: detect, list, deliver (webhook, e-mail, feed).")
clocks_app = typer.Typer(help="Response clocks of the agreement's escalation ladder.")

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
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Alerts configuration YAML (channels, feeds, interval); env CEASEWATCH_ALERTS_CONFIG.",
        show_default=False,
    ),
]
NowOpt = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Act as if it were this UTC time (ISO 8601), e.g. to replay a scenario.",
        show_default=False,
    ),
]


def _store_location(store: str | None) -> str:
    s = Settings()
    return store or s.store


@contextmanager
def _open(store: str | None) -> Iterator[Any]:
    from ceasewatch.store.open import open_store

    st = open_store(_store_location(store))
    try:
        yield st
    finally:
        st.close()


def _fail(e: Exception) -> None:
    console.print(f"[bold red]error:[/] {e}")
    raise typer.Exit(code=1)


def _config(path: Path | None, **overrides: Any) -> Any:
    from ceasewatch.alerts.watch import watch_config_from_file

    env_path = os.environ.get("CEASEWATCH_ALERTS_CONFIG")
    chosen = path or (Path(env_path) if env_path else None)
    return watch_config_from_file(chosen, **overrides)


def _now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        ts = pd.Timestamp(value)
    except ValueError as e:
        msg = f"--now: expected an ISO 8601 time like 2025-10-01T12:00Z, got {value!r}"
        raise CeasewatchError(msg) from e
    if ts.tzinfo is None:
        ts = ts.tz_localize(UTC)
    return ts.tz_convert(UTC).to_pydatetime()


def _ts(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return pd.Timestamp(value).tz_convert(UTC).strftime("%Y-%m-%d %H:%M")


# --- alerts ------------------------------------------------------------------------------------
@alerts_app.command("list")
def alerts_list(
    store: StoreOpt = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only alerts raised at or after (ISO time).")
    ] = None,
    level: Annotated[
        list[str] | None, typer.Option("--level", help="Only these levels (repeatable).")
    ] = None,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="Only these kinds (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many.")] = 50,
) -> None:
    """Alerts raised, newest last, with their delivery state."""
    from ceasewatch.store.alerts import AlertStore

    try:
        with _open(store) as st:
            db = AlertStore(st)
            a = db.alerts(
                since=_now(since) if since else None, kinds=kind or (), levels=level or ()
            )
            ob = db.outbox()
    except CeasewatchError as e:
        _fail(e)
    state: dict[str, str] = {}
    for aid, g in ob.groupby("alert_id"):
        state[str(aid)] = ", ".join(
            f"{c}:{s}" for c, s in zip(g["channel"], g["status"], strict=True)
        )
    table = Table("raised (UTC)", "level", "kind", "alert", "delivery", "id")
    for r in a.tail(limit).itertuples():
        table.add_row(
            _ts(r.raised_at), r.level, r.kind, r.title, state.get(r.alert_id, "-"), r.alert_id
        )
    out.print(table)
    out.print(f"{len(a):,} alert(s); showing the last {min(limit, len(a)):,}")


@alerts_app.command("check")
def alerts_check(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    now: NowOpt = None,
    deliver: Annotated[
        bool, typer.Option("--deliver/--no-deliver", help="Deliver what is due after detecting.")
    ] = True,
) -> None:
    """Detect alerts, open clocks, warn before deadlines, record misses, once."""
    from ceasewatch.alerts.watch import run_alert_cycle

    try:
        cfg = _config(config)
        with _open(store) as st:
            r = run_alert_cycle(
                st,
                now=_now(now),
                channels=cfg.channels,
                escalation_path=cfg.escalation_path,
                deliver=deliver,
                backoff=cfg.backoff,
            )
    except CeasewatchError as e:
        _fail(e)
    for a in r.new_alerts:
        out.print(f"[{a.level}] {a.title}")
    out.print(r.summary())


@alerts_app.command("deliver")
def alerts_deliver(store: StoreOpt = None, config: ConfigOpt = None, now: NowOpt = None) -> None:
    """Deliver the queued alerts that are due, on every configured channel."""
    from ceasewatch.alerts.delivery import deliver_pending
    from ceasewatch.store.alerts import AlertStore

    try:
        cfg = _config(config)
        with _open(store) as st:
            rep = deliver_pending(AlertStore(st), cfg.channels, now=_now(now), backoff=cfg.backoff)
    except CeasewatchError as e:
        _fail(e)
    out.print(rep.summary())


@alerts_app.command("outbox")
def alerts_outbox(
    store: StoreOpt = None,
    status: Annotated[str | None, typer.Option("--status", help="pending | failed | sent")] = None,
) -> None:
    """The delivery queue: one row per alert and channel."""
    from ceasewatch.store.alerts import AlertStore

    try:
        with _open(store) as st:
            ob = AlertStore(st).outbox(status=status)
    except CeasewatchError as e:
        _fail(e)
    table = Table("alert", "channel", "status", "attempts", "next attempt", "delivered", "error")
    for r in ob.itertuples():
        table.add_row(
            r.alert_id,
            r.channel,
            r.status,
            str(r.attempts),
            _ts(r.next_attempt_at) if r.status != "sent" else "",
            _ts(r.delivered_at),
            str(r.last_error or "")[:80],
        )
    out.print(table)
    counts = ob["status"].value_counts().to_dict() if len(ob) else {}
    out.print(", ".join(f"{n} {s}" for s, n in counts.items()) or "the outbox is empty")


# --- clocks ------------------------------------------------------------------------------------
@clocks_app.command("list")
def clocks_list(
    store: StoreOpt = None,
    status: Annotated[
        str, typer.Option("--status", help="open | missed | closed | cancelled | all")
    ] = "open",
    now: NowOpt = None,
) -> None:
    """Response clocks with their deadline and the time left (negative: overdue)."""
    from ceasewatch.store.alerts import CLOCK_STATUSES, AlertStore

    if status != "all" and status not in CLOCK_STATUSES:
        _fail(
            CeasewatchError(
                f"--status: expected one of {', '.join(CLOCK_STATUSES)} or all, got {status!r}"
            )
        )
    try:
        with _open(store) as st:
            c = AlertStore(st).clocks(status=None if status == "all" else status)
        at = _now(now)
    except CeasewatchError as e:
        _fail(e)
    table = Table("clock", "step", "subject", "started", "deadline", "left", "status", "who/by")
    for r in c.itertuples():
        left = (pd.Timestamp(r.deadline) - pd.Timestamp(at)).total_seconds() / 3600
        table.add_row(
            r.clock_id,
            str(r.step_name),
            str(r.subject),
            _ts(r.started_at),
            _ts(r.deadline),
            f"{left:.1f} h" if r.status == "open" else "",
            r.status if r.status != "closed" or r.on_time else "closed late",
            str(r.closed_by) if r.closed_by else str(r.who or ""),
        )
    out.print(table)
    out.print(f"{len(c):,} clock(s)")


@clocks_app.command("close")
def clocks_close(
    clock_id: Annotated[str, typer.Argument(help="Clock id (or an unambiguous prefix).")],
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who acted (must be authorised); env CEASEWATCH_USER."),
    ] = None,
    action: Annotated[str, typer.Option("--action", help="The action taken.")] = "",
    store: StoreOpt = None,
    config: ConfigOpt = None,
    now: NowOpt = None,
) -> None:
    """Record the action that answers a clock and close it."""
    from ceasewatch.alerts.clocks import ClockBook
    from ceasewatch.alerts.delivery import route
    from ceasewatch.alerts.watch import alert_context
    from ceasewatch.store.alerts import AlertStore

    who = by or os.environ.get("CEASEWATCH_USER", "")
    when = _now(now)
    try:
        cfg = _config(config)
        with _open(store) as st:
            ctx = alert_context(st, escalation_path=cfg.escalation_path)
            db = AlertStore(st)
            book = ClockBook(db, ctx.escalation, now=lambda: when)
            alert = book.close(clock_id, by=who, action=action)
            db.add_alerts([alert], route([alert], cfg.channels), now=when)
    except CeasewatchError as e:
        _fail(e)
    out.print(alert.title)


@clocks_app.command("steps")
def clocks_steps(store: StoreOpt = None, config: ConfigOpt = None) -> None:
    """The escalation ladder in force: what opens a clock, its deadline, who acts."""
    from ceasewatch.alerts.clocks import steps_table
    from ceasewatch.alerts.watch import alert_context

    try:
        cfg = _config(config)
        with _open(store) as st:
            ctx = alert_context(st, escalation_path=cfg.escalation_path)
    except CeasewatchError as e:
        _fail(e)
    rows = steps_table(ctx.escalation)
    table = Table(*rows[0].keys()) if rows else Table("no step")
    for r in rows:
        table.add_row(*[str(v) for v in r.values()])
    out.print(table)
    out.print(f"from: {ctx.escalation.source}")


# --- watch -------------------------------------------------------------------------------------
def watch_cmd(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    interval: Annotated[
        float | None, typer.Option("--interval", help="Seconds between cycles (default 300).")
    ] = None,
    iterations: Annotated[
        int | None, typer.Option("--iterations", help="Stop after this many cycles.")
    ] = None,
    feed: Annotated[
        list[str] | None,
        typer.Option("--feed", help="SOURCE=GLOB of files to ingest (repeatable)."),
    ] = None,
) -> None:
    """Ingest the configured feeds, evaluate, alert and keep the clocks, on a schedule.

    Runs until stopped (Ctrl-C or SIGTERM end it after the current cycle); a restart
    resumes the schedule and sends nothing twice."""
    from ceasewatch.alerts.watch import FeedSpec, run_watch

    try:
        cfg = _config(config, interval_s=interval)
        for f in feed or []:
            if "=" not in f:
                msg = f"--feed: expected SOURCE=GLOB, got {f!r}"
                raise CeasewatchError(msg)
            src, pattern = f.split("=", 1)
            cfg.feeds = (*cfg.feeds, FeedSpec(src.strip(), pattern.strip()))
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
        location = _store_location(store)
        console.print(
            f"watching {location} every {cfg.interval_s:g} s; {len(cfg.feeds)} feed(s), "
            f"{len(cfg.channels)} channel(s)"
        )
        run_watch(location, cfg, iterations=iterations, stop=stop, echo=out.print)
    except CeasewatchError as e:
        _fail(e)


# --- reports -----------------------------------------------------------------------------------
def _day(value: str | None) -> date:
    if value is None:
        return (datetime.now(UTC) - timedelta(days=1)).date()
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        msg = f"--date: expected YYYY-MM-DD, got {value!r}"
        raise CeasewatchError(msg) from e


def report_weekly_cmd(
    date_: Annotated[
        str | None,
        typer.Option("--date", help="Last report day of the week (YYYY-MM-DD; default yesterday)."),
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write into.")] = Path(
        "weekly-report"
    ),
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also write report.pdf.")] = True,
    store: StoreOpt = None,
) -> None:
    """The weekly report (Markdown, HTML, chart, PDF): violations, alerts, open and missed
    response clocks, coverage."""
    from ceasewatch.report.weekly import write_weekly_report_from_store

    try:
        day = _day(date_)
        with _open(store) as st:
            paths = write_weekly_report_from_store(st, day, output, pdf=pdf)
    except CeasewatchError as e:
        _fail(e)
    for kind, p in paths.items():
        out.print(f"{kind}: {p}")


def report_daily_pdf_cmd(
    date_: Annotated[
        str | None,
        typer.Option("--date", help="Report day (YYYY-MM-DD; default yesterday)."),
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="PDF file to write.")] = Path(
        "daily-report.pdf"
    ),
    store: StoreOpt = None,
) -> None:
    """The daily report as a PDF, with the open and missed response clocks."""
    from ceasewatch.report.pdf import write_daily_pdf_from_store

    try:
        day = _day(date_)
        with _open(store) as st:
            path = write_daily_pdf_from_store(st, day, output)
    except CeasewatchError as e:
        _fail(e)
    out.print(f"pdf: {path}")
