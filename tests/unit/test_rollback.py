"""Rolling a keyed table back to the state after a run, in the emulated lake, catalog and runs table: merges are
transformed by the DuckDB engine from the files the catalog names and published as Load publishes them (the
ledger item gets its `versions`); after each rollback the table the catalog presents equals a dict by key of the
files up to the run, computed here from the rows alone. Every refusal leaves the catalog as it was."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from steps_aws import SETTINGS, Aws, emulated_aws
from test_merge_lambda_engine import DAYS, KEYED, _stage

from sluice_lib.catalog_files import current_files, current_locations
from sluice_lib.contracts import ContractStore, load_contract_text, parse_contract
from sluice_lib.curated import Lineage
from sluice_lib.errors import (
    ContractNotFoundError,
    DatasetBusyError,
    DatasetNotKeyedError,
    RunNotFoundError,
    RunNotPublishedError,
    StaleMergeError,
    UnsafeRollbackTargetError,
    VersionRemovedError,
)
from sluice_lib.lake import read_manifest, read_manifest_json
from sluice_lib.lease import acquire, bump_generation, lease_key, read_generation
from sluice_lib.ledger import plain_item, typed_item
from sluice_lib.merge import partition_pairs
from sluice_lib.merge_publish import publish_merge, version_name
from sluice_lib.retention import remove_expired_versions
from sluice_lib.rollback import rollback
from sluice_lib.steps.load import version_list
from sluice_lib.transform_lambda.engine import transform_folder

LAKE, DB, RUNS = SETTINGS.lake_bucket, SETTINGS.glue_database, SETTINGS.runs_table
START = datetime(2025, 5, 1, tzinfo=UTC)
D1, D2, D3 = (f"day={d.isoformat()}" for d in DAYS[:3])
NULL_DAY = "day=__HIVE_DEFAULT_PARTITION__"
ROSTER = KEYED.replace("dataset: people", "dataset: roster").replace("  partition_by: {columns: [day]}\n", "")
EVENTS = (
    KEYED.replace("dataset: people", "dataset: events")
    .replace("  primaryKey: [id]\n", "")
    .replace("  dedupe: {order_by: version}\n", "")
)

# (id, name, day, version) per upload of `people`
R0 = [(1, "a", DAYS[0], 1), (2, "b", DAYS[1], 1), (3, "c", DAYS[2], 1)]
R1 = [(1, "a2", DAYS[0], 2), (3, "c", None, 2)]  # replaces day 1; 3 moves to the null day: day 3 emptied
R2 = [(2, "b3", DAYS[1], 3), (6, "f", DAYS[1], 3)]  # replaces day 2
R3 = [(1, "a4", DAYS[0], 4)]  # after the rollback to r0: merges against r0's day 1


def model(*uploads: list[tuple[int, str, date | None, int]]) -> dict[int, tuple[str, date | None, int]]:
    """Per id, the row with the highest version (the contract's dedupe order), ties to the later upload."""
    best: dict[int, tuple[str, date | None, int]] = {}
    for rows in uploads:
        for i, name, day, version in rows:
            if i not in best or version >= best[i][2]:
                best[i] = (name, day, version)
    return best


@dataclass
class Lake:
    aws: Aws
    tmp: Path
    contracts: ContractStore
    clock: datetime = START
    steps: int = 0
    versions: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # run id -> ledger `versions`

    def tick(self) -> datetime:
        self.clock += timedelta(hours=1)
        return self.clock

    def merge(self, dataset: str, rows: list, run_id: str) -> None:
        """Transforms `rows` against the table the catalog presents and publishes them as Load does; the ledger
        item gets `loaded_at` and `versions`."""
        self.steps += 1
        step, at = self.steps, self.tick()
        existing = self._download(current_files(self.aws.s3, self.aws.glue, DB, dataset), f"existing{step}")
        staging = _stage(self.tmp / f"staging{step}" / f"ingest_id=i{step}", rows)
        out = self.tmp / f"out{step}"
        contract = self.contracts.get(dataset)
        assert contract is not None
        transform_folder(
            staging, out, contract, run_id=run_id, lineage=Lineage(f"i{step}", "k", at), existing=existing
        )
        for path in out.rglob("*"):
            if path.is_file():
                self.aws.s3.upload_file(
                    str(path), LAKE, f"transform/{run_id}/{path.relative_to(out).as_posix()}"
                )
        output_uri = f"s3://{LAKE}/transform/{run_id}/"
        versions = publish_merge(
            self.aws.s3, self.aws.glue, manifest=read_manifest(self.aws.s3, output_uri),
            merge=read_manifest_json(self.aws.s3, output_uri)["merge"], output_uri=output_uri, lake_bucket=LAKE,
            database=DB, version=version_name(at.isoformat(), run_id), ingest_id=f"i{step}",
        )  # fmt: skip
        self.versions[run_id] = version_list(versions)
        ledger_item(
            self.aws, dataset, run_id, f"{step}.csv", status="SUCCEEDED", loaded_at=iso(at),
            finished_at=iso(at), versions=self.versions[run_id],
        )  # fmt: skip

    def rollback(self, dataset: str, to_run: str, **kwargs: Any) -> Any:
        return rollback(
            s3=self.aws.s3, glue=self.aws.glue, dynamodb=self.aws.dynamodb, contracts=self.contracts,
            runs_table=RUNS, database=DB, dataset=dataset, to_run=to_run, now=self.tick(), **kwargs,
        )  # fmt: skip

    def table(self, dataset: str = "people") -> dict[int, tuple[str, date | None, int]]:
        """The table as the catalog presents it, by id; fails on an id that appears twice."""
        found: dict[int, tuple[str, date | None, int]] = {}
        self.steps += 1
        files = self._download(current_files(self.aws.s3, self.aws.glue, DB, dataset), f"read{self.steps}")
        for partition, paths in files.items():
            day_text = dict(partition_pairs(partition)).get("day")
            for path in paths:
                for row in pq.read_table(path).to_pylist():
                    assert row["id"] not in found, f"id {row['id']} appears twice"
                    day = row["day"] if "day" in row else (date.fromisoformat(day_text) if day_text else None)
                    found[row["id"]] = (row["name"], day, row["version"])
        return found

    def locations(self, dataset: str = "people") -> dict[str, str]:
        return current_locations(self.aws.glue, DB, dataset)

    def _download(self, existing: dict[str, list[str]], folder: str) -> dict[str, list[str]]:
        local: dict[str, list[str]] = {}
        for partition, uris in existing.items():
            for uri in uris:
                bucket, key = uri.removeprefix("s3://").split("/", 1)
                path = self.tmp / folder / f"{len(local)}-{len(local.get(partition, []))}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                self.aws.s3.download_file(bucket, key, str(path))
                local.setdefault(partition, []).append(str(path))
        return local


def iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ledger_item(aws: Aws, dataset: str, run_id: str, name: str, **fields: Any) -> None:
    """A run's ledger item as the steps leave it (`pk` the source object, `sk` its version)."""
    item = {"pk": f"{SETTINGS.raw_bucket}/incoming/{dataset}/{name}", "sk": "-", "dataset": dataset}
    aws.dynamodb.put_item(TableName=RUNS, Item=typed_item({**item, "run_id": run_id, **fields}))


def rollback_items(aws: Aws, dataset: str = "people") -> list[dict[str, Any]]:
    items = aws.dynamodb.query(
        TableName=RUNS,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :r)",
        ExpressionAttributeValues={":pk": {"S": f"lease#{dataset}"}, ":r": {"S": "rollback#"}},
    )["Items"]
    return [plain_item(i) for i in items]


