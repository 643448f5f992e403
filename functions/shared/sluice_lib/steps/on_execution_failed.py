"""OnExecutionFailed: records a failed, timed-out or aborted execution and sends its one notification."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from sluice_lib.errors import REJECTION_ERRORS, InvalidEventError, error_code
from sluice_lib.lease import release
from sluice_lib.ledger import Ledger, ledger_key
from sluice_lib.models import (
    ExecutionStatusChange,
    ExecutionStatusDetail,
    NotificationStatus,
    OnExecutionFailedOutput,
    SourceObject,
    source_from_event,
)
from sluice_lib.notify import build_notification, publish, readable_cause
from sluice_lib.raw import dataset_or_unknown

FAILURE_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
REJECTION_NAMES = frozenset(cls.__name__ for cls in REJECTION_ERRORS)
# TIMED_OUT and ABORTED executions carry no error of their own.
_STATUS_ERRORS = {
    "TIMED_OUT": ("States.Timeout", "The execution exceeded its TimeoutSeconds."),
    "ABORTED": (
        "ExecutionAborted",
        "The execution was stopped (StopExecution, by a person or a deployment).",
    ),
}
_OUTPUT_FIELDS = ("curated_uri", "archive_uri", "rejected_uri", "quarantine_uri")
_COUNT_FIELDS = ("rows_in", "rows_valid", "rows_rejected", "rows_loaded")


def _iso(epoch_ms: int | None) -> str | None:
    if epoch_ms is None:
        return None
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def find_failed_state(sfn: Any, execution_arn: str) -> str | None:
    """The state that was running when the execution stopped: the latest entered state that never exited."""
    exited: set[str] = set()
    kwargs: dict[str, Any] = {
        "executionArn": execution_arn,
        "reverseOrder": True,
        "maxResults": 1000,
        "includeExecutionData": False,
    }
    while True:
        page = sfn.get_execution_history(**kwargs)
        # Newest first by event id, whatever order the page arrives in (moto 5.2.5 ignores reverseOrder).
        for event in sorted(page.get("events", []), key=lambda e: int(e.get("id", 0)), reverse=True):
            kind = event.get("type", "")
            if kind.endswith("StateExited"):
                exited.add(event["stateExitedEventDetails"]["name"])
            elif kind.endswith("StateEntered"):
                name = event["stateEnteredEventDetails"]["name"]
                if name not in exited:
                    return str(name)
        if not page.get("nextToken"):
            return None
        kwargs["nextToken"] = page["nextToken"]


def _execution_input(sfn: Any, detail: ExecutionStatusDetail) -> dict[str, Any]:
    # EventBridge leaves out an input larger than its event limit; the execution still has it.
    text = (
        detail.input
        if detail.input is not None
        else sfn.describe_execution(executionArn=detail.execution_arn)["input"]
    )
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise InvalidEventError(f"{detail.execution_arn}: the execution input is not JSON") from exc
    if not isinstance(parsed, dict):
        raise InvalidEventError(f"{detail.execution_arn}: the execution input is not a JSON object")
    return parsed


def _claim(ledger: Ledger, source: SourceObject, detail: ExecutionStatusDetail) -> bool:
    """Marks the item notified for this execution (and redrive); False if an earlier delivery already did."""
    try:
        ledger.ddb.update_item(
            TableName=ledger.table,
            Key=ledger_key(source),
            UpdateExpression="SET #arn = :arn, #redrive = :redrive",
            ConditionExpression="NOT (#arn = :arn AND #redrive = :redrive)",
            ExpressionAttributeNames={"#arn": "notified_execution", "#redrive": "notified_redrive_count"},
            ExpressionAttributeValues={
                ":arn": {"S": detail.execution_arn},
                ":redrive": {"N": str(detail.redrive_count)},
            },
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _release(ledger: Ledger, source: SourceObject, detail: ExecutionStatusDetail) -> None:
    """Undoes a claim whose message was not sent, so the redelivered event sends it."""
    try:
        ledger.ddb.update_item(
            TableName=ledger.table,
            Key=ledger_key(source),
            UpdateExpression="REMOVE #arn, #redrive",
            ConditionExpression="#arn = :arn AND #redrive = :redrive",
            ExpressionAttributeNames={"#arn": "notified_execution", "#redrive": "notified_redrive_count"},
            ExpressionAttributeValues={
                ":arn": {"S": detail.execution_arn},
                ":redrive": {"N": str(detail.redrive_count)},
            },
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise


def _counts(item: dict[str, Any]) -> dict[str, Any]:
    if isinstance(item.get("counts"), dict):
        return dict(item["counts"])
    return {name: item[name] for name in _COUNT_FIELDS if name in item}


def on_execution_failed(
    event: ExecutionStatusChange, *, sfn: Any, sns: Any, ledger: Ledger, topic_arn: str
) -> OnExecutionFailedOutput:
    """Sends exactly one REJECTED or FAILED notification per finished execution, and records the failure.

    Events arrive at least once: the ledger item remembers the execution (and redrive) it notified for.
    A rejected file was recorded by RejectFile; any other failure marks the item FAILED with the state
    that failed, unless the item belongs to another execution or is SUCCEEDED (only the notice failed).
    The execution's merge lease on its dataset, if it holds it, is released (a later holder's is left alone).
    """
    detail = event.detail
    arn = detail.execution_arn
    if detail.status not in FAILURE_STATUSES:
        return OnExecutionFailedOutput(
            execution_arn=arn, notified=False, reason=f"status {detail.status} is not a failure"
        )
    try:
        source: SourceObject | None = source_from_event(_execution_input(sfn, detail))
    except InvalidEventError:
        source = None  # started by hand with some other input: notify; nothing to record or deduplicate
    if source is not None:  # a keyed dataset's merge lease, if this execution holds it (sluice_lib.lease)
        release(ledger.ddb, ledger.table, dataset_or_unknown(source), arn)
    item: dict[str, Any] = {}
    if source is not None:
        item = ledger.get(source) or {}
        seen = (
            item.get("notified_execution") == arn
            and item.get("notified_redrive_count") == detail.redrive_count
        )
        if seen or not _claim(ledger, source, detail):
            return OnExecutionFailedOutput(execution_arn=arn, notified=False, reason="already notified")
    try:
        return _record_and_notify(event, source, item, sfn=sfn, sns=sns, ledger=ledger, topic_arn=topic_arn)
    except BaseException:
        if source is not None:
            _release(ledger, source, detail)
        raise


def _record_and_notify(
    event: ExecutionStatusChange,
    source: SourceObject | None,
    item: dict[str, Any],
    *,
    sfn: Any,
    sns: Any,
    ledger: Ledger,
    topic_arn: str,
) -> OnExecutionFailedOutput:
    detail = event.detail
    arn = detail.execution_arn
    error_type, cause = detail.error, detail.cause
    if error_type is None and detail.status in _STATUS_ERRORS:
        error_type, cause = _STATUS_ERRORS[detail.status]
    finished_at = _iso(detail.stop_date)
    rejected = item.get("status") == "REJECTED" and error_type in REJECTION_NAMES
    status: NotificationStatus = "REJECTED" if rejected else "FAILED"
    failed_state = None
    if rejected:
        error_type = item.get("error") or error_type
        cause = item.get("cause") or cause
    else:
        failed_state = find_failed_state(sfn, arn)
        if source is not None:
            # Conditional: a rerun may have claimed the item since it was read.
            ledger.record_failure(
                source,
                arn,
                failed_state=failed_state,
                error=error_type,
                cause=readable_cause(cause),
                finished_at=finished_at,
            )
    shown = source or SourceObject(bucket="unknown", key="unknown")
    notification = build_notification(
        status=status,
        dataset=dataset_or_unknown(shown),
        source=shown,
        counts=_counts(item),
        started_at=_iso(detail.start_date),
        execution_arn=arn,
        region=event.region,
        outputs={name: item.get(name) for name in _OUTPUT_FIELDS},
        error={"type": error_type, "cause": cause},
        failed_state=failed_state,
        finished_at=finished_at,
        extra_columns=item.get("extra_columns"),
        quality=item.get("quality") if item.get("execution_arn") == arn else None,
    )
    message_id = publish(sns, topic_arn, notification)
    return OnExecutionFailedOutput(
        execution_arn=arn, notified=True, status=status, failed_state=failed_state, message_id=message_id
    )
