"""Streaming CSV reader: the header, then record batches of strings with exact physical line numbers.

Counting. The header is read here, not by pyarrow; blank lines before it are skipped and counted.
pyarrow then parses the rest serially (use_threads=False, so each ragged row reports its record number)
with every column as a string. A *record* is one CSV row as RFC 4180 defines it; it spans one physical
line plus one more per newline inside its quoted values. The physical line of a record is

    header lines + record number + newlines inside the values of all earlier records

where newlines inside values are counted from the parsed values (valid records) or the raw text (ragged
records). Lines end in LF, CRLF or CR; inside a quoted value only LF is counted (CRLF counts once, a lone CR
not at all). Blank lines and records whose values are all empty (`,,,` as spreadsheets write them) are
not rows: they count as lines, never as rows.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from sluice_lib.errors import EmptyFileError, MalformedCsvError
from sluice_lib.validate.stream import CheckedStream, Replay

# pyarrow's streaming reader queues up to 32 blocks read ahead of parsing (as many as checking lags
# behind): 1 MiB blocks keep that under 32 MiB and peak RSS flat in file size, about 240 MB
# (bench/results/validate.md). 8 MiB blocks let it reach 256 MiB on large files (525 MB RSS at 1.2 GB);
# 2 MiB ones about 295 MB, for some 4% less CPU than 1 MiB.
BLOCK_SIZE = 1 << 20
_PEEK = 64 << 10
_MAX_HEADER = 16 << 20
_LINE_END = re.compile(rb"\r\n|\n|\r")


@dataclass(frozen=True)
class Header:
    names: list[str]
    lines: int  # physical lines up to the end of the header record, leading blank lines included
    blank_lines: int = 0  # blank lines before the header


@dataclass(frozen=True)
class RaggedRow:
    line: int
    raw: str
    columns: int


def _no_rows(rows: np.ndarray) -> list[int]:
    raise ValueError("a batch without rows has no line numbers")


@dataclass(frozen=True)
class Batch:
    """Rows of one record batch (blank rows removed): one string array per header column."""

    columns: list[pa.Array]
    num_rows: int
    ragged: list[RaggedRow]  # ragged rows placed since the previous batch, in line order
    lines: Callable[[np.ndarray], list[int]] = _no_rows  # row positions (ascending) -> physical lines


@dataclass(frozen=True)
class _Position:
    """Where a batch starts, and what lines its rows need: the state `CsvReader._lines` works from."""

    records: int  # parsed records before the batch (blank ones included)
    newlines: int  # newlines inside those records' values
    skipped: int  # skipped (ragged) records placed before the batch
    skipped_newlines: int  # newlines inside those
    before: np.ndarray | None  # newlines inside the batch's rows before each row (n + 1 entries)
    kept: np.ndarray | None  # positions of the non-blank rows, when some were blank


def _line_end(buf: bytes, start: int, eof: bool) -> tuple[int, int] | None:
    """Where the first line end at or after `start` begins and ends; None when more bytes must tell."""
    found = _LINE_END.search(buf, start)
    if found is None or (found.group() == b"\r" and found.end() == len(buf) and not eof):
        return None  # a CR at the end of what was read may be the first half of a CRLF
    return found.start(), found.end()


def _opened_at(stream: CheckedStream) -> str:
    """`: the quote at line L, column C opens it` for a stream read to its end with an odd number of quotes."""
    if stream.open_quote is None:
        return ""
    line, column = stream.open_quote
    return f": the quote at line {line}, column {column} opens it"


def read_header(stream: CheckedStream, uri: str) -> tuple[Header, bytes]:
    """Reads up to the end of the header record; returns it and the bytes read past it."""
    buf = b""
    lines = 0
    eof = False

    def more() -> None:
        nonlocal buf, eof
        chunk = stream.read(_PEEK)
        eof = not chunk
        buf += chunk

    while True:  # skip blank lines before the header
        found = _line_end(buf, 0, eof)
        if found and not buf[: found[0]].strip():
            buf = buf[found[1] :]
            lines += 1
        elif found or eof:
            break
        else:
            more()
    if not buf.strip():
        raise EmptyFileError(f"{uri}: the file has no header line")
    pos = 0
    while True:  # the header ends at the first line end outside quotes
        found = _line_end(buf, pos, eof)
        if found and buf.count(b'"', 0, found[0]) % 2 == 0:
            inner, end = found
            break
        if found:
            pos = found[1]
            continue
        if eof:
            if buf.count(b'"') % 2:
                raise MalformedCsvError(f"{uri}: the header has an unterminated quote{_opened_at(stream)}")
            inner = end = len(buf)
            break
        if len(buf) > _MAX_HEADER:
            raise MalformedCsvError(f"{uri}: no end of the header line in the first {_MAX_HEADER} bytes")
        more()
    blank = lines
    lines += 1 + buf.count(b"\n", 0, inner)
    try:
        names = next(csv.reader(io.StringIO(buf[:inner].decode("utf-8"), newline=""), strict=True))
    except csv.Error as exc:
        raise MalformedCsvError(f"{uri}: the header is not a CSV record: {exc}") from exc
    return Header(names=names, lines=lines, blank_lines=blank), buf[end:]


def _newlines_per_row(columns: list[pa.Array]) -> np.ndarray | None:
    """Newlines inside each row's values, or None when the batch has none (the usual case, found cheaply)."""
    counts: np.ndarray | None = None
    for col in columns:
        data = col.buffers()[2]
        if data is None or np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10) == 0:
            continue
        per_row = pc.count_substring(col, "\n").to_numpy(zero_copy_only=False).astype(np.int64)
        counts = per_row if counts is None else counts + per_row
    return counts


