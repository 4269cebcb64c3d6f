"""Writes: field reports, the status workflow, split/merge decisions, users and tokens,
agreement versions; each audited."""

# ruff: noqa: F811  (pytest fixtures imported from serve_helpers are parameters here)

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serve_helpers import (  # noqa: F401  (pytest fixtures)
    DemoStore,
    client,
    ctx_of,
    demo_store,
    headers_for,
)

from ceasewatch.serve.context import ServeContext
from ceasewatch.serve.review import TRANSITIONS, IncidentDecision, apply_incident_decisions
from ceasewatch.store.audit import audit_entries, verify_chain


def _audit(client: TestClient) -> list[Any]:
    return audit_entries(ctx_of(client).store_reader(), limit=1000)


def _obs(**over: Any) -> dict[str, Any]:
    base = {
        "report_id": "TEST-2025-10-02-T07",
        "observation_id": "1",
        "observer_id": "T07",
        "observer_lon": 37.7411,
        "observer_lat": 48.5983,
        "window_start": "2025-10-02T16:05:00Z",
        "window_end": "2025-10-02T16:40:00Z",
        "kind": "explosion",
        "count": 12,
        "bearing_deg": 95,
        "distance_min_km": 3,
        "distance_max_km": 5,
        "weapon_class": "artillery_100mm_plus",
        "assessment": "impact",
    }
    base.update(over)
    return base


def _post(client: TestClient, demo: DemoStore, url: str, body: Any, who: str) -> Any:
    return client.post(url, json=body, headers=headers_for(demo, who))


# --- field reports ------------------------------------------------------------------


def test_field_report_is_validated_stored_as_a_batch_and_audited(
    client: TestClient, demo_store: DemoStore
) -> None:
    body = {"observations": [_obs(), _obs(observation_id="2", kind="flare", count=2)]}
    r = _post(client, demo_store, "/api/field-reports", body, "monitor")
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["loaded"] == 2 and not out["duplicate"]
    con = ctx_of(client).reader()
    batch = con.execute(
        "SELECT source, file_name, status, rows_loaded FROM batches WHERE batch_id = ?",
        [out["batch_id"]],
    ).fetchone()
    assert batch == ("field_report", "api:user:monitor", "done", 2)
    for eid in out["event_ids"]:
        ev = client.get(f"/api/events/{eid}", headers=headers_for(demo_store, "observer")).json()
        assert ev["source"] == "field_report" and ev["batch_id"] == out["batch_id"]
    shelling = client.get(
        f"/api/events/{out['event_ids'][0]}", headers=headers_for(demo_store, "observer")
    )
    assert shelling.json()["category"] == "shelling"  # the importer's own mapping
    last = _audit(client)[-1]
    assert (last.action, last.entity, last.entity_id, last.actor) == (
        "field_report.submit",
        "batch",
        str(out["batch_id"]),
        "user:monitor",
    )
    # the same report again: recognised, nothing stored
    again = _post(client, demo_store, "/api/field-reports", body, "monitor")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["batch_id"] == out["batch_id"]


def test_bad_field_report_is_refused_with_every_reason(
    client: TestClient, demo_store: DemoStore
) -> None:
    n_before = ctx_of(client).reader().execute("SELECT count(*) FROM events").fetchone()
    body = {
        "observations": [
            _obs(),
            _obs(observation_id="2", observer_lat=91),
            _obs(observation_id="3", window_start="2025-10-02T16:05:00"),  # no offset
            _obs(observation_id="4", kind="laser"),
            _obs(observation_id="1"),  # duplicate id
        ]
    }
    r = _post(client, demo_store, "/api/field-reports", body, "monitor")
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid"
    reasons = {p["index"]: p["reason"] for p in err["detail"]}
    assert set(reasons) == {1, 2, 3, 4}
    assert "observer_lat" in reasons[1]
    assert "offset" in reasons[2]
    assert "kind 'laser'" in reasons[3]
    assert "duplicate" in reasons[4]
    assert ctx_of(client).reader().execute("SELECT count(*) FROM events").fetchone() == n_before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"observations": []},
        {"observations": "nope"},
        {"observations": [1, 2]},
        {"observations": [_obs()], "extra": 1},
    ],
)
def test_malformed_field_report_bodies(
    client: TestClient, demo_store: DemoStore, body: Any
) -> None:
    r = _post(client, demo_store, "/api/field-reports", body, "monitor")
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


