"""contracts/tickets.yaml, row by row: a good row passes with its typed values, each broken rule gives its reason."""

from __future__ import annotations

from datetime import UTC, datetime

from contract_cases import Case, expected, reasons_of_broken_rows, staged_good_row
from validate_world import ValidateWorld

from sluice_lib.contracts import ContractStore

HEADER = ["ticket_id", "created_at", "customer_email", "priority", "status", "subject", "body"]
GOOD = {
    "ticket_id": "TKT-000001",
    "created_at": "2025-03-01T10:00:00Z",
    "customer_email": "Ada@Example.com",
    "priority": "high",
    "status": "open",
    "subject": "Cannot log in",
    "body": "Tried twice, still fails.",
}
CASES: list[Case] = [
    ({"ticket_id": ""}, "ticket_id: a value is required"),
    ({"ticket_id": "T-1"}, "ticket_id: 'T-1' does not match the pattern ^TKT-[0-9]{6,10}$"),
    ({"created_at": ""}, "created_at: a value is required"),
    ({"created_at": "01/03/2025 10:00"}, "created_at: not an ISO-8601 datetime: '01/03/2025 10:00'"),
    ({"customer_email": ""}, "customer_email: a value is required"),
    (
        {"customer_email": "ada"},
        r"customer_email: 'ada' does not match the pattern ^[^@\s]+@[^@\s]+\.[^@\s]+$",
    ),
    ({"priority": ""}, "priority: a value is required"),
    ({"priority": "critical"}, "priority: 'critical' is not one of low, medium, high, urgent"),
    ({"status": "new"}, "status: 'new' is not one of open, pending, resolved, closed"),
    ({"subject": ""}, "subject: a value is required"),
    ({"subject": "S" * 201}, f"subject: '{'S' * 77}...' is longer than 200 characters"),
    ({"body": "B" * 20_001}, f"body: '{'B' * 77}...' is longer than 20000 characters"),
]


def test_tickets_good_row_with_multiline_quoted_body_passes_verbatim(world: ValidateWorld) -> None:
    body = 'Hi,\nthe app says "error 42", then closes.\n\nThanks, Ada'

    row = staged_good_row(world, "tickets", HEADER, {**GOOD, "body": body})

    assert row == {
        "ticket_id": "TKT-000001",
        "created_at": datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
        "customer_email": "Ada@Example.com",  # lower-cased by the transform, not by Validate
        "priority": "high",
        "status": "open",
        "subject": "Cannot log in",
        "body": body,
    }


def test_tickets_each_broken_rule_rejects_its_row_with_its_reason(
    world: ValidateWorld, lenient: ContractStore
) -> None:
    assert reasons_of_broken_rows(world, lenient, "tickets", HEADER, GOOD, CASES) == expected(CASES)
