"""A retriable error within a Task state's retry budget: the ASL's Retry absorbs it, the run succeeds, and the
retries show in `states[].attempts`. Faults are injected at the service boundary (sluice.local.faults).

One emulator session, two uploads: the first takes the crawler path (its staging schema is new), the second the
RegisterPartition path (the crawler cataloged the schema by then).
"""

from __future__ import annotations

from typing import Any

import pytest
from fault_runs import Batch, Snapshot, faults, run_once

from sluice.local.emulator import Emulator

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

CRAWLED = Batch("offers-retried-crawled.csv", range(300, 304), 2024, 1)
REGISTERED = Batch("offers-retried-registered.csv", range(310, 314), 2024, 2)

# state -> (fault, the error names of its failed attempts as the history records them)
CRAWLER_PATH = {
    "Validate": ("Validate=Lambda.ServiceException:2", ["Lambda.ServiceException"] * 2),
    "StartCrawler": ("StartCrawler=Glue.CrawlerRunningException:3", ["Glue.CrawlerRunningException"] * 3),
    "GetCrawler": ("GetCrawler=Glue.ThrottlingException:1", ["Glue.ThrottlingException"]),
    "Transform": (
        "Transform=Glue.ConcurrentRunsExceededException:2",
        ["Glue.ConcurrentRunsExceededException"] * 2,
    ),
    "Load": ("Load=Lambda.TooManyRequestsException:1", ["Lambda.TooManyRequestsException"]),
    "Archive": ("Archive=Lambda.ServiceException:1", ["Lambda.ServiceException"]),
    "NotifySuccess": ("NotifySuccess=SNS.ThrottledException:1", ["SNS.ThrottledException"]),
}
REGISTER_PATH = {
    "RegisterPartition": ("RegisterPartition=Lambda.ServiceException:2", ["Lambda.ServiceException"] * 2),
    "TakeLease": ("TakeLease=Lambda.ServiceException:2", ["Lambda.ServiceException"] * 2),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("retried")
    # Faults of the Glue job's Transform state: every file through Glue, not the small-file Lambda engine.
    with Emulator(log_file=folder / "lambda.log", parameters={"SmallFileMaxBytes": "0"}) as emu:
        with faults(emu, *(spec for spec, _ in CRAWLER_PATH.values())) as injected:
            crawled = run_once(emu, folder, CRAWLED)
            crawled_faults = injected.summary()
        with faults(emu, *(spec for spec, _ in REGISTER_PATH.values())):
            registered = run_once(emu, folder, REGISTERED)
    return {"crawled": crawled, "registered": registered, "crawled_faults": crawled_faults}


def _run_of(runs: dict[str, Any], state: str) -> Snapshot:
    run: Snapshot = runs["registered" if state in REGISTER_PATH else "crawled"]
    return run


@pytest.mark.parametrize("state", [*CRAWLER_PATH, *REGISTER_PATH])
def test_retriable_error_within_the_budget_is_retried_and_the_run_succeeds(runs: dict[str, Any], state: str):
    run = _run_of(runs, state)
    _, failed_attempts = {**CRAWLER_PATH, **REGISTER_PATH}[state]

    first_visit = next(s for s in run.result.to_json()["states"] if s["name"] == state)
    assert (first_visit["status"], first_visit["attempts"]) == ("SUCCEEDED", len(failed_attempts) + 1)
    assert run.task_errors[state] == failed_attempts
    assert run.result.status == "SUCCEEDED"
    assert run.last_visit == ("Done", "SUCCEEDED")


@pytest.mark.parametrize("run_name", ["crawled", "registered"])
def test_retried_run_publishes_everything_once_archives_the_file_and_sends_one_success(
    runs: dict[str, Any], run_name: str
):
    run: Snapshot = runs[run_name]
    batch = CRAWLED if run_name == "crawled" else REGISTERED

    assert run.result.rows() == {
        "in": 4,
        "blank": 0,
        "valid": 4,
        "rejected": 0,
        "curated": 4,
        "deduped": 0,
        "loaded": 4,
    }
    assert len(run.curated) == 1 and run.curated[0].startswith(batch.curated_prefix)
    assert run.partitions == [[str(batch.year), str(batch.month)]]
    assert run.serving == batch.serving_keys()
    assert run.incoming == [] and len(run.archive) == 1
    assert run.ledger["status"] == "SUCCEEDED"
    assert [n["status"] for n in run.notifications] == ["SUCCEEDED"]


def test_crawler_path_took_the_crawler_and_register_path_registered_the_partition(runs: dict[str, Any]):
    crawled = [s.name for s in runs["crawled"].result.states]
    registered = [s.name for s in runs["registered"].result.states]

    assert "StartCrawler" in crawled and "RegisterPartition" not in crawled
    assert "RegisterPartition" in registered and "StartCrawler" not in registered


def test_every_injected_fault_fired_exactly_its_times(runs: dict[str, Any]):
    assert runs["crawled_faults"] == [
        {"state": "Validate", "error": "Lambda.ServiceException", "times": 2, "fired": 2},
        {"state": "StartCrawler", "error": "Glue.CrawlerRunningException", "times": 3, "fired": 3},
        {"state": "GetCrawler", "error": "Glue.ThrottlingException", "times": 1, "fired": 1},
        {"state": "Transform", "error": "Glue.ConcurrentRunsExceededException", "times": 2, "fired": 2},
        {"state": "Load", "error": "Lambda.TooManyRequestsException", "times": 1, "fired": 1},
        {"state": "Archive", "error": "Lambda.ServiceException", "times": 1, "fired": 1},
        {"state": "NotifySuccess", "error": "SNS.ThrottledException", "times": 1, "fired": 1},
    ]
