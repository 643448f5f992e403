"""moto stores a BatchWriteItem's puts one PutItem at a time and checks its duplicates by whole item.

moto: ``DynamoHandler.batch_write_item`` validates each put, then runs every one through
``DynamoDBBackend.put_item`` and ``Table.put_item``: a table lookup, a read of the current item (for
conditions and streams a batch write cannot have), and a recursive walk of every attribute, then the response
through the shape serializer. With the other corrections applied this was still about half of the CPU of
Load's serving writes (``bench/results/profile-1m.md``). Its duplicate check compares whole items (two puts of
one key with different attributes pass) with a quadratic list scan.
AWS: a BatchWriteItem is validated as a whole before any item is written; a request naming one key twice
(two puts, or a put and a delete) is refused with ``ValidationException`` "Provided list of item keys
contains duplicates"; the response of a batch with nothing unprocessed is ``{"UnprocessedItems": {}}``
(``ConsumedCapacity`` only when asked for).
Fix: a batch of puts and deletes into tables without streams or secondary indexes, with no
``ReturnConsumedCapacity`` or ``ReturnItemCollectionMetrics``, is checked whole first: every put with moto's
own checks and errors (key attributes present and of their declared type, key sizes, attribute values, the
item size), then duplicate keys. Only then is it stored: each put as the item ``Table.put_item`` would store
(``dynamodb_compact_items``), the deletes through moto's ``delete_item``, all under the backend's write lock
(``dynamodb_atomic_item_writes``), so an invalid batch writes nothing (moto's path wrote the puts before the
bad one). Any other batch (an empty key attribute, a delete whose key is not plain) goes through moto's path
as before.

Regression tests:
``tests/statemachine/test_moto_fixes/test_dynamodb_batch_writes.py::test_batch_writes_store_what_moto_stores``,
``tests/statemachine/test_moto_fixes/test_dynamodb_batch_writes.py::test_invalid_items_fail_as_moto_fails_and_write_nothing``,
``tests/statemachine/test_moto_fixes/test_dynamodb_batch_writes.py::test_duplicate_keys_are_refused``,
``tests/statemachine/test_moto_fixes/test_dynamodb_batch_writes.py::test_duplicate_keys_pass_without_the_fix``,
``tests/statemachine/test_moto_fixes/test_dynamodb_batch_writes.py::test_tables_with_streams_or_indexes_take_motos_path``.
"""

from __future__ import annotations

from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.dynamodb.exceptions import InvalidAttributeTypeError, MockValidationException
from moto.dynamodb.models import table as moto_table
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.responses import DynamoHandler, DynamoResult

from sluice.local.moto_fixes._patch import Patch
from sluice.local.moto_fixes.dynamodb_atomic_item_writes import write_lock

_moto_batch_write_item = DynamoHandler.batch_write_item
_KEY_TYPES = frozenset({"S", "N", "B"})
DUPLICATES = "Provided list of item keys contains duplicates"


class _MotoPath(Exception):
    """The batch is left to moto's own path (which raises moto's error for an invalid one)."""


def _plain_valid(table: moto_table.Table, item: dict[str, Any]) -> None:
    """Table._validate_item_types for an item, with its flat strings, booleans and numbers checked inline."""
    for name, value in item.items():
        if not isinstance(value, dict) or len(value) != 1:
            raise _MotoPath
        ((kind, data),) = value.items()
        if (kind == "S" and type(data) is str) or (kind == "BOOL" and type(data) is bool):
            continue
        if kind == "N" and type(data) is str:
            table._validate_number_type(data)  # raises moto's error for a bad number
            continue
        table._validate_item_types({name: value})


