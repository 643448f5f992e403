"""Validate one uploaded object: stream it, check each row against its contract, stage, quarantine, report."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sluice_lib.contracts import Contract, ContractStore
from sluice_lib.errors import (
    EmptyFileError,
    SourceObjectMissingError,
    TooManyBadRowsError,
    UnknownDatasetError,
    error_code,
)
from sluice_lib.ledger import Ledger
from sluice_lib.models import Counts, Execution, QualityOutcome, SourceObject, ValidateOutput
from sluice_lib.quality.run import check_quality
from sluice_lib.references import references_json
from sluice_lib.schema import fingerprint, staging_glue_columns
from sluice_lib.settings import Settings, run_output_prefix, staging_prefix, staging_table
from sluice_lib.transform_engine import choose_engine
from sluice_lib.validate.catalog import schema_changed
from sluice_lib.validate.check import BatchChecker, ragged_row
from sluice_lib.validate.columns import ColumnMap, map_columns
from sluice_lib.validate.outputs import BadRowWriter, StagingWriter, send_bad_rows, upload
from sluice_lib.validate.reader import CsvReader, read_header
from sluice_lib.validate.stream import open_checked

STAGING_FILE = "part-00000.parquet"


def _get_object(s3: Any, source: SourceObject) -> dict[str, Any]:
    params = {"Bucket": source.bucket, "Key": source.key}
    if source.version_id:
        params["VersionId"] = source.version_id
    try:
        return dict(s3.get_object(**params))
    except s3.exceptions.NoSuchBucket as exc:
        raise SourceObjectMissingError(f"{source.uri}: no bucket {source.bucket!r} (NoSuchBucket)") from exc
    except s3.exceptions.NoSuchKey as exc:
        raise SourceObjectMissingError(
            f"{source.uri}: no object at this key: never uploaded, or moved or deleted since (NoSuchKey)"
        ) from exc
    except s3.exceptions.ClientError as exc:
        if error_code(exc) in ("NoSuchVersion", "404"):
            raise SourceObjectMissingError(
                f"{source.uri}: no version {source.version_id!r} of the object ({error_code(exc)})"
            ) from exc
        raise


def _scan(
    body: Any, source: SourceObject, contract: Contract, folder: Path
) -> tuple[ColumnMap, int, int, int]:
    """Streams the object once: staging Parquet and bad rows to local files; returns (columns, rows, bad,
    blank lines)."""
    stream = open_checked(body, source.key, source.uri)
    header, rest = read_header(stream, source.uri)
    columns = map_columns(header.names, contract, source.uri)
    checker = BatchChecker(contract, columns)
    rows = 0
    reader = CsvReader(stream, header, rest, source.uri)
    with StagingWriter(folder / STAGING_FILE, checker.schema) as staging, BadRowWriter(folder) as bad:
        for batch in reader:
            valid, bad_rows = checker.check(batch) if batch.num_rows else (None, [])
            if valid is not None:
                staging.write(valid)
            bad_rows.extend(ragged_row(r, columns.width) for r in batch.ragged)
            bad.write(sorted(bad_rows, key=lambda r: r.line))
            rows += batch.num_rows + len(batch.ragged)
        return columns, rows, bad.rows, reader.blank_lines


def validate_object(
    *,
    source: SourceObject,
    execution: Execution,
    contracts: ContractStore,
    settings: Settings,
    s3: Any,
    sqs: Any,
    glue: Any,
    queue_bad_rows: bool = True,
    on_queued: Callable[[int], None] | None = None,
    ledger: Ledger | None = None,
) -> ValidateOutput:
    """Checks every row of `source` against its dataset's contract; stages valid rows as typed Parquet.

    Bad rows go to the quarantine CSV and, unless `queue_bad_rows` is false (an earlier run of the same object
    version queued them), the bad-records queue; `on_queued` gets the number of messages sent. File-level problems raise the
    rejection errors of sluice_lib.errors; so does a share of bad rows above the contract's
    max_reject_ratio, after quarantine and queue are written (the staging file is then not uploaded), and a
    failed `reject` quality rule (sluice_lib.quality), evaluated on the staged rows before their upload.
    `ledger` is the runs ledger the row-count anomaly rule reads its history from (None: no history).
    """
    dataset = source.dataset
    contract = contracts.get(dataset)
    if contract is None:
        raise UnknownDatasetError(
            f"{source.uri}: no contract for dataset {dataset!r} (expected {dataset}.yaml among the contracts)"
        )
    references = references_json(contract, glue=glue, database=settings.glue_database)  # fail before the scan
    run_id = execution.name
    obj = _get_object(s3, source)
    size = int(obj.get("ContentLength") or 0)
    body = obj["Body"]
    if size == 0:
        raise EmptyFileError(f"{source.uri}: the object holds no bytes")
    with tempfile.TemporaryDirectory(prefix="sluice-validate-") as tmp:
        folder = Path(tmp)
        try:
            columns, rows_in, rejected, blank_lines = _scan(body, source, contract, folder)
        finally:
            body.close()
        quarantine_uri = None
        dlq_messages = 0
        if rejected:
            key = f"quarantine/{dataset}/{run_id}/bad_rows.csv"
            quarantine_uri = upload(s3, folder / "bad_rows.csv", settings.raw_bucket, key)
        if rejected and queue_bad_rows:
            dlq_messages = send_bad_rows(
                sqs, settings.bad_records_queue_url, folder / "bad_rows.jsonl", dataset, source.key, run_id
            )
            if on_queued is not None:
                on_queued(dlq_messages)
        ratio = rejected / rows_in if rows_in else 0.0
        limit = contract.pipeline.max_reject_ratio
        if ratio > limit:
            raise TooManyBadRowsError(
                f"{source.uri}: {rejected} of {rows_in} rows ({ratio:.1%}) break the contract; "
                f"{dataset} allows at most {limit:.1%} (bad rows in {quarantine_uri})",
                counts={
                    "rows_in": rows_in,
                    "rows_valid": rows_in - rejected,
                    "rows_rejected": rejected,
                    "bytes_in": source.size,
                },
            )
        counts = Counts(rows_in=rows_in, rows_valid=rows_in - rejected, rows_rejected=rejected, bytes_in=size)
        quality = check_quality(
            contract,
            folder / STAGING_FILE,
            source=source,
            run_id=run_id,
            counts=counts.model_dump(),
            settings=settings,
            ledger=ledger,
            s3=s3,
            glue=glue,
        )
        prefix = staging_prefix(dataset, source.ingest_id)
        upload(s3, folder / STAGING_FILE, settings.lake_bucket, prefix + STAGING_FILE)
    table = staging_table(dataset)
    staging_fingerprint = fingerprint(staging_glue_columns(contract))
    return ValidateOutput(
        run_id=run_id,
        ingest_id=source.ingest_id,
        dataset=dataset,
        source=source,
        execution_arn=execution.arn,
        started_at=execution.start_time,
        counts=counts,
        dlq_messages=dlq_messages,
        staging_uri=f"s3://{settings.lake_bucket}/{prefix}",
        staging_table=table,
        quarantine_uri=quarantine_uri,
        schema_fingerprint=staging_fingerprint,
        schema_changed=schema_changed(glue, settings.glue_database, table, staging_fingerprint),
        output_uri=f"s3://{settings.lake_bucket}/{run_output_prefix(dataset, run_id)}",
        contract_json=contract.to_json(),
        extra_columns=columns.extra,
        blank_lines=blank_lines,
        references_json=references,
        quality=[QualityOutcome(**r.to_dict()) for r in quality],
        **choose_engine(contract, size, settings.small_file_max_bytes).fields(),
    )
