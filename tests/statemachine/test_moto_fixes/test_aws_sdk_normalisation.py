"""moto correction ``aws_sdk_normalisation``: ``aws-sdk:*`` parameters reach botocore's shapes and responses
come back as the integrations' JSON."""

from __future__ import annotations

import re
from typing import Any

import pytest
from moto_asl import PASS_MACHINE, create, create_crawler, run, task

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

ISO_8601_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")


def test_aws_sdk_glue_get_crawler_returns_json_with_iso_8601_dates(sfn: Any, glue: Any) -> None:
    create_crawler(glue)

    result = run(sfn, task("arn:aws:states:::aws-sdk:glue:getCrawler", {"Name": "staging"}, End=True))

    assert result.status == "SUCCEEDED", result.cause
    crawler = result.output["Crawler"]
    assert crawler["Name"] == "staging"
    assert crawler["Targets"] == {"S3Targets": [{"Path": "s3://lake/staging/"}]}
    assert ISO_8601_UTC.match(crawler["CreationTime"]) and ISO_8601_UTC.match(crawler["LastUpdated"])


def test_aws_sdk_s3_get_object_returns_body_as_text(sfn: Any, s3: Any) -> None:
    s3.create_bucket(Bucket="sluice-raw")
    s3.put_object(Bucket="sluice-raw", Key="incoming/orders/a.csv", Body=b"id,amount\n1,9.5\n")

    result = run(
        sfn,
        task(
            "arn:aws:states:::aws-sdk:s3:getObject",
            {"Bucket": "sluice-raw", "Key": "incoming/orders/a.csv"},
            End=True,
        ),
    )

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["Body"] == "id,amount\n1,9.5\n"
    assert result.output["ContentLength"] == 16
    assert ISO_8601_UTC.match(result.output["LastModified"])


def test_aws_sdk_glue_start_crawler_returns_empty_object(sfn: Any, glue: Any) -> None:
    create_crawler(glue)

    result = run(sfn, task("arn:aws:states:::aws-sdk:glue:startCrawler", {"Name": "staging"}, End=True))

    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {}
    assert glue.get_crawler(Name="staging")["Crawler"]["State"] == "RUNNING"


def test_aws_sdk_parameters_reach_camel_case_apis_and_response_is_pascal_case(sfn: Any) -> None:
    target = create(sfn, PASS_MACHINE, name="target")

    result = run(
        sfn, task("arn:aws:states:::aws-sdk:sfn:describeStateMachine", {"StateMachineArn": target}, End=True)
    )

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["StateMachineArn"] == target
    assert result.output["Name"] == "target"
    assert ISO_8601_UTC.match(result.output["CreationDate"])


def test_aws_sdk_get_crawler_without_fix_leaves_datetimes_that_break_describe_execution(
    sfn: Any, glue: Any
) -> None:
    create_crawler(glue)
    with (
        moto_fixes.reverted("aws_sdk_normalisation"),
        pytest.raises(TypeError, match="not JSON serializable"),
    ):
        run(sfn, task("arn:aws:states:::aws-sdk:glue:getCrawler", {"Name": "staging"}, End=True))


def test_aws_sdk_parameters_without_fix_miss_camel_case_members(sfn: Any) -> None:
    target = create(sfn, PASS_MACHINE, name="target")
    with moto_fixes.reverted("aws_sdk_normalisation"):
        result = run(
            sfn,
            task("arn:aws:states:::aws-sdk:sfn:describeStateMachine", {"StateMachineArn": target}, End=True),
        )

    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
