"""Helpers and fixtures of the web service tests: the demo store with one user per role,
clients on copies of it, a uvicorn server in a thread.

There is deliberately no ``conftest.py`` here: other test folders import helpers with
``from conftest import …``, and a second ``conftest`` module would shadow theirs. Test
modules import the fixtures they use from this module instead; the demo store is built
once per session whichever module asks first.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ceasewatch.demo import run_demo
from ceasewatch.serve import ServeSettings, create_app
from ceasewatch.serve.context import ServeContext
from ceasewatch.store import auth
from ceasewatch.store.duckdb import open_store

ROLES = ("observer", "monitor", "analyst", "admin")


@dataclass(frozen=True)
class DemoStore:
    path: Path
    inputs: Path
    tokens: dict[str, str]

    def copy_to(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "store.duckdb"
        shutil.copy(self.path, target)
        return target


def build_demo_store(root: Path) -> DemoStore:
    """The project's demo scenario evaluated into a store under ``root``, plus one user per
    role, a disabled user's token and a revoked token."""
    store_path = root / "demo.duckdb"
    run_demo(root / "out", store=str(store_path), echo=lambda _s: None)
    st = open_store(store_path)
    try:
        tokens = {}
        for role in ROLES:
            auth.add_user(st, role, role, actor="test:setup")
            tokens[role] = auth.issue_token(st, role, actor="test:setup").token
        auth.add_user(st, "gone", "admin", actor="test:setup")
        tokens["disabled"] = auth.issue_token(st, "gone", actor="test:setup").token
        auth.update_user(st, "gone", actor="test:setup", disabled=True)
        revoked = auth.issue_token(st, "admin", actor="test:setup")
        auth.revoke_token(st, revoked.token_id, actor="test:setup")
        tokens["revoked"] = revoked.token
    finally:
        st.close()
    return DemoStore(store_path, root / "out" / "inputs", tokens)


def pg_helpers() -> ModuleType:
    """``tests/store/pg_helpers.py`` (the PostGIS test server: a fresh schema per test,
    skipped with the reason when ``CEASEWATCH_TEST_PG`` is unset or unreachable)."""
    mod = sys.modules.get("pg_helpers")
    if mod is None:
        path = Path(__file__).resolve().parents[1] / "store" / "pg_helpers.py"
        spec = importlib.util.spec_from_file_location("pg_helpers", path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules["pg_helpers"] = mod
        spec.loader.exec_module(mod)
    return mod


def copy_demo_to(demo: DemoStore, location: str) -> None:
    """The demo store (users and tokens included) copied into the store at ``location``
    (a PostGIS schema), as ``ceasewatch store copy`` does."""
    from ceasewatch.store.open import open_store as open_any
    from ceasewatch.store.transfer import copy_store

    source = open_any(demo.path, read_only=True)
    try:
        target = open_any(location)
        try:
            copy_store(source, target)
        finally:
            target.close()
    finally:
        source.close()


def ctx_of(client: TestClient) -> ServeContext:
    """The serving context of a test client's app."""
    return client.app.state.ctx  # type: ignore[attr-defined,no-any-return]


def headers_for(demo: DemoStore, who: str) -> dict[str, str]:
    """Request headers of a role ('none' = no token, 'bad' = a token never issued)."""
    if who == "none":
        return {}
    if who == "bad":
        return {"Authorization": "Bearer cw_" + "x" * 43}
    return {"Authorization": f"Bearer {demo.tokens[who]}"}


def make_client(demo: DemoStore, folder: Path, **settings: Any) -> TestClient:
    path = demo.copy_to(folder)
    app = create_app(ServeSettings(store=str(path), **settings))
    return TestClient(app, raise_server_exceptions=False)


class ServerThread:
    """uvicorn serving an app on 127.0.0.1 in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = 0
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                msg = "uvicorn did not start"
                raise RuntimeError(msg)
            time.sleep(0.05)
        # port 0: the system chose one
        self.port = int(self.server.servers[0].sockets[0].getsockname()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


_DEMO: list[DemoStore] = []


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    """The project's demo scenario evaluated into a store, plus one user per role (built
    once per session, whichever test module imports this fixture first)."""
    if not _DEMO:
        _DEMO.append(build_demo_store(tmp_path_factory.mktemp("serve-demo")))
    return _DEMO[0]


@pytest.fixture
def client(demo_store: DemoStore, tmp_path: Path) -> Iterator[TestClient]:
    """A fresh app on a private copy of the demo store (writes allowed)."""
    with make_client(demo_store, tmp_path) as c:
        yield c


@pytest.fixture(scope="module")
def shared_client(
    demo_store: DemoStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One app per test module, for tests that only read or write distinct records."""
    with make_client(demo_store, tmp_path_factory.mktemp("serve-shared")) as c:
        yield c
