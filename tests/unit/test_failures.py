"""OnExecutionFailed: the failed state, the ledger, and exactly one notification per finished execution."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from steps_aws import SETTINGS, Aws, emulated_aws, import_handler, lambda_context

from events import load_event
from sluice_lib.models import ExecutionStatusChange, source_from_event
from sluice_lib.steps.on_execution_failed import find_failed_state, on_execution_failed

RUN_ID = "3f1c2b9e-7d4a-4e2f-9b1c-5a6d7e8f9012"
EXECUTION = f"arn:aws:states:us-east-1:123456789012:execution:sluice-local-pipeline:{RUN_ID}"
MANIFEST_MESSAGE = (
    "s3://sluice-lake-local/runs/offers/3f1c2b9e-7d4a-4e2f-9b1c-5a6d7e8f9012/_manifest.json does not exist: "
    "the transform wrote no output"
)


class History:
    """A Step Functions client that only answers GetExecutionHistory, from events given in time order."""

    def __init__(self, *events: dict[str, Any], page_size: int = 1000) -> None:
        numbered = [{"id": i + 1, **event} for i, event in enumerate(events)]
        self.newest_first = list(reversed(numbered))
        self.page_size = page_size
        self.requests: list[dict[str, Any]] = []

    def get_execution_history(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        assert kwargs["reverseOrder"] is True
        start = int(kwargs.get("nextToken", 0))
        page = {"events": self.newest_first[start : start + self.page_size]}
        if start + self.page_size < len(self.newest_first):
            page["nextToken"] = str(start + self.page_size)
        return page


def entered(kind: str, name: str) -> dict[str, Any]:
    return {"type": f"{kind}StateEntered", "stateEnteredEventDetails": {"name": name}}


def exited(kind: str, name: str) -> dict[str, Any]:
    return {"type": f"{kind}StateExited", "stateExitedEventDetails": {"name": name}}


def passed(kind: str, name: str) -> list[dict[str, Any]]:
    return [entered(kind, name), exited(kind, name)]


FAILED_AT_LOAD = [
    {"type": "ExecutionStarted"},
    *passed("Task", "Validate"),
    *passed("Choice", "SchemaChanged?"),
    *passed("Task", "RegisterPartition"),
    *passed("Task", "Transform"),
    entered("Task", "Load"),
    {"type": "TaskScheduled"},
    {"type": "TaskFailed"},
    {"type": "ExecutionFailed"},
]


@pytest.fixture
def aws() -> Iterator[Aws]:
    with emulated_aws() as aws:
        yield aws


def failure_event(**detail: Any) -> dict[str, Any]:
    event = load_event("on_execution_failed")
    event["detail"].update(detail)
    return event


def record_running(aws: Aws, event: dict[str, Any], execution: str = EXECUTION) -> None:
    """The ledger item as Validate leaves it for a run in progress."""
    source = source_from_event(json.loads(event["detail"]["input"]))
    aws.ledger.update(
        source,
        "RUNNING",
        execution_arn=execution,
        counts={"rows_in": 6, "rows_valid": 5, "rows_rejected": 1},
        quarantine_uri="s3://sluice-raw-local/quarantine/offers/3f1c2b9e/bad_rows.csv",
    )


def handle(aws: Aws, event: dict[str, Any], sfn: Any = None, sns: Any = None):
    return on_execution_failed(
        ExecutionStatusChange.model_validate(event),
        sfn=sfn or History(*FAILED_AT_LOAD),
        sns=sns or aws.sns,
        ledger=aws.ledger,
        topic_arn=SETTINGS.topic_arn,
    )


def ledger_item(aws: Aws, event: dict[str, Any]) -> dict[str, Any]:
    item = aws.ledger.get(source_from_event(json.loads(event["detail"]["input"])))
    assert item is not None
    return item


# --- the failed state ---------------------------------------------------------------------------------------


def test_find_failed_state_task_without_exit_is_the_failed_state():
    assert find_failed_state(History(*FAILED_AT_LOAD), EXECUTION) == "Load"


def test_find_failed_state_polling_loop_failing_on_its_second_round_names_the_polling_state():
    history = History(
        {"type": "ExecutionStarted"},
        *passed("Task", "Validate"),
        *passed("Task", "StartCrawler"),
        *passed("Wait", "WaitForCrawler"),
        *passed("Task", "GetCrawler"),
        *passed("Choice", "CrawlFinished?"),
        *passed("Pass", "CountCrawlPoll"),
        *passed("Wait", "WaitForCrawler"),
        entered("Task", "GetCrawler"),
        {"type": "TaskFailed"},
        {"type": "ExecutionFailed"},
    )

    assert find_failed_state(history, EXECUTION) == "GetCrawler"


def test_find_failed_state_reads_further_pages_until_it_finds_the_state():
    history = History(*FAILED_AT_LOAD, page_size=1)

    assert find_failed_state(history, EXECUTION) == "Load"
    assert [r.get("nextToken") for r in history.requests] == [None, "1", "2", "3"]


def test_find_failed_state_history_served_oldest_first_still_names_the_failed_state():
    class OldestFirst(History):
        """A service that ignores reverseOrder (as moto 5.2.5 does) and answers in time order."""

        def get_execution_history(self, **kwargs: Any) -> dict[str, Any]:
            page = super().get_execution_history(**kwargs)
            return {**page, "events": list(reversed(page["events"]))}

    assert find_failed_state(OldestFirst(*FAILED_AT_LOAD), EXECUTION) == "Load"


def test_find_failed_state_fail_state_after_a_catch_is_named():
    history = History(
        *passed("Task", "Validate"),
        *passed("Task", "RejectFile"),
        entered("Fail", "Rejected"),
        {"type": "ExecutionFailed"},
    )

    assert find_failed_state(history, EXECUTION) == "Rejected"


# --- the ledger and the one notification ----------------------------------------------------------------


def test_on_execution_failed_marks_ledger_failed_with_state_error_and_stop_time(aws: Aws):
    event = failure_event()
    record_running(aws, event)

    result = handle(aws, event)

    assert (result.notified, result.status, result.failed_state) == (True, "FAILED", "Load")
    item = ledger_item(aws, event)
    assert item["status"] == "FAILED"
    assert item["failed_state"] == "Load"
    assert item["error"] == "TransformOutputMissingError"
    assert item["cause"] == MANIFEST_MESSAGE
    assert item["finished_at"] == "2025-03-01T12:03:12.456Z"
    assert item["notified_execution"] == EXECUTION


def test_on_execution_failed_sends_one_failure_notification_with_the_schema(aws: Aws):
    event = failure_event()
    record_running(aws, event)

    handle(aws, event)

    (message,) = aws.notifications()
    assert message["subject"] == "[sluice] FAILED offers: offers_2025-03-01.csv (at Load)"
    assert message["attributes"] == {"status": "FAILED", "dataset": "offers"}
    assert message["body"] == {
        "status": "FAILED",
        "dataset": "offers",
        "source": "s3://sluice-raw-local/incoming/offers/offers_2025-03-01.csv",
        "counts": {"rows_in": 6, "rows_valid": 5, "rows_rejected": 1},
        "duration_seconds": 191.222,
        "execution_arn": EXECUTION,
        "console_url": "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1"
        f"#/v2/executions/details/{EXECUTION}",
        "outputs": {"quarantine_uri": "s3://sluice-raw-local/quarantine/offers/3f1c2b9e/bad_rows.csv"},
        "error": {"type": "TransformOutputMissingError", "cause": MANIFEST_MESSAGE},
        "failed_state": "Load",
        "extra_columns": [],
    }


def test_on_execution_failed_event_delivered_twice_sends_exactly_one_notification(aws: Aws):
    event = failure_event()
    record_running(aws, event)

    first = handle(aws, event)
    second = handle(aws, event)

    assert (first.notified, second.notified) == (True, False)
    assert second.reason == "already notified"
    assert len(aws.notifications()) == 1


def test_on_execution_failed_redriven_execution_failing_again_notifies_again(aws: Aws):
    event = failure_event()
    record_running(aws, event)
    handle(aws, event)

    handle(aws, failure_event(redriveCount=1))

    assert len(aws.notifications()) == 2


def test_on_execution_failed_publish_error_releases_the_claim_so_redelivery_notifies(aws: Aws):
    event = failure_event()
    record_running(aws, event)

    class BrokenSns:
        def publish(self, **kwargs: Any) -> Any:
            raise ConnectionError("SNS unreachable")

    with pytest.raises(ConnectionError):
        handle(aws, event, sns=BrokenSns())
    handle(aws, event)

    assert len(aws.notifications()) == 1


def test_on_execution_failed_rejected_run_sends_rejected_notification_and_keeps_ledger(aws: Aws):
    event = failure_event(
        error="TooManyBadRowsError", cause=json.dumps({"errorMessage": "3 of 6 rows", "errorType": "X"})
    )
    record_running(aws, event)
    source = source_from_event(json.loads(event["detail"]["input"]))
    rejected_uri = "s3://sluice-raw-local/rejected/offers/offers_2025-03-01.csv"
    aws.ledger.update(
        source, "REJECTED", error="TooManyBadRowsError", cause="3 of 6 rows", rejected_uri=rejected_uri
    )
    history = History(*FAILED_AT_LOAD)

    result = handle(aws, event, sfn=history)

    assert (result.status, result.failed_state) == ("REJECTED", None)
    assert history.requests == []  # a rejection needs no failed state
    (message,) = aws.notifications()
    assert message["subject"] == "[sluice] REJECTED offers: offers_2025-03-01.csv"
    assert message["body"]["error"] == {"type": "TooManyBadRowsError", "cause": "3 of 6 rows"}
    assert message["body"]["outputs"]["rejected_uri"] == rejected_uri
    assert ledger_item(aws, event)["status"] == "REJECTED"


def test_on_execution_failed_timed_out_without_error_names_states_timeout(aws: Aws):
    event = failure_event(status="TIMED_OUT", error=None, cause=None)
    record_running(aws, event)

    handle(aws, event)

    (message,) = aws.notifications()
    assert message["body"]["error"]["type"] == "States.Timeout"
    assert ledger_item(aws, event)["error"] == "States.Timeout"


def test_on_execution_failed_of_a_duplicate_execution_notifies_but_leaves_the_owner_run(aws: Aws):
    event = failure_event(error="LedgerConflictError", cause="another execution processes this object")
    owner = EXECUTION.replace("3f1c2b9e-7d4a", "0a0a0a0a-0000")
    record_running(aws, event, execution=owner)

    handle(aws, event)

    assert len(aws.notifications()) == 1
    item = ledger_item(aws, event)
    assert (item["status"], item["execution_arn"]) == ("RUNNING", owner)


def test_on_execution_failed_input_that_is_no_s3_event_still_notifies(aws: Aws):
    event = failure_event(
        input=json.dumps({"hello": "world"}), error="InvalidEventError", cause="not an S3 event"
    )

    handle(aws, event)

    (message,) = aws.notifications()
    assert message["body"]["dataset"] == "_unknown"
    assert message["body"]["error"]["type"] == "InvalidEventError"


def test_on_execution_failed_handler_with_sample_event_notifies_once(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
):
    event = load_event("on_execution_failed")
    record_running(aws, event)
    handler = import_handler("on_execution_failed")
    real_client = handler.client
    history = History(*FAILED_AT_LOAD)
    monkeypatch.setattr(
        handler, "client", lambda name: history if name == "stepfunctions" else real_client(name)
    )

    first = handler.lambda_handler(event, lambda_context("on-execution-failed"))
    second = handler.lambda_handler(event, lambda_context("on-execution-failed"))

    assert first["notified"] is True
    assert first["status"] == "FAILED"
    assert first["failed_state"] == "Load"
    assert second["notified"] is False
    assert len(aws.notifications()) == 1
