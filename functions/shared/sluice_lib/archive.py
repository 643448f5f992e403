"""Archive: moves the raw upload to archive/<dataset>/yyyy/mm/dd/, records success, builds the notice."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sluice_lib.errors import InvalidEventError
from sluice_lib.ledger import Ledger, now_iso
from sluice_lib.models import ArchiveInput, ArchiveOutput
from sluice_lib.notify import build_notification, parse_time
from sluice_lib.raw import move_version


def archive_key(dataset: str, started_at: str, file_name: str) -> str:
    """`archive/<dataset>/yyyy/mm/dd/<file>`, dated by the run's start (UTC): reruns use the same key."""
    started = parse_time(started_at)
    if started is None:
        raise InvalidEventError("the run has no started_at to date its archive key by")
    return f"archive/{dataset}/{started.astimezone(UTC):%Y/%m/%d}/{file_name}"


def archive_run(
    request: ArchiveInput, *, s3: Any, ledger: Ledger, raw_bucket: str, region: str
) -> ArchiveOutput:
    """Moves the source version to archive/ (a rerun finds it there, changes nothing) and records success."""
    run, load = request.run, request.load
    key = archive_key(run.dataset, run.started_at, run.source.file_name)
    moved = move_version(s3, run.source, raw_bucket, key)
    finished_at = now_iso()
    counts = {
        "rows_in": run.counts.rows_in,
        "rows_valid": run.counts.rows_valid,
        "rows_rejected": run.counts.rows_rejected,
        "rows_loaded": load.rows_loaded,
    }
    ledger.update(
        run.source,
        "SUCCEEDED",
        counts=counts,
        finished_at=finished_at,
        archive_uri=moved.uri,
        execution_arn=run.execution_arn,
    )
    notification = build_notification(
        status="SUCCEEDED",
        dataset=run.dataset,
        source=run.source,
        counts={**counts, "serving_items": load.serving_items},
        started_at=run.started_at,
        execution_arn=run.execution_arn,
        region=region,
        outputs={
            "curated_uri": load.curated_uri,
            "archive_uri": moved.uri,
            "quarantine_uri": run.quarantine_uri,
        },
        error=None,
        finished_at=finished_at,
    )
    return ArchiveOutput(archive_uri=moved.uri, notification=notification)
