"""Corrections of moto 5.2.5's Step Functions interpreter (LocalStack's port), as revertible monkeypatches.

moto is pinned to 5.2.5 exactly because these patches touch its internals. Each fix is one small
``_fix_*`` function below that says what is wrong, why, and what it changes; ``FIXES`` names them:

1. ``glue_sync``: every ``glue:startJobRun.sync`` fails with ``'NoneType' object has no attribute
   'interrupt_all'`` (``StateTaskServiceCallback._eval_integration_pattern``); its output also carries
   datetimes (``StateTaskServiceGlue._sync_to_start_job_run``), now epoch milliseconds as AWS returns them.
2. ``execution_name``: a second ``start_execution`` without a name collides with the first
   (``StepFunctionsParserBackend.start_execution``); the name now defaults to a uuid4.
3. ``states_error_names``: a ``States.*`` error from a Parallel branch, a Map iteration or a Fail state
   becomes ``States.Runtime`` (``CustomErrorName`` in ``branches_decl``, ``iteration_worker`` and
   ``state_fail``); it now keeps its name and reaches the Catch.
4. ``aws_sdk_normalisation``: ``aws-sdk:*`` parameters and responses are not normalised
   (``StateTaskService._normalise_parameters``/``_normalise_response`` are stubs); now they are mapped to
   and from botocore's shapes for ``StateTaskServiceAwsSdk``.
5. ``aws_sdk_error_names``: ``aws-sdk`` errors are named ``glue.X`` instead of ``Glue.X``
   (``StateTaskServiceAwsSdk._normalise_service_error_name``).
6. ``definite_json_path``: ``$.a[0].b`` returns a list instead of a scalar (``json_path.extract_json``
   and the modules that import it).
7. ``distributed_map_tolerance``: Distributed Map item failures are swallowed
   (``DistributedIterationComponent._map_run``); now ``States.ExceedToleratedFailureThreshold`` is raised
   past ``ToleratedFailureCount``/``ToleratedFailurePercentage`` (``StateMap.from_state_props`` records which
   of the two the definition sets).
8. ``integer_tolerated_failure_percentage``: the grammar rejects ``"ToleratedFailurePercentage": 10``
   (``AmazonStateLanguageParser.parse``).
9. ``history_reverse_order``: ``get_execution_history`` ignores ``reverseOrder``
   (``StepFunctionResponse.get_execution_history``).
10. ``copy_object_checksum``: S3 ``CopyObject`` of a multipart upload gives the copy the source's composite
    checksum as if it were a full-object one, so every GetObject of the copy fails botocore's checksum
    validation (``S3Backend.copy_object``); the copy now keeps the checksum's type and part count.

Plus ``time_scale`` (Retry intervals, Wait states and the ``.sync`` polling delay sleep ``factor`` times
their ASL value, see ``set_time_scale``) and ``jsonata`` (QueryLanguage JSONata states are evaluated with
the pure-Python ``jsonata-python``; moto 5.2.5 ships a stub where LocalStack starts a JVM).

``apply()`` installs all of them (idempotent), ``revert()`` removes them, and ``with reverted("name"):``
removes one for the duration of a block, which is how the tests show each defect without its fix.
"""

from __future__ import annotations
import __future__

import ast
import base64
import contextlib
import datetime
import functools
import inspect
import json
import re
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.exceptions import UnknownServiceError
from botocore.model import ListShape, MapShape, OperationModel, Shape, StringShape, StructureShape
from botocore.response import StreamingBody

__all__ = [
    "FIXES",
    "applied",
    "apply",
    "revert",
    "reverted",
    "set_time_scale",
    "sfn_service_error_prefix",
    "time_scale",
]

_MISSING = object()


@dataclass(frozen=True)
class _Patch:
    """Set ``target.name`` to ``value`` (``target`` is a class or a module)."""

    target: Any
    name: str
    value: Any


_lock = threading.RLock()
# fix name -> the (patch, original attribute or _MISSING) pairs it installed, in order.
_installed: dict[str, list[tuple[_Patch, Any]]] = {}
_time_scale = 1.0