def _key(
    table: moto_table.Table, attrs: dict[str, Any], *, put: bool
) -> tuple[DynamoType, DynamoType | None]:
    """The hash and range key values of a put's item or a delete's key, checked as moto's put_item checks
    them (its errors); a delete's key that is not plainly valid is left to moto (_MotoPath)."""
    values: list[DynamoType | None] = []
    for name, declared in (
        (table.hash_key_attr, table.hash_key_type),
        (table.range_key_attr, table.range_key_type),
    ):
        if name is None:
            values.append(None)
            continue
        value = attrs.get(name)
        if not isinstance(value, dict) or len(value) != 1:
            if put and value is None:
                raise MockValidationException(
                    f"One or more parameter values were invalid: Missing the key {name} in the item"
                )
            raise _MotoPath
        ((kind, data),) = value.items()
        if kind != declared or kind not in _KEY_TYPES or not isinstance(data, str | bytes):
            if put and kind != declared:
                raise InvalidAttributeTypeError(name, expected_type=declared, actual_type=kind)
            raise _MotoPath
        values.append(DynamoType(value))
    table._validate_key_sizes(attrs)
    return values[0], values[1]  # type: ignore[return-value]


def _empty_key(table: moto_table.Table, attrs: dict[str, Any]) -> bool:
    """Whether a key attribute of the item is an empty string or binary (checked first, as moto does)."""
    return any(
        isinstance(value := attrs.get(name), dict) and any(data in ("", b"") for data in value.values())
        for name in table.attribute_keys
    )


def _plan(handler: Any) -> tuple[list[tuple[Any, Item]], list[tuple[str, dict[str, Any]]]]:
    """The batch's puts (table, the item to store) and deletes (table name, key), every one checked before
    anything is written, raising the error moto's path raises first; or _MotoPath."""
    body = handler.body
    for option in ("ReturnConsumedCapacity", "ReturnItemCollectionMetrics"):
        if body.get(option, "NONE") != "NONE":
            raise _MotoPath
    tables = {name: handler.dynamodb_backend.get_table(name) for name in body["RequestItems"]}
    if any(
        table.stream_shard is not None or table.global_indexes or table.indexes for table in tables.values()
    ):
        raise _MotoPath
    for name, requests in body["RequestItems"].items():  # moto's handler checks empty keys first
        for request in requests:
            put = request.get("PutRequest") if isinstance(request, dict) else None
            if isinstance(put, dict) and _empty_key(tables[name], put.get("Item") or {}):
                raise _MotoPath  # moto's path raises before it writes anything
    # What Table.put_item stores: a compact item while dynamodb_compact_items is applied (it checks the size).
    stored = getattr(moto_table, "_sluice_compact_item", Item)
    puts: list[tuple[Any, Item]] = []
    deletes: list[tuple[str, dict[str, Any]]] = []
    seen: set[tuple[str, DynamoType, DynamoType | None]] = set()
    failure: JsonRESTError | None = None  # moto checks duplicates before any item: raised after them
    for name, requests in body["RequestItems"].items():
        table = tables[name]
        for request in requests:
            if not isinstance(request, dict) or len(request) != 1:
                raise _MotoPath
            ((kind, detail),) = request.items()
            if kind == "PutRequest":
                attrs = detail["Item"]
                try:
                    hash_value, range_value = _key(table, attrs, put=True)
                    _plain_valid(table, attrs)
                    puts.append((table, stored(hash_value, range_value, attrs)))
                except JsonRESTError as error:
                    failure = failure or error
                    continue
            elif kind == "DeleteRequest":
                key = detail["Key"]
                if set(key) != set(table.attribute_keys):
                    raise _MotoPath
                hash_value, range_value = _key(table, key, put=False)
                deletes.append((name, key))
            else:
                raise _MotoPath
            identity = (table.name, hash_value, range_value)
            if identity in seen:
                raise MockValidationException(DUPLICATES)
            seen.add(identity)
    if failure is not None:
        raise failure
    return puts, deletes


def batch_write_item(self: Any) -> ActionResult:
    """DynamoHandler.batch_write_item: plain batches validated whole, then stored directly."""
    try:
        puts, deletes = _plan(self)
    except _MotoPath:
        return _moto_batch_write_item(self)
    backend = self.dynamodb_backend
    with write_lock(backend):
        for table, item in puts:
            if item.range_key is None:
                table.items[item.hash_key] = item
            else:
                table.items[item.hash_key][item.range_key] = item
        for table_name, key in deletes:
            backend.delete_item(table_name, key)
    return DynamoResult({"UnprocessedItems": {}})


def patches() -> list[Patch]:
    """DynamoHandler.batch_write_item stores plain batches directly."""
    return [Patch(DynamoHandler, "batch_write_item", batch_write_item)]