def _blank_rows(columns: list[pa.Array]) -> np.ndarray | None:
    """Mask of rows whose values are all empty, or None when there are none.

    With one column a row is a whole line, so a line of spaces is blank too (as it is with more columns,
    where such a line is too short to be a row)."""
    blank: pa.Array | None = None
    for col in columns:
        text = pc.utf8_trim_whitespace(col) if len(columns) == 1 else col
        empty = pc.equal(pc.binary_length(text), 0)
        blank = empty if blank is None else pc.and_(blank, empty)
        if not blank.true_count:
            return None
    return None if blank is None else blank.to_numpy(zero_copy_only=False)


class CsvReader:
    """Iterates Batches of a CSV stream whose header was read with read_header."""

    def __init__(self, stream: CheckedStream, header: Header, rest: bytes, uri: str) -> None:
        self._stream = stream
        self._header = header
        self._rest = rest
        self._uri = uri
        self._width = len(header.names)
        self._skipped: list[tuple[int, str, int]] = []  # (record number, raw text, columns) from pyarrow
        self._next_skipped = 0  # first skipped record not yet placed
        self._skipped_newlines = 0  # newlines inside the skipped records already placed
        self._records = 0  # parsed records before the current batch (blank ones included)
        self._newlines = 0  # newlines inside the values of those records
        self.blank_lines = header.blank_lines  # blank lines and all-empty records seen so far: not rows

    def _on_invalid(self, row: pcsv.InvalidRow) -> str:
        if row.number is None or row.number < 0:  # only with use_threads=True, which we never set
            raise MalformedCsvError(f"{self._uri}: a ragged row could not be located")
        self._skipped.append((row.number, row.text, row.actual_columns))
        return "skip"

    def _open(self) -> pcsv.CSVStreamingReader | None:
        head = self._rest or self._stream.read(_PEEK)
        if not head:
            return None
        names = [f"c{i}" for i in range(self._width)]
        return pcsv.open_csv(
            Replay(head, self._stream),
            read_options=pcsv.ReadOptions(column_names=names, use_threads=False, block_size=BLOCK_SIZE),
            parse_options=pcsv.ParseOptions(
                newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=self._on_invalid
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, check_utf8=False, strings_can_be_null=False
            ),
        )

    def __iter__(self) -> Iterator[Batch]:
        try:
            reader = self._open()
            if reader is not None:
                for record_batch in reader:
                    yield self._batch(record_batch)
        except pa.ArrowInvalid as exc:
            raise MalformedCsvError(f"{self._uri}: not parseable as CSV: {exc}") from exc
        if self._stream.quotes % 2:
            raise MalformedCsvError(
                f"{self._uri}: a quoted value is never closed{_opened_at(self._stream)} (the file has an odd "
                "number of '\"' characters, so everything after that quote would be one value)"
            )
        ragged = self._place_skipped(None, sys.maxsize, None)
        if ragged:
            yield Batch(columns=[], num_rows=0, ragged=ragged)

    def _batch(self, record_batch: pa.RecordBatch) -> Batch:
        columns = list(record_batch.columns)
        n = record_batch.num_rows
        # A value holds a line end only inside quotes; the stream has read past this batch's bytes, so no
        # quote read so far means none in the batch (the usual case, and it spares a scan of every value).
        newlines = _newlines_per_row(columns) if self._stream.quotes else None
        before = None if newlines is None else np.concatenate(([0], np.cumsum(newlines)))
        blank = _blank_rows(columns)
        kept: np.ndarray | None = None
        if blank is not None:
            kept = np.flatnonzero(~blank)
            self.blank_lines += n - len(kept)
            keep = pa.array(~blank)
            columns = [c.filter(keep) for c in columns]
        position = _Position(
            self._records, self._newlines, self._next_skipped, self._skipped_newlines, before, kept
        )
        ragged = self._place_skipped(before, self._records + n, self._records)
        self._records += n
        self._newlines += 0 if before is None else int(before[-1])
        num_rows = n if kept is None else len(kept)
        return Batch(
            columns=columns, num_rows=num_rows, ragged=ragged, lines=partial(self._lines, at=position)
        )

    def _valid_before(self, j: int) -> int:
        """Parsed (non-skipped) records before skipped record j."""
        return self._skipped[j][0] - 1 - j

    def _place_skipped(self, before: np.ndarray | None, upto: int, first: int | None) -> list[RaggedRow]:
        """Line numbers of skipped records that precede parsed record `upto` (all of them when at the end)."""
        placed: list[RaggedRow] = []
        while self._next_skipped < len(self._skipped):
            j = self._next_skipped
            valid_before = self._valid_before(j)
            if valid_before > upto:
                break
            number, text, width = self._skipped[j]
            inside = 0 if before is None or first is None else int(before[valid_before - first])
            line = self._header.lines + number + self._newlines + inside + self._skipped_newlines
            self._next_skipped += 1
            self._skipped_newlines += text.count("\n")
            if text.strip():
                placed.append(RaggedRow(line=line, raw=text, columns=width))
            else:
                self.blank_lines += 1
        return placed

    def _lines(self, rows: np.ndarray, at: _Position) -> list[int]:
        j, skipped_newlines = at.skipped, at.skipped_newlines
        positions = rows if at.kept is None else at.kept[rows]
        out: list[int] = []
        for i in positions.tolist():
            parsed = at.records + i
            while j < len(self._skipped) and self._valid_before(j) <= parsed:
                skipped_newlines += self._skipped[j][1].count("\n")
                j += 1
            inside = 0 if at.before is None else int(at.before[i])
            record_number = parsed + 1 + j
            out.append(self._header.lines + record_number + at.newlines + inside + skipped_newlines)
        return out
