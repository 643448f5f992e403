"""moto correction ``backend_lookup``: an existing account's backend is found without moto's global lock
(which Load's parallel writer threads queued on); a new account and a reset still go through it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import pytest
from moto.core.base_backend import BackendDict, backend_lock
from moto.dynamodb.models import dynamodb_backends

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

ACCOUNT = "123456789012"


def _lookup_while_the_lock_is_held() -> Any:
    """Looks the account's DynamoDB backend up from another thread while this one holds backend_lock."""
    dynamodb_backends[ACCOUNT]  # exists before the lock is taken
    with backend_lock, ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(lambda: dynamodb_backends[ACCOUNT])
        try:
            return future.result(timeout=2.0)
        except FutureTimeout:
            return None
        finally:
            if not future.done():
                backend_lock.release()  # let the waiting lookup finish (the RLock is ours) ...
                future.result(timeout=10.0)
                backend_lock.acquire()  # ... and give the `with` its lock back


def test_lookup_of_an_existing_backend_does_not_wait_for_the_lock() -> None:
    moto_fixes.apply()

    found = _lookup_while_the_lock_is_held()

    assert found is dict.__getitem__(dynamodb_backends, ACCOUNT)


def test_lookup_waits_for_the_lock_without_the_fix() -> None:
    moto_fixes.apply()
    with moto_fixes.reverted("backend_lookup"):
        found = _lookup_while_the_lock_is_held()

    assert found is None


def test_new_account_and_reset_still_register_the_backend() -> None:
    moto_fixes.apply()
    account = "210987654321"
    if account in dict.keys(dynamodb_backends):
        dict.__delitem__(dynamodb_backends, account)

    first = dynamodb_backends[account]

    assert any(d is dynamodb_backends for d in BackendDict._instances)
    BackendDict.reset()  # what mock_aws does when it stops
    assert account not in dict.keys(dynamodb_backends)
    second = dynamodb_backends[account]
    assert second is not first
    assert any(d is dynamodb_backends for d in BackendDict._instances)
