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

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sluice_lib.quality.anomaly import expected_band
from sluice_lib.quality.compute import check_expression
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
