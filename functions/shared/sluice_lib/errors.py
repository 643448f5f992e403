"""Errors named for Step Functions: the class name is what the ASL's Retry and Catch blocks match."""

# Exception classes only, no imports: the Glue job ships this module in its --extra-py-files zip
# (tests/unit/test_curated_pure.py keeps it importable without Spark, boto3, pydantic or PyYAML).


class SluiceError(Exception):
    """Base class of every error sluice raises on purpose."""


# --- rejection errors: the file breaks its contract; caught by the workflow -> RejectFile -------------


class FileRejectedError(SluiceError):
    """Base of the errors that reject a file (the fix is a corrected upload)."""


class EmptyFileError(FileRejectedError):
    """The object holds no bytes, or no header line."""


class NotUtf8Error(FileRejectedError):
    """The object is not UTF-8 text."""


class MalformedCsvError(FileRejectedError):
    """The object cannot be parsed as CSV (unterminated quote, binary junk, ...)."""


class MissingColumnsError(FileRejectedError):
    """The header lacks columns the contract requires."""


class DuplicateColumnsError(FileRejectedError):
    """The header names a column more than once."""


class UnknownDatasetError(FileRejectedError):
    """No contract exists for the dataset named by the object key."""


class TooManyBadRowsError(FileRejectedError):
    """The share of rejected rows exceeds the contract's max_reject_ratio (`counts`: the file's row counts)."""

    def __init__(self, message: str, counts: dict[str, int] | None = None) -> None:
        super().__init__(message)
        self.counts = counts or {}


class FileTooLargeError(FileRejectedError):
    """A compressed file larger than one Validate Lambda reads in time (gzip cannot be split in byte ranges)."""


class QualityRuleError(FileRejectedError):
    """A contract's `reject` quality rule failed on the file's validated rows (`counts`: the file's row counts,
    `results`: every rule's result, as sluice_lib.quality.evaluate.QualityResult.to_dict gives them)."""

    def __init__(
        self,
        message: str,
        counts: dict[str, int] | None = None,
        results: list[dict[str, object]] | None = None,
    ) -> None:
        super().__init__(message)
        self.counts = counts or {}
        self.results = results or []


# Names the ASL's Catch on Validate (and on MergeChunks) lists; a test keeps them in step.
REJECTION_ERRORS: tuple[type[FileRejectedError], ...] = (
    EmptyFileError,
    NotUtf8Error,
    MalformedCsvError,
    MissingColumnsError,
    DuplicateColumnsError,
    UnknownDatasetError,
    TooManyBadRowsError,
    FileTooLargeError,
    QualityRuleError,
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (`NoSuchKey`, `EntityNotFoundException`, ...), "" for another
    error: what a step compares before it raises one of the errors here `from` it. (Read from the exception's
    `response`, so this module imports nothing.)"""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


# --- configuration and operational errors: fail the execution where they happen -------------------------


class ContractError(SluiceError):
    """A contract file is malformed (reported with file, field and what is wrong)."""


class ContractNotFoundError(SluiceError):
    """A contract file does not exist where the configuration points."""


class InvalidEventError(SluiceError):
    """The state input is not an S3 Object Created event sluice understands."""


class SourceObjectMissingError(SluiceError):
    """The source object is gone from incoming/ (and is not archived either)."""


class TransformOutputMissingError(SluiceError):
    """Load found no manifest for the run's transform output."""


class DuplicateExecutionError(SluiceError):
    """Another execution, still running, owns the source object version's ledger item (a duplicate event,
    or a rerun started while the first run was going); the ASL ends this execution in Duplicate."""


class LedgerConflictError(SluiceError):
    """The runs ledger item is missing or not in the state this step expects (e.g. deleted by hand)."""


class TransformOutputInvalidError(SluiceError):
    """The transform's manifest is unreadable or does not describe the run Load was given."""


class CuratedPublishError(SluiceError):
    """S3 refused to copy or delete curated files while Load published a run."""


class CatalogUpdateError(SluiceError):
    """The Glue Data Catalog refused a table or partition change."""


class ReferenceDatasetMissingError(SluiceError):
    """A dataset the contract joins has no curated table yet: load it first, then redrive."""


class StagingTableMissingError(SluiceError):
    """The staging table is not in the catalog, so a partition cannot be added to it (crawl instead)."""


class ServingKeyMissingError(SluiceError):
    """A row has no value for a serving key field, so it has no DynamoDB key."""


class ServingWriteError(SluiceError):
    """DynamoDB refused serving items, or left them unprocessed after the bounded retries."""


class BadRecordsQueueError(SluiceError):
    """The bad-records queue did not accept some messages, even after sending them again."""


# --- the transform: both engines, the Glue job (glue/, which ships this module in --extra-py-files) and the
# DuckDB Lambda (sluice_lib.transform_lambda). A failed job run's error message starts with the class name.


class StagingNotFoundError(SluiceError):
    """The run's staging location holds no readable Parquet file, or the catalog does not have it there."""


class StagingSchemaError(SluiceError):
    """The staging data contradicts the contract (missing columns, types that cannot be cast, name clashes)."""


class LambdaEngineIneligibleError(SluiceError):
    """The contract needs Spark (joins, derive, filter, aggregates): its runs go to the Glue job."""


class JobArgumentError(SluiceError):
    """A Glue job argument is missing or malformed."""


class ReferenceNotFoundError(SluiceError):
    """A dataset the contract joins has no curated data at the location the job's --references gives."""


class ReferenceSchemaError(SluiceError):
    """A joined dataset's curated table lacks the key or selected columns the contract names."""


class AggregateError(SluiceError):
    """An aggregate's SQL fails, or its result lacks the partition or serving columns the contract names."""


class DatasetBusyError(SluiceError):
    """Another execution holds the dataset's merge lease (sluice_lib.lease); the state machine retries with
    backoff and jitter until it is released or expires."""


class StaleMergeError(SluiceError):
    """Load of a merge found that another execution published a merge of the dataset after this execution's
    transform read the table (a redrive after the lease was released, or an expired lease): publishing would drop
    the other's rows, so nothing is published; the fix is a new execution for the file. Not retried."""


# --- operator commands: `sluice rollback` (sluice_lib.rollback). Raised before anything is changed.


class RollbackError(SluiceError):
    """A keyed table cannot be rolled back as asked; the catalog is left as it was."""


class DatasetNotKeyedError(RollbackError):
    """The dataset's contract has no primaryKey: its table is append-only and keeps no versions to roll back to."""


class RunNotFoundError(RollbackError):
    """The ledger holds no run of that id for the dataset: an unknown id, a run of another dataset, or a run whose
    file was run again since (a rerun replaces the file's ledger item, and its run id)."""


class RunNotPublishedError(RollbackError):
    """The run published no merge (rejected, failed before Load, or still running): the table never had a state
    after it."""


class VersionRemovedError(RollbackError):
    """A location the rollback would switch a partition back to holds no files any more: retention removed the
    version (CuratedVersionRetentionDays after it was superseded)."""


class UnsafeRollbackTargetError(RollbackError):
    """The location a partition had after the run is its directory's plain-append files, and the directory now also
    holds version folders: a reader of that location (Athena lists it recursively) would read every version."""
