"""Load: publishing the transform output to curated/, the catalog and the serving table; idempotent."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError
from steps_aws import SETTINGS, Aws, claim_run, emulated_aws, import_handler, lambda_context

from events import load_event
from sluice_lib.contracts import Serving
from sluice_lib.errors import (
    CatalogUpdateError,
    DuplicateExecutionError,
    ServingWriteError,
    TransformOutputInvalidError,
    TransformOutputMissingError,
)
from sluice_lib.models import LoadInput, LoadServingBatchInput, SourceObject
from sluice_lib.serving import to_attribute, to_item, write_items
from sluice_lib.steps.load import load_run
from sluice_lib.steps.load_serving_batch import load_serving_batch

INGEST = "83a9d547662480a81ff4"  # the ingest_id in events/load.json
RUN_ID = "3f1c2b9e-7d4a-4e2f-9b1c-5a6d7e8f9012"
OUTPUT = f"runs/offers/{RUN_ID}/"
LAKE = SETTINGS.lake_bucket
CURATED = "s3://sluice-lake-local/curated/offers/"
SCHEMA = pa.schema(
    [
        ("account", pa.string()),
        ("offer_id", pa.string()),
        ("risk", pa.string()),
        ("created", pa.timestamp("us", tz="UTC")),
        ("_row_hash", pa.string()),
    ]
)


def offer(account: str, offer_id: str, risk: str, created: str) -> dict[str, Any]:
    return {
        "account": account,
        "offer_id": offer_id,
        "risk": risk,
        "created": datetime.fromisoformat(created),
        "_row_hash": f"h{account}{offer_id}",
    }


JANUARY = [offer("00000001", "000000000001", "low", "2025-01-05T10:00:00+00:00")]
FEBRUARY_A = [
    offer("00000001", "000000000002", "high", "2025-02-01T08:30:00+00:00"),
    offer("00000002", "000000000003", "medium", "2025-02-11T00:00:00+00:00"),
]
FEBRUARY_B = [offer("00000003", "000000000004", None, "2025-02-20T23:59:59+00:00")]  # type: ignore[arg-type]
SPARK_FILES = {
    "year=2025/month=1/part-00000-6a1f.c000.snappy.parquet": JANUARY,
    "year=2025/month=2/part-00000-9b2e.c000.snappy.parquet": FEBRUARY_A,
    "year=2025/month=2/part-00001-9b2e.c000.snappy.parquet": FEBRUARY_B,
}


@pytest.fixture
def aws() -> Iterator[Aws]:
    with emulated_aws() as aws:
        run = load_event("load")["run"]
        claim_run(aws, SourceObject.model_validate(run["source"]), run["execution_arn"])
        yield aws


def write_transform_output(
    aws: Aws, files: dict[str, list[dict[str, Any]]], run_id: str = RUN_ID, schema: pa.Schema = SCHEMA
) -> None:
    """What the Glue job leaves under the run's output_uri: data files (of `schema`) and the manifest."""
    listing = aws.s3.list_objects_v2(Bucket=LAKE, Prefix=OUTPUT).get("Contents", [])
    for obj in listing:  # the job writes with mode overwrite
        aws.s3.delete_object(Bucket=LAKE, Key=obj["Key"])
    for path, rows in files.items():
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer, compression="snappy")
        aws.s3.put_object(Bucket=LAKE, Key=f"{OUTPUT}data/{path}", Body=buffer.getvalue())
    manifest = {
        "run_id": run_id,
        "dataset": "offers",
        "rows_read": 5,
        "rows_deduped": 1,
        "rows_written": sum(len(rows) for rows in files.values()),
        "partitions": sorted({path.rsplit("/", 1)[0] for path in files}),
        "files": sorted(files),
        "columns": [
            {"name": "account", "type": "string"},
            {"name": "offer_id", "type": "string"},
            {"name": "risk", "type": "string"},
            {"name": "created", "type": "timestamp"},
            {"name": "_row_hash", "type": "string"},
        ],
        "partition_keys": [{"name": "year", "type": "int"}, {"name": "month", "type": "int"}],
    }
    aws.s3.put_object(Bucket=LAKE, Key=f"{OUTPUT}_manifest.json", Body=json.dumps(manifest).encode())


