"""A dataset that joins a partitioned keyed table reads it as the catalog presents it: after two offers uploads
merged (one offer corrected, one moved to another month), notes joined with offers see each offer once, with
its current risk, though the offers table's root still holds the superseded versions (kept for rollback)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from dataset_runs import DatasetRun, dataset_run
from offers_rows import OFFERS_HEADER, offers_row

from sluice.paths import repo_root

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

NOTES = """\
dataset: offer_notes
title: Offer notes
description: A note per offer, with the offer's current risk joined from the offers table.
schema:
  fields:
    - {name: account, type: string, constraints: {required: true}}
    - {name: offer_id, type: string, constraints: {required: true}}
    - {name: note, type: string, constraints: {required: true}}
pipeline:
  transform:
    join:
      - dataset: offers
        on: [account, offer_id]
        how: left
        select: [risk]
"""
MARCH, APRIL = "2026-03-04T05:06:07+00:00", "2026-04-02T00:00:00+00:00"
FIRST = [offers_row(i, created=MARCH, risk="low") for i in range(4)]
# offer 1 corrected to high (stays in March); offer 2 corrected into April (leaves March) as medium
SECOND = [
    offers_row(1, created="2026-03-10T00:00:00+00:00", risk="high"),
    offers_row(2, created=APRIL, risk="medium"),
]
NOTE_ROWS = "account,offer_id,note\n" + "".join(
    f"{10000000 + i},{100000000000 + i},note {i}\n" for i in range(4)
)


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetRun]:
    tmp = tmp_path_factory.mktemp("join-merged")
    contracts = tmp / "contracts"
    contracts.mkdir()
    shutil.copy(repo_root() / "contracts" / "offers.yaml", contracts / "offers.yaml")
    (contracts / "offer_notes.yaml").write_text(NOTES, encoding="utf-8")
    files = [
        ("offers", "offers-1.csv", "\n".join([OFFERS_HEADER, *FIRST]) + "\n"),
        ("offers", "offers-2.csv", "\n".join([OFFERS_HEADER, *SECOND]) + "\n"),
        ("offer_notes", "notes.csv", NOTE_ROWS),
    ]
    with dataset_run(tmp, files, contracts_dir=contracts) as run:
        yield run


def test_notes_joined_with_merged_offers_see_each_offer_once_with_its_current_risk(
    joined: DatasetRun,
) -> None:
    assert [joined.execution(i)["status"] for i in range(3)] == ["SUCCEEDED"] * 3
    assert joined.execution(1)["merge"] == {"inserted": 0, "updated": 2, "unchanged": 0}
    offers_files = joined.emu.client("s3").list_objects_v2(
        Bucket=joined.emu.stack.lake_bucket, Prefix="curated/offers/"
    )["Contents"]
    assert len(offers_files) > 2  # the superseded March version is still under the table's root

    notes = sorted((r["offer_id"], r["note"], r["risk"]) for r in joined.curated("offer_notes"))

    assert notes == [
        ("100000000000", "note 0", "low"),
        ("100000000001", "note 1", "high"),
        ("100000000002", "note 2", "medium"),
        ("100000000003", "note 3", "low"),
    ]
