"""Numbers checked before they size any work: `whole` and `real` for values a caller
passes, `parse_number` for numbers typed as text.

`parse_number` reads "7", "-0.5", ".25", "2e-3", "1/9" at a bounded cost.

Why not simply `float(Fraction(text))`? Fraction is exact, so Fraction("1e-10000000")
first builds the integer 10**10000000: 11 characters froze a shared server for 25 s, and
float(Fraction("1e400")) raises OverflowError instead of saying what is wrong. Here the
length and the written exponent are checked BEFORE any arithmetic, so every call costs
microseconds whatever the text, and every refusal is one sentence for a person.

What is accepted: an optional sign, then digits with an optional decimal point and an
optional exponent (e or E, -45..38: what float32 can hold, from its smallest positive
value 1.4e-45 to its largest 3.4e38), or a fraction of two whole numbers ("-1/9"); at
most MAX_NUMBER_CHARS characters; the Unicode minus sign is read as "-".
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from numbers import Integral, Real

from menny_base.errors import MennyError, WrongType

MAX_NUMBER_CHARS = 32  # "-0.000123456789012345678901234567" is already 33
MIN_EXPONENT = -45  # float32's smallest positive (subnormal) value is 1.4e-45
MAX_EXPONENT = 38  # float32's largest value is 3.4e38
ALLOWED_NUMBERS = (
    f"write a number of at most {MAX_NUMBER_CHARS} characters such as 7, -0.5, 2e-3 or 1/9"
)

_DIGITS = r"\d+(?:_\d+)*"  # Python's own literals allow 1_000; keep accepting what float did
_DECIMAL = re.compile(
    rf"[+-]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE](?P<exponent>[+-]?{_DIGITS}))?"
)
_FRACTION = re.compile(rf"[+-]?{_DIGITS}/(?P<denominator>{_DIGITS})")
_NOT_FINITE = {"inf", "infinity", "nan"}


class NumberError(MennyError):
    """Text that is not an accepted number, with one sentence saying why and what is allowed."""


def parse_number(text: str) -> float:
    """`text` as a finite float (float64, correctly rounded), or a NumberError.

    "1/9" -> 0.111..., "-0.5", ".25", "2e-3", "7", " \u22123 " -> -3.0. The cost is bounded
    before any arithmetic: at most MAX_NUMBER_CHARS characters, an exponent within
    MIN_EXPONENT..MAX_EXPONENT, so the largest value is below 1e70 and nothing overflows.
    The message never quotes more than 20 characters of the text.
    """
    token = text.strip().replace("\u2212", "-")
    if len(token) > MAX_NUMBER_CHARS:
        raise NumberError(f"{_shown(token)} is {len(token):,} characters long; {ALLOWED_NUMBERS}")
    fraction = _FRACTION.fullmatch(token)
    if fraction:
        if int(fraction["denominator"]) == 0:
            raise NumberError(f"{token!r} is not a number: it divides by zero")
        # At most 31 digits on either side of "/": exact and cheap, then one rounding.
        return float(Fraction(token))
    decimal = _DECIMAL.fullmatch(token)
    if decimal:
        exponent = int(decimal["exponent"] or 0)  # at most 31 digits: cheap to read
        if not MIN_EXPONENT <= exponent <= MAX_EXPONENT:
            raise NumberError(
                f"{_shown(token)} has the exponent {_shown_int(exponent)}; exponents must be "
                f"between {MIN_EXPONENT} and {MAX_EXPONENT} (what float32 can hold)"
            )
        # float() rounds a decimal string correctly, as float(Fraction(token)) would,
        # without building 10**exponent.
        return float(token)
    if token.lower().lstrip("+-") in _NOT_FINITE:
        raise NumberError(f"{token!r} is not a finite number; {ALLOWED_NUMBERS}")
    raise NumberError(f"{_shown(token)} is not a number; {ALLOWED_NUMBERS}")


def _shown(token: str, limit: int = 20) -> str:
    """The token quoted for a message, cut after `limit` characters so a message stays short."""
    return repr(token) if len(token) <= limit else repr(token[:limit] + "...")


def _shown_int(value: int, limit: int = 20) -> str:
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} digits)"


def whole(
    value: object, name: str, minimum: int, maximum: int | None = None, unit: str = ""
) -> int:
    """`value` as an int in minimum..maximum (no upper limit when maximum is None), or a
    ValueError/TypeError naming `name` and what is allowed; `unit` follows the range in the
    message (" pixels per side")."""
    allowed = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
    allowed += unit
    if isinstance(value, bool) or not isinstance(value, Real):
        raise WrongType(f"{name} must be a whole number {allowed}, got {value!r}")
    if not isinstance(value, Integral) and not (math.isfinite(value) and float(value).is_integer()):
        raise MennyError(f"{name} must be a whole number {allowed}, got {value!r}")
    number = int(value)
    if number < minimum or (maximum is not None and number > maximum):
        raise MennyError(f"{name} must be {allowed}, got {number}")
    return number


def real(
    value: object,
    name: str,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """`value` as a finite float within low..high (an open end excludes the bound itself),
    or a MennyError naming `name` and the interval: "dropout must be in [0, 1), got 1"."""
    inside = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if (
        not inside
        or not low <= value <= high
        or (low_open and value == low)
        or (high_open and value == high)
    ):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise MennyError(f"{name} must be in {left}{low:g}, {high:g}{right}, got {value!r}")
    return float(value)
