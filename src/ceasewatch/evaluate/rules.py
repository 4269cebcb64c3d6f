"""Rules: which incidents break which term of the agreement.

A :class:`Rule` finds, among an incident's member events, those that break its term; the
violation keeps them as its evidence. Rules are strategy classes registered by name;
:func:`violations_from_incidents` applies them all, after the agreement's effective time,
and grades each violation with the agreement's severity ladder.

Location is not attribution: a violation records the side controlling the place and
leaves responsibility ``undetermined`` unless a source states it.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ceasewatch.agreement.model import Agreement
from ceasewatch.errors import CeasewatchError
from ceasewatch.evaluate.frames import join_unique
from ceasewatch.normalize import schema

RULE_PRIORITY_WEAPON = 0
RULE_PRIORITY_EVERYWHERE = 1
RULE_PRIORITY_ACTIVITY = 2


def _strings(values: Any) -> pa.Array | pa.ChunkedArray:
    """``values`` (a Series, Index, array or sequence of text) as Arrow large strings."""
    if isinstance(values, pd.Series | pd.Index):
        values = values.array
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array([None if pd.isna(v) else str(v) for v in values], type=pa.large_string())
    return arr.cast(pa.large_string())


def isin_strings(values: Any, members: Any) -> npt.NDArray[np.bool_]:
    """``values`` (text) is one of ``members``, element-wise; a missing value is in
    nothing. What ``Series.isin`` answers, hashed in Arrow (pandas' own ``isin`` of a
    ``str`` column builds one Python object per member)."""
    return index_in_strings(values, members) >= 0


def index_in_strings(values: Any, members: Any) -> npt.NDArray[np.int64]:
    """Position of each of ``values`` in ``members`` (the first one), -1 where absent."""
    if len(values) == 0 or len(members) == 0:  # nothing to hash
        return np.full(len(values), -1, dtype=np.int64)
    value_set = _strings(members)
    if isinstance(value_set, pa.ChunkedArray):
        value_set = value_set.combine_chunks()
    pos = pc.index_in(_strings(values), value_set=value_set, skip_nulls=True)
    return np.asarray(pos.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _matches(items: frozenset[str], category: pd.Series, weapon: pd.Series) -> pd.Series:
    hit = category.isin(items) | weapon.isin(items)
    if schema.ANY_MILITARY_ACTIVITY in items:
        hit |= category.isin(schema.MILITARY_CATEGORIES)
    return hit


class Rule(ABC):
    """A term of the agreement; ``hits`` is the one hook to implement."""

    name: ClassVar[str]

    def evaluate(
        self, incidents: pd.DataFrame, members: pd.DataFrame, agreement: Agreement
    ) -> pd.DataFrame:
        """Rows ``incident_id, rule, priority, event_id`` of member events that break it."""
        hits = self.hits(incidents, members, agreement)
        return hits[[schema.INCIDENT_ID, schema.RULE, "priority", schema.EVENT_ID]]

    @abstractmethod
    def hits(
        self, incidents: pd.DataFrame, members: pd.DataFrame, agreement: Agreement
    ) -> pd.DataFrame: ...


class ProhibitedEverywhereRule(Rule):
    """A category the agreement prohibits everywhere (e.g. shelling, air strikes)."""

    name = "prohibited_everywhere"

    def hits(
        self, incidents: pd.DataFrame, members: pd.DataFrame, agreement: Agreement
    ) -> pd.DataFrame:
        items = frozenset(agreement.prohibited_everywhere)
        m = members[_matches(items, members[schema.CATEGORY], members[schema.WEAPON_CLASS])]
        return m.assign(**{schema.RULE: self.name, "priority": RULE_PRIORITY_EVERYWHERE})


class ZoneProhibitionRule(Rule):
    """Something a zone band prohibits (a weapon class, a category, any military
    activity), within the band's width of the line on either side."""

    name = "zone"

    def hits(
        self, incidents: pd.DataFrame, members: pd.DataFrame, agreement: Agreement
    ) -> pd.DataFrame:
        # each member's incident's distance (NaN for a member of no incident given), the
        # ids matched by Arrow's hash (a pandas map of 10^6 ids took a second)
        at = index_in_strings(members[schema.INCIDENT_ID], incidents[schema.INCIDENT_ID])
        km = incidents[schema.DISTANCE_TO_LINE_KM].to_numpy(dtype=float)
        dist = pd.Series(
            np.where(at >= 0, km[np.maximum(at, 0)] if len(km) else np.nan, np.nan),
            index=members.index,
        )
        out = []
        for band in agreement.zones:
            items = frozenset(band.prohibits)
            if not items:
                continue
            inside = dist <= band.width_km
            weapon_hit = members[schema.WEAPON_CLASS].isin(items)
            hit = inside & _matches(items, members[schema.CATEGORY], members[schema.WEAPON_CLASS])
            part = members[hit].assign(
                **{schema.RULE: f"zone:{band.id}"},
                priority=np.where(weapon_hit[hit], RULE_PRIORITY_WEAPON, RULE_PRIORITY_ACTIVITY),
                _width=band.width_km,
            )
            out.append(part)
        if not out:
            return members.iloc[0:0].assign(**{schema.RULE: "", "priority": 0})
        return pd.concat(out, ignore_index=True)


_RULES: dict[str, type[Rule]] = {}


def register_rule(cls: type[Rule]) -> type[Rule]:
    """Make a rule available; refuses to overwrite another rule of the same name."""
    if cls.name in _RULES and _RULES[cls.name] is not cls:
        msg = f"rule {cls.name!r} is already registered by {_RULES[cls.name].__name__}"
        raise CeasewatchError(msg)
    _RULES[cls.name] = cls
    return cls


