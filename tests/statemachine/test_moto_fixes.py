"""Regression tests of the moto 5.2.5 corrections: each runs a tiny ASL definition in the emulator, and each
fix also has a test showing the defect comes back when that one fix is reverted."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/sluice-moto-fixes-test"
ISO_8601_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class Run:
    """What an execution ended with."""

    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]


@pytest.fixture
def aws() -> Iterator[None]:
    moto_fixes.apply()
    previous = moto_fixes.time_scale()
    moto_fixes.set_time_scale(0.001)
    try:
        with mock_aws(config=CONFIG):
            yield
    finally:
        moto_fixes.set_time_scale(previous)


@pytest.fixture
def sfn(aws: None) -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def glue(aws: None) -> Any:
    return boto3.client("glue", region_name=REGION)


@pytest.fixture
def s3(aws: None) -> Any:
    return boto3.client("s3", region_name=REGION)


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


CAUGHT_STATE = {"Caught": {"Type": "Pass", "End": True}}


def test_apply_is_idempotent_and_reverted_restores_one_fix() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )

    moto_fixes.apply()
    patched = StateTaskServiceCallback.__dict__["_eval_integration_pattern"]
    moto_fixes.apply()
    assert StateTaskServiceCallback.__dict__["_eval_integration_pattern"] is patched
    assert sorted(moto_fixes.applied()) == sorted(moto_fixes.FIXES)

    with moto_fixes.reverted("glue_sync"):
        original = StateTaskServiceCallback.__dict__["_eval_integration_pattern"]
        assert original is not patched
        assert "glue_sync" not in moto_fixes.applied()

    assert "glue_sync" in moto_fixes.applied()
    assert StateTaskServiceCallback.__dict__["_eval_integration_pattern"] is not original
    try:
        moto_fixes.revert()
        assert moto_fixes.applied() == []
        assert StateTaskServiceCallback.__dict__["_eval_integration_pattern"] is original
    finally:
        moto_fixes.apply()


# 1. glue:startJobRun.sync


def _start_job_run_sync(sfn: Any, glue: Any) -> Run:
    glue.create_job(
        Name="transform", Role=ROLE_ARN, Command={"Name": "glueetl", "ScriptLocation": "s3://b/t.py"}
    )
    return run(sfn, task("arn:aws:states:::glue:startJobRun.sync", {"JobName": "transform"}, End=True))


def test_glue_start_job_run_sync_returns_the_finished_job_run(sfn: Any, glue: Any) -> None:
    result = _start_job_run_sync(sfn, glue)

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["JobName"] == "transform"
    assert result.output["JobRunState"] == "SUCCEEDED"
    assert isinstance(
        result.output["CompletedOn"], int
    )  # epoch milliseconds, as AWS's Glue integration returns
    assert abs(result.output["CompletedOn"] / 1000 - time.time()) < 3600


def test_glue_start_job_run_sync_without_fix_fails_on_missing_callback_endpoint(sfn: Any, glue: Any) -> None:
    with moto_fixes.reverted("glue_sync"):
        result = _start_job_run_sync(sfn, glue)

    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
    assert "'NoneType' object has no attribute 'interrupt_all'" in (result.cause or "")


# 2. start_execution without a name

PASS_MACHINE = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}


def test_start_execution_without_name_twice_starts_two_executions_named_by_uuid(sfn: Any) -> None:
    machine = create(sfn, PASS_MACHINE)

    first = sfn.start_execution(stateMachineArn=machine, input='{"n": 1}')["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine, input='{"n": 2}')["executionArn"]

    assert first != second
    assert UUID.match(first.rsplit(":", 1)[1]) and UUID.match(second.rsplit(":", 1)[1])
    assert [wait(sfn, arn).output for arn in (first, second)] == [{"n": 1}, {"n": 2}]


def test_start_execution_without_name_and_fix_collides_with_the_first(sfn: Any) -> None:
    machine = create(sfn, PASS_MACHINE)
    with moto_fixes.reverted("execution_name"):
        first = sfn.start_execution(stateMachineArn=machine, input='{"n": 1}')["executionArn"]
        with pytest.raises(ClientError, match="ExecutionAlreadyExists"):
            sfn.start_execution(stateMachineArn=machine, input='{"n": 2}')

    assert first.endswith(":None")


# 3. States.* errors from Parallel branches and Map iterations

FAILING_BRANCH = {
    "StartAt": "Fail",
    "States": {"Fail": {"Type": "Fail", "Error": "States.TaskFailed", "Cause": "boom"}},
}


def _parallel(error_equals: list[str]) -> dict[str, Any]:
    return {
        "StartAt": "Fork",
        "States": {
            "Fork": {"Type": "Parallel", "Branches": [FAILING_BRANCH], **caught(error_equals)},
            **CAUGHT_STATE,
        },
    }


def _map(error_equals: list[str]) -> dict[str, Any]:
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": FAILING_BRANCH,
                **caught(error_equals),
            },
            **CAUGHT_STATE,
        },
    }


@pytest.mark.parametrize(
    "definition",
    [
        _parallel(["States.TaskFailed"]),
        _parallel(["States.ALL"]),
        _map(["States.TaskFailed"]),
        _map(["States.ALL"]),
    ],
    ids=["parallel-taskfailed", "parallel-all", "map-taskfailed", "map-all"],
)
def test_states_error_in_parallel_branch_or_map_iteration_reaches_catch_with_its_name(
    sfn: Any, definition: dict[str, Any]
) -> None:
    result = run(sfn, definition, {"items": [1]})

    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"Error": "States.TaskFailed", "Cause": "boom"}


def test_states_error_in_parallel_branch_without_fix_becomes_uncaught_runtime_error(sfn: Any) -> None:
    with moto_fixes.reverted("states_error_names"):
        result = run(sfn, _parallel(["States.TaskFailed"]))

    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
    assert "MUST NOT begin with the prefix 'States.'" in (result.cause or "")


# 4. aws-sdk parameter and response normalisation


def _crawler(glue: Any) -> None:
    glue.create_crawler(
        Name="staging",
        Role=ROLE_ARN,
        DatabaseName="lake",
        Targets={"S3Targets": [{"Path": "s3://lake/staging/"}]},
    )


def test_aws_sdk_glue_get_crawler_returns_json_with_iso_8601_dates(sfn: Any, glue: Any) -> None:
    _crawler(glue)

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
    _crawler(glue)

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
    _crawler(glue)
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


# 5. aws-sdk error names


def _start_crawler_twice(sfn: Any, glue: Any) -> Run:
    _crawler(glue)
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


# 6. definite JSONPath

ROWS = {"rows": [{"name": "alpha", "meta": {"size": 3}}, {"name": "beta", "meta": {"size": 5}}]}
PATHS_MACHINE = {
    "StartAt": "Pick",
    "States": {
        "Pick": {
            "Type": "Pass",
            "Parameters": {"first.$": "$.rows[0].name", "all.$": "$.rows[*].name", "head.$": "$.rows[0:1]"},
            "ResultPath": "$.picked",
            "Next": "Narrow",
        },
        "Narrow": {
            "Type": "Pass",
            "InputPath": "$.rows[0].meta",
            "ResultPath": "$.narrowed",
            "Next": "Select",
        },
        "Select": {
            "Type": "Parallel",
            "Branches": [{"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}],
            "ResultSelector": {"name.$": "$[0].rows[1].name"},
            "ResultPath": "$.selected",
            "Next": "Check",
        },
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.rows[0].name", "StringEquals": "alpha", "Next": "Matched"}],
            "Default": "Unmatched",
        },
        "Matched": {"Type": "Pass", "Result": True, "ResultPath": "$.matched", "End": True},
        "Unmatched": {"Type": "Pass", "Result": False, "ResultPath": "$.matched", "End": True},
    },
}


def test_definite_json_path_yields_a_scalar_and_indefinite_paths_lists(sfn: Any) -> None:
    result = run(sfn, PATHS_MACHINE, ROWS)

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["picked"] == {
        "first": "alpha",
        "all": ["alpha", "beta"],
        "head": [{"name": "alpha", "meta": {"size": 3}}],
    }
    assert result.output["narrowed"] == {"size": 3}
    assert result.output["selected"] == {"name": "beta"}
    assert result.output["matched"] is True


def test_definite_json_path_without_fix_yields_a_one_element_list(sfn: Any) -> None:
    with moto_fixes.reverted("definite_json_path"):
        result = run(sfn, PATHS_MACHINE, ROWS)

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["picked"]["first"] == ["alpha"]
    assert result.output["matched"] is False


# 7. Distributed Map tolerated failures (and 8., an integer ToleratedFailurePercentage)

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
ONE_OF_FOUR_FAILS = {"items": [{"ok": True}, {"ok": False}, {"ok": True}, {"ok": True}]}


def _distributed_map(**tolerance: Any) -> dict[str, Any]:
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


@pytest.mark.parametrize(
    ("tolerance", "status"),
    [
        ({}, "FAILED"),
        ({"ToleratedFailureCount": 0}, "FAILED"),
        ({"ToleratedFailureCount": 1}, "SUCCEEDED"),
        ({"ToleratedFailurePercentage": 10}, "FAILED"),
        ({"ToleratedFailurePercentage": 25}, "SUCCEEDED"),
        ({"ToleratedFailurePercentage": 25.5, "ToleratedFailureCount": 0}, "FAILED"),
    ],
    ids=["none", "count-0", "count-1", "percent-10", "percent-25", "percent-25.5-and-count-0"],
)
def test_distributed_map_fails_past_its_tolerated_failure_threshold(
    sfn: Any, tolerance: dict[str, Any], status: str
) -> None:
    result = run(sfn, _distributed_map(**tolerance), ONE_OF_FOUR_FAILS)

    assert result.status == status, result.cause
    if status == "FAILED":
        assert result.error == "States.ExceedToleratedFailureThreshold"
        assert "MapRunFailed" in [event["type"] for event in result.history]
    else:
        assert len(result.output) == 4


def test_distributed_map_threshold_error_reaches_catch(sfn: Any) -> None:
    definition = _distributed_map()
    definition["States"]["Load"] |= caught(["States.ExceedToleratedFailureThreshold"])
    definition["States"] |= CAUGHT_STATE

    result = run(sfn, definition, ONE_OF_FOUR_FAILS)

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["Error"] == "States.ExceedToleratedFailureThreshold"


def test_distributed_map_without_fix_swallows_item_failures(sfn: Any) -> None:
    with moto_fixes.reverted("distributed_map_tolerance"):
        result = run(sfn, _distributed_map(), ONE_OF_FOUR_FAILS)

    assert result.status == "SUCCEEDED"
    assert result.output[1] is None


def test_integer_tolerated_failure_percentage_is_accepted_and_stored_as_written(sfn: Any) -> None:
    definition = json.dumps(_distributed_map(ToleratedFailurePercentage=10))

    machine = sfn.create_state_machine(name="machine", definition=definition, roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]

    assert sfn.describe_state_machine(stateMachineArn=machine)["definition"] == definition


def test_integer_tolerated_failure_percentage_without_fix_is_an_invalid_definition(sfn: Any) -> None:
    with (
        moto_fixes.reverted("integer_tolerated_failure_percentage"),
        pytest.raises(
            ClientError, match=r"ASLParserException .* at input '\"ToleratedFailurePercentage\":10'"
        ),
    ):
        create(sfn, _distributed_map(ToleratedFailurePercentage=10))


# time controls


def test_time_scale_shrinks_wait_states_and_retry_intervals(sfn: Any, glue: Any) -> None:
    definition = {
        "StartAt": "Pause",
        "States": {
            "Pause": {"Type": "Wait", "Seconds": 30, "Next": "Poll"},
            "Poll": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:glue:getCrawler",
                "Parameters": {"Name": "absent"},
                "Retry": [
                    {"ErrorEquals": ["Glue.EntityNotFoundException"], "IntervalSeconds": 20, "MaxAttempts": 2}
                ],
                **caught(["Glue.EntityNotFoundException"]),
            },
            **CAUGHT_STATE,
        },
    }
    started = time.monotonic()

    result = run(sfn, definition)

    assert time.monotonic() - started < 5  # 30 s + 20 s + 40 s of ASL time at 0.001
    assert result.status == "SUCCEEDED", result.cause
    assert [event["type"] for event in result.history].count("TaskFailed") == 3


def test_time_scale_without_fix_waits_the_full_seconds(sfn: Any) -> None:
    definition = {"StartAt": "Pause", "States": {"Pause": {"Type": "Wait", "Seconds": 1, "End": True}}}
    started = time.monotonic()
    with moto_fixes.reverted("time_scale"):
        result = run(sfn, definition)

    assert result.status == "SUCCEEDED"
    assert time.monotonic() - started >= 1


def test_set_time_scale_rejects_a_non_positive_factor() -> None:
    with pytest.raises(ValueError, match="positive"):
        moto_fixes.set_time_scale(0)


# JSONata

JSONATA_MACHINE = {
    "QueryLanguage": "JSONata",
    "StartAt": "Add",
    "States": {"Add": {"Type": "Pass", "Output": "{% $states.input.a + 1 %}", "End": True}},
}


def test_jsonata_pass_state_output_is_evaluated(sfn: Any) -> None:
    result = run(sfn, JSONATA_MACHINE, {"a": 1})

    assert result.status == "SUCCEEDED", result.cause
    assert result.output == 2


def test_jsonata_without_fix_has_no_evaluator(sfn: Any) -> None:
    with moto_fixes.reverted("jsonata"):
        result = run(sfn, JSONATA_MACHINE, {"a": 1})

    assert result.status == "FAILED"
    assert "'NoneType' object is not callable" in (result.cause or "")


# --- 9 history_reverse_order -------------------------------------------------------------------

_PASS_THEN_SUCCEED = {
    "StartAt": "One",
    "States": {"One": {"Type": "Pass", "Next": "Two"}, "Two": {"Type": "Succeed"}},
}


def test_execution_history_reverse_order_returns_newest_event_first(sfn: Any) -> None:
    machine = create(sfn, _PASS_THEN_SUCCEED)
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    assert wait(sfn, arn).status == "SUCCEEDED"
    events = sfn.get_execution_history(executionArn=arn, reverseOrder=True)["events"]
    assert events[0]["type"] == "ExecutionSucceeded"
    assert events[-1]["type"] == "ExecutionStarted"
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)


def test_execution_history_reverse_order_without_fix_returns_oldest_first(sfn: Any) -> None:
    machine = create(sfn, _PASS_THEN_SUCCEED)
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    assert wait(sfn, arn).status == "SUCCEEDED"
    with moto_fixes.reverted("history_reverse_order"):
        events = sfn.get_execution_history(executionArn=arn, reverseOrder=True)["events"]
    assert events[0]["type"] == "ExecutionStarted"
