"""Test-data generators: realistic CSV files per dataset, with a chosen share of deliberately bad rows."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import numpy as np

CHUNK_ROWS = 10_000
OFFERS_HEADER = [
    "account",
    "offer_id",
    "catalog_id",
    "account_type_code",
    "offer_type_id",
    "created",
    "expire",
    "risk",
]
RISKS = np.array(["low", "medium", "high"])
# Kinds of deliberately bad rows; each one breaks the offers contract in a way a person would recognise.
BAD_KINDS = (
    "missing_account",
    "short_offer_id",
    "bad_created",
    "risk_not_in_enum",
    "ragged_row",
    "lowercase_account_type",
    "missing_expire",
)
_DAY_US = 86_400 * 1_000_000


@contextmanager
def _open_text(out: Path) -> Iterator[TextIO]:
    """Plain or gzip text output by suffix; gzip without name and mtime so a seed gives the same bytes."""
    if out.name.endswith(".gz"):
        with (
            open(out, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
            io.TextIOWrapper(gz, encoding="utf-8", newline="") as text,
        ):
            yield text
    else:
        with open(out, "w", encoding="utf-8", newline="") as text:
            yield text


def _digits(values: np.ndarray, width: int) -> list[str]:
    return [f"{v:0{width}d}" for v in values.tolist()]


def _break_row(row: list[str], kind: str) -> list[str]:
    """Turns a good offers row into a bad one of the given kind."""
    bad = list(row)
    if kind == "missing_account":
        bad[0] = ""
    elif kind == "short_offer_id":
        bad[1] = bad[1][1:]
    elif kind == "bad_created":
        bad[5] = "yesterday"
    elif kind == "risk_not_in_enum":
        bad[7] = "extreme"
    elif kind == "ragged_row":
        bad = bad[:-1]
    elif kind == "lowercase_account_type":
        bad[3] = bad[3].lower()
    elif kind == "missing_expire":
        bad[6] = ""
    return bad


def generate_offers(
    out: Path,
    rows: int,
    bad_rate: float,
    seed: int,
    progress: Callable[[int], None] | None = None,
    *,
    accounts: int = 20,
    now: datetime | None = None,
) -> int:
    """Writes `rows` offers (plus a header) to `out` (`.gz` -> gzip) and returns how many rows are bad.

    The same seed, arguments and `now` give the same file. `now` defaults to the start of the current
    UTC day, so `created` lies within the 365 days before it and runs on one day agree byte for byte.
    Each row is bad with probability `bad_rate`, of one of BAD_KINDS chosen at random.
    """
    if rows < 0 or not 0 <= bad_rate <= 1 or accounts < 1:
        raise ValueError("rows must be >= 0, bad_rate within [0, 1] and accounts >= 1")
    rng = np.random.default_rng(seed)
    anchor = now or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    anchor_us = np.datetime64(anchor.astimezone(UTC).replace(tzinfo=None), "us")
    account_pool = rng.choice(100_000_000, size=accounts, replace=accounts > 100_000_000)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    type_codes = np.char.add(rng.choice(letters, 12), rng.choice(letters, 12))
    offer_types = rng.integers(0, 100_000_000, size=50)
    bad_total = 0
    written = 0
    with _open_text(out) as text:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(OFFERS_HEADER)
        while written < rows:
            n = min(CHUNK_ROWS, rows - written)
            created = anchor_us - rng.integers(1, 365 * _DAY_US, size=n).astype("timedelta64[us]")
            expire = created + rng.integers(7 * _DAY_US, 365 * _DAY_US + 1, size=n).astype("timedelta64[us]")
            columns = [
                _digits(rng.choice(account_pool, n), 8),
                _digits(rng.integers(0, 10**12, size=n), 12),
                _digits(rng.integers(0, 10**18, size=n), 18),
                rng.choice(type_codes, n).tolist(),
                _digits(rng.choice(offer_types, n), 8),
                [f"{s}+00:00" for s in np.datetime_as_string(created, unit="us").tolist()],
                [f"{s}+00:00" for s in np.datetime_as_string(expire, unit="us").tolist()],
                rng.choice(RISKS, n).tolist(),
            ]
            chunk: list[list[str]] = [list(r) for r in zip(*columns, strict=True)]
            bad_at = np.flatnonzero(rng.random(n) < bad_rate)
            kinds = rng.integers(0, len(BAD_KINDS), size=len(bad_at))
            for i, kind in zip(bad_at.tolist(), kinds.tolist(), strict=True):
                chunk[i] = _break_row(chunk[i], BAD_KINDS[kind])
            writer.writerows(chunk)
            bad_total += len(bad_at)
            written += n
            if progress is not None:
                progress(written)
    return bad_total


# Dataset name -> generator; a new dataset plugs in its own function with the same leading arguments.
GENERATORS: dict[str, Callable[..., int]] = {"offers": generate_offers}
