"""`sluice run`: uploads files into the emulated stack, follows each execution, summarises the results."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sluice.local import activity
from sluice.local.emulator import Emulator
from sluice.local.export import export_outputs, read_queue
from sluice.local.faults import FaultInjector, FaultSpec, injected
from sluice.local.iam import report as iam_report
from sluice.local.redrive import NotRedrivableError, plan
from sluice.local.redrive import redrive as redrive_execution
from sluice.text import counted
from sluice_lib.curated import MANIFEST_NAME
from sluice_lib.errors import InvalidEventError
from sluice_lib.ledger import Ledger
from sluice_lib.models import source_from_event

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
REJECTED_STATE = "Rejected"  # the ASL's Fail state after RejectFile
TRANSFORM_STATES = {"lambda": "TransformInLambda", "glue": "Transform"}  # engine -> its state in the ASL
Progress = Callable[[str], None]
POLL_FIRST_S = 0.05  # the first pause between polls of a state, growing to POLL_MAX_S
POLL_MAX_S = 1.0
STATUS_POLL_S = 0.1  # between two history reads, how often the execution's status alone is checked
HEARTBEAT_S = 5.0  # a state running longer than this gets a progress line this often
HISTORY_PAGE = 20  # the newest events a history read asks for first: a read mostly finds a few new ones
WHOLE_PAGE = 1000  # events per page when the whole history is read (AWS's largest page)


@dataclass
class RunInput:
    dataset: str
    path: Path


@dataclass
class StateVisit:
    name: str
    status: str = "RUNNING"
    seconds: float = 0.0
    attempts: int = 0
    entered: Any = None
    output: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "attempts": self.attempts,
        }


@dataclass
class ExecutionResult:
    execution_arn: str
    dataset: str
    source_key: str
    status: str = "RUNNING"
    states: list[StateVisit] = field(default_factory=list)
    error: dict[str, str] | None = None
    validated: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    loaded: dict[str, Any] | None = None
    seconds: float = 0.0
    dlq: dict[str, int] = field(default_factory=lambda: {"messages": 0, "rows": 0})
    ledger: str | None = None
    notifications: list[dict[str, Any]] = field(default_factory=list)
    duplicate: bool = False  # ended in the Duplicate state: another running execution owned the object
    ledger_counts: dict[str, int] | None = None  # Validate's counts as the ledger holds them (rejected runs)
    ledger_extra_columns: list[str] | None = (
        None  # the ledger's, when Validate's output is not in the history
    )
    redrives: list[dict[str, Any]] = field(default_factory=list)  # --redrive: sluice.local.redrive
    ledger_quality: list[dict[str, Any]] | None = None  # the quality results the ledger holds (rejected runs)

    @property
    def run_id(self) -> str:
        return self.execution_arn.rsplit(":", 1)[-1]

    @property
    def engine(self) -> str | None:
        """Which engine transformed the file: `lambda` (TransformInLambda ran), `glue` (Transform ran), or None."""
        names = {s.name for s in self.states}
        return next((engine for engine, state in TRANSFORM_STATES.items() if state in names), None)

    @property
    def extra_columns(self) -> list[str]:
        """The upload's columns its contract does not name (dropped), as Validate reported them."""
        if self.validated is not None:
            return list(self.validated.get("extra_columns") or [])
        return list(self.ledger_extra_columns or [])

    def rows(self) -> dict[str, int | None]:
        # A file rejected as a whole before its rows were all read has no counts: in, valid, rejected are null.
        counts = (self.validated or {}).get("counts") or self.ledger_counts or {}
        return {
            "in": counts.get("rows_in"),
            "blank": (self.validated or {}).get("blank_lines"),
            "valid": counts.get("rows_valid"),
            "rejected": counts.get("rows_rejected"),
            "curated": self._curated_rows(),
            "deduped": (self.manifest or {}).get("rows_deduped"),
            "loaded": (self.loaded or {}).get("rows_loaded"),
        }

    def _curated_rows(self) -> int | None:
        """The run's rows after dedupe: what the transform wrote, or, for a merge (which writes whole partitions),
        the run's rows whichever version won."""
        merge = self.merge()
        if merge is not None:
            return sum(merge.values())
        return (self.manifest or {}).get("rows_written")

    def merge(self) -> dict[str, int] | None:
        """A keyed table's merge of this run: `inserted` (keys new to the table), `updated` (the run's row won
        and differs), `unchanged` (the rest); None for an append-only table or a run that wrote nothing."""
        section = (self.manifest or {}).get("merge")
        if not section:
            return None
        return {k: section.get(k) for k in ("inserted", "updated", "unchanged")}

    def quality(self) -> list[dict[str, Any]]:
        """The run's quality results: `rule`, `severity`, `passed`, `value` per rule of the contract."""
        results = (self.validated or {}).get("quality") or self.ledger_quality or []
        return [{k: r.get(k) for k in ("rule", "severity", "passed", "value")} for r in results]

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "execution_arn": self.execution_arn,
            "dataset": self.dataset,
            "source_key": self.source_key,
            "seconds": round(self.seconds, 3),
            "rows": self.rows(),
            "merge": self.merge(),
            "engine": self.engine,
            "engine_reason": (self.validated or {}).get("transform_engine_reason"),
            "chunks": (self.validated or {}).get(
                "chunks"
            ),  # byte ranges validated in parallel (1: one Lambda)
            "extra_columns": self.extra_columns,
            "dlq": self.dlq,
            "states": [s.to_json() for s in self.states],
            "error": self.error,
            "ledger": self.ledger,
            "notifications": [n.get("status") for n in self.notifications],
            "duplicate": self.duplicate,
            "redrives": self.redrives,
            "quality": self.quality(),
        }


