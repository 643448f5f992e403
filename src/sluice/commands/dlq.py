"""`sluice dlq list|export|redrive`: the bad-records queue, the operator's inbox of rejected rows.

Each message holds bad rows of one run: {"dataset", "source_key", "run_id", "rows": [{"line", "reasons",
"raw"}]}. Works against a deployed stack (`--stack`) and the local endpoint (`--endpoint-url`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import botocore.exceptions
import typer
from rich.table import Table

from sluice.commands.status import (
    EndpointOption,
    RegionOption,
    StackOption,
    Target,
    err,
    table_console,
    target_or_exit,
)
from sluice.text import counted

_VISIBILITY = 120  # seconds a message stays hidden while a command holds it
_HEADER_BYTES = 256 * 1024
_CUT_MARK = "... [cut at "  # Validate cuts long raw rows in messages; the quarantine file keeps them whole
_REDRIVE_SUFFIX = re.compile(r"\.redrive-[0-9A-Za-z]+$")

REDRIVE_HELP = (
    "Re-submit the bad rows of each run in the queue as a new upload, once what rejected them is fixed.\n\n"
    "For a cause outside the rows: the contract (a missing enum value, a too strict pattern), a reference "
    "dataset, a bug in Validate. The rows of one run become one CSV file with the original file's header, "
    "uploaded to s3://<raw bucket>/incoming/<dataset>/<file>.redrive-<run id>.csv, and the template's upload "
    "rule starts a new execution for it, as for any upload. The run's messages are then deleted; rows that "
    "still break the contract come back as messages of the new run.\n\n"
    "To correct the rows themselves instead: `sluice dlq export --format csv -o bad.csv`, fix them, and "
    "upload the corrected rows (with the header) like any file."
)


@dataclass
class Message:
    message_id: str
    receipt_handle: str
    attributes: dict[str, str]
    body: Any

    def to_json(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "attributes": self.attributes, "body": self.body}


@dataclass
class RunGroup:
    """The bad rows one run sent, over all its messages (rows deduplicated by line: sends may repeat)."""

    dataset: str
    source_key: str
    run_id: str
    messages: list[Message] = field(default_factory=list)
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)

    def sorted_rows(self) -> list[dict[str, Any]]:
        return [self.rows[line] for line in sorted(self.rows)]

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "dataset": self.dataset,
            "source_key": self.source_key,
            "messages": len(self.messages),
            "rows": len(self.rows),
            "reasons": reason_counts(self.sorted_rows()),
        }


# ------------------------------------------------------------------ reading the queue


def receive_all(sqs: Any, url: str, visibility: int = _VISIBILITY, wait: int = 1) -> list[Message]:
    """Every visible message, each held (invisible to others) for `visibility` seconds.

    `wait` > 0 long-polls: on AWS a short poll samples only some servers and may come back empty early.
    """
    seen: dict[str, Message] = {}
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=visibility,
            WaitTimeSeconds=wait,
        ).get("Messages", [])
        if not batch:
            return list(seen.values())
        for msg in batch:
            try:
                body: Any = json.loads(msg["Body"])
            except json.JSONDecodeError:
                body = msg["Body"]
            attrs = {k: str(v.get("StringValue")) for k, v in msg.get("MessageAttributes", {}).items()}
            seen[msg["MessageId"]] = Message(msg["MessageId"], msg["ReceiptHandle"], attrs, body)


def release(sqs: Any, url: str, messages: list[Message]) -> None:
    """Makes held messages visible again at once (listing and exporting leave the queue as it was)."""
    for i in range(0, len(messages), 10):
        entries = [
            {"Id": str(n), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
            for n, m in enumerate(messages[i : i + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def delete(sqs: Any, url: str, messages: list[Message]) -> None:
    for i in range(0, len(messages), 10):
        entries = [
            {"Id": str(n), "ReceiptHandle": m.receipt_handle} for n, m in enumerate(messages[i : i + 10])
        ]
        failed = sqs.delete_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
        if failed:
            raise RuntimeError(
                f"{url}: {counted(len(failed), 'message')} not deleted: {failed[0].get('Message')}"
            )


def messages_in_flight(sqs: Any, url: str) -> int:
    """Messages another consumer has received and not deleted: invisible until their visibility timeout
    ends, so receive_all cannot list them (ApproximateNumberOfMessagesNotVisible)."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )
    return int(attributes.get("Attributes", {}).get("ApproximateNumberOfMessagesNotVisible", 0))


