"""Streaming CSV reading with exact line numbers and a quarantine for malformed rows.

Files are read in blocks with pyarrow (every column as text), so a 10 GB file needs a few
blocks of memory, not 10 GB. Rows with the wrong number of fields are handed back as
quarantine rows with their line number; every good row carries the physical line number
where it starts in the file (quoted fields may span several lines).

While no quote character has been met, rows are lines: the file is cut into blocks at line
ends and each block parsed on all cores (:func:`_iter_line_blocks`); from the first block
with a quote on, Arrow's quote-aware streaming reader takes over, numbered on from there.

Text is UTF-8. Arrow refuses a whole file for one byte that is not UTF-8, so a source that
meets files of mixed encoding (UCDP exports that passed through Excel carry cp1252 bytes)
passes ``fallback_encoding``: the stream is then decoded as UTF-8 on the way in, each
undecodable byte is carried through Arrow as a private-use character, and each value that
holds such bytes is decoded per value: valid UTF-8 in it stays as it is, every run of other
bytes is read in the fallback encoding (bytes that encoding does not define as Latin-1, so
nothing is ever lost or replaced). The names of the fields so decoded are reported per row
in :data:`FALLBACK_FIELDS`, so the source can say so on the event.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ceasewatch.errors import IngestError, SourceFormatError
from ceasewatch.normalize import schema

ProgressFn = Callable[[int], None]

#: column added to each chunk when reading with ``fallback_encoding``: the comma-separated
#: names of the row's fields that were not UTF-8 and were decoded with the fallback ("" when
#: the row was all UTF-8)
FALLBACK_FIELDS = "_fallback_fields"

# an undecodable byte b travels through Arrow as the code point U+10FF00 + b (the last 256
# code points of plane 16, private use, which real text does not contain); only bytes
# 0x80-0xFF can be undecodable, so the escapes are U+10FF80-U+10FFFF
_ESCAPE_BASE = 0x10FF00
_ESCAPE_ERRORS = "ceasewatch.escape-bytes"
_LATIN1_ERRORS = "ceasewatch.latin-1"
_ESCAPED_RUN = re.compile("[\U0010ff80-\U0010ffff]+")
_ESCAPED_RE2 = "[\\x{10ff80}-\\x{10ffff}]"


def _escape_bytes(err: UnicodeError) -> tuple[str, int]:
    assert isinstance(err, UnicodeDecodeError)
    bad = err.object[err.start : err.end]
    return "".join(chr(_ESCAPE_BASE + b) for b in bad), err.end


def _latin1_bytes(err: UnicodeError) -> tuple[str, int]:
    # bytes the fallback encoding leaves undefined (cp1252: 0x81 0x8d 0x8f 0x90 0x9d)
    assert isinstance(err, UnicodeDecodeError)
    return err.object[err.start : err.end].decode("latin-1"), err.end


codecs.register_error(_ESCAPE_ERRORS, _escape_bytes)
codecs.register_error(_LATIN1_ERRORS, _latin1_bytes)


def decode_escaped(text: str, fallback_encoding: str) -> str:
    """``text`` with every run of escaped undecodable bytes decoded in the fallback."""

    def one(m: re.Match[str]) -> str:
        raw = bytes(ord(c) - _ESCAPE_BASE for c in m.group())
        return raw.decode(fallback_encoding, errors=_LATIN1_ERRORS)

    return _ESCAPED_RUN.sub(one, text)


@dataclass(frozen=True)
class BadRow:
    """A row that could not even be split into the header's fields."""

    line_no: int
    reason: str
    text: str