register_rule(ProhibitedEverywhereRule)
register_rule(ZoneProhibitionRule)


def registered_rules() -> list[str]:
    return sorted(_RULES)


def severity_of(violations: pd.DataFrame, ladder: tuple[dict[str, Any], ...]) -> pd.Series:
    """Highest level whose conditions all hold, per violation; ``notice`` otherwise."""
    level = pd.Series(0, index=violations.index)
    rank = {s: i for i, s in enumerate(schema.SEVERITIES)}
    cats = violations["categories"].fillna("").str.split(";")
    weapons = violations["weapon_classes"].fillna("").str.split(";")
    rules = violations["rules"].fillna("").str.split(";")
    for cond in ladder:
        ok = pd.Series(True, index=violations.index)
        if "categories" in cond:
            wanted = set(cond["categories"])
            ok &= cats.map(lambda cs, w=wanted: bool(w.intersection(cs)))
        if "weapon_classes" in cond:
            wanted = set(cond["weapon_classes"])
            ok &= weapons.map(lambda ws, w=wanted: bool(w.intersection(ws)))
        if "zones" in cond:
            ok &= violations[schema.ZONE].isin(cond["zones"])
        if "rules" in cond:
            prefixes = tuple(cond["rules"])
            ok &= rules.map(lambda rs, p=prefixes: any(r.startswith(p) for r in rs))
        if "min_fatalities" in cond:
            ok &= violations[schema.FATALITIES].fillna(0) >= float(cond["min_fatalities"])
        if "weapon_in_zone" in cond:
            ok &= violations["weapon_in_zone"].fillna(False).astype(bool) == bool(
                cond["weapon_in_zone"]
            )
        if "beyond_km" in cond:
            ok &= violations[schema.DISTANCE_TO_LINE_KM] > float(cond["beyond_km"])
        level = level.where(~ok, np.maximum(level, rank[cond["level"]]))
    return level.map(dict(enumerate(schema.SEVERITIES)))


def violation_id(incident_id: pd.Series, version: pd.Series) -> pd.Series:
    keys = incident_id.astype(str) + "|" + version.astype(str)
    return keys.map(lambda k: "V" + hashlib.sha1(k.encode()).hexdigest()[:16])


def violations_from_incidents(
    incidents: pd.DataFrame, members: pd.DataFrame, agreement: Agreement
) -> pd.DataFrame:
    """Violations of ``agreement`` by ``incidents`` (which must already carry zones).

    ``members`` has incident_id, event_id, category and weapon_class of member events.
    Incidents before the agreement's effective time break nothing.
    """
    cols = [
        schema.VIOLATION_ID,
        schema.INCIDENT_ID,
        schema.AGREEMENT_VERSION,
        schema.RULE,
        "rules",
        schema.ZONE,
        schema.SECTOR,
        schema.SIDE,
        schema.DISTANCE_TO_LINE_KM,
        schema.OCCURRED_AT,
        schema.TIME_PRECISION,
        schema.LON,
        schema.LAT,
        schema.CATEGORY,
        schema.WEAPON_CLASS,
        schema.SEVERITY,
        schema.CONFIDENCE,
        schema.RESPONSIBILITY,
        "weapon_in_zone",
        schema.EVIDENCE_EVENT_IDS,
        "matched_event_ids",
        "n_sources",
        "sources",
        schema.FATALITIES,
        schema.LOCATION_NAME,
    ]
    live = incidents[incidents[schema.OCCURRED_AT] >= pd.Timestamp(agreement.effective)]
    if live.empty:
        return pd.DataFrame(columns=cols)
    if len(live) == len(incidents):  # all in force: every member counts
        mem = members
    else:
        mem = members[isin_strings(members[schema.INCIDENT_ID], live[schema.INCIDENT_ID])]
    hits = pd.concat(
        [cls().evaluate(live, mem, agreement) for cls in _RULES.values()], ignore_index=True
    )
    if hits.empty:
        return pd.DataFrame(columns=cols)
    by_rule = (
        hits.groupby([schema.INCIDENT_ID, schema.RULE])
        .agg(priority=("priority", "min"))
        .reset_index()
        .sort_values([schema.INCIDENT_ID, "priority", schema.RULE])
    )
    rules = by_rule.groupby(schema.INCIDENT_ID, sort=False)[schema.RULE].agg(";".join)
    weapon_in_zone = (
        by_rule.assign(w=by_rule["priority"] == RULE_PRIORITY_WEAPON)
        .groupby(schema.INCIDENT_ID)["w"]
        .any()
    )
    primary = by_rule.groupby(schema.INCIDENT_ID)[schema.RULE].first()
    matched = join_unique(hits, schema.INCIDENT_ID, schema.EVENT_ID)
    evidence = join_unique(mem, schema.INCIDENT_ID, schema.EVENT_ID)
    v = live[isin_strings(live[schema.INCIDENT_ID], rules.index)].copy()
    key = v[schema.INCIDENT_ID]
    v[schema.RULE] = key.map(primary)
    v["rules"] = key.map(rules)
    v["matched_event_ids"] = key.map(matched)
    v[schema.EVIDENCE_EVENT_IDS] = key.map(evidence)
    v["weapon_in_zone"] = key.map(weapon_in_zone).fillna(False).astype(bool)
    v[schema.RESPONSIBILITY] = v[schema.ATTRIBUTED_TO].fillna(schema.RESPONSIBILITY_UNDETERMINED)
    v[schema.SEVERITY] = severity_of(v, agreement.severity)
    v[schema.VIOLATION_ID] = violation_id(key, v[schema.AGREEMENT_VERSION])
    return v[cols].reset_index(drop=True)
