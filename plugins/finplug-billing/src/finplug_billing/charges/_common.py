"""Helpers the charge models share: exact arithmetic, field types, tier checks.

Decimal arithmetic rounds to the context's precision (28 digits by default),
so the models multiply and add in a context wide enough for any result and
trap :class:`decimal.Inexact`: a product or sum of finite decimals is always
a finite decimal, so nothing is ever rounded. A :class:`~fractions.Fraction`
operand (a weighted-sum usage) makes the result a Fraction.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator

from finplug.types import Amount

from ._base import Exact

__all__ = [
    "ZERO",
    "NonNegative",
    "Tier",
    "WholeCount",
    "add",
    "check_tiers",
    "describe_range",
    "exact_quotient",
    "expect_properties",
    "mul",
    "total",
]

ZERO = Decimal(0)

_P = TypeVar("_P", bound=BaseModel)

_EXACT = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow, decimal.DivisionByZero],
)


def mul(a: Exact, b: Exact) -> Exact:
    """``a * b`` exactly: a Decimal for two Decimals, else a Fraction."""
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return _EXACT.multiply(a, b)
    return Fraction(a) * Fraction(b)


def add(*values: Exact) -> Exact:
    """The exact sum of ``values``: a Decimal while every value is a Decimal."""
    return total(values)


def total(values: Iterable[Exact]) -> Exact:
    """The exact sum of ``values`` (0 for none): a Decimal while every value is a Decimal."""
    result: Exact = ZERO
    for value in values:
        if isinstance(result, Decimal) and isinstance(value, Decimal):
            result = _EXACT.add(result, value)
        else:
            result = Fraction(result) + Fraction(value)
    return result


def exact_quotient(a: Exact, b: Exact) -> Exact:
    """``a / b`` exactly: a Decimal when the quotient is a finite decimal, else a Fraction."""
    quotient = Fraction(a) / Fraction(b)
    denominator = quotient.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator != 1:
        return quotient
    return _EXACT.divide(Decimal(quotient.numerator), Decimal(quotient.denominator))


def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("expected zero or more")
    return value


def _whole(value: Any) -> Any:
    if isinstance(value, bool | float):
        raise ValueError("expected a whole number such as 100 (floats and booleans are refused)")
    return value


#: An exact, non-negative decimal (a price, a flat fee, a tier bound, a number of units).
NonNegative = Annotated[Amount, AfterValidator(_not_negative)]

#: A whole number given as an int or a string of digits (floats are refused).
WholeCount = Annotated[int, BeforeValidator(_whole)]


class Tier(Protocol):
    """What :func:`check_tiers` reads from a tier."""

    @property
    def from_value(self) -> Decimal:
        """Where the tier starts."""
        ...

    @property
    def to_value(self) -> Decimal | None:
        """Where the tier ends (inclusive), or None for the open-ended last tier."""
        ...


def check_tiers(tiers: Sequence[Tier]) -> None:
    """Raise ValueError unless the tiers start at 0, follow each other and end open-ended."""
    if not tiers:
        raise ValueError("expected at least one tier")
    if tiers[0].from_value != 0:
        raise ValueError(f"the first tier must start at 0, not {tiers[0].from_value}")
    for index, tier in enumerate(tiers):
        last = index == len(tiers) - 1
        if tier.to_value is None and not last:
            raise ValueError(
                f"tier {index} has no to_value but is not the last: only the last tier is"
                " open-ended"
            )
        if last and tier.to_value is not None:
            raise ValueError(
                f"the last tier (tier {index}) must be open-ended: leave its to_value out"
            )
        if index > 0:
            previous = tiers[index - 1].to_value
            if tier.from_value != previous:
                raise ValueError(
                    f"tier {index} must start where tier {index - 1} ends ({previous}),"
                    f" not at {tier.from_value}: tiers are contiguous"
                )


def expect_properties(properties: BaseModel, cls: type[_P], model: str) -> _P:
    """``properties`` if it is a ``cls``, else TypeError naming the expected class."""
    if not isinstance(properties, cls):
        raise TypeError(
            f"the {model} charge model expects {cls.__name__},"
            f" got {type(properties).__name__} (use parse_properties)"
        )
    return properties


def describe_range(index: int, tier: Tier) -> str:
    """A tier's label: ``"tier 2 (100 to 200)"``, ``"tier 3 (above 200)"`` (1-based)."""
    if tier.to_value is None:
        return f"tier {index + 1} (above {tier.from_value})"
    return f"tier {index + 1} ({tier.from_value} to {tier.to_value})"
