"""The merge on the DuckDB engine against a reference model: random sequences of small files with overlapping
keys, changed values, moved partitions and reruns, published as Load publishes a merge (the touched partitions'
new versions under new paths, emptied ones dropped), compared after every file with a dict by key computed from
the input rows alone."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from merge_table import Table
from sluice_lib.contracts import Contract, load_contract_text, parse_contract
from sluice_lib.curated import Lineage
from sluice_lib.transform_lambda.engine import transform_folder

KEYED = """
dataset: people
schema:
  fields:
    - {name: id, type: integer, constraints: {required: true}}
    - {name: name, type: string}
    - {name: day, type: date}
    - {name: version, type: integer}
  primaryKey: [id]
pipeline:
  dedupe: {order_by: version}
  partition_by: {columns: [day]}
"""
DAYS = [date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3), None]
START = datetime(2025, 5, 1, tzinfo=UTC)


def _contract(text: str = KEYED) -> Contract:
    return parse_contract(load_contract_text(text), "people")


def _stage(folder: Path, rows: list[tuple[int, str, date | None, int | None]]) -> Path:
    folder.mkdir(parents=True)
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    table = pa.table(
        {
            "id": pa.array(columns[0], pa.int64()),
            "name": pa.array(columns[1], pa.string()),
            "day": pa.array(columns[2], pa.date32()),
            "version": pa.array(columns[3], pa.int64()),
        }
    )
    pq.write_table(table, folder / "part-00000.parquet")
    return folder


def _run(tmp: Path, table: Table, rows: list, step: int, ingested_at: datetime) -> dict:
    staging = _stage(tmp / f"staging{step}" / f"ingest_id=i{step}", rows)
    manifest = transform_folder(
        staging,
        tmp / f"out{step}",
        _contract(),
        run_id=f"r{step}",
        lineage=Lineage(f"i{step}", f"incoming/people/{step}.csv", ingested_at),
        existing=table.current,
    )
    table.publish(tmp / f"out{step}", manifest["merge"])
    return manifest


def _winner(old: tuple | None, new: tuple) -> bool:
    """The reference rule: the higher version (null lowest) wins; on a tie the later ingest (or line)."""
    if old is None:
        return True
    rank_old = -1 if old[2] is None else old[2]
    rank_new = -1 if new[2] is None else new[2]
    return rank_new >= rank_old


@pytest.mark.parametrize("seed", range(6))
def test_merge_sequences_hold_one_row_per_key_as_the_reference_model(tmp_path: Path, seed: int):
    rng = random.Random(seed)
    table = Table(tmp_path / "table")
    model: dict[int, tuple] = {}
    files: list[list] = []
    for step in range(8):
        if files and rng.random() < 0.2:
            rows = files[rng.randrange(len(files))]  # a rerun: the same rows again, later
        else:
            rows = [
                (
                    rng.randrange(1, 16),
                    rng.choice(["a", "b", "c"]),
                    rng.choice(DAYS),
                    rng.choice([1, 2, 3, None]),
                )
                for _ in range(rng.randrange(0, 7))
            ]
        files.append(rows)
        within: dict[int, tuple] = {}
        for row in rows:
            if _winner(within.get(row[0]), row[1:]):
                within[row[0]] = row[1:]
        inserted = sum(1 for k in within if k not in model)
        updated = sum(1 for k, v in within.items() if k in model and _winner(model[k], v) and model[k] != v)

        manifest = _run(tmp_path, table, rows, step, START + timedelta(minutes=step))

        for key, value in within.items():
            if _winner(model.get(key), value):
                model[key] = value
        assert table.rows() == model, f"step {step}"
        merge = manifest["merge"]
        assert (merge["inserted"], merge["updated"]) == (inserted, updated), f"step {step}"
        assert merge["inserted"] + merge["updated"] + merge["unchanged"] == len(within)
        assert manifest["rows_deduped"] == len(rows) - len(within)


def test_merge_rewrites_no_partition_without_incoming_keys_or_rows(tmp_path: Path):
    table = Table(tmp_path / "table")
    _run(tmp_path, table, [(1, "a", DAYS[0], 1), (2, "b", DAYS[1], 1), (3, "c", DAYS[2], 1)], 0, START)
    before = dict(table.current)

    manifest = _run(
        tmp_path, table, [(4, "d", DAYS[0], 1), (2, "b2", DAYS[1], 2)], 1, START + timedelta(hours=1)
    )

    assert manifest["merge"] == {
        "inserted": 1, "updated": 1, "unchanged": 0,
        "replaced": ["day=2025-01-01", "day=2025-01-02"], "emptied": [], "added": [],
    }  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "out1" / "data").iterdir()) == [
        "day=2025-01-01",
        "day=2025-01-02",
    ]
    assert table.current["day=2025-01-03"] == before["day=2025-01-03"]  # untouched: still the first version
    assert table.rows() == {
        1: ("a", DAYS[0], 1),
        2: ("b2", DAYS[1], 2),
        3: ("c", DAYS[2], 1),
        4: ("d", DAYS[0], 1),
    }


def test_merge_moves_a_key_whose_partition_changed_out_of_its_old_partition(tmp_path: Path):
    table = Table(tmp_path / "table")
    _run(tmp_path, table, [(1, "a", DAYS[0], 1), (2, "b", DAYS[1], 1)], 0, START)

    manifest = _run(tmp_path, table, [(1, "a", DAYS[2], 2)], 1, START + timedelta(hours=1))

    merge = manifest["merge"]
    assert (merge["replaced"], merge["emptied"], merge["added"]) == (
        [],
        ["day=2025-01-01"],
        ["day=2025-01-03"],
    )
    assert table.rows() == {1: ("a", DAYS[2], 2), 2: ("b", DAYS[1], 1)}


def test_merge_keeps_the_existing_row_when_the_incoming_one_is_older_by_order_by(tmp_path: Path):
    table = Table(tmp_path / "table")
    _run(tmp_path, table, [(1, "new", DAYS[0], 5)], 0, START)

    manifest = _run(tmp_path, table, [(1, "old", DAYS[1], 2)], 1, START + timedelta(hours=1))

    assert (manifest["merge"]["inserted"], manifest["merge"]["updated"], manifest["merge"]["unchanged"]) == (
        0,
        0,
        1,
    )
    assert table.rows() == {1: ("new", DAYS[0], 5)}
