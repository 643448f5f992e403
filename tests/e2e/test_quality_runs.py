"""Quality rules end to end through the emulated stack (`sluice run`'s runtime): every rule type passing and
failing, as `warn` (recorded, published) and as `reject` (nothing published, the file kept in rejected/, the
ledger and the one notification say which rule, its value and its threshold), then a corrected upload."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from dataset_runs import DatasetRun, dataset_run

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

PAYMENTS = """
dataset: payments
schema:
  fields:
    - {name: payment_id, constraints: {required: true, unique: true}}
    - {name: account}
    - {name: amount, type: number}
    - {name: fee, type: number}
    - {name: currency}
    - {name: paid_at, type: datetime}
quality:
  - {type: row_count, min: 4, severity: SEVERITY}
  - {type: completeness, column: currency, min: 0.75, severity: SEVERITY}
  - {type: unique, columns: [account, paid_at], severity: SEVERITY}
  - {type: references, column: account, dataset: accounts, severity: SEVERITY}
  - {type: freshness, column: paid_at, max_age: 30d, severity: SEVERITY}
  - {type: distinct_count, column: currency, max: 1, severity: SEVERITY}
  - {type: mean, column: amount, max: 100, severity: SEVERITY}
  - {type: min, column: amount, min: 0, severity: SEVERITY}
  - {type: max, column: amount, max: 250, severity: SEVERITY}
  - {type: expression, check: fee <= amount, severity: SEVERITY}
  - {type: row_count_anomaly, runs: 5, min_runs: 1, tolerance: 0.2, severity: SEVERITY}
