"""Redrive of a failed Distributed Map (sluice.local.map_redrive): only the items that did not succeed run again,
the others keep their earlier outputs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice.local import map_redrive, moto_fixes
from sluice.local.redrive import redrive
from sluice.local.stack import REGION

pytestmark = pytest.mark.emulator

ROLE_ARN = "arn:aws:iam::123456789012:role/sluice-map-redrive-test"
ITEMS = ["a", "b", "c", "d"]

# Each child counts its run in the `runs` table, then succeeds only if its item is in the `fixed` table.
CHILD = {
    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
    "StartAt": "Count",
    "States": {
        "Count": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:updateItem",
            "Parameters": {
                "TableName": "runs",
                "Key": {"id": {"S.$": "$.id"}},
                "UpdateExpression": "ADD runs :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
                "ReturnValues": "UPDATED_NEW",
            },
            "ResultSelector": {"run.$": "$.Attributes.runs.N"},
            "ResultPath": "$.count",
            "Next": "Fixed?",
        },
        "Fixed?": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:getItem",
            "Parameters": {"TableName": "fixed", "Key": {"id": {"S.$": "$.id"}}},
            "ResultPath": "$.fixed",
            "Next": "Ok?",
        },
        "Ok?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.fixed.Item", "IsPresent": True, "Next": "Done"}],
            "Default": "Broken",
        },
        "Done": {"Type": "Pass", "Parameters": {"id.$": "$.id", "run.$": "$.count.run"}, "End": True},
        "Broken": {"Type": "Fail", "Error": "ItemBrokenError", "Cause": "not fixed yet"},
    },
}
DEFINITION = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Next": "Items"},
        "Items": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemSelector": {"id.$": "$$.Map.Item.Value"},
            "MaxConcurrency": 1,
            "ToleratedFailureCount": 0,
            "ItemProcessor": CHILD,
            "End": True,
        },
    },
}


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    moto_fixes.apply()
    map_redrive.install()
    previous = moto_fixes.time_scale()
    moto_fixes.set_time_scale(0.001)
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            ddb = boto3.client("dynamodb", region_name=REGION)
            for table in ("runs", "fixed"):
                ddb.create_table(
                    TableName=table,
                    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
            yield boto3.client("stepfunctions", region_name=REGION), ddb
    finally:
        moto_fixes.set_time_scale(previous)


def wait(sfn: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still RUNNING"
        time.sleep(0.01)
    return dict(described)


def fix(ddb: Any, *items: str) -> None:
    for item in items:
        ddb.put_item(TableName="fixed", Item={"id": {"S": item}})


def runs(ddb: Any) -> dict[str, int]:
    found = ddb.scan(TableName="runs")["Items"]
    return {item["id"]["S"]: int(item["runs"]["N"]) for item in found}


def start(sfn: Any) -> str:
    machine = sfn.create_state_machine(name="m", definition=json.dumps(DEFINITION), roleArn=ROLE_ARN)
    arn: str = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], input=json.dumps({"items": ITEMS})
    )["executionArn"]
    return arn


def test_redriven_distributed_map_reruns_only_the_failed_items_and_keeps_the_others_outputs(
    aws: tuple[Any, Any],
) -> None:
    sfn, ddb = aws
    fix(ddb, "a", "b", "d")
    arn = start(sfn)
    failed = wait(sfn, arn)
    assert failed["status"] == "FAILED"
    assert failed["error"] == "States.ExceedToleratedFailureThreshold"
    assert runs(ddb) == {"a": 1, "b": 1, "c": 1, "d": 1}

    fix(ddb, "c")
    resumed = redrive(arn)
    done = wait(sfn, arn)

    assert resumed.from_state == "Items"
    assert done["status"] == "SUCCEEDED", done.get("cause")
    assert runs(ddb) == {"a": 1, "b": 1, "c": 2, "d": 1}
    # In item order; a, b and d keep the outputs of their runs in the failed attempt.
    assert json.loads(done["output"]) == [
        {"id": "a", "run": "1"},
        {"id": "b", "run": "1"},
        {"id": "c", "run": "2"},
        {"id": "d", "run": "1"},
    ]


def test_map_that_fails_again_on_redrive_carries_every_success_to_the_next_redrive(
    aws: tuple[Any, Any],
) -> None:
    sfn, ddb = aws
    fix(ddb, "a")
    arn = start(sfn)
    assert wait(sfn, arn)["status"] == "FAILED"

    fix(ddb, "b", "d")
    redrive(arn)
    assert wait(sfn, arn)["status"] == "FAILED"  # c is still broken
    fix(ddb, "c")
    redrive(arn)
    done = wait(sfn, arn)

    assert done["status"] == "SUCCEEDED", done.get("cause")
    assert runs(ddb) == {"a": 1, "b": 2, "c": 3, "d": 2}
    assert [item["run"] for item in json.loads(done["output"])] == ["1", "2", "3", "2"]
