"""Which engine transforms a run, end to end on the emulated stack: a small offers file goes through the
TransformInLambda state (DuckDB), the same file over SmallFileMaxBytes through the Glue job, and a contract that
needs Spark SQL (signups: filter, aggregates) through the Glue job whatever its size. Curated output, catalog,
serving items and summaries are the same whichever engine ran."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from offers_rows import OFFERS_HEADER, offers_row

from sluice.local.emulator import Emulator
from sluice.local.export import export_outputs
from sluice.local.faults import parse_fault
from sluice.local.runner import RunInput, Runner, run_files

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

# 30 offers of 3 accounts in March and April 2026; account 10000001's offer 1 comes again later, newer.
OFFERS = (
    "\n".join(
        [
            OFFERS_HEADER,
            *(
                offers_row(i, account=f"{10000000 + i % 3}", created=f"2026-0{3 + i % 2}-04T05:06:07+02:00")
                for i in range(30)
            ),
            offers_row(1, account="10000001", created="2026-04-30T23:59:59+00:00", risk="high"),
            offers_row(99, risk="extreme"),  # a bad row
        ]
    )
    + "\n"
)
SIGNUPS = """id,name,email,signup_date,status
1,John Doe,john@example.com,2024-11-01,active
2,Jane Smith,jane@example.com,2024-11-02,inactive
1,John Doe,john@example.com,2024-11-03,active
"""
# When the transform ran and which upload (its version id) it read: differ between two sessions' runs of one file.
LINEAGE_OF_THE_RUN = ("_ingested_at", "_ingest_id")


@dataclass
class Session:
    results: list[dict[str, Any]]
    outputs: dict[str, str]
    partitions: list[list[str]]
    served: list[dict[str, Any]]

    def curated(self, table: str) -> list[dict[str, Any]]:
        folder = Path(self.outputs["curated"]) / table
        rows = ds.dataset(folder, format="parquet", partitioning="hive").to_table().to_pylist()
        return sorted(({k: v for k, v in r.items() if k not in LINEAGE_OF_THE_RUN} for r in rows), key=repr)


def _session(tmp: Path, files: list[tuple[str, str]], parameters: dict[str, str] | None = None) -> Session:
    inputs = []
    for dataset, text in files:
        path = tmp / "upload" / dataset / f"{dataset}-small.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        inputs.append(RunInput(dataset, path))
    with Emulator(log_file=tmp / "out" / "logs" / "lambda.log", parameters=parameters) as emu:
        results = Runner(emu, progress=lambda _: None).run(inputs)
        outputs = export_outputs(emu, tmp / "out")
        glue = emu.client("glue")
        partitions = [
            p["Values"]
            for p in glue.get_partitions(DatabaseName=emu.stack.glue_database, TableName="offers")[
                "Partitions"
            ]
        ]
        served = emu.client("dynamodb").scan(TableName=emu.stack.serving_table)["Items"]
    return Session([r.to_json() for r in results], outputs, sorted(partitions), sorted(served, key=repr))


@pytest.fixture(scope="module")
def by_default(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """The template's default SmallFileMaxBytes: offers (small, no Spark SQL) and signups (filter, aggregates)."""
    return _session(tmp_path_factory.mktemp("default"), [("offers", OFFERS), ("signups", SIGNUPS)])


