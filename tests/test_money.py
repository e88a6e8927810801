"""Money, Currency, allocate and the pydantic field types of ``finplug.types``."""

from __future__ import annotations

import copy
import decimal
import operator
import pickle
import string
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from babel.core import get_global
from babel.numbers import get_currency_precision, list_currencies
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from finplug import Currency, Money, MoneyError, allocate, currency
from finplug._money import (
    NON_MONEY_CODES,
    ROUND_HALF_EVEN,
    SHOWN_CHARACTERS,
    decimal_from_string,
)
from finplug.types import Amount, CountryCode, CurrencyCode, Rate

# Reference arithmetic for the tests: wide enough for every amount Money accepts,
# and trapping Inexact so that a reference value is never silently rounded.
WIDE = decimal.Context(
    prec=200,
    traps=[decimal.Inexact, decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)

CODES = ("EUR", "JPY", "KWD", "USD")
"""Currencies with 2, 0, 3 and 2 minor-unit digits."""

REALISTIC = 10**15
"""Bound on minor units for "everyday" amounts (ten trillion euros)."""

LARGEST = 10**38 - 1
"""The largest count of minor units Money accepts: 38 significant digits."""

PROPERTY = settings(max_examples=150, deadline=None)


def exact(minor: int, cur: Currency) -> Decimal:
    """``minor`` minor units of ``cur`` as a Decimal, computed without rounding."""
    return Decimal(minor).scaleb(-cur.exponent, context=WIDE)


def money_from(minor: int, cur: Currency) -> Money:
    """A Money built through the constructor (not ``from_minor``), exactly."""
    return Money(exact(minor, cur), cur)


currencies = st.sampled_from(CODES).map(currency)


@st.composite
def same_currency(draw: st.DrawFn, count: int, bound: int = REALISTIC) -> tuple[Money, ...]:
    cur = draw(currencies)
    minors = draw(st.lists(st.integers(-bound, bound), min_size=count, max_size=count))
    return tuple(money_from(m, cur) for m in minors)


ratio_values = st.one_of(
    st.integers(0, 1000),
    st.integers(0, 10**7).map(lambda n: Decimal(n).scaleb(-4, context=WIDE)),
)
ratio_lists = st.lists(ratio_values, min_size=1, max_size=8).filter(
    lambda rs: any(Decimal(r) != 0 for r in rs)
)


# ------------------------------------------------------------------ currencies


@pytest.mark.parametrize(("code", "digits"), [("EUR", 2), ("JPY", 0), ("KWD", 3)])
def test_minor_unit_digits_come_from_cldr(code: str, digits: int) -> None:
    cur = currency(code)
    assert cur.exponent == digits
    assert cur.exponent == get_currency_precision(code)
    assert cur.quantum == Decimal(1).scaleb(-digits)
    assert cur.code == code


@pytest.mark.parametrize("code", ["eur", "Eur", " eur ", "EUR"])
def test_currency_codes_are_normalised_to_upper_case(code: str) -> None:
    assert currency(code) is currency("EUR")
    assert Money("1.50", code).currency is currency("EUR")
    assert Money("1.50", code) == Money("1.50", "EUR")


@pytest.mark.parametrize("code", ["ABC", "QQQ", "EURO", "EU", "", "€"])
def test_unknown_currency_codes_raise(code: str) -> None:
    with pytest.raises(MoneyError, match="unknown currency"):
        currency(code)
    with pytest.raises(MoneyError):
        Money("1", code)


def test_currency_code_must_be_a_string() -> None:
    with pytest.raises(MoneyError, match="ISO 4217"):
        currency(978)  # type: ignore[arg-type]


def test_currencies_are_interned_and_immutable() -> None:
    eur = currency("EUR")
    assert currency(eur) is eur
    with pytest.raises(AttributeError):
        eur.code = "USD"
    with pytest.raises(AttributeError):
        eur.exponent = 3
    assert eur.code == "EUR"
    assert eur.exponent == 2
    assert pickle.loads(pickle.dumps(eur)) is eur
    assert copy.deepcopy(eur) is eur
    assert str(eur) == "EUR"


def test_currency_attributes_cannot_be_deleted() -> None:
    # A fresh instance, never the interned one: if ``del`` succeeds it must not
    # break the EUR every other test uses.
    cur = Currency("EUR", 2)
    with pytest.raises(AttributeError):
        del cur.code
    assert cur.code == "EUR"


# ------------------------------------------------------------------ construction


@pytest.mark.parametrize(
    ("amount", "code", "expected"),
    [
        (Decimal("10.50"), "EUR", "10.50"),
        ("10.5", "EUR", "10.50"),
        (" 10.50 ", "EUR", "10.50"),
        (10, "EUR", "10.00"),
        (-3, "EUR", "-3.00"),
        ("1e2", "EUR", "100.00"),
        ("10.0100", "EUR", "10.01"),
        (1500, "JPY", "1500"),
        ("1500.000", "JPY", "1500"),
        ("1.5", "KWD", "1.500"),
        ("0.001", "KWD", "0.001"),
    ],
)
def test_accepts_decimals_ints_and_decimal_strings(
    amount: Decimal | int | str, code: str, expected: str
) -> None:
    money = Money(amount, code)
    assert money.amount == Decimal(expected)
    # Quantized to the minor unit: the exponent is exactly the currency's.
    assert money.amount.as_tuple().exponent == -currency(code).exponent
    assert str(money.amount) == expected


@pytest.mark.parametrize(
    "amount",
    [
        0.1,
        1.0,
        0.0,
        True,
        False,
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        "NaN",
        "Infinity",
        "-Infinity",
        "inf",
        "abc",
        "",
        "1,50",
        None,
        [1],
        b"1",
    ],
)
def test_rejects_inexact_or_non_numeric_amounts(amount: Any) -> None:
    with pytest.raises(MoneyError):
        Money(amount, "EUR")
    with pytest.raises(MoneyError):
        Money.of(amount, "EUR", rounding=ROUND_HALF_EVEN)


def test_float_rejection_says_why() -> None:
    with pytest.raises(MoneyError, match="float"):
        Money(0.1, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "code"),
    [("10.001", "EUR"), ("0.005", "EUR"), ("1.5", "JPY"), ("0.1", "JPY"), ("0.0001", "KWD")],
)
def test_rejects_amounts_finer_than_the_minor_unit(amount: str, code: str) -> None:
    with pytest.raises(MoneyError, match="decimals"):
        Money(amount, code)
    with pytest.raises(MoneyError):
        Money.of(amount, code)


