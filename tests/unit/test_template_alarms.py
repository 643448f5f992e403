"""The template's CloudWatch alarms: within CloudWatch's limits, and every function watched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sluice.local.template import SamApp

TEMPLATE = Path(__file__).resolve().parents[2] / "template.sam.yaml"
# An alarm on metric math may reference at most 10 metrics: a hard limit, PutMetricAlarm refuses more.
MAX_ALARM_METRICS = 10


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return SamApp.load(TEMPLATE).sam


def _alarms(sam: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in sam["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}


def _watched(alarm: dict[str, Any], metric: str) -> set[str]:
    return {
        dim["Value"]["Ref"]
        for query in alarm.get("Metrics", [])
        if "MetricStat" in query and query["MetricStat"]["Metric"]["MetricName"] == metric
        for dim in query["MetricStat"]["Metric"].get("Dimensions", [])
        if dim["Name"] == "FunctionName"
    }


def test_metric_math_alarms_reference_at_most_ten_metrics(sam: dict[str, Any]) -> None:
    for name, alarm in _alarms(sam).items():
        stats = [q for q in alarm.get("Metrics", []) if "MetricStat" in q]
        assert len(stats) <= MAX_ALARM_METRICS, f"{name} references {len(stats)} metrics"


def test_every_function_metric_is_referenced_by_its_alarm_expression(sam: dict[str, Any]) -> None:
    for name, alarm in _alarms(sam).items():
        queries = alarm.get("Metrics", [])
        if not queries:
            continue
        (expression,) = [q["Expression"] for q in queries if q.get("ReturnData")]
        for query in queries:
            if "MetricStat" in query:
                assert query["Id"] in expression, f"{name}: {query['Id']} is fetched and never used"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_its_errors_and_throttles_alarmed(sam: dict[str, Any], metric: str) -> None:
    functions = {k for k, v in sam["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    watched = set().union(*(_watched(alarm, metric) for alarm in _alarms(sam).values()))
    assert functions == watched