def version_of(location: str | None) -> str | None:
    return None if location is None else location.rstrip("/").rsplit("/", 1)[-1]


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    folder = tmp_path / "contracts"
    folder.mkdir()
    for text in (KEYED, ROSTER, EVENTS):
        name = parse_contract(load_contract_text(text), "test").dataset
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    with emulated_aws() as aws:
        yield Lake(aws, tmp_path, ContractStore(folder))


@pytest.fixture
def merged(lake: Lake) -> Lake:
    """`people` after three merges: r0 adds days 1-3, r1 replaces day 1 and moves 3 to the null day (day 3
    emptied, the null day added), r2 replaces day 2."""
    for run_id, rows in (("r0", R0), ("r1", R1), ("r2", R2)):
        lake.merge("people", rows, run_id)
    assert lake.table() == model(R0, R1, R2)
    assert set(lake.locations()) == {D1, D2, NULL_DAY}
    return lake


def test_rollback_to_the_first_run_switches_replaced_drops_added_and_recreates_emptied_partitions(
    merged: Lake,
):
    before = merged.locations()

    result = merged.rollback("people", "r0")

    assert merged.table() == model(R0)
    after = merged.locations()
    r0 = {v["partition"]: v["current"] for v in merged.versions["r0"]}
    assert after == {D1: r0[D1], D2: r0[D2], D3: r0[D3]}  # every partition at r0's version, the null day gone
    assert {c.partition: (c.action, version_of(c.before), version_of(c.after)) for c in result.changes} == {
        D1: ("switch", "v20250501T020000Z-r1", "v20250501T010000Z-r0"),
        D2: ("switch", "v20250501T030000Z-r2", "v20250501T010000Z-r0"),
        D3: ("create", None, "v20250501T010000Z-r0"),
        NULL_DAY: ("drop", "v20250501T020000Z-r1", None),
    }
    assert before[D1] != after[D1]
    (item,) = rollback_items(merged.aws)
    assert (item["kind"], item["to_run"], item["rollback_id"]) == ("rollback", "r0", result.rollback_id)
    assert {v["partition"]: (v["previous"], v["current"]) for v in item["versions"]} == {
        D1: (before[D1], r0[D1]), D2: (before[D2], r0[D2]), D3: ("", r0[D3]), NULL_DAY: (before[NULL_DAY], ""),
    }  # fmt: skip
    lease = merged.aws.dynamodb.get_item(TableName=RUNS, Key=lease_key("people")).get("Item")
    assert lease is None  # released


