"""Validate with quality rules, on emulated AWS: a failed `reject` rule rejects the file before its rows are
staged, a `warn` rule is recorded and the run goes on; results reach the lake's quality table, the catalog and
the runs ledger; a references rule reads only the key column of the referenced curated table; the anomaly
rule's history comes from the ledger's by-dataset index."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from steps_aws import REGION, SETTINGS, Aws, emulated_aws

from events import load_event
from sluice_lib.contracts import ContractStore
from sluice_lib.errors import QualityRuleError
from sluice_lib.models import SourceObject, ValidateInput, ValidateOutput
from sluice_lib.quality.reference_keys import curated_keys
from sluice_lib.steps.validate import validate_run

PAYMENTS = """
dataset: payments
schema:
  fields:
    - {name: payment_id, constraints: {required: true, unique: true}}
    - {name: account}
    - {name: amount, type: number}
    - {name: fee, type: number}
quality:
  - {type: expression, name: fee_within_amount, check: fee <= amount, severity: SEVERITY}
  - {type: references, column: account, dataset: accounts, severity: warn}
"""
GOOD = b"payment_id,account,amount,fee\np1,a1,10,1\np2,a2,20,2\n"
FEE_TOO_HIGH = b"payment_id,account,amount,fee\np1,a1,10,1\np2,a2,20,25\n"


@pytest.fixture
def aws() -> Iterator[Aws]:
    with emulated_aws() as aws:
        yield aws


def contracts(tmp_path: Path, severity: str) -> ContractStore:
    folder = tmp_path / f"contracts-{severity}"
    folder.mkdir()
    (folder / "payments.yaml").write_text(PAYMENTS.replace("SEVERITY", severity), encoding="utf-8")
    (folder / "accounts.yaml").write_text(
        "dataset: accounts\nschema:\n  fields:\n    - {name: account}\n    - {name: note}\n", encoding="utf-8"
    )
    return ContractStore(folder)


def publish_accounts(aws: Aws, accounts: list[str]) -> int:
    """A curated accounts table as Load leaves it: Parquet under curated/accounts/ and its catalog table.
    Returns the file's size."""
    table = pa.table({"account": accounts, "note": [f"{i:05d}" + "x" * 2000 for i in range(len(accounts))]})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="none")
    key = "curated/accounts/part-00000.parquet"
    aws.s3.put_object(Bucket=SETTINGS.lake_bucket, Key=key, Body=sink.getvalue())
    aws.glue.create_table(
        DatabaseName=SETTINGS.glue_database,
        TableInput={
            "Name": "accounts",
            "StorageDescriptor": {
                "Columns": [{"Name": "account", "Type": "string"}, {"Name": "note", "Type": "string"}],
                "Location": f"s3://{SETTINGS.lake_bucket}/curated/accounts/",
            },
            "PartitionKeys": [],
        },
    )
    return len(sink.getvalue())


def request(aws: Aws, body: bytes, run_id: str = "run-1") -> ValidateInput:
    event = load_event("validate_offers")
    key = "incoming/payments/payments.csv"
    response = aws.s3.put_object(Bucket=SETTINGS.raw_bucket, Key=key, Body=body)
    event["event"]["detail"]["object"].update(
        {"key": key, "version-id": response["VersionId"], "size": len(body)}
    )
    event["execution"].update(
        {"Name": run_id, "Id": event["execution"]["Id"].rsplit(":", 1)[0] + f":{run_id}"}
    )
    return ValidateInput.model_validate(event)


def validate(aws: Aws, store: ContractStore, req: ValidateInput) -> ValidateOutput:
    return validate_run(
        req,
        ledger=aws.ledger,
        sfn=boto3.client("stepfunctions", region_name=REGION),
        contracts=store,
        settings=SETTINGS,
        s3=aws.s3,
        sqs=aws.sqs,
        glue=aws.glue,
    )


