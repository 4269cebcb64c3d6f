"""``ceasewatch watch``: the schedule, one watcher at a time, resuming after a restart, and
surviving a bad cycle. Bounded: a fake clock and a fake sleep, a few iterations."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ceasewatch.agreement.store import load_agreement_into
from ceasewatch.alerts.delivery import ChannelConfigError
from ceasewatch.alerts.watch import (
    STATE_CYCLES,
    STATE_LAST,
    STATE_NEXT_DUE,
    FeedSpec,
    WatchConfig,
    WatchLock,
    WatchLockedError,
    lock_path,
    run_watch,
    watch_config_from_file,
)
from ceasewatch.normalize import schema
from ceasewatch.store.alerts import AlertStore
from ceasewatch.store.duckdb import DuckDBStore

T0 = datetime(2023, 6, 10, 6, 0, tzinfo=UTC)
LINE = [(37.62, 49.71), (37.80, 48.98), (37.18, 48.28), (36.20, 47.60), (35.00, 47.40)]


def write_agreement(folder: Path) -> Path:
    """A minimal agreement (kept here: ``import conftest`` is ambiguous across folders)."""
    folder.mkdir(parents=True, exist_ok=True)
    line = {"type": "LineString", "coordinates": [list(p) for p in LINE]}
    (folder / "line.geojson").write_text(json.dumps(line))
    (folder / "agreement.yaml").write_text(
        "name: Watch test\nparties: [UA, RU]\neffective: 2023-03-01T00:00:00Z\n"
        "line_of_contact: line.geojson\n"
        "zones:\n  - {id: disengagement, width_km: 15, prohibits: [any_military_activity]}\n"
        "prohibited_everywhere: [shelling]\n"
    )
    return folder


def make_events(days: list[int]) -> pd.DataFrame:
    n = len(days)
    frame = pd.DataFrame(
        {
            schema.SOURCE: "acled",
            schema.SOURCE_EVENT_ID: [f"S{i}" for i in range(n)],
            schema.OCCURRED_AT: pd.to_datetime(
                [f"2023-06-{d:02d}T10:00:00Z" for d in days], utc=True
            ),
            schema.TIME_PRECISION: "minute",
            schema.TIME_WINDOW_S: 0.0,
            schema.LON: 37.5,
            schema.LAT: 48.5,
            schema.GEO_PRECISION_M: 1_000.0,
            schema.CATEGORY: "shelling",
            schema.WEAPON_CLASS: None,
            schema.ACTOR: None,
            schema.ATTRIBUTED_TO: None,
            schema.FATALITIES: float("nan"),
            schema.COUNT: 1,
            schema.RELIABILITY: "B",
            schema.CREDIBILITY: 2,
            schema.REPORT_GROUP: [f"g{i}" for i in range(n)],
            schema.LOCATION_NAME: None,
            schema.ADMIN1: None,
            schema.NOTES: None,
            schema.RAW: [json.dumps({"i": i}) for i in range(n)],
            schema.LINE_NO: list(range(2, n + 2)),
        }
    )
    return frame


class FakeTime:
    def __init__(self, t: datetime) -> None:
        self.t = t
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += timedelta(seconds=seconds)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "cw.duckdb"
    st = DuckDBStore(path)
    load_agreement_into(st, write_agreement(tmp_path / "agreement"))
    # a few shelling events after the agreement took effect, so a cycle has work to do
    events = make_events([1, 3, 5, 7])
    with st.transaction():
        bid = st.begin_batch({"source": "acled", "file_name": "x.csv", "file_sha256": "x"})
        st.add_events(events, batch_id=bid, recorded_at=T0 - timedelta(days=1))
        st.finish_batch(bid, {"loaded": 4})
    st.close()
    return path


def test_cycles_keep_their_schedule_across_a_restart(store_path: Path) -> None:
    clock = FakeTime(T0)
    cfg = WatchConfig(interval_s=600)
    lines: list[str] = []
    results = run_watch(
        store_path, cfg, iterations=2, now=clock.now, sleep=clock.sleep, echo=lines.append
    )
    assert [r.started_at for r in results] == [T0, T0 + timedelta(minutes=10)]
    assert results[0].events_evaluated == 4 and not results[0].errors
    assert clock.slept == [600.0] and len(lines) == 2
    # the process restarts 3 minutes later: it waits for the cycle that was due, not more
    clock.t += timedelta(minutes=3)
    again = run_watch(store_path, cfg, iterations=1, now=clock.now, sleep=clock.sleep)
    assert clock.slept[-1] == pytest.approx(7 * 60)
    assert again[0].started_at == T0 + timedelta(minutes=20)
    st = DuckDBStore(store_path)
    db = AlertStore(st)
    assert db.get_state(STATE_CYCLES) == 3
    assert db.get_state(STATE_NEXT_DUE).startswith("2023-06-10T06:30")
    assert db.get_state(STATE_LAST)["errors"] == []
    st.close()


def test_a_bad_cycle_is_recorded_and_the_watcher_goes_on(store_path: Path) -> None:
    clock = FakeTime(T0)
    cfg = WatchConfig(interval_s=60, feeds=(FeedSpec("no-such-source", "/nowhere/*.csv"),))
    results = run_watch(store_path, cfg, iterations=2, now=clock.now, sleep=clock.sleep)
    assert len(results) == 2
    assert all(any("no-such-source" in e for e in r.errors) for r in results)
    st = DuckDBStore(store_path)
    assert "unknown source" in AlertStore(st).get_state(STATE_LAST)["errors"][0]
    st.close()


def test_one_watcher_per_store_and_the_lock_dies_with_its_holder(store_path: Path) -> None:
    lock = lock_path(store_path)
    with WatchLock(lock):
        with pytest.raises(WatchLockedError, match="another watcher"):
            run_watch(store_path, WatchConfig(), iterations=1)
        assert "pid" in lock.read_text()
    # released: a new watcher starts (a crashed holder's lock is released by the OS too)
    assert len(run_watch(store_path, WatchConfig(interval_s=1), iterations=1)) == 1


def test_a_stop_request_ends_the_wait_at_once(store_path: Path) -> None:
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    # the second cycle is due in an hour; the stop ends the wait instead
    results = run_watch(store_path, WatchConfig(interval_s=3600), stop=stop)
    timer.join()
    assert len(results) == 1


def test_the_configuration_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "interval_s": 120,
                "feeds": [{"source": "acled", "path": "incoming/acled-*.csv"}],
                "channels": [{"name": "dash", "type": "feed", "path": "web/alerts.json"}],
                "escalation_file": "ladder.yaml",
            }
        )
    )
    cfg = watch_config_from_file(path, interval_s=30)
    assert cfg.interval_s == 30  # the command line wins
    assert cfg.feeds == (FeedSpec("acled", str(tmp_path / "incoming/acled-*.csv")),)
    assert cfg.channels[0].name == "dash"
    assert cfg.escalation_path == tmp_path / "ladder.yaml"
    path.write_text("interval: 5\n")
    with pytest.raises(ChannelConfigError, match="unknown field"):
        watch_config_from_file(path)
