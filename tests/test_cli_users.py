"""Users, tokens and the audit chain through the command line."""

from __future__ import annotations

from pathlib import Path

from conftest import write_agreement
from typer.testing import CliRunner

from ceasewatch.cli import app
from ceasewatch.store.duckdb import open_store

runner = CliRunner()


def test_users_tokens_and_verify(tmp_path: Path) -> None:
    store = str(tmp_path / "cw.duckdb")
    ok = runner.invoke(
        app, ["agreement", "load", str(write_agreement(tmp_path / "a")), "--store", store]
    )
    assert ok.exit_code == 0, ok.output
    assert (
        runner.invoke(
            app, ["user", "add", "olena", "--role", "analyst", "--store", store]
        ).exit_code
        == 0
    )
    bad = runner.invoke(app, ["user", "add", "x", "--role", "general", "--store", store])
    assert bad.exit_code == 1
    issued = runner.invoke(app, ["user", "token", "olena", "--store", store])
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip().splitlines()[-1]
    assert token.startswith("cw_") and len(token) > 40
    st = open_store(store)
    try:
        # the token is stored only as a hash
        assert token not in str(st.con.execute("SELECT * FROM tokens").fetchall())
        token_id = st.con.execute("SELECT token_id FROM tokens").fetchone()[0]
    finally:
        st.close()
    assert runner.invoke(app, ["user", "revoke", token_id, "--store", store]).exit_code == 0

    good = runner.invoke(app, ["verify", "--store", store])
    assert good.exit_code == 0 and "intact" in good.output
    # agreement load, user add, token issue and revoke each appended an entry
    assert "4 entries" in good.output

    st = open_store(store)
    try:
        st.con.execute(
            "UPDATE audit_log SET payload = replace(payload, 'analyst', 'admin') "
            "WHERE action LIKE 'user.%'"
        )
    finally:
        st.close()
    broken = runner.invoke(app, ["verify", "--store", store])
    assert broken.exit_code == 1 and "broken at entry 2" in broken.output
