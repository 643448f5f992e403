"""TakeLease and the lease's releases: a keyed dataset's merge lease is taken by its execution (again on a retry),
refused to another (DatasetBusyError, which the state retries), not taken for an append-only contract, and given
back by Archive and by OnExecutionFailed (by its holder only)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from steps_aws import SETTINGS, Aws, emulated_aws
from test_archive import archive, uploaded_event
from test_failures import EXECUTION, FAILED_AT_LOAD, History, failure_event, record_running

from events import load_event
from sluice_lib.contracts import ContractStore
from sluice_lib.errors import DatasetBusyError
from sluice_lib.lease import acquire, lease_key
from sluice_lib.models import ExecutionStatusChange, TakeLeaseInput
from sluice_lib.steps.on_execution_failed import on_execution_failed
from sluice_lib.steps.take_lease import take_lease

OTHER = "arn:aws:states:us-east-1:123456789012:execution:sluice-dev-pipeline:another-upload"


@pytest.fixture
def aws() -> Iterator[Aws]:
    with emulated_aws() as aws:
        yield aws


def request(execution: str, dataset: str = "offers") -> TakeLeaseInput:
    event = load_event("take_lease")
    contract = ContractStore(SETTINGS.contracts_dir).get(dataset)
    event["run"].update(execution_arn=execution, dataset=dataset, contract_json=contract.to_json())
    return TakeLeaseInput.model_validate(event)


def holder(aws: Aws, dataset: str = "offers") -> str | None:
    item = aws.dynamodb.get_item(TableName=SETTINGS.runs_table, Key=lease_key(dataset)).get("Item")
    return None if item is None else str(item["holder"]["S"])


def take(aws: Aws, execution: str, dataset: str = "offers") -> Any:
    return take_lease(
        request(execution, dataset), dynamodb=aws.dynamodb, runs_table=SETTINGS.runs_table, ttl_seconds=600
    )


def test_take_lease_keyed_dataset_is_held_by_the_execution_and_taken_again_on_a_retry(aws: Aws):
    first = take(aws, EXECUTION)
    again = take(aws, EXECUTION)

    assert (first.held, again.held) == (True, True)
    assert (
        again.expires_at is not None and first.expires_at is not None and again.expires_at >= first.expires_at
    )
    assert holder(aws) == EXECUTION


def test_take_lease_held_by_another_execution_raises_dataset_busy_naming_the_holder(aws: Aws):
    take(aws, OTHER)

    with pytest.raises(DatasetBusyError, match="another-upload is merging into the curated table"):
        take(aws, EXECUTION)
    assert holder(aws) == OTHER


def test_take_lease_append_only_contract_takes_none(aws: Aws):
    result = take(aws, EXECUTION, dataset="streams")

    assert (result.held, result.expires_at) == (False, None)
    assert holder(aws, "streams") is None


def test_on_execution_failed_releases_the_failed_executions_lease_only(aws: Aws):
    event = failure_event()
    record_running(aws, event)
    acquire(aws.dynamodb, SETTINGS.runs_table, "offers", EXECUTION, 600)
    acquire(aws.dynamodb, SETTINGS.runs_table, "users", OTHER, 600)

    on_execution_failed(
        ExecutionStatusChange.model_validate(event), sfn=History(*FAILED_AT_LOAD), sns=aws.sns,
        ledger=aws.ledger, topic_arn=SETTINGS.topic_arn,
    )  # fmt: skip

    assert holder(aws, "offers") is None
    assert holder(aws, "users") == OTHER
    take(aws, OTHER)  # the next execution of offers goes ahead
    assert holder(aws, "offers") == OTHER


def test_archive_releases_its_executions_lease_after_load(aws: Aws):
    event = uploaded_event(aws)
    acquire(aws.dynamodb, SETTINGS.runs_table, "offers", event["run"]["execution_arn"], 600)

    archive(aws, event)

    assert holder(aws) is None