def load(
    aws: Aws, glue: Any = None, dynamodb: Any = None, fan_out_files: int = 20, fan_out_rows: int = 1_000_000
):
    return load_run(
        LoadInput.model_validate(
            {**load_event("load"), "fan_out_files": fan_out_files, "fan_out_rows": fan_out_rows}
        ),
        s3=aws.s3,
        glue=glue or aws.glue,
        dynamodb=dynamodb or aws.dynamodb,
        ledger=aws.ledger,
        lake_bucket=LAKE,
        glue_database=SETTINGS.glue_database,
        serving_table=SETTINGS.serving_table,
    )


def curated_keys(aws: Aws) -> list[str]:
    pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket=LAKE, Prefix="curated/")
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def serving_items(aws: Aws) -> list[dict[str, Any]]:
    items = aws.dynamodb.scan(TableName=SETTINGS.serving_table)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


class CountingGlue:
    """The Glue client, counting CreateTable calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.create_table_calls = 0

    def create_table(self, **kwargs: Any) -> Any:
        self.create_table_calls += 1
        return self.inner.create_table(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


EXPECTED_CURATED = [
    f"curated/offers/year=2025/month=1/part-{INGEST}-00000.snappy.parquet",
    f"curated/offers/year=2025/month=2/part-{INGEST}-00000.snappy.parquet",
    f"curated/offers/year=2025/month=2/part-{INGEST}-00001.snappy.parquet",
]


def test_load_publishes_files_named_by_ingest_id_and_returns_counts(aws: Aws):
    write_transform_output(aws, SPARK_FILES)

    result = load(aws)

    assert curated_keys(aws) == EXPECTED_CURATED
    assert result.model_dump() == {
        "curated_uri": CURATED,
        "files": 3,
        "rows_loaded": 4,
        "partitions": ["year=2025/month=1", "year=2025/month=2"],
        "serving_items": 4,
        "serving_plan": None,
        "serving_batches": 0,
        "fanned_out": False,
        "merge": None,
    }
    body = aws.s3.get_object(Bucket=LAKE, Key=EXPECTED_CURATED[2])["Body"].read()
    assert pq.read_table(io.BytesIO(body)).column("offer_id").to_pylist() == ["000000000004"]


def test_load_three_times_leaves_the_same_curated_files(aws: Aws):
    write_transform_output(aws, SPARK_FILES)

    for _ in range(3):
        load(aws)

    assert curated_keys(aws) == EXPECTED_CURATED


def test_load_rerun_with_fewer_files_deletes_own_stale_files_and_keeps_other_uploads(aws: Aws):
    other_upload = "curated/offers/year=2025/month=2/part-0123456789abcdef0123-00000.snappy.parquet"
    aws.s3.put_object(Bucket=LAKE, Key=other_upload, Body=b"another upload's file")
    write_transform_output(aws, SPARK_FILES)
    load(aws)
    write_transform_output(aws, {"year=2025/month=2/part-00000-77aa.c000.snappy.parquet": FEBRUARY_A})

    result = load(aws)

    assert curated_keys(aws) == [
        other_upload,
        f"curated/offers/year=2025/month=2/part-{INGEST}-00000.snappy.parquet",
    ]
    assert result.partitions == ["year=2025/month=2"]


def test_load_creates_catalog_table_once_and_registers_partitions(aws: Aws):
    write_transform_output(aws, SPARK_FILES)
    glue = CountingGlue(aws.glue)

    load(aws, glue=glue)
    load(aws, glue=glue)

    assert glue.create_table_calls == 1
    table = aws.glue.get_table(DatabaseName=SETTINGS.glue_database, Name="offers")["Table"]
    assert table["PartitionKeys"] == [{"Name": "year", "Type": "int"}, {"Name": "month", "Type": "int"}]
    descriptor = table["StorageDescriptor"]
    assert descriptor["Location"] == CURATED
    assert [(c["Name"], c["Type"]) for c in descriptor["Columns"]] == [
        ("account", "string"),
        ("offer_id", "string"),
        ("risk", "string"),
        ("created", "timestamp"),
        ("_row_hash", "string"),
    ]
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == (
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    )
    found = aws.glue.get_partitions(DatabaseName=SETTINGS.glue_database, TableName="offers")["Partitions"]
    assert sorted((p["Values"], p["StorageDescriptor"]["Location"]) for p in found) == [
        (["2025", "1"], f"{CURATED}year=2025/month=1/"),
        (["2025", "2"], f"{CURATED}year=2025/month=2/"),
    ]


def test_load_output_with_a_column_the_table_lacks_appends_it_and_keeps_the_rest(aws: Aws):
    aws.glue.create_table(
        DatabaseName=SETTINGS.glue_database,
        TableInput={
            "Name": "offers",
            "PartitionKeys": [{"Name": "year", "Type": "int"}, {"Name": "month", "Type": "int"}],
            "StorageDescriptor": {
                "Columns": [{"Name": "account", "Type": "string"}, {"Name": "legacy", "Type": "string"}],
                "Location": CURATED,
            },
        },
    )
    write_transform_output(aws, SPARK_FILES)

    load(aws)

    table = aws.glue.get_table(DatabaseName=SETTINGS.glue_database, Name="offers")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [
        "account",
        "legacy",
        "offer_id",
        "risk",
        "created",
        "_row_hash",
    ]


def test_load_serving_items_have_dataset_prefixed_keys_and_every_column(aws: Aws):
    write_transform_output(aws, SPARK_FILES)

    load(aws)

    items = serving_items(aws)
    assert [(i["pk"]["S"], i["sk"]["S"]) for i in items] == [
        ("offers#00000001", "000000000001"),
        ("offers#00000001", "000000000002"),
        ("offers#00000002", "000000000003"),
        ("offers#00000003", "000000000004"),
    ]
    assert items[0] == {
        "pk": {"S": "offers#00000001"},
        "sk": {"S": "000000000001"},
        "account": {"S": "00000001"},
        "offer_id": {"S": "000000000001"},
        "risk": {"S": "low"},
        "created": {"S": "2025-01-05T10:00:00Z"},
        "_row_hash": {"S": "h00000001000000000001"},
        "year": {"N": "2025"},
        "month": {"N": "1"},
    }
    assert "risk" not in items[3]  # a null is left out


def test_load_updates_ledger_with_rows_loaded_and_keeps_it_running(aws: Aws):
    write_transform_output(aws, SPARK_FILES)

    load(aws)

    item = aws.ledger.get(LoadInput.model_validate(load_event("load")).run.source)
    assert item is not None
    assert (item["status"], item["rows_loaded"], item["curated_uri"]) == ("RUNNING", 4, CURATED)


def test_load_without_manifest_raises_transform_output_missing_naming_the_uri(aws: Aws):
    with pytest.raises(TransformOutputMissingError, match=f"s3://sluice-lake-local/{OUTPUT}_manifest.json"):
        load(aws)


def test_load_manifest_of_another_run_raises_transform_output_invalid(aws: Aws):
    write_transform_output(aws, SPARK_FILES, run_id="some-other-run")

    with pytest.raises(TransformOutputInvalidError, match="some-other-run"):
        load(aws)


def test_load_handler_with_sample_event_returns_load_output(aws: Aws):
    write_transform_output(aws, SPARK_FILES)
    handler = import_handler("load")

    result = handler.lambda_handler(load_event("load"), lambda_context("load"))

    assert result == {
        "curated_uri": CURATED,
        "files": 3,
        "rows_loaded": 4,
        "partitions": ["year=2025/month=1", "year=2025/month=2"],
        "serving_items": 4,
        "serving_plan": None,
        "serving_batches": 0,
        "fanned_out": False,
        "merge": None,
    }


# --- serving items and the batch writer -------------------------------------------------------------------


def test_to_attribute_maps_python_values_to_dynamodb_types():
    assert to_attribute("x") == {"S": "x"}
    assert to_attribute(7) == {"N": "7"}
    assert to_attribute(2.5) == {"N": "2.5"}
    assert to_attribute(True) == {"BOOL": True}
    assert to_attribute(datetime(2025, 3, 1, 12, 0, tzinfo=UTC)) == {"S": "2025-03-01T12:00:00Z"}
    assert to_attribute(datetime(2025, 3, 1).date()) == {"S": "2025-03-01"}
    assert to_attribute(None) is None
    assert to_attribute(float("nan")) is None


def test_to_item_without_sort_key_fields_uses_dash_and_joins_key_values_with_hash():
    serving = Serving(pk=["account", "risk"], sk=[])

    item = to_item("offers", {"account": "00000001", "risk": "low", "n": 3}, serving)

    assert item == {
        "pk": {"S": "offers#00000001#low"},
        "sk": {"S": "-"},
        "account": {"S": "00000001"},
        "risk": {"S": "low"},
        "n": {"N": "3"},
    }


class RecordingDynamoDB:
    """A BatchWriteItem sink: counts requests and records the keys of each (no emulator: 100,000 items)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[list[str]] = []

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((_, writes),) = RequestItems.items()
        with self.lock:
            self.requests.append([w["PutRequest"]["Item"]["pk"]["S"] for w in writes])
        return {"UnprocessedItems": {}}


