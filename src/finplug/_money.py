"""Exact money: an immutable Decimal amount in an ISO 4217 currency.

Rules, in one place:

* An amount is a :class:`~decimal.Decimal` (or an ``int``, or a decimal
  string). ``float``, ``bool``, NaN and infinities are rejected with
  :class:`~finplug.MoneyError`, because a float has already lost the cents.
* An amount may not be finer than the currency's minor unit (``10.001 EUR``
  is an error). Rounding happens only where a caller names a rounding mode:
  :meth:`Money.of` with ``rounding=`` and :meth:`Money.multiply`. This is the
  single rounding point of finplug; everything else is exact.
* Minor units come from the Unicode CLDR data shipped with Babel (the
  ``digits`` of each currency), not from a table written here.
* Mixing currencies in arithmetic or comparison raises :class:`MoneyError`.
* ``sum()`` works: ``0 + money`` is ``money``.
"""

from __future__ import annotations

import decimal
import functools
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Final, SupportsIndex, TypeAlias

from babel.numbers import get_currency_precision, list_currencies

from finplug._errors import MoneyError

__all__ = [
    "MAX_DIGITS",
    "ROUND_HALF_EVEN",
    "Currency",
    "Money",
    "allocate",
    "currency",
    "exact_product",
]

#: The default rounding mode for callers who ask for one (banker's rounding).
ROUND_HALF_EVEN: Final = decimal.ROUND_HALF_EVEN

AmountLike: TypeAlias = Decimal | int | str

#: Most significant digits an amount may have (that of a NUMERIC(38, s) column).
MAX_DIGITS: Final = 38

# Every Money operation runs in this context. Inexact is trapped, so an
# operation that cannot be done exactly in 38 digits raises instead of rounding.
_CONTEXT: Final = decimal.Context(
    prec=MAX_DIGITS,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, decimal.Inexact],
)


def _too_large(value: object) -> MoneyError:
    return MoneyError(f"amount {value} does not fit in {MAX_DIGITS} significant digits")


def _round(value: Decimal, quantum: Decimal, rounding: str) -> Decimal:
    """Round ``value`` to ``quantum`` with ``rounding``: the one rounding point of finplug."""
    ctx = decimal.Context(prec=max(MAX_DIGITS, len(value.as_tuple().digits) + 2))
    try:
        return value.quantize(quantum, rounding=rounding, context=ctx)
    except decimal.InvalidOperation:
        raise _too_large(value) from None


def exact_product(a: Decimal, b: Decimal) -> Decimal:
    """``a * b`` computed exactly, whatever the number of digits."""
    digits = len(a.as_tuple().digits) + len(b.as_tuple().digits) + 1
    return decimal.Context(prec=digits, traps=[decimal.Inexact]).multiply(a, b)


class Currency:
    """An ISO 4217 currency with its number of minor-unit digits.

    Use :func:`currency` to get one; instances are interned, so ``is`` works.
    """

    __slots__ = ("code", "exponent", "quantum")

    code: str
    """The three-letter ISO 4217 code, upper case."""
    exponent: int
    """Number of decimal digits of the minor unit (2 for EUR, 0 for JPY, 3 for KWD)."""
    quantum: Decimal
    """The smallest amount: ``Decimal(1).scaleb(-exponent)``."""

    def __init__(self, code: str, exponent: int) -> None:
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "exponent", exponent)
        object.__setattr__(self, "quantum", Decimal(1).scaleb(-exponent))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Currency is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Currency is immutable")

    def __repr__(self) -> str:
        return f"Currency({self.code!r})"

    def __str__(self) -> str:
        return self.code

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (currency, (self.code,))


@functools.cache
def _known_codes() -> frozenset[str]:
    return frozenset(list_currencies())


@functools.cache
def _currency(code: str) -> Currency:
    return Currency(code, get_currency_precision(code))


