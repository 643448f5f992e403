"""The serving table: rows of published Parquet files (read back with their partition values) as DynamoDB items,
streamed into parallel BatchWriteItem requests (a bounded number of items in memory, whatever the file size)."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import UTC, date, datetime
from datetime import time as clock_time
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from sluice_lib.contracts import Serving
from sluice_lib.curated import HIVE_NULL_PARTITION
from sluice_lib.errors import ServingKeyMissingError, ServingWriteError, TransformOutputInvalidError
from sluice_lib.lake import Manifest
from sluice_lib.models import ServingSlice
from sluice_lib.s3_range_file import S3RangeFile

BATCH_SIZE = 25  # BatchWriteItem's limit
MAX_WORKERS = 8
MAX_ATTEMPTS = 8  # per batch: the first request and up to 7 retries of its unprocessed items
BASE_DELAY = 0.05
MAX_DELAY = 5.0
NO_SORT_KEY = "-"
READ_ROWS = 4096  # rows turned into items at a time


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date | clock_time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        return value.isoformat()
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_attribute(value: Any) -> dict[str, Any] | None:
    """A DynamoDB attribute value; None for nulls and non-finite floats, which are left out."""
    if value is None:
        return None
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": _text(value)}
    if isinstance(value, float):
        return {"N": repr(value)} if math.isfinite(value) else None
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, datetime | date | clock_time):
        return {"S": _text(value)}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, dict):
        members = {k: a for k, v in value.items() if (a := to_attribute(v)) is not None}
        return {"M": members}
    if isinstance(value, list | tuple):
        return {"L": [a for v in value if (a := to_attribute(v)) is not None]}
    return {"S": str(value)}


def item_key(dataset: str, row: dict[str, Any], serving: Serving) -> tuple[str, str]:
    """`(pk, sk)`: pk = `<dataset>#<pk values>`, sk = `<sk values>` or `-`, values joined by `#`."""
    missing = [name for name in [*serving.pk, *serving.sk] if row.get(name) is None]
    if missing:
        raise ServingKeyMissingError(
            f"{dataset}: a row has no value for serving key field(s) {missing}: {row}"
        )
    pk = "#".join([dataset, *(_text(row[name]) for name in serving.pk)])
    sk = "#".join(_text(row[name]) for name in serving.sk) or NO_SORT_KEY
    return pk, sk


def to_item(dataset: str, row: dict[str, Any], serving: Serving) -> dict[str, Any]:
    """Every non-null column as an attribute, plus the `pk` and `sk` keys."""
    pk, sk = item_key(dataset, row, serving)
    item = {name: attr for name, value in row.items() if (attr := to_attribute(value)) is not None}
    item["pk"] = {"S": pk}
    item["sk"] = {"S": sk}
    return item


def _chunks(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Requests of at most `size` items, none naming one key twice (BatchWriteItem rejects that): a later item
    with a key already in the request replaces the earlier one."""
    pending: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items:
        pending[(item["pk"]["S"], item["sk"]["S"])] = item
        if len(pending) == size:
            yield list(pending.values())
            pending = {}
    if pending:
        yield list(pending.values())


def _write_batch(
    dynamodb: Any,
    table: str,
    batch: Sequence[dict[str, Any]],
    *,
    max_attempts: int,
    base_delay: float,
    max_delay: float,
    sleep: Callable[[float], None],
    delete: bool = False,
) -> int:
    """Writes one batch (deletes its keys with `delete`); returns the number of requests it took."""
    requests: list[dict[str, Any]] = [
        {"DeleteRequest": {"Key": item}} if delete else {"PutRequest": {"Item": item}} for item in batch
    ]
    for attempt in range(max_attempts):
        if attempt:
            # Exponential backoff with full jitter, as the AWS SDKs retry throttled calls.
            sleep(random.uniform(0, min(max_delay, base_delay * 2**attempt)))
        try:
            response = dynamodb.batch_write_item(RequestItems={table: requests})
        except ClientError as exc:
            raise ServingWriteError(f"{table}: BatchWriteItem failed: {exc}") from exc
        requests = response.get("UnprocessedItems", {}).get(table, [])
        if not requests:
            return attempt + 1
    raise ServingWriteError(
        f"{table}: {len(requests)} of {len(batch)} items still unprocessed after {max_attempts} attempts"
    )


