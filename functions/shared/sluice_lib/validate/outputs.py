"""What Validate leaves behind: staging Parquet, the quarantine CSV and the bad-records queue messages."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sluice_lib.errors import BadRecordsQueueError
from sluice_lib.validate.check import BadRow

SQS_MAX_BYTES = 256 * 1024  # per message and per send_message_batch call (body plus attributes)
SQS_MAX_ENTRIES = 10
_MAX_RAW_CHARS = 32 * 1024  # a longer raw row is cut in the message; the quarantine file keeps all of it
_SEND_ATTEMPTS = 3
_ROW_GROUP_ROWS = 256 * 1024
_DICTIONARY_PAGE_BYTES = 64 * 1024


class StagingWriter:
    """Typed valid rows into one local snappy Parquet file (written even when empty).

    Batches are buffered into row groups of ~256k rows: one row group per small batch costs a third more
    time and reads worse. A small dictionary page limit stops dictionary-encoding unique columns early.
    """

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.rows = 0
        self._schema = schema
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0
        self._writer = pq.ParquetWriter(
            path, schema, compression="snappy", dictionary_pagesize_limit=_DICTIONARY_PAGE_BYTES
        )

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self._buffer.append(batch)
            self._buffered += batch.num_rows
            self.rows += batch.num_rows
            if self._buffered >= _ROW_GROUP_ROWS:
                self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write_table(pa.Table.from_batches(self._buffer, schema=self._schema))
            self._buffer, self._buffered = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def __enter__(self) -> StagingWriter:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class BadRowWriter:
    """Bad rows in line order to two local files: the quarantine CSV and JSON lines for the queue."""

    def __init__(self, folder: Path) -> None:
        self.csv_path = folder / "bad_rows.csv"
        self.jsonl_path = folder / "bad_rows.jsonl"
        self.rows = 0
        self._csv_file = open(self.csv_path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        self._jsonl = open(self.jsonl_path, "w", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.writer(self._csv_file, lineterminator="\n")
        self._csv.writerow(["line", "reasons", "raw"])

    def write(self, rows: Iterable[BadRow]) -> None:
        for row in rows:
            self._csv.writerow([row.line, "; ".join(row.reasons), row.raw])
            message_row = {"line": row.line, "reasons": row.reasons, "raw": _cut(row.raw)}
            self._jsonl.write(json.dumps(message_row, separators=(",", ":")) + "\n")
            self.rows += 1

    def close(self) -> None:
        self._csv_file.close()
        self._jsonl.close()

    def __enter__(self) -> BadRowWriter:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def _cut(raw: str) -> str:
    if len(raw) <= _MAX_RAW_CHARS:
        return raw
    return (
        raw[:_MAX_RAW_CHARS]
        + f"... [cut at {_MAX_RAW_CHARS} of {len(raw)} characters; see the quarantine file]"
    )


def upload(s3: Any, path: Path, bucket: str, key: str) -> str:
    s3.upload_file(str(path), bucket, key)
    return f"s3://{bucket}/{key}"


def _attributes(dataset: str, source_key: str, run_id: str) -> dict[str, dict[str, str]]:
    values = {"dataset": dataset, "source_key": source_key, "run_id": run_id}
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def _attributes_size(attributes: dict[str, dict[str, str]]) -> int:
    """How SQS counts attributes against the size limit: name, data type and value bytes."""
    return sum(
        len(name.encode()) + len(a["DataType"].encode()) + len(a["StringValue"].encode())
        for name, a in attributes.items()
    )


def message_bodies(
    row_lines: Iterable[str], dataset: str, source_key: str, run_id: str, limit: int
) -> Iterator[str]:
    """Packs JSON rows into bodies {"dataset","source_key","run_id","rows":[...]} of at most `limit` bytes."""
    envelope = {"dataset": dataset, "source_key": source_key, "run_id": run_id, "rows": []}
    head = json.dumps(envelope, separators=(",", ":"))[:-2]  # ends in '"rows":['
    tail = "]}"
    fixed = len(head.encode()) + len(tail)
    rows: list[str] = []
    size = fixed
    for line in row_lines:
        row = line.rstrip("\n")
        row_size = len(row.encode()) + (1 if rows else 0)
        if rows and size + row_size > limit:
            yield head + ",".join(rows) + tail
            rows, size = [], fixed
            row_size = len(row.encode())
        if fixed + row_size > limit:
            raise ValueError(
                f"one bad row does not fit a {limit}-byte message even after cutting its raw text"
            )
        rows.append(row)
        size += row_size
    if rows:
        yield head + ",".join(rows) + tail


def send_bad_rows(sqs: Any, queue_url: str, jsonl: Path, dataset: str, source_key: str, run_id: str) -> int:
    """Sends the bad rows in messages under 256 KiB, up to 10 a call and 256 KiB a call; returns the count."""
    attributes = _attributes(dataset, source_key, run_id)
    attr_size = _attributes_size(attributes)
    sent = 0
    batch: list[str] = []
    batch_size = 0
    with open(jsonl, encoding="utf-8") as rows:
        for body in message_bodies(rows, dataset, source_key, run_id, SQS_MAX_BYTES - attr_size):
            size = len(body.encode()) + attr_size
            if batch and (len(batch) == SQS_MAX_ENTRIES or batch_size + size > SQS_MAX_BYTES):
                sent += _send_batch(sqs, queue_url, batch, attributes)
                batch, batch_size = [], 0
            batch.append(body)
            batch_size += size
    if batch:
        sent += _send_batch(sqs, queue_url, batch, attributes)
    return sent


def _send_batch(sqs: Any, queue_url: str, bodies: list[str], attributes: dict[str, Any]) -> int:
    """One send_message_batch call; entries SQS reports as failed are sent again, then give up loudly."""
    pending = {str(i): body for i, body in enumerate(bodies)}
    for _ in range(_SEND_ATTEMPTS):
        entries = [{"Id": i, "MessageBody": b, "MessageAttributes": attributes} for i, b in pending.items()]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        failed = response.get("Failed", [])
        pending = {f["Id"]: pending[f["Id"]] for f in failed}
        if not pending:
            return len(bodies)
    codes = ", ".join(sorted({f.get("Code", "?") for f in failed}))
    raise BadRecordsQueueError(f"{queue_url}: {len(pending)} bad-row messages were not accepted ({codes})")
