"""moto correction ``dynamodb_response_serializing``: DynamoDB read responses are written with json.dumps when
they hold only JSON values, and are then exactly what moto's serializer writes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import serialize

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

ITEM = {
    "pk": {"S": "offers#a1#o1"},
    "sk": {"S": "-"},
    "title": {"S": "Zoë's café"},
    "price": {"N": "12.50"},
    "active": {"BOOL": True},
    "tags": {"L": [{"S": "x"}, {"N": "2"}]},
    "dims": {"M": {"w": {"N": "3"}, "unit": {"S": "cm"}}},
    "sizes": {"SS": ["L", "M"]},
    "counts": {"NS": ["1", "2"]},
    "gone": {"NULL": True},
}
KEY = {"pk": ITEM["pk"], "sk": ITEM["sk"]}


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    moto_fixes.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _reads(client: Any) -> list[Callable[[], dict[str, Any]]]:
    return [
        lambda: client.scan(TableName="t"),
        lambda: client.scan(TableName="t", Limit=1, ReturnConsumedCapacity="TOTAL"),
        lambda: client.scan(TableName="t", Select="COUNT"),
        lambda: client.scan(TableName="t", ProjectionExpression="title, dims.w"),
        lambda: client.query(
            TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": ITEM["pk"]}
        ),
        lambda: client.get_item(TableName="t", Key=KEY),
        lambda: client.get_item(TableName="t", Key={"pk": {"S": "none"}, "sk": {"S": "-"}}),
        lambda: client.batch_get_item(RequestItems={"t": {"Keys": [KEY]}}),
    ]


def _without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def test_read_responses_are_the_serializers(dynamodb: Any) -> None:
    dynamodb.put_item(TableName="t", Item=ITEM)
    dynamodb.put_item(TableName="t", Item={**ITEM, "sk": {"S": "2"}, "title": {"S": "second"}})
    fixed = [_without_metadata(read()) for read in _reads(dynamodb)]
    with moto_fixes.reverted("dynamodb_response_serializing"):
        moto = [_without_metadata(read()) for read in _reads(dynamodb)]

    assert fixed == moto
    assert fixed[0]["Items"][0] == ITEM
    assert fixed[1]["ConsumedCapacity"] == {"TableName": "t", "CapacityUnits": 1.0}


def test_binary_values_still_go_through_the_serializer(dynamodb: Any) -> None:
    dynamodb.put_item(TableName="t", Item={**KEY, "blob": {"B": b"\x00\xff"}, "blobs": {"BS": [b"a", b"b"]}})

    item = dynamodb.get_item(TableName="t", Key=KEY)["Item"]

    assert item["blob"] == {"B": b"\x00\xff"}
    assert sorted(item["blobs"]["BS"]) == [b"a", b"b"]


def test_reads_skip_the_shape_walk(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    dynamodb.put_item(TableName="t", Item=ITEM)
    walked = []
    moto_serialize = serialize.BaseJSONSerializer._serialize_result

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        walked.append(self.operation_model.name)
        return moto_serialize(self, *args, **kwargs)

    monkeypatch.setattr(serialize.BaseJSONSerializer, "_serialize_result", counting)
    for read in _reads(dynamodb):
        read()
    assert walked == []

    with moto_fixes.reverted("dynamodb_response_serializing"):
        dynamodb.scan(TableName="t")
    assert walked == ["Scan"]
