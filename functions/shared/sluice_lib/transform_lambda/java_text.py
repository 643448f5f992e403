"""Java 17's `Double.toString`, which Spark 3.5 uses to cast a double to string (so to hash it in `_row_hash`).

Java 17 does not print the shortest digits that read back as the same double (JDK 19 does, JDK-4511638): an
integral value from 2**53 to 2**63 prints its exact digits (`1.61304845894623136E17`), and outside
[1e-3, 1e7) at least two significant digits are developed before the stopping test may end the digits
(`2e23` prints `1.9999999999999998E23`). This module reproduces that digit generation (Steele and White's
free-format method with a decimal exponent estimate, in int, long or big-integer arithmetic depending on the
operand sizes, including where the int and long variants overflow) and Java's layout: plain notation for
1e-3 <= |x| < 1e7 (`100.5`, `0.001`), else `d.dddE±n` (`1.0E7`, `1.0E-4`); `NaN`, `Infinity`, `-0.0`.

Written from the algorithm's description and checked against Spark's cast on a JVM 17 (tests/glue).
"""

from __future__ import annotations

import math
import struct
from functools import lru_cache

_EXP_SHIFT = 52
_FRACT_HOB = 1 << _EXP_SHIFT
_SIGNIF_MASK = _FRACT_HOB - 1
_EXP_BIAS = 1023
_MAX_SMALL_BIN_EXP = 62
_MIN_SMALL_BIN_EXP = -21
# Bit length of 5**i for i < 27 (the longs 5**0 .. 5**26); beyond, 3 bits per factor of 5 is assumed.
_N_5_BITS = [0, *((5**i).bit_length() for i in range(1, 27))]
_LONG_5_POW_COUNT = 27


