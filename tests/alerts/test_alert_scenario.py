"""The demo scenario's sudden escalation (sector Zaporizhzhia, its last seven days) replayed
as a watcher would have seen it, every six hours: the right alerts at the right levels,
clocks opened, warned before their deadline, misses recorded; then the weekly and daily
reports (PDF included) and the commands, on the same store."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import typer
import yaml
from typer.testing import CliRunner

from ceasewatch.alerts.cli import (
    alerts_app,
    clocks_app,
    report_daily_pdf_cmd,
    report_weekly_cmd,
    watch_cmd,
)
from ceasewatch.alerts.clocks import ClockBook, NotAuthorisedError, escalation_from_document
from ceasewatch.alerts.delivery import FeedChannel
from ceasewatch.alerts.watch import WatchLock, lock_path, run_alert_cycle
from ceasewatch.demo import run_demo
from ceasewatch.store.alerts import AlertStore
from ceasewatch.store.duckdb import DuckDBStore

ESCALATION = {
    "escalation": {
        "authorised": ["duty-officer"],
        "steps": [
            {
                "id": "consultation",
                "name": "Diplomatic warning and consultation",
                "opens_on": {"severity": "breach", "status": "confirmed"},
                "from": "confirmed_at",
                "deadline_hours": 24,
                "warn_before_hours": [6],
                "who": ["coordination cell"],
                "per": "sector",
            },
            {
                "id": "coordinated_response",
                "name": "Coordinated response",
                "opens_on": {"alert": "expanded_attack"},
                "from": "started_at",
                "deadline_hours": 72,
                "warn_before_hours": [24, 6],
                "who": ["coalition"],
            },
        ],
    }
}
ESCALATION_SECTOR = "Zaporizhzhia"
#: report day 29 Sep (Kyiv) starts at 28 Sep 16:30 UTC
ESCALATION_START = datetime(2025, 9, 28, 16, 30, tzinfo=UTC)
#: every 12 h through the quiet days, then every 6 h: 27 Sep 12:00 → 2 Oct 00:00 UTC
CYCLES = [datetime(2025, 9, 27, 12, tzinfo=UTC) + timedelta(hours=12 * i) for i in range(3)] + [
    datetime(2025, 9, 28, 18, tzinfo=UTC) + timedelta(hours=6 * i) for i in range(14)
]


@dataclass
class Replay:
    folder: Path
    store: DuckDBStore
    db: AlertStore
    escalation_path: Path
    feed: FeedChannel
    confirmed: dict[str, datetime]
    quiet_sector: str
    quiet_clock: str
    closed_at: datetime


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("alert_demo")
    run_demo(out, store=str(out / "cw.duckdb"), echo=lambda _m: None)
    return out


def _confirm(db: AlertStore, vid: str, at: datetime) -> None:
    # an analyst's review at scenario time (the store's own method stamps the wall clock)
    db.con.execute(
        "INSERT INTO violation_status VALUES (?,?,?,?,?)",
        [vid, "confirmed", "reviewed", "analyst", at],
    )


@pytest.fixture(scope="module")
def replay(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    folder = tmp_path_factory.mktemp("alert_replay")
    shutil.copy(demo / "cw.duckdb", folder / "cw.duckdb")
    esc = folder / "escalation.yaml"
    esc.write_text(yaml.safe_dump(ESCALATION))
    st = DuckDBStore(folder / "cw.duckdb")
    db = AlertStore(st)
    v = db.violations_known()
    breaches = v[v["severity"] == "breach"].sort_values("occurred_at")
    # analysts confirm the first three breaches of the escalation an hour after each
    zap = breaches[
        (breaches["sector"] == ESCALATION_SECTOR)
        & (breaches["occurred_at"] >= pd.Timestamp(ESCALATION_START))
        & (breaches["time_precision"] != "day")
    ].head(3)
    confirmed = {
        str(r.violation_id): pd.Timestamp(r.occurred_at).to_pydatetime() + timedelta(hours=1)
        for r in zap.itertuples()
    }
    # and one quiet-week breach elsewhere, answered in time by the duty officer
    other = breaches[
        breaches["sector"].notna()
        & (breaches["sector"] != ESCALATION_SECTOR)
        & (breaches["time_precision"] == "minute")
        & (breaches["occurred_at"] >= pd.Timestamp("2025-09-27T00:00Z"))
        & (breaches["occurred_at"] < pd.Timestamp("2025-09-27T12:00Z"))
    ].head(1)
    assert len(zap) == 3 and len(other) == 1
    quiet_vid = str(other.iloc[0]["violation_id"])
    quiet_sector = str(other.iloc[0]["sector"])
    quiet_confirmed = pd.Timestamp(other.iloc[0]["occurred_at"]).to_pydatetime() + timedelta(
        hours=1
    )
    for vid, at in [*confirmed.items(), (quiet_vid, quiet_confirmed)]:
        _confirm(db, vid, at)
    feed = FeedChannel(name="dashboard", path=folder / "web" / "alerts.json")
    cfg = escalation_from_document(esc)
    quiet_clock = ""
    closed_at = datetime.min.replace(tzinfo=UTC)
    for t in CYCLES:
        run_alert_cycle(st, now=t, channels=[feed], escalation_path=esc)
        cons = db.clocks(step_id="consultation")
        mine = cons[cons["subject"] == f"sector:{quiet_sector}"]
        if len(mine) and mine.iloc[0]["status"] == "open":
            quiet_clock = str(mine.iloc[0]["clock_id"])
            book = ClockBook(db, cfg, now=lambda t=t: t)
            with pytest.raises(NotAuthorisedError):
                book.close(quiet_clock, by="intern", action="noted")
            book.close(quiet_clock, by="duty-officer", action="demarche to the party")
            closed_at = t
    yield Replay(folder, st, db, esc, feed, confirmed, quiet_sector, quiet_clock, closed_at)
    st.close()


def _raised_on(alerts: pd.DataFrame, first: datetime, last: datetime) -> pd.DataFrame:
    t = pd.to_datetime(alerts["raised_at"], utc=True)
    return alerts[(t >= pd.Timestamp(first)) & (t <= pd.Timestamp(last))]


def test_the_escalation_raises_a_spike_warning_and_an_expanded_attack(replay: Replay) -> None:
    a = replay.db.alerts()
    spikes = a[a["kind"] == "spike"]
    data = spikes["body"].map(lambda b: json.loads(b)["data"])
    sector_spikes = spikes[data.map(lambda d: d["dimension"] == "sector")]
    zap = sector_spikes[sector_spikes["subject"] == f"sector:{ESCALATION_SECTOR}"]
    # the first day of the escalation: a warning within that day
    first_day = _raised_on(zap, ESCALATION_START, ESCALATION_START + timedelta(hours=24))
    assert "warning" in set(first_day["level"])
    ea = a[a["kind"] == "expanded_attack"]
    assert set(ea["subject"]) == {f"sector:{ESCALATION_SECTOR}"}
    first_ea = pd.to_datetime(ea["raised_at"], utc=True).min()
    assert ESCALATION_START <= first_ea <= ESCALATION_START + timedelta(hours=24)
    # nowhere else: no spike at warning level, no expanded attack, in the whole replay
    others = sector_spikes[sector_spikes["subject"] != f"sector:{ESCALATION_SECTOR}"]
    assert "warning" not in set(others["level"])
    # and before the escalation no sector spike at all (no false alarm in the quiet days)
    before = _raised_on(sector_spikes, CYCLES[0], ESCALATION_START)
    assert before.empty
    # each breach is an alert of its own, at its level
    v = a[a["kind"] == "violation"]
    assert len(v) > 20 and set(v["level"]) <= {"breach", "expanded_attack"}


def test_clocks_open_warn_and_miss_on_the_agreement_ladder(replay: Replay) -> None:
    db = replay.db
    a = db.alerts()
    cons = db.clocks(step_id="consultation")
    zap = cons[cons["subject"] == f"sector:{ESCALATION_SECTOR}"].iloc[0]
    # opened by the first confirmation; the later two joined it
    first_confirm = min(replay.confirmed.values())
    assert pd.Timestamp(zap["started_at"]) == pd.Timestamp(first_confirm)
    assert pd.Timestamp(zap["deadline"]) == pd.Timestamp(first_confirm + timedelta(hours=24))
    assert zap["n_triggers"] == 3 and set(json.loads(zap["triggers"])) == set(replay.confirmed)
    assert zap["status"] == "missed"
    events = db.clock_log(str(zap["clock_id"]))
    assert list(events["event"])[:1] == ["opened"] and "missed" in list(events["event"])
    warned_at = pd.Timestamp(events.loc[events["event"] == "warned", "logged_at"].iloc[0])
    assert (
        pd.Timestamp(zap["deadline"]) - pd.Timedelta(hours=6)
        <= warned_at
        < pd.Timestamp(zap["deadline"])
    )
    # the coordinated response: 72 h from the initial breach of the expanded attack
    resp = db.clocks(step_id="coordinated_response")
    assert len(resp) == 1
    r = resp.iloc[0]
    assert r["subject"] == f"sector:{ESCALATION_SECTOR}" and r["level"] == "expanded_attack"
    assert pd.Timestamp(r["deadline"]) - pd.Timestamp(r["started_at"]) == pd.Timedelta(hours=72)
    assert r["status"] == "missed"
    mine = a[a["subject"] == f"sector:{ESCALATION_SECTOR}"]
    resp_alerts = mine[
        mine["body"].map(lambda b: json.loads(b)["data"].get("clock_id")) == r["clock_id"]
    ]
    assert list(resp_alerts["kind"]) == [
        "clock_opened",
        "clock_warning",
        "clock_warning",
        "clock_missed",
    ]
    assert set(resp_alerts["level"]) == {"expanded_attack"}
    # the quiet-week clock was closed in time by an authorised user
    quiet = db.clock(replay.quiet_clock)
    assert quiet["status"] == "closed" and bool(quiet["on_time"])
    assert quiet["closed_by"] == "duty-officer"
    # every alert went to the dashboard feed, none twice
    feed = json.loads(replay.feed.path.read_text())
    ids = [i["id"] for i in feed["items"]]
    latest = db.channel_feed("dashboard", limit=replay.feed.max_items)["alert_id"]
    assert ids == list(latest) and len(ids) == len(set(ids))
    assert set(db.outbox(channel="dashboard")["status"]) == {"sent"}


def test_a_second_pass_over_the_same_time_adds_nothing(replay: Replay) -> None:
    before = len(replay.db.alerts())
    r = run_alert_cycle(
        replay.store, now=CYCLES[-1], channels=[replay.feed], escalation_path=replay.escalation_path
    )
    assert r.new_alerts == [] and len(replay.db.alerts()) == before


def test_weekly_report_and_pdfs_list_open_and_missed_clocks(replay: Replay) -> None:
    from ceasewatch.report.pdf import write_daily_pdf_from_store
    from ceasewatch.report.weekly import weekly_report_from_store, write_weekly_report

    rep = weekly_report_from_store(
        replay.store, date(2025, 10, 2), generated_at=datetime(2025, 10, 2, 18, 0, tzinfo=UTC)
    )
    assert rep.number == "2025-W40" and rep.first_day == date(2025, 9, 26)
    assert {c.step for c in rep.clocks_missed} == {
        "Diplomatic warning and consultation",
        "Coordinated response",
    }
    assert any(c.subject == f"sector {replay.quiet_sector}" for c in rep.clocks_closed)
    top = rep.by_sector[0]
    assert top.label == ESCALATION_SECTOR and top.this_week > 2 * top.previous_week
    assert any(k == "expanded_attack" for k, _, _ in rep.alerts_by_kind)
    paths = write_weekly_report(rep, replay.folder / "weekly")
    md = paths["md"].read_text()
    assert "### Missed (2)" in md and "Coordinated response" in md
    html = paths["html"].read_text()
    assert "data:image/png;base64" in html and "https://" not in html
    pdf = paths["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF-") and len(pdf) > 20_000
    # the clocks as they stood on an earlier day: the 72 h clock was still running
    earlier = weekly_report_from_store(
        replay.store, date(2025, 9, 30), generated_at=datetime(2025, 9, 30, 16, 0, tzinfo=UTC)
    )
    assert [c.step for c in earlier.clocks_open] == ["Coordinated response"]
    assert earlier.clocks_open[0].hours_left is not None and earlier.clocks_open[0].hours_left > 0
    daily = write_daily_pdf_from_store(replay.store, date(2025, 10, 1), replay.folder / "daily.pdf")
    assert daily.read_bytes().startswith(b"%PDF-")


def _cli() -> typer.Typer:
    app = typer.Typer()
    report = typer.Typer()
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(clocks_app, name="clocks")
    app.command("watch")(watch_cmd)
    report.command("weekly")(report_weekly_cmd)
    report.command("daily-pdf")(report_daily_pdf_cmd)
    app.add_typer(report, name="report")
    return app


def test_commands_list_close_report_and_watch(replay: Replay, tmp_path: Path) -> None:
    replay.store.con.execute("CHECKPOINT")
    store = tmp_path / "cli.duckdb"
    shutil.copy(replay.folder / "cw.duckdb", store)
    cfg = tmp_path / "alerts.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "interval_s": 0,
                "escalation_file": str(replay.escalation_path),
                "channels": [{"name": "feed", "type": "feed", "path": "feed.json"}],
            }
        )
    )
    app = _cli()
    runner = CliRunner(env={"COLUMNS": "400"})
    run = runner.invoke
    s = ["--store", str(store)]
    r = run(app, ["alerts", "list", *s, "--kind", "expanded_attack"])
    assert r.exit_code == 0, r.output
    assert "Expanded attack in sector Zaporizhzhia" in r.output
    r = run(app, ["clocks", "list", *s, "--status", "all"])
    assert r.exit_code == 0 and "missed" in r.output and "closed" in r.output
    r = run(app, ["clocks", "steps", *s, "--config", str(cfg)])
    assert r.exit_code == 0 and "coordinated_response" in r.output
    zap = replay.db.clocks(step_id="consultation")
    cid = str(zap[zap["subject"] == f"sector:{ESCALATION_SECTOR}"].iloc[0]["clock_id"])
    r = run(
        app, ["clocks", "close", cid, *s, "--config", str(cfg), "--by", "intern", "--action", "x"]
    )
    assert r.exit_code == 1 and "may not close" in r.output
    r = run(
        app,
        [
            "clocks",
            "close",
            cid,
            *s,
            "--config",
            str(cfg),
            "--by",
            "duty-officer",
            "--action",
            "consultations held",
            "--now",
            "2025-10-02T09:00Z",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "Clock closed (late" in r.output
    r = run(app, ["alerts", "outbox", *s])
    assert r.exit_code == 0 and "dashboard" in r.output
    r = run(
        app,
        ["report", "weekly", *s, "--date", "2025-10-02", "-o", str(tmp_path / "wk"), "--no-pdf"],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "wk" / "report.md").exists()
    # one watcher at a time
    with WatchLock(lock_path(store)):
        r = run(app, ["watch", *s, "--config", str(cfg), "--iterations", "1"])
        assert r.exit_code == 1 and "another watcher" in r.output
    r = run(app, ["watch", *s, "--config", str(cfg), "--iterations", "1"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "feed.json").exists()
