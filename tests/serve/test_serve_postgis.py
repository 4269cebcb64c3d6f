"""The web service on the PostGIS team store (issue #8): the demo store copied into
PostGIS answers every read as the same data on DuckDB does (byte for byte), the writes
work and are audited in a chain that verifies, and the API writes while separate ingest
processes load files into the same database without losing or duplicating a record.

Skipped, with the reason, when ``CEASEWATCH_TEST_PG`` is unset or unreachable (start a
server with ``eval "$(scripts/pg-test-server start)"``).
"""

# ruff: noqa: F811  (pytest fixtures imported from serve_helpers are parameters here)

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from serve_helpers import (  # noqa: F401  (pytest fixtures)
    DemoStore,
    ServerThread,
    copy_demo_to,
    ctx_of,
    demo_store,
    headers_for,
    make_client,
    pg_helpers,
)
from test_snapshot import _pages, _random_filters, _sql_pages

from ceasewatch.demo_data import generate_demo_inputs
from ceasewatch.ingest.base import get_source
from ceasewatch.ingest.pipeline import ingest_file
from ceasewatch.serve import ServeSettings, create_app, queries
from ceasewatch.serve.context import ServeContext
from ceasewatch.serve.params import EventParams, IncidentParams, ViolationParams
from ceasewatch.serve.submit import event_id_of
from ceasewatch.store.audit import audit_entries, verify_chain
from ceasewatch.store.open import open_store
from ceasewatch.store.postgis import PgConnection

pytestmark = pytest.mark.skipif(
    not os.environ.get("CEASEWATCH_TEST_PG"),
    reason="CEASEWATCH_TEST_PG is not set: start a server with `scripts/pg-test-server start`",
)

# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_demo(demo_store: DemoStore) -> Iterator[str]:
    """The demo store copied into a PostGIS schema of its own (read by this module)."""
    with pg_helpers().pg_schema() as url:
        copy_demo_to(demo_store, url)
        yield url


