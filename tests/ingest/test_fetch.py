"""Fetching from ACLED and FIRMS, against local servers that answer in the real formats.

Each test starts an HTTP server on 127.0.0.1 (port 0) in a thread. It answers like the
real APIs: ACLED JSON pages ``{"status":200,"success":true,"count":N,"data":[...]}`` built
from rows in ACLED's export layout (12 real rows of the ACLED sample when ../shared is
present, else synthesized rows with the same columns), the ACLED OAuth token endpoint, and
the FIRMS area API with CSV in the current VIIRS layout (``bright_ti4``/``bright_ti5``;
real detections when ../shared is present). The server records and counts every request.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import SHARED_RAW
from typer.testing import CliRunner

from ceasewatch.fetch_cli import app
from ceasewatch.ingest._http import FetchError, HttpSession, Redactor, _retry_after_s, cache_key
from ceasewatch.ingest.base import get_source
from ceasewatch.ingest.fetch import (
    ACLED_COLUMNS,
    FetchParameterError,
    FetchSettings,
    fetch_acled,
    fetch_firms,
    firms_chunks,
)
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.store.duckdb import DuckDBStore

# secrets: distinctive values that must never appear in logs, errors or cache files
KEY = "acledKEY-5f3c9a7e11"
EMAIL = "analyst.secret@example.org"
USER = "monitor.user@example.org"
PASSWORD = "pw-S3cr3t-9931"
TOKEN = "issued-tok-9f8e7d6c5b4a"
REFRESH = "refresh-tok-0a1b2c3d4e"
GIVEN_TOKEN = "given-tok-1234abcd"
MAP_KEY = "0123456789abcdef0123456789abcdef"
SECRETS = [KEY, EMAIL, USER, PASSWORD, TOKEN, REFRESH, GIVEN_TOKEN, MAP_KEY]
ENCODED = [s.replace("@", "%40") for s in SECRETS if "@" in s]

ACLED_PATH = "/api/acled/read"
TOKEN_PATH = "/oauth/token"
FIRMS_HEADER = [
    "latitude", "longitude", "bright_ti4", "scan", "track", "acq_date", "acq_time",
    "satellite", "instrument", "confidence", "version", "bright_ti5", "frp", "daynight",
]  # fmt: skip
FIRMS_START = date(2023, 2, 24)
FIRMS_DAYS = 15


# --- recorded responses ------------------------------------------------------------------
def _acled_rows() -> list[dict[str, str]]:
    """12 ACLED records as the API returns them (ISO dates, no exporter-added columns)."""
    path = SHARED_RAW / "events_acled" / "ACLED-Ukraine.csv"
    if path.exists():
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [
                r
                for r in csv.DictReader(fh)
                if r["event_type"] in ("Battles", "Explosions/Remote violence")
                and r["year"] >= "2023"
            ][:12]
        out = []
        for r in rows:
            api = {k: v for k, v in r.items() if k not in ("id", "actor_dyad")}
            api["event_date"] = (
                datetime.strptime(r["event_date"], "%d/%m/%Y %H:%M:%S").date().isoformat()
            )
            out.append(api)
        return out
    out = []
    for i in range(12):
        row = dict.fromkeys(ACLED_COLUMNS, "")
        row.update(
            event_id_cnty=f"UKR{150000 + i}",
            event_date=(date(2024, 3, 1) + timedelta(days=i)).isoformat(),
            year="2024",
            time_precision="1",
            disorder_type="Political violence",
            event_type="Explosions/Remote violence",
            sub_event_type="Shelling/artillery/missile attack",
            actor1="Military Forces of Russia (2000-)",
            inter1="8",
            interaction="18",
            iso="804",
            region="Europe",
            country="Ukraine",
            admin1="Donetsk",
            location="Avdiivka",
            latitude=f"{48.1 + i / 100:.4f}",
            longitude=f"{37.7 + i / 100:.4f}",
            geo_precision="1",
            source="Ukrainian Armed Forces",
            source_scale="National",
            notes=f"On {date(2024, 3, 1) + timedelta(days=i)}, Russian forces shelled Avdiivka.",
            fatalities="0",
            timestamp="1710200000",
        )
        out.append(row)
    return out


def _firms_rows() -> list[dict[str, str]]:
    """Two detections a day for 15 days from 2023-02-24, in the current VIIRS layout."""
    path = SHARED_RAW / "firms" / "fire_nrt_SV-C2_400448.csv"
    wanted = {(FIRMS_START + timedelta(days=i)).isoformat() for i in range(FIRMS_DAYS)}
    out: list[dict[str, str]] = []
    if path.exists():
        per_day: dict[str, int] = {}
        with open(path, newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                d = r["acq_date"]
                if d in wanted and per_day.get(d, 0) < 2:
                    per_day[d] = per_day.get(d, 0) + 1
                    r["bright_ti4"] = r.pop("brightness")
                    r["bright_ti5"] = r.pop("bright_t31")
                    out.append({k: r[k] for k in FIRMS_HEADER})
                if len(per_day) == FIRMS_DAYS and all(v == 2 for v in per_day.values()):
                    break
        return out
    for i in range(FIRMS_DAYS):
        for j in range(2):
            day = (FIRMS_START + timedelta(days=i)).isoformat()
            values = [f"{47.6 + j / 100:.5f}", f"{35.7 + i / 100:.5f}", "344.94", "0.52", "0.5"]
            values += [day, "1106", "N", "VIIRS", "n", "2.0NRT", "269.52", "7.75", "D"]
            out.append(dict(zip(FIRMS_HEADER, values, strict=True)))
    return out


ACLED_ROWS = _acled_rows()
FIRMS_ROWS = _firms_rows()
ACLED_SINCE = min(date.fromisoformat(r["event_date"]) for r in ACLED_ROWS)
ACLED_UNTIL = max(date.fromisoformat(r["event_date"]) for r in ACLED_ROWS)


def firms_rows_between(first: date, days: int) -> list[dict[str, str]]:
    """The recorded detections of ``days`` days from ``first`` (real data has empty days)."""
    last = first + timedelta(days=days - 1)
    return [r for r in FIRMS_ROWS if first.isoformat() <= r["acq_date"] <= last.isoformat()]


# --- the local server --------------------------------------------------------------------
@dataclass
class Req:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    at: float


@dataclass
class Reply:
    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: close the connection without answering
    drop: bool = False

    def payload(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return bytes(self.body), "application/octet-stream"


Responder = Callable[[Req], Reply]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8") if n else ""
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        req = Req(
            self.command,
            parts.path,
            query,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            time.monotonic(),
        )
        with self.server.lock:
            self.server.log.append(req)
        reply = self.server.respond(req)
        if reply.drop:
            self.close_connection = True
            return
        data, ctype = reply.payload()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.headers.get("Content-Type", ctype))
        self.send_header("Content-Length", str(len(data)))
        for k, v in reply.headers.items():
            if k != "Content-Type":
                self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, respond: Responder) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.respond = respond
        self.lock = threading.Lock()
        self.log: list[Req] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def requests(self, method: str | None = None, path: str | None = None) -> list[Req]:
        with self.lock:
            return [
                r
                for r in self.log
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]


@pytest.fixture
def serve() -> Iterator[Callable[[Responder], _Server]]:
    started: list[tuple[_Server, threading.Thread]] = []

    def start(respond: Responder) -> _Server:
        srv = _Server(respond)
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        t.start()
        started.append((srv, t))
        return srv

    yield start
    for srv, t in started:
        srv.shutdown()
        srv.server_close()
        t.join(timeout=5)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # credentials of the developer's shell must not leak into the tests
    import os

    for name in list(os.environ):
        if name.startswith("CEASEWATCH_"):
            monkeypatch.delenv(name)


def acled_api(rows: list[dict[str, str]] = ACLED_ROWS) -> Responder:
    """ACLED's read endpoint (legacy key + e-mail, or Bearer) and its OAuth token endpoint."""

    def respond(req: Req) -> Reply:
        if req.path == TOKEN_PATH and req.method == "POST":
            form = {k: v[0] for k, v in parse_qs(req.body).items()}
            if (
                form.get("username") == USER
                and form.get("password") == PASSWORD
                and form.get("grant_type") == "password"
                and form.get("client_id") == "acled"
            ):
                return Reply(
                    body={
                        "token_type": "Bearer",
                        "expires_in": 86400,
                        "access_token": TOKEN,
                        "refresh_token": REFRESH,
                    }
                )
            return Reply(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "The user credentials were incorrect.",
                },
            )
        if req.path != ACLED_PATH:
            return Reply(404, "Not Found")
        q = req.query
        bearer = req.headers.get("authorization", "")
        if not (
            (q.get("key") == KEY and q.get("email") == EMAIL)
            or bearer in (f"Bearer {TOKEN}", f"Bearer {GIVEN_TOKEN}")
        ):
            return Reply(401, {"status": 401, "success": False, "error": "Unauthorized"})
        selected = rows
        if "event_date" in q:
            lo, hi = q["event_date"].split("|")
            selected = [r for r in selected if lo <= r["event_date"] <= hi]
        if "country" in q:
            selected = [r for r in selected if r["country"] == q["country"]]
        for col in ("latitude", "longitude"):
            if col in q:
                lo_f, hi_f = (float(x) for x in q[col].split("|"))
                selected = [r for r in selected if lo_f <= float(r[col]) <= hi_f]
        limit, page = int(q.get("limit", "5000")), int(q.get("page", "1"))
        data = selected[(page - 1) * limit : page * limit]
        return Reply(body={"status": 200, "success": True, "count": len(data), "data": data})

    return respond


