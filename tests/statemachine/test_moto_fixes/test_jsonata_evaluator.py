"""moto correction ``jsonata_evaluator``: QueryLanguage JSONata states are evaluated."""

from __future__ import annotations

from typing import Any

import pytest
from moto_asl import run

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

JSONATA_MACHINE = {
    "QueryLanguage": "JSONata",
    "StartAt": "Add",
    "States": {"Add": {"Type": "Pass", "Output": "{% $states.input.a + 1 %}", "End": True}},
}


def test_jsonata_pass_state_output_is_evaluated(sfn: Any) -> None:
    result = run(sfn, JSONATA_MACHINE, {"a": 1})

    assert result.status == "SUCCEEDED", result.cause
    assert result.output == 2


def test_jsonata_without_fix_has_no_evaluator(sfn: Any) -> None:
    with moto_fixes.reverted("jsonata_evaluator"):
        result = run(sfn, JSONATA_MACHINE, {"a": 1})

    assert result.status == "FAILED"
    assert "'NoneType' object is not callable" in (result.cause or "")
