"""csvstream: exact physical line numbers for good and malformed rows, in any block size.

The expected line numbers are either written out by hand (small files) or computed
independently with Python's ``csv`` module: ``reader.line_num`` is the number of physical
lines consumed so far, so a record starts one line after the previous record ended.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from ceasewatch.errors import IngestError
from ceasewatch.ingest.csvstream import BadRow, iter_csv_chunks, read_header
from ceasewatch.normalize import schema

ONE_BLOCK = 16 << 20
SMALL_BLOCK = 64


def read_all(path: Path, block: int) -> tuple[list[dict[str, object]], list[BadRow]]:
    """All good rows (as dicts with line_no) and all bad rows of ``path``."""
    header = read_header(path)
    good: list[dict[str, object]] = []
    bad: list[BadRow] = []
    for frame, bad_rows in iter_csv_chunks(path, header, block_bytes=block):
        assert list(frame.columns) == [*header, schema.LINE_NO]
        good.extend(frame.to_dict("records"))
        bad.extend(bad_rows)
    return good, bad


def reference(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(first physical line, fields)]) with the csv module; blank lines dropped."""
    records: list[tuple[int, list[str]]] = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        previous_end = 0
        for fields in reader:
            records.append((previous_end + 1, fields))
            previous_end = reader.line_num
    header = records[0][1]
    return header, [(line, f) for line, f in records[1:] if f]


# A hand-made file; physical lines on the right.
HAND_MADE = (
    "id,text,n\n"  # 1 header
    "a,plain,1\n"  # 2 good
    'b,"two\nlines",2\n'  # 3-4 good (embedded newline)
    "c,short\n"  # 5 bad: 2 fields
    'd,"three\nmore\nlines",3\n'  # 6-8 good
    "e,too,many,4\n"  # 9 bad: 4 fields
    'f,"bad\nand multi-line"\n'  # 10-11 bad: 2 fields, spans two lines
    "g,after,7\n"  # 12 good
    "h\n"  # 13 bad: 1 field
    'i,"x\ny",1,2\n'  # 14-15 bad: 4 fields, after the last good row
    "j,k\n"  # 16 bad: 2 fields, after the last good row
)
HAND_GOOD = {"a": 2, "b": 3, "d": 6, "g": 12}
HAND_BAD = [(5, "2 fields"), (9, "4 fields"), (10, "2 fields"), (13, "1 fields"), (14, "4 fields")]
HAND_BAD.append((16, "2 fields"))


@pytest.mark.parametrize("block", [ONE_BLOCK, SMALL_BLOCK])
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_hand_made_file_line_numbers(tmp_path: Path, block: int, newline: str) -> None:
    path = tmp_path / "hand.csv"
    path.write_bytes(HAND_MADE.replace("\n", newline).encode())
    good, bad = read_all(path, block)
    assert {r["id"]: r[schema.LINE_NO] for r in good} == HAND_GOOD
    assert [(b.line_no, b.reason.split(",")[0]) for b in bad] == HAND_BAD
    assert all(b.reason.endswith("expected 3") for b in bad)
    # values keep their embedded line breaks exactly (CRLF files: \r\n inside the value)
    by_id = {r["id"]: r for r in good}
    assert by_id["b"]["text"] == f"two{newline}lines"
    assert by_id["d"]["text"] == f"three{newline}more{newline}lines"
    # the bad row's text is the row as written (its fields, not the next row's)
    assert bad[-1].text.replace("\r", "") == "j,k"
    assert bad[2].text.replace("\r", "") == 'f,"bad\nand multi-line"'


@pytest.mark.parametrize("block", [ONE_BLOCK, SMALL_BLOCK])
def test_only_bad_rows_are_all_reported_with_their_lines(tmp_path: Path, block: int) -> None:
    # no good row at all: every bad row comes after "the last good row"
    path = tmp_path / "allbad.csv"
    path.write_text('a,b,c\n1,2\n"x\ny\nz",2\n3,4,5,6\n"p\nq",1,2,3\n9\n', encoding="utf-8")
    good, bad = read_all(path, block)
    assert good == []
    # lines: 2; 3-5; 6; 7-8; 9
    assert [b.line_no for b in bad] == [2, 3, 6, 7, 9]


