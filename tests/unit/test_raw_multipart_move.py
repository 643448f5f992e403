"""raw.move_version above the single-copy limit (lowered here to 5 MiB): a copy in parts that keeps the headers,
metadata and ingest-id marker, and stays idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from steps_aws import SETTINGS, Aws, emulated_aws

from sluice_lib.models import SourceObject
from sluice_lib.raw import INGEST_ID_METADATA, move_version

RAW = SETTINGS.raw_bucket
KEY = "incoming/offers/big.csv"
DEST = "archive/offers/2025/03/01/big.csv"
LIMIT = 5 * 1024**2
BODY = b"account,offer_id\n" + b"00000001,000000000001\n" * 600_000  # 13.2 MB: three parts of 5 MiB


@pytest.fixture
def aws() -> Iterator[Aws]:
    with emulated_aws() as aws:
        yield aws


def upload(aws: Aws) -> SourceObject:
    put = aws.s3.put_object(
        Bucket=RAW, Key=KEY, Body=BODY, ContentType="text/csv", Metadata={"owner": "team-a"}
    )
    return SourceObject(bucket=RAW, key=KEY, version_id=put["VersionId"], size=len(BODY))


def calls(aws: Aws) -> list[str]:
    made: list[str] = []

    def record(model: Any, **_: Any) -> None:
        made.append(model.name)

    aws.s3.meta.events.register("before-call.s3", record)
    return made


def test_move_version_over_the_single_copy_limit_copies_in_parts_with_metadata_and_marker(aws: Aws):
    source = upload(aws)
    made = calls(aws)

    moved = move_version(aws.s3, source, RAW, DEST, single_copy_max_bytes=LIMIT)

    assert moved.copied and moved.deleted
    assert made.count("UploadPartCopy") == 3
    assert "CopyObject" not in made
    copy = aws.s3.get_object(Bucket=RAW, Key=DEST)
    assert copy["Body"].read() == BODY
    assert copy["ContentType"] == "text/csv"
    assert copy["Metadata"] == {"owner": "team-a", INGEST_ID_METADATA: source.ingest_id}
    assert aws.s3.list_objects_v2(Bucket=RAW, Prefix=KEY).get("KeyCount") == 0


def test_move_version_in_parts_rerun_finds_its_copy_and_copies_nothing(aws: Aws):
    source = upload(aws)
    move_version(aws.s3, source, RAW, DEST, single_copy_max_bytes=LIMIT)
    made = calls(aws)

    again = move_version(aws.s3, source, RAW, DEST, single_copy_max_bytes=LIMIT)

    assert not again.copied and not again.deleted
    assert again.uri == f"s3://{RAW}/{DEST}"
    assert not {"UploadPartCopy", "CopyObject", "CreateMultipartUpload"} & set(made)


def test_move_version_at_the_single_copy_limit_uses_one_copy_object(aws: Aws):
    source = upload(aws)
    made = calls(aws)

    move_version(aws.s3, source, RAW, DEST, single_copy_max_bytes=len(BODY))

    assert made.count("CopyObject") == 1
    assert "UploadPartCopy" not in made
    assert aws.s3.head_object(Bucket=RAW, Key=DEST)["Metadata"][INGEST_ID_METADATA] == source.ingest_id
