"""The raw bucket's zones: moving an upload's version from incoming/ to archive/ or rejected/ idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sluice_lib.errors import InvalidEventError, SourceObjectMissingError
from sluice_lib.models import SourceObject

UNKNOWN_DATASET = "_unknown"
# Set on every moved copy: proves that a later run finds its own earlier move, not another upload's.
INGEST_ID_METADATA = "sluice-ingest-id"
_KEPT_HEADERS = ("ContentType", "ContentEncoding", "ContentLanguage", "ContentDisposition", "CacheControl")


def dataset_or_unknown(source: SourceObject) -> str:
    """The dataset folder of the key, or `_unknown` for a key outside `incoming/<dataset>/`."""
    try:
        return source.dataset
    except InvalidEventError:
        return UNKNOWN_DATASET


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def head_or_none(s3: Any, bucket: str, key: str, version_id: str | None = None) -> dict[str, Any] | None:
    """`head_object`, or None when the key (or its current version) is gone or is a delete marker."""
    kwargs = {"VersionId": version_id} if version_id else {}
    try:
        return dict(s3.head_object(Bucket=bucket, Key=key, **kwargs))
    except ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            return None
        raise


def _is_version(head: dict[str, Any], source: SourceObject) -> bool:
    if source.version_id:
        return bool(head.get("VersionId") == source.version_id)
    if source.etag:
        return bool(str(head.get("ETag", "")).strip('"') == source.etag.strip('"'))
    return True


@dataclass(frozen=True)
class Move:
    uri: str
    copied: bool
    deleted: bool


def move_version(s3: Any, source: SourceObject, dest_bucket: str, dest_key: str) -> Move:
    """Copies the source's version to dest, then deletes the key from incoming/ (a delete marker).

    Idempotent: a destination that already holds this upload is not copied again. The key is deleted
    only while its current version is this upload, so a newer upload to the same key stays in place.
    Raises SourceObjectMissingError when the key is gone and the destination does not hold the upload.
    """
    ingest_id = source.ingest_id
    current = head_or_none(s3, source.bucket, source.key)
    ours_current = current is not None and _is_version(current, source)
    dest = head_or_none(s3, dest_bucket, dest_key)
    done = dest is not None and dest.get("Metadata", {}).get(INGEST_ID_METADATA) == ingest_id
    if not done:
        original = current if ours_current else None
        if original is None and source.version_id:
            # A newer upload replaced the key, or the key was deleted (a rerun after the first run moved
            # the upload elsewhere): this run's version is still in the bucket's history.
            original = head_or_none(s3, source.bucket, source.key, source.version_id)
        if original is None:
            raise SourceObjectMissingError(
                f"{source.uri} (version {source.version_id or source.etag or 'unknown'}) is gone from "
                f"incoming/ and s3://{dest_bucket}/{dest_key} does not hold it"
            )
        copy_source = {"Bucket": source.bucket, "Key": source.key}
        if source.version_id:
            copy_source["VersionId"] = source.version_id
        headers = {name: original[name] for name in _KEPT_HEADERS if original.get(name)}
        s3.copy_object(
            Bucket=dest_bucket,
            Key=dest_key,
            CopySource=copy_source,
            MetadataDirective="REPLACE",
            Metadata={**original.get("Metadata", {}), INGEST_ID_METADATA: ingest_id},
            **headers,
        )
    if ours_current:
        # No VersionId: the bucket is versioned, so the delete marker keeps the raw version recoverable.
        s3.delete_object(Bucket=source.bucket, Key=source.key)
    return Move(uri=f"s3://{dest_bucket}/{dest_key}", copied=not done, deleted=ours_current)
