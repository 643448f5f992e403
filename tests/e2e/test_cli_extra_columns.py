"""Columns the contract does not name are dropped and reported where users look: the run summary (table and
--json), the ledger item and the notification (issue 20, item 5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from offers_rows import OFFERS_HEADER, offers_row

ROOT = Path(__file__).resolve().parents[2]


def sluice(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sluice.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "250"},
    )


@pytest.mark.emulator
def test_extra_columns_are_reported_in_summary_ledger_and_notification(tmp_path: Path) -> None:
    src = tmp_path / "with-notes.csv"
    rows = [f"{offers_row(i)},seen by Ann,x" for i in (1, 2)]
    src.write_text("\n".join([f"{OFFERS_HEADER},Sales Note,", *rows]) + "\n", encoding="utf-8")
    out = tmp_path / "out"

    result = sluice("run", str(src), "-d", "offers", "--json", "--out", str(out))

    assert result.returncode == 0, result.stderr
    (execution,) = json.loads(result.stdout)["executions"]
    assert execution["extra_columns"] == ["sales_note", "(unnamed column 10)"]
    (item,) = [json.loads(line) for line in (out / "ledger.jsonl").read_text(encoding="utf-8").splitlines()]
    assert item["extra_columns"] == ["sales_note", "(unnamed column 10)"]
    (note,) = [
        json.loads(line) for line in (out / "notifications.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert note["message"]["status"] == "SUCCEEDED"
    assert note["message"]["extra_columns"] == ["sales_note", "(unnamed column 10)"]

    table = sluice("run", str(src), "-d", "offers", "--out", str(tmp_path / "again"))
    assert table.returncode == 0, table.stderr
    assert (
        "incoming/offers/with-notes.csv: 2 columns not in the offers contract, dropped: sales_note, "
        "(unnamed column 10)" in table.stdout
    )
