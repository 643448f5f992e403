"""Bad rows are queued once per source object version: `--reruns 1` leaves each bad row once in the queue,
and the ledger item names the run that queued them (issue 20, item 6)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from offers_rows import OFFERS_HEADER, offers_row

ROOT = Path(__file__).resolve().parents[2]


def _run(src: Path, out: Path) -> dict:
    command = ["run", str(src), "-d", "offers", "--reruns", "1", "--json", "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "sluice.cli", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr, result.stderr
    return {"code": result.returncode, "summary": json.loads(result.stdout), "out": out}


def _dlq_lines(out: Path) -> list[int]:
    messages = [json.loads(line) for line in (out / "dlq.jsonl").read_text(encoding="utf-8").splitlines()]
    return sorted(row["line"] for m in messages for row in m["body"]["rows"])


@pytest.mark.emulator
def test_rerun_of_a_file_with_bad_rows_does_not_queue_them_again(tmp_path: Path) -> None:
    src = tmp_path / "some-bad.csv"
    rows = [offers_row(i) for i in range(1, 40)] + [offers_row(40, risk="nope")]
    src.write_text("\n".join([OFFERS_HEADER, *rows]) + "\n", encoding="utf-8")
    run = _run(src, tmp_path / "out")

    assert run["code"] == 0
    first, rerun = run["summary"]["executions"]
    assert (first["status"], rerun["status"]) == ("SUCCEEDED", "SUCCEEDED")
    assert first["rows"]["rejected"] == rerun["rows"]["rejected"] == 1
    assert first["dlq"] == {"messages": 1, "rows": 1}
    assert rerun["dlq"] == {"messages": 0, "rows": 0}  # its rows are the first run's message
    assert _dlq_lines(run["out"]) == [41]
    (item,) = [json.loads(line) for line in (run["out"] / "ledger.jsonl").read_text().splitlines()]
    first_run_id = first["execution_arn"].rsplit(":", 1)[-1]
    assert item["bad_rows_queued"]["run_id"] == first_run_id
    assert int(item["bad_rows_queued"]["messages"]) == 1
    assert item["execution_arn"] == rerun["execution_arn"]
    # Each run still writes its own quarantine file.
    assert len(list((run["out"] / "quarantine" / "offers").rglob("bad_rows.csv"))) == 2


@pytest.mark.emulator
def test_rerun_of_a_rejected_file_does_not_queue_its_rows_again(tmp_path: Path) -> None:
    src = tmp_path / "mostly-bad.csv"
    rows = [offers_row(1), offers_row(2, risk="nope"), offers_row(3, account="12")]
    src.write_text("\n".join([OFFERS_HEADER, *rows]) + "\n", encoding="utf-8")
    run = _run(src, tmp_path / "out")

    assert run["code"] == 1
    assert [e["status"] for e in run["summary"]["executions"]] == ["REJECTED", "REJECTED"]
    assert _dlq_lines(run["out"]) == [3, 4]
