"""Seed 1, offers to DynamoDB: rows without account or offer_id are rejected, key fields stay strings, and each
offer is served from the serving table by account and offer_id."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataset_runs import DatasetRun, dataset_run

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

HEADER = "account,offer_id,catalog_id,account_type_code,offer_type_id,created,expire,risk"
# 40 offers of two accounts with leading zeros (20 each), then one row without account and one without offer_id.
GOOD = [
    f"{'00012345' if i < 20 else '00067890'},{i:012d},{i:018d},ND,84487157,"
    f"2026-03-04T05:06:07+00:00,2026-09-01T00:00:00+00:00,{('low', 'medium', 'high')[i % 3]}"
    for i in range(40)
]
BAD = [
    ",000000000098,000000000000000098,ND,84487157,2026-03-04T05:06:07+00:00,2026-09-01T00:00:00+00:00,low",
    "00012345,,000000000000000099,ND,84487157,2026-03-04T05:06:07+00:00,2026-09-01T00:00:00+00:00,low",
]


@pytest.fixture(scope="module")
def offers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetRun]:
    text = "\n".join([HEADER, *GOOD, *BAD]) + "\n"
    with dataset_run(tmp_path_factory.mktemp("offers"), [("offers", "offers.csv", text)]) as run:
        yield run


def test_dataset_offers_rows_missing_account_or_offer_id_are_rejected(offers: DatasetRun) -> None:
    execution = offers.execution()
    assert execution["status"] == "SUCCEEDED"
    assert execution["rows"]["in"] == 42
    assert execution["rows"]["valid"] == 40
    assert execution["rows"]["rejected"] == 2
    quarantine = next(Path(offers.outputs["quarantine"]).rglob("bad_rows.csv")).read_text(encoding="utf-8")
    assert "42,account: a value is required," in quarantine
    assert "43,offer_id: a value is required," in quarantine


def test_dataset_offers_item_is_served_by_account_and_offer_id_with_string_keys(offers: DatasetRun) -> None:
    item = offers.served("offers#00012345", "000000000007")

    assert item is not None
    data = {k: v for k, v in item.items() if k not in ("_ingest_id", "_ingested_at", "_row_hash")}
    assert data == {
        "pk": {"S": "offers#00012345"},
        "sk": {"S": "000000000007"},
        "account": {"S": "00012345"},
        "offer_id": {"S": "000000000007"},
        "catalog_id": {"S": "000000000000000007"},
        "account_type_code": {"S": "ND"},
        "offer_type_id": {"S": "84487157"},
        "created": {"S": "2026-03-04T05:06:07Z"},
        "expire": {"S": "2026-09-01T00:00:00Z"},
        "risk": {"S": "medium"},
        "_source_key": {"S": "incoming/offers/offers.csv"},
        "year": {"N": "2026"},
        "month": {"N": "3"},
    }
    assert re.fullmatch(r"[0-9a-f]{64}", item["_row_hash"]["S"])


def test_dataset_offers_each_account_serves_its_own_offers(offers: DatasetRun) -> None:
    ddb = offers.emu.client("dynamodb")
    found = ddb.query(
        TableName=offers.emu.stack.serving_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "offers#00067890"}},
    )["Items"]
    assert sorted(i["sk"]["S"] for i in found) == [f"{i:012d}" for i in range(20, 40)]
    assert offers.served("offers#00012345", "000000000098") is None  # the row without account was not served
