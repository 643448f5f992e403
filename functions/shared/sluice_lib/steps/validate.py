"""Validate: claims the upload's run in the runs ledger, checks every row against the dataset's contract
(sluice_lib.validate), stages the valid rows and records the counts."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from sluice_lib.contracts import ContractStore
from sluice_lib.errors import QualityRuleError, TooManyBadRowsError
from sluice_lib.ledger import Ledger, now_iso
from sluice_lib.models import ValidateInput, ValidateOutput, source_of
from sluice_lib.settings import Settings
from sluice_lib.validate import validate_object

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
) -> ValidateOutput:
    """Claims the object version's ledger item for this execution, validates the object, records its counts.

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
    # Bad rows are queued once per object version: a rerun or redrive of the same upload finds the first
    # run's messages recorded on the item and sends none (the quarantine CSV of each run is still written).
    queued = None if claim.previous_status is None else (ledger.get(source) or {}).get(BAD_ROWS_QUEUED)
    if queued:
        logger.info("bad rows already queued", extra={"source": source.uri, "queued": queued})

    def on_queued(messages: int) -> None:
        record = {"run_id": execution.name, "messages": messages, "queued_at": now_iso()}
        ledger.advance(source, execution.arn, "Validate", **{BAD_ROWS_QUEUED: record})

    try:
        out = validate_object(
            source=source,
            execution=execution,
            contracts=contracts,
            settings=settings,
            s3=s3,
            sqs=sqs,
            glue=glue,
            queue_bad_rows=not queued,
            on_queued=on_queued,
            ledger=ledger,
        )
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
