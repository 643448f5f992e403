"""The dataset's publish generation (sluice_lib.lease): TakeLease reads it under the lease, Load bumps it from that
value before a merge's catalog switch; the bump passes again for the execution that made it (a retry or redrive)
and refuses, with StaleMergeError and nothing published, a Load whose transform read the table before another
execution's merge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from steps_aws import SETTINGS, Aws, claim_run, emulated_aws
from test_load import LAKE, OUTPUT, SCHEMA, SPARK_FILES, curated_keys, write_transform_output
from test_take_lease import OTHER, take

from events import load_event
from sluice_lib.errors import DatasetBusyError, StaleMergeError
from sluice_lib.lease import acquire, bump_generation, generation_key, lease_key, read_generation
from sluice_lib.models import LoadInput, SourceObject
from sluice_lib.steps.load import load_run

RUNS = SETTINGS.runs_table
LOAD_EXECUTION = load_event("load")["run"]["execution_arn"]
THIRD = "arn:aws:states:us-east-1:123456789012:execution:sluice-dev-pipeline:a-third-upload"


@pytest.fixture
def aws() -> Iterator[Aws]:
    with emulated_aws() as aws:
        yield aws


def generation_item(aws: Aws, dataset: str = "offers") -> dict[str, Any] | None:
    item = aws.dynamodb.get_item(TableName=RUNS, Key=generation_key(dataset), ConsistentRead=True).get("Item")
    if item is None:
        return None
    return {"generation": int(item["generation"]["N"]), "published_by": item["published_by"]["S"]}


def test_read_generation_of_a_dataset_never_published_is_zero(aws: Aws):
    assert read_generation(aws.dynamodb, RUNS, "offers") == 0
    assert generation_item(aws) is None


def test_take_lease_returns_the_generation_read_under_the_lease(aws: Aws):
    assert take(aws, LOAD_EXECUTION).generation == 0
    bump_generation(aws.dynamodb, RUNS, "offers", 0, OTHER)

    assert take(aws, LOAD_EXECUTION).generation == 1


def test_take_lease_append_only_contract_reads_no_generation(aws: Aws):
    assert take(aws, LOAD_EXECUTION, dataset="streams").generation is None


def test_bump_from_the_generation_read_passes_and_records_the_publisher(aws: Aws):
    assert bump_generation(aws.dynamodb, RUNS, "offers", 0, LOAD_EXECUTION) == 1
    assert bump_generation(aws.dynamodb, RUNS, "offers", 1, OTHER) == 2

    assert generation_item(aws) == {"generation": 2, "published_by": OTHER}


def test_bump_retried_by_the_execution_that_made_it_passes_again(aws: Aws):
    bump_generation(aws.dynamodb, RUNS, "offers", 0, LOAD_EXECUTION)

    assert bump_generation(aws.dynamodb, RUNS, "offers", 0, LOAD_EXECUTION) == 1
    assert generation_item(aws) == {"generation": 1, "published_by": LOAD_EXECUTION}


def test_bump_after_another_executions_bump_raises_stale_merge_naming_both_generations_and_the_fix(aws: Aws):
    bump_generation(aws.dynamodb, RUNS, "offers", 0, OTHER)

    with pytest.raises(StaleMergeError) as raised:
        bump_generation(aws.dynamodb, RUNS, "offers", 0, LOAD_EXECUTION)

    message = str(raised.value)
    assert message.startswith("offers: ")
    assert "generation 0" in message and "generation 1" in message
    assert f"{OTHER} published a merge since" in message
    assert "the upload stays in incoming/" in message
    assert (
        "start a new execution for the file (`sluice run` / a console rerun / re-upload) so that it merges "
        "against the current table" in message
    )
    assert generation_item(aws) == {"generation": 1, "published_by": OTHER}


def test_bump_by_the_first_publisher_after_a_later_one_is_stale_even_if_it_had_bumped_before(aws: Aws):
    """Its own earlier bump is overtaken: a third execution published on top of it."""
    bump_generation(aws.dynamodb, RUNS, "offers", 0, LOAD_EXECUTION)
    bump_generation(aws.dynamodb, RUNS, "offers", 1, THIRD)

    with pytest.raises(StaleMergeError, match=r"generation 0.*generation 2: .*a-third-upload published"):
        bump_generation(aws.dynamodb, RUNS, "offers", 0, LOAD_EXECUTION)


def test_bump_from_a_generation_above_zero_of_an_absent_item_raises_stale_merge(aws: Aws):
    """Only generation 0 may find no item (the item is never deleted)."""
    with pytest.raises(StaleMergeError, match="generation 1, but the table is at generation 0"):
        bump_generation(aws.dynamodb, RUNS, "offers", 1, LOAD_EXECUTION)
    assert generation_item(aws) is None


def test_generations_of_two_datasets_are_independent(aws: Aws):
    bump_generation(aws.dynamodb, RUNS, "offers", 0, OTHER)

    assert bump_generation(aws.dynamodb, RUNS, "orders", 0, LOAD_EXECUTION) == 1
    assert read_generation(aws.dynamodb, RUNS, "offers") == 1


# --- Load: the check before a merge's publish -------------------------------------------------------------------


@pytest.fixture
def merged_output(aws: Aws) -> Aws:
    """A merge's transform output for events/load.json's run: two new partitions of a table not yet published."""
    run = load_event("load")["run"]
    claim_run(aws, SourceObject.model_validate(run["source"]), run["execution_arn"])
    # A merge's files hold the lineage columns; Load serves the rows of the run's ingest (all of them here).
    files = {
        path: [{**row, "_ingest_id": run["ingest_id"]} for row in rows] for path, rows in SPARK_FILES.items()
    }
    write_transform_output(aws, files, schema=SCHEMA.append(pa.field("_ingest_id", pa.string())))
    key = f"{OUTPUT}_manifest.json"
    manifest = json.loads(aws.s3.get_object(Bucket=LAKE, Key=key)["Body"].read())
    manifest["merge"] = {
        "inserted": 4,
        "updated": 0,
        "unchanged": 0,
        "replaced": [],
        "emptied": [],
        "added": ["year=2025/month=1", "year=2025/month=2"],
    }
    aws.s3.put_object(Bucket=LAKE, Key=key, Body=json.dumps(manifest).encode())
    return aws


def load_merge(aws: Aws, lease: dict[str, Any] | None, lease_seconds: float | None = None) -> Any:
    event = {**load_event("load"), "lease": lease}
    return load_run(
        LoadInput.model_validate(event), s3=aws.s3, glue=aws.glue, dynamodb=aws.dynamodb, ledger=aws.ledger,
        lake_bucket=LAKE, glue_database=SETTINGS.glue_database, serving_table=SETTINGS.serving_table,
        lease_seconds=lease_seconds,
    )  # fmt: skip


def catalog_tables(aws: Aws) -> list[str]:
    return [t["Name"] for t in aws.glue.get_tables(DatabaseName=SETTINGS.glue_database)["TableList"]]


def test_load_merge_at_the_generation_read_publishes_and_bumps_it_again_on_a_retry(merged_output: Aws):
    aws = merged_output

    first = load_merge(aws, {"held": True, "generation": 0})
    again = load_merge(aws, {"held": True, "generation": 0})  # the Load retried or redriven

    assert first.merge is not None and first.merge.inserted == 4
    assert again.partitions == first.partitions
    assert generation_item(aws) == {"generation": 1, "published_by": LOAD_EXECUTION}
    assert len(curated_keys(aws)) == 3


def test_load_merge_after_another_executions_publish_raises_stale_merge_and_publishes_nothing(
    merged_output: Aws,
):
    aws = merged_output
    bump_generation(aws.dynamodb, RUNS, "offers", 0, OTHER)

    with pytest.raises(StaleMergeError, match="generation 0, but the table is at generation 1"):
        load_merge(aws, {"held": True, "generation": 0})

    assert curated_keys(aws) == []
    assert "offers" not in catalog_tables(aws)
    assert generation_item(aws) == {"generation": 1, "published_by": OTHER}


def test_load_merge_without_a_generation_publishes_unchecked_and_advances_it(merged_output: Aws):
    """An input from a definition before the generation existed: published as then, and later transforms that
    read the older generation are refused."""
    aws = merged_output
    bump_generation(aws.dynamodb, RUNS, "offers", 0, OTHER)

    load_merge(aws, None)

    assert generation_item(aws) == {"generation": 2, "published_by": LOAD_EXECUTION}
    assert len(curated_keys(aws)) == 3
    with pytest.raises(StaleMergeError):
        bump_generation(aws.dynamodb, RUNS, "offers", 1, THIRD)


def test_load_of_an_append_leaves_the_generation_alone(aws: Aws):
    run = load_event("load")["run"]
    claim_run(aws, SourceObject.model_validate(run["source"]), run["execution_arn"])
    write_transform_output(aws, SPARK_FILES)

    load_merge(aws, {"held": False, "generation": None})

    assert generation_item(aws) is None


# --- Load takes the lease again before a merge's publish -------------------------------------------------------


def lease_holder(aws: Aws) -> str | None:
    item = aws.dynamodb.get_item(TableName=RUNS, Key=lease_key("offers"), ConsistentRead=True).get("Item")
    return None if item is None else str(item["holder"]["S"])


def test_load_merge_redriven_after_the_release_takes_the_lease_again_and_publishes(merged_output: Aws):
    aws = merged_output  # OnExecutionFailed released the lease: no item

    load_merge(aws, {"held": True, "generation": 0}, lease_seconds=600)

    assert lease_holder(aws) == LOAD_EXECUTION  # Archive releases it
    assert generation_item(aws) == {"generation": 1, "published_by": LOAD_EXECUTION}
    assert len(curated_keys(aws)) == 3


def test_load_merge_while_another_execution_holds_the_lease_is_busy_and_publishes_nothing(merged_output: Aws):
    aws = merged_output
    acquire(
        aws.dynamodb, RUNS, "offers", OTHER, ttl_seconds=600
    )  # merging now, its transform not yet published

    with pytest.raises(DatasetBusyError, match="is merging into the curated table"):
        load_merge(aws, {"held": True, "generation": 0}, lease_seconds=600)

    assert lease_holder(aws) == OTHER
    assert generation_item(aws) is None  # not bumped: the other's bump from 0 still passes
    assert curated_keys(aws) == []
