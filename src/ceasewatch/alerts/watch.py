"""``ceasewatch watch``: ingest the configured feeds, evaluate, detect, keep the clocks and
deliver, on a schedule, as a long-running process that survives restarts.

One *cycle* (:func:`run_cycle`) does, in order: ingest every new file of the configured
feeds (a file already loaded is skipped by its checksum), evaluate what is due, detect
alerts (:func:`detect_alerts`), open clocks and check their deadlines, queue what is new,
and deliver what is due. Everything a cycle decides is in the store, keyed by content, so
running a cycle twice, or after a crash, adds nothing and sends nothing twice.

:func:`run_watch` repeats cycles every ``interval_s``: a lock file beside the store stops a
second watcher (the lock is released by the operating system if the process dies, so a
crash never leaves a stale lock); the store is opened for each cycle and closed between
them so that ``ceasewatch clocks close`` and the other commands can use it meanwhile; the
time the next cycle is due is kept in the store, so a restarted watcher keeps the schedule.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import pandas as pd
import yaml

from ceasewatch.agreement.model import Agreement
from ceasewatch.alerts.clocks import ClockBook, EscalationConfig, escalation_from_document
from ceasewatch.alerts.delivery import (
    Backoff,
    Channel,
    ChannelConfigError,
    DeliveryReport,
    channels_from_config,
    deliver_pending,
    route,
)
from ceasewatch.alerts.trends import (
    Alert,
    DayGrid,
    alerts_from_expanded,
    alerts_from_silence,
    alerts_from_spikes,
    alerts_from_violations,
    detect_expanded_attacks,
    detect_silence,
    detect_spikes,
)
from ceasewatch.errors import CeasewatchError
from ceasewatch.evaluate.run import evaluate_store, load_agreements
from ceasewatch.normalize import schema
from ceasewatch.store.alerts import AlertStore
from ceasewatch.store.open import AnyStore, open_store

NO_SECTOR = "(no sector)"


class WatchLockedError(CeasewatchError, RuntimeError):
    """Another watcher holds the store's lock."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- configuration -------------------------------------------------------------------------
@dataclass(frozen=True)
class FeedSpec:
    """A feed to ingest: a registered source name and a glob of its files."""

    source: str
    pattern: str


@dataclass
class WatchConfig:
    """What ``ceasewatch watch`` does (``docs/alerts.md``: the alerts configuration)."""

    interval_s: float = 300.0
    feeds: tuple[FeedSpec, ...] = ()
    channels: tuple[Channel, ...] = ()
    #: a YAML file with ``escalation``/``alerts`` overriding the agreement's
    escalation_path: Path | None = None
    evaluate: bool = True
    deliver_limit: int = 200
    backoff: Backoff = field(default_factory=Backoff)


def watch_config_from_file(
    path: Path | None, *, env: dict[str, str] | None = None, **overrides: Any
) -> WatchConfig:
    """Read the alerts configuration YAML (``interval_s``, ``feeds``, ``channels``,
    ``escalation_file``); relative paths are relative to its folder. ``overrides`` set
    fields directly (e.g. from the command line)."""
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        p = Path(path)
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            msg = f"cannot read the alerts configuration {p}: {e}"
            raise ChannelConfigError(msg, [msg]) from e
        if not isinstance(loaded, dict):
            msg = f"{p}: expected a mapping with interval_s, feeds, channels"
            raise ChannelConfigError(msg, [msg])
        raw = loaded
        base = p.resolve().parent
    known = {"interval_s", "feeds", "channels", "escalation_file"}
    bad = sorted(set(raw) - known)
    if bad:
        msg = f"alerts configuration: unknown field(s) {', '.join(bad)}; known: {sorted(known)}"
        raise ChannelConfigError(msg, [msg])
    feeds: list[FeedSpec] = []
    for i, f in enumerate(raw.get("feeds") or []):
        if not isinstance(f, dict) or not {"source", "path"} <= set(f):
            msg = f"feeds[{i}]: expected {{source: NAME, path: GLOB}}, got {f!r}"
            raise ChannelConfigError(msg, [msg])
        pattern = str(f["path"])
        if not Path(pattern).is_absolute():
            pattern = str(base / pattern)
        feeds.append(FeedSpec(str(f["source"]), pattern))
    channels = channels_from_config(raw.get("channels"), env=env, base_dir=base)
    esc = raw.get("escalation_file")
    cfg = WatchConfig(
        interval_s=float(raw.get("interval_s", 300.0)),
        feeds=tuple(feeds),
        channels=tuple(channels),
        escalation_path=(base / esc) if esc else None,
    )
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)
    return cfg


