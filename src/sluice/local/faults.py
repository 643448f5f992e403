"""Fault injection for local runs: a Task state's service call fails, and the ASL's own Retry and Catch decide.

`sluice run FILE --fail STATE=ERROR[:TIMES]` fails the first TIMES calls (default: every call) that the state
makes to its service. Faults sit at the service boundary, never in the interpreter's error handling:

| ERROR | state's service | what fails | the interpreter sees |
|---|---|---|---|
| `Lambda.<Code>` | Lambda | the Invoke API call (a service error, HTTP 429/5xx); the handler never runs | `Lambda.<Code>` |
| `<Name>` | Lambda | the function: the runtime's error payload, `errorType` `<Name>` (`RuntimeError`, `Sandbox.Timedout`) | `<Name>` |
| `Glue.<Code>` | Glue | the StartJobRun / StartCrawler / GetCrawler call (moto's Glue exception) | `Glue.<Code>` |
| `<Name>` or `States.TaskFailed` | glue:startJobRun.sync | the job run: it ends FAILED with `<Name>: ...` | `States.TaskFailed` |
| `SNS.<Name>Exception` | SNS | the Publish call | `SNS.<Name>Exception` |
| `States.Timeout` | any | the call is abandoned before the service acts, as when the task's timer fires | `States.Timeout` |

Which call belongs to which state is read from the state machine's definition: each Task state's `Resource`
and its `FunctionName`, `JobName`, `Name` or `TopicArn` parameter. States that invoke the same function are
told apart by the keys of their static `Payload`.

`States.Timeout` is raised as a `TimeoutError` at the boundary: the interpreter's task timeout raises the same
(moto's `EvalTimeoutError`), so it records `TaskTimedOut` and names the error `States.Timeout`, as Step Functions
does when a task's `TimeoutSeconds` elapses. Waiting out a real timeout is not an option: the ASL sets no
`TimeoutSeconds` on its tasks, and the default is 99,999,999 seconds.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from moto.awslambda.exceptions import LambdaClientError
from moto.glue import exceptions
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns import (
    StateTaskServiceSns,
)

from sluice.local.lambdas import InvokeFault
from sluice.local.stack import LocalFunction

if TYPE_CHECKING:
    from sluice.local.emulator import Emulator

SYNTAX = "STATE=ERROR[:TIMES]"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
# Error prefixes of the services' own errors, as Step Functions names them.
_PREFIX = {"lambda": "Lambda.", "glue": "Glue.", "sns": "SNS."}
# HTTP status of the Lambda service errors a Retry usually names (the rest: 500).
_LAMBDA_STATUS = {
    "TooManyRequestsException": 429,
    "ResourceNotFoundException": 404,
    "ResourceConflictException": 409,
}
_GLUE_STATUS = {"InternalServiceException": 500}
_SNS_STATUS = {"Throttled": 429, "InternalError": 500, "KMSThrottling": 400}


class FaultSpecError(ValueError):
    """A --fail value that is not STATE=ERROR[:TIMES], names no Task state, or an error the state cannot get."""


@dataclass(frozen=True)
class FaultSpec:
    state: str
    error: str
    times: int | None = None  # None: every call

    def __str__(self) -> str:
        return f"{self.state}={self.error}" + ("" if self.times is None else f":{self.times}")


def parse_fault(text: str) -> FaultSpec:
    """`Transform=Glue.ConcurrentRunsExceededException:2` -> FaultSpec("Transform", "Glue.Concurr...", 2)."""
    state, sep, rest = text.partition("=")
    state, rest = state.strip(), rest.strip()
    if not sep or not state or not rest:
        raise FaultSpecError(f"--fail {text!r}: expected {SYNTAX}, e.g. Transform=Glue.ThrottlingException:2")
    error, _, times_text = rest.partition(":")
    times: int | None = None
    if times_text:
        if not times_text.isdigit() or int(times_text) < 1:
            raise FaultSpecError(f"--fail {text!r}: TIMES must be a whole number of at least 1")
        times = int(times_text)
    if not _NAME.match(error):
        raise FaultSpecError(f"--fail {text!r}: {error!r} is not an error name (Name or Service.Name)")
    return FaultSpec(state, error, times)


@dataclass(frozen=True)
class Boundary:
    """Where a Task state meets its service: `service:action:target`, as the emulator's hooks name calls."""

    state: str
    service: str  # lambda, glue, sns, ... (the Resource's service)
    action: str  # invoke, startJobRun, startCrawler, getCrawler, publish, ...
    target: str | None  # function name, job name, crawler name or topic ARN; None when chosen at run time
    payload_keys: frozenset[str] | None = None  # a Lambda state's static Payload keys

    @property
    def call(self) -> str:
        return f"{self.service}:{self.action}:{self.target}"


