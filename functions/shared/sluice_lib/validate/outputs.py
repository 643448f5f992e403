"""What Validate leaves behind: staging Parquet, the quarantine CSV and the bad-records queue messages."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sluice_lib.errors import BadRecordsQueueError
from sluice_lib.validate.check import BadRow

SQS_MAX_BYTES = 256 * 1024  # per message and per send_message_batch call (body plus attributes)
SQS_MAX_ENTRIES = 10
_MAX_RAW_CHARS = 32 * 1024  # a longer raw row is cut in the message; the quarantine file keeps all of it
_SEND_ATTEMPTS = 3
_ROW_GROUP_ROWS = 256 * 1024
_DICTIONARY_PAGE_BYTES = 64 * 1024  # a unique column that was taken for a repeating one stops early
_SAMPLE_ROWS = 16 * 1024  # rows of the first row group that choose each column's encoding
_DISTINCT_SHARE = 0.5  # dictionary-encode a column with at most this share of distinct values
_SNAPPY_PAYS = 0.75  # compress a column only when snappy saves at least a quarter of its bytes


class StagingWriter:
    """Typed valid rows into one local Parquet file (written even when empty).

    Batches are buffered into row groups of ~256k rows: one row group per small batch costs a third more
    time and reads worse. How each column is written is chosen once, from the first row group (see
    column_options); the file stays plain Parquet with the staging schema's logical types.
    """

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.rows = 0
        self._schema = schema
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self._buffer.append(batch)
            self._buffered += batch.num_rows
            self.rows += batch.num_rows
            if self._buffered >= _ROW_GROUP_ROWS:
                self._flush()

    def _open(self, first: pa.Table) -> pq.ParquetWriter:
        return pq.ParquetWriter(
            self.path,
            self._schema,
            dictionary_pagesize_limit=_DICTIONARY_PAGE_BYTES,
            **column_options(first),
        )

    def _flush(self) -> None:
        if self._buffer:
            table = pa.Table.from_batches(self._buffer, schema=self._schema)
            if self._writer is None:
                self._writer = self._open(table)
            self._writer.write_table(table)
            self._buffer, self._buffered = [], 0

    def close(self) -> None:
        self._flush()
        if self._writer is None:  # no valid rows: an empty file with the schema
            self._writer = self._open(self._schema.empty_table())
        self._writer.close()

    def __enter__(self) -> StagingWriter:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def _is_text(of: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(of)
        or pa.types.is_large_string(of)
        or pa.types.is_binary(of)
        or pa.types.is_large_binary(of)
    )


def _snappy_ratio(column: pa.Array) -> float:
    """How far snappy shrinks the column's value bytes (1.0: not at all)."""
    values = column.buffers()[-1]
    if _is_text(column.type) and values is not None:
        large = pa.types.is_large_string(column.type) or pa.types.is_large_binary(column.type)
        width = np.dtype(np.int64 if large else np.int32)
        offsets = np.frombuffer(
            column.buffers()[1], width, count=len(column) + 1, offset=column.offset * width.itemsize
        )
        values = values[int(offsets[0]) : int(offsets[-1])]
    if values is None or values.size == 0:
        return 0.0
    return pa.compress(values, "snappy", asbytes=False).size / values.size


def column_options(first: pa.Table) -> dict[str, Any]:
    """ParquetWriter options per column, from a sample of the first row group.

    - dictionary encoding where a column repeats its values (at most half of the sample distinct):
      codes, enums, accounts;
    - snappy where it saves at least a quarter of the value bytes (text, repeated values); random ids
      (snappy saves about a fifth of their digits), hashes and timestamps are written uncompressed:
      compressing them took 40% of the staging file's CPU for a fifth of its size;
    - min/max statistics for non-string columns only: string ones cost more than the rest of the encoding
      of those columns, and nothing reads them from a staging file, which the Glue job reads whole.
    Plain encoding otherwise: DELTA_LENGTH_BYTE_ARRAY would make uncompressed ids smaller, but the Glue
    job's Spark (3.5.6) reads such a column wrongly once it holds a null (SPARK-52240).
    """
    dictionary: list[str] = []
    compression: dict[str, str] = {}
    statistics: list[str] = []
    sample = first.slice(0, _SAMPLE_ROWS)
    for field, chunked in zip(first.schema, sample.columns, strict=True):
        name = field.name
        if not _is_text(field.type):
            statistics.append(name)
        column = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
        present = len(column) - column.null_count
        if present == 0 or len(pc.unique(column)) - (column.null_count > 0) <= present * _DISTINCT_SHARE:
            dictionary.append(name)
        compression[name] = "snappy" if present == 0 or _snappy_ratio(column) < _SNAPPY_PAYS else "none"
    return {"use_dictionary": dictionary, "compression": compression, "write_statistics": statistics}


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
        csv_lines: list[str] = []
        json_lines: list[str] = []
        for row in rows:
            reasons = "; ".join(row.reasons)
            if "\r" in reasons or "\r" in row.raw:  # where csv's quoting rule depends on the Python version
                self._csv_file.write("".join(csv_lines))
                csv_lines.clear()
                self._csv.writerow([row.line, reasons, row.raw])
            else:
                csv_lines.append(f"{row.line},{_csv_field(reasons)},{_csv_field(row.raw)}\n")
            listed = ",".join(_json_string(r) for r in row.reasons)
            json_lines.append(
                f'{{"line":{row.line},"reasons":[{listed}],"raw":{_json_string(_cut(row.raw))}}}\n'
            )
        self._csv_file.write("".join(csv_lines))
        self._jsonl.write("".join(json_lines))
        self.rows += len(json_lines)

    def close(self) -> None:
        self._csv_file.close()
        self._jsonl.close()

    def __enter__(self) -> BadRowWriter:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


# The quarantine CSV and the queue's JSON lines are written by hand for speed (a third of the bad-row cost),
# exactly as csv.writer (QUOTE_MINIMAL, lineterminator "\n") and json.dumps(ensure_ascii=True, separators
# (",", ":")) write them: a field is quoted when it holds the delimiter, a quote or a line feed; a JSON
# string holding anything but printable ASCII other than '"' and '\\' goes through json.dumps.
_CSV_QUOTE = re.compile(r'[,"\n]')
_JSON_PLAIN = re.compile(r"[^ !#-\[\]-~]")


def _csv_field(value: str) -> str:
    if _CSV_QUOTE.search(value) is None:
        return value
    return '"' + value.replace('"', '""') + '"'


def _json_string(value: str) -> str:
    return f'"{value}"' if _JSON_PLAIN.search(value) is None else json.dumps(value)


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
