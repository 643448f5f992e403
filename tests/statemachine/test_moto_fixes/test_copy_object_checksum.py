"""moto correction ``copy_object_checksum``: a copy of a multipart upload reads back; without the fix it
does not (FlexibleChecksumError), which broke Load for output files above the 8 MiB multipart threshold."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import FlexibleChecksumError
from moto import mock_aws

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

BUCKET = "sluice-copy-checksum-test"
PARTS = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
BODY = bytes(range(256)) * (6 * 4096)  # 6 MiB: two parts


@pytest.fixture
def s3() -> Iterator[Any]:
    moto_fixes.apply()
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
    # `reverted` puts the fix back last; later tests expect the fixes installed in FIXES order
    moto_fixes.revert()
    moto_fixes.apply()


def _upload_in_parts_and_copy(s3: Any, tmp_path: Any) -> None:
    source = tmp_path / "part.bin"
    source.write_bytes(BODY)
    s3.upload_file(str(source), BUCKET, "runs/part.parquet", Config=PARTS)
    s3.copy_object(
        Bucket=BUCKET, Key="curated/part.parquet", CopySource={"Bucket": BUCKET, "Key": "runs/part.parquet"}
    )


def test_copy_of_a_multipart_upload_reads_back_whole(s3: Any, tmp_path: Any) -> None:
    _upload_in_parts_and_copy(s3, tmp_path)

    body = s3.get_object(Bucket=BUCKET, Key="curated/part.parquet")["Body"].read()

    assert body == BODY


def test_copy_of_a_multipart_upload_fails_checksum_without_the_fix(s3: Any, tmp_path: Any) -> None:
    with moto_fixes.reverted("copy_object_checksum"):
        _upload_in_parts_and_copy(s3, tmp_path)

        with pytest.raises(FlexibleChecksumError):
            s3.get_object(Bucket=BUCKET, Key="curated/part.parquet")["Body"].read()
