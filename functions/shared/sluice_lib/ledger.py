"""The runs ledger: one DynamoDB item per source object version, written by every step.

Ownership: Validate claims the item for its execution with a conditional write; every later step
writes its progress only while its execution still owns the item. So a concurrent duplicate execution
(an event delivered twice, a rerun started while the first run goes on) ends early, and a rerun after
the first run ended claims the item again and reprocesses to the same end state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from sluice_lib.errors import DuplicateExecutionError, InvalidEventError, LedgerConflictError, error_code
from sluice_lib.models import RunStatus, SourceObject

# Statuses of an execution that may still write (PENDING_REDRIVE: a redrive is about to resume it).
LIVE_EXECUTION_STATUSES = frozenset(["RUNNING", "PENDING_REDRIVE"])
# What a finished run left on the item that a new run of the same object version must not inherit.
ENDED_RUN_FIELDS = (
    "error",
    "cause",
    "failed_state",
    "finished_at",
    "rejected_uri",
    "archive_uri",
    "curated_uri",
    "quarantine_uri",
    "counts",
    "extra_columns",
    "blank_lines",
    "rows_loaded",
    "serving_items",
    "validated_at",
    "loaded_at",
    "quality",
)
# A step after Validate runs while its execution owns the item: RUNNING, or FAILED when redriven.
STEP_STATUSES: tuple[RunStatus, ...] = ("RUNNING", "FAILED")
_CLAIM_ATTEMPTS = 5
# The runs of one dataset by when they ended (template.sam.yaml's RunsTable index; items without finished_at are
# not in it): the row-count anomaly rule's history.
BY_DATASET_INDEX = "by-dataset"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ledger_key(source: SourceObject) -> dict[str, dict[str, str]]:
    return {
        "pk": {"S": f"{source.bucket}/{source.key}"},
        "sk": {"S": source.version_id or source.etag or "-"},
    }


def _attr(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {k: _attr(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"L": [_attr(v) for v in value]}
    return {"S": str(value)}


def execution_running(sfn: Any, execution_arn: str) -> bool:
    """Whether the execution may still write: RUNNING or PENDING_REDRIVE (states:DescribeExecution).

    An execution that does not exist (any more) is not running; other errors propagate.
    """
    try:
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
    except ClientError as exc:
        if error_code(exc) == "ExecutionDoesNotExist":
            return False
        raise
    return status in LIVE_EXECUTION_STATUSES


@dataclass(frozen=True)
class Claim:
    """What Validate's claim found: the status and execution of the item before (None: a first run)."""

    previous_status: str | None
    previous_execution: str | None
    took_over: bool = False  # the previous owner was RUNNING on the ledger but no longer runs


def _plain(attr: dict[str, Any]) -> Any:
    ((kind, value),) = attr.items()
    if kind == "N":
        return int(value) if value.lstrip("-").isdigit() else float(value)
    if kind == "M":
        return {k: _plain(v) for k, v in value.items()}
    if kind == "L":
        return [_plain(v) for v in value]
    if kind == "NULL":
        return None
    return value


