"""Validate, outputs: quarantine file, bad-records queue, reject threshold, counts, schema fingerprint."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from validate_world import RUN_ID, ValidateWorld, offers_file, offers_row

from sluice_lib.contracts import ContractStore
from sluice_lib.errors import BadRecordsQueueError, TooManyBadRowsError
from sluice_lib.schema import fingerprint

KEY = "incoming/offers/offers.csv"
STAGING_COLUMNS = [
    ("account", "string"),
    ("offer_id", "string"),
    ("catalog_id", "string"),
    ("account_type_code", "string"),
    ("offer_type_id", "string"),
    ("created", "timestamp"),
    ("expire", "timestamp"),
    ("risk", "string"),
]


class RecordingSqs:
    """Keeps every send_message_batch call (the limits are checked on what was sent); refuses on request."""

    def __init__(self, refusals: int = 0) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.refusals = refusals

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if self.refusals:
            self.refusals -= 1
            failed = [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in Entries]
            return {"Successful": [], "Failed": failed}
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def entry_size(entry: dict[str, Any]) -> int:
    attributes = sum(
        len(name) + len(a["DataType"]) + len(a["StringValue"].encode())
        for name, a in entry["MessageAttributes"].items()
    )
    return len(entry["MessageBody"].encode()) + attributes


def test_validate_bad_rows_go_to_quarantine_and_queue_with_line_reasons_and_raw(
    world: ValidateWorld, lenient: ContractStore
) -> None:
    bad_risk = offers_row(risk="extreme")
    bad_two = offers_row(account="", created="yesterday")
    source = world.put("offers.csv", offers_file(offers_row(), bad_risk, offers_row(), bad_two))

    out = world.validate(source, lenient)

    assert out.quarantine_uri == f"s3://sluice-raw-local/quarantine/offers/{RUN_ID}/bad_rows.csv"
    assert world.quarantine(out) == [
        {"line": "3", "reasons": "risk: 'extreme' is not one of low, medium, high", "raw": bad_risk},
        {
            "line": "5",
            "reasons": "account: a value is required; created: not an ISO-8601 datetime: 'yesterday'",
            "raw": bad_two,
        },
    ]
    assert out.dlq_messages == 1
    assert world.dlq_messages() == [
        {
            "body": {
                "dataset": "offers",
                "source_key": KEY,
                "run_id": RUN_ID,
                "rows": [
                    {
                        "line": 3,
                        "reasons": ["risk: 'extreme' is not one of low, medium, high"],
                        "raw": bad_risk,
                    },
                    {
                        "line": 5,
                        "reasons": [
                            "account: a value is required",
                            "created: not an ISO-8601 datetime: 'yesterday'",
                        ],
                        "raw": bad_two,
                    },
                ],
            },
            "attributes": {"dataset": "offers", "source_key": KEY, "run_id": RUN_ID},
        }
    ]


def test_validate_counts_add_up_and_match_what_was_written(
    world: ValidateWorld, lenient: ContractStore
) -> None:
    rows = [offers_row(risk="no") if i % 4 == 0 else offers_row() for i in range(40)]

    out = world.validate(world.put("offers.csv", offers_file(*rows, "1,2")), lenient)

    assert out.counts.rows_in == 41
    assert out.counts.rows_rejected == 11
    assert out.counts.rows_valid == 30
    assert out.counts.rows_in == out.counts.rows_valid + out.counts.rows_rejected
    assert len(world.staging_rows(out)) == 30
    assert len(world.quarantine(out)) == 11


def test_validate_many_bad_rows_are_sent_in_messages_and_calls_under_256_kib(
    world: ValidateWorld, lenient: ContractStore
) -> None:
    long_value = "x" * 2000
    rows = [offers_row(risk=f"{long_value}{i}") for i in range(1500)]  # ~3 MB of bad rows
    sqs = RecordingSqs()

    out = world.validate(world.put("offers.csv", offers_file(*rows)), lenient, sqs=sqs)

    entries = [e for call in sqs.calls for e in call]
    assert out.dlq_messages == len(entries) > 10
    assert all(len(call) <= 10 for call in sqs.calls)
    assert all(sum(entry_size(e) for e in call) <= 256 * 1024 for call in sqs.calls)
    assert all(entry_size(e) <= 256 * 1024 for e in entries)
    sent_lines = [row["line"] for e in entries for row in json.loads(e["MessageBody"])["rows"]]
    assert sent_lines == list(range(2, 1502))
    first = json.loads(entries[0]["MessageBody"])["rows"][0]
    assert first["raw"] == rows[0]
    assert first["reasons"] == [f"risk: '{long_value[:77]}...' is not one of low, medium, high"]


def test_validate_queue_entries_refused_once_are_sent_again(
    world: ValidateWorld, lenient: ContractStore
) -> None:
    sqs = RecordingSqs(refusals=1)

    out = world.validate(world.put("offers.csv", offers_file(offers_row(risk="bad"))), lenient, sqs=sqs)

    assert out.dlq_messages == 1
    assert len(sqs.calls) == 2
    assert sqs.calls[0] == sqs.calls[1]


def test_validate_queue_refusing_entries_for_good_raises_bad_records_queue_error(
    world: ValidateWorld, lenient: ContractStore
) -> None:
    sqs = RecordingSqs(refusals=3)

    with pytest.raises(
        BadRecordsQueueError, match=r"sluice-local-bad-records: 1 bad-row messages .*InternalError"
    ):
        world.validate(world.put("offers.csv", offers_file(offers_row(risk="bad"))), lenient, sqs=sqs)


def test_validate_too_many_bad_rows_raises_after_quarantine_and_queue_are_written(
    world: ValidateWorld,
) -> None:
    rows = [offers_row(risk="bad") if i < 6 else offers_row() for i in range(100)]
    source = world.put("offers.csv", offers_file(*rows))

    with pytest.raises(TooManyBadRowsError) as raised:
        world.validate(source)

    assert str(raised.value) == (
        "s3://sluice-raw-local/incoming/offers/offers.csv: 6 of 100 rows (6.0%) break the contract; "
        f"offers allows at most 5.0% (bad rows in s3://sluice-raw-local/quarantine/offers/{RUN_ID}/bad_rows.csv)"
    )
    assert [r["line"] for r in world.quarantine_at("offers")] == ["2", "3", "4", "5", "6", "7"]
    assert len(world.dlq_messages()[0]["body"]["rows"]) == 6
    assert world.keys(world.settings.lake_bucket, "staging/") == []


def test_validate_bad_rows_at_the_threshold_pass(world: ValidateWorld) -> None:
    rows = [offers_row(risk="bad") if i < 5 else offers_row() for i in range(100)]

    out = world.validate(world.put("offers.csv", offers_file(*rows)))

    assert (out.counts.rows_valid, out.counts.rows_rejected) == (95, 5)


def test_validate_schema_fingerprint_is_the_staging_columns_with_glue_types(world: ValidateWorld) -> None:
    out = world.validate(world.put("offers.csv", offers_file(offers_row())))

    canonical = (
        '[["account","string"],["offer_id","string"],["catalog_id","string"],["account_type_code","string"],'
        '["offer_type_id","string"],["created","timestamp"],["expire","timestamp"],["risk","string"]]'
    )
    assert out.schema_fingerprint == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert fingerprint(STAGING_COLUMNS) == out.schema_fingerprint


def test_validate_schema_changed_when_the_staging_table_does_not_exist(world: ValidateWorld) -> None:
    out = world.validate(world.put("offers.csv", offers_file(offers_row())))

    assert out.schema_changed is True


def staging_table(world: ValidateWorld, columns: list[tuple[str, str]]) -> None:
    world.aws.glue.create_table(
        DatabaseName=world.settings.glue_database,
        TableInput={
            "Name": "staging_offers",
            "StorageDescriptor": {
                "Columns": [{"Name": n, "Type": t} for n, t in columns],
                "Location": "s3://sluice-lake-local/staging/offers/",
            },
            "PartitionKeys": [{"Name": "ingest_id", "Type": "string"}],
        },
    )


def test_validate_schema_unchanged_when_the_table_columns_match(world: ValidateWorld) -> None:
    staging_table(world, [(n, t.upper() if t == "timestamp" else t) for n, t in STAGING_COLUMNS])

    out = world.validate(world.put("offers.csv", offers_file(offers_row())))

    assert out.schema_changed is False


def test_validate_schema_changed_when_a_table_column_type_differs(world: ValidateWorld) -> None:
    staging_table(world, [(n, "string") for n, _ in STAGING_COLUMNS])

    out = world.validate(world.put("offers.csv", offers_file(offers_row())))

    assert out.schema_changed is True
