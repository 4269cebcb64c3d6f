"""Response clocks: the agreement's escalation ladder, and the clocks it opens.

The agreement file may carry two optional keys (``docs/alerts.md``):

``escalation``
    the steps of the response ladder. Each says which finding opens a clock (a violation
    of at least a given severity and status, or an alert such as ``expanded_attack``),
    from which moment its deadline runs (``confirmed_at``, ``occurred_at``,
    ``detected_at`` for violations; ``started_at`` — the initial breach — or
    ``raised_at`` for alerts), the deadline in hours, when to warn before it, who must act
    and who may close it. Without the key, the reported plan's ladder applies: a
    consultation within 24 h of a confirmed breach, a coordinated response 72 h after the
    initial breach of an expanded attack.
``alerts``
    the thresholds of the detectors (:class:`~ceasewatch.alerts.trends.AlertPolicy`).

:func:`escalation_from_document` reads both, from a mapping or from a YAML file.
:class:`ClockBook` opens, tracks and closes clocks in the store; it never reads the wall
clock itself but calls its ``now`` function, so tests (and replays) move time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pandas as pd
import yaml

from ceasewatch.alerts.trends import (
    DIMENSIONS,
    KIND_CLOCK_CLOSED,
    KIND_CLOCK_MISSED,
    KIND_CLOCK_OPENED,
    KIND_CLOCK_WARNING,
    KIND_EXPANDED,
    LEVEL_RANK,
    LEVELS,
    Alert,
    AlertPolicy,
    ExpandedAttackRule,
    SilenceRule,
    SpikeThresholds,
    alert_id,
)
from ceasewatch.errors import AgreementError, CeasewatchError
from ceasewatch.normalize import schema
from ceasewatch.store.alerts import (
    CLOCK_CANCELLED,
    CLOCK_CLOSED,
    CLOCK_MISSED,
    CLOCK_OPEN,
    AlertStore,
)

Problem = tuple[str, str, str]

VIOLATION_STARTS: Final = ("confirmed_at", "occurred_at", "detected_at")
ALERT_STARTS: Final = ("started_at", "raised_at")
PER_VALUES: Final = ("violation", "sector")
STEP_KEYS: Final = frozenset(
    {
        "id",
        "name",
        "opens_on",
        "from",
        "deadline_hours",
        "warn_before_hours",
        "who",
        "action",
        "per",
        "authorised",
        "level",
    }
)
OPENS_ON_KEYS: Final = frozenset({"severity", "status", "alert"})
ALERTS_KEYS: Final = frozenset(
    {
        "violation_min_level",
        "count_statuses",
        "dimensions",
        "baseline_days",
        "min_baseline_days",
        "lookback_days",
        "daily",
        "hourly",
        "expanded_attack",
        "silence",
    }
)
THRESHOLD_KEYS: Final = frozenset({"notice", "warning", "min_count", "min_expected", "min_ratio"})
EXPANDED_KEYS: Final = frozenset(
    {"window_hours", "min_breaches", "require_spike", "spike_level", "levels"}
)
SILENCE_KEYS: Final = frozenset({"min_mean_per_day", "p_value", "lag_days"})


class NotAuthorisedError(CeasewatchError, PermissionError):
    """A user who may not close a clock tried to."""


class ClockStateError(CeasewatchError, ValueError):
    """A clock cannot make the change asked (e.g. closing a closed clock)."""


# --- configuration -------------------------------------------------------------------------
@dataclass(frozen=True)
class Trigger:
    """What opens a clock: a violation (``severity`` at least, ``status``) or an alert kind."""

    severity: str | None = None
    status: str = "confirmed"
    alert: str | None = None


@dataclass(frozen=True)
class EscalationStep:
    """One step of the response ladder."""

    id: str
    name: str
    opens_on: Trigger
    deadline_hours: float
    start: str
    warn_before_hours: tuple[float, ...] = ()
    who: tuple[str, ...] = ()
    action: str = ""
    #: one clock per triggering violation, or one open clock per sector
    per: str = "violation"
    #: who may close its clocks (``None``: the ladder's list; that ``None`` too: anyone
    #: named)
    authorised: tuple[str, ...] | None = None
    #: the level of its alerts
    level: str = "breach"


DEFAULT_STEPS: Final = (
    EscalationStep(
        id="consultation",
        name="Diplomatic warning and consultation",
        opens_on=Trigger(severity="breach", status="confirmed"),
        deadline_hours=24.0,
        start="confirmed_at",
        warn_before_hours=(6.0, 1.0),
        who=("coordination cell",),
        action="diplomatic warning to the party concerned and consultation",
        per="violation",
        level="breach",
    ),
    EscalationStep(
        id="coordinated_response",
        name="Coordinated response",
        opens_on=Trigger(alert=KIND_EXPANDED),
        deadline_hours=72.0,
        start="started_at",
        warn_before_hours=(24.0, 6.0),
        who=("coalition coordination cell",),
        action="coordinated response of the guarantors",
        per="sector",
        level="expanded_attack",
    ),
)


@dataclass(frozen=True)
class EscalationConfig:
    """The ladder and the detectors' policy, with where they were read from."""

    steps: tuple[EscalationStep, ...] = DEFAULT_STEPS
    authorised: tuple[str, ...] | None = None
    policy: AlertPolicy = field(default_factory=AlertPolicy)
    source: str = "defaults"

    def step(self, step_id: str) -> EscalationStep:
        for s in self.steps:
            if s.id == step_id:
                return s
        msg = f"no escalation step {step_id!r}; steps: {', '.join(s.id for s in self.steps)}"
        raise ClockStateError(msg)


