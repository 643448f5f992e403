"""Runner.follow between two reads of the execution history: it checks the execution's status alone every
STATUS_POLL_S and stops waiting as soon as the execution has ended, instead of sleeping out its pause."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.local import runner as runner_module
from sluice.local.runner import STATUS_POLL_S, Runner


class Clock:
    """The runner module's `time`: perf_counter and sleep, where sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Sfn:
    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.calls = 0

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        self.calls += 1
        return {"status": self.statuses[min(self.calls, len(self.statuses)) - 1]}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    # The runner module's name `time` only: the process's time module stays real for every other thread.
    monkeypatch.setattr(runner_module, "time", fake)
    return fake


def _runner(sfn: Sfn) -> Runner:
    runner = object.__new__(Runner)
    runner.sfn = sfn  # type: ignore[assignment]
    return runner


def test_wait_ends_at_the_first_status_check_that_sees_the_end(clock: Clock) -> None:
    sfn = Sfn(["RUNNING", "RUNNING", "SUCCEEDED"])

    _runner(sfn)._wait_while_running("arn:x", 1.0)

    assert sfn.calls == 3
    assert clock.now == pytest.approx(3 * STATUS_POLL_S)


def test_wait_of_a_running_execution_lasts_its_pause(clock: Clock) -> None:
    sfn = Sfn(["RUNNING"])

    _runner(sfn)._wait_while_running("arn:x", 0.55)

    assert clock.now == pytest.approx(0.55)
    assert sfn.calls == 5  # after each full slice but the last: the caller reads the status next anyway


def test_short_pause_is_one_sleep_without_a_status_check(clock: Clock) -> None:
    sfn = Sfn(["RUNNING"])

    _runner(sfn)._wait_while_running("arn:x", 0.05)

    assert clock.slept == [0.05]
    assert sfn.calls == 0