def test_rollback_then_roll_forward_to_later_runs_restores_each_state(merged: Lake):
    merged.rollback("people", "r0")

    merged.rollback("people", "r1")
    assert merged.table() == model(R0, R1)
    assert set(merged.locations()) == {D1, D2, NULL_DAY}

    merged.rollback("people", "r2")
    assert merged.table() == model(R0, R1, R2)
    assert len(rollback_items(merged.aws)) == 3


def test_rollback_to_the_state_the_catalog_has_changes_nothing_and_records_nothing(merged: Lake):
    before = merged.locations()

    result = merged.rollback("people", "r2")

    assert result.changes == [] and result.rollback_id is None
    assert merged.locations() == before
    assert rollback_items(merged.aws) == []
    assert read_generation(merged.aws.dynamodb, RUNS, "people") == 0


def test_merge_after_a_rollback_merges_against_the_rolled_back_table_and_a_later_rollback_still_works(
    merged: Lake,
):
    merged.rollback("people", "r0")
    r0_day1 = merged.locations()[D1]

    merged.merge("people", R3, "r3")

    assert merged.table() == model(R0, R3)
    r3 = {v["partition"]: v for v in merged.versions["r3"]}
    assert set(r3) == {D1}
    assert r3[D1]["previous"] == r0_day1  # the ledger's previous: the rolled-back location

    merged.rollback("people", "r2")  # its versions are still there (7 days' retention)
    assert merged.table() == model(R0, R1, R2)
    merged.rollback("people", "r3")
    assert merged.table() == model(R0, R3)


def test_rollback_of_an_unpartitioned_table_switches_the_table_location(lake: Lake):
    lake.merge("roster", [(1, "a", None, 1), (2, "b", None, 1)], "u0")
    first = lake.locations("roster")
    lake.merge("roster", [(1, "a2", None, 2), (3, "c", None, 2)], "u1")
    assert lake.table("roster") == {1: ("a2", None, 2), 2: ("b", None, 1), 3: ("c", None, 2)}

    result = lake.rollback("roster", "u0")

    assert [(c.partition, c.action) for c in result.changes] == [("", "switch")]
    assert lake.locations("roster") == first
    assert lake.table("roster") == {1: ("a", None, 1), 2: ("b", None, 1)}