def _rewritten(function: Callable[..., Any], old: str, new: str) -> Callable[..., Any]:
    """Recompile ``function`` from its source with one exact fragment replaced.

    Used where the defect is a statement on a local variable deep inside a long method, which a wrapper
    cannot reach; copying the whole method would hide the one-line change. Fails loudly if moto's source
    is not the one this was written against. Line numbers stay those of moto's file.
    """
    source = textwrap.dedent(inspect.getsource(function))
    if source.count(old) != 1:
        raise RuntimeError(f"moto_fixes: {function.__qualname__} does not contain {old!r} exactly once")
    tree = ast.parse(source.replace(old, new))
    ast.increment_lineno(tree, function.__code__.co_firstlineno - 1)
    flags = function.__code__.co_flags & __future__.annotations.compiler_flag
    code = compile(tree, inspect.getsourcefile(function) or "<moto>", "exec", flags=flags, dont_inherit=True)
    namespace: dict[str, Any] = {}
    exec(code, function.__globals__, namespace)
    replacement: Callable[..., Any] = namespace[function.__name__]
    replacement.__qualname__ = function.__qualname__
    return replacement


@functools.cache
def _botocore_session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def _operation_model(boto_service: str, action: str) -> OperationModel | None:
    """botocore's model of ``action`` (``getCrawler``, ``get_crawler`` or ``GetCrawler``), if it knows it."""
    try:
        service = _botocore_session().get_service_model(boto_service)
    except UnknownServiceError:
        return None
    wanted = action.replace("_", "").lower()
    for name in service.operation_names:
        if name.lower() == wanted:
            return service.operation_model(name)
    return None


# --- 1 -------------------------------------------------------------------------------------------


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


def _fix_glue_sync() -> list[_Patch]:
    """Every ``glue:startJobRun.sync`` fails with ``'NoneType' object has no attribute 'interrupt_all'``.

    Why: ``_eval_integration_pattern`` creates a callback endpoint only for services that support
    ``.waitForTaskToken``; Glue supports ``.sync`` only, so the endpoint stays ``None``, and the ``finally``
    block calls ``callback_endpoint.interrupt_all()`` unguarded, replacing the job run's outcome with an
    AttributeError. Fix: guard that one statement (source rewrite, see ``_rewritten``).
    Once that passes, the job run (GetJobRun's ``JobRun``) reaches the execution output with ``datetime``
    values, which ``describe_execution`` cannot serialise; AWS's optimised Glue integration returns them as
    epoch milliseconds (``"CompletedOn": 1616890026649``), so the sync resolver's result is converted.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue import (
        StateTaskServiceGlue,
    )

    guarded = _rewritten(
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
        _Patch(StateTaskServiceCallback, "_eval_integration_pattern", guarded),
        _Patch(StateTaskServiceGlue, "_sync_to_start_job_run", _sync_to_start_job_run),
    ]


# --- 2 -------------------------------------------------------------------------------------------


def _fix_execution_name() -> list[_Patch]:
    """A second ``start_execution`` without a ``name`` returns the first execution or fails.

    Why: the parser backend overrides ``start_execution`` and uses ``name`` as given, so every unnamed
    execution is called ``None`` (ARN ``...:execution:<machine>:None``): the name-idempotency check then
    hands back the first execution (same input) or refuses the second one (other input).
    Fix: default the name to a uuid4, as AWS does.
    """
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start = StepFunctionsParserBackend.start_execution

    @functools.wraps(start)
    def start_execution(
        self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return start(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    return [_Patch(StepFunctionsParserBackend, "start_execution", start_execution)]


# --- 3 -------------------------------------------------------------------------------------------


def _error_name(error_name: str | None) -> Any:
    """The ErrorName for a name reported at runtime: a ``StatesErrorName`` for ``States.*``, else custom."""
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    if error_name is None or not error_name.startswith("States."):
        return CustomErrorName(error_name)
    try:
        return StatesErrorName(typ=StatesErrorNameType.from_name(error_name))
    except ValueError:  # a States.* name the grammar does not know: keep it, unchecked
        unchecked = CustomErrorName.__new__(CustomErrorName)
        ErrorName.__init__(unchecked, error_name=error_name)
        return unchecked


def _fix_states_error_names() -> list[_Patch]:
    """A ``States.*`` error inside a Parallel branch or a Map iteration kills the execution.

    Why: the branch / iteration error is re-raised by the parent as ``CustomErrorName(error)``, whose
    constructor rejects names starting with ``States.`` (ValueError -> ``States.Runtime``, uncatchable by
    the intended Catch). A Fail state with ``"Error": "States.TaskFailed"`` (or an ``ErrorPath`` resolving
    to a caught ``States.*`` error) trips the same check.
    Fix: in those three modules, the name ``CustomErrorName`` builds a ``StatesErrorName`` for ``States.*``
    names (so ``States.TaskFailed``, ``States.ALL`` and the original name match in ErrorEquals) and a
    ``CustomErrorName`` otherwise.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl
    from moto.stepfunctions.parser.asl.component.state.fail import state_fail

    return [
        _Patch(module, "CustomErrorName", _error_name)
        for module in (branches_decl, iteration_worker, state_fail)
    ]


