"""Validate handler: the state's payload in, Validate's output out, the run in the ledger, errors by name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from steps_aws import SETTINGS, Aws, emulated_aws, import_handler, lambda_context
from validate_world import offers_file, offers_row

from events import load_event
from sluice_lib.errors import EmptyFileError
from sluice_lib.models import ValidateOutput, source_from_event


@pytest.fixture
def aws() -> Iterator[Aws]:
    with emulated_aws() as aws:
        yield aws


@pytest.fixture
def handler(aws: Aws) -> ModuleType:
    return import_handler("validate")


def uploaded(aws: Aws, event: dict[str, Any], body: bytes) -> dict[str, Any]:
    """The sample event for an upload made now, with the version and size S3 gave it."""
    detail = event["event"]["detail"]["object"]
    response = aws.s3.put_object(Bucket=SETTINGS.raw_bucket, Key=detail["key"], Body=body)
    detail.update({"version-id": response["VersionId"], "size": len(body)})
    return event


def test_handler_validates_the_uploaded_object_and_records_the_run(
    aws: Aws, handler: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    body = offers_file(offers_row(offer_id="1"), *[offers_row()] * 29)
    event = uploaded(aws, load_event("validate_offers"), body)

    result = handler.lambda_handler(event, lambda_context("validate"))

    out = ValidateOutput.model_validate(result)
    assert out.source.key == "incoming/offers/offers.csv"
    assert out.run_id == "5b0c9e2a-1f3d-4a6b-8c7e-9d0f1a2b3c4d"
    assert out.counts.model_dump() == {
        "rows_in": 30,
        "rows_valid": 29,
        "rows_rejected": 1,
        "bytes_in": len(body),
    }
    assert json.loads(json.dumps(result)) == result
    item = aws.ledger.get(source_from_event(event["event"]))
    assert item is not None
    assert item["status"] == "RUNNING"
    assert item["run_id"] == out.run_id
    assert item["execution_arn"] == event["execution"]["Id"]
    assert item["started_at"] == "2025-03-01T12:00:01.234Z"
    assert item["counts"] == {"rows_in": 30, "rows_valid": 29, "rows_rejected": 1, "bytes_in": len(body)}
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [(m["dataset"], m["RowsIn"], m["RowsValid"], m["RowsRejected"]) for m in metrics] == [
        ("offers", [30.0], [29.0], [1.0])
    ]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_handler_lets_a_rejection_error_propagate_under_its_own_name(aws: Aws, handler: ModuleType) -> None:
    event = uploaded(aws, load_event("validate_offers"), b"")

    with pytest.raises(EmptyFileError):
        handler.lambda_handler(event, lambda_context("validate"))

    item = aws.ledger.get(source_from_event(event["event"]))
    assert item is not None and item["status"] == "RUNNING" and "counts" not in item
