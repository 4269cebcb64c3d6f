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
from typing import Any

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
from ceasewatch.evaluate.rules import index_in_strings, isin_strings, violations_from_incidents
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
    #: incidents of the window's events
    incidents: int = 0
    #: of which summarised and stored again (those that changed; all of them when full)
    incidents_written: int = 0
    #: violations of the incidents written
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
    """Distance, side, zone and sector of each row of ``frame`` under its agreement
    version (``versions``), index aligned: one kernel call per version, the parts put
    back in row order by position (no copy through ``.loc``, slow on a million rows of
    text)."""
    cols = [schema.DISTANCE_TO_LINE_KM, schema.SIDE, schema.ZONE, schema.SECTOR]
    lon = frame[schema.LON].to_numpy()
    lat = frame[schema.LAT].to_numpy()
    parts: list[pd.DataFrame] = []
    rows: list[np.ndarray] = []
    for v in np.unique(versions):
        at = np.flatnonzero(versions == v)
        parts.append(evaluate_zones(lon[at], lat[at], models[int(v)]))
        rows.append(at)
    if not parts:
        out = pd.DataFrame(columns=cols)
    elif len(parts) == 1:
        out = parts[0]
    else:
        out = pd.concat(parts, ignore_index=True)
        out = out.iloc[np.argsort(np.concatenate(rows), kind="stable")]
    out.index = frame.index
    out[schema.AGREEMENT_VERSION] = versions
    out[schema.DISTANCE_TO_LINE_KM] = out[schema.DISTANCE_TO_LINE_KM].astype(float)
    return out


def _keep_anchors(window: pd.DataFrame, old_members: pd.DataFrame) -> pd.DataFrame:
    """``window`` with each stored incident's anchor recorded just before the incident's
    other members: ``recorded_at`` is that of an event's latest version, so without this
    a correction of the anchor record would move its incident (and violation) id."""
    mem_event = old_members["event_id"]
    mem_inc = old_members["incident_id"]
    ids = window[schema.EVENT_ID]
    # stored anchors in the window: members whose incident is named after them
    is_anchor = isin_strings(mem_event, ids) & (
        mem_inc.to_numpy(dtype=object) == ("I" + mem_event).to_numpy(dtype=object)
    )
    if not is_anchor.any():
        return window
    anchor_inc = mem_inc[is_anchor]
    anchor_event = mem_event[is_anchor]
    in_inc = isin_strings(mem_inc, anchor_inc)
    inc_of = index_in_strings(mem_inc[in_inc], anchor_inc)
    rec = window[schema.RECORDED_AT]
    rec_ns = rec.values.astype("datetime64[ns]").astype(np.int64)  # UTC
    nat = np.iinfo(np.int64).min
    pos = index_in_strings(mem_event[in_inc], ids)
    member_rec = np.where(pos >= 0, rec_ns[np.maximum(pos, 0)], nat)
    member_rec = np.where(member_rec == nat, np.iinfo(np.int64).max, member_rec)
    # earliest recorded member (in the window) of each anchored incident
    first = np.full(len(anchor_inc), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, inc_of, member_rec)
    anchor_rec = np.where(first == np.iinfo(np.int64).max, nat, first - 1_000)  # 1 µs before
    at = index_in_strings(ids, anchor_event)
    new_ns = np.where(at >= 0, anchor_rec[np.maximum(at, 0)], nat)
    new_ns = np.where(new_ns == nat, rec_ns, new_ns)
    new_rec = pd.Series(new_ns.astype("datetime64[ns]"), index=window.index).dt.tz_localize(UTC)
    return window.assign(**{schema.RECORDED_AT: new_rec.astype(rec.dtype)})


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
    inc_ids = incident_ids(events, params, decisions)
    return summarise_and_rule(events, inc_ids, agreements, models)


def incident_ids(
    events: pd.DataFrame,
    params: CorroborationParams | None = None,
    decisions: Sequence[IncidentDecision] = (),
) -> pd.Series:
    """Incident id of each of ``events`` (index aligned): corroboration, then the
    analysts' split and merge ``decisions``."""
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
    return inc_ids


