"""Serving writes against the emulated DynamoDB: 100,000 items cost at most 4,100 BatchWriteItem requests.

It takes ~10-30 s (moto handles each request in Python), so it is an emulator test, not a unit test.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sluice.local.emulator import Emulator
from sluice_lib.serving import write_items

pytestmark = pytest.mark.emulator


class CountingRequests:
    """The emulated DynamoDB client, counting BatchWriteItem requests and their sizes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lock = threading.Lock()
        self.sizes: list[int] = []

    def batch_write_item(self, **kwargs: Any) -> Any:
        with self.lock:
            self.sizes.append(sum(len(writes) for writes in kwargs["RequestItems"].values()))
        return self.inner.batch_write_item(**kwargs)


def test_write_items_100000_serving_items_to_the_emulated_table_take_at_most_4100_requests():
    items = [
        {"pk": {"S": f"offers#{10000000 + i}"}, "sk": {"S": f"{100000000000 + i}"}, "risk": {"S": "low"}}
        for i in range(100_000)
    ]
    with Emulator() as emu:
        dynamodb = CountingRequests(emu.client("dynamodb"))
        table = emu.stack.serving_table

        requests = write_items(dynamodb, table, items)

        stored = emu.client("dynamodb").describe_table(TableName=table)["Table"]["ItemCount"]  # live in moto
        sample = emu.client("dynamodb").get_item(
            TableName=table, Key={"pk": {"S": "offers#10099999"}, "sk": {"S": "100000099999"}}
        )["Item"]

    assert len(dynamodb.sizes) <= 4_100
    assert requests == len(dynamodb.sizes)
    assert max(dynamodb.sizes) == 25
    assert sum(dynamodb.sizes) == 100_000  # moto processes every item: no retries were needed
    assert stored == 100_000
    assert sample["risk"] == {"S": "low"}
