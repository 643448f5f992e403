"""In-process Lambdas see their function's environment; no other thread sees the process environment change."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import boto3

from sluice.local import environ
from sluice.local.lambdas import LambdaRuntime
from sluice.local.stack import LocalFunction

HANDLER = """
import os
import threading

def handler(event, context):
    seen = {}
    worker = threading.Thread(target=lambda: seen.update(thread=os.environ.get("RAW_BUCKET")))
    worker.start()
    worker.join()
    os.environ["SET_BY_HANDLER"] = "yes"
    listed = sorted(k for k in dict(os.environ) if k in ("RAW_BUCKET", "SET_BY_HANDLER", "EXTRA_0_0"))
    return {"bucket": os.environ["RAW_BUCKET"], "thread": seen["thread"], "listed": listed}
"""


def _runtime(tmp_path: Path) -> LambdaRuntime:
    (tmp_path / "app.py").write_text(HANDLER, encoding="utf-8")
    functions = {
        f"fn-{i}": LocalFunction(
            logical_id=f"Fn{i}",
            name=f"fn-{i}",
            arn=f"arn:aws:lambda:us-east-1:123456789012:function:fn-{i}",
            code_dir=tmp_path,
            handler="app.handler",
            environment={"RAW_BUCKET": f"raw-{i}", **{f"EXTRA_{i}_{n}": "x" for n in range(20)}},
            timeout=30,
            memory=128,
        )
        for i in range(2)
    }
    return LambdaRuntime(SimpleNamespace(functions=functions), tmp_path)  # type: ignore[arg-type]


def test_invocations_racing_client_creation_never_change_the_process_environment(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    assert "RAW_BUCKET" not in os.environ
    stop = threading.Event()
    seen_outside: list[str] = []
    errors: list[BaseException] = []

    def read_environment() -> None:
        # What botocore does when it makes a client (and mock.patch.dict when it saves the environment).
        while not stop.is_set():
            try:
                snapshot = dict(os.environ)
                boto3.session.Session().client("s3", region_name="us-east-1")
            except BaseException as exc:
                errors.append(exc)
                return
            seen_outside.extend(k for k in ("RAW_BUCKET", "SET_BY_HANDLER") if k in snapshot)

    readers = [threading.Thread(target=read_environment) for _ in range(2)]
    for reader in readers:
        reader.start()
    results = []
    deadline = time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline:
            for name in ("fn-0", "fn-1"):
                result, error_type = runtime.invoke(name, {})
                assert error_type is None, result
                results.append((name, result))
    finally:
        stop.set()
        for reader in readers:
            reader.join()

    assert errors == []
    assert seen_outside == []
    assert len(results) > 10
    for name, result in results:
        bucket = f"raw-{name[-1]}"
        assert result["bucket"] == bucket
        assert result["thread"] == bucket  # a thread the handler starts shares its environment
        assert result["listed"] == (
            ["EXTRA_0_0", "RAW_BUCKET", "SET_BY_HANDLER"]
            if name == "fn-0"
            else ["RAW_BUCKET", "SET_BY_HANDLER"]
        )
    assert "SET_BY_HANDLER" not in os.environ


def test_overlay_shows_its_values_and_hides_what_the_block_deletes() -> None:
    os.environ["SLUICE_TEST_BASE"] = "base"
    try:
        with environ.overlay({"SLUICE_TEST_OVER": "over"}):
            assert os.environ["SLUICE_TEST_OVER"] == "over"
            assert os.getenv("SLUICE_TEST_BASE") == "base"
            del os.environ["SLUICE_TEST_BASE"]
            assert "SLUICE_TEST_BASE" not in os.environ
            assert "SLUICE_TEST_BASE" not in dict(os.environ)
        assert os.environ["SLUICE_TEST_BASE"] == "base"
        assert "SLUICE_TEST_OVER" not in os.environ
    finally:
        del os.environ["SLUICE_TEST_BASE"]
