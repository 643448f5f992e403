"""contracts/orders.yaml, row by row: a good row passes with its typed values, each broken rule gives its reason."""

from __future__ import annotations

from datetime import date

from contract_cases import Case, csv_file, expected, reasons_of_broken_rows, staged_good_row
from validate_world import ValidateWorld

from sluice_lib.contracts import ContractStore

HEADER = ["order_id", "customer_name", "product", "quantity", "unit_price", "order_date"]
GOOD = {
    "order_id": "ORD-0001",
    "customer_name": "Ada Okafor",
    "product": "Mouse",
    "quantity": "2",
    "unit_price": "19.50",
    "order_date": "2025-03-01",
}
CASES: list[Case] = [
    ({"order_id": ""}, "order_id: a value is required"),
    ({"order_id": "ORD 1"}, "order_id: 'ORD 1' does not match the pattern ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"),
    ({"customer_name": "C" * 201}, f"customer_name: '{'C' * 77}...' is longer than 200 characters"),
    ({"product": ""}, "product: a value is required"),
    ({"quantity": ""}, "quantity: a value is required"),
    ({"quantity": "2.5"}, "quantity: not an integer: '2.5'"),
    ({"quantity": "0"}, "quantity: '0' is less than the minimum 1"),
    ({"unit_price": ""}, "unit_price: a value is required"),
    ({"unit_price": "12,50"}, "unit_price: not a number: '12,50'"),
    ({"unit_price": "-1.5"}, "unit_price: '-1.5' is less than the minimum 0"),
    ({"order_date": "15/01/2024"}, "order_date: not an ISO date (YYYY-MM-DD): '15/01/2024'"),
]


def test_orders_good_row_passes_with_its_typed_values(world: ValidateWorld) -> None:
    row = staged_good_row(world, "orders", HEADER, GOOD)

    assert row == {
        "order_id": "ORD-0001",
        "customer_name": "Ada Okafor",
        "product": "Mouse",
        "quantity": 2,
        "unit_price": 19.5,
        "order_date": date(2025, 3, 1),
    }


def test_orders_row_without_customer_name_passes_with_a_null(world: ValidateWorld) -> None:
    row = staged_good_row(world, "orders", HEADER, {**GOOD, "customer_name": ""})

    assert row["customer_name"] is None


def test_orders_spreadsheet_style_header_names_are_cleaned_to_the_contract_names(
    world: ValidateWorld,
) -> None:
    header = ["Order ID", "Customer Name", "Product", "Quantity", "Unit Price", "Order-Date"]
    data = csv_file(header, [dict(zip(header, GOOD.values(), strict=True))])

    out = world.validate(world.put("orders.csv", data, "orders"))

    assert out.counts.rows_valid == 1
    assert out.extra_columns == []
    assert world.staging_rows(out)[0]["unit_price"] == 19.5


def test_orders_each_broken_rule_rejects_its_row_with_its_reason(
    world: ValidateWorld, lenient: ContractStore
) -> None:
    assert reasons_of_broken_rows(world, lenient, "orders", HEADER, GOOD, CASES) == expected(CASES)
