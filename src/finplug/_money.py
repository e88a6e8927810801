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
* A decimal string is ASCII only: an optional sign, digits ``0``-``9`` with
  at most one ``.``, an optional exponent (``1e2``), and optional ASCII
  whitespace around it. Other scripts' digits (Arabic-Indic, full-width), digit
  separators (``"1_000"``, ``"1,000"``) and anything else are refused.
* ISO 4217 codes that are not money (no currency, testing, precious metals,
  bond-market units, units of account, fund codes; see :data:`NON_MONEY_CODES`)
  are refused unless the caller opts in with
  ``currency(code, allow_non_money=True)``.
* Mixing currencies in arithmetic or comparison raises :class:`MoneyError`.
* ``sum()`` works: ``0 + money`` is ``money``.
* An error message never repeats more than :data:`SHOWN_CHARACTERS` characters
  of a caller's value; a longer value is cut and its length given.
"""

from __future__ import annotations

import decimal
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Final, SupportsIndex, TypeAlias

from babel.numbers import get_currency_precision, list_currencies

from finplug._errors import MoneyError

__all__ = [
    "MAX_DIGITS",
    "NON_MONEY_CODES",
    "ROUND_HALF_EVEN",
    "SHOWN_CHARACTERS",
    "Currency",
    "Money",
    "allocate",
    "currency",
    "decimal_from_string",
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


#: Most characters of a caller's value that an error message repeats.
SHOWN_CHARACTERS: Final = 40


def _shown(value: object) -> str:
    """``value`` for an error message, cut to :data:`SHOWN_CHARACTERS` characters.

    A string is shown quoted (its ``repr``, so control and invisible characters
    are escaped); a number as written. A longer value is cut and followed by
    ``...`` and its length, so a 100,000-digit input never makes a 100 KB error.
    """
    if isinstance(value, str):
        if len(value) <= SHOWN_CHARACTERS:
            return repr(value)
        return f"{value[:SHOWN_CHARACTERS]!r}... ({len(value)} characters)"
    if isinstance(value, int) and not isinstance(value, bool):
        # str() of an int above 4300 digits raises ValueError; Decimal has no such limit.
        value = Decimal(value)
    text = str(value)
    if len(text) <= SHOWN_CHARACTERS:
        return text
    return f"{text[:SHOWN_CHARACTERS]}... ({len(text)} characters)"


def _too_large(value: object) -> MoneyError:
    return MoneyError(f"amount {_shown(value)} does not fit in {MAX_DIGITS} significant digits")


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

    @property
    def is_money(self) -> bool:
        """``False`` for the codes in :data:`NON_MONEY_CODES` (``XAU``, ``XTS`` ...)."""
        return self.code not in NON_MONEY_CODES

    def __reduce__(self) -> tuple[object, tuple[str]]:
        if self.code in NON_MONEY_CODES:
            # It was admitted with allow_non_money=True when it was made.
            return (_unpickle_non_money, (self.code,))
        return (currency, (self.code,))


_PRECIOUS_METAL: Final = "a precious metal"
_BOND_UNIT: Final = "a bond-market unit"
_UNIT_OF_ACCOUNT: Final = "a unit of account that no payment settles in"
_FUND: Final = "a fund code (an indexed or settlement-timing unit, not a currency)"
_ACCOUNT_UNIT: Final = "a withdrawn financial or convertible account unit"

#: ISO 4217 codes that are not money, each with what it is instead.
#:
#: :func:`currency` refuses them unless called with ``allow_non_money=True``.
#: The rule: a code is refused when no ordinary payment can be made in it:
#: ``XXX`` (no currency), ``XTS`` (testing), the precious metals, the
#: bond-market units, the units of account (including the IMF's SDR ``XDR``:
#: a reserve asset held only by central banks and prescribed holders, in which
#: prices are quoted but never paid), ISO's fund codes, and the withdrawn codes
#: of those kinds that CLDR still lists. Every code here is one CLDR marks as
#: not legal tender anywhere; CLDR's other non-tender codes, ``VED`` (ISO's
#: current Venezuelan bolivar) and ``CNH`` (offshore yuan), are money and accepted.
NON_MONEY_CODES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "XXX": "ISO 4217's code for 'no currency'",
        "XTS": "ISO 4217's code reserved for testing",
        "XAU": _PRECIOUS_METAL,
        "XAG": _PRECIOUS_METAL,
        "XPD": _PRECIOUS_METAL,
        "XPT": _PRECIOUS_METAL,
        "XBA": _BOND_UNIT,
        "XBB": _BOND_UNIT,
        "XBC": _BOND_UNIT,
        "XBD": _BOND_UNIT,
        "XDR": _UNIT_OF_ACCOUNT,
        "XUA": _UNIT_OF_ACCOUNT,
        "XSU": _UNIT_OF_ACCOUNT,
        "XAD": _UNIT_OF_ACCOUNT,
        "XEU": _UNIT_OF_ACCOUNT,
        "XFO": _UNIT_OF_ACCOUNT,
        "XFU": _UNIT_OF_ACCOUNT,
        "BOV": _FUND,
        "CHE": _FUND,
        "CHW": _FUND,
        "CLF": _FUND,
        "COU": _FUND,
        "MXV": _FUND,
        "USN": _FUND,
        "UYI": _FUND,
        "UYW": _FUND,
        "USS": _FUND,
        "XRE": _FUND,
        "ECV": _FUND,
        "BEC": _ACCOUNT_UNIT,
        "BEL": _ACCOUNT_UNIT,
        "ESA": _ACCOUNT_UNIT,
        "ESB": _ACCOUNT_UNIT,
        "LUC": _ACCOUNT_UNIT,
        "LUL": _ACCOUNT_UNIT,
        "ZAL": _ACCOUNT_UNIT,
    }
)

# Three ASCII letters, with optional ASCII whitespace around them. Checked on
# the raw input, before upper(): "\u0131ls".upper() is "ILS" and "\u3000EUR".strip()
# is "EUR", and neither is a code anyone meant.
_CODE: Final = re.compile(r"[ \t\n\r\f\v]*([A-Za-z]{3})[ \t\n\r\f\v]*")


@functools.cache
def _known_codes() -> frozenset[str]:
    return frozenset(list_currencies())


@functools.cache
def _currency(code: str) -> Currency:
    return Currency(code, get_currency_precision(code))


def currency(code: str | Currency, *, allow_non_money: bool = False) -> Currency:
    """Return the :class:`Currency` for an ISO 4217 code such as ``"EUR"``.

    The code is three ASCII letters, in any case, with optional ASCII
    whitespace around it. Raises :class:`MoneyError` for a code that is not a
    known currency, and for one of :data:`NON_MONEY_CODES` (``XXX``, ``XTS``,
    ``XAU`` ...) unless ``allow_non_money`` is true. The :class:`Currency`
    returned is accepted by :class:`Money` and its constructors as it is, so
    opting in once is enough. A :class:`Currency` passed in is returned unchanged.
    """
    if isinstance(code, Currency):
        return code
    if not isinstance(code, str):
        raise MoneyError(f"currency must be an ISO 4217 code string, got {type(code).__name__}")
    match = _CODE.fullmatch(code)
    normalized = match.group(1).upper() if match else ""
    if normalized not in _known_codes():
        raise MoneyError(
            f"unknown currency {_shown(code)}: expected an ISO 4217 code such as 'EUR'"
        )
    if not allow_non_money and normalized in NON_MONEY_CODES:
        raise MoneyError(
            f"currency {normalized} is not money: it is {NON_MONEY_CODES[normalized]};"
            f" to use it anyway, pass currency({normalized!r}, allow_non_money=True)"
        )
    return _currency(normalized)


def _unpickle_non_money(code: str) -> Currency:
    return currency(code, allow_non_money=True)


# The one grammar of a decimal string. [0-9], not \d: \d also matches "\u0661" and "\uff11".
_WHITESPACE: Final = " \t\n\r\f\v"
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_FORM: Final = "ASCII digits with an optional sign, decimal point and exponent, such as '10.50'"


def decimal_from_string(text: str) -> Decimal:
    """Parse a decimal string the way :class:`Money` does, or raise :class:`MoneyError`.

    Accepted: optional ASCII whitespace, an optional ``+`` or ``-``, ASCII
    digits with at most one ``.`` (``10``, ``10.50``, ``.5``, ``5.``), an
    optional exponent (``1e2``, ``2.5E-3``), optional ASCII whitespace.
    Refused, although :class:`~decimal.Decimal` takes them: other scripts'
    digits (Arabic-Indic, full-width ...), ``_`` separators, ``NaN`` and ``Infinity``,
    non-ASCII whitespace around the number. The result is exact: no digit is
    dropped.
    """
    if not isinstance(text, str):
        raise MoneyError(f"expected a decimal string, got {type(text).__name__}")
    stripped = text.strip(_WHITESPACE)
    if _DECIMAL.fullmatch(stripped):
        try:
            return Decimal(stripped)
        except decimal.InvalidOperation:  # only an exponent beyond the Decimal range
            raise MoneyError(
                f"amount {_shown(text)} is out of range: its exponent is too large"
            ) from None
    if any(c.isdigit() and not c.isascii() for c in stripped):
        hint = "it has non-ASCII digits; write amounts with the digits 0-9"
    elif "_" in stripped or "," in stripped:
        hint = "digit group separators are not allowed; write 1000, not 1_000 or 1,000"
    else:
        hint = f"expected {_FORM}"
    raise MoneyError(f"amount {_shown(text)} is not a decimal number: {hint}")


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
        value = decimal_from_string(amount)
    else:
        raise MoneyError(
            f"amount must be a Decimal, int or decimal string, not {type(amount).__name__}"
        )
    if not value.is_finite():
        raise MoneyError(f"amount must be a finite number, got {_shown(value)}")
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
                f"amount {_shown(value)} has more decimals than {cur.code} allows"
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
            raise MoneyError(
                f"the result does not fit in {MAX_DIGITS} significant digits"
            ) from None

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

    def __reduce__(self) -> tuple[object, tuple[str, Currency]]:
        # The Currency, not its code: a non-money currency pickles its opt-in.
        return (Money, (str(self.amount), self.currency))

    def __repr__(self) -> str:
        return f"Money({str(self.amount)!r}, {self.currency.code!r})"

    def __str__(self) -> str:
        return f"{self.amount} {self.currency.code}"


def _ratio(value: AmountLike) -> Decimal:
    """An allocation ratio, bounded so that splitting stays cheap.

    ``allocate`` scales every ratio to an integer, so ``1e-999999`` would make
    million-digit integers (half a minute of work). A ratio has at most
    :data:`MAX_DIGITS` significant digits (trailing zeros do not count), none
    of them below ``1e-38``, and is less than ``1e38``.
    """
    weight = _to_decimal(value)
    if not weight:
        return Decimal(0)
    sign, digits, raw_exponent = weight.as_tuple()
    exponent = int(raw_exponent)  # an int: _to_decimal returns finite values only
    # Drop trailing zeros by hand: Decimal.normalize() would need a context whose
    # limits a hostile exponent can exceed.
    significant = len(digits)
    while digits[significant - 1] == 0:
        significant -= 1
    exponent += len(digits) - significant
    if significant > MAX_DIGITS or exponent < -MAX_DIGITS or weight.adjusted() >= MAX_DIGITS:
        raise MoneyError(
            f"allocation ratio {_shown(value)} is out of range: expected at most"
            f" {MAX_DIGITS} significant digits, none below 1e-{MAX_DIGITS}, and less than"
            f" 1e{MAX_DIGITS}"
        )
    return Decimal((sign, digits[:significant], exponent))


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
    weights = [_ratio(r) for r in ratios]
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
