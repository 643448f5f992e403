"""The fanned-out Validate and Load through the real state machine (moto's Distributed Map): with
ValidateChunkBytes shrunk to 8 KiB and LoadServingItems to 100 rows, files take ScanRanges -> PlanChunks ->
ValidateChunks -> MergeChunks and LoadServing in row ranges, and everything they leave equals the single-Lambda
run of the same files: curated rows, quarantine rows with their lines and reasons, bad-records messages, counts,
serving items; a file over the reject threshold is rejected on the totals."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from offers_rows import OFFERS_HEADER, offers_row

from sluice.local.runner import RunInput, run_files

pytestmark = [pytest.mark.emulator]

CHUNK_BYTES = 8192
SERVING_ROWS = 100
LONG_NOTE = (
    '"' + "\r\n".join(f"note line {i}, quoted text" for i in range(400)) + '"'
)  # 11 KB: ranges without a record start


def tricky_rows() -> list[str]:
    """BOM'd CRLF offers with a quoted multi-line `note` (an extra column) on most rows, bad rows every 53rd,
    ragged ones every 97th, blank lines, and offer 5 again at the end (the same `created`: a dedupe tie)."""
    rows = []
    for i in range(700):
        note = ['"one\nline more"', '"a, ""b""\r\nc"', "plain", '""'][i % 4]
        if i == 350:
            note = LONG_NOTE
        if i % 53 == 7:
            rows.append(offers_row(i, risk="extreme") + "," + note)
        elif i % 97 == 11:
            rows.append(f"{i},ragged")
        elif i % 89 == 13:
            rows.append("")
        else:
            rows.append(offers_row(i) + "," + note)
    rows.append(offers_row(5, risk="high") + ",later duplicate")
    return rows


TRICKY = b"\xef\xbb\xbf" + "\r\n".join([OFFERS_HEADER + ",note", *tricky_rows(), ""]).encode()
TOO_BAD = "\n".join(
    [OFFERS_HEADER, *(offers_row(i, risk="extreme" if i % 8 == 0 else "low") for i in range(800)), ""]
).encode()


def runs(tmp: Path, parameters: dict[str, str]) -> dict[str, Any]:
    (tmp / "offers_tricky.csv").write_bytes(TRICKY)
    (tmp / "offers_too_bad.csv").write_bytes(TOO_BAD)
    inputs = [RunInput("offers", tmp / "offers_tricky.csv"), RunInput("offers", tmp / "offers_too_bad.csv")]
    return run_files(inputs, tmp / "out", progress=lambda _: None, parameters=parameters)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    single = runs(tmp_path_factory.mktemp("single"), {})
    fanned = runs(
        tmp_path_factory.mktemp("fanned"),
        {"ValidateChunkBytes": str(CHUNK_BYTES), "LoadServingItems": str(SERVING_ROWS)},
    )
    return single, fanned


def curated(summary: dict[str, Any]) -> list[dict[str, Any]]:
    table = ds.dataset(summary["outputs"]["curated"] + "/offers", format="parquet", partitioning="hive")
    keep = ["account", "offer_id", "catalog_id", "created", "expire", "risk", "year", "month", "_row_hash"]
    return sorted(table.to_table(columns=keep).to_pylist(), key=lambda r: (r["account"], r["offer_id"]))


def quarantine(summary: dict[str, Any], name: str) -> list[dict[str, str]]:
    run_id = by_file(summary, name)["execution_arn"].rsplit(":", 1)[-1]
    found = Path(summary["outputs"]["quarantine"]) / "offers" / run_id / "bad_rows.csv"
    return list(csv.DictReader(io.StringIO(found.read_text(encoding="utf-8"), newline="")))


def bad_rows_messages(summary: dict[str, Any], source_key: str) -> list[dict[str, Any]]:
    messages = [json.loads(line) for line in Path(summary["outputs"]["dlq"]).read_text().splitlines()]
    return [m["body"]["rows"] for m in messages if m["body"]["source_key"] == source_key]


def serving(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    items = [json.loads(line) for line in Path(summary["outputs"]["serving"]).read_text().splitlines()]
    return sorted((i["pk"], i["sk"], i.get("risk")) for i in items)


def by_file(summary: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [e for e in summary["executions"] if e["source_key"].endswith(name)]
    return found


def test_fan_out_tricky_file_takes_the_fan_out_states_in_several_chunks(both):
    single, fanned = both
    one, many = by_file(single, "offers_tricky.csv"), by_file(fanned, "offers_tricky.csv")

    assert one["status"] == many["status"] == "SUCCEEDED"
    assert one["chunks"] == 1
    assert many["chunks"] >= len(TRICKY) // CHUNK_BYTES - 2  # the long note's ranges join the chunk before
    names = [s["name"] for s in many["states"]]
    assert names[:6] == [
        "Validate",
        "ValidateFannedOut?",
        "ScanRanges",
        "PlanChunks",
        "ValidateChunks",
        "MergeChunks",
    ]
    assert "ScanRanges" not in [s["name"] for s in one["states"]]
    assert "LoadServing" in names and "LoadServing" not in [s["name"] for s in one["states"]]


def test_fan_out_counts_curated_rows_and_serving_items_equal_the_single_path(both):
    single, fanned = both
    one, many = by_file(single, "offers_tricky.csv"), by_file(fanned, "offers_tricky.csv")

    assert many["rows"] == one["rows"]
    assert one["rows"]["in"] == 700 - 8 + 1  # 8 blank lines are no rows; the duplicate is one more
    assert many["rows"]["blank"] == 8
    assert many["extra_columns"] == one["extra_columns"] == ["note"]
    ledger = [json.loads(line) for line in Path(fanned["outputs"]["ledger"]).read_text().splitlines()]
    (item,) = [i for i in ledger if i["pk"].endswith("offers_tricky.csv")]
    assert (int(item["blank_lines"]), item["extra_columns"]) == (8, ["note"])
    assert int(item["bad_rows_queued"]["messages"]) == many["dlq"]["messages"] > 0
    assert curated(fanned) == curated(single)
    assert serving(fanned) == serving(single)
    assert len(serving(fanned)) == many["rows"]["loaded"] > SERVING_ROWS * 6  # seven or more row ranges
    assert ("offers#10000005", "100000000005", "high") in serving(fanned)  # the tie goes to the later line


def test_fan_out_quarantine_and_bad_records_equal_the_single_path_with_file_lines(both):
    single, fanned = both

    rows = quarantine(fanned, "offers_tricky.csv")
    assert rows == quarantine(single, "offers_tricky.csv")
    assert len(rows) == 14 + 8  # risk "extreme" on rows 7, 60, ... 696; ragged on 11, 108, ... 690
    assert bad_rows_messages(fanned, "incoming/offers/offers_tricky.csv") == bad_rows_messages(
        single, "incoming/offers/offers_tricky.csv"
    )
    first = rows[0]
    assert (
        first["line"] == "13"
    )  # the header, then offers 0-6 on 11 lines (notes of 0, 1, 4, 5 hold a newline)
    assert "risk" in first["reasons"]
    assert first["raw"].startswith("10000007,")


def test_fan_out_file_over_the_reject_threshold_is_rejected_on_the_totals(both):
    single, fanned = both
    one, many = by_file(single, "offers_too_bad.csv"), by_file(fanned, "offers_too_bad.csv")

    assert one["status"] == many["status"] == "REJECTED"
    assert one["error"]["type"] == many["error"]["type"] == "TooManyBadRowsError"
    assert many["ledger"] == "REJECTED"
    assert many["rows"] == one["rows"] == {**one["rows"], "in": 800, "valid": 700, "rejected": 100}
    assert "MergeChunks" in [s["name"] for s in many["states"]]
    rejected = [p.name for p in Path(fanned["outputs"]["rejected"]).rglob("*.csv")]
    assert rejected == ["offers_too_bad.csv"]


# --- what Validate does beyond the rows: quality rules on the whole file, bad rows queued once ---------------


def offers_contract_with(tmp: Path, rule: str) -> Path:
    """The shipped offers contract in a folder of its own, with one more quality rule."""
    folder = tmp / "contracts"
    folder.mkdir()
    text = (Path(__file__).resolve().parents[2] / "contracts" / "offers.yaml").read_text(encoding="utf-8")
    (folder / "offers.yaml").write_text(
        text.replace("quality:\n", f"quality:\n  - {rule}\n"), encoding="utf-8"
    )
    return folder


def test_fan_out_reject_quality_rule_sees_rows_of_every_chunk_and_rejects_the_file(tmp_path: Path):
    # Offer 5 is on line 8 and again on the last line: two chunks apart, one duplicate in the whole file.
    (tmp_path / "offers_tricky.csv").write_bytes(TRICKY)
    summary = run_files(
        [RunInput("offers", tmp_path / "offers_tricky.csv")],
        tmp_path / "out",
        progress=lambda _: None,
        parameters={"ValidateChunkBytes": str(CHUNK_BYTES)},
        contracts=offers_contract_with(tmp_path, "{type: unique, columns: [offer_id], severity: reject}"),
    )

    (run,) = summary["executions"]
    assert run["status"] == "REJECTED"
    assert run["error"]["type"] == "QualityRuleError"
    assert "unique(offer_id)" in run["error"]["cause"]
    assert "MergeChunks" in [s["name"] for s in run["states"]]
    assert [p.name for p in Path(summary["outputs"]["rejected"]).rglob("*.csv")] == ["offers_tricky.csv"]
    assert not list(Path(summary["outputs"]["curated"]).rglob("*.parquet"))
    (item,) = [json.loads(line) for line in Path(summary["outputs"]["ledger"]).read_text().splitlines()]
    assert item["status"] == "REJECTED"
    assert [q["passed"] for q in item["quality"] if q["rule"] == "unique(offer_id)"] == [False]


def test_fan_out_rerun_of_the_same_upload_queues_its_bad_rows_once(tmp_path: Path):
    (tmp_path / "offers_tricky.csv").write_bytes(TRICKY)
    summary = run_files(
        [RunInput("offers", tmp_path / "offers_tricky.csv")],
        tmp_path / "out",
        progress=lambda _: None,
        reruns=1,
        parameters={"ValidateChunkBytes": str(CHUNK_BYTES)},
    )

    first, rerun = summary["executions"]
    assert (first["status"], rerun["status"]) == ("SUCCEEDED", "SUCCEEDED")
    assert first["chunks"] == rerun["chunks"] > 1
    assert first["rows"]["rejected"] == rerun["rows"]["rejected"] == 22
    assert first["dlq"]["rows"] == 22 and rerun["dlq"] == {"messages": 0, "rows": 0}
    assert len(bad_rows_messages(summary, "incoming/offers/offers_tricky.csv")) == first["dlq"]["messages"]
    (item,) = [json.loads(line) for line in Path(summary["outputs"]["ledger"]).read_text().splitlines()]
    assert item["bad_rows_queued"]["run_id"] == first["execution_arn"].rsplit(":", 1)[-1]
