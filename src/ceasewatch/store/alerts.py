"""The alerting tables of the store: alerts, their outbox, response clocks, the
watcher's state.

Kept apart from :mod:`ceasewatch.store.duckdb` (same database, same connection):
:class:`AlertStore` wraps an open store (DuckDB, or PostGIS through its ``con`` adapter;
the SQL here runs on both) and creates its tables on first use.

* ``alerts``: one row per finding; ``alert_id`` is derived from the finding's content, so
  detecting it again (after a restart, on the next pass) inserts nothing.
* ``alert_outbox``: one row per alert and channel: ``pending`` (never tried), ``failed``
  (last attempt failed; tried again at ``next_attempt_at``) or ``sent``. A row is marked
  sent only after the channel acknowledged it, so delivery is at least once; the alert id
  travels with every delivery (webhook ``X-Ceasewatch-Delivery``, e-mail ``Message-ID``,
  feed item id) so a receiver drops the rare repeat of an attempt whose acknowledgement
  was lost. Nothing marked sent is ever sent again.
* ``clocks``, ``clock_warnings``, ``clock_log``: response clocks, the warnings given, and
  every change (who, when, what).
* ``watch_state``: key/value state of ``ceasewatch watch`` so that it resumes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import pandas as pd

from ceasewatch.alerts.trends import Alert
from ceasewatch.errors import NotFoundError
from ceasewatch.store.audit import SqlStore

OUTBOX_PENDING: Final = "pending"
OUTBOX_FAILED: Final = "failed"
OUTBOX_SENT: Final = "sent"

CLOCK_OPEN: Final = "open"
CLOCK_MISSED: Final = "missed"
CLOCK_CLOSED: Final = "closed"
CLOCK_CANCELLED: Final = "cancelled"
CLOCK_STATUSES: Final = (CLOCK_OPEN, CLOCK_MISSED, CLOCK_CLOSED, CLOCK_CANCELLED)

#: the violation columns alerting reads (the evidence lists stay in the store)
VIOLATION_COLUMNS: Final = (
    "violation_id",
    "incident_id",
    "agreement_version",
    "rule",
    "zone",
    "sector",
    "side",
    "distance_to_line_km",
    "occurred_at",
    "time_precision",
    "lon",
    "lat",
    "category",
    "weapon_class",
    "severity",
    "confidence",
    "weapon_in_zone",
    "n_sources",
    "sources",
    "fatalities",
    "location_name",
    "detected_at",
)

_DDL: Final = """
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY, kind TEXT NOT NULL, level TEXT NOT NULL, title TEXT NOT NULL,
    subject TEXT, raised_at TIMESTAMPTZ NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_outbox (
    alert_id TEXT NOT NULL, channel TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL, created_at TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL, last_attempt_at TIMESTAMPTZ, last_error TEXT,
    delivered_at TIMESTAMPTZ,
    PRIMARY KEY (alert_id, channel)
);
CREATE TABLE IF NOT EXISTS clocks (
    clock_id TEXT PRIMARY KEY, step_id TEXT NOT NULL, step_name TEXT, subject TEXT NOT NULL,
    sector TEXT, level TEXT, who TEXT, action_required TEXT,
    started_at TIMESTAMPTZ NOT NULL, opened_at TIMESTAMPTZ NOT NULL,
    deadline TIMESTAMPTZ NOT NULL, status TEXT NOT NULL, triggers TEXT NOT NULL,
    n_triggers INTEGER NOT NULL, missed_at TIMESTAMPTZ, closed_at TIMESTAMPTZ,
    closed_by TEXT, action TEXT, on_time BOOLEAN, agreement_version INTEGER,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS clock_warnings (
    clock_id TEXT NOT NULL, hours_before DOUBLE PRECISION NOT NULL, warned_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (clock_id, hours_before)
);
CREATE TABLE IF NOT EXISTS clock_log (
    clock_id TEXT NOT NULL, event TEXT NOT NULL, logged_at TIMESTAMPTZ NOT NULL, actor TEXT,
    note TEXT
);
CREATE TABLE IF NOT EXISTS watch_state (
    key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL
);
"""


class AlertStore:
    """Alert, outbox and clock tables in the database of ``store``."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.con = store.con
        self.con.execute(_DDL)

    def _df(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return self.con.execute(sql, list(params)).df()

    # --- alerts ------------------------------------------------------------------------
    def add_alerts(
        self, alerts: Iterable[Alert], routes: Mapping[str, Sequence[str]], *, now: datetime
    ) -> list[Alert]:
        """Insert the alerts not yet known, each with an outbox row per channel of
        ``routes[alert_id]``; returns the new ones. Known alerts are left as they are
        (their outbox too): detecting a finding again never sends it again."""
        by_id = {a.alert_id: a for a in alerts}
        if not by_id:
            return []
        ids = pd.DataFrame({"alert_id": list(by_id)})
        self.con.register("_aids", ids)
        try:
            known = set(
                self.con.execute(
                    "SELECT alert_id FROM alerts WHERE alert_id IN (SELECT alert_id FROM _aids)"
                )
                .df()["alert_id"]
                .tolist()
            )
        finally:
            self.con.unregister("_aids")
        new = [a for i, a in by_id.items() if i not in known]
        if not new:
            return []
        with self.store.transaction():
            for a in new:
                self.con.execute(
                    "INSERT INTO alerts VALUES (?,?,?,?,?,?,?)",
                    [
                        a.alert_id,
                        a.kind,
                        a.level,
                        a.title,
                        a.subject,
                        a.raised_at,
                        a.body().decode(),
                    ],
                )
                for channel in dict.fromkeys(routes.get(a.alert_id, ())):
                    self.con.execute(
                        "INSERT INTO alert_outbox (alert_id, channel, status, attempts, "
                        "created_at, next_attempt_at) VALUES (?,?,?,?,?,?)",
                        [a.alert_id, channel, OUTBOX_PENDING, 0, now, now],
                    )
        return new

    def alerts(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Sequence[str] = (),
        levels: Sequence[str] = (),
    ) -> pd.DataFrame:
        """Alerts raised in ``[since, until)``, newest last."""
        df = self._df(
            "SELECT * FROM alerts WHERE (? IS NULL OR raised_at >= ?) "
            "AND (? IS NULL OR raised_at < ?) ORDER BY raised_at, alert_id",
            [since, since, until, until],
        )
        if kinds:
            df = df[df["kind"].isin(list(kinds))]
        if levels:
            df = df[df["level"].isin(list(levels))]
        return df.reset_index(drop=True)

    def alert_document(self, alert_id: str) -> dict[str, Any]:
        row = self.con.execute("SELECT body FROM alerts WHERE alert_id = ?", [alert_id]).fetchone()
        if row is None:
            msg = f"alert {alert_id!r} does not exist"
            raise NotFoundError(msg)
        doc: dict[str, Any] = json.loads(row[0])
        return doc

    # --- outbox ------------------------------------------------------------------------
    def outbox(self, *, channel: str | None = None, status: str | None = None) -> pd.DataFrame:
        return self._df(
            "SELECT o.*, a.kind, a.level, a.title FROM alert_outbox o JOIN alerts a "
            "USING (alert_id) WHERE (? IS NULL OR o.channel = ?) AND (? IS NULL OR o.status = ?) "
            "ORDER BY o.created_at, o.alert_id, o.channel",
            [channel, channel, status, status],
        )

    def due(self, channel: str, *, now: datetime, limit: int = 100) -> pd.DataFrame:
        """Undelivered rows of ``channel`` whose next attempt is due, oldest first, with the
        alert's canonical body."""
        return self._df(
            "SELECT o.alert_id, o.channel, o.status, o.attempts, a.kind, a.level, a.title, "
            "a.subject, a.raised_at, a.body FROM alert_outbox o JOIN alerts a USING (alert_id) "
            "WHERE o.channel = ? AND o.status <> ? AND o.next_attempt_at <= ? "
            "ORDER BY o.created_at, a.raised_at, o.alert_id LIMIT ?",
            [channel, OUTBOX_SENT, now, limit],
        )

    def mark_sent(self, alert_ids: Sequence[str], channel: str, *, now: datetime) -> None:
        for aid in alert_ids:
            self.con.execute(
                "UPDATE alert_outbox SET status = ?, attempts = attempts + 1, "
                "last_attempt_at = ?, delivered_at = ?, last_error = NULL "
                "WHERE alert_id = ? AND channel = ? AND status <> ?",
                [OUTBOX_SENT, now, now, aid, channel, OUTBOX_SENT],
            )

    def mark_failed(
        self, alert_id: str, channel: str, *, now: datetime, error: str, next_attempt_at: datetime
    ) -> None:
        self.con.execute(
            "UPDATE alert_outbox SET status = ?, attempts = attempts + 1, last_attempt_at = ?, "
            "last_error = ?, next_attempt_at = ? WHERE alert_id = ? AND channel = ? "
            "AND status <> ?",
            [OUTBOX_FAILED, now, error[:500], next_attempt_at, alert_id, channel, OUTBOX_SENT],
        )

    def channel_feed(self, channel: str, *, limit: int) -> pd.DataFrame:
        """The latest ``limit`` alerts routed to ``channel`` (a feed's items), newest first."""
        return self._df(
            "SELECT a.* FROM alerts a JOIN alert_outbox o USING (alert_id) WHERE o.channel = ? "
            "ORDER BY a.raised_at DESC, a.alert_id DESC LIMIT ?",
            [channel, limit],
        )

    # --- clocks --------------------------------------------------------------------------
    def clocks(
        self, *, status: str | Sequence[str] | None = None, step_id: str | None = None
    ) -> pd.DataFrame:
        statuses = [status] if isinstance(status, str) else list(status or [])
        df = self._df(
            "SELECT * FROM clocks WHERE (? IS NULL OR step_id = ?) ORDER BY deadline, clock_id",
            [step_id, step_id],
        )
        if statuses:
            df = df[df["status"].isin(statuses)]
        return df.reset_index(drop=True)

    def clock(self, clock_id: str) -> dict[str, Any]:
        df = self._df("SELECT * FROM clocks WHERE clock_id = ?", [clock_id])
        if df.empty:
            matches = self._df(
                "SELECT clock_id FROM clocks WHERE clock_id LIKE ? ORDER BY clock_id",
                [clock_id + "%"],
            )
            if len(matches) == 1:
                return self.clock(str(matches["clock_id"].iloc[0]))
            msg = (
                f"clock {clock_id!r} does not exist"
                if matches.empty
                else f"clock id prefix {clock_id!r} is ambiguous ({len(matches)} clocks)"
            )
            raise NotFoundError(msg)
        row: dict[str, Any] = df.iloc[0].to_dict()
        return row

    def insert_clock(self, record: Mapping[str, Any]) -> None:
        cols = list(record)
        self.con.execute(
            f"INSERT INTO clocks ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [record[c] for c in cols],
        )

    def update_clock(self, clock_id: str, **values: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        self.con.execute(
            f"UPDATE clocks SET {sets} WHERE clock_id = ?", [*values.values(), clock_id]
        )

    def log_clock(
        self, clock_id: str, event: str, *, at: datetime, actor: str | None, note: str | None
    ) -> None:
        self.con.execute(
            "INSERT INTO clock_log VALUES (?,?,?,?,?)", [clock_id, event, at, actor, note]
        )

    def clock_log(self, clock_id: str | None = None) -> pd.DataFrame:
        return self._df(
            "SELECT * FROM clock_log WHERE (? IS NULL OR clock_id = ?) "
            "ORDER BY logged_at, clock_id",
            [clock_id, clock_id],
        )

    def warned(self, clock_id: str) -> set[float]:
        df = self._df("SELECT hours_before FROM clock_warnings WHERE clock_id = ?", [clock_id])
        return {float(x) for x in df["hours_before"]}

    def record_warning(self, clock_id: str, hours_before: float, *, at: datetime) -> None:
        self.con.execute(
            "INSERT INTO clock_warnings VALUES (?,?,?) ON CONFLICT DO NOTHING",
            [clock_id, hours_before, at],
        )

    # --- violations as known at a time ------------------------------------------------------
    def violations_known(self, *, now: datetime | None = None) -> pd.DataFrame:
        """Active violations with their status as of ``now`` (the latest status change at or
        before it; ``detected`` when none) and ``confirmed_at`` (the first change to
        ``confirmed`` at or before it)."""
        cols = ", ".join(f"v.{c}" for c in VIOLATION_COLUMNS)
        return self._df(
            f"SELECT {cols}, coalesce(s.status, 'detected') AS status, c.confirmed_at "
            "FROM violations v "
            # the latest status at or before ``now`` (standard SQL: both stores run it)
            "LEFT JOIN (SELECT violation_id, status FROM (SELECT violation_id, status, "
            "  row_number() OVER (PARTITION BY violation_id ORDER BY changed_at DESC) AS _rn "
            "  FROM violation_status WHERE (? IS NULL OR changed_at <= ?)) ls "
            "  WHERE _rn = 1) s USING (violation_id) "
            "LEFT JOIN (SELECT violation_id, min(changed_at) AS confirmed_at "
            "  FROM violation_status WHERE status = 'confirmed' "
            "  AND (? IS NULL OR changed_at <= ?) GROUP BY violation_id) c USING (violation_id) "
            "WHERE v.active ORDER BY v.occurred_at, v.violation_id",
            [now, now, now, now],
        )

    # --- watcher state ----------------------------------------------------------------------
    def get_state(self, key: str, default: Any = None) -> Any:
        row = self.con.execute("SELECT value FROM watch_state WHERE key = ?", [key]).fetchone()
        return default if row is None else json.loads(row[0])

    def set_state(self, key: str, value: Any, *, now: datetime) -> None:
        self.con.execute(
            "INSERT INTO watch_state VALUES (?,?,?) ON CONFLICT (key) DO UPDATE SET "
            "value = excluded.value, updated_at = excluded.updated_at",
            [key, json.dumps(value, default=str), now],
        )