def test_not_json_body(client: TestClient, demo_store: DemoStore) -> None:
    r = client.post(
        "/api/field-reports",
        content=b"{not json",
        headers={**headers_for(demo_store, "monitor"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


# --- status workflow ----------------------------------------------------------------

STATUSES = ("detected", "under_review", "confirmed", "dismissed")


def _violation_ids(client: TestClient, n: int) -> list[str]:
    rows = (
        ctx_of(client)
        .reader()
        .execute(
            "SELECT violation_id FROM violations WHERE active ORDER BY violation_id LIMIT ?", [n]
        )
        .fetchall()
    )
    return [r[0] for r in rows]


def _set(client: TestClient, demo: DemoStore, vid: str, status: str, comment: str = "ok") -> Any:
    return _post(
        client,
        demo,
        f"/api/violations/{vid}/status",
        {"status": status, "comment": comment},
        "analyst",
    )


def _path_to(status: str) -> list[str]:
    return {
        "detected": [],
        "under_review": ["under_review"],
        "confirmed": ["under_review", "confirmed"],
        "dismissed": ["under_review", "dismissed"],
    }[status]


def test_every_transition_allowed_or_refused(client: TestClient, demo_store: DemoStore) -> None:
    pairs = [(a, b) for a in STATUSES for b in STATUSES]
    vids = _violation_ids(client, len(pairs))
    for vid, (start, new) in zip(vids, pairs, strict=True):
        for step in _path_to(start):
            assert _set(client, demo_store, vid, step).status_code == 200
        r = _set(client, demo_store, vid, new)
        if new in TRANSITIONS[start]:
            assert r.status_code == 200, (start, new, r.text)
            assert r.json()["status"] == new
        else:
            assert r.status_code == 409, (start, new, r.text)
            err = r.json()["error"]
            assert err["code"] == "conflict" and err["detail"]["status"] == start
        doc = client.get(
            f"/api/violations/{vid}", headers=headers_for(demo_store, "observer")
        ).json()
        assert doc["status"] == (new if new in TRANSITIONS[start] else start)


def test_a_comment_is_required(client: TestClient, demo_store: DemoStore) -> None:
    vid = _violation_ids(client, 1)[0]
    for body in ({"status": "under_review"}, {"status": "under_review", "comment": ""}):
        r = _post(client, demo_store, f"/api/violations/{vid}/status", body, "analyst")
        assert r.status_code == 422
    r = _set(client, demo_store, vid, "under_review", comment="   ")
    assert r.status_code == 422 and "comment" in r.json()["error"]["message"]
    r = _post(
        client,
        demo_store,
        "/api/violations/Vnope/status",
        {"status": "under_review", "comment": "x"},
        "analyst",
    )
    assert r.status_code == 404


def test_status_history_and_audit(client: TestClient, demo_store: DemoStore) -> None:
    vid = _violation_ids(client, 1)[0]
    assert _set(client, demo_store, vid, "under_review", "looking").status_code == 200
    assert (
        _post(
            client,
            demo_store,
            f"/api/violations/{vid}/status",
            {"status": "confirmed", "comment": "two sources"},
            "admin",
        ).status_code
        == 200
    )
    doc = client.get(f"/api/violations/{vid}", headers=headers_for(demo_store, "observer")).json()
    assert [(h["status"], h["comment"], h["actor"]) for h in doc["history"]] == [
        ("under_review", "looking", "user:analyst"),
        ("confirmed", "two sources", "user:admin"),
    ]
    assert doc["next_statuses"] == ["under_review"]
    entries = [e for e in _audit(client) if e.action == "violation.status"]
    assert [json.loads(e.payload) for e in entries[-2:]] == [
        {"comment": "looking", "from": "detected", "to": "under_review"},
        {"comment": "two sources", "from": "under_review", "to": "confirmed"},
    ]
    assert verify_chain(ctx_of(client).store_reader()).ok


# --- split / merge ------------------------------------------------------------------


def _multi(client: TestClient) -> tuple[str, list[str]]:
    con = ctx_of(client).reader()
    row = con.execute(
        "SELECT incident_id FROM incident_members GROUP BY incident_id HAVING count(*) >= 3 "
        "ORDER BY incident_id LIMIT 1"
    ).fetchone()
    assert row is not None
    iid = row[0]
    members = [
        r[0]
        for r in con.execute(
            "SELECT event_id FROM incident_members WHERE incident_id = ? ORDER BY event_id", [iid]
        ).fetchall()
    ]
    return iid, members


def test_split_and_merge_are_recorded_validated_and_audited(
    client: TestClient, demo_store: DemoStore
) -> None:
    iid, members = _multi(client)
    r = _post(
        client,
        demo_store,
        f"/api/incidents/{iid}/split",
        {"event_ids": members[:1], "comment": "different crater"},
        "analyst",
    )
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["kind"] == "split" and d["event_ids"] == members[:1] and d["incident_ids"] == [iid]
    for body, needle in (
        ({"event_ids": ["nope"], "comment": "x"}, "not members"),
        ({"event_ids": members, "comment": "x"}, "every event"),
    ):
        bad = _post(client, demo_store, f"/api/incidents/{iid}/split", body, "analyst")
        assert bad.status_code == 422 and needle in bad.json()["error"]["message"]
    ids = [
        r[0]
        for r in ctx_of(client)
        .reader()
        .execute(
            "SELECT incident_id FROM incidents WHERE incident_id <> ? ORDER BY 1 LIMIT 2", [iid]
        )
        .fetchall()
    ]
    m = _post(
        client,
        demo_store,
        "/api/incidents/merge",
        {"incident_ids": ids, "comment": "same strike"},
        "analyst",
    )
    assert m.status_code == 201
    assert (
        _post(
            client,
            demo_store,
            "/api/incidents/merge",
            {"incident_ids": [ids[0], ids[0]], "comment": "x"},
            "analyst",
        ).status_code
        == 422
    )
    assert (
        _post(
            client,
            demo_store,
            "/api/incidents/merge",
            {"incident_ids": [ids[0], "Inope"], "comment": "x"},
            "analyst",
        ).status_code
        == 422
    )
    listed = client.get(
        "/api/incidents/decisions", headers=headers_for(demo_store, "observer")
    ).json()
    assert [x["kind"] for x in listed["decisions"]] == ["split", "merge"]
    detail = client.get(f"/api/incidents/{iid}", headers=headers_for(demo_store, "observer")).json()
    assert [x["decision_id"] for x in detail["decisions"]] == [d["decision_id"]]
    actions = [e.action for e in _audit(client)[-2:]]
    assert actions == ["incident.split", "incident.merge"]


def _decision(
    kind: str, events: tuple[str, ...] = (), incidents: tuple[str, ...] = ()
) -> IncidentDecision:
    return IncidentDecision(
        "D1",
        kind,
        events,
        incidents,
        "user:a",
        "c",
        pd.Timestamp("2025-01-01", tz="UTC").to_pydatetime(),
    )


def test_apply_incident_decisions_is_pure_and_keeps_anchors() -> None:
    members = pd.DataFrame(
        {"event_id": ["a", "b", "c", "d", "e"], "incident_id": ["Ia", "Ia", "Ia", "Id", "Ie"]}
    )
    frozen = members.copy()
    merged = apply_incident_decisions(members, [_decision("merge", incidents=("Id", "Ie"))])
    assert merged["incident_id"].tolist() == ["Ia", "Ia", "Ia", "Id", "Id"]
    split = apply_incident_decisions(members, [_decision("split", events=("a",))])
    # the anchor left: the rest is re-anchored on its own first event
    assert split["incident_id"].tolist() == ["Ia", "Ib", "Ib", "Id", "Ie"]
    split2 = apply_incident_decisions(members, [_decision("split", events=("c", "b"))])
    assert split2["incident_id"].tolist() == ["Ia", "Ib", "Ib", "Id", "Ie"]
    gone = apply_incident_decisions(members, [_decision("merge", incidents=("Ix", "Id"))])
    assert gone.equals(members)
    # ids changed since the decision: its events still say which incidents are one
    moved = apply_incident_decisions(
        members, [_decision("merge", events=("d", "e"), incidents=("Iold1", "Iold2"))]
    )
    assert moved["incident_id"].tolist() == ["Ia", "Ia", "Ia", "Id", "Id"]
    assert members.equals(frozen)


# --- users and tokens ---------------------------------------------------------------


def test_user_lifecycle(client: TestClient, demo_store: DemoStore) -> None:
    r = _post(client, demo_store, "/api/users", {"name": "olena", "role": "monitor"}, "admin")
    assert r.status_code == 201
    uid = r.json()["user_id"]
    assert (
        _post(
            client, demo_store, "/api/users", {"name": "olena", "role": "observer"}, "admin"
        ).status_code
        == 409
    )
    t = _post(client, demo_store, f"/api/users/{uid}/tokens", None, "admin").json()
    token, token_id = t["token"], t["token_id"]
    mine = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=mine).json()["role"] == "monitor"
    listed = client.get(f"/api/users/{uid}/tokens", headers=headers_for(demo_store, "admin")).text
    assert token not in listed and token[-4:] in listed and "sha256" not in listed
    assert (
        client.patch(
            f"/api/users/{uid}", json={"role": "analyst"}, headers=headers_for(demo_store, "admin")
        ).json()["role"]
        == "analyst"
    )
    assert client.get("/api/me", headers=mine).json()["role"] == "analyst"
    assert (
        client.delete(
            f"/api/tokens/{token_id}", headers=headers_for(demo_store, "admin")
        ).status_code
        == 200
    )
    assert client.get("/api/me", headers=mine).status_code == 401
    t2 = _post(client, demo_store, f"/api/users/{uid}/tokens", None, "admin").json()["token"]
    client.patch(
        f"/api/users/{uid}", json={"disabled": True}, headers=headers_for(demo_store, "admin")
    )
    assert client.get("/api/me", headers={"Authorization": f"Bearer {t2}"}).status_code == 401
    actions = [e.action for e in _audit(client)[-6:]]
    assert actions == [
        "user.add",
        "token.issue",
        "user.update",
        "token.revoke",
        "token.issue",
        "user.update",
    ]
    assert token not in json.dumps([e._asdict() for e in _audit(client)])


# --- agreements ---------------------------------------------------------------------


def _upload(demo: DemoStore) -> dict[str, Any]:
    folder = demo.inputs / "agreement"
    return {
        "agreement_yaml": (folder / "agreement.yaml").read_text(),
        "files": {p.name: json.loads(p.read_text()) for p in folder.glob("*.geojson")},
    }


def test_agreement_version_upload(client: TestClient, demo_store: DemoStore) -> None:
    r = _post(client, demo_store, "/api/agreements", _upload(demo_store), "admin")
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2
    assert _audit(client)[-1].action == "agreement.load"
    geo = client.get(
        "/api/agreements/latest/geometry", headers=headers_for(demo_store, "observer")
    ).json()
    assert geo["version"] == 2
    broken = _upload(demo_store)
    broken["agreement_yaml"] = broken["agreement_yaml"].replace("width_km: 15", "width_km: -15")
    bad = _post(client, demo_store, "/api/agreements", broken, "admin")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_agreement"
    assert bad.json()["error"]["detail"]
    evil = _upload(demo_store)
    evil["files"]["../../etc/x.geojson"] = {}
    assert _post(client, demo_store, "/api/agreements", evil, "admin").status_code == 422


def test_concurrent_reports_commit_in_groups_each_its_own_batch(
    demo_store: DemoStore, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from serve_helpers import ServerThread

    from ceasewatch.serve import ServeSettings, create_app

    app = create_app(ServeSettings(store=str(demo_store.copy_to(tmp_path))))
    h = headers_for(demo_store, "monitor")
    bodies = [
        {
            "observations": [
                _obs(report_id=f"GRP-{i}"),
                _obs(report_id=f"GRP-{i}", observation_id="2"),
            ]
        }
        for i in range(24)
    ]
    bodies.append({"observations": [_obs(report_id="GRP-bad", kind="laser")]})
    bodies.append({"observations": [_obs(report_id="GRP-0", count=99)]})  # a new version of GRP-0/1
    with ServerThread(app) as srv, ThreadPoolExecutor(16) as pool:

        def post(body: dict[str, Any]) -> httpx.Response:
            return httpx.post(f"{srv.url}/api/field-reports", json=body, headers=h, timeout=60)

        responses = list(pool.map(post, bodies))
        ctx: ServeContext = app.state.ctx
        statuses = [r.status_code for r in responses]
        assert statuses[:24] == [201] * 24 and statuses[24] == 422 and statuses[25] == 201
        batch_ids = [r.json()["batch_id"] for r in responses if r.status_code == 201]
        assert len(set(batch_ids)) == 25
        con = ctx.reader()
        for r in responses[:24]:
            out = r.json()
            assert out["loaded"] + out["new_version"] + out["unchanged"] == 2
            rows = con.execute(
                "SELECT count(*) FROM events WHERE batch_id = ?", [out["batch_id"]]
            ).fetchone()
            assert rows == (out["loaded"] + out["new_version"],)
        versions = con.execute(
            "SELECT max(version) FROM events WHERE source_event_id = 'GRP-0/1'"
        ).fetchone()
        assert versions == (2,)
        audits = [
            e
            for e in audit_entries(ctx.store_reader(), limit=10_000)
            if e.action == "field_report.submit"
        ]
        assert {e.entity_id for e in audits} >= {str(b) for b in batch_ids}
        assert verify_chain(ctx.store_reader()).ok
