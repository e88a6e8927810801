"""An invoice's arithmetic: the one rounding point, discounts, taxes, credits.

Everything here is pure integer and rational arithmetic: no database, no
floats, no I/O.

The rounding point
------------------
:func:`round_minor` is billing's one rounding point. Charge models, metric
aggregations and prorations return exact values (:class:`~decimal.Decimal` in
the currency's major units, or :class:`~fractions.Fraction` for values with no
finite decimal form, such as a proration of 12/31). Each invoice line's exact
amount is rounded here once, half away from zero ("commercial rounding", as
invoices print it: ``0.125`` becomes ``0.13`` and ``-0.125`` becomes
``-0.13``), to integer minor units of the currency (``exponent`` is the
currency's number of decimals: 2 for EUR, 0 for JPY, 3 for KWD). From then
on every amount is an integer number of minor units and every later step
(discounts, taxes, credits, credit notes) is integer arithmetic: where an
integer must be split, it is split by largest remainder (:func:`largest_remainder`),
which never creates or loses a minor unit. The only other rounding is the
same function applied to the invoice-wide sum of a tax code and to a
percentage discount, both with ``exponent=0`` because their inputs are
already in minor units.

The order of an invoice (:func:`compute`)
-----------------------------------------
1. **Lines.** Each :class:`LineInput` carries its amount in minor units. An
   exclusive line's amount excludes tax; an inclusive line's amount is the
   gross price the customer sees, tax included. Amounts are not negative: an
   amount owed back (the unused days of a plan paid in advance) is a credit
   note, not a negative line.
2. **Discounts** (coupons), in the order given, before tax. A fixed discount
   takes its amount, capped at what is left to discount on the invoice; the
   unused part is reported in :attr:`InvoiceTotals.unused_discounts` so the
   caller can carry it to a later invoice. A percentage discount takes
   ``round_minor(rate x what is left, 0)``. Each discount is spread over the
   lines in proportion to what is left of each line after the earlier
   discounts, by largest remainder, so no line is ever discounted below zero.
   A discount reduces a line's amount in the terms that line is priced in:
   the net of an exclusive line, the gross of an inclusive one (a voucher of
   5.00 on a tax-included price takes 5.00 off what the customer pays).
3. **Taxes**, per line, on the discounted amount. For an exclusive line the
   exact tax of a rate is ``base x rate``. The invoice's tax for a rate code
   is ``round_minor(sum of the exact taxes of its exclusive lines, 0)``,
   rounded once for the whole invoice, and it is handed to the lines by
   largest remainder of their exact taxes: each line gets its exact tax
   rounded down, and the minor units still missing go one each to the lines
   whose exact tax lost the most in that rounding (earlier lines first on a
   tie). So each line's tax is its exact tax rounded down or up, never
   further, and the lines' taxes of a code add up to the invoice's tax of
   that code exactly. This is the invoice's one largest-remainder step for
   taxes. An inclusive line's gross is fixed: its exact net is
   ``gross / (1 + sum of its rates)`` and its exact tax of a rate is
   ``net x rate``; the gross is split into the net and the taxes by largest
   remainder (the net first on a tie), so ``net + taxes == gross`` for the
   line exactly, and the invoice's tax of a code adds the taxes its inclusive
   lines hold to the rounded sum of its exclusive lines.
4. **Total** = the sum of the line totals (each line's base plus its taxes).
5. **Credits** (prepaid credits from a wallet, credit notes credited to the
   wallet) are applied after tax, capped at the total.
6. **Amount due** = total - credits.

Invariants, all on integers: the line totals add up to ``total``; the lines'
taxes add up to ``tax`` and, per code, to ``tax_by_code``; ``net + tax ==
total``; ``subtotal - discount + tax - tax_included == total`` (without
inclusive lines ``tax_included`` is 0, so ``subtotal - discount + tax ==
total``); ``total - credits == amount_due``.

Call arguments are checked when the value objects are built and when
:func:`compute` runs: a wrong one raises :class:`ValueError` saying what was
expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

__all__ = [
    "MAX_EXPONENT",
    "DiscountInput",
    "InvoiceTotals",
    "LineInput",
    "LineTotals",
    "TaxRate",
    "compute",
    "largest_remainder",
    "round_minor",
]

MAX_EXPONENT = 18
"""The largest currency exponent accepted (ISO 4217 currencies use 0 to 4)."""

_MAX_TAX_RATE = 10


def _check_exponent(exponent: int) -> None:
    if isinstance(exponent, bool) or not isinstance(exponent, int):
        raise ValueError(
            f"expected the currency exponent as an int from 0 to {MAX_EXPONENT},"
            f" got {type(exponent).__name__}"
        )
    if not 0 <= exponent <= MAX_EXPONENT:
        raise ValueError(
            f"expected the currency exponent from 0 to {MAX_EXPONENT} (2 for EUR, 0 for JPY),"
            f" got {exponent}"
        )


def _exact(value: object, what: str) -> Fraction:
    """``value`` as an exact fraction, refusing floats, booleans and non-finite decimals."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | Fraction):
        raise ValueError(
            f"expected {what} as a Decimal, Fraction or int, got {type(value).__name__}"
            + (" (floats are not exact)" if isinstance(value, float) else "")
        )
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"expected {what} as a finite number, got {value}")
    return Fraction(value)