def test_dry_run_plans_the_switches_and_changes_nothing(merged: Lake):
    before = merged.locations()

    result = merged.rollback("people", "r0", dry_run=True)

    assert result.dry_run
    assert [(c.partition, c.action) for c in result.changes] == [
        (D1, "switch"), (D2, "switch"), (D3, "create"), (NULL_DAY, "drop"),
    ]  # fmt: skip
    assert merged.locations() == before
    assert merged.table() == model(R0, R1, R2)
    assert rollback_items(merged.aws) == []
    assert read_generation(merged.aws.dynamodb, RUNS, "people") == 0
    assert merged.aws.dynamodb.get_item(TableName=RUNS, Key=lease_key("people")).get("Item") is None


def test_rollback_bumps_the_publish_generation_so_a_stale_redriven_load_is_refused(merged: Lake):
    read = read_generation(merged.aws.dynamodb, RUNS, "people")  # what a transform before the rollback read

    result = merged.rollback("people", "r0")

    assert result.generation == read + 1 == read_generation(merged.aws.dynamodb, RUNS, "people")
    with pytest.raises(StaleMergeError, match="published a merge since"):
        bump_generation(merged.aws.dynamodb, RUNS, "people", read, "arn:aws:states:::execution:sm:redriven")


def test_rollback_while_a_merge_holds_the_lease_is_refused_and_changes_nothing(merged: Lake):
    acquire(merged.aws.dynamodb, RUNS, "people", "arn:aws:states:::execution:sm:merging", 600)
    before = merged.locations()

    with pytest.raises(
        DatasetBusyError, match=r"cannot roll back now: people: arn:aws:states:::execution:sm:merging"
    ):
        merged.rollback("people", "r0")

    assert merged.locations() == before
    assert read_generation(merged.aws.dynamodb, RUNS, "people") == 0
    lease = merged.aws.dynamodb.get_item(TableName=RUNS, Key=lease_key("people"))["Item"]
    assert lease["holder"]["S"] == "arn:aws:states:::execution:sm:merging"  # still the merge's


def test_rollback_to_a_version_retention_removed_is_refused_before_any_switch(merged: Lake):
    r0_day2 = next(v["current"] for v in merged.versions["r0"] if v["partition"] == D2)
    gone = remove_expired_versions(
        merged.aws.s3, merged.aws.glue, database=DB, lake_bucket=LAKE, dataset="people", partitions=[D2], days=0,
    )  # fmt: skip
    assert gone and all(key.startswith(r0_day2.split("/", 3)[3]) for key in gone)
    before = merged.locations()

    with pytest.raises(VersionRemovedError) as refused:
        merged.rollback("people", "r0")

    assert str(refused.value) == (
        "people: the state after run r0 cannot be restored: retention removed the version it needs (they are kept "
        f"CuratedVersionRetentionDays after being superseded); no files at partition {D2}: {r0_day2}. Nothing was "
        "changed"
    )
    assert merged.locations() == before  # day 1, listed first, was not switched either
    assert read_generation(merged.aws.dynamodb, RUNS, "people") == 0
    assert rollback_items(merged.aws) == []
    assert merged.aws.dynamodb.get_item(TableName=RUNS, Key=lease_key("people")).get("Item") is None
    with pytest.raises(VersionRemovedError, match=f"after run r1 .* no files at partition {D2}"):
        merged.rollback("people", "r1")  # after r1, day 2 was still r0's version


def test_retention_after_a_rollback_keeps_the_older_version_the_catalog_names_and_the_newer_ones(
    merged: Lake,
):
    merged.rollback("people", "r0")
    named = current_files(merged.aws.s3, merged.aws.glue, DB, "people")

    deleted = remove_expired_versions(
        merged.aws.s3, merged.aws.glue, database=DB, lake_bucket=LAKE, dataset="people",
        partitions=[D1, D2, D3, NULL_DAY], days=7, now=merged.clock,
    )  # fmt: skip

    assert deleted == []
    assert current_files(merged.aws.s3, merged.aws.glue, DB, "people") == named
    merged.rollback("people", "r2")  # the newer versions are still there
    assert merged.table() == model(R0, R1, R2)


