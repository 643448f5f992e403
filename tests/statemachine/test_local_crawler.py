"""The local crawler as Glue's behaves: a partition another writer adds while the crawl runs does not fail it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sluice.local.emulator import Emulator

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


class _ListsBeforeTheRace:
    """The crawler's Glue client, whose partition listing was taken before a concurrent RegisterPartition."""

    def __init__(self, glue: Any) -> None:
        self._glue = glue
        self.exceptions = glue.exceptions

    def get_paginator(self, name: str) -> Any:
        if name != "get_partitions":
            return self._glue.get_paginator(name)

        class _Empty:
            def paginate(self, **_: Any) -> list[dict[str, Any]]:
                return [{"Partitions": []}]

        return _Empty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._glue, name)


def test_crawl_skips_a_partition_added_after_its_listing(emu: Emulator) -> None:
    s3, glue = emu.client("s3"), emu.client("glue")
    bucket, database = emu.stack.lake_bucket, emu.stack.glue_database
    body = io.BytesIO()
    pq.write_table(pa.table({"offer_id": ["1"]}), body)
    for ingest in ("a", "b"):
        s3.put_object(
            Bucket=bucket, Key=f"staging/race/ingest_id={ingest}/part-00000.parquet", Body=body.getvalue()
        )
    crawler = glue.get_crawler(Name="sluice-dev-staging")["Crawler"]
    emu.glue._crawl_target(
        glue, s3, _Backend(crawler), f"s3://{bucket}/staging/"
    )  # creates table and partitions
    glue.delete_partition(DatabaseName=database, TableName="staging_race", PartitionValues=["b"])
    glue.create_partition(  # a concurrent RegisterPartition adds "b" after the crawl listed the partitions
        DatabaseName=database,
        TableName="staging_race",
        PartitionInput={
            "Values": ["b"],
            "StorageDescriptor": {"Location": f"s3://{bucket}/staging/race/ingest_id=b/"},
        },
    )

    emu.glue._crawl_target(_ListsBeforeTheRace(glue), s3, _Backend(crawler), f"s3://{bucket}/staging/")

    values = sorted(
        p["Values"][0]
        for p in glue.get_partitions(DatabaseName=database, TableName="staging_race")["Partitions"]
    )
    assert values == ["a", "b"]


class _Backend:
    """The fields of moto's crawler record the crawl reads."""

    def __init__(self, crawler: dict[str, Any]) -> None:
        self.name = crawler["Name"]
        self.database_name = crawler["DatabaseName"]
        self.table_prefix = crawler.get("TablePrefix")