class UnprocessedFirst:
    """Wraps the emulated client: the first `n` requests leave their last 5 items unprocessed."""

    def __init__(self, inner: Any, table: str, n: int) -> None:
        self.inner = inner
        self.table = table
        self.n = n
        self.lock = threading.Lock()
        self.calls = 0

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        writes = RequestItems[self.table]
        with self.lock:
            self.calls += 1
            refuse = self.calls <= self.n
        if refuse:
            if len(writes) > 5:
                self.inner.batch_write_item(RequestItems={self.table: writes[:-5]})
            return {"UnprocessedItems": {self.table: writes[-5:]}}
        return self.inner.batch_write_item(RequestItems=RequestItems)


def items(count: int) -> list[dict[str, Any]]:
    return [{"pk": {"S": f"offers#{i:08d}"}, "sk": {"S": "-"}, "n": {"N": str(i)}} for i in range(count)]


def test_write_items_100000_items_take_at_most_4100_requests_of_at_most_25():
    client = RecordingDynamoDB()

    requests = write_items(client, "serving", items(100_000))

    assert len(client.requests) <= 4_100
    assert requests == len(client.requests)
    assert max(len(keys) for keys in client.requests) == 25
    written = [key for keys in client.requests for key in keys]
    assert len(written) == 100_000
    assert len(set(written)) == 100_000


