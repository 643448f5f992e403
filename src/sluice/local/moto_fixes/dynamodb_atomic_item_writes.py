"""A conditional write is not atomic: two threads can both pass ``attribute_not_exists(pk)`` on one item.

moto: ``DynamoDBBackend.put_item``, ``update_item`` and ``delete_item`` read the item, evaluate the condition
and store the new item as separate Python steps, with no lock; the server's threads (one per in-process
Lambda, the state machine's workers) interleave between the check and the store. Two executions racing for
the merge lease (``sluice_lib.lease.acquire``: a PutItem with ``attribute_not_exists(pk) OR holder = :me OR
expires_at < :now``) could both take it, and a holder's release then found another holder
(``tests/unit/test_lease.py`` failed so once in a full suite). The global ``backend_lock`` that correction
``backend_lookup`` takes off the lookup path never covered the write; it only made the window rarer.
AWS: every write to one item is atomic, a condition is evaluated against the item as that write applies.
Fix: the item writes of one backend (account and region), ``transact_write_items`` included, run under one
re-entrant lock; reads do not take it. BatchWriteItem's puts take it per item (through ``put_item``) or per
batch (``dynamodb_batch_writes``).

Regression tests:
``tests/statemachine/test_moto_fixes/test_dynamodb_atomic_item_writes.py::test_racing_conditional_puts_let_exactly_one_through``,
``tests/statemachine/test_moto_fixes/test_dynamodb_atomic_item_writes.py::test_racing_conditional_puts_pass_twice_without_the_fix``.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

from sluice.local.moto_fixes._patch import Patch

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_locks: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_locks_lock = threading.Lock()


def write_lock(backend: Any) -> threading.RLock:
    """The lock every item write of `backend` (one account and region) holds."""
    with _locks_lock:
        lock = _locks.get(backend)
        if lock is None:
            lock = _locks[backend] = threading.RLock()
        return lock


def _atomic(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        with write_lock(self):
            return original(self, *args, **kwargs)

    return write


def patches() -> list[Patch]:
    """Each item write of a DynamoDB backend holds that backend's lock."""
    return [Patch(DynamoDBBackend, name, _atomic(getattr(DynamoDBBackend, name))) for name in _WRITES]
