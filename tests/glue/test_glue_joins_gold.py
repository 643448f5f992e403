"""The job's joins with reference datasets and its gold tables (aggregates), on local files."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from sluice_lib.contracts import load_contract_file
from sluice_lib.curated import partitions_of
from sluice_lib.errors import AggregateError, JobArgumentError, ReferenceSchemaError
from sluice_transform.arguments import parse_job_args
from sluice_transform.gold import compute_aggregate, gold_partitions, restrict_to_partitions
from sluice_transform.steps import join_references

pytestmark = pytest.mark.spark

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"

TS = pa.timestamp("us", tz="UTC")
LINEAGE = [
    ("_ingest_id", pa.string()),
    ("_source_key", pa.string()),
    ("_ingested_at", TS),
    ("_row_hash", pa.string()),
]
TRACK = {name: f"{name}{'0' * 21}" for name in "ABCDE"}  # 22-character ids


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def write_parquet(folder: Path, schema: list[tuple[str, pa.DataType]], rows: list[tuple]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    columns = list(zip(*rows, strict=True))
    table = pa.table(
        [pa.array(c, t) for c, (_, t) in zip(columns, schema, strict=True)], names=[n for n, _ in schema]
    )
    pq.write_table(table, folder / f"part-{len(list(folder.iterdir())):05d}.snappy.parquet")


def users_curated(root: Path) -> Path:
    """User 1 was uploaded twice: the later upload renamed them from 'Ada Old' to 'Ada'."""
    schema = [("user_id", pa.int64()), ("user_name", pa.string()), ("user_age", pa.int64()),
              ("user_country", pa.string()), *LINEAGE]  # fmt: skip
    write_parquet(root / "users", schema, [
        (1, "Ada Old", 30, "Ghana", "u1", "incoming/users/a.csv", utc("2025-01-01T00:00:00"), "h1"),
        (2, "Ben", 41, "Japan", "u1", "incoming/users/a.csv", utc("2025-01-01T00:00:00"), "h2"),
        (3, "Chloé", 25, "France", "u1", "incoming/users/a.csv", utc("2025-01-01T00:00:00"), "h3"),
    ])  # fmt: skip
    write_parquet(root / "users", schema, [
        (1, "Ada", 31, "Ghana", "u2", "incoming/users/b.csv", utc("2025-02-01T00:00:00"), "h4"),
    ])  # fmt: skip
    return root / "users"


def songs_curated(root: Path) -> Path:
    schema = [("track_id", pa.string()), ("artists", pa.string()), ("album_name", pa.string()),
              ("track_name", pa.string()), ("popularity", pa.int64()), ("duration_ms", pa.int64()),
              ("track_genre", pa.string()), *LINEAGE]  # fmt: skip
    lineage = ("s1", "incoming/songs/s.csv", utc("2025-01-01T00:00:00"))
    write_parquet(root / "songs", schema, [
        (TRACK["A"], "X", "One", "Song A", 80, 180_000, "pop", *lineage, "hA"),
        (TRACK["B"], "Y", "Two", "Song B", 70, 120_000, "pop", *lineage, "hB"),
        (TRACK["C"], "Z", "Three", "Song C", 60, 300_000, "rock", *lineage, "hC"),
        (TRACK["D"], "W", "Four", "Song D", 50, 50_000, "pop", *lineage, "hD"),
    ])  # fmt: skip
    return root / "songs"


STREAMS_STAGING = [
    (1, TRACK["A"], utc("2025-03-01T10:00:00")),
    (1, TRACK["A"], utc("2025-03-01T11:00:00")),
    (2, TRACK["A"], utc("2025-03-01T12:00:00")),
    (2, TRACK["B"], utc("2025-03-01T13:00:00")),
    (3, TRACK["C"], utc("2025-03-01T14:00:00")),
    (1, TRACK["E"], utc("2025-03-01T15:00:00")),  # not in songs: filtered out
    (9, TRACK["A"], utc("2025-03-01T16:00:00")),  # not in users: kept (left join), user columns null
    (3, TRACK["D"], utc("2025-03-02T09:00:00")),
]


def streams_earlier(root: Path, curated_schema: list[tuple[str, pa.DataType]]) -> Path:
    """Curated streams of earlier runs: one other upload (ing1) on 1 March and 28 February, and a previous
    attempt of this very upload (ing2), which this run replaces."""
    folder = root / "streams"
    rows = {
        "2025-03-01": [(3, TRACK["B"], utc("2025-03-01T08:00:00"), "Chloé", 25, "France", "Song B", "Y", "Two",
                        "pop", 120_000, 70, "ing1", "incoming/streams/1.csv", utc("2025-03-01T09:00:00"), "e1"),
                       (2, TRACK["C"], utc("2025-03-01T09:00:00"), "Ben", 41, "Japan", "Song C", "Z", "Three",
                        "rock", 300_000, 60, "ing2", "incoming/streams/2.csv", utc("2025-03-02T10:00:00"), "e2")],
        "2025-02-28": [(1, TRACK["C"], utc("2025-02-28T08:00:00"), "Ada", 31, "Ghana", "Song C", "Z", "Three",
                        "rock", 300_000, 60, "ing1", "incoming/streams/1.csv", utc("2025-03-01T09:00:00"), "e3")],
    }  # fmt: skip
    for day, day_rows in rows.items():
        write_parquet(folder / f"listen_date={day}", curated_schema, day_rows)
    return folder


STREAMS_CURATED = [
    ("user_id", pa.int64()), ("track_id", pa.string()), ("listen_time", TS), ("user_name", pa.string()),
    ("user_age", pa.int64()), ("user_country", pa.string()), ("track_name", pa.string()),
    ("artists", pa.string()), ("album_name", pa.string()), ("track_genre", pa.string()),
    ("duration_ms", pa.int64()), ("popularity", pa.int64()), *LINEAGE,
]  # fmt: skip


def read_rows(folder: Path, partition: str) -> list[dict[str, Any]]:
    part = ds.partitioning(pa.schema([(partition, pa.string())]), flavor="hive")
    return ds.dataset(folder, format="parquet", partitioning=part).to_table().to_pylist()


@pytest.fixture(scope="module")
def streams_run(spark: SparkSession, transform: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("streams")
    staging = root / "staging" / "streams" / "ingest_id=ing2"
    write_parquet(
        staging, [("user_id", pa.int64()), ("track_id", pa.string()), ("listen_time", TS)], STREAMS_STAGING
    )
    references = {
        "users": str(users_curated(root / "curated")),
        "songs": str(songs_curated(root / "curated")),
        "streams": str(streams_earlier(root / "curated", STREAMS_CURATED)),
    }
    output = root / "runs" / "streams" / "run-2"
    manifest = transform.main(
        [
            "--run_id", "run-2", "--dataset", "streams", "--source", str(staging), "--output", str(output),
            "--contract", load_contract_file(CONTRACTS / "streams.yaml").to_json(),
            "--source_key", "incoming/streams/2.csv", "--ingested_at", "2025-03-03T00:00:00+00:00",
            "--references", json.dumps(references),
        ]
    )  # fmt: skip
    return {"manifest": manifest, "output": output}


def test_main_streams_joins_latest_reference_rows_and_drops_listens_of_unknown_tracks(
    streams_run: dict,
) -> None:
    rows = read_rows(streams_run["output"] / "data", "listen_date")
    got = sorted(
        (r["listen_date"], r["listen_time"], r["user_id"], r["user_name"], r["user_country"], r["track_name"],
         r["track_genre"], r["duration_ms"])
        for r in rows
    )  # fmt: skip
    assert got == [
        ("2025-03-01", utc("2025-03-01T10:00:00"), 1, "Ada", "Ghana", "Song A", "pop", 180_000),
        ("2025-03-01", utc("2025-03-01T11:00:00"), 1, "Ada", "Ghana", "Song A", "pop", 180_000),
        ("2025-03-01", utc("2025-03-01T12:00:00"), 2, "Ben", "Japan", "Song A", "pop", 180_000),
        ("2025-03-01", utc("2025-03-01T13:00:00"), 2, "Ben", "Japan", "Song B", "pop", 120_000),
        ("2025-03-01", utc("2025-03-01T14:00:00"), 3, "Chloé", "France", "Song C", "rock", 300_000),
        ("2025-03-01", utc("2025-03-01T16:00:00"), 9, None, None, "Song A", "pop", 180_000),
        ("2025-03-02", utc("2025-03-02T09:00:00"), 3, "Chloé", "France", "Song D", "pop", 50_000),
    ]
    manifest = streams_run["manifest"]
    assert (manifest["rows_read"], manifest["rows_deduped"], manifest["rows_written"]) == (8, 0, 7)


def test_main_streams_gold_kpis_recompute_touched_days_from_all_uploads(streams_run: dict) -> None:
    rows = read_rows(streams_run["output"] / "gold" / "daily_genre_kpis", "listen_date")
    got = sorted(rows, key=lambda r: (r["listen_date"], r["genre_rank"]))
    # 1 March, pop: this run's u1 A, u1 A, u2 A, u2 B, u9 A and the earlier upload's u3 B (ing2's earlier
    # attempt is replaced; 28 February is not touched) -> 6 listens by 4 users, 4 x 180000 + 2 x 120000 ms.
    assert got == [
        {"track_genre": "pop", "listen_count": 6, "unique_listeners": 4, "total_listening_ms": 960_000,
         "avg_listening_ms_per_user": 240_000.0, "top_tracks": ["Song A", "Song B"], "genre_rank": 1,
         "listen_date": "2025-03-01"},
        {"track_genre": "rock", "listen_count": 1, "unique_listeners": 1, "total_listening_ms": 300_000,
         "avg_listening_ms_per_user": 300_000.0, "top_tracks": ["Song C"], "genre_rank": 2,
         "listen_date": "2025-03-01"},
        {"track_genre": "pop", "listen_count": 1, "unique_listeners": 1, "total_listening_ms": 50_000,
         "avg_listening_ms_per_user": 50_000.0, "top_tracks": ["Song D"], "genre_rank": 1,
         "listen_date": "2025-03-02"},
    ]  # fmt: skip


def test_main_streams_manifest_gold_section_names_the_replaced_partitions(streams_run: dict) -> None:
    (gold,) = streams_run["manifest"]["gold"]
    assert gold["name"] == "daily_genre_kpis"
    assert gold["rows_written"] == 3
    assert gold["replace"] == "partitions"
    assert gold["partitions"] == ["listen_date=2025-03-01", "listen_date=2025-03-02"]
    assert [f.rsplit("/", 1)[0] for f in gold["files"]] == gold["partitions"]
    assert gold["columns"] == [
        {"name": "track_genre", "type": "string"},
        {"name": "listen_count", "type": "bigint"},
        {"name": "unique_listeners", "type": "bigint"},
        {"name": "total_listening_ms", "type": "bigint"},
        {"name": "avg_listening_ms_per_user", "type": "double"},
        {"name": "top_tracks", "type": "array<string>"},
        {"name": "genre_rank", "type": "int"},
    ]
    assert gold["partition_keys"] == [{"name": "listen_date", "type": "date"}]
    on_disk = json.loads((streams_run["output"] / "_manifest.json").read_text())
    assert on_disk["gold"] == [gold]


def test_join_references_reference_without_selected_column_names_it(spark: SparkSession):
    rows = spark.createDataFrame([(1, "x")], "user_id bigint, track_id string")
    users = spark.createDataFrame([(1, "Ada")], "user_id bigint, user_name string")
    join = {"dataset": "users", "on": ["user_id"], "how": "left", "select": ["user_name", "user_age"]}

    with pytest.raises(ReferenceSchemaError, match=r"join\[0\] \(users\).*no column user_age"):
        join_references(rows, [join], {"users": users})


def test_join_references_inner_join_drops_rows_without_a_match(spark: SparkSession):
    rows = spark.createDataFrame([(1, "a"), (2, "b"), (None, "c")], "user_id bigint, note string")
    users = spark.createDataFrame([(1, "Ada"), (3, "Cy")], "user_id bigint, user_name string")
    join = {"dataset": "users", "on": ["user_id"], "how": "inner", "select": ["user_name"]}

    got = join_references(rows, [join], {"users": users}).collect()

    assert [tuple(r) for r in got] == [(1, "a", "Ada")]


def test_compute_aggregate_without_its_partition_column_names_what_the_sql_returns(spark: SparkSession):
    view = spark.createDataFrame([(date(2025, 3, 1), 2)], "day date, n bigint")
    aggregate = {"name": "totals", "sql": "SELECT sum(n) AS n FROM events", "partition_by": ["day"]}

    with pytest.raises(AggregateError, match=r"\(totals\)\.partition_by .* day \(it returns n\)"):
        compute_aggregate(spark, aggregate, "events", view)


def test_compute_aggregate_sql_error_names_the_aggregate(spark: SparkSession):
    view = spark.createDataFrame([(1,)], "n bigint")
    aggregate = {"name": "totals", "sql": "SELECT nope FROM events"}

    with pytest.raises(AggregateError, match=r"\(totals\): the sql fails"):
        compute_aggregate(spark, aggregate, "events", view)


def test_parse_job_args_references_not_an_object_is_an_argument_error():
    raw = {"run_id": "r", "dataset": "streams", "source": "/s/ingest_id=i", "output": "/o",
           "contract": json.dumps({"dataset": "streams", "schema": {"fields": [{"name": "a"}]}})}  # fmt: skip

    with pytest.raises(JobArgumentError, match="--references must be a JSON object"):
        parse_job_args({**raw, "references": '["users"]'}, local=True)
    with pytest.raises(JobArgumentError, match="local runtime needs local paths"):
        parse_job_args({**raw, "references": '{"users": "s3://lake/curated/users/"}'}, local=True)
    on_glue = {**raw, "staging_table": "staging_streams", "staging_database": "sluice"}
    args = parse_job_args({**on_glue, "references": '{"users": "s3://lake/curated/users/"}'}, local=False)
    assert args.references == {"users": "s3://lake/curated/users"}


def test_restrict_to_partitions_keeps_rows_of_the_given_value_pairs_nulls_included(spark: SparkSession):
    df = spark.createDataFrame(
        [(2025, 3, "a"), (2025, 4, "b"), (2024, 3, "c"), (None, 3, "d"), (2025, None, "e")],
        "year int, month int, note string",
    )

    kept = restrict_to_partitions(df, ["year", "month"], [(2025, 3), (None, 3)])
    single = restrict_to_partitions(df, ["year"], [(2024,)])
    nothing = restrict_to_partitions(df, ["year"], [])

    assert sorted(r.note for r in kept.collect()) == ["a", "d"]
    assert [r.note for r in single.collect()] == ["c"]
    assert nothing.count() == 0


def test_gold_partitions_of_written_and_superseded_rows_name_the_directories_sparks_writer_names(
    spark: SparkSession, tmp_path: Path
):
    schema = "year int, month int, area string, note string"
    written = spark.createDataFrame([(2025, 3, "north", "a"), (2025, 3, "north", "b")], schema)
    # A merge's previous version of the partitions it rewrote: April's only row moved to March.
    superseded = spark.createDataFrame(
        [(2025, 3, "north", "a"), (2025, 4, "a/b=c:d", "c"), (None, 4, "", "d")], schema
    )

    found = gold_partitions([written, superseded], ["year", "month", "area"])
    superseded.write.partitionBy("year", "month", "area").parquet(str(tmp_path / "w"))
    on_disk = partitions_of(
        [p.relative_to(tmp_path / "w").as_posix() for p in (tmp_path / "w").rglob("*.parquet")]
    )

    assert found == {
        "year=2025/month=3/area=north": (2025, 3, "north"),
        "year=2025/month=4/area=a%2Fb%3Dc%3Ad": (2025, 4, "a/b=c:d"),
        "year=__HIVE_DEFAULT_PARTITION__/month=4/area=__HIVE_DEFAULT_PARTITION__": (None, 4, ""),
    }
    assert sorted(found) == on_disk
