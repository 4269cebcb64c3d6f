"""The dashboard in a real browser: Playwright driving Debian's chromium (/usr/bin/chromium).

Five steps of the issue: load the map, filter by zone, open an incident, confirm a
violation as analyst, get refused as observer. Screenshots go to test-output/dashboard/
(and the test's tmp_path). Skipped, with the reason, when chromium, the playwright
package or the built dashboard assets are missing.
"""

# ruff: noqa: F811  (pytest fixtures imported from serve_helpers are parameters here)

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_helpers import (  # noqa: F401  (pytest fixtures)
    DemoStore,
    ServerThread,
    demo_store,
)

from ceasewatch.serve import ServeSettings, create_app
from ceasewatch.serve.app import STATIC_DIR
from ceasewatch.serve.routers.dashboard import dashboard_ready

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # WebGL on the CPU (MapLibre needs WebGL; there is no GPU in CI)
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "dashboard"


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[browser]')"
    missing = dashboard_ready(STATIC_DIR)
    if missing is not None:
        return f"dashboard not built: {missing} (npm ci --prefix web && npm run build --prefix web)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


@pytest.fixture(scope="module")
def server(
    demo_store: DemoStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    path = demo_store.copy_to(tmp_path_factory.mktemp("browser-store"))
    app = create_app(ServeSettings(store=str(path)))
    with ServerThread(app) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    target = OUTPUT / f"{name}.png"
    page.screenshot(path=str(target))
    shutil.copy(target, tmp_path / target.name)


def _sign_in(page: Any, url: str, token: str) -> None:
    page.goto(url)
    page.fill("#token-input", token)
    page.click("#signin-btn")
    page.wait_for_selector("body[data-ready='1'][data-loading='0']", timeout=30_000)


def _settled(page: Any, loads_before: int) -> None:
    page.wait_for_function(
        "n => window.cw.state.loads > n && document.body.dataset.loading === '0'",
        arg=loads_before,
        timeout=30_000,
    )


def _status(server: ServerThread, demo: DemoStore, violation_id: str) -> str:
    r = httpx.get(
        f"{server.url}/api/violations/{violation_id}",
        headers={"Authorization": f"Bearer {demo.tokens['observer']}"},
    )
    r.raise_for_status()
    return str(r.json()["status"])


def test_dashboard_five_steps(
    server: ServerThread, browser: Any, demo_store: DemoStore, tmp_path: Path
) -> None:
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.on("pageerror", lambda e: errors.append(str(e)))

    # 1. load the map: agreement geometry drawn, incidents and violations loaded
    _sign_in(page, server.url, demo_store.tokens["analyst"])
    page.wait_for_selector("#map canvas.maplibregl-canvas", timeout=30_000)
    page.wait_for_function("window.cw.map && window.cw.map.loaded()", timeout=30_000)
    layers = page.evaluate("window.cw.map.getStyle().layers.map(l => l.id)")
    assert {"contact-line", "band-fill", "control-fill", "violations-clusters"} <= set(layers)
    n_agreement = page.evaluate("window.cw.state.agreement.features.length")
    assert n_agreement >= 3
    assert page.evaluate("window.cw.state.incidents.length") > 0
    assert page.locator("#daily-chart svg rect").count() > 0
    assert "source" in page.inner_text("#coverage")
    # the guarantee section shows the working group's scorecard
    page.wait_for_selector("#guarantees table", timeout=15_000)
    assert "committed" in page.inner_text("#guarantees")
    _shot(page, tmp_path, "01-map")

    # 2. filter by zone: everything shown is in that zone
    loads = page.evaluate("window.cw.state.loads")
    page.select_option("#time-window", "0")
    _settled(page, loads)
    loads = page.evaluate("window.cw.state.loads")
    page.select_option("#zone-filter", "disengagement")
    _settled(page, loads)
    zones = page.evaluate(
        "[...window.cw.state.violations, ...window.cw.state.incidents].map(f => f.properties.zone)"
    )
    assert zones and set(zones) == {"disengagement"}
    _shot(page, tmp_path, "02-zone-filter")

    # 3. open an incident from the review queue: its evidence and sources show
    item = page.locator(".queue-item[data-status='detected']").first
    violation_id = item.get_attribute("data-violation-id")
    assert violation_id
    item.locator(".open-btn").click()
    page.wait_for_selector("#incident-panel:not([hidden]) .evidence", timeout=15_000)
    assert page.locator("#incident-events .evidence .src").count() >= 1
    assert violation_id in page.inner_text("#incident-violations")
    _shot(page, tmp_path, "03-incident")

    # 4. confirm the violation as analyst: detected → under_review → confirmed
    item = page.locator(f".queue-item[data-violation-id='{violation_id}']")
    item.locator("input.comment").fill("checked against the field report and FIRMS")
    loads = page.evaluate("window.cw.state.loads")
    item.locator(".status-btn[data-status='under_review']").click()
    _settled(page, loads)
    item = page.locator(f".queue-item[data-violation-id='{violation_id}']")
    assert item.get_attribute("data-status") == "under_review"
    item.locator("input.comment").fill("two independent sources agree")
    loads = page.evaluate("window.cw.state.loads")
    item.locator(".status-btn[data-status='confirmed']").click()
    _settled(page, loads)
    assert _status(server, demo_store, violation_id) == "confirmed"
    page.wait_for_selector(
        f"#incident-violations li[data-violation-id='{violation_id}'] .confirmed"
    )
    _shot(page, tmp_path, "04-confirmed")

    # 5. an observer is refused
    page.click("#signout-btn")
    _sign_in(page, server.url, demo_store.tokens["observer"])
    item = page.locator(".queue-item[data-status='detected']").first
    other = item.get_attribute("data-violation-id")
    assert other
    item.locator("input.comment").fill("trying")
    item.locator(".status-btn[data-status='under_review']").click()
    page.wait_for_selector("#toast .msg.error", timeout=15_000)
    assert "forbidden" in page.inner_text("#toast").lower()
    assert _status(server, demo_store, other) == "detected"
    _shot(page, tmp_path, "05-observer-refused")

    assert not errors, errors
    page.close()


def test_dashboard_without_tiles_makes_no_outside_request(
    server: ServerThread, browser: Any, demo_store: DemoStore
) -> None:
    """Offline by design: with no tile URL the page asks nothing of any other host."""
    page = browser.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(server.url) else None,
    )
    _sign_in(page, server.url, demo_store.tokens["observer"])
    page.wait_for_function("window.cw.map && window.cw.map.loaded()", timeout=30_000)
    assert not [u for u in outside if not u.startswith(("data:", "blob:"))], outside
    page.close()