@pytest.mark.parametrize(
    ("amount", "code", "rounding", "expected"),
    [
        ("10.005", "EUR", decimal.ROUND_HALF_EVEN, "10.00"),
        ("10.015", "EUR", decimal.ROUND_HALF_EVEN, "10.02"),
        ("10.005", "EUR", decimal.ROUND_HALF_UP, "10.01"),
        ("10.009", "EUR", decimal.ROUND_DOWN, "10.00"),
        ("10.001", "EUR", decimal.ROUND_UP, "10.01"),
        ("-10.005", "EUR", decimal.ROUND_HALF_UP, "-10.01"),
        ("2.5", "JPY", decimal.ROUND_HALF_EVEN, "2"),
        ("3.5", "JPY", decimal.ROUND_HALF_EVEN, "4"),
        ("1.0005", "KWD", decimal.ROUND_HALF_UP, "1.001"),
        ("1.0005", "KWD", decimal.ROUND_HALF_EVEN, "1.000"),
        ("10.00", "EUR", decimal.ROUND_UP, "10.00"),
    ],
)
def test_of_rounds_only_when_a_mode_is_named(
    amount: str, code: str, rounding: str, expected: str
) -> None:
    assert Money.of(amount, code, rounding=rounding) == Money(expected, code)


def test_zero() -> None:
    zero = Money.zero("KWD")
    assert zero.amount == 0
    assert zero.currency is currency("KWD")
    assert not zero
    assert Money("0.01", "EUR")


# ------------------------------------------------------------------ arithmetic


def test_arithmetic_in_one_currency() -> None:
    a, b = Money("10.50", "EUR"), Money("0.75", "EUR")
    assert a + b == Money("11.25", "EUR")
    assert a - b == Money("9.75", "EUR")
    assert b - a == Money("-9.75", "EUR")
    assert -a == Money("-10.50", "EUR")
    assert +a is a
    assert abs(Money("-2.00", "EUR")) == Money("2.00", "EUR")
    assert a * 3 == Money("31.50", "EUR")
    assert 3 * a == Money("31.50", "EUR")


MIXING_OPERATORS: list[Callable[[Any, Any], object]] = [
    operator.add,
    operator.sub,
    operator.lt,
    operator.le,
    operator.gt,
    operator.ge,
]


@pytest.mark.parametrize("op", MIXING_OPERATORS)
def test_mixing_currencies_raises(op: Callable[[Any, Any], object]) -> None:
    with pytest.raises(MoneyError, match="EUR and USD"):
        op(Money("1.00", "EUR"), Money("1.00", "USD"))
    with pytest.raises(MoneyError, match="USD and EUR"):
        op(Money("1.00", "USD"), Money("1.00", "EUR"))


@pytest.mark.parametrize("op", MIXING_OPERATORS)
def test_mixing_money_and_plain_numbers_raises(op: Callable[[Any, Any], object]) -> None:
    with pytest.raises(MoneyError):
        op(Money("1.00", "EUR"), Decimal("1.00"))
    with pytest.raises(MoneyError):
        op(Money("1.00", "EUR"), 1)


def test_multiplying_by_a_non_integer_raises() -> None:
    eur = Money("1.00", "EUR")
    for factor in (Decimal("1.5"), 1.5, "2", True):
        with pytest.raises(MoneyError, match="multiply"):
            eur * factor  # type: ignore[operator]


