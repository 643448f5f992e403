"""moto correction ``dynamodb_compact_items``: items are stored as compact JSON and read back, compared,
conditioned on and updated exactly as moto's own items; the 400 KB limit still holds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import Item

from sluice.local import moto_fixes
from sluice.local.moto_fixes.dynamodb_compact_items import CompactItem

pytestmark = pytest.mark.emulator

TABLE = "serving"
ITEM = {
    "pk": {"S": "offers#a1#o1"},
    "sk": {"S": "-"},
    "title": {"S": "Zoë's café"},
    "price": {"N": "12.50"},
    "active": {"BOOL": True},
    "tags": {"L": [{"S": "x"}, {"N": "2"}]},
    "dims": {"M": {"w": {"N": "3"}, "unit": {"S": "cm"}}},
    "sizes": {"SS": ["L", "M"]},
    "gone": {"NULL": True},
}
KEY = {"pk": ITEM["pk"], "sk": ITEM["sk"]}


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    moto_fixes.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
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


def _stored(key: dict[str, Any]) -> Item:
    table = dynamodb_backends["123456789012"]["us-east-1"].tables[TABLE]
    return next(i for i in table.all_items() if i.hash_key.value == key["pk"]["S"])


def test_items_read_back_as_written(dynamodb: Any) -> None:
    dynamodb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": ITEM}}]})

    assert type(_stored(KEY)) is CompactItem
    assert dynamodb.get_item(TableName=TABLE, Key=KEY)["Item"] == ITEM
    assert dynamodb.scan(TableName=TABLE)["Items"] == [ITEM]
    queried = dynamodb.query(
        TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": ITEM["pk"]}
    )
    assert queried["Items"] == [ITEM]
    assert dynamodb.describe_table(TableName=TABLE)["Table"]["ItemCount"] == 1


def test_conditional_writes_and_updates_see_compact_items(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item=ITEM)

    with pytest.raises(ClientError) as failed:
        dynamodb.put_item(TableName=TABLE, Item=ITEM, ConditionExpression="attribute_not_exists(pk)")
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    dynamodb.update_item(
        TableName=TABLE,
        Key=KEY,
        UpdateExpression="SET price = :p, seen_count = :one",
        ConditionExpression="active = :t",
        ExpressionAttributeValues={":p": {"N": "9"}, ":one": {"N": "1"}, ":t": {"BOOL": True}},
    )
    item = dynamodb.get_item(TableName=TABLE, Key=KEY)["Item"]
    assert item["price"] == {"N": "9"}
    assert item["seen_count"] == {"N": "1"}
    assert item["title"] == {"S": "Zoë's café"}


def test_item_over_400_kb_is_rejected(dynamodb: Any) -> None:
    big = {**ITEM, "blob": {"S": "x" * 410_000}}

    with pytest.raises(ClientError) as failed:
        dynamodb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": big}}]})

    assert failed.value.response["Error"]["Code"] == "ValidationException"
    assert "Item size has exceeded the maximum allowed size" in failed.value.response["Error"]["Message"]
    assert dynamodb.scan(TableName=TABLE)["Items"] == []


def test_stored_items_are_moto_items_without_the_fix(dynamodb: Any) -> None:
    with moto_fixes.reverted("dynamodb_compact_items"):
        dynamodb.put_item(TableName=TABLE, Item=ITEM)

        assert type(_stored(KEY)) is Item
