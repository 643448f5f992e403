"""The job's entry point end to end on local files: arguments, output Parquet, manifest, Glue wiring."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from glue_offers import (
    OFFERS_COLUMNS,
    STAGING_ROWS,
    catalog_staging_table,
    fake_awsglue,
    job_args,
    offers_staging,
    read_output,
    utc,
    write_staging,
)
from moto import mock_aws
from pyspark.sql import SparkSession

from sluice_lib.errors import JobArgumentError, StagingNotFoundError, StagingSchemaError
from sluice_transform.arguments import ingest_id_from_path

pytestmark = pytest.mark.spark


def test_main_writes_deduped_partitioned_parquet_and_manifest(
    spark: SparkSession, transform: ModuleType, offers_contract_json: str, tmp_path: Path
):
    source = write_staging(tmp_path, offers_staging(STAGING_ROWS))
    output = tmp_path / "runs" / "offers" / "run-1"

    manifest = transform.main(
        job_args(
            source, output, offers_contract_json,
            "--source_key", "incoming/offers/o.csv", "--ingested_at", "2025-05-01T12:00:00+02:00",
        )
    )  # fmt: skip

    march = sorted((output / "data" / "year=2025" / "month=3").glob("*.parquet"))
    april = sorted((output / "data" / "year=2025" / "month=4").glob("*.parquet"))
    assert len(march) == 1 and len(april) == 1
    assert manifest == {
        "run_id": "run-1",
        "dataset": "offers",
        "rows_read": 4,
        "rows_deduped": 1,
        "rows_written": 3,
        "partitions": ["year=2025/month=3", "year=2025/month=4"],
        "files": [f"year=2025/month=3/{march[0].name}", f"year=2025/month=4/{april[0].name}"],
        "columns": OFFERS_COLUMNS,
        "partition_keys": [{"name": "year", "type": "int"}, {"name": "month", "type": "int"}],
    }
    assert json.loads((output / "_manifest.json").read_text()) == manifest
    assert pq.read_metadata(march[0]).row_group(0).column(0).compression == "SNAPPY"

    lineage = {"_ingest_id": "ing42", "_source_key": "incoming/offers/o.csv",
               "_ingested_at": utc("2025-05-01T10:00:00+00:00")}  # fmt: skip
    got = [{k: v for k, v in r.items() if k != "_row_hash"} for r in read_output(output / "data")]
    assert got == [
        {"account": "00000001", "offer_id": "000000000001", "catalog_id": "1" * 18, "account_type_code": "AB",
         "offer_type_id": "00000001", "created": utc("2025-04-02T07:30:00+00:00"),
         "expire": utc("2025-06-01T00:00:00+00:00"), "risk": "high", **lineage, "year": 2025, "month": 4},
        {"account": "00000002", "offer_id": "000000000001", "catalog_id": "2" * 18, "account_type_code": "CD",
         "offer_type_id": "00000002", "created": utc("2025-03-31T23:59:59.999999+00:00"),
         "expire": utc("2025-07-01T00:00:00+00:00"), "risk": "medium", **lineage, "year": 2025, "month": 3},
        {"account": "00000002", "offer_id": "000000000002", "catalog_id": "2" * 18, "account_type_code": "CD",
         "offer_type_id": "00000002", "created": utc("2025-03-31T23:30:00+00:00"),
         "expire": utc("2025-07-01T00:00:00+00:00"), "risk": "low", **lineage, "year": 2025, "month": 3},
    ]  # fmt: skip


def test_main_rerun_on_same_output_replaces_it(
    spark: SparkSession, transform: ModuleType, offers_contract_json: str, tmp_path: Path
):
    source = write_staging(tmp_path, offers_staging(STAGING_ROWS))
    output = tmp_path / "out"
    args = job_args(source, output, offers_contract_json, "--ingested_at", "2025-05-01T00:00:00Z")

    first = transform.main(args)
    second = transform.main(args)

    assert {k: v for k, v in second.items() if k != "files"} == {
        k: v for k, v in first.items() if k != "files"
    }
    assert len(second["files"]) == 2 and not set(second["files"]) & set(first["files"])  # file names are new
    assert len(read_output(output / "data")) == 3
    assert (
        sorted(p.relative_to(output / "data").as_posix() for p in (output / "data").rglob("*.parquet"))
        == (second["files"])
    )


def test_main_plain_column_partitions_with_derive_and_filter(
    spark: SparkSession, transform: ModuleType, offers_contract_json: str, tmp_path: Path
):
    contract = json.loads(offers_contract_json)
    contract["pipeline"]["partition_by"] = {"field": None, "parts": [], "columns": ["risk"]}
    contract["pipeline"]["transform"] = {
        "rename": {"account_type_code": "type_code"},
        "derive": {"days_valid": "datediff(expire, created)"},
        "filter": "risk <> 'high'",
    }
    source = write_staging(tmp_path, offers_staging(STAGING_ROWS))

    manifest = transform.main(job_args(source, tmp_path / "out", json.dumps(contract)))

    assert manifest["partitions"] == ["risk=low", "risk=medium"]
    assert manifest["partition_keys"] == [{"name": "risk", "type": "string"}]
    assert [c["name"] for c in manifest["columns"]] == [
        "account", "offer_id", "catalog_id", "type_code", "offer_type_id", "created", "expire", "days_valid",
        "_ingest_id", "_source_key", "_ingested_at", "_row_hash",
    ]  # fmt: skip
    assert manifest["columns"][7] == {"name": "days_valid", "type": "int"}
    assert (manifest["rows_read"], manifest["rows_deduped"], manifest["rows_written"]) == (4, 1, 2)
    got = [
        (r["account"], r["offer_id"], r["days_valid"], r["risk"])
        for r in read_output(tmp_path / "out" / "data")
    ]
    assert got == [("00000002", "000000000001", 92, "medium"), ("00000002", "000000000002", 92, "low")]


def test_main_staging_contradicting_contract_raises_staging_schema_error(
    spark: SparkSession, transform: ModuleType, offers_contract_json: str, tmp_path: Path
):
    table = offers_staging(STAGING_ROWS).drop_columns(["risk"])
    table = table.set_column(5, "created", pa.array(["2025-03-01T10:00:00Z"] * 4))
    source = write_staging(tmp_path, table)

    with pytest.raises(StagingSchemaError, match=r"missing columns: risk; .*created \(string"):
        transform.main(job_args(source, tmp_path / "out", offers_contract_json))
    assert not (tmp_path / "out").exists()


def test_main_missing_staging_folder_raises_staging_not_found(
    spark: SparkSession, transform: ModuleType, offers_contract_json: str, tmp_path: Path
):
    source = tmp_path / "staging" / "offers" / "ingest_id=nothing"

    with pytest.raises(StagingNotFoundError, match="ingest_id=nothing"):
        transform.main(job_args(source, tmp_path / "out", offers_contract_json))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a[2:], r"^missing required arguments: --run_id$"),
        (lambda a: a[4:], r"^missing required arguments: --run_id, --dataset$"),
        (lambda a: ["--run_id", " ", *a[2:]], r"^empty arguments: --run_id$"),
        (lambda a: [*a[:-1], "{not json"], r"--contract is not valid JSON"),
        (lambda a: [*a[:-1], "[]"], r"--contract must be a JSON object"),
        (lambda a: [*a[:2], "--dataset", "orders", *a[4:]], r"'offers' but --dataset is 'orders'"),
        (lambda a: [*a[:4], "--source", "/data/staging/offers", *a[6:]], r"--ingest_id is not given"),
        (lambda a: [*a, "--ingest_id", "other"], r"--ingest_id 'other' disagrees with the ingest_id=abc"),
        (lambda a: [*a[:6], "--output", "s3://lake/runs/o/r1/", *a[8:]], r"--output s3://lake/.*local path"),
        (lambda a: [*a, "--ingested_at", "yesterday"], r"--ingested_at 'yesterday' is not an ISO-8601"),
    ],
    ids=["missing-run-id", "missing-two", "blank-run-id", "contract-not-json", "contract-not-object",
         "dataset-mismatch", "no-ingest-id", "ingest-id-disagrees", "s3-locally", "bad-ingested-at"],
)  # fmt: skip
def test_main_bad_arguments_raise_job_argument_error_naming_the_argument(
    transform: ModuleType, offers_contract_json: str, change: Any, message: str
):
    good = job_args(Path("/data/staging/offers/ingest_id=abc"), Path("/data/out"), offers_contract_json)

    with pytest.raises(JobArgumentError, match=message):
        transform.main(change(good))


def test_main_contract_with_unknown_field_type_raises_job_argument_error(transform: ModuleType):
    contract = json.dumps({"dataset": "offers", "schema": {"fields": [{"name": "a", "type": "money"}]}})
    args = job_args(Path("/data/staging/offers/ingest_id=abc"), Path("/data/out"), contract)

    with pytest.raises(JobArgumentError, match=r"schema.fields\[0\] \(a\) has unknown type 'money'"):
        transform.main(args)


def test_ingest_id_from_path_reads_the_ingest_folder():
    assert ingest_id_from_path("s3://lake/staging/offers/ingest_id=9f3a/") == "9f3a"
    assert ingest_id_from_path("/x/ingest_id=9f3a/part-00000.parquet") == "9f3a"
    assert ingest_id_from_path("/x/staging/offers") is None


def test_main_on_glue_inits_the_job_reads_through_the_catalog_and_commits_after_the_manifest(
    spark: SparkSession,
    transform: ModuleType,
    offers_contract_json: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    calls: list[tuple[str, Any]] = []
    fake_awsglue(monkeypatch, calls)
    source = write_staging(tmp_path, offers_staging(STAGING_ROWS))
    output = tmp_path / "out"
    glue_args = [
        "--JOB_NAME", "sluice-dev-transform", "--job-bookmark-option", "job-bookmark-disable",
        *job_args(source, output, offers_contract_json),
        "--staging_table", "staging_offers", "--staging_database", "sluice",
    ]  # fmt: skip

    with mock_aws():
        glue = boto3.client("glue", region_name="us-east-1")
        catalog_staging_table(glue, {"ing42": str(source)})
        manifest = transform.main(glue_args, glue_client=glue)

        assert calls == [
            ("init", ("sluice-dev-transform", ["JOB_NAME", "contract", "dataset", "output", "run_id", "source",
                                               "staging_database", "staging_table"])),
            ("commit", None),
        ]  # fmt: skip
        assert manifest["rows_written"] == 3
        with pytest.raises(JobArgumentError, match="missing required arguments: --JOB_NAME"):
            transform.main(glue_args[2:], glue_client=glue)
        without_table = glue_args[: glue_args.index("--staging_table")]
        with pytest.raises(JobArgumentError, match="--staging_table is required on Glue"):
            transform.main(without_table, glue_client=glue)