def plain_cause(cause: str) -> str:
    """An execution's `cause` as one message: the `errorMessage` of a Lambda error payload (no stack trace, no
    paths), the `ErrorMessage` of a Glue job run; other causes as they are."""
    try:
        payload = json.loads(cause)
    except (ValueError, TypeError):
        return cause
    if isinstance(payload, dict):
        for key in ("errorMessage", "ErrorMessage", "message", "Message"):
            if isinstance(payload.get(key), str):
                return str(payload[key])
    return cause


def describe_end(result: ExecutionResult) -> str:
    """The progress line of an execution's end: `REJECTED in 1.26s: MissingColumnsError: ...`."""
    line = f"{result.status} in {result.seconds:.2f}s"
    if result.error:
        failed = next((v.name for v in reversed(result.states) if v.status == "FAILED"), None)
        at = f" at {failed}" if failed and result.status != "REJECTED" else ""
        line += f"{at}: {result.error['type']}: {result.error['cause']}"
    return line


def _states_from_history(events: list[dict[str, Any]]) -> list[StateVisit]:
    visits: list[StateVisit] = []
    current: StateVisit | None = None
    for ev in events:
        kind = ev["type"]
        if kind.endswith("StateEntered"):
            current = StateVisit(name=ev["stateEnteredEventDetails"]["name"], entered=ev["timestamp"])
            visits.append(current)
        elif (
            kind in ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled") and current is not None
        ):
            current.attempts += 1
        elif kind.endswith("StateExited") and current is not None:
            current.status = "SUCCEEDED"
            current.seconds = (ev["timestamp"] - current.entered).total_seconds()
            output = ev["stateExitedEventDetails"].get("output")
            current.output = json.loads(output) if output else None
            current = None
        elif kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted") and current is not None:
            current.status = "FAILED"
            current.seconds = (ev["timestamp"] - current.entered).total_seconds()
            if current.name == REJECTED_STATE:
                current.status = "SUCCEEDED"  # a Fail state that did its job: the run was rejected on purpose
    return visits