def write_items(
    dynamodb: Any,
    table: str,
    items: Iterable[dict[str, Any]],
    *,
    max_workers: int = MAX_WORKERS,
    max_attempts: int = MAX_ATTEMPTS,
    base_delay: float = BASE_DELAY,
    max_delay: float = MAX_DELAY,
    sleep: Callable[[float], None] = time.sleep,
    delete: bool = False,
) -> int:
    """Puts items with BatchWriteItem, 25 per request, several requests in flight; returns the request count.
    With `delete`, `items` are keys (`pk`, `sk`) and are deleted instead.

    `items` is consumed as it comes: at most 2 x `max_workers` requests are held at a time, never the whole
    list. A later item with the key of an earlier one wins: a request waits for the one in flight that writes
    the same key. Unprocessed items are retried with backoff and jitter; a batch still unprocessed after
    `max_attempts` requests raises ServingWriteError. boto3 clients are thread-safe.
    """
    requests = 0
    in_flight: dict[Future[int], list[tuple[str, str]]] = {}
    writer: dict[tuple[str, str], Future[int]] = {}  # the request in flight that writes each key

    def settle(done: Iterable[Future[int]]) -> None:
        nonlocal requests
        for future in done:
            requests += future.result()  # the first failure raises here
            for key in in_flight.pop(future):
                if writer.get(key) is future:
                    del writer[key]

    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="serving")
    try:
        for batch in _chunks(items, BATCH_SIZE):
            keys = [(item["pk"]["S"], item["sk"]["S"]) for item in batch]
            earlier = {writer[key] for key in keys if key in writer}
            if earlier:
                wait(earlier)
                settle(earlier)
            while len(in_flight) >= 2 * max_workers:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                settle(done)
            future = pool.submit(
                _write_batch,
                dynamodb,
                table,
                batch,
                max_attempts=max_attempts,
                base_delay=base_delay,
                max_delay=max_delay,
                sleep=sleep,
                delete=delete,
            )
            in_flight[future] = keys
            writer.update(dict.fromkeys(keys, future))
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_EXCEPTION)
            settle(done)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return requests


def _typed_partition_value(value: str, glue_type: str) -> Any:
    if value == HIVE_NULL_PARTITION:
        return None
    if glue_type in ("tinyint", "smallint", "int", "bigint"):
        return int(value)
    if glue_type in ("float", "double"):
        return float(value)
    if glue_type == "boolean":
        return value.lower() == "true"
    return value


def _slice_groups(parquet: pq.ParquetFile, start: int, end: int | None) -> tuple[list[int], int]:
    """The row groups holding rows [start, end) of the file, and the file row their first row is."""
    groups: list[int] = []
    first = at = 0
    for index in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(index).num_rows
        if at + rows > start and (end is None or at < end):
            if not groups:
                first = at
            groups.append(index)
        at += rows
    return groups, first


def changed_rows_ingest(manifest: Manifest, ingest_id: str) -> str | None:
    """The `_ingest_id` whose rows a run serves, or None for every row. A merge publishes whole partitions,
    whose other rows are the earlier runs' winners, already served: only the rows this run's upload won (new
    keys, and keys it updated or sent again) carry its ingest id and change the serving table."""
    return ingest_id if manifest.merge is not None else None