def test_write_items_unprocessed_items_are_retried_until_all_are_written(aws: Aws):
    client = UnprocessedFirst(aws.dynamodb, SETTINGS.serving_table, n=4)
    delays: list[float] = []

    write_items(client, SETTINGS.serving_table, items(60), sleep=delays.append)

    # 60 items = 3 batches (25, 25, 10); each of the 4 partly refused requests costs one more request.
    assert client.calls == 3 + 4
    assert len(delays) == 4
    stored = aws.dynamodb.scan(TableName=SETTINGS.serving_table, Select="COUNT")["Count"]
    assert stored == 60


def test_write_items_retry_delays_grow_exponentially_with_full_jitter(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
):
    # Full jitter draws from [0, bound]; take the bound to see the exponential growth.
    monkeypatch.setattr("sluice_lib.serving.random.uniform", lambda low, high: high)
    client = UnprocessedFirst(aws.dynamodb, SETTINGS.serving_table, n=3)
    delays: list[float] = []

    write_items(client, SETTINGS.serving_table, items(25), sleep=delays.append, base_delay=0.05)

    assert delays == [0.1, 0.2, 0.4]
    assert client.calls == 4


def test_write_items_never_processed_raises_serving_write_error_after_bounded_attempts():
    class NeverProcessed:
        calls = 0

        def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
            NeverProcessed.calls += 1
            return {"UnprocessedItems": RequestItems}

    with pytest.raises(ServingWriteError, match="25 of 25 items still unprocessed after 8 attempts"):
        write_items(NeverProcessed(), "serving", items(25), sleep=lambda _: None)

    assert NeverProcessed.calls == 8


