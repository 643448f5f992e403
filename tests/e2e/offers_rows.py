"""Offers CSV rows written by hand for end-to-end tests."""

from __future__ import annotations

OFFERS_HEADER = "account,offer_id,catalog_id,account_type_code,offer_type_id,created,expire,risk"


def offers_row(
    i: int, *, account: str | None = None, created: str = "2026-03-04T05:06:07+00:00", risk: str = "low"
) -> str:
    acct = account if account is not None else f"{10000000 + i}"
    return (
        f"{acct},{100000000000 + i},{100000000000000000 + i},AB,{20000000 + i},"
        f"{created},2026-09-01T00:00:00+00:00,{risk}"
    )