class _History:
    """An execution's history, oldest event first, read whole once and then only the events added since.

    A later read asks for the newest HISTORY_PAGE events first: when the newest event it already has is among
    them (nearly always, as reads come at most a second apart), that one small page was all it cost; when
    more events came since, it reads the whole history again, in pages of WHOLE_PAGE. Following a long state
    costs a page per read, not the whole history.
    """

    def __init__(self, sfn: Any, arn: str) -> None:
        self.sfn = sfn
        self.arn = arn
        self.events: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        if self.events:
            newest = self.events[-1]["id"]
            page = self.sfn.get_execution_history(
                executionArn=self.arn, reverseOrder=True, maxResults=HISTORY_PAGE
            )["events"]
            if any(event["id"] <= newest for event in page):
                self.events.extend(reversed([event for event in page if event["id"] > newest]))
                return self.events
        pages = self.sfn.get_paginator("get_execution_history").paginate(
            executionArn=self.arn, PaginationConfig={"PageSize": WHOLE_PAGE}
        )
        self.events = [event for page in pages for event in page["events"]]
        return self.events


class Runner:
    """Runs inputs one after another in one emulator session."""

    def __init__(
        self,
        emulator: Emulator,
        progress: Progress,
        reruns: int = 0,
        on_result: Callable[[Emulator, ExecutionResult], None] | None = None,
        redrive: bool = False,
        faults: FaultInjector | None = None,
    ) -> None:
        self.emu = emulator
        self.redrive = redrive  # redrive each failed execution from the state that failed, faults suspended
        self.faults = faults
        self.progress = progress
        self.reruns = reruns  # executions started again with the same input after each first one ends
        self.on_result = on_result  # called as each execution ends, while the emulation still runs
        self.sfn = emulator.client("stepfunctions")
        self.s3 = emulator.client("s3")

    def upload(self, item: RunInput) -> tuple[str, str]:
        """Uploads like a user; returns (key, execution ARN) of the execution the rule started."""
        key = f"incoming/{item.dataset}/{item.path.name}"
        before = len(self.emu.bus.started)
        self.s3.upload_file(str(item.path), self.emu.stack.raw_bucket, key)
        started = self.emu.bus.started[before:]
        if not started:
            raise RuntimeError(f"{key}: the upload matched no EventBridge rule of the template")
        return key, started[-1]

    def _wait_while_running(self, arn: str, seconds: float) -> None:
        """Sleeps `seconds`, or less if the execution ends meanwhile (its status checked every STATUS_POLL_S)."""
        until = time.perf_counter() + seconds
        while (left := until - time.perf_counter()) > 0:
            time.sleep(min(STATUS_POLL_S, left))
            if left > STATUS_POLL_S and self.sfn.describe_execution(executionArn=arn)["status"] in TERMINAL:
                return

    def follow(
        self, arn: str, dataset: str, key: str, timeout: float = 3600.0, shown_before: int = 0
    ) -> ExecutionResult:
        """Polls the execution, printing each state as it finishes (after the first `shown_before`), until it ends."""
        result = ExecutionResult(execution_arn=arn, dataset=dataset, source_key=key)
        started = time.perf_counter()
        shown = shown_before
        pause = POLL_FIRST_S
        said = time.perf_counter()  # when the last progress line was printed
        history = _History(self.sfn, arn)
        while True:
            status = self.sfn.describe_execution(executionArn=arn)["status"]
            visits = _states_from_history(history.read())
            for visit in visits[shown:]:
                if visit.status == "RUNNING":
                    break
                retries = (
                    f" after {counted(visit.attempts - 1, 'retry', 'retries')}" if visit.attempts > 1 else ""
                )
                self.progress(
                    f"  {'✓' if visit.status == 'SUCCEEDED' else '✗'} {visit.name} {visit.seconds:.2f}s{retries}"
                )
                shown += 1
                said = time.perf_counter()
                pause = POLL_FIRST_S
            if status in TERMINAL:
                break
            now = time.perf_counter()
            if now - started > timeout:
                raise TimeoutError(f"{arn} still RUNNING after {timeout:.0f}s")
            running = [v for v in visits[shown:] if v.status == "RUNNING"]
            if running and now - said >= HEARTBEAT_S:
                self.progress(self._heartbeat(running[-1]))
                said = now
            # Polling reads the whole history through moto's serializer: often at first, so short states
            # show at once, then at most once a second, not to slow down a long state's work. Meanwhile the
            # execution's status alone is checked every STATUS_POLL_S, so its end is seen at once.
            self._wait_while_running(arn, pause)
            pause = min(POLL_MAX_S, pause * 1.5)
        self.emu.bus.drain()
        described = self.sfn.describe_execution(executionArn=arn)
        result.status = described["status"]
        result.seconds = time.perf_counter() - started
        visits = _states_from_history(history.read())
        for visit in visits[shown:]:
            self.progress(
                f"  {'✓' if visit.status == 'SUCCEEDED' else '✗'} {visit.name} {visit.seconds:.2f}s"
            )
        result.states = visits
        if result.status != "SUCCEEDED":
            raw = described.get("cause", "")
            result.error = {"type": described.get("error", ""), "cause": plain_cause(raw), "raw_cause": raw}
        if result.status == "FAILED" and visits and visits[-1].name == REJECTED_STATE:
            result.status = "REJECTED"  # Step Functions says FAILED: the Fail state that rejects a file
        for visit in visits:
            out = visit.output or {}
            # Validate's output, or (over ValidateChunkBytes) MergeChunks': Validate then returns the fan-out plan.
            if (
                visit.name in ("Validate", "MergeChunks")
                and "run" in out
                and not out["run"]["result"].get("fanned_out")
            ):
                result.validated = out["run"]["result"]
            if visit.name == "Load" and "load" in out:
                result.loaded = out["load"]["result"]
        if result.validated:
            result.manifest = self._manifest(result.validated["output_uri"])
        result.duplicate = any(visit.name == "Duplicate" for visit in visits)
        item = self._ledger_item(described["input"])
        result.ledger = None if item is None else item.get("status")
        if item is not None and not result.validated and item.get("execution_arn") == arn:
            result.ledger_counts = item.get("counts")
            result.ledger_extra_columns = item.get("extra_columns")
            result.ledger_quality = item.get("quality")
        return result

    def _heartbeat(self, visit: StateVisit) -> str:
        """`  … Load 12s: 340,000 serving items` for a state that has been running a while."""
        seconds = (datetime.now(UTC) - visit.entered).total_seconds() if visit.entered else 0.0
        detail = None
        if visit.name in ("Transform",):
            detail = activity.spark_tasks()
        elif visit.name.startswith("Load"):
            items = activity.table_items(self.emu.stack.serving_table)
            detail = None if items is None else f"{items:,} serving items"
        return f"  … {visit.name} {seconds:.0f}s" + (f": {detail}" if detail else "")

    def rerun(self, first: ExecutionResult) -> ExecutionResult:
        """Starts a new execution with the first one's input, as the console's "New execution" does."""
        text = self.sfn.describe_execution(executionArn=first.execution_arn)["input"]
        arn = self.start(text)
        return self.follow(arn, first.dataset, first.source_key)

    def start(self, input_text: str) -> str:
        """Starts an execution of the stack's state machine with the given input; returns its ARN."""
        started = self.sfn.start_execution(stateMachineArn=self.emu.stack.state_machine_arn, input=input_text)
        arn: str = started["executionArn"]
        return arn

    def _ledger_item(self, input_text: str) -> dict[str, Any] | None:
        """The input's object version in the runs ledger, when the execution ended."""
        try:
            source = source_from_event(json.loads(input_text))
        except (InvalidEventError, ValueError):
            return None
        return Ledger(self.emu.client("dynamodb"), self.emu.stack.runs_table).get(source)

    def _manifest(self, output_uri: str) -> dict[str, Any] | None:
        bucket, _, prefix = output_uri.removeprefix("s3://").partition("/")
        try:
            body = self.s3.get_object(Bucket=bucket, Key=f"{prefix}{MANIFEST_NAME}")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        manifest: dict[str, Any] = json.loads(body)
        return manifest

    def run(self, inputs: list[RunInput]) -> list[ExecutionResult]:
        results = []
        for item in inputs:
            self.progress(f"▶ {item.path.name} → s3://{self.emu.stack.raw_bucket}/incoming/{item.dataset}/")
            key, arn = self.upload(item)
            self.progress(f"  execution {arn.rsplit(':', 1)[-1]}")
            result = self.follow(arn, item.dataset, key)
            self.progress(f"  {describe_end(result)}")
            results.append(result)
            if self.on_result is not None:
                self.on_result(self.emu, result)
            if self.redrive and result.status != "SUCCEEDED":
                redriven = self.redrive_failed(result)
                if redriven is not result:
                    results[-1] = result = redriven
                    if self.on_result is not None:
                        self.on_result(self.emu, result)
            for number in range(1, self.reruns + 1):
                self.progress(f"▶ rerun {number} of {self.reruns}: a new execution with the same input")
                again = self.rerun(result)
                self.progress(f"  {describe_end(again)}")
                results.append(again)
                if self.on_result is not None:
                    self.on_result(self.emu, again)
        self._annotate(results)
        return results

    def redrive_failed(self, failed: ExecutionResult) -> ExecutionResult:
        """Redrives a failed execution from the state that failed, with --fail faults suspended meanwhile."""
        if self.faults is None:
            return self._redrive(failed)
        with self.faults.suspended():
            return self._redrive(failed)

    def _redrive(self, failed: ExecutionResult) -> ExecutionResult:
        """Redrives a failed execution (sluice.local.redrive), follows it to its end; the result covers the whole
        execution.

        Its `states` are every visit in history order, `redrives` gains one entry for this redrive. A run that
        ended in a Fail state (a rejected file) is not redriven: the Fail state would only fail again.
        """
        try:
            resume = plan(failed.execution_arn)
        except NotRedrivableError as exc:
            self.progress(f"  not redriven: {exc}")
            return failed
        if resume.type == "Fail":
            self.progress(
                f"  not redriven: it ended in the Fail state {resume.name} (the fix is a new upload)"
            )
            return failed
        started = redrive_execution(failed.execution_arn)
        self.progress(f"▶ redrive {started.redrive_count}: resuming at {started.from_state}")
        again = self.follow(
            failed.execution_arn, failed.dataset, failed.source_key, shown_before=len(failed.states)
        )
        again.redrives = [
            *failed.redrives,
            {
                "redrive_count": started.redrive_count,
                "from_state": started.from_state,
                "status": again.status,
                "seconds": round(again.seconds, 3),
                "states": [visit.to_json() for visit in again.states[len(failed.states) :]],
                "error": again.error,
            },
        ]
        again.seconds += failed.seconds
        ended = describe_end(again).split(":", 1)
        self.progress(
            f"  {again.status} in {again.redrives[-1]['seconds']:.2f}s"
            + (f":{ended[1]}" if len(ended) > 1 else "")
        )
        return again

    def upload_many(self, items: list[RunInput], threads: int = 8) -> list[tuple[str, str]]:
        """Uploads every item at once (concurrent PutObjects, as many users would); returns (key, execution
        ARN) per item, in input order. Does not wait for the executions (see follow_many)."""

        def put(item: RunInput) -> tuple[str, str]:
            key = f"incoming/{item.dataset}/{item.path.name}"
            put = self.s3.put_object(Bucket=self.emu.stack.raw_bucket, Key=key, Body=item.path.read_bytes())
            return key, put.get("VersionId") or put["ETag"].strip('"')

        before = len(self.emu.bus.started)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            uploaded = list(pool.map(put, items))
        by_object: dict[tuple[str, str], str] = {}
        for arn in self.emu.bus.started[before:]:
            obj = json.loads(self.sfn.describe_execution(executionArn=arn)["input"])["detail"]["object"]
            by_object[(obj["key"], obj.get("version-id") or obj["etag"])] = arn
        missing = [key for key, version in uploaded if (key, version) not in by_object]
        if missing:
            raise RuntimeError(f"{', '.join(missing)}: the upload started no execution")
        return [(key, by_object[(key, version)]) for key, version in uploaded]

    def follow_many(
        self, items: list[RunInput], started: list[tuple[str, str]], timeout: float = 3600.0
    ) -> list[ExecutionResult]:
        """Follows executions started together (upload_many) until each ends; annotates them like run()."""
        results = [
            self.follow(arn, item.dataset, key, timeout=timeout)
            for item, (key, arn) in zip(items, started, strict=True)
        ]
        self._annotate(results)
        return results

    def _annotate(self, results: list[ExecutionResult]) -> None:
        """Adds what other services hold about each execution: DLQ rows, ledger status, notifications."""
        dlq = read_queue(self.emu.client("sqs"), self.emu.stack.queue_url, keep=True)
        notes = read_queue(self.emu.client("sqs"), self.emu.tap_url, keep=True)
        ddb = self.emu.client("dynamodb")
        for result in results:
            for msg in dlq:
                if msg["attributes"].get("run_id") == result.run_id:
                    result.dlq["messages"] += 1
                    result.dlq["rows"] += len(msg["body"].get("rows", []))
            for note in notes:
                body = note["body"]
                message = (
                    json.loads(body["Message"]) if isinstance(body, dict) and "Message" in body else body
                )
                if isinstance(message, dict) and message.get("execution_arn") == result.execution_arn:
                    result.notifications.append(message)
            bucket = self.emu.stack.raw_bucket
            item = ddb.query(
                TableName=self.emu.stack.runs_table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"{bucket}/{result.source_key}"}},
            )["Items"]
            if item and result.ledger is None:
                latest = max(item, key=lambda i: i.get("updated_at", {}).get("S", ""))
                result.ledger = latest.get("status", {}).get("S")


