"""One hop from a state to its code: Lambda state `Xyz` runs `functions/xyz/app.py` (template `XyzFunction`), a thin
handler whose logic is `sluice_lib.steps.xyz` (STYLE.md 1 and 8a)."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from sluice_lib.curated import snake_case

ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachine" / "pipeline.asl.json").read_text(encoding="utf-8"))
TEMPLATE = yaml_parse((ROOT / "template.sam.yaml").read_text(encoding="utf-8"))
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
SUBSTITUTIONS = RESOURCES["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]
STEPS = ROOT / "functions" / "shared" / "sluice_lib" / "steps"
HANDLER_MAX_LINES = 30


def _states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator") or {}
        yield from _states(processor.get("States", {}))
        for branch in state.get("Branches", []):
            yield from _states(branch.get("States", {}))


def lambda_states() -> dict[str, str]:
    """Lambda Task state -> the template's logical id of the function its FunctionName names."""
    found = {}
    for name, state in _states(ASL["States"]):
        if state.get("Type") == "Task" and state.get("Resource") == "arn:aws:states:::lambda:invoke":
            (placeholder,) = re.findall(r"^\$\{(\w+)\}$", state["Parameters"]["FunctionName"])
            found[name] = SUBSTITUTIONS[placeholder]["Fn::GetAtt"][0]
    return found


def status_change_function() -> str:
    """The function the template's "Step Functions Execution Status Change" rule invokes."""
    (found,) = [
        logical
        for logical, resource in RESOURCES.items()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "EventBridgeRule"
        and event["Properties"]["Pattern"].get("detail-type") == ["Step Functions Execution Status Change"]
    ]
    return str(found)


# Every Lambda state and the status-change handler, by the name an operator knows them by.
STATES = {**lambda_states(), "OnExecutionFailed": status_change_function()}


def handler(folder: str) -> ast.FunctionDef:
    tree = ast.parse((ROOT / "functions" / folder / "app.py").read_text(encoding="utf-8"))
    (found,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "lambda_handler"]
    return found


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}


def test_every_lambda_state_of_the_asl_and_the_failure_handler_are_known() -> None:
    assert STATES == {
        "Validate": "ValidateFunction",
        "ScanRange": "ScanRangeFunction",
        "PlanChunks": "PlanChunksFunction",
        "ValidateChunk": "ValidateChunkFunction",
        "MergeChunks": "MergeChunksFunction",
        "RegisterPartition": "RegisterPartitionFunction",
        "TakeLease": "TakeLeaseFunction",
        "TransformInLambda": "TransformInLambdaFunction",
        "Load": "LoadFunction",
        "LoadServingBatch": "LoadServingBatchFunction",
        "Archive": "ArchiveFunction",
        "RejectFile": "RejectFileFunction",
        "OnExecutionFailed": "OnExecutionFailedFunction",
    }


@pytest.mark.parametrize("state", sorted(STATES))
def test_state_runs_the_function_folder_named_for_it(state: str) -> None:
    logical = STATES[state]
    assert logical == f"{state}Function"
    assert RESOURCES[logical]["Properties"]["CodeUri"] == f"functions/{snake_case(state)}/"
    assert (ROOT / "functions" / snake_case(state) / "app.py").is_file()


@pytest.mark.parametrize("state", sorted(STATES))
def test_state_handler_calls_the_library_module_named_for_the_state(state: str) -> None:
    module = f"sluice_lib.steps.{snake_case(state)}"
    assert (STEPS / f"{snake_case(state)}.py").is_file()
    assert module in imported_modules(ROOT / "functions" / snake_case(state) / "app.py")


@pytest.mark.parametrize("state", sorted(STATES))
def test_state_handler_body_is_at_most_thirty_lines(state: str) -> None:
    found = handler(snake_case(state))
    assert found.end_lineno is not None
    assert found.end_lineno - found.body[0].lineno + 1 <= HANDLER_MAX_LINES


def test_every_function_folder_belongs_to_a_state() -> None:
    folders = {p.parent.name for p in (ROOT / "functions").glob("*/app.py")}
    assert folders == {snake_case(state) for state in STATES}


def test_notify_success_message_is_built_by_the_module_named_for_it_and_used_by_archive() -> None:
    assert ASL["States"]["NotifySuccess"]["Resource"] == "arn:aws:states:::sns:publish"
    assert "sluice_lib.steps.notify_success" in ASL["States"]["NotifySuccess"]["Comment"]
    assert "sluice_lib.steps.notify_success" in imported_modules(STEPS / "archive.py")
