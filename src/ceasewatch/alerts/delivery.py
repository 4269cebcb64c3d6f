"""Delivering alerts: webhook (signed JSON), e-mail (SMTP) and a feed file (JSON Feed or
Atom), behind the outbox of :mod:`ceasewatch.store.alerts`.

An alert is queued in the store, one outbox row per channel, in the same pass that
detects it; :func:`deliver_pending` then tries every due row. A row is marked sent only
once the channel acknowledged it (HTTP 2xx, SMTP accepted, feed file replaced), so a
channel that is down loses nothing: its rows wait, retried with exponential backoff
(30 s doubling to 1 h, ±10 % jitter derived from the alert id so runs are reproducible),
and go out when it comes back, after a restart too. Nothing marked sent is sent again.
The one window left — the channel took the alert but the process died before the row was
marked — can repeat a delivery, never lose one: the alert id travels with each delivery
(``X-Ceasewatch-Delivery``, the e-mail's ``Message-ID``, the feed item's id) for the
receiver to drop the repeat.

Webhook signature: ``X-Ceasewatch-Signature: sha256=<hex HMAC-SHA256(secret, body)>`` over
the exact body bytes; :func:`verify_signature` is what a receiver runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import smtplib
import ssl
import tempfile
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, ClassVar, Final

import pandas as pd

from ceasewatch import __version__
from ceasewatch.alerts.trends import ALERT_KINDS, LEVEL_RANK, LEVELS, Alert
from ceasewatch.errors import CeasewatchError
from ceasewatch.store.alerts import AlertStore

SIGNATURE_HEADER: Final = "X-Ceasewatch-Signature"
DELIVERY_HEADER: Final = "X-Ceasewatch-Delivery"
EVENT_HEADER: Final = "X-Ceasewatch-Event"
USER_AGENT: Final = f"ceasewatch/{__version__}"


class DeliveryError(CeasewatchError, RuntimeError):
    """A delivery attempt failed; the alert stays queued."""


class ChannelDownError(DeliveryError):
    """The channel cannot be reached at all (refused, timed out): the rest of its queue
    waits for the next pass instead of failing one by one."""


class ChannelConfigError(CeasewatchError, ValueError):
    """The channel configuration is invalid; ``problems`` lists every problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


