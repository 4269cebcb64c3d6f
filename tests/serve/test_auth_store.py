"""Users, roles and tokens in the store."""

from __future__ import annotations

import pytest

from ceasewatch.errors import NotFoundError
from ceasewatch.store.audit import iter_audit, verify_chain
from ceasewatch.store.auth import (
    ROLES,
    DuplicateUserError,
    UserError,
    add_user,
    authenticate,
    issue_token,
    list_tokens,
    revoke_token,
    role_at_least,
    token_digest,
    update_user,
)
from ceasewatch.store.duckdb import DuckDBStore


def test_tokens_are_stored_hashed_and_shown_once(store: DuckDBStore) -> None:
    add_user(store, "taras", "monitor", actor="cli:root")
    issued = issue_token(store, "taras", actor="cli:root")
    assert issued.token.startswith("cw_") and len(issued.token) >= 40
    stored = store.con.execute("SELECT * FROM tokens").fetchall()
    flat = repr(stored)
    assert issued.token not in flat
    assert token_digest(issued.token) in flat
    assert issued.last4 == issued.token[-4:]
    assert not hasattr(list_tokens(store)[0], "token")
    user = authenticate(store, issued.token)
    assert user is not None and user.name == "taras" and user.role == "monitor"
    assert authenticate(store, issued.token + "x") is None
    assert authenticate(store, "not-a-token") is None


def test_revoked_and_disabled_fail(store: DuckDBStore) -> None:
    add_user(store, "a", "admin", actor="cli:root")
    t1 = issue_token(store, "a", actor="cli:root")
    t2 = issue_token(store, "a", actor="cli:root")
    revoke_token(store, t1.token_id, actor="cli:root")
    assert authenticate(store, t1.token) is None
    assert authenticate(store, t2.token) is not None
    update_user(store, "a", actor="cli:root", disabled=True)
    assert authenticate(store, t2.token) is None
    update_user(store, "a", actor="cli:root", disabled=False)
    assert authenticate(store, t2.token) is not None


def test_roles_are_ordered() -> None:
    assert ROLES == ("observer", "monitor", "analyst", "admin")
    assert role_at_least("admin", "analyst") and role_at_least("monitor", "monitor")
    assert not role_at_least("observer", "monitor")
    with pytest.raises(UserError, match="role 'emperor' is not one of"):
        role_at_least("emperor", "observer")


def test_bad_names_roles_and_duplicates(store: DuckDBStore) -> None:
    with pytest.raises(UserError, match="user name"):
        add_user(store, "bad name!", "observer", actor="cli:root")
    with pytest.raises(UserError, match="role 'boss'"):
        add_user(store, "ok", "boss", actor="cli:root")
    add_user(store, "ok", "observer", actor="cli:root")
    with pytest.raises(DuplicateUserError, match="exists already"):
        add_user(store, "ok", "observer", actor="cli:root")
    with pytest.raises(NotFoundError, match="user 'nobody'"):
        issue_token(store, "nobody", actor="cli:root")


def test_every_user_change_is_audited(store: DuckDBStore) -> None:
    add_user(store, "m", "monitor", actor="cli:root")
    t = issue_token(store, "m", actor="cli:root")
    update_user(store, "m", actor="cli:root", role="analyst")
    update_user(store, "m", actor="cli:root", role="analyst")  # no change: no entry
    revoke_token(store, t.token_id, actor="cli:root")
    revoke_token(store, t.token_id, actor="cli:root")  # already revoked: no entry
    actions = [e.action for e in iter_audit(store)]
    assert actions == ["user.add", "token.issue", "user.update", "token.revoke"]
    assert all(t.token not in e.payload for e in iter_audit(store))
    assert verify_chain(store).ok
