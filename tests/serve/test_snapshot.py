"""The in-memory read snapshot: same answers as the SQL queries it replaces, brought up to
date by every write (read-your-writes), and ``as_of`` on the list routes."""

# ruff: noqa: F811  (pytest fixtures imported from serve_helpers are parameters here)

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from serve_helpers import (  # noqa: F401  (pytest fixtures)
    DemoStore,
    client,
    ctx_of,
    demo_store,
    headers_for,
    shared_client,
)

from ceasewatch.serve import queries
from ceasewatch.serve.params import EventParams, IncidentParams, ListParams, ViolationParams
from ceasewatch.serve.snapshot import Segment, Table
from ceasewatch.store.audit import append_audit

CATEGORIES = ["shelling", "fire_detection", "explosion_observed", "shelling,drone_strike"]
SOURCES = ["acled", "firms", "field_report", "firms,acled"]


def _random_filters(rng: random.Random) -> dict[str, Any]:
    kw: dict[str, Any] = {"limit": rng.choice([3, 40, 250])}
    if rng.random() < 0.6:
        s = rng.uniform(0.2, 4.0)
        x, y = rng.uniform(34.5, 38.6 - s), rng.uniform(46.4, 50.3 - s)
        kw["bbox"] = f"{x:.4f},{y:.4f},{x + s:.4f},{y + s:.4f}"
    if rng.random() < 0.4:
        kw["since"] = f"2025-09-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"
    if rng.random() < 0.3:
        kw["until"] = f"2025-09-{rng.randint(10, 30):02d}T00:00:00+03:00"
    if rng.random() < 0.2:
        kw["zone"] = rng.choice(["disengagement", "mlrs,heavy_mlrs", "outside", "nowhere"])
    if rng.random() < 0.2:
        kw["category"] = rng.choice(CATEGORIES)
    if rng.random() < 0.2:
        kw["source"] = rng.choice(SOURCES)
    if rng.random() < 0.15:
        kw["sector"] = "Zaporizhzhia"
    return kw


def _pages(table: Table, params: ListParams, **kw: Any) -> list[list[tuple[Any, ...]]]:
    out = []
    cursor = None
    for _ in range(4):
        pos, cursor = table.select(params.model_copy(update={"cursor": cursor}), **kw)
        out.append([table.row(int(i)) for i in pos])
        if not cursor:
            break
    return out


def _sql_pages(fn: Any, con: Any, params: ListParams) -> list[list[tuple[Any, ...]]]:
    out = []
    cursor = None
    for _ in range(4):
        page = fn(con, params.model_copy(update={"cursor": cursor}))
        out.append([tuple(r) for r in page.rows])
        cursor = page.next_cursor
        if not cursor:
            break
    return out


def test_snapshot_pages_equal_the_sql_queries(shared_client: TestClient) -> None:
    ctx = ctx_of(shared_client)
    snap = ctx.snapshot()
    con = ctx.reader()
    rng = random.Random(7)
    compared = 0
    for _ in range(120):
        kw = _random_filters(rng)
        viol: dict[str, Any] = {}
        if rng.random() < 0.3:
            viol["include_inactive"] = True
        if rng.random() < 0.3:
            viol["status"] = rng.choice(["detected", "confirmed,under_review"])
        if rng.random() < 0.2:
            viol["severity"] = "breach"
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
            assert _pages(table, params, **extra) == _sql_pages(fn, con, params), params
            compared += 1
    assert compared == 360


def _layered(table: Table, rng: random.Random, share: float, delta_max_rows: int) -> Table:
    """``table`` with a random share of its rows written again, one small batch at a time
    (each row replaced by itself: the answers must not change)."""
    base = table.base
    picked = sorted(rng.sample(range(base.n), int(base.n * share)))
    out = Table(base, delta_max_rows=delta_max_rows)
    for start in range(0, len(picked), 7):
        chunk = picked[start : start + 7]
        cols = {c: base.cols[c][chunk] for c in base.spec.columns}
        out = out.upsert(Segment(base.spec, cols, base.key[chunk]))
    return out


