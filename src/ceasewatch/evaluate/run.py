"""Evaluation through the store: the orchestration around the pure functions.

``evaluate_store`` finds the events not yet evaluated (or evaluated against another
agreement version or an older version of the record), computes their zones, re-runs
corroboration over the time window they touch, and re-applies the rules to the incidents
of that window. Loading an agreement version makes every event due again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

from ceasewatch.agreement.geometry import ZoneModel
from ceasewatch.agreement.model import Agreement, agreement_from_document
from ceasewatch.errors import CeasewatchError
from ceasewatch.evaluate.corroborate import (
    CorroborationParams,
    corroborate,
    summarise_incidents,
)
from ceasewatch.evaluate.decisions import IncidentDecision, apply_incident_decisions
from ceasewatch.evaluate.rules import violations_from_incidents
from ceasewatch.evaluate.zones import evaluate_zones
from ceasewatch.normalize import schema
from ceasewatch.normalize.timeprec import time_bounds
from ceasewatch.store.audit import append_audit
from ceasewatch.store.base import Store
from ceasewatch.store.decisions import has_decisions_table, list_decisions

_EVENT_COLS = [
    schema.EVENT_ID,
    "content_sha",
    schema.SOURCE,
    schema.SOURCE_EVENT_ID,
    schema.OCCURRED_AT,
    schema.TIME_PRECISION,
    schema.TIME_WINDOW_S,
    schema.LON,
    schema.LAT,
    schema.GEO_PRECISION_M,
    schema.CATEGORY,
    schema.WEAPON_CLASS,
    schema.ATTRIBUTED_TO,
    schema.FATALITIES,
    schema.RELIABILITY,
    schema.CREDIBILITY,
    schema.REPORT_GROUP,
    schema.LOCATION_NAME,
    schema.RECORDED_AT,
]


@dataclass
class EvaluationResult:
    events_total: int = 0
    events_evaluated: int = 0
    events_in_window: int = 0
    incidents: int = 0
    violations: int = 0
    seconds: float = 0.0
    zone_seconds: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.events_evaluated / self.seconds if self.seconds > 0 else float("nan")


def _with_fire_classes(store: Store, events: pd.DataFrame) -> pd.DataFrame:
    """Events with the fire-anomaly model's verdict on fire detections (when classified)."""
    from ceasewatch.store.fires import fire_classes

    classes = fire_classes(store)[[schema.EVENT_ID, schema.WAR_RELATED]]
    if classes.empty:
        return events
    return events.merge(classes, on=schema.EVENT_ID, how="left")


def _decisions(store: Store) -> list[IncidentDecision]:
    con = getattr(store, "con", None)
    if con is None or not has_decisions_table(con):
        return []
    return list_decisions(con)


def load_agreements(store: Store, *, as_of: datetime | None = None) -> dict[int, Agreement]:
    """Every stored agreement version (loaded by ``as_of`` when given), parsed."""
    versions = store.agreements()
    if as_of is not None:
        versions = versions[versions["loaded_at"] <= pd.Timestamp(as_of)]
    return {
        int(v): agreement_from_document(store.agreement_document(int(v)), version=int(v))
        for v in versions["version"]
    }


