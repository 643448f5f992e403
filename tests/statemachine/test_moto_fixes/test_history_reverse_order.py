"""moto correction ``history_reverse_order``: ``get_execution_history(reverseOrder=True)`` lists the newest
event first."""

from __future__ import annotations

from typing import Any

import pytest
from moto_asl import create, wait

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

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
