"""OnExecutionFailed: records a failed, timed-out or aborted execution and sends its one notification."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice_lib.handler import aws_clients, logger, metrics, step_handler
from sluice_lib.ledger import Ledger
from sluice_lib.models import ExecutionStatusChange
from sluice_lib.settings import Settings
from sluice_lib.steps.on_execution_failed import on_execution_failed

SETTINGS = Settings.from_env()


client = aws_clients()


@step_handler(ExecutionStatusChange, correlation_id_path="detail.name")
def lambda_handler(event: ExecutionStatusChange, context: LambdaContext) -> dict[str, Any]:
    """Invoked by the EventBridge rule with the event itself:
    `{"detail-type": "Step Functions Execution Status Change", "source": "aws.states", "region": ...,
      "detail": {"executionArn", "stateMachineArn", "name", "status": "FAILED|TIMED_OUT|ABORTED",
                 "startDate", "stopDate" (epoch ms), "input" (JSON text), "error", "cause", "redriveCount"}}`.
    """
    result = on_execution_failed(
        event,
        sfn=client("stepfunctions"),
        sns=client("sns"),
        ledger=Ledger(client("dynamodb"), SETTINGS.runs_table),
        topic_arn=SETTINGS.topic_arn,
    )
    metrics.add_metric(name="FailureNotificationsSent", unit=MetricUnit.Count, value=int(result.notified))
    logger.info("execution failure handled", extra=result.model_dump())
    return result.model_dump(mode="json")
