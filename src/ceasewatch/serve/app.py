"""The single wiring point of the web service: :func:`create_app`.

It opens the store, makes sure the service's tables exist (users, tokens, audit log,
incident decisions), installs the request limits and the one error shape, and mounts one
router per resource plus the dashboard.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ceasewatch import __version__
from ceasewatch.serve.context import ServeContext
from ceasewatch.serve.errors import install_error_handlers
from ceasewatch.serve.limits import RequestLimitMiddleware
from ceasewatch.serve.review import ensure_decisions_table
from ceasewatch.serve.routers import (
    agreements,
    coverage,
    dashboard,
    events,
    field_reports,
    guarantees,
    incidents,
    meta,
    reports,
    users,
    violations,
)
from ceasewatch.serve.settings import ServeSettings
from ceasewatch.store.audit import ensure_audit_table
from ceasewatch.store.auth import ensure_auth_tables
from ceasewatch.store.open import open_store

STATIC_DIR = Path(__file__).resolve().parent / "static"

DESCRIPTION = """\
The ceasefire monitoring service: events, incidents, violations, coverage, agreement
versions and reports, as GeoJSON or CSV; monitors' field reports; the analysts' review.

Authenticate with `Authorization: Bearer <token>` (tokens: `ceasewatch user token NAME`).
Roles: observer < monitor < analyst < admin; each route's minimum role is its
`x-min-role`. Every error has the shape `{"error": {"code", "message", "detail"}}`.
"""


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """The FastAPI app of ``settings`` (default: from the environment), store opened."""
    settings = settings or ServeSettings()
    store = open_store(settings.store)
    store.con.execute(f"SET threads = {int(settings.db_threads)}")
    # outside the transaction: committed at once, so the writes' audit entries need not
    # ask for the table again
    ensure_audit_table(store)
    with store.transaction():
        ensure_auth_tables(store)
        ensure_decisions_table(store)
    ctx = ServeContext(settings, store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            ctx.close()

    app = FastAPI(
        title="ceasewatch",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    static_dir = settings.static_dir or STATIC_DIR
    app.state.static_dir = static_dir
    install_error_handlers(app)
    app.add_middleware(
        RequestLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_query_bytes=settings.max_query_bytes,
    )
    for module in (
        meta,
        events,
        incidents,
        violations,
        coverage,
        agreements,
        reports,
        guarantees,
        field_reports,
        users,
        dashboard,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=static_dir, check_dir=False), name="static")
    return app


def run(settings: ServeSettings | None = None) -> None:
    """Serve ``settings`` (default: from the environment) with uvicorn until stopped:
    what ``ceasewatch serve`` calls."""
    import uvicorn

    settings = settings or ServeSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