def _read_yaml(path: Path) -> tuple[dict[str, Any], str]:
    p = Path(path)
    if p.is_dir():
        for name in ("agreement.yaml", "agreement.yml"):
            if (p / name).is_file():
                p = p / name
                break
        else:
            msg = f"{path}: no agreement.yaml in this folder"
            raise AgreementError(msg, [(str(path), "-", "a folder with agreement.yaml")])
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        msg = f"cannot read {p}: {e}"
        raise AgreementError(msg, [(p.name, "-", f"cannot read YAML: {e}")]) from e
    if not isinstance(doc, dict):
        msg = f"{p}: expected a mapping of fields at the top level"
        raise AgreementError(msg, [(p.name, "-", "expected a mapping at the top level")])
    return doc, p.name


def _number(
    value: Any,
    where: str,
    key: str,
    problems: list[Problem],
    *,
    low: float = 0.0,
    high: float = float("inf"),
    integer: bool = False,
) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and integer and float(value) != int(value):
        ok = False
    if not ok or not low <= float(value) <= high:
        kind = "an integer" if integer else "a number"
        problems.append((where, key, f"expected {kind} in [{low:g}, {high:g}], got {value!r}"))
        return None
    return float(value)


def _level(value: Any, where: str, key: str, problems: list[Problem]) -> str | None:
    if value not in LEVELS:
        problems.append((where, key, f"expected one of {', '.join(LEVELS)}, got {value!r}"))
        return None
    return str(value)


def _names(value: Any, where: str, key: str, problems: list[Problem]) -> tuple[str, ...] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        problems.append((where, key, f"expected a list of names, got {value!r}"))
        return None
    return tuple(x.strip() for x in value)


def _unknown(
    raw: Mapping[str, Any], known: frozenset[str], where: str, key: str, problems: list[Problem]
) -> None:
    for k in sorted(set(raw) - known):
        problems.append((where, f"{key}.{k}", f"unknown field; known: {', '.join(sorted(known))}"))


def _parse_thresholds(
    raw: Any, base: SpikeThresholds, where: str, key: str, problems: list[Problem]
) -> SpikeThresholds:
    if not isinstance(raw, dict):
        problems.append((where, key, f"expected a mapping of thresholds, got {raw!r}"))
        return base
    _unknown(raw, THRESHOLD_KEYS, where, key, problems)
    vals: dict[str, Any] = {}
    for k in ("notice", "warning"):
        if k in raw:
            if raw[k] is None or raw[k] is False:
                vals[k] = None
            else:
                vals[k] = _number(raw[k], where, f"{key}.{k}", problems, high=1.0)
    if "min_count" in raw:
        vals["min_count"] = _number(
            raw["min_count"], where, f"{key}.min_count", problems, integer=True
        )
    for k in ("min_expected", "min_ratio"):
        if k in raw:
            vals[k] = _number(raw[k], where, f"{key}.{k}", problems)
    vals = {k: v for k, v in vals.items() if v is not None or k in ("notice", "warning")}
    if "min_count" in vals:
        vals["min_count"] = int(vals["min_count"])
    return replace(base, **vals)


