"""moto correction ``history_pages``: ``get_execution_history`` pages of ``maxResults`` events, chained by
``nextToken``, oldest or newest first."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto_asl import create, wait

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

PASSES = 60  # each Pass state adds an entered and an exited event: 122 events with the start and the end


def _long_execution(sfn: Any) -> str:
    states: dict[str, Any] = {
        f"P{i}": {"Type": "Pass", "Result": {"i": i}, "Next": f"P{i + 1}"} for i in range(PASSES - 1)
    }
    states[f"P{PASSES - 1}"] = {"Type": "Pass", "End": True}
    machine = create(sfn, {"StartAt": "P0", "States": states})
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    assert wait(sfn, arn).status == "SUCCEEDED"
    return arn


def _pages(sfn: Any, **kwargs: Any) -> list[list[int]]:
    pages: list[list[int]] = []
    while True:
        page = sfn.get_execution_history(**kwargs)
        pages.append([event["id"] for event in page["events"]])
        if "nextToken" not in page:
            return pages
        kwargs["nextToken"] = page["nextToken"]


def test_pages_hold_max_results_events_and_chain_by_token(sfn: Any) -> None:
    arn = _long_execution(sfn)

    pages = _pages(sfn, executionArn=arn, maxResults=50)

    assert [len(page) for page in pages] == [50, 50, 22]
    assert [event_id for page in pages for event_id in page] == list(range(1, 2 * PASSES + 3))
    paginated = [
        event["type"]
        for page in sfn.get_paginator("get_execution_history").paginate(
            executionArn=arn, PaginationConfig={"PageSize": 7}
        )
        for event in page["events"]
    ]
    assert paginated[0] == "ExecutionStarted"
    assert paginated[-1] == "ExecutionSucceeded"
    assert len(paginated) == 2 * PASSES + 2


def test_reverse_pages_start_from_the_newest_event(sfn: Any) -> None:
    arn = _long_execution(sfn)

    pages = _pages(sfn, executionArn=arn, maxResults=100, reverseOrder=True)

    assert [len(page) for page in pages] == [100, 22]
    assert [event_id for page in pages for event_id in page] == list(range(2 * PASSES + 2, 0, -1))
    newest = sfn.get_execution_history(executionArn=arn, maxResults=1, reverseOrder=True)["events"]
    assert newest[0]["type"] == "ExecutionSucceeded"


def test_default_page_is_100_events(sfn: Any) -> None:
    arn = _long_execution(sfn)

    first = sfn.get_execution_history(executionArn=arn)
    zero = sfn.get_execution_history(executionArn=arn, maxResults=0)

    assert [event["id"] for event in first["events"]] == list(range(1, 101))
    assert [event["id"] for event in zero["events"]] == list(range(1, 101))
    rest = sfn.get_execution_history(executionArn=arn, nextToken=first["nextToken"])
    assert [event["id"] for event in rest["events"]] == list(range(101, 2 * PASSES + 3))
    assert "nextToken" not in rest
    whole = sfn.get_execution_history(executionArn=arn, maxResults=1000)
    assert len(whole["events"]) == 2 * PASSES + 2
    assert "nextToken" not in whole


def test_invalid_token_and_page_size_fail_as_on_aws(sfn: Any) -> None:
    arn = _long_execution(sfn)
    forward = sfn.get_execution_history(executionArn=arn, maxResults=10)["nextToken"]

    with pytest.raises(ClientError) as bad:
        sfn.get_execution_history(executionArn=arn, nextToken="not-a-token")
    assert bad.value.response["Error"]["Code"] == "InvalidToken"
    with pytest.raises(ClientError) as other_order:  # a token is only valid with the request that gave it
        sfn.get_execution_history(executionArn=arn, nextToken=forward, reverseOrder=True)
    assert other_order.value.response["Error"]["Code"] == "InvalidToken"
    with pytest.raises(ClientError) as too_many:
        sfn.get_execution_history(executionArn=arn, maxResults=1001)
    assert too_many.value.response["Error"]["Code"] == "ValidationException"
    assert "less than or equal to 1000" in too_many.value.response["Error"]["Message"]


def test_without_the_fix_one_page_holds_every_event(sfn: Any) -> None:
    arn = _long_execution(sfn)

    with moto_fixes.reverted("history_pages"):
        page = sfn.get_execution_history(executionArn=arn, maxResults=10)

    assert len(page["events"]) == 2 * PASSES + 2
    assert "nextToken" not in page
