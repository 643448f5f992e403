"""--fail values and the Task states' service boundaries as read from the ASL (no emulator, no Spark)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sluice.local.faults import Boundary, FaultSpec, FaultSpecError, fault_kind, parse_fault, task_boundaries

ASL = json.loads((Path(__file__).resolve().parents[2] / "statemachine" / "pipeline.asl.json").read_text())


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        (
            "Transform=Glue.ConcurrentRunsExceededException:2",
            FaultSpec("Transform", "Glue.ConcurrentRunsExceededException", 2),
        ),
        ("Validate=Lambda.ServiceException:1", FaultSpec("Validate", "Lambda.ServiceException", 1)),
        ("Load=States.Timeout", FaultSpec("Load", "States.Timeout", None)),
        ("Load=RuntimeError", FaultSpec("Load", "RuntimeError", None)),
    ],
)
def test_parse_fault_reads_state_error_and_times(text: str, spec: FaultSpec):
    assert parse_fault(text) == spec
    assert str(parse_fault(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Load", "expected STATE=ERROR[:TIMES]"),
        ("=RuntimeError", "expected STATE=ERROR[:TIMES]"),
        ("Load=", "expected STATE=ERROR[:TIMES]"),
        ("Load=RuntimeError:0", "at least 1"),
        ("Load=RuntimeError:two", "at least 1"),
        ("Load=Not an error", "is not an error name"),
        ("Load=A.B.C", "is not an error name"),
    ],
)
def test_parse_fault_rejects_malformed_values_with_the_reason(text: str, message: str):
    with pytest.raises(FaultSpecError, match=re.escape(message)):
        parse_fault(text)


def test_task_boundaries_map_each_task_state_to_its_service_call_from_the_asl():
    found = task_boundaries(ASL)

    assert sorted(found) == [
        "Archive",
        "GetCrawler",
        "Load",
        "LoadServingBatch",
        "MergeChunks",
        "NotifySuccess",
        "PlanChunks",
        "RegisterPartition",
        "RejectFile",
        "ScanRange",
        "StartCrawler",
        "TakeLease",
        "Transform",
        "TransformInLambda",
        "Validate",
        "ValidateChunk",
    ]
    assert found["Validate"] == Boundary(
        "Validate", "lambda", "invoke", "${ValidateFunctionArn}", frozenset({"event", "execution"})
    )
    assert found["Transform"].call == "glue:startJobRun:${TransformJobName}"
    assert found["TransformInLambda"] == Boundary(
        "TransformInLambda", "lambda", "invoke", "${TransformInLambdaFunctionArn}", frozenset({"run"})
    )
    assert found["StartCrawler"].call == "glue:startCrawler:${StagingCrawlerName}"
    assert found["GetCrawler"].call == "glue:getCrawler:${StagingCrawlerName}"
    assert found["NotifySuccess"].call == "sns:publish:${TopicArn}"


def test_task_boundaries_give_each_lambda_state_a_function_of_its_own():
    found = task_boundaries(ASL)

    lambda_states = [b for b in found.values() if b.service == "lambda"]
    assert len({b.target for b in lambda_states}) == len(lambda_states) == 12
    assert found["LoadServingBatch"].target == "${LoadServingBatchFunctionArn}"
    assert found["Load"].target == "${LoadFunctionArn}"


def test_task_boundaries_tell_states_sharing_a_function_apart_by_their_payload_keys():
    # The pipeline once ran LoadServingBatch on Load's function; sluice.local.faults still tells such states
    # apart, for any definition that shares a function between states.
    shared = json.loads(json.dumps(ASL))
    batch = shared["States"]["LoadServing"]["ItemProcessor"]["States"]["LoadServingBatch"]
    batch["Parameters"]["FunctionName"] = "${LoadFunctionArn}"
    found = task_boundaries(shared)

    assert found["Load"].target == found["LoadServingBatch"].target == "${LoadFunctionArn}"
    assert found["Load"].payload_keys == frozenset(
        {"run", "transform", "lease", "fan_out_files", "fan_out_rows"}
    )
    assert found["LoadServingBatch"].payload_keys is None  # "Payload.$": the whole item


@pytest.mark.parametrize(
    ("state", "error", "kind"),
    [
        ("Validate", "Lambda.ServiceException", "service"),
        ("Validate", "RuntimeError", "function"),
        ("Load", "Sandbox.Timedout", "function"),  # what Lambda reports for a function out of time
        ("Load", "States.Timeout", "timeout"),
        ("Transform", "Glue.ConcurrentRunsExceededException", "service"),
        ("Transform", "OutOfMemoryError", "job_run"),
        ("Transform", "States.TaskFailed", "job_run"),
        ("StartCrawler", "Glue.CrawlerRunningException", "service"),
        ("GetCrawler", "States.Timeout", "timeout"),
        ("NotifySuccess", "SNS.ThrottledException", "service"),
    ],
)
def test_fault_kind_says_how_an_error_surfaces_at_the_state_boundary(state: str, error: str, kind: str):
    assert fault_kind(FaultSpec(state, error), task_boundaries(ASL)[state]) == kind


@pytest.mark.parametrize(
    ("state", "error", "message"),
    [
        ("Validate", "States.TaskFailed", "accepts Lambda.<Code>"),
        ("Transform", "Lambda.ServiceException", "accepts Glue.<Code>"),
        ("StartCrawler", "CrawlerRunningException", "accepts Glue.<Code> or States.Timeout"),
        ("NotifySuccess", "Glue.ThrottlingException", "accepts SNS.<Name>Exception"),
    ],
)
def test_fault_kind_refuses_an_error_the_state_cannot_get(state: str, error: str, message: str):
    with pytest.raises(FaultSpecError, match=re.escape(message)):
        fault_kind(FaultSpec(state, error), task_boundaries(ASL)[state])
