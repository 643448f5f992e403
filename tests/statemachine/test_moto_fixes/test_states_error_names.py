"""moto correction ``states_error_names``: a ``States.*`` error from a Parallel branch or a Map iteration
reaches the Catch with its name."""

from __future__ import annotations

from typing import Any

import pytest
from moto_asl import CAUGHT_STATE, caught, run

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

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
