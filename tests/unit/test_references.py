"""Validate resolves the curated tables a run's transform reads (joined datasets, earlier rows for gold)."""

from __future__ import annotations

import json

import pytest
from contract_cases import csv_file, register_curated_table
from validate_world import ValidateWorld

from sluice_lib.errors import ReferenceDatasetMissingError

LAKE = "s3://sluice-lake-local"
STREAMS = csv_file(
    ["user_id", "track_id", "listen_time"],
    [{"user_id": "1", "track_id": "A" * 22, "listen_time": "2025-03-01 10:00:00"}],
)
SIGNUPS = csv_file(
    ["id", "name", "email", "signup_date", "status"],
    [{"id": "1", "name": "Ada", "email": "ada@example.com", "signup_date": "2025-03-01", "status": "active"}],
)


def test_validate_streams_before_users_is_loaded_fails_naming_the_missing_reference(
    world: ValidateWorld,
) -> None:
    register_curated_table(world, "songs")
    source = world.put("streams.csv", STREAMS, "streams")

    with pytest.raises(
        ReferenceDatasetMissingError, match=r"streams joins users, but sluice_local\.users is not"
    ):
        world.validate(source)
    assert world.keys(world.settings.lake_bucket, "staging/") == []  # failed before staging anything


def test_validate_streams_passes_the_catalog_locations_of_joined_and_own_tables(world: ValidateWorld) -> None:
    for dataset in ("users", "songs", "streams"):
        register_curated_table(world, dataset)

    out = world.validate(world.put("streams.csv", STREAMS, "streams"))

    assert json.loads(out.references_json) == {
        "users": f"{LAKE}/curated/users/",
        "songs": f"{LAKE}/curated/songs/",
        "streams": f"{LAKE}/curated/streams/",
    }


def test_validate_first_signups_upload_has_no_earlier_rows_to_read(world: ValidateWorld) -> None:
    out = world.validate(world.put("signups.csv", SIGNUPS, "signups"))

    assert out.references_json == "{}"


def test_validate_later_signups_upload_leaves_its_own_keyed_table_to_the_catalog(
    world: ValidateWorld,
) -> None:
    """signups has a primaryKey: the job merges into, and computes gold from, the partitions the catalog
    names (docs/merge.md), never the table's root, which also holds superseded versions."""
    register_curated_table(world, "signups")

    out = world.validate(world.put("signups.csv", SIGNUPS, "signups"))

    assert json.loads(out.references_json) == {}


def test_validate_dataset_without_joins_or_aggregates_reads_no_other_table(world: ValidateWorld) -> None:
    register_curated_table(world, "offers")
    data = (
        "account,offer_id,catalog_id,account_type_code,offer_type_id,created,expire,risk\n"
        "12345678,123456789012,123456789012345678,AB,87654321,2025-01-02T03:04:05Z,2025-06-01T00:00:00Z,low\n"
    )

    out = world.validate(world.put("offers.csv", data.encode()))

    assert out.references_json == "{}"
