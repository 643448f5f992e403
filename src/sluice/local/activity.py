"""What a long state is doing right now, read from the emulation's side: Spark's task counts, serving items."""

from __future__ import annotations

from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends


def spark_tasks() -> str | None:
    """`stage 3: 1/2 tasks` for the local Glue job's running Spark stages, or None when none runs."""
    from pyspark import SparkContext  # imported late: most runs never start Spark

    context = SparkContext._active_spark_context
    if context is None or getattr(context, "_jsc", None) is None:  # none, or still starting / stopping
        return None
    parts = []
    try:
        tracker = context.statusTracker()
        for stage_id in sorted(tracker.getActiveStageIds()):
            info = tracker.getStageInfo(stage_id)
            if info is not None:
                parts.append(f"stage {stage_id}: {info.numCompletedTasks}/{info.numTasks} tasks")
    except Exception:  # a progress line is never worth failing the run: the session may stop meanwhile
        return None
    return ", ".join(parts) or None


def table_items(table_name: str, region: str = "us-east-1") -> int | None:
    """How many items the emulated DynamoDB table holds (without a Scan), or None when it does not exist."""
    table: Any = dynamodb_backends[DEFAULT_ACCOUNT_ID][region].tables.get(table_name)
    return None if table is None else len(table)
