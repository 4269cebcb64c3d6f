"""docs/api.md documents every route and every setting of the web service."""

from __future__ import annotations

from pathlib import Path

from test_api_roles import ROUTES

from ceasewatch.serve import ServeSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_route_is_documented() -> None:
    text = DOC.read_text()
    missing = [
        f"{r.method} {r.template}"
        for r in ROUTES
        if f"| {r.method} | `{r.template}` | {r.min_role} |" not in text
    ]
    assert not missing, f"routes missing from docs/api.md (or with another role): {missing}"


def test_every_setting_is_documented() -> None:
    text = DOC.read_text()
    missing = [name for name in ServeSettings.model_fields if f"`{name}`" not in text]
    assert not missing, missing
