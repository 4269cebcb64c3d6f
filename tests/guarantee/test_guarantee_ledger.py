"""The working group's ledger: lifecycle, change log, import, scorecard."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from ceasewatch.errors import NotFoundError
from ceasewatch.guarantee import schema as gs
from ceasewatch.guarantee.commitments import (
    LedgerError,
    TransitionError,
    delivery_lag,
    overdue,
    parse_record,
    scorecard,
)
from ceasewatch.guarantee.ledger import (
    add_commitment,
    add_guarantor,
    add_record,
    import_ledger,
    set_status,
    update_record,
)
from ceasewatch.store import guarantee as sg
from ceasewatch.store.duckdb import DuckDBStore

D = date


def _seed(store: DuckDBStore) -> None:
    add_guarantor(store, "UK", "United Kingdom", actor="alice")
    add_guarantor(store, "EU", "European Union", kind="organisation", actor="alice")
    add_commitment(
        store,
        actor="alice",
        commitment_id="UK-AD1",
        guarantor_id="UK",
        component="air_defense",
        description="Two air-defense batteries",
        quantity=2,
        unit="batteries",
        value_eur=1.0e9,
        due_date="2025-10-01",
        status="pledged",
        pledged_on="2025-09-01",
    )


def test_lifecycle_steps_and_dates(store: DuckDBStore) -> None:
    _seed(store)
    set_status(store, "UK-AD1", "agreed", on=D(2025, 9, 5), actor="bob")
    rec = set_status(
        store, "UK-AD1", "deployed", on=D(2025, 9, 20), delivered_quantity=1, actor="bob"
    )
    assert rec["status"] == "deployed"
    assert (rec["pledged_on"], rec["agreed_on"], rec["deployed_on"]) == (
        D(2025, 9, 1),
        D(2025, 9, 5),
        D(2025, 9, 20),
    )
    assert rec["delivered_quantity"] == 1
    stored = sg.require_record(store, "commitments", "UK-AD1")
    assert stored["status"] == "deployed" and stored["agreed_on"] == D(2025, 9, 5)
    set_status(store, "UK-AD1", "withdrawn", on=D(2025, 12, 1), actor="bob")
    with pytest.raises(TransitionError, match="a withdrawn commitment is final"):
        set_status(store, "UK-AD1", "deployed", on=D(2025, 12, 2), actor="bob")


@pytest.mark.parametrize(
    ("new", "match"),
    [
        (
            "delivered",
            r"cannot go from 'pledged' to 'delivered' \(steps cannot be skipped\); "
            r"allowed from 'pledged': agreed, withdrawn",
        ),
        ("proposed", r"'pledged' to 'proposed' \(the lifecycle does not go back\)"),
        ("pledged", r"it already has that status"),
        ("done", r"status 'done' is not a status; allowed: proposed, pledged"),
    ],
)
def test_invalid_transitions_refused(store: DuckDBStore, new: str, match: str) -> None:
    _seed(store)
    with pytest.raises(TransitionError, match=match):
        set_status(store, "UK-AD1", new, on=D(2025, 9, 10), actor="bob")
    # nothing written: the record and the log are unchanged
    assert sg.require_record(store, "commitments", "UK-AD1")["status"] == "pledged"
    assert len(sg.ledger_log(store)) == 3


def test_fulfilment_depends_on_component(store: DuckDBStore) -> None:
    _seed(store)
    add_commitment(
        store,
        actor="a",
        commitment_id="EU-M1",
        guarantor_id="EU",
        component="monitoring",
        description="observers",
        status="agreed",
        agreed_on="2025-09-01",
    )
    with pytest.raises(TransitionError, match="a monitoring commitment is deployed"):
        set_status(store, "EU-M1", "delivered", on=D(2025, 9, 2), actor="a")
    with pytest.raises(TransitionError, match="before the last recorded step"):
        set_status(store, "EU-M1", "deployed", on=D(2025, 8, 1), actor="a")


def test_log_appended_never_updated(store: DuckDBStore) -> None:
    _seed(store)
    before = sg.ledger_log(store)
    assert list(before["action"]) == ["add", "add", "add"]
    assert list(before["actor"]) == ["alice"] * 3
    set_status(store, "UK-AD1", "agreed", on=D(2025, 9, 5), actor="bob")
    update_record(store, "guarantors", "UK", {"notes": "lead nation"}, actor="carol")
    after = sg.ledger_log(store)
    assert len(after) == 5
    # the earlier rows are exactly as they were
    assert after.head(3).astype(str).to_dict("records") == before.astype(str).to_dict("records")
    status_row = after.iloc[3]
    assert status_row["action"] == "status:agreed" and status_row["actor"] == "bob"
    assert '"status": "pledged"' in status_row["old_json"]
    assert '"status": "agreed"' in status_row["new_json"]
    assert '"agreed_on": "2025-09-05"' in status_row["new_json"]
    assert sg.verify_ledger_log(store) == []
    # an identical write changes and logs nothing
    assert (
        sg.put_record(store, "guarantors", sg.require_record(store, "guarantors", "UK"), actor="x")
        == "unchanged"
    )
    assert len(sg.ledger_log(store)) == 5
    # tampering with a stored row breaks the chain there
    store.con.execute("UPDATE ledger_log SET actor = 'mallory' WHERE log_id = 2")
    problems = sg.verify_ledger_log(store)
    assert problems and problems[0].startswith("log row 2: content does not match")


def test_validation_messages(store: DuckDBStore) -> None:
    _rec, problems = parse_record(
        gs.COMMITMENTS,
        {
            "commitment_id": "X 1",
            "guarantor_id": "UK",
            "component": "navy",
            "description": "d",
            "status": "agreed",
            "quantity": "many",
            "due_date": "next week",
            "delivered_on": "2025-01-01",
            "colour": "red",
        },
    )
    text = "; ".join(problems)
    assert "unknown field(s) 'colour'" in text
    assert "component 'navy' is not allowed; choose one of presence, air_defense" in text
    assert "quantity 'many' is not a number" in text
    assert "due_date 'next week' is not a date YYYY-MM-DD" in text
    assert "commitment_id 'X 1' must be 1-64 letters" in text
    assert "delivered_on is set but status is 'agreed'" in text
    _seed(store)
    with pytest.raises(LedgerError, match=r"guarantor_id 'ZZ' is not in guarantors"):
        add_commitment(
            store,
            actor="a",
            commitment_id="ZZ-1",
            guarantor_id="ZZ",
            component="armaments",
            description="tanks",
        )
    with pytest.raises(LedgerError, match="already exists in guarantors; update it instead"):
        add_guarantor(store, "UK", "UK again", actor="a")
    with pytest.raises(LedgerError, match="change the status with set-status"):
        update_record(store, "commitments", "UK-AD1", {"status": "agreed"}, actor="a")
    with pytest.raises(NotFoundError, match="commitment_id 'nope' is not in commitments"):
        set_status(store, "nope", "agreed", actor="a")
    with pytest.raises(LedgerError, match="venue 'Oslo' is not among venue_candidates"):
        add_record(
            store,
            "meetings",
            {
                "meeting_id": "M1",
                "date": "2025-01-01",
                "format": "bilateral",
                "participants": "UA;UK",
                "status": "held",
                "venue_candidates": "Kyiv;London",
                "venue": "Oslo",
            },
            actor="a",
        )


def _commitments(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {c: None for c in gs.COMMITMENTS.columns}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_scorecard_and_overdue() -> None:
    c = _commitments(
        [
            # promised and late: overdue by 10 days
            {
                "commitment_id": "a",
                "guarantor_id": "UK",
                "component": "armaments",
                "status": "agreed",
                "value_eur": 100.0,
                "due_date": D(2025, 9, 21),
            },
            # due today: not yet overdue (overdue starts the day after the due date)
            {
                "commitment_id": "b",
                "guarantor_id": "UK",
                "component": "armaments",
                "status": "pledged",
                "value_eur": 50.0,
                "due_date": D(2025, 10, 1),
            },
            # a proposal is never overdue
            {
                "commitment_id": "c",
                "guarantor_id": "UK",
                "component": "armaments",
                "status": "proposed",
                "value_eur": 70.0,
                "due_date": D(2025, 1, 1),
            },
            # delivered half of the quantity: half the value delivered
            {
                "commitment_id": "d",
                "guarantor_id": "UK",
                "component": "armaments",
                "status": "delivered",
                "value_eur": 200.0,
                "quantity": 10.0,
                "delivered_quantity": 5.0,
                "due_date": D(2025, 1, 1),
                "pledged_on": D(2025, 1, 1),
                "delivered_on": D(2025, 3, 2),
            },
            # withdrawn: counts neither as committed nor as overdue
            {
                "commitment_id": "e",
                "guarantor_id": "UK",
                "component": "armaments",
                "status": "withdrawn",
                "value_eur": 999.0,
                "due_date": D(2025, 1, 1),
            },
            {
                "commitment_id": "f",
                "guarantor_id": "FR",
                "component": "presence",
                "status": "deployed",
                "value_eur": 10.0,
                "pledged_on": D(2025, 5, 1),
                "deployed_on": D(2025, 5, 31),
            },
        ]
    )
    as_of = D(2025, 10, 1)
    od = overdue(c, as_of=as_of)
    assert list(od["commitment_id"]) == ["a"] and od["days_overdue"].iloc[0] == 10
    sc = scorecard(c, as_of=as_of).set_index(["guarantor_id", "component"])
    uk = sc.loc[("UK", "armaments")]
    assert uk["n_commitments"] == 5 and uk["n_overdue"] == 1 and uk["max_days_overdue"] == 10
    assert uk["committed_value_eur"] == 350.0  # a + b + d
    assert uk["delivered_value_eur"] == 100.0  # half of d
    assert uk["delivery_ratio"] == pytest.approx(100 / 350)
    assert (uk["n_proposed"], uk["n_withdrawn"], uk["n_delivered"]) == (1, 1, 1)
    fr = sc.loc[("FR", "presence")]
    assert fr["delivery_ratio"] == 1.0 and fr["n_overdue"] == 0
    lag = delivery_lag(c).set_index("commitment_id")["lag_days"]
    assert lag.to_dict() == {"d": 60, "f": 30}


LEDGER_YAML = """\
guarantors:
  - {guarantor_id: UK, name: United Kingdom, kind: country}
  - {guarantor_id: FR, name: France}
