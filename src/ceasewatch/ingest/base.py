"""What every event source adapter provides, and the checks they share.

An adapter reads a file in chunks of raw text rows and normalizes each chunk, vectorized,
into canonical events plus quarantined rows (line number, reason, raw record).
"""

from __future__ import annotations

import atexit
import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ceasewatch.errors import CeasewatchError
from ceasewatch.ingest.csvstream import (
    COMMON_BYTES,
    BadRow,
    ProgressFn,
    check_columns,
    iter_csv_chunks,
    read_header,
    uncommon_bytes,
)
from ceasewatch.normalize import schema

QUARANTINE_COLUMNS = (schema.LINE_NO, "reason", schema.RAW)


class RowChecks:
    """Collects, per row, the first reason it cannot be loaded.

    Usage: ``checks.flag(mask, "reason")`` for every rule, then ``checks.ok`` is the mask
    of good rows and ``checks.quarantine(raw)`` the frame of bad ones.
    """

    def __init__(self, index: pd.Index) -> None:
        self.reason = pd.Series(pd.NA, index=index, dtype="object")

    def flag(self, mask: pd.Series | np.ndarray, reason: str | pd.Series) -> None:
        mask = pd.Series(np.asarray(mask, dtype=bool), index=self.reason.index)
        new = mask & self.reason.isna()
        if not new.any():
            return
        if isinstance(reason, pd.Series):
            self.reason[new] = reason[new].astype(str)
        else:
            self.reason[new] = reason

    @property
    def ok(self) -> pd.Series:
        return self.reason.isna()

    def quarantine(self, raw_json: pd.Series, line_no: pd.Series) -> pd.DataFrame:
        bad = ~self.ok
        return pd.DataFrame(
            {
                schema.LINE_NO: line_no[bad].astype("int64").to_numpy(),
                "reason": self.reason[bad].astype(str).to_numpy(),
                schema.RAW: raw_json[bad].to_numpy(),
            }
        )


_JSON_LOCK = threading.Lock()
_JSON_CON: list[duckdb.DuckDBPyConnection] = []


def _json_connection() -> duckdb.DuckDBPyConnection:
    # one in-memory connection for the process (opening one costs tens of milliseconds),
    # used under a lock and closed at exit: a connection left to a worker thread's
    # teardown can abort the interpreter
    if not _JSON_CON:
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")  # TIMESTAMPTZ results come back as UTC
        _JSON_CON.append(con)
        atexit.register(con.close)
    return _JSON_CON[0]


#: :func:`rows_to_json` writes a frame of at most this many rows in Python
#: (:func:`small_rows_json`) instead of with a DuckDB query, whose fixed cost is milliseconds
SMALL_BATCH_ROWS = 64
#: the escapes DuckDB's ``to_json`` writes inside a JSON string (upper-case hex)
_JSON_ESCAPES: dict[int, str] = {i: f"\\u{i:04X}" for i in range(0x20)}
_JSON_ESCAPES.update(
    {ord("\b"): "\\b", ord("\t"): "\\t", ord("\n"): "\\n", ord("\f"): "\\f", ord("\r"): "\\r"}
)
_JSON_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\"})
_PLAIN_KEY = re.compile(r'[^\x00-\x1f"\\]*')


def small_rows_json(columns: Mapping[str, Sequence[object]]) -> list[str] | None:
    """Each row of a few text columns as the JSON object text :func:`rows_to_json` writes
    (DuckDB's ``to_json``), byte for byte, built in Python; ``None`` when a value is not
    text, a column name needs escaping or a text cannot be written as UTF-8 (the caller
    then asks DuckDB: :func:`rows_to_json_sql`). Keys are in the order of ``columns``."""
    names = list(columns)
    if not all(_PLAIN_KEY.fullmatch(k) for k in names):
        return None
    cols = [columns[k] for k in names]
    n = len(cols[0]) if cols else 0
    quoted: list[list[str]] = []
    for values in cols:
        if len(values) != n:
            return None
        out = []
        for v in values:
            if type(v) is not str:
                return None
            out.append('"' + v.translate(_JSON_ESCAPES) + '"')
        quoted.append(out)
    heads = [("{" if i == 0 else ",") + '"' + k + '":' for i, k in enumerate(names)]
    rows = ["".join(h + q[r] for h, q in zip(heads, quoted, strict=True)) + "}" for r in range(n)]
    try:
        for row in rows:
            row.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: DuckDB decides what that is
        return None
    return rows if names else ["{}"] * n


def rows_to_json(frame: pd.DataFrame) -> pd.Series:
    """Each row as a JSON object string (the raw source record kept with the event).

    The text DuckDB's ``to_json`` writes for the row, built by :func:`json_object_sql`;
    for a frame of at most :data:`SMALL_BATCH_ROWS` rows of text, the same text built in
    Python (:func:`small_rows_json`).
    """
    if frame.empty:
        return pd.Series([], index=frame.index, dtype="object")
    if len(frame) <= SMALL_BATCH_ROWS and frame.columns.is_unique:
        rows = small_rows_json({str(c): frame[c].tolist() for c in frame.columns})
        if rows is not None:
            return pd.Series(rows, index=frame.index, dtype="object")
    return rows_to_json_sql(frame)


