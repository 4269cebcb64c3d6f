"""Copy a whole store to another one: embedded (DuckDB) → team (PostGIS) and back.

Every table is copied as stored (the audit log's entries byte for byte, so its hash chain
still verifies on the target), in one transaction on the target, in chunks of Arrow
record batches (bounded memory; COPY into PostgreSQL). Sequences are moved past the
copied ids. A target that already holds data is refused unless ``force`` (which empties
the copied tables first).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import psycopg
import pyarrow as pa

from ceasewatch.errors import StoreError
from ceasewatch.store.duckdb import DuckDBStore
from ceasewatch.store.open import AnyStore
from ceasewatch.store.postgis import PgResult, PostGISStore, _arrow_type, _coerce, redact

#: tables each store keeps for itself (its own schema bookkeeping, PostGIS' own table)
SKIP_TABLES = frozenset({"meta", "schema_migrations", "spatial_ref_sys"})
#: tables whose rows make a target "not empty"
_CONTENT_TABLES = ("batches", "events", "agreements", "audit_log", "users", "violations")
#: sequences and the column whose maximum they must pass
SEQUENCES = {"batch_seq": ("batches", "batch_id"), "ledger_log_seq": ("ledger_log", "log_id")}

ProgressHook = Callable[[str, int, int], None]


@dataclass
class CopyResult:
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def _describe(store: AnyStore) -> str:
    return redact(store.location) if isinstance(store, PostGISStore) else store.location


def list_tables(store: AnyStore) -> list[str]:
    """The store's own tables (not temporary, not the skipped ones), sorted."""
    if isinstance(store, PostGISStore):
        rows = store.con.raw.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        ).fetchall()
    else:
        rows = store.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name"
        ).fetchall()
    return [str(r[0]) for r in rows if str(r[0]) not in SKIP_TABLES]


def table_columns(store: AnyStore, table: str) -> list[str]:
    """Stored columns of ``table`` in order (PostGIS: without the generated geometry)."""
    if isinstance(store, PostGISStore):
        store._columns.pop(table, None)
        return store.columns(table)
    rows = store.con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [str(r[0]) for r in rows]


def count_rows(store: AnyStore, table: str) -> int:
    row = store.con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    return int(row[0]) if row else 0


def ensure_component_tables(store: AnyStore) -> None:
    """Create every component module's tables on ``store`` (with their keys), so that
    copied rows land in tables the modules can keep writing to."""
    from ceasewatch.store import fires
    from ceasewatch.store import guarantee as sg
    from ceasewatch.store.alerts import AlertStore
    from ceasewatch.store.audit import ensure_audit_table
    from ceasewatch.store.auth import ensure_auth_tables
    from ceasewatch.store.decisions import ensure_decisions_table

    ensure_audit_table(store)
    ensure_auth_tables(store)
    ensure_decisions_table(store)
    AlertStore(store)
    fires.ensure_tables(store)
    sg.ensure_tables(store)


def _batches(store: AnyStore, table: str, cols: list[str], chunk: int) -> Iterator[pa.Table]:
    names = ", ".join(f'"{c}"' for c in cols)
    query = f'SELECT {names} FROM "{table}"'
    if isinstance(store, PostGISStore):
        with psycopg.connect(store.location) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            with conn.transaction(), conn.cursor(name=f"cw_copy_{table}") as cur:
                cur.execute(query.encode())
                assert cur.description is not None
                types = [_arrow_type(d.type_code, None) for d in cur.description]
                while rows := cur.fetchmany(chunk):
                    yield PgResult(cols, types, rows).arrow()
        return
    dcur = store.con.cursor()
    try:
        dcur.execute("SET TimeZone='UTC'")
        reader = dcur.sql(query).to_arrow_reader(chunk)
        for batch in reader:
            yield pa.Table.from_batches([batch])
    finally:
        dcur.close()