class _CountingReader(io.RawIOBase):
    """A file wrapper that reports how many bytes were read (for progress bars).

    A read never ends with ``\r`` (it is held back for the next read): Arrow's CSV reader
    drops the ``\n`` of a quoted ``\r\n`` that straddles two reads (apache/arrow#51368),
    which corrupts the value and shifts every later line number.

    With ``escape_invalid`` the bytes are decoded as UTF-8 on the way in and re-encoded, each
    undecodable byte as an escape code point (see ``_ESCAPE_BASE``), so that Arrow only ever
    sees valid UTF-8; newlines and delimiters are ASCII and keep their places.
    """

    def __init__(
        self, raw: BinaryIO, on_read: ProgressFn | None, *, escape_invalid: bool = False
    ) -> None:
        self._raw = raw
        self._on_read = on_read
        self._pending = b""
        self._eof = False
        #: whether any byte read so far is a quote (only then can a value hold a newline)
        self.saw_quote = False
        self._decoder = (
            codecs.getincrementaldecoder("utf-8")(errors=_ESCAPE_ERRORS) if escape_invalid else None
        )

    def readable(self) -> bool:
        return True

    def _fill(self, want: int) -> None:
        fresh = self._raw.read(max(want, 1))
        if fresh:
            if self._on_read is not None:
                self._on_read(len(fresh))
            if self._decoder is not None:
                fresh = self._decoder.decode(fresh).encode("utf-8")
        else:
            self._eof = True
            if self._decoder is not None:
                fresh = self._decoder.decode(b"", final=True).encode("utf-8")
        if not self.saw_quote and b'"' in fresh:
            self.saw_quote = True
        self._pending += fresh

    def read(self, size: int | None = -1) -> bytes:
        if (
            size is not None
            and size > 1
            and self._decoder is None
            and not self._pending
            and not self._eof
        ):
            # Arrow reads through ``read``: the file's bytes as they come, no copy through
            # ``_pending`` and a buffer (what ``readinto`` below does, the slow way)
            data = self._raw.read(size)
            if not data:
                self._eof = True
                return b""
            if self._on_read is not None:
                self._on_read(len(data))
            if not self.saw_quote and b'"' in data:
                self.saw_quote = True
            if len(data) > 1 and data.endswith(b"\r"):  # held back, as in ``readinto``
                self._pending = b"\r"
                data = data[:-1]
            return data
        return super().read(-1 if size is None else size)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        size = len(buffer)
        while True:
            if not self._eof and len(self._pending) < size:
                self._fill(size - len(self._pending))
            data = self._pending[:size]
            at_end = self._eof and len(data) == len(self._pending)
            if len(data) > 1 and data.endswith(b"\r") and not at_end:
                data = data[:-1]
            # nothing to hand out yet only while a multi-byte character is incomplete
            if data or at_end:
                break
        self._pending = self._pending[len(data) :]
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def read_header(path: Path, *, encoding: str = "utf-8") -> list[str]:
    """Column names of a CSV file (first line), stripped of a byte-order mark."""
    with open(path, "rb") as fh:
        first = fh.readline()
    # a file with lone ``\r`` line ends (old Mac exports) has its header before the first
    # ``\r`` (``readline`` only splits at ``\n``)
    first = first.rstrip(b"\r\n").split(b"\r", 1)[0]
    text = first.decode(encoding, errors="replace").lstrip("\ufeff")
    if not text.strip():
        msg = f"{path}: the file is empty or has no header line"
        raise IngestError(msg)
    return next(csv.reader([text]))


#: schema metadata of a table read as rows that are lines: every byte but line ends and
#: :data:`COMMON_BYTES` that its block holds (see :func:`uncommon_bytes`)
UNCOMMON_BYTES_KEY = b"ceasewatch.uncommon_bytes"
#: printable ASCII but the quote and the backslash: bytes that need no stripping and no
#: JSON escape (space is not one of them)
COMMON_BYTES = bytes(b for b in range(0x21, 0x7F) if b not in b'"\\')
_COMMON_OR_LINE_END = COMMON_BYTES + b"\n\r"


def file_has_byte(path: Path, byte: bytes, *, block: int = 16 << 20) -> bool:
    """Whether the file holds ``byte`` anywhere (a C scan per block, no decoding)."""
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            if byte in chunk:
                return True
    return False


def _uncommon_bytes(data: bytes) -> frozenset[int]:
    """The distinct bytes of ``data`` other than :data:`COMMON_BYTES` and line ends (one C
    pass deletes those; what is left is usually nothing)."""
    rest = data.translate(None, _COMMON_OR_LINE_END)
    if len(rest) < 4096:
        return frozenset(rest)
    return frozenset(np.flatnonzero(np.bincount(np.frombuffer(rest, np.uint8))).tolist())


