"""The object's bytes as a checked stream: gunzipped when needed, BOM dropped, UTF-8 verified on the way."""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from typing import Any, Protocol

import numpy as np

from sluice_lib.errors import MalformedCsvError, NotUtf8Error

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = codecs.BOM_UTF8
_QUOTE = ord('"')


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Replay(io.RawIOBase):
    """Returns `head` first, then reads on from `rest`: lets us peek at bytes without seeking."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._rest.read(size)
        if size < 0:
            out, self._head = self._head + self._rest.read(), b""
            return out
        # A short read is allowed (io.RawIOBase semantics); pyarrow and gzip both read on.
        out, self._head = self._head[:size], self._head[size:]
        return out

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class CheckedStream(io.RawIOBase):
    """Decoded-as-UTF-8 check of every byte that passes, plus the counts the reader needs.

    `offset` counts bytes of the (decompressed) content including a BOM, so a NotUtf8Error's
    offset is where a hex editor on the gunzipped file would find the bad byte.
    `quotes` counts '"' characters after the BOM: an odd total at the end means an unterminated quote, and
    `open_quote` says where the quote that is never closed opens ((line, column), 1-based). Lines are counted
    at LF (so LF and CRLF files), columns in characters, for the messages of the errors that locate a problem.
    """

    def __init__(self, raw: Readable, uri: str, compressed: bool) -> None:
        self._raw = raw
        self._uri = uri
        self._compressed = compressed
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._started = False
        self.offset = 0
        self.quotes = 0
        self.at_eof = False
        self.open_quote: tuple[int, int] | None = None
        self._lines = 0  # line ends (LF) before the current chunk
        self._column = 0  # characters of the current line before the current chunk
        self._last_byte = b""  # the byte before the current chunk

    def readable(self) -> bool:
        return True

    def _read_raw(self, size: int) -> bytes:
        try:
            return self._raw.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            # gzip.BadGzipFile is an OSError; a truncated gzip stream ends in EOFError.
            raise MalformedCsvError(f"{self._uri}: not a readable gzip stream: {exc}") from exc

    def read(self, size: int = -1) -> bytes:
        data = self._read_raw(size)
        if not self._started:
            self._started = True
            while len(data) < len(UTF8_BOM) and data:
                more = self._read_raw(len(UTF8_BOM) - len(data))
                if not more:
                    break
                data += more
            if data.startswith(UTF8_BOM):
                data = data[len(UTF8_BOM) :]
                self.offset += len(UTF8_BOM)
                if not data:  # the read held just the BOM; an empty result would mean the end
                    data = self._read_raw(size)
        if not data:
            if size != 0:
                self._finish()
            return data
        self._check(data)
        if data.find(b'"') >= 0:  # memchr: most chunks of most files hold no quote, and bytes.count is slow
            at = np.flatnonzero(np.frombuffer(data, np.uint8) == _QUOTE)
            if (self.quotes + len(at)) % 2:
                opening = self._opening(data, at)
                if opening is not None:
                    self.open_quote = self._where(data, opening)
            self.quotes += len(at)
        self._advance(data)
        return data

    def _opening(self, data: bytes, at: np.ndarray) -> int | None:
        """Where the quote left open after this chunk is: of the quotes that make the count odd, the last one
        that starts a value (after a comma or a line end; `""` inside a value is an escaped quote); else the one
        an earlier chunk left open (None), or the last of them when there is none."""
        openings = at[(self.quotes + np.arange(len(at))) % 2 == 0]
        for pos in reversed(openings.tolist()):
            before = data[pos - 1 : pos] if pos else self._last_byte
            if before in (b"", b",", b"\n", b"\r"):
                return int(pos)
        if self.quotes % 2 and self.open_quote is not None:
            return None
        return int(openings[-1])

    def _where(self, data: bytes, at: int) -> tuple[int, int]:
        """(line, column) of byte `at` of the current chunk, 1-based."""
        start = data.rfind(b"\n", 0, at) + 1
        before = data[start:at].decode("utf-8", "replace")
        if start == 0:
            return self._lines + 1, self._column + len(before) + 1
        return self._lines + data.count(b"\n", 0, at) + 1, len(before) + 1

    def _advance(self, data: bytes) -> None:
        self.offset += len(data)
        self._last_byte = data[-1:]
        last = data.rfind(b"\n")
        tail = data[last + 1 :]
        # Characters of the line's tail (continuation bytes are not characters; the text was checked above).
        chars = len(tail)
        if not tail.isascii():
            chars -= int(np.count_nonzero((np.frombuffer(tail, np.uint8) & 0xC0) == 0x80))
        if last < 0:
            self._column += chars
        else:
            self._lines += data.count(b"\n")
            self._column = chars

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _check(self, data: bytes) -> None:
        # ASCII chunks need no decoding, unless a multi-byte character is pending from the last chunk.
        pending = self._decoder.getstate()[0]
        if data.isascii() and not pending:
            return
        try:
            self._decoder.decode(data)
        except UnicodeDecodeError as exc:
            start = max(exc.start - len(pending), 0)
            line, column = self._where(data, start)
            bad = bytes(exc.object[exc.start : exc.end])
            at = self.offset - len(pending) + exc.start
            utf16 = at == 0 and data[:2] in (b"\xff\xfe", b"\xfe\xff")
            self._fail(at, exc.reason, bad, (line, column), utf16)

    def _finish(self) -> None:
        if self.at_eof:
            return
        self.at_eof = True
        pending = self._decoder.getstate()[0]
        if pending:
            self._fail(
                self.offset - len(pending),
                "the file ends inside a multi-byte character",
                bytes(pending),
                (self._lines + 1, self._column + 1),
            )

    def _fail(self, at: int, reason: str, bad: bytes, where: tuple[int, int], utf16: bool = False) -> None:
        decompressed = " of the decompressed content" if self._compressed else ""
        shown = " ".join(f"0x{b:02X}" for b in bad)
        hint = "save the file as UTF-8"
        if utf16:
            hint = "it starts with a UTF-16 byte order mark: save it as UTF-8"
        elif reason != "the file ends inside a multi-byte character":
            hint = "Latin-1 or Windows-1252 text? " + hint
        raise NotUtf8Error(
            f"{self._uri}: not UTF-8 text: line {where[0]}, column {where[1]}: invalid byte{'s' if len(bad) > 1 else ''} "
            f"{shown} at offset {at}{decompressed} ({reason}); {hint}"
        )


def open_checked(body: Readable, key: str, uri: str) -> CheckedStream:
    """Wraps an S3 `Body`: gzip when the key ends in .gz or the bytes start with the gzip magic."""
    head = body.read(len(GZIP_MAGIC))
    if len(head) == 1:
        head += body.read(1)
    replay = Replay(head, body)
    if key.endswith(".gz") or head.startswith(GZIP_MAGIC):
        return CheckedStream(gzip.GzipFile(fileobj=replay, mode="rb"), uri, compressed=True)
    return CheckedStream(replay, uri, compressed=False)
