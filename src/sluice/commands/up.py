"""`sluice up`: the stack as a local AWS endpoint that the AWS CLI, boto3 and any SDK can drive."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import IO, Annotated, Any

import typer

from sluice.commands.status import TERMINAL, err, failed_state, format_seconds, history, source_key
from sluice.contracts_folder import CONTRACTS_OPTION, ContractsUsageError, load_contracts

_POLL_SECONDS = 0.5


class ExecutionWatcher:
    """Prints each execution of the stack's state machine as it starts and as it ends."""

    def __init__(self, sfn: Any, state_machine_arn: str, say: Callable[[str], None]) -> None:
        self.sfn = sfn
        self.arn = state_machine_arn
        self.say = say
        self.running: set[str] = set()  # execution ARNs seen RUNNING
        self.seen: set[str] = set()

    def poll(self) -> None:
        executions = []
        for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.arn):
            executions.extend(page["executions"])
        for ex in sorted(executions, key=lambda e: e["startDate"]):
            arn, status = ex["executionArn"], ex["status"]
            if arn not in self.seen:
                self.seen.add(arn)
                described = self.sfn.describe_execution(executionArn=arn)
                self.say(f"▶ {ex['name']} {source_key(described.get('input')) or ''}".rstrip())
                self.running.add(arn)
            if arn in self.running and status in TERMINAL:
                seconds = (ex["stopDate"] - ex["startDate"]).total_seconds() if ex.get("stopDate") else None
                self.running.discard(arn)
                if status == "SUCCEEDED":
                    self.say(f"✓ {ex['name']} SUCCEEDED in {format_seconds(seconds)}")
                    continue
                from sluice.local.runner import REJECTED_STATE, plain_cause

                described = self.sfn.describe_execution(executionArn=arn)
                state = failed_state(history(self.sfn, arn)) or "?"
                ended = "REJECTED" if state == REJECTED_STATE else f"{status} at {state}"
                self.say(
                    f"✗ {ex['name']} {ended} in {format_seconds(seconds)}: {described.get('error')}: "
                    f"{plain_cause(described.get('cause', ''))}"
                )


def _text_stdout() -> IO[str]:
    """The terminal's stdout, kept before the emulator points file descriptor 1 at the Lambda log."""
    return os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")


def _banner(emu: Any, url: str, logs: Path, seconds: float) -> list[str]:
    # imported on use: `sluice --help` and the light commands do not load moto, numpy or Spark's helpers
    from sluice.local.server import local_queue_url
    from sluice.local.stack import REGION, STACK_NAME

    stack = emu.stack
    return [
        f"sluice up: stack {STACK_NAME} from template.sam.yaml, provisioned in {seconds:.1f}s",
        f"  endpoint           {url}   (region {REGION}, any credentials)",
        f"  raw bucket         s3://{stack.raw_bucket}   (uploads to incoming/<dataset>/ start the pipeline)",
        f"  lake bucket        s3://{stack.lake_bucket}",
        f"  bad-records queue  {local_queue_url(stack.queue_url, url)}",
        f"  state machine      {stack.state_machine_arn}",
        f"  serving table      {stack.serving_table}",
        f"  runs table         {stack.runs_table}",
        f"  logs               {logs}/ (lambda.log, spark.log, requests.log)",
        "try:",
        f"  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION={REGION}",
        f"  aws --endpoint-url {url} s3 cp FILE.csv s3://{stack.raw_bucket}/incoming/<dataset>/",
        f"  sluice status --endpoint-url {url}",
        "Ctrl-C stops it.",
    ]


