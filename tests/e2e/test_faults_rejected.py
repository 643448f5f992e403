"""Faults on the rejection path: Validate rejects the file (TooManyBadRowsError), its Catch goes to RejectFile,
whose Lambda call is made to fail. No Spark: a rejected file never reaches Transform."""

from __future__ import annotations

from typing import Any

import pytest
from fault_runs import Batch, Snapshot, faults, history, rerun, run_once, snapshot

from sluice.local.emulator import Emulator
from sluice.local.runner import Runner

pytestmark = [pytest.mark.emulator]

# 2 of 3 rows break the contract: far above offers' 5% threshold.
RETRIED = Batch("offers-reject-retried.csv", range(500, 503), 2022, 1, bad=range(501, 503))
BROKEN = Batch("offers-reject-broken.csv", range(510, 513), 2022, 1, bad=range(511, 513))
EXHAUSTED = Batch("offers-reject-exhausted.csv", range(520, 523), 2022, 1, bad=range(521, 523))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("rejected")
    with Emulator(log_file=folder / "lambda.log") as emu:
        runner = Runner(emu, progress=lambda _: None)
        with faults(emu, "RejectFile=Lambda.TooManyRequestsException:2"):
            retried = run_once(emu, folder, RETRIED)
        not_redriven = runner.redrive_failed(retried.result)
        with faults(emu, "RejectFile=RuntimeError:1"):
            broken = run_once(emu, folder, BROKEN)
        broken_redriven = snapshot(emu, runner.redrive_failed(broken.result), BROKEN)
        broken_rerun = rerun(emu, broken.result, BROKEN)
        with faults(emu, "RejectFile=Lambda.ServiceException:6"):
            exhausted = run_once(emu, folder, EXHAUSTED)
        exhausted_redriven = snapshot(emu, runner.redrive_failed(exhausted.result), EXHAUSTED)
        return {
            "retried": retried,
            "not_redriven": not_redriven,
            "retried_history": history(emu, retried.result.execution_arn),
            "broken": broken,
            "broken_redriven": broken_redriven,
            "broken_rerun": broken_rerun,
            "exhausted": exhausted,
            "exhausted_redriven": exhausted_redriven,
        }


def _rejected(run: Snapshot, batch: Batch) -> None:
    """The rejection path's end: the file in rejected/, the ledger REJECTED, the execution failed with the
    original rejection error at the Rejected Fail state."""
    assert run.result.status == "REJECTED"
    assert run.last_visit == ("Rejected", "SUCCEEDED")  # a Fail state that did its job
    assert run.result.error is not None and run.result.error["type"] == "TooManyBadRowsError"
    assert run.incoming == [] and run.rejected == [f"rejected/offers/{batch.name}"]
    assert run.ledger["status"] == "REJECTED"
    assert (run.curated, run.serving) == ([], [])


def test_reject_file_retriable_error_within_budget_is_retried_and_the_file_is_rejected(runs: dict[str, Any]):
    run: Snapshot = runs["retried"]

    reject = next(s for s in run.result.to_json()["states"] if s["name"] == "RejectFile")
    assert (reject["status"], reject["attempts"]) == ("SUCCEEDED", 3)
    assert run.task_errors["RejectFile"] == ["Lambda.TooManyRequestsException"] * 2
    _rejected(run, RETRIED)
    assert [n["status"] for n in run.notifications] == ["REJECTED"]


def test_redrive_leaves_an_execution_that_ended_in_its_rejected_fail_state_alone(runs: dict[str, Any]):
    assert runs["not_redriven"] is runs["retried"].result  # not redriven: the Fail state would fail again
    assert [e for e in runs["retried_history"] if e["type"] == "ExecutionRedriven"] == []


@pytest.mark.parametrize(
    ("run_name", "error", "attempts"),
    [("broken", "RuntimeError", 1), ("exhausted", "Lambda.ServiceException", 6)],
)
def test_reject_file_failure_fails_at_reject_file_keeping_the_upload_with_one_failure_notice(
    runs: dict[str, Any], run_name: str, error: str, attempts: int
):
    run: Snapshot = runs[run_name]
    batch = BROKEN if run_name == "broken" else EXHAUSTED

    assert run.result.status == "FAILED"
    assert run.last_visit == ("RejectFile", "FAILED")
    assert run.result.states[-1].attempts == attempts
    assert run.result.error is not None and run.result.error["type"] == error
    assert run.incoming == [batch.key] and run.rejected == []
    assert (run.ledger["status"], run.ledger["failed_state"], run.ledger["error"]) == (
        "FAILED",
        "RejectFile",
        error,
    )
    assert [(n["status"], n["failed_state"]) for n in run.notifications] == [("FAILED", "RejectFile")]


@pytest.mark.parametrize("run_name", ["broken", "exhausted"])
def test_redrive_of_a_failed_reject_file_resumes_there_and_rejects_the_file(
    runs: dict[str, Any], run_name: str
):
    run: Snapshot = runs[f"{run_name}_redriven"]
    batch = BROKEN if run_name == "broken" else EXHAUSTED

    (redrive,) = run.result.redrives
    assert redrive["from_state"] == "RejectFile"
    assert [s["name"] for s in redrive["states"]] == ["RejectFile", "Rejected"]
    assert [s.name for s in run.result.states].count("Validate") == 1  # Validate did not run again
    _rejected(run, batch)
    assert [n["status"] for n in run.notifications] == ["FAILED", "REJECTED"]


def test_rerun_after_a_failed_reject_file_rejects_the_file_again(runs: dict[str, Any]):
    run: Snapshot = runs["broken_rerun"]

    assert run.result.execution_arn != runs["broken"].result.execution_arn
    _rejected(run, BROKEN)
    assert run.ledger["execution_arn"] == run.result.execution_arn
    assert [n["status"] for n in run.notifications] == ["REJECTED"]
