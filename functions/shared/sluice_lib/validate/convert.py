"""Vectorised parsing of string columns into the staging types, one function per contract field type.

Each parser takes the trimmed text of a column (no nulls) and returns the typed array, null wherever
the text is empty or does not parse. Patterns are RE2 (pyarrow); fast paths cast a whole batch at once
and fall back to stricter, slower steps only for a batch that holds an impossible value (30 February,
an integer beyond 64 bits). Datetimes have a faster path still, for the usual column where (nearly)
every value has one fixed layout: see parse_datetime. A date or datetime with a custom `format`
(strptime pattern) is parsed value by value in Python: correct, but slow.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
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


def _parse_datetime_exact(text: pa.Array) -> pa.Array:
    """ISO-8601 with or without an offset, any mix of forms: RE2 for the shape, then one cast."""
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
    try:
        return pc.cast(stamps, _UTC_MICROS)
    except pa.ArrowInvalid:
        # Nanoseconds do not fit a microsecond cast: cut them; then drop impossible days.
        cut = pc.replace_substring_regex(stamps, pattern=r"(\.[0-9]{6})[0-9]+", replacement=r"\1")
        return _cast_or_null(_real_days(cut), _UTC_MICROS)


_UTC_MICROS = pa.timestamp("us", tz="UTC")
# The datetime fast path: a batch whose values share one layout (same length, digits and separators in
# the same places, as `2025-01-08T18:10:06.717208+00:00`) is checked byte by byte against that layout
# with numpy and cast in one go, without RE2. The layout comes from a sample value the exact path
# accepts; arrow's cast then checks the ranges (month, day of that month, hour, minute, second, offset)
# and refuses the whole batch if one value is out of range, which sends the batch to the exact path.
# Values of another layout (missing, bad, other forms) go to the exact path too, a few at a time.
_WITH_OFFSET_PY = re.compile(_DATETIME_WITH_OFFSET[1:-1])
_NAIVE_PY = re.compile(_DATETIME_NAIVE[1:-1])
_FRACTION = re.compile(r"\.([0-9]+)")
_SHAPE = str.maketrans("0123456789", "0000000000")
_SHORTEST_DATETIME = 16  # `YYYY-MM-DDTHH:MM`: every value either pattern accepts is at least this long
_LAYOUT_SAMPLE = 16  # values looked at for a layout
_LAYOUT_MIN_ROWS = 64  # fewer values than this go to the exact path directly
_LAYOUTS_PER_BATCH = 3  # layouts tried on one batch before the rest goes to the exact path
_LAYOUTS_KEPT = 16


class _Layout:
    """A fixed datetime layout: per byte, the lowest allowed value and the width of the allowed range.

    It keeps the layout repeated over as many rows as the largest batch, and scratch space: numpy writes
    into memory it already has several times faster than into a fresh array."""

    def __init__(self, value: str) -> None:
        self.width = len(value)  # the patterns admit ASCII only: characters are bytes
        self.naive = _NAIVE_PY.fullmatch(value) is not None
        self._low = np.frombuffer(bytes(48 if c.isdigit() else ord(c) for c in value), np.uint8)
        self._span = np.frombuffer(bytes(9 if c.isdigit() else 0 for c in value), np.uint8)
        self._rows = 0
        self._low_rows = self._span_rows = self._diff = np.empty(0, np.uint8)
        self._wrong = np.empty(0, np.bool_)

    @staticmethod
    def accepts(value: str) -> bool:
        """Whether the exact path takes `value`'s form and a microsecond cast can hold it."""
        if _NAIVE_PY.fullmatch(value) is None and _WITH_OFFSET_PY.fullmatch(value) is None:
            return False
        fraction = _FRACTION.search(value)
        return fraction is None or len(fraction.group(1)) <= 6  # nanoseconds: the exact path cuts them

    def _room(self, rows: int) -> None:
        if rows > self._rows:
            self._rows = max(rows, 2 * self._rows)
            self._low_rows = np.tile(self._low, self._rows)
            self._span_rows = np.tile(self._span, self._rows)
            self._diff = np.empty(self._rows * self.width, np.uint8)
            self._wrong = np.empty(self._rows * self.width, np.bool_)

    def fits(self, same_width: pa.Array) -> np.ndarray | None:
        """Which values (all `width` bytes long) have the layout; None when all of them do."""
        rows = len(same_width)
        self._room(rows)
        offsets = np.frombuffer(
            same_width.buffers()[1], np.int32, count=rows + 1, offset=same_width.offset * 4
        )
        data = np.frombuffer(same_width.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
        size = rows * self.width
        diff, wrong = self._diff[:size], self._wrong[:size]
        # uint8 arithmetic wraps: a byte below `low` becomes large, so one comparison tests both ends.
        np.subtract(data, self._low_rows[:size], out=diff)
        np.greater(diff, self._span_rows[:size], out=wrong)
        if not wrong.any():
            return None
        return np.asarray(~wrong.reshape(rows, self.width).any(axis=1))

    def cast(self, values: pa.Array) -> pa.Array:
        if self.naive:
            return pc.cast(pc.cast(values, pa.timestamp("us")), _UTC_MICROS)
        return pc.cast(values, _UTC_MICROS)


def _scatter(
    n: int, first: np.ndarray, first_values: pa.Array, rest: np.ndarray, rest_values: pa.Array
) -> pa.Array:
    """Timestamps at positions `first` (no nulls) and `rest` (maybe nulls), null elsewhere, n in all."""
    values = np.zeros(n, np.int64)
    valid = np.zeros(n, np.bool_)
    values[first] = first_values.view(pa.int64()).to_numpy()
    valid[first] = True
    if len(rest):
        values[rest] = pc.fill_null(rest_values.view(pa.int64()), 0).to_numpy()
        valid[rest] = rest_values.is_valid().to_numpy(zero_copy_only=False)
    return pa.array(values, pa.int64(), mask=~valid).view(_UTC_MICROS)


class DatetimeParser:
    """ISO-8601 with or without an offset; no offset means UTC. Converted to UTC, microseconds.

    One per column of a file: it keeps the layouts it met (see _Layout) for the next batches. Gives the
    same values and nulls as _parse_datetime_exact, which it falls back to for whatever no layout covers.
    """

    def __init__(self) -> None:
        self._layouts: dict[str, _Layout] = {}

    def __call__(self, text: pa.Array) -> pa.Array:
        return self._parse(text, _LAYOUTS_PER_BATCH)

    def _layout_for(self, text: pa.Array) -> _Layout | None:
        for value in text.slice(0, _LAYOUT_SAMPLE).to_pylist():
            shape = value.translate(_SHAPE)
            layout = self._layouts.get(shape)
            if layout is None and _Layout.accepts(value):
                if len(self._layouts) >= _LAYOUTS_KEPT:
                    self._layouts.clear()
                layout = self._layouts[shape] = _Layout(value)
            if layout is not None:
                return layout
        return None

    def _parse(self, text: pa.Array, layouts: int) -> pa.Array:
        n = len(text)
        usable = n >= _LAYOUT_MIN_ROWS and layouts > 0 and text.type == pa.string() and not text.null_count
        layout = self._layout_for(text) if usable else None
        if layout is None:
            return _parse_datetime_exact(text)
        length = pc.binary_length(text)
        wide = pc.equal(length, pa.scalar(layout.width, length.type))
        count = wide.true_count
        if count == 0:
            return _parse_datetime_exact(text)
        taken = wide.to_numpy(zero_copy_only=False).copy() if count != n else None
        same = text if taken is None else text.filter(wide)
        fits = layout.fits(same)
        if fits is not None:
            same = same.filter(pa.array(fits))
            if taken is None:
                taken = fits
            else:
                taken[np.flatnonzero(taken)[~fits]] = False
        try:
            stamps = layout.cast(same)
        except pa.ArrowInvalid:  # a value out of range (30 February, 24:00): the exact path says which
            return _parse_datetime_exact(text)
        if taken is None:
            return stamps
        rest = np.flatnonzero(~taken)
        # Values too short for any accepted form (missing ones, words) are null without looking further.
        rest = rest[length.to_numpy()[rest] >= _SHORTEST_DATETIME]
        rest_values = self._parse(text.take(pa.array(rest)), layouts - 1) if len(rest) else _NO_STAMPS
        return _scatter(n, np.flatnonzero(taken), stamps, rest, rest_values)


_NO_STAMPS = pa.array([], _UTC_MICROS)


def parse_datetime(text: pa.Array) -> pa.Array:
    """ISO-8601 with or without an offset; no offset means UTC. Converted to UTC, microseconds."""
    return DatetimeParser()(text)


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
        "datetime": DatetimeParser(),
        "boolean": boolean_parser(spec.trueValues, spec.falseValues),
    }
    if spec.type not in parsers:
        raise ValueError(f"no parser for field type {spec.type!r}")
    return parsers[spec.type], EXPECTED[spec.type]
