"""Delivery through the outbox to real local receivers: a webhook receiver process on
127.0.0.1 that is killed mid-run, an aiosmtpd SMTP server that goes down and comes back,
and feed files. Nothing is lost, nothing marked sent is sent again, across restarts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from ceasewatch.alerts.delivery import (
    Backoff,
    ChannelConfigError,
    EmailChannel,
    FeedChannel,
    WebhookChannel,
    channels_from_config,
    deliver_pending,
    route,
    sign,
    verify_signature,
)
from ceasewatch.alerts.trends import Alert, alert_id
from ceasewatch.store.alerts import AlertStore
from ceasewatch.store.duckdb import DuckDBStore

SECRET = b"test-secret-not-for-production"
T0 = datetime(2025, 10, 1, 12, 0, tzinfo=UTC)

#: a webhook receiver: verifies the signature, logs every request (even repeats) as a
#: JSON line *before* answering, then answers 200; ``--die-after N`` ends the process
#: right after the N-th answer, ``--delay S`` waits before answering
RECEIVER = r"""
import hashlib, hmac, json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

port, log_path, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
die_after = int(sys.argv[4]) if len(sys.argv) > 4 else 0
delay = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
served = 0

class H(BaseHTTPRequestHandler):
    def do_POST(self):
        global served
        body = self.rfile.read(int(self.headers["Content-Length"]))
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        got = self.headers.get("X-Ceasewatch-Signature", "")
        entry = {
            "id": self.headers.get("X-Ceasewatch-Delivery"),
            "verified": hmac.compare_digest(want, got),
            "body_id": json.loads(body)["id"],
            "pid": os.getpid(),
        }
        with open(log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if delay:
            time.sleep(delay)
        self.send_response(200 if entry["verified"] else 401)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
        self.wfile.flush()
        served += 1
        if die_after and served >= die_after:
            os._exit(0)

    def log_message(self, *a):
        pass

srv = HTTPServer(("127.0.0.1", port), H)
print("ready", srv.server_address[1], flush=True)
srv.serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """The webhook receiver process, started and killed by the test."""

    def __init__(self, tmp: Path, port: int) -> None:
        self.script = tmp / "receiver.py"
        self.script.write_text(RECEIVER)
        self.log = tmp / "received.jsonl"
        self.port = port
        self.proc: subprocess.Popen[str] | None = None

    def start(self, *, die_after: int = 0, delay: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(self.script),
                str(self.port),
                str(self.log),
                SECRET.decode(),
                str(die_after),
                str(delay),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until bound (or the process died)
        assert line.startswith("ready"), line

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)

    def entries(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(x) for x in self.log.read_text().splitlines() if x.strip()]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    r = Receiver(tmp_path, free_port())
    yield r
    r.kill()


def make_alerts(n: int, *, start: int = 0, level: str = "breach") -> list[Alert]:
    return [
        Alert(
            alert_id=alert_id("violation", f"V{i:04d}", level),
            kind="violation",
            level=level,
            title=f"Breach: shelling in sector Zaporizhzhia #{i}",
            raised_at=T0 + timedelta(minutes=i),
            subject="sector:Zaporizhzhia",
            payload={"violation_id": f"V{i:04d}", "sector": "Zaporizhzhia"},
        )
        for i in range(start, start + n)
    ]


def open_db(path: Path) -> tuple[DuckDBStore, AlertStore]:
    st = DuckDBStore(path)
    return st, AlertStore(st)


def test_signature_round_trip_and_tampering() -> None:
    body = make_alerts(1)[0].body()
    header = sign(SECRET, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(SECRET, body, header)
    assert not verify_signature(SECRET, body.replace(b"Zaporizhzhia", b"Kherson"), header)
    assert not verify_signature(b"another secret", body, header)
    assert not verify_signature(SECRET, body, None)
    assert not verify_signature(SECRET, body, "md5=" + header[7:])
    # the body is canonical: the same alert always signs the same
    assert make_alerts(1)[0].body() == body


def test_backoff_grows_and_caps_deterministically() -> None:
    bo = Backoff(base_s=30, max_s=3600, jitter=0.1)
    d = [bo.delay(n, "A1").total_seconds() for n in range(1, 10)]
    assert 27 <= d[0] <= 33 and 54 <= d[1] <= 66
    assert all(x <= 3960 for x in d) and d[-1] >= 3240
    assert bo.delay(3, "A1") == bo.delay(3, "A1")


def test_webhook_receiver_killed_mid_run_loses_and_duplicates_nothing(
    tmp_path: Path, receiver: Receiver
) -> None:
    store_path = tmp_path / "store.duckdb"
    hook = WebhookChannel(name="hook", url=receiver.url, secret=SECRET, timeout_s=5)
    st, db = open_db(store_path)
    alerts = make_alerts(8)
    assert len(db.add_alerts(alerts, route(alerts, [hook]), now=T0)) == 8
    # the receiver crashes right after acknowledging its third delivery
    receiver.start(die_after=3)
    rep = deliver_pending(db, [hook], now=T0)
    assert rep.sent == 3 and rep.failed == 1 and rep.outcomes[0].down
    ob = db.outbox(channel="hook")
    assert sorted(ob["status"].value_counts().to_dict().items()) == [
        ("failed", 1),
        ("pending", 4),
        ("sent", 3),
    ]
    failed = ob[ob["status"] == "failed"].iloc[0]
    assert failed["attempts"] == 1 and "cannot reach" in failed["last_error"]
    receiver.proc.wait(timeout=10)  # type: ignore[union-attr]

    # the sender restarts too (a new process would do the same): state is in the store
    st.close()
    st, db = open_db(store_path)
    # the receiver is still down: nothing more is sent, nothing is dropped
    # (one untried row is tried, fails and is rescheduled; the channel is then skipped)
    rep = deliver_pending(db, [hook], now=T0 + timedelta(seconds=1))
    assert rep.sent == 0 and rep.failed == 1
    assert db.outbox(channel="hook")["status"].value_counts().to_dict() == {
        "sent": 3,
        "failed": 2,
        "pending": 3,
    }

    # it comes back; the failed rows wait for their backoff, the untried rows go now
    receiver.start()
    rep = deliver_pending(db, [hook], now=T0 + timedelta(seconds=2))
    assert rep.sent == 3 and rep.failed == 0
    rep = deliver_pending(db, [hook], now=T0 + timedelta(minutes=5))
    assert rep.sent == 2
    ob = db.outbox(channel="hook")
    assert set(ob["status"]) == {"sent"} and ob["delivered_at"].notna().all()
    # and once more, after another restart: nothing is sent again
    st.close()
    st, db = open_db(store_path)
    assert deliver_pending(db, [hook], now=T0 + timedelta(hours=2)).sent == 0
    # detecting the same alerts again queues nothing
    assert db.add_alerts(alerts, route(alerts, [hook]), now=T0 + timedelta(hours=2)) == []
    st.close()

    got = receiver.entries()
    ids = [e["id"] for e in got]
    assert sorted(ids) == sorted(a.alert_id for a in alerts)  # each exactly once
    assert all(e["verified"] and e["id"] == e["body_id"] for e in got)
    assert len({e["pid"] for e in got}) == 2  # two receiver lifetimes


def test_webhook_receiver_sigkilled_during_a_request(tmp_path: Path, receiver: Receiver) -> None:
    """The kill lands while a request is in flight: that one delivery may reach the
    receiver without its acknowledgement reaching us, so it is sent again later with the
    same id, and the receiver drops the repeat. Nothing is lost; nothing acknowledged is
    ever re-sent."""
    hook = WebhookChannel(name="hook", url=receiver.url, secret=SECRET, timeout_s=5)
    st, db = open_db(tmp_path / "store.duckdb")
    alerts = make_alerts(6)
    db.add_alerts(alerts, route(alerts, [hook]), now=T0)
    receiver.start(delay=0.4)

    def killer() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if len(receiver.entries()) >= 3:  # the third request is in flight
                receiver.kill()
                return
            time.sleep(0.02)

    k = threading.Thread(target=killer)
    k.start()
    rep = deliver_pending(db, [hook], now=T0)
    k.join(timeout=30)
    assert rep.outcomes[0].down and 2 <= rep.sent <= 3
    sent_first = set(rep.outcomes[0].sent)
    receiver.start()
    t = T0
    for _ in range(6):  # retries with backoff, bounded
        t += timedelta(hours=1)
        deliver_pending(db, [hook], now=t)
    ob = db.outbox(channel="hook")
    assert set(ob["status"]) == {"sent"}
    got = [e["id"] for e in receiver.entries()]
    assert set(got) == {a.alert_id for a in alerts}  # nothing lost
    repeats = {i for i in got if got.count(i) > 1}
    assert len(repeats) <= 1 and not (repeats & sent_first)  # only the in-flight one
    # the receiver's idempotent view (dedupe on X-Ceasewatch-Delivery) has each once
    assert len(dict.fromkeys(got)) == len(alerts)
    st.close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def test_email_over_a_real_smtp_server_that_goes_down_and_comes_back(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    port = free_port()
    box = _Mailbox()
    mail = EmailChannel(
        name="mail",
        host="127.0.0.1",
        port=port,
        sender="ceasewatch@monitor.test",
        recipients=("duty@guarantor.test", "cell@guarantor.test"),
        timeout_s=5,
        min_level="breach",
    )
    store_path = tmp_path / "store.duckdb"
    st, db = open_db(store_path)
    alerts = [*make_alerts(3), *make_alerts(2, start=10, level="notice")]
    routes = route(alerts, [mail])
    assert sum(1 for v in routes.values() if v) == 3  # notices are below the channel's level
    db.add_alerts(alerts, routes, now=T0)
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        rep = deliver_pending(db, [mail], now=T0)
        assert rep.sent == 3
    finally:
        ctl.stop()
    # the server is down: a new alert waits
    more = make_alerts(2, start=20)
    db.add_alerts(more, route(more, [mail]), now=T0 + timedelta(minutes=1))
    rep = deliver_pending(db, [mail], now=T0 + timedelta(minutes=1))
    assert rep.sent == 0 and rep.outcomes[0].down
    st.close()
    st, db = open_db(store_path)  # a restart of the sender
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        # the untried one goes at once, the failed one after its backoff (~30 s)
        assert deliver_pending(db, [mail], now=T0 + timedelta(minutes=1, seconds=5)).sent == 1
        assert deliver_pending(db, [mail], now=T0 + timedelta(hours=1)).sent == 1
        assert deliver_pending(db, [mail], now=T0 + timedelta(hours=2)).sent == 0
    finally:
        ctl.stop()
    st.close()
    msgs = [message_from_bytes(m) for m in box.messages]
    ids = [m["Message-ID"] for m in msgs]
    expected = {f"<{a.alert_id}@ceasewatch>" for a in [*alerts[:3], *more]}
    assert sorted(ids) == sorted(expected)  # five alerts, each once
    m = msgs[0]
    assert m["Subject"].startswith("[ceasewatch breach] Breach: shelling in sector")
    assert m["Message-ID"] == f"<{m['X-Ceasewatch-Delivery']}@ceasewatch>"
    assert "duty@guarantor.test" in m["To"] and "cell@guarantor.test" in m["To"]
    body = m.get_payload(decode=True).decode()
    assert "alert id: " + m["X-Ceasewatch-Delivery"] in body


def test_feed_files_are_written_whole_in_json_feed_and_atom(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    st, db = open_db(tmp_path / "store.duckdb")
    jf = FeedChannel(name="feed", path=tmp_path / "web" / "alerts.json", max_items=4)
    atom = FeedChannel(name="atom", path=tmp_path / "web" / "alerts.xml", format="atom")
    alerts = make_alerts(6)
    db.add_alerts(alerts, route(alerts, [jf, atom]), now=T0)
    rep = deliver_pending(db, [jf, atom], now=T0)
    assert rep.sent == 12
    doc = json.loads(jf.path.read_text())
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    items = doc["items"]
    assert len(items) == 4  # the latest four, newest first
    assert items[0]["id"] == alerts[-1].alert_id
    assert items[0]["_ceasewatch"]["level"] == "breach"
    root = ET.parse(atom.path).getroot()
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = root.findall("a:entry", ns)
    assert len(entries) == 6
    assert entries[0].find("a:id", ns).text == f"urn:ceasewatch:alert:{alerts[-1].alert_id}"  # type: ignore[union-attr]
    # no temporary file left behind; nothing due any more
    assert sorted(p.name for p in (tmp_path / "web").iterdir()) == ["alerts.json", "alerts.xml"]
    assert deliver_pending(db, [jf, atom], now=T0 + timedelta(hours=1)).sent == 0
    # a feed whose folder cannot be written keeps its alerts queued
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    bad = FeedChannel(name="bad", path=blocked / "alerts.json")
    db.add_alerts(make_alerts(1, start=50), {make_alerts(1, start=50)[0].alert_id: ["bad"]}, now=T0)
    rep = deliver_pending(db, [bad], now=T0)
    assert rep.sent == 0 and rep.failed == 1
    assert db.outbox(channel="bad").iloc[0]["status"] == "failed"
    st.close()


def test_channel_configuration_reads_secrets_from_the_environment(tmp_path: Path) -> None:
    raw = [
        {
            "name": "cell",
            "type": "webhook",
            "url": "https://cell.example/hook",
            "secret_env": "CW_HOOK",
            "min_level": "warning",
        },
        {
            "name": "duty",
            "type": "email",
            "host": "smtp.example",
            "port": 587,
            "starttls": True,
            "from": "cw@example",
            "to": ["duty@example"],
            "username": "cw",
            "password_env": "CW_SMTP",
            "kinds": ["expanded_attack", "clock_warning", "clock_missed"],
        },
        {"name": "dash", "type": "feed", "path": "feed.json"},
    ]
    chans = channels_from_config(raw, env={"CW_HOOK": "s3cret", "CW_SMTP": "pw"}, base_dir=tmp_path)
    hook, mail, feed = chans
    assert isinstance(hook, WebhookChannel) and hook.secret == b"s3cret"
    assert isinstance(mail, EmailChannel) and mail.password == "pw" and mail.starttls
    assert isinstance(feed, FeedChannel) and feed.path == tmp_path / "feed.json"
    a = make_alerts(1, level="warning")[0]
    assert hook.accepts(a) and not mail.accepts(a) and feed.accepts(a)
    with pytest.raises(ChannelConfigError) as e:
        channels_from_config(
            [
                {"type": "webhook", "url": "ftp://x", "name": "a"},
                {"type": "pager", "name": "b"},
                {"type": "webhook", "url": "https://x", "secret_env": "NOPE", "name": "c"},
                {"type": "feed", "name": "d", "format": "rss"},
                {"type": "email", "name": "e", "to": ["not-an-address"]},
            ],
            env={},
        )
    assert len(e.value.problems) == 5
    assert "NOPE is not set" in str(e.value)
