"""moto correction ``distributed_map_tolerance``: a Distributed Map fails past its tolerated failures."""

from __future__ import annotations

from typing import Any

import pytest
from moto_asl import CAUGHT_STATE, caught, distributed_map, run

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

ONE_OF_FOUR_FAILS = {"items": [{"ok": True}, {"ok": False}, {"ok": True}, {"ok": True}]}


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
    result = run(sfn, distributed_map(**tolerance), ONE_OF_FOUR_FAILS)

    assert result.status == status, result.cause
    if status == "FAILED":
        assert result.error == "States.ExceedToleratedFailureThreshold"
        assert "MapRunFailed" in [event["type"] for event in result.history]
    else:
        assert len(result.output) == 4


def test_distributed_map_threshold_error_reaches_catch(sfn: Any) -> None:
    definition = distributed_map()
    definition["States"]["Load"] |= caught(["States.ExceedToleratedFailureThreshold"])
    definition["States"] |= CAUGHT_STATE

    result = run(sfn, definition, ONE_OF_FOUR_FAILS)

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["Error"] == "States.ExceedToleratedFailureThreshold"


def test_distributed_map_without_fix_swallows_item_failures(sfn: Any) -> None:
    with moto_fixes.reverted("distributed_map_tolerance"):
        result = run(sfn, distributed_map(), ONE_OF_FOUR_FAILS)

    assert result.status == "SUCCEEDED"
    assert result.output[1] is None