def test_comparisons_in_one_currency() -> None:
    small, big = Money("1.00", "EUR"), Money("1.01", "EUR")
    assert small < big
    assert small <= big
    assert big > small
    assert big >= small
    assert small <= Money("1", "EUR")
    assert small >= Money("1", "EUR")
    assert not small > big
    assert sorted([big, small]) == [small, big]


def test_sum_of_a_list() -> None:
    parts = [Money("1.10", "EUR"), Money("2.20", "EUR"), Money("3.30", "EUR")]
    assert sum(parts) == Money("6.60", "EUR")
    assert sum([Money("7", "JPY")]) == Money("7", "JPY")
    empty: list[Money] = []
    assert sum(empty) == 0
    assert not isinstance(sum(empty), Money)
    with pytest.raises(MoneyError):
        sum([Money("1.00", "EUR"), Money("1.00", "USD")])


def test_money_is_immutable() -> None:
    money = Money("1.00", "EUR")
    with pytest.raises(AttributeError):
        money.amount = Decimal("2.00")
    with pytest.raises(AttributeError):
        money.currency = currency("USD")
    with pytest.raises(AttributeError):
        money.extra = 1
    assert money == Money("1.00", "EUR")


def test_money_attributes_cannot_be_deleted() -> None:
    money = Money("1.00", "EUR")
    with pytest.raises(AttributeError):
        del money.amount
    assert money.amount == Decimal("1.00")


def test_equality_and_hashing() -> None:
    assert Money("1.0", "EUR") == Money("1.00", "EUR")
    assert hash(Money("1.0", "EUR")) == hash(Money(1, "EUR"))
    assert Money("1", "EUR") != Money("1", "USD")
    assert Money("1", "EUR") != Money("2", "EUR")
    assert Money("1", "EUR") != Decimal(1)
    assert Money("1", "EUR") != 1
    assert len({Money("1.00", "EUR"), Money(1, "EUR"), Money("1", "USD")}) == 2
    prices = {Money("9.99", "EUR"): "basic"}
    assert prices[Money(Decimal("9.990"), "eur")] == "basic"


@pytest.mark.parametrize(
    "money",
    [
        Money("10.50", "EUR"),
        Money("-0.01", "EUR"),
        Money("1500", "JPY"),
        Money("1.234", "KWD"),
        Money("0", "USD"),
        Money("123456789012345.67", "EUR"),
    ],
)
def test_pickle_and_copy_round_trip(money: Money) -> None:
    for clone in (pickle.loads(pickle.dumps(money)), copy.deepcopy(money), copy.copy(money)):
        assert clone == money
        assert clone.currency is money.currency
        assert clone.amount.as_tuple() == money.amount.as_tuple()
        assert hash(clone) == hash(money)


@pytest.mark.parametrize(
    ("minor", "code", "amount"),
    [
        (1050, "EUR", "10.50"),
        (-1, "EUR", "-0.01"),
        (1050, "JPY", "1050"),
        (1050, "KWD", "1.050"),
        (0, "KWD", "0.000"),
    ],
)
def test_from_minor_and_minor_units(minor: int, code: str, amount: str) -> None:
    money = Money.from_minor(minor, code)
    assert money == Money(amount, code)
    assert money.minor_units == minor
    assert Money(amount, code).minor_units == minor


@pytest.mark.parametrize("minor", [True, 1.0, "100", Decimal(100)])
def test_from_minor_needs_an_int(minor: Any) -> None:
    with pytest.raises(MoneyError):
        Money.from_minor(minor, "EUR")


@pytest.mark.parametrize(
    ("amount", "factor", "expected"),
    [
        ("0.05", "0.5", "0.02"),  # 0.025 -> even
        ("0.15", "0.5", "0.08"),  # 0.075 -> even
        ("0.07", "0.5", "0.04"),  # 0.035 -> even
        ("-0.05", "0.5", "-0.02"),
        ("120.00", "0.014", "1.68"),
        ("10.00", Decimal("0.029"), "0.29"),
        ("10.00", 3, "30.00"),
        ("33.33", "0.333333", "11.11"),
    ],
)
def test_multiply_rounds_half_even_by_default(
    amount: str, factor: Decimal | int | str, expected: str
) -> None:
    assert Money(amount, "EUR").multiply(factor) == Money(expected, "EUR")


def test_multiply_with_a_named_rounding_mode() -> None:
    assert Money("0.05", "EUR").multiply("0.5", rounding=decimal.ROUND_HALF_UP) == Money(
        "0.03", "EUR"
    )
    assert Money("0.09", "EUR").multiply("0.5", rounding=decimal.ROUND_DOWN) == Money("0.04", "EUR")
    assert Money("101", "JPY").multiply("0.5") == Money("50", "JPY")
    assert Money("101", "JPY").multiply("0.5", rounding=decimal.ROUND_UP) == Money("51", "JPY")


