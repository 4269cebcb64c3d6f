"""Every route × every role, allowed and refused, and the one error shape on every route.

The table below is the specification: each route's minimum role, a request that the
route accepts, and a request that it refuses (with the status). A test checks that the
table covers every route the app has, so a new route cannot skip these tests.
"""

# ruff: noqa: F811  (pytest fixtures imported from serve_helpers are parameters here)

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from serve_helpers import (  # noqa: F401  (pytest fixtures)
    ROLES,
    DemoStore,
    client,
    demo_store,
    headers_for,
    shared_client,
)

from ceasewatch.serve.context import ServeContext
from ceasewatch.store import auth

#: who makes the request: no token, a token never issued, a revoked token, a disabled
#: user's token, then the four roles
WHO = ("none", "bad", "revoked", "disabled", *ROLES)
UNAUTHENTICATED = ("none", "bad", "revoked", "disabled")

Req = tuple[str, Any]  # (path with query, JSON body or None)


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    min_role: str  # "public" or a role
    ok: Callable[[ServeContext, DemoStore, int], Req]
    ok_status: tuple[int, ...]
    bad: Callable[[ServeContext, DemoStore], Req] | None = None
    bad_status: int = 422


def _ids(ctx: ServeContext, sql: str) -> list[str]:
    return [str(r[0]) for r in ctx.reader().execute(sql).fetchall()]


def _violation(ctx: ServeContext, i: int) -> str:
    return _ids(
        ctx,
        "SELECT violation_id FROM violations WHERE active AND violation_id NOT IN "
        "(SELECT violation_id FROM violation_status) ORDER BY violation_id",
    )[i]


def _multi_incident(ctx: ServeContext, i: int) -> str:
    return _ids(
        ctx,
        "SELECT incident_id FROM incident_members GROUP BY incident_id "
        "HAVING count(*) >= 2 ORDER BY incident_id",
    )[i]


def _incidents(ctx: ServeContext) -> list[str]:
    return _ids(ctx, "SELECT incident_id FROM incidents ORDER BY incident_id")


def _first_member(ctx: ServeContext, incident_id: str) -> str:
    return _ids(
        ctx,
        f"SELECT event_id FROM incident_members WHERE incident_id = '{incident_id}' "
        "ORDER BY event_id",
    )[0]


def _observation(i: int) -> dict[str, Any]:
    return {
        "report_id": f"ROLE-TEST-{i}",
        "observation_id": "1",
        "observer_id": "T09",
        "observer_lon": 37.74,
        "observer_lat": 48.6,
        "window_start": "2025-10-01T10:00:00Z",
        "window_end": "2025-10-01T10:20:00Z",
        "kind": "explosion",
        "count": 3,
        "bearing_deg": 90,
        "distance_min_km": 2,
        "distance_max_km": 4,
    }


def _agreement_upload(demo: DemoStore) -> dict[str, Any]:
    folder = demo.inputs / "agreement"
    return {
        "agreement_yaml": (folder / "agreement.yaml").read_text(),
        "files": {p.name: json.loads(p.read_text()) for p in folder.glob("*.geojson")},
    }


def _fresh_token(ctx: ServeContext, i: int) -> str:
    with ctx.write() as st:
        name = f"tokenholder-{i}"
        try:
            auth.get_user(st, name)
        except LookupError:
            auth.add_user(st, name, "observer", actor="test")
        return auth.issue_token(st, name, actor="test").token_id


def _fresh_user(ctx: ServeContext, i: int) -> str:
    with ctx.write() as st:
        return auth.add_user(st, f"patchme-{i}", "observer", actor="test").user_id


def _report_day(ctx: ServeContext, demo: DemoStore, i: int) -> Req:
    return "/api/reports/daily?date=2025-10-04&format=md", None


