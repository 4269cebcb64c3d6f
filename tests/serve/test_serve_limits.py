"""Request bounds (body, query), the app without built assets, settings from the env."""

# ruff: noqa: F811  (pytest fixtures imported from serve_helpers are parameters here)

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serve_helpers import (  # noqa: F401  (pytest fixtures)
    DemoStore,
    demo_store,
    headers_for,
    make_client,
    shared_client,
)

from ceasewatch.serve import ServeSettings, create_app


def test_body_over_the_limit_is_413(demo_store: DemoStore, tmp_path: Path) -> None:
    with make_client(demo_store, tmp_path, max_body_bytes=2_000) as c:
        body = {"observations": [{"report_id": "x" * 3_000}]}
        r = c.post("/api/field-reports", json=body, headers=headers_for(demo_store, "monitor"))
        assert r.status_code == 413
        err = r.json()["error"]
        assert err["code"] == "payload_too_large" and err["detail"] == {"max_body_bytes": 2_000}

        # a chunked body (no Content-Length) is counted as it arrives
        def chunks() -> Iterator[bytes]:
            data = json.dumps(body).encode()
            for i in range(0, len(data), 500):
                yield data[i : i + 500]

        r = c.post(
            "/api/field-reports",
            content=chunks(),
            headers={**headers_for(demo_store, "monitor"), "Content-Type": "application/json"},
        )
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        # under the limit, chunked: accepted as usual (here: refused for its content)
        small = json.dumps({"observations": [{"kind": "flash"}]}).encode()
        r = c.post(
            "/api/field-reports",
            content=iter([small[:10], small[10:]]),
            headers={**headers_for(demo_store, "monitor"), "Content-Type": "application/json"},
        )
        assert r.status_code == 422


def test_query_over_the_limit_is_414(shared_client: TestClient, demo_store: DemoStore) -> None:
    r = shared_client.get(
        "/api/events?source=" + "a" * 5_000, headers=headers_for(demo_store, "observer")
    )
    assert r.status_code == 414 and r.json()["error"]["code"] == "query_too_long"


def test_too_many_observations(demo_store: DemoStore, tmp_path: Path) -> None:
    with make_client(demo_store, tmp_path, max_observations=2) as c:
        r = c.post(
            "/api/field-reports",
            json={"observations": [{}, {}, {}]},
            headers=headers_for(demo_store, "monitor"),
        )
        assert r.status_code == 422 and r.json()["error"]["detail"] == {"max_observations": 2}


def test_app_starts_without_built_assets(demo_store: DemoStore, tmp_path: Path) -> None:
    with make_client(demo_store, tmp_path, static_dir=tmp_path / "no-assets") as c:
        page = c.get("/")
        assert page.status_code == 200 and "npm ci --prefix web" in page.text
        docs = c.get("/docs")
        assert docs.status_code == 200 and "npm run build" in docs.text
        assert c.get("/openapi.json").status_code == 200
        assert c.get("/api/health").json()["status"] == "ok"


def test_docs_use_local_assets_when_built(shared_client: TestClient) -> None:
    from ceasewatch.serve.app import STATIC_DIR

    if not (STATIC_DIR / "vendor/swagger-ui-dist/swagger-ui-bundle.js").is_file():
        return  # the unbuilt case is covered above
    html = shared_client.get("/docs").text
    assert "/static/vendor/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()


def test_settings_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEASEWATCH_STORE", str(tmp_path / "env.duckdb"))
    monkeypatch.setenv("CEASEWATCH_TILE_URL", "https://tiles.example.org/{z}/{x}/{y}.png")
    monkeypatch.setenv("CEASEWATCH_MAX_PAGE_SIZE", "50")
    s = ServeSettings()
    assert s.tile_url and s.max_page_size == 50
    with TestClient(create_app(s)) as c:
        assert c.get("/api/health").status_code == 200
    assert (tmp_path / "env.duckdb").exists()
