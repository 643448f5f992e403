"""moto builds every stored DynamoDB item as a dict of objects, checking the 400 KB limit once per attribute.

moto: ``Table.put_item`` makes an ``Item`` whose ``attrs`` is a ``LimitedSizeDict`` of ``DynamoType`` objects;
each attribute's insertion sums the sizes of all attributes inserted before it, so one item costs O(n²) in
its attribute count, and the item stays in memory as some 2.3 KB of Python objects. In a py-spy profile
(``--gil``) of Load's serving writes, ``Item.__init__`` was 35% of the CPU, and a 1,000,000-row run held
9.9 GB (``bench/results/profile-1m.md``).
AWS: an item of at most 400 KB is stored as given; a larger one fails the request (``ValidationException``,
"Item size has exceeded the maximum allowed size").
Fix: the stored item keeps its attributes as the request's compact JSON (UTF-8 bytes) and decodes them
into moto's ``DynamoType`` objects the first time anything reads them (a GetItem, Query, Scan, a condition,
an update), keeping the decoded form from then on, so in-place updates persist as before. The size limit
is checked once per item: the JSON text is never smaller than the item's DynamoDB size, so an item whose
JSON fits in moto's limit is within it, and a larger one goes through moto's own check. Items moto's
parser gives binary values stay moto's ``Item``. Compact items are not added to moto's list of every model
instance ever made (``instances_tracked``, for its dashboard), which kept overwritten items and every Scan's
copies alive. The JSON is not compressed: ``zlib.compress`` of a ~380-byte item kept ~160 bytes of it but cost
a fifth of the write path's CPU (it sets up a 256 KB deflate state per call; ``bench/results/profile-1m.md``).

Regression tests:
``tests/statemachine/test_moto_fixes/test_dynamodb_compact_items.py::test_items_read_back_as_written``,
``tests/statemachine/test_moto_fixes/test_dynamodb_compact_items.py::test_conditional_writes_and_updates_see_compact_items``,
``tests/statemachine/test_moto_fixes/test_dynamodb_compact_items.py::test_item_over_400_kb_is_rejected``,
``tests/statemachine/test_moto_fixes/test_dynamodb_compact_items.py::test_stored_items_are_moto_items_without_the_fix``.
"""

from __future__ import annotations

import json
from typing import Any

from moto.dynamodb.models import table as moto_table
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

from sluice.local.moto_fixes._patch import Patch, rewritten

SIZE_LIMIT = 405_000  # moto's limit (LimitedSizeDict): AWS's 400 KB, measured between 409 and 410 KB
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class CompactItem(Item):
    """An Item whose attributes are held as compact JSON until first read."""

    def __new__(cls, *args: Any, **kwargs: Any) -> CompactItem:
        # moto's BaseModel appends every instance to a class-wide list for its dashboard, so no item (an
        # overwritten one, a Scan's copies) is ever freed; stored items are reachable from their table.
        return object.__new__(cls)

    def __init__(self, hash_key: DynamoType, range_key: DynamoType | None, blob: bytes) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        self._blob: bytes | None = blob
        self._attrs: LimitedSizeDict | None = None

    @property
    def attrs(self) -> LimitedSizeDict:
        if self._attrs is None:
            decoded = LimitedSizeDict()
            # Checked for size when written: bypass LimitedSizeDict's per-insert check, as Item.__deepcopy__ does.
            for key, value in json.loads(self._blob or b"{}").items():
                dict.__setitem__(decoded, key, DynamoType(value))
            self._attrs, self._blob = decoded, None
        return self._attrs

    @attrs.setter
    def attrs(self, value: LimitedSizeDict) -> None:
        self._attrs, self._blob = value, None


def compact_item(hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> Item:
    """What Table.put_item stores for a request's attributes."""
    try:
        text = _ENCODER.encode(attrs).encode("utf-8")
    except (TypeError, ValueError):  # binary values (bytes): moto's own item
        return Item(hash_key, range_key, attrs)
    if len(text) > SIZE_LIMIT:
        return Item(hash_key, range_key, attrs)  # moto's exact size check (ItemSizeTooLarge past the limit)
    return CompactItem(hash_key, range_key, text)


def patches() -> list[Patch]:
    """Table.put_item stores compact items."""
    put_item = rewritten(
        moto_table.Table.put_item,
        "item = Item(hash_value, range_value, item_attrs)",
        "item = _sluice_compact_item(hash_value, range_value, item_attrs)",
    )
    return [
        Patch(moto_table, "_sluice_compact_item", compact_item),
        Patch(moto_table.Table, "put_item", put_item),
    ]
