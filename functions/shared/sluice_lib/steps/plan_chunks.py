"""PlanChunks: the sequential pass over the range scans that picks the true record boundaries (the chunks)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sluice_lib.models import PlanChunksInput, PlanChunksOutput, RangeScan
from sluice_lib.settings import Settings
from sluice_lib.steps.scan_range import scan_key
from sluice_lib.validate.fan_out import get_json, put_json
from sluice_lib.validate.ranges import plan_chunks

_READERS = 16  # the scans are small objects: read them concurrently


def plan_chunks_run(request: PlanChunksInput, *, s3: Any, settings: Settings) -> PlanChunksOutput:
    """Reads every range's scan, plans the chunks and saves them as the ValidateChunks items."""
    plan = request.plan
    bucket = settings.lake_bucket
    with ThreadPoolExecutor(_READERS) as pool:
        scans = list(
            pool.map(
                lambda i: RangeScan.model_validate(get_json(s3, bucket, scan_key(plan.work_prefix, i))),
                range(plan.ranges),
            )
        )
    chunks = plan_chunks(scans, plan.size)
    where = put_json(s3, bucket, f"{plan.work_prefix}chunks.json", [c.model_dump() for c in chunks])
    return PlanChunksOutput(chunks=len(chunks), chunks_plan=where)
