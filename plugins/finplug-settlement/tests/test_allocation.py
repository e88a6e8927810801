"""Exact splits (Numscript's allotment) and refund split-back: properties and named cases."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finplug import Money
from finplug_settlement.allocation import (
    Allocation,
    Share,
    SplitError,
    SplitRule,
    SplitRuleError,
    allocate,
    allocate_refund,
    refund_money,
    split_money,
)

MILLI_PERCENT = 100_000  # a percent with three decimals is m / 100000 of the whole


def pct(text: str) -> Decimal:
    return Decimal(text)


def minors(parts: Sequence[Allocation]) -> list[int]:
    return [p.minor for p in parts]


def split(amount: int, *shares: Share) -> list[int]:
    return minors(allocate(amount, SplitRule.of(*shares)))


# ---------------------------------------------------------------- strategies


def draw_portion(draw: st.DrawFn, party: str, budget: Fraction, *, strict: bool) -> Share:
    """A percent or fraction share of at most ``budget`` (less than it when ``strict``)."""
    scaled = budget * MILLI_PERCENT
    top = math.ceil(scaled) - 1 if strict else math.floor(scaled)
    if top >= 1 and draw(st.booleans()):
        milli = draw(st.integers(min_value=1, max_value=top))
        return Share(party, percent=Decimal(milli) / 1000)
    denominator = draw(st.integers(min_value=2 if strict else 1, max_value=997))
    numerator = draw(st.integers(min_value=1, max_value=denominator - 1 if strict else denominator))
    return Share(party, portion=budget * Fraction(numerator, denominator))


@st.composite
def rules(draw: st.DrawFn) -> SplitRule:
    """Valid rules mixing fixed, percent, fraction and remainder shares, in any order."""
    n_portions = draw(st.integers(min_value=0, max_value=5))
    with_remainder = n_portions == 0 or draw(st.booleans())
    shares: list[Share] = []
    budget = Fraction(1)
    for k in range(n_portions):
        party = f"portion{k}"
        if budget == 0:
            break
        if k == n_portions - 1 and not with_remainder:
            exact_percent = (budget * MILLI_PERCENT).denominator == 1
            if exact_percent and draw(st.booleans()):
                shares.append(
                    Share(party, percent=Decimal(budget.numerator * 100) / budget.denominator)
                )
            else:
                shares.append(Share(party, portion=budget))
        else:
            share = draw_portion(draw, party, budget, strict=not with_remainder)
            shares.append(share)
            assert share.fraction is not None
            budget -= share.fraction
    if with_remainder:
        shares.append(Share("rest", remainder=True))
    for k in range(draw(st.integers(min_value=0, max_value=3))):
        shares.append(Share(f"fixed{k}", fixed_minor=draw(st.integers(1, 10**9))))
    return SplitRule(tuple(draw(st.permutations(shares))))


amounts_above_fixed = st.one_of(
    st.integers(min_value=0, max_value=1000), st.integers(min_value=0, max_value=10**12)
)


def check_split(amount: int, rule: SplitRule, parts: Sequence[Allocation]) -> None:
    """The invariants, from exact rational arithmetic (not the module's own plan)."""
    assert [p.party for p in parts] == list(rule.parties)
    assert sum(minors(parts)) == amount
    assert all(p.minor >= 0 for p in parts)
    left = amount - sum(s.fixed_minor or 0 for s in rule.shares)
    named = sum((s.fraction or Fraction(0) for s in rule.shares), Fraction(0))
    extras = []
    for share, part in zip(rule.shares, parts, strict=True):
        if share.fixed_minor is not None:
            assert part.minor == share.fixed_minor
            continue
        portion = share.fraction if share.fraction is not None else 1 - named
        floor = math.floor(portion * left)
        assert floor <= part.minor <= floor + 1, (share, part)
        extras.append(part.minor - floor)
    # The units lost to flooring go one each to the first portion shares, in order.
    assert extras == sorted(extras, reverse=True)


# ---------------------------------------------------------------- split properties


@settings(max_examples=400, deadline=None)
@given(rule=rules(), extra=amounts_above_fixed)
def test_split_is_exact_and_each_share_is_within_one_unit(rule: SplitRule, extra: int) -> None:
    amount = rule.fixed_total_minor + extra
    check_split(amount, rule, allocate(amount, rule))


@settings(max_examples=200, deadline=None)
@given(rule=rules(), extra=amounts_above_fixed)
def test_split_is_deterministic(rule: SplitRule, extra: int) -> None:
    amount = rule.fixed_total_minor + extra
    again = SplitRule(tuple(dataclasses.replace(s) for s in rule.shares))
    assert again == rule
    assert allocate(amount, rule) == allocate(amount, rule) == allocate(amount, again)


@settings(max_examples=200, deadline=None)
@given(rule=rules(), short=st.integers(min_value=1, max_value=10**9))
def test_fixed_shares_above_the_amount_are_an_error(rule: SplitRule, short: int) -> None:
    needed = rule.fixed_total_minor
    amount = max(0, needed - short)
    if needed == 0:
        check_split(0, rule, allocate(0, rule))  # zero splits to zeros without fixed shares
        assert minors(allocate(0, rule)) == [0] * len(rule.shares)
        return
    with pytest.raises(SplitError, match=f"need {needed} minor units but only {amount} are"):
        allocate(amount, rule)


def test_negative_amount_is_an_error() -> None:
    rule = SplitRule.of(Share("m", remainder=True))
    with pytest.raises(SplitError, match="must not be negative, got -1"):
        allocate(-1, rule)
    with pytest.raises(TypeError, match="int of minor units"):
        allocate(True, rule)


# ---------------------------------------------------------------- Numscript's documented cases


def test_numscript_docs_99_by_halves_gives_the_odd_unit_to_the_first_line() -> None:
    rider, taxes = Share("rider", percent=pct("50")), Share("taxes", percent=pct("50"))
    assert split(99, rider, taxes) == [50, 49]
    assert split(99, taxes, rider) == [50, 49]  # swapped: taxes now gets the 50


def test_numscript_docs_99_in_fifths_spreads_four_units_from_the_top() -> None:
    fifths = [Share(p, portion=Fraction(1, 5)) for p in "abcde"]
    assert split(99, *fifths) == [20, 20, 20, 20, 19]


def test_numscript_interpreter_15_by_80_8_12_is_declaration_order_not_largest_remainder() -> None:
    # floors 12, 1, 1 leave one unit; Numscript gives it to the first line (80%),
    # where largest remainder would give it to the 12% line (1.8).
    shares = (
        Share("driver", percent=pct("80")),
        Share("a", percent=pct("8")),
        Share("b", percent=pct("12")),
    )
    assert split(15, *shares) == [13, 1, 1]


def test_numscript_interpreter_2_by_90_10_gives_nothing_to_the_10_percent() -> None:
    assert split(2, Share("a", percent=pct("90")), Share("b", percent=pct("10"))) == [2, 0]


def test_100_00_split_50_25_remainder() -> None:
    shares = (
        Share("merchant", percent=pct("50")),
        Share("partner", percent=pct("25")),
        Share("platform", remainder=True),
    )
    assert split(10_000, *shares) == [5000, 2500, 2500]
    # 100.01: floors 5000 (5000.5), 2500 (2500.25), 2500 (2500.25); the unit goes first.
    assert split(10_001, *shares) == [5001, 2500, 2500]


def test_one_cent_three_ways() -> None:
    thirds = [Share(p, portion=Fraction(1, 3)) for p in ("a", "b", "c")]
    assert split(1, *thirds) == [1, 0, 0]
    assert split(2, *thirds) == [1, 1, 0]
    with_rest = (*thirds[:2], Share("c", remainder=True))
    assert split(1, *with_rest) == [1, 0, 0]


def test_fixed_2_00_plus_10_percent_plus_remainder() -> None:
    shares = (
        Share("fee", fixed_minor=200),
        Share("platform", percent=pct("10")),
        Share("merchant", remainder=True),
    )
    assert split(10_000, *shares) == [200, 980, 8820]
    # 10.05: 805 left; 80.5 floors to 80 and 724.5 to 724; the lost unit goes to
    # the 10% share (declared first), not to the remainder.
    assert split(1005, *shares) == [200, 81, 724]
    assert split(200, *shares) == [200, 0, 0]


def test_thirds_of_100_with_and_without_remainder() -> None:
    thirds = [Share(p, portion=Fraction(1, 3)) for p in ("a", "b", "c")]
    assert split(100, *thirds) == [34, 33, 33]
    # remaining is a third too and joins the rounding: it does not take "what is left".
    assert split(100, *thirds[:2], Share("c", remainder=True)) == [34, 33, 33]
    # declared first, the remainder gets the odd unit.
    assert split(100, Share("c", remainder=True), *thirds[:2]) == [34, 33, 33]
    assert split(101, Share("c", remainder=True), *thirds[:2]) == [34, 34, 33]


def test_twelve_and_a_half_percent_shares() -> None:
    eighths = [Share(f"p{i}", percent=pct("12.5")) for i in range(8)]
    assert split(1001, *eighths) == [126] + [125] * 7
    assert split(1007, *eighths) == [126] * 7 + [125]
    assert split(999, eighths[0], Share("rest", remainder=True)) == [125, 874]


def test_percent_with_decimals_needs_a_remainder_to_reach_100() -> None:
    shares = [Share(p, percent=pct("33.333")) for p in ("a", "b", "c")]
    assert split(100_000, *shares, Share("rest", remainder=True)) == [33333, 33333, 33333, 1]


def test_whole_share_can_take_the_odd_unit_and_zero_remainder_too() -> None:
    # Numscript's order rule, kept: each part stays within one unit of its exact value.
    halves_quarters = (
        Share("a", portion=Fraction(1, 2)),
        Share("b", portion=Fraction(1, 4)),
        Share("c", portion=Fraction(1, 4)),
    )
    assert split(2, *halves_quarters) == [2, 0, 0]  # exact 1, 0.5, 0.5
    halves = (Share("a", portion=Fraction(1, 2)), Share("b", portion=Fraction(1, 2)))
    assert split(3, Share("rest", remainder=True), *halves) == [1, 1, 1]  # exact 0, 1.5, 1.5
    assert split(3, *halves, Share("rest", remainder=True)) == [2, 1, 0]


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Share("fee"), "share 'fee': expected exactly one of .* got none"),
        (
            lambda: Share("fee", percent=pct("5"), fixed_minor=30),
            "share 'fee': .* got percent and fixed_minor",
        ),
        (lambda: Share("fee", percent=pct("0")), r"share 'fee': percent must be > 0 and <= 100"),
        (lambda: Share("fee", percent=pct("100.1")), "got 100.1"),
        (lambda: Share("fee", percent=Decimal("NaN")), "got NaN"),
        (
            lambda: Share("fee", percent=12.5),  # type: ignore[arg-type]
            "percent must be a Decimal, got float",
        ),
        (lambda: Share("fee", portion=Fraction(3, 2)), r"portion must be > 0 and <= 1, got 3/2"),
        (
            lambda: Share("fee", portion=0.5),  # type: ignore[arg-type]
            "portion must be a fractions.Fraction",
        ),
        (lambda: Share("fee", fixed_minor=0), r"fixed_minor must be > 0 minor units, got 0"),
        (lambda: Share("fee", fixed_minor=True), "fixed_minor must be an int"),
        (lambda: Share(" ", remainder=True), "party must be a non-empty string"),
        (
            lambda: Share("fee", remainder=1),  # type: ignore[arg-type]
            "remainder must be True or False",
        ),
    ],
)
def test_share_errors_name_the_party_and_what_was_expected(
    build: Callable[[], Share], message: str
) -> None:
    with pytest.raises(SplitRuleError, match=message):
        build()


