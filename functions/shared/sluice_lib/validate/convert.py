"""Vectorised parsing of string columns into the staging types, one function per contract field type.

Each parser takes the trimmed text of a column (no nulls) and returns the typed array, null wherever
the text is empty or does not parse. Patterns are RE2 (pyarrow); fast paths cast a whole batch at once
and fall back to stricter, slower steps only for a batch that holds an impossible value (30 February,
an integer beyond 64 bits). A date or datetime with a custom `format` (strptime pattern) is parsed
value by value in Python: correct, but slow.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from sluice_lib.contracts import FieldSpec

_INTEGER = r"^[+-]?[0-9]+$"
_NUMBER = (
    r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
    r"|^(?:NaN|nan|[+-]?(?:INF|inf))$"
)
_DAY = r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_CLOCK = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"
_DATE = rf"^{_DAY}$"
_STAMP = rf"{_DAY}[T ]{_CLOCK}(?::[0-5][0-9](?:\.[0-9]+)?)?"
_DATETIME_WITH_OFFSET = rf"^{_STAMP}(?:Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)$"
_DATETIME_NAIVE = rf"^{_STAMP}$"
_TIME = rf"^{_CLOCK}:[0-5][0-9](?:\.[0-9]+)?$"
_YEAR = r"^[0-9]{4}$"

# What a value of each type must look like, for the rejection reason ("created: not <this>: 'x'").
EXPECTED = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "date": "an ISO date (YYYY-MM-DD)",
    "datetime": "an ISO-8601 datetime",
    "time": "an ISO time (HH:MM:SS)",
    "year": "a year (YYYY)",
}

Parser = Callable[[pa.Array], pa.Array]


def _matching(text: pa.Array, pattern: str) -> pa.Array:
    """The text where it fully matches `pattern`, null elsewhere."""
    return pc.if_else(pc.match_substring_regex(text, pattern), text, pa.nulls(len(text), pa.string()))


def _cast_or_null(values: pa.Array, to: pa.DataType) -> pa.Array:
    """Casts the whole array; if one value refuses (rare), casts value by value and nulls the refusals."""
    try:
        return pc.cast(values, to)
    except pa.ArrowInvalid:
        out = []
        for value in values.to_pylist():
            try:
                out.append(None if value is None else pc.cast(pa.scalar(value), to).as_py())
            except pa.ArrowInvalid:
                out.append(None)
        return pa.array(out, to)


def _real_days(values: pa.Array) -> pa.Array:
    """The values whose first ten characters name a real calendar day (no 30 February), null elsewhere."""
    day = pc.utf8_slice_codeunits(values, 0, 10)
    parsed = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
    real = pc.fill_null(pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), day), False)
    return pc.if_else(real, values, pa.nulls(len(values), pa.string()))


def parse_integer(text: pa.Array) -> pa.Array:
    digits = pc.replace_substring_regex(_matching(text, _INTEGER), pattern=r"^\+", replacement="")
    return _cast_or_null(digits, pa.int64())


def parse_number(text: pa.Array) -> pa.Array:
    return _cast_or_null(_matching(text, _NUMBER), pa.float64())


def parse_year(text: pa.Array) -> pa.Array:
    return _cast_or_null(_matching(text, _YEAR), pa.int64())


def parse_time(text: pa.Array) -> pa.Array:
    return _matching(text, _TIME)


def parse_date(text: pa.Array) -> pa.Array:
    days = _matching(text, _DATE)
    try:
        return pc.cast(days, pa.date32())
    except pa.ArrowInvalid:
        return _cast_or_null(_real_days(days), pa.date32())


def parse_datetime(text: pa.Array) -> pa.Array:
    """ISO-8601 with or without an offset; no offset means UTC. Converted to UTC, microseconds."""
    with_offset = pc.match_substring_regex(text, _DATETIME_WITH_OFFSET)
    stamps = text
    if with_offset.true_count != len(text):
        # The rest (usually few: missing, naive or bad values) is looked at apart from the bulk.
        others = pc.invert(with_offset)
        rest = text.filter(others)
        naive = pc.match_substring_regex(rest, _DATETIME_NAIVE)
        as_utc = pc.if_else(
            naive, pc.binary_join_element_wise(rest, "Z", ""), pa.nulls(len(rest), pa.string())
        )
        stamps = pc.replace_with_mask(text, others, as_utc)
    to = pa.timestamp("us", tz="UTC")
    try:
        return pc.cast(stamps, to)
    except pa.ArrowInvalid:
        # Nanoseconds do not fit a microsecond cast: cut them; then drop impossible days.
        cut = pc.replace_substring_regex(stamps, pattern=r"(\.[0-9]{6})[0-9]+", replacement=r"\1")
        return _cast_or_null(_real_days(cut), to)


def boolean_parser(true_values: list[str], false_values: list[str]) -> Parser:
    trues = pa.array(true_values, pa.string())
    known = pa.array([*true_values, *false_values], pa.string())

    def parse_boolean(text: pa.Array) -> pa.Array:
        is_true = pc.is_in(text, value_set=trues)
        return pc.if_else(pc.is_in(text, value_set=known), is_true, pa.nulls(len(text), pa.bool_()))

    return parse_boolean


def strptime_parser(fmt: str, as_date: bool) -> Parser:
    """A custom strptime `format`, value by value; naive datetimes are taken as UTC."""

    def parse(value: str) -> object:
        try:
            moment = datetime.strptime(value, fmt)
        except ValueError:
            return None
        if as_date:
            return moment.date()
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    to = pa.date32() if as_date else pa.timestamp("us", tz="UTC")

    def parse_custom(text: pa.Array) -> pa.Array:
        return pa.array([parse(v) if v else None for v in text.to_pylist()], to)

    return parse_custom


def parser_for(spec: FieldSpec) -> tuple[Parser, str]:
    """The parser of a non-string field and the words for a value it refuses."""
    custom = "%" in spec.format
    if spec.type in ("date", "datetime") and custom:
        return strptime_parser(spec.format, spec.type == "date"), f"a {spec.type} in format {spec.format!r}"
    parsers: dict[str, Parser] = {
        "integer": parse_integer,
        "number": parse_number,
        "year": parse_year,
        "time": parse_time,
        "date": parse_date,
        "datetime": parse_datetime,
        "boolean": boolean_parser(spec.trueValues, spec.falseValues),
    }
    if spec.type not in parsers:
        raise ValueError(f"no parser for field type {spec.type!r}")
    return parsers[spec.type], EXPECTED[spec.type]
