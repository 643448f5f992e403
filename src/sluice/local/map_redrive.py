"""A redriven Distributed Map runs again only the items whose child run did not succeed, as Step Functions does.

On AWS, redriving an execution that failed in a Distributed Map redrives that state's Map Run: the child
workflow executions that succeeded are not started again and keep their results; the failed, timed-out and
aborted ones (and the items never started) run. moto's Map Run keeps no per-item outcome, so this module keeps
one. Each Map Run's record (moto's `MapRunRecord`, held by the execution's environment, so it lives as long as
the execution's history) is tagged with its state's name and collects the output of every item whose child run
ended successfully, by the item's index. `redrive.py` hands the redriven worker the failed Map's outcomes
(`carry_over`); the Map Run that state starts next (the one the redrive resumes with) counts those items as
succeeded with their earlier outputs instead of running them, and runs the others. A Retry of the Map within
the redriven run starts a fresh Map Run, as on AWS.

Items are matched by their index in the Map's item list, which the redriven Map reads again (in sluice's
pipeline the plan an earlier state wrote to S3 for the Map's ItemReader, unchanged since). A child that did not succeed
runs again from its first state (AWS resumes a Standard child at its failed state; sluice's children are one
Task each, so the two agree). Only a Distributed Map (`ItemProcessor` with `Mode: DISTRIBUTED`) is covered.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor import (
    DistributedItemProcessor,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (
    DistributedItemProcessorWorker,
)
from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded

_lock = threading.Lock()
_installed: list[bool] = []


@dataclass
class Outcomes:
    """What one Map Run of a state left: the output of each item that succeeded, by item index."""

    state: str
    succeeded: dict[int, Any]


def install() -> None:
    """Tag Map Runs with their state and successes; reuse a carried-over run's successes (idempotent)."""
    with _lock:
        if _installed:
            return
        create_worker = DistributedItemProcessor._create_worker
        eval_job = DistributedItemProcessorWorker._eval_job

        @functools.wraps(create_worker)
        def _create_worker(self: Any, env: Any, eval_input: Any, job_pool: Any) -> Any:
            _tag(env, eval_input.map_run_record, eval_input.state_name)
            return create_worker(self, env, eval_input, job_pool)

        @functools.wraps(eval_job)
        def _eval_job(self: Any, env: Any, job: Any) -> None:
            record = self._map_run_record
            outcomes: Outcomes | None = getattr(record, "sluice_outcomes", None)
            reused: dict[int, Any] = getattr(record, "sluice_reused", {})
            if job.job_index in reused:
                _count_reused(record)
                job.job_output = reused[job.job_index]
            else:
                eval_job(self, env, job)
                if not isinstance(env.program_state(), ProgramEnded):
                    return
            if outcomes is not None:
                outcomes.succeeded[job.job_index] = job.job_output

        DistributedItemProcessor._create_worker = _create_worker  # type: ignore[method-assign]
        DistributedItemProcessorWorker._eval_job = _eval_job  # type: ignore[method-assign]
        _installed.append(True)


def _tag(env: Any, record: Any, state: str) -> None:
    """Once per Map Run (every worker of it passes here): its state, and the successes a redrive carried over."""
    with _lock:
        if hasattr(record, "sluice_outcomes"):
            return
        record.sluice_outcomes = Outcomes(state, {})
        pool = env.map_run_record_pool_manager
        carried: Outcomes | None = getattr(pool, "sluice_carried_over", None)
        if carried is not None and carried.state == state:
            record.sluice_reused = dict(carried.succeeded)
            pool.sluice_carried_over = None  # a later Map Run of the state (a Retry) runs every item


def _count_reused(record: Any) -> None:
    """A reused item counts as a succeeded item of the Map Run, as on AWS, without running."""
    for counter in (record.item_counter, record.execution_counter):
        counter.total.count()
        counter.succeeded.count()
        counter.results_written.count()


def outcomes(env: Any, state: str) -> Outcomes | None:
    """The newest Map Run of `state` in an execution's environment: which items succeeded, with their outputs."""
    for record in reversed(env.map_run_record_pool_manager.get_all()):
        found: Outcomes | None = getattr(record, "sluice_outcomes", None)
        if found is not None and found.state == state:
            return found
    return None


def carry_over(env: Any, previous: Outcomes) -> None:
    """The next Map Run of `previous.state` in `env` (a redriven execution's) reuses its successes."""
    env.map_run_record_pool_manager.sluice_carried_over = Outcomes(previous.state, dict(previous.succeeded))
