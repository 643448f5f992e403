"""Typed inputs and outputs of every Task: the contract between the state machine and each Lambda."""

from __future__ import annotations

import hashlib
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field

from sluice_lib.errors import InvalidEventError

INCOMING_PREFIX = "incoming/"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SourceObject(_Model):
    """Identity of one uploaded object version: the idempotency key of every step."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int = 0

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def dataset(self) -> str:
        """`incoming/<dataset>/...` names the dataset."""
        rest = self.key[len(INCOMING_PREFIX) :] if self.key.startswith(INCOMING_PREFIX) else ""
        dataset, sep, name = rest.partition("/")
        if not sep or not dataset or not name:
            raise InvalidEventError(f"{self.uri}: key must look like incoming/<dataset>/<file>.csv[.gz]")
        return dataset

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def ingest_id(self) -> str:
        """Stable id of this object version; reruns of the same upload reuse it."""
        identity = f"{self.bucket}/{self.key}#{self.version_id or self.etag or ''}"
        return hashlib.sha256(identity.encode()).hexdigest()[:20]


def source_from_event(event: dict[str, Any]) -> SourceObject:
    """Reads an EventBridge `Object Created` event or an S3 notification (first record).

    S3 notifications URL-encode keys (spaces as `+`); EventBridge events do not.
    """
    detail = event.get("detail")
    if isinstance(detail, dict) and "bucket" in detail and "object" in detail:
        obj = detail["object"]
        return SourceObject(
            bucket=detail["bucket"]["name"],
            key=obj["key"],
            version_id=obj.get("version-id"),
            etag=obj.get("etag"),
            size=int(obj.get("size") or 0),
        )
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict) and "s3" in records[0]:
        s3 = records[0]["s3"]
        obj = s3["object"]
        return SourceObject(
            bucket=s3["bucket"]["name"],
            key=unquote_plus(obj["key"]),
            version_id=obj.get("versionId"),
            etag=obj.get("eTag"),
            size=int(obj.get("size") or 0),
        )
    raise InvalidEventError(
        "the input is neither an EventBridge 'Object Created' event nor an S3 notification: "
        f"top-level keys {sorted(event)[:10]}"
    )


class Execution(_Model):
    """What the state machine knows about itself (`$$.Execution`)."""

    arn: str = Field(alias="Id")
    name: str = Field(alias="Name")
    start_time: str = Field(alias="StartTime")

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ValidateInput(_Model):
    event: dict[str, Any]
    execution: Execution


class Counts(_Model):
    rows_in: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    bytes_in: int = 0


class ValidateOutput(_Model):
    run_id: str
    ingest_id: str
    dataset: str
    source: SourceObject
    execution_arn: str
    started_at: str
    counts: Counts
    dlq_messages: int
    staging_uri: str
    staging_table: str
    quarantine_uri: str | None
    schema_fingerprint: str
    schema_changed: bool
    output_uri: str
    contract_json: str
    extra_columns: list[str] = []
    references_json: str = "{}"  # {dataset: curated table location} the transform reads (joins, aggregates)
    # Which engine transforms the run and why (sluice_lib.transform_engine); the state machine routes on it.
    transform_engine: Literal["lambda", "glue"] = "glue"
    transform_engine_reason: str = ""


class TransformResult(_Model):
    """What `glue:startJobRun.sync` returns, reduced by the state's ResultSelector (or what TransformInLambda
    returns, reduced to the same shape)."""

    job_run_id: str
    state: str
    engine: Literal["lambda", "glue"] = "glue"


class TransformLambdaInput(_Model):
    run: ValidateOutput


class TransformLambdaOutput(_Model):
    """The TransformInLambda step's result: TransformResult's fields, and what it wrote."""

    job_run_id: str  # the Lambda request id
    state: Literal["SUCCEEDED"] = "SUCCEEDED"
    engine: Literal["lambda"] = "lambda"
    rows_read: int
    rows_written: int
    files: int
    seconds: float


class LoadInput(_Model):
    run: ValidateOutput
    transform: TransformResult | None = None
    # Output files one Load invocation writes serving items for; more fan out (None: never).
    fan_out_files: int | None = Field(default=None, ge=1)


class S3Location(_Model):
    bucket: str
    key: str


class LoadOutput(_Model):
    curated_uri: str
    files: int
    rows_loaded: int
    partitions: list[str]
    serving_items: int = 0
    # Set when the serving items are left to the Distributed Map: a JSON list of ServingBatch in S3.
    serving_plan: S3Location | None = None
    fanned_out: bool = False


class ServingBatch(_Model):
    """One Distributed Map item: curated files whose rows become serving items."""

    index: int
    keys: list[str]


class ServingBatchInput(_Model):
    run: ValidateOutput
    batch: ServingBatch


class ServingBatchOutput(_Model):
    index: int
    files: int
    serving_items: int


class ArchiveInput(_Model):
    run: ValidateOutput
    load: LoadOutput
    batches: list[ServingBatchOutput] = []  # the Distributed Map's results when Load fanned out


class Notification(_Model):
    subject: str = Field(max_length=100)
    body: dict[str, Any]


class ArchiveOutput(_Model):
    archive_uri: str
    notification: Notification


RunStatus = Literal["RUNNING", "SUCCEEDED", "REJECTED", "FAILED"]


class CaughtError(_Model):
    """The `$.error` a Catch block adds: Error and Cause as Step Functions names them."""

    error: str = Field(alias="Error")
    cause: str = Field(default="", alias="Cause")

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class RejectInput(_Model):
    event: dict[str, Any]
    execution: Execution
    error: CaughtError


class RejectOutput(_Model):
    rejected_uri: str
    error: CaughtError