def _say_in_flight(in_flight: int) -> None:
    if in_flight:
        err.print(
            f"{counted(in_flight, 'more message')} in flight: received by another consumer (an `aws sqs "
            "receive-message`, say) and not deleted, so hidden until its visibility timeout ends (30 s by "
            "default); not listed here",
            markup=False,
        )


def group_messages(messages: list[Message]) -> list[RunGroup]:
    """Messages by run (dataset, file, run id), in the order their runs first appear."""
    groups: dict[tuple[str, str, str], RunGroup] = {}
    for msg in messages:
        body = msg.body if isinstance(msg.body, dict) else {}
        key = tuple(
            str(body.get(name) or msg.attributes.get(name) or "?")
            for name in ("dataset", "source_key", "run_id")
        )
        group = groups.setdefault(key, RunGroup(*key))  # type: ignore[arg-type]
        group.messages.append(msg)
        for row in body.get("rows", []):
            if isinstance(row, dict) and "line" in row:
                group.rows.setdefault(int(row["line"]), row)
    return list(groups.values())


def reason_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many rows each column (the text before ':' in a reason) made bad, most frequent first."""
    counts: Counter[str] = Counter()
    for row in rows:
        for reason in {str(r).split(":", 1)[0].strip() for r in row.get("reasons", [])}:
            counts[reason] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def csv_records(groups: list[RunGroup]) -> list[list[str]]:
    """One record per bad row: run_id, dataset, source_key, line, reasons, raw (with a header record)."""
    records = [["run_id", "dataset", "source_key", "line", "reasons", "raw"]]
    for g in groups:
        for row in g.sorted_rows():
            reasons = "; ".join(str(r) for r in row.get("reasons", []))
            records.append(
                [g.run_id, g.dataset, g.source_key, str(row["line"]), reasons, str(row.get("raw", ""))]
            )
    return records


# ------------------------------------------------------------------ redrive


def redrive_key(source_key: str, run_id: str) -> str:
    """incoming/<dataset>/<file>.csv[.gz] -> incoming/<dataset>/<file>.redrive-<run id prefix>.csv"""
    folder, _, name = source_key.rpartition("/")
    stem = name.removesuffix(".gz").removesuffix(".csv")
    stem = _REDRIVE_SUFFIX.sub("", stem)  # a redrive of a redrive names the newest run only
    return f"{folder}/{stem}.redrive-{re.sub('[^0-9A-Za-z]', '', run_id)[:8]}.csv"


def header_line(data: bytes, gzipped: bool) -> str:
    """The header record of the start of a CSV file (blank lines before it skipped), as one CSV line."""
    if gzipped:
        data = zlib.decompressobj(wbits=47).decompress(
            data
        )  # a partial stream decompresses as far as it goes
    text = data.decode("utf-8-sig", errors="replace")
    for record in csv.reader(io.StringIO(text)):
        if any(cell.strip() for cell in record):
            out = io.StringIO()
            csv.writer(out, lineterminator="").writerow(record)
            return out.getvalue()
    raise ValueError("no header line in the first bytes of the file")


def redrive_body(header: str, rows: list[dict[str, Any]]) -> bytes:
    lines = [header, *(str(r["raw"]) for r in rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


class Redriver:
    """Rebuilds each run's bad rows as a file with the original header and uploads it to incoming/."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.s3 = target.client("s3")
        self.sfn = target.client("stepfunctions")
        self.bucket = target.output("RawBucketName")

    def _source_version(self, run_id: str) -> tuple[str, str | None] | None:
        """(key, version id) of the object the run read, from its execution's input (the upload event)."""
        arn = self.target.output("StateMachineArn").replace(":stateMachine:", ":execution:") + f":{run_id}"
        try:
            described = self.sfn.describe_execution(executionArn=arn)
        except self.sfn.exceptions.ClientError:
            return None
        try:
            obj = json.loads(described.get("input") or "{}").get("detail", {}).get("object", {})
        except (json.JSONDecodeError, AttributeError):
            return None
        return (str(obj["key"]), obj.get("version-id")) if obj.get("key") else None

    def header(self, group: RunGroup) -> str:
        """The header of the file the run read: its version (the raw bucket keeps versions), else the copy
        in rejected/ (a rejected file), else whatever is at its key now."""
        name = group.source_key.rsplit("/", 1)[-1]
        candidates: list[tuple[str, str | None]] = []
        found = self._source_version(group.run_id)
        if found:
            candidates.append(found)
        candidates += [(f"rejected/{group.dataset}/{name}", None), (group.source_key, None)]
        problems = []
        for key, version in candidates:
            params = {"Bucket": self.bucket, "Key": key, "Range": f"bytes=0-{_HEADER_BYTES - 1}"}
            if version:
                params["VersionId"] = version
            try:
                data = self.s3.get_object(**params)["Body"].read()
                return header_line(data, key.endswith(".gz"))
            except (self.s3.exceptions.ClientError, ValueError) as exc:
                problems.append(f"{key}: {exc}")
        raise LookupError(f"the original header of {group.source_key} is gone ({'; '.join(problems)})")

    def full_rows(self, group: RunGroup) -> list[dict[str, Any]]:
        """The run's rows; rows cut short in their message are read whole from the quarantine file."""
        rows = group.sorted_rows()
        if not any(_CUT_MARK in str(r.get("raw", "")) for r in rows):
            return rows
        key = f"quarantine/{group.dataset}/{group.run_id}/bad_rows.csv"
        text = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode("utf-8")
        whole = {int(rec["line"]): rec["raw"] for rec in csv.DictReader(io.StringIO(text))}
        return [{**r, "raw": whole.get(int(r["line"]), r["raw"])} for r in rows]

    def redrive(self, group: RunGroup, dry_run: bool) -> str:
        """Uploads the run's rows as a new file; returns its s3:// URI."""
        key = redrive_key(group.source_key, group.run_id)
        body = redrive_body(self.header(group), self.full_rows(group))
        if not dry_run:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="text/csv")
        return f"s3://{self.bucket}/{key}"


