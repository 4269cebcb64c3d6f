"""The analyst's review: violation status workflow and incident split/merge decisions.

Status workflow (every change needs a comment and is audited)::

    detected → under_review → confirmed | dismissed
    confirmed | dismissed → under_review            (re-opened on new evidence)

Split and merge decisions are recorded in ``incident_decisions`` (kind, the events or
incidents concerned, who, why, when) and audited. Corroboration honours them as
constraints (see :func:`apply_incident_decisions`, a pure function over the member
table): a merge is a must-link between the incidents' events, a split a cannot-link
between the events split off and the rest.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import pandas as pd

from ceasewatch.errors import NotFoundError
from ceasewatch.serve.errors import ConflictError, InvalidRequestError
from ceasewatch.store.audit import SqlStore, append_audit
from ceasewatch.store.duckdb import DuckDBStore

#: allowed status transitions: current → possible next
TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    "detected": ("under_review",),
    "under_review": ("confirmed", "dismissed"),
    "confirmed": ("under_review",),
    "dismissed": ("under_review",),
}

DECISIONS_DDL = """
CREATE TABLE IF NOT EXISTS incident_decisions (
    decision_id TEXT PRIMARY KEY, kind TEXT NOT NULL, event_ids TEXT NOT NULL,
    incident_ids TEXT NOT NULL, actor TEXT NOT NULL, comment TEXT NOT NULL,
    "at" TIMESTAMPTZ NOT NULL
)
"""


def ensure_decisions_table(store: SqlStore) -> None:
    store.con.execute(DECISIONS_DDL)


def check_transition(current: str, new: str) -> None:
    """:class:`ConflictError` unless ``current → new`` is allowed."""
    allowed = TRANSITIONS.get(current, ())
    if new not in allowed:
        msg = f"status cannot change from {current} to {new}; from {current} it can go to " + (
            ", ".join(allowed) or "nothing"
        )
        raise ConflictError(msg, detail={"status": current, "allowed": list(allowed)})


def change_violation_status(
    store: DuckDBStore,
    violation_id: str,
    new_status: str,
    *,
    comment: str,
    actor: str,
    current: str | None,
) -> int:
    """Record a status change with its audit entry (inside the caller's transaction);
    ``current`` is the status read under the same lock. Returns the audit seq."""
    if current is None:
        msg = f"violation {violation_id!r} does not exist"
        raise NotFoundError(msg)
    check_transition(current, new_status)
    if not comment.strip():
        msg = "a comment is required to change a violation's status"
        raise InvalidRequestError(msg)
    store.set_violation_status(violation_id, new_status, comment=comment, actor=actor)
    return append_audit(
        store,
        actor=actor,
        action="violation.status",
        entity="violation",
        entity_id=violation_id,
        payload={"from": current, "to": new_status, "comment": comment},
    )


@dataclass(frozen=True)
class IncidentDecision:
    decision_id: str
    kind: str
    event_ids: tuple[str, ...]
    incident_ids: tuple[str, ...]
    actor: str
    comment: str
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "kind": self.kind,
            "event_ids": list(self.event_ids),
            "incident_ids": list(self.incident_ids),
            "actor": self.actor,
            "comment": self.comment,
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }


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
        raise InvalidRequestError(msg)
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


def apply_incident_decisions(
    members: pd.DataFrame, decisions: list[IncidentDecision]
) -> pd.DataFrame:
    """Incident membership with the analysts' decisions applied, in decision order.

    Pure: ``members`` has columns ``event_id`` and ``incident_id``; a copy is returned.
    A merge moves every incident holding one of the decision's events (or named by it)
    into the first named incident that still exists. A split moves the named events into
    one new incident whose id is ``I`` + the first split event's id (the anchor rule of
    corroboration; what remains is re-anchored on its own first event if its anchor
    left). Events or incidents no longer present are ignored: old decisions stay harmless.

    For the evaluation: apply this after ``corroborate()`` and before summarising, so
    every re-evaluation keeps the decisions (merge = must-link, split = cannot-link).
    """
    out = members[["event_id", "incident_id"]].copy()
    for d in decisions:
        if d.kind == "merge":
            # the incidents now holding the decision's events (robust to incident ids
            # changed by a re-evaluation), then those it named that still exist
            holding = out.loc[out["event_id"].isin(d.event_ids), "incident_id"]
            named = [i for i in d.incident_ids if (out["incident_id"] == i).any()]
            present = list(dict.fromkeys([*named, *sorted(holding.unique())]))
            if len(present) < 2:
                continue
            out.loc[out["incident_id"].isin(present[1:]), "incident_id"] = present[0]
        elif d.kind == "split":
            sel = out["event_id"].isin(d.event_ids)
            if not sel.any():
                continue
            left = set("I" + out.loc[sel, "event_id"])
            # the rest of each incident split keeps its id, unless that id is anchored on
            # an event that left: then it is re-anchored on its own first event
            for inc in out.loc[sel, "incident_id"].unique():
                rest = (out["incident_id"] == inc) & ~sel
                if rest.any() and inc in left:
                    out.loc[rest, "incident_id"] = "I" + min(out.loc[rest, "event_id"])
            out.loc[sel, "incident_id"] = "I" + min(out.loc[sel, "event_id"])
    return out
