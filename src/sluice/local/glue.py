"""The local Glue: job runs execute the template's script on local Spark; crawls infer the catalog."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pyarrow.parquet as pq
from moto.glue import models, responses
from moto.glue.models import glue_backends
from moto.moto_api import state_manager

from sluice.glue_library import EXTRA_PY_FILES, extra_py_files
from sluice.local.job_imports import JobImporter
from sluice.local.stack import ACCOUNT, REGION, Stack

_ARROW_TO_GLUE = {
    "string": "string",
    "large_string": "string",
    "int64": "bigint",
    "int32": "int",
    "int16": "smallint",
    "int8": "tinyint",
    "double": "double",
    "float": "float",
    "bool": "boolean",
    "date32[day]": "date",
}


def glue_type(arrow_type: Any) -> str:
    text = str(arrow_type)
    if text.startswith("timestamp"):
        return "timestamp"
    if text.startswith("decimal"):
        return text.replace("decimal128", "decimal").replace(" ", "")
    return _ARROW_TO_GLUE.get(text, "string")


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def download_prefix(s3: Any, uri: str, dest: Path) -> int:
    """Copies every object under an s3:// prefix into dest (keeping relative paths)."""
    bucket, prefix = split_s3(uri)
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(prefix) :].lstrip("/")
            if not rel or rel.endswith("/"):
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(target))
            count += 1
    return count


def upload_tree(s3: Any, src: Path, uri: str) -> int:
    bucket, prefix = split_s3(uri)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    count = 0
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src).as_posix()
        if rel.split("/")[-1].startswith((".", "_SUCCESS")) and not rel.endswith(".json"):
            continue  # Spark's checksum and marker files
        s3.upload_file(str(path), bucket, prefix + rel)
        count += 1
    return count


def stage_inputs(s3: Any, value: str, dest: Path) -> str:
    """A job argument with its s3:// locations downloaded under `dest`, as the pip pyspark cannot read S3.

    An s3:// URI becomes the local folder holding its objects; a JSON object whose values are all s3:// URIs
    becomes the same object with local folders. Anything else is returned unchanged.
    """
    if value.startswith("s3://"):
        dest.mkdir(parents=True, exist_ok=True)  # an empty prefix is an empty folder, as on S3
        download_prefix(s3, value, dest)
        return str(dest)
    if not value.startswith("{"):
        return value
    try:
        mapping = json.loads(value)
    except json.JSONDecodeError:
        return value
    if not (
        isinstance(mapping, dict)
        and mapping
        and all(isinstance(v, str) and v.startswith("s3://") for v in mapping.values())
    ):
        return value
    return json.dumps(
        {key: stage_inputs(s3, uri, dest / f"{i:03d}") for i, (key, uri) in enumerate(mapping.items())}
    )


@dataclass
class JobRunRecord:
    job_name: str
    run_id: str
    seconds: float
    state: str
    error: str | None