# --- signing ----------------------------------------------------------------------------
def sign(secret: bytes, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (the ``X-Ceasewatch-Signature`` value) signs ``body`` with
    ``secret``; constant-time comparison."""
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())


# --- backoff -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Backoff:
    """Delay before the next attempt: ``base_s · 2^(attempts-1)``, at most ``max_s``,
    times a jitter in ``[1 - jitter, 1 + jitter]`` derived from the alert id."""

    base_s: float = 30.0
    max_s: float = 3600.0
    jitter: float = 0.1

    def delay(self, attempts: int, key: str) -> timedelta:
        raw = min(self.max_s, self.base_s * 2 ** max(attempts - 1, 0))
        h = int(hashlib.sha256(f"{key}|{attempts}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return timedelta(seconds=raw * (1 - self.jitter + 2 * self.jitter * h))


# --- channels ------------------------------------------------------------------------------
@dataclass
class Channel(ABC):
    """Where alerts go. ``min_level`` and ``kinds`` (empty: all) select the alerts."""

    name: str
    min_level: str = "notice"
    kinds: tuple[str, ...] = ()
    type: ClassVar[str] = ""

    def accepts(self, alert: Alert) -> bool:
        if LEVEL_RANK.get(alert.level, -1) < LEVEL_RANK[self.min_level]:
            return False
        return not self.kinds or alert.kind in self.kinds

    def deliver(self, items: pd.DataFrame, db: AlertStore, *, now: datetime) -> DeliveryOutcome:
        """Try each due row (``alert_id``, ``body``, …); the default sends one by one."""
        outcome = DeliveryOutcome(self.name)
        self.begin()
        try:
            for _, row in items.iterrows():
                aid = str(row["alert_id"])
                try:
                    self.send(aid, str(row["body"]).encode())
                except ChannelDownError as e:
                    outcome.failed.append((aid, str(e)))
                    outcome.down = True
                    break
                except DeliveryError as e:
                    outcome.failed.append((aid, str(e)))
                else:
                    outcome.sent.append(aid)
                    # mark at once: a crash later in the batch must not resend this one
                    db.mark_sent([aid], self.name, now=now)
        finally:
            self.end()
        return outcome

    def begin(self) -> None:  # noqa: B027 (an optional hook, empty by default)
        """Before a batch (e.g. open a connection)."""

    def end(self) -> None:  # noqa: B027 (an optional hook, empty by default)
        """After a batch."""

    @abstractmethod
    def send(self, alert_id: str, body: bytes) -> None:
        """Deliver one alert (``body`` is its canonical JSON) or raise DeliveryError."""


@dataclass
class WebhookChannel(Channel):
    """POST the alert's JSON to ``url``, signed with HMAC-SHA256 when a secret is set."""

    url: str = ""
    secret: bytes | None = None
    timeout_s: float = 10.0
    type: ClassVar[str] = "webhook"

    def send(self, alert_id: str, body: bytes) -> None:
        kind = json.loads(body).get("kind", "")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: alert_id,
            EVENT_HEADER: kind,
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                status = resp.status
                resp.read()
        except urllib.error.HTTPError as e:
            msg = f"webhook {self.name}: HTTP {e.code} from {self.url}"
            raise DeliveryError(msg) from e
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            reason = getattr(e, "reason", e)
            msg = f"webhook {self.name}: cannot reach {self.url}: {reason}"
            raise ChannelDownError(msg) from e
        if not 200 <= status < 300:
            msg = f"webhook {self.name}: HTTP {status} from {self.url}"
            raise DeliveryError(msg)


@dataclass
class EmailChannel(Channel):
    """Send each alert as an e-mail over SMTP (STARTTLS or SSL when asked)."""

    host: str = "localhost"
    port: int = 25
    sender: str = "ceasewatch@localhost"
    recipients: tuple[str, ...] = ()
    starttls: bool = False
    use_ssl: bool = False
    username: str | None = None
    password: str | None = None
    timeout_s: float = 10.0
    type: ClassVar[str] = "email"
    _smtp: smtplib.SMTP | None = field(default=None, repr=False, compare=False)

    def begin(self) -> None:
        self._smtp = None

    def _connect(self) -> smtplib.SMTP:
        try:
            smtp: smtplib.SMTP
            if self.use_ssl:
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=self.timeout_s,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
        except (OSError, smtplib.SMTPException) as e:
            msg = f"e-mail {self.name}: cannot reach {self.host}:{self.port}: {e}"
            raise ChannelDownError(msg) from e
        return smtp

    def end(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None

    def message(self, alert_id: str, body: bytes) -> EmailMessage:
        doc = json.loads(body)
        msg = EmailMessage()
        msg["Subject"] = f"[ceasewatch {doc.get('level', '')}] {doc.get('title', alert_id)}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Message-ID"] = f"<{alert_id}@ceasewatch>"
        msg[DELIVERY_HEADER] = alert_id
        raised = doc.get("raised_at")
        if raised:
            msg["Date"] = format_datetime(pd.Timestamp(raised).to_pydatetime())
        lines = [
            str(doc.get("title", "")),
            "",
            f"level: {doc.get('level')}",
            f"kind: {doc.get('kind')}",
            f"raised at: {raised}",
            f"alert id: {alert_id}",
            "",
        ]
        for k, v in (doc.get("data") or {}).items():
            if v is not None and v != []:
                lines.append(f"{k}: {v}")
        lines += ["", "-- ", "ceasewatch: the alert as JSON follows", body.decode()]
        msg.set_content("\n".join(lines))
        return msg

    def send(self, alert_id: str, body: bytes) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            refused = self._smtp.send_message(self.message(alert_id, body))
        except smtplib.SMTPRecipientsRefused as e:
            msg = f"e-mail {self.name}: every recipient refused: {e.recipients}"
            raise DeliveryError(msg) from e
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            self._smtp = None
            msg = f"e-mail {self.name}: connection to {self.host}:{self.port} lost: {e}"
            raise ChannelDownError(msg) from e
        except smtplib.SMTPException as e:
            msg = f"e-mail {self.name}: {e}"
            raise DeliveryError(msg) from e
        # ``refused`` lists recipients refused while others accepted: retrying would
        # duplicate the message for those who got it, so it counts as delivered
        del refused


@dataclass
class FeedChannel(Channel):
    """A feed file (JSON Feed 1.1 or Atom) of the latest ``max_items`` alerts routed to
    it, rewritten atomically (temporary file, then rename) on each pass that has news."""

    path: Path = Path("alerts.json")
    format: str = "json"
    max_items: int = 200
    title: str = "ceasewatch alerts"
    type: ClassVar[str] = "feed"

    def send(self, alert_id: str, body: bytes) -> None:  # pragma: no cover - batch only
        raise NotImplementedError

    def deliver(self, items: pd.DataFrame, db: AlertStore, *, now: datetime) -> DeliveryOutcome:
        outcome = DeliveryOutcome(self.name)
        ids = [str(x) for x in items["alert_id"]]
        try:
            self.write(db.channel_feed(self.name, limit=self.max_items), now=now)
        except OSError as e:
            outcome.failed = [(i, f"feed {self.name}: cannot write {self.path}: {e}") for i in ids]
            outcome.down = True
            return outcome
        db.mark_sent(ids, self.name, now=now)
        outcome.sent = ids
        return outcome

    def render(self, alerts: pd.DataFrame, *, now: datetime) -> bytes:
        docs = [json.loads(b) for b in alerts["body"]] if not alerts.empty else []
        if self.format == "json":
            feed = {
                "version": "https://jsonfeed.org/version/1.1",
                "title": self.title,
                "description": "Alerts and response-clock warnings from ceasewatch",
                "items": [
                    {
                        "id": d["id"],
                        "title": d["title"],
                        "content_text": d["title"],
                        "date_published": d["raised_at"],
                        "tags": [d["kind"], d["level"]],
                        "_ceasewatch": d,
                    }
                    for d in docs
                ],
            }
            return (json.dumps(feed, indent=1, ensure_ascii=False) + "\n").encode()
        atom = "http://www.w3.org/2005/Atom"
        ET.register_namespace("", atom)
        root = ET.Element(f"{{{atom}}}feed")
        ET.SubElement(root, f"{{{atom}}}id").text = f"urn:ceasewatch:feed:{self.name}"
        ET.SubElement(root, f"{{{atom}}}title").text = self.title
        updated = docs[0]["raised_at"] if docs else now.astimezone(UTC).isoformat()
        ET.SubElement(root, f"{{{atom}}}updated").text = updated
        author = ET.SubElement(root, f"{{{atom}}}author")
        ET.SubElement(author, f"{{{atom}}}name").text = "ceasewatch"
        for d in docs:
            e = ET.SubElement(root, f"{{{atom}}}entry")
            ET.SubElement(e, f"{{{atom}}}id").text = f"urn:ceasewatch:alert:{d['id']}"
            ET.SubElement(e, f"{{{atom}}}title").text = d["title"]
            ET.SubElement(e, f"{{{atom}}}updated").text = d["raised_at"]
            ET.SubElement(e, f"{{{atom}}}published").text = d["raised_at"]
            ET.SubElement(e, f"{{{atom}}}category", term=d["level"], label="level")
            ET.SubElement(e, f"{{{atom}}}category", term=d["kind"], label="kind")
            content = ET.SubElement(e, f"{{{atom}}}content", type="text")
            content.text = json.dumps(d, ensure_ascii=False, sort_keys=True)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"

    def write(self, alerts: pd.DataFrame, *, now: datetime) -> Path:
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, self.render(alerts, now=now))
        return path


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` so that a reader sees the old or the new file, never a
    part: write a temporary file beside it, flush it to disk, rename it over."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- routing and delivering -------------------------------------------------------------------
def route(alerts: Iterable[Alert], channels: Sequence[Channel]) -> dict[str, list[str]]:
    """Which channels each alert goes to."""
    return {a.alert_id: [c.name for c in channels if c.accepts(a)] for a in alerts}


@dataclass
class DeliveryOutcome:
    """What one channel did in one pass."""

    channel: str
    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False


@dataclass
class DeliveryReport:
    """What :func:`deliver_pending` did, per channel."""

    outcomes: list[DeliveryOutcome] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(len(o.sent) for o in self.outcomes)

    @property
    def failed(self) -> int:
        return sum(len(o.failed) for o in self.outcomes)

    def summary(self) -> str:
        parts = []
        for o in self.outcomes:
            s = f"{o.channel}: {len(o.sent)} sent"
            if o.failed:
                s += f", {len(o.failed)} failed ({o.failed[-1][1]})"
            if o.down:
                s += ", channel down"
            parts.append(s)
        return "; ".join(parts) or "no channel"


def deliver_pending(
    db: AlertStore,
    channels: Sequence[Channel],
    *,
    now: datetime,
    limit: int = 200,
    backoff: Backoff | None = None,
) -> DeliveryReport:
    """Try every due outbox row of every channel once; failures are rescheduled."""
    bo = backoff or Backoff()
    report = DeliveryReport()
    for ch in channels:
        items = db.due(ch.name, now=now, limit=limit)
        if items.empty:
            continue
        try:
            outcome = ch.deliver(items, db, now=now)
        except DeliveryError as e:
            outcome = DeliveryOutcome(
                ch.name, failed=[(str(a), str(e)) for a in items["alert_id"]], down=True
            )
        attempts = dict(zip(items["alert_id"].astype(str), items["attempts"], strict=True))
        for aid, err in outcome.failed:
            n = int(attempts.get(aid, 0)) + 1
            db.mark_failed(aid, ch.name, now=now, error=err, next_attempt_at=now + bo.delay(n, aid))
        report.outcomes.append(outcome)
    return report


# --- configuration ------------------------------------------------------------------------------
_COMMON: Final = frozenset({"name", "type", "min_level", "kinds"})
_FIELDS: Final[dict[str, frozenset[str]]] = {
    "webhook": frozenset({"url", "secret", "secret_env", "timeout_s"}),
    "email": frozenset(
        {
            "host",
            "port",
            "from",
            "to",
            "starttls",
            "ssl",
            "username",
            "password_env",
            "timeout_s",
        }
    ),
    "feed": frozenset({"path", "format", "max_items", "title"}),
}


def channels_from_config(
    raw: Any, *, env: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> list[Channel]:
    """Channels from the ``channels`` list of an alerts configuration (``docs/alerts.md``).

    Secrets are read from the environment variables the configuration names
    (``secret_env``, ``password_env``), never stored in the file; relative feed paths are
    relative to ``base_dir``. Raises :class:`ChannelConfigError` listing every problem.
    """
    environ = os.environ if env is None else env
    problems: list[str] = []
    out: list[Channel] = []
    if raw is None:
        return []
    if not isinstance(raw, list):
        msg = f"channels: expected a list of channels, got {raw!r}"
        raise ChannelConfigError(msg, [msg])
    names: set[str] = set()
    for i, c in enumerate(raw):
        where = f"channels[{i}]"
        if not isinstance(c, dict):
            problems.append(f"{where}: expected a mapping, got {c!r}")
            continue
        kind = c.get("type")
        if kind not in _FIELDS:
            problems.append(f"{where}.type: expected one of {', '.join(_FIELDS)}, got {kind!r}")
            continue
        bad = sorted(set(c) - _COMMON - _FIELDS[kind])
        if bad:
            problems.append(
                f"{where}: unknown field(s) {', '.join(bad)} for a {kind} channel; known: "
                f"{', '.join(sorted(_COMMON | _FIELDS[kind]))}"
            )
        name = c.get("name", f"{kind}{i}")
        if not isinstance(name, str) or not name or name in names:
            problems.append(f"{where}.name: expected a distinct non-empty name, got {name!r}")
            continue
        names.add(name)
        level = c.get("min_level", "notice")
        if level not in LEVELS:
            problems.append(f"{where}.min_level: expected one of {', '.join(LEVELS)}")
            continue
        kinds = c.get("kinds", [])
        if not isinstance(kinds, list) or any(k not in ALERT_KINDS for k in kinds):
            problems.append(f"{where}.kinds: expected a list among {', '.join(ALERT_KINDS)}")
            continue
        common: dict[str, Any] = {"name": name, "min_level": level, "kinds": tuple(kinds)}
        if kind == "webhook":
            url = c.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                problems.append(f"{where}.url: expected an http(s) URL, got {url!r}")
                continue
            secret: str | None = c.get("secret")
            if "secret_env" in c:
                secret = environ.get(str(c["secret_env"]))
                if not secret:
                    problems.append(
                        f"{where}.secret_env: environment variable {c['secret_env']} is not set"
                    )
                    continue
            out.append(
                WebhookChannel(
                    **common,
                    url=url,
                    secret=secret.encode() if secret else None,
                    timeout_s=float(c.get("timeout_s", 10.0)),
                )
            )
        elif kind == "email":
            to = c.get("to")
            if isinstance(to, str):
                to = [to]
            if not isinstance(to, list) or not to or not all("@" in str(x) for x in to):
                problems.append(f"{where}.to: expected a list of e-mail addresses, got {to!r}")
                continue
            password = None
            if "password_env" in c:
                password = environ.get(str(c["password_env"]))
                if password is None:
                    problems.append(
                        f"{where}.password_env: environment variable {c['password_env']} is not set"
                    )
                    continue
            out.append(
                EmailChannel(
                    **common,
                    host=str(c.get("host", "localhost")),
                    port=int(c.get("port", 25)),
                    sender=str(c.get("from", "ceasewatch@localhost")),
                    recipients=tuple(str(x) for x in to),
                    starttls=bool(c.get("starttls", False)),
                    use_ssl=bool(c.get("ssl", False)),
                    username=c.get("username"),
                    password=password,
                    timeout_s=float(c.get("timeout_s", 10.0)),
                )
            )
        else:
            fmt = c.get("format", "json")
            if fmt not in ("json", "atom"):
                problems.append(f"{where}.format: expected json or atom, got {fmt!r}")
                continue
            path = Path(str(c.get("path", f"{name}.{'json' if fmt == 'json' else 'xml'}")))
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            out.append(
                FeedChannel(
                    **common,
                    path=path,
                    format=fmt,
                    max_items=int(c.get("max_items", 200)),
                    title=str(c.get("title", "ceasewatch alerts")),
                )
            )
    if problems:
        msg = "alert channels have problems:\n  " + "\n  ".join(problems)
        raise ChannelConfigError(msg, problems)
    return out