def _row_batches(
    s3: Any,
    bucket: str,
    slices: Iterable[ServingSlice],
    manifest: Manifest,
    *,
    only_ingest: str | None = None,
) -> Iterator[tuple[dict[str, Any], pa.RecordBatch]]:
    """`(partition values, rows)`: rows [start, end) of published Parquet files, READ_ROWS at a time, with the
    values of the partition folder they lie in (not stored in the files); with `only_ingest`, only the rows
    whose `_ingest_id` is that. Only the row groups holding them are read (ranged GETs)."""
    types = {c.name: c.type for c in manifest.partition_keys}
    for part in slices:
        parent = part.key.rsplit("/", 1)[0]
        from_path = {
            name: _typed_partition_value(unquote(value), types[name])
            for name, _, value in (p.partition("=") for p in parent.split("/"))
            if name in types
        }
        with S3RangeFile.open(s3, bucket, part.key) as raw:
            parquet = pq.ParquetFile(raw, pre_buffer=True)
            groups, at = _slice_groups(parquet, part.start, part.end)
            for batch in parquet.iter_batches(batch_size=READ_ROWS, row_groups=groups):
                low = max(part.start - at, 0)
                high = batch.num_rows if part.end is None else min(part.end - at, batch.num_rows)
                at += batch.num_rows
                if low < high:
                    rows = batch.slice(low, high - low)
                    if only_ingest is not None:
                        if "_ingest_id" not in rows.schema.names:
                            raise TransformOutputInvalidError(
                                f"s3://{bucket}/{part.key}: a merged file has no _ingest_id column (every curated "
                                "file has the lineage columns), so the rows its run won cannot be told apart"
                            )
                        rows = rows.filter(pc.equal(rows.column("_ingest_id"), only_ingest))
                    yield from_path, rows