def currency(code: str | Currency) -> Currency:
    """Return the :class:`Currency` for an ISO 4217 code such as ``"EUR"``.

    Raises :class:`MoneyError` for a code that is not a known currency.
    """
    if isinstance(code, Currency):
        return code
    if not isinstance(code, str):
        raise MoneyError(f"currency must be an ISO 4217 code string, got {type(code).__name__}")
    normalized = code.strip().upper()
    if len(normalized) != 3 or normalized not in _known_codes():
        raise MoneyError(f"unknown currency {code!r}: expected an ISO 4217 code such as 'EUR'")
    return _currency(normalized)


def _to_decimal(amount: object) -> Decimal:
    if isinstance(amount, bool):
        raise MoneyError("amount must be a Decimal, int or decimal string, not bool")
    if isinstance(amount, float):
        raise MoneyError(
            "amount must be a Decimal, int or decimal string, not float"
            " (a float cannot represent cents exactly)"
        )
    if isinstance(amount, Decimal):
        value = amount
    elif isinstance(amount, int):
        value = Decimal(amount)
    elif isinstance(amount, str):
        try:
            value = Decimal(amount.strip())
        except decimal.InvalidOperation:
            raise MoneyError(f"amount {amount!r} is not a decimal number") from None
    else:
        raise MoneyError(
            f"amount must be a Decimal, int or decimal string, not {type(amount).__name__}"
        )
    if not value.is_finite():
        raise MoneyError(f"amount must be a finite number, got {value}")
    return value


class Money:
    """An exact amount of one currency. Immutable and hashable.

    >>> Money("10.50", "EUR") + Money("0.25", "EUR")
    Money('10.75', 'EUR')
    >>> sum([Money(1, "JPY"), Money(2, "JPY")])
    Money('3', 'JPY')
    """

    __slots__ = ("amount", "currency")

    amount: Decimal
    """The amount, quantized to the currency's minor unit."""
    currency: Currency
    """The currency."""

    def __init__(self, amount: AmountLike, currency_code: str | Currency) -> None:
        cur = currency(currency_code)
        value = _to_decimal(amount)
        try:
            exact = value.quantize(cur.quantum, context=_CONTEXT)
        except decimal.Inexact:
            raise MoneyError(
                f"amount {value} has more decimals than {cur.code} allows"
                f" ({cur.exponent}); pass a rounding mode to Money.of() to round"
            ) from None
        except decimal.InvalidOperation:
            raise _too_large(value) from None
        if exact.is_zero():
            exact = exact.copy_abs()  # no "-0.00"
        object.__setattr__(self, "amount", exact)
        object.__setattr__(self, "currency", cur)

    @classmethod
    def of(
        cls, amount: AmountLike, currency_code: str | Currency, *, rounding: str | None = None
    ) -> Money:
        """Build a Money, rounding to the minor unit only if ``rounding`` is given.

        ``rounding`` is one of the :mod:`decimal` modes (``decimal.ROUND_HALF_EVEN``
        …). Without it, an amount finer than the currency allows raises.
        """
        if rounding is None:
            return cls(amount, currency_code)
        cur = currency(currency_code)
        return cls(_round(_to_decimal(amount), cur.quantum, rounding), cur)

    @classmethod
    def zero(cls, currency_code: str | Currency) -> Money:
        """Zero in the given currency."""
        return cls(0, currency_code)

    @classmethod
    def from_minor(cls, minor: int, currency_code: str | Currency) -> Money:
        """Build from an integer count of minor units (cents for EUR)."""
        if isinstance(minor, bool) or not isinstance(minor, int):
            raise MoneyError("minor units must be an int")
        cur = currency(currency_code)
        try:
            return cls(Decimal(minor).scaleb(-cur.exponent, context=_CONTEXT), cur)
        except (decimal.Inexact, decimal.InvalidOperation):
            raise _too_large(minor) from None

    @property
    def minor_units(self) -> int:
        """The amount as an integer count of minor units."""
        return int(self.amount.scaleb(self.currency.exponent, context=_CONTEXT))

    def multiply(self, factor: AmountLike, *, rounding: str = ROUND_HALF_EVEN) -> Money:
        """Multiply by a rate, computing the product exactly and rounding it once."""
        product = exact_product(self.amount, _to_decimal(factor))
        return Money(_round(product, self.currency.quantum, rounding), self.currency)

    # -- arithmetic -------------------------------------------------------

    def _check(self, other: object, op: str) -> Money:
        if not isinstance(other, Money):
            raise MoneyError(f"cannot {op} Money and {type(other).__name__}")
        if other.currency is not self.currency:
            raise MoneyError(
                f"cannot {op} {self.currency.code} and {other.currency.code}: currencies differ"
            )
        return other

    def _exact(self, op: Callable[[Decimal, Decimal], Decimal], other: Decimal) -> Money:
        try:
            return Money(op(self.amount, other), self.currency)
        except (decimal.Inexact, decimal.InvalidOperation):
            raise _too_large("result") from None

    def __add__(self, other: Money) -> Money:
        return self._exact(_CONTEXT.add, self._check(other, "add").amount)

    def __radd__(self, other: object) -> Money:
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self  # lets sum() start from its default 0
        return self._exact(_CONTEXT.add, self._check(other, "add").amount)

    def __sub__(self, other: Money) -> Money:
        return self._exact(_CONTEXT.subtract, self._check(other, "subtract").amount)

    def __neg__(self) -> Money:
        return Money(self.amount.copy_negate(), self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return Money(self.amount.copy_abs(), self.currency)

    def __mul__(self, factor: SupportsIndex) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise MoneyError("Money * x needs an int; use .multiply(rate, rounding=...) for rates")
        return self._exact(_CONTEXT.multiply, Decimal(factor))

    __rmul__ = __mul__

    def __bool__(self) -> bool:
        return bool(self.amount)

    # -- comparison -------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self.currency is other.currency and self.amount == other.amount

    def __hash__(self) -> int:
        return hash((self.amount, self.currency.code))

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._check(other, "compare").amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._check(other, "compare").amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._check(other, "compare").amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._check(other, "compare").amount

    # -- misc -------------------------------------------------------------

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Money is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Money is immutable")

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Money, (str(self.amount), self.currency.code))

    def __repr__(self) -> str:
        return f"Money({str(self.amount)!r}, {self.currency.code!r})"

    def __str__(self) -> str:
        return f"{self.amount} {self.currency.code}"