def test_rollback_of_an_unknown_dataset_is_refused(lake: Lake):
    with pytest.raises(ContractNotFoundError) as refused:
        lake.rollback("nope", "r0")
    assert str(refused.value) == (
        f"no contract for dataset 'nope' in {lake.contracts.root} (known: events, people, roster)"
    )


def test_rollback_of_an_append_only_dataset_is_refused(lake: Lake):
    with pytest.raises(DatasetNotKeyedError) as refused:
        lake.rollback("events", "r0")
    assert str(refused.value) == (
        "events: the contract has no schema.primaryKey, so its curated table is append-only: runs add files and "
        "keep no partition versions to roll back to"
    )


def test_rollback_to_an_unknown_run_is_refused_naming_the_runs_that_published(merged: Lake):
    with pytest.raises(RunNotFoundError) as refused:
        merged.rollback("people", "r99")
    assert str(refused.value) == (
        f"people: the ledger ({RUNS}) has no run r99 (a rerun of a file replaces its run's ledger item and run id); "
        "runs of people that published a merge: r2 (loaded 2025-05-01T03:00:00.000Z), "
        "r1 (loaded 2025-05-01T02:00:00.000Z), r0 (loaded 2025-05-01T01:00:00.000Z)"
    )


def test_rollback_to_a_run_of_another_dataset_is_refused(merged: Lake):
    merged.merge("roster", [(1, "a", None, 1)], "u0")

    with pytest.raises(RunNotFoundError) as refused:
        merged.rollback("people", "u0")
    assert str(refused.value) == "run u0 is a run of dataset roster, not of people"


def test_rollback_to_a_run_that_did_not_publish_is_refused(merged: Lake):
    ledger_item(
        merged.aws, "people", "rejected", "bad.csv", status="REJECTED", finished_at="2025-05-02T00:00:00.000Z"
    )
    ledger_item(
        merged.aws, "people", "failed", "failed.csv", status="FAILED", failed_state="TransformInLambda",
        finished_at="2025-05-02T00:00:00.000Z",
    )  # fmt: skip
    ledger_item(merged.aws, "people", "running", "running.csv", status="RUNNING", step="Validate")

    with pytest.raises(
        RunNotPublishedError, match=r"^people: run rejected published no merge \(status REJECTED\)"
    ):
        merged.rollback("people", "rejected")
    with pytest.raises(RunNotPublishedError) as failed:
        merged.rollback("people", "failed")
    assert str(failed.value).startswith(
        "people: run failed published no merge (status FAILED, failed at TransformInLambda), so the table never "
        "had a state after it; runs of people that did: r2 (loaded"
    )
    with pytest.raises(RunNotPublishedError) as running:
        merged.rollback("people", "running")
    assert str(running.value) == (
        "people: run running has not ended (status RUNNING, at Validate): wait for it to end, then roll back"
    )


def test_rollback_to_plain_append_files_under_later_version_folders_is_refused(merged: Lake):
    # day 2 before its first merge held a plain append's files directly in its directory (no version folder)
    directory = f"s3://{LAKE}/curated/people/{D2}/"
    merged.aws.s3.put_object(Bucket=LAKE, Key=f"curated/people/{D2}/part-old-00000.snappy.parquet", Body=b"x")
    ledger_item(
        merged.aws, "people", "r2", "3.csv", status="SUCCEEDED", loaded_at="2025-05-01T03:00:00.000Z",
        finished_at="2025-05-01T03:00:00.000Z",
        versions=[{"partition": D2, "previous": directory, "current": merged.locations()[D2]}],
    )  # fmt: skip
    ledger_item(
        merged.aws, "people", "r0", "1.csv", status="SUCCEEDED", loaded_at="2025-05-01T01:00:00.000Z",
        finished_at="2025-05-01T01:00:00.000Z",
        versions=[v for v in merged.versions["r0"] if v["partition"] != D2],
    )  # fmt: skip
    before = merged.locations()

    with pytest.raises(
        UnsafeRollbackTargetError, match=f"partition {D2} had its plain-append files in {directory}"
    ):
        merged.rollback("people", "r0")
    assert merged.locations() == before