"""
ACCOUNTS = "dataset: accounts\nschema:\n  fields:\n    - {name: account, constraints: {required: true}}\n"
RULES = [
    "row_count",
    "completeness(currency)",
    "unique(account,paid_at)",
    "references(account->accounts.account)",
    "freshness(paid_at)",
    "distinct_count(currency)",
    "mean(amount)",
    "min(amount)",
    "max(amount)",
    "expression(fee <= amount)",
    "row_count_anomaly",
    "unique(payment_id)",  # the field's Frictionless `unique: true`: always reject
]
NOW = datetime.now(UTC).replace(microsecond=0)
HEADER = "payment_id,account,amount,fee,currency,paid_at\n"


def at(hours: int) -> str:
    return (NOW - timedelta(hours=hours)).isoformat()


# Six rows every rule accepts.
GOOD = HEADER + "".join(f"p{i},a{i % 3 + 1},{10 * i},1,EUR,{at(i)}\n" for i in range(1, 7))
# Three rows that break every rule but unique(payment_id): too few rows, an empty and a second currency, a1
# twice at the same time, an unknown account, all 60 days old, amounts of mean 165, min -5, max 300, a fee
# above its amount; and 3 rows against a history of 6.
OLD = (NOW - timedelta(days=60)).isoformat()
BAD = HEADER + f"p1,a1,200,1,EUR,{OLD}\np2,zz,300,1,USD,{OLD}\np3,a1,-5,10,,{OLD}\n"
BAD_VALUES = [3, 0.666667, 1, 1, pytest.approx(1440, abs=0.5), 2, 165, -5, 300, 1, 3, 0]  # freshness: hours
# Six good rows, one payment id twice: only unique(payment_id) fails.
REPEATED_ID = GOOD.replace("p6,", "p5,")


def contracts(tmp: Path, severity: str) -> Path:
    folder = tmp / "contracts"
    folder.mkdir()
    (folder / "payments.yaml").write_text(PAYMENTS.replace("SEVERITY", severity), encoding="utf-8")
    (folder / "accounts.yaml").write_text(ACCOUNTS, encoding="utf-8")
    return folder


def uploads(*payments: tuple[str, str]) -> list[tuple[str, str, str]]:
    return [("accounts", "accounts.csv", "account\na1\na2\na3\n"), *(("payments", n, t) for n, t in payments)]


def notifications(session: Session) -> list[dict[str, Any]]:
    lines = Path(session.run.outputs["notifications"]).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["message"] for line in lines]


def quality_table(session: Session) -> list[dict[str, Any]]:
    folder = Path(session.run.outputs["quality"]) / "dataset=payments"
    return [row for path in sorted(folder.glob("*.parquet")) for row in pq.read_table(path).to_pylist()]


@dataclass
class Session:
    """A finished emulator session (one at a time: each provisions the stack) and what it left in AWS."""

    run: DatasetRun
    quality_location: str
    staging_ingests: set[str]
    raw_bucket: str

    def execution(self, index: int) -> dict[str, Any]:
        return self.run.execution(index)


def session(tmp: Path, severity: str, files: list[tuple[str, str, str]]) -> Session:
    with dataset_run(tmp, files, contracts_dir=contracts(tmp, severity)) as run:
        stack = run.emu.stack
        staged = run.emu.client("s3").list_objects_v2(Bucket=stack.lake_bucket, Prefix="staging/payments/")
        return Session(
            run=run,
            quality_location=run.catalog_table("quality")["StorageDescriptor"]["Location"],
            staging_ingests={o["Key"].split("/")[2] for o in staged.get("Contents", [])},
            raw_bucket=stack.raw_bucket,
        )


@pytest.fixture(scope="module")
def warned(tmp_path_factory: pytest.TempPathFactory) -> Session:
    files = uploads(("good.csv", GOOD), ("bad.csv", BAD))
    return session(tmp_path_factory.mktemp("quality-warn"), "warn", files)


@pytest.fixture(scope="module")
def rejected(tmp_path_factory: pytest.TempPathFactory) -> Session:
    files = uploads(("good.csv", GOOD), ("repeated.csv", REPEATED_ID), ("bad.csv", BAD), ("bad.csv", GOOD))
    return session(tmp_path_factory.mktemp("quality-reject"), "reject", files)


def test_quality_every_rule_passing_is_in_the_json_summary(warned: Session) -> None:
    good = warned.execution(1)

    assert good["status"] == "SUCCEEDED"
    assert good["quality"] == [
        {"rule": rule, "severity": "reject" if rule == "unique(payment_id)" else "warn", "passed": True,
         "value": value}
        for rule, value in zip(RULES, [6, 1, 0, 0, pytest.approx(1, abs=0.5), 1, 35, 10, 60, 0, 6, 0], strict=True)
    ]  # fmt: skip


def test_quality_first_run_anomaly_passes_for_want_of_history(warned: Session) -> None:
    (first,) = [
        r
        for r in quality_table(warned)
        if r["rule"] == "row_count_anomaly" and r["source_key"] == "incoming/payments/good.csv"
    ]

    assert first["passed"] is True
    assert first["detail"] == "no history yet: 0 earlier successful run(s) of payments, the rule needs 1"


def test_quality_warn_rules_failing_are_recorded_and_the_rows_published(warned: Session) -> None:
    bad = warned.execution(2)

    assert (bad["status"], bad["ledger"], bad["rows"]["loaded"]) == ("SUCCEEDED", "SUCCEEDED", 3)
    assert [(q["rule"], q["passed"], q["value"]) for q in bad["quality"]] == [
        (rule, rule == "unique(payment_id)", value) for rule, value in zip(RULES, BAD_VALUES, strict=True)
    ]
    assert len(warned.run.curated("payments")) == 9


def test_quality_warn_failures_are_a_line_of_the_success_notification(warned: Session) -> None:
    message = notifications(warned)[2]

    assert message["status"] == "SUCCEEDED"
    assert message["quality"].startswith(
        "12 quality rules, 1 passed; failed: row_count (warn): 3, allowed >= 4; completeness(currency) (warn): "
        "0.6667, allowed >= 0.75; unique(account,paid_at) (warn): 1, allowed 0 repeated rows; "
        "references(account->accounts.account) (warn): 1, allowed <= 0 rows; freshness(paid_at) (warn): "
    )
    assert "quality" not in notifications(warned)[0]  # accounts has no rules


def test_quality_table_holds_one_row_per_rule_per_run(warned: Session) -> None:
    rows = quality_table(warned)

    assert len(rows) == 2 * len(RULES)
    assert {r["source_key"] for r in rows} == {"incoming/payments/good.csv", "incoming/payments/bad.csv"}
    assert warned.quality_location.endswith("/quality/")


def test_quality_reject_rule_failing_rejects_the_file_and_publishes_nothing(rejected: Session) -> None:
    bad = rejected.execution(3)

    assert (bad["status"], bad["ledger"], bad["error"]["type"]) == (
        "REJECTED",
        "REJECTED",
        "QualityRuleError",
    )
    assert [(q["rule"], q["passed"]) for q in bad["quality"]] == [
        (rule, rule == "unique(payment_id)") for rule in RULES
    ]
    assert [s["name"] for s in bad["states"]] == ["Validate", "RejectFile", "Rejected"]
    rejected_files = sorted(p.name for p in Path(rejected.run.outputs["rejected"]).rglob("*.csv"))
    assert rejected_files == ["bad.csv", "repeated.csv"]
    assert len(rejected.staging_ingests) == 2  # the two accepted uploads only


def test_quality_rejection_notification_names_rule_value_and_threshold(rejected: Session) -> None:
    message = notifications(rejected)[3]

    assert (message["status"], message["error"]["type"]) == ("REJECTED", "QualityRuleError")
    assert message["error"]["cause"].startswith(
        "s3://" + rejected.raw_bucket + "/incoming/payments/bad.csv: 11 quality rule(s) of payments "
        "reject the file: row_count (reject): 3, allowed >= 4; completeness(currency) (reject): 0.6667, allowed "
        ">= 0.75: 1 of 3 values are empty; "
    )
    assert message["quality"].startswith("12 quality rules, 1 passed; failed: row_count (reject): 3")


def test_quality_frictionless_unique_rejects_a_repeated_payment_id(rejected: Session) -> None:
    repeated = rejected.execution(2)

    assert (repeated["ledger"], repeated["error"]["type"]) == ("REJECTED", "QualityRuleError")
    assert (
        "unique(payment_id) (reject): 1, allowed 0 repeated rows: 1 values repeat, e.g. payment_id='p5'"
        in (repeated["error"]["cause"])
    )


def test_quality_corrected_upload_after_a_rejection_succeeds(rejected: Session) -> None:
    fixed = rejected.execution(4)

    assert (fixed["status"], fixed["ledger"], fixed["rows"]["loaded"]) == ("SUCCEEDED", "SUCCEEDED", 6)
    assert all(q["passed"] for q in fixed["quality"])
    assert len(rejected.run.curated("payments")) == 12  # the first good upload and the corrected one
