"""Load step: publishes the transform output to curated/, the Glue catalog and the serving table."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.handler import BULK_WRITES, POOLED, aws_clients, logger, metrics, step_handler
from sluice_lib.ledger import Ledger
from sluice_lib.models import LoadInput
from sluice_lib.settings import Settings
from sluice_lib.steps.load import load_run

SETTINGS = Settings.from_env()
LEASE_SECONDS = float(os.environ["MERGE_LEASE_SECONDS"])  # the template's MergeLeaseSeconds
client = aws_clients(POOLED)
bulk_client = aws_clients(BULK_WRITES)  # the serving writes (and Load's lease and generation items)


@step_handler(LoadInput)
def lambda_handler(event: LoadInput, context: LambdaContext) -> dict[str, Any]:
    """The Load state sends
    `{"run": <Validate's output>, "transform": {"job_run_id": "jr_...", "state": "SUCCEEDED"},
      "lease": {"held": true, "generation": 3}, "fan_out_files": 20, "fan_out_rows": 1000000}`;
    DatasetBusyError (retried) while another execution holds the dataset's merge lease (a redriven Load takes it
    again); StaleMergeError (not retried) when another execution merged into the dataset since TakeLease read
    `generation`.
    """
    metrics.add_dimension(name="dataset", value=event.run.dataset)
    result = load_run(
        event,
        s3=client("s3"),
        glue=client("glue"),
        dynamodb=bulk_client("dynamodb"),
        ledger=Ledger(client("dynamodb"), SETTINGS.runs_table),
        lake_bucket=SETTINGS.lake_bucket,
        glue_database=SETTINGS.glue_database,
        serving_table=SETTINGS.serving_table,
        lease_seconds=LEASE_SECONDS,
    )
    metrics.add_metric(name="RowsLoaded", unit=MetricUnit.Count, value=result.rows_loaded)
    metrics.add_metric(name="ServingItems", unit=MetricUnit.Count, value=result.serving_items)
    logger.info("loaded", extra=result.model_dump(exclude={"partitions"}))
    return result.model_dump(mode="json")
