"""Charge models: properties that hold for any configuration and usage (hypothesis)."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from finplug_billing.charges import (
    BUILT_IN,
    GRADUATED_PERCENTAGE,
    PERCENTAGE,
    STANDARD,
    ChargeAmount,
    Exact,
    Usage,
    parse_properties,
)

PROPERTY = settings(max_examples=120, deadline=None)

D = Decimal


def decimals(top: int = 100_000, places: int = 4) -> st.SearchStrategy[Decimal]:
    return st.decimals(
        min_value=0, max_value=top, places=places, allow_nan=False, allow_infinity=False
    )


prices = decimals(100, 4)
quantities = decimals(100_000, 3)


@st.composite
def bounds(draw: st.DrawFn) -> list[Decimal]:
    """Increasing tier bounds above 0 (the last tier is open-ended)."""
    values = draw(st.lists(decimals(10_000, 2).filter(lambda v: v > 0), max_size=4, unique=True))
    return sorted(values)


def ranges(upper: list[Decimal]) -> list[tuple[Decimal, Decimal | None]]:
    lows = [D(0), *upper]
    highs: list[Decimal | None] = [*upper, None]
    return list(zip(lows, highs, strict=True))


def row(lo: Decimal, hi: Decimal | None, **fields: Decimal) -> dict[str, Any]:
    out: dict[str, Any] = {"from_value": str(lo), **{k: str(v) for k, v in fields.items()}}
    if hi is not None:
        out["to_value"] = str(hi)
    return out


@st.composite
def price_tiers(draw: st.DrawFn, *, flat: bool = True) -> list[dict[str, Any]]:
    return [
        row(lo, hi, per_unit_amount=draw(prices), flat_amount=draw(prices) if flat else D(0))
        for lo, hi in ranges(draw(bounds()))
    ]


@st.composite
def decreasing_tiers(draw: st.DrawFn) -> list[dict[str, Any]]:
    spans = ranges(draw(bounds()))
    unit_prices = sorted(draw(st.lists(prices, min_size=len(spans), max_size=len(spans))))
    return [
        row(lo, hi, per_unit_amount=p)
        for (lo, hi), p in zip(spans, reversed(unit_prices), strict=True)
    ]


rates = decimals(1, 4)


@st.composite
def rate_tiers(draw: st.DrawFn) -> list[dict[str, Any]]:
    return [
        row(lo, hi, rate=draw(rates), flat_amount=draw(prices)) for lo, hi in ranges(draw(bounds()))
    ]


@st.composite
def percentage_configs(draw: st.DrawFn) -> dict[str, Any]:
    config: dict[str, Any] = {"rate": str(draw(rates)), "fixed_amount": str(draw(prices))}
    if draw(st.booleans()):
        config["free_units_per_events"] = draw(st.integers(0, 6))
    if draw(st.booleans()):
        config["free_units_per_total_aggregation"] = str(draw(decimals(5_000, 2)))
    limits = sorted(draw(st.lists(decimals(50, 2), min_size=2, max_size=2)))
    if draw(st.booleans()):
        config["per_transaction_min_amount"] = str(limits[0])
    if draw(st.booleans()):
        config["per_transaction_max_amount"] = str(limits[1])
    return config


transactions = st.lists(decimals(5_000, 2), max_size=12).map(tuple)


def of(amounts: tuple[Decimal, ...]) -> Usage:
    return Usage(sum(amounts, D(0)), amounts=amounts)


def price(name: str, config: dict[str, Any], usage: Usage) -> ChargeAmount:
    model = BUILT_IN[name]
    result = model.price(usage, parse_properties(model, config))
    assert isinstance(result.amount, Decimal | Fraction)
    for part in result.parts:
        for value in (part.units, part.unit_price, part.flat, part.amount):
            assert isinstance(value, Decimal | Fraction)
    return result


def amount(name: str, config: dict[str, Any], units: Exact) -> Exact:
    return price(name, config, Usage(units)).amount


def parts_total(result: ChargeAmount) -> Fraction:
    return sum((Fraction(p.amount) for p in result.parts), Fraction(0))


@st.composite
def any_charge(draw: st.DrawFn) -> tuple[str, dict[str, Any], Usage]:
    name = draw(st.sampled_from(sorted(BUILT_IN)))
    amounts = draw(transactions)
    usage = of(amounts)
    config: dict[str, Any]
    if name == "standard":
        config = {"amount": str(draw(prices))}
    elif name in ("graduated", "volume"):
        config = {"tiers": draw(price_tiers())}
    elif name == "package":
        config = {
            "amount": str(draw(prices)),
            "package_size": draw(st.integers(1, 500)),
            "free_units": str(draw(decimals(1_000, 2))),
        }
    elif name == "percentage":
        config = draw(percentage_configs())
    elif name == "graduated_percentage":
        config = {"tiers": draw(rate_tiers())}
    else:
        config = {}
    return name, config, usage


# ---------------------------------------------------------------- every model


@PROPERTY
@given(any_charge())
def test_amounts_are_exact_never_negative_and_parts_add_up(
    charge: tuple[str, dict[str, Any], Usage],
) -> None:
    name, config, usage = charge
    result = price(name, config, usage)
    assert result.amount >= 0
    assert parts_total(result) == result.amount
    # Decimal usage and Decimal prices give a Decimal: nothing needed a fraction.
    assert isinstance(result.amount, Decimal)


@PROPERTY
@given(any_charge(), st.integers(1, 10_000), st.integers(1, 10_000))
def test_fractional_units_stay_exact(
    charge: tuple[str, dict[str, Any], Usage], numerator: int, denominator: int
) -> None:
    name, config, _ = charge
    if name in ("percentage", "dynamic"):
        return  # these price each event's Decimal amount, not a weighted aggregate
    units = Fraction(numerator, denominator * 3)
    result = price(name, config, Usage(units))
    assert result.amount >= 0
    assert parts_total(result) == result.amount


# ---------------------------------------------------------------- monotone models


@PROPERTY
@given(prices, quantities, quantities)
def test_standard_is_monotone(unit_price: Decimal, a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    config = {"amount": str(unit_price)}
    assert amount("standard", config, low) <= amount("standard", config, high)
    assert amount("standard", config, high) == high * unit_price


@PROPERTY
@given(price_tiers(), quantities, quantities)
def test_graduated_is_monotone(tiers: list[dict[str, Any]], a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    config = {"tiers": tiers}
    assert amount("graduated", config, low) <= amount("graduated", config, high)


@PROPERTY
@given(rate_tiers(), quantities, quantities)
def test_graduated_percentage_is_monotone(
    tiers: list[dict[str, Any]], a: Decimal, b: Decimal
) -> None:
    low, high = sorted((a, b))
    config = {"tiers": tiers}
    assert amount("graduated_percentage", config, low) <= amount(
        "graduated_percentage", config, high
    )


@PROPERTY
@given(prices, st.integers(1, 500), decimals(1_000, 2), quantities, quantities)
def test_package_is_monotone_and_counts_started_packages(
    package_price: Decimal, size: int, free: Decimal, a: Decimal, b: Decimal
) -> None:
    low, high = sorted((a, b))
    config = {"amount": str(package_price), "package_size": size, "free_units": str(free)}
    assert amount("package", config, low) <= amount("package", config, high)
    paid = max(high - free, D(0))
    assert amount("package", config, high) == math.ceil(Fraction(paid) / size) * package_price


# ---------------------------------------------------------------- tiered models


@PROPERTY
@given(price_tiers(), quantities)
def test_graduated_prices_each_tier_on_its_own_units(
    tiers: list[dict[str, Any]], units: Decimal
) -> None:
    # An independent sum: every tier's share of [0, units] at its unit price, plus the
    # flat fee of each tier reached (the first one always).
    expected = Fraction(0)
    for index, tier in enumerate(tiers):
        lo = Fraction(D(tier["from_value"]))
        hi = Fraction(D(tier["to_value"])) if "to_value" in tier else None
        if index and units <= lo:
            continue
        top = Fraction(units) if hi is None else min(Fraction(units), hi)
        expected += (top - lo) * Fraction(D(tier["per_unit_amount"]))
        expected += Fraction(D(tier["flat_amount"]))
    result = price("graduated", {"tiers": tiers}, Usage(units))
    assert result.amount == expected
    assert parts_total(result) == expected


@PROPERTY
@given(decreasing_tiers(), quantities)
def test_graduated_lies_between_volume_and_the_first_tier_price(
    tiers: list[dict[str, Any]], units: Decimal
) -> None:
    # With unit prices falling from tier to tier and no flat fees, volume pricing (every
    # unit at the last tier's price) is the cheapest and the first tier's price the dearest.
    config = {"tiers": tiers}
    graduated = amount("graduated", config, units)
    volume = amount("volume", config, units)
    first = D(tiers[0]["per_unit_amount"])
    assert volume <= graduated <= units * first


@PROPERTY
@given(price_tiers(), quantities)
def test_volume_prices_every_unit_in_one_tier(tiers: list[dict[str, Any]], units: Decimal) -> None:
    result = price("volume", {"tiers": tiers}, Usage(units))
    (part,) = result.parts
    matches = [
        t
        for i, t in enumerate(tiers)
        if (units > D(t["from_value"]) or i == 0)
        and ("to_value" not in t or units <= D(t["to_value"]))
    ]
    assert len(matches) == 1
    (tier,) = matches
    assert part.units == units
    assert part.unit_price == D(tier["per_unit_amount"])
    assert result.amount == units * D(tier["per_unit_amount"]) + D(tier["flat_amount"])


# ---------------------------------------------------------------- percentage


@PROPERTY
@given(percentage_configs(), transactions)
def test_percentage_fees_stay_within_the_limits(
    config: dict[str, Any], amounts: tuple[Decimal, ...]
) -> None:
    usage = of(amounts)
    properties = parse_properties(PERCENTAGE, config)
    fees = PERCENTAGE.transaction_fees(usage, properties)
    assert [f.amount for f in fees] == list(amounts)
    minimum = D(config.get("per_transaction_min_amount", "0"))
    maximum = config.get("per_transaction_max_amount")
    for fee in fees:
        if fee.free:
            assert fee.fee == 0
            assert fee.charged == 0
            continue
        assert minimum <= fee.fee
        if maximum is not None:
            assert fee.fee <= D(maximum)
        assert 0 <= fee.charged <= fee.amount
    total = sum((Fraction(f.fee) for f in fees), Fraction(0))
    assert PERCENTAGE.price(usage, properties).amount == total


@PROPERTY
@given(percentage_configs(), transactions)
def test_percentage_free_allowance_respects_both_limits(
    config: dict[str, Any], amounts: tuple[Decimal, ...]
) -> None:
    fees = PERCENTAGE.transaction_fees(of(amounts), parse_properties(PERCENTAGE, config))
    free = [f for f in fees if f.free]
    # The free transactions come first, in a row.
    assert fees[: len(free)] == tuple(free)
    if "free_units_per_events" in config:
        assert len(free) <= config["free_units_per_events"]
    if "free_units_per_total_aggregation" in config:
        exempt = sum((f.amount - f.charged for f in fees), D(0))
        assert exempt <= D(config["free_units_per_total_aggregation"])
    if "free_units_per_events" not in config and "free_units_per_total_aggregation" not in config:
        assert not free


@PROPERTY
@given(percentage_configs(), transactions)
def test_percentage_paid_in_advance_adds_up_to_in_arrears(
    config: dict[str, Any], amounts: tuple[Decimal, ...]
) -> None:
    # Each transaction's fee is the price of the transactions up to it less the price
    # of those before it.
    properties = parse_properties(PERCENTAGE, config)
    fees = PERCENTAGE.transaction_fees(of(amounts), properties)
    for count in range(1, len(amounts) + 1):
        before = PERCENTAGE.price(of(amounts[: count - 1]), properties).amount
        after = PERCENTAGE.price(of(amounts[:count]), properties).amount
        assert Fraction(after) - Fraction(before) == fees[count - 1].fee


@PROPERTY
@given(rates, prices, transactions)
def test_percentage_totals_match_transactions_without_free_units_or_limits(
    rate: Decimal, fixed: Decimal, amounts: tuple[Decimal, ...]
) -> None:
    config = {"rate": str(rate), "fixed_amount": str(fixed)}
    properties = parse_properties(PERCENTAGE, config)
    usage = of(amounts)
    by_totals = PERCENTAGE.price(Usage(usage.units, events=usage.events), properties).amount
    assert by_totals == PERCENTAGE.price(usage, properties).amount
    assert by_totals == Fraction(usage.units) * Fraction(rate) + len(amounts) * Fraction(fixed)


@PROPERTY
@given(quantities, prices)
def test_standard_is_percentage_without_fixed_fee(units: Decimal, rate_number: Decimal) -> None:
    rate = rate_number / 100  # exact: a shift of the decimal point
    assert (
        STANDARD.price(Usage(units), parse_properties(STANDARD, {"amount": str(rate)})).amount
        == PERCENTAGE.price(Usage(units), parse_properties(PERCENTAGE, {"rate": str(rate)})).amount
    )


@PROPERTY
@given(rate_tiers(), quantities, quantities)
def test_graduated_percentage_in_advance_is_never_negative_and_bounded(
    tiers: list[dict[str, Any]], a: Decimal, b: Decimal
) -> None:
    # Paid in advance, a second transaction pays the price of the running total less the
    # first's price: never negative, and the total stays under the dearest rate plus
    # every flat fee once.
    properties = parse_properties(GRADUATED_PERCENTAGE, {"tiers": tiers})
    first = GRADUATED_PERCENTAGE.price(Usage(a), properties).amount
    both = GRADUATED_PERCENTAGE.price(Usage(a + b), properties).amount
    second = Fraction(both) - Fraction(first)
    assert second >= 0
    flats = sum((D(t["flat_amount"]) for t in tiers), D(0))
    top_rate = max(D(t["rate"]) for t in tiers)
    assert both <= (a + b) * top_rate + flats
