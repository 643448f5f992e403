"""The local runner reads an execution's history whole once, then only the events added since."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice.local import moto_fixes
from sluice.local.runner import HISTORY_PAGE, _History

pytestmark = pytest.mark.emulator

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/sluice-runner-history-test"
PASSES = 40  # 82 events: more than one page of HISTORY_PAGE


@pytest.fixture
def sfn() -> Iterator[Any]:
    moto_fixes.apply()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name=REGION)


def _finished_execution(sfn: Any, passes: int = PASSES) -> str:
    states: dict[str, Any] = {f"P{i}": {"Type": "Pass", "Next": f"P{i + 1}"} for i in range(passes - 1)}
    states[f"P{passes - 1}"] = {"Type": "Pass", "End": True}
    machine = sfn.create_state_machine(
        name=f"m{passes}", definition=json.dumps({"StartAt": "P0", "States": states}), roleArn=ROLE
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 15
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still RUNNING"
        time.sleep(0.01)
    return arn


def _served(sfn: Any) -> list[int]:
    """The number of events of each GetExecutionHistory response the client receives from now on."""
    counts: list[int] = []

    def count(parsed: dict[str, Any], **_: Any) -> None:
        counts.append(len(parsed.get("events", [])))

    sfn.meta.events.register("after-call.sfn.GetExecutionHistory", count)
    return counts


def test_first_read_is_the_whole_history_oldest_first(sfn: Any) -> None:
    arn = _finished_execution(sfn)
    whole = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]

    events = _History(sfn, arn).read()

    assert len(whole) == 2 * PASSES + 2
    assert events == whole
    assert [e["id"] for e in events] == list(range(1, 2 * PASSES + 3))


def test_a_later_read_fetches_one_page_and_keeps_the_events(sfn: Any) -> None:
    arn = _finished_execution(sfn)
    history = _History(sfn, arn)
    first = list(history.read())
    served = _served(sfn)

    again = history.read()

    assert again == first
    assert served == [HISTORY_PAGE]  # one page, newest first, every event of it already read


def test_events_added_after_a_read_are_appended_in_order(sfn: Any) -> None:
    arn = _finished_execution(sfn)
    history = _History(sfn, arn)
    whole = list(history.read())
    # As if the first read had come while the last 5 events were still to happen.
    del history.events[-5:]
    served = _served(sfn)

    events = history.read()

    assert events == whole
    assert served == [HISTORY_PAGE]  # the newest page held them and an event read before


def test_more_new_events_than_a_page_read_the_whole_history_again(sfn: Any) -> None:
    arn = _finished_execution(sfn)
    history = _History(sfn, arn)
    whole = list(history.read())
    del history.events[-(HISTORY_PAGE + 5) :]
    served = _served(sfn)

    events = history.read()

    assert events == whole
    assert served == [HISTORY_PAGE, len(whole)]  # the newest page, all of it new; then the whole, one page
