"""TransformInLambda's merge fetches what it touches: the key columns of every current file by ranged GETs, the
whole files of the touched partitions only, and merges exactly as with the whole table downloaded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from steps_aws import SETTINGS, emulated_aws
from test_merge_lambda_engine import DAYS, _contract, _stage

from sluice_lib.curated import Lineage
from sluice_lib.transform_lambda.engine import transform_folder
from sluice_lib.transform_lambda.remote import RemoteTable

LAKE = SETTINGS.lake_bucket
AT = datetime(2025, 5, 1, tzinfo=UTC)


class CountingS3:
    """The client's GetObject bytes, per key (ranged or whole)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.got: dict[str, int] = {}
        self.downloads: list[str] = []

    def get_object(self, **kwargs: Any) -> Any:
        response = self.inner.get_object(**kwargs)
        self.got[kwargs["Key"]] = self.got.get(kwargs["Key"], 0) + int(response["ContentLength"])
        return response

    def head_object(self, **kwargs: Any) -> Any:
        return self.inner.head_object(**kwargs)

    def download_file(self, bucket: str, key: str, filename: str) -> None:
        self.downloads.append(key)
        self.inner.download_file(bucket, key, filename)


def _publish(s3: Any, tmp: Path) -> dict[str, list[str]]:
    """A curated table of three partitions of 20,000 rows each (names wide enough that the key column is a small
    part of a file), as the engine writes it, published as version v1 of each partition."""
    rows = [
        (n * 100_000 + i, f"name-{'x' * 40}-{i}", day, 1)
        for n, day in enumerate(DAYS[:3])
        for i in range(20_000)
    ]
    out = tmp / "first"
    transform_folder(_stage(tmp / "s0" / "ingest_id=i0", rows), out, _contract(), run_id="r0",
                     lineage=Lineage("i0", "k", AT))  # fmt: skip
    files: dict[str, list[str]] = {}
    for path in sorted((out / "data").rglob("*.parquet")):
        partition = path.parent.relative_to(out / "data").as_posix()
        key = f"curated/people/{partition}/v1/{path.name}"
        s3.upload_file(str(path), LAKE, key)
        files.setdefault(partition, []).append(f"s3://{LAKE}/{key}")
    return files


def test_the_merge_fetches_the_key_columns_and_the_touched_partition_only(tmp_path: Path):
    with emulated_aws() as aws:
        files = _publish(aws.s3, tmp_path)
        s3 = CountingS3(aws.s3)
        table = RemoteTable(s3, files, tmp_path / "remote")
        # A correction of a row of the second day (key 100,005), and a new key on that day.
        incoming = _stage(
            tmp_path / "in" / "ingest_id=i1",
            [(100_005, "corrected", DAYS[1], 2), (999_999, "new", DAYS[1], 1)],
        )

        keys = table.key_files(["id"])
        manifest = transform_folder(
            incoming, tmp_path / "out", _contract(), run_id="r1", lineage=Lineage("i1", "k", AT),
            existing=table, existing_keys=keys,
        )  # fmt: skip
        sizes = {
            key: aws.s3.head_object(Bucket=LAKE, Key=key)["ContentLength"]
            for key in (uri.removeprefix(f"s3://{LAKE}/") for uris in files.values() for uri in uris)
        }

        assert table.downloaded == [f"day={DAYS[1]}"]
        assert s3.downloads == [u.removeprefix(f"s3://{LAKE}/") for u in files[f"day={DAYS[1]}"]]
        for key, size in sizes.items():  # every file's key column read, a fraction of the file
            assert 0 < s3.got[key] < size / 2, (key, s3.got[key], size)
        assert sorted(keys.values()) == sorted(files)
        for path in keys:  # sparse: the holes take no disk
            assert Path(path).stat().st_blocks * 512 < Path(path).stat().st_size / 2

        # The same merge over the whole table downloaded: the same rows and counts.
        whole = {p: list(table[p]) for p in files}
        again = transform_folder(
            incoming, tmp_path / "out-whole", _contract(), run_id="r1", lineage=Lineage("i1", "k", AT),
            existing=whole,
        )  # fmt: skip

    assert manifest["merge"] == again["merge"]
    assert manifest["merge"]["replaced"] == [f"day={DAYS[1]}"]
    assert (manifest["merge"]["inserted"], manifest["merge"]["updated"]) == (1, 1)
    rows = pq.read_table(tmp_path / "out" / "data").drop(["_ingested_at"]).sort_by("id").to_pylist()
    assert (
        rows
        == pq.read_table(tmp_path / "out-whole" / "data").drop(["_ingested_at"]).sort_by("id").to_pylist()
    )
    assert len(rows) == 20_001


def test_a_table_without_files_fetches_nothing(tmp_path: Path):
    with emulated_aws() as aws:
        s3 = CountingS3(aws.s3)
        table = RemoteTable(s3, {}, tmp_path / "remote")

        assert table.key_files(["id"]) == {}
        assert (list(table), table.downloaded, s3.got) == ([], [], {})