def allocate(total: Money, ratios: Sequence[AmountLike]) -> list[Money]:
    """Split ``total`` in proportion to ``ratios`` without losing a minor unit.

    The rule (largest remainder): each part first gets its exact share rounded
    *down* to the minor unit; the minor units left over then go one each to the
    parts whose share lost the most in that rounding, earlier parts first on a
    tie. The parts always sum to ``total`` and each differs from its exact
    share by less than one minor unit. A negative total is split as its
    absolute value and negated, so signs are symmetric. The arithmetic is on
    integers, so it is exact for any amount.

    >>> allocate(Money("100.00", "EUR"), [1, 1, 1])
    [Money('33.34', 'EUR'), Money('33.33', 'EUR'), Money('33.33', 'EUR')]
    """
    if not ratios:
        raise MoneyError("allocate needs at least one ratio")
    weights = [_to_decimal(r) for r in ratios]
    if any(w < 0 for w in weights):
        raise MoneyError("allocation ratios must not be negative")
    # Scale every ratio to an integer with a common exponent: w_i = ratio_i * 10**scale.
    scale = max(0, *(-int(w.as_tuple().exponent) for w in weights))
    ints = [int(w.scaleb(scale, context=decimal.Context(prec=len(w.as_tuple().digits) + scale + 1)))
            for w in weights]  # fmt: skip
    weight_sum = sum(ints)
    if weight_sum == 0:
        raise MoneyError("allocation ratios must not all be zero")
    sign = -1 if total.amount < 0 else 1
    units = abs(total.minor_units)
    shares = [units * w // weight_sum for w in ints]
    remainders = [units * w % weight_sum for w in ints]
    left = units - sum(shares)
    order = sorted(range(len(ints)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        shares[i] += 1
    return [Money.from_minor(sign * s, total.currency) for s in shares]