def firms_api(*, invalid_key_status: int = 400) -> Responder:
    """FIRMS area API: ``/api/area/csv/{MAP_KEY}/{source}/{area}/{days}[/{date}]``."""

    def respond(req: Req) -> Reply:
        parts = req.path.strip("/").split("/")
        if parts[:3] != ["api", "area", "csv"] or len(parts) not in (7, 8):
            return Reply(404, "Not Found")
        key, _source, _area, days_txt = parts[3:7]
        if key != MAP_KEY:
            return Reply(invalid_key_status, "Invalid MAP_KEY.")
        days = int(days_txt)
        if not 1 <= days <= 10:
            return Reply(400, "Invalid day range. Expects [1..10].")
        if len(parts) == 8:
            first = date.fromisoformat(parts[7])
        else:
            first = FIRMS_START + timedelta(days=FIRMS_DAYS - days)
        last = first + timedelta(days=days - 1)
        rows = [r for r in FIRMS_ROWS if first.isoformat() <= r["acq_date"] <= last.isoformat()]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=FIRMS_HEADER, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return Reply(body=buf.getvalue(), headers={"Content-Type": "text/csv"})

    return respond


def scripted(first: list[Reply], then: Responder) -> Responder:
    """Answer the first requests with ``first`` (in order), the others with ``then``."""
    queue = list(first)
    lock = threading.Lock()

    def respond(req: Req) -> Reply:
        with lock:
            if queue:
                return queue.pop(0)
        return then(req)

    return respond


def settings_for(srv: _Server, tmp_path: Path, **kw: Any) -> FetchSettings:
    values: dict[str, Any] = dict(
        acled_base_url=srv.base + ACLED_PATH,
        acled_token_url=srv.base + TOKEN_PATH,
        firms_base_url=srv.base,
        http_cache_dir=tmp_path / "cache",
        http_retries=3,
        http_backoff_s=0.001,
        http_timeout_s=5,
    )
    values.update(kw)
    return FetchSettings(**values)