ROUTES: tuple[Route, ...] = (
    Route("GET", "/", "public", lambda c, d, i: ("/", None), (200,)),
    Route("GET", "/docs", "public", lambda c, d, i: ("/docs", None), (200,)),
    Route("GET", "/api/health", "public", lambda c, d, i: ("/api/health", None), (200,)),
    Route("GET", "/api/me", "observer", lambda c, d, i: ("/api/me", None), (200,)),
    Route("GET", "/api/config", "observer", lambda c, d, i: ("/api/config", None), (200,)),
    Route(
        "GET",
        "/api/events",
        "observer",
        lambda c, d, i: ("/api/events?limit=5", None),
        (200,),
        lambda c, d: ("/api/events?bbox=1,2,3", None),
    ),
    Route(
        "GET",
        "/api/events/{event_id}",
        "observer",
        lambda c, d, i: (f"/api/events/{_ids(c, 'SELECT event_id FROM events LIMIT 1')[0]}", None),
        (200,),
        lambda c, d: ("/api/events/nope", None),
        404,
    ),
    Route(
        "GET",
        "/api/incidents",
        "observer",
        lambda c, d, i: ("/api/incidents?limit=5", None),
        (200,),
        lambda c, d: ("/api/incidents?since=2025-09-01T00:00:00", None),  # no offset
    ),
    Route(
        "GET",
        "/api/incidents/decisions",
        "observer",
        lambda c, d, i: ("/api/incidents/decisions", None),
        (200,),
    ),
    Route(
        "GET",
        "/api/incidents/{incident_id}",
        "observer",
        lambda c, d, i: (f"/api/incidents/{_incidents(c)[0]}", None),
        (200,),
        lambda c, d: ("/api/incidents/Inope", None),
        404,
    ),
    Route(
        "POST",
        "/api/incidents/merge",
        "analyst",
        lambda c, d, i: (
            "/api/incidents/merge",
            {"incident_ids": _incidents(c)[2 * i : 2 * i + 2], "comment": "same shelling"},
        ),
        (201,),
        lambda c, d: ("/api/incidents/merge", {"incident_ids": ["Ionly"], "comment": "x"}),
    ),
    Route(
        "POST",
        "/api/incidents/{incident_id}/split",
        "analyst",
        lambda c, d, i: (
            f"/api/incidents/{_multi_incident(c, i)}/split",
            {"event_ids": [_first_member(c, _multi_incident(c, i))], "comment": "different"},
        ),
        (201,),
        lambda c, d: (f"/api/incidents/{_multi_incident(c, 0)}/split", {"event_ids": []}),
    ),
    Route(
        "GET",
        "/api/violations",
        "observer",
        lambda c, d, i: ("/api/violations?limit=5&status=detected", None),
        (200,),
        lambda c, d: ("/api/violations?status=approved", None),
    ),
    Route(
        "GET",
        "/api/violations/daily-counts",
        "observer",
        lambda c, d, i: ("/api/violations/daily-counts", None),
        (200,),
        lambda c, d: ("/api/violations/daily-counts?severity=huge", None),
    ),
    Route(
        "GET",
        "/api/violations/{violation_id}",
        "observer",
        lambda c, d, i: (f"/api/violations/{_violation(c, 0)}", None),
        (200,),
        lambda c, d: ("/api/violations/Vnope", None),
        404,
    ),
    Route(
        "POST",
        "/api/violations/{violation_id}/status",
        "analyst",
        lambda c, d, i: (
            f"/api/violations/{_violation(c, i)}/status",
            {"status": "under_review", "comment": "taking it"},
        ),
        (200,),
        lambda c, d: (f"/api/violations/{_violation(c, 0)}/status", {"status": "confirmed"}),
    ),
    Route(
        "GET",
        "/api/coverage",
        "observer",
        lambda c, d, i: ("/api/coverage", None),
        (200,),
        lambda c, d: ("/api/coverage?since=yesterday", None),
    ),
    Route(
        "GET",
        "/api/coverage/received",
        "observer",
        lambda c, d, i: ("/api/coverage/received", None),
        (200,),
        lambda c, d: ("/api/coverage/received?until=never", None),
    ),
    Route("GET", "/api/agreements", "observer", lambda c, d, i: ("/api/agreements", None), (200,)),
    Route(
        "GET",
        "/api/guarantees",
        "observer",
        lambda c, d, i: ("/api/guarantees", None),
        (200,),
        lambda c, d: ("/api/guarantees?as_of=someday", None),
    ),
    Route(
        "GET",
        "/api/guarantees/tables/{table}",
        "observer",
        lambda c, d, i: ("/api/guarantees/tables/commitments", None),
        (200,),
        lambda c, d: ("/api/guarantees/tables/commitments?format=xml", None),
    ),
    Route(
        "GET",
        "/api/guarantees/report",
        "observer",
        lambda c, d, i: ("/api/guarantees/report", None),
        (200,),
        lambda c, d: ("/api/guarantees/report?as_of=2025-13-40", None),
    ),
    Route(
        "GET",
        "/api/agreements/{version}",
        "observer",
        lambda c, d, i: ("/api/agreements/1", None),
        (200,),
        lambda c, d: ("/api/agreements/999", None),
        404,
    ),
    Route(
        "GET",
        "/api/agreements/{version}/geometry",
        "observer",
        lambda c, d, i: ("/api/agreements/latest/geometry", None),
        (200,),
        lambda c, d: ("/api/agreements/newest/geometry", None),
    ),
    Route(
        "POST",
        "/api/agreements",
        "admin",
        lambda c, d, i: ("/api/agreements", _agreement_upload(d)),
        (201,),
        lambda c, d: ("/api/agreements", {"agreement_yaml": "name: x\n", "files": {}}),
    ),
    Route(
        "GET",
        "/api/reports/daily",
        "observer",
        _report_day,
        (200,),
        lambda c, d: ("/api/reports/daily?date=2025-13-45", None),
    ),
    Route(
        "POST",
        "/api/field-reports",
        "monitor",
        lambda c, d, i: ("/api/field-reports", {"observations": [_observation(i)]}),
        (201,),
        lambda c, d: ("/api/field-reports", {"observations": [{"kind": "explosion"}]}),
    ),
    Route(
        "GET",
        "/api/users",
        "admin",
        lambda c, d, i: ("/api/users", None),
        (200,),
    ),
    Route(
        "POST",
        "/api/users",
        "admin",
        lambda c, d, i: ("/api/users", {"name": f"new-user-{i}", "role": "monitor"}),
        (201,),
        lambda c, d: ("/api/users", {"name": "x", "role": "emperor"}),
    ),
    Route(
        "PATCH",
        "/api/users/{user_id}",
        "admin",
        lambda c, d, i: (f"/api/users/{_fresh_user(c, i)}", {"role": "analyst"}),
        (200,),
        lambda c, d: ("/api/users/nobody", {"role": "analyst"}),
        404,
    ),
    Route(
        "GET",
        "/api/users/{user_id}/tokens",
        "admin",
        lambda c, d, i: ("/api/users/observer/tokens", None),
        (200,),
        lambda c, d: ("/api/users/nobody/tokens", None),
        404,
    ),
    Route(
        "POST",
        "/api/users/{user_id}/tokens",
        "admin",
        lambda c, d, i: ("/api/users/observer/tokens", None),
        (201,),
        lambda c, d: ("/api/users/nobody/tokens", None),
        404,
    ),
    Route(
        "DELETE",
        "/api/tokens/{token_id}",
        "admin",
        lambda c, d, i: (f"/api/tokens/{_fresh_token(c, i)}", None),
        (200,),
        lambda c, d: ("/api/tokens/tok_nope", None),
        404,
    ),
    Route(
        "GET",
        "/api/audit",
        "admin",
        lambda c, d, i: ("/api/audit?limit=5", None),
        (200,),
        lambda c, d: ("/api/audit?limit=0", None),
    ),
    Route(
        "GET",
        "/api/audit/verify",
        "admin",
        lambda c, d, i: ("/api/audit/verify", None),
        (200,),
    ),
)

