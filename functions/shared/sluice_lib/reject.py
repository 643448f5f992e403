"""RejectFile: moves a file that breaks its contract to rejected/<dataset>/ and marks the run REJECTED."""

from __future__ import annotations

from typing import Any

from sluice_lib.ledger import Ledger, now_iso
from sluice_lib.models import RejectInput, RejectOutput, source_from_event
from sluice_lib.notify import readable_cause
from sluice_lib.raw import dataset_or_unknown, move_version


def rejected_key(dataset: str, file_name: str) -> str:
    return f"rejected/{dataset}/{file_name}"


def reject_file(request: RejectInput, *, s3: Any, ledger: Ledger, raw_bucket: str) -> RejectOutput:
    """Moves the source version (a rerun finds it moved and changes nothing) and records the rejection.

    Sends no notification: the execution then fails, and OnExecutionFailed sends the one message.
    """
    source = source_from_event(request.event)
    key = rejected_key(dataset_or_unknown(source), source.file_name)
    moved = move_version(s3, source, raw_bucket, key)
    ledger.update(
        source,
        "REJECTED",
        error=request.error.error,
        cause=readable_cause(request.error.cause),
        rejected_uri=moved.uri,
        finished_at=now_iso(),
        execution_arn=request.execution.arn,
    )
    return RejectOutput(rejected_uri=moved.uri, error=request.error)
