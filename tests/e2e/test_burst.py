"""A burst: 20 files uploaded at once (concurrent PutObjects) into one emulator session. Every execution runs to
completion, the totals are exact, no execution is lost, and the crawler collisions of concurrent first
uploads are absorbed by StartCrawler's Retry (Glue.CrawlerRunningException) or avoided by the schema check."""

from __future__ import annotations

import faulthandler
import time
from typing import Any

import pytest
from catalog_view import catalog_rows
from fault_runs import Batch, keys, ledger, notifications, serving, task_errors

from sluice.local.emulator import Emulator
from sluice.local.runner import ExecutionResult, RunInput, Runner

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

FILES = 20
ROWS = 3
BATCHES = [
    Batch(f"offers-burst-{n:02d}.csv", range(600 + ROWS * n, 600 + ROWS * (n + 1)), 2021, 6)
    for n in range(FILES)
]


@pytest.fixture(scope="module")
def burst(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("burst")
    items = [RunInput("offers", b.write(folder)) for b in BATCHES]
    # One full-suite run hung here once (not reproduced in 9 runs since): if it happens again, the stacks of
    # every thread go to stderr after 10 minutes, and a stuck execution fails the test after 15.
    faulthandler.dump_traceback_later(600)
    # One Glue job run per file (a burst of small files would otherwise go to the Lambda engine). offers has a
    # primaryKey: the 20 executions merge one after another under the dataset's lease, each waiting in TakeLease's
    # Retry (DatasetBusyError: 1000 attempts, 5 s to 60 s apart on AWS). Those delays are scaled like every
    # Retry, but the Glue runs they wait for are not: at the default 0.001 the budget is about 30 s, less than 19
    # local Spark runs; 0.02 gives it about 10 minutes (and a 1.2 s crawl, 0.6 s crawler polls).
    with Emulator(
        log_file=folder / "lambda.log", parameters={"SmallFileMaxBytes": "0"}, time_scale=0.02
    ) as emu:
        runner = Runner(emu, progress=lambda _: None)
        started_at = time.perf_counter()
        started = runner.upload_many(items, threads=FILES)
        results = runner.follow_many(items, started, timeout=900)
        seconds = time.perf_counter() - started_at
        faulthandler.cancel_dump_traceback_later()
        # The table as the catalog presents it: the offers contract has a primaryKey, so the 20 executions
        # merged one after another under the dataset's lease, and none lost another's rows.
        curated_rows = len(catalog_rows(emu, "offers"))
        listed = emu.client("stepfunctions").list_executions(stateMachineArn=emu.stack.state_machine_arn)
        return {
            "results": results,
            "seconds": seconds,
            "transform_seconds": [round(run.seconds, 2) for run in emu.glue.job_runs],
            "crawls": len(emu.glue.crawls),
            "start_crawler_errors": [
                task_errors(emu, r.execution_arn).get("StartCrawler", []) for r in results
            ],
            "listed": [e["executionArn"] for e in listed["executions"]],
            "curated_rows": curated_rows,
            "serving": serving(emu, [key for b in BATCHES for key in b.serving_keys()]),
            "ledger": [ledger(emu, b.key).get("status") for b in BATCHES],
            "notifications": [[n["status"] for n in notifications(emu, r.execution_arn)] for r in results],
            "incoming": keys(emu, emu.stack.raw_bucket, "incoming/"),
            "archive": keys(emu, emu.stack.raw_bucket, "archive/offers/"),
        }


def test_burst_of_20_uploads_starts_20_executions_and_each_succeeds(burst: dict[str, Any]):
    results: list[ExecutionResult] = burst["results"]

    assert len(results) == FILES
    assert [r.source_key for r in results] == [b.key for b in BATCHES]
    assert sorted(burst["listed"]) == sorted(r.execution_arn for r in results)  # none lost, none extra
    assert [r.status for r in results] == ["SUCCEEDED"] * FILES
    assert burst["ledger"] == ["SUCCEEDED"] * FILES
    assert burst["notifications"] == [["SUCCEEDED"]] * FILES


def test_burst_totals_are_exact(burst: dict[str, Any]):
    results: list[ExecutionResult] = burst["results"]
    totals = {
        k: sum(r.rows()[k] or 0 for r in results) for k in ("in", "valid", "rejected", "curated", "loaded")
    }

    assert totals == {"in": 60, "valid": 60, "rejected": 0, "curated": 60, "loaded": 60}
    assert burst["curated_rows"] == 60
    assert len(burst["serving"]) == 60
    assert burst["incoming"] == []
    assert sorted(k.rsplit("/", 1)[-1] for k in burst["archive"]) == [b.name for b in BATCHES]


def test_burst_crawler_collisions_are_retried_or_avoided(burst: dict[str, Any]):
    started = [r for r in burst["results"] if "StartCrawler" in [s.name for s in r.states]]
    retried = [e for e in burst["start_crawler_errors"] if e]

    assert started  # the first uploads found the staging schema new
    assert all(set(errors) == {"Glue.CrawlerRunningException"} for errors in retried)
    assert retried or burst["crawls"] < FILES
    assert burst["crawls"] == len(started)


def test_burst_runs_one_glue_job_per_file(burst: dict[str, Any], record_property: Any):
    record_property("burst_seconds", round(burst["seconds"], 1))  # in the JUnit XML: a record, not a limit
    record_property("transform_seconds", burst["transform_seconds"])

    assert len(burst["transform_seconds"]) == FILES
