"""`sluice run --fail ... --redrive` as a user runs it: faults named on the command line, the redrive in the
JSON summary, usage errors for faults the state machine cannot have. The rejection path needs no Spark."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from offers_rows import OFFERS_HEADER, offers_row

ROOT = Path(__file__).resolve().parents[2]


def sluice(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sluice.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_cli_fail_without_an_error_is_a_usage_error_before_anything_runs(tmp_path: Path):
    src = tmp_path / "a.csv"
    src.write_text(OFFERS_HEADER + "\n", encoding="utf-8")

    result = sluice("run", str(src), "--dataset", "offers", "--fail", "Load")

    assert result.returncode == 2
    assert "STATE=ERROR[:TIMES]" in result.stderr
    assert "stack provisioned" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.emulator
def test_cli_fail_on_a_state_the_state_machine_lacks_is_a_usage_error_naming_its_task_states(tmp_path: Path):
    src = tmp_path / "a.csv"
    src.write_text(OFFERS_HEADER + "\n", encoding="utf-8")

    result = sluice(
        "run", str(src), "--dataset", "offers", "--fail", "Publish=RuntimeError", "--out", str(tmp_path)
    )

    said = " ".join(result.stderr.split())  # the console wraps long lines
    assert result.returncode == 2
    assert "no Task state 'Publish' in the state machine" in said
    assert "RejectFile" in said and "Traceback" not in said


@pytest.mark.emulator
def test_cli_failed_reject_file_is_redriven_and_the_summary_shows_fault_and_redrive(tmp_path: Path):
    src = tmp_path / "offers-cli-redrive.csv"
    src.write_text(
        "\n".join([OFFERS_HEADER, offers_row(1), offers_row(2, risk="nope")]) + "\n", encoding="utf-8"
    )

    result = sluice(
        "run",
        str(src),
        "--dataset",
        "offers",
        "--fail",
        "RejectFile=RuntimeError:1",
        "--redrive",
        "--json",
        "--out",
        str(tmp_path / "out"),
    )

    assert result.returncode == 1, result.stderr  # a rejected file is a failed execution, redriven or not
    assert "Traceback" not in result.stderr
    assert "redrive 1: resuming at RejectFile" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["faults"] == [{"state": "RejectFile", "error": "RuntimeError", "times": 1, "fired": 1}]
    (execution,) = summary["executions"]
    assert (execution["status"], execution["error"]["type"]) == ("REJECTED", "TooManyBadRowsError")
    assert execution["ledger"] == "REJECTED"
    assert execution["notifications"] == ["FAILED", "REJECTED"]
    (redrive,) = execution["redrives"]
    assert (redrive["redrive_count"], redrive["from_state"], redrive["status"]) == (
        1,
        "RejectFile",
        "REJECTED",
    )
    assert [s["name"] for s in redrive["states"]] == ["RejectFile", "Rejected"]
    assert [s["name"] for s in execution["states"]] == ["Validate", "RejectFile", "RejectFile", "Rejected"]
