"""One row per primary key across files, end to end through the emulated stack, on both engines: two offers
uploads that share keys (the second corrects `risk`, moves one offer to another month, re-sends one with an
older `created`), a rerun of the second and a third upload whose execution fails at Archive and is redriven,
each checked against a dict by key computed here from the files; the curated table is read as the catalog
presents it (its partitions' current locations), as Athena reads it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from catalog_view import catalog_files, catalog_rows
from offers_rows import OFFERS_HEADER, offers_row

from sluice.local.emulator import Emulator
from sluice.local.faults import FaultInjector, parse_fault
from sluice.local.runner import ExecutionResult, RunInput, Runner
from sluice_lib.lease import lease_key

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

MARCH, APRIL = "2026-03-04T05:06:07+00:00", "2026-04-02T00:00:00+00:00"
# (offer i, created, risk) per upload, in upload order.
FIRST = [(i, MARCH, "low") for i in range(20)]
SECOND = [
    *((i, "2026-03-10T00:00:00+00:00", "high") for i in range(10, 15)),  # corrections, newer
    (15, APRIL, "high"),  # corrected into April: leaves the March partition
    *((i, "2026-03-10T00:00:00+00:00", "medium") for i in range(16, 20)),
    *((i, "2026-03-05T00:00:00+00:00", "low") for i in range(20, 30)),  # new offers
    (5, "2026-02-01T00:00:00+00:00", "high"),  # re-sent with an older `created`: the table's row stays
]
THIRD = [(i, APRIL, "medium") for i in (0, 1, 30)]  # two corrections into April, one new offer


def write(folder: Path, name: str, rows: list[tuple[int, str, str]]) -> Path:
    path = folder / name
    lines = [offers_row(i, created=created, risk=risk) for i, created, risk in rows]
    path.write_text("\n".join([OFFERS_HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def model(*uploads: list[tuple[int, str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """The reference: per (account, offer_id), the (created, risk) of the highest `created`, ties to the later
    upload; computed from the files alone."""
    best: dict[tuple[str, str], tuple[str, int, str]] = {}
    for order, rows in enumerate(uploads):
        for i, created, risk in rows:
            key = (f"{10000000 + i}", str(100000000000 + i))
            if key not in best or (created, order) >= best[key][:2]:
                best[key] = (created, order, risk)
    return {k: (v[0], v[2]) for k, v in best.items()}


def table(emu: Emulator) -> dict[tuple[str, str], tuple[str, str]]:
    """The curated offers table as the catalog presents it, by key; fails on a key that appears twice."""
    rows = catalog_rows(emu, "offers")
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for row in rows:
        key = (str(row["account"]), str(row["offer_id"]))
        assert key not in found, f"key {key} appears twice in the curated table"
        found[key] = (row["created"].isoformat(), row["risk"])
    return found


def expected_partitions(reference: dict[tuple[str, str], tuple[str, str]]) -> set[str]:
    return {f"year={int(c[:4])}/month={int(c[5:7])}" for c, _ in reference.values()}


def served(emu: Emulator) -> dict[tuple[str, str], str]:
    items = emu.client("dynamodb").scan(TableName=emu.stack.serving_table)["Items"]
    return {(i["pk"]["S"].split("#", 1)[1], i["sk"]["S"]): i["risk"]["S"] for i in items}


def datetime_text(text: str) -> str:
    """A CSV `created` as the curated timestamp (UTC) prints."""
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


def normalised(reference: dict[tuple[str, str], tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    return {k: (datetime_text(c), r) for k, (c, r) in reference.items()}


@pytest.fixture(scope="module", params=["lambda", "glue"])
def merged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    engine = request.param
    folder = tmp_path_factory.mktemp(f"merge-{engine}")
    # The Glue session also keeps no superseded version (CuratedVersionRetentionDays=0); the Lambda one the default 7 days.
    parameters = {"SmallFileMaxBytes": "0", "CuratedVersionRetentionDays": "0"} if engine == "glue" else None
    with Emulator(log_file=folder / "lambda.log", parameters=parameters) as emu:
        runner = Runner(emu, progress=lambda _: None)
        ends: dict[str, Any] = {}

        def after(name: str, result: ExecutionResult) -> None:
            ends[name] = {
                "result": result.to_json(),
                "table": table(emu),
                "files": catalog_files(emu, "offers"),
                "lake": sorted(
                    o["Key"]
                    for page in emu.client("s3")
                    .get_paginator("list_objects_v2")
                    .paginate(Bucket=emu.stack.lake_bucket, Prefix="curated/offers/")
                    for o in page.get("Contents", [])
                ),
                "served": served(emu),
                "serving_items": (result.loaded or {}).get("serving_items"),
                "lease": emu.client("dynamodb")
                .get_item(TableName=emu.stack.runs_table, Key=lease_key("offers"))
                .get("Item"),
            }

        (first,) = runner.run([RunInput("offers", write(folder, "offers-1.csv", FIRST))])
        after("first", first)
        (second,) = runner.run([RunInput("offers", write(folder, "offers-2.csv", SECOND))])
        after("second", second)
        after("rerun", runner.rerun(second))
        with FaultInjector(emu, [parse_fault("Archive=ArchiveFailedForTestError:1")]):
            key, arn = runner.upload(RunInput("offers", write(folder, "offers-3.csv", THIRD)))
            failed = runner.follow(arn, "offers", key)
            after("failed", failed)
            after("redriven", runner.redrive_failed(failed))
        yield {"engine": engine, **ends}


def test_first_upload_inserts_every_key(merged: dict[str, Any]) -> None:
    first = merged["first"]
    assert first["result"]["status"] == "SUCCEEDED"
    assert first["result"]["engine"] == merged["engine"]
    assert first["result"]["merge"] == {"inserted": 20, "updated": 0, "unchanged": 0}
    assert first["serving_items"] == 20
    assert first["table"] == normalised(model(FIRST))


def test_second_upload_sharing_keys_leaves_one_row_per_key_the_winner_by_created(
    merged: dict[str, Any],
) -> None:
    second = merged["second"]
    reference = normalised(model(FIRST, SECOND))
    assert second["result"]["status"] == "SUCCEEDED"
    assert len(second["table"]) == 30
    assert second["table"] == reference
    assert second["table"][("10000005", "100000000005")] == (
        datetime_text(MARCH),
        "low",
    )  # the older re-send lost
    assert second["table"][("10000015", "100000000015")] == (datetime_text(APRIL), "high")  # moved to April
    assert (
        set(second["files"]) == expected_partitions(reference) == {"year=2026/month=3", "year=2026/month=4"}
    )
    # 10 new offers; 10 corrected (one of them moved); offer 5's older re-send changes nothing
    assert second["result"]["merge"] == {"inserted": 10, "updated": 10, "unchanged": 1}
    assert second["served"] == {k: r for k, (_, r) in reference.items()}
    # Only the rows the upload won are served again: not offer 5 (its older re-send lost), nor the ten March
    # offers it did not send, though Load published their partition's new version.
    assert second["serving_items"] == 20
    assert second["lease"] is None  # released by Archive


def test_rerun_of_the_second_upload_changes_no_row(merged: dict[str, Any]) -> None:
    rerun = merged["rerun"]
    assert rerun["result"]["status"] == "SUCCEEDED"
    assert rerun["table"] == merged["second"]["table"]
    assert rerun["result"]["merge"] == {"inserted": 0, "updated": 0, "unchanged": 21}
    assert rerun["served"] == merged["second"]["served"]
    assert rerun["serving_items"] == 20  # the rerun's rows replace their own (the same values); offer 5 lost


def test_failed_execution_releases_the_lease_and_its_redrive_merges_once(merged: dict[str, Any]) -> None:
    failed, redriven = merged["failed"], merged["redriven"]
    reference = normalised(model(FIRST, SECOND, THIRD))
    assert failed["result"]["status"] == "FAILED"
    assert failed["lease"] is None  # OnExecutionFailed released it
    assert failed["table"] == reference  # Load published before Archive failed
    assert redriven["result"]["status"] == "SUCCEEDED"
    assert redriven["result"]["redrives"][0]["from_state"] == "Archive"
    assert redriven["table"] == reference
    assert len(redriven["table"]) == 31
    assert redriven["served"] == {k: r for k, (_, r) in reference.items()}


def test_superseded_versions_stay_for_the_retention_and_are_then_deleted(merged: dict[str, Any]) -> None:
    end = merged["redriven"]
    current = sorted(key for keys in end["files"].values() for key in keys)
    assert set(current) <= set(end["lake"])
    if merged["engine"] == "glue":  # CuratedVersionRetentionDays=0: only what the catalog names is left
        assert end["lake"] == current
    else:  # 7 days: every version of the four publishes is still there to roll back to
        assert len(end["lake"]) > len(current)
        assert set(merged["second"]["lake"]) <= set(end["lake"])