def _resource(resource: str) -> tuple[str, str] | None:
    """(service, action) of a Task's Resource ARN; None for activities and unknown forms."""
    if ":lambda:" in resource and ":function:" in resource:
        return "lambda", "invoke"
    head = "arn:aws:states:::"
    if not resource.startswith(head) or ":" not in resource[len(head) :]:
        return None
    parts = resource[len(head) :].split(":")
    if parts[0] == "aws-sdk" and len(parts) == 3:
        service, action = parts[1], parts[2]
    elif len(parts) == 2:
        service, action = parts
    else:
        return None
    return service, action.split(".")[0]  # glue:startJobRun.sync -> startJobRun


def _function_name(value: str) -> str:
    """A FunctionName (name, ARN, partial ARN, qualified) -> the function's name."""
    if ":function:" in value:
        return value.split(":function:", 1)[1].split(":")[0]
    return value.split(":")[0]


def _iter_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state of a definition, nested Map and Parallel states included."""
    for name, state in states.items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _iter_states(processor.get("States", {}))
        for branch in state.get("Branches", []):
            yield from _iter_states(branch.get("States", {}))


def task_boundaries(definition: dict[str, Any]) -> dict[str, Boundary]:
    """Every Task state's boundary, by state name, read from the definition."""
    found: dict[str, Boundary] = {}
    for name, state in _iter_states(definition.get("States", {})):
        if state.get("Type") != "Task":
            continue
        resource = str(state.get("Resource", ""))
        parsed = _resource(resource)
        params = state.get("Parameters") or state.get("Arguments") or {}
        if parsed is None:
            found[name] = Boundary(name, "unknown", resource, None)
            continue
        service, action = parsed
        target: str | None = None
        keys: frozenset[str] | None = None
        if service == "lambda":
            fn = params.get("FunctionName") if ":function:" not in resource else resource
            target = _function_name(fn) if isinstance(fn, str) else None
            payload = params.get("Payload")
            if isinstance(payload, dict):
                keys = frozenset(k.removesuffix(".$") for k in payload)
        else:
            for key in ("JobName", "Name", "TopicArn", "TargetArn"):
                if isinstance(params.get(key), str):
                    target = params[key]
                    break
        found[name] = Boundary(name, service, action, target, keys)
    return found


# --- what a fault raises ---------------------------------------------------------------------------


def _message(spec: FaultSpec) -> str:
    return f"Injected fault: sluice run --fail {spec}"


def named_error(name: str, message: str) -> Exception:
    """An exception whose class name is `name`: what a handler raising that error looks like to the runtime."""
    cls = type(name, (RuntimeError,), {"__module__": "sluice.local.faults"})
    error: Exception = cls(message)
    return error


def timeout_error(spec: FaultSpec) -> TimeoutError:
    """The interpreter's own task-timeout exception (moto's EvalTimeoutError is a TimeoutError)."""

    return EvalTimeoutError(_message(spec))


def lambda_service_error(code: str, spec: FaultSpec) -> Exception:

    error = LambdaClientError(code, _message(spec))
    error.code = _LAMBDA_STATUS.get(code, 500)
    return error


def glue_service_error(code: str, spec: FaultSpec) -> Exception:
    """moto's Glue exception of that code when it has one, else its generic Glue error with the code."""

    found = getattr(exceptions, code, None)
    error: Exception | None = None
    if isinstance(found, type) and issubclass(found, exceptions.GlueClientError):
        make: Any = found
        try:
            error = make(_message(spec))  # e.g. CrawlerRunningException(msg)
        except TypeError:  # a constructor that builds its own message from other arguments
            error = None
    if error is None or getattr(error, "error_type", code) != code:
        error = exceptions.GlueClientError(code, _message(spec))
    error.code = _GLUE_STATUS.get(code, 400)  # type: ignore[attr-defined]
    return error


