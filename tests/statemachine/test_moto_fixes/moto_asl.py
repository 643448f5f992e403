"""Tiny ASL definitions run in moto for the moto corrections' regression tests, and what an execution ended with."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/sluice-moto-fixes-test"
PASS_MACHINE = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
CAUGHT_STATE = {"Caught": {"Type": "Pass", "End": True}}


@dataclass
class Run:
    """What an execution ended with."""

    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]


def create(sfn: Any, definition: dict[str, Any], name: str = "machine") -> str:
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]


def wait(sfn: Any, execution_arn: str, timeout: float = 15.0) -> Run:
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{execution_arn} still RUNNING after {timeout} s")
        time.sleep(0.01)
    history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    output = described.get("output")
    return Run(
        status=described["status"],
        output=json.loads(output) if output is not None else None,
        error=described.get("error"),
        cause=described.get("cause"),
        history=history,
    )


def run(sfn: Any, definition: dict[str, Any], payload: Any = None) -> Run:
    machine = create(sfn, definition)
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload or {}))
    return wait(sfn, execution["executionArn"])


def task(resource: str, parameters: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "StartAt": "Call",
        "States": {"Call": {"Type": "Task", "Resource": resource, "Parameters": parameters, **fields}},
    }


def caught(error_equals: list[str], result_path: str = "$") -> dict[str, Any]:
    """A Catch sending the error to a terminal Pass state named Caught."""
    return {
        "Catch": [{"ErrorEquals": error_equals, "ResultPath": result_path, "Next": "Caught"}],
        "End": True,
    }


def create_crawler(glue: Any) -> None:
    glue.create_crawler(
        Name="staging",
        Role=ROLE_ARN,
        DatabaseName="lake",
        Targets={"S3Targets": [{"Path": "s3://lake/staging/"}]},
    )


# A Distributed Map whose items fail unless they say {"ok": true}.
ITEM_PROCESSOR = {
    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
    "StartAt": "Valid?",
    "States": {
        "Valid?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Loaded"}],
            "Default": "Rejected",
        },
        "Loaded": {"Type": "Succeed"},
        "Rejected": {"Type": "Fail", "Error": "ItemRejectedError", "Cause": "bad item"},
    },
}


def distributed_map(**tolerance: Any) -> dict[str, Any]:
    return {
        "StartAt": "Load",
        "States": {
            "Load": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": ITEM_PROCESSOR,
                "End": True,
                **tolerance,
            }
        },
    }
