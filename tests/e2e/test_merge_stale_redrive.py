"""Two executions of one keyed dataset never lose each other's rows, even through a redrive (issue 15): execution A
of an offers file fails at Load, execution B of an overlapping file merges meanwhile, and A's redrive, which resumes
at Load after OnExecutionFailed released A's lease, fails with StaleMergeError instead of publishing a merge that
read the table before B's; a new execution of A's file then merges against the current table. A failure at Load
redriven with no merge in between still succeeds.

On the Lambda engine only: the check is Load's, after either engine's transform (tests/e2e/test_merge_offers.py
holds both engines to the same merge)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fault_runs import keys, notifications, task_errors
from test_merge_offers import model, normalised, served, table, write

from sluice.local.emulator import Emulator
from sluice.local.faults import FaultInjector, parse_fault
from sluice.local.runner import ExecutionResult, RunInput, Runner
from sluice_lib.lease import generation_key, lease_key

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

# (offer i, created, risk) per file. A and B share offers 3-5, where A's rows are the newer: they win once A
# merges. A's 0-2 and B's 6-8 are each file's own; all in March 2026, one partition.
A_ROWS = [(i, "2026-03-12T00:00:00+00:00", "high") for i in range(6)]
B_ROWS = [(i, "2026-03-10T00:00:00+00:00", "medium") for i in range(3, 9)]
C_ROWS = [(i, "2026-03-20T00:00:00+00:00", "low") for i in (8, 9)]


@pytest.fixture(scope="module")
def ends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("stale-merge")
    with Emulator(log_file=folder / "lambda.log") as emu:
        runner = Runner(emu, progress=lambda _: None)
        found: dict[str, Any] = {}

        def after(name: str, result: ExecutionResult, source_key: str) -> None:
            ddb = emu.client("dynamodb")
            generation = ddb.get_item(
                TableName=emu.stack.runs_table, Key=generation_key("offers"), ConsistentRead=True
            ).get("Item")
            found[name] = {
                "result": result,
                "table": table(emu),
                "served": served(emu),
                "incoming": keys(emu, emu.stack.raw_bucket, source_key),
                "notifications": notifications(emu, result.execution_arn),
                "task_errors": task_errors(emu, result.execution_arn),
                "lease": ddb.get_item(TableName=emu.stack.runs_table, Key=lease_key("offers")).get("Item"),
                "generation": None if generation is None else int(generation["generation"]["N"]),
            }

        def fail_at_load(name: str, rows: list[tuple[int, str, str]]) -> ExecutionResult:
            with FaultInjector(emu, [parse_fault("Load=RuntimeError:1")]):
                key, arn = runner.upload(RunInput("offers", write(folder, name, rows)))
                failed = runner.follow(arn, "offers", key)
            after(name, failed, key)
            return failed

        a = fail_at_load("offers-a.csv", A_ROWS)
        (b,) = runner.run([RunInput("offers", write(folder, "offers-b.csv", B_ROWS))])
        after("b", b, b.source_key)
        after("a-redriven", runner.redrive_failed(a), a.source_key)
        after("a-rerun", runner.rerun(a), a.source_key)
        c = fail_at_load("offers-c.csv", C_ROWS)
        after("c-redriven", runner.redrive_failed(c), c.source_key)
        yield found


def test_execution_failed_at_load_released_the_lease_and_published_nothing(ends: dict[str, Any]) -> None:
    a = ends["offers-a.csv"]
    assert a["result"].status == "FAILED"
    assert a["result"].states[-1].name == "Load"
    assert a["task_errors"] == {"Load": ["RuntimeError"]}
    assert a["lease"] is None  # OnExecutionFailed released it
    assert a["table"] == {}
    assert a["generation"] is None


def test_another_execution_of_the_dataset_merges_while_the_first_is_failed(ends: dict[str, Any]) -> None:
    b = ends["b"]
    assert b["result"].status == "SUCCEEDED"
    assert b["table"] == normalised(model(B_ROWS))
    assert b["generation"] == 1


def test_redrive_after_another_merge_fails_at_load_with_stale_merge_and_loses_no_row(
    ends: dict[str, Any],
) -> None:
    redriven = ends["a-redriven"]
    result: ExecutionResult = redriven["result"]
    assert result.status == "FAILED"
    assert result.redrives[-1]["from_state"] == "Load"
    assert [s["name"] for s in result.redrives[-1]["states"]] == ["Load"]
    assert result.error is not None and result.error["type"] == "StaleMergeError"
    cause = result.error["cause"]
    assert "generation 0, but the table is at generation 1" in cause
    assert ends["b"]["result"].execution_arn in cause
    assert "start a new execution for the file" in cause
    assert redriven["task_errors"]["Load"][-1] == "StaleMergeError"  # not retried: one attempt
    assert redriven["task_errors"]["Load"].count("StaleMergeError") == 1
    # B's rows, one per key, B's values for the shared keys; none of A's rows
    assert redriven["table"] == ends["b"]["table"] == normalised(model(B_ROWS))
    assert redriven["served"] == ends["b"]["served"]
    assert redriven["incoming"] == [result.source_key]  # the upload waits in incoming/ for a new execution
    assert redriven["generation"] == 1
    assert redriven["lease"] is None
    assert [n["status"] for n in redriven["notifications"]] == ["FAILED", "FAILED"]
    assert redriven["notifications"][-1]["failed_state"] == "Load"


def test_new_execution_of_the_stale_file_merges_against_the_current_table(ends: dict[str, Any]) -> None:
    rerun = ends["a-rerun"]
    reference = normalised(model(B_ROWS, A_ROWS))
    assert rerun["result"].status == "SUCCEEDED"
    assert rerun["table"] == reference
    assert len(reference) == 9
    assert rerun["table"][("10000004", "100000000004")] == ("2026-03-12T00:00:00+00:00", "high")  # A's won
    assert rerun["table"][("10000007", "100000000007")] == ("2026-03-10T00:00:00+00:00", "medium")  # B's kept
    assert rerun["result"].merge() == {"inserted": 3, "updated": 3, "unchanged": 0}
    assert rerun["served"] == {k: r for k, (_, r) in reference.items()}
    assert rerun["incoming"] == []  # archived
    assert rerun["generation"] == 2


def test_failure_at_load_redriven_with_no_merge_in_between_succeeds(ends: dict[str, Any]) -> None:
    failed, redriven = ends["offers-c.csv"], ends["c-redriven"]
    reference = normalised(model(B_ROWS, A_ROWS, C_ROWS))
    assert failed["result"].status == "FAILED"
    assert failed["table"] == ends["a-rerun"]["table"]
    assert redriven["result"].status == "SUCCEEDED"
    assert redriven["result"].redrives[-1]["from_state"] == "Load"
    assert redriven["table"] == reference
    assert len(reference) == 10
    assert redriven["generation"] == 3
    assert redriven["lease"] is None
    assert redriven["incoming"] == []