# --- the store's agreement ------------------------------------------------------------------
@dataclass(frozen=True)
class AlertContext:
    """What detection needs from the stored agreements."""

    grid: DayGrid
    sectors: tuple[str, ...]
    effective: datetime | None
    version: int | None
    escalation: EscalationConfig


def alert_context(store: AnyStore, *, escalation_path: Path | None = None) -> AlertContext:
    """Report-day grid, sectors and escalation ladder of the latest stored agreement (the
    first one's effective time: nothing before it is a violation)."""
    agreements = load_agreements(store)
    if not agreements:
        msg = "no agreement in the store: run `ceasewatch agreement load PATH` first"
        raise CeasewatchError(msg)
    latest: Agreement = agreements[max(agreements)]
    if escalation_path is not None:
        esc = escalation_from_document(escalation_path)
    else:
        esc = escalation_from_document(store.agreement_document(max(agreements)))
    return AlertContext(
        grid=DayGrid(latest.timezone, latest.report_cutoff),
        sectors=tuple(s for s, _ in latest.sectors),
        effective=min(a.effective for a in agreements.values()),
        version=latest.version,
        escalation=esc,
    )


def records_per_day(
    store: AnyStore, *, since: datetime, until: datetime, grid: DayGrid
) -> pd.DataFrame:
    """Records per source, sector and report day (``source, sector, day, n_records``),
    from the events and the sector of their location; the coverage of
    :func:`~ceasewatch.alerts.trends.observed_matrix`: a sector-day with no record from any
    source is not observed."""
    ev = store.events(
        since=since, until=until, columns=[schema.EVENT_ID, schema.SOURCE, schema.OCCURRED_AT]
    )
    if ev.empty:
        return pd.DataFrame(columns=["source", "sector", "day", "n_records"])
    sectors = store.event_eval()[[schema.EVENT_ID, schema.SECTOR]]
    ev = ev.merge(sectors, on=schema.EVENT_ID, how="left")
    ev["sector"] = ev[schema.SECTOR].astype(object).where(ev[schema.SECTOR].notna(), NO_SECTOR)
    ev["day"] = grid.day_of(ev[schema.OCCURRED_AT])
    return (
        ev.groupby([schema.SOURCE, "sector", "day"])
        .size()
        .rename("n_records")
        .reset_index()
        .rename(columns={schema.SOURCE: "source"})
    )


def detect_alerts(
    store: AnyStore, ctx: AlertContext, *, now: datetime, violations: pd.DataFrame
) -> tuple[list[Alert], dict[str, pd.DataFrame]]:
    """Every alert the data known at ``now`` supports: violations graded at or above the
    policy's level, spikes, expanded attacks, silent sources, unobserved sectors; and the
    frames they came from (``spikes``, ``expanded``, ``silence``)."""
    pol = ctx.escalation.policy
    v = violations[pd.to_datetime(violations[schema.OCCURRED_AT], utc=True) <= pd.Timestamp(now)]
    since = pd.Timestamp(now) - pd.Timedelta(days=pol.baseline_days + pol.lookback_days + 2)
    records = records_per_day(
        store,
        since=since.to_pydatetime(),
        until=now + timedelta(microseconds=1),
        grid=ctx.grid,
    )
    records = records[records["day"] <= ctx.grid.day_at(now)]
    coverage = records[records["sector"] != NO_SECTOR]
    spikes = detect_spikes(
        v,
        policy=pol,
        grid=ctx.grid,
        now=now,
        coverage=coverage,
        effective=ctx.effective,
        sectors=ctx.sectors,
    )
    lookback = pd.Timestamp(now) - pd.Timedelta(days=pol.lookback_days)
    expanded = detect_expanded_attacks(
        v, spikes, policy=pol, grid=ctx.grid, now=now, since=lookback.to_pydatetime()
    )
    today = ctx.grid.day_at(now)
    days = [today - timedelta(days=i) for i in range(1, pol.lookback_days + 2)]
    src = records.groupby(["source", "day"])["n_records"].sum().reset_index()
    silent_src = detect_silence(
        src,
        key_col="source",
        days=days,
        rule=pol.silence,
        baseline_days=pol.baseline_days,
        min_baseline_days=pol.min_baseline_days,
        last_complete_day=today - timedelta(days=1),
        dimension="source",
    )
    sec = coverage.groupby(["sector", "day"])["n_records"].sum().reset_index()
    if ctx.sectors:
        sec = sec[sec["sector"].isin(ctx.sectors)]
    silent_sec = detect_silence(
        sec,
        key_col="sector",
        days=days,
        rule=pol.silence,
        baseline_days=pol.baseline_days,
        min_baseline_days=pol.min_baseline_days,
        last_complete_day=today - timedelta(days=1),
        dimension="sector",
    )
    silence = pd.concat([silent_src, silent_sec], ignore_index=True)
    # a violation alerts when it is recent, or when ceasewatch learned of it recently
    # (a late record of an older event is news too)
    occurred = pd.to_datetime(v[schema.OCCURRED_AT], utc=True)
    recent_mask = occurred >= lookback
    if schema.DETECTED_AT in v.columns:
        detected = pd.to_datetime(v[schema.DETECTED_AT], utc=True)
        recent_mask |= (detected >= lookback) & (detected <= pd.Timestamp(now))
    recent = v[recent_mask]
    alerts = [
        *alerts_from_violations(recent, policy=pol, now=now),
        *alerts_from_spikes(spikes, now=now),
        *alerts_from_expanded(expanded, now=now),
        *alerts_from_silence(silence, now=now),
    ]
    return alerts, {"spikes": spikes, "expanded": expanded, "silence": silence}