def uncommon_bytes(table: pa.Table) -> frozenset[int] | None:
    """What a table read as rows that are lines holds besides :data:`COMMON_BYTES`, in
    all its values together (``None``: not known, scan the columns)."""
    meta = table.schema.metadata
    if not meta or UNCOMMON_BYTES_KEY not in meta:
        return None
    return frozenset(meta[UNCOMMON_BYTES_KEY])


def check_columns(path: Path, header: list[str], required: frozenset[str], source: str) -> None:
    """Fail at once when a file lacks a source's required columns."""
    missing = sorted(required - set(header))
    if missing:
        msg = (
            f"{path.name} is not a {source} file: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(header[:12])}{' …' if len(header) > 12 else ''}). "
            f"Check that you chose the right source for this file."
        )
        raise SourceFormatError(msg)


def iter_csv_chunks(
    path: Path,
    header: list[str],
    *,
    block_bytes: int = 16 << 20,
    on_read: ProgressFn | None = None,
    fallback_encoding: str | None = None,
) -> Iterator[tuple[pd.DataFrame, list[BadRow]]]:
    """Yield ``(rows, bad_rows)`` per block.

    ``rows`` has one text column per header field (missing values as empty strings) and
    ``schema.LINE_NO``: the 1-based physical line where the row starts. ``bad_rows`` are
    rows with the wrong number of fields.

    Parameters
    ----------
    fallback_encoding
        ``None`` (default): the file must be UTF-8; a byte that is not stops the read with
        an :class:`IngestError`. An encoding name (e.g. ``"cp1252"``): values that are not
        UTF-8 are decoded per value (see the module docstring) and ``rows`` gets the column
        :data:`FALLBACK_FIELDS` before ``schema.LINE_NO``.
    """
    if fallback_encoding is not None:
        codecs.lookup(fallback_encoding)  # an unknown name fails here, not mid-file
    for batch, line_no, out_bad in _iter_blocks(
        path, header, block_bytes=block_bytes, on_read=on_read, fallback_encoding=fallback_encoding
    ):
        if batch is None:
            extra: dict[str, list[str]] = (
                {FALLBACK_FIELDS: []} if fallback_encoding is not None else {}
            )
            empty = pd.DataFrame({**{h: [] for h in header}, **extra, schema.LINE_NO: []})
            yield empty, out_bad
            continue
        frame = batch.to_pandas()
        if fallback_encoding is not None:
            frame[FALLBACK_FIELDS] = _decode_fallback(batch, frame, fallback_encoding)
        frame[schema.LINE_NO] = line_no
        keep = _not_blank(batch)
        if keep is not None:
            frame = frame[keep].reset_index(drop=True)
        yield frame, out_bad


def iter_csv_tables(
    path: Path,
    header: list[str],
    *,
    block_bytes: int = 16 << 20,
    on_read: ProgressFn | None = None,
) -> Iterator[tuple[pa.Table, list[BadRow]]]:
    """:func:`iter_csv_chunks` as Arrow tables, without a pandas copy (UTF-8 files only).

    Each table has one ``string`` column per header field (missing values as ``""``) and
    ``schema.LINE_NO`` (``int64``), the same rows and line numbers as
    :func:`iter_csv_chunks`; blank lines are dropped.
    """
    names = [*header, schema.LINE_NO]
    for batch, line_no, out_bad in _iter_blocks(
        path, header, block_bytes=block_bytes, on_read=on_read, fallback_encoding=None
    ):
        if batch is None:
            empty = pa.table(
                [pa.array([], pa.string())] * len(header) + [pa.array([], pa.int64())],
                names=names,
            )
            yield empty, out_bad
            continue
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        table = table.append_column(schema.LINE_NO, pa.array(line_no))
        keep = _not_blank(batch)
        if keep is not None:
            table = table.filter(pa.array(keep))
        yield table, out_bad


def _not_blank(batch: pa.RecordBatch | pa.Table) -> np.ndarray | None:
    """Mask of the rows that hold at least one value (None: all of them)."""
    n = batch.num_rows
    if not n:
        return None
    blank = np.ones(n, dtype=bool)
    for col in batch.columns:
        blank &= pc.binary_length(col).to_numpy(zero_copy_only=False) == 0
        if not blank.any():
            return None
    return ~blank