def _parse_policy(raw: Any, where: str, problems: list[Problem]) -> AlertPolicy:
    pol = AlertPolicy()
    if raw is None:
        return pol
    if not isinstance(raw, dict):
        problems.append((where, "alerts", f"expected a mapping, got {raw!r}"))
        return pol
    _unknown(raw, ALERTS_KEYS, where, "alerts", problems)
    vals: dict[str, Any] = {}
    if "violation_min_level" in raw:
        v = raw["violation_min_level"]
        vals["violation_min_level"] = (
            None if v in (None, False) else _level(v, where, "alerts.violation_min_level", problems)
        )
    if "count_statuses" in raw:
        sts = _names(raw["count_statuses"], where, "alerts.count_statuses", problems)
        if sts is not None:
            bad = [s for s in sts if s not in schema.VIOLATION_STATUSES or s == "dismissed"]
            if bad:
                problems.append(
                    (
                        where,
                        "alerts.count_statuses",
                        f"unknown or uncountable status(es) {', '.join(bad)}; expected some of "
                        "detected, under_review, confirmed",
                    )
                )
            else:
                vals["count_statuses"] = sts
    if "dimensions" in raw:
        dims = _names(raw["dimensions"], where, "alerts.dimensions", problems)
        if dims is not None:
            bad = [d for d in dims if d not in DIMENSIONS]
            if bad:
                problems.append(
                    (
                        where,
                        "alerts.dimensions",
                        f"unknown dimension(s) {', '.join(bad)}; expected {', '.join(DIMENSIONS)}",
                    )
                )
            else:
                vals["dimensions"] = dims
    for k, lo, hi in (
        ("baseline_days", 7, 366),
        ("min_baseline_days", 1, 366),
        ("lookback_days", 1, 60),
    ):
        if k in raw:
            n = _number(raw[k], where, f"alerts.{k}", problems, low=lo, high=hi, integer=True)
            if n is not None:
                vals[k] = int(n)
    if "daily" in raw:
        vals["daily"] = _parse_thresholds(raw["daily"], pol.daily, where, "alerts.daily", problems)
    if "hourly" in raw:
        if raw["hourly"] in (None, False):
            vals["hourly"] = None
        else:
            vals["hourly"] = _parse_thresholds(
                raw["hourly"], pol.hourly or SpikeThresholds(), where, "alerts.hourly", problems
            )
    if "expanded_attack" in raw:
        ea = raw["expanded_attack"]
        if not isinstance(ea, dict):
            problems.append((where, "alerts.expanded_attack", f"expected a mapping, got {ea!r}"))
        else:
            _unknown(ea, EXPANDED_KEYS, where, "alerts.expanded_attack", problems)
            ev: dict[str, Any] = {}
            if "window_hours" in ea:
                ev["window_hours"] = _number(
                    ea["window_hours"], where, "alerts.expanded_attack.window_hours", problems
                )
            if "min_breaches" in ea:
                n = _number(
                    ea["min_breaches"],
                    where,
                    "alerts.expanded_attack.min_breaches",
                    problems,
                    low=1,
                    integer=True,
                )
                ev["min_breaches"] = None if n is None else int(n)
            if "require_spike" in ea:
                if not isinstance(ea["require_spike"], bool):
                    problems.append(
                        (where, "alerts.expanded_attack.require_spike", "expected true or false")
                    )
                else:
                    ev["require_spike"] = ea["require_spike"]
            if "spike_level" in ea:
                ev["spike_level"] = _level(
                    ea["spike_level"], where, "alerts.expanded_attack.spike_level", problems
                )
            if "levels" in ea:
                lv = _names(ea["levels"], where, "alerts.expanded_attack.levels", problems)
                if lv is not None and all(x in LEVELS for x in lv):
                    ev["levels"] = lv
                elif lv is not None:
                    problems.append(
                        (
                            where,
                            "alerts.expanded_attack.levels",
                            f"expected levels among {', '.join(LEVELS)}",
                        )
                    )
            vals["expanded_attack"] = replace(
                ExpandedAttackRule(), **{k: v for k, v in ev.items() if v is not None}
            )
    if "silence" in raw:
        si = raw["silence"]
        if not isinstance(si, dict):
            problems.append((where, "alerts.silence", f"expected a mapping, got {si!r}"))
        else:
            _unknown(si, SILENCE_KEYS, where, "alerts.silence", problems)
            sv: dict[str, Any] = {}
            if "min_mean_per_day" in si:
                sv["min_mean_per_day"] = _number(
                    si["min_mean_per_day"], where, "alerts.silence.min_mean_per_day", problems
                )
            if "p_value" in si:
                sv["p_value"] = _number(
                    si["p_value"], where, "alerts.silence.p_value", problems, high=1.0
                )
            if "lag_days" in si:
                lag = si["lag_days"]
                if not isinstance(lag, dict) or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in lag.values()
                ):
                    problems.append(
                        (
                            where,
                            "alerts.silence.lag_days",
                            f"expected a mapping of source to days, got {lag!r}",
                        )
                    )
                else:
                    sv["lag_days"] = {str(k): int(v) for k, v in lag.items()}
            vals["silence"] = replace(
                SilenceRule(), **{k: v for k, v in sv.items() if v is not None}
            )
    vals = {k: v for k, v in vals.items() if v is not None or k in ("hourly",)}
    if "violation_min_level" in raw and raw["violation_min_level"] in (None, False):
        vals["violation_min_level"] = None
    return replace(pol, **vals)


