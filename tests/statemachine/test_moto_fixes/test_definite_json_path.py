"""moto correction ``definite_json_path``: a definite JSONPath such as ``$.rows[0].name`` yields a scalar."""

from __future__ import annotations

from typing import Any

import pytest
from moto_asl import run

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

ROWS = {"rows": [{"name": "alpha", "meta": {"size": 3}}, {"name": "beta", "meta": {"size": 5}}]}
PATHS_MACHINE = {
    "StartAt": "Pick",
    "States": {
        "Pick": {
            "Type": "Pass",
            "Parameters": {"first.$": "$.rows[0].name", "all.$": "$.rows[*].name", "head.$": "$.rows[0:1]"},
            "ResultPath": "$.picked",
            "Next": "Narrow",
        },
        "Narrow": {
            "Type": "Pass",
            "InputPath": "$.rows[0].meta",
            "ResultPath": "$.narrowed",
            "Next": "Select",
        },
        "Select": {
            "Type": "Parallel",
            "Branches": [{"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}],
            "ResultSelector": {"name.$": "$[0].rows[1].name"},
            "ResultPath": "$.selected",
            "Next": "Check",
        },
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.rows[0].name", "StringEquals": "alpha", "Next": "Matched"}],
            "Default": "Unmatched",
        },
        "Matched": {"Type": "Pass", "Result": True, "ResultPath": "$.matched", "End": True},
        "Unmatched": {"Type": "Pass", "Result": False, "ResultPath": "$.matched", "End": True},
    },
}


def test_definite_json_path_yields_a_scalar_and_indefinite_paths_lists(sfn: Any) -> None:
    result = run(sfn, PATHS_MACHINE, ROWS)

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["picked"] == {
        "first": "alpha",
        "all": ["alpha", "beta"],
        "head": [{"name": "alpha", "meta": {"size": 3}}],
    }
    assert result.output["narrowed"] == {"size": 3}
    assert result.output["selected"] == {"name": "beta"}
    assert result.output["matched"] is True


def test_definite_json_path_without_fix_yields_a_one_element_list(sfn: Any) -> None:
    with moto_fixes.reverted("definite_json_path"):
        result = run(sfn, PATHS_MACHINE, ROWS)

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["picked"]["first"] == ["alpha"]
    assert result.output["matched"] is False
