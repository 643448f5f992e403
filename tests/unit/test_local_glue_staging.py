"""The local Glue job's input staging: s3:// argument values (or JSON maps of them) become local folders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice.local.glue import stage_inputs


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="lake")
        for key in (
            "curated/users/part-0.parquet",
            "curated/songs/genre=pop/part-0.parquet",
            "curated/songsx/a",
        ):
            client.put_object(Bucket="lake", Key=key, Body=key.encode())
        yield client


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_stage_inputs_s3_prefix_becomes_a_local_folder_of_its_objects(s3: Any, tmp_path: Path) -> None:
    local = stage_inputs(s3, "s3://lake/curated/songs/", tmp_path / "songs")

    assert local == str(tmp_path / "songs")
    assert files(Path(local)) == ["genre=pop/part-0.parquet"]


def test_stage_inputs_json_map_of_s3_uris_maps_each_to_a_local_folder(s3: Any, tmp_path: Path) -> None:
    value = json.dumps({"users": "s3://lake/curated/users/", "streams": "s3://lake/curated/streams/"})

    staged = json.loads(stage_inputs(s3, value, tmp_path / "references"))

    assert list(staged) == ["users", "streams"]
    assert files(Path(staged["users"])) == ["part-0.parquet"]
    assert (
        Path(staged["streams"]).is_dir() and files(Path(staged["streams"])) == []
    )  # empty prefix, empty folder


@pytest.mark.parametrize(
    "value",
    ["incoming/users/u.csv", "{}", '{"dataset": "users", "schema": {}}', '{"a": "s3://x/", "b": 1}', "{oops"],
)
def test_stage_inputs_other_values_are_passed_unchanged(s3: Any, tmp_path: Path, value: str) -> None:
    assert stage_inputs(s3, value, tmp_path / "x") == value
    assert not (tmp_path / "x").exists()
