"""`sluice status`: recent executions of the pipeline, like the Step Functions console's list.

Also the way `status` and `dlq` find the stack: `--stack NAME` (a deployed stack, standard AWS credentials)
or `--endpoint-url URL` (the local endpoint of `sluice up`); names come from the stack's Outputs.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

LOCAL_STACK = "sluice-local"  # the stack name `sluice up` provisions (sluice.local.stack.STACK_NAME)
LOCAL_REGION = "us-east-1"
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")

err = Console(stderr=True, highlight=False)

EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        help="A local endpoint (`sluice up`), e.g. http://127.0.0.1:4566. Its stack is sluice-local.",
    ),
]
StackOption = Annotated[
    str | None,
    typer.Option(
        "--stack",
        help="The deployed stack's name (default: stack_name in samconfig.toml). Uses your AWS credentials.",
    ),
]
RegionOption = Annotated[str | None, typer.Option("--region", help="AWS region (default: your AWS config).")]


class TargetError(Exception):
    """The stack could not be found or reached; the message says what to do."""


@dataclass
class Target:
    """A stack to operate on: a boto3 session, an optional endpoint, the stack's Outputs."""

    session: Any
    endpoint_url: str | None
    stack: str
    outputs: dict[str, str]

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)

    def output(self, key: str) -> str:
        if key not in self.outputs:
            raise TargetError(f"stack {self.stack} has no output {key}; is it a sluice stack?")
        return self.outputs[key]

    @property
    def where(self) -> str:
        return f"{self.stack} at {self.endpoint_url}" if self.endpoint_url else self.stack


def samconfig_defaults(root: Path | None = None, env: str = "default") -> dict[str, str]:
    """stack_name and region as samconfig.toml holds them for `sam deploy` (deploy, then global section)."""
    path = (root or Path.cwd()) / "samconfig.toml"
    if not path.is_file():
        return {}
    config = tomllib.loads(path.read_text(encoding="utf-8")).get(env, {})
    found: dict[str, str] = {}
    for section in ("deploy", "global"):
        for key in ("stack_name", "region"):
            value = config.get(section, {}).get("parameters", {}).get(key)
            if value and key not in found:
                found[key] = str(value)
    return found


