"""contracts/offers.yaml, row by row: a good row passes with its typed values, each broken rule gives its reason."""

from __future__ import annotations

from datetime import UTC, datetime

from contract_cases import Case, expected, reasons_of_broken_rows, staged_good_row
from validate_world import ValidateWorld

from sluice_lib.contracts import ContractStore

HEADER = [
    "account",
    "offer_id",
    "catalog_id",
    "account_type_code",
    "offer_type_id",
    "created",
    "expire",
    "risk",
]
GOOD = {
    "account": "00012345",
    "offer_id": "000000000042",
    "catalog_id": "012345678901234567",
    "account_type_code": "ND",
    "offer_type_id": "84487157",
    "created": "2024-07-30T20:16:16.777001+00:00",
    "expire": "2025-07-23T20:16:16.777001+02:00",
    "risk": "low",
}
CASES: list[Case] = [
    ({"account": ""}, "account: a value is required"),
    ({"account": "1234567"}, "account: '1234567' does not match the pattern ^[0-9]{8}$"),
    ({"offer_id": ""}, "offer_id: a value is required"),
    ({"offer_id": "12345678901A"}, "offer_id: '12345678901A' does not match the pattern ^[0-9]{12}$"),
    ({"catalog_id": "1"}, "catalog_id: '1' does not match the pattern ^[0-9]{18}$"),
    ({"account_type_code": "nd"}, "account_type_code: 'nd' does not match the pattern ^[A-Z]{2}$"),
    ({"offer_type_id": ""}, "offer_type_id: a value is required"),
    ({"created": "yesterday"}, "created: not an ISO-8601 datetime: 'yesterday'"),
    ({"expire": ""}, "expire: a value is required"),
    ({"risk": "extreme"}, "risk: 'extreme' is not one of low, medium, high"),
]


def test_offers_good_row_passes_with_key_fields_kept_as_strings(world: ValidateWorld) -> None:
    row = staged_good_row(world, "offers", HEADER, GOOD)

    assert row == {
        "account": "00012345",  # leading zeros kept: the serving key is a string
        "offer_id": "000000000042",
        "catalog_id": "012345678901234567",
        "account_type_code": "ND",
        "offer_type_id": "84487157",
        "created": datetime(2024, 7, 30, 20, 16, 16, 777001, tzinfo=UTC),
        "expire": datetime(2025, 7, 23, 18, 16, 16, 777001, tzinfo=UTC),
        "risk": "low",
    }


def test_offers_each_broken_rule_rejects_its_row_with_its_reason(
    world: ValidateWorld, lenient: ContractStore
) -> None:
    assert reasons_of_broken_rows(world, lenient, "offers", HEADER, GOOD, CASES) == expected(CASES)
