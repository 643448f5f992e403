"""`sluice cost --plan`: the path a file of N bytes takes on AWS and how long each step runs, from the template's
settings and the measured throughputs (bench/results), checked against each Lambda's timeout and memory.

Every step must stay within half its Lambda's timeout (room for a slow S3 day or a retry inside the Lambda) and
within its memory. Figures marked assumed below are not measured on AWS; the measured ones name their file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sluice.cost import MB, PRICES, SIZES, THROUGHPUT, Deployment, LambdaSpec, lambda_cost, serving_map_items


@dataclass(frozen=True)
class ScaleFigures:
    """Rates of the fan-out steps. Each field says where its figure comes from."""

    # assumed: one Lambda's GetObject stream (S3's per-connection rate; the check itself does 222 MB/s,
    # bench/results/validate.md, so the stream bounds a chunk).
    s3_stream_mb_per_s: float = 100.0
    # bench/results/fan-out.md: the scan (numpy over 8 MiB blocks) is several times the check's rate; on AWS
    # the stream bounds it too.
    scan_mb_per_s: float = 100.0
    # assumed: a Distributed Map child's start (child execution, Lambda invoke, cold start of a new sandbox).
    child_overhead_s: float = 1.5
    # assumed: one small GetObject of a scan or result (PlanChunks and MergeChunks read them 16 at a time).
    small_get_s: float = 0.03
    readers: int = 16
    # bench/results/validate.md: Validate's peak RSS is flat in file size (about 240 MB with 1 MiB blocks).
    validate_rss_mb: float = 240.0
    # assumed: a ScanRange holds one 8 MiB block and numpy's position arrays (a few times the block).
    scan_rss_mb: float = 150.0
    plan_rss_mb: float = 120.0
    # assumed: server-side UploadPartCopy at 60 MB/s a part, 512 MiB parts, COPY_PARTS_AT_ONCE (64) at a time
    # in Archive and RejectFile (sluice_lib.raw).
    copy_part_mb_per_s: float = 60.0
    copy_parts_at_once: int = 64
    single_copy_max_bytes: int = 5 * 1024**3
    # measured (tracemalloc, an offers key as sluice_lib.serving keeps it): a Load or LoadServing item holds the
    # (pk, sk) of each item it wrote, about 210 bytes a row, on top of Validate's flat 240 MB of buffers.
    serving_key_bytes: float = 210.0


FIGURES = ScaleFigures()


@dataclass
class Step:
    name: str
    function: str | None  # the template's logical id (None: not a Lambda)
    invocations: int
    seconds_each: float
    wall_s: float
    memory_mb: float = 0.0
    usd: float = 0.0
    spec: LambdaSpec | None = None
    note: str = ""

    @property
    def within_time(self) -> bool:
        return self.spec is None or self.seconds_each <= self.spec.timeout_s / 2

    @property
    def within_memory(self) -> bool:
        return self.spec is None or self.memory_mb <= self.spec.memory_mb


@dataclass
class ScalePlan:
    size: int
    path: str  # "single" or "fan-out"
    chunks: int
    map_children: int
    steps: list[Step] = field(default_factory=list)
    transitions: int = 0
    usd: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.within_time and s.within_memory for s in self.steps)

    @property
    def wall_s(self) -> float:
        return sum(s.wall_s for s in self.steps)


def _waves(children: int, concurrency: int) -> int:
    return math.ceil(children / max(concurrency, 1))


def plan(deployment: Deployment, size: int, figures: ScaleFigures = FIGURES) -> ScalePlan:
    """The path, chunks, Map children, wall time, memory and Lambda cost of each step for an uncompressed CSV
    of `size` bytes of offers-like rows (124 bytes a row), no bad rows, schema unchanged, the Glue job."""
    params = deployment.parameters
    fns = deployment.functions
    chunk_bytes = int(float(params.get("ValidateChunkBytes") or 0))
    concurrency = int(float(params.get("MapMaxConcurrency") or 1))
    t = THROUGHPUT
    mb = size / MB
    read_rate = min(t.validate_mb_per_s, figures.s3_stream_mb_per_s)
    steps: list[Step] = []

    def lam(
        name: str, fn: str, invocations: int, each: float, memory: float, waves: int = 1, note: str = ""
    ) -> None:
        spec = fns[fn]
        usd = invocations * lambda_cost(each, spec)
        steps.append(Step(name, fn, invocations, each, each * waves, memory, usd, spec, note))

    fanned = chunk_bytes > 0 and size > chunk_bytes
    chunks = math.ceil(size / chunk_bytes) if fanned else 1
    children = 0
    transitions = 0
    if fanned:
        chunk_mb = min(size, chunk_bytes) / MB
        waves = _waves(chunks, concurrency)
        lam("Validate (claim, header, plan)", "ValidateFunction", 1, t.validate_fixed_s, figures.plan_rss_mb)
        scan_each = figures.child_overhead_s + chunk_mb / min(
            figures.scan_mb_per_s, figures.s3_stream_mb_per_s
        )
        lam(
            "ScanRanges", "ScanRangeFunction", chunks, scan_each, figures.scan_rss_mb, waves, f"{waves} waves"
        )
        reads = chunks * figures.small_get_s / figures.readers
        lam("PlanChunks", "PlanChunksFunction", 1, 1.0 + reads, figures.plan_rss_mb)
        check_each = figures.child_overhead_s + t.validate_fixed_s + chunk_mb / read_rate
        lam(
            "ValidateChunks",
            "ValidateChunkFunction",
            chunks,
            check_each,
            figures.validate_rss_mb,
            waves,
            f"{waves} waves",
        )
        lam("MergeChunks", "MergeChunksFunction", 1, t.validate_fixed_s + reads, figures.plan_rss_mb)
        children += 2 * chunks
        transitions += 5 + 2 * chunks * 3  # five states; each child execution enters its Task and ends
    else:
        lam("Validate", "ValidateFunction", 1, t.validate_fixed_s + mb / read_rate, figures.validate_rss_mb)
    job = deployment.glue_job
    glue_s = t.glue_fixed_s + mb * t.glue_core_s_per_mb / job.executor_cores
    steps.append(
        Step("Transform (Glue job)", None, 1, glue_s, glue_s, note=f"{job.workers} x {job.worker_type}")
    )
    steps[-1].usd = max(glue_s, job.minimum_s) / 3600 * job.dpus * PRICES["glue_dpu_hour"].usd
    rows = max(1, round(size / SIZES.bytes_per_row))
    per_partition = math.ceil(rows / SIZES.partitions)
    files = SIZES.partitions * max(1, math.ceil(per_partition / deployment.max_records_per_file))
    serving_children = serving_map_items(deployment, rows, files)
    if serving_children:
        footers = files * 2 * figures.small_get_s / figures.readers  # the plan: each file's footer
        lam("Load (publish, plan)", "LoadFunction", 1, t.load_fixed_s + footers, figures.plan_rss_mb)
        child_rows = math.ceil(rows / serving_children)
        each = figures.child_overhead_s + child_rows / t.serving_items_per_s
        memory = figures.validate_rss_mb + child_rows * figures.serving_key_bytes / MB
        waves = _waves(serving_children, concurrency)
        note = f"{files} files, {child_rows:,} rows an item, {waves} waves"
        lam("LoadServing", "LoadServingBatchFunction", serving_children, each, memory, waves, note)
        children += serving_children
        transitions += 2 * serving_children * 3
    else:
        memory = figures.validate_rss_mb + rows * figures.serving_key_bytes / MB
        lam("Load", "LoadFunction", 1, t.load_fixed_s + rows / t.serving_items_per_s, memory)
    if size > figures.single_copy_max_bytes:
        copy_s = mb / (figures.copy_part_mb_per_s * figures.copy_parts_at_once)
        note = "multipart copy"
    else:
        copy_s, note = mb / t.archive_copy_mb_per_s, "CopyObject"
    results = serving_children * figures.small_get_s / figures.readers  # the LoadServing items' counts
    archive_s = t.archive_fixed_s + copy_s + results
    lam("Archive", "ArchiveFunction", 1, archive_s, figures.plan_rss_mb, note=note)
    transitions += (
        8  # Validate, the Choices, RegisterPartition, Transform, Load, Archive, NotifySuccess, Done
    )
    result = ScalePlan(
        size=size, path="fan-out" if fanned else "single", chunks=chunks, map_children=children
    )
    result.steps = steps
    result.transitions = transitions
    result.usd = sum(s.usd for s in steps) + transitions * PRICES["sfn_standard_transition"].usd
    return result