# --- write-audit-publish, ownership and the fan-out -------------------------------------------------------


class FailingPartitions(CountingGlue):
    """The Glue client, refusing BatchCreatePartition (e.g. a missing permission)."""

    def batch_create_partition(self, **kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, "BatchCreatePartition"
        )


def partitions(aws: Aws) -> list[list[str]]:
    try:
        found = aws.glue.get_partitions(DatabaseName=SETTINGS.glue_database, TableName="offers")["Partitions"]
    except aws.glue.exceptions.EntityNotFoundException:
        return []
    return sorted(p["Values"] for p in found)


def test_load_catalog_failure_removes_the_files_it_published_and_writes_no_serving_items(aws: Aws):
    write_transform_output(aws, SPARK_FILES)

    with pytest.raises(CatalogUpdateError, match="denied"):
        load(aws, glue=FailingPartitions(aws.glue))

    assert curated_keys(aws) == []
    assert serving_items(aws) == []
    assert partitions(aws) == []


def test_load_catalog_failure_on_a_rerun_keeps_the_files_the_earlier_run_published(aws: Aws):
    write_transform_output(aws, SPARK_FILES)
    load(aws)

    with pytest.raises(CatalogUpdateError, match="denied"):
        load(aws, glue=FailingPartitions(aws.glue))

    assert curated_keys(aws) == EXPECTED_CURATED


def test_load_after_a_failed_load_converges_to_the_clean_result(aws: Aws):
    write_transform_output(aws, SPARK_FILES)
    with pytest.raises(CatalogUpdateError):
        load(aws, glue=FailingPartitions(aws.glue))

    load(aws)

    assert curated_keys(aws) == EXPECTED_CURATED
    assert partitions(aws) == [["2025", "1"], ["2025", "2"]]
    assert len(serving_items(aws)) == 4


def test_load_by_an_execution_that_no_longer_owns_the_run_raises_duplicate_and_publishes_nothing(aws: Aws):
    write_transform_output(aws, SPARK_FILES)
    source = LoadInput.model_validate(load_event("load")).run.source
    aws.ledger.update(source, "FAILED")
    claim_run(aws, source, "arn:aws:states:us-east-1:123456789012:execution:sluice-local-pipeline:rerun")

    with pytest.raises(DuplicateExecutionError, match="pipeline:rerun owns the run"):
        load(aws)

    assert curated_keys(aws) == []
    assert serving_items(aws) == []


def test_load_of_more_files_than_fan_out_files_publishes_curated_and_plans_serving_batches(aws: Aws):
    write_transform_output(aws, SPARK_FILES)

    result = load(aws, fan_out_files=2)

    assert curated_keys(aws) == EXPECTED_CURATED
    assert partitions(aws) == [["2025", "1"], ["2025", "2"]]
    assert serving_items(aws) == []  # left to the Distributed Map
    assert (result.fanned_out, result.serving_items) == (True, 0)
    assert result.serving_plan is not None
    assert (result.serving_plan.bucket, result.serving_plan.key) == (LAKE, f"{OUTPUT}_serving_batches.json")
    assert result.serving_batches == 2
    body = aws.s3.get_object(Bucket=LAKE, Key=result.serving_plan.key)["Body"].read()
    january, february_a, february_b = EXPECTED_CURATED
    assert json.loads(body) == [  # the files' rows: 1, 2 and 1
        {
            "index": 0,
            "slices": [{"key": january, "start": 0, "end": 1}, {"key": february_a, "start": 0, "end": 2}],
        },
        {"index": 1, "slices": [{"key": february_b, "start": 0, "end": 1}]},
    ]


