"""moto correction ``dynamodb_atomic_item_writes``: of writers racing a conditional PutItem on one item, exactly
one passes ``attribute_not_exists(pk)``, as on AWS."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models.table import Table

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

WRITERS = 6


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName="runs",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def _race(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """WRITERS threads put `lease` under attribute_not_exists(pk); moto's read of the current item is slowed to
    widen the window between that read and the store. Returns the writers whose put passed."""
    read = Table.get_item

    def slow_get_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        current = read(self, *args, **kwargs)
        time.sleep(0.02)  # the put has read the item and not yet checked the condition and stored
        return current

    monkeypatch.setattr(Table, "get_item", slow_get_item)
    passed: list[str] = []
    start = threading.Barrier(WRITERS)

    def writer(name: str) -> None:
        start.wait()
        try:
            client.put_item(
                TableName="runs",
                Item={"pk": {"S": "lease"}, "holder": {"S": name}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            passed.append(name)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return passed


def test_racing_conditional_puts_let_exactly_one_through(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    passed = _race(dynamodb, monkeypatch)

    assert len(passed) == 1
    held = dynamodb.get_item(TableName="runs", Key={"pk": {"S": "lease"}})["Item"]["holder"]["S"]
    assert held == passed[0]


def test_racing_conditional_puts_pass_twice_without_the_fix(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with moto_fixes.reverted("dynamodb_atomic_item_writes"):
        passed = _race(dynamodb, monkeypatch)

    assert len(passed) > 1
