"""moto correction ``dynamodb_item_store``: a string-keyed table keeps its compact items in SQLite on disk, and
every DynamoDB API reads, conditions on, updates and deletes them as moto's in-memory table did."""

from __future__ import annotations

import copy
import gc
import sqlite3
import threading
import tracemalloc
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from sluice.local import moto_fixes
from sluice.local.moto_fixes import dynamodb_item_store
from sluice.local.moto_fixes.dynamodb_compact_items import compact_item
from sluice.local.moto_fixes.dynamodb_item_store import ItemStore

pytestmark = pytest.mark.emulator

TABLE = "serving"
FLUSH_AT = 4  # small batches, so a few items already reach the disk


def _item(n: int, account: str = "a1") -> dict[str, Any]:
    return {
        "pk": {"S": f"offers#{account}#o{n}"},
        "sk": {"S": "-"},
        "title": {"S": f"Zoë's café {n}"},
        "price": {"N": f"{n}.50"},
        "tags": {"L": [{"S": "x"}, {"N": str(n)}]},
        "dims": {"M": {"w": {"N": "3"}}},
    }


def _key(n: int, account: str = "a1") -> dict[str, Any]:
    item = _item(n, account)
    return {"pk": item["pk"], "sk": item["sk"]}


def _create(client: Any, name: str, *keys: tuple[str, str, str]) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": attr, "KeyType": kind} for attr, kind, _ in keys],
        AttributeDefinitions=[{"AttributeName": attr, "AttributeType": type_} for attr, _, type_ in keys],
        BillingMode="PAY_PER_REQUEST",
    )


def _table(name: str = TABLE) -> Any:
    return dynamodb_backends["123456789012"]["us-east-1"].tables[name]


def _on_disk(store: ItemStore) -> int:
    disk = store._on_disk()  # once the batch being written is in the file
    return 0 if disk is None else int(disk.db.execute("SELECT COUNT(*) FROM items").fetchone()[0])


def _batch_put(client: Any, items: list[dict[str, Any]], table: str = TABLE) -> None:
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        assert client.batch_write_item(RequestItems={table: requests})["UnprocessedItems"] == {}


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(dynamodb_item_store, "FLUSH_AT", FLUSH_AT)
    moto_fixes.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _create(client, TABLE, ("pk", "HASH", "S"), ("sk", "RANGE", "S"))
        yield client


def test_items_written_in_batches_read_back_through_every_api(dynamodb: Any) -> None:
    items = [_item(n) for n in range(10)] + [_item(n, "a2") for n in range(3)]
    _batch_put(dynamodb, items)
    dynamodb.put_item(TableName=TABLE, Item=_item(99))
    items.append(_item(99))

    store = _table().items
    assert isinstance(store, ItemStore)
    assert _on_disk(store) >= 12  # every full batch of 4 went to the file
    assert dynamodb.describe_table(TableName=TABLE)["Table"]["ItemCount"] == 14

    scanned: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=TABLE, PaginationConfig={"PageSize": 3}):
        scanned.extend(page["Items"])
    assert sorted(scanned, key=lambda i: i["pk"]["S"]) == sorted(items, key=lambda i: i["pk"]["S"])
    assert len(store._hot) == 0  # a Scan read the file without keeping its items in memory

    queried = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "offers#a2#o1"}},
    )["Items"]
    assert queried == [_item(1, "a2")]

    for n in (0, 5, 99):
        assert dynamodb.get_item(TableName=TABLE, Key=_key(n))["Item"] == _item(n)
    got = dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": [_key(1), _key(2, "a2"), _key(7, "zz")]}})
    assert sorted(got["Responses"][TABLE], key=lambda i: i["pk"]["S"]) == [_item(1), _item(2, "a2")]
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key=_key(7, "zz"))
    assert dynamodb.describe_table(TableName=TABLE)["Table"]["ItemCount"] == 14

    # A batch overwrite of items on disk, in memory and waiting in the buffer: the new versions win.
    newer = [{**_item(n), "title": {"S": "new"}} for n in (0, 3, 99)]
    _batch_put(dynamodb, newer)
    for item in newer:
        assert dynamodb.get_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})["Item"] == item
    assert dynamodb.describe_table(TableName=TABLE)["Table"]["ItemCount"] == 14


