"""The shipped offers contract's row-count anomaly rule (warn) through the emulated stack: five runs of about
1,000 rows, then one of 10 rows, which is flagged; the first runs pass for want of history and say so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dataset_runs import DatasetRun, dataset_run

from sluice.generate import generate_offers

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

SIZES = [1000, 990, 1010, 1005, 995, 10]


@pytest.fixture(scope="module")
def offers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetRun]:
    tmp = tmp_path_factory.mktemp("anomaly")
    files = []
    for i, rows in enumerate(SIZES):
        path = tmp / f"offers-{i}.csv"
        generate_offers(path, rows, 0.0, seed=i)
        files.append(("offers", path.name, path.read_text(encoding="utf-8")))
    with dataset_run(tmp, files) as run:
        yield run


def test_anomaly_ten_rows_after_five_runs_of_about_a_thousand_is_flagged_as_a_warning(
    offers: DatasetRun,
) -> None:
    runs = [offers.execution(i) for i in range(len(SIZES))]

    assert [r["status"] for r in runs] == ["SUCCEEDED"] * 6  # warn: the run goes on
    assert [r["quality"] for r in runs] == [
        [{"rule": "row_count_anomaly", "severity": "warn", "passed": rows != 10, "value": rows}]
        for rows in SIZES
    ]


def test_anomaly_first_runs_pass_for_want_of_history_and_the_last_names_its_band(offers: DatasetRun) -> None:
    folder = Path(offers.outputs["quality"]) / "dataset=offers"
    rows = sorted(
        (row for path in folder.glob("*.parquet") for row in pq.read_table(path).to_pylist()),
        key=lambda r: r["checked_at"],
    )

    assert [r["detail"] for r in rows[:3]] == [
        f"no history yet: {n} earlier successful run(s) of offers, the rule needs 3" for n in range(3)
    ]
    assert (
        rows[3]["threshold"] == "between 500 and 1,500 (median 1,000, MAD 10 of the last 3 successful runs)"
    )
    assert rows[5]["threshold"] == "between 500 and 1,500 (median 1,000, MAD 5 of the last 5 successful runs)"
    assert (rows[5]["passed"], rows[5]["value"]) == (False, 10.0)
