"""A non-retriable error, or a retriable one past its retry budget, fails the execution at its own state: the
upload stays in incoming/, the ledger says FAILED at that state, exactly one failure notification goes out,
nothing is half-published. A local redrive resumes at that state, with that state's recorded input, without
running the states that had succeeded; a rerun after that reaches the same end state.

To need one Spark job per upload, each upload is a chain: faults are armed on several states at once, so the
execution fails at the first, its redrive passes that state and fails at the next, and so on until the last
redrive succeeds. Each failure is one case below; the faults stay installed during the redrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fault_runs import Batch, Snapshot, faults, history, rerun, run_chain

from sluice.local.emulator import Emulator

pytestmark = [pytest.mark.emulator, pytest.mark.spark]


@dataclass(frozen=True)
class Case:
    state: str
    fault: str
    error: str  # what the execution fails with
    attempts: int  # attempts of the state in the failing run (1 + retries)
    published: bool  # Load had published the run when the state failed


CRAWLED = Batch("offers-failed-crawled.csv", range(400, 403), 2023, 1)
REGISTERED = Batch("offers-failed-registered.csv", range(410, 413), 2023, 2)
CRAWLED_CASES = [
    Case("Validate", "Validate=Lambda.ServiceException:6", "Lambda.ServiceException", 6, False),
    Case("StartCrawler", "StartCrawler=Glue.AccessDeniedException:1", "Glue.AccessDeniedException", 1, False),
    Case("GetCrawler", "GetCrawler=Glue.ThrottlingException:6", "Glue.ThrottlingException", 6, False),
    Case("Transform", "Transform=States.Timeout:1", "States.Timeout", 1, False),
    Case("Load", "Load=RuntimeError:1", "RuntimeError", 1, False),
    Case("Archive", "Archive=Lambda.TooManyRequestsException:6", "Lambda.TooManyRequestsException", 6, True),
    Case(
        "NotifySuccess",
        "NotifySuccess=SNS.AuthorizationErrorException:1",
        "SNS.AuthorizationErrorException",
        1,
        True,
    ),
]
REGISTERED_CASES = [
    Case(
        "RegisterPartition",
        "RegisterPartition=StagingTableMissingError:1",
        "StagingTableMissingError",
        1,
        False,
    ),
    Case("TakeLease", "TakeLease=RuntimeError:1", "RuntimeError", 1, False),
    # The job run itself fails (its script raised): glue:startJobRun.sync reports States.TaskFailed.
    Case("Transform (job run)", "Transform=OutOfMemoryError:1", "States.TaskFailed", 1, False),
]
CASES = CRAWLED_CASES + REGISTERED_CASES
# The states of the crawl's polling loop: a redrive at GetCrawler may poll again, as a first run does.
CRAWL_LOOP = {"WaitForCrawler", "GetCrawler", "CrawlFinished?", "CountCrawlPoll"}


@pytest.fixture(scope="module")
def chains(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("failed")
    # Faults of the Glue job's Transform state: every file through Glue, not the small-file Lambda engine.
    with Emulator(log_file=folder / "lambda.log", parameters={"SmallFileMaxBytes": "0"}) as emu:
        with faults(emu, *(case.fault for case in CRAWLED_CASES)):
            crawled = run_chain(emu, folder, CRAWLED)
        with faults(emu, *(case.fault for case in REGISTERED_CASES)):
            registered = run_chain(emu, folder, REGISTERED)
        arn = crawled[0].result.execution_arn
        return {
            "crawled": crawled,
            "registered": registered,
            "crawled_rerun": rerun(emu, crawled[-1].result, CRAWLED),
            "registered_rerun": rerun(emu, registered[-1].result, REGISTERED),
            "crawled_history": history(emu, arn),
        }


def _ends(chains: dict[str, Any], case: Case) -> tuple[Snapshot, Snapshot, int]:
    """(the end where the case's state failed, the end of the redrive that followed, failures so far)."""
    name, cases = ("crawled", CRAWLED_CASES) if case in CRAWLED_CASES else ("registered", REGISTERED_CASES)
    ends: list[Snapshot] = chains[name]
    index = cases.index(case)
    return ends[index], ends[index + 1], index + 1


def _state(case: Case) -> str:
    return case.state.split(" ")[0]


@pytest.mark.parametrize("case", CASES, ids=[c.state for c in CASES])
def test_error_beyond_retry_fails_the_execution_at_its_state(chains: dict[str, Any], case: Case):
    failed, _, _ = _ends(chains, case)

    assert failed.result.status == "FAILED"
    assert failed.last_visit == (_state(case), "FAILED")
    assert failed.result.states[-1].attempts == case.attempts
    assert failed.result.error is not None and failed.result.error["type"] == case.error


@pytest.mark.parametrize("case", CASES, ids=[c.state for c in CASES])
def test_failed_execution_sends_exactly_one_failure_notification_naming_the_state(
    chains: dict[str, Any], case: Case
):
    failed, _, failures = _ends(chains, case)

    assert [n["status"] for n in failed.notifications] == ["FAILED"] * failures  # one per failure so far
    latest = failed.notifications[-1]
    assert (latest["failed_state"], latest["error"]["type"]) == (_state(case), case.error)


RUN_NOT_FINISHED = [c for c in CASES if c.state != "NotifySuccess"]


@pytest.mark.parametrize("case", RUN_NOT_FINISHED, ids=[c.state for c in RUN_NOT_FINISHED])
def test_failed_execution_keeps_the_upload_in_incoming_and_marks_the_ledger_failed(
    chains: dict[str, Any], case: Case
):
    failed, _, _ = _ends(chains, case)
    batch = CRAWLED if case in CRAWLED_CASES else REGISTERED

    assert failed.incoming == [batch.key]
    assert failed.archive == [] and failed.rejected == []
    assert (failed.ledger["status"], failed.ledger["failed_state"], failed.ledger["error"]) == (
        "FAILED",
        _state(case),
        case.error,
    )
    assert failed.ledger["execution_arn"] == failed.result.execution_arn


@pytest.mark.parametrize("case", CASES, ids=[c.state for c in CASES])
def test_failed_execution_leaves_nothing_half_published(chains: dict[str, Any], case: Case):
    failed, _, _ = _ends(chains, case)
    batch = CRAWLED if case in CRAWLED_CASES else REGISTERED

    if case.published:  # Load had published it all: curated file, catalog partition, every serving item
        assert len(failed.curated) == 1
        assert failed.partitions == [[str(batch.year), str(batch.month)]]
        assert failed.serving == batch.serving_keys()
    else:
        assert (failed.curated, failed.partitions, failed.serving) == ([], [], [])


def test_notify_success_failure_after_archive_keeps_the_run_succeeded_and_says_the_notice_failed(
    chains: dict[str, Any],
):
    (case,) = [c for c in CASES if c.state == "NotifySuccess"]
    failed, _, _ = _ends(chains, case)

    # Archive had finished the run: the file is archived and the ledger stays SUCCEEDED; the one message of
    # this failure is the failure handler's FAILED notice (the success notice never went out).
    assert failed.incoming == [] and len(failed.archive) == 1
    assert failed.ledger["status"] == "SUCCEEDED"
    assert failed.notifications[-1]["status"] == "FAILED"


@pytest.mark.parametrize("case", CASES, ids=[c.state for c in CASES])
def test_redrive_resumes_at_the_failed_state_and_runs_none_of_the_states_before_it(
    chains: dict[str, Any], case: Case
):
    failed, redriven, failures = _ends(chains, case)

    assert redriven.result.execution_arn == failed.result.execution_arn  # the same execution, redriven
    redrive = redriven.result.redrives[-1]
    assert (redrive["redrive_count"], redrive["from_state"]) == (failures, _state(case))
    first = redrive["states"][0]
    assert (first["name"], first["status"], first["attempts"]) == (_state(case), "SUCCEEDED", 1)
    assert redriven.result.states[: len(failed.result.states)] == failed.result.states  # the history goes on
    succeeded_before = {s.name for s in failed.result.states if s.status == "SUCCEEDED"}
    ran_in_redrive = {s["name"] for s in redrive["states"]}
    assert (ran_in_redrive & succeeded_before) - CRAWL_LOOP == set()


@pytest.mark.parametrize("chain", ["crawled", "registered"])
def test_last_redrive_succeeds_with_one_run_in_ledger_and_outputs(chains: dict[str, Any], chain: str):
    ends: list[Snapshot] = chains[chain]
    batch = CRAWLED if chain == "crawled" else REGISTERED
    cases = CRAWLED_CASES if chain == "crawled" else REGISTERED_CASES
    last = ends[-1]

    assert len(ends) == len(cases) + 1
    assert last.result.status == "SUCCEEDED" and last.last_visit == ("Done", "SUCCEEDED")
    assert [r["status"] for r in last.result.redrives] == ["FAILED"] * (len(cases) - 1) + ["SUCCEEDED"]
    arn = last.result.execution_arn
    name = arn.rsplit(":", 1)[-1]
    assert (last.ledger["status"], last.ledger["execution_arn"], last.ledger["run_id"]) == (
        "SUCCEEDED",
        arn,
        name,
    )
    assert last.result.validated is not None and last.result.validated["run_id"] == name
    assert last.result.rows() == {
        "in": 3,
        "blank": 0,
        "valid": 3,
        "rejected": 0,
        "curated": 3,
        "deduped": 0,
        "loaded": 3,
    }
    assert len(last.curated) == 1 and last.curated[0].startswith(batch.curated_prefix)
    assert last.serving == batch.serving_keys()
    assert last.incoming == [] and len(last.archive) == 1
    assert [n["status"] for n in last.notifications] == ["FAILED"] * len(cases) + ["SUCCEEDED"]


@pytest.mark.parametrize("chain", ["crawled", "registered"])
def test_rerun_after_the_redriven_run_reaches_the_same_end_state(chains: dict[str, Any], chain: str):
    again: Snapshot = chains[f"{chain}_rerun"]
    last: Snapshot = chains[chain][-1]

    assert again.result.status == "SUCCEEDED"
    assert again.result.execution_arn != last.result.execution_arn
    assert (again.ledger["status"], again.ledger["execution_arn"]) == (
        "SUCCEEDED",
        again.result.execution_arn,
    )
    assert again.curated == last.curated and again.serving == last.serving
    assert again.partitions == last.partitions
    assert again.incoming == [] and again.archive == last.archive
    assert [n["status"] for n in again.notifications] == ["SUCCEEDED"]


def test_redriven_execution_keeps_one_history_with_an_executionredriven_event_per_redrive(
    chains: dict[str, Any],
):
    events = chains["crawled_history"]
    ids = [int(e["id"]) for e in events]

    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [
        e["executionRedrivenEventDetails"]["redriveCount"] for e in events if e["type"] == "ExecutionRedriven"
    ] == [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
    ]
    assert [e["type"] for e in events].count("ExecutionStarted") == 1
    assert [e["type"] for e in events if e["type"].startswith("Execution")][-1] == "ExecutionSucceeded"
