"""Retention of superseded partition versions: a version is kept until the one that replaced it is older than the
retention, the current one and any published after it are never deleted, and only the partitions asked about
are touched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from steps_aws import SETTINGS, Aws, emulated_aws

from sluice_lib.retention import DIRECT, expired, remove_expired_versions, restored_marker, versions_of

P = "curated/offers/year=2026/month=3/"
KEYS = [
    f"{P}part-a-00000.snappy.parquet",  # a plain append, before the first merge
    f"{P}v20261201T100000Z-run1/part-b-00000.snappy.parquet",
    f"{P}v20261203T100000Z-run2/part-c-00000.snappy.parquet",
    f"{P}v20261203T100000Z-run2/part-c-00001.snappy.parquet",
    f"{P}v20261205T100000Z-run3/part-d-00000.snappy.parquet",
]
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def names(versions) -> list[str]:
    return [v.name for v in versions]


def test_versions_of_orders_direct_files_first_then_folders_by_publish_time():
    found = versions_of(list(reversed(KEYS)), P)

    assert names(found) == [
        DIRECT,
        "v20261201T100000Z-run1",
        "v20261203T100000Z-run2",
        "v20261205T100000Z-run3",
    ]
    assert found[2].keys == (KEYS[2], KEYS[3])
    assert found[1].published == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_versions_of_unpartitioned_prefix_ignores_partition_directories():
    keys = ["curated/users/v20261201T100000Z-r/part-0.parquet", "curated/users/year=2026/part-0.parquet"]

    assert names(versions_of(keys, "curated/users/")) == ["v20261201T100000Z-r"]


def test_expired_keeps_a_version_until_its_successor_is_older_than_the_retention():
    versions = versions_of(KEYS, P)

    # run2 replaced run1 on 3 December, run3 replaced run2 on 5 December 10:00
    assert names(expired(versions, "v20261205T100000Z-run3", NOW, days=1)) == [
        DIRECT,
        "v20261201T100000Z-run1",
    ]
    assert names(expired(versions, "v20261205T100000Z-run3", NOW, days=0)) == [
        DIRECT, "v20261201T100000Z-run1", "v20261203T100000Z-run2",
    ]  # fmt: skip
    assert expired(versions, "v20261205T100000Z-run3", NOW, days=30) == []


def test_expired_never_deletes_the_current_version_or_one_published_after_it():
    versions = versions_of(KEYS, P)

    assert names(expired(versions, "v20261201T100000Z-run1", NOW, days=0)) == [DIRECT]
    assert expired(versions, "v20991201T100000Z-elsewhere", NOW, days=0) == []  # not here: leave everything


def test_expired_partition_the_catalog_no_longer_names_keeps_its_last_version():
    assert names(expired(versions_of(KEYS, P), None, NOW, days=0)) == [
        DIRECT, "v20261201T100000Z-run1", "v20261203T100000Z-run2",
    ]  # fmt: skip


# A rollback on 5 December 12:00 made run1 current again (its marker); run2 and run3 were rolled away.
RESTORED = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
MARKER = f"{P}v20261201T100000Z-run1/{restored_marker(RESTORED)}"
V4 = f"{P}v20261210T100000Z-run4/part-e-00000.snappy.parquet"  # a merge after the rollback


def test_versions_of_orders_a_version_a_rollback_restored_by_its_restore():
    found = versions_of([*KEYS, MARKER], P)

    assert names(found) == [
        DIRECT,
        "v20261203T100000Z-run2",
        "v20261205T100000Z-run3",
        "v20261201T100000Z-run1",
    ]
    assert found[-1].restored == RESTORED
    assert MARKER in found[-1].keys  # deleted with its version


def test_expired_after_a_rollback_never_deletes_the_older_version_the_catalog_names():
    versions = versions_of([*KEYS, MARKER], P)

    # the rolled-away run2 and run3 are superseded since 5 December (run3 at the rollback), the restored run1 never
    assert names(expired(versions, "v20261201T100000Z-run1", datetime(2026, 12, 6, tzinfo=UTC), days=0)) == [
        DIRECT, "v20261203T100000Z-run2", "v20261205T100000Z-run3",
    ]  # fmt: skip
    assert names(expired(versions, "v20261201T100000Z-run1", datetime(2026, 12, 6, tzinfo=UTC), days=1)) == [
        DIRECT,
    ]  # run2 and run3 were superseded less than a day before: kept to roll forward to


def test_expired_after_a_rollback_and_a_merge_counts_the_restored_version_superseded_by_the_merge():
    versions = versions_of([*KEYS, MARKER, V4], P)

    # on 11 December, 3 days: run4 replaced run1 on the 10th (kept); run2 and run3 went on the 5th (deleted)
    assert names(expired(versions, "v20261210T100000Z-run4", datetime(2026, 12, 11, tzinfo=UTC), days=3)) == [
        DIRECT, "v20261203T100000Z-run2", "v20261205T100000Z-run3",
    ]  # fmt: skip
    # without the marker, run1 would count as superseded by run2 on 3 December and go too
    plain = versions_of([*KEYS, V4], P)
    assert "v20261201T100000Z-run1" in names(
        expired(plain, "v20261210T100000Z-run4", datetime(2026, 12, 11, tzinfo=UTC), days=3)
    )


@pytest.fixture
def aws() -> Iterator[Aws]:
    with emulated_aws() as aws:
        yield aws


def test_remove_expired_versions_deletes_superseded_versions_of_the_partitions_asked_only(aws: Aws):
    lake = SETTINGS.lake_bucket
    other = [k.replace("month=3", "month=4") for k in KEYS]
    for key in [*KEYS, *other]:
        aws.s3.put_object(Bucket=lake, Key=key, Body=b"x")
    aws.glue.create_table(
        DatabaseName=SETTINGS.glue_database,
        TableInput={
            "Name": "offers",
            "PartitionKeys": [{"Name": "year", "Type": "int"}, {"Name": "month", "Type": "int"}],
            "StorageDescriptor": {"Columns": [], "Location": f"s3://{lake}/curated/offers/"},
        },
    )
    for month in ("3", "4"):
        aws.glue.create_partition(
            DatabaseName=SETTINGS.glue_database,
            TableName="offers",
            PartitionInput={
                "Values": ["2026", month],
                "StorageDescriptor": {
                    "Location": f"s3://{lake}/curated/offers/year=2026/month={month}/v20261205T100000Z-run3/"
                },
            },
        )

    deleted = remove_expired_versions(
        aws.s3, aws.glue, database=SETTINGS.glue_database, lake_bucket=lake, dataset="offers",
        partitions=["year=2026/month=3"], days=1, now=NOW,
    )  # fmt: skip

    assert deleted == KEYS[:2]
    left = [o["Key"] for o in aws.s3.list_objects_v2(Bucket=lake, Prefix="curated/")["Contents"]]
    assert sorted(left) == sorted([*KEYS[2:], *other])