def rows_to_json_sql(frame: pd.DataFrame) -> pd.Series:
    """:func:`rows_to_json` by DuckDB, whatever the frame's size."""
    if frame.empty:
        return pd.Series([], index=frame.index, dtype="object")
    with _JSON_LOCK:
        con = _json_connection()
        con.register("_rows", frame.reset_index(drop=True))
        try:
            expr = json_object_sql(con, "_rows", [str(c) for c in frame.columns])
            table = con.sql(f"SELECT {expr} AS j FROM _rows t").to_arrow_table()
        finally:
            con.unregister("_rows")
    return pd.Series(table.column(0).to_pylist(), index=frame.index, dtype="object")


def json_lock() -> threading.Lock:
    """The lock that guards :func:`json_connection`."""
    return _JSON_LOCK


def json_connection() -> duckdb.DuckDBPyConnection:
    """The process's in-memory DuckDB connection for per-chunk SQL (hold :func:`json_lock`)."""
    return _json_connection()


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: characters JSON must escape inside a string (DuckDB writes them as escapes)
_JSON_SPECIAL = '[\\x00-\\x1f"\\\\]'


def text_has_bytes(column: pa.ChunkedArray | pa.Array, mask: np.ndarray) -> bool:
    """Whether any value of a text column holds a byte ``b`` with ``mask[b]`` (a 256-entry
    boolean table); scans the Arrow data buffers at once, no Python per value (bytes
    outside a sliced array are scanned too: a false alarm only costs the slow path)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    # every byte not in ``mask`` deleted in one C pass: what is left are the hits
    others = bytes(np.flatnonzero(~np.asarray(mask, dtype=bool)).astype(np.uint8))
    for chunk in chunks:
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            return True
        data = chunk.buffers()[2]
        if data is not None and data.to_pybytes().translate(None, others):
            return True
    return False


def columns_with_bytes(table: pa.Table, names: Iterable[str], mask: np.ndarray) -> set[str]:
    """The columns among ``names`` whose values hold a byte ``b`` with ``mask[b]``
    (:func:`text_has_bytes` per column). A table from the line reader names the uncommon
    bytes of its block (:func:`~ceasewatch.ingest.csvstream.uncommon_bytes`): when ``mask``
    marks only uncommon bytes and the block held none of them, no column is scanned."""
    seen = uncommon_bytes(table)
    if (
        seen is not None
        and not mask[np.frombuffer(COMMON_BYTES, dtype=np.uint8)].any()
        and not any(mask[b] for b in seen)
    ):
        return set()
    return {c for c in names if text_has_bytes(table.column(c), mask)}


#: bytes JSON must escape inside a string: control characters, quote, backslash
JSON_SPECIAL_BYTES = np.zeros(256, dtype=bool)
JSON_SPECIAL_BYTES[:0x20] = True
JSON_SPECIAL_BYTES[[ord('"'), ord("\\")]] = True


def json_object_sql(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    columns: list[str],
    table: pa.Table | None = None,
) -> str:
    """A SQL expression over ``relation`` (alias ``t``) giving each row of ``columns`` as
    the JSON object text DuckDB's ``to_json(t)`` writes, byte for byte.

    ``to_json`` of a whole row builds a JSON document per row; this concatenates the keys
    with the values instead, quoting text values directly and escaping (with ``to_json``)
    only the columns that hold a character JSON must escape in this relation: about four
    times faster on typical text. Columns of other types, keys that need escaping and
    repeated names fall back to ``to_json`` itself. With ``table`` (the Arrow data behind
    ``relation``) the check for such characters scans its buffers instead of SQL.
    """
    if len(set(columns)) != len(columns):
        return "to_json(t)::VARCHAR"  # only ``relation``'s own columns can repeat a name
    if any(re.search(r'[\x00-\x1f"\\]', c) for c in columns):
        fields = ", ".join(f"{_quote_ident(c)} := t.{_quote_ident(c)}" for c in columns)
        return f"to_json(struct_pack({fields}))::VARCHAR"
    described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    types = {row[0]: str(row[1]) for row in described}
    text_cols = [c for c in columns if types.get(c) == "VARCHAR"]
    special: set[str] = set()
    if table is not None:
        special = columns_with_bytes(table, text_cols, JSON_SPECIAL_BYTES)
    elif text_cols:
        checks = ", ".join(
            f"coalesce(bool_or(regexp_matches({_quote_ident(c)}, '{_JSON_SPECIAL}')), false)"
            for c in text_cols
        )
        row = con.execute(f"SELECT {checks} FROM {relation}").fetchall()[0]
        assert row is not None
        special = {c for c, hit in zip(text_cols, row, strict=True) if hit}
    # pieces of one ``concat``: literal text (adjacent ones merged) or SQL expressions; a
    # text column known to hold no NULL and nothing to escape is a piece as it is
    pieces: list[tuple[bool, str]] = []

    def literal(text: str) -> None:
        if pieces and pieces[-1][0]:
            pieces[-1] = (True, pieces[-1][1] + text)
        else:
            pieces.append((True, text))

    for i, c in enumerate(columns):
        literal(("{" if i == 0 else ",") + '"' + c + '":')
        col = "t." + _quote_ident(c)
        if c in text_cols and c not in special:
            if table is not None and table.column(c).null_count == 0:
                literal('"')
                pieces.append((False, col))
                literal('"')
            else:
                pieces.append((False, f"coalesce('\"' || {col} || '\"', 'null')"))
        else:
            pieces.append((False, f"coalesce(to_json({col})::VARCHAR, 'null')"))
    literal("}" if columns else "{}")
    if len(pieces) == 1:
        return _quote_literal(pieces[0][1])
    return "concat(" + ", ".join(_quote_literal(v) if lit else v for lit, v in pieces) + ")"


def bad_rows_frame(bad: list[BadRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            schema.LINE_NO: [b.line_no for b in bad],
            "reason": [f"malformed row: {b.reason}" for b in bad],
            schema.RAW: [json.dumps({"_text": b.text}, ensure_ascii=False) for b in bad],
        }
    )


RecordsFrame = Callable[[list[object], list[int]], tuple[pd.DataFrame, list[BadRow]]]


def iter_json_lines(
    path: Path,
    to_frame: RecordsFrame,
    *,
    chunk_records: int,
    on_read: ProgressFn | None = None,
) -> Iterator[tuple[pd.DataFrame, list[BadRow]]]:
    """A JSON Lines file in chunks of ``chunk_records`` objects, streamed; a line that is
    not valid JSON (or not UTF-8) is a bad row with its line number. ``to_frame`` turns
    the parsed objects and their line numbers into the source's raw frame."""
    records: list[object] = []
    lines: list[int] = []
    bad: list[BadRow] = []
    with open(path, "rb") as fh:
        for i, line in enumerate(fh, start=1):
            if on_read is not None:
                on_read(len(line))
            if not line.strip():
                continue
            try:
                records.append(json.loads(line.decode("utf-8")))
                lines.append(i)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                bad.append(BadRow(i, f"not valid JSON: {e}", text))
            if len(records) >= chunk_records:
                frame, more = to_frame(records, lines)
                yield frame, bad + more
                records, lines, bad = [], [], []
    frame, more = to_frame(records, lines)
    yield frame, bad + more


