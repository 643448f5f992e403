"""Rolling a keyed curated table back to the state after a given run (docs/merge.md): every partition that a later
run (or rollback) changed is switched back to the location it had right after the run, from the ledger's
`versions`. Called by `sluice rollback`, locally and against a deployed stack, from the operator's machine: no
Lambda runs it (its calls are the operator's, not a function role's).

Under the dataset's merge lease, so it never interleaves with a merge; every target location is checked before
anything changes; the publish generation is bumped, so a redriven Load whose transform read the table before the
rollback is refused (StaleMergeError); the switch uses the merge's own requests (sluice_lib.merge_publish); the
rollback is recorded in the runs table as an item of its own, beside the lease (`lease#<dataset>`,
`rollback#<at>#<id>`), which later rollbacks read as one more change of the catalog and the ledger export keeps
apart from the runs. Each restored version gets a `_restored-<time>` marker, so retention counts it superseded
from when a later merge replaces it, not from when it was first replaced (sluice_lib.retention).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sluice_lib.catalog_files import current_locations, files_at, split_location
from sluice_lib.contracts import ContractStore, Serving
from sluice_lib.errors import (
    CatalogUpdateError,
    ContractNotFoundError,
    DatasetBusyError,
    DatasetNotKeyedError,
    RunNotFoundError,
    RunNotPublishedError,
    UnsafeRollbackTargetError,
    VersionRemovedError,
)
from sluice_lib.lake import Column, Manifest, list_keys
from sluice_lib.lease import LEASE_PREFIX, acquire, advance_generation, lease_key, release
from sluice_lib.ledger import BY_DATASET_INDEX, plain_item, typed_item
from sluice_lib.merge_publish import switch_partitions, switch_table_location
from sluice_lib.retention import is_version_folder, restored_marker
from sluice_lib.serving import restore_items

ROLLBACK_SORT_PREFIX = "rollback#"  # the sort key of a rollback's item, under the dataset's `lease#<dataset>`
LEASE_SECONDS = 900.0  # a rollback takes seconds; if it dies holding the lease, merges wait this long
GET_BATCH = 100  # BatchGetItem's limit
TABLE = "(table)"  # how an unpartitioned table's one location is named in messages

Action = Literal["switch", "create", "drop"]


@dataclass(frozen=True)
class Change:
    """One partition's switch: from the catalog's location now to the one it had right after the run."""

    partition: str  # `""`: an unpartitioned table's location
    before: str | None  # None: the catalog has no such partition now
    after: str | None  # None: the partition did not exist after the run (dropped)

    @property
    def action(self) -> Action:
        if self.after is None:
            return "drop"
        return "create" if self.before is None else "switch"

    def to_json(self) -> dict[str, Any]:
        return {"partition": self.partition, "action": self.action, "from": self.before, "to": self.after}


@dataclass(frozen=True)
class Publish:
    """A change of the catalog the ledger records: a run's Load (`run_id`) or a rollback (`rollback_id`)."""

    at: str  # loaded_at or rolled_back_at (ISO 8601, UTC, as sluice_lib.ledger.now_iso writes them)
    run_id: str | None
    rollback_id: str | None
    previous: dict[str, str | None]
    current: dict[str, str | None]

    @property
    def order(self) -> tuple[str, str]:
        return self.at, self.run_id or self.rollback_id or ""


@dataclass
class RollbackResult:
    dataset: str
    to_run: str
    run_loaded_at: str
    changes: list[Change]
    dry_run: bool
    holder: str
    rollback_id: str | None = None  # None: nothing recorded (a dry run, or nothing to change)
    rolled_back_at: str | None = None
    generation: int | None = None  # the publish generation after the rollback's bump
    warnings: list[str] = field(default_factory=list)
    serving_written: int = 0  # serving items of the restored versions' rows (upserted)
    serving_deleted: int = 0  # serving items of keys only the rolled-away versions held

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "to_run": self.to_run,
            "run_loaded_at": self.run_loaded_at,
            "dry_run": self.dry_run,
            "changes": [c.to_json() for c in self.changes],
            "rollback_id": self.rollback_id,
            "rolled_back_at": self.rolled_back_at,
            "generation": self.generation,
            "warnings": self.warnings,
            "serving": {"written": self.serving_written, "deleted": self.serving_deleted},
        }