def round_minor(value: Decimal | Fraction | int, exponent: int) -> int:
    """Round an exact amount in major units to integer minor units, half away from zero.

    ``exponent`` is the currency's number of decimals: ``round_minor(Decimal("10.125"), 2)``
    is ``1013`` (EUR cents), ``round_minor(Fraction(1, 3), 0)`` is ``0`` (yen). A value
    already in minor units is rounded to an integer with ``exponent=0``. This is billing's
    one rounding point (see the module docstring).

    Raises :class:`ValueError` for a float, a boolean, a non-finite decimal or an
    exponent outside 0 to :data:`MAX_EXPONENT`.
    """
    _check_exponent(exponent)
    multiplier: int = 10**exponent
    scaled = _exact(value, "the amount") * multiplier
    units, rest = divmod(abs(scaled.numerator), scaled.denominator)
    if 2 * rest >= scaled.denominator:
        units += 1
    return -units if scaled < 0 else units


def _round_to_sum(exact: Sequence[Fraction], total: int) -> list[int]:
    """Round non-negative ``exact`` parts down or up so that they add up to ``total``.

    Each part gets its floor; the units still missing go one each to the parts
    with the largest fractional part, earlier parts first on a tie. The caller
    guarantees ``sum(floors) <= total <= sum(floors) + number of non-whole parts``,
    so a whole part is never changed and every part ends within 1 of its exact value.
    """
    parts = [value.numerator // value.denominator for value in exact]
    missing = total - sum(parts)
    if missing:
        order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
        for i in order[:missing]:
            parts[i] += 1
    return parts


def largest_remainder(total: int, weights: Sequence[int | Fraction]) -> list[int]:
    """Split the integer ``total`` in proportion to ``weights`` (largest remainder).

    Each share's exact quota is ``total x weight / sum(weights)``. Every share
    first gets its quota rounded toward zero; the units still missing go one
    each to the shares whose quota lost the most in that rounding, earlier
    shares first on a tie, so the result depends only on the arguments and
    their order. The shares always add up to ``total``, each is within 1 of
    its quota (a whole quota is kept exactly), a zero weight gets 0, and a
    negative total is split as its absolute value and negated (mirror).

    All-zero weights (or none) have no proportions: they split a total of 0
    into zeros and refuse any other total. Negative weights, floats and
    booleans are refused. All refusals raise :class:`ValueError`.
    """
    if isinstance(total, bool) or not isinstance(total, int):
        raise ValueError(f"expected the total as an int, got {type(total).__name__}")
    exact = [_exact(weight, "a weight") for weight in weights]
    if any(weight < 0 for weight in exact):
        raise ValueError("expected weights that are not negative")
    weight_sum = sum(exact, Fraction(0))
    if weight_sum == 0:
        if total:
            raise ValueError(
                f"cannot split {total} over weights that are all zero (or none):"
                " expected at least one positive weight"
            )
        return [0] * len(exact)
    units = abs(total)
    shares = _round_to_sum([units * weight / weight_sum for weight in exact], units)
    return [-share for share in shares] if total < 0 else shares


def _check_int(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected {what} as an int of minor units, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"expected {what} of at least 0 minor units, got {value}")


def _check_code(value: object, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected {what} as a non-empty string, got {value!r}")


@dataclass(frozen=True, slots=True)
class TaxRate:
    """A tax rate applied to a line: its code and its rate as a fraction (0.19 is 19%).

    ``rate`` is a :class:`~decimal.Decimal` with ``0 <= rate < 10``. One code has one
    rate on an invoice: two lines naming the same code with different rates are refused.
    """

    code: str
    """The tax's code, as invoices and the ledger name it (``"VAT_DE_19"``)."""
    rate: Decimal
    """The rate as a fraction of the taxed amount: ``Decimal("0.19")`` for 19%."""

    def __post_init__(self) -> None:
        _check_code(self.code, "the tax code")
        if not isinstance(self.rate, Decimal):
            raise ValueError(
                f"tax {self.code!r}: expected the rate as a Decimal such as Decimal('0.19'),"
                f" got {type(self.rate).__name__}"
            )
        if not self.rate.is_finite() or not 0 <= self.rate < _MAX_TAX_RATE:
            raise ValueError(
                f"tax {self.code!r}: expected a rate from 0 to less than {_MAX_TAX_RATE}"
                f" (0.19 for 19%), got {self.rate}"
            )


@dataclass(frozen=True, slots=True)
class LineInput:
    """One invoice line going into :func:`compute`, already rounded to minor units.

    ``amount`` is an int of minor units (the line's exact amount rounded once by
    :func:`round_minor`), at least 0. For an exclusive line it excludes tax; for an
    inclusive line (``inclusive=True``) it is the gross amount the customer sees,
    tax included. ``rates`` are the taxes of the line, each code at most once.
    """

    key: str
    """The line's identifier on the invoice (unique within it)."""
    amount: int
    """Minor units: net for an exclusive line, gross for an inclusive one."""
    rates: tuple[TaxRate, ...] = ()
    """The taxes the line carries, in the order they are shown."""
    inclusive: bool = False
    """Whether ``amount`` includes the taxes (a gross price) rather than excluding them."""

    def __post_init__(self) -> None:
        _check_code(self.key, "the line key")
        _check_int(self.amount, f"line {self.key!r}: the amount")
        if not isinstance(self.rates, tuple) or not all(
            isinstance(rate, TaxRate) for rate in self.rates
        ):
            raise ValueError(f"line {self.key!r}: expected the rates as a tuple of TaxRate")
        codes = [rate.code for rate in self.rates]
        if len(set(codes)) != len(codes):
            raise ValueError(f"line {self.key!r}: expected each tax code once, got {codes}")
        if not isinstance(self.inclusive, bool):
            raise ValueError(f"line {self.key!r}: expected inclusive as a bool")


@dataclass(frozen=True, slots=True)
class DiscountInput:
    """A discount (coupon) going into :func:`compute`: a fixed amount or a percentage.

    Give exactly one of ``amount`` (an int of minor units, at least 0) or ``rate``
    (a :class:`~decimal.Decimal` fraction from 0 to 1 of what is left to discount
    when this discount's turn comes: ``Decimal("0.10")`` for 10%).
    """

    code: str
    """The discount's code (unique within an invoice), used in the reported breakdowns."""
    amount: int | None = None
    """A fixed discount in minor units, capped at what is left on the invoice."""
    rate: Decimal | None = None
    """A percentage discount as a fraction of what is left to discount."""

    def __post_init__(self) -> None:
        _check_code(self.code, "the discount code")
        if (self.amount is None) == (self.rate is None):
            raise ValueError(
                f"discount {self.code!r}: expected exactly one of amount (fixed, minor units)"
                " or rate (a fraction such as Decimal('0.10'))"
            )
        if self.amount is not None:
            _check_int(self.amount, f"discount {self.code!r}: the amount")
        if self.rate is not None and (
            not isinstance(self.rate, Decimal)
            or not self.rate.is_finite()
            or not 0 <= self.rate <= 1
        ):
            raise ValueError(
                f"discount {self.code!r}: expected the rate as a Decimal from 0 to 1"
                f" (0.10 for 10%), got {self.rate!r}"
            )


@dataclass(frozen=True, slots=True)
class LineTotals:
    """One line of a computed invoice, every value an int of minor units.

    ``total == base + tax`` always. For an exclusive line ``base == amount - discount``;
    for an inclusive line ``total == amount - discount`` and ``base`` is the net part of it.
    """

    key: str
    """The line's key, as given."""
    amount: int
    """The line's amount as given (gross for an inclusive line)."""
    discount: int
    """The part of the invoice's discounts this line carries (0 to ``amount``)."""
    base: int
    """The taxable amount after the discount, tax excluded."""
    taxes: tuple[tuple[str, int], ...]
    """``(code, tax)`` per rate of the line, in the order of its rates."""
    total: int
    """``base`` plus the line's taxes."""
    rates: tuple[TaxRate, ...] = ()
    """The line's tax rates, as given (credit notes split credited amounts by them)."""
    inclusive: bool = False
    """Whether the line's amount was given tax included."""

    @property
    def tax(self) -> int:
        """The sum of the line's taxes."""
        return sum(tax for _, tax in self.taxes)

    def tax_of(self, code: str) -> int:
        """The line's tax for ``code`` (0 if the line does not carry it)."""
        return next((tax for taxed, tax in self.taxes if taxed == code), 0)


@dataclass(frozen=True, slots=True)
class InvoiceTotals:
    """A computed invoice: its lines and totals, every value an int of minor units.

    Built by :func:`compute`; see the module docstring for the order and the invariants.
    """

    lines: tuple[LineTotals, ...]
    """The lines, in the order given."""
    exponent: int
    """The currency's number of decimals the minor units are counted in."""
    subtotal: int
    """The sum of the line amounts as given (inclusive lines at their gross)."""
    discount: int
    """The sum of the discounts applied."""
    discount_by_code: tuple[tuple[str, int], ...]
    """``(code, applied)`` per discount, in the order given."""
    net: int
    """The sum of the lines' bases: the taxable amount after discounts."""
    tax: int
    """The sum of the lines' taxes."""
    tax_by_code: tuple[tuple[str, int], ...]
    """``(code, tax)`` per tax code, in order of first appearance on the lines."""
    tax_included: int
    """The part of ``tax`` already inside inclusive lines' amounts."""
    total: int
    """The sum of the line totals: ``net + tax``."""
    credits: int
    """The credits applied after tax (at most ``total``)."""
    amount_due: int
    """``total - credits``."""
    unused_discounts: tuple[tuple[str, int], ...]
    """``(code, unused)`` for each fixed discount larger than what was left to discount."""

    def __post_init__(self) -> None:
        # compute() builds consistent totals; this guards totals rebuilt from stored rows,
        # which credit notes rely on.
        _check_exponent(self.exponent)
        problems = [
            f"line {line.key!r}: total {line.total} is not base {line.base} plus tax {line.tax}"
            for line in self.lines
            if line.total != line.base + line.tax or line.base < 0
        ]
        if sum(line.total for line in self.lines) != self.total:
            problems.append(f"the line totals do not add up to the total {self.total}")
        if self.net + self.tax != self.total or sum(line.tax for line in self.lines) != self.tax:
            problems.append("net plus tax is not the total, or the lines' taxes are not the tax")
        if not 0 <= self.credits <= self.total or self.total - self.credits != self.amount_due:
            problems.append("expected 0 <= credits <= total and amount_due == total - credits")
        if problems:
            raise ValueError("inconsistent invoice totals: " + "; ".join(problems))

    def line(self, key: str) -> LineTotals:
        """The line with ``key``; :class:`KeyError` if the invoice has none."""
        for line in self.lines:
            if line.key == key:
                return line
        raise KeyError(key)

    def tax_of(self, code: str) -> int:
        """The invoice's tax for ``code`` (0 if no line carries it)."""
        return next((tax for taxed, tax in self.tax_by_code if taxed == code), 0)


def _apply_discounts(
    lines: Sequence[LineInput], discounts: Sequence[DiscountInput]
) -> tuple[list[int], list[tuple[str, int]], list[tuple[str, int]]]:
    """Spread the discounts over the lines: per-line discount, applied and unused per code."""
    taken = [0] * len(lines)
    applied: list[tuple[str, int]] = []
    unused: list[tuple[str, int]] = []
    for discount in discounts:
        left = [line.amount - t for line, t in zip(lines, taken, strict=True)]
        left_total = sum(left)
        if discount.rate is not None:
            amount = round_minor(Fraction(discount.rate) * left_total, 0)
        else:
            wanted = discount.amount or 0  # a fixed discount: its amount is set
            amount = min(wanted, left_total)
            if wanted > amount:
                unused.append((discount.code, wanted - amount))
        shares = largest_remainder(amount, left)
        taken = [t + share for t, share in zip(taken, shares, strict=True)]
        applied.append((discount.code, amount))
    return taken, applied, unused


def _check_invoice(
    lines: Sequence[LineInput], discounts: Sequence[DiscountInput], credits: int
) -> dict[str, Decimal]:
    """Check the call's arguments; return each tax code's rate."""
    if not all(isinstance(line, LineInput) for line in lines):
        raise ValueError("expected the lines as LineInput values")
    if not all(isinstance(discount, DiscountInput) for discount in discounts):
        raise ValueError("expected the discounts as DiscountInput values")
    _check_int(credits, "the credits")
    keys = [line.key for line in lines]
    if len(set(keys)) != len(keys):
        raise ValueError(f"expected unique line keys, got {keys}")
    codes = [discount.code for discount in discounts]
    if len(set(codes)) != len(codes):
        raise ValueError(f"expected unique discount codes, got {codes}")
    rates: dict[str, Decimal] = {}
    for line in lines:
        for tax in line.rates:
            known = rates.setdefault(tax.code, tax.rate)
            if known != tax.rate:
                raise ValueError(
                    f"tax {tax.code!r}: expected one rate per code on an invoice,"
                    f" got {known} and {tax.rate} (line {line.key!r})"
                )
    return rates


def _split_inclusive(gross: int, rates: Sequence[TaxRate]) -> tuple[int, list[int]]:
    """Split an inclusive line's gross into its net and its taxes, adding up exactly."""
    net = Fraction(gross) / (1 + sum((Fraction(rate.rate) for rate in rates), Fraction(0)))
    parts = _round_to_sum([net, *(net * Fraction(rate.rate) for rate in rates)], gross)
    return parts[0], parts[1:]


def compute(
    lines: Sequence[LineInput],
    discounts: Sequence[DiscountInput] = (),
    *,
    credits: int = 0,
    exponent: int,
) -> InvoiceTotals:
    """Compute an invoice's discounts, taxes, total, credits and amount due.

    The order: lines, then ``discounts`` (in the order given, before tax), then taxes
    per line on the discounted amounts, then the total, then ``credits`` (prepaid
    credits, capped at the total), then the amount due. Every input and output is
    an int of minor units of a currency with ``exponent`` decimals. The rules and
    invariants are in the module docstring.

    Raises :class:`ValueError` for a duplicate line key or discount code, one tax
    code with two rates, negative credits or a wrong exponent.
    """
    _check_exponent(exponent)
    lines = tuple(lines)
    discounts = tuple(discounts)
    rate_of = _check_invoice(lines, discounts, credits)
    discount_of, applied, unused = _apply_discounts(lines, discounts)

    # Bases and taxes, per line and code.
    bases: list[int] = []
    taxes: list[dict[str, int]] = [{} for _ in lines]
    for i, line in enumerate(lines):
        after = line.amount - discount_of[i]
        if line.inclusive:
            net, inclusive_taxes = _split_inclusive(after, line.rates)
            bases.append(net)
            for rate, tax in zip(line.rates, inclusive_taxes, strict=True):
                taxes[i][rate.code] = tax
        else:
            bases.append(after)
    for code, code_rate in rate_of.items():
        taxed = [
            i
            for i, line in enumerate(lines)
            if not line.inclusive and any(tax.code == code for tax in line.rates)
        ]
        exact = [bases[i] * Fraction(code_rate) for i in taxed]
        rounded = round_minor(sum(exact, Fraction(0)), 0)
        for i, tax in zip(taxed, _round_to_sum(exact, rounded), strict=True):
            taxes[i][code] = tax

    line_totals = tuple(
        LineTotals(
            key=line.key,
            amount=line.amount,
            discount=discount_of[i],
            base=bases[i],
            taxes=tuple((rate.code, taxes[i][rate.code]) for rate in line.rates),
            total=bases[i] + sum(taxes[i].values()),
            rates=line.rates,
            inclusive=line.inclusive,
        )
        for i, line in enumerate(lines)
    )
    tax_by_code = tuple((code, sum(line.tax_of(code) for line in line_totals)) for code in rate_of)
    total = sum(line.total for line in line_totals)
    applied_credits = min(credits, total)
    return InvoiceTotals(
        lines=line_totals,
        exponent=exponent,
        subtotal=sum(line.amount for line in lines),
        discount=sum(discount_of),
        discount_by_code=tuple(applied),
        net=sum(bases),
        tax=sum(line.tax for line in line_totals),
        tax_by_code=tax_by_code,
        tax_included=sum(line.tax for line in line_totals if line.inclusive),
        total=total,
        credits=applied_credits,
        amount_due=total - applied_credits,
        unused_discounts=tuple(unused),
    )