def _iter_blocks(
    path: Path,
    header: list[str],
    *,
    block_bytes: int,
    on_read: ProgressFn | None,
    fallback_encoding: str | None,
) -> Iterator[tuple[pa.RecordBatch | pa.Table | None, np.ndarray, list[BadRow]]]:
    """Per block: the parsed rows (blank ones included), the physical line where each
    starts, and the block's bad rows with their lines; a last ``(None, …, bad)`` carries
    bad rows after the last block."""
    # without a quote character no value can hold a newline: a file is first read as rows
    # that are lines, cut into blocks at line ends and parsed on all cores; at the first
    # block that holds a quote the rest of the file is read the general way below
    offset, first_line = 0, 1
    if fallback_encoding is None:
        start = _header_end(path)
        if start is not None:
            resume = yield from _iter_line_blocks(path, header, start, block_bytes, on_read)
            if resume is None:
                return
            offset, first_line = resume
    # Arrow splits rows at every newline unless told that values may hold one (quoted):
    # about twice as fast as tracking quotes across newlines
    quoted = True if offset else file_has_byte(path, b'"')
    # ``row.number`` counts records from the header (1), or from the first record read when
    # the read starts after the header, as here after a quote-free part
    shift = first_line - 1 if offset else 0
    bad: list[BadRow] = []

    def handler(row: pacsv.InvalidRow) -> str:
        # ``row.number`` is the record number; mapped to lines below
        text = row.text
        if fallback_encoding is not None:
            text = decode_escaped(text, fallback_encoding)
        bad.append(
            BadRow(
                int(row.number or 0) + shift,
                _bad_reason(row),
                text,
            )
        )
        return "skip"

    raw = open(path, "rb")  # noqa: SIM115 - closed by the reader below
    raw.seek(offset)
    # unbuffered: each of Arrow's block reads is one read of the wrapper (see _CountingReader)
    reader_src = _CountingReader(raw, on_read, escape_invalid=fallback_encoding is not None)
    try:
        reader = pacsv.open_csv(
            reader_src,
            read_options=pacsv.ReadOptions(
                block_size=block_bytes,
                use_threads=False,
                column_names=header if offset else None,
            ),
            # blank lines are kept as rows so that the record count matches the lines;
            # rows with no value at all are dropped by the callers, after numbering
            parse_options=pacsv.ParseOptions(
                newlines_in_values=quoted, ignore_empty_lines=False, invalid_row_handler=handler
            ),
            convert_options=_as_text(header),
        )
    except pa.ArrowInvalid as e:
        reader_src.close()
        msg = f"{path.name}: cannot read as CSV: {e}"
        raise IngestError(msg) from e

    next_record = first_line if offset else 2  # header is record 1
    extra_lines = 0  # newlines inside quoted values seen so far
    pending_bad: list[BadRow] = []
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as e:
                msg = f"{path.name}: unreadable data after line ~{next_record + extra_lines}: {e}"
                raise IngestError(msg) from e
            n = batch.num_rows
            pending_bad.extend(bad)
            bad.clear()
            if not pending_bad:
                # fast path: every record of the block is a good row
                records = np.arange(next_record, next_record + n, dtype=np.int64)
                next_record += n
                bad_here: list[BadRow] = []
            else:
                records, bad_here, next_record = _number_records(n, next_record, pending_bad)
                pending_bad = [b for b in pending_bad if b not in bad_here]
            # embedded newlines shift physical lines; a value can only hold one when the
            # file has a quote character (unquoted values end at a newline)
            if reader_src.saw_quote and not quoted:
                msg = f"{path.name} changed while it was read (a quote appeared): load it again"
                raise IngestError(msg)
            if reader_src.saw_quote:
                nl = np.zeros(n, dtype=np.int64)
                for col in batch.columns:
                    nl += pc.count_substring(col, "\n").to_numpy(zero_copy_only=False)
                cum_nl = np.concatenate([[0], np.cumsum(nl)])
            else:
                cum_nl = np.zeros(n + 1, dtype=np.int64)
            # map bad record numbers to physical lines: add the newlines inside the good
            # and bad records before each one
            out_bad = []
            bad_nl = 0
            for b in bad_here:
                before = int(cum_nl[np.searchsorted(records, b.line_no)])
                out_bad.append(BadRow(b.line_no + extra_lines + before + bad_nl, b.reason, b.text))
                bad_nl += b.text.count("\n")
            line_no = records + extra_lines + cum_nl[:-1]
            for b in bad_here:
                # good rows after a multi-line bad row are shifted by its newlines
                line_no[records > b.line_no] += b.text.count("\n")
            extra_lines += int(cum_nl[-1]) + bad_nl
            yield batch, line_no, out_bad
        # bad rows after the last good batch
        pending_bad.extend(bad)
        if pending_bad:
            out_bad = []
            for b in sorted(pending_bad, key=lambda b: b.line_no):
                # shifted by the newlines of the bad rows before it, too
                out_bad.append(BadRow(b.line_no + extra_lines, b.reason, b.text))
                extra_lines += b.text.count("\n")
            yield None, np.zeros(0, dtype=np.int64), out_bad
    finally:
        reader_src.close()


