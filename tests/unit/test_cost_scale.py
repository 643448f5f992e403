"""`sluice cost --plan` (sluice.scale): at 1 GB to 1 TB every Lambda of the path stays within half its timeout
and within its memory with the template's defaults; a serving load left in one Lambda would not."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.cost import load_deployment
from sluice.scale import plan

TEMPLATE = Path(__file__).resolve().parents[2] / "template.sam.yaml"
DEPLOYMENT = load_deployment(TEMPLATE)


@pytest.mark.parametrize("size", [10**9, 10**10, 10**11, 10**12])
def test_scale_plan_keeps_every_lambda_within_half_its_timeout_and_its_memory(size: int):
    found = plan(DEPLOYMENT, size)

    late = [(s.name, s.seconds_each, s.spec.timeout_s) for s in found.steps if s.spec and not s.within_time]
    heavy = [(s.name, s.memory_mb, s.spec.memory_mb) for s in found.steps if s.spec and not s.within_memory]
    assert (late, heavy) == ([], [])
    assert found.ok


def test_scale_plan_of_1_tb_cuts_the_serving_load_into_items_of_at_most_load_serving_items_rows():
    found = plan(DEPLOYMENT, 10**12)

    (serving,) = [s for s in found.steps if s.name == "LoadServing"]
    rows = 10**12 // 124  # offers rows of 124 bytes
    assert DEPLOYMENT.parameters["LoadServingItems"] == "1000000"
    assert serving.invocations >= rows // 1_000_000
    assert "999,941 rows an item" in serving.note
    assert found.path == "fan-out"
    assert found.map_children == 2 * found.chunks + serving.invocations


def test_scale_plan_cutting_the_serving_load_by_files_only_puts_a_child_past_half_its_timeout():
    # LoadServingItems as large as the file: 10 GB in 26 files, LoadFanOutFiles 20 a child, 2 children.
    params = {**DEPLOYMENT.parameters, "LoadServingItems": str(10**12), "LoadFanOutFiles": "20"}
    wide = dataclasses.replace(DEPLOYMENT, parameters=params)

    found = plan(wide, 10**10)

    (serving,) = [s for s in found.steps if s.name == "LoadServing"]
    assert serving.invocations == 2 and not serving.within_time
    assert not found.ok


def test_cost_plan_json_names_the_path_children_and_each_steps_check():
    result = CliRunner().invoke(app, ["cost", "--plan", "--bytes", "1TB", "--json"])

    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["bytes"], out["path"], out["ok"]) == (10**12, "fan-out", True)
    names = [s["step"] for s in out["steps"]]
    assert names[:5] == [
        "Validate (claim, header, plan)",
        "ScanRanges",
        "PlanChunks",
        "ValidateChunks",
        "MergeChunks",
    ]
    assert {"Load (publish, plan)", "LoadServing", "Archive"} <= set(names)
    assert all(s["within_half_timeout"] and s["within_memory"] for s in out["steps"])
