"""A rejected file reads as one sentence in the table, the progress lines and --json, and whole-file errors
say where the problem is (issue 20, items 3 and 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "corpus"
RAW = "s3://sluice-dev-raw-123456789012-us-east-1/incoming/offers"


def sluice(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sluice.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "250"},
    )


@pytest.fixture(scope="module")
def rejected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("rejections")
    files = ["semicolon_delimited.csv", "unterminated_quote_in_row.csv", "latin1.csv", "utf16.csv"]
    result = sluice("run", *(str(CORPUS / f) for f in files), "-d", "offers", "--json", "--out", str(out))
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    by_file = {ex["source_key"].rsplit("/", 1)[-1]: ex for ex in summary["executions"]}
    return {"summary": summary, "by_file": by_file, "stderr": result.stderr}


@pytest.mark.emulator
def test_rejected_files_have_status_rejected_and_no_rows_when_none_were_read(
    rejected: dict[str, Any],
) -> None:
    assert rejected["summary"]["status"] == "REJECTED"
    for execution in rejected["by_file"].values():
        assert execution["status"] == "REJECTED"
        assert execution["ledger"] == "REJECTED"
        assert {k: execution["rows"][k] for k in ("in", "valid", "rejected")} == {
            "in": None,
            "valid": None,
            "rejected": None,
        }


@pytest.mark.emulator
def test_semicolon_file_names_the_header_as_written_and_hints_at_the_delimiter(
    rejected: dict[str, Any],
) -> None:
    error = rejected["by_file"]["semicolon_delimited.csv"]["error"]
    assert error["type"] == "MissingColumnsError"
    assert error["cause"] == (
        f"{RAW}/semicolon_delimited.csv: the header lacks required columns: account, offer_id, catalog_id, "
        "account_type_code, offer_type_id, created, expire, risk (header: "
        "account;offer_id;catalog_id;account_type_code;offer_type_id;created;expire;risk); the header is one "
        "column holding 7 ';' characters: is the file ';'-delimited? Uploads must be comma-separated (RFC 4180)"
    )
    raw = json.loads(error["raw_cause"])
    assert raw["errorMessage"] == error["cause"] and "stackTrace" in raw


@pytest.mark.emulator
def test_unterminated_quote_names_the_line_and_column_of_the_quote(rejected: dict[str, Any]) -> None:
    error = rejected["by_file"]["unterminated_quote_in_row.csv"]["error"]
    assert (error["type"], error["cause"]) == (
        "MalformedCsvError",
        f"{RAW}/unterminated_quote_in_row.csv: a quoted value is never closed: the quote at line 3, column 106 "
        "opens it (the file has an odd number of '\"' characters, so everything after that quote would be one "
        "value)",
    )


@pytest.mark.emulator
def test_invalid_utf8_names_line_column_and_the_bytes(rejected: dict[str, Any]) -> None:
    latin1 = rejected["by_file"]["latin1.csv"]["error"]
    assert (latin1["type"], latin1["cause"]) == (
        "NotUtf8Error",
        f"{RAW}/latin1.csv: not UTF-8 text: line 3, column 106: invalid byte 0xE9 at offset 294 (invalid "
        "continuation byte); Latin-1 or Windows-1252 text? save the file as UTF-8",
    )
    utf16 = rejected["by_file"]["utf16.csv"]["error"]
    assert utf16["cause"] == (
        f"{RAW}/utf16.csv: not UTF-8 text: line 1, column 1: invalid byte 0xFF at offset 0 (invalid start "
        "byte); it starts with a UTF-16 byte order mark: save it as UTF-8"
    )


@pytest.mark.emulator
def test_progress_lines_say_why_each_file_was_rejected(rejected: dict[str, Any]) -> None:
    stderr = rejected["stderr"]
    assert "  REJECTED in " in stderr
    assert f"s: NotUtf8Error: {RAW}/latin1.csv: not UTF-8 text: line 3, column 106" in stderr
    assert "s: MissingColumnsError: " in stderr
    assert "stackTrace" not in stderr and "Traceback" not in stderr and "Warning" not in stderr


@pytest.mark.emulator
def test_table_prints_the_rejection_as_one_sentence_without_stack_trace(tmp_path: Path) -> None:
    result = sluice("run", str(CORPUS / "semicolon_delimited.csv"), "-d", "offers", "--out", str(tmp_path))
    assert result.returncode == 1
    assert "sluice run: REJECTED" in result.stdout
    assert "│ REJECTED │" in result.stdout
    assert (
        "incoming/offers/semicolon_delimited.csv: REJECTED: MissingColumnsError: "
        f"{RAW}/semicolon_delimited.csv: the header lacks required columns" in result.stdout
    )
    assert "stackTrace" not in result.stdout and "/work/" not in result.stdout.replace(str(tmp_path), "")
