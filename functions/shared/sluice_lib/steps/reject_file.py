"""RejectFile: moves a file that breaks its contract to rejected/<dataset>/ and marks the run REJECTED."""

from __future__ import annotations

from typing import Any

from sluice_lib.ledger import Ledger, now_iso
from sluice_lib.models import RejectFileInput, RejectFileOutput, RunStatus, source_of
from sluice_lib.notify import readable_cause
from sluice_lib.raw import dataset_or_unknown, move_version

# Validate claimed the item for this execution; a retried RejectFile finds it REJECTED by itself.
_REJECT_STATUSES: tuple[RunStatus, ...] = ("RUNNING", "FAILED", "REJECTED")


def rejected_key(dataset: str, file_name: str) -> str:
    return f"rejected/{dataset}/{file_name}"


def reject_file(request: RejectFileInput, *, s3: Any, ledger: Ledger, raw_bucket: str) -> RejectFileOutput:
    """Moves the source version (a rerun finds it moved and changes nothing) and records the rejection.

    Sends no notification: the execution then fails, and OnExecutionFailed sends the one message.
    """
    source = source_of(request.event)
    ledger.advance(source, request.execution.arn, "RejectFile", allowed=_REJECT_STATUSES)
    key = rejected_key(dataset_or_unknown(source), source.file_name)
    moved = move_version(s3, source, raw_bucket, key)
    ledger.advance(
        source,
        request.execution.arn,
        "RejectFile",
        status="REJECTED",
        allowed=_REJECT_STATUSES,
        error=request.error.error,
        cause=readable_cause(request.error.cause),
        rejected_uri=moved.uri,
        finished_at=now_iso(),
    )
    return RejectFileOutput(rejected_uri=moved.uri, error=request.error)
