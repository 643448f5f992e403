"""The runs ledger: Validate's conditional claim, the steps' ownership guard, duplicates and reruns."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from steps_aws import SETTINGS, Aws, emulated_aws

from sluice_lib.errors import DuplicateExecutionError, LedgerConflictError
from sluice_lib.ledger import Ledger, execution_running
from sluice_lib.models import SourceObject

SOURCE = SourceObject(
    bucket=SETTINGS.raw_bucket, key="incoming/offers/offers_2025-03-01.csv", version_id="v-1", size=10
)
STARTED = "2025-03-01T12:00:01.234Z"
NEVER_STARTED = "arn:aws:states:us-east-1:123456789012:execution:sluice-local-pipeline:never-started"


@pytest.fixture
def aws() -> Iterator[Aws]:
    with emulated_aws() as aws:
        yield aws


@pytest.fixture
def sfn(aws: Aws) -> Any:
    """Step Functions without execution: a started execution stays RUNNING until it is stopped."""
    client = boto3.client("stepfunctions", region_name="us-east-1")
    client.create_state_machine(
        name="sluice-local-pipeline",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/sluice-local-pipeline",
    )
    return client


def start(sfn: Any, name: str) -> str:
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    arn: str = sfn.start_execution(stateMachineArn=machine, name=name, input="{}")["executionArn"]
    return arn


def claim(aws: Aws, sfn: Any, arn: str, ledger: Ledger | None = None) -> Any:
    return (ledger or aws.ledger).claim(
        SOURCE, execution_arn=arn, run_id=arn.rsplit(":", 1)[-1], started_at=STARTED, sfn=sfn
    )


def item(aws: Aws) -> dict[str, Any]:
    found = aws.ledger.get(SOURCE)
    assert found is not None
    return found


def test_claim_of_a_new_object_version_makes_the_execution_owner_and_running(aws: Aws, sfn: Any):
    arn = start(sfn, "first")

    result = claim(aws, sfn, arn)

    assert (result.previous_status, result.previous_execution, result.took_over) == (None, None, False)
    stored = item(aws)
    assert (stored["status"], stored["execution_arn"], stored["run_id"]) == ("RUNNING", arn, "first")
    assert (stored["step"], stored["started_at"], stored["dataset"]) == ("Validate", STARTED, "offers")


def test_claim_repeated_by_the_same_execution_a_retried_validate_succeeds(aws: Aws, sfn: Any):
    arn = start(sfn, "first")
    claim(aws, sfn, arn)

    again = claim(aws, sfn, arn)

    assert (again.previous_status, again.previous_execution) == ("RUNNING", arn)
    assert item(aws)["execution_arn"] == arn


def test_claim_while_another_running_execution_owns_it_raises_duplicate_and_keeps_the_owner(
    aws: Aws, sfn: Any
):
    owner, duplicate = start(sfn, "owner"), start(sfn, "duplicate")
    claim(aws, sfn, owner)

    with pytest.raises(DuplicateExecutionError, match=r"is being processed by .*:owner"):
        claim(aws, sfn, duplicate)

    stored = item(aws)
    assert (stored["status"], stored["execution_arn"]) == ("RUNNING", owner)
    assert aws.dynamodb.get_item(
        TableName=SETTINGS.runs_table, Key={"pk": {"S": stored["pk"]}, "sk": {"S": "v-1"}}
    )["Item"]["duplicate_executions"] == {"SS": [duplicate]}


def test_claim_after_the_owner_stopped_without_marking_the_ledger_takes_over(aws: Aws, sfn: Any):
    owner, rerun = start(sfn, "owner"), start(sfn, "rerun")
    claim(aws, sfn, owner)
    sfn.stop_execution(executionArn=owner, error="States.Aborted")

    result = claim(aws, sfn, rerun)

    assert (result.previous_status, result.previous_execution, result.took_over) == ("RUNNING", owner, True)
    assert item(aws)["execution_arn"] == rerun


def test_claim_when_the_owner_execution_does_not_exist_takes_over(aws: Aws, sfn: Any):
    claim(aws, sfn, NEVER_STARTED)
    rerun = start(sfn, "rerun")

    result = claim(aws, sfn, rerun)

    assert result.took_over is True
    assert item(aws)["execution_arn"] == rerun


def test_claim_after_a_failed_run_starts_a_new_run_without_the_old_outcome(aws: Aws, sfn: Any):
    first, rerun = start(sfn, "first"), start(sfn, "rerun")
    claim(aws, sfn, first)
    aws.ledger.update(
        SOURCE, "FAILED", failed_state="Load", error="CatalogUpdateError", cause="denied", rows_loaded=3
    )

    result = claim(aws, sfn, rerun)

    assert (result.previous_status, result.previous_execution, result.took_over) == ("FAILED", first, False)
    stored = item(aws)
    assert (stored["status"], stored["execution_arn"]) == ("RUNNING", rerun)
    assert {"failed_state", "error", "cause", "rows_loaded"}.isdisjoint(stored)


def test_claim_after_a_succeeded_run_a_console_rerun_claims_again(aws: Aws, sfn: Any):
    first, rerun = start(sfn, "first"), start(sfn, "rerun")
    claim(aws, sfn, first)
    aws.ledger.advance(SOURCE, first, "Archive", status="SUCCEEDED", archive_uri="s3://raw/archive/x.csv")

    result = claim(aws, sfn, rerun)

    assert result.previous_status == "SUCCEEDED"
    stored = item(aws)
    assert (stored["status"], stored["execution_arn"]) == ("RUNNING", rerun)
    assert "archive_uri" not in stored


class AtomicWrites:
    """DynamoDB applies a conditional write atomically; moto checks the condition and writes without a
    lock, so two threads can both pass it. This serialises each call, as the service does per item."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lock = threading.Lock()

    def update_item(self, **kwargs: Any) -> Any:
        with self.lock:
            return self.inner.update_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_claim_by_two_executions_at_once_lets_exactly_one_win(aws: Aws, sfn: Any):
    arns = [start(sfn, "left"), start(sfn, "right")]
    barrier = threading.Barrier(2)
    dynamodb = AtomicWrites(aws.dynamodb)
    outcomes: dict[str, str] = {}

    class TogetherLedger(Ledger):
        """Both claimers read the free item before either writes: the conditional write decides."""

        def get(self, source: SourceObject) -> dict[str, Any] | None:
            found = super().get(source)
            if threading.current_thread().name.startswith("claim-") and not getattr(self, "_met", False):
                self._met = True
                barrier.wait(timeout=10)
            return found

    def run(arn: str) -> None:
        try:
            claim(aws, sfn, arn, ledger=TogetherLedger(dynamodb, SETTINGS.runs_table))
            outcomes[arn] = "owner"
        except DuplicateExecutionError:
            outcomes[arn] = "duplicate"

    threads = [threading.Thread(target=run, args=(arn,), name=f"claim-{i}") for i, arn in enumerate(arns)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes.values()) == ["duplicate", "owner"]
    winner = next(arn for arn, outcome in outcomes.items() if outcome == "owner")
    assert item(aws)["execution_arn"] == winner


