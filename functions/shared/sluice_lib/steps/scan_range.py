"""ScanRange (each item of the ScanRanges Distributed Map): one byte range's quotes and record starts under both
quote parities (sluice_lib.validate.ranges), saved for PlanChunks."""

from __future__ import annotations

from typing import Any

from sluice_lib.models import ScanRangeInput, ScanRangeOutput
from sluice_lib.settings import Settings
from sluice_lib.validate.fan_out import blocks, get_range, put_json
from sluice_lib.validate.ranges import scan_range


def scan_key(work_prefix: str, index: int) -> str:
    return f"{work_prefix}scans/{index:06d}.json"


def scan_range_run(request: ScanRangeInput, *, s3: Any, settings: Settings) -> ScanRangeOutput:
    """Reads bytes [start, end] (one past the range, to tell CRLF from a lone CR) and saves the range's scan."""
    plan, byte_range = request.plan, request.range
    body = get_range(s3, plan.source, byte_range.start, min(byte_range.end + 1, plan.size))
    scan = scan_range(byte_range.index, byte_range.start, byte_range.end, blocks(body))
    put_json(s3, settings.lake_bucket, scan_key(plan.work_prefix, byte_range.index), scan.model_dump())
    return ScanRangeOutput(index=scan.index, quotes=scan.quotes)
