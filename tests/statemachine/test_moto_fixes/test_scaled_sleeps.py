"""moto correction ``scaled_sleeps``: Wait states, Retry intervals and ``.sync`` polls sleep ``time_scale``
times their ASL time."""

from __future__ import annotations

import time
from typing import Any

import pytest
from moto_asl import CAUGHT_STATE, caught, run

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator


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
    with moto_fixes.reverted("scaled_sleeps"):
        result = run(sfn, definition)

    assert result.status == "SUCCEEDED"
    assert time.monotonic() - started >= 1


def test_set_time_scale_rejects_a_non_positive_factor() -> None:
    with pytest.raises(ValueError, match="positive"):
        moto_fixes.set_time_scale(0)
