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
    try:
        out = validate_object(
            source=source,
            execution=execution,
            contracts=contracts,
            settings=settings,
            s3=s3,
            sqs=sqs,
            glue=glue,
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
        quality=[q.model_dump() for q in out.quality],
        validated_at=now_iso(),
    )
    return out
