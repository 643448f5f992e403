"""A dataset that joins a partitioned keyed table reads it as the catalog presents it: after two offers uploads
merged (one offer corrected, one moved to another month), notes joined with offers see each offer once, with
its current risk, though the offers table's root still holds the superseded versions (kept for rollback); after
a rollback of offers to the first upload, notes see the first upload's risks, not the rolled-away versions' (which
a read of the table's root would pick: their rows were ingested later)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from catalog_view import catalog_rows
from offers_rows import OFFERS_HEADER, offers_row

from sluice.local.emulator import Emulator
from sluice.local.runner import ExecutionResult, RunInput, Runner
from sluice.paths import repo_root
from sluice_lib.contracts import ContractStore
from sluice_lib.rollback import rollback

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


@dataclass
class Joined:
    emu: Emulator
    results: list[ExecutionResult]
    notes: list[list[tuple[str, str, str]]]  # (offer_id, note, risk) per notes upload


def notes_table(emu: Emulator) -> list[tuple[str, str, str]]:
    return sorted((r["offer_id"], r["note"], r["risk"]) for r in catalog_rows(emu, "offer_notes"))


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Joined]:
    tmp = tmp_path_factory.mktemp("join-merged")
    contracts = tmp / "contracts"
    contracts.mkdir()
    shutil.copy(repo_root() / "contracts" / "offers.yaml", contracts / "offers.yaml")
    (contracts / "offer_notes.yaml").write_text(NOTES, encoding="utf-8")

    uploads = iter(range(100))

    def upload(runner: Runner, dataset: str, name: str, text: str) -> ExecutionResult:
        path = tmp / str(next(uploads)) / dataset / name  # a folder each
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8")
        (result,) = runner.run([RunInput(dataset, path)])
        return result

    with Emulator(time_scale=0.001, log_file=tmp / "lambda.log") as emu:
        emu.lambdas.contracts_dir = contracts
        runner = Runner(emu, progress=lambda _: None)
        results = [
            upload(runner, "offers", "offers-1.csv", "\n".join([OFFERS_HEADER, *FIRST]) + "\n"),
            upload(runner, "offers", "offers-2.csv", "\n".join([OFFERS_HEADER, *SECOND]) + "\n"),
            upload(runner, "offer_notes", "notes-1.csv", NOTE_ROWS),
        ]
        notes = [notes_table(emu)]
        rollback(
            s3=emu.client("s3"), glue=emu.client("glue"), dynamodb=emu.client("dynamodb"),
            contracts=ContractStore(contracts), runs_table=emu.stack.runs_table, database=emu.stack.glue_database,
            dataset="offers", to_run=results[0].run_id,
        )  # fmt: skip
        results.append(upload(runner, "offer_notes", "notes-2.csv", NOTE_ROWS.replace("note ", "again ")))
        notes.append(notes_table(emu))
        yield Joined(emu, results, notes)


def test_notes_joined_with_merged_offers_see_each_offer_once_with_its_current_risk(joined: Joined) -> None:
    assert [r.status for r in joined.results] == ["SUCCEEDED"] * 4
    assert joined.results[1].merge() == {"inserted": 0, "updated": 2, "unchanged": 0}
    offers_files = joined.emu.client("s3").list_objects_v2(
        Bucket=joined.emu.stack.lake_bucket, Prefix="curated/offers/"
    )["Contents"]
    assert len(offers_files) > 2  # the superseded March version is still under the table's root

    assert joined.notes[0] == [
        ("100000000000", "note 0", "low"),
        ("100000000001", "note 1", "high"),
        ("100000000002", "note 2", "medium"),
        ("100000000003", "note 3", "low"),
    ]


def test_notes_joined_after_a_rollback_of_offers_see_the_restored_risks(joined: Joined) -> None:
    # offer_notes has no key: the second upload's rows sit beside the first's.
    second = [row for row in joined.notes[1] if row[1].startswith("again")]

    assert second == [
        ("100000000000", "again 0", "low"),
        ("100000000001", "again 1", "low"),
        ("100000000002", "again 2", "low"),
        ("100000000003", "again 3", "low"),
    ]
    assert [row for row in joined.notes[1] if row[1].startswith("note")] == joined.notes[0]
