"""Transform job (Glue's ScriptLocation): arguments, Spark session, catalog lookup of staging, job.run."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import boto3
from pyspark.context import SparkContext
from pyspark.sql import SparkSession

# Glue puts the zip that the job's --extra-py-files names on the import path: the job's own modules and the
# sluice_lib facts it shares with the other engines (make build makes it, make deploy uploads it; the local
# runtime fetches it from the emulated S3 the same way). Without it the run stops here, saying so.
try:
    from sluice_lib.catalog_files import current_files, partition_types
    from sluice_lib.curated import STAGING_PARTITION_KEY, staging_partition
    from sluice_lib.errors import JobArgumentError, StagingNotFoundError, StagingSchemaError
    from sluice_lib.merge import merge_rule
    from sluice_transform.arguments import OPTIONAL_ARGS, REQUIRED_ARGS, JobArgs, parse_job_args
    from sluice_transform.io import CatalogTable, joined_datasets, read_references
    from sluice_transform.job import run
    from sluice_transform.locations import is_s3, same_location
except ModuleNotFoundError as missing:
    if not (missing.name or "").startswith(("sluice_lib", "sluice_transform")):
        raise
    raise ModuleNotFoundError(
        f"No module named {missing.name!r}: the Transform job imports sluice_transform and sluice_lib from the "
        "zip its --extra-py-files argument names (make deploy uploads it; docs/operations.md)",
        name=missing.name,
    ) from missing


# --- arguments ------------------------------------------------------------------------------------------


def _glue() -> tuple[Any, Any, Any] | None:
    """The Glue runtime's awsglue classes; None off Glue (the package is not installable from PyPI)."""
    try:
        from awsglue.context import GlueContext  # only on Glue: the local runtime and tests run without it
        from awsglue.job import Job
        from awsglue.utils import getResolvedOptions
    except ImportError:
        return None
    return GlueContext, Job, getResolvedOptions


def _local_options(argv: Sequence[str]) -> dict[str, str | None]:
    parser = argparse.ArgumentParser(prog="transform.py", add_help=False)
    for name in ("JOB_NAME", *REQUIRED_ARGS, *OPTIONAL_ARGS):
        parser.add_argument(f"--{name}")
    parsed, _ = parser.parse_known_args(list(argv))  # tolerate Glue's own --job-bookmark-option etc.
    return vars(parsed)


def _glue_options(argv: Sequence[str], get_resolved_options: Any) -> dict[str, str | None]:
    given = {a.split("=", 1)[0][2:] for a in argv if a.startswith("--")}
    missing = [n for n in ("JOB_NAME", *REQUIRED_ARGS) if n not in given]
    if missing:
        raise JobArgumentError(f"missing required arguments: {', '.join('--' + n for n in missing)}")
    wanted = ["JOB_NAME", *REQUIRED_ARGS, *(n for n in OPTIONAL_ARGS if n in given)]
    resolved = dict(get_resolved_options([sys.argv[0], *argv], wanted))
    return {n: resolved.get(n) for n in ("JOB_NAME", *REQUIRED_ARGS, *OPTIONAL_ARGS)}


# --- session --------------------------------------------------------------------------------------------


