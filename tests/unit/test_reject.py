"""RejectFile: a file that breaks its contract moves to rejected/<dataset>/; the run is REJECTED."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from steps_aws import SETTINGS, Aws, claim_run, emulated_aws, import_handler, lambda_context

from events import load_event
from sluice_lib.errors import DuplicateExecutionError
from sluice_lib.models import RejectFileInput, source_from_event
from sluice_lib.steps.reject_file import reject_file

RAW = SETTINGS.raw_bucket
KEY = "incoming/offers/offers_2025-03-01.csv"
CSV = b"account,offer_id\nnot-a-number,1\n"
CAUSE_MESSAGE = (
    "s3://sluice-raw-local/incoming/offers/offers_2025-03-01.csv: 3 of 6 rows (50.0%) break the contract; "
    "offers allows at most 5.0%"
)


@pytest.fixture
def aws() -> Iterator[Aws]:
    with emulated_aws() as aws:
        yield aws


def uploaded_event(aws: Aws, key: str = KEY) -> dict[str, Any]:
    """events/reject_file.json for an upload made now, carrying the version S3 assigned."""
    version = aws.s3.put_object(Bucket=RAW, Key=key, Body=CSV)["VersionId"]
    event = load_event("reject_file")
    event["event"]["detail"]["object"].update({"key": key, "version-id": version})
    claim_run(aws, source_from_event(event["event"]), event["execution"]["Id"])
    return event


def reject(aws: Aws, event: dict[str, Any]):
    return reject_file(RejectFileInput.model_validate(event), s3=aws.s3, ledger=aws.ledger, raw_bucket=RAW)


def keys(aws: Aws) -> list[str]:
    return sorted(obj["Key"] for obj in aws.s3.list_objects_v2(Bucket=RAW).get("Contents", []))


def test_reject_file_moves_the_upload_to_rejected_dataset_folder(aws: Aws):
    event = uploaded_event(aws)

    result = reject(aws, event)

    assert result.rejected_uri == f"s3://{RAW}/rejected/offers/offers_2025-03-01.csv"
    assert result.error.error == "TooManyBadRowsError"
    assert keys(aws) == ["rejected/offers/offers_2025-03-01.csv"]
    assert aws.s3.get_object(Bucket=RAW, Key="rejected/offers/offers_2025-03-01.csv")["Body"].read() == CSV


def test_reject_file_marks_the_run_rejected_with_error_type_and_message(aws: Aws):
    event = uploaded_event(aws)

    reject(aws, event)

    item = aws.ledger.get(source_from_event(event["event"]))
    assert item is not None
    assert (item["status"], item["dataset"], item["error"]) == ("REJECTED", "offers", "TooManyBadRowsError")
    assert item["cause"] == CAUSE_MESSAGE
    assert item["rejected_uri"] == f"s3://{RAW}/rejected/offers/offers_2025-03-01.csv"


def test_reject_file_rerun_is_a_no_op(aws: Aws):
    event = uploaded_event(aws)
    reject(aws, event)

    again = reject(aws, event)

    assert again.rejected_uri == f"s3://{RAW}/rejected/offers/offers_2025-03-01.csv"
    versions = aws.s3.list_object_versions(Bucket=RAW, Prefix="rejected/").get("Versions", [])
    assert len(versions) == 1


def test_reject_file_key_without_dataset_folder_goes_to_unknown(aws: Aws):
    event = uploaded_event(aws, key="incoming/loose.csv")

    result = reject(aws, event)

    assert result.rejected_uri == f"s3://{RAW}/rejected/_unknown/loose.csv"
    item = aws.ledger.get(source_from_event(event["event"]))
    assert item is not None
    assert (item["status"], item["dataset"]) == ("REJECTED", "_unknown")


def test_reject_file_handler_with_sample_event_returns_reject_output(aws: Aws):
    event = uploaded_event(aws)
    handler = import_handler("reject_file")

    result = handler.lambda_handler(event, lambda_context("reject-file"))

    assert result["rejected_uri"] == f"s3://{RAW}/rejected/offers/offers_2025-03-01.csv"
    assert result["error"]["error"] == "TooManyBadRowsError"


def test_reject_file_by_an_execution_that_no_longer_owns_the_run_raises_duplicate_and_moves_nothing(aws: Aws):
    event = uploaded_event(aws)
    source = source_from_event(event["event"])
    aws.ledger.update(source, "FAILED")
    claim_run(aws, source, "arn:aws:states:us-east-1:123456789012:execution:sluice-local-pipeline:rerun")

    with pytest.raises(DuplicateExecutionError, match="pipeline:rerun owns the run"):
        reject(aws, event)

    assert keys(aws) == [KEY]