def legacy(srv: _Server, tmp_path: Path, **kw: Any) -> FetchSettings:
    return settings_for(srv, tmp_path, acled_key=KEY, acled_email=EMAIL, **kw)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def cache_text(tmp_path: Path) -> str:
    folder = tmp_path / "cache"
    if not folder.exists():
        return ""
    return "\n".join(
        p.read_bytes().decode("utf-8", errors="replace") + f"\n{p}"
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    )


def assert_no_secret(text: str, where: str) -> None:
    leaked = [s for s in SECRETS + ENCODED if s in text]
    assert not leaked, f"secret(s) {leaked} found in {where}"


# --- ACLED -------------------------------------------------------------------------------
@pytest.mark.parametrize(("page_size", "expected_pages"), [(5, 3), (6, 3), (12, 2), (13, 1)])
def test_acled_pages_until_a_short_page(
    serve: Any, tmp_path: Path, page_size: int, expected_pages: int
) -> None:
    srv = serve(acled_api())
    out = tmp_path / "acled.csv"
    r = fetch_acled(
        legacy(srv, tmp_path),
        country="Ukraine",
        since=ACLED_SINCE,
        until=ACLED_UNTIL,
        out_path=out,
        page_size=page_size,
    )
    reqs = srv.requests("GET", ACLED_PATH)
    assert [q.query["page"] for q in reqs] == [str(i) for i in range(1, expected_pages + 1)]
    assert all(q.query["limit"] == str(page_size) for q in reqs)
    assert (r.pages, r.rows, r.from_network, r.from_cache) == (
        expected_pages,
        12,
        expected_pages,
        0,
    )
    header, rows = read_csv(out)
    # the columns the API returns, in its order, header once
    assert header == list(ACLED_ROWS[0])
    assert rows == ACLED_ROWS
    assert out.read_text().count("event_id_cnty") == 1
    assert r.auth == "key"


def test_acled_query_sends_dates_country_and_bbox(serve: Any, tmp_path: Path) -> None:
    srv = serve(acled_api())
    fetch_acled(
        legacy(srv, tmp_path),
        country="Ukraine",
        since=date(2023, 1, 1),
        until="2024-12-31",
        out_path=tmp_path / "a.csv",
    )
    q = srv.requests("GET")[0].query
    assert q["event_date"] == "2023-01-01|2024-12-31"
    assert q["event_date_where"] == "BETWEEN"
    assert q["country"] == "Ukraine"
    assert "latitude" not in q and "longitude" not in q
    assert q["key"] == KEY and q["email"] == EMAIL
    assert "authorization" not in srv.requests("GET")[0].headers

    r = fetch_acled(
        legacy(srv, tmp_path),
        bbox="37.5,48.0,38.0,48.7",
        since=ACLED_SINCE,
        until=ACLED_UNTIL,
        out_path=tmp_path / "b.csv",
    )
    q = srv.requests("GET")[-1].query
    assert (q["latitude"], q["latitude_where"]) == ("48|48.7", "BETWEEN")
    assert (q["longitude"], q["longitude_where"]) == ("37.5|38", "BETWEEN")
    assert "country" not in q
    expected = [
        r
        for r in ACLED_ROWS
        if 48.0 <= float(r["latitude"]) <= 48.7 and 37.5 <= float(r["longitude"]) <= 38.0
    ]
    assert 0 < r.rows == len(expected) < 12


def test_acled_oauth_password_flow(serve: Any, tmp_path: Path) -> None:
    srv = serve(acled_api())
    s = settings_for(srv, tmp_path, acled_username=USER, acled_password=PASSWORD)
    r = fetch_acled(
        s,
        country="Ukraine",
        since=ACLED_SINCE,
        until=ACLED_UNTIL,
        out_path=tmp_path / "a.csv",
        page_size=5,
    )
    posts = srv.requests("POST", TOKEN_PATH)
    assert len(posts) == 1
    form = {k: v[0] for k, v in parse_qs(posts[0].body).items()}
    assert form == {
        "username": USER,
        "password": PASSWORD,
        "grant_type": "password",
        "client_id": "acled",
    }
    gets = srv.requests("GET", ACLED_PATH)
    assert len(gets) == 3
    assert all(g.headers["authorization"] == f"Bearer {TOKEN}" for g in gets)
    assert all("key" not in g.query and "email" not in g.query for g in gets)
    assert (r.rows, r.auth) == (12, "oauth password")


def test_acled_oauth_given_token_skips_the_token_endpoint(serve: Any, tmp_path: Path) -> None:
    srv = serve(acled_api())
    s = settings_for(srv, tmp_path, acled_token=GIVEN_TOKEN)
    r = fetch_acled(
        s, country="Ukraine", since=ACLED_SINCE, until=ACLED_UNTIL, out_path=tmp_path / "a.csv"
    )
    assert srv.requests("POST") == []
    assert srv.requests("GET")[0].headers["authorization"] == f"Bearer {GIVEN_TOKEN}"
    assert (r.rows, r.auth) == (12, "oauth token")


def test_acled_oauth_rejected_password_is_explained_and_not_echoed(
    serve: Any, tmp_path: Path
) -> None:
    srv = serve(acled_api())
    s = settings_for(srv, tmp_path, acled_username=USER, acled_password="wrong-password-77")
    with pytest.raises(FetchError, match="did not accept the account") as exc:
        fetch_acled(
            s, country="Ukraine", since=ACLED_SINCE, until=ACLED_UNTIL, out_path=tmp_path / "a.csv"
        )
    assert exc.value.status == 400
    assert "wrong-password-77" not in str(exc.value) and USER not in str(exc.value)
    assert "credentials were incorrect" in str(exc.value)
    assert srv.requests("GET") == []
    assert not (tmp_path / "a.csv").exists()


