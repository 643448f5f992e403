"""Quality rules on validated rows (sluice_lib.quality.evaluate): each rule type passing and failing, at both
severities; the expression language's safety; the row-count anomaly statistic."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pytest

from sluice_lib.contracts import Contract, parse_contract
from sluice_lib.quality.anomaly import expected_band
from sluice_lib.quality.compute import check_expression
from sluice_lib.quality.evaluate import QualityResult, RuleInputs, evaluate
from sluice_lib.quality.expression import ExpressionSyntaxError, parse
from sluice_lib.quality.record import emit_metrics

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
FIELDS = [
    {"name": "payment_id", "type": "string"},
    {"name": "account", "type": "string"},
    {"name": "amount", "type": "number"},
    {"name": "fee", "type": "number"},
    {"name": "currency", "type": "string"},
    {"name": "paid_at", "type": "datetime"},
    {"name": "paid_on", "type": "date"},
]
ROWS = pa.table(
    {
        "payment_id": ["p1", "p2", "p3", "p4"],
        "account": ["a1", "a2", "a2", None],
        "amount": [10.0, 20.0, 30.0, 40.0],
        "fee": [1.0, 2.0, 31.0, None],
        "currency": ["EUR", "EUR", "USD", None],
        "paid_at": pa.array([datetime(2026, 3, 9, 12, 0, tzinfo=UTC)] * 4, pa.timestamp("us", tz="UTC")),
        "paid_on": pa.array([date(2026, 3, 8)] * 4, pa.date32()),
    }
)


def contract(*rules: dict[str, Any]) -> Contract:
    return parse_contract(
        {"dataset": "payments", "schema": {"fields": FIELDS}, "quality": list(rules)}, "test"
    )


def run(
    rule: dict[str, Any], history: list[int] | None = None, keys: list[str] | None = None
) -> QualityResult:
    inputs = RuleInputs(
        rows=ROWS.num_rows,
        now=NOW,
        dataset="payments",
        history=lambda limit: (history or [])[:limit],
        reference_keys=lambda dataset, column: pa.array(keys or [], pa.string()),
    )
    (result,) = evaluate(contract(rule).quality_rules(), ROWS, inputs)
    return result


# (rule without severity, value measured on ROWS, passes?)
CASES = [
    ({"type": "row_count", "min": 4}, 4, True),
    ({"type": "row_count", "min": 5, "max": 10}, 4, False),
    ({"type": "completeness", "column": "currency", "min": 0.75}, 0.75, True),
    ({"type": "completeness", "column": "currency", "min": 0.9}, 0.75, False),
    ({"type": "unique", "columns": ["payment_id"]}, 0, True),
    ({"type": "unique", "columns": ["account"]}, 1, False),  # a2 twice; the null is not compared
    ({"type": "distinct_count", "column": "currency", "min": 1, "max": 2}, 2, True),
    ({"type": "distinct_count", "column": "currency", "max": 1}, 2, False),
    ({"type": "mean", "column": "amount", "min": 20, "max": 30}, 25, True),
    ({"type": "mean", "column": "amount", "max": 20}, 25, False),
    ({"type": "min", "column": "amount", "min": 10}, 10, True),
    ({"type": "min", "column": "amount", "min": 15}, 10, False),
    ({"type": "max", "column": "amount", "max": 40}, 40, True),
    ({"type": "max", "column": "amount", "max": 39.5}, 40, False),
    ({"type": "freshness", "column": "paid_at", "max_age": "36h"}, 24, True),
    ({"type": "freshness", "column": "paid_at", "max_age": "12h"}, 24, False),
    ({"type": "freshness", "column": "paid_on", "max_age": "3d"}, 60, True),  # a date counts from its start
    ({"type": "expression", "check": "fee <= amount", "max_failures": 1}, 1, True),
    ({"type": "expression", "check": "fee <= amount"}, 1, False),  # p3; p4's null fee is not counted
]


@pytest.mark.parametrize("severity", ["warn", "reject"])
@pytest.mark.parametrize(("rule", "value", "passes"), CASES)
def test_quality_rule_measures_value_and_passes_or_fails(
    rule: dict[str, Any], value: float, passes: bool, severity: str
) -> None:
    result = run({**rule, "severity": severity})

    assert (result.value, result.passed, result.severity, result.type) == (
        value,
        passes,
        severity,
        rule["type"],
    )


def test_quality_references_counts_rows_whose_key_the_reference_lacks() -> None:
    result = run(
        {"type": "references", "column": "account", "dataset": "accounts", "severity": "warn"}, keys=["a1"]
    )

    assert (result.rule, result.value, result.passed) == ("references(account->accounts.account)", 2, False)
    assert result.detail == "1 distinct account values are not in accounts.account (1 keys), e.g. 'a2'"


def test_quality_references_all_keys_known_passes_and_nulls_are_not_orphans() -> None:
    result = run(
        {"type": "references", "column": "account", "dataset": "accounts", "severity": "reject"},
        keys=["a1", "a2"],
    )

    assert (result.value, result.passed) == (0, True)


def test_quality_references_max_missing_tolerates_that_many_rows() -> None:
    rule = {
        "type": "references",
        "column": "account",
        "dataset": "accounts",
        "max_missing": 2,
        "severity": "reject",
    }

    assert run(rule, keys=["a1"]).passed is True


def test_quality_unique_failure_names_the_repeated_values() -> None:
    result = run({"type": "unique", "columns": ["account"], "severity": "reject"})

    assert result.detail == "1 values repeat, e.g. account='a2' (2 rows)"
    assert result.sentence() == (
        "unique(account) (reject): 1, allowed 0 repeated rows: 1 values repeat, e.g. account='a2' (2 rows)"
    )


def test_quality_expression_failure_quotes_the_failing_rows_values() -> None:
    result = run({"type": "expression", "check": "fee <= amount", "severity": "reject"})

    assert result.detail == "e.g. amount=30.0, fee=31.0"
    assert result.threshold == "<= 0 rows"


def test_quality_anomaly_without_enough_history_passes_and_says_why() -> None:
    result = run({"type": "row_count_anomaly", "min_runs": 3, "severity": "reject"}, history=[1000, 990])

    assert (result.passed, result.value) == (True, 4)
    assert result.detail == "no history yet: 2 earlier successful run(s) of payments, the rule needs 3"


def test_quality_anomaly_ten_rows_after_five_runs_of_about_a_thousand_is_flagged() -> None:
    rule = {"type": "row_count_anomaly", "severity": "warn"}
    history = [1003, 998, 1000, 1012, 991]
    inputs = RuleInputs(
        rows=10, now=NOW, history=lambda limit: history, reference_keys=lambda d, c: pa.array([]), dataset="x"
    )

    (result,) = evaluate(contract(rule).quality_rules(), ROWS, inputs)

    assert (result.passed, result.value) == (False, 10)
    assert result.threshold == "between 500 and 1,500 (median 1,000, MAD 3 of the last 5 successful runs)"


def test_anomaly_band_ignores_one_odd_run_of_the_history() -> None:
    """The median and MAD: a backfill of 50,000 rows among runs of about 1,000 does not widen the band."""
    band = expected_band([1000, 1010, 990, 50_000, 1005], max_deviations=3.5, tolerance=0.1)

    assert (band.median, band.mad) == (1005.0, 5.0)
    assert (band.low, band.high) == pytest.approx((904.5, 1105.5))
    assert not band.holds(10) and band.holds(1000)


def test_anomaly_band_of_equal_runs_keeps_the_relative_tolerance() -> None:
    band = expected_band([1000] * 5, max_deviations=3.5, tolerance=0.5)

    assert (band.low, band.high) == (500.0, 1500.0)


def test_implicit_unique_rule_enforces_frictionless_unique_constraint() -> None:
    fields = [{"name": "account", "constraints": {"unique": True}}, *FIELDS[2:3]]
    c = parse_contract({"dataset": "payments", "schema": {"fields": fields}}, "test")
    inputs = RuleInputs(rows=4, now=NOW, history=lambda n: [], reference_keys=lambda d, k: pa.array([]))

    (result,) = evaluate(c.quality_rules(), ROWS, inputs)

    assert (result.rule, result.severity, result.passed, result.value) == (
        "unique(account)",
        "reject",
        False,
        1,
    )


def test_statistics_of_a_column_without_values_pass_saying_nothing_to_measure() -> None:
    empty = ROWS.slice(0, 0)
    inputs = RuleInputs(rows=0, now=NOW, history=lambda n: [], reference_keys=lambda d, k: pa.array([]))
    rules = contract(
        {"type": "mean", "column": "amount", "min": 1, "severity": "reject"},
        {"type": "freshness", "column": "paid_at", "max_age": "1h", "severity": "reject"},
    ).quality_rules()

    results = evaluate(rules, empty, inputs)

    assert [(r.passed, r.value, r.detail) for r in results] == [
        (True, None, "no values"),
        (True, None, "no values"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "amount.real > 1",
        "open('x')",
        "(lambda: 1)()",
        "amount[0] > 1",
        "[a for a in amount]",
        "amount if fee else fee",
        "abs(x=amount) > 1",
        "round(amount, fee) > 1",
        "amount ** 2 > 1",
    ],
)
def test_expression_outside_the_language_is_refused_before_anything_runs(text: str) -> None:
    with pytest.raises(ExpressionSyntaxError, match=r"is not allowed|must be an integer literal"):
        parse(text)


def test_expression_language_computes_column_wise_with_sql_null_semantics() -> None:
    holds = check_expression(
        "paid_on >= '2026-01-01' and not is_null(currency) and round(amount / 3, 1) >= 3.3", ROWS
    )

    assert holds.to_pylist() == [True, True, True, False]


def test_expression_that_is_not_a_check_is_refused() -> None:
    with pytest.raises(ValueError, match="must give true or false per row"):
        check_expression("amount + fee", ROWS)


def test_emit_metrics_writes_one_quality_rule_failed_metric_per_failing_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = [
        run({"type": "row_count", "min": 5, "severity": "warn"}),
        run({"type": "row_count", "min": 1, "severity": "reject"}),
        run({"type": "unique", "columns": ["account"], "severity": "reject"}),
    ]

    assert emit_metrics("payments", results) == 2

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(m["rule"], m["severity"], m["dataset"], m["QualityRuleFailed"]) for m in lines] == [
        ("row_count", "warn", "payments", [1.0]),
        ("unique(account)", "reject", "payments", [1.0]),
    ]
    assert {d for m in lines for d in m["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]} == {
        "dataset",
        "rule",
        "severity",
    }
