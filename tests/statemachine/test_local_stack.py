"""The emulator provisions template.sam.yaml: every resource exists, named and configured as declared."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from sluice.local.emulator import Emulator

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def test_stack_buckets_are_versioned_private_and_raw_sends_eventbridge(emu: Emulator) -> None:
    s3 = emu.client("s3")
    for bucket in (emu.stack.raw_bucket, emu.stack.lake_bucket):
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values())
    assert emu.stack.raw_bucket == "sluice-dev-raw-123456789012-us-east-1"


def test_upload_under_incoming_starts_one_execution_through_the_rule(emu: Emulator) -> None:
    before = len(emu.bus.started)
    emu.client("s3").put_object(Bucket=emu.stack.raw_bucket, Key="incoming/offers/probe.csv", Body=b"x\n")
    started = emu.bus.started[before:]
    assert len(started) == 1
    assert started[0].startswith(emu.stack.state_machine_arn.replace(":stateMachine:", ":execution:"))


def test_multipart_upload_under_incoming_starts_one_execution(emu: Emulator, tmp_path: Path) -> None:
    # boto3 (and the AWS CLI) upload files above 8 MiB in parts: AWS sends one "Object Created" event.
    big = tmp_path / "multipart.csv"
    big.write_bytes(b"x\n" * (5 * 1024 * 1024))  # 10 MiB
    before = len(emu.bus.started)
    emu.client("s3").upload_file(
        str(big),
        emu.stack.raw_bucket,
        "incoming/offers/multipart.csv",
        Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024),
    )
    assert len(emu.bus.started[before:]) == 1


def test_stack_state_machine_has_every_substitution_bound(emu: Emulator) -> None:
    sfn = emu.client("stepfunctions")
    definition = sfn.describe_state_machine(stateMachineArn=emu.stack.state_machine_arn)["definition"]
    assert "${" not in definition
    states = json.loads(definition)["States"]
    assert states["StartCrawler"]["Parameters"]["Name"] == "sluice-dev-staging"
    assert states["Transform"]["Parameters"]["JobName"] == "sluice-dev-transform"
    assert states["Validate"]["Parameters"]["FunctionName"].endswith(":function:sluice-dev-validate")


def test_stack_glue_resources_created_from_template(emu: Emulator) -> None:
    glue = emu.client("glue")
    assert glue.get_database(Name="sluice_dev")["Database"]["Name"] == "sluice_dev"
    crawler = glue.get_crawler(Name="sluice-dev-staging")["Crawler"]
    assert crawler["TablePrefix"] == "staging_"
    assert crawler["Targets"]["S3Targets"][0]["Path"] == f"s3://{emu.stack.lake_bucket}/staging/"
    job = glue.get_job(JobName="sluice-dev-transform")["Job"]
    assert job["GlueVersion"] == "6.0"
    assert emu.stack.job_scripts["sluice-dev-transform"].name == "transform.py"


def test_stack_functions_carry_the_template_environment(emu: Emulator) -> None:
    validate = emu.stack.functions["sluice-dev-validate"]
    assert validate.code_dir.name == "validate"
    assert validate.environment["RAW_BUCKET"] == emu.stack.raw_bucket
    assert validate.environment["BAD_RECORDS_QUEUE_URL"] == emu.stack.queue_url
    assert validate.environment["GLUE_DATABASE"] == "sluice_dev"
    assert validate.environment["SMALL_FILE_MAX_BYTES"] == "100000000"  # a string, as Lambda holds it
    assert {f.logical_id for f in emu.stack.functions.values()} == {
        "ValidateFunction",
        "ScanRangeFunction",
        "PlanChunksFunction",
        "ValidateChunkFunction",
        "MergeChunksFunction",
        "RegisterPartitionFunction",
        "TakeLeaseFunction",
        "TransformInLambdaFunction",
        "LoadFunction",
        "LoadServingBatchFunction",
        "ArchiveFunction",
        "RejectFileFunction",
        "OnExecutionFailedFunction",
    }


def test_upload_outside_incoming_starts_no_execution(emu: Emulator) -> None:
    before = len(emu.bus.started)
    emu.client("s3").put_object(Bucket=emu.stack.raw_bucket, Key="elsewhere/offers/a.csv", Body=b"a\n")
    emu.client("s3").put_object(Bucket=emu.stack.raw_bucket, Key="incoming/offers/a.txt", Body=b"a\n")
    assert len(emu.bus.started) == before
