"""moto correction ``dynamodb_request_parsing``: DynamoDB writes without binary values skip moto's
shape-walking parser and store the same items; binary values and other actions still take it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import parse

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

TABLE = "serving"
ITEM = {"pk": {"S": "offers#a1"}, "price": {"N": "1.5"}, "ok": {"BOOL": False}, "tags": {"SS": ["B", "x"]}}
BINARY = {"pk": {"S": "offers#a2"}, "raw": {"B": b"\x00\x01\x02"}, "parts": {"BS": [b"\xff"]}}


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    moto_fixes.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The operations moto's shape parser parsed."""
    seen: list[str] = []
    original = parse.JSONParser.parse

    def spy(self: Any, request: Any) -> Any:
        seen.append(self.operation_model.name)
        return original(self, request)

    monkeypatch.setattr(parse.JSONParser, "parse", spy)
    return seen


def test_write_requests_skip_the_shape_parser(dynamodb: Any, parsed: list[str]) -> None:
    dynamodb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": ITEM}}]})
    dynamodb.put_item(TableName=TABLE, Item={**ITEM, "pk": {"S": "offers#a3"}})

    assert "BatchWriteItem" not in parsed
    assert "PutItem" not in parsed
    assert dynamodb.get_item(TableName=TABLE, Key={"pk": ITEM["pk"]})["Item"] == ITEM
    assert "GetItem" in parsed  # reads are parsed by moto as before


def test_binary_values_still_go_through_the_shape_parser(dynamodb: Any, parsed: list[str]) -> None:
    dynamodb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": BINARY}}]})

    assert parsed.count("BatchWriteItem") == 1
    assert dynamodb.get_item(TableName=TABLE, Key={"pk": BINARY["pk"]})["Item"] == BINARY


def test_write_requests_use_the_shape_parser_without_the_fix(dynamodb: Any, parsed: list[str]) -> None:
    with moto_fixes.reverted("dynamodb_request_parsing"):
        dynamodb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": ITEM}}]})

    assert parsed.count("BatchWriteItem") == 1
