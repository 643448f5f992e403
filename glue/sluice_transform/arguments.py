"""The job's arguments, checked: every error names the argument and what is wrong with it."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sluice_lib.curated import HIVE_TYPES, STAGING_PARTITION_KEY
from sluice_lib.errors import JobArgumentError
from sluice_lib.merge import parse_existing
from sluice_transform.locations import is_s3

REQUIRED_ARGS = ("run_id", "dataset", "source", "output", "contract")
OPTIONAL_ARGS = (
    "ingest_id",
    "source_key",
    "ingested_at",
    "staging_table",
    "staging_database",
    "references",
    "merge_with",
)
_INGEST_DIR = re.compile(rf"(?:^|/){STAGING_PARTITION_KEY}=([^/]+)/*(?:[^/]*\.parquet)?$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class JobArgs:
    run_id: str
    dataset: str
    source: str
    output: str
    contract: dict[str, Any]
    ingest_id: str
    source_key: str | None
    ingested_at: datetime
    staging_table: str | None = None
    staging_database: str | None = None
    job_name: str | None = None
    references: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # The curated table's current files per partition, to merge into (sluice_lib.merge); None = append.
    merge_with: Mapping[str, list[str]] | None = None


def parse_job_args(raw: Mapping[str, str | None], *, local: bool, now: datetime | None = None) -> JobArgs:
    """Validates the raw `--name value` arguments; every error names the argument and what is wrong."""
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in raw.items()}
    missing = [f"--{n}" for n in REQUIRED_ARGS if values.get(n) is None]
    empty = [f"--{n}" for n in REQUIRED_ARGS if values.get(n) == ""]
    if missing or empty:
        problems = [f"missing required arguments: {', '.join(missing)}"] if missing else []
        problems += [f"empty arguments: {', '.join(empty)}"] if empty else []
        raise JobArgumentError("; ".join(problems))
    run_id, dataset = str(values["run_id"]), str(values["dataset"])
    source, output = str(values["source"]), str(values["output"]).rstrip("/")
    staging_table = values.get("staging_table") or None
    staging_database = values.get("staging_database") or None
    if staging_table and not staging_database:
        raise JobArgumentError(
            f"--staging_table {staging_table} needs --staging_database (the Glue database the crawler writes to)"
        )
    if not local and not staging_table:
        raise JobArgumentError(
            "--staging_table is required on Glue: the job reads staging through the crawler's catalog table"
        )
    if local:
        # Through the catalog, --source is only checked against the partition's location (main stages it).
        local_paths = (("output", output),) if staging_table else (("source", source), ("output", output))
        for name, uri in local_paths:
            if is_s3(uri):
                raise JobArgumentError(
                    f"--{name} {uri}: the local runtime (pip pyspark, no S3 filesystem) needs a local path; "
                    "stage s3:// objects to local files first"
                )
    contract = _parse_contract(str(values["contract"]), dataset)

    ingest_id = values.get("ingest_id") or None
    from_path = ingest_id_from_path(source)
    if ingest_id and from_path and ingest_id != from_path:
        raise JobArgumentError(
            f"--ingest_id {ingest_id!r} disagrees with the ingest_id={from_path} folder of --source {source}"
        )
    ingest_id = ingest_id or from_path
    if not ingest_id:
        raise JobArgumentError(f"--ingest_id is not given and --source {source} has no ingest_id=<id> folder")

    ingested_at = now or datetime.now(UTC)
    if values.get("ingested_at"):
        try:
            ingested_at = datetime.fromisoformat(str(values["ingested_at"]))
        except ValueError:
            raise JobArgumentError(
                f"--ingested_at {values['ingested_at']!r} is not an ISO-8601 timestamp"
            ) from None
    if ingested_at.tzinfo is None:
        ingested_at = ingested_at.replace(tzinfo=UTC)  # a naive time is taken as UTC
    references = _parse_references(values.get("references"), local=local)
    try:
        merge_with = parse_existing(values.get("merge_with") or None)
    except ValueError as exc:
        raise JobArgumentError(str(exc)) from None

    return JobArgs(
        run_id=run_id,
        dataset=dataset,
        source=source,
        output=output,
        contract=contract,
        ingest_id=ingest_id,
        source_key=values.get("source_key") or None,
        ingested_at=ingested_at.astimezone(UTC),
        staging_table=staging_table,
        staging_database=staging_database,
        job_name=values.get("JOB_NAME") or None,
        references=references,
        merge_with=merge_with,
    )


def _parse_references(text: str | None, *, local: bool) -> dict[str, str]:
    """`{"<dataset>": "<location of its curated table>"}`: joined datasets, and the dataset itself for
    aggregates (its curated rows of earlier runs). Absent or empty means none."""
    if not text:
        return {}
    try:
        refs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobArgumentError(f"--references is not valid JSON: {exc}") from None
    if not isinstance(refs, dict) or not all(isinstance(v, str) and v for v in refs.values()):
        raise JobArgumentError('--references must be a JSON object {"<dataset>": "<location>", ...}')
    bad = [k for k in refs if not _IDENTIFIER.match(k)]
    if bad:
        raise JobArgumentError(f"--references names datasets that are not lower_snake_case: {bad}")
    if local:
        remote = [k for k, v in refs.items() if is_s3(v)]
        if remote:
            raise JobArgumentError(
                f"--references {remote}: the local runtime needs local paths; stage s3:// locations first"
            )
    return {k: v.rstrip("/") for k, v in refs.items()}


def _parse_contract(text: str, dataset: str) -> dict[str, Any]:
    """Checks the shape this job relies on; full validation happened in sluice_lib before the run.

    The contract is `Contract.to_json()`, used as a plain dict: the pydantic model is not shipped to Glue.
    """
    try:
        contract = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobArgumentError(f"--contract is not valid JSON: {exc}") from None
    if not isinstance(contract, dict):
        raise JobArgumentError("--contract must be a JSON object with dataset, schema and pipeline")
    if contract.get("dataset") != dataset:
        raise JobArgumentError(
            f"--contract is for dataset {contract.get('dataset')!r} but --dataset is {dataset!r}"
        )
    schema = contract.get("schema")
    fields = schema.get("fields") if isinstance(schema, dict) else None
    if not isinstance(fields, list) or not fields:
        raise JobArgumentError("--contract has no schema.fields")
    for i, field in enumerate(fields):
        if not isinstance(field, dict) or not isinstance(field.get("name"), str):
            raise JobArgumentError(f"--contract schema.fields[{i}] has no name")
        kind = field.get("type", "string")
        if kind not in HIVE_TYPES:
            raise JobArgumentError(
                f"--contract schema.fields[{i}] ({field['name']}) has unknown type {kind!r}"
            )
    if not isinstance(contract.get("pipeline", {}), dict):
        raise JobArgumentError("--contract pipeline must be an object")
    return contract


def ingest_id_from_path(source: str) -> str | None:
    """`.../ingest_id=<id>/` (or a part file inside it) names the ingest."""
    match = _INGEST_DIR.search(source.rstrip("/"))
    return match.group(1) if match else None
