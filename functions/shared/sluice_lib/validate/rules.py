"""One field's rules from the contract, checked over a whole column at once."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice_lib.contracts import FieldSpec
from sluice_lib.validate.convert import Parser, parser_for

_SHOWN = 80
_ZERO = pa.scalar(0, pa.int32())  # built once: a Python int costs a conversion per call
# Patterns of one ASCII character class repeated a bounded number of times (`^[0-9]{8}$`, `[A-Z]{2}`) are
# checked without a regex: length bounds plus an ASCII class test are about four times faster than RE2.
_SIMPLE_PATTERN = re.compile(r"\^?(\[0-9\]|\\d|\[A-Z\]|\[a-z\]|\[A-Za-z\]|\[a-zA-Z\])\{(\d+)(?:,(\d+))?\}\$?")
_CLASS_TESTS: dict[str, Callable[[pa.Array], pa.Array]] = {
    "[0-9]": pc.ascii_is_decimal,
    "\\d": pc.ascii_is_decimal,
    "[A-Z]": lambda t: pc.and_(pc.ascii_is_alpha(t), pc.ascii_is_upper(t)),
    "[a-z]": lambda t: pc.and_(pc.ascii_is_alpha(t), pc.ascii_is_lower(t)),
    "[A-Za-z]": pc.ascii_is_alpha,
    "[a-zA-Z]": pc.ascii_is_alpha,
}


def show(value: str) -> str:
    """A value quoted for a reason, cut short when long."""
    return repr(value if len(value) <= _SHOWN else value[: _SHOWN - 3] + "...")


def simple_pattern(pattern: str) -> Callable[[pa.Array, pa.Array], pa.Array] | None:
    """A vectorised full-match test equivalent to `pattern`, when it is one repeated character class.

    The test takes the text and its byte lengths (pc.binary_length), which the caller has already."""
    found = _SIMPLE_PATTERN.fullmatch(pattern)
    if found is None:
        return None
    test = _CLASS_TESTS[found.group(1)]
    low = int(found.group(2))
    high = int(found.group(3) or low)
    low_at, high_at = pa.scalar(low, pa.int32()), pa.scalar(high, pa.int32())

    def matches(text: pa.Array, length: pa.Array) -> pa.Array:
        # Passing values are ASCII, so their byte length is their length in characters.
        if low == high:
            fits = pc.equal(length, low_at)
        else:
            fits = pc.and_(pc.greater_equal(length, low_at), pc.less_equal(length, high_at))
        if low == 0:  # the class tests are false for ""
            return pc.or_(pc.equal(length, _ZERO), pc.and_(fits, test(text)))
        return pc.and_(fits, test(text))

    return matches


def _bound(of: pa.DataType, bound: float, to_int: Callable[[float], int]) -> pa.Scalar:
    """The bound as a scalar of the column's type: int64 against a float would go through double and fail
    beyond 2**53. For integers, `v < 1.5` is `v < ceil(1.5)` and `v > 1.5` is `v > floor(1.5)`."""
    return pa.scalar(to_int(bound), pa.int64()) if pa.types.is_integer(of) else pa.scalar(bound, pa.float64())


def _number(x: float) -> str:
    return str(int(x)) if x.is_integer() else str(x)


@dataclass(frozen=True)
class Failure:
    """The rows where one rule of one field fails, and how to say why for one of them."""

    mask: pa.Array  # boolean, no nulls
    column: int  # header position of the value the reason quotes
    reason: Callable[[str], str]


@dataclass(frozen=True)
class FieldResult:
    typed: pa.Array  # staging type; null where missing or not parseable
    failures: list[Failure]


class FieldCheck:
    """Required, type, enum, pattern, length and range of one field; every failing rule is reported."""

    def __init__(self, spec: FieldSpec, column: int, missing_values: list[str] | None = None) -> None:
        self.spec = spec
        self.column = column
        # Values that mean "no value" besides "" (Frictionless missingValues; the default [""] is the fast path).
        others = [v for v in (missing_values if missing_values is not None else [""]) if v != ""]
        self._missing = pa.array(others, pa.string()) if others else None
        self._empty_is_value = missing_values is not None and "" not in missing_values
        self._parse: Parser | None = None
        self._expected = ""
        if spec.type != "string":
            self._parse, self._expected = parser_for(spec)
        c = spec.constraints
        self._enum = None if c.enum is None else pa.array(c.enum, pa.string())
        self._pattern_re2: str | None = None
        self._pattern_py: re.Pattern[str] | None = None
        self._pattern_fast = None if c.pattern is None else simple_pattern(c.pattern)
        if c.pattern is not None and self._pattern_fast is None:
            full = f"^(?:{c.pattern})$"
            try:
                pc.match_substring_regex(pa.array([""], pa.string()), full)
                self._pattern_re2 = full
            except pa.ArrowInvalid:  # RE2 lacks look-arounds and back-references: Python, value by value
                self._pattern_py = re.compile(c.pattern)

    def _matches(self, text: pa.Array, length: pa.Array) -> pa.Array:
        if self._pattern_fast is not None:
            return self._pattern_fast(text, length)
        if self._pattern_re2 is not None:
            return pc.match_substring_regex(text, self._pattern_re2)
        assert self._pattern_py is not None
        return pa.array([self._pattern_py.fullmatch(v) is not None for v in text.to_pylist()], pa.bool_())

    def check(self, raw: pa.Array) -> FieldResult:
        c, name = self.spec.constraints, self.spec.name
        failures: list[Failure] = []

        def fail(mask: pa.Array, reason: Callable[[str], str]) -> None:
            if mask.true_count:
                failures.append(Failure(mask, self.column, reason))

        text = raw if self._parse is None else pc.utf8_trim_whitespace(raw)
        length = pc.binary_length(text)
        present = pc.greater(length, _ZERO)
        if self._empty_is_value and self._parse is None:
            present = pa.array(np.ones(len(text), dtype=bool))  # "" is a value of a string field
        if self._missing is not None:
            present = pc.and_not(present, pc.is_in(text, value_set=self._missing))
        everywhere = present.true_count == len(text)
        if c.required and not everywhere:
            fail(pc.invert(present), lambda v: f"{name}: a value is required")
        if self._parse is None:
            # A required value that is missing makes its row bad, so it never reaches staging as "".
            keep = everywhere or c.required
            typed = raw if keep else pc.if_else(present, raw, pa.nulls(len(raw), pa.string()))
        else:
            typed = self._parse(text)
            if not everywhere and self._missing is not None:  # a missing value that would parse is still null
                typed = pc.if_else(present, typed, pa.nulls(len(typed), typed.type))
            expected = self._expected
            fail(pc.and_not(present, pc.is_valid(typed)), lambda v: f"{name}: not {expected}: {show(v)}")
        if self._enum is not None:
            allowed = ", ".join(c.enum or [])
            outside = pc.and_not(present, pc.is_in(text, value_set=self._enum))
            fail(outside, lambda v: f"{name}: {show(v)} is not one of {allowed}")
        if c.pattern is not None:
            pattern = c.pattern
            fail(
                pc.and_not(present, self._matches(text, length)),
                lambda v: f"{name}: {show(v)} does not match the pattern {pattern}",
            )
        if c.minLength is not None or c.maxLength is not None:
            length = pc.utf8_length(text)
            if c.minLength is not None:
                low = c.minLength
                fail(
                    pc.and_(present, pc.less(length, low)),
                    lambda v: f"{name}: {show(v)} is shorter than {low} characters",
                )
            if c.maxLength is not None:
                high = c.maxLength
                fail(
                    pc.greater(length, high), lambda v: f"{name}: {show(v)} is longer than {high} characters"
                )
        if c.minimum is not None:
            least = c.minimum
            below = pc.fill_null(pc.less(typed, _bound(typed.type, least, math.ceil)), False)
            fail(below, lambda v: f"{name}: {show(v)} is less than the minimum {_number(least)}")
        if c.maximum is not None:
            most = c.maximum
            above = pc.fill_null(pc.greater(typed, _bound(typed.type, most, math.floor)), False)
            fail(above, lambda v: f"{name}: {show(v)} is greater than the maximum {_number(most)}")
        return FieldResult(typed=typed, failures=failures)
