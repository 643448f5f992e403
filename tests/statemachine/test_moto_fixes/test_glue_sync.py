"""moto correction ``glue_sync``: ``glue:startJobRun.sync`` returns the finished job run."""

from __future__ import annotations

import time
from typing import Any

import pytest
from moto_asl import ROLE_ARN, Run, run, task

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator


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