def _as_text(header: list[str]) -> pacsv.ConvertOptions:
    """Every column as text, a missing value as ``""``."""
    return pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )


def _bad_reason(row: pacsv.InvalidRow) -> str:
    return f"{row.actual_columns} fields, expected {row.expected_columns}"


#: bytes per unit of Arrow's multi-threaded parse of a block (each core takes units)
_PARSE_UNIT = 4 << 20


def _parse_lines(
    data: memoryview, header: list[str], *, threads: bool, unit: int | None = None
) -> tuple[pa.Table, list[BadRow]]:
    """A block of whole lines without quotes as text columns, and its malformed rows
    numbered from 1 in the block (0 with ``threads``: Arrow does not number them then);
    ``unit``: bytes per unit of the parse (:data:`_PARSE_UNIT`)."""
    unit = unit or _PARSE_UNIT
    bad: list[BadRow] = []

    def handler(row: pacsv.InvalidRow) -> str:
        bad.append(BadRow(int(row.number or 0), _bad_reason(row), row.text))
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(
                column_names=header, use_threads=threads, block_size=unit
            ),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=False, ignore_empty_lines=False, invalid_row_handler=handler
            ),
            convert_options=_as_text(header),
        )
    except pa.ArrowInvalid as e:
        if "straddl" not in str(e) or unit > len(data):
            raise
        # a line longer than Arrow's parse unit: the block again, as one unit
        return _parse_lines(data, header, threads=threads, unit=len(data) + 1)
    return table, bad


def _header_end(path: Path) -> int | None:
    """Offset of the first data byte of a quote-free file: after the header line and its
    line end (``\n``, ``\r\n`` or a lone ``\r``, as Arrow reads them). ``None`` when
    the first 1 MB holds no line end but the file goes on (read the general way)."""
    with open(path, "rb") as fh:
        head = fh.read((1 << 20) + 1)
    ends = [i for i in (head.find(b"\n"), head.find(b"\r")) if i >= 0]
    if not ends:
        return len(head) if len(head) <= (1 << 20) else None
    end = min(ends)
    if head[end : end + 2] == b"\r\n":
        return end + 2
    if end == len(head) - 1 and head[end:] == b"\r" and len(head) > (1 << 20):
        return None  # a ``\r`` at the edge of what was read: maybe half of ``\r\n``
    return end + 1