@pytest.mark.parametrize("block", [ONE_BLOCK, SMALL_BLOCK])
def test_blank_lines_are_skipped_but_counted(tmp_path: Path, block: int) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("a,b\n1,2\n\n3,4\n\n\n5\n6,7\n\n", encoding="utf-8")
    good, bad = read_all(path, block)
    assert [(r["a"], r[schema.LINE_NO]) for r in good] == [("1", 2), ("3", 4), ("6", 8)]
    assert [b.line_no for b in bad] == [7]


def test_byte_order_mark_and_progress(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    data = "\ufeffa,b\n1,2\n3,4\n".encode()
    path.write_bytes(data)
    header = read_header(path)
    assert header == ["a", "b"]
    seen: list[int] = []
    rows = [
        r
        for frame, _ in iter_csv_chunks(path, header, block_bytes=SMALL_BLOCK, on_read=seen.append)
        for r in frame.to_dict("records")
    ]
    assert [(r["a"], r[schema.LINE_NO]) for r in rows] == [("1", 2), ("3", 3)]
    assert sum(seen) == len(data)


def _random_file(rng: random.Random, newline: str, *, quotes: bool = True) -> str:
    """A small CSV (3 columns) with short rows, some multi-line, blank or malformed
    (without ``quotes``: no quote character anywhere, so no value holds a newline)."""
    pieces = ["x", "yy", "", '"q\nq"', '"w\n\nw"', '"a,b"', '"say ""hi"""']
    if not quotes:
        pieces = ["x", "yy", "", "zzz z", "é"]
    lines = ["a,b,c"]
    for _ in range(rng.randint(0, 14)):
        n_fields = rng.choice([3, 3, 3, 3, 2, 4, 1, 0])
        lines.append(",".join(rng.choice(pieces) for _ in range(n_fields)))
    return ("\n".join(lines) + "\n").replace("\n", newline)


@pytest.mark.parametrize(
    ("newline", "quotes"),
    [("\n", True), ("\r\n", True), ("\n", False), ("\r\n", False), ("\r", False)],
    ids=["LF-quoted", "CRLF-quoted", "LF-quote-free", "CRLF-quote-free", "CR-quote-free"],
)
def test_random_files_match_the_csv_module(tmp_path: Path, newline: str, quotes: bool) -> None:
    """Line numbers and values as the csv module sees them, for 64-byte and one block.

    With CRLF line endings and small blocks this also covers a quoted ``\\r\\n`` that
    straddles a block boundary (Arrow drops the ``\\n`` there unless the reader avoids it).
    A quote-free file is read the fast way (rows split at every newline): the same lines,
    also with lone-CR line ends (old Mac exports; their header is read up to the CR).
    """
    rng = random.Random(20240502)
    for k in range(150):
        path = tmp_path / f"r{k}.csv"
        path.write_bytes(_random_file(rng, newline, quotes=quotes).encode())
        header, records = reference(path)
        # rows whose every value is empty carry nothing and are skipped like blank lines
        records = [(ln, f) for ln, f in records if len(f) != 3 or any(f)]
        exp_good = [(ln, f) for ln, f in records if len(f) == 3]
        exp_bad = [(ln, len(f)) for ln, f in records if len(f) != 3]
        for block in (ONE_BLOCK, SMALL_BLOCK):
            good, bad = read_all(path, block)
            got_good = [(r[schema.LINE_NO], [r[h] for h in header]) for r in good]
            got_bad = [(b.line_no, int(b.reason.split()[0])) for b in bad]
            assert got_good == exp_good, (k, block, path.read_bytes())
            assert got_bad == exp_bad, (k, block, path.read_bytes())


def test_quote_free_files_with_mixed_line_ends_in_any_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quote-free file is cut into blocks at line ends and parsed on all cores: the
    same rows, values and line numbers as the csv module and as Arrow's streaming reader
    (the general way), with LF, CRLF and lone CR mixed, blocks smaller than a line, and
    malformed rows (numbered by a second, single-threaded parse of their block)."""
    import ceasewatch.ingest.csvstream as cs

    rng = random.Random(20261128)
    full_unit = cs._PARSE_UNIT
    for k in range(120):
        text = _random_file(rng, "\n", quotes=False)
        lines = text.split("\n")
        ends = [rng.choice(["\n", "\r\n", "\r"]) for _ in lines]
        # the last line keeps LF or nothing (a final lone CR is a line end like the others)
        data = "".join(line + end for line, end in zip(lines[:-1], ends, strict=False))
        path = tmp_path / f"m{k}.csv"
        path.write_bytes(data.encode())
        header, records = reference(path)
        records = [(ln, f) for ln, f in records if len(f) != 3 or any(f)]
        exp_good = [(ln, f) for ln, f in records if len(f) == 3]
        exp_bad = [(ln, len(f)) for ln, f in records if len(f) != 3]
        for block, unit in ((ONE_BLOCK, full_unit), (SMALL_BLOCK, 8), (7, 16)):
            # a parse unit smaller than a line: the block is parsed again as one unit
            monkeypatch.setattr(cs, "_PARSE_UNIT", unit)
            good, bad = read_all(path, block)
            got_good = [(r[schema.LINE_NO], [r[h] for h in header]) for r in good]
            assert got_good == exp_good, (k, block, data)
            assert [(b.line_no, int(b.reason.split()[0])) for b in bad] == exp_bad
        if "\r" not in data:
            # the streaming reader cannot cut lone-CR files into small blocks
            with monkeypatch.context() as m:
                m.setattr(cs, "_header_end", lambda _p: None)
                assert read_all(path, SMALL_BLOCK) == (good, bad) == read_all(path, ONE_BLOCK)


def test_a_quote_appearing_after_the_scan_stops_the_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file read the general way from its start (here: its header ends in a way the
    line reader leaves to Arrow) is read as quote-free when a scan found no quote; a file
    that gains one in between (rewritten while loading) is refused, not read with wrong
    lines."""
    import ceasewatch.ingest.csvstream as cs

    path = tmp_path / "q.csv"
    path.write_bytes(b'a,b\n1,"x\ny"\n')
    monkeypatch.setattr(cs, "_header_end", lambda _p: None)
    monkeypatch.setattr(cs, "file_has_byte", lambda *_a, **_k: False)
    with pytest.raises(IngestError, match="changed while it was read"):
        list(iter_csv_chunks(path, ["a", "b"]))


@pytest.mark.parametrize("block", [ONE_BLOCK, 200, SMALL_BLOCK])
def test_a_quote_after_many_plain_lines_hands_over_to_the_general_reader(
    tmp_path: Path, block: int
) -> None:
    """Blocks without a quote are read as lines; from the first block with one, the rest
    of the file is read by Arrow's quote-aware reader, numbered on from there."""
    lines = ["a,b,c"] + [f"{i},x{i},y" for i in range(40)]
    lines += ["41,short", '42,"two\nlines",z', "43,after,z", "44,1,2,3", '45,"q",w', "46,k,l"]
    path = tmp_path / "late.csv"
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(data)
    header, records = reference(path)
    exp_good = [(ln, f) for ln, f in records if len(f) == 3]
    exp_bad = [(ln, len(f)) for ln, f in records if len(f) != 3]
    seen: list[int] = []
    good, bad = [], []
    for frame, bad_rows in iter_csv_chunks(path, header, block_bytes=block, on_read=seen.append):
        good.extend(frame.to_dict("records"))
        bad.extend(bad_rows)
    assert [(r[schema.LINE_NO], [r[h] for h in header]) for r in good] == exp_good
    assert [(b.line_no, int(b.reason.split()[0])) for b in bad] == exp_bad
    assert exp_bad == [(42, 2), (46, 4)]
    assert sum(seen) == len(data)  # every byte counted once for the progress bar


def test_uncommon_bytes_and_file_has_byte(tmp_path: Path) -> None:
    from ceasewatch.ingest.csvstream import COMMON_BYTES, _uncommon_bytes, file_has_byte

    rng = random.Random(7)
    for n in (0, 5, 60, 10_000):
        data = bytes(rng.choice(b"ab,1.\n\r \t\xc3\xa9\\x") for _ in range(n))
        assert _uncommon_bytes(data) == set(data) - set(COMMON_BYTES) - {10, 13}
    path = tmp_path / "b.bin"
    path.write_bytes(b"x" * 100 + b'"')
    assert file_has_byte(path, b'"', block=7)
    assert not file_has_byte(path, b"\r", block=7)
    path.write_bytes(b"")
    assert not file_has_byte(path, b'"')
