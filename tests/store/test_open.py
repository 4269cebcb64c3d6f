"""Opening a store by its location, and what that loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import write_agreement

from ceasewatch.store.location import is_postgres_url, redact
from ceasewatch.store.open import open_store


def test_locations() -> None:
    assert is_postgres_url("postgresql://u@h:5432/db")
    assert is_postgres_url("postgres://u@h/db")
    assert not is_postgres_url("ceasewatch.duckdb")
    assert not is_postgres_url("./postgresql://x")  # a path, not a URL
    assert redact("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"


def test_a_duckdb_store_does_not_load_the_postgresql_driver(tmp_path: Path) -> None:
    # a DuckDB command (ingest, evaluate, the daily report with its guarantees section)
    # runs without importing psycopg: a fifth of a second of every start-up
    folder = write_agreement(tmp_path / "a")
    code = f"""
import sys
from datetime import date
from ceasewatch.agreement.store import load_agreement_into
from ceasewatch.evaluate.run import evaluate_store
from ceasewatch.report.run import write_daily_report_from_store
from ceasewatch.store.open import open_store
st = open_store({str(tmp_path / "s.duckdb")!r})
load_agreement_into(st, {str(folder)!r})
evaluate_store(st)
write_daily_report_from_store(st, date(2023, 3, 2), {str(tmp_path / "r")!r})
st.close()
loaded = sorted(m for m in sys.modules if m.startswith(("psycopg", "ceasewatch.store.postgis")))
print(loaded)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
    assert (tmp_path / "r").is_dir()


def test_any_store_is_still_there_at_run_time(tmp_path: Path) -> None:
    import ceasewatch.store.open as store_open
    from ceasewatch.store.duckdb import DuckDBStore
    from ceasewatch.store.postgis import PostGISStore

    assert store_open.AnyStore == DuckDBStore | PostGISStore
    st = open_store(tmp_path / "s.duckdb")
    assert isinstance(st, store_open.AnyStore)
    st.close()