def resolve_target(endpoint_url: str | None, stack: str | None, region: str | None) -> Target:
    """Finds the stack and reads its Outputs (CloudFormation describe_stacks), locally or on AWS."""
    # imported on use: `sluice --help` does not load boto3 (~0.3 s)
    import boto3
    import botocore.exceptions

    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    if endpoint_url:
        session = boto3.Session(region_name=region or LOCAL_REGION)
        if session.get_credentials() is None:  # the local endpoint takes any credentials
            session = boto3.Session(
                aws_access_key_id="test", aws_secret_access_key="test", region_name=region or LOCAL_REGION
            )
        stack = stack or LOCAL_STACK
    else:
        saved = samconfig_defaults()
        session = boto3.Session(region_name=region) if region else boto3.Session()
        if session.region_name is None and saved.get("region"):
            session = boto3.Session(region_name=saved["region"])
        stack = stack or saved.get("stack_name")
        if not stack:
            raise TargetError(
                "give --stack NAME for a deployed stack, or --endpoint-url URL for `sluice up` "
                "(e.g. --endpoint-url http://127.0.0.1:4566)"
            )
    try:
        cfn = session.client("cloudformation", endpoint_url=endpoint_url)
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except botocore.exceptions.EndpointConnectionError as exc:
        raise TargetError(
            f"nothing answers at {endpoint_url or exc.kwargs.get('endpoint_url')}: {exc}"
        ) from exc
    except botocore.exceptions.NoCredentialsError as exc:
        raise TargetError(f"no AWS credentials for stack {stack}: {exc}") from exc
    except botocore.exceptions.ClientError as exc:
        raise TargetError(f"stack {stack}: {exc.response.get('Error', {}).get('Message', exc)}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return Target(session=session, endpoint_url=endpoint_url, stack=stack, outputs=outputs)


def target_or_exit(endpoint_url: str | None, stack: str | None, region: str | None) -> Target:
    try:
        return resolve_target(endpoint_url, stack, region)
    except TargetError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


# ------------------------------------------------------------------ what a row of the list shows


def source_key(execution_input: str | None) -> str | None:
    """The uploaded object's key, from an execution input that is the S3 Object Created event."""
    try:
        event = json.loads(execution_input or "")
    except json.JSONDecodeError:
        return None
    key = event.get("detail", {}).get("object", {}).get("key") if isinstance(event, dict) else None
    return str(key) if key else None


def failed_state(events: list[dict[str, Any]]) -> str | None:
    """The state an execution ended in: the last state it entered (None when it never entered one)."""
    for event in reversed(events):
        details = event.get("stateEnteredEventDetails")
        if event["type"].endswith("StateEntered") and details:
            return str(details["name"])
    return None


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def execution_row(
    execution: dict[str, Any], described: dict[str, Any], state: str | None, now: datetime | None = None
) -> dict[str, Any]:
    """One line of the list: name, status, file, start, duration, and where and why a failure stopped."""
    start: datetime = execution["startDate"]
    stop: datetime | None = execution.get("stopDate")
    end = stop or now
    failed = execution["status"] not in ("RUNNING", "SUCCEEDED", "PENDING_REDRIVE")
    return {
        "name": execution["name"],
        "status": execution["status"],
        "file": source_key(described.get("input")),
        "started": start.isoformat(timespec="seconds"),
        "seconds": round((end - start).total_seconds(), 3) if end is not None else None,
        "failed_state": state if failed else None,
        "error": described.get("error") if failed else None,
        "redrives": described.get("redriveCount", 0),
        "execution_arn": execution["executionArn"],
    }


def history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    """An execution's events in order (moto ignores reverseOrder, so this reads them all)."""
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return events


def table_console() -> Console:
    """stdout; wide when it is not a terminal, so piped tables keep whole names and ARNs on one line."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 240)


def recent_executions(target: Target, limit: int, status: str | None = None) -> list[dict[str, Any]]:
    """The newest executions of the stack's state machine, newest first, with their input and failure."""
    sfn = target.client("stepfunctions")
    kwargs: dict[str, Any] = {"stateMachineArn": target.output("StateMachineArn")}
    if status:
        kwargs["statusFilter"] = status
    executions: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(**kwargs):
        executions.extend(page["executions"])
    executions.sort(key=lambda e: e["startDate"], reverse=True)
    now = datetime.now(UTC)
    rows = []
    for execution in executions[:limit]:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        state = None
        if execution["status"] in TERMINAL and execution["status"] != "SUCCEEDED":
            state = failed_state(history(sfn, execution["executionArn"]))
        rows.append(execution_row(execution, described, state, now))
    return rows


def render_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    """Table cells for the list, in column order: name, status, file, started, duration, failed at."""
    cells = []
    for row in rows:
        failure = ""
        if row["failed_state"] or row["error"]:
            failure = f"{row['failed_state'] or '?'}: {row['error'] or '-'}"
        cells.append(
            [
                row["name"],
                row["status"] + (f" (redriven {row['redrives']}×)" if row["redrives"] else ""),
                row["file"] or "-",
                row["started"].replace("T", " ")[:19],
                format_seconds(row["seconds"]),
                failure,
            ]
        )
    return cells


COLUMNS = ("name", "status", "file", "started", "duration", "failed at")


def register(app: typer.Typer) -> None:
    @app.command()
    def status(
        endpoint_url: EndpointOption = None,
        stack: StackOption = None,
        region: RegionOption = None,
        limit: Annotated[int, typer.Option("--max", "-n", min=1, help="How many executions to list.")] = 20,
        status_filter: Annotated[
            str | None,
            typer.Option(
                "--status", help="Only executions in this status (RUNNING, SUCCEEDED, FAILED, ...)."
            ),
        ] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print a JSON list on stdout.")] = False,
    ) -> None:
        """Recent executions, newest first, with their file, duration and the state a failure stopped at."""
        target = target_or_exit(endpoint_url, stack, region)
        rows = recent_executions(target, limit, status_filter.upper() if status_filter else None)
        if json_out:
            sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
            return
        table = Table(title=f"executions of {target.where}", title_justify="left")
        for col in COLUMNS:
            table.add_column(col, overflow="fold")
        for cells in render_rows(rows):
            table.add_row(*cells)
        table_console().print(table)
        if not rows:
            err.print("no executions yet", markup=False)
