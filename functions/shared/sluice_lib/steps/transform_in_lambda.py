"""TransformInLambda: a run's staging objects from S3 -> the DuckDB engine -> the run's output in S3,
laid out as the Glue job leaves it (`<output_uri>data/...`, then `<output_uri>_manifest.json`), so Load works
unchanged."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from sluice_lib.catalog_files import current_files
from sluice_lib.contracts import parse_contract
from sluice_lib.curated import DATA_FOLDER, MANIFEST_NAME, Lineage
from sluice_lib.errors import StagingNotFoundError, error_code
from sluice_lib.lake import DELETES_PER_REQUEST, list_keys
from sluice_lib.models import TransformInLambdaOutput, ValidateOutput
from sluice_lib.raw import parse_s3_uri
from sluice_lib.transform_lambda.engine import transform_folder
from sluice_lib.transform_lambda.remote import RemoteTable


def download_staging(s3: Any, staging_uri: str, folder: Path, run_id: str) -> list[Path]:
    """The staging folder's objects (not `_*`/`.*`, not in subfolders, as Spark reads a folder) to `folder`."""
    bucket, prefix = parse_s3_uri(staging_uri.rstrip("/") + "/")
    try:
        names = [k[len(prefix) :] for k in list_keys(s3, bucket, prefix)]
    except ClientError as exc:
        if error_code(exc) != "NoSuchBucket":
            raise
        names = []
    names = [n for n in names if n and "/" not in n and not n.startswith(("_", "."))]
    if not names:
        raise StagingNotFoundError(
            f"{staging_uri}: no staging objects for run {run_id} (Validate writes them before this step)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in sorted(names):
        s3.download_file(bucket, prefix + name, str(folder / name))
        paths.append(folder / name)
    return paths


def upload_output(s3: Any, local: Path, output_uri: str, files: list[str]) -> None:
    """Replaces `<output_uri>data/` with the local data files, then writes the manifest (last: Load reads the
    manifest, so it never sees files of a half-finished upload)."""
    bucket, prefix = parse_s3_uri(output_uri.rstrip("/") + "/")
    stale = list_keys(s3, bucket, f"{prefix}{DATA_FOLDER}/") + list_keys(
        s3, bucket, f"{prefix}{MANIFEST_NAME}"
    )
    for start in range(0, len(stale), DELETES_PER_REQUEST):
        chunk = stale[start : start + DELETES_PER_REQUEST]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
    for relative in files:
        s3.upload_file(str(local / DATA_FOLDER / relative), bucket, f"{prefix}{DATA_FOLDER}/{relative}")
    s3.upload_file(
        str(local / MANIFEST_NAME),
        bucket,
        f"{prefix}{MANIFEST_NAME}",
        ExtraArgs={"ContentType": "application/json"},
    )


def transform_run(
    *,
    run: ValidateOutput,
    s3: Any,
    job_run_id: str,
    memory_limit_mb: int | None = None,
    now: datetime | None = None,
    glue: Any = None,
    database: str | None = None,
) -> TransformInLambdaOutput:
    """Transforms one run's staging data with the DuckDB engine and writes its output where Load reads it.

    For a keyed contract (a `primaryKey`) and a catalog to ask (`glue`, `database`), the run's rows are merged
    into the curated table's current files (sluice_lib.catalog_files, read while the execution holds the
    dataset's merge lease): the key columns of every file by ranged GETs, then the whole files of the partitions
    the merge touches (sluice_lib.transform_lambda.remote), so /tmp holds those and the key columns only."""
    started = time.perf_counter()
    contract = parse_contract(json.loads(run.contract_json), f"{run.dataset} (run {run.run_id})")
    lineage = Lineage(run.ingest_id, run.source.key, (now or datetime.now(UTC)).astimezone(UTC))
    with tempfile.TemporaryDirectory(prefix="sluice-transform-") as tmp:
        work = Path(tmp)
        staging = work / f"ingest_id={run.ingest_id}"
        download_staging(s3, run.staging_uri, staging, run.run_id)
        existing = existing_keys = None
        if glue is not None and database and contract.primary_key:
            existing = RemoteTable(s3, current_files(s3, glue, database, run.dataset), work / "existing")
            existing_keys = existing.key_files(contract.primary_key)
        manifest = transform_folder(
            staging,
            work / "output",
            contract,
            run_id=run.run_id,
            lineage=lineage,
            memory_limit_mb=memory_limit_mb,
            temp_dir=work / "spill",
            existing=existing,
            existing_keys=existing_keys,
        )
        upload_output(s3, work / "output", run.output_uri, manifest["files"])
    return TransformInLambdaOutput(
        job_run_id=job_run_id,
        rows_read=manifest["rows_read"],
        rows_written=manifest["rows_written"],
        files=len(manifest["files"]),
        seconds=round(time.perf_counter() - started, 3),
    )