def test_advance_by_the_owner_records_the_step_and_its_fields(aws: Aws, sfn: Any):
    arn = start(sfn, "first")
    claim(aws, sfn, arn)

    aws.ledger.advance(SOURCE, arn, "Load", rows_loaded=42)

    stored = item(aws)
    assert (stored["status"], stored["step"], stored["rows_loaded"]) == ("RUNNING", "Load", 42)


def test_advance_of_a_redriven_execution_turns_its_failed_run_running_again(aws: Aws, sfn: Any):
    arn = start(sfn, "first")
    claim(aws, sfn, arn)
    aws.ledger.update(SOURCE, "FAILED", failed_state="Load")

    aws.ledger.advance(SOURCE, arn, "Load")

    assert (item(aws)["status"], item(aws)["execution_arn"]) == ("RUNNING", arn)


def test_advance_by_an_execution_that_lost_the_run_raises_duplicate_and_writes_nothing(aws: Aws, sfn: Any):
    first, rerun = start(sfn, "first"), start(sfn, "rerun")
    claim(aws, sfn, first)
    aws.ledger.update(SOURCE, "FAILED")
    claim(aws, sfn, rerun)

    with pytest.raises(DuplicateExecutionError, match=r":rerun owns the run now"):
        aws.ledger.advance(SOURCE, first, "Load", rows_loaded=1)

    stored = item(aws)
    assert (stored["execution_arn"], stored["step"]) == (rerun, "Validate")
    assert "rows_loaded" not in stored


def test_advance_without_a_claimed_item_raises_ledger_conflict(aws: Aws):
    with pytest.raises(LedgerConflictError, match="found None"):
        aws.ledger.advance(SOURCE, NEVER_STARTED, "Load")


def test_advance_of_a_status_the_step_does_not_allow_raises_ledger_conflict(aws: Aws, sfn: Any):
    arn = start(sfn, "first")
    claim(aws, sfn, arn)
    aws.ledger.advance(SOURCE, arn, "RejectFile", status="REJECTED")

    with pytest.raises(LedgerConflictError, match="'REJECTED'"):
        aws.ledger.advance(SOURCE, arn, "Load")


def test_execution_running_is_true_while_running_and_false_once_stopped_or_unknown(sfn: Any):
    arn = start(sfn, "first")
    assert execution_running(sfn, arn) is True

    sfn.stop_execution(executionArn=arn)

    assert execution_running(sfn, arn) is False
    assert execution_running(sfn, NEVER_STARTED) is False


def test_record_failure_of_the_owner_marks_the_run_failed(aws: Aws, sfn: Any):
    arn = start(sfn, "first")
    claim(aws, sfn, arn)

    recorded = aws.ledger.record_failure(SOURCE, arn, failed_state="Load", error="CatalogUpdateError")

    assert recorded is True
    stored = item(aws)
    assert (stored["status"], stored["failed_state"], stored["error"]) == (
        "FAILED",
        "Load",
        "CatalogUpdateError",
    )


def test_record_failure_after_a_rerun_claimed_the_run_leaves_the_rerun_alone(aws: Aws, sfn: Any):
    first, rerun = start(sfn, "first"), start(sfn, "rerun")
    claim(aws, sfn, first)
    sfn.stop_execution(executionArn=first)
    claim(aws, sfn, rerun)  # takes over before the first one's failure handler ran

    recorded = aws.ledger.record_failure(SOURCE, first, failed_state="Transform", error="States.TaskFailed")

    assert recorded is False
    stored = item(aws)
    assert (stored["status"], stored["execution_arn"]) == ("RUNNING", rerun)
    assert "failed_state" not in stored
