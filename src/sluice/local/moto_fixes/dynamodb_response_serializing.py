"""moto walks every DynamoDB read response through botocore's shape model in Python to write its JSON body.

moto: ``ActionResult.execute_result`` serializes a result member by member against the operation's output
shape (``moto.core.serialize.JSONSerializer``), looking up each member's possible names on every value. A
DynamoDB read result (``DynamoResult``, after ``dynamo_to_dict``) is already the response's JSON except for
binary values (``B``, ``BS``: raw bytes, which the serializer base64-encodes): for a Scan page of 1 MB, every
attribute of some 2,500 items is visited in Python, about 2.5 ms an item, so reading back a 1,000,000-item
serving table (``sluice run``'s export) took some 40 minutes.
AWS: a read's cost does not depend on how a service writes its response.
Fix: the result of a ``Scan``, ``Query``, ``GetItem`` or ``BatchGetItem`` (or of a ``BatchWriteItem`` that
``dynamodb_batch_writes`` stored) that holds only JSON values (no bytes, no timestamps) is written with
``json.dumps``, the serializer's own last step, under the same status and Content-Type; any other result, an
error, and any other action go through moto's serializer as before.

Regression tests:
``tests/statemachine/test_moto_fixes/test_dynamodb_response_serializing.py::test_read_responses_are_the_serializers``,
``tests/statemachine/test_moto_fixes/test_dynamodb_response_serializing.py::test_binary_values_still_go_through_the_serializer``,
``tests/statemachine/test_moto_fixes/test_dynamodb_response_serializing.py::test_reads_skip_the_shape_walk``.
"""

from __future__ import annotations

import json
from typing import Any

from moto import settings
from moto.core.responses import ActionContext
from moto.dynamodb.responses import DynamoResult

from sluice.local.moto_fixes._patch import Patch

FAST_ACTIONS = frozenset({"Scan", "Query", "GetItem", "BatchGetItem", "BatchWriteItem"})
_moto_execute_result = DynamoResult.execute_result


def execute_result(self: DynamoResult, context: ActionContext) -> Any:
    """DynamoResult.execute_result: JSON-only read results written directly, the rest as moto does."""
    if context.operation_model.name not in FAST_ACTIONS or isinstance(self.result, Exception):
        return _moto_execute_result(self, context)
    try:  # bytes and datetimes raise: the serializer encodes those
        body = json.dumps(self.result, indent=4 if settings.PRETTIFY_RESPONSES else None)
    except TypeError:
        return _moto_execute_result(self, context)
    serializer: Any = context.serializer_class(operation_model=context.operation_model)  # a JSON protocol's
    status = context.operation_model.http.get("responseCode", serializer.DEFAULT_RESPONSE_CODE)
    return status, {"Content-Type": serializer._get_protocol_specific_content_type()}, body


def patches() -> list[Patch]:
    """DynamoResult.execute_result writes JSON-only read results with json.dumps."""
    return [Patch(DynamoResult, "execute_result", execute_result)]
