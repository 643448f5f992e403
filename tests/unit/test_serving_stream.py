"""Serving items streamed: the writer holds a bounded number of requests, a later item of a key wins even when
the earlier request is slower, and a row range of a curated file is read from its row groups alone."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from steps_aws import SETTINGS, emulated_aws

from sluice_lib.contracts import Serving
from sluice_lib.errors import TransformOutputInvalidError
from sluice_lib.lake import Manifest
from sluice_lib.models import ServingSlice
from sluice_lib.serving import changed_rows_ingest, read_rows, restore_items, write_items
from sluice_lib.steps.load import serving_batches


def item(key: int, value: int = 0) -> dict[str, Any]:
    return {"pk": {"S": f"offers#{key:08d}"}, "sk": {"S": "-"}, "v": {"N": str(value)}}


class Table:
    """A BatchWriteItem sink that stores each request's items when the request ends; `hold` blocks requests
    until released, `slow` delays those that write the given key."""

    def __init__(self, slow: str | None = None) -> None:
        self.lock = threading.Lock()
        self.stored: dict[str, str] = {}
        self.requests: list[list[str]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.slow = slow

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((_, writes),) = RequestItems.items()
        puts = [w["PutRequest"]["Item"] for w in writes]
        self.hold.wait()
        if self.slow is not None and any(p["pk"]["S"] == self.slow for p in puts):
            time.sleep(0.3)
        with self.lock:
            self.requests.append([p["pk"]["S"] for p in puts])
            self.stored.update({p["pk"]["S"]: p["v"]["N"] for p in puts})
        return {"UnprocessedItems": {}}


def test_write_items_consumes_a_generator_holding_at_most_two_requests_a_worker():
    table = Table()
    table.hold.clear()  # every request waits: the writer must stop pulling items
    produced = 0

    def items() -> Iterator[dict[str, Any]]:
        nonlocal produced
        for key in range(10_000):
            produced += 1
            yield item(key)

    writer = threading.Thread(target=write_items, args=(table, "serving", items()), kwargs={"max_workers": 2})
    writer.start()
    seen = -1
    while seen != produced:  # until the writer stops pulling
        seen = produced
        time.sleep(0.2)
    held = produced
    table.hold.set()
    writer.join(timeout=30)

    # 2 workers: 4 requests in flight, the next one filling, and the item that did not fit.
    assert held <= (2 * 2 + 1) * 25 + 1
    assert len(table.stored) == 10_000
    assert max(len(r) for r in table.requests) == 25


def test_write_items_later_item_of_a_key_wins_over_a_slower_earlier_request():
    table = Table(slow="offers#00000000")
    # Key 0 = 1 in the first request (slow), key 0 = 2 in the second: it must not be overtaken.
    items = [item(0, 1), *(item(k) for k in range(1, 25)), item(0, 2), *(item(k) for k in range(25, 49))]

    write_items(table, "serving", items, max_workers=4)

    assert table.stored["offers#00000000"] == "2"
    assert len(table.requests) == 2


def test_write_items_two_items_of_one_key_in_one_request_become_the_later_one():
    table = Table()

    write_items(table, "serving", [item(7, 1), item(8), item(7, 2)])

    assert table.requests == [["offers#00000007", "offers#00000008"]]
    assert table.stored["offers#00000007"] == "2"


def test_serving_batches_cut_files_into_row_ranges_and_cap_the_files_of_an_item():
    keys = ["a.parquet", "b.parquet", "c.parquet", "d.parquet", "e.parquet"]
    rows = [5, 0, 12, 1, 1]

    batches = list(serving_batches(keys, rows, rows_per_batch=4, files_per_batch=2))

    assert [[(s.key[0], s.start, s.end) for s in b.slices] for b in batches] == [
        [("a", 0, 4)],
        [("a", 4, 5), ("c", 0, 3)],
        [("c", 3, 7)],
        [("c", 7, 11)],
        [("c", 11, 12), ("d", 0, 1)],
        [("e", 0, 1)],
    ]
    assert [b.index for b in batches] == [0, 1, 2, 3, 4, 5]
    assert all(sum(s.end - s.start for s in b.slices) <= 4 for b in batches)  # type: ignore[operator]


class RecordingS3:
    """The emulated S3 client, recording the byte ranges of each GetObject."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.ranges: list[tuple[int, int]] = []

    def get_object(self, **kwargs: Any) -> Any:
        low, high = kwargs["Range"].removeprefix("bytes=").split("-")
        self.ranges.append((int(low), int(high)))
        return self.inner.get_object(**kwargs)

    def head_object(self, **kwargs: Any) -> Any:
        return self.inner.head_object(**kwargs)