def sns_service_error(name: str, spec: FaultSpec) -> Exception:
    """The ClientError botocore raises for an SNS error code; moto names it SNS.<Code>Exception."""

    code = name.removesuffix("Exception")
    return ClientError(
        {
            "Error": {"Code": code, "Message": _message(spec), "Type": "Sender"},
            "ResponseMetadata": {
                "HTTPStatusCode": _SNS_STATUS.get(code, 400),
                "RequestId": str(uuid.uuid4()),
            },
        },
        "Publish",
    )


# --- the injector ----------------------------------------------------------------------------------


@dataclass
class Fault:
    spec: FaultSpec
    boundary: Boundary
    kind: str  # service, function, job_run, timeout
    fired: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.spec.state,
            "error": self.spec.error,
            "times": self.spec.times,
            "fired": self.fired,
        }


def fault_kind(spec: FaultSpec, boundary: Boundary) -> str:
    """How the fault surfaces at this boundary, or FaultSpecError when the state cannot get that error."""
    error, service = spec.error, boundary.service
    if boundary.target is None:
        raise FaultSpecError(
            f"--fail {spec}: {boundary.state} chooses its {service} target at run time; cannot inject there"
        )
    if error == "States.Timeout":
        return "timeout"
    prefix = _PREFIX.get(service)
    if prefix is None:
        raise FaultSpecError(
            f"--fail {spec}: {boundary.state} calls {service}:{boundary.action}, which has no fault hook "
            f"(hooks: Lambda, Glue and SNS tasks)"
        )
    if error.startswith(prefix):
        if service == "glue" and boundary.action not in ("startJobRun", "startCrawler", "getCrawler"):
            raise FaultSpecError(f"--fail {spec}: no hook for glue:{boundary.action}")
        if service == "sns" and boundary.action != "publish":
            raise FaultSpecError(f"--fail {spec}: no hook for sns:{boundary.action}")
        return "service"
    if service == "lambda" and not error.startswith("States."):
        return "function"  # the runtime's errorType: a class name, or e.g. Sandbox.Timedout
    if (
        service == "glue"
        and boundary.action == "startJobRun"
        and ("." not in error or error == "States.TaskFailed")
    ):
        return "job_run"
    accepted = {
        "lambda": "Lambda.<Code> (service error), <ErrorName> (function error) or States.Timeout",
        "glue": "Glue.<Code> or States.Timeout"
        + (
            ", or <ErrorName> / States.TaskFailed (the job run fails)"
            if boundary.action == "startJobRun"
            else ""
        ),
        "sns": "SNS.<Name>Exception or States.Timeout",
    }[service]
    raise FaultSpecError(f"--fail {spec}: {boundary.state} calls {boundary.call}; it accepts {accepted}")


