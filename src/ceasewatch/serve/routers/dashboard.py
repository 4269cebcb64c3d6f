"""The single-page dashboard at ``/`` and the OpenAPI browser at ``/docs``, both from
assets built at set-up (``npm ci --prefix web && npm run build --prefix web``); nothing
is fetched from a CDN, so a mission offline still has both."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from ceasewatch.serve.auth import Ctx

router = APIRouter(include_in_schema=False)

SETUP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ceasewatch: dashboard not built</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:42em;margin:3em auto;padding:0 1em}}
code{{background:#eee;padding:.1em .3em}}</style></head>
<body><h1>ceasewatch</h1>
<p>The API is running (<a href="/openapi.json">/openapi.json</a>), but the dashboard's
assets are not built: {missing} is missing.</p>
<p>Run the set-up once (it installs MapLibre GL from npm, so the dashboard needs no network
at run time):</p>
<pre><code>npm ci --prefix web &amp;&amp; npm run build --prefix web</code></pre>
<p>or <code>make setup</code>, then reload this page.</p></body></html>
"""


def static_dir_of(request: Request) -> Path:
    path: Path = request.app.state.static_dir
    return path


def dashboard_ready(static_dir: Path) -> Path | None:
    """None when the dashboard is built, else the first missing file."""
    for rel in ("index.html", "app.js", "vendor/maplibre-gl/maplibre-gl.js"):
        if not (static_dir / rel).is_file():
            return static_dir / rel
    return None


@router.get("/")
def index(request: Request, ctx: Ctx) -> Response:
    static = static_dir_of(request)
    missing = dashboard_ready(static)
    if missing is not None:
        return HTMLResponse(SETUP_PAGE.format(missing=missing))
    return FileResponse(static / "index.html", media_type="text/html")


@router.get("/docs")
def docs(request: Request) -> Response:
    static = static_dir_of(request)
    if not (static / "vendor/swagger-ui-dist/swagger-ui-bundle.js").is_file():
        return HTMLResponse(
            SETUP_PAGE.format(missing=static / "vendor/swagger-ui-dist/swagger-ui-bundle.js")
        )
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="ceasewatch API",
        swagger_js_url="/static/vendor/swagger-ui-dist/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger-ui-dist/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
    )
