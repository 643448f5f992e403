"""Idempotent reruns on the emulated stack: console reruns, concurrent duplicates, a failed Load, the fan-out.

Every run here goes through the real template, ASL, handlers and Glue script.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from catalog_view import catalog_files
from offers_rows import OFFERS_HEADER, offers_row

from sluice.local.emulator import Emulator
from sluice.local.export import read_queue
from sluice.local.runner import ExecutionResult, RunInput, Runner, run_files

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

MARCH, APRIL = "2026-03-04T05:06:07+00:00", "2026-04-05T06:07:08+00:00"
# 8 offers in two months: one curated file per month partition, one serving item per offer.
ROWS = [offers_row(i, created=MARCH) for i in range(100, 104)] + [
    offers_row(i, created=APRIL, risk="high") for i in range(104, 108)
]
EXPECTED_PARTITIONS = [["2026", "3"], ["2026", "4"]]
# (pk, sk, risk, year, month) of every serving item, whichever path loaded them.
EXPECTED_SERVING = [
    (f"offers#{10000000 + i}", str(100000000000 + i), "low", "2026", "3") for i in range(100, 104)
] + [(f"offers#{10000000 + i}", str(100000000000 + i), "high", "2026", "4") for i in range(104, 108)]


def write_csv(folder: Path, name: str, rows: list[str]) -> Path:
    path = folder / name
    path.write_text("\n".join([OFFERS_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def curated_files(emu: Emulator, ingest_id: str) -> list[str]:
    """The upload's current files as the catalog names them, each partition's version folder shown as `<version>`
    (a keyed table's merge writes a new version per execution, docs/merge.md)."""
    return sorted(
        re.sub(r"/v\d{8}T\d{6}Z-[^/]+/", "/<version>/", key)
        for keys in catalog_files(emu, "offers").values()
        for key in keys
        if f"/part-{ingest_id}-" in key
    )


def partitions(emu: Emulator) -> list[list[str]]:
    glue = emu.client("glue")
    try:
        found = glue.get_partitions(DatabaseName=emu.stack.glue_database, TableName="offers")["Partitions"]
    except glue.exceptions.EntityNotFoundException:
        return []
    return sorted(p["Values"] for p in found)


def serving(emu: Emulator, accounts: range) -> list[tuple[str, ...]]:
    """(pk, sk, risk, year, month) of the serving items of offers_row(i) for i in `accounts`."""
    ddb = emu.client("dynamodb")
    found = []
    for i in accounts:
        items = ddb.query(
            TableName=emu.stack.serving_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"offers#{10000000 + i}"}},
        )["Items"]
        found += [
            (it["pk"]["S"], it["sk"]["S"], it["risk"]["S"], it["year"]["N"], it["month"]["N"]) for it in items
        ]
    return sorted(found)


