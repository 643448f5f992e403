"""LoadServingBatch: one item of the LoadServing Distributed Map writes the serving items of a bounded number of
rows of the curated files Load published (when the output had more rows or files than one Load invocation
serves: sluice_lib.steps.load), and leaves its count where Archive sums them."""

from __future__ import annotations

import json
from typing import Any

from sluice_lib.contracts import parse_contract
from sluice_lib.errors import TransformOutputInvalidError
from sluice_lib.lake import read_manifest
from sluice_lib.ledger import Ledger
from sluice_lib.models import LoadServingBatchInput, LoadServingBatchOutput
from sluice_lib.serving import changed_rows_ingest, serve_slices
from sluice_lib.steps.load import serving_result_key


def load_serving_batch(
    request: LoadServingBatchInput,
    *,
    s3: Any,
    dynamodb: Any,
    ledger: Ledger,
    lake_bucket: str,
    serving_table: str,
) -> LoadServingBatchOutput:
    """The serving items of the batch's rows of published curated files (idempotent upserts), streamed.

    Acts only while the run's execution owns the ledger item (DuplicateExecutionError otherwise). Items run
    concurrently: a serving key found in rows of two items' files gets whichever item writes last (one Load
    settles it by file order). Serving keys that cover the primary key, deduplicated by the transform, occur
    in one file only.
    """
    run, batch = request.run, request.batch
    ledger.advance(run.source, run.execution_arn, "LoadServing")
    manifest = read_manifest(s3, run.output_uri)
    serving = parse_contract(json.loads(run.contract_json), f"contract of run {run.run_id}").pipeline.serving
    if serving is None:
        raise TransformOutputInvalidError(f"{run.dataset} declares no serving keys: nothing to load")
    items = serve_slices(
        s3, dynamodb, lake_bucket=lake_bucket, slices=batch.slices, manifest=manifest, serving=serving,
        table=serving_table, only_ingest=changed_rows_ingest(manifest, run.ingest_id),
    )  # fmt: skip
    out = LoadServingBatchOutput(
        index=batch.index,
        files=len({part.key for part in batch.slices}),
        rows=sum((part.end or 0) - part.start for part in batch.slices),
        serving_items=items,
    )
    bucket, key = serving_result_key(run.output_uri, batch.index)
    s3.put_object(Bucket=bucket, Key=key, Body=out.model_dump_json().encode(), ContentType="application/json")
    return out
