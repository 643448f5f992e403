"""MergeChunks: the fanned-out Validate's reduce. Totals, the reject threshold on the totals, one quarantine CSV
with file-global line numbers, the bad-records messages (once per object version), the contract's quality rules
on all the staged parts, the schema fingerprint and the ledger, as the single path leaves them; its output is
the ValidateOutput the single path would have returned."""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sluice_lib.contracts import ContractStore
from sluice_lib.errors import REJECTION_ERRORS
from sluice_lib.ledger import Ledger
from sluice_lib.models import ChunkResult, Counts, MergeChunksInput, ValidateFanOut, ValidateOutput
from sluice_lib.quality.evaluate import needed_columns
from sluice_lib.quality.run import check_quality
from sluice_lib.settings import Settings, staging_prefix
from sluice_lib.steps.validate import already_queued, record_queued, record_validated
from sluice_lib.steps.validate_chunk import chunk_prefix
from sluice_lib.validate.core import build_output, contract_for, quarantine_and_queue, reject_if_too_many
from sluice_lib.validate.fan_out import BAD_ROWS_HEADER, get_json, staging_part

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


def _staged_columns(
    s3: Any, bucket: str, plan: ValidateFanOut, chunks: int, columns: list[str], folder: Path
) -> pa.Table:
    """The staged rows' `columns` (the ones the quality rules read), part by part, as one table: what the single
    path evaluates its rules on. Each part is read then deleted, so the disk holds one part at a time."""
    prefix = staging_prefix(plan.dataset, plan.ingest_id)
    tables = []
    for index in range(chunks):
        path = folder / staging_part(index)
        s3.download_file(bucket, prefix + staging_part(index), str(path))
        tables.append(pq.read_table(path, columns=columns))
        path.unlink()
    return pa.concat_tables(tables)


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
    """The single path's outcome from the chunks' results, recorded on the ledger as Validate records it.

    Raises the first chunk's rejection (in file order), TooManyBadRowsError on the totals or QualityRuleError
    (the contract's rules evaluated on all the staged parts) for the Catch, after dropping the staging parts.
    Bad rows are queued once per object version, as on the single path (steps.validate.already_queued)."""
    plan, chunks = request.plan, request.chunks.chunks
    source, execution = plan.source, plan.execution

    def reduce() -> ValidateOutput:
        try:
            return _reduce(
                plan, chunks, ledger=ledger, contracts=contracts, settings=settings, s3=s3, sqs=sqs, glue=glue
            )
        except REJECTION_ERRORS:  # a rejected file leaves no staging data, as on the single path
            _drop_staging(s3, settings.lake_bucket, plan, chunks)
            raise

    return record_validated(ledger, source, execution, reduce)


def _reduce(
    plan: ValidateFanOut,
    chunks: int,
    *,
    ledger: Ledger,
    contracts: ContractStore,
    settings: Settings,
    s3: Any,
    sqs: Any,
    glue: Any,
) -> ValidateOutput:
    source, execution = plan.source, plan.execution
    contract = contract_for(source, contracts)
    results = _results(s3, settings.lake_bucket, plan, chunks)
    rejection = next((r.rejection for r in results if r.rejection), None)
    if rejection is not None:
        raise _REJECTIONS[rejection.error](rejection.cause)
    rows_in = sum(r.rows for r in results)
    rejected = sum(r.rejected for r in results)
    counts = Counts(
        rows_in=rows_in, rows_valid=rows_in - rejected, rows_rejected=rejected, bytes_in=plan.size
    )
    quarantine_uri, dlq_messages = None, 0
    with tempfile.TemporaryDirectory(prefix="sluice-merge-") as tmp:
        folder = Path(tmp)
        if rejected:
            _bad_rows(s3, settings.lake_bucket, plan, results, folder)
            quarantine_uri, dlq_messages = quarantine_and_queue(
                folder,
                source=source,
                run_id=plan.run_id,
                settings=settings,
                s3=s3,
                sqs=sqs,
                queue_bad_rows=not already_queued(ledger, source),
                on_queued=record_queued(ledger, source, execution),
            )
        reject_if_too_many(source, contract, rows_in, rejected, quarantine_uri)
        rules = contract.quality_rules()
        staged = (
            _staged_columns(s3, settings.lake_bucket, plan, chunks, needed_columns(rules), folder)
            if rules
            else pa.table({})
        )
        quality = check_quality(
            contract,
            staged,
            source=source,
            run_id=plan.run_id,
            counts=counts.model_dump(),
            settings=settings,
            ledger=ledger,
            s3=s3,
            glue=glue,
        )
    return build_output(
        source=source,
        execution=execution,
        contract=contract,
        settings=settings,
        glue=glue,
        counts=counts,
        dlq_messages=dlq_messages,
        quarantine_uri=quarantine_uri,
        extra_columns=plan.extra_columns,
        blank_lines=sum(r.blank_lines for r in results),
        references=plan.references_json,
        quality=quality,
        chunks=chunks,
    )