# --- one cycle ---------------------------------------------------------------------------------
@dataclass
class CycleResult:
    """What one cycle did."""

    started_at: datetime
    ingested: list[str] = field(default_factory=list)
    events_evaluated: int = 0
    new_alerts: list[Alert] = field(default_factory=list)
    delivery: DeliveryReport | None = None
    open_clocks: int = 0
    errors: list[str] = field(default_factory=list)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    def summary(self) -> str:
        by_level: dict[str, int] = {}
        for a in self.new_alerts:
            by_level[a.level] = by_level.get(a.level, 0) + 1
        levels = ", ".join(f"{n} {lvl}" for lvl, n in sorted(by_level.items())) or "none"
        parts = [
            f"{self.started_at:%Y-%m-%d %H:%M:%SZ}",
            f"{len(self.ingested)} file(s) ingested",
            f"{self.events_evaluated} events evaluated",
            f"new alerts: {levels}",
            f"{self.open_clocks} open clock(s)",
        ]
        if self.delivery is not None:
            parts.append(self.delivery.summary())
        if self.errors:
            parts.append(f"{len(self.errors)} error(s): {self.errors[-1]}")
        return "; ".join(parts)


def run_alert_cycle(
    store: AnyStore,
    *,
    now: datetime,
    channels: Sequence[Channel] = (),
    escalation_path: Path | None = None,
    deliver: bool = True,
    deliver_limit: int = 200,
    backoff: Backoff | None = None,
) -> CycleResult:
    """Detect, keep the clocks, queue and deliver, as of ``now`` (no ingest/evaluate)."""
    result = CycleResult(started_at=now)
    db = AlertStore(store)
    ctx = alert_context(store, escalation_path=escalation_path)
    violations = db.violations_known(now=now)
    alerts, frames = detect_alerts(store, ctx, now=now, violations=violations)
    result.frames = frames
    result.new_alerts = db.add_alerts(alerts, route(alerts, channels), now=now)
    book = ClockBook(db, ctx.escalation, now=lambda: now, agreement_version=ctx.version)
    known_v = violations[
        pd.to_datetime(violations[schema.OCCURRED_AT], utc=True) <= pd.Timestamp(now)
    ]
    raised = db.alerts(until=now + timedelta(microseconds=1))
    clock_alerts = book.open_clocks(known_v, raised)
    clock_alerts += book.tick(known_v)
    result.new_alerts += db.add_alerts(clock_alerts, route(clock_alerts, channels), now=now)
    result.open_clocks = len(db.clocks(status="open"))
    if deliver and channels:
        result.delivery = deliver_pending(
            db, channels, now=now, limit=deliver_limit, backoff=backoff
        )
    return result


def ingest_feeds(store: AnyStore, feeds: Sequence[FeedSpec]) -> tuple[list[str], list[str]]:
    """Ingest the files of ``feeds`` not yet loaded; (loaded file names, errors)."""
    from glob import glob

    from ceasewatch.ingest.base import get_source
    from ceasewatch.ingest.pipeline import ingest_file

    loaded: list[str] = []
    errors: list[str] = []
    for feed in feeds:
        try:
            source = get_source(feed.source)
        except CeasewatchError as e:
            errors.append(str(e))
            continue
        for name in sorted(glob(feed.pattern)):
            path = Path(name)
            if not path.is_file():
                continue
            try:
                r = ingest_file(store, source, path)
            except CeasewatchError as e:
                errors.append(f"{feed.source} {path.name}: {e}")
                continue
            if not r.skipped_file:
                loaded.append(f"{feed.source}:{path.name}")
    return loaded, errors


