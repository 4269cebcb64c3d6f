"""The append-only audit log: every write leaves an entry chained to the one before.

Each entry stores the SHA-256 of its own content together with the hash of the previous
entry, so changing, removing or reordering a stored entry breaks the chain from that
entry on, and :func:`verify_chain` names where. The module offers no update or delete:
appending is the only write.

What the hash covers, as stored (so a change of any single byte of any column shows)::

    sha256(canonical JSON of [seq, at, actor, action, entity, entity_id, payload, prev_hash])

``at`` is ISO 8601 UTC text and ``payload`` the canonical JSON text of the payload, both
hashed as the exact strings stored. The first entry's ``prev_hash`` is 64 zeros.

Truncating the tail (deleting the last entries) leaves a valid shorter chain; to detect it,
publish :func:`chain_head` (e.g. in the daily report) and compare later.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, suppress
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

GENESIS_HASH = "0" * 64

AUDIT_DDL = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq BIGINT PRIMARY KEY, "at" TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    entity TEXT NOT NULL, entity_id TEXT NOT NULL, payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL
)
"""

AUDIT_COLUMNS = (
    "seq",
    "at",
    "actor",
    "action",
    "entity",
    "entity_id",
    "payload",
    "prev_hash",
    "hash",
)


class SqlStore(Protocol):
    """What the audit log (and the user registry) need of a store: its connection (a
    DuckDB connection, or the PostGIS store's adapter with the same ``execute``) and its
    transaction."""

    con: Any

    def transaction(self) -> AbstractContextManager[None]: ...


def lock(store: Any, name: str) -> None:
    """Take the store's writer lock ``name`` until the transaction ends, where the store
    has such locks (PostGIS: several processes write; DuckDB has one writer anyway)."""
    take = getattr(store, "lock", None)
    if callable(take):
        take(name)


class ChainCheck(NamedTuple):
    """Result of :func:`verify_chain`; unpacks as ``ok, first_bad_seq, message``."""

    ok: bool
    first_bad_seq: int | None
    message: str


class AuditEntry(NamedTuple):
    seq: int
    at: str
    actor: str
    action: str
    entity: str
    entity_id: str
    payload: str
    prev_hash: str
    hash: str


#: stores whose ``audit_log`` table is known to exist, committed, with the connection it
#: was seen on (a store that reconnects is checked again)
_READY: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _committed(store: SqlStore) -> bool:
    """Whether nothing done on ``store`` now can be rolled back (no transaction open)."""
    return getattr(store, "_depth", None) == 0


def _mark_ready(store: SqlStore) -> None:
    with suppress(TypeError):  # not weakly referenceable: checked on every append
        _READY[store] = store.con


def _is_ready(store: SqlStore) -> bool:
    try:
        return _READY.get(store) is store.con
    except TypeError:
        return False


def ensure_audit_table(store: SqlStore) -> None:
    """Create the ``audit_log`` table if the store has none yet.

    Run outside a transaction, the table is then known to exist on this store object and
    :func:`append_audit` no longer asks for it (a table created inside a transaction is
    only known once a later append commits: the transaction may still roll back).
    """
    store.con.execute(AUDIT_DDL)
    if _committed(store):
        _mark_ready(store)


def ensure_audit_ready(store: SqlStore) -> None:
    """:func:`ensure_audit_table` unless this store object already knows the table."""
    if not _is_ready(store):
        ensure_audit_table(store)


