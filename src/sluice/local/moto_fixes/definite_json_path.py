"""A definite JSONPath such as ``$.a[0].b`` returns ``[value]``; AWS returns ``value``.

moto: ``json_path.extract_json`` returns a list whenever the match's parent step was an array index (a
moto-only condition added for getmoto/moto#7825), so ``$.a[0].b`` in InputPath, ``"x.$"`` Parameters,
ResultSelector or a Choice ``Variable`` yields a one-element list.
AWS: a path that names one value (field names and single indices only) yields that value.
Fix: a path made only of field names and single indices yields its one match as is, in every moto module
that imported ``extract_json`` by name; indefinite paths (wildcards, slices, filters, unions, ``..``) and
missing paths keep moto's handling.

Regression tests:
``tests/statemachine/test_moto_fixes/test_definite_json_path.py::test_definite_json_path_yields_a_scalar_and_indefinite_paths_lists``,
``tests/statemachine/test_moto_fixes/test_definite_json_path.py::test_definite_json_path_without_fix_yields_a_one_element_list``.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from jsonpath_ng.ext import parse
from jsonpath_ng.jsonpath import Child, Fields, Index, Root, This
from moto.stepfunctions.parser.asl.utils import json_path

from sluice.local.moto_fixes._patch import Patch

# Every moto module that imported extract_json by name (checked at patch time).
_EXTRACT_JSON_USERS = (
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.intrinsic.argument.argument",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.boolean_equals",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.numeric",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.string_operators",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.timestamp_operators",
    "moto.stepfunctions.parser.asl.eval.states",
)


def _definite(node: Any) -> bool:
    if isinstance(node, Root | This):
        return True
    if isinstance(node, Child):
        return _definite(node.left) and _definite(node.right)
    if isinstance(node, Fields):
        return len(node.fields) == 1 and node.fields[0] != "*"
    if isinstance(node, Index):
        return len(node.indices) == 1
    return False


@functools.lru_cache(maxsize=1024)
def _definite_path(path: str) -> Any:
    """The parsed path if it is definite (names and single indices only), else None."""
    try:
        expression = parse(path)
    except Exception:  # let moto report the invalid path its own way
        return None
    return expression if _definite(expression) else None


def patches() -> list[Patch]:
    """``extract_json`` yields the one match of a definite path as is."""
    original = json_path.extract_json

    @functools.wraps(original)
    def extract_json(path: str, data: Any) -> Any:
        expression = _definite_path(path)
        if expression is not None:
            matches = expression.find(data)
            if len(matches) == 1:
                return matches[0].value
        return original(path, data)

    result = []
    for name in _EXTRACT_JSON_USERS:
        module = importlib.import_module(name)
        if module.__dict__.get("extract_json") is not original:
            raise RuntimeError(f"moto_fixes: {name} no longer imports extract_json")
        result.append(Patch(module, "extract_json", extract_json))
    return result
