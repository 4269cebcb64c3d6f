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

from typing import Final

from ceasewatch.errors import NotFoundError
from ceasewatch.evaluate.decisions import IncidentDecision, apply_incident_decisions
from ceasewatch.serve.errors import ConflictError, InvalidRequestError
from ceasewatch.store.audit import append_audit
from ceasewatch.store.decisions import (
    DECISIONS_DDL,
    ensure_decisions_table,
    list_decisions,
    record_decision,
)
from ceasewatch.store.open import AnyStore

#: allowed status transitions: current → possible next
TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    "detected": ("under_review",),
    "under_review": ("confirmed", "dismissed"),
    "confirmed": ("under_review",),
    "dismissed": ("under_review",),
}


def check_transition(current: str, new: str) -> None:
    """:class:`ConflictError` unless ``current → new`` is allowed."""
    allowed = TRANSITIONS.get(current, ())
    if new not in allowed:
        msg = f"status cannot change from {current} to {new}; from {current} it can go to " + (
            ", ".join(allowed) or "nothing"
        )
        raise ConflictError(msg, detail={"status": current, "allowed": list(allowed)})


def change_violation_status(
    store: AnyStore,
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


__all__ = [
    "DECISIONS_DDL",
    "TRANSITIONS",
    "IncidentDecision",
    "apply_incident_decisions",
    "change_violation_status",
    "check_transition",
    "ensure_decisions_table",
    "list_decisions",
    "record_decision",
]