@pytest.mark.parametrize(("start", "end"), [(4, 8), (0, 3), (9, 10), (0, None)])
def test_read_rows_of_a_row_range_reads_only_the_row_groups_holding_it(start: int, end: int | None):
    table = pa.table({"account": [f"{i:08d}" for i in range(10)], "n": list(range(10))})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=3)  # row groups: rows 0-2, 3-5, 6-8, 9
    metadata = pq.read_metadata(io.BytesIO(buffer.getvalue()))
    key = "curated/offers/year=2025/part-0.parquet"
    manifest = Manifest(
        run_id="r",
        dataset="offers",
        rows_written=10,
        files=[key],
        columns=[],
        partition_keys=[{"name": "year", "type": "int"}],  # type: ignore[list-item]
    )
    with emulated_aws() as aws:
        aws.s3.put_object(Bucket=SETTINGS.lake_bucket, Key=key, Body=buffer.getvalue())
        s3 = RecordingS3(aws.s3)

        rows = list(
            read_rows(s3, SETTINGS.lake_bucket, [ServingSlice(key=key, start=start, end=end)], manifest)
        )

    stop = 10 if end is None else end
    assert rows == [{"year": 2025, "account": f"{i:08d}", "n": i} for i in range(start, stop)]
    size = len(buffer.getvalue())
    data_reads = [(low, high) for low, high in s3.ranges if high != size - 1]  # not the footer's reads
    for group in range(metadata.num_row_groups):
        columns = [metadata.row_group(group).column(c) for c in range(metadata.num_columns)]
        starts = [c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset for c in columns]
        span = (min(starts), max(o + c.total_compressed_size for o, c in zip(starts, columns, strict=True)))
        rows_before = 3 * group
        wanted = rows_before < stop and rows_before + metadata.row_group(group).num_rows > start
        touched = any(low < span[1] and high >= span[0] for low, high in data_reads)
        assert touched == wanted, (group, s3.ranges)


@pytest.mark.parametrize(("start", "end"), [(0, None), (2, 7)])
def test_read_rows_of_one_ingest_keeps_only_its_rows_of_the_range(start: int, end: int | None):
    """A merged partition's file holds earlier runs' winners beside the run's own rows: a merge serves only
    the rows whose `_ingest_id` is the run's (sluice_lib.serving.changed_rows_ingest)."""
    ingests = ["old", "new", "new", "old", "new", "old", "old", "new", "new", "old"]
    table = pa.table({"account": [f"{i:08d}" for i in range(10)], "_ingest_id": ingests})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=3)
    key = "curated/offers/year=2025/v1/part-0.parquet"
    manifest = Manifest(
        run_id="r", dataset="offers", rows_written=10, files=[key], columns=[],
        partition_keys=[{"name": "year", "type": "int"}],  # type: ignore[list-item]
    )  # fmt: skip
    with emulated_aws() as aws:
        aws.s3.put_object(Bucket=SETTINGS.lake_bucket, Key=key, Body=buffer.getvalue())
        slices = [ServingSlice(key=key, start=start, end=end)]

        rows = list(read_rows(aws.s3, SETTINGS.lake_bucket, slices, manifest, only_ingest="new"))
        every = list(read_rows(aws.s3, SETTINGS.lake_bucket, slices, manifest))

    stop = 10 if end is None else end
    wanted = [i for i in range(start, stop) if ingests[i] == "new"]
    assert [r["account"] for r in rows] == [f"{i:08d}" for i in wanted]
    assert {r["_ingest_id"] for r in rows} == {"new"}
    assert len(every) == stop - start


