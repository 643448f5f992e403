"""TakeLease: a keyed dataset's merge lease for this execution (sluice_lib.lease), taken before the transform
reads the curated table's current partitions and held until Archive (or OnExecutionFailed) releases it; with it the
dataset's publish generation, which Load bumps conditionally on it."""

from __future__ import annotations

import json
from typing import Any

from sluice_lib.contracts import parse_contract
from sluice_lib.lease import acquire, read_generation
from sluice_lib.models import TakeLeaseInput, TakeLeaseOutput


def take_lease(
    request: TakeLeaseInput, *, dynamodb: Any, runs_table: str, ttl_seconds: float
) -> TakeLeaseOutput:
    """Takes (or, for a retried or redriven step of the same execution, extends) the lease of a dataset whose
    contract has a `primaryKey`; DatasetBusyError while another execution holds it (the state retries with
    backoff and jitter). Once it holds the lease, reads the dataset's publish generation (0 before the first
    merge-publish): Load publishes only while the generation is still this one (StaleMergeError otherwise). A
    contract without a key is append-only: no lease, no generation."""
    run = request.run
    contract = parse_contract(json.loads(run.contract_json), f"contract of run {run.run_id}")
    if not contract.primary_key:
        return TakeLeaseOutput(dataset=run.dataset, held=False)
    lease = acquire(dynamodb, runs_table, run.dataset, run.execution_arn, ttl_seconds)
    generation = read_generation(dynamodb, runs_table, run.dataset)
    return TakeLeaseOutput(dataset=run.dataset, held=True, expires_at=lease.expires_at, generation=generation)