@dataclass
class FaultInjector:
    """Makes the given states' service calls fail in one emulator session (use it as a context manager).

    Each fault fails its state's next TIMES calls, counted over the session (executions in input order).
    """

    emu: Emulator
    specs: list[FaultSpec]
    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        sfn = self.emu.client("stepfunctions")
        definition = json.loads(
            sfn.describe_state_machine(stateMachineArn=self.emu.stack.state_machine_arn)["definition"]
        )
        self.boundaries = task_boundaries(definition)
        for spec in self.specs:
            boundary = self.boundaries.get(spec.state)
            if boundary is None:
                names = ", ".join(sorted(self.boundaries))
                raise FaultSpecError(
                    f"--fail {spec}: no Task state {spec.state!r} in the state machine (Task states: {names})"
                )
            self.faults.append(Fault(spec, boundary, fault_kind(spec, boundary)))

    # -- installing
    def __enter__(self) -> FaultInjector:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.lift()

    def install(self) -> None:
        self.emu.lambdas.fault_hook = self._on_invoke
        self.emu.glue.fault_hook = self._on_glue_call
        self.emu.glue.run_fault_hook = self._on_job_run
        _install_sns_hook()
        _active[:] = [self]

    def lift(self) -> None:
        """Removes the faults: the cause is fixed (what an operator does before a redrive)."""
        if self.emu.lambdas.fault_hook == self._on_invoke:
            self.emu.lambdas.fault_hook = None
        if self.emu.glue.fault_hook == self._on_glue_call:
            self.emu.glue.fault_hook = None
        if self.emu.glue.run_fault_hook == self._on_job_run:
            self.emu.glue.run_fault_hook = None
        if _active and _active[0] is self:
            _active.clear()

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        """No faults inside the block (a redrive after the cause was fixed); they are back after it."""
        self.lift()
        try:
            yield
        finally:
            self.install()

    def summary(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.faults]

    # -- firing
    def _take(self, candidates: list[Fault]) -> Fault | None:
        """The first armed fault among candidates, counted as fired."""
        with self._lock:
            for fault in candidates:
                if fault.spec.times is None or fault.fired < fault.spec.times:
                    fault.fired += 1
                    return fault
        return None

    def _states_invoking(self, fn: LocalFunction, event: Any) -> set[str]:
        """The Lambda states this invocation can come from (states sharing a function: by their Payload keys)."""
        mine = [b for b in self.boundaries.values() if b.service == "lambda" and b.target == fn.name]
        keys = set(event) if isinstance(event, dict) else set()
        exact = [b for b in mine if b.payload_keys is not None and b.payload_keys <= keys]
        if exact:
            return {b.state for b in exact}
        dynamic = [b for b in mine if b.payload_keys is None]
        return {b.state for b in (dynamic or mine)}

    def _on_invoke(self, fn: LocalFunction, event: Any) -> None:
        states = self._states_invoking(fn, event)
        fault = self._take([f for f in self.faults if f.spec.state in states and f.kind != "job_run"])
        if fault is None:
            return
        if fault.kind == "timeout":
            raise InvokeFault(timeout_error(fault.spec))
        if fault.kind == "service":
            raise InvokeFault(lambda_service_error(fault.spec.error.removeprefix("Lambda."), fault.spec))
        raise named_error(fault.spec.error, _message(fault.spec))  # the function fails: an error payload

    def _on_glue_call(self, call: str) -> None:
        fault = self._take(
            [f for f in self.faults if f.boundary.call == call and f.kind in ("service", "timeout")]
        )
        if fault is None:
            return
        if fault.kind == "timeout":
            raise timeout_error(fault.spec)
        raise glue_service_error(fault.spec.error.removeprefix("Glue."), fault.spec)

    def _on_job_run(self, job_name: str, run_id: str) -> None:
        call = f"glue:startJobRun:{job_name}"
        fault = self._take([f for f in self.faults if f.boundary.call == call and f.kind == "job_run"])
        if fault is not None:
            name = "JobRunFailed" if fault.spec.error == "States.TaskFailed" else fault.spec.error
            raise named_error(name, f"{_message(fault.spec)} (job run {run_id})")

    def on_sns(self, state: str, action: str, target: str | None) -> None:
        call = f"sns:{action}:{target}"
        fault = self._take(
            [
                f
                for f in self.faults
                if f.spec.state == state and f.boundary.call == call and f.kind != "function"
            ]
        )
        if fault is None:
            return
        if fault.kind == "timeout":
            raise timeout_error(fault.spec)
        raise sns_service_error(fault.spec.error.removeprefix("SNS."), fault.spec)


@contextlib.contextmanager
def injected(emu: Emulator, specs: list[FaultSpec]) -> Iterator[FaultInjector | None]:
    """The faults installed in `emu` for the block (None and nothing installed without specs)."""
    if not specs:
        yield None
        return
    with FaultInjector(emu, specs) as injector:
        yield injector


# --- the SNS boundary --------------------------------------------------------------------------------------
# moto's SNS backend also serves the failure handler's own Publish, so the hook sits on the state's call:
# StateTaskServiceSns._eval_service_task is where the interpreter calls sns:Publish for a Task state.

_active: list[FaultInjector] = []
_sns_patched: list[bool] = []


def _install_sns_hook() -> None:
    if _sns_patched:
        return

    original = StateTaskServiceSns._eval_service_task

    def _eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> Any:
        if _active:
            target = normalised_parameters.get("TopicArn") or normalised_parameters.get("TargetArn")
            _active[0].on_sns(self.name, self._get_boto_service_action(), target)
        return original(self, env, resource_runtime_part, normalised_parameters, state_credentials)

    StateTaskServiceSns._eval_service_task = _eval_service_task  # type: ignore[method-assign]
    _sns_patched.append(True)
