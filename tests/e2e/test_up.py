"""`sluice up` driven from outside, as a user does: the real AWS CLI and boto3 against the local endpoint.

One endpoint serves the whole module (starting it costs a stack provisioning, its first run a Spark start);
the tests run in file order and the last one stops it.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest
from endpoint_env import client_env
from offers_rows import OFFERS_HEADER, offers_row

from sluice_lib.catalog_files import current_locations, files_at

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

ROOT = Path(__file__).resolve().parents[2]
AWS_CLI = Path(sys.executable).parent / "aws"  # awscli, a dev dependency of the project's environment
KEY = "incoming/offers/up-offers.csv"

# 24 valid rows in one month and one bad row at line 26 (4% < the 5% threshold): the run succeeds.
GOOD = [offers_row(i) for i in range(24)]
BAD_ROW = offers_row(99, risk="nope")
BAD_REASONS = ["risk: 'nope' is not one of low, medium, high"]


@dataclass
class Endpoint:
    proc: subprocess.Popen[str]
    url: str
    port: int
    env: dict[str, str]
    lines: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # the stack's Outputs: names from the template

    def aws_text(self, *args: str) -> str:
        """The real AWS CLI against the endpoint; returns its stdout."""
        result = subprocess.run(
            [str(AWS_CLI), "--endpoint-url", self.url, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def aws(self, *args: str) -> Any:
        """The AWS CLI's JSON output, parsed (None when it printed nothing)."""
        out = self.aws_text("--output", "json", *args)
        return json.loads(out) if out.strip() else None

    def sluice(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sluice.cli", *args, "--endpoint-url", self.url],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def wait_for(self, arn: str, timeout: float = 300.0) -> dict[str, Any]:
        """Polls the execution with boto3 until it ends; returns describe_execution."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return described
            assert time.monotonic() < deadline, f"{arn} still RUNNING after {timeout}s"
            time.sleep(0.25)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    logs = tmp_path_factory.mktemp("up") / "logs"
    env = client_env()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sluice.cli", "up", "--port", "0", "--logs", str(logs)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    ready: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # keeps the pipe drained for the server's whole life
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            match = re.match(r"\s+endpoint\s+(http://127\.0\.0\.1:(\d+))", line)
            if match:
                ready.put(match.group(1))
        ready.put(None)  # the server exited

    threading.Thread(target=pump, daemon=True).start()
    try:
        url = ready.get(timeout=180)
    except queue.Empty:
        url = None
    if url is None:
        proc.kill()
        pytest.fail("sluice up did not print its endpoint:\n" + "\n".join(lines))
    server = Endpoint(proc, url, int(url.rsplit(":", 1)[1]), env, lines)
    (stack,) = server.aws("cloudformation", "describe-stacks", "--stack-name", "sluice-local")["Stacks"]
    server.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    yield server
    if proc.poll() is None:
        proc.kill()
        proc.wait(30)


@pytest.fixture(scope="module")
def first_run(endpoint: Endpoint, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A user's upload with the AWS CLI; returns the execution the template's rule started, once ended."""
    src = tmp_path_factory.mktemp("upload") / "up-offers.csv"
    src.write_text("\n".join([OFFERS_HEADER, *GOOD, BAD_ROW]) + "\n", encoding="utf-8")
    endpoint.aws_text("s3", "cp", str(src), f"s3://{endpoint.outputs['RawBucketName']}/incoming/offers/")
    listed = endpoint.client("stepfunctions").list_executions(
        stateMachineArn=endpoint.outputs["StateMachineArn"]
    )["executions"]
    assert len(listed) == 1, listed
    return endpoint.wait_for(listed[0]["executionArn"])


def _entered(endpoint: Endpoint, arn: str) -> list[str]:
    history = endpoint.aws("stepfunctions", "get-execution-history", "--execution-arn", arn)
    return [
        e["stateEnteredEventDetails"]["name"] for e in history["events"] if "stateEnteredEventDetails" in e
    ]


def _in_order(expected: list[str], names: list[str]) -> bool:
    """Each expected state was entered, in this order (other states may come between them)."""
    rest = iter(names)
    return all(name in rest for name in expected)


def _keys(endpoint: Endpoint, bucket_output: str, prefix: str) -> list[str]:
    listed = endpoint.client("s3").list_objects_v2(Bucket=endpoint.outputs[bucket_output], Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def _current_files(endpoint: Endpoint, table: str) -> list[str]:
    """The file names of the table's partitions as the catalog presents them (partition/name; a keyed table's
    version folder left out: each execution's merge writes a new one)."""
    glue, s3 = endpoint.client("glue"), endpoint.client("s3")
    locations = current_locations(glue, endpoint.outputs["GlueDatabaseName"], table)
    return sorted(
        f"{p}/{uri.rsplit('/', 1)[-1]}" for p, loc in locations.items() for uri in files_at(s3, loc)
    )


def _serving_count(endpoint: Endpoint) -> int:
    table = endpoint.outputs["ServingTableName"]
    count: int = endpoint.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"]
    return count


def test_up_cli_upload_starts_execution_through_the_rule_that_succeeds(
    endpoint: Endpoint, first_run: dict[str, Any]
) -> None:
    listed = endpoint.aws(
        "stepfunctions", "list-executions", "--state-machine-arn", endpoint.outputs["StateMachineArn"]
    )
    assert [e["status"] for e in listed["executions"]] == ["SUCCEEDED"]
    described = endpoint.aws(
        "stepfunctions", "describe-execution", "--execution-arn", first_run["executionArn"]
    )
    assert described["status"] == "SUCCEEDED"
    event = json.loads(described["input"])
    assert event["detail-type"] == "Object Created"
    assert event["detail"]["bucket"]["name"] == endpoint.outputs["RawBucketName"]
    assert event["detail"]["object"]["key"] == KEY
    names = _entered(endpoint, first_run["executionArn"])
    assert names[0] == "Validate" and names[-1] == "Done"
    # A 24-row file of a contract without Spark SQL: the small-file Lambda engine (SmallFileMaxBytes default).
    assert _in_order(["TransformInLambda", "Load", "Archive", "NotifySuccess"], names)


def test_up_run_outputs_are_visible_to_the_cli(endpoint: Endpoint, first_run: dict[str, Any]) -> None:
    lake, raw = endpoint.outputs["LakeBucketName"], endpoint.outputs["RawBucketName"]
    curated = endpoint.aws_text("s3", "ls", "--recursive", f"s3://{lake}/curated/offers/").splitlines()
    assert curated
    assert all(" curated/offers/year=2026/month=3/" in line and line.endswith(".parquet") for line in curated)
    listing = endpoint.aws_text("s3", "ls", f"s3://{raw}/")
    assert "PRE archive/" in listing
    assert "PRE quarantine/" in listing
    assert _keys(endpoint, "RawBucketName", "incoming/") == []  # the file moved to the archive
    assert [k.rsplit("/", 1)[-1] for k in _keys(endpoint, "RawBucketName", "archive/offers/")] == [
        "up-offers.csv"
    ]
    served = endpoint.aws("dynamodb", "scan", "--table-name", endpoint.outputs["ServingTableName"])
    assert served["Count"] == 24
    assert sorted(item["sk"]["S"] for item in served["Items"]) == sorted(
        str(100000000000 + i) for i in range(24)
    )


def test_up_console_rerun_with_start_execution_reaches_the_same_end_state(
    endpoint: Endpoint, first_run: dict[str, Any]
) -> None:
    curated_before = _current_files(endpoint, "offers")
    started = endpoint.aws(
        "stepfunctions",
        "start-execution",
        "--state-machine-arn",
        endpoint.outputs["StateMachineArn"],
        "--name",
        "console-rerun",
        "--input",
        first_run["input"],
    )
    rerun = endpoint.wait_for(started["executionArn"])
    assert rerun["status"] == "SUCCEEDED", rerun
    events = endpoint.client("stepfunctions").get_execution_history(executionArn=started["executionArn"])
    names = [
        e["stateEnteredEventDetails"]["name"] for e in events["events"] if "stateEnteredEventDetails" in e
    ]
    assert names[-1] == "Done"
    assert _in_order(["Validate", "TransformInLambda", "Load", "Archive", "NotifySuccess"], names)
    assert _serving_count(endpoint) == 24
    assert _current_files(endpoint, "offers") == curated_before
    assert [k.rsplit("/", 1)[-1] for k in _keys(endpoint, "RawBucketName", "archive/offers/")] == [
        "up-offers.csv"
    ]


def test_up_bad_row_is_readable_from_the_dlq_with_cli_receive_message(
    endpoint: Endpoint, first_run: dict[str, Any]
) -> None:
    queue_url = endpoint.url + urlparse(endpoint.outputs["BadRecordsQueueUrl"]).path  # <account>/<name>
    assert f"  bad-records queue  {queue_url}" in endpoint.lines  # the banner names the queue
    received = endpoint.aws(
        "sqs",
        "receive-message",
        "--queue-url",
        queue_url,
        "--max-number-of-messages",
        "10",
        "--message-attribute-names",
        "All",
        "--visibility-timeout",
        "0",
    )
    bodies = [json.loads(m["Body"]) for m in received["Messages"]]
    # Queued once per object version: the console rerun found the first run's messages and sent none.
    assert {b["run_id"] for b in bodies} == {first_run["name"]}
    for body in bodies:
        assert body["dataset"] == "offers"
        assert body["source_key"] == KEY
        assert body["rows"] == [{"line": 26, "reasons": BAD_REASONS, "raw": BAD_ROW}]
    attributes = received["Messages"][0]["MessageAttributes"]
    assert attributes["dataset"]["StringValue"] == "offers"


def test_status_lists_the_executions_newest_first(endpoint: Endpoint, first_run: dict[str, Any]) -> None:
    result = endpoint.sluice("status", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["name"], r["status"], r["file"]) for r in rows] == [
        ("console-rerun", "SUCCEEDED", KEY),
        (first_run["name"], "SUCCEEDED", KEY),
    ]
    assert all(r["failed_state"] is None and r["error"] is None for r in rows)


def test_dlq_export_csv_has_one_record_per_bad_row(endpoint: Endpoint, first_run: dict[str, Any]) -> None:
    result = endpoint.sluice("dlq", "export", "--format", "csv")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "run_id,dataset,source_key,line,reasons,raw"
    expected = f'offers,{KEY},26,"{BAD_REASONS[0]}","{BAD_ROW}"'
    assert lines[1:] == [f"{first_run['name']},{expected}"]  # the console rerun queued nothing again


def test_dlq_redrive_resubmits_a_runs_rows_under_the_original_header(
    endpoint: Endpoint, first_run: dict[str, Any]
) -> None:
    result = endpoint.sluice("dlq", "redrive", "--run", first_run["name"])
    assert result.returncode == 0, result.stderr
    key = f"incoming/offers/up-offers.redrive-{first_run['name'].replace('-', '')[:8]}.csv"
    assert f"s3://{endpoint.outputs['RawBucketName']}/{key}" in result.stdout
    # The upload went through the rule like any other: a file of one bad row is rejected and kept.
    sfn = endpoint.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=endpoint.outputs["StateMachineArn"])["executions"]
    (redriven,) = [e for e in executions if e["name"] not in ("console-rerun", first_run["name"])]
    ended = endpoint.wait_for(redriven["executionArn"])
    assert ended["status"] == "FAILED"
    assert ended["error"] == "TooManyBadRowsError"
    rejected = endpoint.client("s3").get_object(
        Bucket=endpoint.outputs["RawBucketName"], Key=f"rejected/offers/{key.rsplit('/', 1)[-1]}"
    )
    assert rejected["Body"].read().decode() == f"{OFFERS_HEADER}\n{BAD_ROW}\n"
    # The run's messages left the queue; the row that still breaks the contract came back with the new run.
    listed = endpoint.sluice("dlq", "list", "--json")
    groups = {(g["run_id"], g["source_key"], g["rows"]) for g in json.loads(listed.stdout)}
    assert groups == {(redriven["name"], key, 1)}


