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
    `quotes` counts '"' characters after the BOM: an odd total at the end means an unterminated quote.
    """

    def __init__(self, raw: Readable, uri: str, compressed: bool, at: int = 0) -> None:
        self._raw = raw
        self._uri = uri
        self._compressed = compressed
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._started = at > 0  # a chunk of the fanned-out Validate starts at a record, never at a BOM
        self.offset = at
        self.quotes = 0
        self.at_eof = False

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
        self.offset += len(data)
        if data.find(b'"') >= 0:  # memchr: most chunks of most files hold no quote, and bytes.count is slow
            self.quotes += int(np.count_nonzero(np.frombuffer(data, np.uint8) == _QUOTE))
        return data

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
            self._fail(self.offset - len(pending) + exc.start, exc.reason)

    def _finish(self) -> None:
        if self.at_eof:
            return
        self.at_eof = True
        pending = self._decoder.getstate()[0]
        if pending:
            self._fail(self.offset - len(pending), "the file ends inside a multi-byte character")

    def _fail(self, at: int, reason: str) -> None:
        where = " of the decompressed content" if self._compressed else ""
        raise NotUtf8Error(f"{self._uri}: not UTF-8 text: invalid byte at offset {at}{where} ({reason})")


def open_checked(body: Readable, key: str, uri: str) -> CheckedStream:
    """Wraps an S3 `Body`: gzip when the key ends in .gz or the bytes start with the gzip magic."""
    head = body.read(len(GZIP_MAGIC))
    if len(head) == 1:
        head += body.read(1)
    replay = Replay(head, body)
    if key.endswith(".gz") or head.startswith(GZIP_MAGIC):
        return CheckedStream(gzip.GzipFile(fileobj=replay, mode="rb"), uri, compressed=True)
    return CheckedStream(replay, uri, compressed=False)