def test_load_of_more_rows_than_fan_out_rows_plans_row_ranges_that_cut_a_file(aws: Aws):
    write_transform_output(aws, SPARK_FILES)

    result = load(aws, fan_out_rows=3)

    assert (result.fanned_out, result.serving_items, result.serving_batches) == (True, 0, 2)
    assert serving_items(aws) == []
    assert result.serving_plan is not None
    body = aws.s3.get_object(Bucket=LAKE, Key=result.serving_plan.key)["Body"].read()
    january, february_a, february_b = EXPECTED_CURATED
    assert json.loads(body) == [
        {
            "index": 0,
            "slices": [{"key": january, "start": 0, "end": 1}, {"key": february_a, "start": 0, "end": 2}],
        },
        {"index": 1, "slices": [{"key": february_b, "start": 0, "end": 1}]},
    ]


def test_load_of_as_many_rows_as_fan_out_rows_writes_the_serving_items_itself(aws: Aws):
    write_transform_output(aws, SPARK_FILES)

    result = load(aws, fan_out_rows=4)

    assert (result.fanned_out, result.serving_items, result.serving_batches) == (False, 4, 0)
    assert len(serving_items(aws)) == 4


@pytest.mark.parametrize(
    ("fan_out_files", "fan_out_rows", "expected"),
    [
        (1, 1_000_000, [(0, 1, 1, 1), (1, 1, 2, 2), (2, 1, 1, 1)]),  # a file an item
        (20, 1, [(0, 1, 1, 1), (1, 1, 1, 1), (2, 1, 1, 1), (3, 1, 1, 1)]),  # a row an item: February A cut
        (20, 3, [(0, 2, 3, 3), (1, 1, 1, 1)]),
    ],
)
def test_load_serving_batches_together_write_the_items_one_load_writes(
    aws: Aws, fan_out_files: int, fan_out_rows: int, expected: list[tuple[int, int, int, int]]
):
    write_transform_output(aws, SPARK_FILES)
    plan = load(aws, fan_out_files=fan_out_files, fan_out_rows=fan_out_rows).serving_plan
    assert plan is not None
    batches = json.loads(aws.s3.get_object(Bucket=plan.bucket, Key=plan.key)["Body"].read())
    run = load_event("load")["run"]

    outputs = [
        load_serving_batch(
            LoadServingBatchInput.model_validate({"run": run, "batch": batch}),
            s3=aws.s3,
            dynamodb=aws.dynamodb,
            ledger=aws.ledger,
            lake_bucket=LAKE,
            serving_table=SETTINGS.serving_table,
        )
        for batch in batches
    ]

    assert [(o.index, o.files, o.rows, o.serving_items) for o in outputs] == expected
    results = [
        json.loads(
            aws.s3.get_object(Bucket=LAKE, Key=f"{OUTPUT}_serving_results/{i:06d}.json")["Body"].read()
        )
        for i in range(len(expected))
    ]
    assert results == [o.model_dump() for o in outputs]  # what Archive sums
    assert [(i["pk"]["S"], i["sk"]["S"]) for i in serving_items(aws)] == [
        ("offers#00000001", "000000000001"),
        ("offers#00000001", "000000000002"),
        ("offers#00000002", "000000000003"),
        ("offers#00000003", "000000000004"),
    ]


def test_load_handler_with_the_serving_batch_sample_event_writes_its_files_items(aws: Aws):
    write_transform_output(aws, SPARK_FILES)
    load(aws, fan_out_files=1)
    handler = import_handler("load_serving_batch")

    result = handler.lambda_handler(load_event("load_serving_batch"), lambda_context("load_serving_batch"))

    assert result == {"index": 1, "files": 2, "rows": 3, "serving_items": 3}
    assert [(i["pk"]["S"], i["sk"]["S"]) for i in serving_items(aws)] == [
        ("offers#00000001", "000000000002"),
        ("offers#00000002", "000000000003"),
        ("offers#00000003", "000000000004"),
    ]