def rollback(
    *,
    s3: Any,
    glue: Any,
    dynamodb: Any,
    contracts: ContractStore,
    runs_table: str,
    database: str,
    dataset: str,
    to_run: str,
    dry_run: bool = False,
    holder: str | None = None,
    lease_seconds: float = LEASE_SECONDS,
    now: datetime | None = None,
    serving_table: str | None = None,
) -> RollbackResult:
    """Switches the dataset's catalog back to its state right after run `to_run` and records it; with `dry_run`,
    only plans (no lease taken, nothing written). Raises, before anything changes: ContractNotFoundError,
    DatasetNotKeyedError, RunNotFoundError, RunNotPublishedError, VersionRemovedError, UnsafeRollbackTargetError,
    DatasetBusyError (a merge holds the lease). `holder`: the lease holder's id (default: a new one). With
    `serving_table` and a contract with `serving` keys, the serving table is put back too (`restore_serving`)."""
    contract = contracts.get(dataset)
    if contract is None:
        known = ", ".join(contracts.datasets()) or "none"
        raise ContractNotFoundError(
            f"no contract for dataset {dataset!r} in {contracts.root} (known: {known})"
        )
    if not contract.primary_key:
        raise DatasetNotKeyedError(
            f"{dataset}: the contract has no schema.primaryKey, so its curated table is append-only: runs add "
            "files and keep no partition versions to roll back to"
        )
    holder = holder or f"sluice-rollback-{uuid.uuid4().hex[:12]}"
    if dry_run:
        result = plan_rollback(s3, glue, dynamodb, runs_table, database, dataset, to_run, holder)
        result.dry_run = True
        busy = _lease_holder(dynamodb, runs_table, dataset)
        if busy:
            result.warnings.append(f"{busy} holds the merge lease now: the plan may change when it publishes")
        return result
    try:
        acquire(dynamodb, runs_table, dataset, holder, lease_seconds)
    except DatasetBusyError as exc:
        raise DatasetBusyError(
            f"cannot roll back now: {exc}. Nothing was changed; wait until the execution ends (`sluice status`) "
            "and run the rollback again"
        ) from exc
    try:
        result = plan_rollback(s3, glue, dynamodb, runs_table, database, dataset, to_run, holder)
        if result.changes:
            serving = contract.pipeline.serving if serving_table else None
            _apply(s3, glue, dynamodb, runs_table, database, result, now or datetime.now(UTC))
            if serving is not None and serving_table:
                restore_serving(s3, glue, dynamodb, database, result, serving, serving_table)
    finally:
        release(dynamodb, runs_table, dataset, holder)
    return result


def plan_rollback(
    s3: Any, glue: Any, dynamodb: Any, runs_table: str, database: str, dataset: str, to_run: str, holder: str
) -> RollbackResult:
    """The switches that restore the state after `to_run`, every target location checked (nothing written)."""
    runs = dataset_runs(dynamodb, runs_table, dataset)
    item = find_run(dynamodb, runs_table, dataset, to_run, runs)
    target = _publish_of_run(item)
    if target is None:
        raise RunNotPublishedError(
            f"{dataset}: run {to_run} published no merge (status {item.get('status')}"
            f"{', failed at ' + str(item['failed_state']) if item.get('failed_state') else ''}), so the table "
            f"never had a state after it; runs of {dataset} that did: {_published_list(runs)}"
        )
    history = sorted(
        [p for p in (_publish_of_run(r) for r in runs) if p is not None]
        + [_publish_of_rollback(r) for r in dataset_rollbacks(dynamodb, runs_table, dataset)],
        key=lambda p: p.order,
    )
    catalog = current_locations(glue, database, dataset)
    changes, warnings = plan_changes(history, target, catalog)
    check_targets(s3, dataset, to_run, changes)
    return RollbackResult(
        dataset=dataset,
        to_run=to_run,
        run_loaded_at=target.at,
        changes=changes,
        dry_run=False,
        holder=holder,
        warnings=warnings,
    )


