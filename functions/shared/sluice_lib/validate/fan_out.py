"""The fanned-out Validate's S3 side: the plan files of a run, ranged reads, and one chunk checked into parts.

A run's working files live in the lake bucket under `validate/<dataset>/<run_id>/`: `ranges.json` (the
ScanRanges items), `scans/<index>.json` (each range's scan), `chunks.json` (the ValidateChunks items),
`chunks/<index>/` (each chunk's result and bad-row parts). Each chunk writes its staging part next to the
single path's (`staging/<dataset>/ingest_id=<id>/part-<index>.parquet`). A retried or redriven child writes the
same keys again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sluice_lib.contracts import Contract
from sluice_lib.errors import MalformedCsvError, NotUtf8Error, SourceObjectMissingError, error_code
from sluice_lib.models import S3Location, SourceObject
from sluice_lib.validate.columns import ColumnMap, map_columns
from sluice_lib.validate.core import check_rows
from sluice_lib.validate.ranges import Chunk
from sluice_lib.validate.reader import CsvReader, Header, read_header
from sluice_lib.validate.stream import GZIP_MAGIC, CheckedStream, open_checked

BLOCK_BYTES = 8 << 20  # what a ScanRange reads at a time
HEAD_BYTES = 16 << 20  # the most read_header reads (its _MAX_HEADER) before it gives up
BAD_ROWS_HEADER = "line,reasons,raw\n"  # the first line of every bad_rows.csv BadRowWriter writes
# Rejections a chunk reports instead of raising them: a Map child's error reaches the Map state as
# States.ExceedToleratedFailureThreshold, not by its name, so MergeChunks raises the first one (in file order)
# where Validate's Catch list can match it. Any other error fails the child and the execution at the Map.
CHUNK_REJECTIONS: tuple[type[Exception], ...] = (NotUtf8Error, MalformedCsvError)


def work_prefix(dataset: str, run_id: str) -> str:
    return f"validate/{dataset}/{run_id}/"


def staging_part(index: int) -> str:
    return f"part-{index:05d}.parquet"


class Rejection(BaseModel):
    error: str
    cause: str


class ChunkResult(BaseModel):
    """What a chunk leaves for MergeChunks (`chunks/<index>/result.json`)."""

    index: int
    rows: int = 0
    rejected: int = 0
    extra_columns: list[str] = []
    rejection: Rejection | None = None


def get_range(s3: Any, source: SourceObject, start: int, end: int) -> Any:
    """The object's bytes [start, end) as a streaming body (of this upload's version)."""
    params = {"Bucket": source.bucket, "Key": source.key, "Range": f"bytes={start}-{end - 1}"}
    if source.version_id:
        params["VersionId"] = source.version_id
    try:
        return s3.get_object(**params)["Body"]
    except s3.exceptions.ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "NoSuchVersion", "404"):
            raise SourceObjectMissingError(f"{source.uri}: the object version is gone ({exc})") from exc
        raise


def blocks(body: Any, size: int = BLOCK_BYTES) -> Iterator[bytes]:
    try:
        while block := body.read(size):
            yield block
    finally:
        body.close()


def put_json(s3: Any, bucket: str, key: str, value: Any) -> S3Location:
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(value, separators=(",", ":")).encode())
    return S3Location(bucket=bucket, key=key)


def get_json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def read_head(s3: Any, source: SourceObject, size: int) -> tuple[bool, Header]:
    """Whether the object is gzip (by its first bytes), and its header (read from its first bytes)."""
    body = get_range(s3, source, 0, min(size, HEAD_BYTES))
    try:
        head = body.read(len(GZIP_MAGIC))
        if head.startswith(GZIP_MAGIC):
            return True, Header(names=[], lines=0)
        stream = open_checked(_Prefixed(head, body), source.key, source.uri)
        header, _ = read_header(stream, source.uri)
        return False, header
    finally:
        body.close()


class _Prefixed:
    def __init__(self, head: bytes, body: Any) -> None:
        self._head, self._body = head, body

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            return out
        return bytes(self._body.read(size))


def check_chunk(
    body: Any,
    chunk: Chunk,
    header: Header,
    source: SourceObject,
    contract: Contract,
    folder: Path,
) -> tuple[ColumnMap, int, int]:
    """Checks one chunk's records (bytes [start, end) in `body`) into `folder`: the staging part, bad_rows.csv
    and bad_rows.jsonl with file-global line numbers. Chunk 0 reads the header as the single path does;
    a later chunk takes `header`'s names and starts after its `lines_before` lines."""
    if chunk.index == 0:
        stream = open_checked(body, source.key, source.uri)
        header, rest = read_header(stream, source.uri)
    else:
        stream = CheckedStream(body, source.uri, compressed=False, at=chunk.start)
        header, rest = Header(names=header.names, lines=chunk.lines_before), b""
    columns = map_columns(header.names, contract, source.uri)
    reader = CsvReader(stream, header, rest, source.uri)
    rows, bad = check_rows(reader, contract, columns, folder / staging_part(chunk.index), folder)
    return columns, rows, bad