@pytest.fixture(scope="module")
def pair(
    demo_store: DemoStore, pg_demo: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps on the same data: (DuckDB, PostGIS); reads only."""
    folder = tmp_path_factory.mktemp("serve-pg-pair")
    with (
        make_client(demo_store, folder) as duck,
        TestClient(create_app(ServeSettings(store=pg_demo)), raise_server_exceptions=False) as pg,
    ):
        yield duck, pg


@pytest.fixture
def fresh_pair(demo_store: DemoStore, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps on private copies of the demo data, (DuckDB, PostGIS), for writes."""
    with pg_helpers().pg_schema() as url:
        copy_demo_to(demo_store, url)
        with (
            make_client(demo_store, tmp_path, snapshot_poll_s=0.0) as duck,
            TestClient(
                create_app(ServeSettings(store=url, snapshot_poll_s=0.0)),
                raise_server_exceptions=False,
            ) as pg,
        ):
            yield duck, pg


def _url(client: TestClient) -> str:
    return ctx_of(client).store.location


# --- reads: the same bytes as on DuckDB ---------------------------------------------------

LISTS = [
    "/api/events?limit=400",
    "/api/events?format=csv&limit=700",
    "/api/events?source=field_report,acled&category=shelling&limit=100",
    "/api/events?bbox=37.0,47.8,38.0,48.6&since=2025-09-10T00:00:00Z&until=2025-09-20T00:00:00Z",
    "/api/events?sector=Zaporizhzhia&zone=disengagement,outside&limit=150&format=csv",
    "/api/incidents?limit=300",
    "/api/incidents?format=csv&limit=500",
    "/api/incidents?source=firms&category=fire_detection,shelling&limit=200",
    "/api/incidents?zone=mlrs,heavy_mlrs&since=2025-09-05T00:00:00%2B03:00&limit=50",
    "/api/violations?limit=120",
    "/api/violations?format=csv&limit=150",
    "/api/violations?include_inactive=true&limit=200",
    "/api/violations?status=detected&severity=breach&limit=60",
    "/api/violations?bbox=34.5,46.4,38.6,50.3&source=acled&sector=Zaporizhzhia&limit=25",
]

SINGLE = [
    "/api/violations/daily-counts",
    "/api/violations/daily-counts?zone=disengagement&since=2025-09-10T00:00:00Z",
    "/api/coverage",
    "/api/coverage?source=field_report&since=2025-09-15T00:00:00Z",
    "/api/coverage/received",
    "/api/coverage/received?source=firms,acled&sector=Zaporizhzhia",
    "/api/config",
    "/api/agreements",
    "/api/agreements/latest",
    "/api/agreements/1/geometry",
    "/api/incidents/decisions",
    "/api/me",
    "/api/users",
    "/api/audit?limit=1000",
    "/api/audit/verify",
    "/api/guarantees?as_of=2025-09-20",
    "/api/guarantees/tables/commitments",
    "/api/guarantees/tables/air_alerts?format=csv",
    "/api/reports/daily?date=2025-09-15&format=md",
]


def _walk(client: TestClient, demo: DemoStore, url: str) -> list[httpx.Response]:
    """Every page of a list, following the cursor."""
    pages = []
    cursor = None
    while True:
        sep = "&" if "?" in url else "?"
        r = client.get(
            url + (f"{sep}cursor={cursor}" if cursor else ""), headers=headers_for(demo, "admin")
        )
        assert r.status_code == 200, r.text[:500]
        pages.append(r)
        cursor = r.headers.get("x-next-cursor")
        if not cursor:
            return pages


@pytest.mark.parametrize("url", LISTS)
def test_list_pages_are_the_bytes_of_duckdb(
    pair: tuple[TestClient, TestClient], demo_store: DemoStore, url: str
) -> None:
    duck, pg = pair
    a, b = _walk(duck, demo_store, url), _walk(pg, demo_store, url)
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        assert ra.headers["content-type"] == rb.headers["content-type"]
        assert ra.headers.get("x-next-cursor") == rb.headers.get("x-next-cursor")
        assert ra.content == rb.content
    body = a[0].content
    assert len(body) > 200 and (b'"features":[{' in body or body.count(b"\n") > 1), url


@pytest.mark.parametrize("url", SINGLE)
def test_other_reads_are_the_bytes_of_duckdb(
    pair: tuple[TestClient, TestClient], demo_store: DemoStore, url: str
) -> None:
    duck, pg = pair
    h = headers_for(demo_store, "admin")
    ra, rb = duck.get(url, headers=h), pg.get(url, headers=h)
    assert ra.status_code == rb.status_code == 200, rb.text[:500]
    assert ra.headers["content-type"] == rb.headers["content-type"]
    assert ra.content == rb.content


def test_detail_reads_are_the_bytes_of_duckdb(
    pair: tuple[TestClient, TestClient], demo_store: DemoStore
) -> None:
    duck, pg = pair
    con = ctx_of(pg).reader()
    urls = [
        f"/api/incidents/{r[0]}"
        for r in con.execute(
            "SELECT incident_id FROM incidents ORDER BY n_events DESC, incident_id LIMIT 5"
        ).fetchall()
    ]
    urls += [
        f"/api/violations/{r[0]}"
        for r in con.execute("SELECT violation_id FROM violations ORDER BY 1 LIMIT 5").fetchall()
    ]
    urls += [
        f"/api/events/{r[0]}"
        for r in con.execute("SELECT event_id FROM events ORDER BY 1 DESC LIMIT 5").fetchall()
    ]
    urls += ["/api/incidents/Inope", "/api/violations/Vnope", "/api/events/nope"]
    h = headers_for(demo_store, "observer")
    for url in urls:
        ra, rb = duck.get(url, headers=h), pg.get(url, headers=h)
        assert ra.status_code == rb.status_code, url
        assert ra.content == rb.content, url


def _without(features: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    for f in features:
        for k in keys:
            f["properties"].pop(k, None)
    return features


def test_as_of_equals_duckdb(pair: tuple[TestClient, TestClient], demo_store: DemoStore) -> None:
    duck, pg = pair
    rows = (
        ctx_of(pg).reader().execute("SELECT finished_at FROM batches ORDER BY batch_id").fetchall()
    )
    assert len(rows) >= 3
    # after the first two ingest batches, before the third
    as_of = rows[1][0].isoformat().replace("+00:00", "Z")
    h = headers_for(demo_store, "observer")
    for kind in ("events", "incidents", "violations"):
        url = f"/api/{kind}?as_of={as_of}&limit=1000"
        a, b = duck.get(url, headers=h).json(), pg.get(url, headers=h).json()
        assert a["features"] and a["next_cursor"] == b["next_cursor"]
        # updated_at/detected_at of an as-of evaluation are when it ran
        assert _without(a["features"], "updated_at", "detected_at") == _without(
            b["features"], "updated_at", "detected_at"
        )


def test_sql_queries_equal_duckdb_and_the_snapshot(pair: tuple[TestClient, TestClient]) -> None:
    """The SQL of serve/queries.py, row for row, on both engines; and PostGIS's snapshot
    answers as its SQL does."""
    duck, pg = pair
    dcon, pcon = ctx_of(duck).reader(), ctx_of(pg).reader()
    assert isinstance(pcon, PgConnection) and queries.dialect_of(pcon) == "postgres"
    assert queries.dialect_of(dcon) == "duckdb"
    snap = ctx_of(pg).snapshot()
    rng = random.Random(11)
    compared = 0
    for _ in range(40):
        kw = _random_filters(rng)
        viol: dict[str, Any] = {}
        if rng.random() < 0.3:
            viol["include_inactive"] = True
        if rng.random() < 0.3:
            viol["status"] = rng.choice(["detected", "confirmed,under_review"])
        cases = [
            (snap.events, EventParams(**kw), queries.query_events, {}),
            (snap.incidents, IncidentParams(**kw), queries.query_incidents, {}),
            (
                snap.violations,
                ViolationParams(**kw, **viol),
                queries.query_violations,
                {"active_only": not viol.get("include_inactive", False)},
            ),
        ]
        for table, params, fn, extra in cases:
            on_pg = _sql_pages(fn, pcon, params)
            assert on_pg == _sql_pages(fn, dcon, params), params
            assert _pages(table, params, **extra) == on_pg, params
            compared += 1
    assert compared == 120
    counts = ViolationParams(include_inactive=True)
    assert queries.daily_counts(pcon, counts) == queries.daily_counts(dcon, counts)
    assert queries.has_table(pcon, "events") and not queries.has_table(pcon, "nope")


# --- writes ---------------------------------------------------------------------------------


def _obs(report: str, n: str = "1", **over: Any) -> dict[str, Any]:
    obs = {
        "report_id": report,
        "observation_id": n,
        "observer_id": "T07",
        "observer_lon": 37.31,
        "observer_lat": 47.93,
        "window_start": "2025-09-12T08:30:00Z",
        "kind": "explosion",
        "count": 3,
        "bearing_deg": 120,
        "distance_min_km": 2,
        "distance_max_km": 4,
    }
    return {**obs, **over}


def _post(client: TestClient, demo: DemoStore, url: str, body: Any, who: str) -> httpx.Response:
    return client.post(url, json=body, headers=headers_for(demo, who))


def _same_writes(client: TestClient, demo: DemoStore) -> dict[str, Any]:
    """One sequence of writes through the API; what it answered."""
    con = ctx_of(client).reader()
    vids = [
        str(r[0])
        for r in con.execute(
            "SELECT violation_id FROM violations WHERE active ORDER BY 1 LIMIT 2"
        ).fetchall()
    ]
    out: dict[str, Any] = {"status": []}
    for vid, final in zip(vids, ("confirmed", "dismissed"), strict=True):
        for status in ("under_review", final):
            r = _post(
                client,
                demo,
                f"/api/violations/{vid}/status",
                {"status": status, "comment": f"checked: {status}"},
                "analyst",
            )
            assert r.status_code == 200, r.text
            out["status"].append({k: v for k, v in r.json().items() if k != "audit_seq"})
    refused = _post(
        client,
        demo,
        f"/api/violations/{vids[0]}/status",
        {"status": "detected", "comment": "x"},
        "analyst",
    )
    assert refused.status_code == 409
    row = con.execute(
        "SELECT incident_id FROM incident_members GROUP BY incident_id HAVING count(*) >= 3 "
        "ORDER BY 1 LIMIT 1"
    ).fetchone()
    assert row is not None
    iid = str(row[0])
    members = queries.incident_member_ids(con, iid)
    r = _post(
        client,
        demo,
        f"/api/incidents/{iid}/split",
        {"event_ids": members[:1], "comment": "different crater"},
        "analyst",
    )
    assert r.status_code == 201, r.text
    out["split"] = {k: r.json()[k] for k in ("kind", "event_ids", "incident_ids", "comment")}
    two = [
        str(x[0])
        for x in con.execute(
            "SELECT incident_id FROM incidents WHERE incident_id <> ? ORDER BY 1 LIMIT 2", [iid]
        ).fetchall()
    ]
    r = _post(
        client,
        demo,
        "/api/incidents/merge",
        {"incident_ids": two, "comment": "one strike"},
        "analyst",
    )
    assert r.status_code == 201, r.text
    out["merge"] = {k: r.json()[k] for k in ("kind", "event_ids", "incident_ids", "comment")}
    r = _post(
        client,
        demo,
        "/api/field-reports",
        {"observations": [_obs("PG-1"), _obs("PG-1", "2", kind="flash", count=1)]},
        "monitor",
    )
    assert r.status_code == 201, r.text
    out["report"] = r.json()
    r = _post(
        client, demo, "/api/field-reports", {"observations": [_obs("PG-1", count=5)]}, "monitor"
    )
    assert r.status_code == 201, r.text
    out["correction"] = r.json()
    again = _post(
        client, demo, "/api/field-reports", {"observations": [_obs("PG-1", count=5)]}, "monitor"
    )
    assert again.status_code in (200, 201) and again.json()["duplicate"] is True
    bad = _post(
        client,
        demo,
        "/api/field-reports",
        {"observations": [_obs("PG-2", kind="laser")]},
        "monitor",
    )
    assert bad.status_code == 422
    return out


def test_writes_on_postgis_answer_as_on_duckdb_and_verify(
    fresh_pair: tuple[TestClient, TestClient], demo_store: DemoStore
) -> None:
    duck, pg = fresh_pair
    done_duck, done_pg = _same_writes(duck, demo_store), _same_writes(pg, demo_store)
    assert done_pg == done_duck
    assert done_pg["report"]["loaded"] == 2 and done_pg["correction"]["new_version"] == 1
    h = headers_for(demo_store, "observer")
    # the reads after the writes: the same bytes (status is a read of its own table)
    for url in (
        "/api/violations?status=under_review,confirmed,dismissed&include_inactive=true",
        "/api/violations/daily-counts?status=confirmed,dismissed",
        "/api/incidents?limit=1000",
    ):
        assert duck.get(url, headers=h).content == pg.get(url, headers=h).content, url
    vid = done_pg["status"][1]["violation_id"]
    a, b = (c.get(f"/api/violations/{vid}", headers=h).json() for c in (duck, pg))
    for doc in (a, b):
        assert [x.pop("changed_at") for x in doc["history"]]
    assert a == b and b["status"] == "confirmed" and len(b["history"]) == 2
    # the posted events, as listed (recorded_at and batch ids are the writes' own)
    url = "/api/events?source=field_report&limit=1000"
    fa, fb = (
        _without(c.get(url, headers=h).json()["features"], "recorded_at", "batch_id")
        for c in (duck, pg)
    )
    assert fa == fb
    mine = [f for f in fb if f["properties"]["source_event_id"].startswith("PG-1/")]
    assert sorted(
        (f["properties"]["source_event_id"], f["properties"]["version"]) for f in mine
    ) == [
        ("PG-1/1", 2),
        ("PG-1/2", 1),
    ]
    # the same audit trail, and a chain that verifies (API, library and CLI)
    ea, eb = (audit_entries(ctx_of(c).store_reader(), limit=10_000) for c in (duck, pg))
    assert [(e.seq, e.actor, e.action, e.entity) for e in ea] == [
        (e.seq, e.actor, e.action, e.entity) for e in eb
    ]
    assert {"violation.status", "incident.split", "incident.merge", "field_report.submit"} <= {
        e.action for e in eb
    }
    check = pg.get("/api/audit/verify", headers=headers_for(demo_store, "admin")).json()
    assert check["ok"] is True and check["head"]["seq"] == eb[-1].seq
    proc = pg_helpers().cli("verify", "--store", _url(pg))
    assert "audit chain intact" in proc.stdout


def test_user_and_token_flow_on_postgis(
    fresh_pair: tuple[TestClient, TestClient], demo_store: DemoStore
) -> None:
    _duck, pg = fresh_pair
    admin = headers_for(demo_store, "admin")
    r = pg.post("/api/users", json={"name": "olena", "role": "monitor"}, headers=admin)
    assert r.status_code == 201, r.text
    uid = r.json()["user_id"]
    assert (
        pg.post("/api/users", json={"name": "olena", "role": "observer"}, headers=admin).status_code
        == 409
    )
    t = pg.post(f"/api/users/{uid}/tokens", headers=admin).json()
    mine = {"Authorization": f"Bearer {t['token']}"}
    assert pg.get("/api/me", headers=mine).json()["role"] == "monitor"
    assert (
        pg.patch(f"/api/users/{uid}", json={"role": "analyst"}, headers=admin).json()["role"]
        == "analyst"
    )
    assert pg.get("/api/me", headers=mine).json()["role"] == "analyst"
    assert pg.delete(f"/api/tokens/{t['token_id']}", headers=admin).status_code == 200
    assert pg.get("/api/me", headers=mine).status_code == 401
    # a token revoked by another process (the CLI on the same database) is refused too,
    # once the service has read the audit log (at the next read; poll interval 0 here)
    t2 = pg.post(f"/api/users/{uid}/tokens", headers=admin).json()
    other = {"Authorization": f"Bearer {t2['token']}"}
    assert pg.get("/api/me", headers=other).status_code == 200  # now cached
    pg_helpers().cli("user", "revoke", t2["token_id"], "--store", _url(pg))
    pg.get("/api/events?limit=1", headers=admin)
    assert pg.get("/api/me", headers=other).status_code == 401
    actions = [e.action for e in audit_entries(ctx_of(pg).store_reader(), limit=10_000)[-6:]]
    assert actions == [
        "user.add",
        "token.issue",
        "user.update",
        "token.revoke",
        "token.issue",
        "token.revoke",
    ]
    assert verify_chain(ctx_of(pg).store_reader()).ok


def test_each_worker_thread_reads_on_its_own_connection(
    pair: tuple[TestClient, TestClient],
) -> None:
    ctx = ctx_of(pair[1])
    seen: dict[str, Any] = {}

    def grab(name: str) -> None:
        con = ctx.reader()
        assert con.execute("SELECT 1").fetchone() == (1,)
        seen[name] = con

    a = threading.Thread(target=grab, args=("a",))
    b = threading.Thread(target=grab, args=("b",))
    a.start()
    b.start()
    a.join()
    b.join()
    assert seen["a"] is not seen["b"]
    assert seen["a"] is not ctx.store.con and seen["b"] is not ctx.store.con
    before = ctx.reader_count
    c = threading.Thread(target=grab, args=("c",))
    c.start()
    c.join()
    # a connection left by an ended thread is taken over, not a new one opened
    assert seen["c"] in (seen["a"], seen["b"])
    assert ctx.reader_count <= before


# --- concurrency: API writes while ingest processes write ------------------------------------


def _ceasewatch() -> list[str]:
    exe = Path(sys.executable).with_name("ceasewatch")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "ceasewatch.cli"]


def _event_keys(con: Any, sources: tuple[str, ...]) -> set[tuple[str, int, str]]:
    rows = con.execute(
        "SELECT event_id, version, content_sha FROM events WHERE source IN (SELECT unnest(?))",
        [list(sources)],
    ).fetchall()
    return {(str(r[0]), int(r[1]), str(r[2])) for r in rows}


def test_api_reports_while_two_ingest_processes_load_lose_and_duplicate_nothing(
    demo_store: DemoStore, tmp_path: Path
) -> None:
    pg_helpers().pg_url_or_skip()
    files = generate_demo_inputs(tmp_path / "more", seed=11)
    loads = (("firms", files.firms_csv), ("acled", files.acled_csv))
    # what the two files make of the demo store, loaded one after the other into DuckDB
    ref = open_store(demo_store.copy_to(tmp_path / "ref"))
    try:
        for source, path in loads:
            ingest_file(ref, get_source(source), path)
        expected = _event_keys(ref.con, ("firms", "acled"))
    finally:
        ref.close()
    with pg_helpers().pg_schema() as url:
        copy_demo_to(demo_store, url)
        app = create_app(ServeSettings(store=url, snapshot_poll_s=0.0))
        h = headers_for(demo_store, "monitor")
        posted: list[tuple[str, list[str], int]] = []
        during = 0
        lock = threading.Lock()
        ctx: ServeContext = app.state.ctx
        start_seq = len(audit_entries(ctx.store_reader(), limit=100_000))
        with ServerThread(app) as srv:
            procs = [
                subprocess.Popen(
                    [*_ceasewatch(), "ingest", source, str(path), "--store", url],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for source, path in loads
            ]

            def running() -> bool:
                return any(p.poll() is None for p in procs)

            def worker(t: int) -> None:
                nonlocal during
                with httpx.Client(base_url=srv.url, headers=h, timeout=120) as http:
                    i = 0
                    # keep writing while the ingests run (and at least 5 reports each)
                    while (running() or i < 5) and i < 2_000:
                        report = f"CC-{t}-{i}"
                        body = {"observations": [_obs(report), _obs(report, "2", count=7)]}
                        r = http.post("/api/field-reports", json=body)
                        assert r.status_code == 201, r.text
                        out = r.json()
                        with lock:
                            posted.append((report, out["event_ids"], int(out["batch_id"])))
                            during += running()
                        i += 1

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(worker, range(4)))
            results = [p.communicate(timeout=600) for p in procs]
            for p, (stdout, stderr) in zip(procs, results, strict=True):
                assert p.returncode == 0, stderr[-2000:]
                assert "loaded" in stdout
            assert during > 0, "no report was written while an ingest ran"

            con = ctx.reader()
            # the ingests: exactly what loading the files one after the other gives
            assert _event_keys(con, ("firms", "acled")) == expected
            # the reports: every observation once, version 1, in its own batch
            ids = {e for _r, eids, _b in posted for e in eids}
            assert len(ids) == 2 * len(posted)
            assert ids == {
                event_id_of("field_report", f"{r}/{n}") for r, _e, _b in posted for n in ("1", "2")
            }
            rows = con.execute(
                "SELECT event_id, count(*), max(version) FROM events "
                "WHERE source = 'field_report' AND source_event_id LIKE 'CC-%' GROUP BY event_id"
            ).fetchall()
            assert {str(r[0]) for r in rows} == ids
            assert all(int(r[1]) == 1 and int(r[2]) == 1 for r in rows)
            batches = [b for _r, _e, b in posted]
            assert len(set(batches)) == len(batches)
            dup = con.execute(
                "SELECT count(*) FROM (SELECT event_id, version FROM events "
                "GROUP BY event_id, version HAVING count(*) > 1) d"
            ).fetchone()
            assert dup == (0,)
            # one audit entry per batch, the chain intact
            new = audit_entries(ctx.store_reader(), after_seq=start_seq, limit=100_000)
            assert len(new) == len(posted) + 2
            submits = [e for e in new if e.action == "field_report.submit"]
            assert sorted(int(e.entity_id) for e in submits) == sorted(batches)
            ingests = [json.loads(e.payload)["source"] for e in new if e.action == "ingest.batch"]
            assert sorted(ingests) == ["acled", "firms"]
            assert verify_chain(ctx.store_reader()).ok
            # and the API lists them all (the ingests picked up from the audit log)
            listed = [
                f["id"]
                for page in _walk_http(srv.url, h, "/api/events?source=field_report&limit=1000")
                for f in page["features"]
            ]
            current = con.execute(
                "SELECT count(DISTINCT event_id) FROM events WHERE source = 'field_report'"
            ).fetchone()
            assert len(listed) == len(set(listed)) == (current[0] if current else -1)
            assert ids <= set(listed)
            firms = sum(
                len(page["features"])
                for page in _walk_http(srv.url, h, "/api/events?source=firms,acled&limit=1000")
            )
            assert firms == len({k[0] for k in expected})


def _walk_http(base: str, headers: dict[str, str], url: str) -> Iterator[dict[str, Any]]:
    cursor = None
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        while True:
            r = http.get(url + (f"&cursor={cursor}" if cursor else ""))
            assert r.status_code == 200, r.text[:300]
            page: dict[str, Any] = r.json()
            yield page
            cursor = page["next_cursor"]
            if not cursor:
                return


def test_serve_settings_take_a_postgres_url(pg_demo: str) -> None:
    """``create_app`` opens the team store from its URL; a wrong URL is a clear error."""
    from ceasewatch.errors import StoreError

    with TestClient(create_app(ServeSettings(store=pg_demo))) as c:
        assert c.get("/api/health").json()["status"] == "ok"
        assert ctx_of(c).is_team_store
    bad = pg_demo.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(StoreError, match="cannot connect"):
        create_app(ServeSettings(store=bad))
