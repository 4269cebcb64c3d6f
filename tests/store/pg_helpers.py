"""Helpers for the store tests: a fresh PostGIS schema per test (from ``CEASEWATCH_TEST_PG``,
skipped with the reason when unset or unreachable), and running the CLI in a process."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

ENV = "CEASEWATCH_TEST_PG"
_REACHABLE: dict[str, str | None] = {}


def pg_url_or_skip() -> str:
    """The test server's URL, or skip the test saying why."""
    url = os.environ.get(ENV)
    if not url:
        pytest.skip(f"{ENV} is not set: start a server with `scripts/pg-test-server start`")
    if url not in _REACHABLE:
        import psycopg

        try:
            with psycopg.connect(url, connect_timeout=5) as con:
                con.execute("SELECT postgis_version()")
            _REACHABLE[url] = None
        except Exception as e:
            _REACHABLE[url] = f"{type(e).__name__}: {e}"
    reason = _REACHABLE[url]
    if reason is not None:
        pytest.skip(f"PostGIS test server {url} unreachable or without PostGIS: {reason}")
    return url


@contextmanager
def pg_schema() -> Iterator[str]:
    """A URL whose ``search_path`` is a new, empty schema (dropped afterwards): each test
    gets a store of its own on the one test server."""
    import psycopg

    url = pg_url_or_skip()
    name = "cwt_" + secrets.token_hex(5)
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in url else "?"
    scoped = f"{url}{sep}options={quote(f'-csearch_path={name},public')}"
    try:
        yield scoped
    finally:
        with psycopg.connect(url, autocommit=True) as con:
            con.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def cli(
    *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``ceasewatch ARGS`` in a new process."""
    proc = subprocess.run(
        [sys.executable, "-m", "ceasewatch.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )
    if check and proc.returncode != 0:
        msg = f"ceasewatch {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        raise AssertionError(msg)
    return proc
