"""A curated table as the catalog presents it in the emulated stack (its partitions' current locations and
files), as Athena, Spark and DuckDB read it: the tests' reader of curated tables (never the table's root)."""

from __future__ import annotations

import io
from typing import Any

import pyarrow.parquet as pq

from sluice.local.emulator import Emulator
from sluice_lib.catalog_files import current_locations, files_at
from sluice_lib.merge import partition_pairs


def catalog_files(emu: Emulator, dataset: str) -> dict[str, list[str]]:
    """Partition directory -> the keys of its current files (`""` for an unpartitioned table)."""
    glue, s3 = emu.client("glue"), emu.client("s3")
    found = {}
    for partition, location in current_locations(glue, emu.stack.glue_database, dataset).items():
        found[partition] = [uri.split("/", 3)[3] for uri in files_at(s3, location)]
    return dict(sorted(found.items()))


def catalog_rows(emu: Emulator, dataset: str) -> list[dict[str, Any]]:
    """Every row of the table as the catalog presents it, partition values (as text) included."""
    s3 = emu.client("s3")
    rows = []
    for partition, keys in catalog_files(emu, dataset).items():
        values = dict(partition_pairs(partition))
        for key in keys:
            body = s3.get_object(Bucket=emu.stack.lake_bucket, Key=key)["Body"].read()
            rows += [{**row, **values} for row in pq.read_table(io.BytesIO(body)).to_pylist()]
    return rows
