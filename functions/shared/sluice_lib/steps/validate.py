"""Validate: claims the upload's run in the runs ledger, checks every row against the dataset's contract
(sluice_lib.validate), stages the valid rows and records the counts. An uncompressed object over
ValidateChunkBytes is left to the fan-out states (ScanRanges, PlanChunks, ValidateChunks, MergeChunks) once its
header is checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sluice_lib.contracts import ContractStore
from sluice_lib.errors import QualityRuleError, TooManyBadRowsError
from sluice_lib.ledger import Ledger, now_iso
from sluice_lib.models import (
    Execution,
    SourceObject,
    ValidateFanOut,
    ValidateInput,
    ValidateOutput,
    source_of,
)
from sluice_lib.settings import Settings
from sluice_lib.validate import validate_object
from sluice_lib.validate.fan_out import plan_fan_out

logger = Logger(child=True)
BAD_ROWS_QUEUED = "bad_rows_queued"  # ledger field: {run_id, messages, queued_at} of the run that queued them


def validate_run(
    request: ValidateInput,
    *,
    ledger: Ledger,
    sfn: Any,
    contracts: ContractStore,
    settings: Settings,
    s3: Any,
    sqs: Any,
    glue: Any,
) -> ValidateOutput | ValidateFanOut:
    """Claims the object version's ledger item for this execution, validates the object, records its counts
    (or returns the fan-out plan of a large object: MergeChunks records them).

    DuplicateExecutionError when another execution that still runs owns the item (`sfn` asks whether it
    runs). Rejection errors propagate for the Catch; a TooManyBadRowsError records the file's counts first.
    """
    source = source_of(request.event)
    execution = request.execution
    claim = ledger.claim(
        source,
        execution_arn=execution.arn,
        run_id=execution.name,
        started_at=execution.start_time,
        sfn=sfn,
    )
    logger.info("claimed", extra={"source": source.uri, "previous": claim.previous_status})
    plan = plan_fan_out(
        source=source, execution=execution, contracts=contracts, settings=settings, s3=s3, glue=glue
    )
    if plan is not None:  # MergeChunks queues the bad rows and records the counts
        logger.info("fanned out", extra={"source": source.uri, "ranges": plan.ranges, "bytes": plan.size})
        return plan
    queued = claim.previous_status is not None and already_queued(ledger, source)
    return record_validated(
        ledger,
        source,
        execution,
        lambda: validate_object(
            source=source,
            execution=execution,
            contracts=contracts,
            settings=settings,
            s3=s3,
            sqs=sqs,
            glue=glue,
            queue_bad_rows=not queued,
            on_queued=record_queued(ledger, source, execution),
            ledger=ledger,
        ),
    )


def record_validated(
    ledger: Ledger, source: SourceObject, execution: Execution, validate: Callable[[], ValidateOutput]
) -> ValidateOutput:
    """Runs `validate` (the single path's, or MergeChunks' reduce) and records its outcome on the ledger item:
    the counts, quarantine, extra columns, blank lines and quality results; for a TooManyBadRowsError or a
    QualityRuleError, what it knows (counts, quality results) before the error goes on to the Catch."""
    try:
        out = validate()
    except TooManyBadRowsError as exc:  # keep the counts of a rejected file, then let the Catch see it
        ledger.advance(source, execution.arn, "Validate", counts=exc.counts, validated_at=now_iso())
        raise
    except QualityRuleError as exc:  # and the quality results that rejected it
        ledger.advance(
            source, execution.arn, "Validate", counts=exc.counts, quality=exc.results, validated_at=now_iso()
        )
        raise
    ledger.advance(
        source,
        execution.arn,
        "Validate",
        counts=out.counts.model_dump(),
        quarantine_uri=out.quarantine_uri,
        extra_columns=out.extra_columns,
        blank_lines=out.blank_lines,
        quality=[q.model_dump() for q in out.quality],
        validated_at=now_iso(),
    )
    if out.extra_columns:
        logger.warning(
            "extra columns dropped", extra={"source": source.uri, "extra_columns": out.extra_columns}
        )
    return out


def already_queued(ledger: Ledger, source: SourceObject) -> bool:
    """Bad rows are queued once per object version: a rerun or redrive of the same upload finds the first run's
    messages recorded on the ledger item and sends none (the quarantine CSV of each run is still written)."""
    queued = (ledger.get(source) or {}).get(BAD_ROWS_QUEUED)
    if queued:
        logger.info("bad rows already queued", extra={"source": source.uri, "queued": queued})
    return bool(queued)


def record_queued(ledger: Ledger, source: SourceObject, execution: Execution) -> Callable[[int], None]:
    """Records on the ledger item that this run queued the object version's bad rows (see already_queued)."""

    def on_queued(messages: int) -> None:
        record = {"run_id": execution.name, "messages": messages, "queued_at": now_iso()}
        ledger.advance(source, execution.arn, "Validate", **{BAD_ROWS_QUEUED: record})

    return on_queued


def record_counts(metrics: Metrics, out: ValidateOutput, *, milliseconds: float) -> None:
    """The run's row and byte counts and the time it took, by dataset (Validate's, or MergeChunks' when fanned out)."""
    metrics.add_dimension(name="dataset", value=out.dataset)
    metrics.add_metric(name="RowsIn", unit=MetricUnit.Count, value=out.counts.rows_in)
    metrics.add_metric(name="RowsValid", unit=MetricUnit.Count, value=out.counts.rows_valid)
    metrics.add_metric(name="RowsRejected", unit=MetricUnit.Count, value=out.counts.rows_rejected)
    metrics.add_metric(name="BytesIn", unit=MetricUnit.Bytes, value=out.counts.bytes_in)
    metrics.add_metric(name="ValidateDuration", unit=MetricUnit.Milliseconds, value=milliseconds)