def test_rule_errors_name_the_share_by_index_and_party() -> None:
    rest = Share("merchant", remainder=True)
    with pytest.raises(SplitRuleError, match="at least one share"):
        SplitRule(())
    with pytest.raises(SplitRuleError, match=r"share 2 \('merchant'\): party 'merchant' alre"):
        SplitRule.of(rest, Share("p", percent=pct("10")), Share("merchant", fixed_minor=5))
    with pytest.raises(SplitRuleError, match=r"share 1 \('other'\): a second remainder") as info:
        SplitRule.of(rest, Share("other", remainder=True))
    assert (info.value.index, info.value.party) == (1, "other")
    with pytest.raises(SplitRuleError, match=r"share 2 \('c'\): .* reach 100\.5% here"):
        SplitRule.of(
            Share("a", percent=pct("60")),
            Share("b", portion=Fraction(2, 5)),
            Share("c", percent=pct("0.5")),
            rest,
        )
    with pytest.raises(SplitRuleError, match=r"sum to 99\.999%; without a remainder"):
        SplitRule.of(*(Share(p, percent=pct("33.333")) for p in "abc"))
    with pytest.raises(SplitRuleError, match="sum to 200/3%"):
        SplitRule.of(Share("a", portion=Fraction(1, 3)), Share("b", portion=Fraction(1, 3)))
    with pytest.raises(SplitRuleError, match="sum to 0%"):
        SplitRule.of(Share("fee", fixed_minor=100))


