"""moto keeps every stored DynamoDB item in the process's memory, so a large table does not fit.

moto: ``Table.items`` is a dict ({hash key: item}, or {hash key: {range key: item}}) of Python objects. Even as
compact JSON (``dynamodb_compact_items``) an item costs about 1.1 KB of heap with its keys, its dicts and its
objects: the serving table of a 10,000,000-row run held some 11 GB, and the run peaked at 15.5 GB of this
machine's 24 GB (``bench/results/e2e-10m.md``).
AWS: a table's size is bounded by storage, not by a server's memory; items read back as written.
Fix: a table whose key attributes are strings keeps its items in an ``ItemStore``: a mapping with the interface
moto uses on ``Table.items`` that writes items still in compact form to an SQLite file on disk (one per table,
in a temporary directory removed with the table or when the process exits), in batches of 4,096 that a thread of
the table's own writes while the writers go on (one batch at a time; a read of the file waits for the batch in
flight), each batch one SQLite statement, so the GIL is released once a batch. An item read by its key
(GetItem, a condition, an update, a PutItem's look at the item it replaces) is taken off the disk and kept in
memory from then on, as moto keeps it, so an update made in place persists and the same object comes back.
Items that are not compact (binary values, or ones moto has decoded already) stay in memory. A Scan or Query
reads the disk's items as new objects each time, as moto's Scan returns copies. Tables keyed by a number or
binary attribute keep moto's dict: their keys compare by value (``1`` = ``1.0``), which SQLite text would not.

Regression tests:
``tests/statemachine/test_moto_fixes/test_dynamodb_item_store.py::test_items_written_in_batches_read_back_through_every_api``,
``tests/statemachine/test_moto_fixes/test_dynamodb_item_store.py::test_updates_conditions_and_deletes_see_stored_items``,
``tests/statemachine/test_moto_fixes/test_dynamodb_item_store.py::test_hash_only_and_number_keyed_tables``,
``tests/statemachine/test_moto_fixes/test_dynamodb_item_store.py::test_stored_items_leave_the_heap``,
``tests/statemachine/test_moto_fixes/test_dynamodb_item_store.py::test_items_stay_in_memory_without_the_fix``,
``tests/statemachine/test_moto_fixes/test_dynamodb_item_store.py::test_writes_go_on_while_a_batch_is_written_and_reads_wait_for_it``,
``tests/statemachine/test_moto_fixes/test_dynamodb_item_store.py::test_failed_batch_write_raises_at_the_next_read``.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

from moto.dynamodb.models import table as moto_table
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from sluice.local.moto_fixes._patch import Patch
from sluice.local.moto_fixes.dynamodb_compact_items import CompactItem

FLUSH_AT = 4096  # buffered writes per SQLite batch
_CACHE_KIB = 65536  # SQLite's page cache per table (64 MiB), the only part of the table kept in memory
_NO_RANGE = ""  # the range column of a hash-only table
_WRITER = "sluice-dynamodb-store"  # the name of the threads that write batches
_PRAGMAS = (
    # The file holds an emulated table for one process's life: nothing to recover after a crash.
    "journal_mode=OFF",
    "synchronous=OFF",
    "locking_mode=EXCLUSIVE",
    "temp_store=MEMORY",
    f"cache_size=-{_CACHE_KIB}",
)
# A whole batch in one statement: SQLite reads the rows from one JSON array and writes them without returning to
# Python, so the GIL is released once for the batch, not once per row (with eight writer threads waiting for it,
# each row would wait its turn). `WHERE true` lets the upsert clause follow a SELECT. json_extract, not `->>`
# (SQLite 3.38+): Pythons built on an older system SQLite (Ubuntu 22.04's 3.37) have JSON1 but not the operator.
_UPSERT_ALL = (
    "INSERT INTO items (h, r, blob) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
    "CAST(json_extract(value, '$[2]') AS BLOB) FROM json_each(?) "
    "WHERE true ON CONFLICT (h, r) DO UPDATE SET blob = excluded.blob"
)


def _spillable(item: Item) -> bool:
    """An item still in compact form: its JSON is all it holds."""
    return type(item) is CompactItem and cast(CompactItem, item)._blob is not None


class _Disk:
    """The SQLite file of one table: (hash, range, compact JSON) rows."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="sluice-dynamodb-")
        self.db = sqlite3.connect(
            Path(self.directory) / "items.sqlite3", isolation_level=None, check_same_thread=False
        )
        for pragma in _PRAGMAS:
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute(
            "CREATE TABLE items (h TEXT NOT NULL, r TEXT NOT NULL, blob BLOB NOT NULL, UNIQUE (h, r))"
        )
        # Batches are written by a thread of their own, on the other core while the writers go on.
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=_WRITER)
        self.closed = weakref.finalize(self, _Disk._remove, self.db, self.directory, self.writer)

    @staticmethod
    def _remove(db: sqlite3.Connection, directory: str, writer: ThreadPoolExecutor) -> None:
        # Called from the writer thread itself (the table dropped while it wrote), its last batch is done.
        writer.shutdown(wait=not threading.current_thread().name.startswith(_WRITER))
        db.close()
        shutil.rmtree(directory, ignore_errors=True)

    def write(self, rows: dict[tuple[str, str], bytes]) -> Future[None]:
        """Writes the rows (none sharing a key) in the writer thread; the caller waits for it before it next
        touches the file."""
        return self.writer.submit(self._write, rows)

    def _write(self, rows: dict[tuple[str, str], bytes]) -> None:
        self.db.execute(_UPSERT_ALL, (json.dumps([[h, r, blob.decode()] for (h, r), blob in rows.items()]),))

    def read(self, h: str, r: str) -> bytes | None:
        row = self.db.execute("SELECT blob FROM items WHERE h = ? AND r = ?", (h, r)).fetchone()
        return None if row is None else bytes(row[0])

    def take(self, h: str, r: str) -> bytes | None:
        """The row's JSON, removed from the file."""
        row = self.db.execute("SELECT rowid, blob FROM items WHERE h = ? AND r = ?", (h, r)).fetchone()
        if row is None:
            return None
        self.db.execute("DELETE FROM items WHERE rowid = ?", (row[0],))
        return bytes(row[1])

    def drop(self, h: str, r: str) -> None:
        self.db.execute("DELETE FROM items WHERE h = ? AND r = ?", (h, r))

    def rows(self, h: str | None = None) -> Iterator[tuple[str, str, bytes]]:
        query = "SELECT h, r, blob FROM items" + (" WHERE h = ?" if h is not None else "")
        yield from self.db.execute(query, () if h is None else (h,)).fetchall()

    def hashes(self) -> list[str]:
        return [h for (h,) in self.db.execute("SELECT DISTINCT h FROM items").fetchall()]

    def has_hash(self, h: str) -> bool:
        return self.db.execute("SELECT 1 FROM items WHERE h = ? LIMIT 1", (h,)).fetchone() is not None

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM items").fetchone()[0])


