"""Validate, datetimes: the fixed-layout fast path gives exactly what the exact (RE2) path gives."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from sluice_lib.validate import convert
from sluice_lib.validate.convert import DatetimeParser, _parse_datetime_exact

LAYOUT = "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:06d}+00:00"  # the generator's, 32 characters


def bulk(rows: int, start: int = 0) -> tuple[list[str], list[datetime]]:
    """`rows` values of one layout, each a different instant, and those instants."""
    values, instants = [], []
    for i in range(start, start + rows):
        parts = (2025, 1 + i % 12, 1 + i % 28, i % 24, i % 60, (7 * i) % 60, (1234 * i) % 1_000_000)
        values.append(LAYOUT.format(*parts))
        instants.append(datetime(*parts, tzinfo=UTC))
    return values, instants


# Every other form the exact path accepts, and values it refuses, with what each must become.
OTHER_FORMS: list[tuple[str, datetime | None]] = [
    ("2024-07-30T20:16:16+05:30", datetime(2024, 7, 30, 14, 46, 16, tzinfo=UTC)),
    ("2024-07-30T20:16:16-0800", datetime(2024, 7, 31, 4, 16, 16, tzinfo=UTC)),
    ("2024-07-30T20:16:16+05", datetime(2024, 7, 30, 15, 16, 16, tzinfo=UTC)),
    ("2024-07-30T20:16Z", datetime(2024, 7, 30, 20, 16, tzinfo=UTC)),
    ("2024-07-30 20:16:16.5Z", datetime(2024, 7, 30, 20, 16, 16, 500000, tzinfo=UTC)),
    ("2024-07-30T20:16:16.1234567Z", datetime(2024, 7, 30, 20, 16, 16, 123456, tzinfo=UTC)),
    ("2024-07-30T20:16:16", datetime(2024, 7, 30, 20, 16, 16, tzinfo=UTC)),
    ("2024-07-30 20:16", datetime(2024, 7, 30, 20, 16, tzinfo=UTC)),
    ("2025-01-08T18:10:06.717208-05:00", datetime(2025, 1, 8, 23, 10, 6, 717208, tzinfo=UTC)),
    ("2024-02-30T10:00:00Z", None),
    ("2024-07-30T24:00:00Z", None),
    ("2024-07-30T23:60:00Z", None),
    ("2024-13-01T00:00:00Z", None),
    ("2024-07-30T10:00:00+24:00", None),
    ("2024-07-30", None),
    ("2024-07-30T20Z", None),
    ("2024-07-30t20:16:16Z", None),
    ("2024-07-30T20:16:16z", None),
    ("yesterday", None),
    ("", None),
]
# Same length and separators as LAYOUT, but not a datetime the exact path accepts.
LOOKALIKES = [
    "2025-01-08T18:10:06.717208+00:0x",
    "2025-01-08 18:10:06.717208+00:00",  # another separator: another layout, still accepted
    "2025-01-08T18:10:06.717208Z00:00",
    "20250108T18:10:06.717208+00:00:0",
]
LOOKALIKE_INSTANTS = [None, datetime(2025, 1, 8, 18, 10, 6, 717208, tzinfo=UTC), None, None]


def test_validate_datetime_batch_of_one_layout_parses_every_other_form_as_the_exact_path_does() -> None:
    values, instants = bulk(100)
    others = [v for v, _ in OTHER_FORMS] + LOOKALIKES
    expected = [*instants[:50], *(e for _, e in OTHER_FORMS), *LOOKALIKE_INSTANTS, *instants[50:]]

    parsed = DatetimeParser()(pa.array([*values[:50], *others, *values[50:]], pa.string()))

    assert parsed.type == pa.timestamp("us", tz="UTC")
    assert parsed.to_pylist() == expected


def test_validate_datetime_batch_of_one_layout_sends_only_the_other_values_to_the_exact_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[list[str]] = []

    def exact(text: pa.Array) -> pa.Array:
        seen.append(text.to_pylist())
        return _parse_datetime_exact(text)

    monkeypatch.setattr(convert, "_parse_datetime_exact", exact)
    values, _ = bulk(200)
    batch = [*values[:100], "2024-07-30T20:16:16+05:30", "yesterday", "", "2024-07-30", *values[100:]]

    DatetimeParser()(pa.array(batch, pa.string()))

    # Missing and too short values are null without a look; the one other form goes to RE2 alone.
    assert seen == [["2024-07-30T20:16:16+05:30"]]


def test_validate_datetime_out_of_range_value_of_the_layout_is_null_and_the_rest_parse() -> None:
    values, instants = bulk(120)
    values[7] = "2025-02-30T10:00:00.000000+00:00"
    values[70] = "2025-01-08T24:00:00.000000+00:00"

    parsed = DatetimeParser()(pa.array(values, pa.string())).to_pylist()

    assert parsed[7] is None
    assert parsed[70] is None
    assert parsed[:7] == instants[:7]
    assert parsed[8:70] == instants[8:70]
    assert parsed[71:] == instants[71:]


def test_validate_datetime_batch_of_nanoseconds_is_cut_to_microseconds() -> None:
    values = [f"2025-03-04T05:06:{s:02d}.123456789Z" for s in range(60)] * 2

    parsed = DatetimeParser()(pa.array(values, pa.string())).to_pylist()

    assert parsed == [datetime(2025, 3, 4, 5, 6, s, 123456, tzinfo=UTC) for s in range(60)] * 2


def test_validate_datetime_batch_of_naive_values_is_taken_as_utc() -> None:
    values = [f"2025-03-04 05:{m:02d}:06" for m in range(60)] * 2

    parsed = DatetimeParser()(pa.array(values, pa.string())).to_pylist()

    assert parsed == [datetime(2025, 3, 4, 5, m, 6, tzinfo=UTC) for m in range(60)] * 2


def _random_value(rng: random.Random, base: str) -> str:
    choice = rng.random()
    if choice < 0.6:  # the batch's layout, other digits (some out of range)
        return "".join(str(rng.randint(0, 9)) if c.isdigit() and rng.random() < 0.1 else c for c in base)
    if choice < 0.8:
        return rng.choice(OTHER_FORMS)[0]
    if choice < 0.95:  # one character of the layout changed
        at = rng.randrange(len(base))
        return base[:at] + rng.choice("0123456789:-+TZ. x") + base[at + 1 :]
    return rng.choice(LOOKALIKES)


def test_validate_datetime_fast_path_equals_the_exact_path_on_random_mixes_across_batches() -> None:
    """The exact path is the reference (it was the only path before); one parser sees every batch."""
    rng = random.Random(7)
    parser = DatetimeParser()
    bases = ["2025-01-08T18:10:06.717208+00:00", "2024-07-30 20:16:16Z", "2024-07-30T20:16:16-0800"]
    for _ in range(150):
        base = rng.choice(bases)
        values = [_random_value(rng, base) for _ in range(rng.choice([64, 300, 2000]))]
        text = pa.array(values, pa.string())

        assert parser(text).equals(_parse_datetime_exact(text))