def test_acled_auth_choice_and_missing_credentials(serve: Any, tmp_path: Path) -> None:
    srv = serve(acled_api())
    both = settings_for(
        srv,
        tmp_path,
        acled_key=KEY,
        acled_email=EMAIL,
        acled_username=USER,
        acled_password=PASSWORD,
    )
    # auto prefers OAuth; key forces the legacy parameters
    fetch_acled(
        both, since=ACLED_SINCE, until=ACLED_UNTIL, out_path=tmp_path / "a.csv", use_cache=False
    )
    assert srv.requests("GET")[-1].headers["authorization"] == f"Bearer {TOKEN}"
    fetch_acled(
        both,
        since=ACLED_SINCE,
        until=ACLED_UNTIL,
        out_path=tmp_path / "a.csv",
        auth="key",
        use_cache=False,
    )
    assert srv.requests("GET")[-1].query["key"] == KEY
    n = len(srv.requests())
    with pytest.raises(FetchParameterError, match="CEASEWATCH_ACLED_USERNAME"):
        fetch_acled(
            settings_for(srv, tmp_path),
            since=ACLED_SINCE,
            until=ACLED_UNTIL,
            out_path=tmp_path / "b.csv",
        )
    with pytest.raises(
        FetchParameterError, match="CEASEWATCH_ACLED_KEY and CEASEWATCH_ACLED_EMAIL"
    ):
        fetch_acled(
            settings_for(srv, tmp_path, acled_key=KEY),
            since=ACLED_SINCE,
            until=ACLED_UNTIL,
            out_path=tmp_path / "b.csv",
            auth="key",
        )
    assert len(srv.requests()) == n


def test_acled_bad_arguments_are_all_reported_before_any_request(
    serve: Any, tmp_path: Path
) -> None:
    srv = serve(acled_api())
    with pytest.raises(FetchParameterError) as exc:
        fetch_acled(
            legacy(srv, tmp_path),
            bbox="41,44,22",
            since="2024-05-01",
            until="2024-04-01",
            page_size=0,
            out_path=tmp_path / "a.csv",
        )
    text = str(exc.value)
    assert "since 2024-05-01 is after until 2024-04-01" in text
    assert "page_size 0" in text
    assert "bbox '41,44,22' has 3 value(s)" in text
    assert len(exc.value.problems) == 3
    assert srv.requests() == []


def test_acled_success_false_raises_its_message_and_is_not_cached(
    serve: Any, tmp_path: Path
) -> None:
    refusal = {
        "status": 403,
        "success": False,
        "error": [{"status": 403, "message": "Access denied: unauthorised access type"}],
    }
    srv = serve(lambda req: Reply(200, refusal))
    s = legacy(srv, tmp_path)
    for _ in range(2):
        with pytest.raises(FetchError, match="unauthorised access type") as exc:
            fetch_acled(
                s,
                country="Ukraine",
                since=ACLED_SINCE,
                until=ACLED_UNTIL,
                out_path=tmp_path / "a.csv",
            )
        assert exc.value.status == 403
        assert "access level" in str(exc.value)
    # an error reply is never cached: the second call asked the server again
    assert len(srv.requests()) == 2
    assert cache_text(tmp_path) == ""


def test_acled_empty_result_writes_the_export_header(serve: Any, tmp_path: Path) -> None:
    srv = serve(acled_api())
    out = tmp_path / "none.csv"
    r = fetch_acled(
        legacy(srv, tmp_path),
        country="Atlantis",
        since=ACLED_SINCE,
        until=ACLED_UNTIL,
        out_path=out,
    )
    assert (r.rows, r.pages) == (0, 1)
    header, rows = read_csv(out)
    assert header == list(ACLED_COLUMNS) and rows == []
    store = DuckDBStore(":memory:")
    try:
        b = ingest_file(store, get_source("acled"), out)
    finally:
        store.close()
    assert (b.rows_read, b.loaded) == (0, 0)


def test_fetched_acled_csv_ingests_with_every_row(serve: Any, tmp_path: Path) -> None:
    srv = serve(acled_api())
    out = tmp_path / "acled.csv"
    r = fetch_acled(
        legacy(srv, tmp_path),
        country="Ukraine",
        since=ACLED_SINCE,
        until=ACLED_UNTIL,
        out_path=out,
        page_size=5,
    )
    store = DuckDBStore(":memory:")
    try:
        b = ingest_file(store, get_source("acled"), out)
        events = store.events()
        n_stored = store.count_events()
    finally:
        store.close()
    assert b.rows_read == r.rows == 12
    assert (b.loaded, b.quarantined, n_stored) == (12, 0, 12), b.reasons
    assert sorted(events["source_event_id"]) == sorted(row["event_id_cnty"] for row in ACLED_ROWS)


# --- retries -----------------------------------------------------------------------------
def test_retries_on_503_then_succeeds(serve: Any, tmp_path: Path) -> None:
    srv = serve(
        scripted([Reply(503, "Service Unavailable"), Reply(502, "Bad Gateway")], acled_api())
    )
    r = fetch_acled(
        legacy(srv, tmp_path),
        country="Ukraine",
        since=ACLED_SINCE,
        until=ACLED_UNTIL,
        out_path=tmp_path / "a.csv",
        page_size=5,
    )
    # page 1 took three attempts, pages 2 and 3 one each
    assert [q.query["page"] for q in srv.requests()] == ["1", "1", "1", "2", "3"]
    assert (r.rows, r.pages, r.network_attempts) == (12, 3, 5)