def _wrap(value: int, bits: int) -> int:
    """`value` as a two's-complement integer of `bits` bits (Java int or long overflow)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _long_digits(value: int, insignificant: int) -> tuple[str, int]:
    """Digits of an integral value with `insignificant` low digits rounded off (half up), trailing zeros
    dropped; and the decimal exponent (the number of digits before the point)."""
    exponent = 0
    if insignificant:
        pow10 = 10**insignificant
        residue = value % pow10
        value //= pow10
        exponent += insignificant
        if residue >= pow10 >> 1:
            value += 1
    text = str(value)
    stripped = text.rstrip("0")
    return stripped, exponent + len(text)


def _free_format(fract_bits: int, bin_exp: int, n_significant_bits: int) -> tuple[str, int]:
    """(digits, decimal exponent) of 0.digits * 10**exponent, as Java 17 develops them."""
    tail_zeros = (fract_bits & -fract_bits).bit_length() - 1
    n_fract_bits = _EXP_SHIFT + 1 - tail_zeros
    n_tiny_bits = max(0, n_fract_bits - bin_exp - 1)
    if (
        _MIN_SMALL_BIN_EXP <= bin_exp <= _MAX_SMALL_BIN_EXP
        and n_tiny_bits < _LONG_5_POW_COUNT
        and n_fract_bits + _N_5_BITS[n_tiny_bits] < 64
        and n_tiny_bits == 0
    ):
        # An integral value below 2**63: its exact digits, less the digits below the double's precision.
        p2 = bin_exp - n_significant_bits - 1
        insignificant = len(str(1 << p2)) - 1 if bin_exp > n_significant_bits and p2 > 1 else 0
        value = (
            fract_bits << (bin_exp - _EXP_SHIFT)
            if bin_exp >= _EXP_SHIFT
            else fract_bits >> (_EXP_SHIFT - bin_exp)
        )
        return _long_digits(value, insignificant)

    dec_exp = _estimate_dec_exp(fract_bits, bin_exp)
    b5 = max(0, -dec_exp)
    b2 = b5 + n_tiny_bits + bin_exp
    s5 = max(0, dec_exp)
    s2 = s5 + n_tiny_bits
    m5 = b5
    m2 = b2 - n_significant_bits
    fract_bits >>= tail_zeros
    b2 -= n_fract_bits - 1
    common = min(b2, s2)
    b2 -= common
    s2 -= common
    m2 -= common
    if n_fract_bits == 1:
        m2 -= 1
    if m2 < 0:
        b2 -= m2
        s2 -= m2
        m2 = 0
    b_bits = n_fract_bits + b2 + (_N_5_BITS[b5] if b5 < len(_N_5_BITS) else b5 * 3)
    ten_s_bits = s2 + 1 + (_N_5_BITS[s5 + 1] if s5 + 1 < len(_N_5_BITS) else (s5 + 1) * 3)

    b = fract_bits * 5**b5 << b2
    s = 5**s5 << s2
    m = 5**m5 << m2
    tens = s * 10
    if b_bits < 64 and ten_s_bits < 64:
        width = 32 if b_bits < 32 and ten_s_bits < 32 else 64
        return _develop_fixed(b, s, m, tens, dec_exp, width)
    return _develop_big(b, s, m, tens, dec_exp)


def _estimate_dec_exp(fract_bits: int, bin_exp: int) -> int:
    """floor(log10(value)) or one less, from the binary exponent and the leading mantissa bits."""
    (d2,) = struct.unpack(">d", struct.pack(">Q", (_EXP_BIAS << _EXP_SHIFT) | (fract_bits & _SIGNIF_MASK)))
    d = (d2 - 1.5) * 0.289529654 + 0.176091259 + bin_exp * 0.301029995663981
    return math.floor(d)


def _first_digit(digits: list[int], q: int, low: bool, high: bool, dec_exp: int) -> tuple[bool, bool, int]:
    """Keeps a leading zero out of the digits (the exponent estimate was one too high), and lets the first digit
    alone end the digits only at plain-notation magnitudes (-3 <= exponent < 8). Returns (low, high, dec_exp)."""
    if q == 0 and not high:
        dec_exp -= 1
    else:
        digits.append(q)
    if not -3 <= dec_exp < 8:
        return False, False, dec_exp
    return low, high, dec_exp


def _develop_fixed(b: int, s: int, m: int, tens: int, dec_exp: int, width: int) -> tuple[str, int]:
    """The digit loop in Java int (width 32) or long (width 64) arithmetic: `m` and the sums may overflow."""
    digits: list[int] = []
    q, b = divmod(b, s)
    b = _wrap(10 * b, width)
    m = _wrap(m * 10, width)
    low = b < m
    high = _wrap(b + m, width) > tens
    low, high, dec_exp = _first_digit(digits, q, low, high, dec_exp)
    while not low and not high:
        q, b = divmod(b, s)
        b = _wrap(10 * b, width)
        m = _wrap(m * 10, width)
        if m > 0:
            low = b < m
            high = _wrap(b + m, width) > tens
        else:  # m overflowed: it is certainly large enough to stop
            low = high = True
        digits.append(q)
    low_digit_difference = _wrap(_wrap(b << 1, width) - tens, width)
    return _round_last(digits, dec_exp + 1, low, high, low_digit_difference)


def _develop_big(b: int, s: int, m: int, tens: int, dec_exp: int) -> tuple[str, int]:
    """The digit loop in big-integer arithmetic (no overflow; `high` also holds when b + m equals 10s)."""
    digits: list[int] = []
    m *= 10
    q, b = divmod(b, s)
    b *= 10
    low = b < m
    high = b + m >= tens
    low, high, dec_exp = _first_digit(digits, q, low, high, dec_exp)
    while not low and not high:
        q, b = divmod(b, s)
        b *= 10
        m *= 10
        low = b < m
        high = b + m >= tens
        digits.append(q)
    low_digit_difference = (b << 1) - tens if high and low else 0
    return _round_last(digits, dec_exp + 1, low, high, low_digit_difference)


def _round_last(digits: list[int], exponent: int, low: bool, high: bool, difference: int) -> tuple[str, int]:
    """Rounds the last digit by the stopping condition: up when only `high` holds, or when both hold and the
    remainder is above half (a tie rounds to an even last digit)."""
    up = high and (not low or difference > 0 or (difference == 0 and digits[-1] % 2 == 1))
    if up:
        i = len(digits) - 1
        while i > 0 and digits[i] == 9:
            digits[i] = 0
            i -= 1
        if digits[i] == 9:  # carry out of the first digit: 1 followed by zeros, one more place
            digits[0] = 1
            exponent += 1
        else:
            digits[i] += 1
    return "".join(map(str, digits)), exponent


def _layout(negative: bool, digits: str, exponent: int) -> str:
    """Java's layout of 0.`digits` x 10**`exponent`."""
    sign = "-" if negative else ""
    if 0 < exponent < 8:
        whole = digits[:exponent]
        if len(whole) < exponent:
            return f"{sign}{whole}{'0' * (exponent - len(whole))}.0"
        return f"{sign}{whole}.{digits[exponent:] or '0'}"
    if -3 < exponent <= 0:
        return f"{sign}0.{'0' * -exponent}{digits}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exponent - 1}"


def java_double_to_string(value: float) -> str:
    """`String.valueOf(double)` as Java 17 (Spark's `CAST(double AS STRING)`) prints it."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", value))
    return java_double_bits_to_string(bits)


@lru_cache(maxsize=65536)
def java_double_bits_to_string(bits: int) -> str:
    """The same for a double given by its 64 IEEE 754 bits (as an unsigned or signed integer). Cached by
    bits, not by value: 0.0 and -0.0 are equal floats that print differently."""
    bits &= (1 << 64) - 1
    negative = bool(bits >> 63)
    fract_bits = bits & _SIGNIF_MASK
    bin_exp = (bits >> _EXP_SHIFT) & 0x7FF
    if bin_exp == 0x7FF:
        if fract_bits:
            return "NaN"
        return "-Infinity" if negative else "Infinity"
    if bin_exp == 0:
        if fract_bits == 0:
            return "-0.0" if negative else "0.0"
        leading_zeros = 64 - fract_bits.bit_length()
        shift = leading_zeros - (63 - _EXP_SHIFT)
        fract_bits <<= shift
        bin_exp = 1 - shift
        n_significant_bits = 64 - leading_zeros
    else:
        fract_bits |= _FRACT_HOB
        n_significant_bits = _EXP_SHIFT + 1
    digits, exponent = _free_format(fract_bits, bin_exp - _EXP_BIAS, n_significant_bits)
    return _layout(negative, digits, exponent)