# --- 4 -------------------------------------------------------------------------------------------


def _to_boto(value: Any, shape: Shape | None) -> Any:
    """ASL Parameters (keys as the ASL writes them) -> botocore's member names, case-insensitively."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        members = {name.lower(): (name, member) for name, member in shape.members.items()}
        converted = {}
        for key, item in value.items():
            name, member = members.get(key.lower(), (key, None))
            converted[name] = _to_boto(item, member)
        return converted
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_to_boto(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: _to_boto(item, shape.value) for key, item in value.items()}
    if (
        shape is not None
        and isinstance(value, dict | list)
        and (isinstance(shape, StringShape) or shape.type_name == "blob")
    ):
        # AWS serialises a JSON value given for a string/blob member (sfn:startExecution Input, Payload).
        return json.dumps(value, separators=(",", ":"))
    return value


def _iso8601(value: datetime.datetime) -> str:
    """UTC, ``Z``, milliseconds only when there are any: how the AWS SDK integrations print timestamps."""
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


def _from_boto(value: Any, shape: Shape | None) -> Any:
    """botocore response -> JSON as aws-sdk integrations return it (PascalCase members, text, ISO dates)."""
    if isinstance(value, datetime.datetime):
        return _iso8601(value)
    if isinstance(value, StreamingBody):
        return value.read().decode("utf-8", errors="replace")
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, list):
        member = shape.member if isinstance(shape, ListShape) else None
        return [_from_boto(item, member) for item in value]
    if isinstance(value, dict):
        if isinstance(shape, StructureShape):
            members = shape.members
            return {
                key[:1].upper() + key[1:]: _from_boto(item, members.get(key)) for key, item in value.items()
            }
        item_shape = shape.value if isinstance(shape, MapShape) else None
        return {key: _from_boto(item, item_shape) for key, item in value.items()}
    return value


def _fix_aws_sdk_normalisation() -> list[_Patch]:
    """``aws-sdk:*`` parameter and response normalisation is stubbed out.

    Why: ``StateTaskService._normalise_parameters``/``_normalise_response`` are ``pass`` in moto 5.2.5.
    Parameters reach botocore as the ASL writes them (PascalCase), so members of camelCase APIs (sfn,
    and nested structures of others) are dropped and the call fails or ignores them; responses keep
    ``datetime`` values and
    ``StreamingBody`` objects, which cannot be serialised into the state output (``describe_execution``
    raises), and camelCase keys where AWS returns PascalCase.
    Fix (aws-sdk integrations only; the optimised integrations keep their own handling): map parameter
    keys onto the operation's input shape member names case-insensitively (nested structures, lists and
    map values too; a JSON value for a string/blob member is serialised), and map the response through
    the output shape: member keys capitalised, datetimes to ISO-8601 UTC strings, streaming bodies to
    text, bytes to base64. Map keys (tags, attributes) are left alone.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )

    def _model(
        self: Any, boto_service_name: str | None, service_action_name: str | None
    ) -> OperationModel | None:
        return _operation_model(
            self._get_boto_service_name(boto_service_name), service_action_name or self.resource.api_action
        )

    def _normalise_parameters(
        self: Any,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        model = _model(self, boto_service_name, service_action_name)
        if model is not None and model.input_shape is not None:
            converted = _to_boto(parameters, model.input_shape)
            parameters.clear()
            parameters.update(converted)

    def _normalise_response(
        self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
    ) -> None:
        if not isinstance(response, dict):
            return
        model = _model(self, boto_service_name, service_action_name)
        converted = _from_boto(response, model.output_shape if model is not None else None)
        response.clear()
        response.update(converted)

    return [
        _Patch(StateTaskServiceAwsSdk, "_normalise_parameters", _normalise_parameters),
        _Patch(StateTaskServiceAwsSdk, "_normalise_response", _normalise_response),
    ]


# --- 5 -------------------------------------------------------------------------------------------

_WORDS = re.compile(r"[A-Z]+[0-9]*(?![a-z])|[A-Z][a-z0-9]*|[a-z0-9]+")
# aws-sdk service names (the Java SDK v2 module) that are not botocore's name with the hyphens dropped.
_BOTO_NAMES = {
    "sfn": "stepfunctions",
    "states": "stepfunctions",
    "eventbridge": "events",
    "cloudwatchlogs": "logs",
    "elasticloadbalancingv2": "elbv2",
    "cognitoidentityprovider": "cognito-idp",
}


@functools.cache
def sfn_service_error_prefix(service_name: str) -> str:
    """The service prefix of an aws-sdk error name: ``glue`` -> ``Glue``, ``dynamodb`` -> ``DynamoDb``.

    Step Functions names errors after the AWS SDK for Java v2 client: botocore's ``serviceId`` with its
    words and acronyms Pascal-cased (``S3``, ``Sfn``, ``SecretsManager``, ``Ec2``, ``EventBridge``).
    """
    name = service_name.lower()
    boto_name = _BOTO_NAMES.get(name) or next(
        (known for known in _botocore_session().get_available_services() if known.replace("-", "") == name),
        name,
    )
    try:
        service_id = str(_botocore_session().get_service_model(boto_name).service_id)
    except UnknownServiceError:
        service_id = service_name
    return "".join(word[:1].upper() + word[1:].lower() for word in _WORDS.findall(service_id))


def _fix_aws_sdk_error_names() -> list[_Patch]:
    """``aws-sdk`` errors come out as ``glue.CrawlerRunningException`` where AWS says ``Glue.…``.

    Why: ``_normalise_service_error_name`` knows only ``dynamodb`` and ``sfn`` and otherwise returns the
    service as written in the resource ARN (lower case), so a Catch or Retry on ``Glue.*`` or ``S3.*``
    never matches. Fix: derive the prefix from botocore's serviceId (``sfn_service_error_prefix``); the
    suffix rule stays moto's (the SDK exception class: ``S3.NoSuchKeyException``, ``Glue.GlueException``).
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )

    return [
        _Patch(
            StateTaskServiceAwsSdk, "_normalise_service_error_name", staticmethod(sfn_service_error_prefix)
        )
    ]


# --- 6 -------------------------------------------------------------------------------------------

# Every moto module that imported extract_json by name (checked at patch time).
_EXTRACT_JSON_USERS = (
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.intrinsic.argument.argument",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.boolean_equals",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.numeric",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.string_operators",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.timestamp_operators",
    "moto.stepfunctions.parser.asl.eval.states",
)


@functools.lru_cache(maxsize=1024)
def _definite_path(path: str) -> Any:
    """The parsed path if it is definite (names and single indices only), else None."""
    from jsonpath_ng.ext import parse
    from jsonpath_ng.jsonpath import Child, Fields, Index, Root, This

    def definite(node: Any) -> bool:
        if isinstance(node, Root | This):
            return True
        if isinstance(node, Child):
            return definite(node.left) and definite(node.right)
        if isinstance(node, Fields):
            return len(node.fields) == 1 and node.fields[0] != "*"
        if isinstance(node, Index):
            return len(node.indices) == 1
        return False

    try:
        expression = parse(path)
    except Exception:  # let moto report the invalid path its own way
        return None
    return expression if definite(expression) else None


def _fix_definite_json_path() -> list[_Patch]:
    """A definite JSONPath such as ``$.a[0].b`` returns ``[value]`` instead of ``value``.

    Why: moto's ``extract_json`` returns a list whenever the match's parent step was an array index
    (a moto-only condition added for getmoto/moto#7825), so ``$.a[0].b`` in InputPath, ``"x.$"``
    Parameters, ResultSelector or a Choice ``Variable`` yields a one-element list.
    Fix: a path made only of field names and single indices yields its one match as is; indefinite paths
    (wildcards, slices, filters, unions, ``..``) and missing paths keep moto's handling.
    """
    import importlib

    from moto.stepfunctions.parser.asl.utils import json_path

    original = json_path.extract_json

    @functools.wraps(original)
    def extract_json(path: str, data: Any) -> Any:
        expression = _definite_path(path)
        if expression is not None:
            matches = expression.find(data)
            if len(matches) == 1:
                return matches[0].value
        return original(path, data)

    patches = []
    for name in _EXTRACT_JSON_USERS:
        module = importlib.import_module(name)
        if module.__dict__.get("extract_json") is not original:
            raise RuntimeError(f"moto_fixes: {name} no longer imports extract_json")
        patches.append(_Patch(module, "extract_json", extract_json))
    return patches


# --- 7 -------------------------------------------------------------------------------------------


def _fix_distributed_map_tolerance() -> list[_Patch]:
    """Distributed Map item failures are swallowed and the tolerated-failure settings ignored.

    Why: the distributed item worker counts a failed item and stores ``None`` as its result, and nothing
    compares the count with the thresholds, so a Map Run with failed items always succeeds.
    Fix: after the Map Run, fail it with ``States.ExceedToleratedFailureThreshold`` when the failed (or
    timed-out) items exceed ``ToleratedFailureCount``, or their share exceeds
    ``ToleratedFailurePercentage``; a threshold the definition does not set does not apply, and with
    neither set a single failure fails the Map (AWS's defaults). The error is raised inside the Map Run,
    so moto logs MapRunFailed and the Map state's Retry/Catch see it. Which thresholds are set is
    recorded when the state is parsed (``from_state_props``), since both default to 0.
    """
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (
        ToleratedFailureCountDecl,
        ToleratedFailurePercentageDecl,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    from_state_props = StateMap.from_state_props
    map_run = DistributedIterationComponent._map_run

    @functools.wraps(from_state_props)
    def _from_state_props(self: Any, state_props: Any) -> None:
        from_state_props(self, state_props)
        self.iteration_component.sluice_tolerance_set = (
            state_props.get(ToleratedFailureCountDecl) is not None,
            state_props.get(ToleratedFailurePercentageDecl) is not None,
        )

    @functools.wraps(map_run)
    def _map_run(self: Any, env: Any, eval_input: Any) -> None:
        map_run(self, env, eval_input)
        counts = eval_input.map_run_record.item_counter
        failed, total = counts.failed.get() + counts.timed_out.get(), counts.total.get()
        if not failed:
            return
        count, percentage = eval_input.tolerated_failure_count, eval_input.tolerated_failure_percentage
        count_set, percentage_set = getattr(self, "sluice_tolerance_set", (bool(count), bool(percentage)))
        if count_set or percentage_set:
            exceeded = (count_set and failed > count) or (
                percentage_set and 100.0 * failed / total > percentage
            )
        else:
            exceeded = True
        if not exceeded:
            return
        env.stack.pop()  # the Map Run's outputs
        error = StatesErrorNameType.StatesExceedToleratedFailureThreshold
        cause = (
            f"The specified tolerated failure threshold was exceeded: {failed} of {total} items failed "
            f"(ToleratedFailureCount {count if count_set else 'not set'}, "
            f"ToleratedFailurePercentage {percentage if percentage_set else 'not set'})."
        )
        raise FailureEventException(
            FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=error),
                event_type=HistoryEventType.MapRunFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]  # moto's TypedDicts are total
                    mapRunFailedEventDetails=MapRunFailedEventDetails(error=error.to_name(), cause=cause)
                ),
            )
        )

    return [
        _Patch(StateMap, "from_state_props", _from_state_props),
        _Patch(DistributedIterationComponent, "_map_run", _map_run),
    ]


# --- 8 -------------------------------------------------------------------------------------------


def _float_percentages(node: Any) -> bool:
    """Turn integer ToleratedFailurePercentage values into floats, in place; True if any changed."""
    changed = False
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ToleratedFailurePercentage" and isinstance(value, int) and not isinstance(value, bool):
                node[key] = float(value)
                changed = True
            else:
                changed = _float_percentages(value) or changed
    elif isinstance(node, list):
        for item in node:
            changed = _float_percentages(item) or changed
    return changed


def _fix_integer_tolerated_failure_percentage() -> list[_Patch]:
    """The grammar rejects an integer ``ToleratedFailurePercentage`` (``"ToleratedFailurePercentage": 10``).

    Why: ASLParser's ``tolerated_failure_percentage_decl`` accepts only the lexer's NUMBER token, which
    requires a fraction or exponent; an INT (``10``) is a syntax error, so create_state_machine fails with
    InvalidDefinition although AWS accepts any number from 0 to 100.
    Fix: before the definition is lexed, integer values of that key are rewritten as floats (``10.0``);
    the stored definition is unchanged. Definitions without the key are parsed untouched.
    """
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    parse = AmazonStateLanguageParser.parse

    @functools.wraps(parse)
    def _parse(definition: str) -> Any:
        if "ToleratedFailurePercentage" in definition:
            try:
                document = json.loads(definition)
            except ValueError:
                return parse(definition)
            if _float_percentages(document):
                definition = json.dumps(document)
        return parse(definition)

    return [_Patch(AmazonStateLanguageParser, "parse", staticmethod(_parse))]


# --- time controls -------------------------------------------------------------------------------


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


_SYNC_POLL_FLOOR = 0.05  # seconds between two polls of a .sync task, at any time scale


def set_time_scale(factor: float) -> None:
    """Scale the real sleeps of Retry intervals, Wait states and ``.sync`` polling (1.0 = as written).

    Takes effect for executions run while the ``time_scale`` fix is applied (``apply()``).
    """
    global _time_scale
    if not factor > 0:
        raise ValueError(f"time scale must be positive, got {factor!r}")
    _time_scale = float(factor)


def time_scale() -> float:
    """The current factor (see ``set_time_scale``)."""
    return _time_scale


def _fix_time_scale() -> list[_Patch]:
    """Retry intervals, Wait states and the ``.sync`` polling delay are real sleeps of the ASL's duration.

    Why: a workflow that waits 30 s for a crawler and retries with minutes of backoff is unusable in tests
    and local runs. Fix: the ``time`` module seen by ``retrier_decl`` and ``state_task_service_callback``
    sleeps ``factor`` times as long (the global ``time.sleep`` is untouched), and the Wait state waits
    ``factor`` times its seconds, still ending early when the execution stops.
    """
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback,
    )
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    def _wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
        deadline = time.monotonic() + max(wait_seconds, 0) * _time_scale
        while env.is_running():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            env.program_state_event.wait(remaining)

    return [
        _Patch(retrier_decl, "time", _ScaledTime()),
        # The .sync poll (0.5 s in moto) scaled to 0.5 ms would spin: 20 executions waiting on their Glue job
        # runs then take the CPU from the Spark job they wait for (a 20-file burst: 224 s, 51 s with the floor).
        _Patch(state_task_service_callback, "time", _ScaledTime(floor=_SYNC_POLL_FLOOR)),
        _Patch(WaitFunction, "_wait_interval", _wait_interval),
    ]


# --- JSONata -------------------------------------------------------------------------------------


def _fix_jsonata() -> list[_Patch]:
    """QueryLanguage JSONata states fail: moto 5.2.5 has no JSONata evaluator.

    Why: ``eval_jsonata_expression`` calls a module-level ``_eval_jsonata`` that LocalStack binds to a JVM
    bridge and moto leaves ``None`` (``'NoneType' object is not callable``).
    Fix: bind it to the pure-Python ``jsonata-python`` evaluator; results are round-tripped through JSON
    as the JVM bridge does, and evaluation errors become moto's ``JSONataException``.
    """
    import jsonata
    from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata

    def _eval_jsonata(expression: str) -> Any:
        try:
            result = jsonata.Jsonata(expression).evaluate(None)
        except Exception as ex:
            raise moto_jsonata.JSONataException("UNKNOWN", str(ex)) from ex
        return json.loads(json.dumps(result))

    return [_Patch(moto_jsonata, "_eval_jsonata", _eval_jsonata)]


# --- S3 ----------------------------------------------------------------------------------------------


def _fix_copy_object_checksum() -> list[_Patch]:
    """A copy of a multipart upload cannot be read back: ``FlexibleChecksumError``.

    Why: ``S3Backend.copy_object`` copies ``checksum_value`` (for a multipart upload, the checksum of the
    parts' checksums) but not ``checksum_type`` (``COMPOSITE``) nor ``checksum_parts``, so GetObject
    announces it as the object's full checksum and botocore's validation fails. The local Glue uploads
    output files above 8 MiB in parts; Load copies them to curated/ and reads them back.
    Fix: the copy keeps the source's checksum type and part count (a composite ``x-N`` checksum, which
    clients do not validate against the body).
    """
    from moto.s3.models import S3Backend

    original = S3Backend.copy_object

    @functools.wraps(original)
    def copy_object(
        self: Any, src_key: Any, dest_bucket_name: str, dest_key_name: str, *args: Any, **kw: Any
    ) -> None:
        original(self, src_key, dest_bucket_name, dest_key_name, *args, **kw)
        if getattr(src_key, "checksum_type", None) == "COMPOSITE":
            copied = self.get_object(dest_bucket_name, dest_key_name)
            if copied is not None and copied.checksum_value == src_key.checksum_value:
                copied.checksum_type = src_key.checksum_type
                copied.checksum_parts = src_key.checksum_parts

    return [_Patch(S3Backend, "copy_object", copy_object)]


# --- applying ------------------------------------------------------------------------------------


def _fix_history_reverse_order() -> list[_Patch]:
    """``get_execution_history`` ignores ``reverseOrder``: events always come oldest first.

    Why: ``StepFunctionResponse.get_execution_history`` reads only ``executionArn``; a caller asking for
    the newest events first (to find the state that failed) reads the oldest instead.
    Fix: reverse the events (by id) when ``reverseOrder`` is true, as AWS does.
    """
    from moto.stepfunctions.responses import StepFunctionResponse

    history = StepFunctionResponse.get_execution_history

    @functools.wraps(history)
    def get_execution_history(self: Any) -> Any:
        result = history(self)
        if self._get_param("reverseOrder"):
            body = result.result if hasattr(result, "result") else None
            if isinstance(body, dict) and isinstance(body.get("events"), list):
                body["events"] = sorted(body["events"], key=lambda e: e["id"], reverse=True)
        return result

    return [_Patch(StepFunctionResponse, "get_execution_history", get_execution_history)]


FIXES: dict[str, Callable[[], list[_Patch]]] = {
    "glue_sync": _fix_glue_sync,
    "execution_name": _fix_execution_name,
    "states_error_names": _fix_states_error_names,
    "aws_sdk_normalisation": _fix_aws_sdk_normalisation,
    "aws_sdk_error_names": _fix_aws_sdk_error_names,
    "definite_json_path": _fix_definite_json_path,
    "distributed_map_tolerance": _fix_distributed_map_tolerance,
    "integer_tolerated_failure_percentage": _fix_integer_tolerated_failure_percentage,
    "history_reverse_order": _fix_history_reverse_order,
    "copy_object_checksum": _fix_copy_object_checksum,
    "time_scale": _fix_time_scale,
    "jsonata": _fix_jsonata,
}


def _install(name: str) -> None:
    done: list[tuple[_Patch, Any]] = []
    for patch in FIXES[name]():
        done.append((patch, vars(patch.target).get(patch.name, _MISSING)))
        setattr(patch.target, patch.name, patch.value)
    _installed[name] = done


def _uninstall(name: str) -> None:
    for patch, original in reversed(_installed.pop(name)):
        if original is _MISSING:
            delattr(patch.target, patch.name)
        else:
            setattr(patch.target, patch.name, original)


def apply() -> None:
    """Install every fix in ``FIXES`` that is not installed yet (idempotent)."""
    with _lock:
        for name in FIXES:
            if name not in _installed:
                _install(name)


def revert(*names: str) -> None:
    """Remove the named fixes (all installed ones if none are named), restoring moto's originals."""
    with _lock:
        for name in names or tuple(reversed(list(_installed))):
            if name not in FIXES:
                raise KeyError(f"unknown moto fix {name!r}")
            if name in _installed:
                _uninstall(name)


def applied() -> list[str]:
    """The names of the installed fixes, in installation order."""
    with _lock:
        return list(_installed)


@contextlib.contextmanager
def reverted(name: str) -> Iterator[None]:
    """Run a block with one fix removed (if it was installed), then put it back."""
    with _lock:
        if name not in FIXES:
            raise KeyError(f"unknown moto fix {name!r}")
        was_installed = name in _installed
        if was_installed:
            _uninstall(name)
    try:
        yield
    finally:
        with _lock:
            if was_installed and name not in _installed:
                _install(name)
