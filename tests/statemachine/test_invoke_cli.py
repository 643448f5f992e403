"""`sluice invoke` end to end: result JSON alone on stdout, exit codes, --object and --env-vars."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from events import EVENTS_DIR
from sluice.cli import app

pytestmark = pytest.mark.emulator

HEADER = "account,offer_id,catalog_id,account_type_code,offer_type_id,created,expire,risk"
ROWS = [
    f"{10000000 + i},{100000000000 + i},{100000000000000000 + i},AB,{20000000 + i},"
    "2026-03-04T05:06:07+00:00,2026-09-01T00:00:00+00:00,medium"
    for i in range(30)
]

runner = CliRunner()


def test_invoke_validate_with_its_upload_prints_the_result_and_exits_0(tmp_path: Path) -> None:
    csv = tmp_path / "offers.csv"
    csv.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    env = tmp_path / "env.json"
    env.write_text('{"Parameters": {"NOT_IN_TEMPLATE": "x"}}', encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "invoke",
            "ValidateFunction",
            "-e",
            str(EVENTS_DIR / "validate_offers.json"),
            "--object",
            f"s3://sluice-raw-local/incoming/offers/offers.csv={csv}",
            "--env-vars",
            str(env),
        ],
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)  # the handler's logs and metrics went to stderr, not here
    assert out["counts"] == {
        "rows_in": 30,
        "rows_valid": 30,
        "rows_rejected": 0,
        "bytes_in": csv.stat().st_size,
    }
    assert out["quarantine_uri"] is None
    assert "ignored (not in the template's environment): NOT_IN_TEMPLATE" in result.stderr
    assert "ValidateFunction (sluice-dev-validate) returned" in result.stderr


def test_invoke_handler_that_raises_prints_its_error_and_exits_1(tmp_path: Path) -> None:
    env = tmp_path / "env.json"
    env.write_text('{"ValidateFunction": {"RUNS_TABLE": "sluice-no-such-table"}}', encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "invoke",
            "ValidateFunction",
            "-e",
            str(EVENTS_DIR / "validate_offers.json"),
            "--env-vars",
            str(env),
        ],
    )
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    # The override reached the handler: the ledger claim fails on the missing table before S3 is read.
    assert out["errorType"] == "ResourceNotFoundException"
    assert set(out) == {"errorType", "errorMessage"}
    assert "raised ResourceNotFoundException" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