def _create_like(target: AnyStore, table: str, sample: pa.Table) -> None:
    """Create ``table`` on the target from the columns of ``sample`` (a data-set table
    that the source created from a frame: CREATE TABLE AS, without keys, as there)."""
    if isinstance(target, PostGISStore):
        from ceasewatch.store.postgis import _pg_type

        cols = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in sample.schema)
        target.con.raw.execute(f'CREATE TABLE IF NOT EXISTS "{table}" ({cols})')
    else:
        target.con.register("_cw_like", sample.slice(0, 0))
        try:
            target.con.execute(f'CREATE TABLE IF NOT EXISTS "{table}" AS SELECT * FROM _cw_like')
        finally:
            target.con.unregister("_cw_like")


def _write(target: AnyStore, table: str, data: pa.Table) -> None:
    if data.num_rows == 0:
        return
    if isinstance(target, PostGISStore):
        target.con.copy_in(table, _coerce(data, target._types(table)))
        return
    target.con.register("_cw_copy", data)
    try:
        names = ", ".join(f'"{c}"' for c in data.column_names)
        target.con.execute(f'INSERT INTO "{table}" ({names}) SELECT {names} FROM _cw_copy')
    finally:
        target.con.unregister("_cw_copy")


def _set_sequences(target: AnyStore) -> None:
    for seq, (table, column) in SEQUENCES.items():
        if table not in list_tables(target):
            continue
        row = target.con.execute(f'SELECT max("{column}") FROM "{table}"').fetchone()
        top = int(row[0]) if row and row[0] is not None else 0
        if isinstance(target, PostGISStore):
            target.con.raw.execute("SELECT setval(%s, %s, %s)", [seq, max(top, 1), top > 0])
        else:
            target.con.execute(f"DROP SEQUENCE IF EXISTS {seq}")
            target.con.execute(f"CREATE SEQUENCE {seq} START {top + 1}")


def copy_store(
    source: AnyStore,
    target: AnyStore,
    *,
    force: bool = False,
    chunk_rows: int = 100_000,
    progress: ProgressHook | None = None,
) -> CopyResult:
    """Copy every table of ``source`` into ``target`` (one transaction on the target)."""
    if source.location == target.location:
        msg = "the source and the target are the same store"
        raise StoreError(msg)
    ensure_component_tables(target)
    target_tables = set(list_tables(target))
    busy = {t: count_rows(target, t) for t in _CONTENT_TABLES if t in target_tables}
    if any(busy.values()) and not force:
        held = ", ".join(f"{t}: {n:,}" for t, n in busy.items() if n)
        msg = (
            f"the target {_describe(target)} is not empty ({held}); copy into an empty store, "
            "or pass --force to replace the tables copied"
        )
        raise StoreError(msg)
    tables = list_tables(source)
    totals = {t: count_rows(source, t) for t in tables}
    result = CopyResult()
    with target.transaction():
        for table in tables:
            cols = table_columns(source, table)
            if table in target_tables:
                have = set(table_columns(target, table))
                missing = [c for c in cols if c not in have]
                if missing:
                    msg = (
                        f"table {table}: the target has no column(s) {', '.join(missing)} "
                        "(migrate the target first: `ceasewatch store migrate`)"
                    )
                    raise StoreError(msg)
                if force:
                    target.con.execute(f'DELETE FROM "{table}"')
            done = 0
            created = table in target_tables
            if progress is not None:
                progress(table, 0, totals[table])
            for data in _batches(source, table, cols, chunk_rows):
                if not created:
                    _create_like(target, table, data)
                    created = True
                _write(target, table, data)
                done += data.num_rows
                if progress is not None:
                    progress(table, done, totals[table])
            if not created:  # an empty table the target lacks: create it empty
                sample = _empty_sample(source, table, cols)
                _create_like(target, table, sample)
            result.tables[table] = done
        _set_sequences(target)
    return result


def _empty_sample(source: AnyStore, table: str, cols: list[str]) -> pa.Table:
    names = ", ".join(f'"{c}"' for c in cols)
    if isinstance(source, PostGISStore):
        res: Any = source.con.execute(f'SELECT {names} FROM "{table}" LIMIT 0')
        return res.arrow()
    assert isinstance(source.con, duckdb.DuckDBPyConnection)
    return source.con.sql(f'SELECT {names} FROM "{table}" LIMIT 0').to_arrow_table()


__all__ = ["CopyResult", "DuckDBStore", "copy_store", "list_tables"]
