"""The `sluice` command as a user runs it: exit codes, one JSON object on stdout, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from offers_rows import OFFERS_HEADER, offers_row

ROOT = Path(__file__).resolve().parents[2]


def sluice(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sluice.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_cli_run_without_dataset_is_a_usage_error(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text(OFFERS_HEADER + "\n", encoding="utf-8")
    result = sluice("run", str(src), cwd=tmp_path)
    assert result.returncode == 2
    assert "--dataset" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_run_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = sluice("run", "nope.csv", "--dataset", "offers", cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.csv: no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_run_non_csv_file_is_a_usage_error(tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_text("x\n", encoding="utf-8")
    result = sluice("run", f"offers={src}", cwd=tmp_path)
    assert result.returncode == 2
    assert ".csv" in result.stderr


@pytest.mark.emulator
def test_cli_run_json_rejected_file_exits_1_with_one_json_object(tmp_path: Path) -> None:
    src = tmp_path / "mostly bad.csv"
    rows = [offers_row(1), offers_row(2, risk="nope"), offers_row(3, account="12")]
    src.write_text("\n".join([OFFERS_HEADER, *rows]) + "\n", encoding="utf-8")
    result = sluice(
        "run", str(src), "--dataset", "offers", "--json", "--out", str(tmp_path / "out"), cwd=ROOT
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)  # exactly one JSON document
    assert summary["status"] == "REJECTED"
    (execution,) = summary["executions"]
    assert execution["status"] == "REJECTED"
    assert execution["error"]["type"] == "TooManyBadRowsError"
    cause = execution["error"]["cause"]  # one plain sentence, no payload, no stack trace
    assert "2 of 3 rows (66.7%) break the contract; offers allows at most 5.0%" in cause
    assert cause.startswith("s3://sluice-dev-raw-") and "\n" not in cause
    assert "stackTrace" not in execution["error"]["cause"]
    assert json.loads(execution["error"]["raw_cause"])["errorType"] == "TooManyBadRowsError"
    assert execution["rows"] == {
        "in": 3,
        "blank": None,  # Validate raised: its output, which counts blank lines, is not in the history
        "valid": 1,
        "rejected": 2,
        "curated": None,
        "deduped": None,
        "loaded": None,
    }
    assert execution["ledger"] == "REJECTED"
    assert execution["notifications"] == ["REJECTED"]
    assert [s["name"] for s in execution["states"]] == ["Validate", "RejectFile", "Rejected"]
    rejected = Path(summary["outputs"]["rejected"]) / "offers" / "mostly bad.csv"
    assert rejected.read_text(encoding="utf-8").startswith(OFFERS_HEADER)
    assert not list(Path(summary["outputs"]["incoming"]).rglob("*.csv"))
    quarantine = list(Path(summary["outputs"]["quarantine"]).rglob("bad_rows.csv"))
    assert len(quarantine) == 1