def test_changed_rows_ingest_filters_merges_only():
    plain = Manifest(run_id="r", dataset="offers", rows_written=1, files=[], columns=[])
    merged = plain.model_copy(update={"merge": {"inserted": 1, "updated": 0, "unchanged": 0}})

    assert changed_rows_ingest(plain, "ingest-1") is None
    assert changed_rows_ingest(merged, "ingest-1") == "ingest-1"


def test_restore_items_writes_the_restored_rows_and_deletes_keys_only_the_rolled_away_versions_held():
    def parquet(accounts: list[str], risk: str) -> bytes:
        buffer = io.BytesIO()
        pq.write_table(
            pa.table(
                {"account": accounts, "offer_id": ["1"] * len(accounts), "risk": [risk] * len(accounts)}
            ),
            buffer,
        )
        return buffer.getvalue()

    manifest = Manifest(
        run_id="rollback", dataset="offers", rows_written=0, files=[], columns=[],
        partition_keys=[{"name": "year", "type": "int"}],  # type: ignore[list-item]
    )  # fmt: skip
    serving = Serving(pk=["account"], sk=["offer_id"])
    restored = "curated/offers/year=2025/v1/part-0.parquet"  # after the run: a1, a2 (low)
    replaced = "curated/offers/year=2025/v2/part-0.parquet"  # rolled away: a1, a2 (high), a3 (new)
    with emulated_aws() as aws:
        aws.s3.put_object(Bucket=SETTINGS.lake_bucket, Key=restored, Body=parquet(["a1", "a2"], "low"))
        aws.s3.put_object(Bucket=SETTINGS.lake_bucket, Key=replaced, Body=parquet(["a1", "a2", "a3"], "high"))
        for account in ("a1", "a2", "a3", "b9"):  # b9: another partition's key, untouched
            aws.dynamodb.put_item(
                TableName=SETTINGS.serving_table,
                Item={"pk": {"S": f"offers#{account}"}, "sk": {"S": "1"}, "risk": {"S": "high"}},
            )

        counts = restore_items(
            aws.s3, aws.dynamodb, table=SETTINGS.serving_table, manifest=manifest, serving=serving,
            restored=[f"s3://{SETTINGS.lake_bucket}/{restored}"], replaced=[f"s3://{SETTINGS.lake_bucket}/{replaced}"],
        )  # fmt: skip
        items = aws.dynamodb.scan(TableName=SETTINGS.serving_table)["Items"]

    assert counts == (2, 1)
    assert {i["pk"]["S"]: i["risk"]["S"] for i in items} == {
        "offers#a1": "low",
        "offers#a2": "low",
        "offers#b9": "high",
    }


def test_read_rows_of_one_ingest_from_a_file_without_lineage_names_the_file():
    buffer = io.BytesIO()
    pq.write_table(pa.table({"account": ["a1"]}), buffer)
    key = "curated/offers/year=2025/v1/part-0.parquet"
    manifest = Manifest(run_id="r", dataset="offers", rows_written=1, files=[key], columns=[])
    with emulated_aws() as aws:
        aws.s3.put_object(Bucket=SETTINGS.lake_bucket, Key=key, Body=buffer.getvalue())

        with pytest.raises(
            TransformOutputInvalidError, match=r"part-0.parquet: a merged file has no _ingest_id"
        ):
            list(read_rows(aws.s3, SETTINGS.lake_bucket, [ServingSlice(key=key)], manifest, only_ingest="i1"))