def plan_changes(
    history: list[Publish], target: Publish, catalog: dict[str, str]
) -> tuple[list[Change], list[str]]:
    """For every partition a publish after `target` changed: the location after `target` (the `current` of the
    last publish up to it that changed the partition, else the `previous` of the first after it that did; None:
    absent), compared with the catalog's now. Also warns of a partition whose catalog location is not the one the
    ledger's last change set (changed outside the pipeline, or by a Load that failed before its ledger write)."""
    at = next(i for i, p in enumerate(history) if p.order == target.order)
    before, after = history[: at + 1], history[at + 1 :]
    changes, warnings = [], []
    for partition in sorted({p for publish in after for p in publish.current}):
        earlier = [pub.current[partition] for pub in before if partition in pub.current]
        restored = (
            earlier[-1] if earlier else next(a.previous[partition] for a in after if partition in a.current)
        )
        latest = next(a.current[partition] for a in reversed(after) if partition in a.current)
        now = catalog.get(partition)
        if not _same(now, latest):
            warnings.append(
                f"{partition or TABLE}: the catalog names {now or 'no location'}, but the last change the ledger "
                f"records set {latest or 'none'}"
            )
        if not _same(now, restored):
            changes.append(Change(partition, now, restored))
    return changes, warnings


def check_targets(s3: Any, dataset: str, to_run: str, changes: list[Change]) -> None:
    """Every location to switch back to still holds its files, and presents only them to a reader."""
    missing = [c for c in changes if c.after is not None and not files_at(s3, c.after)]
    if missing:
        listed = "; ".join(f"partition {c.partition or TABLE}: {c.after}" for c in missing)
        raise VersionRemovedError(
            f"{dataset}: the state after run {to_run} cannot be restored: retention removed "
            f"{'the version' if len(missing) == 1 else f'{len(missing)} versions'} it needs (they are kept "
            f"CuratedVersionRetentionDays after being superseded); no files at {listed}. Nothing was changed"
        )
    for change in changes:
        if change.after is None or is_version_folder(change.after.rstrip("/").rsplit("/", 1)[-1]):
            continue
        bucket, prefix = split_location(change.after)
        nested = sorted(
            {
                k[len(prefix) :].split("/", 1)[0]
                for k in list_keys(s3, bucket, prefix)
                if "/" in k[len(prefix) :]
            }
        )
        if any(is_version_folder(name) for name in nested):
            raise UnsafeRollbackTargetError(
                f"{dataset}: partition {change.partition or TABLE} had its plain-append files in {change.after} "
                f"after run {to_run}, and that directory now also holds merge version folders, which a reader of "
                "the location would read too. Nothing was changed; roll back to a run that published a merge "
                "version of it"
            )


def dataset_runs(dynamodb: Any, runs_table: str, dataset: str) -> list[dict[str, Any]]:
    """The dataset's ended runs, whole ledger items (the `by-dataset` index's keys, then BatchGetItem)."""
    keys = []
    for page in dynamodb.get_paginator("query").paginate(
        TableName=runs_table,
        IndexName=BY_DATASET_INDEX,
        KeyConditionExpression="#dataset = :dataset",
        ExpressionAttributeNames={"#dataset": "dataset"},
        ExpressionAttributeValues={":dataset": {"S": dataset}},
    ):
        keys += [{"pk": item["pk"], "sk": item["sk"]} for item in page.get("Items", [])]
    items: list[dict[str, Any]] = []
    for start in range(0, len(keys), GET_BATCH):
        request = {runs_table: {"Keys": keys[start : start + GET_BATCH], "ConsistentRead": True}}
        while request:
            answer = dynamodb.batch_get_item(RequestItems=request)
            items += [plain_item(i) for i in answer.get("Responses", {}).get(runs_table, [])]
            request = answer.get("UnprocessedKeys") or {}
            if request:
                time.sleep(0.1)
    return items