def applicable_version(
    occurred_at: pd.Series, agreements: dict[int, Agreement]
) -> npt.NDArray[np.int64]:
    """Agreement version in force at each time: the latest effective one at or before it
    (ties: the later version); the earliest one for times before any is in force."""
    items = sorted(agreements.values(), key=lambda a: (a.effective, a.version or 0))
    eff = np.array([pd.Timestamp(a.effective).value // 1_000 for a in items], dtype=np.int64)
    vers = np.array([a.version or 0 for a in items], dtype=np.int64)
    t = occurred_at.astype("datetime64[us, UTC]").astype("int64").to_numpy()
    pos = np.searchsorted(eff, t, side="right") - 1
    return vers[np.clip(pos, 0, len(vers) - 1)]


def _zones_by_version(
    frame: pd.DataFrame, versions: np.ndarray, models: dict[int, ZoneModel]
) -> pd.DataFrame:
    out = pd.DataFrame(
        index=frame.index,
        columns=[schema.DISTANCE_TO_LINE_KM, schema.SIDE, schema.ZONE, schema.SECTOR],
    )
    out[schema.DISTANCE_TO_LINE_KM] = out[schema.DISTANCE_TO_LINE_KM].astype(float)
    for v in np.unique(versions):
        mask = versions == v
        part = frame[mask]
        z = evaluate_zones(part[schema.LON].to_numpy(), part[schema.LAT].to_numpy(), models[int(v)])
        z.index = part.index
        out.loc[mask, :] = z
    out[schema.AGREEMENT_VERSION] = versions
    out[schema.DISTANCE_TO_LINE_KM] = out[schema.DISTANCE_TO_LINE_KM].astype(float)
    return out


def _keep_anchors(window: pd.DataFrame, old_members: pd.DataFrame) -> pd.DataFrame:
    """``window`` with each stored incident's anchor recorded just before the incident's
    other members: ``recorded_at`` is that of an event's latest version, so without this
    a correction of the anchor record would move its incident (and violation) id."""
    mem = old_members[old_members["event_id"].isin(window[schema.EVENT_ID])]
    mem = mem[mem["incident_id"] == "I" + mem["event_id"]]
    if mem.empty:
        return window
    rec = window.set_index(schema.EVENT_ID)[schema.RECORDED_AT]
    inc = old_members[old_members["incident_id"].isin(mem["incident_id"])]
    first = inc.assign(rec=inc["event_id"].map(rec)).groupby("incident_id")["rec"].min()
    anchor_rec = pd.Series(
        first.reindex(mem["incident_id"]).to_numpy(), index=mem["event_id"].to_numpy()
    ) - pd.Timedelta(microseconds=1)
    new_rec = window[schema.EVENT_ID].map(anchor_rec)
    return window.assign(
        **{schema.RECORDED_AT: new_rec.where(new_rec.notna(), window[schema.RECORDED_AT])}
    )


@dataclass
class EvaluationFrames:
    """Everything an evaluation produces, as frames (nothing stored)."""

    event_zones: pd.DataFrame
    incidents: pd.DataFrame
    members: pd.DataFrame
    violations: pd.DataFrame


def incidents_and_violations(
    events: pd.DataFrame,
    agreements: dict[int, Agreement],
    models: dict[int, ZoneModel],
    params: CorroborationParams | None = None,
    decisions: Sequence[IncidentDecision] = (),
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Corroborate ``events`` into incidents (then apply the analysts' split and merge
    ``decisions``), locate the incidents, apply the rules of the agreement version in force
    at each incident's time. Pure: nothing is read or stored."""
    inc_ids = corroborate(events, params)
    if decisions:
        decided = apply_incident_decisions(
            pd.DataFrame(
                {"event_id": events[schema.EVENT_ID].to_numpy(), "incident_id": inc_ids.to_numpy()}
            ),
            list(decisions),
        )
        inc_ids = pd.Series(
            decided["incident_id"].to_numpy(), index=inc_ids.index, name=schema.INCIDENT_ID
        )
    incidents = summarise_incidents(events, inc_ids)
    inc_versions = applicable_version(incidents[schema.OCCURRED_AT], agreements)
    inc_zones = _zones_by_version(incidents, inc_versions, models)
    incidents = pd.concat([incidents, inc_zones], axis=1)
    incidents["updated_at"] = datetime.now(UTC)
    members = pd.DataFrame(
        {"event_id": events[schema.EVENT_ID].to_numpy(), "incident_id": inc_ids.to_numpy()}
    )
    member_detail = events[[schema.EVENT_ID, schema.CATEGORY, schema.WEAPON_CLASS]].assign(
        **{schema.INCIDENT_ID: inc_ids.to_numpy()}
    )
    parts = [
        violations_from_incidents(incidents[inc_versions == v], member_detail, agreements[int(v)])
        for v in np.unique(inc_versions)
    ]
    non_empty = [p for p in parts if not p.empty]
    if non_empty:
        violations = pd.concat(non_empty, ignore_index=True)
    else:
        violations = violations_from_incidents(
            incidents.iloc[0:0], member_detail, next(iter(agreements.values()))
        )
    return incidents, members, violations


def evaluate_events(
    events: pd.DataFrame,
    agreements: dict[int, Agreement],
    params: CorroborationParams | None = None,
    decisions: Sequence[IncidentDecision] = (),
) -> EvaluationFrames:
    """The whole evaluation of ``events`` in memory (used for "as known at time T")."""
    models = {v: ZoneModel(a) for v, a in agreements.items()}
    versions = applicable_version(events[schema.OCCURRED_AT], agreements)
    zones = _zones_by_version(events, versions, models)
    event_zones = pd.concat([events[[schema.EVENT_ID]], zones], axis=1)
    incidents, members, violations = incidents_and_violations(
        events, agreements, models, params, decisions
    )
    return EvaluationFrames(event_zones, incidents, members, violations)


def evaluate_as_of(
    store: Store, as_of: datetime, params: CorroborationParams | None = None
) -> EvaluationFrames:
    """Evaluate what the store knew at ``as_of``: the event versions recorded by then,
    the agreement versions loaded by then, and the analysts' statuses set by then."""
    agreements = load_agreements(store, as_of=as_of)
    if not agreements:
        msg = f"no agreement had been loaded by {as_of.isoformat()}"
        raise CeasewatchError(msg)
    events = _with_fire_classes(store, store.events(columns=_EVENT_COLS, as_of=as_of))
    decisions = [d for d in _decisions(store) if d.at <= as_of]
    frames = evaluate_events(events, agreements, params, decisions)
    statuses = store.violation_statuses(as_of=as_of)
    v = frames.violations.merge(statuses, on=schema.VIOLATION_ID, how="left")
    v[schema.STATUS] = v[schema.STATUS].fillna("detected")
    frames.violations = v
    return frames


def evaluate_store(
    store: Store,
    *,
    full: bool = False,
    params: CorroborationParams | None = None,
    actor: str = "evaluate",
) -> EvaluationResult:
    """Evaluate what is due in ``store``; ``full`` re-evaluates everything."""
    t0 = time.perf_counter()
    result = EvaluationResult()
    agreements = load_agreements(store)
    if not agreements:
        msg = "no agreement in the store: run `ceasewatch agreement load PATH` first"
        raise CeasewatchError(msg)
    models = {v: ZoneModel(a) for v, a in agreements.items()}
    events = _with_fire_classes(store, store.events(columns=_EVENT_COLS))
    result.events_total = len(events)
    if events.empty:
        result.seconds = time.perf_counter() - t0
        return result
    versions = applicable_version(events[schema.OCCURRED_AT], agreements)
    done = store.evaluated_event_ids()
    key_now = events[schema.EVENT_ID] + "|" + events["content_sha"] + "|" + versions.astype(str)
    key_done = set(
        done["event_id"] + "|" + done["content_sha"] + "|" + done["agreement_version"].astype(str)
    )
    due = ~key_now.isin(key_done) if not full else pd.Series(True, index=events.index)
    decisions = _decisions(store)
    # a decision taken since the last evaluation makes its events due again
    last = store.incidents()["updated_at"].max() if not full else None
    fresh = [d for d in decisions if last is None or pd.isna(last) or d.at > last]
    if fresh:
        due |= events[schema.EVENT_ID].isin({e for d in fresh for e in d.event_ids})
    result.events_evaluated = int(due.sum())
    if not due.any():
        result.seconds = time.perf_counter() - t0
        return result

    tz = time.perf_counter()
    zones = _zones_by_version(events[due], versions[due.to_numpy()], models)
    result.zone_seconds = time.perf_counter() - tz
    eval_rows = pd.concat([events.loc[due, [schema.EVENT_ID, "content_sha"]], zones], axis=1)

    # corroboration window: every event whose time interval touches the due events'
    # reach, then whole incidents that touch it
    params = params or CorroborationParams()
    t_s = events[schema.OCCURRED_AT].astype("datetime64[us, UTC]").astype("int64").to_numpy() / 1e6
    lo, hi = time_bounds(
        t_s,
        events[schema.TIME_PRECISION].to_numpy(dtype=object),
        events[schema.TIME_WINDOW_S].to_numpy(dtype=float),
    )
    old = store.incident_members()
    if full:
        in_window = pd.Series(True, index=events.index)
    else:
        margin = params.max_time_span_s + params.time_tolerance_s
        w_lo = lo[due.to_numpy()].min() - margin
        w_hi = hi[due.to_numpy()].max() + margin
        in_window = pd.Series((hi >= w_lo) & (lo <= w_hi), index=events.index)
        touched = old.loc[
            old["event_id"].isin(events.loc[in_window, schema.EVENT_ID]), "incident_id"
        ]
        extra = old.loc[old["incident_id"].isin(touched), "event_id"]
        in_window |= events[schema.EVENT_ID].isin(extra)
        # every event a decision names, so that the decision can be applied whole
        in_window |= events[schema.EVENT_ID].isin({e for d in decisions for e in d.event_ids})
    window = events[in_window]
    result.events_in_window = len(window)

    incidents, members, violations = incidents_and_violations(
        _keep_anchors(window, old), agreements, models, params, decisions
    )

    with store.transaction():
        store.put_event_eval(eval_rows)
        old_members = store.incident_members()
        old_incidents = old_members.loc[
            old_members["event_id"].isin(window[schema.EVENT_ID]), "incident_id"
        ]
        store.replace_incidents(window[schema.EVENT_ID], incidents, members)
        store.put_violations(
            violations,
            incident_ids=pd.concat(
                [incidents[schema.INCIDENT_ID], old_incidents]
            ).drop_duplicates(),
        )
        append_audit(
            store,  # type: ignore[arg-type]  # the audit log needs a SQL store
            actor=actor,
            action="evaluate.run",
            entity="evaluation",
            entity_id=datetime.now(UTC).isoformat(),
            payload={
                "events_evaluated": result.events_evaluated,
                "events_in_window": len(window),
                "incidents": len(incidents),
                "violations": len(violations),
                "full": full,
            },
        )
    result.incidents = len(incidents)
    result.violations = len(violations)
    result.seconds = time.perf_counter() - t0
    return result
