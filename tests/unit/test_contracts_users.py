"""contracts/users.yaml, row by row: a good row passes with its typed values, each broken rule gives its reason."""

from __future__ import annotations

from datetime import date

from contract_cases import Case, expected, reasons_of_broken_rows, staged_good_row
from validate_world import ValidateWorld

from sluice_lib.contracts import ContractStore

HEADER = ["user_id", "user_name", "user_age", "user_country", "created_at"]
GOOD = {
    "user_id": "1",
    "user_name": "Ada",
    "user_age": "31",
    "user_country": "Ghana",
    "created_at": "2024-05-12",
}
CASES: list[Case] = [
    ({"user_id": ""}, "user_id: a value is required"),
    ({"user_id": "u1"}, "user_id: not an integer: 'u1'"),
    ({"user_id": "0"}, "user_id: '0' is less than the minimum 1"),
    ({"user_name": ""}, "user_name: a value is required"),
    ({"user_age": "-1"}, "user_age: '-1' is less than the minimum 0"),
    ({"user_age": "131"}, "user_age: '131' is greater than the maximum 130"),
    ({"user_country": "X" * 101}, f"user_country: '{'X' * 77}...' is longer than 100 characters"),
    ({"created_at": "2024-13-01"}, "created_at: not an ISO date (YYYY-MM-DD): '2024-13-01'"),
]


def test_users_good_row_passes_with_its_typed_values(world: ValidateWorld) -> None:
    row = staged_good_row(world, "users", HEADER, GOOD)

    assert row == {
        "user_id": 1,
        "user_name": "Ada",
        "user_age": 31,
        "user_country": "Ghana",
        "created_at": date(2024, 5, 12),
    }


def test_users_row_without_age_country_or_creation_day_passes(world: ValidateWorld) -> None:
    row = staged_good_row(
        world, "users", HEADER, {**GOOD, "user_age": "", "user_country": "", "created_at": ""}
    )

    assert (row["user_age"], row["user_country"], row["created_at"]) == (None, None, None)


def test_users_each_broken_rule_rejects_its_row_with_its_reason(
    world: ValidateWorld, lenient: ContractStore
) -> None:
    assert reasons_of_broken_rows(world, lenient, "users", HEADER, GOOD, CASES) == expected(CASES)
