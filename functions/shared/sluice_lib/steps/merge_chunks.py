"""MergeChunks: the fanned-out Validate's reduce. Totals, the reject threshold on the totals, one quarantine CSV
with file-global line numbers, the bad-records messages, the schema fingerprint and the ledger, as the single
path leaves them; its output is the ValidateOutput the single path would have returned."""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sluice_lib.contracts import ContractStore
from sluice_lib.errors import REJECTION_ERRORS, TooManyBadRowsError
from sluice_lib.ledger import Ledger, now_iso
from sluice_lib.models import ChunkResult, Counts, MergeChunksInput, ValidateFanOut, ValidateOutput
from sluice_lib.settings import Settings, staging_prefix
from sluice_lib.steps.validate_chunk import chunk_prefix
from sluice_lib.validate.core import build_output, contract_for, quarantine_key, reject_if_too_many
from sluice_lib.validate.fan_out import BAD_ROWS_HEADER, get_json, staging_part
from sluice_lib.validate.outputs import send_bad_rows, upload

_READERS = 16
_REJECTIONS = {cls.__name__: cls for cls in REJECTION_ERRORS}


def _results(s3: Any, bucket: str, plan: ValidateFanOut, chunks: int) -> list[ChunkResult]:
    def read(index: int) -> ChunkResult:
        return ChunkResult.model_validate(
            get_json(s3, bucket, chunk_prefix(plan.work_prefix, index) + "result.json")
        )

    with ThreadPoolExecutor(_READERS) as pool:
        return list(pool.map(read, range(chunks)))


def _drop_staging(s3: Any, bucket: str, plan: ValidateFanOut, chunks: int) -> None:
    """A rejected file leaves no staging data, as on the single path (which uploads none)."""
    prefix = staging_prefix(plan.dataset, plan.ingest_id)
    keys = [{"Key": prefix + staging_part(i)} for i in range(chunks)]
    for at in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": keys[at : at + 1000], "Quiet": True})


def _bad_rows(s3: Any, bucket: str, plan: ValidateFanOut, results: list[ChunkResult], folder: Path) -> None:
    """The chunks' bad-row parts joined in file order: bad_rows.csv (one header) and bad_rows.jsonl."""
    with open(folder / "bad_rows.csv", "wb") as csv_out, open(folder / "bad_rows.jsonl", "wb") as jsonl_out:
        csv_out.write(BAD_ROWS_HEADER.encode())
        for result in results:
            if not result.rejected:
                continue
            prefix = chunk_prefix(plan.work_prefix, result.index)
            part = s3.get_object(Bucket=bucket, Key=prefix + "bad_rows.csv")["Body"]
            part.read(len(BAD_ROWS_HEADER))
            shutil.copyfileobj(part, csv_out)
            shutil.copyfileobj(s3.get_object(Bucket=bucket, Key=prefix + "bad_rows.jsonl")["Body"], jsonl_out)


def merge_chunks_run(
    request: MergeChunksInput,
    *,
    ledger: Ledger,
    contracts: ContractStore,
    settings: Settings,
    s3: Any,
    sqs: Any,
    glue: Any,
) -> ValidateOutput:
    """Raises the first chunk's rejection (in file order) or TooManyBadRowsError on the totals, for the Catch;
    either way after dropping the staging parts, and the latter after recording the counts."""
    plan, chunks = request.plan, request.chunks.chunks
    source, execution = plan.source, plan.execution
    contract = contract_for(source, contracts)
    results = _results(s3, settings.lake_bucket, plan, chunks)
    rejection = next((r.rejection for r in results if r.rejection), None)
    if rejection is not None:
        _drop_staging(s3, settings.lake_bucket, plan, chunks)
        raise _REJECTIONS[rejection.error](rejection.cause)
    rows_in = sum(r.rows for r in results)
    rejected = sum(r.rejected for r in results)
    quarantine_uri = None
    dlq_messages = 0
    if rejected:
        with tempfile.TemporaryDirectory(prefix="sluice-merge-") as tmp:
            folder = Path(tmp)
            _bad_rows(s3, settings.lake_bucket, plan, results, folder)
            key = quarantine_key(plan.dataset, plan.run_id)
            quarantine_uri = upload(s3, folder / "bad_rows.csv", settings.raw_bucket, key)
            dlq_messages = send_bad_rows(
                sqs,
                settings.bad_records_queue_url,
                folder / "bad_rows.jsonl",
                plan.dataset,
                source.key,
                plan.run_id,
            )
    try:
        reject_if_too_many(source, contract, rows_in, rejected, quarantine_uri)
    except TooManyBadRowsError as exc:  # keep the counts of a rejected file, then let the Catch see it
        _drop_staging(s3, settings.lake_bucket, plan, chunks)
        ledger.advance(source, execution.arn, "Validate", counts=exc.counts, validated_at=now_iso())
        raise
    out = build_output(
        source=source,
        execution=execution,
        contract=contract,
        settings=settings,
        glue=glue,
        counts=Counts(
            rows_in=rows_in, rows_valid=rows_in - rejected, rows_rejected=rejected, bytes_in=plan.size
        ),
        dlq_messages=dlq_messages,
        quarantine_uri=quarantine_uri,
        extra_columns=plan.extra_columns,
        references=plan.references_json,
        chunks=chunks,
    )
    ledger.advance(
        source,
        execution.arn,
        "Validate",
        counts=out.counts.model_dump(),
        quarantine_uri=out.quarantine_uri,
        validated_at=now_iso(),
    )
    return out