def dataset_rollbacks(dynamodb: Any, runs_table: str, dataset: str) -> list[dict[str, Any]]:
    """The dataset's recorded rollbacks, oldest first."""
    items = []
    for page in dynamodb.get_paginator("query").paginate(
        TableName=runs_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :rollback)",
        ExpressionAttributeValues={
            ":pk": {"S": f"{LEASE_PREFIX}{dataset}"},
            ":rollback": {"S": ROLLBACK_SORT_PREFIX},
        },
        ConsistentRead=True,
    ):
        items += [plain_item(i) for i in page.get("Items", [])]
    return items


def find_run(
    dynamodb: Any, runs_table: str, dataset: str, run_id: str, runs: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ledger item of run `run_id` among the dataset's ended `runs`; else says why there is none."""
    for item in runs:
        if item.get("run_id") == run_id:
            return item
    found = _scan_run(dynamodb, runs_table, run_id)
    if found is None:
        raise RunNotFoundError(
            f"{dataset}: the ledger ({runs_table}) has no run {run_id} (a rerun of a file replaces its run's "
            f"ledger item and run id); runs of {dataset} that published a merge: {_published_list(runs)}"
        )
    if found.get("dataset") != dataset:
        raise RunNotFoundError(f"run {run_id} is a run of dataset {found.get('dataset')}, not of {dataset}")
    raise RunNotPublishedError(
        f"{dataset}: run {run_id} has not ended (status {found.get('status')}, at {found.get('step')}): wait for it "
        "to end, then roll back"
    )


def _scan_run(dynamodb: Any, runs_table: str, run_id: str) -> dict[str, Any] | None:
    """The item of a run id in the whole runs table (the rare path: a run not among the dataset's ended runs)."""
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=runs_table,
        FilterExpression="run_id = :run",
        ExpressionAttributeValues={":run": {"S": run_id}},
        ConsistentRead=True,
    ):
        for item in page.get("Items", []):
            return plain_item(item)
    return None


def _publish_of_run(item: dict[str, Any]) -> Publish | None:
    """A run's change of the catalog: published when Load recorded `versions` and `loaded_at` (a rerun of the file
    removes `loaded_at` when it claims the item, so a stale `versions` of an earlier run does not count)."""
    versions = item.get("versions")
    if not item.get("loaded_at") or not isinstance(versions, list):
        return None
    return _publish(str(item["loaded_at"]), versions, run_id=str(item.get("run_id")))


def _publish_of_rollback(item: dict[str, Any]) -> Publish:
    return _publish(
        str(item["rolled_back_at"]), item.get("versions") or [], rollback_id=str(item["rollback_id"])
    )


def _publish(
    at: str, versions: list[dict[str, Any]], run_id: str | None = None, rollback_id: str | None = None
) -> Publish:
    return Publish(
        at=at,
        run_id=run_id,
        rollback_id=rollback_id,
        previous={v["partition"]: v.get("previous") or None for v in versions},
        current={v["partition"]: v.get("current") or None for v in versions},
    )


def _published_list(runs: list[dict[str, Any]], limit: int = 10) -> str:
    published = sorted(
        (p.at, p.run_id) for p in (_publish_of_run(r) for r in runs) if p is not None and p.run_id
    )
    if not published:
        return "none"
    shown = ", ".join(f"{run} (loaded {at})" for at, run in reversed(published[-limit:]))
    return shown + (f" and {len(published) - limit} older" if len(published) > limit else "")


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").rstrip("/") == (b or "").rstrip("/")