def _parse_step(raw: Any, i: int, where: str, problems: list[Problem]) -> EscalationStep | None:
    key = f"escalation.steps[{i}]"
    if not isinstance(raw, dict):
        problems.append((where, key, f"expected a mapping, got {raw!r}"))
        return None
    n0 = len(problems)
    _unknown(raw, STEP_KEYS, where, key, problems)
    sid = raw.get("id")
    if not isinstance(sid, str) or not sid.strip():
        problems.append((where, f"{key}.id", f"expected a non-empty identifier, got {sid!r}"))
        sid = f"step{i}"
    opens = raw.get("opens_on")
    trigger = Trigger()
    if not isinstance(opens, dict) or not opens:
        problems.append(
            (
                where,
                f"{key}.opens_on",
                "expected {severity: LEVEL, status: confirmed} or {alert: expanded_attack}",
            )
        )
    else:
        _unknown(opens, OPENS_ON_KEYS, where, f"{key}.opens_on", problems)
        if "alert" in opens:
            if opens["alert"] != KIND_EXPANDED:
                problems.append((where, f"{key}.opens_on.alert", f"expected {KIND_EXPANDED!r}"))
            trigger = Trigger(alert=KIND_EXPANDED, severity=None)
        else:
            sev = _level(opens.get("severity"), where, f"{key}.opens_on.severity", problems)
            status = opens.get("status", "confirmed")
            if status not in schema.VIOLATION_STATUSES or status == "dismissed":
                problems.append(
                    (
                        where,
                        f"{key}.opens_on.status",
                        f"expected detected, under_review or confirmed, got {status!r}",
                    )
                )
            trigger = Trigger(severity=sev, status=str(status))
    starts = ALERT_STARTS if trigger.alert else VIOLATION_STARTS
    start = raw.get("from", starts[0])
    if start not in starts:
        problems.append((where, f"{key}.from", f"expected one of {', '.join(starts)}"))
    hours = _number(raw.get("deadline_hours"), where, f"{key}.deadline_hours", problems, low=0.01)
    warns: list[float] = []
    wraw = raw.get("warn_before_hours", [])
    if isinstance(wraw, int | float) and not isinstance(wraw, bool):
        wraw = [wraw]
    if not isinstance(wraw, list):
        problems.append((where, f"{key}.warn_before_hours", "expected a list of hours"))
    else:
        for w in wraw:
            x = _number(w, where, f"{key}.warn_before_hours", problems, low=0.01)
            if x is not None:
                if hours is not None and x >= hours:
                    problems.append(
                        (
                            where,
                            f"{key}.warn_before_hours",
                            f"{x:g} h is not before the {hours:g} h deadline",
                        )
                    )
                warns.append(x)
    who = _names(raw.get("who", []), where, f"{key}.who", problems) or ()
    per = raw.get("per", "sector" if trigger.alert else "violation")
    if per not in PER_VALUES:
        problems.append((where, f"{key}.per", f"expected one of {', '.join(PER_VALUES)}"))
    if trigger.alert and per != "sector":
        problems.append((where, f"{key}.per", "a clock opened by an alert is per sector"))
    auth = None
    if "authorised" in raw:
        auth = _names(raw["authorised"], where, f"{key}.authorised", problems)
    default_level = trigger.severity or (KIND_EXPANDED if trigger.alert else "breach")
    level = _level(raw.get("level", default_level), where, f"{key}.level", problems)
    if len(problems) > n0 or hours is None:
        return None
    return EscalationStep(
        id=sid.strip(),
        name=str(raw.get("name", sid)),
        opens_on=trigger,
        deadline_hours=hours,
        start=str(start),
        warn_before_hours=tuple(sorted(set(warns), reverse=True)),
        who=who,
        action=str(raw.get("action", "")),
        per=str(per),
        authorised=auth,
        level=level or default_level,
    )


