"""ValidateChunk (each item of the ValidateChunks Distributed Map): checks one chunk's records against the
contract, uploads its staging part and bad-row parts, and saves its result for MergeChunks."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from sluice_lib.contracts import ContractStore
from sluice_lib.models import ChunkResult, Rejection, ValidateChunkInput
from sluice_lib.settings import Settings, staging_prefix
from sluice_lib.validate.core import contract_for
from sluice_lib.validate.fan_out import CHUNK_REJECTIONS, check_chunk, get_range, put_json, staging_part
from sluice_lib.validate.outputs import upload
from sluice_lib.validate.reader import Header


def chunk_prefix(work_prefix: str, index: int) -> str:
    return f"{work_prefix}chunks/{index:06d}/"


def validate_chunk_run(
    request: ValidateChunkInput, *, s3: Any, contracts: ContractStore, settings: Settings
) -> ChunkResult:
    """A rejection found in the chunk (not UTF-8, not CSV) is saved in its result, not raised: MergeChunks
    raises the first one in file order, where the Catch sees its name. Other errors fail the Map child."""
    plan, chunk = request.plan, request.chunk
    source = plan.source
    contract = contract_for(source, contracts)
    prefix = chunk_prefix(plan.work_prefix, chunk.index)
    with tempfile.TemporaryDirectory(prefix="sluice-chunk-") as tmp:
        folder = Path(tmp)
        body = get_range(s3, source, chunk.start, chunk.end)
        try:
            _, rows, bad, blank = check_chunk(body, chunk, Header(plan.header, 0), source, contract, folder)
        except CHUNK_REJECTIONS as exc:
            result = ChunkResult(
                index=chunk.index, rejection=Rejection(error=type(exc).__name__, cause=str(exc))
            )
        else:
            part = staging_part(chunk.index)
            upload(
                s3,
                folder / part,
                settings.lake_bucket,
                staging_prefix(source.dataset, source.ingest_id) + part,
            )
            if bad:
                upload(s3, folder / "bad_rows.csv", settings.lake_bucket, prefix + "bad_rows.csv")
                upload(s3, folder / "bad_rows.jsonl", settings.lake_bucket, prefix + "bad_rows.jsonl")
            result = ChunkResult(index=chunk.index, rows=rows, rejected=bad, blank_lines=blank)
        finally:
            body.close()
    put_json(s3, settings.lake_bucket, prefix + "result.json", result.model_dump())
    return result
