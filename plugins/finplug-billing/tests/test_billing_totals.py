"""Worked examples for finplug_billing.totals: the rounding point, allocation, invoices.

Lago's documented examples are cited by URL; the rounding bugs of Lago's tracker
(getlago/lago-api pull requests) are reproduced as named regression tests: each
states the case and the amount finplug gives instead.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction

import pytest

from finplug_billing.totals import (
    DiscountInput,
    InvoiceTotals,
    LineInput,
    TaxRate,
    compute,
    largest_remainder,
    round_minor,
)

VAT10 = TaxRate("VAT10", Decimal("0.10"))
VAT19 = TaxRate("VAT19", Decimal("0.19"))
VAT20 = TaxRate("VAT20", Decimal("0.20"))
VAT25 = TaxRate("VAT25", Decimal("0.25"))
STATE = TaxRate("STATE", Decimal("0.0625"))
CITY = TaxRate("CITY", Decimal("0.02"))


def check_invariants(totals: InvoiceTotals) -> None:
    assert sum(line.total for line in totals.lines) == totals.total
    assert totals.subtotal - totals.discount + totals.tax - totals.tax_included == totals.total
    assert totals.net + totals.tax == totals.total
    assert totals.total - totals.credits == totals.amount_due
    assert sum(line.tax for line in totals.lines) == totals.tax
    assert sum(tax for _, tax in totals.tax_by_code) == totals.tax
    for code, tax in totals.tax_by_code:
        assert sum(line.tax_of(code) for line in totals.lines) == tax
    for line in totals.lines:
        assert line.total == line.base + line.tax
        if line.inclusive:
            assert line.total == line.amount - line.discount
        else:
            assert line.base == line.amount - line.discount


# ---------------------------------------------------------------- round_minor


@pytest.mark.parametrize(
    ("value", "exponent", "expected"),
    [
        (Decimal("10.125"), 2, 1013),
        (Decimal("10.124999"), 2, 1012),
        (Decimal("-10.125"), 2, -1013),
        (Decimal("0.005"), 2, 1),
        (Decimal("-0.005"), 2, -1),
        (Decimal("0.0049"), 2, 0),
        (Decimal("1234.5"), 0, 1235),
        (Decimal("1234.4999"), 0, 1234),
        (Decimal("1.2345"), 3, 1235),
        (Decimal("50"), 2, 5000),
        (Decimal("1E+3"), 2, 100000),
        (Fraction(1, 3), 2, 33),
        (Fraction(2, 3), 2, 67),
        (Fraction(-2, 3), 2, -67),
        (Fraction(200 * 29, 30), 2, 19333),
        (Fraction(1, 200), 2, 1),
        (7, 0, 7),
        (7, 2, 700),
        (-7, 3, -7000),
        (Fraction(5, 2), 0, 3),
        (Fraction(-5, 2), 0, -3),
    ],
)
def test_round_minor_rounds_half_away_from_zero(
    value: Decimal | Fraction | int, exponent: int, expected: int
) -> None:
    assert round_minor(value, exponent) == expected


def test_round_minor_of_a_proration_matches_lagos_upgrade_example() -> None:
    """Plan A 100/month, 14 of 31 days used: 45.16.

    https://getlago.com/docs/guide/subscriptions/upgrades-downgrades
    """
    assert round_minor(Fraction(14, 31) * 100, 2) == 4516


@pytest.mark.parametrize(
    ("value", "exponent", "message"),
    [
        (0.1, 2, "floats are not exact"),
        (True, 2, "got bool"),
        ("1.00", 2, "got str"),
        (Decimal("NaN"), 2, "finite"),
        (Decimal("Infinity"), 2, "finite"),
        (Decimal(1), -1, "from 0 to 18"),
        (Decimal(1), 19, "from 0 to 18"),
        (Decimal(1), True, "as an int"),
        (Decimal(1), 2.0, "as an int"),
    ],
)
def test_round_minor_refuses_what_is_not_exact_or_not_a_currency_exponent(
    value: object, exponent: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        round_minor(value, exponent)  # type: ignore[arg-type]


# ---------------------------------------------------------------- largest_remainder


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (1500, [80, 8, 12], [1200, 120, 180]),
        (15, [80, 8, 12], [12, 1, 2]),
        (2, [Fraction(1, 2), Fraction(1, 4), Fraction(1, 4)], [1, 1, 0]),
        (10, [0, 5, 0, 5], [0, 5, 0, 5]),
        (1, [0, 1, 1], [0, 1, 0]),
        (0, [3, 4], [0, 0]),
        (0, [0, 0], [0, 0]),
        (0, [], []),
        (7, [1], [7]),
        (5, [Fraction(1, 3), 2], [1, 4]),
    ],
)
def test_largest_remainder_examples(
    total: int, weights: list[int | Fraction], expected: list[int]
) -> None:
    assert largest_remainder(total, weights) == expected


def test_largest_remainder_keeps_whole_quotas_and_breaks_ties_by_position() -> None:
    # Quotas 1, 0.5, 0.5: the whole quota is kept, the unit goes to the earlier tie.
    assert largest_remainder(2, [2, 1, 1]) == [1, 1, 0]
    assert largest_remainder(2, [1, 1, 2]) == [1, 0, 1]


@pytest.mark.parametrize(
    ("total", "weights", "message"),
    [
        (1, [0, 0], "all zero"),
        (1, [], "all zero"),
        (1, [1, -1], "not negative"),
        (1, [0.5], "floats are not exact"),
        (1.0, [1], "total as an int"),
        (True, [1], "total as an int"),
    ],
)
def test_largest_remainder_refusals(total: object, weights: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        largest_remainder(total, weights)  # type: ignore[arg-type]


# ---------------------------------------------------------------- Lago's documented order


def test_lago_order_of_application_coupon_tax_credits() -> None:
    """Subscription 50 + usage 20 - coupon 10 = 60; tax 10% = 6; 66; - 20 - 30 = 16.

    https://getlago.com/docs/guide/wallet-and-prepaid-credits/overview and
    https://getlago.com/docs/guide/credit-notes . Lago takes 20 of credit-note credit
    and 30 of prepaid credits; finplug credits a credit note to the wallet (issue 13),
    so both arrive here as 50 of credits, applied after tax.
    """
    totals = compute(
        [LineInput("subscription", 5000, (VAT10,)), LineInput("usage", 2000, (VAT10,))],
        [DiscountInput("coupon", amount=1000)],
        credits=2000 + 3000,
        exponent=2,
    )
    assert totals.subtotal == 7000
    assert totals.discount == 1000
    assert totals.net == 6000
    assert totals.tax == 600
    assert totals.total == 6600
    assert totals.credits == 5000
    assert totals.amount_due == 1600
    # The coupon is spread in proportion to the lines: 714.28... and 285.71...
    assert [line.discount for line in totals.lines] == [714, 286]
    assert [line.tax for line in totals.lines] == [429, 171]
    check_invariants(totals)


def test_fixed_coupon_larger_than_the_invoice_is_capped_and_its_rest_reported() -> None:
    """A fixed coupon used once carries its unused part to later invoices.

    https://getlago.com/docs/guide/coupons
    """
    totals = compute(
        [LineInput("subscription", 3000, (VAT20,))],
        [DiscountInput("WELCOME50", amount=5000)],
        exponent=2,
    )
    assert totals.discount == 3000
    assert totals.tax == 0
    assert totals.total == 0
    assert totals.discount_by_code == (("WELCOME50", 3000),)
    assert totals.unused_discounts == (("WELCOME50", 2000),)
    check_invariants(totals)


def test_discounts_apply_in_order_each_on_what_is_left() -> None:
    """Each coupon is computed on what remains after the earlier ones (Lago's coupons)."""
    totals = compute(
        [LineInput("a", 10000, (VAT19,)), LineInput("b", 5000, (VAT19,))],
        [DiscountInput("FIXED", amount=3000), DiscountInput("TENPCT", rate=Decimal("0.10"))],
        exponent=2,
    )
    # 150.00 - 30.00 = 120.00; 10% of 120.00 = 12.00.
    assert totals.discount_by_code == (("FIXED", 3000), ("TENPCT", 1200))
    assert totals.discount == 4200
    assert totals.net == 10800
    assert totals.tax == 2052
    check_invariants(totals)
    reversed_order = compute(
        [LineInput("a", 10000, (VAT19,)), LineInput("b", 5000, (VAT19,))],
        [DiscountInput("TENPCT", rate=Decimal("0.10")), DiscountInput("FIXED", amount=3000)],
        exponent=2,
    )
    # 10% of 150.00 = 15.00 first, then 30.00: the order matters and is the caller's.
    assert reversed_order.discount == 4500


def test_percentage_discount_rounds_half_away_from_zero_once() -> None:
    totals = compute(
        [LineInput("a", 3), LineInput("b", 2)],
        [DiscountInput("HALF", rate=Decimal("0.5"))],
        exponent=2,
    )
    # 50% of 0.05 = 0.025 -> 0.03, spread 3:2 -> 1.8 and 1.2 -> 2 and 1.
    assert totals.discount == 3
    assert [line.discount for line in totals.lines] == [2, 1]


def test_a_full_discount_leaves_zero_and_no_line_goes_below_zero() -> None:
    totals = compute(
        [LineInput("a", 1), LineInput("b", 0, (VAT19,)), LineInput("c", 999, (VAT19,))],
        [DiscountInput("ALL", rate=Decimal(1)), DiscountInput("MORE", amount=10)],
        exponent=2,
    )
    assert [line.base for line in totals.lines] == [0, 0, 0]
    assert totals.total == 0
    assert totals.unused_discounts == (("MORE", 10),)
    assert totals.tax_by_code == (("VAT19", 0),)


# ---------------------------------------------------------------- taxes


def test_tax_per_code_is_rounded_once_and_handed_to_the_lines() -> None:
    totals = compute(
        [LineInput("a", 1005, (VAT19,)), LineInput("b", 1005, (VAT19,)), LineInput("c", 1)],
        exponent=2,
    )
    # Exact: 190.95 and 190.95 (cents): invoice 381.9 -> 382; lines 191 and 191.
    assert totals.tax_by_code == (("VAT19", 382),)
    assert [line.taxes for line in totals.lines] == [(("VAT19", 191),), (("VAT19", 191),), ()]
    check_invariants(totals)


def test_several_rates_on_a_line_are_each_rounded_over_the_invoice() -> None:
    totals = compute(
        [LineInput("seat", 1999, (STATE, CITY)), LineInput("usage", 1, (STATE,))],
        exponent=2,
    )
    # STATE: 124.9375 + 0.0625 = 125 exactly -> lines 125 and 0 (floors, nothing missing).
    # CITY: 39.98 -> 40.
    assert totals.tax_by_code == (("STATE", 125), ("CITY", 40))
    assert totals.lines[0].taxes == (("STATE", 125), ("CITY", 40))
    assert totals.lines[1].taxes == (("STATE", 0),)
    check_invariants(totals)


def test_a_zero_rate_is_listed_with_zero_tax() -> None:
    exempt = TaxRate("EXEMPT", Decimal(0))
    totals = compute([LineInput("a", 500, (exempt,))], exponent=2)
    assert totals.tax_by_code == (("EXEMPT", 0),)
    assert totals.total == 500


def test_inclusive_line_splits_its_gross_exactly() -> None:
    totals = compute(
        [LineInput("a", 11900, (VAT19,), inclusive=True), LineInput("b", 1000, (VAT19,), True)],
        exponent=2,
    )
    # 119.00 gross = 100.00 + 19.00; 10.00 gross = 8.403... + 1.596... -> 8.40 + 1.60.
    assert (totals.lines[0].base, totals.lines[0].tax) == (10000, 1900)
    assert (totals.lines[1].base, totals.lines[1].tax) == (840, 160)
    assert totals.total == 12900
    assert totals.tax == totals.tax_included == 2060
    assert totals.subtotal - totals.discount == totals.total
    check_invariants(totals)


def test_inclusive_line_with_two_rates_and_a_gross_voucher() -> None:
    totals = compute(
        [LineInput("a", 1190, (VAT19, CITY), inclusive=True)],
        [DiscountInput("FIVE", amount=500)],
        exponent=2,
    )
    # The voucher takes 5.00 off the gross, leaving 6.90: exact net 6.90 / 1.21 = 5.7024...,
    # VAT 1.0834..., CITY 0.1140...; rounded down 5.70 + 1.08 + 0.11 = 6.89, and the
    # missing cent goes to the largest remainder, CITY's (0.405 of a cent).
    line = totals.lines[0]
    assert line.total == 690
    assert (line.base, line.taxes) == (570, (("VAT19", 108), ("CITY", 12)))
    check_invariants(totals)


def test_mixed_inclusive_and_exclusive_lines() -> None:
    totals = compute(
        [LineInput("b2c", 11900, (VAT19,), inclusive=True), LineInput("b2b", 10000, (VAT19,))],
        exponent=2,
    )
    assert totals.tax_by_code == (("VAT19", 3800),)
    assert totals.tax_included == 1900
    assert totals.total == 11900 + 11900
    check_invariants(totals)


def test_zero_decimal_currency() -> None:
    totals = compute([LineInput("a", 333, (VAT10,)), LineInput("b", 333, (VAT10,))], exponent=0)
    # JPY: exact 33.3 + 33.3 = 66.6 -> 67 yen, lines 34 and 33.
    assert totals.tax == 67
    assert [line.tax for line in totals.lines] == [34, 33]


def test_credits_are_capped_at_the_total() -> None:
    totals = compute([LineInput("a", 1000, (VAT10,))], credits=5000, exponent=2)
    assert totals.credits == 1100
    assert totals.amount_due == 0


def test_an_empty_invoice_is_zero() -> None:
    totals = compute([], [DiscountInput("X", amount=100)], credits=100, exponent=2)
    assert (totals.total, totals.credits, totals.amount_due) == (0, 0, 0)
    assert totals.unused_discounts == (("X", 100),)


def test_lookups() -> None:
    totals = compute([LineInput("a", 1000, (VAT10,))], exponent=2)
    assert totals.line("a").tax_of("VAT10") == 100
    assert totals.line("a").tax_of("OTHER") == 0
    assert totals.tax_of("VAT10") == 100
    assert totals.tax_of("OTHER") == 0
    with pytest.raises(KeyError):
        totals.line("missing")


# ---------------------------------------------------------------- Lago regressions


def test_regression_lago_821_829_831_vat_from_rounded_items_off_by_one() -> None:
    """VAT summed per rounded item is one cent above the invoice's VAT.

    getlago/lago-api#821 (invoice VAT), #829 and #831 (credit-note VAT): three items of
    0.15 at 10% each have an exact VAT of 0.015, 0.02 once rounded, 0.06 for the three;
    the invoice's VAT is 10% of 0.45 = 0.045 -> 0.05. finplug rounds the VAT of a code
    once for the invoice and hands 0.05 to the items by largest remainder.
    """
    totals = compute([LineInput(key, 15, (VAT10,)) for key in "abc"], exponent=2)
    assert totals.tax == 5
    assert [line.tax for line in totals.lines] == [2, 2, 1]
    assert sum(round_minor(Fraction(15) * Fraction(VAT10.rate), 0) for _ in "abc") == 6
    check_invariants(totals)


def test_regression_lago_2643_item_totals_add_up_to_the_invoice() -> None:
    """Items 68.33 + 68.33 + 57.50 + 85.00 at 20%: the invoice is 334.99, not 335.00.

    getlago/lago-api#2643: the invoice taxed the sum (334.992 -> 334.99) while per-item
    totals were 82.00 + 82.00 + 69.00 + 102.00 = 335.00. Here the items' taxes are the
    invoice's 55.83 handed out by largest remainder, so the items add up to 334.99.
    """
    totals = compute(
        [
            LineInput("a", 6833, (VAT20,)),
            LineInput("b", 6833, (VAT20,)),
            LineInput("c", 5750, (VAT20,)),
            LineInput("d", 8500, (VAT20,)),
        ],
        exponent=2,
    )
    assert totals.tax == 5583
    assert totals.total == 33499
    assert [line.total for line in totals.lines] == [8200, 8199, 6900, 10200]
    check_invariants(totals)


def test_regression_lago_4313_one_rounding_point_for_a_prorated_line() -> None:
    """200 prorated 29/30 with 25% tax: the line is rounded once, then taxed.

    getlago/lago-api#4313: the credit note rounded its tax on its own (241.66) while the
    invoice, which kept the unrounded 193.333..., said 241.67. In finplug the line's exact
    amount is rounded once (193.33) and the invoice shows 193.33 + 48.33 = 241.66; the
    credit notes take their tax from these amounts (see test_billing_credit_notes), so
    they never disagree with the invoice.
    """
    amount = round_minor(Fraction(200) / 30 * 29, 2)
    assert amount == 19333
    totals = compute([LineInput("prorated", amount, (VAT25,))], exponent=2)
    assert totals.tax == 4833
    assert totals.total == 24166
    check_invariants(totals)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TaxRate("", Decimal("0.1")), "tax code"),
        (lambda: TaxRate("T", 0.1), "as a Decimal"),  # type: ignore[arg-type]
        (lambda: TaxRate("T", Decimal(-1)), "from 0 to less than 10"),
        (lambda: TaxRate("T", Decimal(10)), "from 0 to less than 10"),
        (lambda: TaxRate("T", Decimal("NaN")), "from 0 to less than 10"),
        (lambda: LineInput("a", -1), "at least 0"),
        (lambda: LineInput("a", 1.5), "int of minor units"),  # type: ignore[arg-type]
        (lambda: LineInput("a", True), "int of minor units"),
        (lambda: LineInput("", 1), "line key"),
        (lambda: LineInput("a", 1, [VAT10]), "tuple of TaxRate"),  # type: ignore[arg-type]
        (lambda: LineInput("a", 1, (VAT10, VAT10)), "each tax code once"),
        (lambda: LineInput("a", 1, (), 1), "inclusive as a bool"),  # type: ignore[arg-type]
        (lambda: DiscountInput("d"), "exactly one"),
        (lambda: DiscountInput("d", amount=1, rate=Decimal("0.1")), "exactly one"),
        (lambda: DiscountInput("d", amount=-1), "at least 0"),
        (lambda: DiscountInput("d", rate=Decimal("1.5")), "from 0 to 1"),
        (lambda: DiscountInput("d", rate=0.1), "from 0 to 1"),  # type: ignore[arg-type]
        (lambda: compute([LineInput("a", 1)] * 2, exponent=2), "unique line keys"),
        (
            lambda: compute([LineInput("a", 1)], [DiscountInput("d", amount=1)] * 2, exponent=2),
            "unique discount codes",
        ),
        (
            lambda: compute(
                [
                    LineInput("a", 1, (VAT10,)),
                    LineInput("b", 1, (TaxRate("VAT10", Decimal("0.11")),)),
                ],
                exponent=2,
            ),
            "one rate per code",
        ),
        (lambda: compute([LineInput("a", 1)], credits=-1, exponent=2), "credits"),
        (lambda: compute([LineInput("a", 1)], exponent=-1), "exponent"),
        (lambda: compute([("a", 1)], exponent=2), "LineInput"),  # type: ignore[list-item]
    ],
)
def test_refusals(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=message):
        build()


def test_invoice_totals_rebuilt_from_stored_rows_must_be_consistent() -> None:
    totals = compute([LineInput("a", 1000, (VAT10,))], credits=100, exponent=2)
    assert dataclasses.replace(totals) == totals
    with pytest.raises(ValueError, match="do not add up to the total 1101"):
        dataclasses.replace(totals, total=1101)
    with pytest.raises(ValueError, match="is not base 1000 plus tax 100"):
        dataclasses.replace(totals, lines=(dataclasses.replace(totals.lines[0], total=1000),))
    with pytest.raises(ValueError, match="amount_due == total - credits"):
        dataclasses.replace(totals, amount_due=1100)
    with pytest.raises(ValueError, match="exponent"):
        dataclasses.replace(totals, exponent=-2)
