"""Archive step: moves the raw upload to archive/, marks the run SUCCEEDED and returns its notification."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from sluice_lib.handler import aws_clients, logger, metrics, step_handler
from sluice_lib.ledger import Ledger
from sluice_lib.models import ArchiveInput
from sluice_lib.notify import parse_time
from sluice_lib.raw import COPY_PARTS_AT_ONCE
from sluice_lib.settings import Settings
from sluice_lib.steps.archive import Retention, archive_run

SETTINGS = Settings.from_env()
# The template's CuratedVersionRetentionDays: how long a keyed table's superseded partition versions stay.
RETENTION_DAYS = float(os.environ["CURATED_VERSION_RETENTION_DAYS"])


# One connection per part of a multipart copy (sluice_lib.raw: COPY_PARTS_AT_ONCE parts at a time).
client = aws_clients(Config(max_pool_connections=COPY_PARTS_AT_ONCE))


@step_handler(ArchiveInput)
def lambda_handler(event: ArchiveInput, context: LambdaContext) -> dict[str, Any]:
    """The Archive state sends `{"run": <Validate's output>, "load": <Load's output>}` (after a fanned-out Load,
    it reads each LoadServing item's count from S3); it returns the message NotifySuccess publishes
    (sluice_lib.steps.notify_success)."""
    result = archive_run(
        event,
        s3=client("s3"),
        ledger=Ledger(client("dynamodb"), SETTINGS.runs_table),
        raw_bucket=SETTINGS.raw_bucket,
        region=client("s3").meta.region_name,
        retention=Retention(client("glue"), SETTINGS.glue_database, SETTINGS.lake_bucket, RETENTION_DAYS),
    )
    metrics.add_dimension(name="dataset", value=event.run.dataset)
    metrics.add_metric(name="RunsSucceeded", unit=MetricUnit.Count, value=1)
    started = parse_time(event.run.started_at)
    if started is not None:  # the execution's start (a redriven run counts its wait) to its last step
        seconds = (datetime.now(UTC) - started).total_seconds()
        metrics.add_metric(name="RunDuration", unit=MetricUnit.Seconds, value=seconds)
    logger.info("archived", extra={"archive_uri": result.archive_uri})
    return result.model_dump(mode="json")
