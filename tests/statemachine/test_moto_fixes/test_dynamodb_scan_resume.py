"""moto correction ``dynamodb_scan_resume``: a paginated Scan returns every item once, in moto's order, sees
writes between pages as AWS allows, and a later page no longer walks the table up to its start key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import table as moto_table

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator


def _create(client: Any, name: str, *, range_key: bool) -> None:
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attributes.append({"AttributeName": "sk", "AttributeType": "N"})
    client.create_table(
        TableName=name, KeySchema=schema, AttributeDefinitions=attributes, BillingMode="PAY_PER_REQUEST"
    )


def _fill(client: Any, name: str, keys: list[tuple[str, int]]) -> None:
    for pk, sk in keys:
        client.put_item(
            TableName=name, Item={"pk": {"S": pk}, "sk": {"N": str(sk)}, "v": {"S": f"{pk}/{sk}"}}
        )


def _pages(client: Any, name: str, limit: int) -> list[list[dict[str, Any]]]:
    pages = []
    for page in client.get_paginator("scan").paginate(TableName=name, PaginationConfig={"PageSize": limit}):
        pages.append(page["Items"])
    return pages


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    moto_fixes.apply()
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


KEYS = [(f"p{i % 7}", i) for i in range(60)]  # hash keys repeat: the range key orders within one


@pytest.mark.parametrize("range_key", [True, False])
def test_pages_return_every_item_once_in_order(dynamodb: Any, range_key: bool) -> None:
    _create(dynamodb, "t", range_key=range_key)
    keys = KEYS if range_key else [(f"p{i:03d}", 0) for i in range(60)]
    _fill(dynamodb, "t", keys)

    fixed = [i["v"]["S"] for page in _pages(dynamodb, "t", 7) for i in page]
    with moto_fixes.reverted("dynamodb_scan_resume"):
        moto = [i["v"]["S"] for page in _pages(dynamodb, "t", 7) for i in page]

    assert fixed == moto  # moto's order, page after page
    assert sorted(fixed) == sorted(f"{pk}/{sk}" for pk, sk in keys)  # each item once


def test_writes_between_pages_are_seen_as_aws_allows(dynamodb: Any) -> None:
    _create(dynamodb, "t", range_key=True)
    _fill(dynamodb, "t", KEYS)
    first = dynamodb.scan(TableName="t", Limit=10)
    last_seen = first["LastEvaluatedKey"]
    ahead = [i for i in _pages(dynamodb, "t", 100)[0] if i["pk"] != last_seen["pk"]][-1]  # a key not yet read
    dynamodb.delete_item(TableName="t", Key={"pk": ahead["pk"], "sk": ahead["sk"]})
    overwritten = {"pk": {"S": "p5"}, "sk": {"N": "54"}, "v": {"S": "changed"}}  # read after the first page
    dynamodb.put_item(TableName="t", Item=overwritten)

    rest = []
    start = last_seen
    while start:
        page = dynamodb.scan(TableName="t", Limit=10, ExclusiveStartKey=start)
        rest += page["Items"]
        start = page.get("LastEvaluatedKey")

    values = [i["v"]["S"] for i in first["Items"] + rest]
    assert len(values) == len(KEYS) - 1 == len(set(values))  # the deleted item is gone, none twice
    assert ahead["v"]["S"] not in values
    assert "changed" in values  # an overwritten item is returned as it now is


def test_later_pages_do_not_walk_the_table(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _create(dynamodb, "t", range_key=True)
    _fill(dynamodb, "t", KEYS)
    compared = []
    walk = moto_table.Table._item_comes_before_dct

    def counting(self: Any, *args: Any, **kwargs: Any) -> bool:
        compared.append(1)
        return walk(self, *args, **kwargs)

    monkeypatch.setattr(moto_table.Table, "_item_comes_before_dct", counting)
    pages = _pages(dynamodb, "t", 5)
    assert len(pages) == 12
    assert len(compared) == 11  # one comparison per later page: its first item is past the start key

    compared.clear()
    with moto_fixes.reverted("dynamodb_scan_resume"):
        _pages(dynamodb, "t", 5)
    assert len(compared) > 5 * 11 * 5  # without the fix each page walks every earlier item again
