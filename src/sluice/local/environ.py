"""A per-invocation view of `os.environ`: in-process Lambdas see their function's environment, no thread sees
the process environment change.

On AWS every function has a process of its own. Here they share one, and writing a function's variables
into the real environment for the length of a call (and taking them out again) races any other thread that
reads it: `dict(os.environ)`, which botocore and `mock.patch.dict` do, lists the keys and then reads each,
and fails with `KeyError: 'RAW_BUCKET'` when a call ends in between. Instead `install()` makes `os.environ`
(the same object, so `from os import environ` holders see it too) consult an overlay held in a context
variable first. `overlay(env)` sets it for a block; threads started inside the block inherit it, as the
threads of a Lambda's process share its environment. Writes inside the block go to the overlay, not to the
process. The real environment (what `os.putenv` and child processes get) is never touched.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

# A function's environment for the current context: name -> value, or _DELETED for a name the code unset.
_DELETED = object()
_overlay: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "sluice_environ", default=None
)
_lock = threading.Lock()
_installed: list[Callable[..., None]] = []  # the original Thread.start, once install() has run


class _OverlaidEnviron(os._Environ):  # os._Environ is private but has not changed since Python 3.2
    """os._Environ whose reads and writes go to the current context's overlay when there is one."""

    def __getitem__(self, key: str) -> str:
        layer = _overlay.get()
        if layer is not None and key in layer:
            value = layer[key]
            if value is _DELETED:
                raise KeyError(key)
            return str(value)
        return str(super().__getitem__(key))

    def __setitem__(self, key: str, value: str) -> None:
        layer = _overlay.get()
        if layer is None:
            super().__setitem__(key, value)
            return
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"str expected, not {type(key).__name__}, {type(value).__name__}")
        layer[key] = value

    def __delitem__(self, key: str) -> None:
        layer = _overlay.get()
        if layer is None:
            super().__delitem__(key)
            return
        if key not in self:
            raise KeyError(key)
        layer[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        layer = _overlay.get()
        base = list(super().__iter__())
        if layer is None:
            yield from base
            return
        yield from (k for k in base if k not in layer)
        yield from (k for k, v in list(layer.items()) if v is not _DELETED)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"environ({dict(self)!r})"


def install() -> None:
    """Make `os.environ` overlay-aware and let new threads inherit their starter's overlay (idempotent)."""
    with _lock:
        if _installed:
            return
        os.environ.__class__ = _OverlaidEnviron
        original_start = threading.Thread.start

        def start(self: threading.Thread) -> None:
            layer = _overlay.get()
            if layer is not None:
                run = self.run

                def run_in_overlay() -> None:
                    _overlay.set(layer)
                    run()

                self.run = run_in_overlay  # type: ignore[method-assign]
            original_start(self)

        threading.Thread.start = start  # type: ignore[method-assign]
        _installed.append(original_start)


@contextlib.contextmanager
def overlay(env: Mapping[str, str]) -> Iterator[None]:
    """Within the block (and threads it starts), `os.environ` shows `env` over the process environment."""
    install()
    token = _overlay.set(dict(env))
    try:
        yield
    finally:
        _overlay.reset(token)