@dataclass
class LocalGlue:
    """Replaces moto's always-succeeding job runs and never-ending crawls with real work."""

    stack: Stack
    time_scale: float = 1.0
    spark_lock: threading.Lock = field(default_factory=threading.Lock)
    job_runs: list[JobRunRecord] = field(default_factory=list)
    crawls: list[float] = field(default_factory=list)
    fault_hook: Callable[[str], None] | None = None
    # Called with (job name, run id) as a run starts; an exception it raises fails the run (sluice.local.faults).
    run_fault_hook: Callable[[str, str], None] | None = None
    jvm_log: Path | None = None
    # The role session a job or crawler acts as (component name, role ARN) -> boto3 Session; None: the
    # emulator's own identity (no IAM enforcement, sluice.local.iam).
    role_session: Callable[[str, str], boto3.Session] | None = None
    _scripts: dict[tuple[Path, tuple[str, ...]], ModuleType] = field(default_factory=dict)
    _libraries: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sluice-glue-lib-")))

    def __post_init__(self) -> None:
        weakref.finalize(self, shutil.rmtree, self._libraries, True)

    def _start_spark(self, script: ModuleType) -> None:
        """Creates the process's SparkSession once; the JVM's own stderr chatter goes to jvm_log."""
        if self.jvm_log is None:
            script.get_or_create_spark()
            return
        self.jvm_log.parent.mkdir(parents=True, exist_ok=True)
        sys.stderr.flush()
        saved = os.dup(2)
        with self.jvm_log.open("a") as log:
            os.dup2(log.fileno(), 2)
            try:
                script.get_or_create_spark()
            finally:
                os.dup2(saved, 2)
                os.close(saved)

    def _session(self, component: str, role_arn: str) -> boto3.Session:
        """The boto3 session of the job or crawler: its template role's when IAM is enforced."""
        if self.role_session is None:
            return boto3.Session(region_name=REGION)
        return self.role_session(component, role_arn)

    # ------------------------------------------------------------------ jobs
    def _fetch_libraries(self, s3: Any, arguments: dict[str, str]) -> list[Path]:
        """The files the job's `--extra-py-files` lists, from (emulated) S3 as Glue fetches them before the script
        starts; a missing one fails the run there."""
        paths = []
        for uri in extra_py_files(arguments):
            bucket, key = split_s3(uri)
            try:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                raise FileNotFoundError(
                    f"{EXTRA_PY_FILES} {uri}: no such object, so the job run fails before its script starts "
                    "(make deploy uploads the job's library; docs/operations.md)"
                ) from None
            # By content: a run of the same library reuses its modules, another library gets its own.
            path = self._libraries / hashlib.sha256(body).hexdigest()[:16] / key.rsplit("/", 1)[-1]
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(body)
            paths.append(path)
        return paths

    def _script(self, path: Path, libraries: list[Path]) -> ModuleType:
        """The job's script, imported as Glue imports it: the project's modules from `libraries` only."""
        digests = tuple(p.parent.name for p in libraries)
        if (path, digests) not in self._scripts:
            namespace = "_sluice_glue_" + hashlib.sha256(f"{path}|{digests}".encode()).hexdigest()[:12]
            self._scripts[(path, digests)] = JobImporter(libraries, namespace).load_script(path)
        return self._scripts[(path, digests)]

    def run_job(self, job_name: str, run_id: str, arguments: dict[str, str]) -> None:
        """Runs the job's script with its arguments; s3:// locations are staged through local folders."""
        job_run = glue_backends[ACCOUNT][REGION].get_job_run(job_name, run_id)
        started = time.perf_counter()
        state, error = "SUCCEEDED", None
        # Glue stages the script's library and Spark reads and writes S3 as the job's role.
        session = self._session(job_name, glue_backends[ACCOUNT][REGION].get_job(job_name).role)
        s3 = session.client("s3")
        work = Path(tempfile.mkdtemp(prefix="sluice-glue-"))
        try:
            if self.run_fault_hook is not None:
                self.run_fault_hook(job_name, run_id)
            with self.spark_lock:
                # As on Glue: the job's DefaultArguments, overridden by the run's own arguments.
                args = {**self.stack.job_default_args.get(job_name, {}), **arguments}
                output_dir = work / "output"
                output_uri = args.get("--output", "")
                # The script resolves --source through the catalog when given --staging_table; it stages
                # the partition's location through `stage` and checks it against the S3 --source.
                unstaged = {
                    "--output",
                    "--TempDir",
                    EXTRA_PY_FILES,
                    *(("--source",) if args.get("--staging_table") else ()),
                }
                script = self._script(self.stack.job_scripts[job_name], self._fetch_libraries(s3, args))
                for name, value in args.items():
                    if name not in unstaged:
                        args[name] = stage_inputs(s3, value, work / "inputs" / name.lstrip("-"))
                if output_uri.startswith("s3://"):
                    args["--output"] = str(output_dir)
                argv = ["--JOB_NAME", job_name]
                for key, value in args.items():
                    argv += [key, value]
                self._start_spark(script)
                script.main(
                    argv,
                    s3_client=s3,
                    glue_client=session.client("glue"),
                    # one folder per location: the staging partition, each current version of a merged table
                    stage=lambda uri: stage_inputs(
                        s3, uri, work / "inputs" / "catalog" / hashlib.sha256(uri.encode()).hexdigest()[:16]
                    ),
                )
                if output_uri.startswith("s3://") and output_dir.exists():
                    upload_tree(s3, output_dir, output_uri)
        except Exception as exc:  # a failed job run reports its error like Glue's ErrorMessage
            state = "FAILED"
            error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc(file=sys.stdout)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        job_run.error_message = error  # type: ignore[attr-defined]
        job_run.status = state
        self.job_runs.append(JobRunRecord(job_name, run_id, time.perf_counter() - started, state, error))

    # ------------------------------------------------------------------ crawler
    def crawl(self, crawler_name: str) -> None:
        """Infers one table per dataset folder under the crawler's S3 targets and their partitions."""
        backend = glue_backends[ACCOUNT][REGION]
        crawler = backend.crawlers[crawler_name]
        crawl = crawler.crawls[-1]
        started = time.perf_counter()
        try:
            session = self._session(crawler_name, crawler.role)
            glue = session.client("glue")
            s3 = session.client("s3")
            for target in crawler.targets.get("S3Targets", []):
                self._crawl_target(glue, s3, crawler, target["Path"])
            # A real crawl takes about a minute; keep a scaled pause so concurrent starts see RUNNING.
            time.sleep(min(60.0 * self.time_scale, 60.0))
            crawl.status = "SUCCEEDED"
        except Exception as exc:  # the crawl's outcome, as Glue reports it in LastCrawl
            crawl.status = "FAILED"
            crawl.error_message = f"{type(exc).__name__}: {exc}"  # type: ignore[attr-defined]
            traceback.print_exc(file=sys.stdout)
        self.crawls.append(time.perf_counter() - started)

    def _crawl_target(self, glue: Any, s3: Any, crawler: Any, path: str) -> None:
        bucket, prefix = split_s3(path)
        prefix = prefix.rstrip("/") + "/"
        datasets: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                parts = obj["Key"][len(prefix) :].split("/")
                if len(parts) < 3 or not parts[-1].endswith(".parquet"):
                    continue
                dataset, partition = parts[0], parts[1]
                datasets.setdefault(dataset, {}).setdefault(partition, []).append(obj)
        for dataset, partitions in datasets.items():
            newest = max((o for objs in partitions.values() for o in objs), key=lambda o: o["LastModified"])
            schema = _parquet_schema(s3, bucket, newest["Key"])
            key_name = next(iter(partitions)).split("=", 1)[0]
            table = f"{crawler.table_prefix or ''}{dataset}"
            location = f"s3://{bucket}/{prefix}{dataset}/"
            descriptor = {
                "Columns": [{"Name": f.name, "Type": glue_type(f.type)} for f in schema],
                "Location": location,
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                },
            }
            table_input = {
                "Name": table,
                "StorageDescriptor": descriptor,
                "PartitionKeys": [{"Name": key_name, "Type": "string"}],
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"classification": "parquet", "UPDATED_BY_CRAWLER": crawler.name},
            }
            try:
                glue.get_table(DatabaseName=crawler.database_name, Name=table)
                glue.update_table(DatabaseName=crawler.database_name, TableInput=table_input)
            except glue.exceptions.EntityNotFoundException:
                glue.create_table(DatabaseName=crawler.database_name, TableInput=table_input)
            existing = {
                p["Values"][0]
                for page in glue.get_paginator("get_partitions").paginate(
                    DatabaseName=crawler.database_name, TableName=table
                )
                for p in page["Partitions"]
            }
            for partition in partitions:
                value = partition.split("=", 1)[-1]
                if value in existing:
                    continue
                try:
                    glue.create_partition(
                        DatabaseName=crawler.database_name,
                        TableName=table,
                        PartitionInput={
                            "Values": [value],
                            "StorageDescriptor": {**descriptor, "Location": f"{location}{partition}/"},
                        },
                    )
                except glue.exceptions.AlreadyExistsException:
                    # Added since the listing, by a concurrent execution's RegisterPartition (a burst whose
                    # first upload is being crawled): the same folder, and Glue's crawler does not fail on it.
                    continue


