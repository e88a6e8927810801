"""Lago's charge-model examples, priced by finplug's built-in models.

The ``test_doc_*`` tests reproduce the examples on Lago's documentation pages
(each cites its page). The ``test_code_*`` tests are further boundary rows
taken from Lago's implementation (getlago/lago-api, its RSpec files under
spec/services/charge_models/), not from its documentation.

Lago writes whole-unit tiers with bounds included on both ends ("0-10, 11-20,
21+"); finplug writes the same tiers as contiguous ranges ("0-10, 10-20, 20+"),
which hold the same units. Lago's rates are percent numbers ("1.2"); finplug's
are fractions ("0.012").
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from itertools import pairwise

import pytest
from pydantic import BaseModel

from finplug_billing.charges import (
    DYNAMIC,
    GRADUATED,
    GRADUATED_PERCENTAGE,
    PACKAGE,
    PERCENTAGE,
    STANDARD,
    VOLUME,
    ChargeAmount,
    ChargeModel,
    Usage,
    parse_properties,
)

D = Decimal

DOCS = "https://getlago.com/docs/guide/plans/charges/charge-models/"


def tier(lo: str, hi: str | None, price: str, flat: str = "0") -> dict[str, object]:
    row: dict[str, object] = {"from_value": lo, "per_unit_amount": price, "flat_amount": flat}
    if hi is not None:
        row["to_value"] = hi
    return row


def rate_tier(lo: str, hi: str | None, rate: str, flat: str = "0") -> dict[str, object]:
    row: dict[str, object] = {"from_value": lo, "rate": rate, "flat_amount": flat}
    if hi is not None:
        row["to_value"] = hi
    return row


def price(model: ChargeModel, config: Mapping[str, object], usage: Usage) -> ChargeAmount:
    properties: BaseModel = parse_properties(model, config)
    result = model.price(usage, properties)
    assert sum((Fraction(p.amount) for p in result.parts), Fraction(0)) == result.amount
    return result


def units(value: str) -> Usage:
    return Usage(D(value))


def transactions(*amounts: str) -> Usage:
    values = tuple(D(a) for a in amounts)
    return Usage(sum(values, D(0)), amounts=values)


# ---------------------------------------------------------------- standard


def test_doc_standard_five_cents_per_unit() -> None:
    """$0.05 per unit, 1,000 units: $50.

    https://getlago.com/docs/guide/plans/charges/charge-models/standard
    """
    assert price(STANDARD, {"amount": "0.05"}, units("1000")).amount == D("50")


# ---------------------------------------------------------------- graduated


def test_doc_graduated_three_tiers() -> None:
    """Tiers 1-100 at $1, 101-200 at $0.50, 201+ at $0.10; 250 units.

    https://getlago.com/docs/guide/plans/charges/charge-models/graduated
    The page prints no total (only a screenshot); 100 + 50 + 5 = $155 is
    arithmetic on its rule that each tier prices the units falling in it.
    """
    config = {
        "tiers": [tier("0", "100", "1"), tier("100", "200", "0.50"), tier("200", None, "0.10")]
    }
    result = price(GRADUATED, config, units("250"))
    assert result.amount == D("155")
    assert [p.amount for p in result.parts] == [D("100"), D("50"), D("5")]
    assert [p.units for p in result.parts] == [D("100"), D("100"), D("50")]


GRADUATED_CODE = {
    "tiers": [
        tier("0", "10", "10", "2"),
        tier("10", "20", "5", "3"),
        tier("20", None, "5", "3"),
    ]
}


@pytest.mark.parametrize(
    ("used", "expected"),
    [("0", "2"), ("1", "12"), ("10", "102"), ("11", "110"), ("12", "115"), ("21", "163")],
)
def test_code_graduated_flat_fees(used: str, expected: str) -> None:
    # Lago implementation: spec/services/charge_models/graduated_service_spec.rb
    # (tiers 0-10 @10 + 2, 11-20 @5 + 3, 21+ @5 + 3). The first tier's flat fee is
    # charged at zero usage.
    assert price(GRADUATED, GRADUATED_CODE, units(used)).amount == D(expected)


@pytest.mark.parametrize(("used", "expected"), [("0.05", "0.5"), ("0.5", "3.0")])
def test_code_graduated_decimal_tiers(used: str, expected: str) -> None:
    # Lago implementation: graduated_service_spec.rb, adjacent decimal bounds.
    config = {"tiers": [tier("0", "0.1", "10"), tier("0.1", "1", "5"), tier("1", None, "2")]}
    assert price(GRADUATED, config, units(used)).amount == D(expected)


# ---------------------------------------------------------------- volume


def test_doc_volume_65000_units() -> None:
    """65,000 units fall in the 50,001-100,000 tier: 65,000 x $0.0006 + $10 = $49.

    https://getlago.com/docs/guide/plans/charges/charge-models/volume
    """
    config = {
        "tiers": [
            tier("0", "10000", "0.0010", "10"),
            tier("10000", "50000", "0.0008", "10"),
            tier("50000", "100000", "0.0006", "10"),
            tier("100000", None, "0.0004", "10"),
        ]
    }
    result = price(VOLUME, config, units("65000"))
    assert result.amount == D("49")
    (part,) = result.parts
    assert (part.units, part.unit_price, part.flat) == (D("65000"), D("0.0006"), D("10"))


VOLUME_CODE = {
    "tiers": [
        tier("0", "100", "2", "10"),
        tier("100", "200", "1", "0"),
        tier("200", None, "0.5", "50"),
    ]
}


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        ("0", "10"),
        ("1", "12"),
        ("100", "210"),
        ("100.5", "100.5"),
        ("101", "101"),
        ("200", "200"),
        ("300", "200"),
    ],
)
def test_code_volume_boundaries(used: str, expected: str) -> None:
    # Lago implementation: spec/services/charge_models/volume_service_spec.rb
    # (tiers 0-100 @2 + 10, 101-200 @1, 201+ @0.5 + 50). 100.5 is priced in the
    # upper tier, as Lago does.
    assert price(VOLUME, VOLUME_CODE, units(used)).amount == D(expected)


def test_code_volume_negative_usage_is_refused() -> None:
    # Lago's implementation prices -5 units at 0; finplug refuses negative usage.
    with pytest.raises(ValueError, match="zero or more"):
        units("-5")


# ---------------------------------------------------------------- package


def test_doc_package_with_free_units() -> None:
    """$5 per 100 units, first 100 free, 201 units: $0 + $5 + $5 = $10.

    https://getlago.com/docs/guide/plans/charges/charge-models/package
    """
    config = {"amount": "5", "package_size": 100, "free_units": "100"}
    result = price(PACKAGE, config, units("201"))
    assert result.amount == D("10")
    assert [(p.label, p.units) for p in result.parts] == [
        ("free units", D("100")),
        ("packages of 100", D("2")),
    ]


@pytest.mark.parametrize(("free", "expected"), [("0", "1300"), ("10", "1200"), ("200", "0")])
def test_code_package_rows(free: str, expected: str) -> None:
    # Lago implementation: spec/services/charge_models/package_service_spec.rb
    # ($100 per package of 10, 121 units).
    config = {"amount": "100", "package_size": 10, "free_units": free}
    assert price(PACKAGE, config, units("121")).amount == D(expected)


# ---------------------------------------------------------------- percentage


def test_doc_percentage_free_events_or_free_amount() -> None:
    """1.2 % + $0.10 per transaction, free: the first 3 transactions or the first $500.

    https://getlago.com/docs/guide/plans/charges/charge-models/percentage
    Transactions 200, 100, 100 are free; the 4th ($50) pays 0.10 + 1.2 % x 50
    = $0.70 on its whole amount, although the running total (450) is still
    under $500: the allowance ends when either limit is used up.
    """
    config = {
        "rate": "0.012",
        "fixed_amount": "0.10",
        "free_units_per_events": 3,
        "free_units_per_total_aggregation": "500",
    }
    usage = transactions("200", "100", "100", "50")
    fees = PERCENTAGE.transaction_fees(usage, parse_properties(PERCENTAGE, config))
    assert [f.fee for f in fees] == [D(0), D(0), D(0), D("0.70")]
    assert [f.free for f in fees] == [True, True, True, False]
    assert price(PERCENTAGE, config, usage).amount == D("0.70")


LIMITS = {
    "rate": "0.0299",
    "per_transaction_min_amount": "1.75",
    "per_transaction_max_amount": "12",
}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "16.142"),
        ({"fixed_amount": "2.0"}, "18.691"),
        ({"free_units_per_events": 2}, "12"),
        ({"free_units_per_total_aggregation": "30"}, "13.794"),
        ({"free_units_per_events": 3, "free_units_per_total_aggregation": "10000"}, "2.691"),
    ],
    ids=["limits", "fixed-fee", "2-free-events", "free-amount-30", "free-amount-used-up"],
)
def test_code_percentage_per_transaction_limits(extra: dict[str, object], expected: str) -> None:
    # Lago implementation: spec/services/charge_models/percentage_service_spec.rb
    # (2.99 %, minimum 1.75, maximum 12; transactions 10, 80, 10,000). Free
    # transactions pay nothing, the minimum is not applied to them.
    usage = transactions("10", "80", "10000")
    assert price(PERCENTAGE, {**LIMITS, **extra}, usage).amount == D(expected)


def test_code_percentage_without_limits() -> None:
    # Lago implementation: the same spec without its paid licence ignores the limits;
    # finplug's equivalent is leaving them out: 10,090 x 2.99 %.
    usage = transactions("10", "80", "10000")
    assert price(PERCENTAGE, {"rate": "0.0299"}, usage).amount == D("301.691")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"free_units_per_events": 3, "free_units_per_total_aggregation": "250"}, "11.15"),
        ({"free_units_per_events": 3}, "7.2"),
        ({}, "18.4"),
        ({"rate": "0"}, "8"),
        ({"free_units_per_events": 5}, "0"),
    ],
    ids=["3-events-or-250", "3-events", "no-free", "rate-0", "5-free-of-4"],
)
def test_code_percentage_in_arrears(config: dict[str, object], expected: str) -> None:
    # Lago implementation: percentage_service_spec.rb (1.3 %, fixed 2.0, four events
    # with running totals 50 / 150 / 400 / 800). With 250 free, the third event uses
    # up the free amount: its excess pays the rate and it pays the fixed fee.
    usage = transactions("50", "100", "250", "400")
    full = {"rate": "0.013", "fixed_amount": "2.0", **config}
    assert price(PERCENTAGE, full, usage).amount == D(expected)


def test_code_percentage_small_amount() -> None:
    # Lago implementation: percentage_service_spec.rb, 4 units at 2.9 %.
    assert price(PERCENTAGE, {"rate": "0.029"}, units("4")).amount == D("0.116")


# ---------------------------------------------------------------- graduated percentage

GP_DOC = {
    "tiers": [
        rate_tier("0", "1000", "0.01", "200"),
        rate_tier("1000", "10000", "0.02", "300"),
        rate_tier("10000", None, "0.03", "400"),
    ]
}


def test_doc_graduated_percentage_successive_transactions() -> None:
    """Transactions of $500, $550, $4,000 cost $205, $306, $80.

    https://getlago.com/docs/guide/plans/charges/charge-models/graduated-percentage
    Each transaction pays the price of the running total after it less the
    price before it, so a tier's flat fee is paid once, on entering the tier.
    """
    totals = [D(0), D("500"), D("1050"), D("5050")]
    prices = [price(GRADUATED_PERCENTAGE, GP_DOC, Usage(t)).amount for t in totals]
    fees = [Fraction(after) - Fraction(before) for before, after in pairwise(prices)]
    assert fees == [D("205.00"), D("306.00"), D("80.00")]


def test_doc_graduated_percentage_in_arrears() -> None:
    """The same $5,050 priced once at the end of the period: $591.

    https://getlago.com/docs/guide/plans/charges/charge-models/graduated-percentage
    (the total is arithmetic on the page's tiers: 10 + 81 + 200 + 300).
    """
    result = price(GRADUATED_PERCENTAGE, GP_DOC, units("5050"))
    assert result.amount == D("591")
    assert [p.amount for p in result.parts] == [D("210"), D("381")]


GP_CODE = {
    "tiers": [
        rate_tier("0", "10", "0.01", "200"),
        rate_tier("10", "20", "0.02", "300"),
        rate_tier("20", None, "0.03", "400"),
    ]
}


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0", "0"),
        ("1", "200.01"),
        ("10", "200.10"),
        ("11", "500.12"),
        ("12", "500.14"),
        ("21", "900.33"),
    ],
)
def test_code_graduated_percentage_rows(amount: str, expected: str) -> None:
    # Lago implementation: spec/services/charge_models/graduated_percentage_service_spec.rb.
    # An amount of 0 costs nothing (no first-tier flat fee, unlike graduated).
    assert price(GRADUATED_PERCENTAGE, GP_CODE, units(amount)).amount == D(expected)


# ---------------------------------------------------------------- dynamic


def test_doc_dynamic_five_events() -> None:
    """Five events carrying their prices: one fee of $5.35 for 37 units.

    https://getlago.com/docs/guide/plans/charges/charge-models/dynamic
    The page shows the unit price 0.144594: 5.35 / 37 cut (not rounded) to six
    places. finplug keeps the exact quotient; the renderer chooses the digits.
    """
    usage = Usage(D(37), amounts=(D("0.70"), D("0.55"), D("2.20"), D("1.40"), D("0.50")))
    result = price(DYNAMIC, {}, usage)
    assert (result.amount, result.units) == (D("5.35"), D(37))
    (part,) = result.parts
    assert part.unit_price == Fraction(535, 3700)
    truncated = (D(535) / D(3700)).quantize(D("0.000001"), rounding=ROUND_DOWN)
    assert truncated == D("0.144594")


def test_doc_dynamic_three_events_older_page() -> None:
    """The older page's three events: 22 units, $3.45 (its prose says $3.435, a typo).

    https://getlago.com/docs/guide/plans/charges/charge-models/dynamic
    """
    usage = Usage(D(22), amounts=(D("0.70"), D("0.55"), D("2.20")))
    assert price(DYNAMIC, {}, usage).amount == D("3.45")


def test_code_dynamic_zero_units_cost_nothing() -> None:
    # Lago implementation: app/services/charge_models/dynamic_service.rb.
    assert price(DYNAMIC, {}, Usage(D(0), amounts=(D("1.00"),))).amount == 0


# ---------------------------------------------------------------- rounding on the invoice


def test_amounts_are_rounded_once_by_the_invoice() -> None:
    from finplug_billing.totals import round_minor

    small = price(PERCENTAGE, {"rate": "0.029"}, units("4")).amount
    assert round_minor(small, 2) == 12
    capped = price(PERCENTAGE, LIMITS, transactions("10", "80", "10000")).amount
    assert round_minor(capped, 2) == 1614
