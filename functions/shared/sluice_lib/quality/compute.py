"""The cross-column rule's expression computed column-wise with pyarrow compute, one pass per operator.

The syntax (what may appear) is sluice_lib.quality.expression's, which has no pyarrow; this module gives each
whitelisted node its Arrow kernel. Nulls propagate (Kleene logic for and/or), so a row with a null operand is
neither true nor false.
"""

from __future__ import annotations

import ast
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sluice_lib.quality.expression import parse

_ARITHMETIC = {ast.Add: pc.add, ast.Sub: pc.subtract, ast.Mult: pc.multiply}
_COMPARE = {
    ast.Eq: pc.equal,
    ast.NotEq: pc.not_equal,
    ast.Lt: pc.less,
    ast.LtE: pc.less_equal,
    ast.Gt: pc.greater,
    ast.GtE: pc.greater_equal,
}


def check_expression(text: str, table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """The expression's value per row (true, false or null); a ValueError when it is not a true/false check
    over these columns (unknown column, operands of types that do not combine)."""
    try:
        result = _value(parse(text), table)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"check {text!r} cannot be computed on these columns: {exc}") from None
    if not isinstance(result, pa.Array | pa.ChunkedArray) or not pa.types.is_boolean(result.type):
        raise ValueError(
            f"check {text!r} must give true or false per row (a comparison, and/or/not, is_null)"
        )
    return result


def _temporal(value: Any) -> bool:
    return isinstance(value, pa.Array | pa.ChunkedArray) and pa.types.is_temporal(value.type)


def _compare(op: ast.cmpop, left: Any, right: Any) -> Any:
    # A string literal compared with a date or datetime column is read as one ('2024-01-31').
    if isinstance(right, str) and _temporal(left):
        right = pa.scalar(right).cast(left.type)
    if isinstance(left, str) and _temporal(right):
        left = pa.scalar(left).cast(right.type)
    return _COMPARE[type(op)](left, right)


def _value(node: ast.expr, table: pa.Table) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in table.column_names:
            raise ValueError(f"unknown column {node.id!r} (columns: {', '.join(table.column_names)})")
        return table.column(node.id)
    if isinstance(node, ast.BinOp):
        left, right = _value(node.left, table), _value(node.right, table)
        if isinstance(node.op, ast.Div):  # true division, also of integers
            return pc.divide(pc.cast(left, pa.float64()), pc.cast(right, pa.float64()))
        return _ARITHMETIC[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, table)
        return pc.invert(operand) if isinstance(node.op, ast.Not) else pc.negate(operand)
    if isinstance(node, ast.BoolOp):
        combine = pc.and_kleene if isinstance(node.op, ast.And) else pc.or_kleene
        values = [_value(v, table) for v in node.values]
        out = values[0]
        for value in values[1:]:
            out = combine(out, value)
        return out
    if isinstance(node, ast.Compare):
        left = _value(node.left, table)
        out = None
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _value(comparator, table)
            step = _compare(op, left, right)
            out = step if out is None else pc.and_kleene(out, step)
            left = right
        return out
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [_value(a, table) for a in node.args]
        if node.func.id == "abs":
            return pc.abs(args[0])
        if node.func.id == "is_null":
            return pc.is_null(args[0])
        return pc.round(args[0], ndigits=args[1] if len(args) > 1 else 0)
    raise ValueError(f"{ast.dump(node)} is not part of the rule language")  # parse() lets none through
