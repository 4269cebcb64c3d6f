"""Storing analysts' split and merge decisions (append-only, audited)."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from ceasewatch.errors import CeasewatchError
from ceasewatch.evaluate.decisions import IncidentDecision
from ceasewatch.store.audit import SqlStore, append_audit

DECISIONS_DDL = """
CREATE TABLE IF NOT EXISTS incident_decisions (
    decision_id TEXT PRIMARY KEY, kind TEXT NOT NULL, event_ids TEXT NOT NULL,
    incident_ids TEXT NOT NULL, actor TEXT NOT NULL, comment TEXT NOT NULL,
    "at" TIMESTAMPTZ NOT NULL
)
"""


def ensure_decisions_table(store: SqlStore) -> None:
    store.con.execute(DECISIONS_DDL)


def has_decisions_table(con: Any) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'incident_decisions' "
        "AND table_schema = current_schema()"
    ).fetchone()
    return bool(row and row[0])


def record_decision(
    store: SqlStore,
    kind: str,
    *,
    event_ids: list[str],
    incident_ids: list[str],
    actor: str,
    comment: str,
) -> IncidentDecision:
    """Store a split or merge decision and its audit entry (caller holds the transaction)."""
    if kind not in ("split", "merge"):
        msg = f"decision kind {kind!r} is not split or merge"
        raise DecisionError(msg)
    ensure_decisions_table(store)
    d = IncidentDecision(
        "D" + secrets.token_hex(8),
        kind,
        tuple(event_ids),
        tuple(incident_ids),
        actor,
        comment,
        datetime.now(UTC),
    )
    store.con.execute(
        "INSERT INTO incident_decisions VALUES (?,?,?,?,?,?,?)",
        [
            d.decision_id,
            d.kind,
            json.dumps(list(d.event_ids)),
            json.dumps(list(d.incident_ids)),
            d.actor,
            d.comment,
            d.at,
        ],
    )
    append_audit(
        store,
        actor=actor,
        action=f"incident.{kind}",
        entity="incident_decision",
        entity_id=d.decision_id,
        payload={"event_ids": event_ids, "incident_ids": incident_ids, "comment": comment},
    )
    return d


def list_decisions(con: Any, *, incident_id: str | None = None) -> list[IncidentDecision]:
    """Decisions in time order; with ``incident_id``, those naming it."""
    rows = con.execute(
        'SELECT decision_id, kind, event_ids, incident_ids, actor, comment, "at" '
        'FROM incident_decisions ORDER BY "at", decision_id'
    ).fetchall()
    out = [
        IncidentDecision(r[0], r[1], tuple(json.loads(r[2])), tuple(json.loads(r[3])), *r[4:])
        for r in rows
    ]
    if incident_id is not None:
        out = [d for d in out if incident_id in d.incident_ids]
    return out


class DecisionError(CeasewatchError, ValueError):
    """A split or merge decision that cannot be recorded."""