def escalation_problems(doc: Mapping[str, Any], where: str = "agreement.yaml") -> list[Problem]:
    """Every problem of the ``escalation`` and ``alerts`` keys of an agreement document
    (for ``validate_agreement``); empty when they are valid or absent."""
    return _parse(doc, where)[1]


def _parse(doc: Mapping[str, Any], where: str) -> tuple[EscalationConfig, list[Problem]]:
    problems: list[Problem] = []
    src = doc
    if "escalation" not in doc and "alerts" not in doc and isinstance(doc.get("extra"), dict):
        src = doc["extra"]
    policy = _parse_policy(src.get("alerts"), where, problems)
    steps: tuple[EscalationStep, ...] = DEFAULT_STEPS
    authorised = None
    if src.get("escalation") is not None:
        raw = src["escalation"]
        raw_steps: Any
        if isinstance(raw, list):
            raw_steps = raw
        elif isinstance(raw, dict):
            _unknown(raw, frozenset({"steps", "authorised"}), where, "escalation", problems)
            raw_steps = raw.get("steps", [])
            if "authorised" in raw:
                authorised = _names(raw["authorised"], where, "escalation.authorised", problems)
        else:
            problems.append(
                (
                    where,
                    "escalation",
                    f"expected a list of steps or {{steps, authorised}}, got {raw!r}",
                )
            )
            raw_steps = []
        if not isinstance(raw_steps, list):
            problems.append((where, "escalation.steps", "expected a list of steps"))
            raw_steps = []
        parsed = [_parse_step(s, i, where, problems) for i, s in enumerate(raw_steps)]
        steps = tuple(s for s in parsed if s is not None)
        ids = [s.id for s in steps]
        if len(set(ids)) != len(ids):
            problems.append((where, "escalation.steps", f"step ids must be distinct, got {ids}"))
    source = str(doc.get("source_path") or where)
    return EscalationConfig(steps, authorised, policy, source), problems


def escalation_from_document(source: Mapping[str, Any] | str | Path) -> EscalationConfig:
    """The escalation ladder and alert policy of an agreement.

    ``source`` is the agreement's YAML document (or any mapping with ``escalation`` and/or
    ``alerts``, or with them under ``extra``), a stored agreement document whose
    ``source_path`` names its YAML file, or the path of a YAML file or agreement folder
    (e.g. ``Agreement.source_path``, or a separate file holding just these two keys).
    Absent keys give the defaults. Raises :class:`~ceasewatch.errors.AgreementError`
    listing every problem.
    """
    if isinstance(source, str | Path):
        doc, where = _read_yaml(Path(source))
        doc = {**doc, "source_path": str(source)}
    else:
        doc, where = dict(source), "agreement"
        has_keys = any(k in doc for k in ("escalation", "alerts")) or (
            isinstance(doc.get("extra"), dict)
            and any(k in doc["extra"] for k in ("escalation", "alerts"))
        )
        path = doc.get("source_path")
        if not has_keys and isinstance(path, str) and Path(path).is_file():
            return escalation_from_document(path)
    config, problems = _parse(doc, where)
    if problems:
        lines = "\n".join(f"  {f}: {k}: {m}" for f, k, m in problems)
        msg = f"escalation/alerts of {config.source} have {len(problems)} problem(s):\n{lines}"
        raise AgreementError(msg, problems)
    return config


