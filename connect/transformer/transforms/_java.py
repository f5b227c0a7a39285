"""Java's number semantics, where Connect's transformations depend on them."""

from __future__ import annotations

import math
import re
import struct
from decimal import Decimal

_INT_LITERAL = re.compile(r"[+-]?[0-9]+")
_FLOAT_LITERAL = re.compile(r"[+-]?(NaN|Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)[fFdD]?")
INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}


def wrap(value: int, bits: int) -> int:
    """Two's-complement narrowing, as ``(byte) someLong`` does."""
    mask = (1 << bits) - 1
    value &= mask
    return value - (1 << bits) if value >> (bits - 1) else value


def double_to_integral(value: float, bits: int) -> int:
    """``Double.byteValue()/shortValue()/intValue()/longValue()``: NaN → 0, saturate to int
    (or long for 64 bits), then wrap to the narrower width."""
    if math.isnan(value):
        return 0
    wide = 64 if bits == 64 else 32
    low, high = -(1 << (wide - 1)), (1 << (wide - 1)) - 1
    saturated = high if value >= high else low if value <= low else int(value)
    return wrap(saturated, bits)


def parse_int(text: str, bits: int) -> int:
    """``Byte/Short/Integer/Long.parseX``: sign and digits only, no whitespace, range-checked."""
    if not _INT_LITERAL.fullmatch(text):
        raise ValueError(f"For input string: {text!r}")
    number = int(text)
    if not -(1 << (bits - 1)) <= number < (1 << (bits - 1)):
        raise ValueError(f"Value out of range. Value:{text!r}")
    return number


def parse_double(text: str) -> float:
    """``Double.parseDouble``: trims, accepts NaN/Infinity and a type suffix."""
    trimmed = text.strip()
    if not _FLOAT_LITERAL.fullmatch(trimmed):
        raise ValueError(f"For input string: {text!r}")
    return float(trimmed.rstrip("fFdD").replace("Infinity", "inf"))


def to_float32(value: float) -> float:
    """The value a Java ``float`` holds, widened back to double."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


def double_to_string(value: float) -> str:
    """``Double.toString``: plain between 10^-3 and 10^7, else ``d.dddE±n``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    digits_tuple = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple.digits))
    exponent = int(digits_tuple.exponent) + len(digits) - 1  # of the first digit
    if 1e-3 <= abs(value) < 1e7:
        if exponent >= 0:
            whole, frac = digits[: exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1 :]
        else:
            whole, frac = "0", "0" * (-exponent - 1) + digits
        return f"{sign}{whole}.{frac or '0'}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exponent}"


def trunc_div(numerator: int, denominator: int) -> int:
    """Java integer division (toward zero), as ``TimeUnit.X.toMillis`` does."""
    quotient = abs(numerator) // denominator
    return quotient if numerator >= 0 else -quotient
