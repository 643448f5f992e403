"""Validate's quality hook: evaluates the contract's rules on the staged rows before anything is uploaded or
published, records the results, and rejects the file when a `reject` rule fails."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sluice_lib.contracts import Contract
from sluice_lib.errors import QualityRuleError
from sluice_lib.ledger import Ledger
from sluice_lib.models import SourceObject
from sluice_lib.quality.evaluate import QualityResult, RuleInputs, evaluate
from sluice_lib.quality.record import emit_metrics, results_table, write_results
from sluice_lib.quality.reference_keys import curated_keys
from sluice_lib.settings import Settings


def check_quality(
    contract: Contract,
    staged: Path,
    *,
    source: SourceObject,
    run_id: str,
    counts: dict[str, int],
    settings: Settings,
    ledger: Ledger | None,
    s3: Any,
    glue: Any,
) -> list[QualityResult]:
    """The results of every rule (empty for a contract without rules), written to the lake's quality table.

    QualityRuleError when a `reject` rule failed, after the results are written: its message names each
    failed rule, its measured value and its threshold; the Catch then rejects the file.
    """
    rules = contract.quality_rules()
    if not rules:
        return []
    now = datetime.now(UTC)
    inputs = RuleInputs(
        rows=counts["rows_valid"],
        now=now,
        dataset=contract.dataset,
        history=lambda limit: (
            ledger.recent_valid_rows(contract.dataset, limit, exclude=source) if ledger is not None else []
        ),
        reference_keys=lambda dataset, column: curated_keys(
            s3, glue, settings.glue_database, dataset, column
        ),
    )
    results = evaluate(rules, staged, inputs)
    table = results_table(
        results, run_id=run_id, ingest_id=source.ingest_id, source_key=source.key, checked_at=now
    )
    write_results(
        s3,
        glue,
        lake_bucket=settings.lake_bucket,
        database=settings.glue_database,
        dataset=contract.dataset,
        run_id=run_id,
        table=table,
    )
    emit_metrics(contract.dataset, results)
    broken = [r for r in results if r.severity == "reject" and not r.passed]
    if broken:
        raise QualityRuleError(
            f"{source.uri}: {len(broken)} quality rule(s) of {contract.dataset} reject the file: "
            + "; ".join(r.sentence() for r in broken),
            counts=counts,
            results=[r.to_dict() for r in results],
        )
    return results
