"""A contract of one's own with Frictionless `missingValues`; blank lines are counted, not silently skipped
(issue 20, item 8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]

CONTRACT = """\
dataset: stock
schema:
  missingValues: ["", "NA", "n/a"]
  fields:
    - {name: sku, type: string, constraints: {required: true}}
    - {name: qty, type: integer}
    - {name: note, type: string}
  primaryKey: [sku]
"""


@pytest.mark.emulator
def test_missing_values_become_null_and_blank_lines_are_counted(tmp_path: Path) -> None:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "stock.yaml").write_text(CONTRACT, encoding="utf-8")
    src = tmp_path / "stock.csv"
    src.write_text("sku,qty,note\n\nA1,3, keep me \nA2,NA,n/a\n,,\nA3, 7 ,\nA4,1,   \n\n", encoding="utf-8")
    out = tmp_path / "out"

    command = ["run", str(src), "-d", "stock", "--contracts", str(contracts), "--json", "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "sluice.cli", *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr
    (execution,) = json.loads(result.stdout)["executions"]
    assert {k: execution["rows"][k] for k in ("in", "blank", "valid", "rejected")} == {
        "in": 4,
        "blank": 3,
        "valid": 4,
        "rejected": 0,
    }
    table = pq.read_table(next((out / "curated" / "stock").rglob("*.parquet")))
    rows = sorted(zip(*(table.column(c).to_pylist() for c in ("sku", "qty", "note")), strict=True))
    # Validate read qty trimmed and note as written; the transform trims every string value (docs/contracts.md).
    assert rows == [("A1", 3, "keep me"), ("A2", None, None), ("A3", 7, None), ("A4", 1, "")]
    (item,) = [json.loads(line) for line in (out / "ledger.jsonl").read_text(encoding="utf-8").splitlines()]
    assert int(item["blank_lines"]) == 3
