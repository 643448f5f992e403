"""What the moto corrections share: a patch, a source rewrite of one moto statement, botocore's models."""

from __future__ import annotations
import __future__

import ast
import functools
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.exceptions import UnknownServiceError
from botocore.model import OperationModel


@dataclass(frozen=True)
class Patch:
    """Set ``target.name`` to ``value`` (``target`` is a class or a module)."""

    target: Any
    name: str
    value: Any


def rewritten(function: Callable[..., Any], old: str, new: str) -> Callable[..., Any]:
    """Recompile ``function`` from its source with one exact fragment replaced.

    Used where the defect is a statement on a local variable deep inside a long method, which a wrapper
    cannot reach; copying the whole method would hide the one-line change. Fails loudly if moto's source
    is not the one this was written against. Line numbers stay those of moto's file.
    """
    source = textwrap.dedent(inspect.getsource(function))
    if source.count(old) != 1:
        raise RuntimeError(f"moto_fixes: {function.__qualname__} does not contain {old!r} exactly once")
    tree = ast.parse(source.replace(old, new))
    ast.increment_lineno(tree, function.__code__.co_firstlineno - 1)
    flags = function.__code__.co_flags & __future__.annotations.compiler_flag
    code = compile(tree, inspect.getsourcefile(function) or "<moto>", "exec", flags=flags, dont_inherit=True)
    namespace: dict[str, Any] = {}
    exec(code, function.__globals__, namespace)
    replacement: Callable[..., Any] = namespace[function.__name__]
    replacement.__qualname__ = function.__qualname__
    return replacement


@functools.cache
def botocore_session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def operation_model(boto_service: str, action: str) -> OperationModel | None:
    """botocore's model of ``action`` (``getCrawler``, ``get_crawler`` or ``GetCrawler``), if it knows it."""
    try:
        service = botocore_session().get_service_model(boto_service)
    except UnknownServiceError:
        return None
    wanted = action.replace("_", "").lower()
    for name in service.operation_names:
        if name.lower() == wanted:
            return service.operation_model(name)
    return None