def canonical_json(value: Any) -> str:
    """Deterministic JSON text: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(
    seq: int,
    at: str,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    payload: str,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of one entry's content as stored, chained to ``prev_hash``."""
    text = canonical_json([seq, at, actor, action, entity, entity_id, payload, prev_hash])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def append_audit(
    store: SqlStore,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Append one entry and return its ``seq``.

    Call it inside the same ``store.transaction()`` as the write it records, so that the
    write and its entry commit together or not at all.

    Parameters
    ----------
    actor
        Who did it: ``user:<name>`` for the API, ``cli:<login>`` for the command line.
    action
        What was done, dotted: ``ingest.batch``, ``violation.status``, ``user.add``, ...
    entity, entity_id
        The kind and id of the record written (``batch``/``12``, ``violation``/``V…``).
    payload
        JSON-able details (no secrets: never a token or its hash).
    at
        When (default: now, UTC).
    """
    return append_audit_many(
        store,
        [
            {
                "actor": actor,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "payload": payload,
                "at": at,
            }
        ],
    )[0]


#: the query of the chain's head: ``(seq, hash)`` of the last entry
HEAD_SQL = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"


def append_audit_many(
    store: SqlStore,
    entries: Sequence[dict[str, Any]],
    *,
    head: tuple[int, str] | bool | None = True,
) -> list[int]:
    """Append several entries, in order, with one read of the chain's head and one
    INSERT; their ``seq`` numbers. Each entry is a dict of :func:`append_audit`'s keyword
    arguments (``actor``, ``action``, ``entity``, ``entity_id``, optional ``payload``
    and ``at``); the entries are exactly those that many :func:`append_audit` calls
    would append.

    ``head`` is the chain's head (:data:`HEAD_SQL`'s row, None for an empty log) when the
    caller has read it in the same transaction, after taking the ``audit_log`` lock
    (:func:`lock`); True (default): read here."""
    if not entries:
        return []
    ensure_audit_ready(store)
    texts = [
        (
            _iso(e.get("at") or datetime.now(UTC)),
            str(e["actor"]),
            str(e["action"]),
            str(e["entity"]),
            str(e["entity_id"]),
            canonical_json(e.get("payload") or {}),
        )
        for e in entries
    ]
    seqs: list[int] = []
    with store.transaction():
        # the next seq and prev_hash come from the last entry: one appender at a time
        if head is True:
            lock(store, "audit_log")
            row = store.con.execute(HEAD_SQL).fetchone()
        else:
            row = head or None
        seq = int(row[0]) if row else 0
        prev = str(row[1]) if row else GENESIS_HASH
        values: list[Any] = []
        for at_text, actor, action, entity, entity_id, payload_text in texts:
            seq += 1
            digest = entry_hash(seq, at_text, actor, action, entity, entity_id, payload_text, prev)
            values += [seq, at_text, actor, action, entity, entity_id, payload_text, prev, digest]
            seqs.append(seq)
            prev = digest
        store.con.execute(
            "INSERT INTO audit_log VALUES " + ",".join(["(?,?,?,?,?,?,?,?,?)"] * len(texts)),
            values,
        )
    if _committed(store):  # this append's own transaction committed the table too
        _mark_ready(store)
    return seqs


def iter_audit(store: SqlStore, *, after_seq: int = 0, chunk: int = 10_000) -> Iterator[AuditEntry]:
    """Entries in ``seq`` order after ``after_seq``, read in chunks (bounded memory)."""
    ensure_audit_table(store)
    cols = ", ".join(f'"{c}"' for c in AUDIT_COLUMNS)
    last = after_seq
    while True:
        rows = store.con.execute(
            f"SELECT {cols} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", [last, chunk]
        ).fetchall()
        if not rows:
            return
        for r in rows:
            yield AuditEntry(*r)
        last = int(rows[-1][0])


def audit_entries(store: SqlStore, *, after_seq: int = 0, limit: int = 100) -> list[AuditEntry]:
    """At most ``limit`` entries after ``after_seq``, in ``seq`` order."""
    ensure_audit_table(store)
    cols = ", ".join(f'"{c}"' for c in AUDIT_COLUMNS)
    rows = store.con.execute(
        f"SELECT {cols} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", [after_seq, limit]
    ).fetchall()
    return [AuditEntry(*r) for r in rows]


def chain_head(store: SqlStore) -> tuple[int, str] | None:
    """``(seq, hash)`` of the last entry, or None for an empty log: publish it to make a
    later truncation of the log detectable."""
    ensure_audit_table(store)
    row = store.con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else None


def _self_consistent(e: AuditEntry) -> bool:
    try:
        digest = entry_hash(
            e.seq, e.at, e.actor, e.action, e.entity, e.entity_id, e.payload, e.prev_hash
        )
    except (TypeError, ValueError):
        return False
    return digest == e.hash


def verify_chain(store: SqlStore, *, expected_head: tuple[int, str] | None = None) -> ChainCheck:
    """Recompute the chain; name the first broken entry.

    Two passes: first every entry's own hash against its content (a changed byte in any
    column of an entry breaks exactly that entry), then the links (each ``prev_hash`` is
    the previous entry's hash, ``seq`` runs 1, 2, 3, ... without gap), which catch an
    entry removed or rewritten with a recomputed hash. ``expected_head`` (a
    :func:`chain_head` published earlier) also catches a truncated tail.
    """
    for e in iter_audit(store):
        if not _self_consistent(e):
            msg = (
                f"audit entry seq {e.seq} ({e.action} {e.entity} {e.entity_id}, at {e.at}) "
                "was altered: its stored hash does not match its content"
            )
            return ChainCheck(False, int(e.seq), msg)
    prev_hash = GENESIS_HASH
    expected_seq = 1
    n = 0
    last: AuditEntry | None = None
    for e in iter_audit(store):
        if e.seq != expected_seq:
            msg = (
                f"audit entry seq {e.seq}: expected seq {expected_seq} "
                "(an entry is missing or was renumbered)"
            )
            return ChainCheck(False, int(e.seq), msg)
        if e.prev_hash != prev_hash:
            msg = (
                f"audit entry seq {e.seq}: its prev_hash does not match the hash of entry "
                f"{e.seq - 1} (that entry was rewritten, or this one re-linked)"
            )
            return ChainCheck(False, int(e.seq), msg)
        prev_hash = e.hash
        expected_seq += 1
        n += 1
        last = e
    if expected_head is not None:
        head_seq, head_hash = expected_head
        if last is None or last.seq < head_seq:
            have = 0 if last is None else last.seq
            msg = f"audit log ends at seq {have}, but the published head is seq {head_seq}"
            return ChainCheck(False, have + 1, msg)
        row = store.con.execute("SELECT hash FROM audit_log WHERE seq = ?", [head_seq]).fetchone()
        if row is None or row[0] != head_hash:
            msg = f"audit entry seq {head_seq} differs from the published head hash"
            return ChainCheck(False, head_seq, msg)
    return ChainCheck(True, None, f"audit chain intact: {n} entries")
