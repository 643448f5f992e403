"""`sluice quality DATASET`: a dataset's quality history from the folder `sluice run` exported."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from sluice.cli import app
from sluice_lib.quality.evaluate import QualityResult
from sluice_lib.quality.record import results_table


def export(out: Path, run_id: str, minute: int, passed: bool) -> None:
    results = [
        QualityResult("row_count", "row_count", "warn", True, 6, ">= 4"),
        QualityResult(
            "fee_within_amount", "expression", "reject", passed, 0 if passed else 2, "<= 0 rows", "e.g."
        ),
    ]
    table = results_table(
        results,
        run_id=run_id,
        ingest_id="i",
        source_key=f"incoming/payments/{run_id}.csv",
        checked_at=datetime(2026, 3, 1, 12, minute, tzinfo=UTC),
    )
    folder = out / "quality" / "dataset=payments"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / f"{run_id}.parquet")


def test_quality_command_lists_rules_per_run_oldest_first_as_json(tmp_path: Path) -> None:
    export(tmp_path, "run-b", 30, False)
    export(tmp_path, "run-a", 10, True)

    result = CliRunner().invoke(app, ["quality", "payments", "--out", str(tmp_path), "--json"])

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["run_id"], r["rule"], r["passed"], r["value"]) for r in rows] == [
        ("run-a", "row_count", True, 6.0),
        ("run-a", "fee_within_amount", True, 0.0),
        ("run-b", "row_count", True, 6.0),
        ("run-b", "fee_within_amount", False, 2.0),
    ]


def test_quality_command_runs_keeps_the_latest_runs_and_prints_a_table(tmp_path: Path) -> None:
    export(tmp_path, "run-b", 30, False)
    export(tmp_path, "run-a", 10, True)

    result = CliRunner().invoke(app, ["quality", "payments", "--out", str(tmp_path), "--runs", "1"])

    assert result.exit_code == 0, result.output
    assert "run-b" in result.stdout and "run-a" not in result.stdout
    assert "fee_within_amount" in result.stdout and "NO" in result.stdout


def test_quality_command_without_results_says_where_it_looked(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["quality", "payments", "--out", str(tmp_path)])

    assert result.exit_code == 0
    assert f"no quality results for payments in {tmp_path}/quality/dataset=payments" in result.output.replace(
        "\n", ""
    )
