"""Streaming CSV reading with exact line numbers and a quarantine for malformed rows.

Files are read in blocks with pyarrow (every column as text), so a 10 GB file needs a few
blocks of memory, not 10 GB. Rows with the wrong number of fields are handed back as
quarantine rows with their line number; every good row carries the physical line number
where it starts in the file (quoted fields may span several lines).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
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
    """

    def __init__(self, raw: BinaryIO, on_read: ProgressFn | None) -> None:
        self._raw = raw
        self._on_read = on_read
        self._held = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = len(buffer) - len(self._held)
        fresh = self._raw.read(want) if want > 0 else b""
        if self._on_read is not None and fresh:
            self._on_read(len(fresh))
        data = self._held + fresh
        self._held = b""
        if fresh and len(data) > 1 and data.endswith(b"\r"):
            self._held, data = data[-1:], data[:-1]
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
    text = first.decode(encoding, errors="replace").lstrip("\ufeff").rstrip("\r\n")
    if not text.strip():
        msg = f"{path}: the file is empty or has no header line"
        raise IngestError(msg)
    return next(csv.reader([text]))


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
) -> Iterator[tuple[pd.DataFrame, list[BadRow]]]:
    """Yield ``(rows, bad_rows)`` per block.

    ``rows`` has one text column per header field (missing values as empty strings) and
    ``schema.LINE_NO``: the 1-based physical line where the row starts. ``bad_rows`` are
    rows with the wrong number of fields.
    """
    bad: list[BadRow] = []

    def handler(row: pacsv.InvalidRow) -> str:
        # ``row.number`` is the record number (header = 1); mapped to lines below
        bad.append(
            BadRow(
                int(row.number or 0),
                f"{row.actual_columns} fields, expected {row.expected_columns}",
                row.text,
            )
        )
        return "skip"

    types = {name: pa.string() for name in header}
    raw = open(path, "rb")  # noqa: SIM115 - closed by the reader below
    # unbuffered: each of Arrow's block reads is one read of the wrapper (see _CountingReader)
    reader_src = _CountingReader(raw, on_read)
    try:
        reader = pacsv.open_csv(
            reader_src,
            read_options=pacsv.ReadOptions(block_size=block_bytes, use_threads=False),
            # blank lines are kept as rows so that the record count matches the lines;
            # rows with no value at all are dropped below, after numbering
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=handler
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as e:
        reader_src.close()
        msg = f"{path.name}: cannot read as CSV: {e}"
        raise IngestError(msg) from e

    next_record = 2  # header is record 1
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
            pending_bad.sort(key=lambda b: b.line_no)
            # record numbers of this batch's good rows: consecutive, skipping bad records
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
            pending_bad = [b for b in pending_bad if b not in bad_here]
            next_record = r
            # embedded newlines shift physical lines
            nl = np.zeros(n, dtype=np.int64)
            for col in batch.columns:
                nl += pc.count_substring(col, "\n").to_numpy(zero_copy_only=False).astype(np.int64)
            # map bad record numbers to physical lines: add the newlines inside the good
            # and bad records before each one
            cum_nl = np.concatenate([[0], np.cumsum(nl)])
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
            extra_lines += int(nl.sum()) + sum(b.text.count("\n") for b in bad_here)
            frame = batch.to_pandas()
            frame[schema.LINE_NO] = line_no
            if n:
                blank = np.ones(n, dtype=bool)
                for col in batch.columns:
                    blank &= pc.binary_length(col).to_numpy(zero_copy_only=False) == 0
                if blank.any():
                    frame = frame[~blank].reset_index(drop=True)
            yield frame, out_bad
        # bad rows after the last good batch
        pending_bad.extend(bad)
        if pending_bad:
            out_bad = []
            for b in sorted(pending_bad, key=lambda b: b.line_no):
                # shifted by the newlines of the bad rows before it, too
                out_bad.append(BadRow(b.line_no + extra_lines, b.reason, b.text))
                extra_lines += b.text.count("\n")
            yield pd.DataFrame({**{h: [] for h in header}, schema.LINE_NO: []}), out_bad
    finally:
        reader_src.close()