# ------------------------------------------------------------------ commands


def _read_groups(target: Target) -> tuple[Any, str, list[Message], list[RunGroup]]:
    sqs = target.client("sqs")
    url = target.output("BadRecordsQueueUrl")
    messages = receive_all(sqs, url, wait=0 if target.endpoint_url else 1)  # moto has one server
    return sqs, url, messages, group_messages(messages)


def register(app: typer.Typer) -> None:
    dlq_app = typer.Typer(
        no_args_is_help=True,
        help="The bad-records queue (rows that broke their contract, with reasons): list, export, redrive.",
    )
    app.add_typer(dlq_app, name="dlq")

    @dlq_app.command("list")
    def list_(
        endpoint_url: EndpointOption = None,
        stack: StackOption = None,
        region: RegionOption = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print a JSON list on stdout.")] = False,
    ) -> None:
        """One line per run with bad rows in the queue: file, rows, messages, the columns at fault."""
        target = target_or_exit(endpoint_url, stack, region)
        in_flight = messages_in_flight(target.client("sqs"), target.output("BadRecordsQueueUrl"))
        sqs, url, messages, groups = _read_groups(target)
        release(sqs, url, messages)
        if json_out:
            sys.stdout.write(json.dumps([g.to_json() for g in groups], indent=2) + "\n")
            _say_in_flight(in_flight)
            return
        table = Table(title=f"bad-records queue of {target.where}", title_justify="left")
        for col in ("run", "dataset", "file", "bad rows", "messages", "columns at fault"):
            table.add_column(col, overflow="fold")
        for g in groups:
            reasons = ", ".join(f"{name} ({n})" for name, n in reason_counts(g.sorted_rows()).items())
            table.add_row(g.run_id, g.dataset, g.source_key, str(len(g.rows)), str(len(g.messages)), reasons)
        table_console().print(table)
        rows = sum(len(g.rows) for g in groups)
        err.print(f"{counted(len(messages), 'message')}, {counted(rows, 'bad row')}", markup=False)
        _say_in_flight(in_flight)

    @dlq_app.command("export")
    def export(
        endpoint_url: EndpointOption = None,
        stack: StackOption = None,
        region: RegionOption = None,
        output: Annotated[
            Path | None, typer.Option("-o", "--output", help="File to write (default: stdout).")
        ] = None,
        fmt: Annotated[
            str,
            typer.Option(
                "--format", help="jsonl: one message per line; csv: one bad row per line with its reasons."
            ),
        ] = "jsonl",
    ) -> None:
        """Every message of the queue, to a file or stdout; the messages stay in the queue."""
        if fmt not in ("jsonl", "csv"):
            err.print(f"[red]error:[/red] --format is jsonl or csv, not {fmt!r}")
            raise typer.Exit(2)
        target = target_or_exit(endpoint_url, stack, region)
        sqs, url, messages, groups = _read_groups(target)
        release(sqs, url, messages)
        buf = io.StringIO()
        if fmt == "jsonl":
            for msg in messages:
                buf.write(json.dumps(msg.to_json(), ensure_ascii=False) + "\n")
        else:
            csv.writer(buf, lineterminator="\n").writerows(csv_records(groups))
        if output is None:
            sys.stdout.write(buf.getvalue())
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(buf.getvalue(), encoding="utf-8")
            err.print(f"wrote {output} ({counted(len(messages), 'message')})", markup=False)

    @dlq_app.command("redrive", help=REDRIVE_HELP)
    def redrive(
        endpoint_url: EndpointOption = None,
        stack: StackOption = None,
        region: RegionOption = None,
        runs: Annotated[
            list[str] | None, typer.Option("--run", help="Only this run's rows (repeatable; default: all).")
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Show what would be uploaded; change nothing.")
        ] = False,
    ) -> None:
        target = target_or_exit(endpoint_url, stack, region)
        sqs, url, _, groups = _read_groups(target)
        chosen = [g for g in groups if not runs or g.run_id in runs]
        held = [m for g in groups if g not in chosen for m in g.messages]
        release(sqs, url, held)
        redriver = Redriver(target)
        failures = 0
        for g in chosen:
            if not g.rows:
                err.print(f"run {g.run_id}: its messages hold no rows; left in the queue", markup=False)
                release(sqs, url, g.messages)
                failures += 1
                continue
            try:
                uri = redriver.redrive(g, dry_run)
            except (LookupError, botocore.exceptions.ClientError) as exc:
                err.print(f"run {g.run_id}: not redriven: {exc}", markup=False)
                release(sqs, url, g.messages)
                failures += 1
                continue
            if dry_run:
                release(sqs, url, g.messages)
            else:
                delete(sqs, url, g.messages)
            verb = "would upload" if dry_run else "uploaded"
            sys.stdout.write(f"run {g.run_id}: {verb} {counted(len(g.rows), 'row')} to {uri}\n")
        if runs and not chosen:
            err.print(f"no messages of run(s) {', '.join(runs)} in the queue", markup=False)
        if not chosen and not runs:
            err.print("the queue is empty", markup=False)
        raise typer.Exit(1 if failures else 0)