@pytest.mark.parametrize("factor", [0.5, True, "x", Decimal("NaN"), None])
def test_multiply_rejects_inexact_factors(factor: Any) -> None:
    with pytest.raises(MoneyError):
        Money("1.00", "EUR").multiply(factor)


# ------------------------------------------------------------------ allocate


def test_allocate_worked_examples() -> None:
    assert allocate(Money("100.00", "EUR"), [1, 1, 1]) == [
        Money("33.34", "EUR"),
        Money("33.33", "EUR"),
        Money("33.33", "EUR"),
    ]
    assert allocate(Money("0.05", "EUR"), [1, 1]) == [Money("0.03", "EUR"), Money("0.02", "EUR")]
    assert allocate(Money("10", "JPY"), ["0.7", "0.3"]) == [Money("7", "JPY"), Money("3", "JPY")]
    assert allocate(Money("-100.00", "EUR"), [1, 0, 3]) == [
        Money("-25.00", "EUR"),
        Money("0.00", "EUR"),
        Money("-75.00", "EUR"),
    ]


@pytest.mark.parametrize("ratios", [[], [-1, 2], [0, 0], [0.5, 0.5], ["a"], [Decimal("NaN")]])
def test_allocate_rejects_bad_ratios(ratios: list[Any]) -> None:
    with pytest.raises(MoneyError):
        allocate(Money("1.00", "EUR"), ratios)


# ------------------------------------------------------------------ properties


@PROPERTY
@given(same_currency(3))
def test_addition_is_associative_and_commutative(values: tuple[Money, ...]) -> None:
    a, b, c = values
    assert (a + b) + c == a + (b + c)
    assert a + b == b + a
    assert sum([a, b, c]) == a + b + c


@PROPERTY
@given(same_currency(2))
def test_adding_then_subtracting_is_identity(values: tuple[Money, ...]) -> None:
    a, b = values
    assert a + b - b == a
    assert a - b + b == a
    assert a - a == Money.zero(a.currency)
    negated = -a
    assert -negated == a
    assert a + -b == a - b


@PROPERTY
@given(same_currency(2, bound=10**37 - 1))
@example((Money("10000000000000000000000000000.00", "EUR"), Money("0.01", "EUR")))
def test_arithmetic_is_exact_for_every_accepted_amount(values: tuple[Money, ...]) -> None:
    # Money accepts up to 38 significant digits; sums of two such operands below
    # 10**37 minor units still fit, so arithmetic must be exact (never rounded).
    a, b = values
    assert (a + b).amount == WIDE.add(a.amount, b.amount)
    assert (a - b).amount == WIDE.subtract(a.amount, b.amount)
    assert (-a).amount == WIDE.minus(a.amount)
    assert abs(a).amount == WIDE.abs(a.amount)
    assert (a * 1).amount == a.amount


@PROPERTY
@given(currencies, st.integers(-REALISTIC, REALISTIC), st.integers(-REALISTIC, REALISTIC))
def test_ordering_matches_the_amounts(cur: Currency, x: int, y: int) -> None:
    a, b = Money.from_minor(x, cur), Money.from_minor(y, cur)
    assert (a < b) == (x < y)
    assert (a <= b) == (x <= y)
    assert (a == b) == (x == y)
    assert (hash(a) == hash(b)) or a != b


@PROPERTY
@given(currencies, st.integers(-REALISTIC, REALISTIC))
def test_from_minor_round_trips_everyday_amounts(cur: Currency, minor: int) -> None:
    money = Money.from_minor(minor, cur)
    assert money.minor_units == minor
    assert money.amount == exact(minor, cur)
    assert money == money_from(minor, cur)


@PROPERTY
@given(currencies, st.integers(-LARGEST, LARGEST))
@example(currency("EUR"), 10**30 + 1)
def test_from_minor_round_trips_every_accepted_amount(cur: Currency, minor: int) -> None:
    # Money's constructor accepts any 38-digit amount, so from_minor must too, exactly.
    assert money_from(minor, cur).minor_units == minor
    assert Money.from_minor(minor, cur).amount == exact(minor, cur)


@PROPERTY
@given(currencies, st.integers(-REALISTIC, REALISTIC))
def test_pickle_round_trips_any_amount(cur: Currency, minor: int) -> None:
    money = Money.from_minor(minor, cur)
    clone = pickle.loads(pickle.dumps(money))
    assert clone == money
    assert clone.currency is cur


@PROPERTY
@given(
    currencies,
    st.integers(-REALISTIC, REALISTIC),
    st.one_of(
        st.integers(-1000, 1000),
        st.integers(-(10**10), 10**10).map(lambda n: Decimal(n).scaleb(-8, context=WIDE)),
    ),
)
def test_multiply_rounds_the_exact_product_once(
    cur: Currency, minor: int, factor: Decimal | int
) -> None:
    money = Money.from_minor(minor, cur)
    product = WIDE.multiply(money.amount, Decimal(factor))
    result = money.multiply(factor)
    assert result == Money.of(product, cur, rounding=ROUND_HALF_EVEN)
    assert abs(WIDE.subtract(result.amount, product)) <= cur.quantum / 2
    assert result.currency is cur