def test_server_errors_on_every_attempt_fail_after_the_retries(serve: Any, tmp_path: Path) -> None:
    srv = serve(lambda req: Reply(503, "Service Unavailable"))
    with pytest.raises(FetchError, match=r"HTTP 503 \(server error\) on all 3 attempt") as exc:
        fetch_acled(
            legacy(srv, tmp_path, http_retries=2),
            country="Ukraine",
            since=ACLED_SINCE,
            until=ACLED_UNTIL,
            out_path=tmp_path / "a.csv",
        )
    assert exc.value.status == 503
    assert len(srv.requests()) == 3
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "a.csv.part").exists()


def test_429_waits_as_long_as_retry_after_says(serve: Any, tmp_path: Path) -> None:
    srv = serve(scripted([Reply(429, "Too Many Requests", {"Retry-After": "1"})], acled_api()))
    r = fetch_acled(
        legacy(srv, tmp_path),
        country="Ukraine",
        since=ACLED_SINCE,
        until=ACLED_UNTIL,
        out_path=tmp_path / "a.csv",
    )
    first, second = srv.requests()[:2]
    # the backoff alone would be about a millisecond: the wait is the server's
    assert second.at - first.at >= 0.95
    assert r.rows == 12


def test_retry_after_is_used_instead_of_the_backoff(serve: Any, tmp_path: Path) -> None:
    srv = serve(
        scripted(
            [Reply(429, "slow down", {"Retry-After": "7"}), Reply(503, "busy")],
            firms_api(),
        )
    )
    waits: list[float] = []
    s = settings_for(srv, tmp_path, firms_map_key=MAP_KEY, http_backoff_s=0.5)
    with HttpSession(cache_dir=None, retries=3, backoff_s=0.5, sleep=waits.append) as http:
        fetch_firms(s, days=1, date=FIRMS_START, out_path=tmp_path / "f.csv", session=http)
    assert waits[0] == 7.0
    # second retry: backoff 0.5 s * 2 plus up to 50 % jitter
    assert 1.0 <= waits[1] <= 1.5
    # a wait longer than we accept fails at once, saying how long
    srv2 = serve(lambda req: Reply(429, "slow", {"Retry-After": "3600"}))
    with pytest.raises(FetchError, match="asks to wait 3600 s"):
        fetch_firms(
            settings_for(srv2, tmp_path, firms_map_key=MAP_KEY), out_path=tmp_path / "g.csv"
        )
    assert len(srv2.requests()) == 1


def test_403_is_not_retried_and_says_what_to_check(serve: Any, tmp_path: Path) -> None:
    srv = serve(lambda req: Reply(403, {"status": 403, "success": False, "error": "Forbidden"}))
    with pytest.raises(FetchError, match="HTTP 403") as exc:
        fetch_acled(
            legacy(srv, tmp_path),
            country="Ukraine",
            since=ACLED_SINCE,
            until=ACLED_UNTIL,
            out_path=tmp_path / "a.csv",
        )
    assert len(srv.requests()) == 1
    assert exc.value.status == 403
    assert "lacks access" in str(exc.value) and "access tier" in str(exc.value)
    assert "key=***" in str(exc.value) and "email=***" in str(exc.value)


def test_dropped_connection_is_retried(serve: Any, tmp_path: Path) -> None:
    srv = serve(scripted([Reply(drop=True)], firms_api()))
    r = fetch_firms(
        settings_for(srv, tmp_path, firms_map_key=MAP_KEY),
        days=2,
        date=date(2023, 3, 1),
        out_path=tmp_path / "f.csv",
    )
    assert len(srv.requests()) == 2 and r.rows == 4


