"""The per-dataset merge lease: one item in the runs table that serialises the merge-publish of a keyed dataset
(read the catalog's current partitions, transform, switch the catalog) across executions.

Taken with a conditional write: free, already ours (a retried or redriven step of the same execution takes it
again and extends it), or expired (its holder died without releasing it). A taken lease raises DatasetBusyError,
which the state machine retries with backoff and full jitter. Released, by its holder only, after the publish and
when the execution fails (OnExecutionFailed), so a lease outlives its execution only until it expires.

Beside it, the dataset's publish generation: a counter every merge-publish bumps, conditionally on the value the
holder read when it took the lease. The lease serialises the normal case; the generation refuses what the lease
cannot see: a redriven Load (its lease was released when the execution failed) or a holder whose lease expired,
either of which would publish a transform that read the table before another execution's merge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sluice_lib.errors import DatasetBusyError, StaleMergeError, error_code

LEASE_PREFIX = "lease#"  # the partition key of a dataset's lease and generation items
LEASE_SORT_KEY = "lease"
GENERATION_SORT_KEY = "generation"
RERUN_HINT = (
    "start a new execution for the file (`sluice run` / a console rerun / re-upload) so that it merges against "
    "the current table"
)


def lease_key(dataset: str) -> dict[str, dict[str, str]]:
    """The lease's item: `pk` = `lease#<dataset>` never collides with a ledger item's `<bucket>/<key>`."""
    return {"pk": {"S": f"{LEASE_PREFIX}{dataset}"}, "sk": {"S": LEASE_SORT_KEY}}


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
        current = _current(dynamodb, table, lease_key(dataset))
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


def generation_key(dataset: str) -> dict[str, dict[str, str]]:
    """The publish generation's item: under `lease#<dataset>` like the lease, so the roles' `dynamodb:LeadingKeys`
    scoping covers it."""
    return {"pk": {"S": f"{LEASE_PREFIX}{dataset}"}, "sk": {"S": GENERATION_SORT_KEY}}


def read_generation(dynamodb: Any, table: str, dataset: str) -> int:
    """The dataset's publish generation (0 before its first merge-publish), read consistently."""
    item = dynamodb.get_item(TableName=table, Key=generation_key(dataset), ConsistentRead=True).get("Item")
    return 0 if item is None else int(item["generation"]["N"])


def bump_generation(dynamodb: Any, table: str, dataset: str, read: int, publisher: str) -> int:
    """Moves the generation from `read` (what the transform's execution read when it took the lease) to `read + 1`
    for `publisher` (an execution ARN), and returns it. Passes again for the same publisher once it bumped (a
    retried or redriven Load of one execution); StaleMergeError when another execution published since `read`."""
    bumped = read + 1
    still = "generation = :read" if read else "(attribute_not_exists(generation) OR generation = :read)"
    try:
        dynamodb.update_item(
            TableName=table,
            Key=generation_key(dataset),
            UpdateExpression="SET generation = :next, published_by = :me",
            ConditionExpression=f"{still} OR (published_by = :me AND generation = :next)",
            ExpressionAttributeValues={
                ":read": {"N": str(read)},
                ":next": {"N": str(bumped)},
                ":me": {"S": publisher},
            },
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        current = _current(dynamodb, table, generation_key(dataset))
        now = current.get("generation", {}).get("N", "0")
        by = current.get("published_by", {}).get("S", "another execution")
        raise StaleMergeError(
            f"{dataset}: this execution's transform merged against publish generation {read}, but the table is at "
            f"generation {now}: {by} published a merge since, which this one's partitions would overwrite. "
            f"Nothing was published and nothing is lost (the upload stays in incoming/, the other execution's rows "
            f"stay); {RERUN_HINT}"
        ) from exc
    return bumped


def advance_generation(dynamodb: Any, table: str, dataset: str, publisher: str) -> int:
    """Bumps the generation without a condition (a publish whose execution read none: a Load input from before
    the generation existed), so that a transform which read the older one is refused; returns the new one."""
    answer = dynamodb.update_item(
        TableName=table,
        Key=generation_key(dataset),
        UpdateExpression="SET published_by = :me ADD generation :one",
        ExpressionAttributeValues={":me": {"S": publisher}, ":one": {"N": "1"}},
        ReturnValues="UPDATED_NEW",
    )
    return int(answer["Attributes"]["generation"]["N"])


def _current(dynamodb: Any, table: str, key: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The item a conditional write was refused on, read consistently for the error's message ({} if gone)."""
    item: dict[str, Any] = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item", {})
    return item
