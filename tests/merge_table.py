"""A curated table as the catalog presents it, published from transform outputs as Load publishes a merge: the
tests' stand-in for the catalog's partition locations."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from sluice_lib.merge import partition_pairs


class Table:
    """A curated table as the catalog presents it: partition -> its current version's files."""

    def __init__(self, root: Path):
        self.root = root
        self.current: dict[str, list[str]] = {}
        self.versions = 0

    def publish(self, output: Path, merge: dict) -> None:
        """As Load publishes a merge: new versions of replaced and added partitions, emptied ones dropped."""
        self.versions += 1
        for partition in [*merge["replaced"], *merge["added"]]:
            source = output / "data" / partition
            target = self.root / f"v{self.versions}" / partition
            target.mkdir(parents=True)
            files = []
            for f in sorted(source.glob("*.parquet")):
                shutil.copy(f, target / f.name)
                files.append(str(target / f.name))
            self.current[partition] = files
        for partition in merge["emptied"]:
            del self.current[partition]

    def all_rows(self) -> list[tuple[str, dict[str, Any]]]:
        """(partition, row) of every current file."""
        return [
            (p, row)
            for p, files in self.current.items()
            for f in files
            for row in pq.read_table(f).to_pylist()
        ]

    def rows(self) -> dict[int, tuple[str | None, date | None, int | None]]:
        """`id -> (name, day, version)` of a table of the tests' `people` contract; a key twice fails."""
        found: dict[int, tuple[str | None, date | None, int | None]] = {}
        for partition, files in self.current.items():
            day_text = dict(partition_pairs(partition))["day"]
            day = date.fromisoformat(day_text) if day_text else None
            for f in files:
                for row in pq.read_table(f).to_pylist():
                    assert row["id"] not in found, f"key {row['id']} twice in the table"
                    found[row["id"]] = (row["name"], day, row["version"])
        return found
