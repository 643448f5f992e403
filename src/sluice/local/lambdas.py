"""Runs the template's Lambda handlers in-process, behind moto's Lambda Invoke API."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from moto.awslambda_simple.models import LambdaSimpleBackend

from sluice.local import environ, sessions
from sluice.local.stack import LocalFunction, Stack

# Set for every local invocation: no X-Ray daemon and no metrics backend here, and contracts come
# from the repository instead of the deployed layer.
_LOCAL_ENV = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and Powertools read."""

    def __init__(self, fn: LocalFunction) -> None:
        self.function_name = fn.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = fn.arn
        self.memory_limit_in_mb = fn.memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{fn.name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + fn.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class Invocation:
    function: str
    seconds: float
    error_type: str | None


FaultHook = Callable[[LocalFunction, dict[str, Any]], None]


class InvokeFault(Exception):
    """Raised by a fault hook to fail the Invoke API call itself instead of the function: the caller of Invoke
    gets `error` (a Lambda service error, a timeout), and the handler never runs (sluice.local.faults)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class LambdaRuntime:
    """Imports each function's handler from its CodeUri folder once and calls it with the template's env.

    Each call sees its function's environment through `environ.overlay`, never by changing the process's
    (other threads keep reading it meanwhile). Invocations are serialised, as the handlers' modules and
    the shared library's module-scope state are shared by every function here. Their log lines go to the
    process's stdout, which the emulator points at a log file.
    """

    def __init__(
        self,
        stack: Stack,
        contracts_dir: Path,
        role_env: Callable[[LocalFunction], dict[str, str]] | None = None,
    ) -> None:
        self.stack = stack
        # The credentials of the function's role session (sluice.local.iam), as the Lambda runtime sets them;
        # None: every function calls as the emulator's own identity.
        self.role_env = role_env
        self.contracts_dir = contracts_dir
        self.modules: dict[str, ModuleType] = {}
        self.lock = threading.RLock()
        self.invocations: list[Invocation] = []
        self.fault_hook: FaultHook | None = None

    def function(self, name_or_arn: str) -> LocalFunction:
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        fn = self.stack.functions.get(name)
        if fn is None:
            raise KeyError(f"no function {name_or_arn!r} in the local stack")
        return fn

    def _environment(self, fn: LocalFunction) -> contextlib.AbstractContextManager[None]:
        """The function's environment as the template sets it, over the process's, for this call only."""
        env = {**fn.environment, **_LOCAL_ENV, "CONTRACTS_DIR": str(self.contracts_dir)}
        env["AWS_LAMBDA_FUNCTION_NAME"] = fn.name
        if self.role_env is not None:
            env.update(self.role_env(fn))
        _session_per_credentials()
        return environ.overlay(env)

    def _handler(self, fn: LocalFunction) -> Callable[[Any, Any], Any]:
        module_name, func_name = fn.handler.rsplit(".", 1)
        if fn.name not in self.modules:
            path = fn.code_dir / f"{module_name.replace('.', '/')}.py"
            spec = importlib.util.spec_from_file_location(f"sluice_fn_{fn.logical_id}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load handler {fn.handler} from {fn.code_dir}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            self.modules[fn.name] = module
        handler: Callable[[Any, Any], Any] = getattr(self.modules[fn.name], func_name)
        return handler

    def invoke(self, name_or_arn: str, event: Any) -> tuple[Any, str | None]:
        """Returns (result, None) or (the Lambda runtime's error payload, error type)."""
        fn = self.function(name_or_arn)
        started = time.perf_counter()
        error_type: str | None = None
        with self.lock, self._environment(fn), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            # A rejected file raises before any metric is added, and Powertools then warns that there is nothing
            # to publish: expected, not news (Powertools' docs suggest this filter).
            warnings.filterwarnings(
                "ignore", message="No application metrics to publish", category=UserWarning
            )
            try:
                if self.fault_hook is not None:
                    self.fault_hook(fn, event)
                handler = self._handler(fn)
                result = handler(event, LambdaContext(fn))
            except InvokeFault:
                raise
            except Exception as exc:  # the runtime turns any exception into an error payload
                error_type = type(exc).__name__
                result = {
                    "errorType": error_type,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                }
            for warning in caught:  # into the function's log, as the Lambda runtime would, not onto stderr
                print(f"{warning.category.__name__}: {warning.message} ({fn.name})", flush=True)
        self.invocations.append(Invocation(fn.name, time.perf_counter() - started, error_type))
        return result, error_type


_sessions: dict[tuple[str | None, str | None], boto3.Session] = {}
_sessions_lock = threading.Lock()


def _session_per_credentials() -> None:
    """`boto3.client()` uses one default session, and botocore caches the first credentials it resolves for
    a session: every function would call as whichever made the first client. On Lambda each function's process
    resolves its own role's credentials; here `boto3.client()` gets a default session per credentials in the
    (overlaid) environment, so a function's clients carry its role session (installed once)."""
    if getattr(boto3, "_sluice_session_per_credentials", False):
        return

    def default_session() -> boto3.Session:
        key = (os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SESSION_TOKEN"))
        with _sessions_lock:
            if key not in _sessions:
                _sessions[key] = sessions.session()
            return _sessions[key]

    boto3._get_default_session = default_session
    boto3._sluice_session_per_credentials = True


_active: list[LambdaRuntime] = []
_patched: list[bool] = []


def uninstall() -> None:
    _active.clear()
    with _sessions_lock:
        _sessions.clear()


def install(runtime: LambdaRuntime) -> None:
    """Routes moto's (docker-less) Lambda Invoke to the in-process runtime (hook installed once)."""
    _active[:] = [runtime]
    if _patched:
        return
    _patched.append(True)
    original_invoke = LambdaSimpleBackend.invoke

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        if not _active:
            echoed = original_invoke(self, function_name, qualifier, body, headers, response_headers)
            return echoed.encode() if isinstance(echoed, str) else bytes(echoed or b"")
        event = json.loads(body) if body else {}
        try:
            result, error_type = _active[0].invoke(function_name, event)
        except InvokeFault as fault:
            raise fault.error from None
        if error_type is not None:
            response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(result, default=str).encode()

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