def plain_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as the low-level client returns it, as plain values (numbers as int or float)."""
    return {k: _plain(v) for k, v in item.items()}


def typed_item(values: dict[str, Any]) -> dict[str, Any]:
    """Plain values as a DynamoDB item for the low-level client (None as NULL), as the ledger writes them."""
    return {k: _attr(v) for k, v in values.items()}


class Ledger:
    """Reads and updates run items; `dynamodb` is a boto3 DynamoDB client."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self.ddb = dynamodb
        self.table = table_name

    def get(self, source: SourceObject) -> dict[str, Any] | None:
        item = self.ddb.get_item(TableName=self.table, Key=ledger_key(source), ConsistentRead=True).get(
            "Item"
        )
        return plain_item(item) if item else None

    def update(self, source: SourceObject, status: RunStatus, **fields: Any) -> None:
        """Sets the status and the given fields (None values are stored as NULL), unconditionally."""
        self._write(source, {"status": status, **fields})

    def _write(
        self,
        source: SourceObject,
        values: dict[str, Any],
        *,
        remove: Iterable[str] = (),
        condition: str | None = None,
        condition_values: dict[str, Any] | None = None,
    ) -> None:
        """One UpdateItem: SET `values` (+ updated_at, dataset), REMOVE `remove`, under `condition`.

        In `condition`, `#status` and `#arn` name the status and execution_arn attributes and
        `:<name>` the entries of `condition_values`.
        """
        try:
            dataset = source.dataset
        except InvalidEventError:  # a key outside incoming/<dataset>/ still gets its ledger item
            dataset = "_unknown"
        values = {"updated_at": now_iso(), "dataset": dataset, **values}
        if (
            "finished_at" in values and values["finished_at"] is None
        ):  # an index key cannot be NULL: leave it out
            del values["finished_at"]
            remove = [*remove, "finished_at"]
        names = {f"#{i}": k for i, k in enumerate(values)}
        attrs = {f":{i}": _attr(v) for i, v in enumerate(values.values())}
        expr = "SET " + ", ".join(f"#{i} = :{i}" for i in range(len(values)))
        removed = [name for name in remove if name not in values]
        if removed:
            names.update({f"#r{i}": name for i, name in enumerate(removed)})
            expr += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removed)))
        kwargs: dict[str, Any] = {}
        if condition is not None:
            names.update(
                {k: v for k, v in (("#status", "status"), ("#arn", "execution_arn")) if k in condition}
            )
            attrs.update({f":{k}": _attr(v) for k, v in (condition_values or {}).items()})
            kwargs["ConditionExpression"] = condition
        self.ddb.update_item(
            TableName=self.table,
            Key=ledger_key(source),
            UpdateExpression=expr,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attrs,
            **kwargs,
        )

    def claim(
        self, source: SourceObject, *, execution_arn: str, run_id: str, started_at: str, sfn: Any
    ) -> Claim:
        """Validate's claim: makes `execution_arn` the owner of the item, status RUNNING.

        Succeeds when there is no item, when its run ended (SUCCEEDED, REJECTED, FAILED: a rerun), when
        this execution owns it already (a retried Validate, a redrive), or when its owner no longer runs
        (asked through states:DescribeExecution: it failed before anything marked the item). Raises
        DuplicateExecutionError while another execution that still runs owns it. Every write is
        conditional on what was read, so of two executions claiming together exactly one wins.
        """
        values = {
            "status": "RUNNING",
            "execution_arn": execution_arn,
            "run_id": run_id,
            "started_at": started_at,
            "claimed_at": now_iso(),
            "step": "Validate",
        }
        item = self.get(source)
        for _ in range(_CLAIM_ATTEMPTS):
            owner = (item or {}).get("execution_arn")
            took_over = False
            if item is None or item.get("status") != "RUNNING" or owner == execution_arn:
                condition = "attribute_not_exists(#status) OR #status <> :running OR #arn = :me"
                condition_values = {"running": "RUNNING", "me": execution_arn}
            elif owner is None or not execution_running(sfn, owner):
                # The owner ended without a word to the ledger (its failure handler may be on its way).
                took_over = True
                if owner is None:
                    condition, condition_values = (
                        "#status = :running AND attribute_not_exists(#arn)",
                        {"running": "RUNNING"},
                    )
                else:
                    condition = "#status = :running AND #arn = :owner"
                    condition_values = {"running": "RUNNING", "owner": owner}
            else:
                self.note_duplicate(source, execution_arn)
                raise DuplicateExecutionError(
                    f"{source.uri} (version {source.version_id or source.etag or 'unknown'}) is being "
                    f"processed by {owner}, running since {item.get('started_at')}; this execution ends "
                    "as a duplicate"
                )
            try:
                self._write(
                    source,
                    values,
                    remove=ENDED_RUN_FIELDS,
                    condition=condition,
                    condition_values=condition_values,
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                item = self.get(source)  # someone wrote in between: decide again on what is there now
                continue
            return Claim(
                previous_status=(item or {}).get("status"), previous_execution=owner, took_over=took_over
            )
        raise LedgerConflictError(
            f"{source.uri}: the ledger item kept changing; {_CLAIM_ATTEMPTS} claims by {execution_arn} failed"
        )

    def record_failure(self, source: SourceObject, execution_arn: str, **fields: Any) -> bool:
        """Marks the run FAILED for a stopped execution that still owns it (or a run with no item yet).

        Returns False, writing nothing, when the item belongs to another execution (a rerun claimed it
        in the meantime) or its run ended otherwise (SUCCEEDED, REJECTED).
        """
        try:
            self._write(
                source,
                {"status": "FAILED", "execution_arn": execution_arn, **fields},
                condition="attribute_not_exists(#status) OR (#arn = :me AND #status IN (:running, :failed))",
                condition_values={"me": execution_arn, "running": "RUNNING", "failed": "FAILED"},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def note_duplicate(self, source: SourceObject, execution_arn: str) -> None:
        """Adds a duplicate execution's ARN to the item's `duplicate_executions` (it leaves the run alone)."""
        self.ddb.update_item(
            TableName=self.table,
            Key=ledger_key(source),
            UpdateExpression="ADD #dups :arn",
            ExpressionAttributeNames={"#dups": "duplicate_executions"},
            ExpressionAttributeValues={":arn": {"SS": [execution_arn]}},
        )

    def advance(
        self,
        source: SourceObject,
        execution_arn: str,
        step: str,
        *,
        status: RunStatus = "RUNNING",
        allowed: Iterable[RunStatus] = STEP_STATUSES,
        **fields: Any,
    ) -> None:
        """Records a step's progress while `execution_arn` owns the item and its status is `allowed`.

        Raises DuplicateExecutionError when another execution owns the item (it claimed it after this
        one stopped: this one is a late duplicate, e.g. a redrive after a rerun) and LedgerConflictError
        when the item is gone or in a status this step does not expect.
        """
        allowed = tuple(allowed)
        statuses = ", ".join(f":s{i}" for i in range(len(allowed)))
        try:
            self._write(
                source,
                {"status": status, "step": step, **fields},
                condition=f"#arn = :me AND #status IN ({statuses})",
                condition_values={"me": execution_arn, **{f"s{i}": s for i, s in enumerate(allowed)}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            item = self.get(source)
            owner = (item or {}).get("execution_arn")
            if item is not None and owner not in (None, execution_arn):
                raise DuplicateExecutionError(
                    f"{source.uri}: {owner} owns the run now (status {item.get('status')}); "
                    f"{step} of {execution_arn} does nothing"
                ) from None
            raise LedgerConflictError(
                f"{source.uri}: {step} of {execution_arn} expects the ledger item owned by it with status in "
                f"{list(allowed)}, found {None if item is None else (owner, item.get('status'))}"
            ) from None

    def recent_valid_rows(
        self, dataset: str, limit: int, *, exclude: SourceObject | None = None
    ) -> list[int]:
        """`counts.rows_valid` of the dataset's last `limit` SUCCEEDED runs, newest first (one Query of the
        `by-dataset` index, newest first, paging on only while failed or rejected runs fill the pages).

        `exclude` leaves out the item of that object version (a rerun is not its own history).
        """
        skip = ledger_key(exclude) if exclude is not None else None
        found: list[int] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_DATASET_INDEX,
            "KeyConditionExpression": "#dataset = :dataset",
            "FilterExpression": "#status = :succeeded",
            "ExpressionAttributeNames": {"#dataset": "dataset", "#status": "status"},
            "ExpressionAttributeValues": {":dataset": {"S": dataset}, ":succeeded": {"S": "SUCCEEDED"}},
            "ScanIndexForward": False,
        }
        while len(found) < limit:
            page = self.ddb.query(**kwargs, Limit=limit + 1)
            for item in page.get("Items", []):
                if skip is not None and item["pk"] == skip["pk"] and item["sk"] == skip["sk"]:
                    continue
                rows = _plain(item["counts"]) if "counts" in item else {}
                if isinstance(rows, dict) and isinstance(rows.get("rows_valid"), int):
                    found.append(rows["rows_valid"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]
