"""contracts/streams.yaml, row by row: a good row passes with its typed values, each broken rule gives its reason.

Streams join users and songs, so Validate needs their curated tables in the catalog first.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from contract_cases import Case, expected, reasons_of_broken_rows, register_curated_table, staged_good_row
from validate_world import ValidateWorld

from sluice_lib.contracts import ContractStore

HEADER = ["user_id", "track_id", "listen_time"]
GOOD = {"user_id": "26", "track_id": "5SuOikwiRyPMVoIQDJUgSV", "listen_time": "2024-06-25 17:43:13"}
CASES: list[Case] = [
    ({"user_id": ""}, "user_id: a value is required"),
    ({"user_id": "0"}, "user_id: '0' is less than the minimum 1"),
    ({"user_id": "u26"}, "user_id: not an integer: 'u26'"),
    ({"track_id": ""}, "track_id: a value is required"),
    ({"track_id": "not-a-track"}, "track_id: 'not-a-track' does not match the pattern ^[0-9A-Za-z]{22}$"),
    ({"listen_time": ""}, "listen_time: a value is required"),
    ({"listen_time": "2024-06-25 25:00:00"}, "listen_time: not an ISO-8601 datetime: '2024-06-25 25:00:00'"),
]


@pytest.fixture
def references(world: ValidateWorld) -> None:
    register_curated_table(world, "users")
    register_curated_table(world, "songs")


@pytest.mark.usefixtures("references")
def test_streams_good_row_passes_with_listen_time_read_as_utc(world: ValidateWorld) -> None:
    row = staged_good_row(world, "streams", HEADER, GOOD)

    assert row == {
        "user_id": 26,
        "track_id": "5SuOikwiRyPMVoIQDJUgSV",
        "listen_time": datetime(2024, 6, 25, 17, 43, 13, tzinfo=UTC),
    }


@pytest.mark.usefixtures("references")
def test_streams_each_broken_rule_rejects_its_row_with_its_reason(
    world: ValidateWorld, lenient: ContractStore
) -> None:
    assert reasons_of_broken_rows(world, lenient, "streams", HEADER, GOOD, CASES) == expected(CASES)
