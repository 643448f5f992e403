"""The local stack puts the Transform job's library where the template's --extra-py-files says, and a job run
fetches it from there, as Glue does: a missing or incomplete zip fails the run before its script starts."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from sluice.glue_library import build
from sluice.local.emulator import Emulator

pytestmark = pytest.mark.emulator

JOB = "sluice-dev-transform"
KEY = "glue/lib/sluice_transform.zip"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def _finished_run(emu: Emulator) -> dict[str, Any]:
    glue = emu.client("glue")
    run_id = glue.start_job_run(JobName=JOB, Arguments={"--run_id": "library-check"})["JobRunId"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run: dict[str, Any] = glue.get_job_run(JobName=JOB, RunId=run_id)["JobRun"]
        if run["JobRunState"] != "RUNNING":
            return run
        time.sleep(0.05)
    raise AssertionError(f"job run {run_id} still RUNNING after 60 s")


def test_stack_puts_the_built_library_at_the_templates_location(emu: Emulator) -> None:
    args = emu.client("glue").get_job(JobName=JOB)["Job"]["DefaultArguments"]
    got = emu.client("s3").get_object(Bucket=emu.stack.lake_bucket, Key=KEY)["Body"].read()

    assert args["--extra-py-files"] == f"s3://{emu.stack.lake_bucket}/{KEY}"
    assert got == build(emu.root)


def test_job_run_without_its_library_fails_naming_the_missing_object(emu: Emulator) -> None:
    s3 = emu.client("s3")
    s3.delete_object(Bucket=emu.stack.lake_bucket, Key=KEY)
    try:
        run = _finished_run(emu)
    finally:
        s3.put_object(Bucket=emu.stack.lake_bucket, Key=KEY, Body=build(emu.root))

    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"].startswith(
        f"FileNotFoundError: --extra-py-files s3://{emu.stack.lake_bucket}/{KEY}: no such object"
    )


def test_job_run_with_an_incomplete_library_fails_naming_the_missing_module(emu: Emulator) -> None:
    whole = zipfile.ZipFile(io.BytesIO(build(emu.root)))
    partial = io.BytesIO()
    with zipfile.ZipFile(partial, "w") as archive:
        for name in whole.namelist():
            if name != "sluice_transform/steps.py":
                archive.writestr(name, whole.read(name))
    s3 = emu.client("s3")
    s3.put_object(Bucket=emu.stack.lake_bucket, Key=KEY, Body=partial.getvalue())
    try:
        run = _finished_run(emu)
    finally:
        s3.put_object(Bucket=emu.stack.lake_bucket, Key=KEY, Body=build(emu.root))

    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"].startswith(
        "ModuleNotFoundError: No module named 'sluice_transform.steps': the Transform job imports sluice_transform "
        "and sluice_lib from the zip its --extra-py-files argument names"
    )