def get_or_create_spark() -> SparkSession:
    """The active session, or one local session per process (the local runtime reuses it across runs)."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # Spark's Python workers default to `python3` on PATH, which need not be this interpreter's minor
    # (PYTHON_VERSION_MISMATCH): run them on the driver's own interpreter unless told otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(os.environ.get("SLUICE_SPARK_MASTER", "local[1]"))
        .appName("sluice-transform")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        # The driver stats local files in microseconds; past 32 paths Spark would list them with a job instead,
        # which on local[1-2] costs seconds (a merge's key scan of 1,000 files: 4.0 s to build the DataFrame,
        # 0.3 s without; bench/results/merge-partition-size.md). Glue keeps the default: there the paths are
        # S3 objects, listed in parallel by the executors.
        .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "1000000")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    return spark


def configure_session(spark: SparkSession) -> None:
    """The settings every run relies on, set on Glue and locally alike (not left to either's defaults)."""
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    # ANSI SQL, Spark 4's and Glue 6.0's default, stated so that no environment differs: an invalid cast or an
    # integer overflow in a contract's derive, filter or aggregate fails the job instead of writing a null or a
    # wrapped number (try_cast, try_divide, try_add return null). The job's own casts are widenings of staging
    # types that check_staging_schema accepted, and cannot fail.
    spark.conf.set("spark.sql.ansi.enabled", "true")
    # Standard INT64 micros (isAdjustedToUTC) instead of Spark's legacy INT96 default.
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    # Staging is written by Arrow in the proleptic Gregorian calendar (as Spark 3 itself uses), without the
    # Spark version metadata that tells Spark not to rebase: read and write dates before 1582 and timestamps
    # before 1900 as they are instead of failing the job (the default, EXCEPTION).
    for mode in ("datetimeRebaseModeInRead", "datetimeRebaseModeInWrite", "int96RebaseModeInRead"):
        spark.conf.set(f"spark.sql.parquet.{mode}", "CORRECTED")


# --- catalog --------------------------------------------------------------------------------------------


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def resolve_source(args: JobArgs, glue_client: Any = None) -> str:
    """Where the run's staging data is: the location of its `ingest_id=<id>` partition in the catalog table
    the crawler maintains (glue:GetTable, glue:GetPartition), which must be --source.

    Without --staging_table (local runs of this script on files) --source is read directly.
    """
    if not args.staging_table:
        return args.source
    if glue_client is None:
        raise JobArgumentError("--staging_table is given but no Glue client is available to resolve it")
    table = f"{args.staging_database}.{args.staging_table}"
    try:
        found = glue_client.get_table(DatabaseName=args.staging_database, Name=args.staging_table)["Table"]
    except Exception as exc:
        if _error_code(exc) == "EntityNotFoundException":
            raise StagingNotFoundError(
                f"catalog table {table} does not exist: the staging crawler has not catalogued {args.source}"
            ) from exc
        raise
    keys = [key["Name"] for key in found.get("PartitionKeys", [])]
    if keys != [STAGING_PARTITION_KEY]:
        raise StagingSchemaError(
            f"catalog table {table} is partitioned by {keys}, not [{STAGING_PARTITION_KEY}]"
        )
    partition = staging_partition(args.ingest_id)
    try:
        got = glue_client.get_partition(
            DatabaseName=args.staging_database, TableName=args.staging_table, PartitionValues=[args.ingest_id]
        )["Partition"]
    except Exception as exc:
        if _error_code(exc) == "EntityNotFoundException":
            raise StagingNotFoundError(
                f"catalog table {table} has no partition {partition}: neither the crawler nor RegisterPartition "
                f"added {args.source}"
            ) from exc
        raise
    location = str(got.get("StorageDescriptor", {}).get("Location") or "")
    if not same_location(location, args.source):
        raise StagingNotFoundError(
            f"catalog table {table} partition {partition} is at {location or '(no location)'}, "
            f"not at --source {args.source}"
        )
    return location


def _staged(files: dict[str, list[str]], stage: Callable[[str], str] | None) -> dict[str, list[str]]:
    """`files` (partition -> s3:// files) with each version folder mapped through `stage` to a local folder
    (the local runtime), or unchanged without one."""
    if stage is None:
        return files
    folders: dict[str, str] = {}
    for paths in files.values():
        for uri in paths:
            where = uri.rsplit("/", 1)[0] + "/"
            if where not in folders:
                folders[where] = stage(where).rstrip("/")
    return {
        p: [f"{folders[f.rsplit('/', 1)[0] + '/']}/{f.rsplit('/', 1)[1]}" for f in paths]
        for p, paths in files.items()
    }


def resolve_existing(
    args: JobArgs, s3_client: Any, glue_client: Any, stage: Callable[[str], str] | None = None
) -> JobArgs:
    """For a keyed contract (a `primaryKey`), `args` with `merge_with` set to the curated table's current files
    per partition as the catalog names them (glue:GetTable, glue:GetPartitions; s3:ListBucket), read while the
    state machine holds the dataset's merge lease (sluice_lib.lease). Unchanged when the contract has no key,
    `--merge_with` was given, or there is no catalog to ask (a local run of the script on files). `stage` maps
    each version folder to a local folder (the local runtime)."""
    if args.merge_with is not None or merge_rule(args.contract) is None:
        return args
    if glue_client is None or not args.staging_database:
        return args
    existing = current_files(s3_client, glue_client, args.staging_database, args.dataset)
    return dataclasses.replace(args, merge_with=_staged(existing, stage))


def catalog_references(
    args: JobArgs, s3_client: Any, glue_client: Any, stage: Callable[[str], str] | None = None
) -> dict[str, CatalogTable] | None:
    """The joined datasets' curated tables as the catalog presents them (each partition's current version: a
    keyed table's root also holds superseded ones), or None when there is no catalog to ask (a local run of the
    script on files, which reads --references' locations)."""
    if glue_client is None or not args.staging_database:
        return None
    database = args.staging_database
    return {
        name: CatalogTable(
            files=_staged(current_files(s3_client, glue_client, database, name), stage),
            partition_types=partition_types(glue_client, database, name),
        )
        for name in joined_datasets(args.contract)
        if name in args.references
    }


# --- entry point ----------------------------------------------------------------------------------------


def main(
    argv: Sequence[str] | None = None,
    *,
    s3_client: Any = None,
    glue_client: Any = None,
    stage: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """One entry for Glue and local runs.

    Arguments: --run_id --dataset --source --output --contract (required), --JOB_NAME (required on Glue),
    --ingest_id --source_key --ingested_at --staging_table --staging_database --references (optional; on Glue
    --staging_table and --staging_database are required). Unknown arguments (Glue's own --job-bookmark-option,
    --TempDir, ...) are ignored. The clients are made here when not given. `stage` maps an s3:// location to a
    local folder holding its objects (the local runtime: pip pyspark has no S3 filesystem); on Glue it is None
    and Spark reads S3 itself. Returns the manifest.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    glue = _glue()
    if glue is None:
        args = parse_job_args(_local_options(argv), local=True)
        spark, job = get_or_create_spark(), None
    else:
        glue_context_cls, job_cls, get_resolved_options = glue
        raw = _glue_options(argv, get_resolved_options)
        args = parse_job_args(raw, local=False)
        glue_context = glue_context_cls(SparkContext.getOrCreate())
        spark = glue_context.spark_session
        job = job_cls(glue_context)
        job.init(args.job_name, {k: v for k, v in raw.items() if v is not None})
    configure_session(spark)
    if s3_client is None and any(is_s3(u) for u in (args.output, args.source, *args.references.values())):
        s3_client = boto3.client("s3")
    if glue_client is None and args.staging_table:
        glue_client = boto3.client("glue")
    catalog = catalog_references(args, s3_client, glue_client, stage)
    references = read_references(spark, args.contract, args.references, s3_client, catalog)
    source = resolve_source(args, glue_client)
    args = resolve_existing(args, s3_client, glue_client, stage)
    if stage is not None and is_s3(source):
        source = stage(source)
    manifest = run(spark, args, source, references, s3_client)
    if job is not None:
        job.commit()
    return manifest


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    main()