# ---------------------------------------------------------------- refunds


@st.composite
def refund_cases(draw: st.DrawFn) -> tuple[tuple[Allocation, ...], list[int], list[str | None]]:
    """A split, refunds that add up to its total, and a ``first`` party (or none) for each."""
    rule = draw(rules())
    original = allocate(rule.fixed_total_minor + draw(amounts_above_fixed), rule)
    total = sum(minors(original))
    cuts = sorted(draw(st.lists(st.integers(0, total), max_size=4)))
    refunds = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    firsts = draw(
        st.lists(
            st.none() | st.sampled_from(rule.parties),
            min_size=len(refunds),
            max_size=len(refunds),
        )
    )
    return original, refunds, firsts


@settings(max_examples=300, deadline=None)
@given(case=refund_cases())
def test_partial_refunds_adding_up_return_exactly_what_each_party_received(
    case: tuple[tuple[Allocation, ...], list[int], list[str | None]],
) -> None:
    original, refunds, firsts = case
    refunded = {p.party: 0 for p in original}
    for refund, first in zip(refunds, firsts, strict=True):
        parts = allocate_refund(refund, original, refunded, first=first)
        assert [p.party for p in parts] == [p.party for p in original]
        assert sum(minors(parts)) == refund
        for got, part in zip(original, parts, strict=True):
            assert 0 <= part.minor <= got.minor - refunded[got.party]
            refunded[got.party] += part.minor
        if first is not None:
            at = [p.party for p in parts].index(first)
            room = original[at].minor - (refunded[first] - parts[at].minor)
            assert parts[at].minor == min(refund, room)
    assert refunded == {p.party: p.minor for p in original}
    with pytest.raises(SplitError, match="needs 1 minor units but only 0 are left"):
        allocate_refund(1, original, refunded)


