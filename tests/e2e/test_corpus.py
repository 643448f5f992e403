"""The bad-input corpus (tests/data/corpus/) through the real emulated workflow, in one emulator session.

Every file reaches the outcome its hand-written line in expected.yaml gives, with a reason an operator can read
(never a traceback), its rows accounted for (in = valid + rejected, the rejected ones in the bad-records queue),
its raw bytes kept (in rejected/ or archive/) and exactly one notification.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from fault_runs import keys, ledger, notifications

from sluice.local.emulator import Emulator
from sluice.local.runner import ExecutionResult, RunInput, Runner

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))[
    "files"
]
REJECTED = sorted(name for name, e in EXPECTED.items() if e["outcome"] == "REJECTED")


def upload_name(name: str) -> str:
    return str(EXPECTED[name].get("upload", name))


def dataset(name: str) -> str:
    return str(EXPECTED[name].get("dataset", "offers"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("corpus")
    inputs = []
    for name in EXPECTED:
        path = folder / "upload" / dataset(name) / upload_name(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CORPUS / name, path)
        inputs.append(RunInput(dataset(name), path))
    with Emulator(log_file=folder / "lambda.log") as emu:
        results = Runner(emu, progress=lambda _: None).run(inputs)
        raw = emu.stack.raw_bucket
        s3 = emu.client("s3")
        seen: dict[str, dict[str, Any]] = {}
        for name, result in zip(EXPECTED, results, strict=True):
            zone = "rejected" if EXPECTED[name]["outcome"] == "REJECTED" else "archive"
            kept = [
                k for k in keys(emu, raw, f"{zone}/{dataset(name)}/") if k.endswith("/" + upload_name(name))
            ]
            seen[name] = {
                "result": result,
                "incoming": keys(emu, raw, result.source_key),
                "kept": [s3.get_object(Bucket=raw, Key=k)["Body"].read() for k in kept],
                "ledger": ledger(emu, result.source_key),
                "notifications": notifications(emu, result.execution_arn),
            }
        errors = {i.error_type for i in emu.lambdas.invocations}
    return {"files": seen, "lambda_errors": errors}


def test_corpus_holds_at_least_25_files_each_with_a_hand_written_expectation():
    files = sorted(p.name for p in CORPUS.iterdir() if p.name != "expected.yaml")

    assert len(files) >= 25
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_corpus_file_reaches_its_expected_outcome(corpus: dict[str, Any], name: str):
    expected = EXPECTED[name]
    result: ExecutionResult = corpus["files"][name]["result"]

    if expected["outcome"] == "SUCCEEDED":
        assert (result.status, result.error) == ("SUCCEEDED", None)
        assert result.states[-1].name == "Done"
    else:
        assert result.status == "REJECTED"
        assert result.error is not None and result.error["type"] == expected["error"]
        assert [s.name for s in result.states][-3:] == ["Validate", "RejectFile", "Rejected"]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_corpus_file_rows_are_all_accounted_for(corpus: dict[str, Any], name: str):
    expected = EXPECTED[name]["rows"]
    result: ExecutionResult = corpus["files"][name]["result"]
    rows = result.rows()

    if expected is None:  # rejected as a whole: no row was read, none is in the queue
        assert (rows["in"], rows["valid"]) == (None, None)
        assert result.dlq["rows"] == 0
        return
    assert {k: rows[k] for k in ("in", "valid", "rejected")} == expected
    assert rows["in"] == rows["valid"] + rows["rejected"]
    assert result.dlq["rows"] == expected["rejected"]
    if EXPECTED[name]["outcome"] == "SUCCEEDED":
        assert (rows["curated"], rows["loaded"]) == (expected["valid"], expected["valid"])


@pytest.mark.parametrize("name", REJECTED)
def test_rejected_corpus_file_says_why_in_words_without_a_traceback(corpus: dict[str, Any], name: str):
    expected = EXPECTED[name]
    seen = corpus["files"][name]
    (notice,) = seen["notifications"]

    assert notice["status"] == "REJECTED"
    assert notice["error"]["type"] == expected["error"]
    for text in (notice["error"]["cause"], seen["ledger"]["cause"]):
        assert expected["reason"] in text
        assert "Traceback" not in text and "stackTrace" not in text and 'File "' not in text


@pytest.mark.parametrize("name", list(EXPECTED))
def test_corpus_file_is_kept_byte_for_byte_and_leaves_incoming(corpus: dict[str, Any], name: str):
    seen = corpus["files"][name]
    outcome = EXPECTED[name]["outcome"]

    assert seen["incoming"] == []
    assert seen["kept"] == [(CORPUS / name).read_bytes()]
    assert seen["ledger"]["status"] == outcome
    assert [n["status"] for n in seen["notifications"]] == [outcome]


def test_no_handler_failed_with_anything_but_a_rejection_error(corpus: dict[str, Any]):
    rejections = {e["error"] for e in EXPECTED.values() if e["outcome"] == "REJECTED"}

    assert corpus["lambda_errors"] - {None} == rejections