def test_dlq_list_reports_a_message_another_consumer_holds_in_flight(endpoint: Endpoint) -> None:
    queue_url = endpoint.url + urlparse(endpoint.outputs["BadRecordsQueueUrl"]).path
    # As the README's example does (default visibility timeout): the message is hidden from others for 30 s.
    received = endpoint.aws(
        "sqs", "receive-message", "--queue-url", queue_url, "--message-attribute-names", "All"
    )
    (message,) = received["Messages"]
    assert message["MessageAttributes"]["dataset"]["StringValue"] == "offers"
    try:
        listed = endpoint.sluice("dlq", "list")
        assert listed.returncode == 0, listed.stderr
        assert "0 messages, 0 bad rows" in listed.stderr
        assert "1 more message in flight: received by another consumer" in listed.stderr
    finally:
        endpoint.aws(
            "sqs",
            "change-message-visibility",
            "--queue-url",
            queue_url,
            "--receipt-handle",
            message["ReceiptHandle"],
            "--visibility-timeout",
            "0",
        )
    again = endpoint.sluice("dlq", "list")
    assert "1 message, 1 bad row" in again.stderr and "in flight" not in again.stderr


def test_up_second_server_on_the_same_port_is_a_usage_error(endpoint: Endpoint) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "sluice.cli", "up", "--port", str(endpoint.port)],
        cwd=ROOT,
        env=endpoint.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 30  # refused before provisioning anything


def test_up_stops_cleanly_on_sigterm_and_frees_the_port(endpoint: Endpoint) -> None:
    endpoint.proc.send_signal(signal.SIGTERM)
    assert endpoint.proc.wait(timeout=60) == 0
    time.sleep(0.2)  # the pump thread reads the last lines
    assert endpoint.lines[-1] == "sluice up: stopped"
    assert not any("Traceback" in line for line in endpoint.lines)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", endpoint.port), timeout=5)
    with socket.socket() as sock:  # a new server can take the port at once (as servers do, past TIME_WAIT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", endpoint.port))
