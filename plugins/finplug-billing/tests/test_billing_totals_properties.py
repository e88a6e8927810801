"""Property tests for finplug_billing.totals, exact to the minor unit."""

from __future__ import annotations

import decimal
from decimal import Decimal
from fractions import Fraction
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from finplug_billing.totals import (
    DiscountInput,
    InvoiceTotals,
    LineInput,
    TaxRate,
    compute,
    largest_remainder,
    round_minor,
)

PROPERTY = settings(max_examples=200, deadline=None)

amounts = st.one_of(st.integers(0, 200), st.integers(0, 10**10))
tax_rates = st.decimals(min_value=0, max_value=Decimal("9.9999"), places=4)
discount_rates = st.decimals(min_value=0, max_value=1, places=4)
exponents = st.sampled_from([0, 2, 3])


@st.composite
def invoices(
    draw: st.DrawFn, *, same_rates: bool = False, exclusive: bool = False
) -> tuple[list[LineInput], list[DiscountInput], int]:
    """Lines over a few tax codes (inclusive or not), discounts, and credits."""
    taxes = [TaxRate(f"T{i}", rate) for i, rate in enumerate(draw(st.lists(tax_rates, max_size=4)))]
    shared = tuple(taxes)
    lines = [
        LineInput(
            f"line{i}",
            draw(amounts),
            shared
            if same_rates
            else tuple(draw(st.lists(st.sampled_from(taxes), unique=True)))
            if taxes
            else (),
            False if exclusive else draw(st.booleans()),
        )
        for i in range(draw(st.integers(0, 6)))
    ]
    discounts = [
        DiscountInput(f"D{i}", amount=value)
        if isinstance(value, int)
        else DiscountInput(f"D{i}", rate=value)
        for i, value in enumerate(draw(st.lists(st.one_of(amounts, discount_rates), max_size=3)))
    ]
    return lines, discounts, draw(st.one_of(st.just(0), amounts))


def _all_ints(totals: InvoiceTotals) -> bool:
    values: list[object] = [
        totals.subtotal,
        totals.discount,
        totals.net,
        totals.tax,
        totals.tax_included,
        totals.total,
        totals.credits,
        totals.amount_due,
    ]
    for line in totals.lines:
        values += [line.amount, line.discount, line.base, line.total]
        values += [tax for _, tax in line.taxes]
    for pairs in (totals.tax_by_code, totals.discount_by_code, totals.unused_discounts):
        values += [value for _, value in pairs]
    return all(type(value) is int for value in values)


@PROPERTY
@given(invoices(), exponents)
def test_invoice_invariants(
    invoice: tuple[list[LineInput], list[DiscountInput], int], exponent: int
) -> None:
    lines, discounts, credits = invoice
    totals = compute(lines, discounts, credits=credits, exponent=exponent)
    assert _all_ints(totals)
    # Issue 13: lines + tax - discounts - credits = amount due (the tax of inclusive lines
    # is already inside their amounts, so it is counted once).
    assert (
        totals.subtotal - totals.discount + totals.tax - totals.tax_included - totals.credits
        == totals.amount_due
    )
    assert sum(line.total for line in totals.lines) == totals.total
    assert totals.net + totals.tax == totals.total
    assert totals.total - totals.credits == totals.amount_due
    assert totals.credits == min(credits, totals.total)
    assert totals.amount_due >= 0
    assert sum(line.tax for line in totals.lines) == totals.tax
    assert totals.tax_included == sum(line.tax for line in totals.lines if line.inclusive)
    for code, tax in totals.tax_by_code:
        assert sum(line.tax_of(code) for line in totals.lines) == tax
    if not any(line.inclusive for line in lines):
        assert totals.subtotal - totals.discount + totals.tax == totals.total


@PROPERTY
@given(invoices(), exponents)
def test_taxes_are_the_exact_taxes_rounded_once_per_code(
    invoice: tuple[list[LineInput], list[DiscountInput], int], exponent: int
) -> None:
    lines, discounts, credits = invoice
    totals = compute(lines, discounts, credits=credits, exponent=exponent)
    for code, tax in totals.tax_by_code:
        exclusive = [line for line in totals.lines if not line.inclusive]
        rate = next(r.rate for line in totals.lines for r in line.rates if r.code == code)
        exact = [
            line.base * Fraction(rate)
            for line in exclusive
            if any(r.code == code for r in line.rates)
        ]
        inclusive_part = sum(line.tax_of(code) for line in totals.lines if line.inclusive)
        # The exclusive lines' tax of a code is their exact sum, rounded once.
        assert tax - inclusive_part == round_minor(sum(exact, Fraction(0)), 0)
        # Each exclusive line's tax is its exact tax rounded down or up.
        for line in exclusive:
            if any(r.code == code for r in line.rates):
                assert abs(line.tax_of(code) - line.base * Fraction(rate)) < 1
    for line in totals.lines:
        assert line.total == line.base + line.tax
        if line.inclusive:
            # The gross after discount is split exactly; each part within 1 of its exact value.
            assert line.total == line.amount - line.discount
            net = Fraction(line.total) / (1 + sum(Fraction(r.rate) for r in line.rates))
            assert abs(line.base - net) < 1
            for r in line.rates:
                assert abs(line.tax_of(r.code) - net * Fraction(r.rate)) < 1
        else:
            assert line.base == line.amount - line.discount


