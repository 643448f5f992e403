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

from sluice_lib.contracts import Contract, ContractStore
from sluice_lib.errors import (
    FileTooLargeError,
    MalformedCsvError,
    NotUtf8Error,
    SourceObjectMissingError,
    error_code,
)
from sluice_lib.models import Chunk, Execution, S3Location, SourceObject, ValidateFanOut
from sluice_lib.references import references_json
from sluice_lib.settings import Settings
from sluice_lib.validate.columns import ColumnMap, map_columns
from sluice_lib.validate.core import check_rows, contract_for
from sluice_lib.validate.ranges import byte_ranges
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
) -> tuple[ColumnMap, int, int, int]:
    """Checks one chunk's records (bytes [start, end) in `body`) into `folder`: the staging part, bad_rows.csv
    and bad_rows.jsonl with file-global line numbers; returns (columns, rows, bad rows, blank lines). Chunk 0 reads the header as the single path does;
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
    return columns, rows, bad, reader.blank_lines


def object_size(s3: Any, source: SourceObject) -> int:
    """The version's size: from the event, else a HEAD."""
    if source.size:
        return source.size
    params = {"Bucket": source.bucket, "Key": source.key}
    if source.version_id:
        params["VersionId"] = source.version_id
    try:
        return int(s3.head_object(**params)["ContentLength"])
    except s3.exceptions.ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "NoSuchVersion", "404"):
            raise SourceObjectMissingError(f"{source.uri}: the object version is gone ({exc})") from exc
        raise


def _too_large(source: SourceObject, size: int, limit: int) -> FileTooLargeError:
    return FileTooLargeError(
        f"{source.uri}: {size:,} bytes of gzip are more than ValidateGzipMaxBytes {limit:,}: a gzip stream "
        "cannot be split into byte ranges, and one Validate Lambda would not read it within its timeout. "
        f"Upload it uncompressed (validated in parallel byte ranges), or split it into .csv.gz files of at "
        f"most {limit:,} bytes"
    )


def plan_fan_out(
    *,
    source: SourceObject,
    execution: Execution,
    contracts: ContractStore,
    settings: Settings,
    s3: Any,
    glue: Any,
) -> ValidateFanOut | None:
    """The fan-out plan for an uncompressed object over ValidateChunkBytes (its ranges in S3), after the checks
    that need only the header; None for the single path. A gzip object over ValidateGzipMaxBytes is rejected."""
    size = object_size(s3, source)
    gzip_limit = settings.validate_gzip_max_bytes
    named_gzip = source.key.endswith(".gz")
    if named_gzip and 0 < gzip_limit < size:
        raise _too_large(source, size, gzip_limit)
    chunk_bytes = settings.validate_chunk_bytes
    if chunk_bytes <= 0 or size <= chunk_bytes or named_gzip:
        return None
    contract = contract_for(source, contracts)
    references = references_json(contract, glue=glue, database=settings.glue_database)
    gzipped, header = read_head(s3, source, size)
    if gzipped:
        if 0 < gzip_limit < size:
            raise _too_large(source, size, gzip_limit)
        return None
    columns = map_columns(header.names, contract, source.uri)
    prefix = work_prefix(source.dataset, execution.name)
    ranges = byte_ranges(size, chunk_bytes)
    plan = put_json(s3, settings.lake_bucket, prefix + "ranges.json", [r.model_dump() for r in ranges])
    return ValidateFanOut(
        run_id=execution.name,
        ingest_id=source.ingest_id,
        dataset=source.dataset,
        source=source,
        execution_arn=execution.arn,
        started_at=execution.start_time,
        size=size,
        header=header.names,
        extra_columns=columns.extra,
        references_json=references,
        ranges=len(ranges),
        ranges_plan=plan,
        work_prefix=prefix,
    )
