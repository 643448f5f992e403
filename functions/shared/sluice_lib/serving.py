"""The serving table: rows of published Parquet files (read back with their partition values) as DynamoDB items,
written in parallel batches."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import UTC, date, datetime
from datetime import time as clock_time
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from sluice_lib.contracts import Serving
from sluice_lib.curated import HIVE_NULL_PARTITION
from sluice_lib.errors import ServingKeyMissingError, ServingWriteError
from sluice_lib.lake import Manifest

BATCH_SIZE = 25  # BatchWriteItem's limit
MAX_WORKERS = 8
MAX_ATTEMPTS = 8  # per batch: the first request and up to 7 retries of its unprocessed items
BASE_DELAY = 0.05
MAX_DELAY = 5.0
NO_SORT_KEY = "-"


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


def items_by_key(
    dataset: str, rows: Iterable[dict[str, Any]], serving: Serving
) -> dict[tuple[str, str], dict[str, Any]]:
    """Items keyed by (pk, sk): a later row with the same key replaces an earlier one.

    BatchWriteItem rejects a request that names one key twice, so duplicates are settled here.
    """
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        item = to_item(dataset, row, serving)
        items[(item["pk"]["S"], item["sk"]["S"])] = item
    return items


def _chunks(items: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _write_batch(
    dynamodb: Any,
    table: str,
    batch: Sequence[dict[str, Any]],
    *,
    max_attempts: int,
    base_delay: float,
    max_delay: float,
    sleep: Callable[[float], None],
) -> int:
    """Writes one batch; returns the number of requests it took."""
    requests: list[dict[str, Any]] = [{"PutRequest": {"Item": item}} for item in batch]
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
    items: Sequence[dict[str, Any]],
    *,
    max_workers: int = MAX_WORKERS,
    max_attempts: int = MAX_ATTEMPTS,
    base_delay: float = BASE_DELAY,
    max_delay: float = MAX_DELAY,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Puts items with BatchWriteItem, 25 per request, several requests in flight; returns the request count.

    Unprocessed items are retried with backoff and jitter; a batch still unprocessed after
    `max_attempts` requests raises ServingWriteError. boto3 clients are thread-safe.
    """
    if not items:
        return 0
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="serving") as pool:
        futures = [
            pool.submit(
                _write_batch,
                dynamodb,
                table,
                batch,
                max_attempts=max_attempts,
                base_delay=base_delay,
                max_delay=max_delay,
                sleep=sleep,
            )
            for batch in _chunks(items, BATCH_SIZE)
        ]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        return sum(future.result() for future in futures if future in done)


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


def read_rows(s3: Any, bucket: str, keys: list[str], manifest: Manifest) -> Iterator[dict[str, Any]]:
    """Rows of published Parquet files, with their partition values (not stored in the files) added."""
    types = {c.name: c.type for c in manifest.partition_keys}
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        parent = key.rsplit("/", 1)[0]
        from_path = {
            name: _typed_partition_value(unquote(value), types[name])
            for name, _, value in (part.partition("=") for part in parent.split("/"))
            if name in types
        }
        for batch in pq.ParquetFile(pa.BufferReader(body)).iter_batches():
            for row in batch.to_pylist():
                yield {**from_path, **row}


def serve_files(
    s3: Any,
    dynamodb: Any,
    *,
    lake_bucket: str,
    keys: list[str],
    manifest: Manifest,
    serving: Serving,
    table: str,
) -> int:
    """Upserts one item per serving key of the published files' rows; returns the number of items written."""
    items = items_by_key(manifest.dataset, read_rows(s3, lake_bucket, keys, manifest), serving)
    write_items(dynamodb, table, list(items.values()))
    return len(items)