def summarise_and_rule(
    events: pd.DataFrame,
    inc_ids: pd.Series,
    agreements: dict[int, Agreement],
    models: dict[int, ZoneModel],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Incidents, members and violations of ``events`` grouped by ``inc_ids`` (every
    member of an incident must be among ``events``): each incident's summary, place and
    violations depend on its own members only."""
    incidents = summarise_incidents(events, inc_ids)
    inc_versions = applicable_version(incidents[schema.OCCURRED_AT], agreements)
    inc_zones = _zones_by_version(incidents, inc_versions, models)
    incidents = pd.concat([incidents, inc_zones], axis=1)
    incidents["updated_at"] = datetime.now(UTC)
    # the columns' own arrays: through numpy objects, pandas would convert the text twice
    members = pd.DataFrame(
        {"event_id": events[schema.EVENT_ID].array, "incident_id": inc_ids.array}
    )
    member_detail = events[[schema.EVENT_ID, schema.CATEGORY, schema.WEAPON_CLASS]].assign(
        **{schema.INCIDENT_ID: inc_ids.array}
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


def write_evaluation(
    store: Store,
    window_ids: pd.Series,
    eval_rows: pd.DataFrame,
    incidents: pd.DataFrame,
    members: pd.DataFrame,
    violations: pd.DataFrame,
    *,
    actor: str,
    payload: dict[str, Any],
) -> None:
    """Store an evaluation in one transaction: the events' zones, the incidents of the
    window's events (``window_ids``) with their members, the violations of those incidents
    and of the incidents they replace, and an ``evaluate.run`` audit entry (``payload``)."""
    with store.transaction():
        store.put_event_eval(eval_rows)
        old_members = store.incident_members()
        old_incidents = old_members.loc[
            isin_strings(old_members["event_id"], window_ids), "incident_id"
        ]
        store.replace_incidents(window_ids, incidents, members)
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
            payload=payload,
        )


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
    if full:
        due = pd.Series(True, index=events.index)
    else:
        # due: never evaluated, or evaluated for another content or agreement version
        done = store.evaluated_event_ids()
        at = index_in_strings(events[schema.EVENT_ID], done["event_id"])
        seen = np.flatnonzero(at >= 0)
        same = np.zeros(len(events), dtype=bool)
        same[seen] = (
            events["content_sha"].to_numpy(dtype=object)[seen]
            == done["content_sha"].to_numpy(dtype=object)[at[seen]]
        ) & (versions[seen] == done["agreement_version"].to_numpy(dtype=np.int64)[at[seen]])
        due = pd.Series(~same, index=events.index)
    decisions = _decisions(store)
    # a decision taken since the last evaluation makes its events due again
    last = store.incidents()["updated_at"].max() if decisions and not full else None
    fresh = [d for d in decisions if last is None or pd.isna(last) or d.at > last]
    if fresh:
        due |= isin_strings(events[schema.EVENT_ID], [e for d in fresh for e in d.event_ids])
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
        events[schema.TIME_PRECISION],
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
            isin_strings(old["event_id"], events.loc[in_window, schema.EVENT_ID]), "incident_id"
        ]
        extra = old.loc[isin_strings(old["incident_id"], touched), "event_id"]
        in_window |= isin_strings(events[schema.EVENT_ID], extra)
        # every event a decision names, so that the decision can be applied whole
        if decisions:
            in_window |= isin_strings(
                events[schema.EVENT_ID], [e for d in decisions for e in d.event_ids]
            )
    window = events[in_window]
    result.events_in_window = len(window)

    window = _keep_anchors(window, old)
    inc_ids = incident_ids(window, params, decisions)
    n_incidents = int(inc_ids.nunique())
    if not full:
        # only incidents that changed are summarised and written again: those that gained
        # or lost a member, or have a member whose record or agreement version changed
        # (an incident's summary and violations depend on its own members only)
        at = index_in_strings(window[schema.EVENT_ID], old["event_id"])
        stored = np.full(len(window), None, dtype=object)
        stored[at >= 0] = old["incident_id"].to_numpy(dtype=object)[at[at >= 0]]
        moved = (at < 0) | (stored != inc_ids.to_numpy(dtype=object))
        dirty = moved | due[in_window].to_numpy(dtype=bool)
        if not dirty.all():  # (all dirty: every incident changed, all are kept)
            changed = pd.concat(
                [inc_ids[dirty], pd.Series(stored[moved & (at >= 0)], dtype=object)]
            ).drop_duplicates()
            keep = isin_strings(inc_ids, changed)
            window, inc_ids = window[keep], inc_ids[keep]
    incidents, members, violations = summarise_and_rule(window, inc_ids, agreements, models)

    write_evaluation(
        store,
        window[schema.EVENT_ID],
        eval_rows,
        incidents,
        members,
        violations,
        actor=actor,
        payload={
            "events_evaluated": result.events_evaluated,
            "events_in_window": result.events_in_window,
            "incidents": n_incidents,
            "incidents_written": len(incidents),
            "violations": len(violations),
            "full": full,
        },
    )
    result.incidents = n_incidents
    result.incidents_written = len(incidents)
    result.violations = len(violations)
    result.seconds = time.perf_counter() - t0
    return result
