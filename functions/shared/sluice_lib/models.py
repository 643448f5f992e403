"""Typed inputs and outputs of every Task: the contract between the state machine and each Lambda.

One section per state, in the order the workflow runs them; each state's code is `sluice_lib.steps.<state>`.
The models live here, not in the steps' modules, because a step passes on what an earlier one returned
(Archive receives Load's output) and the steps' modules import what other functions' layers lack (pyarrow,
DuckDB): this module needs pydantic and Powertools only.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel, S3Model
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from sluice_lib.errors import InvalidEventError

INCOMING_PREFIX = "incoming/"
RunStatus = Literal["RUNNING", "SUCCEEDED", "REJECTED", "FAILED"]  # a run's status in the runs ledger
NotificationStatus = Literal["SUCCEEDED", "REJECTED", "FAILED"]  # the status a run's one notification reports


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


# What starts an execution: S3's EventBridge "Object Created" event (the template's rule), or an S3 notification.
UploadEvent = S3EventNotificationEventBridgeModel | S3Model
_UPLOAD_EVENT: TypeAdapter[UploadEvent] = TypeAdapter(UploadEvent)


def _not_an_upload(event: Any, exc: ValidationError) -> InvalidEventError:
    keys = sorted(event)[:10] if isinstance(event, dict) else type(event).__name__
    where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
    return InvalidEventError(
        "the input is neither an EventBridge 'Object Created' event nor an S3 notification: "
        f"top-level keys {keys} ({where})"
    )


def source_of(event: UploadEvent) -> SourceObject:
    """The uploaded object version an upload event names (an S3 notification's first record).

    S3 notifications URL-encode keys (spaces as `+`); EventBridge events do not.
    """
    if isinstance(event, S3EventNotificationEventBridgeModel):
        obj = event.detail.object
        return SourceObject(
            bucket=event.detail.bucket.name,
            key=obj.key,
            version_id=obj.version_id,
            etag=obj.etag or None,
            size=int(obj.size or 0),
        )
    record = event.Records[0] if event.Records else None
    if record is None or record.s3.object is None:
        raise InvalidEventError("the S3 notification names no object (no record, or a record without object)")
    return SourceObject(
        bucket=record.s3.bucket.name,
        key=unquote_plus(record.s3.object.key),
        version_id=record.s3.object.versionId,
        etag=record.s3.object.eTag,
        size=int(record.s3.object.size or 0),
    )


def source_from_event(event: Any) -> SourceObject:
    """`source_of` for an upload event as JSON (an execution's input); InvalidEventError for anything else."""
    try:
        return source_of(_UPLOAD_EVENT.validate_python(event))
    except ValidationError as exc:
        raise _not_an_upload(event, exc) from exc


class Execution(_Model):
    """What the state machine knows about itself (`$$.Execution`)."""

    arn: str = Field(alias="Id")
    name: str = Field(alias="Name")
    start_time: str = Field(alias="StartTime")

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class S3Location(_Model):
    bucket: str
    key: str


# --- Validate ----------------------------------------------------------------------------------------------


class ValidateInput(_Model):
    event: UploadEvent
    execution: Execution

    @field_validator("event", mode="wrap")
    @classmethod
    def _upload_event(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> UploadEvent:
        """Any other input is InvalidEventError (what the state machine sees), not a ValidationError."""
        try:
            event: UploadEvent = handler(value)
        except ValidationError as exc:
            raise _not_an_upload(value, exc) from exc
        return event


class Counts(_Model):
    rows_in: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    bytes_in: int = 0


class QualityOutcome(_Model):
    """One quality rule's result on a run (sluice_lib.quality.evaluate.QualityResult)."""

    rule: str
    type: str
    severity: Literal["warn", "reject"]
    passed: bool
    value: float | int | None
    threshold: str
    detail: str = ""


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
    blank_lines: int = 0  # blank lines and records whose values are all empty: lines, not rows
    references_json: str = "{}"  # {dataset: curated table location} the transform reads (joins, aggregates)
    # Which engine transforms the run and why (sluice_lib.transform_engine); the state machine routes on it.
    transform_engine: Literal["lambda", "glue"] = "glue"
    transform_engine_reason: str = ""
    quality: list[QualityOutcome] = []  # the contract's quality rules on this run's rows (all passed or warn)
    chunks: int = 1  # byte ranges validated in parallel (1: the single-Lambda path)


# --- Validate fanned out: ScanRanges (Map of ScanRange), PlanChunks, ValidateChunks (Map of ValidateChunk),
# MergeChunks. Validate claims the run and checks the header; for an object over ValidateChunkBytes it returns
# ValidateFanOut, and MergeChunks returns the ValidateOutput the single path would have. -------------------------


class ValidateFanOut(_Model):
    """Validate's output for an object it leaves to the fan-out states (`fanned_out` routes the Choice)."""

    fanned_out: Literal[True] = True
    run_id: str
    ingest_id: str
    dataset: str
    source: SourceObject
    execution_arn: str
    started_at: str
    size: int  # bytes of the object version
    header: list[str]  # the header's names, read once by Validate (chunks after the first have none)
    extra_columns: list[str] = []
    references_json: str = "{}"
    ranges: int  # ScanRanges items
    ranges_plan: S3Location  # JSON list of ByteRange
    work_prefix: str  # lake-bucket prefix of the run's working files

    @property
    def execution(self) -> Execution:
        return Execution(Id=self.execution_arn, Name=self.run_id, StartTime=self.started_at)


class ByteRange(_Model):
    """One ScanRanges item: bytes [start, end) of the object."""

    index: int
    start: int
    end: int


class RangeScan(_Model):
    """What a range tells PlanChunks, under each parity of the quotes before it (index 0: even)."""

    index: int
    start: int
    end: int
    quotes: int  # '"' characters in [start, end)
    first: list[int | None]  # where its first record starts (after a record end in the range), per parity
    lines_to_first: list[int]  # physical lines in [start, first), per parity (0 when there is no first)
    lines: list[int]  # physical lines in [start, end), per parity


class Chunk(_Model):
    """One ValidateChunks item: bytes [start, end) of whole records, after `lines_before` physical lines."""

    index: int
    start: int
    end: int
    lines_before: int


class ScanRangeInput(_Model):
    plan: ValidateFanOut
    range: ByteRange


class ScanRangeOutput(_Model):
    index: int
    quotes: int


class PlanChunksInput(_Model):
    plan: ValidateFanOut


class PlanChunksOutput(_Model):
    chunks: int
    chunks_plan: S3Location  # JSON list of Chunk


class ValidateChunkInput(_Model):
    plan: ValidateFanOut
    chunk: Chunk


class Rejection(_Model):
    error: str
    cause: str


class ChunkResult(_Model):
    """What one chunk leaves for MergeChunks; a rejection found in it is reported here, raised by MergeChunks."""

    index: int
    rows: int = 0
    rejected: int = 0
    blank_lines: int = 0
    rejection: Rejection | None = None


class MergeChunksInput(_Model):
    plan: ValidateFanOut
    chunks: PlanChunksOutput


# --- RegisterPartition -------------------------------------------------------------------------------------


class RegisterPartitionInput(_Model):
    run: ValidateOutput


class RegisterPartitionOutput(_Model):
    registered: bool
    partition: str


# --- TakeLease ---------------------------------------------------------------------------------------------


class TakeLeaseInput(_Model):
    run: ValidateOutput


class TakeLeaseOutput(_Model):
    """`held`: the execution holds the dataset's merge lease until `expires_at` (epoch seconds); False for a
    contract without a `primaryKey` (append-only: nothing to serialise). `generation`: the dataset's publish
    generation read under the lease (sluice_lib.lease.read_generation), None without a lease."""

    dataset: str
    held: bool
    expires_at: float | None = None
    generation: int | None = None


class LeaseState(_Model):
    """What the TakeLease state keeps of its output in `$.lease` (its ResultSelector) and passes to Load."""

    held: bool
    generation: int | None = None


# --- Transform (glue:startJobRun.sync) and TransformInLambda -------------------------------------------------


class TransformResult(_Model):
    """What `glue:startJobRun.sync` returns, reduced by the state's ResultSelector (or what TransformInLambda
    returns, reduced to the same shape)."""

    job_run_id: str
    state: str
    engine: Literal["lambda", "glue"] = "glue"


class TransformInLambdaInput(_Model):
    run: ValidateOutput


class TransformInLambdaOutput(_Model):
    """The TransformInLambda step's result: TransformResult's fields, and what it wrote."""

    job_run_id: str  # the Lambda request id
    state: Literal["SUCCEEDED"] = "SUCCEEDED"
    engine: Literal["lambda"] = "lambda"
    rows_read: int
    rows_written: int
    files: int
    seconds: float


# --- Load ----------------------------------------------------------------------------------------------------


class LoadInput(_Model):
    run: ValidateOutput
    transform: TransformResult | None = None
    # Output files one Load invocation writes serving items for; more fan out (None: never).
    fan_out_files: int | None = Field(default=None, ge=1)
    # Rows one Load invocation (or one LoadServing item) turns into serving items; more fan out (None: no limit).
    fan_out_rows: int | None = Field(default=None, ge=1)
    # TakeLease's `$.lease`: the publish generation a merge is checked against (None: an input from before the
    # generation existed; sluice_lib.steps.load.check_generation says what Load does then).
    lease: LeaseState | None = None


class MergeCounts(_Model):
    """What merging a run into a keyed curated table did (sluice_lib.merge.merge_section)."""

    inserted: int
    updated: int
    unchanged: int
    replaced: list[str] = []
    emptied: list[str] = []
    added: list[str] = []


class LoadOutput(_Model):
    curated_uri: str
    files: int
    rows_loaded: int
    partitions: list[str]
    serving_items: int = 0
    # Set when the serving items are left to the Distributed Map: a JSON list of ServingBatch in S3.
    serving_plan: S3Location | None = None
    serving_batches: int = 0  # the Map's items
    fanned_out: bool = False
    # A keyed table's merge: inserted, updated, unchanged (rows of this run) and replaced, emptied, added
    # (partitions); None for an append-only table.
    merge: MergeCounts | None = None


class ServingSlice(_Model):
    """Rows [start, end) of one published curated file (to its last row when `end` is None)."""

    key: str
    start: int = Field(default=0, ge=0)
    end: int | None = None


class ServingBatch(_Model):
    """One Distributed Map item: rows of curated files (at most LoadInput.fan_out_rows) to become serving items."""

    index: int
    slices: list[ServingSlice]


# --- LoadServingBatch (each item of the LoadServing Distributed Map) ------------------------------------------


class LoadServingBatchInput(_Model):
    run: ValidateOutput
    batch: ServingBatch


class LoadServingBatchOutput(_Model):
    index: int
    files: int
    rows: int = 0
    serving_items: int


# --- Archive (and NotifySuccess, which publishes the notification Archive returns) ---------------------------


class ArchiveInput(_Model):
    run: ValidateOutput
    load: LoadOutput  # when it fanned out, Archive reads the LoadServing items' results from S3


class Notification(_Model):
    subject: str = Field(max_length=100)
    body: dict[str, Any]


class ArchiveOutput(_Model):
    archive_uri: str
    notification: Notification


# --- RejectFile (Validate's Catch) ----------------------------------------------------------------------------


class CaughtError(_Model):
    """The `$.error` a Catch block adds: Error and Cause as Step Functions names them."""

    error: str = Field(alias="Error")
    cause: str = Field(default="", alias="Cause")

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class RejectFileInput(_Model):
    event: UploadEvent  # the execution's input (it passed Validate's parse), with the caught `error` added
    execution: Execution
    error: CaughtError


class RejectFileOutput(_Model):
    rejected_uri: str
    error: CaughtError


# --- OnExecutionFailed (EventBridge rule on the state machine's status changes) -------------------------------


class ExecutionStatusDetail(_Model):
    execution_arn: str = Field(alias="executionArn")
    state_machine_arn: str = Field(alias="stateMachineArn")
    name: str
    status: str
    start_date: int | None = Field(default=None, alias="startDate")
    stop_date: int | None = Field(default=None, alias="stopDate")
    input: str | None = None
    error: str | None = None
    cause: str | None = None
    redrive_count: int = Field(default=0, alias="redriveCount")

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ExecutionStatusChange(_Model):
    """EventBridge's "Step Functions Execution Status Change" event."""

    detail_type: str = Field(alias="detail-type")
    region: str
    detail: ExecutionStatusDetail

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class OnExecutionFailedOutput(_Model):
    execution_arn: str
    notified: bool
    status: NotificationStatus | None = None
    failed_state: str | None = None
    message_id: str | None = None
    reason: str = ""
