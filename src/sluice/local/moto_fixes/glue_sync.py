"""``glue:startJobRun.sync`` fails in every execution; corrected, it returns the job run as AWS does.

moto: ``StateTaskServiceCallback._eval_integration_pattern`` creates a callback endpoint only for services
that support ``.waitForTaskToken``; Glue supports ``.sync`` only, so the endpoint stays ``None``, and the
``finally`` block calls ``callback_endpoint.interrupt_all()`` unguarded, replacing the job run's outcome
with ``'NoneType' object has no attribute 'interrupt_all'`` (``States.Runtime``). Once that passes, the job
run (GetJobRun's ``JobRun``, from ``StateTaskServiceGlue._sync_to_start_job_run``) reaches the execution
output with ``datetime`` values, which ``describe_execution`` cannot serialise.
AWS: the state waits for the job run and outputs it, its times as epoch milliseconds
(``"CompletedOn": 1616890026649``).
Fix: guard that one statement (source rewrite, see ``_patch.rewritten``) and convert the sync resolver's
result to epoch milliseconds.

Regression tests:
``tests/statemachine/test_moto_fixes/test_glue_sync.py::test_glue_start_job_run_sync_returns_the_finished_job_run``,
``tests/statemachine/test_moto_fixes/test_glue_sync.py::test_glue_start_job_run_sync_without_fix_fails_on_missing_callback_endpoint``.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue import (
    StateTaskServiceGlue,
)

from sluice.local.moto_fixes._patch import Patch, rewritten

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _epoch_millis(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return (value - _EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(value, dict):
        return {key: _epoch_millis(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_epoch_millis(item) for item in value]
    return value


def patches() -> list[Patch]:
    """Guard the missing callback endpoint; the job run's datetimes as epoch milliseconds."""
    guarded = rewritten(
        StateTaskServiceCallback._eval_integration_pattern,
        "callback_endpoint.interrupt_all()",
        "if callback_endpoint is not None: callback_endpoint.interrupt_all()",
    )
    build_resolver = StateTaskServiceGlue._sync_to_start_job_run

    @functools.wraps(build_resolver)
    def _sync_to_start_job_run(self: Any, *args: Any) -> Callable[[], Any] | None:
        resolve = build_resolver(self, *args)
        return None if resolve is None else lambda: _epoch_millis(resolve())

    return [
        Patch(StateTaskServiceCallback, "_eval_integration_pattern", guarded),
        Patch(StateTaskServiceGlue, "_sync_to_start_job_run", _sync_to_start_job_run),
    ]