def _lease_holder(dynamodb: Any, runs_table: str, dataset: str) -> str | None:
    item = dynamodb.get_item(TableName=runs_table, Key=lease_key(dataset), ConsistentRead=True).get("Item")
    if item is None or float(item.get("expires_at", {}).get("N", "0")) < time.time():
        return None
    return str(item.get("holder", {}).get("S", "another execution"))


def _apply(
    s3: Any, glue: Any, dynamodb: Any, runs_table: str, database: str, result: RollbackResult, at: datetime
) -> None:
    """Marks the restored versions, bumps the generation, switches the catalog, records the rollback."""
    dataset, changes = result.dataset, result.changes
    stamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    rollback_id = f"{at.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
    marker = json.dumps({"rollback_id": rollback_id, "dataset": dataset, "to_run": result.to_run}).encode()
    for change in changes:
        if change.after is not None:
            bucket, prefix = split_location(change.after)
            s3.put_object(Bucket=bucket, Key=f"{prefix}{restored_marker(at)}", Body=marker)
    result.generation = advance_generation(dynamodb, runs_table, dataset, result.holder)
    table = glue.get_table(DatabaseName=database, Name=dataset)["Table"]
    keys = [Column(name=k["Name"], type=k["Type"]) for k in table.get("PartitionKeys", [])]
    try:
        if not keys:
            for change in changes:  # one: the table's location (it always exists after a publish)
                if change.after is not None:
                    switch_table_location(glue, database, dataset, change.after)
        else:
            columns = [Column(name=c["Name"], type=c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
            switch_partitions(
                glue, database, dataset, keys=keys, columns=columns,
                replaced={c.partition: c.after for c in changes if c.action == "switch" and c.after},
                added={c.partition: c.after for c in changes if c.action == "create" and c.after},
                emptied=[c.partition for c in changes if c.action == "drop"],
            )  # fmt: skip
    except CatalogUpdateError as exc:
        exc.add_note(
            "the catalog may be partly rolled back; run the same rollback again to finish it (partitions already "
            "in the state after the run are left as they are)"
        )
        raise
    result.rollback_id, result.rolled_back_at = rollback_id, stamp
    dynamodb.put_item(
        TableName=runs_table,
        Item=typed_item(
            {
                "pk": f"{LEASE_PREFIX}{dataset}",
                "sk": f"{ROLLBACK_SORT_PREFIX}{stamp}#{rollback_id}",
                "kind": "rollback",
                "dataset": dataset,
                "rollback_id": rollback_id,
                "to_run": result.to_run,
                "rolled_back_at": stamp,
                "holder": result.holder,
                "generation": result.generation,
                "versions": [
                    {"partition": c.partition, "previous": c.before or "", "current": c.after or ""}
                    for c in changes
                ],
            }
        ),
    )


def restore_serving(
    s3: Any,
    glue: Any,
    dynamodb: Any,
    database: str,
    result: RollbackResult,
    serving: Serving,
    serving_table: str,
) -> None:
    """After the catalog switch: the serving items of every row of the restored versions are written again, and
    those of keys that only the rolled-away versions held are deleted (sluice_lib.serving.restore_items), so the
    serving table holds each key's row of the rolled-back table. Counted in `result`."""
    table = glue.get_table(DatabaseName=database, Name=result.dataset)["Table"]
    keys = [Column(name=k["Name"], type=k["Type"]) for k in table.get("PartitionKeys", [])]
    manifest = Manifest(
        run_id=result.rollback_id or "rollback", dataset=result.dataset, rows_written=0, files=[], columns=[],
        partition_keys=keys,
    )  # fmt: skip
    result.serving_written, result.serving_deleted = restore_items(
        s3, dynamodb, table=serving_table, manifest=manifest, serving=serving,
        restored=[uri for c in result.changes if c.after for uri in files_at(s3, c.after)],
        replaced=[uri for c in result.changes if c.before for uri in files_at(s3, c.before)],
    )  # fmt: skip
