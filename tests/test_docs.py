"""Docs are tested: every CLI command is documented, the README starts with the two commands."""

from __future__ import annotations

from pathlib import Path

import typer

from ceasewatch.cli import app

ROOT = Path(__file__).resolve().parents[1]


def _commands(t: typer.Typer, prefix: str = "ceasewatch") -> list[str]:
    out = [f"{prefix} {c.name or c.callback.__name__}" for c in t.registered_commands]  # type: ignore[union-attr]
    for g in t.registered_groups:
        assert g.typer_instance is not None
        out += _commands(g.typer_instance, f"{prefix} {g.name}")
    return out


def test_every_command_is_documented() -> None:
    doc = (ROOT / "docs" / "cli.md").read_text()
    commands = _commands(app)
    assert len(commands) >= 15
    missing = [c for c in commands if f"`{c}" not in doc]
    assert not missing, f"undocumented commands: {missing}"


def test_readme_opens_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    first_screen = text[: text.index("## What it does")]
    assert "make demo" in first_screen and "make test" in first_screen
    assert "docs/img/demo-map.png" in first_screen