# --- clocks ------------------------------------------------------------------------------------
TRIGGER_COLUMNS: Final = ("trigger_id", "sector", "start_at", "title")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def clock_triggers(
    step: EscalationStep, violations: pd.DataFrame, alerts: pd.DataFrame
) -> pd.DataFrame:
    """The findings that open (or join) a clock of ``step``: :data:`TRIGGER_COLUMNS`.

    ``violations`` as known now (status, ``confirmed_at``); ``alerts`` rows of the alerts
    table (``kind``, ``raised_at``, ``body``).
    """
    if step.opens_on.alert:
        if alerts.empty:
            return pd.DataFrame(columns=list(TRIGGER_COLUMNS))
        a = alerts[alerts["kind"] == step.opens_on.alert]
        rows = []
        for _, r in a.iterrows():
            data = json.loads(r["body"]).get("data", {})
            start = data.get("started_at") if step.start == "started_at" else None
            rows.append(
                {
                    "trigger_id": r["alert_id"],
                    "sector": data.get("sector"),
                    "start_at": pd.Timestamp(start or r["raised_at"]),
                    "title": r["title"],
                }
            )
        return pd.DataFrame(rows, columns=list(TRIGGER_COLUMNS))
    if violations.empty:
        return pd.DataFrame(columns=list(TRIGGER_COLUMNS))
    floor = LEVEL_RANK[step.opens_on.severity or "notice"]
    v = violations[
        violations[schema.SEVERITY].map(lambda s: LEVEL_RANK.get(str(s), -1) >= floor)
        & (violations[schema.STATUS] == step.opens_on.status)
    ]
    col = step.start if step.start in v.columns else schema.OCCURRED_AT
    v = v[v[col].notna()]
    title = (
        v[schema.SEVERITY].astype(str)
        + " "
        + v[schema.CATEGORY].astype(str)
        + " in "
        + v[schema.SECTOR].astype(object).fillna("no sector").astype(str)
    )
    return pd.DataFrame(
        {
            "trigger_id": v[schema.VIOLATION_ID].astype(str),
            "sector": v[schema.SECTOR],
            "start_at": pd.to_datetime(v[col], utc=True),
            "title": title,
        },
        columns=list(TRIGGER_COLUMNS),
    ).reset_index(drop=True)


def _clock_id(step_id: str, subject: str, trigger_id: str) -> str:
    return "C" + hashlib.sha256(f"{step_id}|{subject}|{trigger_id}".encode()).hexdigest()[:12]


def _fmt(ts: Any) -> str:
    return pd.Timestamp(ts).tz_convert(UTC).strftime("%Y-%m-%d %H:%M UTC")


