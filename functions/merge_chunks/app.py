"""MergeChunks step: the chunks of a large upload reduced to what Validate returns for a small one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.handler import POOLED, aws_clients, logger, metrics, step_handler
from sluice_lib.ledger import Ledger
from sluice_lib.models import MergeChunksInput
from sluice_lib.settings import Settings
from sluice_lib.steps.merge_chunks import merge_chunks_run
from sluice_lib.steps.validate import record_counts

SETTINGS = Settings.from_env()
CONTRACTS = SETTINGS.contracts()


client = aws_clients(POOLED)  # reads the chunks' results 16 at a time


@step_handler(MergeChunksInput, correlation_id_path="plan.run_id")
def lambda_handler(event: MergeChunksInput, context: LambdaContext) -> dict[str, Any]:
    """The MergeChunks state sends `{"plan": <Validate's fan-out plan>, "chunks": <PlanChunks' output>}`.
    Rejection errors (a chunk's NotUtf8Error, TooManyBadRowsError on the totals, a QualityRuleError) propagate
    for the Catch."""
    out = merge_chunks_run(
        event,
        ledger=Ledger(client("dynamodb"), SETTINGS.runs_table),
        contracts=CONTRACTS,
        settings=SETTINGS,
        s3=client("s3"),
        sqs=client("sqs"),
        glue=client("glue"),
    )
    since_start = datetime.now(UTC) - datetime.fromisoformat(event.plan.started_at)  # the whole fan-out
    record_counts(metrics, out, milliseconds=since_start.total_seconds() * 1000)
    logger.info(
        "validated", extra={"counts": out.counts.model_dump(), "source": out.source.uri, "chunks": out.chunks}
    )
    return out.model_dump(mode="json")
