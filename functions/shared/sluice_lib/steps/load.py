"""Load: publishes a run's transform output to curated/, the Glue catalog and the serving table (or leaves the
serving items to the LoadServing Distributed Map: sluice_lib.steps.load_serving_batch), then its gold tables."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow.parquet as pq

from sluice_lib.contracts import parse_contract
from sluice_lib.curated import DATA_FOLDER, MANIFEST_NAME
from sluice_lib.errors import TransformOutputInvalidError
from sluice_lib.gold import publish_gold
from sluice_lib.lake import (
    Manifest,
    copy_files,
    delete_files,
    ensure_table,
    folder,
    own_files,
    partition_of,
    plan_files,
    read_manifest,
    register_partitions,
    remove_stale_files,
)
from sluice_lib.lease import acquire, advance_generation, bump_generation
from sluice_lib.ledger import Ledger, now_iso
from sluice_lib.merge_publish import merged_file_names, publish_merge, version_name, version_prefix
from sluice_lib.models import LoadInput, LoadOutput, MergeCounts, S3Location, ServingBatch, ServingSlice
from sluice_lib.raw import parse_s3_uri
from sluice_lib.s3_range_file import S3RangeFile
from sluice_lib.serving import changed_rows_ingest, serve_files
from sluice_lib.settings import curated_prefix

SERVING_PLAN_NAME = "_serving_batches.json"
SERVING_RESULTS = "_serving_results/"
FOOTER_READERS = 16


def publish_files(s3: Any, output_uri: str, lake_bucket: str, plan: dict[str, str]) -> None:
    source_bucket, prefix = parse_s3_uri(folder(output_uri))
    copy_files(s3, source_bucket, f"{prefix}{DATA_FOLDER}/", lake_bucket, plan)


def publish_curated(
    s3: Any,
    glue: Any,
    *,
    request: LoadInput,
    manifest: Manifest,
    plan: dict[str, str],
    lake_bucket: str,
    glue_database: str,
) -> list[str]:
    """Write-audit-publish of the curated zone; returns the partitions.

    Files are copied under names of their own first; the catalog learns of new partitions only after
    every file is in place. When a copy or a catalog change fails, the files this attempt added are
    deleted again (files an earlier run of the same upload published stay), so a failed Load leaves no
    half output behind; a retry, redrive or rerun then publishes the whole output. Last, the upload's
    files that the new output no longer has are removed.
    """
    run = request.run
    location = f"s3://{lake_bucket}/{curated_prefix(run.dataset)}"
    partitions = sorted({*manifest.partitions, *(partition_of(p) for p in manifest.files)} - {""})
    before = set(own_files(s3, lake_bucket, run.dataset, run.ingest_id))
    try:
        publish_files(s3, run.output_uri, lake_bucket, plan)
        ensure_table(glue, glue_database, run.dataset, manifest, location)
        if manifest.partition_keys:
            register_partitions(glue, glue_database, run.dataset, manifest, location, partitions)
    except BaseException as exc:
        added = sorted(set(plan.values()) - before)
        try:
            delete_files(s3, lake_bucket, added)
        except Exception as cleanup:  # keep the original error; say what is left behind
            exc.add_note(f"could not remove the {len(added)} curated files this Load added: {cleanup}")
        raise
    remove_stale_files(s3, lake_bucket, run.dataset, run.ingest_id, keep=set(plan.values()))
    return partitions


def file_rows(s3: Any, bucket: str, keys: list[str]) -> list[int]:
    """Each published file's rows, from its Parquet footer (two ranged GETs a file, FOOTER_READERS at once)."""

    def rows(key: str) -> int:
        with S3RangeFile.open(s3, bucket, key) as raw:
            return int(pq.ParquetFile(raw).metadata.num_rows)

    with ThreadPoolExecutor(FOOTER_READERS) as pool:
        return list(pool.map(rows, keys))


def version_list(versions: dict[str, dict[str, str | None]] | None) -> list[dict[str, str]]:
    """publish_merge's `previous`/`current` as the ledger keeps them: one entry per changed partition (`""`
    location: none; `""` partition: an unpartitioned table)."""
    if not versions:
        return []
    return [
        {
            "partition": p,
            "previous": versions["previous"].get(p) or "",
            "current": versions["current"].get(p) or "",
        }
        for p in sorted(versions["current"])
    ]