class ClockBook:
    """Opens, tracks and closes the response clocks of an escalation ladder.

    Parameters
    ----------
    alerts
        The store's alert tables.
    config
        The ladder (and policy) in force.
    now
        The clock: a function returning the current time (tz-aware UTC). Tests pass one
        they move; nothing here reads the wall clock otherwise.
    """

    def __init__(
        self,
        alerts: AlertStore,
        config: EscalationConfig,
        *,
        now: Callable[[], datetime] = _utcnow,
        agreement_version: int | None = None,
    ) -> None:
        self.db = alerts
        self.config = config
        self.now = now
        self.agreement_version = agreement_version

    # --- opening ------------------------------------------------------------------------
    def open_clocks(self, violations: pd.DataFrame, alerts: pd.DataFrame) -> list[Alert]:
        """Open a clock for every new trigger of every step (or join the sector's open
        one); returns the ``clock_opened`` alerts."""
        out: list[Alert] = []
        now = self.now()
        for step in self.config.steps:
            triggers = clock_triggers(step, violations, alerts).sort_values(
                ["start_at", "trigger_id"], kind="stable"
            )
            if triggers.empty:
                continue
            existing = self.db.clocks(step_id=step.id)
            seen: set[str] = set()
            for t in existing["triggers"]:
                seen.update(json.loads(t))
            live = existing[existing["status"].isin([CLOCK_OPEN, CLOCK_MISSED])]
            open_by_subject: dict[str, dict[str, Any]] = {
                str(r["subject"]): r.to_dict() for _, r in live.iterrows()
            }
            for _, trig in triggers.iterrows():
                tid = str(trig["trigger_id"])
                if tid in seen:
                    continue
                seen.add(tid)
                sector = None if pd.isna(trig["sector"]) else str(trig["sector"])
                subject = (
                    f"violation:{tid}" if step.per == "violation" else f"sector:{sector or '-'}"
                )
                if step.per == "sector" and subject in open_by_subject:
                    row = open_by_subject[subject]
                    ids = [*json.loads(row["triggers"]), tid]
                    self.db.update_clock(
                        str(row["clock_id"]),
                        triggers=json.dumps(ids),
                        n_triggers=len(ids),
                        updated_at=now,
                    )
                    self.db.log_clock(str(row["clock_id"]), "joined", at=now, actor=None, note=tid)
                    open_by_subject[subject] = {**row, "triggers": json.dumps(ids)}
                    continue
                start = pd.Timestamp(trig["start_at"]).to_pydatetime()
                deadline = start + timedelta(hours=step.deadline_hours)
                cid = _clock_id(step.id, subject, tid)
                record = {
                    "clock_id": cid,
                    "step_id": step.id,
                    "step_name": step.name,
                    "subject": subject,
                    "sector": sector,
                    "level": step.level,
                    "who": "; ".join(step.who),
                    "action_required": step.action,
                    "started_at": start,
                    "opened_at": now,
                    "deadline": deadline,
                    "status": CLOCK_OPEN,
                    "triggers": json.dumps([tid]),
                    "n_triggers": 1,
                    "agreement_version": self.agreement_version,
                    "updated_at": now,
                }
                self.db.insert_clock(record)
                self.db.log_clock(cid, "opened", at=now, actor=None, note=tid)
                open_by_subject[subject] = dict(record)
                out.append(
                    Alert(
                        alert_id=alert_id(KIND_CLOCK_OPENED, cid),
                        kind=KIND_CLOCK_OPENED,
                        level=step.level,
                        title=(
                            f"Clock opened: {step.name} for {subject.replace(':', ' ')} "
                            f"({trig['title']}); deadline {_fmt(deadline)} "
                            f"({step.deadline_hours:g} h from {step.start.replace('_', ' ')})"
                            + (f"; who: {', '.join(step.who)}" if step.who else "")
                        ),
                        raised_at=now,
                        subject=subject,
                        payload=self._payload(record),
                    )
                )
        return out

    # --- deadlines ---------------------------------------------------------------------------
    def tick(self, violations: pd.DataFrame | None = None) -> list[Alert]:
        """Warn before deadlines, record misses, cancel clocks whose every triggering
        violation was dismissed; returns the alerts."""
        now = self.now()
        now_ts = pd.Timestamp(now)
        out: list[Alert] = []
        dismissed: set[str] = set()
        if violations is not None and not violations.empty:
            dismissed = set(
                violations.loc[violations[schema.STATUS] == "dismissed", schema.VIOLATION_ID]
            )
        for _, c in self.db.clocks(status=CLOCK_OPEN).iterrows():
            cid = str(c["clock_id"])
            try:
                step = self.config.step(str(c["step_id"]))
            except ClockStateError:
                step = None
            triggers = json.loads(c["triggers"])
            if (
                step is not None
                and step.opens_on.alert is None
                and triggers
                and all(t in dismissed for t in triggers)
            ):
                self.db.update_clock(cid, status=CLOCK_CANCELLED, updated_at=now)
                self.db.log_clock(
                    cid, "cancelled", at=now, actor=None, note="every trigger was dismissed"
                )
                continue
            deadline = pd.Timestamp(c["deadline"])
            if now_ts >= deadline:
                self.db.update_clock(
                    cid, status=CLOCK_MISSED, missed_at=deadline.to_pydatetime(), updated_at=now
                )
                self.db.log_clock(cid, "missed", at=now, actor=None, note=None)
                out.append(
                    Alert(
                        alert_id=alert_id(KIND_CLOCK_MISSED, cid),
                        kind=KIND_CLOCK_MISSED,
                        level=str(c["level"]),
                        title=(
                            f"Deadline missed: {c['step_name']} for "
                            f"{str(c['subject']).replace(':', ' ')} was due {_fmt(deadline)}; "
                            "no action was recorded"
                        ),
                        raised_at=now,
                        subject=str(c["subject"]),
                        payload=self._payload(c.to_dict()),
                    )
                )
                continue
            warns = step.warn_before_hours if step is not None else ()
            warned = self.db.warned(cid)
            due = [
                w
                for w in warns
                if now_ts >= deadline - pd.Timedelta(hours=w) and float(w) not in warned
            ]
            if not due:
                continue
            for w in due:
                self.db.record_warning(cid, float(w), at=now)
            w = min(due)
            left_h = (deadline - now_ts).total_seconds() / 3600
            self.db.log_clock(cid, "warned", at=now, actor=None, note=f"{w:g} h before")
            out.append(
                Alert(
                    alert_id=alert_id(KIND_CLOCK_WARNING, cid, f"{w:g}"),
                    kind=KIND_CLOCK_WARNING,
                    level=str(c["level"]),
                    title=(
                        f"Deadline in {left_h:.1f} h: {c['step_name']} for "
                        f"{str(c['subject']).replace(':', ' ')} is due {_fmt(deadline)}"
                        + (f"; who: {c['who']}" if c["who"] else "")
                    ),
                    raised_at=now,
                    subject=str(c["subject"]),
                    payload={**self._payload(c.to_dict()), "hours_before": w},
                )
            )
        return out

    # --- closing ---------------------------------------------------------------------------
    def close(self, clock_id: str, *, by: str, action: str) -> Alert:
        """Record the action that answers a clock and close it (a missed one too: it is
        then closed late). Only an authorised user may; returns the ``clock_closed`` alert.
        """
        if not by or not by.strip():
            msg = "closing a clock needs the name of who acted (by=...)"
            raise NotAuthorisedError(msg)
        if not action or not action.strip():
            msg = "closing a clock needs the action taken (action=...)"
            raise ClockStateError(msg)
        c = self.db.clock(clock_id)
        cid = str(c["clock_id"])
        if c["status"] not in (CLOCK_OPEN, CLOCK_MISSED):
            msg = f"clock {cid} is {c['status']}; only open or missed clocks can be closed"
            raise ClockStateError(msg)
        allowed: tuple[str, ...] | None = self.config.authorised
        try:
            step = self.config.step(str(c["step_id"]))
            if step.authorised is not None:
                allowed = step.authorised
        except ClockStateError:
            pass
        if allowed is not None and by.strip() not in allowed:
            msg = (
                f"{by!r} may not close clocks of step {c['step_id']!r}; authorised: "
                f"{', '.join(allowed) or '(nobody)'}"
            )
            raise NotAuthorisedError(msg)
        now = self.now()
        on_time = pd.Timestamp(now) <= pd.Timestamp(c["deadline"])
        self.db.update_clock(
            cid,
            status=CLOCK_CLOSED,
            closed_at=now,
            closed_by=by.strip(),
            action=action.strip(),
            on_time=bool(on_time),
            updated_at=now,
        )
        self.db.log_clock(cid, "closed", at=now, actor=by.strip(), note=action.strip())
        c = self.db.clock(cid)
        late = "" if on_time else " (late: the deadline had passed)"
        return Alert(
            alert_id=alert_id(KIND_CLOCK_CLOSED, cid),
            kind=KIND_CLOCK_CLOSED,
            level="notice",
            title=(
                f"Clock closed{late}: {c['step_name']} for {str(c['subject']).replace(':', ' ')}"
                f" by {by.strip()}: {action.strip()}"
            ),
            raised_at=now,
            subject=str(c["subject"]),
            payload=self._payload(c),
        )

    def _payload(self, c: Mapping[str, Any]) -> dict[str, Any]:
        keys = (
            "clock_id",
            "step_id",
            "step_name",
            "subject",
            "sector",
            "who",
            "action_required",
            "started_at",
            "opened_at",
            "deadline",
            "status",
            "n_triggers",
            "closed_at",
            "closed_by",
            "action",
            "on_time",
        )
        out = {k: c.get(k) for k in keys if k in c}
        if "triggers" in c:
            out["triggers"] = json.loads(c["triggers"])
        return out