@settings(max_examples=300, deadline=None)
@given(
    received=st.lists(st.integers(0, 10**12), min_size=1, max_size=6),
    share=st.fractions(min_value=0, max_value=1),
)
def test_a_first_refund_is_proportional_within_one_unit_in_declaration_order(
    received: list[int], share: Fraction
) -> None:
    original = [Allocation(f"p{i}", m) for i, m in enumerate(received)]
    total = sum(received)
    refund = math.floor(share * total)
    parts = minors(allocate_refund(refund, original))
    assert sum(parts) == refund
    extras = []
    for weight, part in zip(received, parts, strict=True):
        floor = weight * refund // total if total else 0
        assert floor <= part <= floor + 1
        assert part <= weight
        if weight:
            extras.append(part - floor)
        else:
            assert part == 0
    assert extras == sorted(extras, reverse=True)


def test_refund_examples() -> None:
    original = (Allocation("merchant", 9000), Allocation("platform", 1000))
    assert minors(allocate_refund(5000, original)) == [4500, 500]
    assert minors(allocate_refund(1, original)) == [1, 0]
    assert minors(allocate_refund(1500, original, first="platform")) == [500, 1000]
    assert minors(allocate_refund(300, original, {"platform": 1000}, first="platform")) == [300, 0]
    # platform has 10 left: its proportional 100 is cut to 10, the 90 go to the merchant.
    assert minors(allocate_refund(1000, original, {"platform": 990})) == [990, 10]
    ones = tuple(Allocation(p, 1) for p in "abc")
    done: dict[str, int] = {}
    for expected in ([1, 0, 0], [0, 1, 0], [0, 0, 1]):
        parts = allocate_refund(1, ones, done)
        assert minors(parts) == expected
        for p in parts:
            done[p.party] = done.get(p.party, 0) + p.minor
    assert minors(allocate_refund(0, ones, done)) == [0, 0, 0]


