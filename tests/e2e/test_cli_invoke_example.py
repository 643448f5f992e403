"""The README's `invoke` example: without --object the error says what is missing and how to put it; with it,
the event describes the file put (issue 20, item 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from offers_rows import OFFERS_HEADER, offers_row

ROOT = Path(__file__).resolve().parents[2]
EVENT = "events/validate_offers.json"


def sluice(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sluice.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.emulator
def test_invoke_without_the_object_names_the_missing_bucket_and_the_option() -> None:
    result = sluice("invoke", "ValidateFunction", "-e", EVENT)
    assert result.returncode == 1
    error = json.loads(result.stdout)
    assert error == {
        "errorType": "SourceObjectMissingError",
        "errorMessage": "s3://sluice-raw-local/incoming/offers/offers.csv: no bucket 'sluice-raw-local' (NoSuchBucket)",
    }
    assert (
        "hint: the emulated stack starts empty; put the event's object first with --object" in result.stderr
    )
    assert "gone" not in result.stderr and "Warning" not in result.stderr


@pytest.mark.emulator
def test_invoke_with_the_object_sets_the_events_size_to_the_file_put(tmp_path: Path) -> None:
    src = tmp_path / "offers.csv"
    src.write_text(
        "\n".join([OFFERS_HEADER, *(offers_row(i) for i in range(1, 21))]) + "\n", encoding="utf-8"
    )
    uri = "s3://sluice-raw-local/incoming/offers/offers.csv"
    result = sluice("invoke", "ValidateFunction", "-e", EVENT, "--object", f"{uri}={src}")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["source"]["size"] == src.stat().st_size
    assert out["counts"]["rows_in"] == 20
    assert f"event: size and etag of {uri} set to the object put" in result.stderr
    assert "Warning" not in result.stderr
