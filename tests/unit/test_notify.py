"""The one notification schema and its SNS publication."""

from __future__ import annotations

import json

from steps_aws import SETTINGS, emulated_aws

from sluice_lib.models import SourceObject
from sluice_lib.notify import build_notification, publish

ARN = "arn:aws:states:eu-west-1:123456789012:execution:sluice-dev-pipeline:3f1c2b9e"
SOURCE = SourceObject(bucket="sluice-raw-local", key="incoming/offers/offers_2025-03-01.csv", version_id="v1")


def test_build_notification_success_body_has_every_field_of_the_schema():
    notification = build_notification(
        status="SUCCEEDED",
        dataset="offers",
        source=SOURCE,
        counts={"rows_in": 6, "rows_valid": 5, "rows_rejected": 1, "rows_loaded": 5},
        started_at="2025-03-01T12:00:00.000Z",
        finished_at="2025-03-01T12:02:30.500Z",
        execution_arn=ARN,
        region="eu-west-1",
        outputs={"curated_uri": "s3://lake/curated/offers/", "quarantine_uri": None},
        error=None,
    )

    assert notification.subject == "[sluice] SUCCEEDED offers: offers_2025-03-01.csv"
    assert notification.body == {
        "status": "SUCCEEDED",
        "dataset": "offers",
        "source": "s3://sluice-raw-local/incoming/offers/offers_2025-03-01.csv",
        "counts": {"rows_in": 6, "rows_valid": 5, "rows_rejected": 1, "rows_loaded": 5},
        "duration_seconds": 150.5,
        "execution_arn": ARN,
        "console_url": "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1"
        "#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:sluice-dev-pipeline:3f1c2b9e",
        "outputs": {"curated_uri": "s3://lake/curated/offers/"},
        "error": None,
        "failed_state": None,
        "extra_columns": [],
    }


def test_build_notification_failure_reduces_a_lambda_cause_to_its_message():
    cause = json.dumps(
        {"errorMessage": "no manifest", "errorType": "TransformOutputMissingError", "stackTrace": []}
    )

    notification = build_notification(
        status="FAILED",
        dataset="offers",
        source=SOURCE,
        counts={},
        started_at=None,
        execution_arn=ARN,
        region="eu-west-1",
        outputs={},
        error={"type": "TransformOutputMissingError", "cause": cause},
        failed_state="Load",
    )

    assert notification.subject == "[sluice] FAILED offers: offers_2025-03-01.csv (at Load)"
    assert notification.body["error"] == {"type": "TransformOutputMissingError", "cause": "no manifest"}
    assert notification.body["failed_state"] == "Load"
    assert notification.body["duration_seconds"] is None


def test_build_notification_long_key_subject_fits_in_100_characters_and_keeps_both_ends():
    long_source = SourceObject(bucket="b", key="incoming/offers/" + "very_long_name_" * 20 + "end.csv")

    notification = build_notification(
        status="FAILED",
        dataset="offers",
        source=long_source,
        counts={},
        started_at=None,
        execution_arn=ARN,
        region="eu-west-1",
        outputs={},
        error={"type": "X", "cause": ""},
        failed_state="Transform",
    )

    assert len(notification.subject) <= 100
    assert notification.subject.startswith("[sluice] FAILED offers: very_long_name_")
    assert notification.subject.endswith("end.csv (at Transform)")
    assert "..." in notification.subject


def test_build_notification_non_ascii_and_newline_in_key_give_a_one_line_ascii_subject():
    odd = SourceObject(bucket="b", key="incoming/offers/Angebote_März\n2025.csv")

    notification = build_notification(
        status="REJECTED",
        dataset="offers",
        source=odd,
        counts={},
        started_at=None,
        execution_arn=ARN,
        region="eu-west-1",
        outputs={},
        error={"type": "NotUtf8Error", "cause": "x"},
    )

    assert notification.subject == "[sluice] REJECTED offers: Angebote_Ma?rz 2025.csv"
    assert notification.body["source"] == "s3://b/incoming/offers/Angebote_März\n2025.csv"


def test_publish_sends_subject_json_body_and_status_and_dataset_attributes():
    notification = build_notification(
        status="REJECTED",
        dataset="offers",
        source=SOURCE,
        counts={"rows_in": 6},
        started_at=None,
        execution_arn=ARN,
        region="eu-west-1",
        outputs={"rejected_uri": "s3://sluice-raw-local/rejected/offers/offers_2025-03-01.csv"},
        error={"type": "TooManyBadRowsError", "cause": "3 of 6 rows"},
    )
    with emulated_aws() as aws:
        publish(aws.sns, SETTINGS.topic_arn, notification)

        received = aws.notifications()

    assert len(received) == 1
    assert received[0]["subject"] == "[sluice] REJECTED offers: offers_2025-03-01.csv"
    assert received[0]["attributes"] == {"status": "REJECTED", "dataset": "offers"}
    assert received[0]["body"]["status"] == "REJECTED"
    assert received[0]["body"]["error"] == {"type": "TooManyBadRowsError", "cause": "3 of 6 rows"}
    assert received[0]["body"]["outputs"] == {
        "rejected_uri": "s3://sluice-raw-local/rejected/offers/offers_2025-03-01.csv"
    }