def lake_keys(aws: Aws, prefix: str) -> list[str]:
    listed = aws.s3.list_objects_v2(Bucket=SETTINGS.lake_bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def quality_rows(aws: Aws, run_id: str) -> list[dict[str, Any]]:
    key = f"quality/dataset=payments/{run_id}.parquet"
    body = aws.s3.get_object(Bucket=SETTINGS.lake_bucket, Key=key)["Body"].read()
    return [
        {k: r[k] for k in ("run_id", "rule", "rule_type", "severity", "passed", "value", "threshold")}
        for r in pq.read_table(io.BytesIO(body)).to_pylist()
    ]


def test_validate_reject_rule_failing_rejects_before_staging_and_records_why(
    aws: Aws, tmp_path: Path
) -> None:
    publish_accounts(aws, ["a1", "a2"])
    req = request(aws, FEE_TOO_HIGH)

    with pytest.raises(QualityRuleError) as caught:
        validate(aws, contracts(tmp_path, "reject"), req)

    assert str(caught.value) == (
        "s3://sluice-raw-local/incoming/payments/payments.csv: 1 quality rule(s) of payments reject the file: "
        "fee_within_amount (reject): 1, allowed <= 0 rows: e.g. amount=20.0, fee=25.0"
    )
    assert lake_keys(aws, "staging/") == []  # nothing of the file's rows left Validate
    assert quality_rows(aws, "run-1") == [
        {"run_id": "run-1", "rule": "fee_within_amount", "rule_type": "expression", "severity": "reject",
         "passed": False, "value": 1.0, "threshold": "<= 0 rows"},
        {"run_id": "run-1", "rule": "references(account->accounts.account)", "rule_type": "references",
         "severity": "warn", "passed": True, "value": 0.0, "threshold": "<= 0 rows"},
        {"run_id": "run-1", "rule": "unique(payment_id)", "rule_type": "unique", "severity": "reject",
         "passed": True, "value": 0.0, "threshold": "0 repeated rows"},
    ]  # fmt: skip
    item = aws.ledger.get(SourceObject(bucket=SETTINGS.raw_bucket, key=req.event.detail.object.key,
                                       version_id=req.event.detail.object.version_id))  # fmt: skip
    assert item is not None
    assert item["counts"] == {
        "rows_in": 2,
        "rows_valid": 2,
        "rows_rejected": 0,
        "bytes_in": len(FEE_TOO_HIGH),
    }
    assert [(q["rule"], q["passed"]) for q in item["quality"]] == [
        ("fee_within_amount", False),
        ("references(account->accounts.account)", True),
        ("unique(payment_id)", True),
    ]


def test_validate_warn_rule_failing_is_recorded_and_the_run_goes_on(aws: Aws, tmp_path: Path) -> None:
    publish_accounts(aws, ["a1"])

    out = validate(aws, contracts(tmp_path, "warn"), request(aws, FEE_TOO_HIGH))

    assert [(q.rule, q.severity, q.passed, q.value) for q in out.quality] == [
        ("fee_within_amount", "warn", False, 1),
        ("references(account->accounts.account)", "warn", False, 1),
        ("unique(payment_id)", "reject", True, 0),
    ]
    assert lake_keys(aws, "staging/") == [f"staging/payments/ingest_id={out.ingest_id}/part-00000.parquet"]


def test_validate_frictionless_unique_constraint_rejects_a_repeated_value(aws: Aws, tmp_path: Path) -> None:
    publish_accounts(aws, ["a1", "a2"])
    body = b"payment_id,account,amount,fee\np1,a1,10,1\np1,a2,20,2\n"

    with pytest.raises(
        QualityRuleError, match=r"unique\(payment_id\) \(reject\): 1, allowed 0 repeated rows"
    ):
        validate(aws, contracts(tmp_path, "warn"), request(aws, body))


def test_validate_quality_table_and_partition_are_registered_in_the_catalog(aws: Aws, tmp_path: Path) -> None:
    publish_accounts(aws, ["a1", "a2"])
    store = contracts(tmp_path, "warn")

    validate(aws, store, request(aws, GOOD, "run-1"))
    validate(aws, store, request(aws, GOOD, "run-2"))  # the table and partition exist by now: no error

    table = aws.glue.get_table(DatabaseName=SETTINGS.glue_database, Name="quality")["Table"]
    assert table["PartitionKeys"] == [{"Name": "dataset", "Type": "string"}]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [
        "run_id", "ingest_id", "source_key", "checked_at", "rule", "rule_type", "severity", "passed", "value",
        "threshold", "detail",
    ]  # fmt: skip
    (partition,) = aws.glue.get_partitions(DatabaseName=SETTINGS.glue_database, TableName="quality")[
        "Partitions"
    ]
    assert partition["Values"] == ["payments"]
    assert (
        partition["StorageDescriptor"]["Location"] == f"s3://{SETTINGS.lake_bucket}/quality/dataset=payments/"
    )
    assert lake_keys(aws, "quality/") == [
        "quality/dataset=payments/run-1.parquet",
        "quality/dataset=payments/run-2.parquet",
    ]


def test_references_rule_reads_only_the_key_column_by_ranged_gets(aws: Aws) -> None:
    size = publish_accounts(aws, [f"a{i}" for i in range(200)])  # a 2 KB note per row: ~400 KB not to read
    ranges: list[str] = []
    aws.s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: ranges.append(params.get("Range"))
    )

    keys = curated_keys(aws.s3, aws.glue, SETTINGS.glue_database, "accounts", "account")

    assert sorted(keys.to_pylist()) == sorted(f"a{i}" for i in range(200))
    assert ranges and all(r and r.startswith("bytes=") for r in ranges)
    fetched = sum(int(r.split("-")[1]) - int(r.removeprefix("bytes=").split("-")[0]) + 1 for r in ranges)
    assert size > 400_000
    assert (
        fetched < size / 4
    )  # pyarrow's first read takes the file's last 64 KiB (footer), then the key chunks


def test_ledger_history_is_the_datasets_succeeded_runs_newest_first_without_this_object(aws: Aws) -> None:
    def run(key: str, status: str, finished: str, rows: int) -> SourceObject:
        source = SourceObject(bucket=SETTINGS.raw_bucket, key=f"incoming/payments/{key}", version_id="v1")
        counts = {"rows_in": rows, "rows_valid": rows, "rows_rejected": 0, "bytes_in": 1}
        aws.ledger.update(source, status, finished_at=finished, counts=counts)  # type: ignore[arg-type]
        return source

    run("a.csv", "SUCCEEDED", "2026-01-01T00:00:00Z", 100)
    run("b.csv", "REJECTED", "2026-01-02T00:00:00Z", 5)
    run("c.csv", "SUCCEEDED", "2026-01-03T00:00:00Z", 300)
    this = run("d.csv", "SUCCEEDED", "2026-01-04T00:00:00Z", 400)
    other = SourceObject(bucket=SETTINGS.raw_bucket, key="incoming/offers/x.csv", version_id="v1")
    aws.ledger.update(other, "SUCCEEDED", finished_at="2026-01-05T00:00:00Z", counts={"rows_valid": 9})
    aws.ledger.update(  # running: not in the index yet
        SourceObject(bucket=SETTINGS.raw_bucket, key="incoming/payments/e.csv", version_id="v1"), "RUNNING"
    )

    assert aws.ledger.recent_valid_rows("payments", 10) == [400, 300, 100]
    assert aws.ledger.recent_valid_rows("payments", 10, exclude=this) == [300, 100]
    assert aws.ledger.recent_valid_rows("payments", 1, exclude=this) == [300]
