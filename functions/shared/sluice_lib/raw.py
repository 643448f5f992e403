"""The raw bucket's zones: moving an upload's version from incoming/ to archive/ or rejected/ idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from sluice_lib.errors import InvalidEventError, SourceObjectMissingError
from sluice_lib.models import SourceObject

UNKNOWN_DATASET = "_unknown"
# Set on every moved copy: proves that a later run finds its own earlier move, not another upload's.
INGEST_ID_METADATA = "sluice-ingest-id"
_KEPT_HEADERS = ("ContentType", "ContentEncoding", "ContentLanguage", "ContentDisposition", "CacheControl")
# Encryption the source version reports, repeated on a multipart copy (CreateMultipartUpload does not copy it).
_KEPT_ENCRYPTION = ("ServerSideEncryption", "SSEKMSKeyId")
# CopyObject refuses a source over 5 GiB (AWS's single-copy limit): larger versions are copied in parts
# (UploadPartCopy through boto3's managed copy).
SINGLE_COPY_MAX_BYTES = 5 * 1024**3
_MIN_PART_BYTES = 5 * 1024**2  # UploadPartCopy's smallest part (but the last)
_MAX_PART_BYTES = 512 * 1024**2  # 10,000 parts at most: up to 5 TB, S3's object size limit
# Parts copied at once (server-side UploadPartCopy; the function's client pools as many connections): 1 TB
# in 512 MiB parts at an assumed 60 MB/s a part takes about 4 minutes (sluice cost --plan).
COPY_PARTS_AT_ONCE = 64


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


def move_version(
    s3: Any,
    source: SourceObject,
    dest_bucket: str,
    dest_key: str,
    *,
    single_copy_max_bytes: int = SINGLE_COPY_MAX_BYTES,
) -> Move:
    """Copies the source's version to dest, then deletes the key from incoming/ (a delete marker).

    Idempotent: a destination that already holds this upload is not copied again. The key is deleted
    only while its current version is this upload, so a newer upload to the same key stays in place.
    A version over `single_copy_max_bytes` is copied in parts, keeping the same headers, metadata and
    ingest-id marker (the marker is only readable once the copy completes, so a half-done multipart copy
    is never taken for a finished one).
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
        metadata = {**original.get("Metadata", {}), INGEST_ID_METADATA: ingest_id}
        if int(original.get("ContentLength") or 0) > single_copy_max_bytes:
            part_bytes = min(max(single_copy_max_bytes, _MIN_PART_BYTES), _MAX_PART_BYTES)
            _copy_in_parts(s3, copy_source, dest_bucket, dest_key, original, metadata, headers, part_bytes)
        else:
            s3.copy_object(
                Bucket=dest_bucket,
                Key=dest_key,
                CopySource=copy_source,
                MetadataDirective="REPLACE",
                Metadata=metadata,
                **headers,
            )
    if ours_current:
        # No VersionId: the bucket is versioned, so the delete marker keeps the raw version recoverable.
        s3.delete_object(Bucket=source.bucket, Key=source.key)
    return Move(uri=f"s3://{dest_bucket}/{dest_key}", copied=not done, deleted=ours_current)


def _copy_in_parts(
    s3: Any,
    copy_source: dict[str, str],
    dest_bucket: str,
    dest_key: str,
    original: dict[str, Any],
    metadata: dict[str, str],
    headers: dict[str, Any],
    part_bytes: int,
) -> None:
    """boto3's managed copy: CreateMultipartUpload with the metadata, UploadPartCopy per part, Complete."""
    encryption = {name: original[name] for name in _KEPT_ENCRYPTION if original.get(name)}
    if encryption.get("ServerSideEncryption") != "aws:kms":
        encryption.pop("SSEKMSKeyId", None)
    s3.copy(
        copy_source,
        dest_bucket,
        dest_key,
        # REPLACE: without it s3transfer drops the supplied Metadata and keeps the source's (no marker).
        ExtraArgs={"MetadataDirective": "REPLACE", "Metadata": metadata, **headers, **encryption},
        Config=TransferConfig(
            multipart_threshold=1,  # the caller decided: copy in parts
            multipart_chunksize=part_bytes,
            use_threads=True,
            max_concurrency=COPY_PARTS_AT_ONCE,
        ),
    )