def test_refund_errors() -> None:
    original = (Allocation("merchant", 90), Allocation("platform", 10))
    with pytest.raises(SplitError, match=r"needs 51 .* only 50 are left .*100 received, 50 alr"):
        allocate_refund(51, original, {"merchant": 50})
    with pytest.raises(SplitError, match="must not be negative"):
        allocate_refund(-1, original)
    with pytest.raises(SplitError, match="'partner', not a party"):
        allocate_refund(1, original, {"partner": 0})
    with pytest.raises(SplitError, match="first names 'partner'"):
        allocate_refund(1, original, first="partner")
    with pytest.raises(SplitError, match="came back from 'platform', which received only 10"):
        allocate_refund(1, original, {"platform": 11})
    with pytest.raises(SplitError, match="refunded from 'platform' must not be negative"):
        allocate_refund(1, original, {"platform": -1})
    with pytest.raises(SplitError, match="'merchant' appears twice"):
        allocate_refund(1, (*original, Allocation("merchant", 1)))


# ---------------------------------------------------------------- Money


def test_split_money_uses_the_currency_minor_units() -> None:
    rule = SplitRule.of(
        Share("fee", fixed_minor=30),
        Share("platform", percent=pct("10")),
        Share("merchant", remainder=True),
    )
    parts = split_money(Money("10.05", "EUR"), rule)
    assert list(parts) == ["fee", "platform", "merchant"]
    assert parts == {
        "fee": Money("0.30", "EUR"),
        "platform": Money("0.98", "EUR"),  # 97.5 floors to 97, then the unit lost
        "merchant": Money("8.77", "EUR"),
    }
    yen = split_money(Money("1005", "JPY"), rule)
    assert yen == {
        "fee": Money(30, "JPY"),
        "platform": Money(98, "JPY"),
        "merchant": Money(877, "JPY"),
    }


def test_refund_money_checks_currencies() -> None:
    original = {"merchant": Money("90.00", "EUR"), "platform": Money("10.00", "EUR")}
    parts = refund_money(Money("50.00", "EUR"), original)
    assert parts == {"merchant": Money("45.00", "EUR"), "platform": Money("5.00", "EUR")}
    rest = refund_money(Money("50.00", "EUR"), original, parts, first="platform")
    assert rest == {"merchant": Money("45.00", "EUR"), "platform": Money("5.00", "EUR")}
    with pytest.raises(SplitError, match="'merchant' received is in EUR, the refund in USD"):
        refund_money(Money("1.00", "USD"), original)
