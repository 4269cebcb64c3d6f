"""Escalation ladder parsing and response clocks with an injected, moving clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from ceasewatch.alerts.clocks import (
    DEFAULT_STEPS,
    ClockBook,
    ClockStateError,
    EscalationConfig,
    NotAuthorisedError,
    clocks_summary,
    escalation_from_document,
    escalation_problems,
    steps_table,
)
from ceasewatch.alerts.trends import Alert, alert_id
from ceasewatch.errors import AgreementError
from ceasewatch.store.alerts import AlertStore
from ceasewatch.store.duckdb import DuckDBStore

T0 = datetime(2025, 9, 29, 8, 0, tzinfo=UTC)

LADDER = {
    "escalation": {
        "authorised": ["duty-officer", "head-of-cell"],
        "steps": [
            {
                "id": "consultation",
                "name": "Consultation",
                "opens_on": {"severity": "breach", "status": "confirmed"},
                "from": "confirmed_at",
                "deadline_hours": 24,
                "warn_before_hours": [6, 1],
                "who": ["coordination cell"],
                "per": "violation",
            },
            {
                "id": "sector_review",
                "name": "Sector review",
                "opens_on": {"severity": "warning", "status": "confirmed"},
                "deadline_hours": 48,
                "per": "sector",
                "authorised": ["head-of-cell"],
            },
            {
                "id": "coordinated_response",
                "name": "Coordinated response",
                "opens_on": {"alert": "expanded_attack"},
                "from": "started_at",
                "deadline_hours": 72,
                "warn_before_hours": [24, 6],
            },
        ],
    },
    "alerts": {
        "violation_min_level": "warning",
        "daily": {"notice": 0.02, "warning": 0.002, "min_count": 4},
        "hourly": False,
        "expanded_attack": {"min_breaches": 3, "window_hours": 12},
        "silence": {"lag_days": {"acled": 7}},
    },
}


class Clock:
    """A clock the test moves."""

    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> datetime:
        self.t = self.t + timedelta(**kw)
        return self.t


@pytest.fixture
def db() -> Iterator[AlertStore]:
    st = DuckDBStore(":memory:")
    yield AlertStore(st)
    st.close()


def add_violation(
    db: AlertStore,
    vid: str,
    *,
    sector: str,
    severity: str,
    occurred_at: datetime,
    category: str = "shelling",
) -> None:
    db.con.execute(
        "INSERT INTO violations (violation_id, incident_id, sector, zone, occurred_at, "
        "time_precision, category, severity, active) VALUES (?,?,?,?,?,?,?,?,true)",
        [vid, "I" + vid, sector, "artillery", occurred_at, "minute", category, severity],
    )


def set_status(db: AlertStore, vid: str, status: str, at: datetime, actor: str = "analyst") -> None:
    # the store's set_violation_status stamps the wall clock; the test needs its own time
    db.con.execute(
        "INSERT INTO violation_status VALUES (?,?,?,?,?)", [vid, status, "test", actor, at]
    )


def test_the_ladder_parses_from_a_mapping_a_file_and_defaults(tmp_path: Path) -> None:
    cfg = escalation_from_document(LADDER)
    assert [s.id for s in cfg.steps] == ["consultation", "sector_review", "coordinated_response"]
    cons = cfg.step("consultation")
    assert cons.deadline_hours == 24 and cons.warn_before_hours == (6.0, 1.0)
    assert cons.opens_on.severity == "breach" and cons.opens_on.status == "confirmed"
    assert cfg.step("coordinated_response").per == "sector"
    assert cfg.step("coordinated_response").level == "expanded_attack"
    assert cfg.authorised == ("duty-officer", "head-of-cell")
    assert cfg.policy.violation_min_level == "warning"
    assert cfg.policy.hourly is None
    assert cfg.policy.daily.min_count == 4 and cfg.policy.daily.warning == 0.002
    assert cfg.policy.expanded_attack.min_breaches == 3
    assert cfg.policy.silence.lag_days == {"acled": 7}
    # the same keys read from the agreement's YAML file (Agreement.source_path)
    import yaml

    path = tmp_path / "agreement.yaml"
    path.write_text(yaml.safe_dump({"name": "x", **LADDER}))
    assert escalation_from_document(path).steps == cfg.steps
    assert escalation_from_document(tmp_path).steps == cfg.steps  # the folder
    # a stored agreement document without the keys points at its file
    assert escalation_from_document({"name": "x", "source_path": str(path)}).steps == cfg.steps
    # or carries them under `extra`
    assert escalation_from_document({"extra": LADDER}).steps == cfg.steps
    # nothing at all: the reported plan's 24 h / 72 h ladder
    default = escalation_from_document({"name": "x"})
    assert default.steps == DEFAULT_STEPS
    assert [s.deadline_hours for s in default.steps] == [24.0, 72.0]
    assert steps_table(default)[1]["opens on"] == "alert expanded_attack"


def test_ladder_problems_are_all_reported_with_field_names() -> None:
    bad = {
        "escalation": [
            {"id": "a", "opens_on": {"severity": "huge"}, "deadline_hours": -1},
            {"id": "a", "opens_on": {"alert": "spike"}, "deadline_hours": 10, "per": "violation"},
            {"id": "b", "opens_on": {"severity": "breach"}, "deadline_hours": 5, "warn": 1},
            {"id": "c", "opens_on": {"severity": "breach"}, "deadline_hours": 5, "from": "x"},
            {
                "id": "d",
                "opens_on": {"severity": "breach"},
                "deadline_hours": 5,
                "warn_before_hours": [6],
            },
        ],
        "alerts": {"daily": {"notice": 3}, "dimensions": ["planet"], "bogus": 1},
    }
    problems = escalation_problems(bad)
    fields = {f for _, f, _ in problems}
    assert {
        "escalation.steps[0].opens_on.severity",
        "escalation.steps[0].deadline_hours",
        "escalation.steps[1].opens_on.alert",
        "escalation.steps[1].per",
        "escalation.steps[2].warn",
        "escalation.steps[3].from",
        "escalation.steps[4].warn_before_hours",
        "alerts.daily.notice",
        "alerts.dimensions",
        "alerts.bogus",
    } <= fields
    with pytest.raises(AgreementError, match=r"problem\(s\)") as e:
        escalation_from_document(bad)
    assert len(e.value.problems) == len(problems)
    assert escalation_problems(LADDER) == []


def test_a_confirmed_breach_opens_a_clock_that_warns_then_records_a_miss(db: AlertStore) -> None:
    cfg = escalation_from_document(LADDER)
    clock = Clock(T0)
    book = ClockBook(db, cfg, now=clock, agreement_version=1)
    add_violation(db, "V1", sector="Zaporizhzhia", severity="breach", occurred_at=T0)
    add_violation(db, "V2", sector="Zaporizhzhia", severity="notice", occurred_at=T0)
    # detected only: nothing opens
    assert book.open_clocks(db.violations_known(now=clock()), db.alerts()) == []
    confirmed_at = T0 + timedelta(hours=2)
    set_status(db, "V1", "confirmed", confirmed_at)
    set_status(db, "V2", "confirmed", confirmed_at)
    clock.t = confirmed_at + timedelta(minutes=5)
    opened = book.open_clocks(db.violations_known(now=clock()), db.alerts())
    # V1 opens the consultation (breach) and the sector review (warning or worse)
    assert sorted(a.payload["step_id"] for a in opened) == ["consultation", "sector_review"]
    cons = db.clocks(step_id="consultation").iloc[0]
    assert cons["status"] == "open" and cons["subject"] == "violation:V1"
    assert pd.Timestamp(cons["deadline"]) == pd.Timestamp(confirmed_at + timedelta(hours=24))
    assert pd.Timestamp(cons["opened_at"]) == pd.Timestamp(clock())
    assert all(a.kind == "clock_opened" for a in opened)
    assert "deadline 2025-09-30 10:00 UTC" in opened[0].title
    # opening again adds nothing
    assert book.open_clocks(db.violations_known(now=clock()), db.alerts()) == []

    v = db.violations_known(now=clock())
    assert book.tick(v) == []  # 23.9 h left: no warning yet
    clock.t = confirmed_at + timedelta(hours=18, minutes=30)  # 5.5 h left
    warned = book.tick(v)
    assert [(a.kind, a.payload["hours_before"]) for a in warned] == [("clock_warning", 6.0)]
    assert warned[0].alert_id == alert_id("clock_warning", cons["clock_id"], "6")
    assert book.tick(v) == []  # once only
    clock.t = confirmed_at + timedelta(hours=23, minutes=30)
    assert [a.payload["hours_before"] for a in book.tick(v)] == [1.0]
    clock.t = confirmed_at + timedelta(hours=24)
    missed = book.tick(v)
    assert [a.kind for a in missed] == ["clock_missed"]
    assert missed[0].level == "breach" and "Deadline missed" in missed[0].title
    row = db.clock(str(cons["clock_id"]))
    assert row["status"] == "missed"
    assert pd.Timestamp(row["missed_at"]) == pd.Timestamp(confirmed_at + timedelta(hours=24))
    assert book.tick(v) == []  # a miss is recorded once
    events = list(db.clock_log(str(cons["clock_id"]))["event"])
    assert events == ["opened", "warned", "warned", "missed"]

    # closing it now is closing late; only an authorised user may
    with pytest.raises(NotAuthorisedError, match="may not close"):
        book.close(str(cons["clock_id"]), by="intern", action="called them")
    with pytest.raises(NotAuthorisedError, match="name of who"):
        book.close(str(cons["clock_id"]), by=" ", action="called them")
    clock.advance(hours=3)
    closed = book.close(str(cons["clock_id"])[:8], by="duty-officer", action="demarche sent")
    assert "late" in closed.title
    row = db.clock(str(cons["clock_id"]))
    assert row["status"] == "closed" and not bool(row["on_time"])
    assert row["closed_by"] == "duty-officer" and row["action"] == "demarche sent"
    with pytest.raises(ClockStateError, match="only open or missed"):
        book.close(str(cons["clock_id"]), by="duty-officer", action="again")
    summary = clocks_summary(db.clocks(), now=clock())
    assert len(summary["missed"]) == 1 and len(summary["open"]) == 1  # the sector review


def test_a_clock_closed_in_time_is_met_and_step_authorisation_applies(db: AlertStore) -> None:
    cfg = escalation_from_document(LADDER)
    clock = Clock(T0)
    book = ClockBook(db, cfg, now=clock)
    add_violation(db, "V1", sector="Kherson", severity="warning", occurred_at=T0)
    set_status(db, "V1", "confirmed", T0 + timedelta(hours=1))
    clock.advance(hours=2)
    book.open_clocks(db.violations_known(now=clock()), db.alerts())
    review = db.clocks(step_id="sector_review").iloc[0]
    assert review["subject"] == "sector:Kherson"
    # the step's own list overrides the ladder's
    with pytest.raises(NotAuthorisedError, match="head-of-cell"):
        book.close(str(review["clock_id"]), by="duty-officer", action="reviewed")
    clock.advance(hours=10)
    done = book.close(str(review["clock_id"]), by="head-of-cell", action="sector reviewed")
    assert done.kind == "clock_closed" and "late" not in done.title
    assert bool(db.clock(str(review["clock_id"]))["on_time"])
    clock.advance(hours=100)
    assert book.tick(db.violations_known(now=clock())) == []  # closed clocks never miss


def test_sector_clocks_gather_later_triggers_and_dismissals_cancel(db: AlertStore) -> None:
    cfg = escalation_from_document(LADDER)
    clock = Clock(T0)
    book = ClockBook(db, cfg, now=clock)
    for i in range(3):
        add_violation(
            db, f"W{i}", sector="Donetsk", severity="warning", occurred_at=T0 + timedelta(hours=i)
        )
        set_status(db, f"W{i}", "confirmed", T0 + timedelta(hours=i, minutes=30))
    clock.advance(hours=4)
    book.open_clocks(db.violations_known(now=clock()), db.alerts())
    reviews = db.clocks(step_id="sector_review")
    assert len(reviews) == 1 and reviews.iloc[0]["n_triggers"] == 3
    # the deadline runs from the first trigger
    assert pd.Timestamp(reviews.iloc[0]["deadline"]) == pd.Timestamp(
        T0 + timedelta(minutes=30, hours=48)
    )
    for i in range(3):
        set_status(db, f"W{i}", "dismissed", clock() + timedelta(minutes=1))
    clock.advance(hours=1)
    assert book.tick(db.violations_known(now=clock())) == []
    assert db.clocks(step_id="sector_review").iloc[0]["status"] == "cancelled"


def test_an_expanded_attack_alert_opens_the_72_hour_clock_from_the_initial_breach(
    db: AlertStore,
) -> None:
    cfg = escalation_from_document(LADDER)
    clock = Clock(T0 + timedelta(hours=10))
    book = ClockBook(db, cfg, now=clock)
    started = T0 - timedelta(hours=3)
    ea = Alert(
        alert_id=alert_id("expanded_attack", "Zaporizhzhia", "2025-09-29"),
        kind="expanded_attack",
        level="expanded_attack",
        title="Expanded attack in sector Zaporizhzhia",
        raised_at=clock(),
        subject="sector:Zaporizhzhia",
        payload={"sector": "Zaporizhzhia", "started_at": pd.Timestamp(started)},
    )
    db.add_alerts([ea], {}, now=clock())
    opened = book.open_clocks(db.violations_known(now=clock()), db.alerts())
    assert [a.payload["step_id"] for a in opened] == ["coordinated_response"]
    c = db.clocks(step_id="coordinated_response").iloc[0]
    assert pd.Timestamp(c["deadline"]) == pd.Timestamp(started + timedelta(hours=72))
    assert c["level"] == "expanded_attack"
    # the next day's expanded-attack alert joins the open clock
    ea2 = Alert(
        alert_id=alert_id("expanded_attack", "Zaporizhzhia", "2025-09-30"),
        kind="expanded_attack",
        level="expanded_attack",
        title="Expanded attack in sector Zaporizhzhia",
        raised_at=clock.advance(hours=20),
        subject="sector:Zaporizhzhia",
        payload={"sector": "Zaporizhzhia", "started_at": pd.Timestamp(clock())},
    )
    db.add_alerts([ea2], {}, now=clock())
    assert book.open_clocks(db.violations_known(now=clock()), db.alerts()) == []
    assert db.clocks(step_id="coordinated_response").iloc[0]["n_triggers"] == 2
    clock.t = started + timedelta(hours=49)
    assert [a.payload["hours_before"] for a in book.tick(None)] == [24.0]
    clock.t = started + timedelta(hours=80)
    # the watcher was away past the 6 h warning: the miss is recorded, not a stale warning
    assert [a.kind for a in book.tick(None)] == ["clock_missed"]


def test_default_config_object_is_the_reported_plan() -> None:
    cfg = EscalationConfig()
    assert cfg.step("consultation").start == "confirmed_at"
    assert cfg.step("coordinated_response").start == "started_at"
    with pytest.raises(ClockStateError, match="no escalation step"):
        cfg.step("nope")
