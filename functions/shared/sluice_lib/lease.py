"""The per-dataset merge lease: one item in the runs table that serialises the merge-publish of a keyed dataset
(read the catalog's current partitions, transform, switch the catalog) across executions.

Taken with a conditional write: free, already ours (a retried or redriven step of the same execution takes it
again and extends it), or expired (its holder died without releasing it). A taken lease raises DatasetBusyError,
which the state machine retries with backoff and full jitter. Released, by its holder only, after the publish and
when the execution fails (OnExecutionFailed), so a lease outlives its execution only until it expires.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sluice_lib.errors import DatasetBusyError, error_code

LEASE_SORT_KEY = "lease"


def lease_key(dataset: str) -> dict[str, dict[str, str]]:
    """The lease's item: `pk` = `lease#<dataset>` never collides with a ledger item's `<bucket>/<key>`."""
    return {"pk": {"S": f"lease#{dataset}"}, "sk": {"S": LEASE_SORT_KEY}}


@dataclass(frozen=True)
class Lease:
    dataset: str
    holder: str
    expires_at: float


def acquire(
    dynamodb: Any, table: str, dataset: str, holder: str, ttl_seconds: float, now: float | None = None
) -> Lease:
    """Takes (or extends) the dataset's lease for `holder` (an execution ARN) for `ttl_seconds`."""
    at = time.time() if now is None else now
    expires = at + ttl_seconds
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                **lease_key(dataset),
                "holder": {"S": holder},
                "expires_at": {"N": repr(expires)},
                "acquired_at": {"N": repr(at)},
            },
            ConditionExpression="attribute_not_exists(pk) OR holder = :me OR expires_at < :now",
            ExpressionAttributeValues={":me": {"S": holder}, ":now": {"N": repr(at)}},
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        current = dynamodb.get_item(TableName=table, Key=lease_key(dataset), ConsistentRead=True).get(
            "Item", {}
        )
        other = current.get("holder", {}).get("S", "another execution")
        until = float(current.get("expires_at", {}).get("N", "0"))
        raise DatasetBusyError(
            f"{dataset}: {other} is merging into the curated table (lease until {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(until))}); retry"
        ) from exc
    return Lease(dataset, holder, expires)


def release(dynamodb: Any, table: str, dataset: str, holder: str) -> bool:
    """Gives the lease back if `holder` still has it; False when it had expired and another took it (or none)."""
    try:
        dynamodb.delete_item(
            TableName=table,
            Key=lease_key(dataset),
            ConditionExpression="holder = :me",
            ExpressionAttributeValues={":me": {"S": holder}},
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True
