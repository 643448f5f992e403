"""contracts/signups.yaml, row by row: a good row passes with its typed values, each broken rule gives its reason."""

from __future__ import annotations

from datetime import date

from contract_cases import Case, expected, reasons_of_broken_rows, staged_good_row
from validate_world import ValidateWorld

from sluice_lib.contracts import ContractStore

HEADER = ["id", "name", "email", "signup_date", "status"]
GOOD = {
    "id": "1",
    "name": "John Doe",
    "email": "john@example.com",
    "signup_date": "2024-11-01",
    "status": "active",
}
CASES: list[Case] = [
    ({"id": ""}, "id: a value is required"),
    ({"id": "one"}, "id: not an integer: 'one'"),
    ({"id": "0"}, "id: '0' is less than the minimum 1"),
    ({"name": ""}, "name: a value is required"),
    ({"name": "N" * 201}, f"name: '{'N' * 77}...' is longer than 200 characters"),
    ({"email": ""}, "email: a value is required"),
    (
        {"email": "john.example.com"},
        r"email: 'john.example.com' does not match the pattern ^[^@\s]+@[^@\s]+\.[^@\s]+$",
    ),
    ({"signup_date": ""}, "signup_date: a value is required"),
    ({"signup_date": "2024-02-30"}, "signup_date: not an ISO date (YYYY-MM-DD): '2024-02-30'"),
    ({"signup_date": "01/11/2024"}, "signup_date: not an ISO date (YYYY-MM-DD): '01/11/2024'"),
    ({"status": ""}, "status: a value is required"),
    ({"status": "pending"}, "status: 'pending' is not one of active, inactive"),
]


def test_signups_good_row_passes_with_its_typed_values(world: ValidateWorld) -> None:
    row = staged_good_row(world, "signups", HEADER, GOOD)

    assert row == {
        "id": 1,
        "name": "John Doe",
        "email": "john@example.com",
        "signup_date": date(2024, 11, 1),
        "status": "active",
    }


def test_signups_inactive_status_is_a_valid_row(world: ValidateWorld) -> None:
    row = staged_good_row(world, "signups", HEADER, {**GOOD, "status": "inactive"})

    assert row["status"] == "inactive"


def test_signups_each_broken_rule_rejects_its_row_with_its_reason(
    world: ValidateWorld, lenient: ContractStore
) -> None:
    assert reasons_of_broken_rows(world, lenient, "signups", HEADER, GOOD, CASES) == expected(CASES)