ROLE_RANK = {"public": -1, **{r: i for i, r in enumerate(ROLES)}}


def assert_error_shape(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "message", "detail"}, err
    assert isinstance(err["code"], str) and err["code"]
    assert isinstance(err["message"], str) and len(err["message"]) > 10
    assert "Traceback" not in r.text
    return dict(err)


def _send(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.request(method, path, json=body, headers=headers)


def _api_routes(routes: list[Any], prefix: str = "") -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for r in routes:
        if isinstance(r, APIRoute):
            out |= {(m, prefix + r.path) for m in r.methods or ()}
        # FastAPI ≥ 0.120 keeps included routers wrapped
        sub = getattr(r, "original_router", None)
        if sub is not None:
            out |= _api_routes(list(sub.routes), prefix + getattr(r, "path", ""))
    return out


def test_the_table_covers_every_route(shared_client: TestClient) -> None:
    app_routes = _api_routes(list(shared_client.app.routes))  # type: ignore[attr-defined]
    assert len(app_routes) > 20
    table = {(r.method, r.template) for r in ROUTES}
    assert app_routes == table, (app_routes - table, table - app_routes)


def test_openapi_documents_each_routes_min_role(shared_client: TestClient) -> None:
    spec = shared_client.get("/openapi.json").json()
    for route in ROUTES:
        op = spec["paths"].get(route.template, {}).get(route.method.lower())
        if op is None:  # dashboard pages are not in the schema
            assert route.min_role == "public"
            continue
        assert op.get("x-min-role") == route.min_role, route.template
    # every query parameter is described
    for path, ops in spec["paths"].items():
        for op in ops.values():
            for p in op.get("parameters", []):
                assert p.get("description"), (path, p["name"])


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.template}")
def test_route_role(
    shared_client: TestClient, demo_store: DemoStore, route: Route, who: str
) -> None:
    ctx: ServeContext = shared_client.app.state.ctx  # type: ignore[attr-defined]
    path, body = route.ok(ctx, demo_store, WHO.index(who))
    r = _send(shared_client, route.method, path, body, headers_for(demo_store, who))
    if route.min_role == "public":
        assert r.status_code in route.ok_status, r.text[:300]
    elif who in UNAUTHENTICATED:
        err = assert_error_shape(r, 401)
        assert err["code"] == "unauthorized"
        assert r.headers.get("www-authenticate") == "Bearer"
    elif ROLE_RANK[who] < ROLE_RANK[route.min_role]:
        err = assert_error_shape(r, 403)
        assert err["detail"] == {"required_role": route.min_role, "role": who}
    else:
        assert r.status_code in route.ok_status, (r.status_code, r.text[:500])
        if r.status_code >= 400:  # coverage: 501 until the store has it
            assert_error_shape(r, r.status_code)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.template}")
