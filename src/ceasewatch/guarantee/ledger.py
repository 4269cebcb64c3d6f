"""The working group's ledger through the store: add, update, change status, import.

Every write goes through :func:`ceasewatch.store.guarantee.put_record`, which logs the old
and new record in ``ledger_log``. A ledger file (YAML with one section per table, or CSV
named after its table; format in ``docs/guarantees.md``) is imported as a batch: records
that cannot be accepted go to quarantine with their line and the reason, the rest load.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from ceasewatch.errors import IngestError
from ceasewatch.guarantee import schema as gs
from ceasewatch.guarantee.commitments import (
    LedgerError,
    TransitionError,
    apply_status,
    check_transition,
    parse_record,
)
from ceasewatch.ingest.pipeline import BatchResult, file_sha256
from ceasewatch.store import guarantee as sg

if TYPE_CHECKING:
    from ceasewatch.store.open import AnyStore

#: tables in the order an import applies them (referenced tables first)
IMPORT_ORDER: tuple[str, ...] = (
    "guarantors",
    "commitments",
    "contingents",
    "guarantor_support",
    "protected_zones",
    "meetings",
)

#: the fields of each table that must name a known guarantor / commitment / contingent
_REFS: dict[str, tuple[tuple[str, str], ...]] = {
    "commitments": (("guarantor_id", "guarantors"),),
    "contingents": (("guarantor_id", "guarantors"), ("commitment_id", "commitments")),
    "guarantor_support": (
        ("provider_id", "guarantors"),
        ("recipient_id", "guarantors"),
        ("contingent_id", "contingents"),
        ("commitment_id", "commitments"),
    ),
    "protected_zones": (("guarantor_id", "guarantors"), ("commitment_id", "commitments")),
}


def _known(store: AnyStore, table: str) -> set[str]:
    frame = sg.ledger_table(store, table)
    return set(frame[gs.LEDGER_TABLES[table].key].astype(str))


def reference_problems(
    store: AnyStore,
    table: str,
    record: Mapping[str, Any],
    *,
    known_ids: Mapping[str, set[str]] | None = None,
) -> list[str]:
    """Fields of ``record`` that name a guarantor/commitment/contingent that does not exist.

    ``known_ids``: the keys of each table, when the caller keeps them (an import does).
    """
    problems = []
    for field, target in _REFS.get(table, ()):
        value = record.get(field)
        if value is None:
            continue
        known = known_ids[target] if known_ids is not None else _known(store, target)
        if str(value) not in known:
            problems.append(
                f"{field} {value!r} is not in {target} (add it there first)"
                if known
                else f"{field} {value!r}: {target} is empty (add it there first)"
            )
    return problems


def add_record(
    store: AnyStore, table: str, raw: Mapping[str, Any], *, actor: str
) -> dict[str, Any]:
    """Add a new record to a ledger table; refuses a key that exists already."""
    spec = gs.LEDGER_TABLES[table]
    record, problems = parse_record(spec, raw)
    problems += reference_problems(store, table, record)
    if not problems and sg.get_record(store, table, str(record[spec.key])) is not None:
        problems.append(
            f"{spec.key} {record[spec.key]!r} already exists in {table}; update it instead"
        )
    if problems:
        msg = f"{table}: " + "; ".join(problems)
        raise LedgerError(msg)
    if table == "commitments":
        status = record["status"]
        if record.get(gs.STATUS_DATE[status]) is None and status != "proposed":
            # the date of the status it enters with defaults to today
            record[gs.STATUS_DATE[status]] = datetime.now(UTC).date()
        if record.get("proposed_on") is None and status == "proposed":
            record["proposed_on"] = datetime.now(UTC).date()
    sg.put_record(store, table, record, actor=actor, action="add")
    return record


def update_record(
    store: AnyStore, table: str, key: str, changes: Mapping[str, Any], *, actor: str
) -> dict[str, Any]:
    """Change fields of an existing record (a commitment's status only via :func:`set_status`)."""
    spec = gs.LEDGER_TABLES[table]
    old = sg.require_record(store, table, key)
    if spec.key in changes and str(changes[spec.key]) != key:
        msg = f"{spec.key} cannot be changed ({key!r} → {changes[spec.key]!r})"
        raise LedgerError(msg)
    if table == "commitments" and "status" in changes and changes["status"] != old["status"]:
        msg = (
            f"commitment {key!r}: change the status with set-status "
            f"(it records the date and checks the lifecycle)"
        )
        raise LedgerError(msg)
    merged = {**old, **changes}
    record, problems = parse_record(spec, merged)
    problems += reference_problems(store, table, record)
    if problems:
        msg = f"{table} {key!r}: " + "; ".join(problems)
        raise LedgerError(msg)
    sg.put_record(store, table, record, actor=actor, action="update")
    return record


def add_guarantor(
    store: AnyStore,
    guarantor_id: str,
    name: str,
    *,
    kind: str = "country",
    source: str | None = None,
    notes: str | None = None,
    actor: str,
) -> dict[str, Any]:
    """Add a guarantor (a country or an organisation)."""
    return add_record(
        store,
        "guarantors",
        {
            "guarantor_id": guarantor_id,
            "name": name,
            "kind": kind,
            "source": source,
            "notes": notes,
        },
        actor=actor,
    )


def add_commitment(store: AnyStore, *, actor: str, **fields: Any) -> dict[str, Any]:
    """Add a commitment (``status`` defaults to ``proposed``; its date to today)."""
    fields.setdefault("status", "proposed")
    return add_record(store, "commitments", fields, actor=actor)


def set_status(
    store: AnyStore,
    commitment_id: str,
    status: str,
    *,
    on: date | None = None,
    delivered_quantity: float | None = None,
    note: str | None = None,
    source: str | None = None,
    actor: str,
) -> dict[str, Any]:
    """Move a commitment one step along its lifecycle, recording the date (default today).

    Raises :class:`TransitionError` for a step the lifecycle does not allow.
    """
    old = sg.require_record(store, "commitments", commitment_id)
    new = apply_status(
        old, status, on=on or datetime.now(UTC).date(), delivered_quantity=delivered_quantity
    )
    if note:
        new["notes"] = f"{old['notes']}; {note}" if old.get("notes") else note
    if source:
        new["source"] = source
    sg.put_record(store, "commitments", new, actor=actor, action=f"status:{status}")
    return new


# --- ledger files ---------------------------------------------------------------------
@dataclass
class LedgerRow:
    """One record of a ledger file with where it came from."""

    table: str
    line_no: int
    raw: dict[str, Any]


def _table_name(name: str) -> str | None:
    name = gs.SECTION_ALIASES.get(name, name)
    return name if name in gs.LEDGER_TABLES else None


def read_ledger_file(
    path: Path, *, table: str | None = None
) -> tuple[list[LedgerRow], list[tuple[int, str]]]:
    """The records of a YAML or CSV ledger file, each with its line number.

    Returns the rows and file-level problems as (line, message): an unknown section, a
    section that is not a list. A CSV file holds one
    table: named by ``table`` or by the file name (``commitments.csv``).
    """
    path = Path(path)
    if not path.is_file():
        msg = f"ledger file {str(path)!r} does not exist or is not a file"
        raise IngestError(msg)
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".yaml", ".yml"):
        return _yaml_rows(path, text)
    if path.suffix.lower() == ".csv":
        name = _table_name(table or path.stem)
        if name is None:
            msg = (
                f"{path.name}: a CSV ledger file holds one table, named by --table or by the "
                f"file name; {table or path.stem!r} is none of {', '.join(gs.LEDGER_TABLES)}"
            )
            raise IngestError(msg)
        return list(_csv_rows(text, name)), []
    msg = f"{path.name}: a ledger file is .yaml, .yml or .csv"
    raise IngestError(msg)