@PROPERTY
@given(
    st.integers(-(10**6), 10**6),
    st.integers(0, 10**40).map(lambda n: Decimal(n).scaleb(-40, context=WIDE)),
    st.sampled_from([decimal.ROUND_HALF_EVEN, decimal.ROUND_HALF_UP, decimal.ROUND_DOWN]),
)
@example(100, Decimal("0.02500000000000000000000000000049"), decimal.ROUND_HALF_EVEN)
@example(100, Decimal("0.0299999999999999999999999999999"), decimal.ROUND_DOWN)
def test_multiply_rounds_once_even_for_long_factors(
    minor: int, factor: Decimal, rounding: str
) -> None:
    # "Rounding the product once": a factor with many digits must not make the
    # product round twice (first to some working precision, then to the cent).
    money = Money.from_minor(minor, "EUR")
    product = WIDE.multiply(money.amount, factor)
    assert money.multiply(factor, rounding=rounding) == Money.of(product, "EUR", rounding=rounding)


@PROPERTY
@given(currencies, st.integers(-REALISTIC, REALISTIC), ratio_lists)
def test_allocate_invariants(cur: Currency, minor: int, ratios: list[Decimal | int]) -> None:
    total = Money.from_minor(minor, cur)
    parts = allocate(total, ratios)

    assert len(parts) == len(ratios)
    assert all(p.currency is cur for p in parts)
    # The parts always add up to the total, to the minor unit.
    assert sum(p.minor_units for p in parts) == minor
    assert sum(parts) == total
    # Each part is within one minor unit of its exact share.
    weights = [Fraction(Decimal(r)) for r in ratios]
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        share = Fraction(minor) * weight / weight_sum
        assert abs(part.minor_units - share) < 1
        # Zero-ratio parts get nothing.
        if weight == 0:
            assert part.minor_units == 0
    # Sign symmetry and determinism.
    assert allocate(-total, ratios) == [-p for p in parts]
    assert allocate(total, list(ratios)) == parts


@PROPERTY
@given(currencies, st.integers(0, REALISTIC), st.integers(1, 12))
def test_allocate_equal_ratios_differ_by_at_most_one_unit(
    cur: Currency, minor: int, count: int
) -> None:
    parts = allocate(Money.from_minor(minor, cur), [1] * count)
    units = [p.minor_units for p in parts]
    assert sum(units) == minor
    assert max(units) - min(units) <= 1
    # Leftover units go to the earliest parts.
    assert units == sorted(units, reverse=True)


@PROPERTY
@given(st.integers(-LARGEST, LARGEST), st.lists(st.integers(1, 9), min_size=1, max_size=5))
@example(10**38 - 2, [1, 1, 1])
def test_allocate_is_exact_for_every_accepted_amount(minor: int, ratios: list[int]) -> None:
    cur = currency("EUR")
    total = money_from(minor, cur)
    parts = allocate(total, ratios)
    added = Decimal(0)
    for part in parts:
        added = WIDE.add(added, part.amount)
    assert added == total.amount
    weight_sum = sum(ratios)
    for part, weight in zip(parts, ratios, strict=True):
        share = Fraction(minor * weight, weight_sum)
        part_units = Fraction(part.amount) * 10**cur.exponent
        assert abs(part_units - share) < 1


# ------------------------------------------------------------------ hostile input

NON_ASCII_DIGITS = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())
"""Every Unicode decimal digit but 0-9: each one ``Decimal()`` reads as a digit."""

decimal_strings = st.from_regex(
    r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,10})?|\.[0-9]{1,10})", fullmatch=True
)
"""Decimal strings in the ASCII form Money accepts (no exponent: it is tested apart)."""

MONEY_CODES = sorted(set(list_currencies()) - set(NON_MONEY_CODES))
"""Every currency code finplug accepts without an opt-in."""

KNOWN_NON_MONEY = sorted(set(NON_MONEY_CODES) & set(list_currencies()))
"""The non-money codes that the installed CLDR data knows (XAD is new in 2025)."""


