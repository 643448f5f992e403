"""`sluice run --reruns K`: K more executions with the same input, each reported in the JSON summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from offers_rows import OFFERS_HEADER, offers_row

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.emulator
def test_cli_run_reruns_a_rejected_upload_to_the_same_rejected_end_state(tmp_path: Path) -> None:
    src = tmp_path / "offers-bad.csv"
    rows = [offers_row(1), offers_row(2, risk="nope"), offers_row(3, account="12")]
    src.write_text("\n".join([OFFERS_HEADER, *rows]) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    command = ["run", str(src), "-d", "offers", "--reruns", "1", "--json", "--out", str(out)]

    result = subprocess.run(
        [sys.executable, "-m", "sluice.cli", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 1, result.stderr
    assert "rerun 1 of 1" in result.stderr
    summary = json.loads(result.stdout)
    first, rerun = summary["executions"]
    assert first["execution_arn"] != rerun["execution_arn"]
    for execution in (first, rerun):
        assert execution["status"] == "REJECTED"
        assert execution["error"]["type"] == "TooManyBadRowsError"
        assert execution["ledger"] == "REJECTED"
        assert execution["notifications"] == ["REJECTED"]
        assert execution["duplicate"] is False
        assert execution["rows"]["loaded"] is None
    assert [p.name for p in (out / "rejected").rglob("*.csv")] == ["offers-bad.csv"]
    assert list((out / "incoming").rglob("*.csv")) == []
