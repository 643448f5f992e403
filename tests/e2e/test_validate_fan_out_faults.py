"""A failed chunk of the fanned-out Validate fails the execution at the ValidateChunks Map (nothing staged is
published, the ledger says where); Redrive resumes at that Map, runs only the failed chunk again, and the run
ends as a clean run would."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from offers_rows import OFFERS_HEADER, offers_row

from sluice.local.emulator import Emulator
from sluice.local.faults import parse_fault
from sluice.local.lambdas import LambdaRuntime
from sluice.local.runner import ExecutionResult, RunInput, run_files

pytestmark = [pytest.mark.emulator]

DATA = "\n".join([OFFERS_HEADER, *(offers_row(i) for i in range(300)), ""]).encode()


def run(
    tmp: Path,
    redrive: bool,
    on_result: Callable[[Emulator, ExecutionResult], None] | None = None,
) -> dict[str, Any]:
    (tmp / "offers_chunks.csv").write_bytes(DATA)
    return run_files(
        [RunInput("offers", tmp / "offers_chunks.csv")],
        tmp / "out",
        progress=lambda _: None,
        # One chunk at a time: the first chunk's call and its 5 retries fail, the Map with it.
        parameters={"ValidateChunkBytes": "8192", "MapMaxConcurrency": "1"},
        faults=[parse_fault("ValidateChunk=Lambda.ServiceException:6")],
        redrive=redrive,
        on_result=on_result,
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


def chunk_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """ValidateChunk's Invoke calls (faulted ones included), counted by the chunk of the Map item they ran for."""
    calls: Counter[str] = Counter()
    invoke = LambdaRuntime.invoke

    def counting(self: LambdaRuntime, name_or_arn: str, event: Any) -> tuple[Any, str | None]:
        if isinstance(event, dict) and "chunk" in event:
            calls[json.dumps(event["chunk"], sort_keys=True)] += 1
        return invoke(self, name_or_arn, event)

    monkeypatch.setattr(LambdaRuntime, "invoke", counting)
    return calls


def test_fan_out_redrive_resumes_at_the_failed_map_and_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    calls = chunk_calls(monkeypatch)
    before_redrive: list[Counter[str]] = []

    def on_result(_emu: Emulator, result: ExecutionResult) -> None:
        if result.status == "FAILED":
            before_redrive.append(Counter(calls))

    summary = run(tmp_path, redrive=True, on_result=on_result)

    (execution,) = summary["executions"]
    assert execution["status"] == "SUCCEEDED"
    assert execution["redrives"][-1]["from_state"] == "ValidateChunks"
    assert execution["rows"]["in"] == execution["rows"]["curated"] == 300
    assert len(DATA) == 4 * 8192 + 12 and execution["chunks"] == 4  # the last 12 bytes start no record
    # The failed attempt: the first chunk's call and its 5 retries failed; the other three chunks succeeded.
    (failed_attempt,) = before_redrive
    assert sorted(failed_attempt.values()) == [1, 1, 1, 6]
    (failed_chunk,) = [chunk for chunk, n in failed_attempt.items() if n == 6]
    # The redrive invoked ValidateChunk once more, for the failed chunk only.
    assert calls - failed_attempt == Counter({failed_chunk: 1})