def test_updates_conditions_and_deletes_see_stored_items(dynamodb: Any) -> None:
    _batch_put(dynamodb, [_item(n) for n in range(12)])
    store = _table().items
    assert _on_disk(store) == 12

    with pytest.raises(ClientError) as failed:
        dynamodb.put_item(TableName=TABLE, Item=_item(4), ConditionExpression="attribute_not_exists(pk)")
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"

    for _ in range(2):  # the second update sees the first one's change, made in place
        dynamodb.update_item(
            TableName=TABLE,
            Key=_key(5),
            UpdateExpression="ADD seen :one SET price = :p",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":one": {"N": "1"}, ":p": {"N": "9"}},
        )
    updated = dynamodb.get_item(TableName=TABLE, Key=_key(5))["Item"]
    assert updated == {**_item(5), "seen": {"N": "2"}, "price": {"N": "9"}}
    scanned = {i["pk"]["S"]: i for i in dynamodb.scan(TableName=TABLE)["Items"]}
    assert scanned["offers#a1#o5"] == updated

    old = dynamodb.delete_item(TableName=TABLE, Key=_key(6), ReturnValues="ALL_OLD")["Attributes"]
    assert old == _item(6)
    deleted = dynamodb.batch_write_item(
        RequestItems={TABLE: [{"DeleteRequest": {"Key": _key(n)}} for n in (7, 8, 40)]}
    )
    assert deleted["UnprocessedItems"] == {}
    for n in (6, 7, 8):
        assert "Item" not in dynamodb.get_item(TableName=TABLE, Key=_key(n))
    with pytest.raises(ClientError) as failed:
        dynamodb.delete_item(
            TableName=TABLE,
            Key=_key(9),
            ConditionExpression="price = :zero",
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert dynamodb.get_item(TableName=TABLE, Key=_key(9))["Item"] == _item(9)
    assert dynamodb.describe_table(TableName=TABLE)["Table"]["ItemCount"] == 9

    remaining = dynamodb.scan(TableName=TABLE)["Items"]
    backup = dynamodb.create_backup(TableName=TABLE, BackupName="before-restore")["BackupDetails"][
        "BackupArn"
    ]
    dynamodb.restore_table_from_backup(TargetTableName="restored", BackupArn=backup)
    restored = dynamodb.scan(TableName="restored")["Items"]
    assert len(restored) == 9
    assert sorted(restored, key=lambda i: i["pk"]["S"]) == sorted(remaining, key=lambda i: i["pk"]["S"])


def test_hash_only_and_number_keyed_tables(dynamodb: Any) -> None:
    _create(dynamodb, "leases", ("pk", "HASH", "S"))
    leases = [{"pk": {"S": f"lease#{n}"}, "holder": {"S": "run-1"}} for n in range(9)]
    _batch_put(dynamodb, leases, "leases")
    store = _table("leases").items
    assert isinstance(store, ItemStore)
    assert _on_disk(store) == 8
    assert dynamodb.get_item(TableName="leases", Key={"pk": {"S": "lease#3"}})["Item"] == leases[3]
    dynamodb.delete_item(TableName="leases", Key={"pk": {"S": "lease#8"}})
    assert sorted(dynamodb.scan(TableName="leases")["Items"], key=lambda i: i["pk"]["S"]) == leases[:8]
    assert dynamodb.describe_table(TableName="leases")["Table"]["ItemCount"] == 8

    # Numbers compare by value (1 = 1.0): such a table keeps moto's dict.
    _create(dynamodb, "numbered", ("n", "HASH", "N"))
    assert isinstance(_table("numbered").items, defaultdict)
    dynamodb.put_item(TableName="numbered", Item={"n": {"N": "1"}, "v": {"S": "one"}})
    assert dynamodb.get_item(TableName="numbered", Key={"n": {"N": "1.0"}})["Item"]["v"] == {"S": "one"}


def test_stored_items_leave_the_heap(dynamodb: Any) -> None:
    table = _table()
    count = 20_000
    items = [
        compact_item(DynamoType(i["pk"]), DynamoType(i["sk"]), i)
        for i in (_item(n, f"acct{n % 97}") for n in range(count))
    ]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for item in items:
            table.items[item.hash_key][item.range_key] = item
        del items, item
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    store = table.items
    assert _on_disk(store) == count
    assert len(table) == count
    assert kept < 200_000, f"{kept} bytes of Python objects kept for {count} stored items"
    directory = Path(store._disk.directory)
    assert (directory / "items.sqlite3").stat().st_size > count * 100
    clone = copy.deepcopy(store)
    assert clone.count() == count
    del clone
    gc.collect()
    store._disk.closed()
    assert not directory.exists()


def test_items_stay_in_memory_without_the_fix(dynamodb: Any) -> None:
    with moto_fixes.reverted("dynamodb_item_store"):
        _create(dynamodb, "plain", ("pk", "HASH", "S"), ("sk", "RANGE", "S"))
        _batch_put(dynamodb, [_item(n) for n in range(10)], "plain")

        assert isinstance(_table("plain").items, defaultdict)
        assert len(_table("plain").items) == 10


def _compact(n: int) -> Any:
    item = _item(n)
    return compact_item(DynamoType(item["pk"]), DynamoType(item["sk"]), item)


def test_writes_go_on_while_a_batch_is_written_and_reads_wait_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamodb_item_store, "FLUSH_AT", FLUSH_AT)
    release, writing = threading.Event(), threading.Event()
    write = dynamodb_item_store._Disk._write

    def held_write(disk: Any, rows: Any) -> None:
        writing.set()
        assert release.wait(10)
        write(disk, rows)

    monkeypatch.setattr(dynamodb_item_store._Disk, "_write", held_write)
    store = ItemStore(ranged=True)
    items = [_compact(n) for n in range(6)]
    for item in items[:4]:  # a full batch: handed to the writer thread, which holds it
        store.put_item(item.hash_key.value, "-", item)
    assert writing.wait(10)
    for item in items[4:]:  # the writers go on meanwhile
        store.put_item(item.hash_key.value, "-", item)

    got: list[Any] = []
    reader = threading.Thread(target=lambda: got.append(store.get_item("offers#a1#o1", "-")))
    reader.start()
    reader.join(0.5)
    assert reader.is_alive()  # the item is in the batch being written: the read waits for it
    release.set()
    reader.join(10)

    assert [item.attrs for item in got] == [items[1].attrs]
    assert store.count() == 6
    assert _on_disk(store) == 5  # the batch of 4 less the item read back, and the 2 after it


def test_failed_batch_write_raises_at_the_next_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamodb_item_store, "FLUSH_AT", FLUSH_AT)

    def full_disk(disk: Any, rows: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(dynamodb_item_store._Disk, "_write", full_disk)
    store = ItemStore(ranged=True)
    for n in range(4):
        store.put_item(f"offers#a1#o{n}", "-", _compact(n))

    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        store.get_item("offers#a1#o9", "-")
