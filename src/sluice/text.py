"""Words for numbers in what the CLI prints: `1 message`, `2 messages`, `1,000 rows`."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and the noun in the number that agrees with it (plural: noun + "s" unless given)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