@pytest.mark.parametrize("delta_max_rows", [100_000, 40])
def test_layered_snapshot_pages_equal_the_sql_queries(
    shared_client: TestClient, delta_max_rows: int
) -> None:
    """The delta path: rows rewritten since the base (dropped from it, held in the delta)
    and a delta compacted into a new base give the SQL's pages, 360 random filter and
    paging combinations."""
    ctx = ctx_of(shared_client)
    snap = ctx.snapshot()
    con = ctx.reader()
    rng = random.Random(11)
    events = _layered(snap.events, rng, 0.08, delta_max_rows)
    violations = _layered(snap.violations, rng, 0.3, delta_max_rows)
    if delta_max_rows > 1_000:
        assert events.layered and events.delta.n and events.dropped.size
        assert violations.layered and violations.delta.n
    else:  # compacted at least once, and a fresh delta since
        assert events.base is not snap.events.base and events.delta.n <= 40
    assert (events.n, violations.n) == (snap.events.n, snap.violations.n)
    assert (events.key[1:] >= events.key[:-1]).all()
    assert sorted(events.ids.tolist()) == sorted(snap.events.ids.tolist())
    compared = 0
    for _ in range(180):
        kw = _random_filters(rng)
        viol: dict[str, Any] = {}
        if rng.random() < 0.3:
            viol["include_inactive"] = True
        if rng.random() < 0.3:
            viol["status"] = rng.choice(["detected", "confirmed,under_review"])
        params = ViolationParams(**kw, **viol)
        extra = {"active_only": not viol.get("include_inactive", False)}
        assert _pages(violations, params, **extra) == _sql_pages(
            queries.query_violations, con, params
        ), params
        ev = EventParams(**kw)
        assert _pages(events, ev) == _sql_pages(queries.query_events, con, ev), ev
        compared += 2
    assert compared == 360


def test_snapshot_rows_cover_the_store(shared_client: TestClient) -> None:
    ctx = ctx_of(shared_client)
    snap = ctx.snapshot()
    con = ctx.reader()
    n_events = con.execute("SELECT count(DISTINCT event_id) FROM events").fetchone()
    n_inc = con.execute("SELECT count(*) FROM incidents").fetchone()
    n_viol = con.execute("SELECT count(*) FROM violations").fetchone()
    assert (snap.events.n, snap.incidents.n, snap.violations.n) == (
        n_events[0] if n_events else -1,
        n_inc[0] if n_inc else -1,
        n_viol[0] if n_viol else -1,
    )
    keys = snap.events.key
    assert (keys[1:] >= keys[:-1]).all()