def money_error(call: Callable[[], object]) -> str:
    with pytest.raises(MoneyError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize(
    "amount",
    [
        "\u0661\u0660",
        "\uff11\uff10",
        "\u06f1\u06f0",
        "\u0967\u0966",
        "\U0001d7cf\U0001d7ce",
        "1\u0660",
        "10.\u06650",
        "1e\u0662",
    ],
)
def test_money_refuses_non_ascii_digits(amount: str) -> None:
    # Decimal itself reads every one of these as a number: Money must not.
    assert Decimal(amount)
    message = money_error(lambda: Money(amount, "EUR"))
    assert "non-ASCII digits" in message
    money_error(lambda: Money.of(amount, "EUR", rounding=ROUND_HALF_EVEN))
    money_error(lambda: Money("1.00", "EUR").multiply(amount))
    money_error(lambda: allocate(Money("1.00", "EUR"), [amount, 1]))


@pytest.mark.parametrize("amount", ["1_000", "1_000.00", "10.0_0", "1_0e2", "1,000", "1,000.00"])
def test_money_refuses_underscore_separators(amount: str) -> None:
    message = money_error(lambda: Money(amount, "EUR"))
    assert "separators are not allowed" in message
    money_error(lambda: Money("1.00", "EUR").multiply(amount))


@pytest.mark.parametrize(
    "amount",
    [
        "10 EUR",
        "€10",
        "$10",
        "10\x00",
        "\u00a010",
        "10\u3000",
        "\u200b10",
        "\ufeff10",
        "1e",
        "e2",
        ".",
        "-",
        "1.2.3",
        "--1",
        "+-1",
        "1e2.5",
        "0x10",
        "1 000",
        "  ",
        "sNaN",
        "-Infinity",
    ],
)
def test_money_refuses_junk_around_or_inside_amounts(amount: str) -> None:
    money_error(lambda: Money(amount, "EUR"))


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (".5", "0.50"),
        ("5.", "5.00"),
        ("+5", "5.00"),
        ("-0", "0.00"),
        ("1E+2", "100.00"),
        ("2.5e-1", "0.25"),
        ("\t10.50\n", "10.50"),
        ("007", "7.00"),
    ],
)
def test_money_still_accepts_every_ascii_decimal_form(amount: str, expected: str) -> None:
    assert str(Money(amount, "EUR").amount) == expected
    assert decimal_from_string(amount) == Decimal(amount.strip())


@pytest.mark.parametrize("code", ["XXX", "XTS", "XAU", "XAG", "XPT", "XPD", "XBA", "XDR", "CHE"])
def test_money_refuses_non_money_currency_codes(code: str) -> None:
    message = money_error(lambda: currency(code))
    assert f"currency {code} is not money" in message
    assert f"currency('{code}', allow_non_money=True)" in message
    money_error(lambda: currency(code.lower()))
    money_error(lambda: Money("1", code))
    money_error(lambda: Money.of("1", code, rounding=ROUND_HALF_EVEN))
    money_error(lambda: Money.zero(code))
    money_error(lambda: Money.from_minor(1, code))


@pytest.mark.parametrize("code", KNOWN_NON_MONEY)
def test_every_non_money_code_is_refused_and_says_what_it_is(code: str) -> None:
    assert f"it is {NON_MONEY_CODES[code]}" in money_error(lambda: currency(code))
    opted_in = currency(code, allow_non_money=True)
    assert opted_in.code == code
    assert not opted_in.is_money


@pytest.mark.parametrize(
    "code",
    # Real money next to the fund codes and X-codes that are not.
    ["CHF", "CLP", "MXN", "UYU", "BOB", "COP", "USD", "XAF", "XOF", "XPF", "XCD", "VED", "CNH"],
)
def test_money_codes_next_to_non_money_ones_stay_accepted(code: str) -> None:
    assert currency(code).code == code
    assert currency(code).is_money
    assert Money("1", code).currency is currency(code)


def test_non_money_currencies_are_accepted_when_the_caller_opts_in() -> None:
    gold = currency("xau", allow_non_money=True)
    assert gold is currency("XAU", allow_non_money=True)
    assert gold.code == "XAU"
    assert gold.exponent == get_currency_precision("XAU")
    # Opting in once is enough: every constructor takes the Currency as it is.
    ounce = Money("1.50", gold)
    assert ounce + Money.from_minor(50, gold) == Money("2.00", gold)
    assert Money.zero(gold) == Money(0, gold)
    assert Money.of("1.005", gold, rounding=ROUND_HALF_EVEN) == Money("1.00", gold)
    assert str(ounce) == "1.50 XAU"
    # A pickle carries the opt-in; a plain code does not.
    for clone in (pickle.loads(pickle.dumps(ounce)), copy.deepcopy(ounce)):
        assert clone == ounce
        assert clone.currency is gold
    assert pickle.loads(pickle.dumps(gold)) is gold
    with pytest.raises(MoneyError):
        Money("1.50", "XAU")


def test_non_money_codes_agree_with_cldr() -> None:
    # Every refused code is one CLDR marks as legal tender nowhere, and every
    # code CLDR marks so is refused, except the two that are money. A newer
    # Babel that adds such a code fails here, so that someone decides.
    tender: set[str] = set()
    non_tender: set[str] = set()
    for entries in get_global("territory_currencies").values():
        for code, _start, _end, is_tender in entries:
            (tender if is_tender else non_tender).add(code)
    non_tender -= tender
    assert set(KNOWN_NON_MONEY) <= non_tender
    assert non_tender - set(NON_MONEY_CODES) == {"VED", "CNH"}
    assert {"XXX", "XTS", "XAU", "XAG", "XPT", "XPD", "XDR"} <= set(KNOWN_NON_MONEY)


