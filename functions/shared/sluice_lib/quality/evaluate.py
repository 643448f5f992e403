"""Evaluates a contract's quality rules on a file's validated rows (the local staging Parquet, column-wise).

What each rule costs, for n validated rows (all vectorised in pyarrow; a rule reads only its columns):
- row_count: nothing (Validate counted the rows);
- row_count_anomaly: one DynamoDB Query of the runs ledger's `by-dataset` index (`runs` items or a few more);
- completeness, mean, min, max: one pass over one column;
- distinct_count, unique: a hash aggregation over the column(s): memory grows with the distinct values;
- freshness: the column's maximum;
- expression: one pass per operator over the columns it names;
- references: the key column of the referenced curated table (Parquet footers and that column's chunks only,
  sluice_lib.quality.reference_keys), a hash set of its distinct keys, one membership test per row.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sluice_lib.quality.anomaly import expected_band
from sluice_lib.quality.expression import parse
from sluice_lib.quality.spec import (
    ColumnStatistic,
    Completeness,
    Expression,
    Freshness,
    QualityRule,
    References,
    RowCount,
    RowCountAnomaly,
    Unique,
)

_EXAMPLES = 3  # failing values quoted in a result's detail


@dataclass(frozen=True)
class QualityResult:
    """One rule's outcome on one run: what was measured against what was allowed."""

    rule: str
    type: str
    severity: str
    passed: bool
    value: float | int | None
    threshold: str
    detail: str = ""

    def summary(self) -> dict[str, Any]:
        """The `--json` summary's entry."""
        return {"rule": self.rule, "severity": self.severity, "passed": self.passed, "value": self.value}

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "type": self.type,
            "severity": self.severity,
            "passed": self.passed,
            "value": self.value,
            "threshold": self.threshold,
            "detail": self.detail,
        }

    def sentence(self) -> str:
        """`expression(...) (reject): 3, allowed <= 0: ...` for messages."""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.rule} ({self.severity}): {_show(self.value)}, allowed {self.threshold}{detail}"


@dataclass(frozen=True)
class RuleInputs:
    """What rules need beyond the rows: the clock, the dataset's run history, other datasets' keys."""

    rows: int
    now: datetime
    history: Callable[[int], list[int]]  # valid rows of up to N previous successful runs, newest first
    reference_keys: Callable[[str, str], pa.Array]  # (dataset, column) -> distinct curated keys
    dataset: str = ""


def _show(value: float | int | None) -> str:
    if value is None:
        return "nothing to measure"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4g}"
    return f"{value:,.0f}"


def _number(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return value if isinstance(value, int) or not float(value).is_integer() else int(value)
    return float(value)


def _bounds_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {_show(low)} and {_show(high)}"
    return f">= {_show(low)}" if low is not None else f"<= {_show(high)}"


def _within(value: float, low: float | None, high: float | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _row_count(rule: RowCount, table: pa.Table, inputs: RuleInputs) -> QualityResult:
    value = inputs.rows
    return _result(rule, _within(value, rule.min, rule.max), value, _bounds_text(rule.min, rule.max))


def _anomaly(rule: RowCountAnomaly, table: pa.Table, inputs: RuleInputs) -> QualityResult:
    history = inputs.history(rule.runs)
    if len(history) < rule.min_runs:
        return _result(
            rule,
            True,
            inputs.rows,
            f"{rule.min_runs} earlier successful runs to compare with",
            f"no history yet: {len(history)} earlier successful run(s) of {inputs.dataset or 'the dataset'}, "
            f"the rule needs {rule.min_runs}",
        )
    band = expected_band(history, max_deviations=rule.max_deviations, tolerance=rule.tolerance)
    return _result(rule, band.holds(inputs.rows), inputs.rows, band.describe())


def _completeness(rule: Completeness, table: pa.Table, inputs: RuleInputs) -> QualityResult:
    column = table.column(rule.column)
    if len(column) == 0:
        return _result(rule, True, None, f">= {rule.min}", "no rows")
    share = round(1 - column.null_count / len(column), 6)
    detail = f"{column.null_count:,} of {len(column):,} values are empty"
    return _result(rule, share >= rule.min, share, f">= {rule.min}", detail)


def _unique(rule: Unique, table: pa.Table, inputs: RuleInputs) -> QualityResult:
    keys = table.select(rule.columns()).drop_null()
    counts = keys.group_by(rule.columns()).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts["count_all"], 1))
    duplicates = int(pc.sum(repeated["count_all"]).as_py() or 0) - repeated.num_rows
    detail = ""
    if duplicates:
        examples = repeated.slice(0, _EXAMPLES).to_pylist()
        shown = "; ".join(
            ", ".join(f"{c}={row[c]!r}" for c in rule.columns()) + f" ({row['count_all']} rows)"
            for row in examples
        )
        detail = f"{repeated.num_rows:,} values repeat, e.g. {shown}"
    return _result(rule, duplicates == 0, duplicates, "0 repeated rows", detail)


