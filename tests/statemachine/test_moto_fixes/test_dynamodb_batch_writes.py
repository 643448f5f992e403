"""moto correction ``dynamodb_batch_writes``: a plain BatchWriteItem is validated whole and stored directly,
leaving the table as moto's own path leaves it; invalid batches fail with moto's errors and write nothing;
duplicate keys are refused as AWS refuses them; other tables and options keep moto's path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from sluice.local import moto_fixes
from sluice.local.moto_fixes.dynamodb_batch_writes import DUPLICATES

pytestmark = pytest.mark.emulator

RANGED, HASH_ONLY = "serving", "plain"
ITEMS = [
    {
        "pk": {"S": "offers#a1#o1"},
        "sk": {"S": "-"},
        "title": {"S": "Zoë's café"},
        "note": {"S": ""},
        "price": {"N": "12.50"},
        "active": {"BOOL": True},
        "tags": {"L": [{"S": "x"}, {"N": "2"}]},
        "dims": {"M": {"w": {"N": "3"}, "unit": {"S": "cm"}}},
        "sizes": {"SS": ["L", "M"]},
        "gone": {"NULL": True},
    },
    {"pk": {"S": "offers#a1#o2"}, "sk": {"S": "2026-01"}, "price": {"N": "-1E-5"}, "n": {"NS": ["1", "2"]}},
    {"pk": {"S": "offers#a2#o1"}, "sk": {"S": "-"}, "raw": {"B": b"\x00\x01"}},
]


def _create(client: Any, name: str, *, ranged: bool, **extra: Any) -> None:
    keys = [("pk", "HASH"), ("sk", "RANGE")] if ranged else [("pk", "HASH")]
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": a, "KeyType": t} for a, t in keys],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a, _ in keys]
        + extra.pop("definitions", []),
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    moto_fixes.apply()
    with mock_aws():
        # Server-side checks are what is tested: botocore's own would stop the bad requests first.
        client = boto3.client("dynamodb", region_name="us-east-1", config=Config(parameter_validation=False))
        _create(client, RANGED, ranged=True)
        _create(client, HASH_ONLY, ranged=False)
        yield client


@pytest.fixture
def moto_puts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables moto's per-item put path wrote to."""
    seen: list[str] = []
    original = DynamoDBBackend.put_item

    def spy(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(table_name)
        return original(self, table_name, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "put_item", spy)
    return seen


def _scan(client: Any, table: str) -> list[dict[str, Any]]:
    items = client.scan(TableName=table, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item.get("sk", {}).get("S", "")))


def _batch(client: Any) -> None:
    """Puts into both tables, then a batch that overwrites one item and deletes another."""
    client.batch_write_item(
        RequestItems={
            RANGED: [{"PutRequest": {"Item": item}} for item in ITEMS],
            HASH_ONLY: [{"PutRequest": {"Item": {"pk": item["pk"], "v": item["sk"]}}} for item in ITEMS],
        }
    )
    client.batch_write_item(
        RequestItems={
            RANGED: [
                {"PutRequest": {"Item": {**ITEMS[1], "price": {"N": "7"}}}},
                {"DeleteRequest": {"Key": {"pk": ITEMS[0]["pk"], "sk": ITEMS[0]["sk"]}}},
            ],
            HASH_ONLY: [{"DeleteRequest": {"Key": {"pk": ITEMS[2]["pk"]}}}],
        }
    )


def test_batch_writes_store_what_moto_stores(dynamodb: Any, moto_puts: list[str]) -> None:
    with moto_fixes.reverted("dynamodb_batch_writes"):
        _batch(dynamodb)
        by_moto = {table: _scan(dynamodb, table) for table in (RANGED, HASH_ONLY)}
    assert len(moto_puts) == 7
    for table in (RANGED, HASH_ONLY):
        dynamodb.delete_table(TableName=table)
    _create(dynamodb, RANGED, ranged=True)
    _create(dynamodb, HASH_ONLY, ranged=False)
    moto_puts.clear()

    _batch(dynamodb)

    assert moto_puts == []  # stored directly, not one PutItem at a time
    assert {table: _scan(dynamodb, table) for table in (RANGED, HASH_ONLY)} == by_moto
    assert [item["pk"]["S"] for item in by_moto[RANGED]] == ["offers#a1#o2", "offers#a2#o1"]
    assert by_moto[RANGED][0]["price"] == {"N": "7"}
    got = dynamodb.get_item(TableName=RANGED, Key={"pk": ITEMS[1]["pk"], "sk": ITEMS[1]["sk"]})["Item"]
    assert got == {**ITEMS[1], "price": {"N": "7"}}