def read_rows(
    s3: Any,
    bucket: str,
    slices: Iterable[ServingSlice],
    manifest: Manifest,
    *,
    only_ingest: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Rows [start, end) of published Parquet files, with their partition values (not stored in the files)
    added; with `only_ingest`, only the rows whose `_ingest_id` is that. Only the row groups holding them are
    read (ranged GETs), READ_ROWS rows at a time."""
    for from_path, rows in _row_batches(s3, bucket, slices, manifest, only_ingest=only_ingest):
        for row in rows.to_pylist():
            yield {**from_path, **row}


def _column_attributes(column: pa.Array) -> list[dict[str, Any] | None]:
    """`to_attribute` of every value of a column (None for nulls), the common types converted without
    looking at each value's type: strings, booleans, integers and timestamps (ISO 8601, UTC as `Z`)."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return [None if v is None else {"S": v} for v in column.to_pylist()]
    if pa.types.is_boolean(kind):
        return [None if v is None else {"BOOL": v} for v in column.to_pylist()]
    if pa.types.is_integer(kind):
        return [None if v is None else {"N": str(v)} for v in column.to_pylist()]
    if pa.types.is_timestamp(kind) and kind.unit != "ns":
        # The same instant without its zone is its UTC wall time: `_iso` of the zoned value.
        zone = "" if kind.tz is None else "Z"
        return [None if v is None else {"S": v + zone} for v in _isoformat(column).to_pylist()]
    return [to_attribute(v) for v in column.to_pylist()]


def _isoformat(column: pa.Array) -> pa.Array:
    """`datetime.isoformat()` of each value of a second, millisecond or microsecond timestamp column (its UTC
    wall time when zoned), formatted by Arrow: four times faster than a datetime per value. Arrow's text of a
    microsecond timestamp is `YYYY-MM-DD HH:MM:SS.ffffff`; isoformat has a `T` and drops a zero fraction."""
    text = column.cast(pa.timestamp("us")).cast(pa.string())
    text = pc.replace_substring(text, pattern=" ", replacement="T", max_replacements=1)
    return pc.replace_substring_regex(text, pattern=r"\.000000$", replacement="")


def read_items(
    s3: Any,
    bucket: str,
    slices: Iterable[ServingSlice],
    manifest: Manifest,
    serving: Serving,
    *,
    only_ingest: str | None = None,
) -> Iterator[dict[str, Any]]:
    """`to_item` of every row `read_rows` reads, built a column at a time (the same items)."""
    for from_path, rows in _row_batches(s3, bucket, slices, manifest, only_ingest=only_ingest):
        count = rows.num_rows
        attributes: dict[str, list[dict[str, Any] | None]] = {
            name: [to_attribute(value) for _ in range(count)] for name, value in from_path.items()
        }
        values: dict[str, list[Any]] = {name: [value] * count for name, value in from_path.items()}
        for name, column in zip(rows.schema.names, rows.columns, strict=True):
            attributes[name] = _column_attributes(column)
            if name in serving.pk or name in serving.sk:
                values[name] = column.to_pylist()
        named = list(attributes.items())
        for index in range(count):
            key_row = {name: values[name][index] for name in (*serving.pk, *serving.sk) if name in values}
            try:
                pk, sk = item_key(manifest.dataset, key_row, serving)
            except ServingKeyMissingError:  # raised again naming the whole row, as to_item does
                item_key(manifest.dataset, {**from_path, **rows.slice(index, 1).to_pylist()[0]}, serving)
                raise
            item = {name: attrs[index] for name, attrs in named if attrs[index] is not None}
            item["pk"] = {"S": pk}
            item["sk"] = {"S": sk}
            yield item


def served_keys(
    s3: Any,
    dynamodb: Any,
    *,
    lake_bucket: str,
    slices: Iterable[ServingSlice],
    manifest: Manifest,
    serving: Serving,
    table: str,
    only_ingest: str | None = None,
) -> set[tuple[str, str]]:
    """Upserts one item per serving key of the rows of `slices` (a later row with the same key wins; with
    `only_ingest`, of the rows of that ingest only: `changed_rows_ingest`), streaming rows to requests; returns
    the keys written (about 100 bytes each, not the items)."""
    written: set[tuple[str, str]] = set()

    def items() -> Iterator[dict[str, Any]]:
        for item in read_items(s3, lake_bucket, slices, manifest, serving, only_ingest=only_ingest):
            written.add((item["pk"]["S"], item["sk"]["S"]))
            yield item

    write_items(dynamodb, table, items())
    return written


def serve_slices(
    s3: Any,
    dynamodb: Any,
    *,
    lake_bucket: str,
    slices: Iterable[ServingSlice],
    manifest: Manifest,
    serving: Serving,
    table: str,
    only_ingest: str | None = None,
) -> int:
    """`served_keys`, counted: the number of distinct items written."""
    return len(
        served_keys(
            s3, dynamodb, lake_bucket=lake_bucket, slices=slices, manifest=manifest, serving=serving, table=table,
            only_ingest=only_ingest,
        )
    )  # fmt: skip


def serve_files(
    s3: Any,
    dynamodb: Any,
    *,
    lake_bucket: str,
    keys: list[str],
    manifest: Manifest,
    serving: Serving,
    table: str,
    only_ingest: str | None = None,
) -> int:
    """Upserts one item per serving key of the published files' rows (`serve_slices`); returns the number of
    items written."""
    return serve_slices(
        s3, dynamodb, lake_bucket=lake_bucket, slices=[ServingSlice(key=key, start=0) for key in keys],
        manifest=manifest, serving=serving, table=table, only_ingest=only_ingest,
    )  # fmt: skip


def restore_items(
    s3: Any,
    dynamodb: Any,
    *,
    table: str,
    manifest: Manifest,
    serving: Serving,
    restored: Iterable[str],
    replaced: Iterable[str],
) -> tuple[int, int]:
    """A rollback's serving writes: upserts the items of every row of the `restored` files (`s3://` URIs), then
    deletes the items of keys found in the `replaced` files (the versions rolled away) and in none of the
    restored ones; returns (written, deleted). The restored and replaced files are every version a rollback
    switched, so a key absent from all restored ones is absent from the table (a key moved between two
    partitions changed both)."""

    def slices(uris: Iterable[str]) -> dict[str, list[ServingSlice]]:
        found: dict[str, list[ServingSlice]] = {}
        for uri in uris:
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            found.setdefault(bucket, []).append(ServingSlice(key=key, start=0))
        return found

    kept: set[tuple[str, str]] = set()
    for bucket, parts in slices(restored).items():
        kept |= served_keys(
            s3, dynamodb, lake_bucket=bucket, slices=parts, manifest=manifest, serving=serving, table=table
        )
    stale: set[tuple[str, str]] = set()
    for bucket, parts in slices(replaced).items():
        for row in read_rows(s3, bucket, parts, manifest):
            key = item_key(manifest.dataset, row, serving)
            if key not in kept:
                stale.add(key)
    write_items(
        dynamodb, table, ({"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in sorted(stale)), delete=True
    )
    return len(kept), len(stale)