def _references(rule: References, table: pa.Table, inputs: RuleInputs) -> QualityResult:
    values = table.column(rule.column).combine_chunks()
    keys = inputs.reference_keys(rule.dataset, rule.ref_key)
    if keys.type != values.type and len(keys):
        keys = keys.cast(values.type)
    present = pc.is_in(values, value_set=keys) if len(keys) else pa.array([False] * len(values))
    missing_mask = pc.and_(pc.invert(present), pc.is_valid(values))
    missing = values.filter(missing_mask)
    detail = ""
    if len(missing):
        distinct = pc.unique(missing)
        shown = ", ".join(repr(v) for v in distinct.slice(0, _EXAMPLES).to_pylist())
        detail = (
            f"{len(distinct):,} distinct {rule.column} values are not in {rule.dataset}.{rule.ref_key} "
            f"({len(keys):,} keys), e.g. {shown}"
        )
    return _result(
        rule, len(missing) <= rule.max_missing, len(missing), f"<= {rule.max_missing} rows", detail
    )


def _freshness(rule: Freshness, table: pa.Table, inputs: RuleInputs) -> QualityResult:
    newest = pc.max(table.column(rule.column)).as_py()
    threshold = f"<= {rule.max_age} ({rule.max_age_hours:g} hours)"
    if newest is None:
        return _result(rule, True, None, threshold, "no values")
    if not isinstance(newest, datetime):  # a date: its start, UTC
        newest = datetime(newest.year, newest.month, newest.day, tzinfo=UTC)
    age = round((inputs.now - newest).total_seconds() / 3600, 2)
    return _result(
        rule, age <= rule.max_age_hours, age, threshold, f"newest {newest.isoformat()}, age in hours"
    )


def _statistic(rule: ColumnStatistic, table: pa.Table, inputs: RuleInputs) -> QualityResult:
    column = table.column(rule.column)
    threshold = _bounds_text(rule.min, rule.max)
    if column.null_count == len(column):
        return _result(rule, True, None, threshold, "no values")
    if rule.type == "distinct_count":
        value = pc.count_distinct(column, mode="only_valid").as_py()
    elif rule.type == "mean":
        value = round(pc.mean(column).as_py(), 6)
    else:
        value = pc.min_max(column).as_py()[rule.type]
    return _result(rule, _within(value, rule.min, rule.max), value, threshold)


def _expression(rule: Expression, table: pa.Table, inputs: RuleInputs) -> QualityResult:
    holds = check_expression(rule.check, table)
    failing = pc.equal(holds, False)
    failures = int(pc.sum(failing).as_py() or 0)
    detail = ""
    if failures:
        rows = table.select(rule.columns()).filter(failing).slice(0, _EXAMPLES).to_pylist()
        detail = "e.g. " + "; ".join(", ".join(f"{k}={v!r}" for k, v in row.items()) for row in rows)
    return _result(rule, failures <= rule.max_failures, failures, f"<= {rule.max_failures} rows", detail)


def _result(rule: QualityRule, passed: bool, value: Any, threshold: str, detail: str = "") -> QualityResult:
    return QualityResult(
        rule=rule.rule_name,
        type=rule.type,
        severity=rule.severity,
        passed=bool(passed),
        value=_number(value),
        threshold=threshold,
        detail=detail,
    )


_EVALUATORS: dict[type, Callable[[Any, pa.Table, RuleInputs], QualityResult]] = {
    RowCount: _row_count,
    RowCountAnomaly: _anomaly,
    Completeness: _completeness,
    Unique: _unique,
    References: _references,
    Freshness: _freshness,
    ColumnStatistic: _statistic,
    Expression: _expression,
}


def evaluate(rules: list[QualityRule], staged: Path | pa.Table, inputs: RuleInputs) -> list[QualityResult]:
    """Every rule's result, in the order given; reads only the columns the rules name from the staged rows."""
    if not rules:
        return []
    needed = sorted({c for rule in rules for c in rule.columns()})
    table = staged.select(needed) if isinstance(staged, pa.Table) else pq.read_table(staged, columns=needed)
    return [_EVALUATORS[type(rule)](rule, table, inputs) for rule in rules]


# --- the expression language (syntax: sluice_lib.quality.expression), column-wise --------------------------

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
