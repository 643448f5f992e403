"""The Validate step's core (sluice_lib.steps.validate) and its typed input: the ledger claim and counts, the
upload events it accepts (Powertools' EventBridge and S3 models), and what it says of any other input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel, S3Model
from botocore.exceptions import ClientError
from steps_aws import REGION, SETTINGS, Aws, emulated_aws, import_handler, lambda_context
from validate_world import offers_file, offers_row

from events import load_event
from sluice_lib.errors import InvalidEventError, TooManyBadRowsError, error_code
from sluice_lib.models import SourceObject, ValidateInput, source_from_event, source_of
from sluice_lib.steps.validate import validate_run

EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:sluice-local-pipeline:5b0c9e2a-1f3d-4a6b-8c7e-9d0f1a2b3c4d"


@pytest.fixture
def aws() -> Iterator[Aws]:
    with emulated_aws() as aws:
        yield aws


def uploaded(aws: Aws, body: bytes) -> ValidateInput:
    """Validate's sample input for an upload made now, with the version and size S3 gave it."""
    event = load_event("validate_offers")
    detail = event["event"]["detail"]["object"]
    response = aws.s3.put_object(Bucket=SETTINGS.raw_bucket, Key=detail["key"], Body=body)
    detail.update({"version-id": response["VersionId"], "size": len(body)})
    return ValidateInput.model_validate(event)


def run(aws: Aws, request: ValidateInput) -> Any:
    return validate_run(
        request,
        ledger=aws.ledger,
        sfn=boto3.client("stepfunctions", region_name=REGION),
        contracts=SETTINGS.contracts(),
        settings=SETTINGS,
        s3=aws.s3,
        sqs=aws.sqs,
        glue=aws.glue,
    )


def test_validate_run_claims_the_run_for_the_execution_and_records_its_counts(aws: Aws) -> None:
    body = offers_file(offers_row(offer_id="1"), *[offers_row()] * 29)
    request = uploaded(aws, body)

    out = run(aws, request)

    assert out.counts.model_dump() == {
        "rows_in": 30,
        "rows_valid": 29,
        "rows_rejected": 1,
        "bytes_in": len(body),
    }
    item = aws.ledger.get(source_of(request.event))
    assert item is not None
    assert (item["status"], item["execution_arn"], item["run_id"]) == (
        "RUNNING",
        EXECUTION_ARN,
        "5b0c9e2a-1f3d-4a6b-8c7e-9d0f1a2b3c4d",
    )
    assert item["counts"] == {"rows_in": 30, "rows_valid": 29, "rows_rejected": 1, "bytes_in": len(body)}
    assert item["quarantine_uri"] == out.quarantine_uri
    assert item["validated_at"].endswith("Z")


def test_validate_run_with_too_many_bad_rows_records_the_counts_then_raises(aws: Aws) -> None:
    body = offers_file(offers_row(), offers_row(offer_id="1"), offers_row(offer_id="2"))
    request = uploaded(aws, body)

    with pytest.raises(TooManyBadRowsError):
        run(aws, request)

    item = aws.ledger.get(source_of(request.event))
    assert item is not None
    assert item["status"] == "RUNNING"  # RejectFile marks it REJECTED
    assert item["counts"] == {"rows_in": 3, "rows_valid": 1, "rows_rejected": 2, "bytes_in": len(body)}


@pytest.mark.parametrize(
    ("sample", "model", "key"),
    [
        ("validate_offers", S3EventNotificationEventBridgeModel, "incoming/offers/offers.csv"),
        # S3 notifications URL-encode the key: incoming/offers/M%C3%A4rz+offers.csv
        ("validate_s3_notification", S3Model, "incoming/offers/März offers.csv"),
    ],
)
def test_validate_input_reads_both_upload_events_into_their_powertools_models(
    sample: str, model: type, key: str
) -> None:
    request = ValidateInput.model_validate(load_event(sample))

    assert isinstance(request.event, model)
    assert source_of(request.event) == SourceObject(
        bucket="sluice-raw-local",
        key=key,
        version_id=None,
        etag="b1946ac92492d2347c6235b4d2611184",
        size=1048,
    )


def test_validate_input_of_another_event_is_an_invalid_event_error_naming_its_keys() -> None:
    execution = load_event("validate_offers")["execution"]

    with pytest.raises(InvalidEventError, match=r"neither an EventBridge .* top-level keys \['hello'\]"):
        ValidateInput.model_validate({"event": {"hello": "world"}, "execution": execution})


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_validate_handler_raises_invalid_event_error_for_another_event(aws: Aws) -> None:
    handler = import_handler("validate")
    event = {
        "event": {"detail-type": "Scheduled Event"},
        "execution": load_event("validate_offers")["execution"],
    }

    with pytest.raises(InvalidEventError):
        handler.lambda_handler(event, lambda_context("validate"))


def test_source_from_event_reads_an_execution_input_and_rejects_a_partial_one() -> None:
    upload = load_event("validate_offers")["event"]
    assert source_from_event(upload).key == "incoming/offers/offers.csv"

    partial = {"detail-type": "Object Created", "detail": {"bucket": {"name": "raw"}, "object": {"key": "k"}}}
    with pytest.raises(InvalidEventError):
        source_from_event(partial)


def test_error_code_reads_a_client_errors_code_or_nothing() -> None:
    assert (
        error_code(ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject"))
        == "NoSuchKey"
    )
    assert error_code(ClientError({}, "GetObject")) == ""
