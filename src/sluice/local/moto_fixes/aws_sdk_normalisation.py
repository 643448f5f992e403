"""``aws-sdk:*`` parameters and responses are not normalised; AWS maps them to and from the SDK's shapes.

moto: ``StateTaskService._normalise_parameters``/``_normalise_response`` are ``pass`` in moto 5.2.5.
Parameters reach botocore as the ASL writes them (PascalCase), so members of camelCase APIs (sfn, and
nested structures of others) are dropped and the call fails or ignores them; responses keep ``datetime``
values and ``StreamingBody`` objects, which cannot be serialised into the state output
(``describe_execution`` raises), and camelCase keys where AWS returns PascalCase.
AWS: parameters are matched to the API's members whatever their case; responses come back as JSON with
PascalCase members, ISO-8601 timestamps and text bodies.
Fix (``StateTaskServiceAwsSdk`` only; the optimised integrations keep their own handling): map parameter
keys onto the operation's input shape member names case-insensitively (nested structures, lists and map
values too; a JSON value for a string/blob member is serialised), and map the response through the output
shape: member keys capitalised, datetimes to ISO-8601 UTC strings, streaming bodies to text, bytes to
base64. Map keys (tags, attributes) are left alone.

Regression tests:
``tests/statemachine/test_moto_fixes/test_aws_sdk_normalisation.py::test_aws_sdk_glue_get_crawler_returns_json_with_iso_8601_dates``,
``tests/statemachine/test_moto_fixes/test_aws_sdk_normalisation.py::test_aws_sdk_parameters_reach_camel_case_apis_and_response_is_pascal_case``,
``tests/statemachine/test_moto_fixes/test_aws_sdk_normalisation.py::test_aws_sdk_get_crawler_without_fix_leaves_datetimes_that_break_describe_execution``,
``tests/statemachine/test_moto_fixes/test_aws_sdk_normalisation.py::test_aws_sdk_parameters_without_fix_miss_camel_case_members``.
"""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StringShape, StructureShape
from botocore.response import StreamingBody
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)

from sluice.local.moto_fixes._patch import Patch, operation_model


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


def _model(
    self: Any, boto_service_name: str | None, service_action_name: str | None
) -> OperationModel | None:
    return operation_model(
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


def patches() -> list[Patch]:
    """Parameters to botocore's shapes, responses to the aws-sdk integrations' JSON."""
    return [
        Patch(StateTaskServiceAwsSdk, "_normalise_parameters", _normalise_parameters),
        Patch(StateTaskServiceAwsSdk, "_normalise_response", _normalise_response),
    ]
