"""Analysts' split and merge decisions survive every re-evaluation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from conftest import make_events, write_agreement

from ceasewatch.agreement.store import load_agreement_into
from ceasewatch.evaluate.run import evaluate_store
from ceasewatch.normalize import schema
from ceasewatch.store.decisions import record_decision
from ceasewatch.store.duckdb import DuckDBStore


def _load(store: DuckDBStore, frame: pd.DataFrame, when: str) -> dict[str, str]:
    bid = store.begin_batch({"source": "test"})
    store.add_events(
        frame[list(schema.EVENT_COLUMNS)], batch_id=bid, recorded_at=pd.Timestamp(when)
    )
    ev = store.events()
    return dict(zip(ev[schema.SOURCE_EVENT_ID], ev[schema.EVENT_ID], strict=True))


def test_split_and_merge_are_applied_and_kept(tmp_path: Path, store: DuckDBStore) -> None:
    load_agreement_into(store, write_agreement(tmp_path / "a"))
    # an ACLED shelling and a FIRMS fire 300 m away, the same day: one incident
    frame = make_events(
        2,
        source=["acled", "firms"],
        source_event_id=["A1", "F1"],
        report_group=["acled", "firms:F1"],
        category=["shelling", "fire_detection"],
        lon=[37.50, 37.503],
        occurred_at=pd.Timestamp("2023-06-01T09:00:00Z"),
    )
    ids = _load(store, frame, "2023-06-02T00:00:00Z")
    evaluate_store(store)
    members = store.incident_members().set_index("event_id")["incident_id"]
    assert members[ids["A1"]] == members[ids["F1"]]

    # the analyst splits the fire off: two incidents, and they stay two
    record_decision(
        store,
        "split",
        event_ids=[ids["F1"]],
        incident_ids=[members[ids["A1"]]],
        actor="analyst:olena",
        comment="the fire is a field burn seen on an earlier pass",
    )
    assert evaluate_store(store).events_evaluated >= 1
    members = store.incident_members().set_index("event_id")["incident_id"]
    assert members[ids["A1"]] != members[ids["F1"]]
    evaluate_store(store, full=True)
    members = store.incident_members().set_index("event_id")["incident_id"]
    assert members[ids["A1"]] != members[ids["F1"]]

    # then merges them back: one incident again
    record_decision(
        store,
        "merge",
        event_ids=[ids["A1"], ids["F1"]],
        incident_ids=sorted(set(members)),
        actor="analyst:olena",
        comment="same strike after all (crater imagery)",
    )
    evaluate_store(store)
    members = store.incident_members().set_index("event_id")["incident_id"]
    assert members[ids["A1"]] == members[ids["F1"]]
    # both decisions are in the audit log
    actions = [r[0] for r in store.con.execute("SELECT action FROM audit_log").fetchall()]
    assert "incident.split" in actions and "incident.merge" in actions