def _parquet_schema(s3: Any, bucket: str, key: str) -> Any:
    with tempfile.NamedTemporaryFile(suffix=".parquet") as tmp:
        s3.download_file(bucket, key, tmp.name)
        return pq.read_schema(tmp.name)


_active: list[LocalGlue] = []
_patched: list[bool] = []


def install(local: LocalGlue) -> None:
    """Hooks moto's Glue backend: StartJobRun runs the script, StartCrawler runs the local crawler.

    The hooks are installed once per process and call the most recently installed LocalGlue.
    """
    # Our runtime decides when runs and crawls end; moto's state machine must not advance them.
    for model in ("glue::job_run", "glue::crawl"):
        state_manager.set_transition(model_name=model, transition={"progression": "manual", "times": 10**9})
    _active[:] = [local]
    if not _patched:
        _patch_moto_glue()
        _patched.append(True)


def uninstall() -> None:
    """Detaches the local Glue: moto's own behaviour applies again outside an emulator session."""
    _active.clear()
    for model in ("glue::job_run", "glue::crawl"):
        state_manager.unset_transition(model_name=model)


def _patch_moto_glue() -> None:
    original_start_job_run = models.GlueBackend.start_job_run
    original_start_crawler = models.GlueBackend.start_crawler

    def start_job_run(self: Any, name: str, *args: Any, **kwargs: Any) -> str:
        if not _active:
            return str(original_start_job_run(self, name, *args, **kwargs))
        local = _active[0]
        if local.fault_hook is not None:
            local.fault_hook(f"glue:startJobRun:{name}")
        run_id: str = original_start_job_run(self, name, *args, **kwargs)
        job_run = self.get_job(name).get_job_run(run_id)
        job_run.status = "RUNNING"
        job_run.error_message = None
        threading.Thread(
            target=local.run_job, args=(name, run_id, dict(job_run.arguments or {})), daemon=True
        ).start()
        return run_id

    def start_crawler(self: Any, name: str) -> None:
        if not _active:
            original_start_crawler(self, name)
            return
        local = _active[0]
        if local.fault_hook is not None:
            local.fault_hook(f"glue:startCrawler:{name}")
        original_start_crawler(self, name)
        self.crawlers[name].crawls[-1].status = "RUNNING"
        threading.Thread(target=local.crawl, args=(name,), daemon=True).start()

    models.GlueBackend.start_job_run = start_job_run  # type: ignore[method-assign]
    models.GlueBackend.start_crawler = start_crawler  # type: ignore[method-assign]

    # GetCrawler's hook sits on the API action, not the backend: the backend's start_crawler calls get_crawler.
    original_get_crawler = responses.GlueResponse.get_crawler

    def get_crawler(self: Any) -> Any:
        if _active and _active[0].fault_hook is not None:
            _active[0].fault_hook(f"glue:getCrawler:{self.parameters.get('Name')}")
        return original_get_crawler(self)

    responses.GlueResponse.get_crawler = get_crawler  # type: ignore[method-assign]

    # Glue reports a finished crawl as READY with LastCrawl.Status SUCCEEDED | FAILED | CANCELLED.
    def crawler_status(self: Any) -> str:
        if not self.crawls:
            return "READY"
        status = self.crawls[-1].status
        return {"RUNNING": "RUNNING", "STOPPING": "STOPPING"}.get(status, "READY")

    models.FakeCrawler.status = property(crawler_status)  # type: ignore[assignment,method-assign]

    original_crawler_dict = models.FakeCrawler.as_dict

    def crawler_as_dict(self: Any) -> dict[str, Any]:
        data: dict[str, Any] = original_crawler_dict(self)
        if self.crawls and "LastCrawl" in data:
            crawl = self.crawls[-1]
            status = {"COMPLETED": "SUCCEEDED", "STOPPED": "CANCELLED"}.get(crawl.status, crawl.status)
            data["LastCrawl"]["Status"] = status
            if getattr(crawl, "error_message", None):
                data["LastCrawl"]["ErrorMessage"] = crawl.error_message
        return data

    models.FakeCrawler.as_dict = crawler_as_dict  # type: ignore[method-assign]

    original_run_dict = models.FakeJobRun.as_dict

    def job_run_as_dict(self: Any) -> dict[str, Any]:
        data: dict[str, Any] = original_run_dict(self)
        if getattr(self, "error_message", None):
            data["ErrorMessage"] = self.error_message
        return data

    models.FakeJobRun.as_dict = job_run_as_dict  # type: ignore[method-assign]
