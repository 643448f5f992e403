"""A failed chunk of the fanned-out Validate fails the execution at the ValidateChunks Map (nothing staged is
published, the ledger says where); Redrive resumes at that Map and the run ends as a clean run would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from offers_rows import OFFERS_HEADER, offers_row

from sluice.local.faults import parse_fault
from sluice.local.runner import RunInput, run_files

pytestmark = [pytest.mark.emulator]

DATA = "\n".join([OFFERS_HEADER, *(offers_row(i) for i in range(300)), ""]).encode()


def run(tmp: Path, redrive: bool) -> dict[str, Any]:
    (tmp / "offers_chunks.csv").write_bytes(DATA)
    return run_files(
        [RunInput("offers", tmp / "offers_chunks.csv")],
        tmp / "out",
        progress=lambda _: None,
        # One chunk at a time: the first chunk's call and its 5 retries fail, the Map with it.
        parameters={"ValidateChunkBytes": "8192", "MapMaxConcurrency": "1"},
        faults=[parse_fault("ValidateChunk=Lambda.ServiceException:6")],
        redrive=redrive,
    )


def test_fan_out_failed_chunk_fails_the_execution_at_the_map_and_publishes_nothing(tmp_path: Path):
    summary = run(tmp_path, redrive=False)

    (execution,) = summary["executions"]
    assert execution["status"] == "FAILED"
    assert execution["ledger"] == "FAILED"
    failed = [s["name"] for s in execution["states"] if s["status"] == "FAILED"]
    assert "ValidateChunks" in failed
    assert not {"MergeChunks", "Load", "Archive"} & {s["name"] for s in execution["states"]}
    assert not list(Path(summary["outputs"]["curated"]).rglob("*.parquet"))
    assert list(Path(summary["outputs"]["incoming"]).rglob("offers_chunks.csv"))  # kept for the redrive


def test_fan_out_redrive_resumes_at_the_failed_map_and_succeeds(tmp_path: Path):
    summary = run(tmp_path, redrive=True)

    (execution,) = summary["executions"]
    assert execution["status"] == "SUCCEEDED"
    assert execution["redrives"][-1]["from_state"] == "ValidateChunks"
    assert execution["rows"]["in"] == execution["rows"]["curated"] == 300
    assert len(DATA) == 4 * 8192 + 12 and execution["chunks"] == 4  # the last 12 bytes start no record