def raw_keys(emu: Emulator, prefix: str) -> list[str]:
    listing = emu.client("s3").list_objects_v2(Bucket=emu.stack.raw_bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def notifications(emu: Emulator, execution_arn: str) -> list[str]:
    """Statuses of the SNS messages sent for one execution."""
    statuses = []
    for note in read_queue(emu.client("sqs"), emu.tap_url, keep=True):
        message = json.loads(note["body"]["Message"])
        if message.get("execution_arn") == execution_arn:
            statuses.append(message["status"])
    return statuses


def ledger_item(emu: Emulator, result: ExecutionResult) -> dict[str, Any]:
    source = (result.validated or {})["source"]
    item = emu.client("dynamodb").get_item(
        TableName=emu.stack.runs_table,
        Key={"pk": {"S": f"{source['bucket']}/{source['key']}"}, "sk": {"S": source["version_id"]}},
        ConsistentRead=True,
    )["Item"]
    return {k: next(iter(v.values())) for k, v in item.items()}


def state_names(result: ExecutionResult) -> list[str]:
    return [visit.name for visit in result.states]


# --- three runs of one upload: the first and two console reruns --------------------------------------------


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("reruns")
    src = write_csv(tmp, "offers-reruns.csv", ROWS)
    after_each: list[dict[str, Any]] = []

    def snapshot(emu: Emulator, result: ExecutionResult) -> None:
        ingest_id = (result.validated or {}).get("ingest_id", "-")
        after_each.append(
            {
                "curated": curated_files(emu, ingest_id),
                "partitions": partitions(emu),
                "serving": serving(emu, range(100, 108)),
                "incoming": raw_keys(emu, "incoming/"),
                "archive": raw_keys(emu, "archive/"),
            }
        )

    summary = run_files(
        [RunInput("offers", src)], tmp / "out", progress=lambda _: None, reruns=2, on_result=snapshot
    )
    summary["after_each"] = after_each
    return summary


def test_run_with_two_reruns_reports_three_succeeded_executions_of_the_same_upload(
    three_runs: dict[str, Any],
):
    assert three_runs["status"] == "SUCCEEDED"
    executions = three_runs["executions"]
    assert len(executions) == 3
    assert len({e["execution_arn"] for e in executions}) == 3
    for execution in executions:
        assert execution["status"] == "SUCCEEDED"
        assert execution["source_key"] == "incoming/offers/offers-reruns.csv"
        assert execution["rows"]["loaded"] == 8
        assert execution["ledger"] == "SUCCEEDED"
        assert execution["notifications"] == ["SUCCEEDED"]
        assert execution["duplicate"] is False
        names = [s["name"] for s in execution["states"]]
        assert names.count("Load") == 1 and "LoadServing" not in names  # a small output: one Load


def test_run_with_two_reruns_leaves_identical_curated_catalog_and_serving_after_each(
    three_runs: dict[str, Any],
):
    first, second, third = three_runs["after_each"]

    assert first == second == third
    assert [re.sub(r"part-[0-9a-f]{20}-", "part-<ingest>-", key) for key in first["curated"]] == [
        "curated/offers/year=2026/month=3/<version>/part-<ingest>-00000.snappy.parquet",
        "curated/offers/year=2026/month=4/<version>/part-<ingest>-00000.snappy.parquet",
    ]
    assert first["partitions"] == EXPECTED_PARTITIONS
    assert first["serving"] == EXPECTED_SERVING
    assert first["incoming"] == []
    assert len(first["archive"]) == 1 and first["archive"][0].endswith("/offers-reruns.csv")


# --- one emulator whose Load fans out over every file (LoadFanOutFiles=1) ----------------------------------


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    log = tmp_path_factory.mktemp("fan-out") / "lambda.log"
    with Emulator(parameters={"LoadFanOutFiles": "1"}, log_file=log) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def together(emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An upload (its rule starts one execution) and a second execution with its input at once."""
    src = write_csv(tmp_path_factory.mktemp("together"), "offers-together.csv", ROWS)
    runner = Runner(emu, progress=lambda _: None)
    before = len(emu.lambdas.invocations)
    key, first = runner.upload(RunInput("offers", src))
    second = runner.start(emu.client("stepfunctions").describe_execution(executionArn=first)["input"])
    results = [runner.follow(arn, "offers", key) for arn in (first, second)]
    return {"results": results, "invocations": emu.lambdas.invocations[before:]}


def test_two_executions_of_one_object_started_together_one_works_the_other_ends_duplicate(
    emu: Emulator, together: dict[str, Any]
):
    results: list[ExecutionResult] = together["results"]
    assert [r.status for r in results] == ["SUCCEEDED", "SUCCEEDED"]
    (owner,) = [r for r in results if not r.duplicate]
    (duplicate,) = [r for r in results if r.duplicate]
    assert state_names(duplicate) == ["Validate", "Duplicate"]
    assert state_names(owner)[-3:] == ["Archive", "NotifySuccess", "Done"]
    assert notifications(emu, owner.execution_arn) == ["SUCCEEDED"]
    assert notifications(emu, duplicate.execution_arn) == []
    item = ledger_item(emu, owner)
    assert (item["status"], item["execution_arn"]) == ("SUCCEEDED", owner.execution_arn)
    assert item["duplicate_executions"] == [duplicate.execution_arn]
    calls = [i.function.rsplit("-", 1)[-1] for i in together["invocations"]]
    assert calls.count("validate") == 2
    assert calls.count("archive") == 1  # the work was done once


def test_fan_out_path_loads_serving_through_the_distributed_map_with_the_single_load_result(
    emu: Emulator, together: dict[str, Any]
):
    (owner,) = [r for r in together["results"] if not r.duplicate]
    names = state_names(owner)
    assert names[names.index("Load") :] == [
        "Load",
        "ServingFannedOut?",
        "LoadServing",
        "Archive",
        "NotifySuccess",
        "Done",
    ]
    calls = [i.function for i in together["invocations"]]
    assert calls.count("sluice-dev-load") == 1  # Load itself,
    assert calls.count("sluice-dev-load-serving-batch") == 2  # then one Map item per curated file
    assert owner.loaded is not None and owner.loaded["fanned_out"] is True
    assert len(curated_files(emu, (owner.validated or {})["ingest_id"])) == 2
    assert partitions(emu) == EXPECTED_PARTITIONS
    assert serving(emu, range(100, 108)) == EXPECTED_SERVING
    assert ledger_item(emu, owner)["serving_items"] == "8"


# --- a Load that fails once ----------------------------------------------------------------------------------


class InjectedLoadFault(RuntimeError):
    """Raised by the fault hook in place of the Load function (a bug, a timeout, a lost permission)."""


# 6 offers in two other months, so what a failed Load leaves is not mixed up with the runs above.
FAULT_ROWS = [offers_row(i, created="2025-01-10T00:00:00+00:00") for i in range(200, 203)] + [
    offers_row(i, created="2025-02-10T00:00:00+00:00") for i in range(203, 206)
]


@pytest.fixture(scope="module")
def failed_load(emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    src = write_csv(tmp_path_factory.mktemp("fault"), "offers-fault.csv", FAULT_ROWS)
    runner = Runner(emu, progress=lambda _: None)
    faults: list[str] = []

    def fail_load_once(fn: Any, event: dict[str, Any]) -> None:
        if fn.logical_id == "LoadFunction" and not faults:
            faults.append(fn.name)
            raise InjectedLoadFault("injected: the Load function failed")

    emu.lambdas.fault_hook = fail_load_once
    try:
        key, arn = runner.upload(RunInput("offers", src))
        failed = runner.follow(arn, "offers", key)
    finally:
        emu.lambdas.fault_hook = None
    ingest_id = (failed.validated or {})["ingest_id"]
    after_failure = {
        "incoming": raw_keys(emu, "incoming/offers/offers-fault"),
        "curated": curated_files(emu, ingest_id),
        "partitions": [p for p in partitions(emu) if p[0] == "2025"],
        "serving": serving(emu, range(200, 206)),
        "ledger": ledger_item(emu, failed),
        "notifications": notifications(emu, failed.execution_arn),
    }
    rerun = runner.rerun(failed)
    return {"failed": failed, "after_failure": after_failure, "rerun": rerun, "ingest_id": ingest_id}


def test_failed_load_fails_the_execution_at_load_and_keeps_the_upload_in_incoming(
    failed_load: dict[str, Any],
):
    failed: ExecutionResult = failed_load["failed"]
    assert failed.status == "FAILED"
    assert failed.error is not None and failed.error["type"] == "InjectedLoadFault"
    assert (failed.states[-1].name, failed.states[-1].status) == ("Load", "FAILED")
    assert failed_load["after_failure"]["incoming"] == ["incoming/offers/offers-fault.csv"]


def test_failed_load_publishes_nothing_to_curated_catalog_or_serving(failed_load: dict[str, Any]):
    after = failed_load["after_failure"]
    assert after["curated"] == []
    assert after["partitions"] == []
    assert after["serving"] == []


def test_failed_load_marks_the_ledger_failed_and_sends_one_failure_notification(failed_load: dict[str, Any]):
    after = failed_load["after_failure"]
    assert after["notifications"] == ["FAILED"]
    ledger = after["ledger"]
    assert (ledger["status"], ledger["failed_state"], ledger["error"]) == (
        "FAILED",
        "Load",
        "InjectedLoadFault",
    )
    assert ledger["execution_arn"] == failed_load["failed"].execution_arn


def test_rerun_after_a_failed_load_reaches_the_clean_end_state(emu: Emulator, failed_load: dict[str, Any]):
    rerun: ExecutionResult = failed_load["rerun"]
    assert rerun.status == "SUCCEEDED"
    assert rerun.ledger == "SUCCEEDED"
    assert rerun.loaded is not None and rerun.loaded["rows_loaded"] == 6
    assert [
        re.sub(r"part-[0-9a-f]{20}-", "part-<ingest>-", k)
        for k in curated_files(emu, failed_load["ingest_id"])
    ] == [
        "curated/offers/year=2025/month=1/<version>/part-<ingest>-00000.snappy.parquet",
        "curated/offers/year=2025/month=2/<version>/part-<ingest>-00000.snappy.parquet",
    ]
    assert [p for p in partitions(emu) if p[0] == "2025"] == [["2025", "1"], ["2025", "2"]]
    assert serving(emu, range(200, 206)) == [
        (f"offers#{10000000 + i}", str(100000000000 + i), "low", "2025", str(1 + (i - 200) // 3))
        for i in range(200, 206)
    ]
    assert raw_keys(emu, "incoming/offers/offers-fault") == []
    assert notifications(emu, rerun.execution_arn) == ["SUCCEEDED"]
    assert notifications(emu, failed_load["failed"].execution_arn) == ["FAILED"]  # still exactly one