commitments:
  - commitment_id: UK-P1
    guarantor_id: UK
    component: presence
    description: Battlegroup
    quantity: 2400
    unit: troops
    status: pledged
    pledged_on: 2025-09-01
    due_date: 2025-09-30
  - commitment_id: FR-X
    guarantor_id: FR
    component: naval
    description: a component that does not exist
    status: pledged
  - commitment_id: PL-1
    guarantor_id: PL
    component: armaments
    description: an unknown guarantor
    status: pledged
contingents:
  - {contingent_id: UK-BG1, guarantor_id: UK, role: deterrence, strength: 2400,
     base_name: Dnipro, base_lon: 35.05, base_lat: 48.46, sectors: [Donetsk-North, Donetsk-South]}
support:
  - {support_id: S1, provider_id: FR, recipient_id: UK, kind: airlift, contingent_id: UK-BG1}
protected_zones:
  - {zone_id: Z1, name: Kyiv, kind: site, lon: 30.52, lat: 50.45, radius_km: 40}
  - {zone_id: Z2, name: Nowhere, kind: site, lon: 30.52, lat: 50.45}
meetings:
  - {meeting_id: M1, date: 2025-09-10, format: trilateral, participants: [UA, US, RU],
     venue_candidates: [Istanbul, Geneva], venue: Geneva, status: held}
