"""Every request takes moto's global ``backend_lock`` and scans a list to find its service's backend.

moto: ``BackendDict.__getitem__`` calls ``_create_account_specific_backend`` on every lookup, which takes the
process-wide ``backend_lock``, lists the dict's keys and scans ``BackendDict._instances`` with a Python-level
``__eq__``. Each request looks up backends three or four times (the stubber, IAM's account bookkeeping, the
service's handler), so threads writing in parallel queue on the lock: in a py-spy profile of a
1,000,000-row ``sluice run`` it held 41% of all samples, most of Load's serving writes
(``bench/results/profile-1m.md``).
AWS: no such thing; a request's cost does not grow with the number of clients calling at once.
Fix: when the account's backend exists, return it without the lock. A BackendDict only gains an account
through ``_create_account_specific_backend``, which registers it in ``_instances`` in the same locked block,
and ``reset`` empties both, so an existing account implies a registered dict; a new account still takes the
locked path.

Regression tests:
``tests/statemachine/test_moto_fixes/test_backend_lookup.py::test_lookup_of_an_existing_backend_does_not_wait_for_the_lock``,
``tests/statemachine/test_moto_fixes/test_backend_lookup.py::test_lookup_waits_for_the_lock_without_the_fix``,
``tests/statemachine/test_moto_fixes/test_backend_lookup.py::test_new_account_and_reset_still_register_the_backend``.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.core.base_backend import BackendDict

from sluice.local.moto_fixes._patch import Patch


def patches() -> list[Patch]:
    """An existing account's backend is returned without the global lock."""
    original = BackendDict.__getitem__

    @functools.wraps(original)
    def __getitem__(self: Any, account_id: str) -> Any:
        try:
            return dict.__getitem__(self, account_id)
        except KeyError:
            return original(self, account_id)

    return [Patch(BackendDict, "__getitem__", __getitem__)]