def serve(
    port: int, logs: Path, time_scale: float, out: IO[str], contracts: Path | None = None, iam: bool = True
) -> int:
    """Binds 127.0.0.1:port, provisions the stack, serves until SIGINT or SIGTERM; returns the exit code.

    `contracts`: the folder the handlers read contracts from (default: the checkout's `contracts/`).
    `iam`: each step calls as its template role, judged by its policies; the per-role report is written to
    `logs/iam.json` when the endpoint stops (sluice.local.iam)."""
    # imported on use: `sluice --help` and the light commands do not load moto, numpy or Spark's helpers
    from sluice.local.emulator import Emulator
    from sluice.local.server import LocalEndpoint, PortInUseError

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    endpoint = LocalEndpoint(port, request_log=logs / "requests.log")
    try:
        endpoint.bind()
    except PortInUseError as exc:
        err.print(f"[red]error:[/red] {exc} (give another --port, or stop what holds it)")
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    saved = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    # In-process calls (handlers, the interpreter, local Glue) must reach the emulated backends directly.
    for key in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]:
        del os.environ[key]
    say(f"sluice up: provisioning template.sam.yaml behind {endpoint.url} ...")
    started = time.perf_counter()
    try:
        with Emulator(
            time_scale=time_scale, log_file=logs / "lambda.log", contracts=contracts, iam=iam
        ) as emu:
            if stop.is_set():
                return 0
            endpoint.serve()
            for line in _banner(emu, endpoint.url, logs, time.perf_counter() - started):
                say(line)
            watcher = ExecutionWatcher(emu.client("stepfunctions"), emu.stack.state_machine_arn, say)
            last_problem = ""
            while not stop.wait(_POLL_SECONDS):
                try:
                    watcher.poll()
                except Exception as exc:  # progress lines are a courtesy: never let them stop the endpoint
                    problem = f"sluice up: could not list executions: {type(exc).__name__}: {exc}"
                    if problem != last_problem:
                        say(problem)
                    last_problem = problem
            dropped = f" ({len(watcher.running)} running executions end with it)" if watcher.running else ""
            say(f"sluice up: stopping{dropped}")
            endpoint.stop()
            if emu.iam is not None:
                from sluice.local.iam import report  # moto is loaded by now

                say(f"sluice up: IAM report of the roles' calls in {report.write(emu.iam, logs)}")
    finally:
        endpoint.stop()
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    say("sluice up: stopped")
    return 0


def register(app: typer.Typer) -> None:
    @app.command()
    def up(
        port: Annotated[
            int, typer.Option("--port", "-p", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")
        ] = 4566,
        logs: Annotated[
            Path, typer.Option("--logs", help="Folder for the handlers', Spark's and request logs.")
        ] = (Path(".sluice/up/logs")),
        time_scale: Annotated[
            float,
            typer.Option("--time-scale", min=0.0, help="Factor on the ASL's Wait and Retry intervals."),
        ] = 0.001,
        contracts: Annotated[Path | None, CONTRACTS_OPTION] = None,
        no_iam: Annotated[
            bool,
            typer.Option("--no-iam", help="Do not run each step as its template role (no IAM evaluation)."),
        ] = False,
    ) -> None:
        """Serve the stack as a local AWS endpoint on 127.0.0.1 until Ctrl-C (or SIGTERM).

        Provisions template.sam.yaml into the emulation and answers AWS API calls from any client: an upload
        to incoming/<dataset>/ starts an execution through the template's EventBridge rule; Step Functions,
        SQS, DynamoDB, S3, Glue and CloudFormation calls see the stack. Never binds other interfaces: the
        endpoint has no authentication.
        """
        try:
            store = load_contracts(contracts)
        except ContractsUsageError as exc:
            err.print("[red]error:[/red] ", end="")
            err.print(str(exc), markup=False)
            raise typer.Exit(2) from None
        out = _text_stdout()
        try:
            code = serve(port, logs, time_scale, out, store.root, iam=not no_iam)
        finally:
            out.close()
        # The emulation leaves a large heap; the collections run while the interpreter shuts down cost ~3 s.
        # Nothing is left to finalise but memory (endpoint, emulator and logs are closed): exit without the
        # shutdown. (Freezing the heap instead, gc.freeze, kept extension modules alive past their exit checks:
        # DuckDB's, loaded by the TransformInLambda handler, then reported every object it holds as a leak.)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