BAD_ITEMS = {
    "missing range key": {"pk": {"S": "x"}},
    "range key of another type": {"pk": {"S": "x"}, "sk": {"N": "1"}},
    "empty hash key": {"pk": {"S": ""}, "sk": {"S": "-"}},
    "not a number": {"pk": {"S": "x"}, "sk": {"S": "-"}, "n": {"N": "12a"}},
    "infinite number": {"pk": {"S": "x"}, "sk": {"S": "-"}, "n": {"N": "Infinity"}},
    "number out of range": {"pk": {"S": "x"}, "sk": {"S": "-"}, "n": {"N": "1E+200"}},
    "null false": {"pk": {"S": "x"}, "sk": {"S": "-"}, "n": {"NULL": False}},
    "hash key over 2048 bytes": {"pk": {"S": "é" * 1025}, "sk": {"S": "-"}},
    "item over 400 KB": {"pk": {"S": "x"}, "sk": {"S": "-"}, "blob": {"S": "x" * 410_000}},
}


def _error(client: Any, item: dict[str, Any]) -> tuple[str, str]:
    valid = {"PutRequest": {"Item": {"pk": {"S": "valid"}, "sk": {"S": "-"}}}}
    with pytest.raises(ClientError) as raised:
        client.batch_write_item(RequestItems={RANGED: [valid, {"PutRequest": {"Item": item}}]})
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


@pytest.mark.parametrize("case", list(BAD_ITEMS))
def test_invalid_items_fail_as_moto_fails_and_write_nothing(dynamodb: Any, case: str) -> None:
    with moto_fixes.reverted("dynamodb_batch_writes"):
        expected = _error(dynamodb, BAD_ITEMS[case])
        for item in _scan(dynamodb, RANGED):
            dynamodb.delete_item(TableName=RANGED, Key={"pk": item["pk"], "sk": item["sk"]})

    assert _error(dynamodb, BAD_ITEMS[case]) == expected
    assert _scan(dynamodb, RANGED) == []  # the valid item before the bad one is not written either


def test_unknown_table_is_moto_resource_not_found(dynamodb: Any) -> None:
    with pytest.raises(ClientError) as raised:
        dynamodb.batch_write_item(RequestItems={"nope": [{"PutRequest": {"Item": {"pk": {"S": "x"}}}}]})

    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize(
    "requests",
    [
        [{"PutRequest": {"Item": {**ITEMS[1], "price": {"N": "1"}}}}, {"PutRequest": {"Item": ITEMS[1]}}],
        [
            {"PutRequest": {"Item": ITEMS[1]}},
            {"DeleteRequest": {"Key": {"pk": ITEMS[1]["pk"], "sk": ITEMS[1]["sk"]}}},
        ],
    ],
    ids=["two puts", "a put and a delete"],
)
def test_duplicate_keys_are_refused(dynamodb: Any, requests: list[dict[str, Any]]) -> None:
    with pytest.raises(ClientError) as raised:
        dynamodb.batch_write_item(RequestItems={RANGED: requests})

    assert raised.value.response["Error"] == {"Code": "ValidationException", "Message": DUPLICATES}
    assert _scan(dynamodb, RANGED) == []


def test_duplicate_keys_pass_without_the_fix(dynamodb: Any) -> None:
    with moto_fixes.reverted("dynamodb_batch_writes"):
        dynamodb.batch_write_item(
            RequestItems={
                RANGED: [
                    {"PutRequest": {"Item": {**ITEMS[1], "price": {"N": "1"}}}},
                    {"PutRequest": {"Item": ITEMS[1]}},
                ]
            }
        )

    assert len(_scan(dynamodb, RANGED)) == 1  # moto compares whole items: one key written twice


def test_tables_with_streams_or_indexes_take_motos_path(dynamodb: Any, moto_puts: list[str]) -> None:
    _create(
        dynamodb,
        "indexed",
        ranged=False,
        definitions=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    _create(
        dynamodb,
        "streamed",
        ranged=False,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    item = {"pk": {"S": "x"}, "g": {"S": "y"}}

    for table in ("indexed", "streamed"):
        dynamodb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item}}]})
    capacity = dynamodb.batch_write_item(
        RequestItems={RANGED: [{"PutRequest": {"Item": ITEMS[1]}}]}, ReturnConsumedCapacity="TOTAL"
    )

    assert moto_puts == ["indexed", "streamed", RANGED]
    assert capacity["ConsumedCapacity"][0]["TableName"] == RANGED
    assert dynamodb.query(
        TableName="indexed",
        IndexName="by_g",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "y"}},
    )["Items"] == [item]
