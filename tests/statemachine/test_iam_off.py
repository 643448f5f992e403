"""`iam=False` (`--no-iam`): every function calls as the emulator's own identity, nothing is judged."""

from __future__ import annotations

import os

import pytest

from sluice.local.emulator import Emulator

pytestmark = pytest.mark.emulator


def test_without_iam_functions_call_as_the_account() -> None:
    with Emulator(iam=False) as emulator:
        fn = emulator.stack.function_by_logical_id("ValidateFunction")
        with emulator.lambdas._environment(fn):
            env = {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}

    assert emulator.iam is None
    assert env == {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