def test_unreachable_server_fails_after_the_retries(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = FetchSettings(
        firms_base_url=f"http://127.0.0.1:{port}",
        firms_map_key=MAP_KEY,
        http_cache_dir=tmp_path / "cache",
        http_retries=2,
        http_backoff_s=0.001,
        http_timeout_s=2,
    )
    with pytest.raises(FetchError, match="failed after 3 attempt") as exc:
        fetch_firms(s, out_path=tmp_path / "f.csv")
    assert MAP_KEY not in str(exc.value) and "/api/area/csv/***/" in str(exc.value)
    assert exc.value.__cause__ is None


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    http = HttpSession(cache_dir=None, backoff_s=0.1)
    try:
        for attempt in range(5):
            base = 0.1 * 2**attempt
            for _ in range(20):
                assert base <= http.backoff(attempt) <= base * 1.5
        assert http.backoff(30) <= 60.0
    finally:
        http.close()


def test_retry_after_as_seconds_or_http_date() -> None:
    assert _retry_after_s("3") == 3.0
    assert _retry_after_s(None) is None and _retry_after_s("soon") is None
    assert _retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    later = (datetime.now().astimezone() + timedelta(seconds=30)).strftime(
        "%a, %d %b %Y %H:%M:%S %z"
    )
    assert 25 <= (_retry_after_s(later) or 0) <= 31


# --- FIRMS -------------------------------------------------------------------------------
def test_firms_url_layout_and_csv(serve: Any, tmp_path: Path) -> None:
    srv = serve(firms_api())
    out = tmp_path / "f.csv"
    r = fetch_firms(
        settings_for(srv, tmp_path, firms_map_key=MAP_KEY),
        source="viirs_noaa20_nrt",
        area="22,44,41,53",
        days=3,
        date="2023-03-01",
        out_path=out,
    )
    (req,) = srv.requests()
    assert req.path == f"/api/area/csv/{MAP_KEY}/VIIRS_NOAA20_NRT/22,44,41,53/3/2023-03-01"
    header, rows = read_csv(out)
    assert header == FIRMS_HEADER
    assert {x["acq_date"] for x in rows} == {"2023-03-01", "2023-03-02", "2023-03-03"}
    assert rows == firms_rows_between(date(2023, 3, 1), 3)
    assert r.rows == len(rows) == 6
    assert r.requests[0].url.endswith("/api/area/csv/***/VIIRS_NOAA20_NRT/22,44,41,53/3/2023-03-01")


def test_firms_world_and_most_recent_days_have_no_date(serve: Any, tmp_path: Path) -> None:
    srv = serve(firms_api())
    fetch_firms(
        settings_for(srv, tmp_path, firms_map_key=MAP_KEY),
        area="world",
        days=2,
        out_path=tmp_path / "f.csv",
    )
    assert srv.requests()[0].path == f"/api/area/csv/{MAP_KEY}/VIIRS_SNPP_NRT/world/2"


def test_firms_long_range_is_split_and_concatenated(serve: Any, tmp_path: Path) -> None:
    srv = serve(firms_api())
    out = tmp_path / "f.csv"
    r = fetch_firms(
        settings_for(srv, tmp_path, firms_map_key=MAP_KEY),
        days=FIRMS_DAYS,
        date=FIRMS_START,
        out_path=out,
    )
    assert [q.path.split("/")[-2:] for q in srv.requests()] == [
        ["10", "2023-02-24"],
        ["5", "2023-03-06"],
    ]
    text = out.read_text()
    assert text.count("latitude,longitude") == 1
    _, rows = read_csv(out)
    assert rows == FIRMS_ROWS and r.rows == len(FIRMS_ROWS) and r.pages == 2
    # the file is what `ceasewatch ingest firms` reads
    store = DuckDBStore(":memory:")
    try:
        b = ingest_file(store, get_source("firms"), out)
    finally:
        store.close()
    assert (b.rows_read, b.loaded, b.quarantined) == (r.rows, r.rows, 0)


def test_firms_chunks() -> None:
    assert firms_chunks(10, None) == [(10, None)]
    assert firms_chunks(3, date(2024, 1, 1)) == [(3, date(2024, 1, 1))]
    assert firms_chunks(21, date(2024, 1, 1)) == [
        (10, date(2024, 1, 1)),
        (10, date(2024, 1, 11)),
        (1, date(2024, 1, 21)),
    ]
    # the most recent 12 days, in requests of at most 5: the last one ends today (UTC)
    today = datetime.now(UTC).date()
    assert firms_chunks(12, None, max_days=5) == [
        (5, today - timedelta(days=11)),
        (5, today - timedelta(days=6)),
        (2, today - timedelta(days=1)),
    ]


@pytest.mark.parametrize("status", [200, 400])
def test_firms_invalid_map_key_is_an_error_without_the_key(
    serve: Any, tmp_path: Path, status: int
) -> None:
    srv = serve(firms_api(invalid_key_status=status))
    wrong = "ffffffffffffffffffffffffffffffff"
    s = settings_for(srv, tmp_path, firms_map_key=wrong)
    for _ in range(2):
        with pytest.raises(FetchError, match=r"Invalid MAP_KEY\.") as exc:
            fetch_firms(s, days=1, date=FIRMS_START, out_path=tmp_path / "f.csv")
        assert wrong not in str(exc.value)
        assert "CEASEWATCH_FIRMS_MAP_KEY" in str(exc.value)
    # not retried, and never cached (a corrected key must not meet a cached error)
    assert len(srv.requests()) == 2
    assert cache_text(tmp_path) == ""
    assert not (tmp_path / "f.csv").exists()


def test_firms_bad_arguments_are_all_reported(serve: Any, tmp_path: Path) -> None:
    srv = serve(firms_api())
    with pytest.raises(FetchParameterError) as exc:
        fetch_firms(
            settings_for(srv, tmp_path),
            source="VIIRS_NOAA99_NRT",
            area="41,44,22,53",
            days=0,
            out_path=tmp_path / "f.csv",
        )
    text = str(exc.value)
    assert "source 'VIIRS_NOAA99_NRT' is not one of VIIRS_SNPP_NRT" in text
    assert "days 0" in text
    assert "area west 41.0 must be less than east 22.0" in text
    assert "CEASEWATCH_FIRMS_MAP_KEY" in text
    assert len(exc.value.problems) == 4
    with pytest.raises(FetchParameterError, match="area 'x' has 1 value"):
        fetch_firms(
            settings_for(srv, tmp_path, firms_map_key=MAP_KEY),
            area="x",
            out_path=tmp_path / "f.csv",
        )
    with pytest.raises(FetchParameterError, match="in the future"):
        fetch_firms(
            settings_for(srv, tmp_path, firms_map_key=MAP_KEY),
            date=date.today() + timedelta(days=3),
            out_path=tmp_path / "f.csv",
        )
    assert srv.requests() == []


# --- cache -------------------------------------------------------------------------------
def test_cache_hit_never_touches_the_network(serve: Any, tmp_path: Path) -> None:
    srv = serve(acled_api())
    s = settings_for(srv, tmp_path, acled_username=USER, acled_password=PASSWORD)
    kw: dict[str, Any] = dict(country="Ukraine", since=ACLED_SINCE, until=ACLED_UNTIL, page_size=5)
    first = fetch_acled(s, out_path=tmp_path / "1.csv", **kw)
    n = len(srv.requests())
    assert n == 4  # token + 3 pages
    second = fetch_acled(s, out_path=tmp_path / "2.csv", **kw)
    assert len(srv.requests()) == n  # not even a token request
    assert (second.from_cache, second.from_network, second.network_attempts) == (3, 0, 0)
    assert (tmp_path / "1.csv").read_bytes() == (tmp_path / "2.csv").read_bytes()
    assert first.rows == second.rows == 12
    # legacy and OAuth requests for the same query share the entries (no secret in the key)
    third = fetch_acled(legacy(srv, tmp_path), out_path=tmp_path / "3.csv", **kw)
    assert len(srv.requests()) == n and third.from_cache == 3


def test_no_cache_neither_reads_nor_writes(serve: Any, tmp_path: Path) -> None:
    srv = serve(firms_api())
    s = settings_for(srv, tmp_path, firms_map_key=MAP_KEY)
    fetch_firms(s, days=2, date=FIRMS_START, out_path=tmp_path / "f.csv")
    assert len(srv.requests()) == 1
    entries = sorted((tmp_path / "cache").rglob("*"))
    r = fetch_firms(s, days=2, date=FIRMS_START, out_path=tmp_path / "f.csv", use_cache=False)
    assert len(srv.requests()) == 2 and r.from_network == 1
    assert sorted((tmp_path / "cache").rglob("*")) == entries
    other = tmp_path / "other"
    fetch_firms(
        settings_for(srv, tmp_path, firms_map_key=MAP_KEY, http_cache_dir=other),
        days=1,
        out_path=tmp_path / "g.csv",
        use_cache=False,
    )
    assert not other.exists()


def test_cache_entries_expire_after_the_max_age(serve: Any, tmp_path: Path) -> None:
    srv = serve(firms_api())
    s = settings_for(srv, tmp_path, firms_map_key=MAP_KEY, http_cache_max_age_s=600)
    fetch_firms(s, days=1, date=FIRMS_START, out_path=tmp_path / "f.csv")
    (meta_path,) = (tmp_path / "cache").rglob("*.json")
    meta = json.loads(meta_path.read_text())
    meta["fetched_at"] = (
        datetime.fromisoformat(meta["fetched_at"]) - timedelta(seconds=601)
    ).isoformat()
    meta_path.write_text(json.dumps(meta))
    r = fetch_firms(s, days=1, date=FIRMS_START, out_path=tmp_path / "f.csv")
    assert len(srv.requests()) == 2 and r.from_network == 1
    r = fetch_firms(s, days=1, date=FIRMS_START, out_path=tmp_path / "f.csv")
    assert len(srv.requests()) == 2 and r.from_cache == 1
    # max age 0: the cache is never read
    s0 = settings_for(srv, tmp_path, firms_map_key=MAP_KEY, http_cache_max_age_s=0)
    fetch_firms(s0, days=1, date=FIRMS_START, out_path=tmp_path / "f.csv")
    assert len(srv.requests()) == 3


def test_cache_files_hold_body_status_headers_and_time(serve: Any, tmp_path: Path) -> None:
    srv = serve(acled_api())
    fetch_acled(
        legacy(srv, tmp_path),
        country="Ukraine",
        since=ACLED_SINCE,
        until=ACLED_UNTIL,
        out_path=tmp_path / "a.csv",
    )
    (meta_path,) = (tmp_path / "cache").rglob("*.json")
    meta = json.loads(meta_path.read_text())
    body = meta_path.with_suffix(".body").read_bytes()
    assert json.loads(body)["data"] == ACLED_ROWS
    assert meta["status"] == 200
    assert meta["headers"]["content-type"] == "application/json"
    assert datetime.fromisoformat(meta["fetched_at"]).tzinfo is not None
    assert meta["body_bytes"] == len(body)
    assert "key=***" in meta["url"] and "email=***" in meta["url"]
    # the key is the SHA-256 of method, URL and parameters without the secrets
    params = {
        "event_date": f"{ACLED_SINCE}|{ACLED_UNTIL}",
        "event_date_where": "BETWEEN",
        "limit": "5000",
        "_format": "json",
        "country": "Ukraine",
        "page": "1",
    }
    expected = cache_key("GET", srv.base + ACLED_PATH, params)
    assert meta["key"] == expected == meta_path.stem
    assert (
        cache_key("GET", srv.base + ACLED_PATH, {**params, "key": KEY, "email": EMAIL}) == expected
    )


# --- secrets -----------------------------------------------------------------------------
def test_secrets_never_reach_logs_errors_or_cache_files(
    serve: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    acled = serve(scripted([Reply(503, f"upstream said key={KEY}")], acled_api()))
    firms = serve(scripted([Reply(500, "oops")], firms_api()))
    kw: dict[str, Any] = dict(country="Ukraine", since=ACLED_SINCE, until=ACLED_UNTIL, page_size=5)
    s_key = legacy(acled, tmp_path)
    s_oauth = settings_for(acled, tmp_path, acled_username=USER, acled_password=PASSWORD)
    s_token = settings_for(acled, tmp_path, acled_token=GIVEN_TOKEN)
    fetch_acled(s_key, out_path=tmp_path / "a.csv", **kw)
    fetch_acled(s_oauth, out_path=tmp_path / "b.csv", use_cache=False, **kw)
    fetch_acled(s_token, out_path=tmp_path / "c.csv", use_cache=False, **kw)
    s_firms = settings_for(firms, tmp_path, firms_map_key=MAP_KEY)
    fetch_firms(s_firms, days=FIRMS_DAYS, date=FIRMS_START, out_path=tmp_path / "f.csv")
    # failures: refused (403), rejected password, a bad key, an echoing server
    denied = serve(
        lambda req: Reply(403, f"denied for {req.query.get('email')} key {req.query.get('key')}")
    )
    echo = serve(lambda req: Reply(200, f"Invalid MAP_KEY. ({req.path})"))
    for call in (
        lambda: fetch_acled(legacy(denied, tmp_path), out_path=tmp_path / "x.csv", **kw),
        lambda: fetch_acled(
            settings_for(acled, tmp_path, acled_username=USER, acled_password=PASSWORD + "x"),
            out_path=tmp_path / "x.csv",
            use_cache=False,
            **kw,
        ),
        lambda: fetch_firms(
            settings_for(echo, tmp_path, firms_map_key=MAP_KEY), out_path=tmp_path / "x.csv"
        ),
    ):
        with pytest.raises(FetchError) as exc:
            call()
        errors += [str(exc.value), repr(exc.value), str(exc.value.url)]
    # the secrets were really sent
    assert acled.requests("GET")[1].query["key"] == KEY
    assert any(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in acled.requests())
    assert firms.requests()[0].path.split("/")[4] == MAP_KEY
    # httpx's own request log went through the filter, and ours is there too
    assert "HTTP Request:" in caplog.text and "/api/area/csv/***/" in caplog.text
    assert "retry 1/3" in caplog.text
    assert_no_secret(caplog.text, "logs")
    assert_no_secret("\n".join(errors), "error messages")
    assert "denied for *** key ***" in "\n".join(errors)
    text = cache_text(tmp_path)
    assert text.count(".json") >= 5
    assert_no_secret(text, "cache files")
    assert_no_secret("\n".join(str(p) for p in tmp_path.rglob("*")), "file names")


def test_redactor() -> None:
    red = Redactor([KEY, EMAIL, "", None, "abc"])
    text = f"GET /x?key={KEY}&email=analyst.secret%40example.org&token=zz&monkey=1 Bearer abc.def"
    assert red(text) == "GET /x?key=***&email=***&token=***&monkey=1 Bearer ***"
    assert red(f"value {EMAIL} inside") == "value *** inside"
    assert red("MAP_KEY=1234&page=2") == "MAP_KEY=***&page=2"
    assert Redactor()("no secrets here") == "no secrets here"


# --- CLI ---------------------------------------------------------------------------------
def test_cli_fetch_acled_and_ingest(serve: Any, tmp_path: Path) -> None:
    srv = serve(acled_api())
    env = {
        "CEASEWATCH_ACLED_BASE_URL": srv.base + ACLED_PATH,
        "CEASEWATCH_ACLED_TOKEN_URL": srv.base + TOKEN_PATH,
        "CEASEWATCH_ACLED_KEY": KEY,
        "CEASEWATCH_ACLED_EMAIL": EMAIL,
        "CEASEWATCH_HTTP_CACHE_DIR": str(tmp_path / "cache"),
        "CEASEWATCH_HTTP_BACKOFF_S": "0.001",
    }
    out, store = tmp_path / "acled.csv", tmp_path / "store.duckdb"
    args = [
        "acled",
        "--since",
        ACLED_SINCE.isoformat(),
        "--until",
        ACLED_UNTIL.isoformat(),
        "--country",
        "Ukraine",
        "--page-size",
        "5",
        "-o",
        str(out),
        "--ingest",
        "--store",
        str(store),
    ]
    runner = CliRunner()
    res = runner.invoke(app, args, env=env)
    assert res.exit_code == 0, res.output
    assert (
        "acled: 12 row(s) in 3 request(s) (3 from the network, 0 from the cache; auth: key"
        in res.output
    )
    assert "key=***" in res.output and "email=***" in res.output
    assert "12 rows read, 12 loaded" in res.output
    assert_no_secret(res.output, "CLI output")
    res = runner.invoke(app, args, env=env)
    assert res.exit_code == 0, res.output
    assert "(0 from the network, 3 from the cache" in res.output
    assert "already ingested" in res.output
    assert len(srv.requests()) == 3
    res = runner.invoke(app, [*args, "--no-cache"], env=env)
    assert "(3 from the network, 0 from the cache" in res.output
    assert len(srv.requests()) == 6


def test_cli_fetch_firms_and_errors(serve: Any, tmp_path: Path) -> None:
    srv = serve(firms_api())
    env = {
        "CEASEWATCH_FIRMS_BASE_URL": srv.base,
        "CEASEWATCH_FIRMS_MAP_KEY": MAP_KEY,
        "CEASEWATCH_HTTP_CACHE_DIR": str(tmp_path / "cache"),
    }
    out, store = tmp_path / "firms.csv", tmp_path / "store.duckdb"
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "firms",
            "--days",
            "12",
            "--date",
            FIRMS_START.isoformat(),
            "-o",
            str(out),
            "--ingest",
            "--store",
            str(store),
        ],
        env=env,
    )
    assert res.exit_code == 0, res.output
    n = len(firms_rows_between(FIRMS_START, 12))
    assert f"firms: {n} row(s) in 2 request(s) (2 from the network" in res.output
    assert "/api/area/csv/***/VIIRS_SNPP_NRT/22,44,41,53/10/2023-02-24" in res.output
    assert "/api/area/csv/***/VIIRS_SNPP_NRT/22,44,41,53/2/2023-03-06" in res.output
    assert f"{n} rows read, {n} loaded" in res.output
    assert_no_secret(res.output, "CLI output")
    # an invalid key: exit 1, a clear message, no key
    res = runner.invoke(
        app,
        ["firms", "-o", str(tmp_path / "g.csv")],
        env={**env, "CEASEWATCH_FIRMS_MAP_KEY": "deadbeefdeadbeefdeadbeefdeadbeef"},
    )
    assert res.exit_code == 1
    assert "Invalid MAP_KEY." in res.output and "deadbeef" not in res.output
    # bad arguments, no key: every problem at once
    res = runner.invoke(
        app,
        ["firms", "--source", "GOES", "--days", "0"],
        env={**env, "CEASEWATCH_FIRMS_MAP_KEY": ""},
    )
    assert res.exit_code == 1
    assert "source 'GOES'" in res.output and "days 0" in res.output
    assert "CEASEWATCH_FIRMS_MAP_KEY" in res.output
