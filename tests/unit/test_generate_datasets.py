"""Generators of the seed datasets: their files pass their contracts, bad rows are rejected, same seed same bytes."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from contract_cases import register_curated_table
from validate_world import ValidateWorld

from sluice.generate import GENERATORS, generate_songs, generate_streams, generate_users, track_id
from sluice_lib.contracts import ContractStore

NOW = datetime(2025, 3, 1, tzinfo=UTC)
DATASETS = ["signups", "tickets", "orders", "users", "songs", "streams"]
HEADERS = {
    "signups": "id,name,email,signup_date,status",
    "tickets": "ticket_id,created_at,customer_email,priority,status,subject,body",
    "orders": "order_id,customer_name,product,quantity,unit_price,order_date",
    "users": "user_id,user_name,user_age,user_country,created_at",
    "songs": "track_id,artists,album_name,track_name,popularity,duration_ms,explicit,danceability,energy,tempo,track_genre",
    "streams": "user_id,track_id,listen_time",
}


def records(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if path.name.endswith(".gz") else raw).decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def validate(world: ValidateWorld, dataset: str, path: Path, contracts: ContractStore | None = None):
    if dataset == "streams":
        register_curated_table(world, "users")
        register_curated_table(world, "songs")
    return world.validate(world.put(path.name, path.read_bytes(), dataset), contracts)


def test_generate_registry_has_a_generator_for_every_shipped_contract(world: ValidateWorld) -> None:
    assert sorted(GENERATORS) == world.settings.contracts().datasets()


@pytest.mark.parametrize("dataset", DATASETS)
def test_generate_good_rows_of_each_dataset_all_pass_its_contract(
    world: ValidateWorld, tmp_path: Path, dataset: str
) -> None:
    out = tmp_path / f"{dataset}.csv.gz"

    bad = GENERATORS[dataset](out, 1_500, 0.0, 4, None)

    header, *rows = records(out)
    assert bad == 0
    assert ",".join(header) == HEADERS[dataset]
    assert len(rows) == 1_500
    result = validate(world, dataset, out)
    assert (result.counts.rows_in, result.counts.rows_rejected) == (1_500, 0)


@pytest.mark.parametrize("dataset", DATASETS)
def test_generate_bad_rows_of_each_dataset_are_exactly_the_rejected_ones(
    world: ValidateWorld, lenient: ContractStore, tmp_path: Path, dataset: str
) -> None:
    out = tmp_path / f"{dataset}.csv"

    bad = GENERATORS[dataset](out, 1_000, 0.2, 9, None)

    result = validate(world, dataset, out, lenient)
    assert 120 < bad < 280
    assert result.counts.rows_rejected == bad
    assert result.counts.rows_valid == 1_000 - bad


@pytest.mark.parametrize("dataset", DATASETS)
def test_generate_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, dataset: str) -> None:
    generate = GENERATORS[dataset]
    kwargs = {} if dataset == "songs" else {"now": NOW}

    generate(tmp_path / "a.csv.gz", 2_000, 0.05, 7, None, **kwargs)
    generate(tmp_path / "b.csv.gz", 2_000, 0.05, 7, None, **kwargs)
    generate(tmp_path / "c.csv.gz", 2_000, 0.05, 8, None, **kwargs)

    assert (tmp_path / "a.csv.gz").read_bytes() == (tmp_path / "b.csv.gz").read_bytes()
    assert (tmp_path / "a.csv.gz").read_bytes() != (tmp_path / "c.csv.gz").read_bytes()


def test_generate_streams_listen_to_generated_users_and_songs_of_any_seed(tmp_path: Path) -> None:
    generate_users(tmp_path / "u.csv", 100, 0.0, 1)
    generate_songs(tmp_path / "s.csv", 100, 0.0, 2)
    generate_streams(tmp_path / "st.csv", 3_000, 0.0, 3, users=100, songs=100, days=3, now=NOW)

    users = {r[0] for r in records(tmp_path / "u.csv")[1:]}
    songs = {r[0] for r in records(tmp_path / "s.csv")[1:]}
    streams = records(tmp_path / "st.csv")[1:]
    assert {r[0] for r in streams} <= users
    assert {r[1] for r in streams} <= songs
    assert {r[2][:10] for r in streams} == {"2025-02-26", "2025-02-27", "2025-02-28"}


def test_generate_track_id_is_22_base62_characters_and_stable() -> None:
    assert track_id(0) == track_id(0) != track_id(1)
    assert len(track_id(0)) == 22 and track_id(0).isalnum() and track_id(0).isascii()


def test_generate_streams_progress_is_reported_per_chunk(tmp_path: Path) -> None:
    seen: list[int] = []

    generate_streams(tmp_path / "st.csv", 25_000, 0.0, 1, seen.append, now=NOW)

    assert seen == [10_000, 20_000, 25_000]