@pytest.fixture(scope="module")
def over_threshold(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """The same offers file with SmallFileMaxBytes below its size."""
    assert len(OFFERS.encode()) > 1000
    return _session(tmp_path_factory.mktemp("glue"), [("offers", OFFERS)], {"SmallFileMaxBytes": "1000"})


def _states(execution: dict[str, Any]) -> list[str]:
    return [s["name"] for s in execution["states"]]


def test_small_file_of_an_eligible_contract_is_transformed_in_the_lambda(by_default: Session) -> None:
    offers = by_default.results[0]
    assert offers["status"] == "SUCCEEDED"
    assert offers["engine"] == "lambda"
    assert offers["engine_reason"] == f"{len(OFFERS.encode()):,} bytes <= SmallFileMaxBytes 100,000,000"
    names = _states(offers)
    assert names.index("TransformEngine?") < names.index("TransformInLambda") < names.index("Load")
    assert "Transform" not in names
    assert offers["rows"] == {
        "in": 32,
        "blank": 0,
        "valid": 31,
        "rejected": 1,
        "curated": 30,
        "deduped": 1,
        "loaded": 30,
    }
    assert offers["notifications"] == ["SUCCEEDED"] and offers["ledger"] == "SUCCEEDED"


def test_lambda_engine_output_is_published_cataloged_and_served(by_default: Session) -> None:
    rows = by_default.curated("offers")
    assert len(rows) == 30
    newer = [r for r in rows if r["offer_id"] == "100000000001"]
    assert [(r["account"], r["risk"], r["year"], r["month"]) for r in newer] == [
        ("10000001", "high", 2026, 4)
    ]
    assert by_default.partitions == [["2026", "3"], ["2026", "4"]]
    assert len(by_default.served) == 30
    files = sorted(p.relative_to(Path(by_default.outputs["curated"])).as_posix()
                   for p in Path(by_default.outputs["curated"], "offers").rglob("*.parquet"))  # fmt: skip
    assert [f.rsplit("/", 1)[0] for f in files] == ["offers/year=2026/month=3", "offers/year=2026/month=4"]


def test_contract_that_needs_spark_sql_goes_to_glue_whatever_its_size(by_default: Session) -> None:
    signups = by_default.results[1]
    assert signups["status"] == "SUCCEEDED"
    assert signups["engine"] == "glue"
    assert signups["engine_reason"] == "the contract needs Spark: transform.filter, aggregates"
    names = _states(signups)
    assert names.index("TransformEngine?") < names.index("Transform") < names.index("Load")
    assert "TransformInLambda" not in names
    assert signups["rows"]["curated"] == 1  # id 1 (its later row); id 2 is inactive


def test_file_over_the_threshold_goes_to_glue_and_both_engines_publish_the_same(
    by_default: Session, over_threshold: Session
) -> None:
    offers = over_threshold.results[0]
    assert offers["status"] == "SUCCEEDED"
    assert offers["engine"] == "glue"
    assert offers["engine_reason"] == f"{len(OFFERS.encode()):,} bytes > SmallFileMaxBytes 1,000"
    assert "TransformInLambda" not in _states(offers) and "Transform" in _states(offers)
    assert offers["rows"] == by_default.results[0]["rows"]
    assert over_threshold.curated("offers") == by_default.curated("offers")
    assert over_threshold.partitions == by_default.partitions
    strip = [{k: v for k, v in item.items() if k not in LINEAGE_OF_THE_RUN} for item in over_threshold.served]
    assert strip == [{k: v for k, v in i.items() if k not in LINEAGE_OF_THE_RUN} for i in by_default.served]


def test_failed_lambda_transform_fails_at_its_state_and_redrive_resumes_there(tmp_path: Path) -> None:
    path = tmp_path / "offers-small.csv"
    path.write_text(OFFERS, encoding="utf-8")

    summary = run_files(
        [RunInput("offers", path)],
        tmp_path / "out",
        progress=lambda _: None,
        faults=[parse_fault("TransformInLambda=RuntimeError:1")],
        redrive=True,
    )

    (execution,) = summary["executions"]
    assert execution["status"] == "SUCCEEDED"
    assert execution["notifications"] == ["FAILED", "SUCCEEDED"]
    (redrive,) = execution["redrives"]
    assert redrive["from_state"] == "TransformInLambda"
    assert [s["name"] for s in redrive["states"]][:2] == ["TransformInLambda", "Load"]
    assert execution["rows"]["loaded"] == 30
    assert summary["faults"] == [
        {"state": "TransformInLambda", "error": "RuntimeError", "times": 1, "fired": 1}
    ]