@pytest.mark.parametrize(
    "code",
    [
        "\u0131ls",
        "\u017fek",
        "\u3000EUR",
        "EUR\u00a0",
        "\uff25\uff35\uff32",
        "E\u0301UR",
        "EUR\x00",
    ],
)
def test_currency_codes_must_be_ascii_letters(code: str) -> None:
    # Each one becomes a real code after str.strip() and str.upper().
    assert "unknown currency" in money_error(lambda: currency(code))


def test_currency_codes_may_have_ascii_whitespace_around_them() -> None:
    assert currency("\teur\n") is currency("EUR")


def test_money_error_message_cuts_long_input() -> None:
    digits = "9" * 100_000
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: Money(digits, "EUR"), "(100000 characters)"),
        (lambda: Money(Decimal(digits), "EUR"), "(100000 characters)"),
        (lambda: Money(int(Decimal(digits)), "EUR"), "(100000 characters)"),
        (lambda: Money.from_minor(int(Decimal(digits)), "EUR"), "does not fit"),
        (lambda: Money("0." + "0" * 99_997 + "1", "EUR"), "more decimals"),
        (lambda: Money("x" * 100_000, "EUR"), "(100000 characters)"),
        (lambda: Money("\u0661" * 100_000, "EUR"), "(100000 characters)"),
        (lambda: Money("1_" * 50_000, "EUR"), "(100000 characters)"),
        (lambda: Money("1e" + "9" * 99_998, "EUR"), "(100000 characters)"),
        (lambda: Money(Decimal("NaN" + "1" * 99_997), "EUR"), "(100000 characters)"),
        (lambda: currency("E" * 100_000), "(100000 characters)"),
        (lambda: Money("1", "E" * 100_000), "(100000 characters)"),
        (lambda: allocate(Money("1.00", "EUR"), ["1e-" + "9" * 99_997]), "(100000 characters)"),
    ]
    for call, expected in cases:
        message = money_error(call)
        assert expected in message
        assert len(message) < 300, message[:300]


def test_from_minor_of_an_int_too_long_to_print_raises_money_error() -> None:
    # str() of an int above 4300 digits raises ValueError; the message must not.
    message = money_error(lambda: Money.from_minor(10**5000 + 7, "EUR"))
    assert "(5001 characters)" in message


@pytest.mark.parametrize(
    "ratio", ["1e-999999", "1e-39", "1e38", "1" * 39, Decimal("1e-999999999"), 10**38]
)
def test_allocate_refuses_ratios_that_would_take_minutes(ratio: str | Decimal | int) -> None:
    # Scaling 1e-999999 to an integer made million-digit numbers (27 s).
    assert "out of range" in money_error(lambda: allocate(Money("1.00", "EUR"), [ratio, 1]))


def test_allocate_ratio_bounds_ignore_trailing_zeros() -> None:
    assert allocate(Money("1.00", "EUR"), ["1." + "0" * 1000, "1e37", "1e-38"]) == [
        Money("0.00", "EUR"),
        Money("1.00", "EUR"),
        Money("0.00", "EUR"),
    ]


@PROPERTY
@given(st.text(NON_ASCII_DIGITS, min_size=1, max_size=10), st.data())
def test_any_non_ascii_digit_makes_an_amount_invalid(digits: str, data: st.DataObject) -> None:
    # Alone or slipped into a valid amount, at any position.
    text = data.draw(decimal_strings)
    at = data.draw(st.integers(0, len(text)))
    for amount in (digits, text[:at] + digits + text[at:]):
        with pytest.raises(MoneyError):
            Money(amount, "EUR")
        with pytest.raises(MoneyError):
            decimal_from_string(amount)


@PROPERTY
@given(decimal_strings, st.data())
def test_any_underscore_makes_an_amount_invalid(text: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(text)))
    with pytest.raises(MoneyError):
        decimal_from_string(text[:at] + "_" + text[at:])


@PROPERTY
@given(decimal_strings, st.integers(-40, 40), st.sampled_from(["", " ", "\t", "\n "]))
def test_ascii_decimal_strings_parse_exactly(text: str, exponent: int, space: str) -> None:
    for amount in (text, f"{text}e{exponent}", f"{text}E{exponent:+d}"):
        assert decimal_from_string(space + amount + space) == Decimal(amount)


@PROPERTY
@given(st.text(max_size=60))
@example("1_0")
@example("\uff11")
@example(" 1 ")
def test_the_parser_refuses_or_agrees_with_decimal(text: str) -> None:
    # For any string: refused with a short MoneyError, or read exactly as
    # Decimal reads it, and then the string was ASCII.
    try:
        value = decimal_from_string(text)
    except MoneyError as exc:
        assert len(str(exc)) < 300 + 10 * SHOWN_CHARACTERS  # repr may escape each character
        return
    assert text.isascii()
    assert value == Decimal(text.strip())
    assert "_" not in text


