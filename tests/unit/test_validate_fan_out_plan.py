"""Validate's choice of path (fan_out.plan_fan_out): the single Lambda up to ValidateChunkBytes and for gzip, the
fan-out plan above it (header checked first), and FileTooLargeError for gzip over ValidateGzipMaxBytes."""

from __future__ import annotations

import dataclasses
import gzip
import json

import pytest
from validate_world import OFFERS_HEADER, RUN_ID, ValidateWorld, offers_file, offers_row

from sluice_lib.errors import FileTooLargeError, MissingColumnsError
from sluice_lib.models import Execution
from sluice_lib.validate.fan_out import plan_fan_out

EXECUTION = Execution(
    Id=f"arn:aws:states:us-east-1:123456789012:execution:p:{RUN_ID}", Name=RUN_ID, StartTime="t"
)
BODY = offers_file(*(offers_row(offer_id=f"{i:012d}") for i in range(40)))


def plan(world: ValidateWorld, name: str, data: bytes, chunk: int, gzip_max: int = 0):
    settings = dataclasses.replace(
        world.settings, validate_chunk_bytes=chunk, validate_gzip_max_bytes=gzip_max
    )
    source = world.put(name, data)
    return plan_fan_out(
        source=source,
        execution=EXECUTION,
        contracts=settings.contracts(),
        settings=settings,
        s3=world.aws.s3,
        glue=world.aws.glue,
    )


def test_plan_fan_out_at_or_under_the_chunk_size_keeps_the_single_path(world: ValidateWorld):
    assert plan(world, "a.csv", BODY, chunk=len(BODY)) is None
    assert plan(world, "b.csv", BODY, chunk=0) is None


def test_plan_fan_out_over_the_chunk_size_writes_the_byte_ranges(world: ValidateWorld):
    out = plan(world, "a.csv", BODY, chunk=1000)

    assert out is not None and out.fanned_out
    assert (out.size, out.ranges, out.header) == (len(BODY), -(-len(BODY) // 1000), OFFERS_HEADER.split(","))
    ranges = json.loads(world.read(f"s3://{out.ranges_plan.bucket}/{out.ranges_plan.key}"))
    assert ranges[0] == {"index": 0, "start": 0, "end": 1000}
    assert ranges[-1]["end"] == len(BODY)
    assert out.ranges_plan.key == f"validate/offers/{RUN_ID}/ranges.json"


def test_plan_fan_out_checks_the_header_before_fanning_out(world: ValidateWorld):
    data = b"account,offer_id\n" + b"12345678,123456789012\n" * 100

    with pytest.raises(MissingColumnsError, match="catalog_id"):
        plan(world, "a.csv", data, chunk=100)


def test_plan_fan_out_gzip_over_its_limit_raises_file_too_large_naming_limit_and_fix(world: ValidateWorld):
    data = gzip.compress(BODY)

    with pytest.raises(FileTooLargeError) as caught:
        plan(world, "a.csv.gz", data, chunk=10, gzip_max=len(data) - 1)

    message = str(caught.value)
    assert f"ValidateGzipMaxBytes {len(data) - 1:,}" in message
    assert "Upload it uncompressed" in message and "split it" in message


def test_plan_fan_out_gzip_under_its_limit_or_by_magic_bytes_keeps_the_single_path(world: ValidateWorld):
    data = gzip.compress(BODY)

    assert plan(world, "a.csv.gz", data, chunk=10, gzip_max=len(data)) is None
    assert plan(world, "gzip-named-csv.csv", data, chunk=10, gzip_max=len(data)) is None
    with pytest.raises(FileTooLargeError):
        plan(world, "gzip-named-csv2.csv", data, chunk=10, gzip_max=10)