def _observation(report: str, **over: Any) -> dict[str, Any]:
    obs = {
        "report_id": report,
        "observation_id": "1",
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


def test_a_posted_report_is_listed_at_once_by_a_delta(
    client: TestClient, demo_store: DemoStore
) -> None:
    ctx = ctx_of(client)
    builds = ctx.snapshots.full_builds
    url = "/api/events?bbox=37.0,47.5,38.0,48.5&source=field_report&limit=1000"
    obs_h = headers_for(demo_store, "observer")
    before = client.get(url, headers=obs_h).json()["features"]
    r = client.post(
        "/api/field-reports",
        json={"observations": [_observation("SNAP-1")]},
        headers=headers_for(demo_store, "monitor"),
    )
    assert r.status_code == 201, r.text
    new_id = r.json()["event_ids"][0]
    after = client.get(url, headers=obs_h).json()["features"]
    assert [f["id"] for f in after if f["id"] != new_id] == [f["id"] for f in before]
    mine = next(f for f in after if f["id"] == new_id)
    assert mine["properties"]["source_event_id"] == "SNAP-1/1"
    assert mine["properties"]["version"] == 1
    # a correction: the same event id, version 2, listed once
    r = client.post(
        "/api/field-reports",
        json={"observations": [_observation("SNAP-1", count=4)]},
        headers=headers_for(demo_store, "monitor"),
    )
    assert r.status_code == 201, r.text
    again = client.get(url, headers=obs_h).json()["features"]
    assert [f["id"] for f in again].count(new_id) == 1
    fixed = next(f for f in again if f["id"] == new_id)
    assert fixed["properties"]["version"] == 2 and fixed["properties"]["count"] == 4
    assert ctx.snapshots.full_builds == builds  # deltas, no rebuild
    # and the snapshot still equals the SQL after the deltas
    params = EventParams(source="field_report", limit=1000)
    assert _pages(ctx.snapshot().events, params) == _sql_pages(
        queries.query_events, ctx.reader(), params
    )


def test_several_batches_in_one_refresh_give_the_current_versions(
    client: TestClient,
) -> None:
    """Batches another connection wrote (a report, then its correction, then another
    report) are read by one refresh: each event once, at its latest version."""
    from ceasewatch.serve.submit import SOURCE, _Job, _store_round, event_id_of, validate_report

    ctx = ctx_of(client)
    builds = ctx.snapshots.full_builds
    reports = [
        [_observation("MULTI-1"), _observation("MULTI-1", observation_id="2")],
        [_observation("MULTI-1", count=9)],
        [_observation("MULTI-2", window_start="2025-09-12T08:30:00Z")],
    ]
    with ctx.locked() as store:  # around the service's write path: no refresh
        for records in reports:
            events = validate_report(records)
            ids = [event_id_of(SOURCE, s) for s in events["source_event_id"].tolist()]
            job = _Job(records, "test", events, ids, f"sha-{records!r}", 1)
            with store.transaction():
                _store_round(store, [job])
    ctx.snapshots.refresh(ctx.store.con)
    assert ctx.snapshots.full_builds == builds
    params = EventParams(source="field_report", limit=1000)
    pages = _pages(ctx.snapshot().events, params)
    assert pages == _sql_pages(queries.query_events, ctx.reader(), params)
    mine = [r for r in pages[0] if str(r[3]).startswith("MULTI-")]
    assert sorted((r[3], r[1], r[15]) for r in mine) == [
        ("MULTI-1/1", 2, 9),
        ("MULTI-1/2", 1, 3),
        ("MULTI-2/1", 1, 3),
    ]


def _review(client: TestClient, demo: DemoStore, vid: str, status: str) -> None:
    r = client.post(
        f"/api/violations/{vid}/status",
        json={"status": status, "comment": f"to {status}"},
        headers=headers_for(demo, "analyst"),
    )
    assert r.status_code == 200, r.text


def _violation(client: TestClient, demo: DemoStore, vid: str, query: str = "") -> dict[str, Any]:
    feats = client.get(
        f"/api/violations?limit=1000{query}", headers=headers_for(demo, "observer")
    ).json()["features"]
    found: dict[str, Any] = next(f["properties"] for f in feats if f["id"] == vid)
    return found


def test_status_change_is_listed_at_once(client: TestClient, demo_store: DemoStore) -> None:
    vid = client.get("/api/violations?limit=1", headers=headers_for(demo_store, "observer")).json()[
        "features"
    ][0]["id"]
    _review(client, demo_store, vid, "under_review")
    assert _violation(client, demo_store, vid)["status"] == "under_review"
    listed = client.get(
        "/api/violations?status=under_review&limit=1000",
        headers=headers_for(demo_store, "observer"),
    ).json()["features"]
    assert [f["id"] for f in listed] == [vid]


def test_writes_by_another_connection_are_seen_after_the_poll(
    demo_store: DemoStore, tmp_path: Any
) -> None:
    from serve_helpers import make_client

    with make_client(demo_store, tmp_path, snapshot_poll_s=0.0) as c:
        ctx = ctx_of(c)
        vid = str(ctx.snapshot().violations.ids[0])
        # written around the service's write path (as a second connection would)
        with ctx.locked() as store, store.transaction():
            store.set_violation_status(vid, "under_review", comment="x", actor="test")
            append_audit(
                store,
                actor="test",
                action="violation.status",
                entity="violation",
                entity_id=vid,
                payload={"to": "under_review"},
            )
        time.sleep(0.01)
        assert _violation(c, demo_store, vid)["status"] == "under_review"


# --- as_of ----------------------------------------------------------------------------


def _now_text() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def test_violation_confirmed_after_t_shows_its_earlier_status_as_of_t(
    client: TestClient, demo_store: DemoStore
) -> None:
    vid = client.get(
        "/api/violations?limit=1&zone=disengagement", headers=headers_for(demo_store, "observer")
    ).json()["features"][0]["id"]
    _review(client, demo_store, vid, "under_review")
    time.sleep(0.01)
    t = _now_text()
    time.sleep(0.01)
    _review(client, demo_store, vid, "confirmed")
    assert _violation(client, demo_store, vid)["status"] == "confirmed"
    then = _violation(client, demo_store, vid, f"&as_of={t}")
    assert then["status"] == "under_review"
    # the incident it belongs to was known then too
    inc = client.get(
        f"/api/incidents?as_of={t}&limit=1000", headers=headers_for(demo_store, "observer")
    ).json()["features"]
    assert then["incident_id"] in {f["id"] for f in inc}
    # filters apply to the status as of then
    under = client.get(
        f"/api/violations?as_of={t}&status=under_review&limit=1000",
        headers=headers_for(demo_store, "observer"),
    ).json()["features"]
    assert [f["id"] for f in under] == [vid]


def test_late_event_is_absent_as_of_before_its_recorded_at(
    client: TestClient, demo_store: DemoStore
) -> None:
    t = _now_text()
    time.sleep(0.01)
    r = client.post(
        "/api/field-reports",
        json={"observations": [_observation("LATE-ASOF", window_start="2025-09-02T06:00:00Z")]},
        headers=headers_for(demo_store, "monitor"),
    )
    assert r.status_code == 201, r.text
    eid = r.json()["event_ids"][0]
    h = headers_for(demo_store, "observer")
    now = client.get("/api/events?source=field_report&limit=1000", headers=h).json()
    assert eid in {f["id"] for f in now["features"]}
    recorded = next(f for f in now["features"] if f["id"] == eid)["properties"]["recorded_at"]
    assert recorded > t
    then = client.get(f"/api/events?source=field_report&limit=1000&as_of={t}", headers=h)
    assert then.status_code == 200, then.text
    assert eid not in {f["id"] for f in then.json()["features"]}
    later = client.get(f"/api/events?source=field_report&limit=1000&as_of={recorded}", headers=h)
    assert eid in {f["id"] for f in later.json()["features"]}


@pytest.mark.parametrize("route", ["events", "incidents", "violations"])
@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2025-03-01",
        "1700000000",
        "2025-03-01T12:00:00",  # no offset
        "2025-13-01T12:00:00Z",
        "2999-01-01T00:00:00Z",  # the future
    ],
)
def test_as_of_is_validated(
    shared_client: TestClient, demo_store: DemoStore, route: str, value: str
) -> None:
    r = shared_client.get(
        f"/api/{route}?as_of={value}", headers=headers_for(demo_store, "observer")
    )
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert set(err) == {"code", "message", "detail"} and "as_of" in err["message"]


def test_as_of_before_any_agreement_is_a_clear_422(
    shared_client: TestClient, demo_store: DemoStore
) -> None:
    r = shared_client.get(
        "/api/violations?as_of=2001-01-01T00:00:00Z", headers=headers_for(demo_store, "observer")
    )
    assert r.status_code == 422 and "no agreement" in r.json()["error"]["message"]


def test_as_of_with_offset_is_read_as_utc(shared_client: TestClient, demo_store: DemoStore) -> None:
    at = datetime.now(UTC) - timedelta(seconds=1)
    z = at.isoformat().replace("+00:00", "Z")
    kyiv = quote(at.astimezone(timezone(timedelta(hours=3))).isoformat())
    assert "%2B03%3A00" in kyiv
    h = headers_for(demo_store, "observer")
    a = shared_client.get(f"/api/incidents?limit=5&as_of={z}", headers=h)
    b = shared_client.get(f"/api/incidents?limit=5&as_of={kyiv}", headers=h)
    assert a.status_code == b.status_code == 200
    assert a.json() == b.json()
