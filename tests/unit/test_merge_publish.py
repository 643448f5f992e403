"""Publishing merges to the emulated lake and catalog: each transform output (the DuckDB engine, fed the files the
catalog names) is copied to new version folders and the catalog switched; after every file the table the catalog
presents holds one row per key, untouched partitions keep their location, and `previous` names what a rollback
restores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from steps_aws import SETTINGS, Aws, emulated_aws
from test_merge_lambda_engine import DAYS, _contract, _stage

from sluice_lib.catalog_files import current_files, current_locations
from sluice_lib.curated import Lineage
from sluice_lib.lake import read_manifest, read_manifest_json
from sluice_lib.merge import partition_pairs
from sluice_lib.merge_publish import publish_merge, version_name
from sluice_lib.transform_lambda.engine import transform_folder

START = datetime(2025, 5, 1, tzinfo=UTC)
LAKE = SETTINGS.lake_bucket
DB = SETTINGS.glue_database


def _download(aws: Aws, existing: dict[str, list[str]], into: Path) -> dict[str, list[str]]:
    local: dict[str, list[str]] = {}
    for partition, uris in existing.items():
        for i, uri in enumerate(uris):
            bucket, key = uri.removeprefix("s3://").split("/", 1)
            path = into / f"{len(local)}-{i}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            aws.s3.download_file(bucket, key, str(path))
            local.setdefault(partition, []).append(str(path))
    return local


def _merge_file(aws: Aws, tmp: Path, rows: list, step: int) -> dict:
    at = START + timedelta(hours=step)
    existing = _download(aws, current_files(aws.s3, aws.glue, DB, "people"), tmp / f"existing{step}")
    staging = _stage(tmp / f"staging{step}" / f"ingest_id=i{step}", rows)
    out = tmp / f"out{step}"
    transform_folder(
        staging, out, _contract(), run_id=f"r{step}", lineage=Lineage(f"i{step}", "k", at), existing=existing
    )
    for path in out.rglob("*"):
        if path.is_file():
            aws.s3.upload_file(str(path), LAKE, f"transform/r{step}/{path.relative_to(out).as_posix()}")
    output_uri = f"s3://{LAKE}/transform/r{step}/"
    manifest = read_manifest(aws.s3, output_uri)
    merge = read_manifest_json(aws.s3, output_uri)["merge"]
    return publish_merge(
        aws.s3, aws.glue, manifest=manifest, merge=merge, output_uri=output_uri, lake_bucket=LAKE, database=DB,
        version=version_name(at.isoformat(), f"i{step}"),
    )  # fmt: skip


def _table(aws: Aws, tmp: Path) -> dict[int, tuple]:
    found: dict[int, tuple] = {}
    for partition, uris in _download(
        aws, current_files(aws.s3, aws.glue, DB, "people"), tmp / "read"
    ).items():
        day_text = dict(partition_pairs(partition))["day"]
        for path in uris:
            for row in pq.read_table(path).to_pylist():
                assert row["id"] not in found
                found[row["id"]] = (
                    row["name"],
                    date.fromisoformat(day_text) if day_text else None,
                    row["version"],
                )
    return found


def test_publish_merge_switches_touched_partitions_to_new_versions_and_keeps_the_rest(tmp_path: Path):
    with emulated_aws() as aws:
        _merge_file(
            aws, tmp_path / "a", [(1, "a", DAYS[0], 1), (2, "b", DAYS[1], 1), (3, "c", DAYS[2], 1)], 0
        )
        first = current_locations(aws.glue, DB, "people")

        switched = _merge_file(aws, tmp_path / "b", [(1, "a2", DAYS[0], 2), (3, "c", DAYS[3], 2)], 1)

        now = current_locations(aws.glue, DB, "people")
        assert now["day=2025-01-02"] == first["day=2025-01-02"]  # no incoming key, no incoming row: untouched
        assert "day=2025-01-03" not in now  # its one key moved to the null day
        assert set(switched["previous"]) == {
            "day=2025-01-01",
            "day=2025-01-03",
            "day=__HIVE_DEFAULT_PARTITION__",
        }
        assert switched["previous"]["day=2025-01-01"] == first["day=2025-01-01"]
        assert switched["current"]["day=2025-01-03"] is None
        assert now["day=2025-01-01"].endswith("/day=2025-01-01/v20250501T010000Z-i1/")
        assert _table(aws, tmp_path / "c") == {1: ("a2", DAYS[0], 2), 2: ("b", DAYS[1], 1), 3: ("c", None, 2)}
