"""Retry intervals, Wait states and the ``.sync`` polling delay sleep their full ASL time; scaled here.

moto: like AWS, an execution really waits: 30 s for a crawler, minutes of Retry backoff, 0.5 s between
two polls of a ``.sync`` task. That is right on AWS and unusable in tests and local runs, which keep the
ASL's production intervals. Not a defect of moto but an adjustment for running offline.
Fix: the ``time`` module seen by ``retrier_decl`` and ``state_task_service_callback`` sleeps ``factor``
times as long (the global ``time.sleep`` is untouched), and the Wait state waits ``factor`` times its
seconds, still ending early when the execution stops. ``set_time_scale`` sets the factor.

Regression tests:
``tests/statemachine/test_moto_fixes/test_scaled_sleeps.py::test_time_scale_shrinks_wait_states_and_retry_intervals``,
``tests/statemachine/test_moto_fixes/test_scaled_sleeps.py::test_time_scale_without_fix_waits_the_full_seconds``,
``tests/statemachine/test_moto_fixes/test_scaled_sleeps.py::test_set_time_scale_rejects_a_non_positive_factor``.
"""

from __future__ import annotations

import time
from typing import Any

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

from sluice.local.moto_fixes._patch import Patch

_time_scale = 1.0
_SYNC_POLL_FLOOR = 0.05  # seconds between two polls of a .sync task, at any time scale


class _ScaledTime:
    """Stands in for the ``time`` module inside one moto module: ``sleep`` is scaled, the rest is real.

    ``floor``: a scaled sleep lasts at least that long (never longer than unscaled), for polling loops.
    """

    def __init__(self, floor: float = 0.0) -> None:
        self.floor = floor

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds * _time_scale, min(seconds, self.floor)))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def set_time_scale(factor: float) -> None:
    """Scale the real sleeps of Retry intervals, Wait states and ``.sync`` polling (1.0 = as written).

    Takes effect for executions run while the ``scaled_sleeps`` fix is applied (``apply()``).
    """
    global _time_scale
    if not factor > 0:
        raise ValueError(f"time scale must be positive, got {factor!r}")
    _time_scale = float(factor)


def time_scale() -> float:
    """The current factor (see ``set_time_scale``)."""
    return _time_scale


def _wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
    deadline = time.monotonic() + max(wait_seconds, 0) * _time_scale
    while env.is_running():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        env.program_state_event.wait(remaining)


def patches() -> list[Patch]:
    """Scaled sleeps for Retry and ``.sync`` polling, a scaled Wait."""
    return [
        Patch(retrier_decl, "time", _ScaledTime()),
        # The .sync poll (0.5 s in moto) scaled to 0.5 ms would spin: 20 executions waiting on their Glue job
        # runs then take the CPU from the Spark job they wait for (a 20-file burst: 224 s, 51 s with the floor).
        Patch(state_task_service_callback, "time", _ScaledTime(floor=_SYNC_POLL_FLOOR)),
        Patch(WaitFunction, "_wait_interval", _wait_interval),
    ]
