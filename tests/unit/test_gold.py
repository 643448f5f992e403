"""Load's gold step: a run's gold tables replace their partitions in curated/<name>/, are cataloged and served."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from steps_aws import SETTINGS, Aws, emulated_aws

from events import load_event
from sluice_lib.contracts import load_contract_file
from sluice_lib.gold import publish_gold
from sluice_lib.models import ValidateOutput

ROOT = Path(__file__).resolve().parents[2]
LAKE = SETTINGS.lake_bucket
RUN_ID = "7a1b2c3d-0000-4000-8000-000000000002"
INGEST = "streams0000000000002"
OUTPUT = f"runs/streams/{RUN_ID}/"
KPIS = "curated/daily_genre_kpis/"
SCHEMA = pa.schema(
    [
        ("track_genre", pa.string()),
        ("listen_count", pa.int64()),
        ("unique_listeners", pa.int64()),
        ("total_listening_ms", pa.int64()),
        ("avg_listening_ms_per_user", pa.float64()),
        ("top_tracks", pa.list_(pa.string())),
        ("genre_rank", pa.int32()),
    ]
)
COLUMNS = [
    {"name": "track_genre", "type": "string"},
    {"name": "listen_count", "type": "bigint"},
    {"name": "unique_listeners", "type": "bigint"},
    {"name": "total_listening_ms", "type": "bigint"},
    {"name": "avg_listening_ms_per_user", "type": "double"},
    {"name": "top_tracks", "type": "array<string>"},
    {"name": "genre_rank", "type": "int"},
]
MARCH_1 = [
    ("pop", 6, 4, 960_000, 240_000.0, ["Song A", "Song B"], 1),
    ("rock", 1, 1, 300_000, 300_000.0, ["Song C"], 2),
]
MARCH_2 = [("pop", 1, 1, 50_000, 50_000.0, ["Song D"], 1)]


@pytest.fixture
def aws() -> Iterator[Aws]:
    with emulated_aws() as aws:
        yield aws


def streams_run() -> ValidateOutput:
    run = load_event("load")["run"]
    contract = load_contract_file(ROOT / "contracts" / "streams.yaml")
    return ValidateOutput.model_validate(
        {**run, "run_id": RUN_ID, "ingest_id": INGEST, "dataset": "streams", "output_uri": f"s3://{LAKE}/{OUTPUT}",
         "contract_json": contract.to_json()}
    )  # fmt: skip


def parquet(rows: list[tuple]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(
        pa.Table.from_pylist([dict(zip(SCHEMA.names, r, strict=True)) for r in rows], schema=SCHEMA), buffer
    )
    return buffer.getvalue()


def write_gold_output(aws: Aws) -> None:
    files = {"listen_date=2025-03-01/part-00000-a.c000.snappy.parquet": MARCH_1,
             "listen_date=2025-03-02/part-00000-b.c000.snappy.parquet": MARCH_2}  # fmt: skip
    for path, rows in files.items():
        aws.s3.put_object(Bucket=LAKE, Key=f"{OUTPUT}gold/daily_genre_kpis/{path}", Body=parquet(rows))
    manifest = {
        "run_id": RUN_ID, "dataset": "streams", "rows_written": 7, "files": [], "columns": [],
        "gold": [{"name": "daily_genre_kpis", "rows_written": 3, "replace": "partitions",
                  "partitions": ["listen_date=2025-03-01", "listen_date=2025-03-02"], "files": sorted(files),
                  "columns": COLUMNS, "partition_keys": [{"name": "listen_date", "type": "date"}]}],
    }  # fmt: skip
    aws.s3.put_object(Bucket=LAKE, Key=f"{OUTPUT}_manifest.json", Body=json.dumps(manifest).encode())


def publish(aws: Aws) -> list[Any]:
    return publish_gold(
        streams_run(), s3=aws.s3, glue=aws.glue, dynamodb=aws.dynamodb, lake_bucket=LAKE,
        glue_database=SETTINGS.glue_database, serving_table=SETTINGS.serving_table,
    )  # fmt: skip


def kpi_keys(aws: Aws) -> list[str]:
    listed = aws.s3.list_objects_v2(Bucket=LAKE, Prefix=KPIS).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def test_publish_gold_replaces_the_touched_partitions_and_keeps_the_others(aws: Aws) -> None:
    old = parquet([("pop", 2, 2, 360_000, 180_000.0, ["Song A"], 1)])
    aws.s3.put_object(
        Bucket=LAKE,
        Key=f"{KPIS}listen_date=2025-03-01/part-streams0000000000001-00000.snappy.parquet",
        Body=old,
    )
    aws.s3.put_object(
        Bucket=LAKE,
        Key=f"{KPIS}listen_date=2025-02-28/part-streams0000000000001-00000.snappy.parquet",
        Body=old,
    )
    write_gold_output(aws)

    (published,) = publish(aws)

    assert kpi_keys(aws) == [
        f"{KPIS}listen_date=2025-02-28/part-streams0000000000001-00000.snappy.parquet",
        f"{KPIS}listen_date=2025-03-01/part-{INGEST}-00000.snappy.parquet",
        f"{KPIS}listen_date=2025-03-02/part-{INGEST}-00000.snappy.parquet",
    ]
    assert (published.rows, published.files, published.removed, published.serving_items) == (3, 2, 1, 3)
    assert published.location == f"s3://{LAKE}/{KPIS}"


def test_publish_gold_registers_the_table_and_its_partitions_in_the_catalog(aws: Aws) -> None:
    write_gold_output(aws)

    publish(aws)

    table = aws.glue.get_table(DatabaseName=SETTINGS.glue_database, Name="daily_genre_kpis")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{LAKE}/{KPIS}"
    assert [c["Type"] for c in table["StorageDescriptor"]["Columns"]] == [c["type"] for c in COLUMNS]
    assert table["PartitionKeys"] == [{"Name": "listen_date", "Type": "date"}]
    partitions = aws.glue.get_partitions(DatabaseName=SETTINGS.glue_database, TableName="daily_genre_kpis")
    assert sorted(p["Values"][0] for p in partitions["Partitions"]) == ["2025-03-01", "2025-03-02"]


def test_publish_gold_serves_one_item_per_day_and_genre(aws: Aws) -> None:
    write_gold_output(aws)

    publish(aws)

    item = aws.dynamodb.get_item(
        TableName=SETTINGS.serving_table, Key={"pk": {"S": "daily_genre_kpis#2025-03-01"}, "sk": {"S": "pop"}}
    )["Item"]
    assert item["listen_count"] == {"N": "6"}
    assert item["unique_listeners"] == {"N": "4"}
    assert item["avg_listening_ms_per_user"] == {"N": "240000.0"}
    assert item["top_tracks"] == {"L": [{"S": "Song A"}, {"S": "Song B"}]}
    assert item["listen_date"] == {"S": "2025-03-01"}
    assert aws.dynamodb.scan(TableName=SETTINGS.serving_table)["Count"] == 3


def test_publish_gold_twice_leaves_the_same_files(aws: Aws) -> None:
    write_gold_output(aws)
    publish(aws)
    first = kpi_keys(aws)

    publish(aws)

    assert kpi_keys(aws) == first


def test_publish_gold_of_a_contract_without_aggregates_publishes_nothing(aws: Aws) -> None:
    from sluice_lib.models import LoadInput

    run = LoadInput.model_validate(load_event("load")).run

    assert publish_gold(run, s3=aws.s3, glue=aws.glue, dynamodb=aws.dynamodb, lake_bucket=LAKE,
                        glue_database=SETTINGS.glue_database, serving_table=SETTINGS.serving_table) == []  # fmt: skip


def test_publish_gold_unpartitioned_table_replaces_every_earlier_file(aws: Aws) -> None:
    contract = load_contract_file(ROOT / "contracts" / "signups.yaml")
    run = streams_run().model_copy(update={"dataset": "signups", "contract_json": contract.to_json()})
    schema = pa.schema([("signup_date", pa.date32()), ("signups", pa.int64())])
    buffer = io.BytesIO()
    pq.write_table(pa.table({"signup_date": [date(2024, 11, 1)], "signups": [3]}, schema=schema), buffer)
    earlier = ["curated/daily_signups/part-signups00000000001-00000.snappy.parquet",
               "curated/daily_signups/part-signups00000000001-00001.snappy.parquet"]  # fmt: skip
    for key in earlier:
        aws.s3.put_object(Bucket=LAKE, Key=key, Body=b"old")
    aws.s3.put_object(
        Bucket=LAKE,
        Key=f"{OUTPUT}gold/daily_signups/part-00000-c.c000.snappy.parquet",
        Body=buffer.getvalue(),
    )
    manifest = {"run_id": RUN_ID, "dataset": "signups", "rows_written": 3, "files": [], "columns": [],
                "gold": [{"name": "daily_signups", "rows_written": 1, "replace": "table", "partitions": [],
                          "files": ["part-00000-c.c000.snappy.parquet"],
                          "columns": [{"name": "signup_date", "type": "date"}, {"name": "signups", "type": "bigint"}]}]}  # fmt: skip
    aws.s3.put_object(Bucket=LAKE, Key=f"{OUTPUT}_manifest.json", Body=json.dumps(manifest).encode())

    (published,) = publish_gold(
        run, s3=aws.s3, glue=aws.glue, dynamodb=aws.dynamodb, lake_bucket=LAKE,
        glue_database=SETTINGS.glue_database, serving_table=SETTINGS.serving_table,
    )  # fmt: skip

    listed = aws.s3.list_objects_v2(Bucket=LAKE, Prefix="curated/daily_signups/")["Contents"]
    assert [o["Key"] for o in listed] == [f"curated/daily_signups/part-{INGEST}-00000.snappy.parquet"]
    assert (published.removed, published.serving_items) == (2, 0)
    table = aws.glue.get_table(DatabaseName=SETTINGS.glue_database, Name="daily_signups")["Table"]
    assert table["PartitionKeys"] == []


def test_publish_gold_recomputed_partition_without_rows_loses_its_files_and_catalog_partition(
    aws: Aws,
) -> None:
    # A first publish of 28 February and 1 March; then a merge moved 28 February's rows away: the transform
    # recomputed both days, 28 February yielded no row.
    files = {"listen_date=2025-02-28/part-00000-a.c000.snappy.parquet": MARCH_2,
             "listen_date=2025-03-01/part-00000-b.c000.snappy.parquet": MARCH_1}  # fmt: skip
    write_gold_output(aws)
    for path, rows in files.items():
        aws.s3.put_object(Bucket=LAKE, Key=f"{OUTPUT}gold/daily_genre_kpis/{path}", Body=parquet(rows))
    first = json.loads(aws.s3.get_object(Bucket=LAKE, Key=f"{OUTPUT}_manifest.json")["Body"].read())
    first["gold"][0] |= {"partitions": sorted(p.split("/")[0] for p in files), "files": sorted(files)}
    aws.s3.put_object(Bucket=LAKE, Key=f"{OUTPUT}_manifest.json", Body=json.dumps(first).encode())
    publish(aws)
    again = {"listen_date=2025-03-01/part-00000-c.c000.snappy.parquet": MARCH_1}
    aws.s3.put_object(
        Bucket=LAKE, Key=f"{OUTPUT}gold/daily_genre_kpis/{next(iter(again))}", Body=parquet(MARCH_1)
    )
    first["gold"][0] |= {"rows_written": 2, "partitions": ["listen_date=2025-03-01"], "files": sorted(again),
                         "recomputed": ["listen_date=2025-02-28", "listen_date=2025-03-01"]}  # fmt: skip
    aws.s3.put_object(Bucket=LAKE, Key=f"{OUTPUT}_manifest.json", Body=json.dumps(first).encode())

    (published,) = publish(aws)
    (retried,) = publish(aws)  # a retried Load: the partition is already gone

    assert kpi_keys(aws) == [f"{KPIS}listen_date=2025-03-01/part-{INGEST}-00000.snappy.parquet"]
    partitions = aws.glue.get_partitions(DatabaseName=SETTINGS.glue_database, TableName="daily_genre_kpis")
    assert [p["Values"] for p in partitions["Partitions"]] == [["2025-03-01"]]
    assert (published.partitions, published.emptied, published.removed) == (
        ["listen_date=2025-03-01"],
        ["listen_date=2025-02-28"],
        1,
    )
    assert (retried.emptied, retried.removed) == (["listen_date=2025-02-28"], 0)