def serving_batches(
    keys: list[str], rows: list[int], *, rows_per_batch: int | None, files_per_batch: int | None
) -> Iterator[ServingBatch]:
    """The LoadServing Map's items, in file order: each holds at most `rows_per_batch` rows (a file larger than
    that is cut into row ranges; its child reads only the row groups of its range) and at most
    `files_per_batch` files' slices."""
    index, slices, room = 0, [], rows_per_batch
    for key, count in zip(keys, rows, strict=True):
        start = 0
        while start < count:
            take = count - start if room is None else min(count - start, room)
            slices.append(ServingSlice(key=key, start=start, end=start + take))
            start += take
            room = None if room is None else room - take
            if room == 0 or len(slices) == files_per_batch:
                yield ServingBatch(index=index, slices=slices)
                index, slices, room = index + 1, [], rows_per_batch
    if slices:
        yield ServingBatch(index=index, slices=slices)


def write_serving_plan(s3: Any, output_uri: str, batches: Iterable[ServingBatch]) -> tuple[S3Location, int]:
    """The Distributed Map's items: a JSON list in S3 (ItemReader s3:getObject, InputType JSON); and their count."""
    bucket, prefix = parse_s3_uri(folder(output_uri))
    key = f"{prefix}{SERVING_PLAN_NAME}"
    items = [b.model_dump(mode="json") for b in batches]
    body = json.dumps(items, separators=(",", ":"))
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
    return S3Location(bucket=bucket, key=key), len(items)


def serving_result_key(output_uri: str, index: int) -> tuple[str, str]:
    """Where LoadServing item `index` leaves its LoadServingBatchOutput (the Map keeps no results: thousands of
    them would pass the 256 KiB a state's output may hold); Archive sums them."""
    bucket, prefix = parse_s3_uri(folder(output_uri))
    return bucket, f"{prefix}{SERVING_RESULTS}{index:06d}.json"


def check_generation(
    request: LoadInput, *, dynamodb: Any, runs_table: str, lease_seconds: float | None = None
) -> int:
    """Before a merge is published: takes the dataset's merge lease again for this execution (`lease_seconds`;
    it still holds it on the normal path, and a redrive after OnExecutionFailed released it must not publish
    beside another execution's merge: DatasetBusyError, which the Load state retries as TakeLease does), then bumps the dataset's publish generation from the one TakeLease read to the
    next, for this execution (sluice_lib.lease.bump_generation); returns the new one. StaleMergeError when another
    execution published a merge of the dataset since (this one's redrive after its lease was released, or a lease
    that expired): nothing is published. A retried or redriven Load of the execution that bumped passes again.

    A Load input without a generation (`lease` absent or without one: an execution started on a definition from
    before the generation existed) is published unchecked, as it was then, and still advances the generation, so
    that a transform which read the older one is refused in turn."""
    run = request.run
    if lease_seconds is not None:
        acquire(dynamodb, runs_table, run.dataset, run.execution_arn, lease_seconds)
    if request.lease is None or request.lease.generation is None:
        return advance_generation(dynamodb, runs_table, run.dataset, run.execution_arn)
    return bump_generation(dynamodb, runs_table, run.dataset, request.lease.generation, run.execution_arn)