@PROPERTY
@given(invoices(), exponents)
def test_discounts_never_drive_a_line_below_zero(
    invoice: tuple[list[LineInput], list[DiscountInput], int], exponent: int
) -> None:
    lines, discounts, credits = invoice
    totals = compute(lines, discounts, credits=credits, exponent=exponent)
    assert sum(applied for _, applied in totals.discount_by_code) == totals.discount
    assert all(0 <= line.discount <= line.amount for line in totals.lines)
    assert all(line.base >= 0 and line.tax >= 0 for line in totals.lines)
    unused = dict(totals.unused_discounts)
    left = sum(line.amount for line in lines)
    for discount, (code, applied) in zip(discounts, totals.discount_by_code, strict=True):
        assert code == discount.code
        if discount.amount is not None:
            assert applied == min(discount.amount, left)
            assert applied + unused.get(code, 0) == discount.amount
        else:
            assert discount.rate is not None
            assert applied == round_minor(Fraction(discount.rate) * left, 0)
            assert code not in unused
        left -= applied
    assert left == totals.subtotal - totals.discount


@PROPERTY
@given(invoices(exclusive=True, same_rates=True), exponents, st.randoms(use_true_random=False))
def test_invoice_totals_do_not_depend_on_the_order_of_exclusive_lines_with_the_same_rates(
    invoice: tuple[list[LineInput], list[DiscountInput], int],
    exponent: int,
    rng: Random,
) -> None:
    lines, discounts, credits = invoice
    shuffled = list(lines)
    rng.shuffle(shuffled)
    one = compute(lines, discounts, credits=credits, exponent=exponent)
    two = compute(shuffled, discounts, credits=credits, exponent=exponent)
    for field in ("subtotal", "discount", "tax", "total", "credits", "amount_due"):
        assert getattr(one, field) == getattr(two, field)
    assert one.tax_by_code == two.tax_by_code
    assert one.discount_by_code == two.discount_by_code


@PROPERTY
@given(invoices(), exponents, st.randoms(use_true_random=False))
def test_without_discounts_invoice_totals_do_not_depend_on_the_order_of_lines(
    invoice: tuple[list[LineInput], list[DiscountInput], int],
    exponent: int,
    rng: Random,
) -> None:
    lines, _, credits = invoice
    shuffled = list(lines)
    rng.shuffle(shuffled)
    one = compute(lines, credits=credits, exponent=exponent)
    two = compute(shuffled, credits=credits, exponent=exponent)
    for field in ("subtotal", "tax", "tax_included", "total", "credits", "amount_due"):
        assert getattr(one, field) == getattr(two, field)
    assert dict(one.tax_by_code) == dict(two.tax_by_code)


# ---------------------------------------------------------------- largest_remainder

weights = st.lists(
    st.one_of(
        st.integers(0, 10**6),
        st.fractions(min_value=0, max_value=1000, max_denominator=1000),
    ),
    min_size=1,
    max_size=8,
).filter(any)


@PROPERTY
@given(st.integers(-(10**12), 10**12), weights)
def test_largest_remainder_sums_to_its_total_within_one_of_each_quota(
    total: int, parts: list[int | Fraction]
) -> None:
    shares = largest_remainder(total, parts)
    assert sum(shares) == total
    weight_sum = sum(Fraction(w) for w in parts)
    for share, weight in zip(shares, parts, strict=True):
        quota = Fraction(total) * Fraction(weight) / weight_sum
        assert abs(share - quota) < 1
        if quota.denominator == 1:
            assert share == quota
        if weight == 0:
            assert share == 0
    assert largest_remainder(-total, parts) == [-share for share in shares]


@PROPERTY
@given(st.integers(-(10**9), 10**9), weights, st.integers(1, 1000))
def test_largest_remainder_depends_only_on_the_proportions(
    total: int, parts: list[int | Fraction], factor: int
) -> None:
    scaled: list[int | Fraction] = [Fraction(w) * factor for w in parts]
    assert largest_remainder(total, parts) == largest_remainder(total, scaled)


# ---------------------------------------------------------------- round_minor

exact_values = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12),
    st.fractions(min_value=-(10**9), max_value=10**9),
    st.integers(-(10**12), 10**12),
)


@PROPERTY
@given(exact_values, st.integers(0, 6))
def test_round_minor_is_the_nearest_integer_half_away_from_zero(
    value: Decimal | Fraction | int, exponent: int
) -> None:
    rounded = round_minor(value, exponent)
    scaled = Fraction(value) * 10**exponent
    assert abs(rounded - scaled) <= Fraction(1, 2)
    if abs(rounded - scaled) == Fraction(1, 2):
        assert abs(rounded) > abs(scaled)
    assert round_minor(-value, exponent) == -rounded
    if isinstance(value, Decimal):
        with decimal.localcontext() as context:
            context.prec = 60
            quantized = value.scaleb(exponent).quantize(Decimal(1), decimal.ROUND_HALF_UP)
        assert rounded == int(quantized)


@PROPERTY
@given(exact_values, exact_values, st.integers(0, 4))
def test_round_minor_is_monotone(
    one: Decimal | Fraction | int, two: Decimal | Fraction | int, exponent: int
) -> None:
    low, high = sorted([one, two], key=lambda value: Fraction(value))
    assert round_minor(low, exponent) <= round_minor(high, exponent)
