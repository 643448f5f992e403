"""moto re-sorts the whole table for every page of a Scan and walks it from the first item to the start key.

moto: ``Table.scan`` starts each page with ``self.all_items()`` (every item of the table, sorted) and then, for a
page after the first, compares items one by one with ``ExclusiveStartKey`` until it passes it (each comparison
reads the item's attributes, which decodes a compact item, sluice's ``dynamodb_compact_items``). Reading a table
of n items in pages of p items costs about n²/p comparisons and n/p sorts: the export of a 1,000,000-item serving
table after ``sluice run`` took far longer than the run itself.
AWS: each page continues after ``ExclusiveStartKey`` at a cost that grows with the page, not the table. A
paginated Scan is not a snapshot: items written while it runs may or may not be returned.
Fix: the first page of a Scan keeps the sorted order of the table's keys (a list of key pairs, not items) on the
table; a later page finds its start key in that order by binary search and reads the items after it from the
table as they are then (an item deleted since is left out, an overwritten one is returned as it now is, one
added since is not returned: all within AWS's guarantees). A page whose start key comes without a kept order (a
scan started before the fix was installed) takes moto's path. Scans of an index are left to moto.

Regression tests:
``tests/statemachine/test_moto_fixes/test_dynamodb_scan_resume.py::test_pages_return_every_item_once_in_order``,
``tests/statemachine/test_moto_fixes/test_dynamodb_scan_resume.py::test_writes_between_pages_are_seen_as_aws_allows``,
``tests/statemachine/test_moto_fixes/test_dynamodb_scan_resume.py::test_later_pages_do_not_walk_the_table``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import Any

from moto.dynamodb.models import table as moto_table
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from sluice.local.moto_fixes._patch import Patch, rewritten
from sluice.local.moto_fixes.dynamodb_item_store import ItemStore

_ORDER = "_sluice_scan_order"  # the Table attribute holding the sorted keys of its latest first page

Key = tuple[DynamoType, DynamoType | None]


def _sort_key(key: Key) -> Any:
    hash_key, range_key = key
    return (hash_key, range_key) if range_key else hash_key  # moto's all_items() order


def _live(table: moto_table.Table, keys: list[Key], start: int) -> Iterator[Item]:
    """The items of `keys[start:]` as the table holds them now; keys deleted since are skipped."""
    store = table.items if isinstance(table.items, ItemStore) else None
    for index in range(start, len(keys)):
        hash_key, range_key = keys[index]
        if store is not None:  # dynamodb_item_store: read without keeping the item in memory
            if (item := store.peek(hash_key, range_key)) is not None:
                yield item
            continue
        stored: Any = table.items.get(hash_key)  # .get: the table's defaultdict would add an empty entry
        if range_key is not None and stored is not None:
            stored = stored.get(range_key)  # {range key: item} under a hash key
        if stored is not None:
            yield stored


def scan_items(
    table: moto_table.Table, exclusive_start_key: dict[str, Any] | None, all_items: Callable[[], list[Item]]
) -> Iterator[Item] | list[Item]:
    """What Table.scan iterates: from the start, a new kept order; after a start key, the kept order from it."""
    if exclusive_start_key is None:
        items = all_items()
        setattr(table, _ORDER, [(item.hash_key, item.range_key) for item in items])
        return items
    keys: list[Key] | None = getattr(table, _ORDER, None)
    if keys is None:
        return all_items()
    range_value = exclusive_start_key.get(table.range_key_attr) if table.range_key_attr else None
    start: Key = (
        DynamoType(exclusive_start_key[table.hash_key_attr]),
        DynamoType(range_value) if range_value is not None else None,
    )
    return _live(table, keys, bisect.bisect_right(keys, _sort_key(start), key=_sort_key))


def patches() -> list[Patch]:
    """Table.scan of the table itself iterates scan_items()."""
    scan = rewritten(
        moto_table.Table.scan,
        "items = self.all_items()",
        "items = _sluice_scan_items(self, exclusive_start_key, self.all_items)",
    )
    return [
        Patch(moto_table, "_sluice_scan_items", scan_items),
        Patch(moto_table.Table, "scan", scan),
    ]
