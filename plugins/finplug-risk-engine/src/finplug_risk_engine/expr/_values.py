"""Runtime semantics shared by operators and functions: zen's value model.

Values are ``Decimal`` (numbers), ``str``, ``bool``, ``None``, ``list``,
``dict`` and :class:`Interval`. Context values that are ``int`` or ``float``
are accepted as numbers (floats through their shortest ``repr``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal, DecimalException
from typing import Any

from finplug_risk_engine.expr._errors import EvaluationError

__all__ = [
    "CTX",
    "Interval",
    "as_number",
    "compare",
    "contains",
    "equals",
    "to_text",
    "type_name",
]

#: zen's numbers are 96-bit decimals: 28 significant digits, half-even.
CTX = Context(prec=28, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999)


class Interval:
    """A numeric interval value, ``[1..10)``; evaluates to its text on its own."""

    __slots__ = ("high", "high_closed", "low", "low_closed")

    def __init__(self, low: Decimal, high: Decimal, low_closed: bool, high_closed: bool) -> None:
        self.low = low
        self.high = high
        self.low_closed = low_closed
        self.high_closed = high_closed

    def __contains__(self, value: object) -> bool:
        v = as_number(value, "in")
        if self.low_closed:
            if v < self.low:
                return False
        elif v <= self.low:
            return False
        if self.high_closed:
            return v <= self.high
        return v < self.high

    def __str__(self) -> str:
        left = "[" if self.low_closed else "("
        right = "]" if self.high_closed else ")"
        return f"{left}{to_text(self.low)}..{to_text(self.high)}{right}"

    __repr__ = __str__


def type_name(value: object) -> str:
    """Zen's name for a value's type (what ``type(x)`` returns)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Decimal | int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, Interval):
        return "interval"
    return type(value).__name__


def as_number(value: object, what: str) -> Decimal:
    """``value`` as a Decimal, or :class:`EvaluationError` naming ``what``."""
    if type(value) is Decimal:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        return value
    raise EvaluationError(f"{what}: expected a number, got {type_name(value)}")


def _is_number(value: object) -> bool:
    return isinstance(value, Decimal | int | float) and not isinstance(value, bool)


def equals(a: object, b: object) -> bool:
    """Zen's ``==``: numbers by value, strings, booleans, null; never arrays/objects."""
    ta = type(a)
    if ta is type(b) and (ta is Decimal or ta is str or ta is bool):
        return a == b
    if a is None or b is None:
        return a is b
    if _is_number(a) and _is_number(b):
        return as_number(a, "==") == as_number(b, "==")
    return False


def compare(op: str, a: object, b: object) -> bool:
    """``<``, ``<=``, ``>``, ``>=`` between numbers; anything else is an error."""
    if not (_is_number(a) and _is_number(b)):
        raise EvaluationError(f"cannot compare {type_name(a)} {op} {type_name(b)}: numbers only")
    x = as_number(a, op)
    y = as_number(b, op)
    if op == "<":
        return x < y
    if op == "<=":
        return x <= y
    if op == ">":
        return x > y
    return x >= y


def contains(needle: object, haystack: object) -> bool:
    """Zen's ``in``: membership in an array (by ``==``) or a numeric interval."""
    if isinstance(haystack, Interval):
        return needle in haystack
    if isinstance(haystack, list | tuple):
        if isinstance(needle, list | tuple | Mapping):
            raise EvaluationError(f"'in': cannot look for an {type_name(needle)} in an array")
        return any(equals(needle, item) for item in haystack)
    if isinstance(haystack, Mapping) and isinstance(needle, str):
        return needle in haystack
    raise EvaluationError(f"'in': expected an array or interval, got {type_name(haystack)}")


def to_text(value: object) -> str:
    """Zen's ``string(x)``: numbers in plain notation, ``true``, ``null``."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return format(as_number(value, "string"), "f")
    if isinstance(value, Interval):
        return str(value)
    raise EvaluationError(f"cannot convert {type_name(value)} to string")


def arithmetic(op: str, a: object, b: object) -> Any:
    """The slow path of ``+ - * / % ^`` (the compiler inlines Decimal ⊕ Decimal)."""
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if not (_is_number(a) and _is_number(b)):
        raise EvaluationError(f"cannot compute {type_name(a)} {op} {type_name(b)}")
    return number_op(op, as_number(a, op), as_number(b, op))


def number_op(op: str, x: Decimal, y: Decimal) -> Decimal | None:
    """One arithmetic operation on two Decimals, with zen's rules.

    Division and remainder by zero give ``null``; ``x ^ 0`` is 1 and
    ``0 ^ -n`` is 0 as in zen; ``^`` fails on results that are not real
    numbers (a negative base with a fractional exponent, where zen keeps the
    sign instead).
    """
    try:
        if op == "+":
            return CTX.add(x, y)
        if op == "-":
            return CTX.subtract(x, y)
        if op == "*":
            return CTX.multiply(x, y)
        if op == "/":
            return None if not y else CTX.divide(x, y)
        if op == "%":
            return None if not y else CTX.remainder(x, y)
        if not y:
            return Decimal(1)  # zen: 0 ^ 0 is 1
        if not x and y < 0:
            return Decimal(0)  # zen: 0 ^ -1 is 0, not a division by zero
        return CTX.power(x, y)
    except DecimalException as exc:
        raise EvaluationError(f"cannot compute {x} {op} {y}: {type(exc).__name__}") from exc
