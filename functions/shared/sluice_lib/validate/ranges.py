"""Cutting an uploaded CSV into chunks at record boundaries, for the fanned-out Validate (pure, no I/O).

A record ends at a line end (LF, CRLF or a lone CR) outside quotes; whether a byte is inside quotes depends
on the parity of the '"' characters before it, which one byte range alone cannot know. So each range is
scanned under both parities (`scan_range`, in parallel): its quote count, and under each parity where its
first record could start, and its physical lines counted as the reader counts them (every LF, plus every lone
CR outside quotes). A sequential pass over the scans (`plan_chunks`, tiny) then knows the true parity at every
range's start, picks the true boundaries and the file-global line number each chunk starts after. A range
that holds no record start (one quoted value longer than the range) joins the chunk before it.

Quote parity is RFC 4180's rule: an escaped quote (`""`) flips it twice. The single-Lambda reader reads the
header the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from sluice_lib.models import ByteRange, Chunk, RangeScan

_QUOTE, _LF, _CR = ord('"'), ord("\n"), ord("\r")


def byte_ranges(size: int, range_bytes: int) -> list[ByteRange]:
    """[0, size) in ranges of `range_bytes` (the last one shorter)."""
    if range_bytes <= 0:
        raise ValueError("range_bytes must be positive")
    return [
        ByteRange(index=i, start=start, end=min(start + range_bytes, size))
        for i, start in enumerate(range(0, size, range_bytes))
    ]


class RangeScanner:
    """Feeds the bytes of [start, end) plus the one byte after it (to tell CRLF from a lone CR) in blocks."""

    def __init__(self, index: int, start: int, end: int) -> None:
        self._index, self._start, self._end = index, start, end
        self._offset = start  # absolute offset of the next block's first byte
        self._pending: bytes | None = None  # a block held back until the next one shows its first byte
        self._quotes = 0
        self._first: list[int | None] = [None, None]
        self._to_first = [0, 0]
        self._lines = [0, 0]

    def feed(self, block: bytes) -> None:
        if not block:
            return
        if self._pending is not None:
            self._scan(self._pending, block[:1])
        self._pending = block

    def finish(self) -> RangeScan:
        if self._pending is not None:
            self._scan(self._pending, b"")
            self._pending = None
        return RangeScan(
            index=self._index,
            start=self._start,
            end=self._end,
            quotes=self._quotes,
            first=list(self._first),
            lines_to_first=list(self._to_first),
            lines=list(self._lines),
        )

    def _scan(self, block: bytes, after: bytes) -> None:
        base = self._offset
        self._offset += len(block)
        data = np.frombuffer(block, np.uint8)
        inside = data[: max(0, min(len(block), self._end - base))]  # the lookahead byte is not ours
        quotes = np.flatnonzero(inside == _QUOTE)
        lf = np.flatnonzero(inside == _LF)
        cr = np.flatnonzero(inside == _CR)
        if len(cr):
            following = np.append(data, np.frombuffer(after or b"\0", np.uint8))[cr + 1]
            cr = cr[following != _LF]  # a CR followed by LF ends the line at the LF
        ends = np.concatenate((lf, cr))
        is_lf = np.concatenate((np.ones(len(lf), bool), np.zeros(len(cr), bool)))
        order = np.argsort(ends, kind="stable")
        ends, is_lf = ends[order], is_lf[order]
        even = (self._quotes + np.searchsorted(quotes, ends)) % 2 == 0  # outside quotes under parity 0
        for parity in (0, 1):
            outside = even if parity == 0 else ~even
            counted = is_lf | outside  # every LF is a line; a lone CR only outside quotes
            if self._first[parity] is None and outside.any():
                at = int(np.argmax(outside))
                self._first[parity] = base + int(ends[at]) + 1
                self._to_first[parity] = self._lines[parity] + int(np.count_nonzero(counted[:at])) + 1
            self._lines[parity] += int(np.count_nonzero(counted))
        self._quotes += len(quotes)


def scan_range(index: int, start: int, end: int, blocks: Iterable[bytes]) -> RangeScan:
    """`RangeScanner` over blocks covering [start, end) and the byte after it (absent at the end of the file)."""
    scanner = RangeScanner(index, start, end)
    for block in blocks:
        scanner.feed(block)
    return scanner.finish()


def plan_chunks(scans: Sequence[RangeScan], size: int) -> list[Chunk]:
    """The chunks: the first starts at 0 (header and all); each later range's first record under the true
    parity starts one, unless the range holds none (or only the end of the file)."""
    ordered = sorted(scans, key=lambda s: s.index)
    if [s.index for s in ordered] != list(range(len(ordered))):
        raise ValueError(f"range scans missing: got indexes {[s.index for s in ordered]}")
    starts = [(0, 0)]
    parity = lines = 0
    for scan in ordered:
        first = scan.first[parity]
        if scan.index > 0 and first is not None and first < size:
            starts.append((first, lines + scan.lines_to_first[parity]))
        lines += scan.lines[parity]
        parity = (parity + scan.quotes) % 2
    ends = [start for start, _ in starts[1:]] + [size]
    return [
        Chunk(index=i, start=start, end=end, lines_before=before)
        for i, ((start, before), end) in enumerate(zip(starts, ends, strict=True))
    ]