def _csv_rows(text: str, table: str) -> Iterator[LedgerRow]:
    reader = csv.DictReader(io.StringIO(text))
    start = 2
    for row in reader:
        yield LedgerRow(table, start, {k: v for k, v in row.items() if k is not None})
        start = reader.line_num + 1


def _yaml_rows(path: Path, text: str) -> tuple[list[LedgerRow], list[tuple[int, str]]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        msg = f"{path.name} is not valid YAML: {e}"
        raise IngestError(msg) from e
    if data is None:
        return [], []
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        msg = f"{path.name}: a YAML ledger is a mapping of sections ({', '.join(IMPORT_ORDER)})"
        raise IngestError(msg)
    rows: list[LedgerRow] = []
    problems: list[tuple[int, str]] = []
    for key_node, val_node in node.value:
        section = str(key_node.value)
        line = key_node.start_mark.line + 1
        table = _table_name(section)
        if table is None:
            problems.append(
                (
                    line,
                    f"section {section!r} is not a ledger table; known: {', '.join(IMPORT_ORDER)}",
                )
            )
            continue
        items = data.get(section) or []
        if not isinstance(items, list) or not isinstance(val_node, yaml.SequenceNode):
            problems.append((line, f"section {section!r} must be a list of records"))
            continue
        for item_node, item in zip(val_node.value, items, strict=True):
            at = item_node.start_mark.line + 1
            rows.append(LedgerRow(table, at, item if isinstance(item, dict) else {"_": item}))
    return rows, problems


def _import_step(old: dict[str, Any], new: dict[str, Any]) -> None:
    """An imported commitment may move forward several steps, never back or sideways."""
    a, b = old["status"], new["status"]
    if a == b:
        return
    order = gs.STATUSES
    forward = b == "withdrawn" or (
        order.index(b) > order.index(a) and not (a in gs.FULFILLED and b in gs.FULFILLED)
    )
    if a == "withdrawn" or not forward:
        check_transition(str(old["commitment_id"]), str(old["component"]), a, b)


def import_ledger(
    store: AnyStore,
    path: Path,
    *,
    actor: str,
    table: str | None = None,
) -> BatchResult:
    """Import a ledger file as one batch: valid records are added or updated (and logged),
    the others quarantined with their line and reason. The same file twice adds nothing."""
    t0 = time.perf_counter()
    path = Path(path)
    rows, file_problems = read_ledger_file(path, table=table)
    sha = file_sha256(path)
    result = BatchResult(gs.SOURCE_LEDGER, path.name, sha, None)
    prev = store.find_batch(gs.SOURCE_LEDGER, sha)
    if prev is not None:
        result.batch_id = int(prev["batch_id"])
        result.skipped_file = True
        return result
    sg.ensure_tables(store)
    quarantine: list[dict[str, Any]] = []
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    with store.transaction():
        batch_id = store.begin_batch(
            {
                "source": gs.SOURCE_LEDGER,
                "file_name": path.name,
                "file_path": str(path.resolve()),
                "file_sha256": sha,
                "file_bytes": path.stat().st_size,
                "started_at": datetime.now(UTC),
            }
        )
        result.batch_id = batch_id
        for line, problem in file_problems:
            quarantine.append({"line_no": line, "reason": problem, "raw": "{}"})
        order = {t: i for i, t in enumerate(IMPORT_ORDER)}
        known = {t: _known(store, t) for t in gs.LEDGER_TABLES}
        for row in sorted(rows, key=lambda r: (order[r.table], r.line_no)):
            result.rows_read += 1
            spec = gs.LEDGER_TABLES[row.table]
            record, problems = parse_record(spec, row.raw)
            if not problems:
                problems = reference_problems(store, row.table, record, known_ids=known)
            old = None
            if not problems:
                old = sg.get_record(store, row.table, str(record[spec.key]))
                if row.table == "commitments" and old is not None:
                    try:
                        _import_step(old, record)
                    except TransitionError as e:
                        problems.append(str(e))
            if problems:
                quarantine.append(
                    {
                        "line_no": row.line_no,
                        "reason": f"{row.table}: " + "; ".join(problems),
                        "raw": json.dumps(row.raw, default=str, ensure_ascii=False),
                    }
                )
                continue
            kind = sg.put_record(
                store,
                row.table,
                record,
                actor=actor,
                action="import",
                batch_id=batch_id,
                ensure=False,
            )
            known[row.table].add(str(record[spec.key]))
            counts[kind] += 1
        if quarantine:
            q = pd.DataFrame(quarantine).assign(
                batch_id=batch_id, source=gs.SOURCE_LEDGER, file_name=path.name
            )
            store.add_quarantine(q)
            for reason in q["reason"]:
                head = str(reason).split("'")[0].strip() or str(reason)[:40]
                result.reasons[head] = result.reasons.get(head, 0) + 1
        result.loaded = counts["added"]
        result.new_version = counts["updated"]
        result.unchanged = counts["unchanged"]
        result.quarantined = len(quarantine)
        store.finish_batch(
            batch_id,
            {
                "loaded": result.loaded,
                "new_version": result.new_version,
                "unchanged": result.unchanged,
                "quarantined": result.quarantined,
            },
        )
    result.seconds = time.perf_counter() - t0
    return result


def ledger_frames(store: AnyStore) -> dict[str, pd.DataFrame]:
    """Every ledger table as a frame, by table name."""
    return {t: sg.ledger_table(store, t) for t in gs.LEDGER_TABLES}