def _iter_line_blocks(
    path: Path,
    header: list[str],
    start: int,
    block_bytes: int,
    on_read: ProgressFn | None,
) -> Generator[tuple[pa.Table, np.ndarray, list[BadRow]], None, tuple[int, int] | None]:
    """:func:`_iter_blocks` for a file read as rows that are lines, from ``start`` (after
    the header line); returns ``None`` at the end of the file, or the offset and line
    number of the first block that holds a quote (not read: the rest is for the general
    reader, since a quoted value may hold a newline).

    Without quotes every line is one record (``\n``, ``\r\n`` and a lone ``\r`` end a
    line, as Arrow reads them), so the file is cut into blocks at line ends and each block
    is parsed with Arrow's multi-threaded reader; the block's first line number is the
    count of lines before it. Arrow's threaded reader does not number malformed rows, so
    a block that has any is parsed again on one thread, which does. Each block's bytes are
    scanned once before it is parsed: for a quote, and for the bytes its values hold,
    named in the table's metadata (:func:`uncommon_bytes`).
    """
    line = 2  # the header is line 1
    pos = start  # file offset of the next block
    carry = b""
    if on_read is not None:
        on_read(start)
    with open(path, "rb") as fh:
        fh.seek(start)
        while True:
            fresh = fh.read(block_bytes)
            buf = carry + fresh if carry else fresh
            if not buf:
                return None
            if fresh:
                # the block ends after its last ``\n`` (a ``\r`` just before the block end
                # may be the first half of ``\r\n``, so only a ``\r`` before that counts)
                cut = buf.rfind(b"\n")
                if cut < 0:
                    cut = buf.rfind(b"\r", 0, len(buf) - 1)
                if cut < 0:
                    carry = buf  # one line longer than a block: read on
                    continue
                block, carry = memoryview(buf)[: cut + 1], buf[cut + 1 :]
            else:
                block, carry = memoryview(buf), b""
            seen = _uncommon_bytes(buf)
            if ord('"') in seen:
                return pos, line
            try:
                table, bad = _parse_lines(block, header, threads=True)
                if bad:
                    table, bad = _parse_lines(block, header, threads=False)
            except pa.ArrowInvalid as e:
                msg = f"{path.name}: unreadable data after line ~{line}: {e}"
                raise IngestError(msg) from e
            table = table.replace_schema_metadata({UNCOMMON_BYTES_KEY: bytes(sorted(seen))})
            n_records = table.num_rows + len(bad)
            lines = np.arange(line, line + n_records, dtype=np.int64)
            out_bad = [BadRow(line + b.line_no - 1, b.reason, b.text) for b in bad]
            if bad:
                lines = np.delete(lines, [b.line_no - 1 for b in bad])
            line += n_records
            pos += len(block)
            if on_read is not None:
                on_read(len(block))
            yield table, lines, out_bad
            if not fresh:
                return None


def _number_records(
    n: int, next_record: int, pending_bad: list[BadRow]
) -> tuple[np.ndarray, list[BadRow], int]:
    """Record numbers of a block's ``n`` good rows (consecutive from ``next_record``,
    skipping the bad records), the bad records among them, and the next record number."""
    pending_bad.sort(key=lambda b: b.line_no)
    records = np.empty(n, dtype=np.int64)
    r = next_record
    i = 0
    bad_here: list[BadRow] = []
    bad_iter = iter(pending_bad)
    nxt = next(bad_iter, None)
    while i < n:
        if nxt is not None and nxt.line_no == r:
            bad_here.append(nxt)
            nxt = next(bad_iter, None)
            r += 1
            continue
        # fill a run of good records up to the next bad one at once
        stop = n - i if nxt is None else min(n - i, nxt.line_no - r)
        records[i : i + stop] = np.arange(r, r + stop)
        i += stop
        r += stop
    while nxt is not None and nxt.line_no == r:
        bad_here.append(nxt)
        nxt = next(bad_iter, None)
        r += 1
    return records, bad_here, r


def _decode_fallback(
    batch: pa.RecordBatch | pa.Table, frame: pd.DataFrame, encoding: str
) -> np.ndarray:
    """Decode, in place, the values of ``frame`` that carry escaped bytes; per row, the
    comma-separated names of the fields so decoded."""
    fields = np.full(len(frame), "", dtype=object)
    for name, col in zip(batch.schema.names, batch.columns, strict=True):
        hit = pc.match_substring_regex(col, _ESCAPED_RE2).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(hit)
        if not len(rows):
            continue
        j = frame.columns.get_loc(name)
        frame.iloc[rows, j] = [decode_escaped(str(v), encoding) for v in frame.iloc[rows, j]]
        fields[rows] = np.where(fields[rows] == "", name, fields[rows] + "," + name)
    return fields