class ItemStore:
    """``Table.items`` of a string-keyed table: {hash: item} or {hash: {range: item}}, compact items on disk.

    Every item is in exactly one of: ``_hot`` (live objects, returned as they are), ``_pending`` (compact JSON
    waiting for the next batch to disk), the batch the writer thread is putting on disk (``_writing``; any
    access to the file waits for it first) or the disk. A pending item shadows a disk row of the same key until
    the batch overwrites it.
    """

    def __init__(self, ranged: bool) -> None:
        self.ranged = ranged
        self._hot: dict[str, dict[str, Item]] = {}
        self._pending: dict[tuple[str, str], bytes] = {}
        self._disk: _Disk | None = None
        self._writing: Future[None] | None = None  # the batch the writer thread is putting in the file
        self._lock = threading.RLock()

    # -- one item, by its key texts --------------------------------------------------------------------------

    def _item(self, h: str, r: str, blob: bytes) -> CompactItem:
        return CompactItem(DynamoType({"S": h}), DynamoType({"S": r}) if self.ranged else None, blob)

    def _on_disk(self) -> _Disk | None:
        """The file, once the batch being written is in it: every read or change of the file waits for that."""
        if self._writing is not None:
            writing, self._writing = self._writing, None
            writing.result()  # a failed write raises here
        return self._disk

    def get_item(self, h: str, r: str) -> Item | None:
        """The stored item, kept in memory from now on (callers update items in place)."""
        with self._lock:
            item = self._hot.get(h, {}).get(r)
            if item is not None:
                return item
            blob = self._pending.pop((h, r), None)
            disk = self._on_disk()
            if blob is not None:
                if disk is not None:
                    disk.drop(h, r)
            elif disk is not None:
                blob = disk.take(h, r)
            if blob is None:
                return None
            item = self._item(h, r, blob)
            self._hot.setdefault(h, {})[r] = item
            return item

    def peek(self, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
        """The stored item, left where it is: a new object for one on disk (a Scan's page after the first)."""
        h, r = _text(hash_key), _text(range_key) if self.ranged else _NO_RANGE
        if h is None or r is None:
            return None
        with self._lock:
            item = self._hot.get(h, {}).get(r)
            if item is not None:
                return item
            blob = self._pending.get((h, r))
            if blob is None and (disk := self._on_disk()) is not None:
                blob = disk.read(h, r)
            return None if blob is None else self._item(h, r, blob)

    def put_item(self, h: str, r: str, item: Item) -> None:
        with self._lock:
            group = self._hot.get(h)
            if group is not None and group.pop(r, None) is not None and not group:
                del self._hot[h]
            if _spillable(item):
                self._pending[(h, r)] = item._blob  # type: ignore[attr-defined]
                if len(self._pending) >= FLUSH_AT:
                    self._flush(wait=False)
                return
            self._pending.pop((h, r), None)
            if (disk := self._on_disk()) is not None:
                disk.drop(h, r)
            self._hot.setdefault(h, {})[r] = item

    def delete_item(self, h: str, r: str) -> Item | None:
        with self._lock:
            group = self._hot.get(h)
            if group is not None and r in group:
                item = group.pop(r)
                if not group:
                    del self._hot[h]
                return item
            blob = self._pending.pop((h, r), None)
            disk = self._on_disk()
            if blob is not None:
                if disk is not None:
                    disk.drop(h, r)
            elif disk is not None:
                blob = disk.take(h, r)
            return None if blob is None else self._item(h, r, blob)

    def _flush(self, *, wait: bool = True) -> None:
        """Moves the pending items to the file: before returning, or (`wait=False`) in the writer thread while
        the caller goes on. One batch is written at a time: the next waits for the one before."""
        disk = self._on_disk()
        if self._pending:
            if disk is None:
                disk = self._disk = _Disk()
            self._writing = disk.write(self._pending)
            self._pending = {}  # a new dict: the writer thread reads the old one
        if wait:
            self._on_disk()

    # -- the whole table ---------------------------------------------------------------------------------------

    def all_items(self, h: str | None = None) -> list[Item]:
        """Every item (of one hash key): the disk's as new objects, the others as stored."""
        with self._lock:
            self._flush()
            items: list[Item] = [] if self._disk is None else [self._item(*row) for row in self._disk.rows(h)]
            groups = self._hot.values() if h is None else [self._hot.get(h, {})]
            for group in groups:
                items.extend(group.values())
            return items

    def count(self, h: str | None = None) -> int:
        if h is not None:
            return len(self.all_items(h))
        with self._lock:
            self._flush()
            on_disk = 0 if self._disk is None else self._disk.count()
            return on_disk + sum(len(group) for group in self._hot.values())

    def hash_keys(self) -> list[str]:
        with self._lock:
            self._flush()
            on_disk = [] if self._disk is None else self._disk.hashes()
            return list(dict.fromkeys([*on_disk, *self._hot]))

    def has_hash(self, h: str) -> bool:
        with self._lock:
            if h in self._hot or any(key == h for key, _ in self._pending):
                return True
            disk = self._on_disk()
            return disk is not None and disk.has_hash(h)

    # -- the mapping moto uses ---------------------------------------------------------------------------------

    def __getitem__(self, hash_key: DynamoType) -> Any:
        if self.ranged:
            return _Range(self, hash_key)  # moto's defaultdict(dict): never a KeyError
        h = _text(hash_key)
        item = self.get_item(h, _NO_RANGE) if h is not None else None
        if item is None:
            raise KeyError(hash_key)
        return item

    def __setitem__(self, hash_key: DynamoType, item: Item) -> None:
        if self.ranged:
            raise TypeError("a range-keyed table stores items under items[hash][range]")
        self.put_item(_key_text(hash_key), _NO_RANGE, item)

    def __contains__(self, hash_key: object) -> bool:
        h = _text(hash_key)
        if h is None:
            return False
        if self.ranged:
            return self.has_hash(h)
        with self._lock:
            return (
                _NO_RANGE in self._hot.get(h, {})
                or (h, _NO_RANGE) in self._pending
                or ((disk := self._on_disk()) is not None and disk.has_hash(h))
            )

    def get(self, hash_key: DynamoType, default: Any = None) -> Any:
        if self.ranged:
            return _Range(self, hash_key) if hash_key in self else default
        try:
            return self[hash_key]
        except KeyError:
            return default

    def pop(self, hash_key: DynamoType, *default: Any) -> Any:
        h = _text(hash_key)
        if self.ranged:
            group = {item.range_key: item for item in self.all_items(h)} if h is not None else {}
            for item in group.values():
                self.delete_item(h or "", item.range_key.value)  # type: ignore[union-attr]
            if group:
                return group
            if default:
                return default[0]
            raise KeyError(hash_key)
        removed = self.delete_item(h, _NO_RANGE) if h is not None else None
        if removed is None:
            if default:
                return default[0]
            raise KeyError(hash_key)
        return removed

    def keys(self) -> list[DynamoType]:
        return [DynamoType({"S": h}) for h in self.hash_keys()]

    def __iter__(self) -> Iterator[DynamoType]:
        return iter(self.keys())

    def __len__(self) -> int:
        """The number of hash keys, as len() of moto's dict."""
        return len(self.hash_keys()) if self.ranged else self.count()

    def values(self) -> list[Any]:
        if self.ranged:
            return [_Range(self, key) for key in self.keys()]
        return self.all_items()

    def items(self) -> list[tuple[DynamoType, Any]]:
        if self.ranged:
            return [(key, _Range(self, key)) for key in self.keys()]
        return [(item.hash_key, item) for item in self.all_items()]

    def __deepcopy__(self, memo: dict[int, Any]) -> ItemStore:
        """A copy holding copies of every item (moto's backups and restored tables copy ``Table.items``)."""
        clone = ItemStore(self.ranged)
        for item in self.all_items():
            h, r = _key_text(item.hash_key), _key_text(item.range_key) if self.ranged else _NO_RANGE
            clone.put_item(h, r, item if _spillable(item) else copy.deepcopy(item, memo))
        return clone


class _Range:
    """``Table.items[hash]`` of a range-keyed table: {range: item}."""

    def __init__(self, store: ItemStore, hash_key: DynamoType) -> None:
        self._store, self._hash = store, _text(hash_key)

    def __getitem__(self, range_key: DynamoType) -> Item:
        r = _text(range_key)
        item = self._store.get_item(self._hash, r) if self._hash is not None and r is not None else None
        if item is None:
            raise KeyError(range_key)
        return item

    def __setitem__(self, range_key: DynamoType, item: Item) -> None:
        if self._hash is None:
            raise TypeError("a string-keyed table stores items under string keys")
        self._store.put_item(self._hash, _key_text(range_key), item)

    def get(self, range_key: DynamoType, default: Any = None) -> Any:
        try:
            return self[range_key]
        except KeyError:
            return default

    def __contains__(self, range_key: object) -> bool:
        return isinstance(range_key, DynamoType) and self.get(range_key) is not None

    def pop(self, range_key: DynamoType, *default: Any) -> Any:
        r = _text(range_key)
        item = self._store.delete_item(self._hash, r) if self._hash is not None and r is not None else None
        if item is None:
            if default:
                return default[0]
            raise KeyError(range_key)
        return item

    def values(self) -> list[Item]:
        return [] if self._hash is None else self._store.all_items(self._hash)

    def keys(self) -> list[DynamoType]:
        return [item.range_key for item in self.values()]  # type: ignore[misc]

    def items(self) -> list[tuple[DynamoType, Item]]:
        return [(item.range_key, item) for item in self.values()]  # type: ignore[misc]

    def __iter__(self) -> Iterator[DynamoType]:
        return iter(self.keys())

    def __len__(self) -> int:
        return 0 if self._hash is None else self._store.count(self._hash)


def _text(key: object) -> str | None:
    """A key's string, or None for a key no item of a string-keyed table can have."""
    if isinstance(key, DynamoType) and key.type == "S" and isinstance(key.value, str):
        return key.value
    return None


def _key_text(key: DynamoType | None) -> str:
    text = _text(key)
    if text is None:
        raise TypeError(f"a string-keyed table cannot store an item under the key {key!r}")
    return text


def _stores_items(table: moto_table.Table) -> bool:
    return table.hash_key_type == "S" and table.range_key_type in (None, "S")


def _init(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def init(self: moto_table.Table, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if _stores_items(self):
            self.items = ItemStore(ranged=self.range_key_attr is not None)  # type: ignore[assignment]

    return init


def _whole(original: Callable[..., Any], store: Callable[[ItemStore], Any]) -> Callable[..., Any]:
    """A Table method answered by the store in one pass, where moto would walk every hash key."""

    @functools.wraps(original)
    def method(self: moto_table.Table, *args: Any, **kwargs: Any) -> Any:
        if isinstance(self.items, ItemStore):
            return store(self.items)
        return original(self, *args, **kwargs)

    return method


def _sorted(items: list[Item]) -> list[Item]:
    return sorted(
        items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key
    )  # moto's order


def patches() -> list[Patch]:
    """New string-keyed tables keep their items in an ItemStore; the table's count and item list read it whole."""
    table = moto_table.Table
    return [
        Patch(table, "__init__", _init(table.__init__)),
        Patch(table, "__len__", _whole(table.__len__, ItemStore.count)),
        Patch(table, "all_items", _whole(table.all_items, lambda store: _sorted(store.all_items()))),
    ]
