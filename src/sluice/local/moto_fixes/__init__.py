"""Corrections of moto 5.2.5 (its Step Functions interpreter, LocalStack's port, and S3) as revertible patches.

moto is pinned to 5.2.5 exactly because these patches touch its internals. Each correction is one module
of this package, named for what it corrects; its docstring says what moto does wrong, what AWS does, and
names its regression tests. ``FIXES`` registers them, in the order ``apply()`` installs them;
docs/emulation.md lists them and says how to add one.

``apply()`` installs all of them (idempotent), ``revert()`` removes them, and ``with reverted("name"):``
removes one for the duration of a block, which is how the tests show each defect without its fix.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from sluice.local.moto_fixes import (
    action_lookup,
    aws_sdk_error_names,
    aws_sdk_normalisation,
    backend_lookup,
    copy_object_checksum,
    definite_json_path,
    distributed_map_tolerance,
    dynamodb_atomic_item_writes,
    dynamodb_batch_writes,
    dynamodb_compact_items,
    dynamodb_item_store,
    dynamodb_request_parsing,
    dynamodb_response_serializing,
    dynamodb_scan_resume,
    execution_name,
    glue_sync,
    history_pages,
    history_reverse_order,
    iam_policy_evaluation,
    integer_tolerated_failure_percentage,
    jsonata_evaluator,
    scaled_sleeps,
    states_error_names,
)
from sluice.local.moto_fixes._patch import Patch
from sluice.local.moto_fixes.aws_sdk_error_names import sfn_service_error_prefix
from sluice.local.moto_fixes.scaled_sleeps import set_time_scale, time_scale

__all__ = [
    "FIXES",
    "applied",
    "apply",
    "revert",
    "reverted",
    "set_time_scale",
    "sfn_service_error_prefix",
    "time_scale",
]

# The corrections in the order apply() installs them (revert() removes them in reverse).
_CORRECTIONS: tuple[ModuleType, ...] = (
    glue_sync,
    execution_name,
    states_error_names,
    aws_sdk_normalisation,
    aws_sdk_error_names,
    definite_json_path,
    distributed_map_tolerance,
    integer_tolerated_failure_percentage,
    history_reverse_order,
    history_pages,
    copy_object_checksum,
    backend_lookup,
    action_lookup,
    dynamodb_atomic_item_writes,
    dynamodb_compact_items,
    dynamodb_item_store,
    dynamodb_batch_writes,
    dynamodb_request_parsing,
    dynamodb_response_serializing,
    dynamodb_scan_resume,
    scaled_sleeps,
    jsonata_evaluator,
    iam_policy_evaluation,
)

# fix name (its module's name) -> the function that makes its patches.
FIXES: dict[str, Callable[[], list[Patch]]] = {
    module.__name__.rpartition(".")[2]: module.patches for module in _CORRECTIONS
}

_MISSING = object()
_lock = threading.RLock()
# fix name -> the (patch, original attribute or _MISSING) pairs it installed, in order.
_installed: dict[str, list[tuple[Patch, Any]]] = {}


def _install(name: str) -> None:
    done: list[tuple[Patch, Any]] = []
    for patch in FIXES[name]():
        done.append((patch, vars(patch.target).get(patch.name, _MISSING)))
        setattr(patch.target, patch.name, patch.value)
    _installed[name] = done


def _uninstall(name: str) -> None:
    for patch, original in reversed(_installed.pop(name)):
        if original is _MISSING:
            delattr(patch.target, patch.name)
        else:
            setattr(patch.target, patch.name, original)


def apply() -> None:
    """Install every fix in ``FIXES`` that is not installed yet (idempotent)."""
    with _lock:
        for name in FIXES:
            if name not in _installed:
                _install(name)


def revert(*names: str) -> None:
    """Remove the named fixes (all installed ones if none are named), restoring moto's originals."""
    with _lock:
        for name in names or tuple(reversed(list(_installed))):
            if name not in FIXES:
                raise KeyError(f"unknown moto fix {name!r}")
            if name in _installed:
                _uninstall(name)


def applied() -> list[str]:
    """The names of the installed fixes, in installation order."""
    with _lock:
        return list(_installed)


@contextlib.contextmanager
def reverted(name: str) -> Iterator[None]:
    """Run a block with one fix removed (if it was installed), then put it back."""
    with _lock:
        if name not in FIXES:
            raise KeyError(f"unknown moto fix {name!r}")
        was_installed = name in _installed
        if was_installed:
            _uninstall(name)
    try:
        yield
    finally:
        with _lock:
            if was_installed and name not in _installed:
                _install(name)
