"""`sluice run` end to end on the emulated stack: the real template, ASL, handlers and Glue script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from offers_rows import OFFERS_HEADER, offers_row

from sluice.local.runner import RunInput, run_files

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

# 60 valid rows in two months (two partitions) and 3 bad rows of different kinds (4.8% < the 5% threshold).
GOOD = [offers_row(i, created="2026-03-04T05:06:07+00:00") for i in range(30)] + [
    offers_row(i, created="2026-04-05T06:07:08+00:00") for i in range(30, 60)
]
BAD = [
    offers_row(90, account=""),  # line 62: account required
    offers_row(91, risk="extreme"),  # line 63: risk not in enum
    offers_row(92, created="yesterday"),  # line 64: created not a datetime
]


@pytest.fixture(scope="module")
def offers_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("offers")
    src = tmp / "offers.csv"
    src.write_text("\n".join([OFFERS_HEADER, *GOOD, *BAD]) + "\n", encoding="utf-8")
    lines: list[str] = []
    # The Glue job (Spark), not the small-file Lambda engine (tests/e2e/test_transform_engines.py covers that).
    summary = run_files(
        [RunInput("offers", src)], tmp / "out", progress=lines.append, parameters={"SmallFileMaxBytes": "0"}
    )
    summary["progress"] = lines
    return summary


def test_run_offers_with_three_bad_rows_succeeds(offers_run: dict[str, Any]) -> None:
    assert offers_run["status"] == "SUCCEEDED"
    (execution,) = offers_run["executions"]
    assert execution["status"] == "SUCCEEDED"
    assert execution["error"] is None
    assert execution["rows"]["in"] == 63
    assert execution["rows"]["valid"] == 60
    assert execution["rows"]["rejected"] == 3
    assert execution["rows"]["curated"] == 60
    assert execution["dlq"] == {"messages": 1, "rows": 3}
    names = [s["name"] for s in execution["states"]]
    assert names[0] == "Validate" and names[-1] == "Done"
    assert {"Transform", "Load", "Archive", "NotifySuccess"} <= set(names)
    assert all(s["status"] == "SUCCEEDED" for s in execution["states"])


def test_run_offers_curated_parquet_holds_exactly_the_valid_rows(offers_run: dict[str, Any]) -> None:
    table = ds.dataset(offers_run["outputs"]["curated"] + "/offers", format="parquet", partitioning="hive")
    rows = table.to_table().to_pylist()
    assert sorted(r["offer_id"] for r in rows) == [str(100000000000 + i) for i in range(60)]
    by_month = sorted({(r["year"], r["month"]) for r in rows})
    assert by_month == [(2026, 3), (2026, 4)]


def test_run_offers_dlq_holds_each_bad_row_with_line_and_reason(offers_run: dict[str, Any]) -> None:
    messages = [json.loads(line) for line in Path(offers_run["outputs"]["dlq"]).read_text().splitlines()]
    assert len(messages) == 1
    assert messages[0]["attributes"]["dataset"] == "offers"
    rows = sorted(messages[0]["body"]["rows"], key=lambda r: r["line"])
    assert [r["line"] for r in rows] == [62, 63, 64]
    assert "account" in " ".join(rows[0]["reasons"])
    assert "risk" in " ".join(rows[1]["reasons"])
    assert "created" in " ".join(rows[2]["reasons"])


def test_run_offers_archives_the_raw_file_and_empties_incoming(offers_run: dict[str, Any]) -> None:
    archived = list(Path(offers_run["outputs"]["archive"]).rglob("offers.csv"))
    assert len(archived) == 1
    assert archived[0].relative_to(offers_run["outputs"]["archive"]).parts[0] == "offers"
    assert not list(Path(offers_run["outputs"]["incoming"]).rglob("*.csv"))


def test_run_offers_sends_exactly_one_success_notification(offers_run: dict[str, Any]) -> None:
    notes = [
        json.loads(line) for line in Path(offers_run["outputs"]["notifications"]).read_text().splitlines()
    ]
    assert len(notes) == 1
    assert notes[0]["message"]["status"] == "SUCCEEDED"
    assert len(notes[0]["subject"]) <= 100
    assert offers_run["executions"][0]["ledger"] == "SUCCEEDED"


def test_run_offers_prints_progress_per_state(offers_run: dict[str, Any]) -> None:
    text = "\n".join(offers_run["progress"])
    for state in ("Validate", "Transform", "Load", "Archive", "NotifySuccess"):
        assert f"✓ {state}" in text
