"""The guarantee ledger in the store (DuckDB or PostGIS): its tables, queries and the change log.

Tables are created on first use (``CREATE TABLE IF NOT EXISTS``). Every write to a ledger
table also appends one row to ``ledger_log``: time, actor, action, table, key and the JSON
of the old and new record. The log is append-only (nothing here updates or deletes it) and
hash-chained: each row's ``row_hash`` covers its content and the previous row's hash, so
:func:`verify_ledger_log` detects an edited or removed row.

Imported data sets (Kiel, air attacks, air alerts, losses) are snapshots: each ingest adds
its rows under its batch id and the latest batch of a source is the current one, so an
earlier state stays readable.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from ceasewatch.errors import NotFoundError
from ceasewatch.guarantee import schema as gs
from ceasewatch.store.audit import SqlStore, lock

_LOG_DDL = """
CREATE SEQUENCE IF NOT EXISTS ledger_log_seq START 1;
CREATE TABLE IF NOT EXISTS ledger_log (
    log_id BIGINT PRIMARY KEY, logged_at TIMESTAMPTZ NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, table_name TEXT NOT NULL, record_key TEXT, old_json TEXT,
    new_json TEXT, batch_id BIGINT, prev_hash TEXT NOT NULL, row_hash TEXT NOT NULL
);
"""

_GENESIS = "0" * 64

#: the source whose latest batch is current, per data-set table
DATASET_SOURCE: dict[str, str] = {
    "aid_kiel": gs.SOURCE_KIEL,
    "heavy_weapons_kiel": gs.SOURCE_KIEL,
    "air_attacks": gs.SOURCE_AIR_ATTACKS,
    "air_alerts": gs.SOURCE_AIR_ALERTS,
    "losses_mod": gs.SOURCE_LOSSES_MOD,
    "losses_oryx": gs.SOURCE_LOSSES_ORYX,
}


def _ddl(spec: gs.TableSpec) -> str:
    cols = ", ".join(f"{f.name} {f.sql_type}" for f in spec.fields)
    return (
        f"CREATE TABLE IF NOT EXISTS {spec.name} ({cols}, updated_at TIMESTAMPTZ, "
        f"PRIMARY KEY ({spec.key}))"
    )


def ensure_tables(store: SqlStore) -> None:
    """Create the ledger tables and the log if they are missing."""
    store.con.execute(_LOG_DDL)
    for spec in gs.LEDGER_TABLES.values():
        store.con.execute(_ddl(spec))


def _one(store: SqlStore, sql: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
    # fetch everything: a half-read result blocks later ``register`` calls on the connection
    rows = store.con.execute(sql, params or []).fetchall()
    return tuple(rows[0]) if rows else None


def _exists(store: SqlStore, table: str) -> bool:
    row = _one(
        store,
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
        "AND table_schema = current_schema()",
        [table],
    )
    return bool(row and row[0])


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _record_json(record: dict[str, Any] | None) -> str | None:
    if record is None:
        return None
    clean = {k: _jsonable(v) for k, v in record.items() if k != "updated_at"}
    return json.dumps(clean, sort_keys=True, ensure_ascii=False)


def _row_hash(prev: str, row: dict[str, Any]) -> str:
    payload = json.dumps(
        {k: _jsonable(v) for k, v in row.items()}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256((prev + "\x1f" + payload).encode()).hexdigest()


_HASHED = (
    "log_id",
    "logged_at",
    "actor",
    "action",
    "table_name",
    "record_key",
    "old_json",
    "new_json",
    "batch_id",
)


def log_write(
    store: SqlStore,
    *,
    actor: str,
    action: str,
    table: str,
    key: str | None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    batch_id: int | None = None,
    logged_at: datetime | None = None,
) -> int:
    """Append one row to ``ledger_log``; returns its ``log_id``."""
    store.con.execute(_LOG_DDL)
    # the chain links to the last row: one writer of the log at a time
    lock(store, "ledger_log")
    last = _one(store, "SELECT row_hash FROM ledger_log ORDER BY log_id DESC LIMIT 1")
    prev = str(last[0]) if last else _GENESIS
    seq = _one(store, "SELECT nextval('ledger_log_seq')")
    assert seq is not None
    when = (logged_at or datetime.now(UTC)).astimezone(UTC)
    row: dict[str, Any] = {
        "log_id": int(seq[0]),
        # microseconds survive the round trip through TIMESTAMPTZ
        "logged_at": when.replace(tzinfo=UTC),
        "actor": actor,
        "action": action,
        "table_name": table,
        "record_key": key,
        "old_json": _record_json(old),
        "new_json": _record_json(new),
        "batch_id": batch_id,
    }
    digest = _row_hash(prev, row)
    store.con.execute(
        "INSERT INTO ledger_log VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [*[row[c] for c in _HASHED], prev, digest],
    )
    return int(row["log_id"])


def ledger_log(store: SqlStore) -> pd.DataFrame:
    """The change log, oldest first."""
    if not _exists(store, "ledger_log"):
        return pd.DataFrame(columns=[*_HASHED, "prev_hash", "row_hash"])
    return store.con.execute("SELECT * FROM ledger_log ORDER BY log_id").df()


def verify_ledger_log(store: SqlStore) -> list[str]:
    """Recompute the hash chain; returns one message per broken row (empty when intact)."""
    log = ledger_log(store)
    problems: list[str] = []
    prev = _GENESIS
    for rec in log.to_dict("records"):
        row = {c: rec[c] for c in _HASHED}
        row["logged_at"] = pd.Timestamp(row["logged_at"]).tz_convert("UTC").to_pydatetime()
        for c in ("batch_id", "record_key", "old_json", "new_json"):
            if (isinstance(row[c], float) and np.isnan(row[c])) or row[c] is pd.NA:
                row[c] = None
        if row["batch_id"] is not None:
            row["batch_id"] = int(row["batch_id"])
        if rec["prev_hash"] != prev:
            problems.append(f"log row {rec['log_id']}: previous hash does not match")
        if _row_hash(rec["prev_hash"], row) != rec["row_hash"]:
            problems.append(f"log row {rec['log_id']}: content does not match its hash")
        prev = rec["row_hash"]
    return problems


# --- ledger records ----------------------------------------------------------------
def _clean(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, np.generic):
        return value.item()
    return value


def get_record(store: SqlStore, table: str, key: str) -> dict[str, Any] | None:
    """One ledger record by its key, or ``None``."""
    spec = gs.LEDGER_TABLES[table]
    if not _exists(store, table):
        return None
    cols = ", ".join(spec.columns)
    row = _one(store, f"SELECT {cols} FROM {table} WHERE {spec.key} = ?", [key])
    if row is None:
        return None
    return {c: _clean(v) for c, v in zip(spec.columns, row, strict=True)}


def require_record(store: SqlStore, table: str, key: str) -> dict[str, Any]:
    rec = get_record(store, table, key)
    if rec is None:
        spec = gs.LEDGER_TABLES[table]
        msg = f"{spec.key} {key!r} is not in {table}"
        raise NotFoundError(msg)
    return rec


def put_record(
    store: SqlStore,
    table: str,
    record: dict[str, Any],
    *,
    actor: str,
    action: str | None = None,
    batch_id: int | None = None,
    ensure: bool = True,
) -> str:
    """Insert or replace one ledger record and log the change.

    Returns ``"added"``, ``"updated"`` or ``"unchanged"`` (an identical record writes
    nothing and logs nothing).
    """
    if ensure:
        ensure_tables(store)
    spec = gs.LEDGER_TABLES[table]
    key = str(record[spec.key])
    new = {c: _clean(record.get(c)) for c in spec.columns}
    with store.transaction():
        old = get_record(store, table, key)
        if old is not None and _record_json(old) == _record_json(new):
            return "unchanged"
        now = datetime.now(UTC)
        cols = ", ".join(spec.columns)
        marks = ", ".join("?" for _ in spec.columns)
        store.con.execute(f"DELETE FROM {table} WHERE {spec.key} = ?", [key])
        store.con.execute(
            f"INSERT INTO {table} ({cols}, updated_at) VALUES ({marks}, ?)",
            [*[new[c] for c in spec.columns], now],
        )
        kind = "added" if old is None else "updated"
        log_write(
            store,
            actor=actor,
            action=action or ("add" if old is None else "update"),
            table=table,
            key=key,
            old=old,
            new=new,
            batch_id=batch_id,
            logged_at=now,
        )
    return kind


def ledger_table(store: SqlStore, table: str) -> pd.DataFrame:
    """Every record of a ledger table (empty frame with the columns when none)."""
    spec = gs.LEDGER_TABLES[table]
    if not _exists(store, table):
        return pd.DataFrame(columns=[*spec.columns, "updated_at"])
    frame = store.con.execute(f"SELECT * FROM {table} ORDER BY {spec.key}").df()
    for f in spec.fields:
        if f.kind == "date":
            frame[f.name] = pd.to_datetime(frame[f.name]).dt.date
            frame[f.name] = frame[f.name].astype(object).where(frame[f.name].notna(), None)
    return frame


# --- data sets (importer snapshots) -------------------------------------------------
def put_dataset(store: SqlStore, table: str, frame: pd.DataFrame, *, batch_id: int) -> int:
    """Add ``frame`` as the rows of ``table`` for ``batch_id``; returns the row count."""
    if table not in DATASET_SOURCE:
        msg = f"{table!r} is not a data-set table; known: {', '.join(DATASET_SOURCE)}"
        raise KeyError(msg)
    data = frame.copy()
    data.insert(0, "batch_id", np.int64(batch_id))
    store.con.register("_ds", data)
    try:
        store.con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM _ds LIMIT 0")
        cols = ", ".join(f'"{c}"' for c in data.columns)
        store.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _ds")
    finally:
        store.con.unregister("_ds")
    return len(data)


def current_batch(store: SqlStore, table: str) -> int | None:
    """The batch id of the current snapshot of ``table`` (its source's latest done batch)."""
    if not _exists(store, table):
        return None
    row = _one(
        store,
        f"SELECT max(t.batch_id) FROM {table} t JOIN batches b USING (batch_id) "
        "WHERE b.status = 'done'",
    )
    return None if row is None or row[0] is None else int(row[0])


def dataset(store: SqlStore, table: str, *, batch_id: int | None = None) -> pd.DataFrame:
    """The current snapshot of a data-set table (or that of ``batch_id``); empty if none."""
    if not _exists(store, table):
        return pd.DataFrame()
    bid = batch_id if batch_id is not None else current_batch(store, table)
    if bid is None:
        return pd.DataFrame()
    return store.con.execute(
        f"SELECT * FROM {table} WHERE batch_id = ? ORDER BY line_no", [bid]
    ).df()


def export_frame(store: SqlStore, table: str) -> pd.DataFrame:
    """Any guarantee table as a frame: a ledger table, a data set, or ``ledger_log``."""
    if table in gs.LEDGER_TABLES:
        return ledger_table(store, table)
    if table in DATASET_SOURCE:
        return dataset(store, table)
    if table == "ledger_log":
        return ledger_log(store)
    known = [*gs.LEDGER_TABLES, *DATASET_SOURCE, "ledger_log"]
    msg = f"table {table!r} is not a guarantee table; known: {', '.join(known)}"
    raise NotFoundError(msg)