def test_error_shape_on_every_route(
    shared_client: TestClient, demo_store: DemoStore, route: Route
) -> None:
    ctx: ServeContext = shared_client.app.state.ctx  # type: ignore[attr-defined]
    admin = headers_for(demo_store, "admin")
    path, body = route.ok(ctx, demo_store, len(WHO) + 1)
    if route.min_role != "public":
        assert_error_shape(_send(shared_client, route.method, path, body, {}), 401)
    if route.bad is not None:
        bad_path, bad_body = route.bad(ctx, demo_store)
        assert_error_shape(
            _send(shared_client, route.method, bad_path, bad_body, admin), route.bad_status
        )
    # a method the route does not have: 405 in the same shape
    other = "PUT" if route.method != "PUT" else "GET"
    assert_error_shape(_send(shared_client, other, path.split("?")[0], None, admin), 405)


def test_unknown_route_and_static_file(shared_client: TestClient) -> None:
    err = assert_error_shape(shared_client.get("/api/nothing-here"), 404)
    assert err["code"] == "not_found"
    assert_error_shape(shared_client.get("/static/nothing.js"), 404)


def test_validation_error_lists_every_problem(
    shared_client: TestClient, demo_store: DemoStore
) -> None:
    r = shared_client.get(
        "/api/violations?bbox=a&status=nope&limit=0", headers=headers_for(demo_store, "observer")
    )
    err = assert_error_shape(r, 422)
    assert err["code"] == "validation_error"
    locs = {tuple(p["loc"]) for p in err["detail"]}
    assert {("query", "bbox"), ("query", "status"), ("query", "limit")} <= locs


def test_unexpected_error_is_500_in_the_shape(
    demo_store: DemoStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serve_helpers import make_client

    from ceasewatch.serve import context

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(context, "snapshot_page_response", boom)
    with make_client(demo_store, tmp_path) as c:
        r = c.get("/api/events", headers=headers_for(demo_store, "observer"))
    err = assert_error_shape(r, 500)
    assert err["code"] == "internal_error"
    assert "secret internal detail" not in r.text
