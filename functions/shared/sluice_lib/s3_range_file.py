"""A seekable read-only view of one S3 object through ranged GETs, for pyarrow to read Parquet footers and
column chunks without downloading whole files."""

from __future__ import annotations

import io
from typing import Any


class S3RangeFile(io.RawIOBase):
    """A seekable read-only view of one S3 object; each read is one ranged GetObject.

    pyarrow reads a Parquet file through it as it reads a local one: the footer, then the chunks of the
    columns asked for (a few GETs per row group), so a key column of a wide table costs that column's bytes.
    """

    def __init__(self, s3: Any, bucket: str, key: str, size: int) -> None:
        super().__init__()
        self._s3, self._bucket, self._key, self._size = s3, bucket, key, size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        end = self._pos + want - 1
        body = self._s3.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-{end}")[
            "Body"
        ]
        data = body.read()
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    @classmethod
    def open(cls, s3: Any, bucket: str, key: str) -> S3RangeFile:
        """The object at `key`, its size asked with a HEAD."""
        return cls(s3, bucket, key, int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"]))