def load_run(
    request: LoadInput,
    *,
    s3: Any,
    glue: Any,
    dynamodb: Any,
    ledger: Ledger,
    lake_bucket: str,
    glue_database: str,
    serving_table: str,
    lease_seconds: float | None = None,
) -> LoadOutput:
    """Publishes the run's output: curated files, catalog table and partitions, then serving items.

    Acts only while the run's execution owns the ledger item (DuplicateExecutionError otherwise). A transform
    output with a `merge` section (a keyed table, merged while the execution holds the dataset's lease) is
    published as new partition versions and one catalog switch (sluice_lib.merge_publish), once the dataset's
    publish generation is bumped from the one the execution read (`check_generation`, in the ledger's table, the
    runs table, under the dataset's lease taken again for `lease_seconds` when given; StaleMergeError, before
    anything is published, when another execution merged since); the
    ledger keeps its counts and the previous and current locations of every partition it changed.
    Serving items are written after the curated publish, streamed from the files' row groups; when the
    output has more files than `request.fan_out_files` or more rows than `request.fan_out_rows`, they are
    left to the Distributed Map, each item at most `fan_out_rows` rows of at most `fan_out_files` files,
    and the returned `serving_plan` names the items. Serving writes are upserts and cannot be taken
    back: a failure among them leaves the curated output published and the items written so far, which
    hold the values a retry, redrive or rerun writes again. Every part is idempotent, so a retried or
    rerun Load leaves the same result as one Load.
    """
    run = request.run
    ledger.advance(run.source, run.execution_arn, "Load")
    manifest = read_manifest(s3, run.output_uri)
    if manifest.run_id != run.run_id or manifest.dataset != run.dataset:
        raise TransformOutputInvalidError(
            f"{run.output_uri}{MANIFEST_NAME} describes run {manifest.run_id} of {manifest.dataset}, "
            f"not run {run.run_id} of {run.dataset}"
        )
    merge = versions = None
    if (
        manifest.merge is not None
    ):  # a keyed table: the merged partitions become new versions, then the switch
        merge = MergeCounts.model_validate(manifest.merge)
        check_generation(request, dynamodb=dynamodb, runs_table=ledger.table, lease_seconds=lease_seconds)
        version = version_name(run.started_at, run.run_id)
        versions = publish_merge(
            s3, glue, manifest=manifest, merge=manifest.merge, output_uri=run.output_uri,
            lake_bucket=lake_bucket, database=glue_database, version=version, ingest_id=run.ingest_id,
        )  # fmt: skip
        plan = {
            path: f"{version_prefix(run.dataset, partition_of(path), version)}{name}"
            for path, name in merged_file_names(manifest, merge, run.ingest_id).items()
        }
        partitions = sorted({*merge.replaced, *merge.added} - {""})
    else:
        plan = plan_files(manifest.files, run.dataset, run.ingest_id)
        partitions = publish_curated(
            s3, glue, request=request, manifest=manifest, plan=plan, lake_bucket=lake_bucket,
            glue_database=glue_database,
        )  # fmt: skip
    curated_uri = f"s3://{lake_bucket}/{curated_prefix(run.dataset)}"
    # A merge writes whole partitions; the run's own rows are what it loaded, whichever version won.
    rows_loaded = manifest.rows_written if merge is None else merge.inserted + merge.updated + merge.unchanged

    serving = parse_contract(json.loads(run.contract_json), f"contract of run {run.run_id}").pipeline.serving
    serving_items = batches = 0
    serving_plan = None
    keys = sorted(plan.values())
    files_over = request.fan_out_files is not None and len(keys) > request.fan_out_files
    rows_over = request.fan_out_rows is not None and manifest.rows_written > request.fan_out_rows
    if serving is not None and (files_over or rows_over):
        rows = file_rows(s3, lake_bucket, keys)
        items = serving_batches(
            keys, rows, rows_per_batch=request.fan_out_rows, files_per_batch=request.fan_out_files
        )
        serving_plan, batches = write_serving_plan(s3, run.output_uri, items)
    elif serving is not None:
        serving_items = serve_files(
            s3, dynamodb, lake_bucket=lake_bucket, keys=keys, manifest=manifest, serving=serving,
            table=serving_table, only_ingest=changed_rows_ingest(manifest, run.ingest_id),
        )  # fmt: skip
    publish_gold(run, s3=s3, glue=glue, dynamodb=dynamodb, lake_bucket=lake_bucket, glue_database=glue_database, serving_table=serving_table)  # fmt: skip

    ledger.advance(
        run.source,
        run.execution_arn,
        "Load",
        rows_loaded=rows_loaded,
        curated_uri=curated_uri,
        serving_items=serving_items,
        serving_fanned_out=serving_plan is not None,
        loaded_at=now_iso(),
        **(
            {}
            if merge is None
            else {"merge": merge.model_dump(mode="json"), "versions": version_list(versions)}
        ),
    )
    return LoadOutput(
        curated_uri=curated_uri,
        files=len(plan),
        rows_loaded=rows_loaded,
        partitions=partitions,
        serving_items=serving_items,
        serving_plan=serving_plan,
        serving_batches=batches,
        fanned_out=serving_plan is not None,
        merge=merge,
    )
