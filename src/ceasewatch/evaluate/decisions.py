"""Analysts' split and merge decisions, honoured by every evaluation.

A merge is a must-link between the incidents' events, a split a cannot-link between the
events split off and the rest. :func:`apply_incident_decisions` is pure: it takes the
member table that corroboration produced and returns it with the decisions applied, in
the order they were taken. Decisions are stored by ``store/decisions.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd


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
