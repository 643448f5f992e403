"""EventBridge delivery as AWS does it: S3 Object Created and execution status changes, through the
template's rules (their real event patterns) to their targets (state machine, Lambda)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
from moto.events.models import events_backends
from moto.s3 import notifications
from moto.s3.models import S3Backend
from moto.stepfunctions.parser.backend import execution as sfn_execution

from sluice.local.lambdas import LambdaRuntime
from sluice.local.stack import ACCOUNT, REGION


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_created_event(
    bucket: str, key: str, size: int, etag: str, version_id: str | None
) -> dict[str, Any]:
    """The event S3 sends to EventBridge for a PutObject (keys are not URL-encoded here)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": _now(),
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": size,
                "etag": etag.strip('"'),
                **({"version-id": version_id} if version_id else {}),
                "sequencer": uuid.uuid4().hex[:18].upper(),
            },
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": ACCOUNT,
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }


def _epoch_ms(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else None


def execution_status_event(execution: Any) -> dict[str, Any]:
    """The "Step Functions Execution Status Change" event for a finished moto execution."""
    status = (
        execution.exec_status.value if hasattr(execution.exec_status, "value") else str(execution.exec_status)
    )
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": ACCOUNT,
        "time": _now(),
        "region": REGION,
        "resources": [execution.exec_arn],
        "detail": {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine.arn,
            "name": execution.name,
            "status": status,
            "startDate": _epoch_ms(execution.start_date),
            "stopDate": _epoch_ms(execution.stop_date),
            "input": json.dumps(execution.input_data),
            "output": json.dumps(execution.output) if execution.output is not None else None,
            "error": execution.error,
            "cause": execution.cause,
            "redriveCount": getattr(execution, "redrive_count", 0),  # set by sluice.local.redrive
        },
    }


class EventBus:
    """Matches events against the default bus's rules and delivers them to the rules' targets."""

    def __init__(self, lambdas: LambdaRuntime) -> None:
        self.lambdas = lambdas
        self.started: list[str] = []  # execution ARNs started by deliveries, in order
        self.delivered: list[dict[str, Any]] = []
        self.failed: list[dict[str, Any]] = []  # asynchronous Lambda targets that raised
        self._pending: list[threading.Thread] = []
        # Re-entrant: a finishing execution holds it while it queues its status-change delivery.
        self._lock = threading.RLock()

    def put(self, event: dict[str, Any], asynchronous: bool = False) -> None:
        backend = events_backends[ACCOUNT][REGION]
        for bus in backend.event_buses.values():
            for rule in list(bus.rules.values()):
                if rule.state != "ENABLED" or not rule.event_pattern.matches_event(event):  # type: ignore[arg-type]
                    continue
                for target in rule.targets:
                    if asynchronous:
                        thread = threading.Thread(target=self._deliver, args=(target, event), daemon=True)
                        with self._lock:
                            self._pending.append(thread)
                        thread.start()
                    else:
                        self._deliver(target, event)

    def _deliver(self, target: dict[str, Any], event: dict[str, Any]) -> None:
        arn: str = target["Arn"]
        payload = json.loads(target["Input"]) if target.get("Input") else event
        self.delivered.append({"target": arn, "detail-type": event["detail-type"]})
        if ":states:" in arn:
            sfn = boto3.client("stepfunctions", region_name=REGION)
            started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))
            with self._lock:
                self.started.append(started["executionArn"])
        elif ":lambda:" in arn:
            # An asynchronous invocation: errors stay with the function (and its rule's DLQ on AWS).
            result, error_type = self.lambdas.invoke(arn, payload)
            if error_type is not None:
                self.failed.append({"target": arn, "error": result})
                print(f"sluice: {arn} failed on {event['detail-type']}: {json.dumps(result)}", flush=True)

    def drain(self, timeout: float = 600.0) -> None:
        """Waits for asynchronous deliveries (status-change handlers) to finish."""
        while True:
            with self._lock:
                pending = [t for t in self._pending if t.is_alive()]
                self._pending = pending
            if not pending:
                return
            for thread in pending:
                thread.join(timeout)


_active: list[EventBus] = []
_patched: list[bool] = []


def install(bus: EventBus) -> None:
    """S3 uploads and finished executions go through the bus, as on AWS (hooks installed once)."""
    _active[:] = [bus]
    if not _patched:
        _patch_moto()
        _patched.append(True)


def uninstall() -> None:
    _active.clear()


def _patch_moto() -> None:
    original_send = notifications._send_event_bridge_message
    original_complete = S3Backend.complete_multipart_upload
    completing = threading.local()

    def complete_multipart_upload(self: Any, *args: Any, **kwargs: Any) -> Any:
        # moto 5.2.5 stores the assembled object with put_object, which announces it (ObjectCreated:Put)
        # before the CompleteMultipartUpload event: two "Object Created" events, two executions, for every
        # upload above the 8 MiB multipart threshold. AWS sends the second only.
        completing.active = True
        try:
            return original_complete(self, *args, **kwargs)
        finally:
            completing.active = False

    S3Backend.complete_multipart_upload = complete_multipart_upload  # type: ignore[method-assign]

    def send_event_bridge_message(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        if not _active:
            original_send(account_id, bucket, event_name, key)
            return
        if not event_name.startswith("s3:ObjectCreated"):
            return
        if getattr(completing, "active", False) and event_name == "s3:ObjectCreated:Put":
            return
        event = object_created_event(bucket.name, key.name, key.size, key.etag, key.version_id)
        _active[0].put(event)

    notifications._send_event_bridge_message = send_event_bridge_message

    original_terminated = sfn_execution.BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        if not _active:
            original_terminated(self)
            return
        bus = _active[0]
        # Under the bus's lock, so nobody who sees the final status can drain() before its delivery is queued.
        with bus._lock:
            original_terminated(self)
            if self.execution.exec_status.value in ("FAILED", "TIMED_OUT", "ABORTED"):
                bus.put(execution_status_event(self.execution), asynchronous=True)

    sfn_execution.BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