def empty_events() -> pd.DataFrame:
    return schema.EVENT_SCHEMA.empty_table().to_pandas()


def to_float(values: pd.Series) -> pd.Series:
    """Text to float; empty and unparseable values become NaN."""
    return pd.to_numeric(values.astype(str).str.strip().replace("", np.nan), errors="coerce")


class EventSource(ABC):
    """A source format that becomes canonical events."""

    #: the ``source`` value of its events and the CLI name (``ceasewatch ingest <name>``)
    name: ClassVar[str]
    #: human-readable name used in messages
    title: ClassVar[str]
    #: columns a file must have to be of this format
    required_columns: ClassVar[frozenset[str]]
    #: encoding of the bytes of a CSV file that are not valid UTF-8 (None: such a file
    #: cannot be read); the rows are loaded with their decoded text and a note
    fallback_encoding: ClassVar[str | None] = None

    def read_chunks(
        self, path: Path, *, on_read: ProgressFn | None = None
    ) -> Iterator[tuple[pd.DataFrame, list[BadRow]]]:
        """Raw text rows in chunks (CSV by default; JSON sources override)."""
        header = read_header(path)
        check_columns(path, header, self.required_columns, self.title)
        yield from iter_csv_chunks(
            path, header, on_read=on_read, fallback_encoding=self.fallback_encoding
        )

    @abstractmethod
    def normalize(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Canonical events (``schema.EVENT_COLUMNS``) and quarantine rows of one chunk."""


_REGISTRY: dict[str, type[EventSource]] = {}


def register_source(cls: type[EventSource]) -> type[EventSource]:
    """Class decorator: make a source available by name; refuses a silent overwrite."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        msg = f"source {cls.name!r} is already registered by {_REGISTRY[cls.name].__name__}"
        raise CeasewatchError(msg)
    _REGISTRY[cls.name] = cls
    return cls


def get_source(name: str) -> EventSource:
    """An instance of the registered source ``name``."""
    from ceasewatch.ingest import acled, claims, eor, field_report, firms, ucdp  # noqa: F401

    try:
        return _REGISTRY[name]()
    except KeyError:
        msg = f"unknown source {name!r}; known: {', '.join(sorted(_REGISTRY))}"
        raise CeasewatchError(msg) from None


def registered_sources() -> list[str]:
    from ceasewatch.ingest import acled, claims, eor, field_report, firms, ucdp  # noqa: F401

    return sorted(_REGISTRY)
