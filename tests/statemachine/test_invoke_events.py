"""Every sample event in events/ through its handler with `sluice invoke`'s machinery, on the emulated stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from events import EVENTS_DIR, load_event
from sluice.commands.invoke import InvokeResult, invoke_function, put_objects
from sluice.local.emulator import Emulator

pytestmark = pytest.mark.emulator

HEADER = "account,offer_id,catalog_id,account_type_code,offer_type_id,created,expire,risk"
GOOD_ROWS = [
    f"{10000000 + i},{100000000000 + i},{100000000000000000 + i},AB,{20000000 + i},"
    "2026-03-04T05:06:07+00:00,2026-09-01T00:00:00+00:00,low"
    for i in range(40)
]
BAD_ROW = (
    "123,100000000999,100000000000000999,AB,20000999,2026-03-04T05:06:07+00:00,2026-09-01T00:00:00+00:00,low"
)
OFFERS_CSV = "\n".join([HEADER, *GOOD_ROWS, BAD_ROW]) + "\n"

# event file -> (function, the error it raises on a stack without the state it refers to, or None: succeeds)
# Validate's events get their upload put where they point; the later steps' events name ledger items,
# object versions and executions of a run that never happened here, and say so.
EXPECTED: dict[str, tuple[str, str | None]] = {
    "validate_offers": ("ValidateFunction", None),
    "validate_s3_notification": ("ValidateFunction", None),
    "register_partition": ("RegisterPartitionFunction", "StagingTableMissingError"),
    "take_lease": ("TakeLeaseFunction", None),
    "transform_in_lambda": ("TransformInLambdaFunction", "StagingNotFoundError"),
    "load": ("LoadFunction", "LedgerConflictError"),
    "load_serving_batch": ("LoadServingBatchFunction", "LedgerConflictError"),
    "archive": ("ArchiveFunction", "LedgerConflictError"),
    "reject_file": ("RejectFileFunction", "LedgerConflictError"),
    "on_execution_failed": ("OnExecutionFailedFunction", "ExecutionDoesNotExist"),
}
# The execution each event belongs to: the handlers' correlation id.
EXECUTION_NAMES = {
    "validate_offers": "5b0c9e2a-1f3d-4a6b-8c7e-9d0f1a2b3c4d",
    "validate_s3_notification": "7e4d3c2b-9a8f-4b1e-a6d5-0c9b8a7f6e5d",
}
RUN_EXECUTION = "3f1c2b9e-7d4a-4e2f-9b1c-5a6d7e8f9012"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    csv = tmp_path_factory.mktemp("uploads") / "offers.csv"
    csv.write_text(OFFERS_CSV, encoding="utf-8")
    with Emulator(
        iam=False
    ) as emulator:  # as `sluice invoke`: the caller's credentials (events name sluice-raw-local)
        put_objects(
            emulator,
            [
                ("sluice-raw-local", "incoming/offers/offers.csv", csv),
                # The S3 notification's key is URL-encoded: M%C3%A4rz+offers.csv
                ("sluice-raw-local", "incoming/offers/März offers.csv", csv),
            ],
        )
        yield emulator


@pytest.fixture(scope="module")
def invoked(emu: Emulator) -> dict[str, tuple[InvokeResult, str | None]]:
    """Each event's result and the correlation id its handler's logger carried (the handlers share one
    Powertools logger, so it is read right after each invocation)."""
    out = {}
    for name, (function, _) in EXPECTED.items():
        result = invoke_function(emu, function, load_event(name))
        out[name] = (result, emu.lambdas.modules[result.function_name].logger.get_correlation_id())
    return out


@pytest.fixture(scope="module")
def results(invoked: dict[str, tuple[InvokeResult, str | None]]) -> dict[str, InvokeResult]:
    return {name: result for name, (result, _) in invoked.items()}


def test_every_event_file_has_an_expected_outcome() -> None:
    assert sorted(p.stem for p in EVENTS_DIR.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invoke_event_file_gives_the_expected_outcome(name: str, results: dict[str, InvokeResult]) -> None:
    function, error = EXPECTED[name]
    result = results[name]
    assert result.function == function
    assert result.error_type == error
    if error is not None:
        # A clear error result: the runtime's payload, the error's name and a message, no traceback.
        assert set(result.payload) == {"errorType", "errorMessage"}
        assert result.payload["errorType"] == error
        assert (
            RUN_EXECUTION in result.payload["errorMessage"]
            or "staging_offers" in result.payload["errorMessage"]
        )


@pytest.mark.parametrize("name", ["validate_offers", "validate_s3_notification"])
def test_invoke_validate_event_with_its_upload_stages_rows_and_quarantines_the_bad_one(
    name: str, emu: Emulator, results: dict[str, InvokeResult]
) -> None:
    out: dict[str, Any] = results[name].payload
    assert out["dataset"] == "offers"
    assert out["counts"] == {"rows_in": 41, "rows_valid": 40, "rows_rejected": 1, "bytes_in": len(OFFERS_CSV)}
    assert out["dlq_messages"] == 1
    bucket, _, key = out["quarantine_uri"].removeprefix("s3://").partition("/")
    assert bucket == emu.stack.raw_bucket
    bad = emu.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert "123,100000000999" in bad


def test_invoke_s3_notification_event_reads_the_url_decoded_key(results: dict[str, InvokeResult]) -> None:
    assert results["validate_s3_notification"].payload["source"]["key"] == "incoming/offers/März offers.csv"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invoke_handler_logs_with_the_execution_name_as_correlation_id(
    name: str, invoked: dict[str, tuple[InvokeResult, str | None]]
) -> None:
    _, correlation_id = invoked[name]
    assert correlation_id == EXECUTION_NAMES.get(name, RUN_EXECUTION)


def test_invoke_validate_emits_row_byte_and_duration_metrics_by_dataset(
    emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke_function(emu, "ValidateFunction", load_event("validate_offers"))
    assert result.error_type is None
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    (metrics,) = [m for m in emf if "RowsIn" in m]
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["dataset", "service"]]
    assert metrics["dataset"] == "offers"
    assert (metrics["RowsIn"], metrics["RowsValid"], metrics["RowsRejected"]) == ([41.0], [40.0], [1.0])
    assert metrics["BytesIn"] == [float(len(OFFERS_CSV))]
    assert metrics["ValidateDuration"][0] > 0
    units = {m["Name"]: m["Unit"] for m in metrics["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["BytesIn"] == "Bytes" and units["ValidateDuration"] == "Milliseconds"


def test_invoke_unknown_function_names_the_template_functions(emu: Emulator) -> None:
    from sluice.commands.invoke import InvokeUsageError

    with pytest.raises(InvokeUsageError, match=r"no function 'Validate'.*ValidateFunction"):
        invoke_function(emu, "Validate", {})


def test_event_files_are_json_objects() -> None:
    for path in Path(EVENTS_DIR).glob("*.json"):
        assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict), path.name
