"""moto correction ``aws_sdk_error_names``: ``aws-sdk`` errors carry the service prefix Step Functions gives
them (``Glue.CrawlerRunningException``)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto_asl import CAUGHT_STATE, REGION, Run, caught, create_crawler, run, task

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator


def _start_crawler_twice(sfn: Any, glue: Any) -> Run:
    create_crawler(glue)
    start = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:glue:startCrawler",
        "Parameters": {"Name": "staging"},
    }
    return run(
        sfn,
        {
            "StartAt": "Start",
            "States": {
                "Start": {**start, "Next": "StartAgain"},
                "StartAgain": {**start, **caught(["Glue.CrawlerRunningException"], "$.error")},
                **CAUGHT_STATE,
            },
        },
    )


def test_aws_sdk_error_is_named_with_service_prefix_and_caught(sfn: Any, glue: Any) -> None:
    result = _start_crawler_twice(sfn, glue)

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["error"]["Error"] == "Glue.CrawlerRunningException"
    assert "Service: Glue" in result.output["error"]["Cause"]


def test_aws_sdk_missing_s3_key_is_s3_no_such_key_exception(sfn: Any) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="sluice-raw")

    result = run(
        sfn,
        task("arn:aws:states:::aws-sdk:s3:getObject", {"Bucket": "sluice-raw", "Key": "absent"}, End=True),
    )

    assert result.status == "FAILED"
    assert result.error == "S3.NoSuchKeyException"


def test_aws_sdk_error_without_fix_has_lower_case_prefix_and_escapes_catch(sfn: Any, glue: Any) -> None:
    with moto_fixes.reverted("aws_sdk_error_names"):
        result = _start_crawler_twice(sfn, glue)

    assert result.status == "FAILED"
    assert result.error == "glue.CrawlerRunningException"


@pytest.mark.parametrize(
    ("service", "prefix"),
    [
        ("glue", "Glue"),
        ("s3", "S3"),
        ("dynamodb", "DynamoDb"),
        ("lambda", "Lambda"),
        ("sfn", "Sfn"),
        ("secretsmanager", "SecretsManager"),
        ("sqs", "Sqs"),
        ("ec2", "Ec2"),
        ("eventbridge", "EventBridge"),
        ("cloudwatchlogs", "CloudWatchLogs"),
        ("applicationautoscaling", "ApplicationAutoScaling"),
    ],
)
def test_sfn_service_error_prefix_follows_the_java_sdk_client_name(service: str, prefix: str) -> None:
    assert moto_fixes.sfn_service_error_prefix(service) == prefix
