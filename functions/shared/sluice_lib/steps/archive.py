"""Archive: moves the raw upload to archive/<dataset>/yyyy/mm/dd/, records success and returns the message the
NotifySuccess state publishes (built by sluice_lib.steps.notify_success)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sluice_lib.errors import InvalidEventError
from sluice_lib.lease import release
from sluice_lib.ledger import Ledger, now_iso
from sluice_lib.models import (
    ArchiveInput,
    ArchiveOutput,
    LoadOutput,
    LoadServingBatchOutput,
    RunStatus,
    SourceObject,
    ValidateOutput,
)
from sluice_lib.notify import parse_time
from sluice_lib.raw import head_or_none, move_version
from sluice_lib.retention import remove_expired_versions
from sluice_lib.steps.load import serving_result_key
from sluice_lib.steps.notify_success import success_notification

_ARCHIVE_STATUSES: tuple[RunStatus, ...] = ("RUNNING", "FAILED", "SUCCEEDED")
RESULT_READERS = 16


@dataclass(frozen=True)
class Retention:
    """Where a keyed table's superseded versions are and how long they stay (CuratedVersionRetentionDays)."""

    glue: Any
    database: str
    lake_bucket: str
    days: float


def archive_key(dataset: str, uploaded: datetime, file_name: str) -> str:
    """`archive/<dataset>/yyyy/mm/dd/<file>`, dated by the upload (UTC): every rerun uses the same key."""
    return f"archive/{dataset}/{uploaded.astimezone(UTC):%Y/%m/%d}/{file_name}"


def upload_time(s3: Any, source: SourceObject, started_at: str) -> datetime:
    """When the source version was uploaded (its LastModified, which a later delete marker leaves alone);
    the run's start when the version cannot be read any more."""
    head = head_or_none(s3, source.bucket, source.key, source.version_id)
    if head is not None and isinstance(head.get("LastModified"), datetime):
        return head["LastModified"]
    started = parse_time(started_at)
    if started is None:
        raise InvalidEventError("the run has no started_at to date its archive key by")
    return started


def serving_results(s3: Any, run: ValidateOutput, load: LoadOutput) -> list[LoadServingBatchOutput]:
    """What each LoadServing item left in S3 (none when Load wrote the serving items itself)."""

    def read(index: int) -> LoadServingBatchOutput:
        bucket, key = serving_result_key(run.output_uri, index)
        return LoadServingBatchOutput.model_validate_json(
            s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        )

    if not load.fanned_out:
        return []
    with ThreadPoolExecutor(RESULT_READERS) as pool:
        return list(pool.map(read, range(load.serving_batches)))


def archive_run(
    request: ArchiveInput,
    *,
    s3: Any,
    ledger: Ledger,
    raw_bucket: str,
    region: str,
    retention: Retention | None = None,
) -> ArchiveOutput:
    """Moves the source version to archive/ (a rerun finds it there, changes nothing) and records success.

    Acts only while the run's execution owns the ledger item (DuplicateExecutionError otherwise); a
    retried Archive finds the item SUCCEEDED by itself and does the same again. After a merge, the versions of
    the partitions it changed that were superseded longer than `retention.days` ago are deleted
    (sluice_lib.retention), then the dataset's merge lease is released.
    """
    run, load = request.run, request.load
    ledger.advance(run.source, run.execution_arn, "Archive", allowed=_ARCHIVE_STATUSES)
    key = archive_key(run.dataset, upload_time(s3, run.source, run.started_at), run.source.file_name)
    moved = move_version(s3, run.source, raw_bucket, key)
    finished_at = now_iso()
    counts = {
        "rows_in": run.counts.rows_in,
        "rows_valid": run.counts.rows_valid,
        "rows_rejected": run.counts.rows_rejected,
        "rows_loaded": load.rows_loaded,
    }
    serving_items = load.serving_items + sum(b.serving_items for b in serving_results(s3, run, load))
    if (
        retention is not None and load.merge is not None
    ):  # before the release: no other merge switches meanwhile
        remove_expired_versions(
            s3, retention.glue, database=retention.database, lake_bucket=retention.lake_bucket,
            dataset=run.dataset, partitions=[*load.merge.replaced, *load.merge.emptied], days=retention.days,
        )  # fmt: skip
    # The dataset's merge lease (TakeLease), held through Load and its serving writes; a no-op when not held.
    release(ledger.ddb, ledger.table, run.dataset, run.execution_arn)
    ledger.advance(
        run.source,
        run.execution_arn,
        "Archive",
        status="SUCCEEDED",
        allowed=_ARCHIVE_STATUSES,
        counts=counts,
        serving_items=serving_items,
        finished_at=finished_at,
        archive_uri=moved.uri,
    )
    notification = success_notification(
        run,
        load,
        counts={**counts, "serving_items": serving_items},
        archive_uri=moved.uri,
        finished_at=finished_at,
        region=region,
    )
    return ArchiveOutput(archive_uri=moved.uri, notification=notification)