def run_files(
    inputs: list[RunInput],
    out_dir: Path,
    progress: Progress,
    root: Path | None = None,
    time_scale: float = 0.001,
    reruns: int = 0,
    on_result: Callable[[Emulator, ExecutionResult], None] | None = None,
    faults: list[FaultSpec] | None = None,
    redrive: bool = False,
    parameters: dict[str, str] | None = None,
    contracts: Path | None = None,
    iam: bool = True,
) -> dict[str, Any]:
    """Provisions the stack, runs every input in order, exports what the runs produced.

    `reruns`: after each input's execution ends, start that many more with the same input.
    `on_result`: called with the emulator and each execution's result as the execution ends.
    `faults`: Task states whose service calls fail (sluice.local.faults); FaultSpecError for a bad one.
    `redrive`: redrive each failed execution from the state that failed (sluice.local.redrive).
    `parameters`: template parameter overrides, as `sam deploy --parameter-overrides` (sluice.local.parameters).
    `contracts`: the contracts folder the handlers read (default: the checkout's `contracts/`).
    `iam`: every call runs as its component's template role and is evaluated against its policies; the per-role
    report goes to `out_dir/iam.json` (sluice.local.iam). False: no enforcement, no report.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    log_file = out_dir / "logs" / "lambda.log"
    if log_file.exists():
        log_file.unlink()
    t0 = time.perf_counter()
    with Emulator(
        root=root,
        time_scale=time_scale,
        log_file=log_file,
        parameters=parameters,
        contracts=contracts,
        iam=iam,
    ) as emu:
        progress(f"stack provisioned from template.sam.yaml in {time.perf_counter() - t0:.2f}s")
        with injected(emu, faults or []) as injector:
            runner = Runner(
                emu, progress, reruns=reruns, on_result=on_result, redrive=redrive, faults=injector
            )
            results = runner.run(inputs)
        outputs = export_outputs(emu, out_dir)
        iam_summary = None if emu.iam is None else iam_report.summary(emu.iam, out_dir)
    statuses = {r.status for r in results}
    overall = (
        "SUCCEEDED"
        if statuses == {"SUCCEEDED"}
        else "REJECTED"
        if statuses <= {"SUCCEEDED", "REJECTED"}
        else "FAILED"
    )
    return {
        "status": overall,
        "executions": [r.to_json() for r in results],
        "outputs": outputs,
        "faults": [] if injector is None else injector.summary(),
        "iam": iam_summary,
    }
