"""Local Redrive: a failed execution resumes at the state that failed, with that state's recorded input.

moto 5.2.5 has no RedriveExecution. Step Functions' redrive keeps the execution: the same ARN and name, the
same `$$.Execution` (plus `RedriveCount` and `RedriveTime`), one history that goes on after an
`ExecutionRedriven` event, and a status-change event with `redriveCount` when it ends again. So does this one:
the execution's moto record gets a new interpreter worker whose program is the same definition started at the
failed state (same States, same Retry and Catch), whose first input is the input that state entered with (its
`StateEntered` event), and whose event ids continue the history. The states that had succeeded do not run
again, and every step sees the original execution's identity, so the runs ledger (owned by that execution ARN)
and the run's outputs stay one run.

A Distributed Map that failed resumes as AWS redrives its Map Run: only the items whose child run did not
succeed run again, the others keep their earlier outputs (sluice.local.map_redrive).

Differences from AWS: a child that did not succeed runs again from its first state (AWS resumes a Standard child
at its failed state), an inline Map or a Parallel state that failed runs again as a whole (AWS redrives only their
failed iterations and branches), and DescribeExecution does not report `redriveCount` (the status-change event
and the history do).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any, cast

from moto.stepfunctions.parser.api import ExecutionRedrivenEventDetails, ExecutionStatus, HistoryEventType
from moto.stepfunctions.parser.asl.eval.evaluation_details import EvaluationDetails, StateMachineDetails
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.responses import get_backend

from sluice.local import map_redrive
from sluice.local.stack import ACCOUNT, REGION

REDRIVABLE = ("FAILED", "TIMED_OUT", "ABORTED")


class NotRedrivableError(Exception):
    """The execution cannot be redriven: it did not fail, or its history names no state that failed."""


@dataclass(frozen=True)
class FailedState:
    name: str
    type: str  # the state's Type in the definition (Task, Fail, Map, ...)
    input: Any  # the input the state entered with


@dataclass(frozen=True)
class Redrive:
    execution_arn: str
    redrive_count: int
    from_state: str
    state_input: Any
    redrive_date: datetime.datetime


def failed_state(events: list[dict[str, Any]], states: dict[str, Any]) -> FailedState | None:
    """The top-level state that was running when the execution stopped: the newest entered, never exited."""
    exited: set[str] = set()
    for event in sorted(events, key=lambda e: int(e["id"]), reverse=True):
        kind = event["type"]
        if kind.endswith("StateExited"):
            exited.add(event["stateExitedEventDetails"]["name"])
        elif kind.endswith("StateEntered"):
            details = event["stateEnteredEventDetails"]
            name = details["name"]
            if name in states and name not in exited:
                text = details.get("input")
                return FailedState(name, str(states[name].get("Type")), json.loads(text) if text else {})
    return None


def _execution(execution_arn: str) -> Any:
    return get_backend(ACCOUNT, REGION).describe_execution(execution_arn)


def _status(execution: Any) -> str:
    status = execution.exec_status
    return str(status.value if hasattr(status, "value") else status)


def plan(execution_arn: str) -> FailedState:
    """Where a redrive of the execution would resume; NotRedrivableError when it cannot be redriven."""
    execution = _execution(execution_arn)
    status = _status(execution)
    if status not in REDRIVABLE:
        raise NotRedrivableError(
            f"{execution_arn} is {status}; only {', '.join(REDRIVABLE)} executions redrive"
        )
    worker = execution.exec_worker
    if worker is None or worker.env is None:
        raise NotRedrivableError(f"{execution_arn} never started")
    definition = json.loads(execution.state_machine.definition)
    found = failed_state(worker.env.event_manager.get_event_history(), definition["States"])
    if found is None:
        raise NotRedrivableError(f"{execution_arn}: its history names no state that failed")
    return found


def redrive(execution_arn: str) -> Redrive:
    """Redrives a FAILED, TIMED_OUT or ABORTED execution of the emulator (inside an Emulator session)."""
    resume = plan(execution_arn)
    execution = _execution(execution_arn)
    previous_env = execution.exec_worker.env
    previous = previous_env.event_manager.get_event_history()
    definition = json.loads(execution.state_machine.definition)
    count = int(getattr(execution, "redrive_count", 0)) + 1
    now = datetime.datetime.now(tz=datetime.UTC)
    worker = _redrive_worker(
        execution,
        definition={**definition, "StartAt": resume.name},
        state_input=resume.input,
        previous_events=previous,
        map_outcomes=map_redrive.outcomes(previous_env, resume.name) if resume.type == "Map" else None,
        redrive_count=count,
        redrive_date=now,
    )
    execution.redrive_count = count
    execution.redrive_date = now
    execution.stop_date = None
    execution.error = None
    execution.cause = None
    execution.output = None
    execution.exec_status = ExecutionStatus.RUNNING
    execution.exec_worker = worker
    worker.start()
    return Redrive(execution_arn, count, resume.name, resume.input, now)


def _redrive_worker(
    execution: Any,
    *,
    definition: dict[str, Any],
    state_input: Any,
    previous_events: list[dict[str, Any]],
    map_outcomes: map_redrive.Outcomes | None,
    redrive_count: int,
    redrive_date: datetime.datetime,
) -> Any:
    """moto's ExecutionWorker for the execution, started at the failed state with its input and history (and,
    for a Distributed Map, its earlier Map Run's successes)."""

    class RedriveWorker(ExecutionWorker):
        def _get_evaluation_environment(self) -> Any:
            env = super()._get_evaluation_environment()
            context = cast(dict[str, Any], env.states.context_object.context_object_data["Execution"])
            context["RedriveCount"] = redrive_count
            context["RedriveTime"] = redrive_date.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            # One history: the events so far, then this run's, numbered on.
            env.event_manager._history_event_list.extend(cast(Any, previous_events))
            env.event_manager._event_id_gen._next_id = (
                max((int(e["id"]) for e in previous_events), default=0) + 1
            )
            if map_outcomes is not None:  # a Distributed Map resumes with its items that did not succeed
                map_redrive.carry_over(env, map_outcomes)
            return env

        def _execution_logic(self) -> None:
            program = self._get_evaluation_entrypoint()
            self.env = self._get_evaluation_environment()
            self.env.states.reset(input_value=state_input)
            self.env.event_manager.add_event(
                context=self.env.event_history_context,
                event_type=HistoryEventType.ExecutionRedriven,
                # moto's EventDetails TypedDict has no executionRedrivenEventDetails key; the history does.
                event_details=cast(
                    Any,
                    {
                        "executionRedrivenEventDetails": ExecutionRedrivenEventDetails(
                            redriveCount=redrive_count
                        )
                    },
                ),
                update_source_event_id=False,
            )
            program.eval(self.env)
            self._execution_communication.terminated()

    machine = execution.state_machine
    return RedriveWorker(
        evaluation_details=EvaluationDetails(
            aws_execution_details=execution._get_start_aws_execution_details(),
            execution_details=execution.get_start_execution_details(),
            state_machine_details=StateMachineDetails(
                arn=machine.arn, name=machine.name, typ=machine.sm_type, definition=json.dumps(definition)
            ),
        ),
        exec_comm=execution._get_start_execution_worker_comm(),
        cloud_watch_logging_session=execution._cloud_watch_logging_session,
        activity_store=execution._activity_store,
    )