def run_cycle(store: AnyStore, config: WatchConfig, *, now: datetime) -> CycleResult:
    """One full cycle: ingest, evaluate, detect, clocks, deliver. Errors of one stage are
    recorded and the later stages still run (a bad file must not stop the alerts)."""
    ingested, errors = ingest_feeds(store, config.feeds)
    evaluated = 0
    if config.evaluate:
        try:
            evaluated = evaluate_store(store).events_evaluated
        except CeasewatchError as e:
            errors.append(f"evaluate: {e}")
    try:
        result = run_alert_cycle(
            store,
            now=now,
            channels=config.channels,
            escalation_path=config.escalation_path,
            deliver_limit=config.deliver_limit,
            backoff=config.backoff,
        )
    except CeasewatchError as e:
        result = CycleResult(started_at=now)
        errors.append(f"alerts: {e}")
    result.ingested = ingested
    result.events_evaluated = evaluated
    result.errors = errors + result.errors
    return result


# --- the loop ------------------------------------------------------------------------------------
def lock_path(store_location: str | Path) -> Path:
    return Path(f"{store_location}.watch.lock")


class WatchLock:
    """An exclusive, non-blocking ``flock`` on a file beside the store. The operating
    system releases it when the process ends, however it ends."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fh: TextIO | None = None

    def __enter__(self) -> WatchLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            msg = (
                f"another watcher ({holder}) is running on this store (lock {self.path}); "
                "stop it first, or watch another store"
            )
            raise WatchLockedError(msg) from e
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


STATE_NEXT_DUE = "next_due_at"
STATE_CYCLES = "cycles"
STATE_LAST = "last_cycle"


def run_watch(
    store_location: str | Path,
    config: WatchConfig,
    *,
    iterations: int | None = None,
    now: Callable[[], datetime] = _utcnow,
    sleep: Callable[[float], None] | None = None,
    stop: threading.Event | None = None,
    echo: Callable[[str], None] = print,
) -> list[CycleResult]:
    """Run cycles every ``config.interval_s`` until ``stop`` is set or ``iterations``
    cycles ran; returns their results (bounded runs and tests use ``iterations``).

    ``now`` and ``sleep`` are injectable (a test moves a fake clock); without ``sleep``
    the loop waits on ``stop`` so that a signal ends the wait at once.
    """
    stop = stop or threading.Event()

    def wait(seconds: float) -> None:
        if seconds <= 0:
            return
        if sleep is not None:
            sleep(seconds)
        else:
            stop.wait(seconds)

    results: list[CycleResult] = []
    with WatchLock(lock_path(store_location)):
        while not stop.is_set() and (iterations is None or len(results) < iterations):
            st = open_store(store_location)
            try:
                due_raw = AlertStore(st).get_state(STATE_NEXT_DUE)
            finally:
                st.close()
            if due_raw:
                wait((pd.Timestamp(due_raw) - pd.Timestamp(now())).total_seconds())
                if stop.is_set():
                    break
            t = now()
            st = open_store(store_location)
            try:
                try:
                    result = run_cycle(st, config, now=t)
                except Exception as e:  # a watcher survives anything one cycle throws
                    result = CycleResult(started_at=t, errors=[f"{type(e).__name__}: {e}"])
                db = AlertStore(st)
                due = t + timedelta(seconds=config.interval_s)
                db.set_state(STATE_NEXT_DUE, due.isoformat(), now=t)
                db.set_state(STATE_CYCLES, int(db.get_state(STATE_CYCLES, 0)) + 1, now=t)
                db.set_state(
                    STATE_LAST,
                    {
                        "started_at": t.isoformat(),
                        "finished_at": now().isoformat(),
                        "new_alerts": len(result.new_alerts),
                        "errors": result.errors,
                    },
                    now=t,
                )
            finally:
                st.close()
            echo(result.summary())
            results.append(result)
    return results


def replay_days(
    store: AnyStore,
    *,
    start: datetime,
    end: datetime,
    step: timedelta,
    channels: Sequence[Channel] = (),
    escalation_path: Path | None = None,
    on_cycle: Callable[[datetime, CycleResult], None] | None = None,
) -> list[CycleResult]:
    """Run the alert cycle at each time from ``start`` to ``end`` by ``step``: what a
    watcher would have raised over a stored scenario (tests, false-alarm checks)."""
    out = []
    t = start
    while t <= end:
        r = run_alert_cycle(store, now=t, channels=channels, escalation_path=escalation_path)
        if on_cycle is not None:
            on_cycle(t, r)
        out.append(r)
        t = t + step
    return out
