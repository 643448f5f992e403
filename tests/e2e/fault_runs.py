"""Helpers of the fault-injection tests: run uploads under faults in one emulator session, redrive them, and
snapshot what each end left in the emulated services (raw zones, curated, catalog, serving, ledger, SNS)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog_view import catalog_files
from offers_rows import OFFERS_HEADER, offers_row

from sluice.local.emulator import Emulator
from sluice.local.export import read_queue
from sluice.local.faults import FaultInjector, parse_fault
from sluice.local.runner import ExecutionResult, RunInput, Runner

VERSION_FOLDER = re.compile(r"/v\d{8}T\d{6}Z-[^/]+/")


@dataclass(frozen=True)
class Batch:
    """Offers rows of one upload: accounts 10000000+i for i in `ids`, all created in one month; the rows of
    `bad` (a part of `ids`) break the contract (risk `extreme`)."""

    name: str
    ids: range
    year: int
    month: int
    bad: range = range(0)

    def write(self, folder: Path) -> Path:
        created = f"{self.year}-{self.month:02d}-10T00:00:00+00:00"
        path = folder / self.name
        rows = [offers_row(i, created=created, risk="extreme" if i in self.bad else "low") for i in self.ids]
        path.write_text("\n".join([OFFERS_HEADER, *rows]) + "\n", encoding="utf-8")
        return path

    @property
    def key(self) -> str:
        return f"incoming/offers/{self.name}"

    @property
    def curated_prefix(self) -> str:
        return f"curated/offers/year={self.year}/month={self.month}/"

    def serving_keys(self) -> list[tuple[str, str]]:
        return [(f"offers#{10000000 + i}", str(100000000000 + i)) for i in self.ids]


@dataclass
class Snapshot:
    """One end of an execution (its first end, or a redrive's) and what the services held then."""

    result: ExecutionResult
    incoming: list[str]
    archive: list[str]
    rejected: list[str]
    # The keys of the batch's partition's current files as the catalog names them, the version folder of a merge
    # (one per execution, docs/merge.md) shown as `<version>`.
    curated: list[str]
    partitions: list[list[str]]
    serving: list[tuple[str, str]]
    ledger: dict[str, Any]
    notifications: list[dict[str, Any]]  # every message sent so far for this execution, oldest first
    task_errors: dict[str, list[str]]  # state -> the errors of its failed attempts, in order

    @property
    def last_visit(self) -> tuple[str, str]:
        return self.result.states[-1].name, self.result.states[-1].status


def keys(emu: Emulator, bucket: str, prefix: str) -> list[str]:
    pages = emu.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def partitions(emu: Emulator, table: str = "offers") -> list[list[str]]:
    glue = emu.client("glue")
    try:
        found = glue.get_partitions(DatabaseName=emu.stack.glue_database, TableName=table)["Partitions"]
    except glue.exceptions.EntityNotFoundException:
        return []
    return sorted(p["Values"] for p in found)


def serving(emu: Emulator, wanted: list[tuple[str, str]]) -> list[tuple[str, str]]:
    ddb = emu.client("dynamodb")
    found = []
    for pk, sk in wanted:
        item = ddb.get_item(TableName=emu.stack.serving_table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get(
            "Item"
        )
        if item is not None:
            found.append((pk, sk))
    return found


def ledger(emu: Emulator, key: str) -> dict[str, Any]:
    """The newest ledger item of the raw bucket's `key`, as plain values ({} when there is none)."""
    items = (
        emu.client("dynamodb")
        .query(
            TableName=emu.stack.runs_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"{emu.stack.raw_bucket}/{key}"}},
            ConsistentRead=True,
        )
        .get("Items", [])
    )
    if not items:
        return {}
    newest = max(items, key=lambda i: i.get("updated_at", {}).get("S", ""))
    return {k: next(iter(v.values())) for k, v in newest.items()}


def notifications(emu: Emulator, execution_arn: str) -> list[dict[str, Any]]:
    found = []
    for note in read_queue(emu.client("sqs"), emu.tap_url, keep=True):
        message = json.loads(note["body"]["Message"])
        if message.get("execution_arn") == execution_arn:
            found.append(message)
    return found


def history(emu: Emulator, execution_arn: str) -> list[dict[str, Any]]:
    pages = (
        emu.client("stepfunctions")
        .get_paginator("get_execution_history")
        .paginate(executionArn=execution_arn)
    )
    return [event for page in pages for event in page["events"]]


def task_errors(emu: Emulator, execution_arn: str) -> dict[str, list[str]]:
    """The error of every failed or timed-out task attempt, per state, in history order."""
    errors: dict[str, list[str]] = {}
    state = ""
    for event in history(emu, execution_arn):
        if event["type"].endswith("StateEntered"):
            state = event["stateEnteredEventDetails"]["name"]
        elif event["type"] in ("TaskFailed", "TaskTimedOut"):
            details = event.get("taskFailedEventDetails") or event.get("taskTimedOutEventDetails") or {}
            errors.setdefault(state, []).append(details.get("error", ""))
    return errors


def snapshot(emu: Emulator, result: ExecutionResult, batch: Batch) -> Snapshot:
    raw = emu.stack.raw_bucket
    return Snapshot(
        result=result,
        incoming=keys(emu, raw, batch.key),
        archive=[k for k in keys(emu, raw, "archive/offers/") if k.endswith("/" + batch.name)],
        rejected=keys(emu, raw, f"rejected/offers/{batch.name}"),
        curated=[
            VERSION_FOLDER.sub("/<version>/", key)
            for key in catalog_files(emu, "offers").get(
                batch.curated_prefix.removeprefix("curated/offers/").strip("/"), []
            )
        ],
        partitions=[p for p in partitions(emu) if p == [str(batch.year), str(batch.month)]],
        serving=serving(emu, batch.serving_keys()),
        ledger=ledger(emu, batch.key),
        notifications=notifications(emu, result.execution_arn),
        task_errors=task_errors(emu, result.execution_arn),
    )


@contextmanager
def faults(emu: Emulator, *specs: str) -> Iterator[FaultInjector]:
    with FaultInjector(emu, [parse_fault(s) for s in specs]) as injector:
        yield injector


def run_once(emu: Emulator, folder: Path, batch: Batch) -> Snapshot:
    """Uploads the batch like a user and follows the execution the upload started to its end."""
    runner = Runner(emu, progress=lambda _: None)
    key, arn = runner.upload(RunInput("offers", batch.write(folder)))
    return snapshot(emu, runner.follow(arn, "offers", key), batch)


def run_chain(emu: Emulator, folder: Path, batch: Batch, limit: int = 12) -> list[Snapshot]:
    """Uploads the batch, then redrives the execution each time it fails (faults stay as installed) until
    it succeeds: a snapshot per end, the first execution's end first."""
    runner = Runner(emu, progress=lambda _: None)
    key, arn = runner.upload(RunInput("offers", batch.write(folder)))
    ends = [snapshot(emu, runner.follow(arn, "offers", key), batch)]
    while ends[-1].result.status != "SUCCEEDED" and len(ends) < limit:
        ends.append(snapshot(emu, runner.redrive_failed(ends[-1].result), batch))
    return ends


def rerun(emu: Emulator, first: ExecutionResult, batch: Batch) -> Snapshot:
    """A new execution with the first one's input, as the console's "New execution" does."""
    return snapshot(emu, Runner(emu, progress=lambda _: None).rerun(first), batch)