@PROPERTY
@given(st.sampled_from(MONEY_CODES), st.integers(-LARGEST, LARGEST))
def test_str_of_money_round_trips(code: str, minor: int) -> None:
    money = Money.from_minor(minor, code)
    amount, shown_code = str(money).split(" ")
    assert Money(amount, shown_code) == money
    assert Money(str(money.amount), money.currency.code).amount.as_tuple() == (
        money.amount.as_tuple()
    )


@PROPERTY
@given(st.text(string.ascii_letters, min_size=3, max_size=3))
def test_currency_accepts_exactly_the_known_money_codes(code: str) -> None:
    upper = code.upper()
    if upper not in set(list_currencies()):
        with pytest.raises(MoneyError, match="unknown currency"):
            currency(code, allow_non_money=True)
    elif upper in NON_MONEY_CODES:
        with pytest.raises(MoneyError, match="not money"):
            currency(code)
        assert currency(code, allow_non_money=True).code == upper
    else:
        assert currency(code).code == upper


# ------------------------------------------------------------------ finplug.types


class PriceSettings(BaseModel):
    amount: Amount
    rate: Rate
    currency: CurrencyCode
    country: CountryCode


VALID: dict[str, Any] = {"amount": "10.50", "rate": "0.029", "currency": "EUR", "country": "DE"}


def settings_with(**changes: Any) -> PriceSettings:
    return PriceSettings.model_validate({**VALID, **changes})


def error_for(field: str, **changes: Any) -> str:
    with pytest.raises(ValidationError) as info:
        settings_with(**changes)
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [(field,)]
    return str(errors[0]["msg"])


def test_types_accept_strings_ints_and_decimals() -> None:
    model = settings_with()
    assert model.amount == Decimal("10.50")
    assert isinstance(model.amount, Decimal)
    assert model.rate == Decimal("0.029")
    assert model.currency == "EUR"
    assert model.country == "DE"
    assert settings_with(amount=10).amount == Decimal(10)
    assert settings_with(amount=Decimal("-2.5")).amount == Decimal("-2.5")
    assert settings_with(amount=" 1e3 ").amount == Decimal(1000)
    assert settings_with(rate=0).rate == 0
    assert settings_with(rate=1).rate == 1
    assert settings_with(rate="1.000").rate == 1


def test_types_normalise_codes() -> None:
    model = settings_with(currency="jpy", country="fr")
    assert model.currency == "JPY"
    assert model.country == "FR"
    assert settings_with(currency=" usd ", country=" nl ").country == "NL"


@pytest.mark.parametrize("field", ["amount", "rate"])
@pytest.mark.parametrize("value", [0.5, 1.0, 0.029])
def test_types_reject_floats_and_say_to_quote(field: str, value: float) -> None:
    message = error_for(field, **{field: value})
    assert "quote the number" in message


@pytest.mark.parametrize("field", ["amount", "rate"])
@pytest.mark.parametrize("value", [True, "abc", "NaN", "Infinity", Decimal("NaN"), "", None])
def test_types_reject_non_numbers(field: str, value: Any) -> None:
    error_for(field, **{field: value})


@pytest.mark.parametrize("value", ["1.01", 2, "-0.01", -1, "1e1"])
def test_rate_must_be_within_zero_and_one(value: str | int) -> None:
    assert "between 0 and 1" in error_for("rate", rate=value)


@pytest.mark.parametrize("value", ["QQQ", "EURO", "", "E1R", 978])
def test_unknown_currency_is_rejected(value: Any) -> None:
    error_for("currency", currency=value)


def test_unknown_currency_message() -> None:
    assert "unknown currency" in error_for("currency", currency="QQQ")


@pytest.mark.parametrize("value", ["DEU", "D", "", "1A", "D3", "ÄB", 49])
def test_bad_country_is_rejected(value: Any) -> None:
    error_for("country", country=value)


@PROPERTY
@given(st.integers(0, 10**9), st.integers(0, 9))
def test_rate_accepts_every_decimal_string_in_range(numerator: int, places: int) -> None:
    value = Decimal(numerator).scaleb(-places, context=WIDE)
    if value <= 1:
        assert settings_with(rate=str(value)).rate == value
    else:
        with pytest.raises(ValidationError):
            settings_with(rate=str(value))


@pytest.mark.parametrize(
    "text", ["\u0661\u0660", "\uff11\uff10", "1_000", "1,000", "NaN", "\u00a010"]
)
def test_amount_setting_refuses_what_money_refuses(text: str) -> None:
    message = error_for("amount", amount=text)
    assert "ASCII digits" in message
    assert text not in message  # never echoed: it may be a misplaced secret