sightings:
  - {x: 1}
"""


def test_import_yaml_with_quarantine(store: DuckDBStore, tmp_path: Path) -> None:
    path = tmp_path / "ledger.yaml"
    path.write_text(LEDGER_YAML)
    r = import_ledger(store, path, actor="wg")
    assert (r.rows_read, r.loaded, r.quarantined) == (10, 7, 4)
    q = store.quarantine().set_index("line_no")
    assert set(q["source"]) == {"guarantee_ledger"}
    # each bad record with its YAML line and the reason naming the field and the value
    assert "component 'naval' is not allowed" in q.loc[14, "reason"]
    assert "guarantor_id 'PL' is not in guarantors" in q.loc[19, "reason"]
    assert "a site zone needs lon, lat and radius_km" in q.loc[31, "reason"]
    assert "section 'sightings' is not a ledger table" in q.loc[35, "reason"]
    log = sg.ledger_log(store)
    assert (log["action"] == "import").all() and (log["batch_id"] == r.batch_id).all()
    assert len(log) == 7
    assert sg.ledger_table(store, "contingents")["sectors"].iloc[0] == "Donetsk-North;Donetsk-South"
    # the same file again: nothing added
    assert import_ledger(store, path, actor="wg").skipped_file


def test_import_csv_moves_forward_not_back(store: DuckDBStore, tmp_path: Path) -> None:
    _seed(store)
    cols = (
        "commitment_id,guarantor_id,component,description,status,pledged_on,agreed_on,delivered_on"
    )
    p1 = tmp_path / "commitments.csv"
    # pledged → delivered in one import is fine when the file states the history
    p1.write_text(
        cols + "\nUK-AD1,UK,air_defense,Two air-defense batteries,delivered,2025-09-01,"
        "2025-09-05,2025-09-20\n"
    )
    r = import_ledger(store, p1, actor="wg")
    assert (r.loaded, r.new_version, r.quarantined) == (0, 1, 0)
    assert sg.require_record(store, "commitments", "UK-AD1")["status"] == "delivered"
    p2 = tmp_path / "older.csv"
    p2.write_text(cols + "\nUK-AD1,UK,air_defense,x,pledged,2025-09-01,,\n")
    r2 = import_ledger(store, p2, actor="wg", table="commitments")
    assert r2.quarantined == 1
    reason = store.quarantine()["reason"].iloc[-1]
    assert "cannot go from 'delivered' to 'pledged' (the lifecycle does not go back)" in reason
    assert store.quarantine()["line_no"].iloc[-1] == 2
