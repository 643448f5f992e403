"""The cross-column rule's expression language: a small, safe subset of Python expression syntax.

Parsed with `ast` and checked against a whitelist (column names, literals, arithmetic, comparisons, and/or/not,
abs/round/is_null), then evaluated column-wise with pyarrow compute (sluice_lib.quality.compute): nothing is
ever passed to eval, no attribute access, subscripts, lambdas or other calls can appear. No pyarrow here: the
contract model checks an expression's syntax in functions that do not ship pyarrow.
"""

from __future__ import annotations

import ast

FUNCTIONS = {"abs": 1, "round": 2, "is_null": 1}  # name -> most arguments (round: value[, digits])
_BIN_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div)
_COMPARE_OPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


class ExpressionSyntaxError(ValueError):
    """The expression is not in the rule language; the message says where and why."""


def parse(text: str) -> ast.expr:
    """The checked syntax tree of `text`; ExpressionSyntaxError names what is not allowed."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionSyntaxError(f"check {text!r} is not a valid expression: {exc.msg}") from None
    for node in ast.walk(tree):
        _allowed(node, text)
    return tree


def _allowed(node: ast.AST, text: str) -> None:
    ok = (
        isinstance(node, ast.Name | ast.Load | ast.BoolOp | ast.And | ast.Or | ast.Not | ast.USub)
        or (isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool))
        or (isinstance(node, ast.BinOp) and isinstance(node.op, _BIN_OPS))
        or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub))
        or (isinstance(node, ast.Compare) and all(isinstance(op, _COMPARE_OPS) for op in node.ops))
        or isinstance(node, _BIN_OPS + _COMPARE_OPS)
    )
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS or node.keywords or not 1 <= len(node.args) <= FUNCTIONS[name]:
            what = ast.get_source_segment(text.strip(), node) or "a call"
            raise ExpressionSyntaxError(
                f"check {text!r}: {what} is not allowed (functions: abs(x), round(x[, digits]), is_null(x))"
            )
        if name == "round" and len(node.args) == 2 and not _is_int_literal(node.args[1]):
            raise ExpressionSyntaxError(f"check {text!r}: round's digits must be an integer literal")
        return
    if not ok:
        what = ast.get_source_segment(text.strip(), node) or type(node).__name__
        raise ExpressionSyntaxError(
            f"check {text!r}: {what!r} is not allowed (columns, numbers, 'strings', + - * /, comparisons, "
            "and, or, not, abs, round, is_null)"
        )


def _is_int_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def columns(tree: ast.expr) -> list[str]:
    """Column names the expression reads, sorted (function names excluded)."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called})
