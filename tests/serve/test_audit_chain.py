"""The audit chain: any single changed byte of any stored entry is caught at that entry;
removed, rewritten and truncated entries are caught too."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from ceasewatch.store.audit import (
    AUDIT_COLUMNS,
    GENESIS_HASH,
    append_audit,
    chain_head,
    entry_hash,
    iter_audit,
    verify_chain,
)
from ceasewatch.store.auth import add_user, issue_token, revoke_token
from ceasewatch.store.duckdb import DuckDBStore


@pytest.fixture
def audited() -> Iterator[DuckDBStore]:
    st = DuckDBStore(":memory:")
    append_audit(
        st,
        actor="cli:root",
        action="ingest.batch",
        entity="batch",
        entity_id="1",
        payload={"source": "acled", "rows": 574, "file": "acled.csv"},
    )
    add_user(st, "olena", "analyst", actor="cli:root")
    token = issue_token(st, "olena", actor="cli:root")
    append_audit(
        st,
        actor="user:olena",
        action="violation.status",
        entity="violation",
        entity_id="V1",
        payload={"from": "detected", "to": "under_review", "comment": "перевіряю — checking"},
    )
    revoke_token(st, token.token_id, actor="cli:root")
    append_audit(
        st,
        actor="user:olena",
        action="incident.merge",
        entity="incident_decision",
        entity_id="D1",
        payload={"incident_ids": ["I1", "I2"], "comment": "same"},
    )
    yield st
    st.close()


def _flip(value: object) -> object:
    """The value with one byte changed (numbers: a different number)."""
    if isinstance(value, int):
        return value + 1_000_000
    text = str(value)
    i = len(text) // 2
    return text[:i] + chr(ord(text[i]) ^ 1) + text[i + 1 :]


def test_chain_is_intact_and_linked(audited: DuckDBStore) -> None:
    ok, bad, msg = verify_chain(audited)
    assert ok and bad is None and "6 entries" in msg
    entries = list(iter_audit(audited))
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].prev_hash == GENESIS_HASH
    for prev, e in itertools.pairwise(entries):
        assert e.prev_hash == prev.hash
        assert e.hash == entry_hash(
            e.seq, e.at, e.actor, e.action, e.entity, e.entity_id, e.payload, e.prev_hash
        )
    assert [e.action for e in entries] == [
        "ingest.batch",
        "user.add",
        "token.issue",
        "violation.status",
        "token.revoke",
        "incident.merge",
    ]


@pytest.mark.parametrize("column", AUDIT_COLUMNS)
def test_one_changed_byte_anywhere_is_named(audited: DuckDBStore, column: str) -> None:
    for e in list(iter_audit(audited)):
        original = getattr(e, column)
        changed = _flip(original)
        audited.con.execute(f'UPDATE audit_log SET "{column}" = ? WHERE seq = ?', [changed, e.seq])
        where = changed if column == "seq" else e.seq
        ok, bad, msg = verify_chain(audited)
        assert not ok, (column, e.seq)
        assert bad == where, (column, e.seq, bad, msg)
        assert f"seq {where}" in msg
        key = changed if column == "seq" else e.seq
        audited.con.execute(f'UPDATE audit_log SET "{column}" = ? WHERE seq = ?', [original, key])
        assert verify_chain(audited).ok


def test_removed_entry_is_caught_at_the_next(audited: DuckDBStore) -> None:
    audited.con.execute("DELETE FROM audit_log WHERE seq = 3")
    ok, bad, msg = verify_chain(audited)
    assert not ok and bad == 4 and "missing" in msg


def test_rewritten_entry_with_recomputed_hash_is_caught_at_the_next(audited: DuckDBStore) -> None:
    e = next(x for x in iter_audit(audited) if x.seq == 4)
    payload = e.payload.replace("under_review", "confirmed")
    forged = entry_hash(e.seq, e.at, e.actor, e.action, e.entity, e.entity_id, payload, e.prev_hash)
    audited.con.execute(
        "UPDATE audit_log SET payload = ?, hash = ? WHERE seq = 4", [payload, forged]
    )
    ok, bad, msg = verify_chain(audited)
    assert not ok and bad == 5 and "prev_hash" in msg


def test_truncated_tail_is_caught_against_a_published_head(audited: DuckDBStore) -> None:
    head = chain_head(audited)
    assert head is not None and head[0] == 6
    audited.con.execute("DELETE FROM audit_log WHERE seq >= 5")
    assert verify_chain(audited).ok  # a shorter chain is still a chain …
    ok, bad, _ = verify_chain(audited, expected_head=head)
    assert not ok and bad == 5  # … but not the one that was published


def test_no_update_or_delete_in_the_api() -> None:
    import ceasewatch.store.audit as audit

    names = [n for n in dir(audit) if not n.startswith("_")]
    assert not [
        n for n in names if any(w in n.lower() for w in ("update", "delete", "remove", "edit"))
    ]


def test_audit_entry_rolls_back_with_its_write() -> None:
    st = DuckDBStore(":memory:")
    try:
        with pytest.raises(RuntimeError), st.transaction():
            append_audit(st, actor="a", action="x", entity="e", entity_id="1")
            raise RuntimeError("the write failed")
        assert list(iter_audit(st)) == []
    finally:
        st.close()


class _Spy:
    """A connection that records the statements it runs."""

    def __init__(self, con: Any) -> None:
        self.raw = con
        self.sql: list[str] = []

    def execute(self, sql: str, params: Any = None) -> Any:
        self.sql.append(sql)
        return self.raw.execute(sql, params or [])


def test_append_asks_for_the_table_only_until_it_is_known_committed() -> None:
    store = DuckDBStore(":memory:")
    spy = _Spy(store.con)
    store.con = spy  # type: ignore[assignment]
    # a first append whose transaction rolls back takes the new table with it
    with pytest.raises(RuntimeError), store.transaction():
        append_audit(store, actor="t", action="x.y", entity="e", entity_id="1")
        raise RuntimeError("rolled back")
    assert append_audit(store, actor="t", action="x.y", entity="e", entity_id="2") == 1
    # committed by that append: later ones no longer create it
    spy.sql.clear()
    with store.transaction():
        append_audit(store, actor="t", action="x.y", entity="e", entity_id="3")
    assert not [s for s in spy.sql if "CREATE TABLE" in s]
    assert verify_chain(store).ok and chain_head(store) is not None