def clocks_summary(clocks: pd.DataFrame, *, now: datetime) -> dict[str, pd.DataFrame]:
    """Open (with hours left, negative when overdue), missed, and closed clocks."""
    if clocks.empty:
        empty = clocks.assign(hours_left=pd.Series(dtype=float))
        return {"open": empty, "missed": empty, "closed": empty}
    c = clocks.copy()
    c["hours_left"] = (
        pd.to_datetime(c["deadline"], utc=True) - pd.Timestamp(now)
    ).dt.total_seconds() / 3600
    missed_mask = (c["status"] == CLOCK_MISSED) | (
        (c["status"] == CLOCK_CLOSED) & (c["on_time"] == False)  # noqa: E712 (elementwise)
    )
    return {
        "open": c[c["status"] == CLOCK_OPEN].reset_index(drop=True),
        "missed": c[missed_mask].reset_index(drop=True),
        "closed": c[c["status"] == CLOCK_CLOSED].reset_index(drop=True),
    }


def steps_table(config: EscalationConfig) -> list[dict[str, Any]]:
    """The ladder as rows, for reports and ``ceasewatch clocks list``."""
    rows = []
    for s in config.steps:
        opens = (
            f"alert {s.opens_on.alert}"
            if s.opens_on.alert
            else f"{s.opens_on.status} violation, severity >= {s.opens_on.severity}"
        )
        rows.append(
            {
                "id": s.id,
                "name": s.name,
                "opens on": opens,
                "deadline": f"{s.deadline_hours:g} h from {s.start.replace('_', ' ')}",
                "warn": ", ".join(f"{w:g} h" for w in s.warn_before_hours),
                "who": ", ".join(s.who),
                "per": s.per,
            }
        )
    return rows


__all__: Sequence[str] = (
    "DEFAULT_STEPS",
    "ClockBook",
    "ClockStateError",
    "EscalationConfig",
    "EscalationStep",
    "NotAuthorisedError",
    "Trigger",
    "clock_triggers",
    "clocks_summary",
    "escalation_from_document",
    "escalation_problems",
    "steps_table",
)
