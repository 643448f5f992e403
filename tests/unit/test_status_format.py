"""`sluice status`: what one line of the execution list shows, and where the stack is found."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sluice.commands.status import (
    execution_row,
    failed_state,
    format_seconds,
    render_rows,
    samconfig_defaults,
    source_key,
)

ARN = "arn:aws:states:us-east-1:123456789012:execution:sluice-dev-pipeline:run-1"
UPLOAD_EVENT = json.dumps(
    {
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": "raw"}, "object": {"key": "incoming/offers/a.csv", "size": 10}},
    }
)
T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_source_key_of_an_upload_event_is_the_object_key() -> None:
    assert source_key(UPLOAD_EVENT) == "incoming/offers/a.csv"


def test_source_key_of_other_inputs_is_none() -> None:
    assert source_key('{"hello": 1}') is None
    assert source_key("not json") is None
    assert source_key('["a list"]') is None
    assert source_key(None) is None


def test_failed_state_is_the_last_state_entered() -> None:
    events = [
        {"type": "ExecutionStarted"},
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Validate"}},
        {"type": "TaskStateExited", "stateExitedEventDetails": {"name": "Validate"}},
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Transform"}},
        {"type": "TaskFailed"},
        {"type": "ExecutionFailed"},
    ]
    assert failed_state(events) == "Transform"


def test_failed_state_of_an_execution_that_entered_no_state_is_none() -> None:
    assert failed_state([{"type": "ExecutionStarted"}, {"type": "ExecutionFailed"}]) is None


def test_format_seconds_uses_seconds_then_minutes_then_hours() -> None:
    assert format_seconds(None) == "-"
    assert format_seconds(2.345) == "2.3s"
    assert format_seconds(89.5) == "1m30s"
    assert format_seconds(3725) == "1h02m"


def test_execution_row_of_a_failed_execution_names_state_and_error() -> None:
    execution = {
        "executionArn": ARN,
        "name": "run-1",
        "status": "FAILED",
        "startDate": T0,
        "stopDate": datetime(2026, 3, 4, 5, 7, 37, tzinfo=UTC),
    }
    described = {"input": UPLOAD_EVENT, "error": "TooManyBadRowsError", "redriveCount": 1}
    row = execution_row(execution, described, "Rejected")
    assert row == {
        "name": "run-1",
        "status": "FAILED",
        "file": "incoming/offers/a.csv",
        "started": "2026-03-04T05:06:07+00:00",
        "seconds": 90.0,
        "failed_state": "Rejected",
        "error": "TooManyBadRowsError",
        "redrives": 1,
        "execution_arn": ARN,
    }
    assert render_rows([row]) == [
        [
            "run-1",
            "FAILED (redriven 1×)",
            "incoming/offers/a.csv",
            "2026-03-04 05:06:07",
            "1m30s",
            "Rejected: TooManyBadRowsError",
        ]
    ]


def test_execution_row_of_a_running_execution_counts_time_until_now_and_shows_no_failure() -> None:
    execution = {"executionArn": ARN, "name": "run-1", "status": "RUNNING", "startDate": T0}
    now = datetime(2026, 3, 4, 5, 6, 19, tzinfo=UTC)
    row = execution_row(execution, {"input": "{}"}, None, now)
    assert (row["seconds"], row["failed_state"], row["error"], row["file"]) == (12.0, None, None, None)
    assert render_rows([row]) == [["run-1", "RUNNING", "-", "2026-03-04 05:06:07", "12.0s", ""]]


def test_samconfig_defaults_read_the_deploy_then_the_global_section(tmp_path: Path) -> None:
    (tmp_path / "samconfig.toml").write_text(
        "version = 0.1\n"
        "[default.global.parameters]\n"
        'stack_name = "sluice-dev"\nregion = "eu-west-1"\n'
        "[default.deploy.parameters]\n"
        'stack_name = "sluice-team"\n',
        encoding="utf-8",
    )
    assert samconfig_defaults(tmp_path) == {"stack_name": "sluice-team", "region": "eu-west-1"}


def test_samconfig_defaults_without_the_file_are_empty(tmp_path: Path) -> None:
    assert samconfig_defaults(tmp_path) == {}
