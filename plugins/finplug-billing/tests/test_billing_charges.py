"""Charge models: configuration checks, call checks, zero usage, exactness, the detail."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from finplug_billing.charges import (
    BUILT_IN,
    DYNAMIC,
    GRADUATED,
    GRADUATED_PERCENTAGE,
    PACKAGE,
    PERCENTAGE,
    STANDARD,
    VOLUME,
    ChargeModel,
    GraduatedProperties,
    StandardProperties,
    Usage,
    parse_properties,
)

D = Decimal

TIERS = [
    {"from_value": "0", "to_value": "100", "per_unit_amount": "1", "flat_amount": "5"},
    {"from_value": "100", "to_value": "200", "per_unit_amount": "0.5"},
    {"from_value": "200", "per_unit_amount": "0.1", "flat_amount": "7"},
]
RATE_TIERS = [
    {"from_value": "0", "to_value": "1000", "rate": "0.01", "flat_amount": "200"},
    {"from_value": "1000", "rate": "0.02"},
]

#: A valid configuration of every built-in model.
CONFIGS: dict[str, dict[str, Any]] = {
    "standard": {"amount": "0.05"},
    "graduated": {"tiers": TIERS},
    "volume": {"tiers": TIERS},
    "package": {"amount": "5", "package_size": 100, "free_units": "10"},
    "percentage": {
        "rate": "0.012",
        "fixed_amount": "0.10",
        "free_units_per_events": 1,
        "per_transaction_min_amount": "0.20",
        "per_transaction_max_amount": "5",
    },
    "graduated_percentage": {"tiers": RATE_TIERS},
    "dynamic": {},
}


def parsed(name: str, **changes: Any) -> BaseModel:
    return parse_properties(BUILT_IN[name], {**CONFIGS[name], **changes})


def invalid(name: str, config: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_properties(BUILT_IN[name], config)
    return caught.value


def locations(error: ValidationError) -> list[tuple[int | str, ...]]:
    return [tuple(e["loc"]) for e in error.errors()]


# ---------------------------------------------------------------- the registry


def test_built_in_lists_lagos_models() -> None:
    assert set(BUILT_IN) == {
        "standard",
        "graduated",
        "volume",
        "package",
        "percentage",
        "graduated_percentage",
        "dynamic",
    }
    for name, model in BUILT_IN.items():
        assert isinstance(model, ChargeModel)
        assert model.name == name
        assert isinstance(parse_properties(model, CONFIGS[name]), model.properties)


def test_built_in_is_read_only() -> None:
    with pytest.raises(TypeError):
        BUILT_IN["mine"] = STANDARD  # type: ignore[index]


def test_properties_of_another_model_are_refused() -> None:
    with pytest.raises(TypeError, match="expects GraduatedProperties"):
        GRADUATED.price(Usage(D(1)), StandardProperties(amount=D(1)))


def test_properties_are_frozen() -> None:
    properties = parsed("standard")
    with pytest.raises(ValidationError):
        properties.amount = D(2)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("standard", "amount"),
        ("package", "amount"),
        ("package", "free_units"),
        ("percentage", "fixed_amount"),
        ("percentage", "per_transaction_max_amount"),
    ],
)
def test_float_amounts_are_refused(name: str, field: str) -> None:
    error = invalid(name, {**CONFIGS[name], field: 0.1})
    assert (field,) in locations(error)
    assert "floats are not exact" in str(error)


def test_float_in_a_tier_is_refused_with_its_path() -> None:
    tiers: list[dict[str, Any]] = [{**TIERS[0], "per_unit_amount": 0.5}, *TIERS[1:]]
    error = invalid("graduated", {"tiers": tiers})
    assert ("tiers", 0, "per_unit_amount") in locations(error)


def test_float_rate_is_refused() -> None:
    assert ("rate",) in locations(invalid("percentage", {"rate": 0.01}))


def test_unknown_property_is_refused() -> None:
    error = invalid("standard", {"amount": "1", "currency": "EUR"})
    assert locations(error) == [("currency",)]
    assert locations(invalid("dynamic", {"amount": "1"})) == [("amount",)]


def test_missing_property_is_refused() -> None:
    assert locations(invalid("standard", {})) == [("amount",)]


@pytest.mark.parametrize("name", ["standard", "package"])
def test_negative_price_is_refused(name: str) -> None:
    assert ("amount",) in locations(invalid(name, {**CONFIGS[name], "amount": "-1"}))


@pytest.mark.parametrize("name", ["graduated", "volume"])
def test_non_contiguous_tiers_are_refused(name: str) -> None:
    # Lago's "0-100, 101-200" leaves a gap: finplug writes "0-100, 100-200".
    tiers = [TIERS[0], {**TIERS[1], "from_value": "101"}, TIERS[2]]
    error = invalid(name, {"tiers": tiers})
    assert locations(error) == [("tiers",)]
    assert "contiguous" in str(error)


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([], "at least one tier"),
        ([{**TIERS[0], "from_value": "1"}, *TIERS[1:]], "must start at 0"),
        ([TIERS[0], TIERS[1]], "must be open-ended"),
        ([TIERS[0], {**TIERS[1], "to_value": None}, TIERS[2]], "only the last tier"),
        ([TIERS[0], {**TIERS[1], "from_value": "90"}, TIERS[2]], "contiguous"),
    ],
    ids=["empty", "not-from-0", "closed-end", "open-middle", "overlap"],
)
def test_badly_shaped_tiers_are_refused(tiers: list[dict[str, Any]], message: str) -> None:
    assert message in str(invalid("graduated", {"tiers": tiers}))


def test_empty_tier_range_is_refused() -> None:
    tiers = [{**TIERS[0], "to_value": "0"}, {**TIERS[1], "from_value": "0"}, TIERS[2]]
    error = invalid("volume", {"tiers": tiers})
    assert ("tiers", 0) in locations(error)
    assert "greater than from_value" in str(error)


def test_rate_tiers_are_checked_too() -> None:
    tiers = [RATE_TIERS[0], {**RATE_TIERS[1], "from_value": "1001"}]
    assert "contiguous" in str(invalid("graduated_percentage", {"tiers": tiers}))
    above_one = [{**RATE_TIERS[0], "rate": "1.5"}, RATE_TIERS[1]]
    assert ("tiers", 0, "rate") in locations(invalid("graduated_percentage", {"tiers": above_one}))


@pytest.mark.parametrize("size", [0, -1, 2.0, "1.5", True])
def test_package_size_is_a_whole_number_from_one(size: object) -> None:
    error = invalid("package", {**CONFIGS["package"], "package_size": size})
    assert locations(error) == [("package_size",)]


def test_package_size_may_be_written_as_a_string() -> None:
    properties = parsed("package", package_size="25")
    assert properties.package_size == 25  # type: ignore[attr-defined]


def test_lago_percent_number_is_refused_as_a_rate() -> None:
    # Lago writes 1.2 % as "1.2"; finplug's rates are fractions ("0.012").
    error = invalid("percentage", {"rate": "1.2"})
    assert locations(error) == [("rate",)]
    assert "between 0 and 1" in str(error)


def test_percentage_maximum_below_minimum_is_refused() -> None:
    config = {**CONFIGS["percentage"], "per_transaction_max_amount": "0.10"}
    error = invalid("percentage", config)
    assert locations(error) == [("per_transaction_max_amount",)]
    assert "must not be below" in str(error)


def test_percentage_negative_free_events_are_refused() -> None:
    config = {**CONFIGS["percentage"], "free_units_per_events": -1}
    assert locations(invalid("percentage", config)) == [("free_units_per_events",)]


# ---------------------------------------------------------------- call arguments


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"units": D(-1)}, "units: expected zero or more"),
        ({"units": Fraction(-1, 3)}, "units: expected zero or more"),
        ({"units": 1.5}, "floats are not exact"),
        ({"units": True}, "got bool"),
        ({"units": D("NaN")}, "finite"),
        ({"units": D(1), "events": -1}, "events: expected zero or more"),
        ({"units": D(1), "amounts": (D(1), 0.5)}, r"amounts\[1\]"),
        ({"units": D(1), "amounts": (D(-1),)}, r"amounts\[0\]: expected zero or more"),
        ({"units": D(1), "amounts": (Fraction(1, 2),)}, "got a Fraction"),
        ({"units": D(2), "events": 3, "amounts": (D(1), D(1))}, "one amount per event"),
    ],
)
def test_bad_usage_is_a_value_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Usage(**kwargs)


def test_usage_counts_events_from_amounts_and_takes_ints() -> None:
    usage = Usage(3, amounts=(1, D(2)))  # type: ignore[arg-type]
    assert usage == Usage(D(3), events=2, amounts=(D(1), D(2)))
    assert isinstance(usage.units, Decimal)
    assert all(isinstance(a, Decimal) for a in usage.amounts)


@pytest.mark.parametrize("usage", [Usage(D(100), events=2), Usage(D(0), events=2)])
def test_percentage_needs_the_transactions_for_free_units_and_limits(usage: Usage) -> None:
    with pytest.raises(ValueError, match=r"Usage\.amounts"):
        PERCENTAGE.price(usage, parsed("percentage"))


def test_percentage_transactions_must_add_up_to_the_units() -> None:
    usage = Usage(D(100), amounts=(D(40), D(50)))
    with pytest.raises(ValueError, match=r"add up to Usage\.units \(100\)"):
        PERCENTAGE.price(usage, parsed("percentage"))
    with pytest.raises(ValueError, match="add up to"):
        PERCENTAGE.price(usage, parse_properties(PERCENTAGE, {"rate": "0.01"}))


def test_percentage_without_free_units_or_limits_needs_only_totals() -> None:
    properties = parse_properties(PERCENTAGE, {"rate": "0.01", "fixed_amount": "0.25"})
    result = PERCENTAGE.price(Usage(D(1000), events=4), properties)
    assert result.amount == D("11.00")


def test_dynamic_needs_the_event_prices() -> None:
    with pytest.raises(ValueError, match="one price per event"):
        DYNAMIC.price(Usage(D(3), events=3), parsed("dynamic"))


# ---------------------------------------------------------------- zero usage

ZERO_USAGE = {
    "standard": D(0),
    "graduated": D(5),  # the first tier's flat fee (Lago's implementation)
    "volume": D(5),  # the first tier's flat fee (Lago's implementation)
    "package": D(0),
    "percentage": D(0),
    "graduated_percentage": D(0),  # no tier entered (Lago's implementation)
    "dynamic": D(0),
}


@pytest.mark.parametrize("name", sorted(ZERO_USAGE))
def test_zero_usage(name: str) -> None:
    model = BUILT_IN[name]
    result = model.price(Usage(D(0)), parsed(name))
    assert result.amount == ZERO_USAGE[name]
    assert result.units == 0


def test_graduated_at_zero_lists_the_first_tier_only() -> None:
    (part,) = GRADUATED.price(Usage(D(0)), parsed("graduated")).parts
    assert part.label == "tier 1 (0 to 100)"
    assert [part.units, part.flat, part.amount] == [D(0), D(5), D(5)]


# ---------------------------------------------------------------- the detail

USAGES = [
    Usage(D(0)),
    Usage(D("99.5"), amounts=(D("0.5"), D(99))),
    Usage(D(100), amounts=(D(100),)),
    Usage(D("250.75"), amounts=(D("0.75"), D(150), D(100))),
    Usage(D(2000), amounts=(D(1000), D(400), D(600))),
]


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("usage", USAGES, ids=lambda u: str(u.units))
def test_parts_add_up_to_the_amount(name: str, usage: Usage) -> None:
    result = BUILT_IN[name].price(usage, parsed(name))
    assert sum((Fraction(p.amount) for p in result.parts), Fraction(0)) == result.amount
    for part in result.parts:
        assert Fraction(part.units) * Fraction(part.unit_price) + Fraction(part.flat) == part.amount
    assert result.units == usage.units
    assert isinstance(result.amount, Decimal)


def test_graduated_parts_name_their_tiers() -> None:
    result = GRADUATED.price(Usage(D(250)), parsed("graduated"))
    assert [p.label for p in result.parts] == [
        "tier 1 (0 to 100)",
        "tier 2 (100 to 200)",
        "tier 3 (above 200)",
    ]
    assert [p.amount for p in result.parts] == [D(105), D(50), D(12)]
    assert result.amount == D(167)


def test_percentage_detail() -> None:
    # 1.2 % + 0.10, first transaction free, each fee within [0.20, 5].
    usage = Usage(D(1011), amounts=(D(1), D(5), D(5), D(1000)))
    result = PERCENTAGE.price(usage, parsed("percentage"))
    fees = PERCENTAGE.transaction_fees(usage, parsed("percentage"))
    assert [f.fee for f in fees] == [D(0), D("0.20"), D("0.20"), D(5)]
    assert [(p.label, p.units, p.amount) for p in result.parts] == [
        ("free amount", D(1), D(0)),
        ("rate", D(1010), D("12.120")),
        ("fixed fees", D(3), D("0.30")),
        ("per-transaction minimum", D(2), D("0.08")),
        ("per-transaction maximum", D(1), D("-7.10")),
    ]
    assert result.amount == D("5.40")


# ---------------------------------------------------------------- exactness


def test_weighted_units_give_an_exact_fraction() -> None:
    # A weighted sum (Lago's page: 15.1612903226...) is a Fraction; nothing is rounded.
    weighted = Fraction(20 * 86_400 + 30 * 1_296_000, 2_678_400)
    result = STANDARD.price(Usage(weighted), parsed("standard"))
    assert result.amount == weighted * Fraction(5, 100)
    assert isinstance(result.amount, Fraction)
    tiered = GRADUATED.price(Usage(weighted), parsed("graduated"))
    assert tiered.amount == weighted * 1 + 5


def test_many_digits_are_not_rounded() -> None:
    # 38 significant digits times 38: the default decimal context would round this.
    price = "1.234567890123456789012345678901234567"
    quantity = D("98765432109876543210987654321.09876543")
    properties = parse_properties(STANDARD, {"amount": price})
    result = STANDARD.price(Usage(quantity), properties)
    assert Fraction(result.amount) == Fraction(quantity) * Fraction(D(price))


def test_package_counts_started_packages_of_fractional_usage() -> None:
    result = PACKAGE.price(Usage(Fraction(2021, 20)), parsed("package"))
    # 101.05 units, 10 free: 91.05 paid units are one started package of 100.
    assert result.amount == D(5)


def test_volume_uses_one_tier_even_when_cheaper() -> None:
    below = VOLUME.price(Usage(D(200)), parsed("volume"))
    above = VOLUME.price(Usage(D("200.5")), parsed("volume"))
    assert below.amount == D(100)
    assert above.amount == D("27.05")


def test_dynamic_unit_price_is_exact() -> None:
    result = DYNAMIC.price(Usage(D(4), amounts=(D("0.5"), D("0.5"))), parsed("dynamic"))
    (part,) = result.parts
    assert part.unit_price == D("0.25")
    assert isinstance(part.unit_price, Decimal)


def test_graduated_properties_keep_tiers_as_models() -> None:
    properties = parsed("graduated")
    assert isinstance(properties, GraduatedProperties)
    assert [t.to_value for t in properties.tiers] == [D(100), D(200), None]
    assert properties.tiers[1].flat_amount == 0


def test_graduated_percentage_amount_in_first_tier() -> None:
    result = GRADUATED_PERCENTAGE.price(Usage(D(500)), parsed("graduated_percentage"))
    assert result.amount == D("205.00")
