"""moto walks every DynamoDB write request through botocore's shape model in Python to read its JSON body.

moto: ``BaseResponse.parse_parameters`` parses each request body member by member against the operation's
botocore model (``moto.core.parse.JSONParser``). For DynamoDB's JSON protocol the result is the decoded JSON
itself except for binary attribute values (``B``, ``BS``: base64 text to bytes); for BatchWriteItem, every
attribute of 25 items is visited in Python, which was 25% of the CPU of Load's serving writes after the
other corrections (``bench/results/profile-1m.md``).
AWS: a write's cost does not depend on how a service parses it.
Fix: a ``BatchWriteItem`` or ``PutItem`` body with no binary attribute value (no ``"B"`` or ``"BS"`` key
anywhere in its text) is decoded with ``json.loads``, which gives the same parameters; any other request,
and any other action, goes through moto's parser as before.

Regression tests:
``tests/statemachine/test_moto_fixes/test_dynamodb_request_parsing.py::test_write_requests_skip_the_shape_parser``,
``tests/statemachine/test_moto_fixes/test_dynamodb_request_parsing.py::test_binary_values_still_go_through_the_shape_parser``,
``tests/statemachine/test_moto_fixes/test_dynamodb_request_parsing.py::test_write_requests_use_the_shape_parser_without_the_fix``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.core.responses import BaseResponse
from moto.dynamodb.responses import DynamoHandler

from sluice.local.moto_fixes._patch import Patch

FAST_ACTIONS = frozenset({"BatchWriteItem", "PutItem"})
# A binary attribute value's type key; a false match (an attribute named "B") only takes the slow path.
_BINARY = re.compile(rb'"BS?"\s*:')


def patches() -> list[Patch]:
    """DynamoDB writes without binary values are parsed with json.loads."""

    def parse_parameters(self: Any, request: Any) -> None:
        body = request.data
        if isinstance(body, str):
            body = body.encode("utf-8")
        if self._get_action() in FAST_ACTIONS and body and not _BINARY.search(body):
            params = json.loads(body)
            if isinstance(params, dict):
                self.params = params
                return
        BaseResponse.parse_parameters(self, request)

    return [Patch(DynamoHandler, "parse_parameters", parse_parameters)]
