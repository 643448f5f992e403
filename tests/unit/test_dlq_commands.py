"""`sluice dlq`: grouping the bad-records messages by run, exporting them, redriving a run's rows."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice.commands.dlq import (
    Message,
    Redriver,
    csv_records,
    delete,
    group_messages,
    header_line,
    reason_counts,
    receive_all,
    redrive_body,
    redrive_key,
    release,
)
from sluice.commands.status import Target

REGION = "us-east-1"
RAW = "raw-bucket"
HEADER = "risk,account,offer_id"  # not the contract's column order: a redrive must keep the file's own


def _message(
    mid: str, run_id: str, rows: list[dict[str, Any]], source_key: str = "incoming/offers/a.csv"
) -> Message:
    body = {"dataset": "offers", "source_key": source_key, "run_id": run_id, "rows": rows}
    return Message(mid, f"handle-{mid}", {"dataset": "offers", "run_id": run_id}, body)


ROW_3 = {
    "line": 3,
    "reasons": ["risk: 'nope' is not one of low, medium, high"],
    "raw": "nope,10000001,100000000001",
}
ROW_5 = {
    "line": 5,
    "reasons": ["account: '12' does not match ^[0-9]{8}$", "risk: 'x' is not one of low, medium, high"],
    "raw": "x,12,100000000002",
}


def test_group_messages_gathers_a_runs_rows_over_messages_without_repeats() -> None:
    messages = [
        _message("m1", "run-1", [ROW_5]),
        _message("m2", "run-2", [ROW_3], source_key="incoming/offers/b.csv"),
        _message("m3", "run-1", [ROW_3, ROW_5]),  # a retried Validate sends ROW_5 again
    ]
    groups = group_messages(messages)
    assert [(g.run_id, g.source_key, [m.message_id for m in g.messages]) for g in groups] == [
        ("run-1", "incoming/offers/a.csv", ["m1", "m3"]),
        ("run-2", "incoming/offers/b.csv", ["m2"]),
    ]
    assert groups[0].sorted_rows() == [ROW_3, ROW_5]
    assert groups[0].to_json() == {
        "run_id": "run-1",
        "dataset": "offers",
        "source_key": "incoming/offers/a.csv",
        "messages": 2,
        "rows": 2,
        "reasons": {"risk": 2, "account": 1},
    }


def test_group_messages_keeps_a_foreign_message_under_its_attributes() -> None:
    (group,) = group_messages([Message("m9", "h", {"dataset": "offers", "run_id": "run-9"}, "plain text")])
    assert (group.dataset, group.source_key, group.run_id, group.rows) == ("offers", "?", "run-9", {})


def test_reason_counts_count_rows_per_column_most_frequent_first() -> None:
    assert reason_counts([ROW_3, ROW_5, ROW_5]) == {"risk": 3, "account": 2}


def test_csv_records_have_one_record_per_bad_row() -> None:
    groups = group_messages([_message("m1", "run-1", [ROW_5, ROW_3])])
    assert csv_records(groups) == [
        ["run_id", "dataset", "source_key", "line", "reasons", "raw"],
        [
            "run-1",
            "offers",
            "incoming/offers/a.csv",
            "3",
            "risk: 'nope' is not one of low, medium, high",
            ROW_3["raw"],
        ],
        [
            "run-1",
            "offers",
            "incoming/offers/a.csv",
            "5",
            "account: '12' does not match ^[0-9]{8}$; risk: 'x' is not one of low, medium, high",
            ROW_5["raw"],
        ],
    ]


def test_redrive_key_names_the_run_and_stays_a_csv_under_incoming() -> None:
    run = "459bf0d4-cb06-4afe-a816-e6f9d6313cf4"
    assert redrive_key("incoming/offers/a.csv", run) == "incoming/offers/a.redrive-459bf0d4.csv"
    assert redrive_key("incoming/offers/a.csv.gz", run) == "incoming/offers/a.redrive-459bf0d4.csv"
    assert redrive_key("incoming/offers/a.redrive-459bf0d4.csv", "console-rerun") == (
        "incoming/offers/a.redrive-consoler.csv"
    )


def test_header_line_skips_blank_lines_and_a_byte_order_mark() -> None:
    assert header_line(b"\xef\xbb\xbf\n\n" + HEADER.encode() + b"\r\nlow,1,2\n", gzipped=False) == HEADER


def test_header_line_reads_the_start_of_a_gzip_file() -> None:
    data = gzip.compress((HEADER + "\n" + "low,10000001,100000000001\n" * 50_000).encode())
    assert header_line(data[:4096], gzipped=True) == HEADER


def test_header_line_of_an_empty_file_is_an_error() -> None:
    with pytest.raises(ValueError, match="no header"):
        header_line(b"\n\n", gzipped=False)


def test_redrive_body_is_the_header_then_the_raw_rows() -> None:
    assert redrive_body(HEADER, [ROW_3, ROW_5]) == (
        f"{HEADER}\nnope,10000001,100000000001\nx,12,100000000002\n".encode()
    )


# ------------------------------------------------------------------ against emulated AWS


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A versioned raw bucket, a queue and a (non-executing) state machine in moto."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        s3 = session.client("s3")
        s3.create_bucket(Bucket=RAW)
        s3.put_bucket_versioning(Bucket=RAW, VersioningConfiguration={"Status": "Enabled"})
        sqs = session.client("sqs")
        url = sqs.create_queue(QueueName="bad-records")["QueueUrl"]
        role = session.client("iam").create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        sfn = session.client("stepfunctions")
        definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
        machine = sfn.create_state_machine(name="pipeline", definition=definition, roleArn=role)
        target = Target(
            session,
            None,
            "test-stack",
            {"RawBucketName": RAW, "StateMachineArn": machine["stateMachineArn"], "BadRecordsQueueUrl": url},
        )
        yield {"s3": s3, "sqs": sqs, "sfn": sfn, "url": url, "target": target}


def _upload_and_run(aws: dict[str, Any], key: str, text: str) -> str:
    """Uploads like a user and starts the run the upload rule would; returns the run id."""
    put = aws["s3"].put_object(Bucket=RAW, Key=key, Body=text.encode())
    event = {
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": RAW}, "object": {"key": key, "version-id": put["VersionId"]}},
    }
    started = aws["sfn"].start_execution(
        stateMachineArn=aws["target"].output("StateMachineArn"), input=json.dumps(event)
    )
    return str(started["executionArn"].rsplit(":", 1)[-1])


def _send(aws: dict[str, Any], run_id: str, rows: list[dict[str, Any]]) -> None:
    body = {"dataset": "offers", "source_key": "incoming/offers/a.csv", "run_id": run_id, "rows": rows}
    aws["sqs"].send_message(QueueUrl=aws["url"], MessageBody=json.dumps(body))


def test_receive_all_then_release_leaves_every_message_in_the_queue(aws: dict[str, Any]) -> None:
    for n in range(13):
        _send(aws, f"run-{n}", [ROW_3])
    held = receive_all(aws["sqs"], aws["url"], wait=0)
    assert sorted(m.body["run_id"] for m in held) == sorted(f"run-{n}" for n in range(13))
    release(aws["sqs"], aws["url"], held)
    again = receive_all(aws["sqs"], aws["url"], wait=0)
    assert len(again) == 13
    delete(aws["sqs"], aws["url"], again)
    assert receive_all(aws["sqs"], aws["url"], wait=0) == []


def test_redrive_uploads_the_rows_under_the_header_of_the_version_the_run_read(aws: dict[str, Any]) -> None:
    key = "incoming/offers/a.csv"
    run_id = _upload_and_run(aws, key, f"{HEADER}\nlow,10000000,100000000000\n{ROW_3['raw']}\n")
    aws["s3"].delete_object(Bucket=RAW, Key=key)  # archived: only the version is left
    aws["s3"].put_object(Bucket=RAW, Key=key, Body=b"account,offer_id,risk\n")  # a later upload, other header
    _send(aws, run_id, [ROW_5, ROW_3])
    (group,) = group_messages(receive_all(aws["sqs"], aws["url"], wait=0))

    uri = Redriver(aws["target"]).redrive(group, dry_run=False)

    redriven = f"incoming/offers/a.redrive-{run_id.replace('-', '')[:8]}.csv"
    assert uri == f"s3://{RAW}/{redriven}"
    body = aws["s3"].get_object(Bucket=RAW, Key=redriven)["Body"].read().decode()
    assert body == f"{HEADER}\nnope,10000001,100000000001\nx,12,100000000002\n"


def test_redrive_dry_run_uploads_nothing(aws: dict[str, Any]) -> None:
    run_id = _upload_and_run(aws, "incoming/offers/a.csv", f"{HEADER}\n{ROW_3['raw']}\n")
    _send(aws, run_id, [ROW_3])
    (group,) = group_messages(receive_all(aws["sqs"], aws["url"], wait=0))
    uri = Redriver(aws["target"]).redrive(group, dry_run=True)
    listed = aws["s3"].list_objects_v2(Bucket=RAW, Prefix="incoming/")["Contents"]
    assert [o["Key"] for o in listed] == ["incoming/offers/a.csv"]
    assert uri.endswith(".csv")


def test_redrive_of_a_rejected_file_without_execution_finds_the_header_in_rejected(
    aws: dict[str, Any],
) -> None:
    aws["s3"].put_object(Bucket=RAW, Key="rejected/offers/a.csv", Body=f"{HEADER}\n{ROW_3['raw']}\n".encode())
    _send(aws, "gone-run", [ROW_3])
    (group,) = group_messages(receive_all(aws["sqs"], aws["url"], wait=0))
    Redriver(aws["target"]).redrive(group, dry_run=False)
    body = (
        aws["s3"].get_object(Bucket=RAW, Key="incoming/offers/a.redrive-gonerun.csv")["Body"].read().decode()
    )
    assert body == f"{HEADER}\n{ROW_3['raw']}\n"


def test_redrive_without_any_copy_of_the_source_file_is_an_error(aws: dict[str, Any]) -> None:
    _send(aws, "gone-run", [ROW_3])
    (group,) = group_messages(receive_all(aws["sqs"], aws["url"], wait=0))
    with pytest.raises(LookupError, match=r"original header of incoming/offers/a\.csv is gone"):
        Redriver(aws["target"]).redrive(group, dry_run=False)


def test_redrive_takes_rows_cut_in_their_message_whole_from_the_quarantine_file(aws: dict[str, Any]) -> None:
    long_raw = "low,10000001," + "9" * 40_000
    run_id = _upload_and_run(aws, "incoming/offers/a.csv", f"{HEADER}\n{long_raw}\n")
    quarantine = f'line,reasons,raw\n2,offer_id: too long,"{long_raw}"\n'
    aws["s3"].put_object(Bucket=RAW, Key=f"quarantine/offers/{run_id}/bad_rows.csv", Body=quarantine.encode())
    cut = {
        "line": 2,
        "reasons": ["offer_id: too long"],
        "raw": long_raw[:100] + "... [cut at 100 of 40013 characters]",
    }
    _send(aws, run_id, [cut])
    (group,) = group_messages(receive_all(aws["sqs"], aws["url"], wait=0))
    Redriver(aws["target"]).redrive(group, dry_run=False)
    redriven = f"incoming/offers/a.redrive-{run_id.replace('-', '')[:8]}.csv"
    body = aws["s3"].get_object(Bucket=RAW, Key=redriven)["Body"].read().decode()
    assert body == f"{HEADER}\n{long_raw}\n"
