"""The fee-schedule plugin: worked examples, rule matching, settings, fee invariants."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from finplug import ConfigError, Money, currency
from finplug.sockets.fees import Fee, FeeContext, fee_hooks
from finplug.testing import MakePlatform, MakeTenant, assert_valid_plugin
from finplug_fee_schedule import FeeRule, FeeSchedulePlugin, compute_fee

# Reference arithmetic: never rounds (Inexact is trapped).
WIDE = decimal.Context(
    prec=200,
    traps=[decimal.Inexact, decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)

MODES = {
    "half_even": decimal.ROUND_HALF_EVEN,
    "half_up": decimal.ROUND_HALF_UP,
    "down": decimal.ROUND_DOWN,
    "up": decimal.ROUND_UP,
}

ACQUIRING: dict[str, Any] = {
    "code": "acquiring",
    "operation": "capture",
    "payment_method": "card",
    "rate": "0.014",
    "fixed": "0.25",
    "currency": "EUR",
}


def fees_for(
    make_tenant: MakeTenant,
    rules: list[dict[str, Any]],
    context: FeeContext,
    *,
    rounding: str | None = None,
) -> list[Fee]:
    schedule: dict[str, Any] = {"rules": rules}
    if rounding is not None:
        schedule["rounding"] = rounding
    tenant = make_tenant([FeeSchedulePlugin], settings={"fee-schedule": schedule})
    answers = fee_hooks.of(tenant.hooks).finplug_calculate_fees(context=context)
    return [fee for answer in answers for fee in answer]


def capture(amount: str, code: str = "EUR", **kwargs: Any) -> FeeContext:
    return FeeContext("capture", Money(amount, code), **kwargs)


# ------------------------------------------------------------------ the plugin


def test_plugin_matches_the_specs() -> None:
    assert_valid_plugin(FeeSchedulePlugin)
    assert FeeSchedulePlugin.meta.name == "fee-schedule"


def test_worked_example_rate_plus_fixed(make_tenant: MakeTenant) -> None:
    # 120.00 x 1.4 % = 1.68, + 0.25 = 1.93
    [fee] = fees_for(make_tenant, [ACQUIRING], capture("120.00", payment_method="card"))
    assert fee == Fee(
        code="acquiring",
        amount=Money("1.93", "EUR"),
        payer="merchant",
        beneficiary="platform",
        rule="fee-schedule:acquiring",
    )


def test_payer_and_beneficiary_come_from_the_rule(make_tenant: MakeTenant) -> None:
    rule = {**ACQUIRING, "payer": "customer", "beneficiary": "psp-1"}
    [fee] = fees_for(make_tenant, [rule], capture("120.00", payment_method="card"))
    assert (fee.payer, fee.beneficiary) == ("customer", "psp-1")


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("10.00", "0.50"),  # 0.14 + 0.25 = 0.39, raised to the minimum 0.50
        ("0.40", "0.40"),  # minimum 0.50 would exceed the amount: capped at the amount
        ("100.00", "1.65"),  # 1.40 + 0.25, between minimum and maximum
        ("1000.00", "5.00"),  # 14.25 capped to the maximum 5.00
        ("-1000.00", "5.00"),  # a negative movement (refund) is charged on its size
        ("0.00", "0.00"),
    ],
)
def test_minimum_and_maximum_clamp(make_tenant: MakeTenant, amount: str, expected: str) -> None:
    rule = {**ACQUIRING, "minimum": "0.50", "maximum": "5.00"}
    [fee] = fees_for(make_tenant, [rule], capture(amount, payment_method="card"))
    assert fee.amount == Money(expected, "EUR")


@pytest.mark.parametrize(
    ("rounding", "even_tie", "odd_tie"),
    [
        # 0.10 x 0.25 = 0.025 and 0.30 x 0.25 = 0.075: ties below an even and an odd digit
        ("half_even", "0.02", "0.08"),
        ("half_up", "0.03", "0.08"),
        ("down", "0.02", "0.07"),
        ("up", "0.03", "0.08"),
    ],
)
def test_rounding_modes_on_a_tie(
    make_tenant: MakeTenant, rounding: str, even_tie: str, odd_tie: str
) -> None:
    rule = {"code": "fx", "operation": "capture", "rate": "0.25"}
    [first] = fees_for(make_tenant, [rule], capture("0.10"), rounding=rounding)
    [second] = fees_for(make_tenant, [rule], capture("0.30"), rounding=rounding)
    assert first.amount == Money(even_tie, "EUR")
    assert second.amount == Money(odd_tie, "EUR")


def test_default_rounding_is_half_even(make_tenant: MakeTenant) -> None:
    rule = {"code": "fx", "operation": "capture", "rate": "0.25"}
    [fee] = fees_for(make_tenant, [rule], capture("0.10"))
    assert fee.amount == Money("0.02", "EUR")


def test_rounding_follows_the_movements_currency(make_tenant: MakeTenant) -> None:
    rule = {"code": "fx", "operation": "capture", "rate": "0.015"}
    jpy, kwd = capture("1234", "JPY"), capture("12.345", "KWD")
    [yen] = fees_for(make_tenant, [rule], jpy)
    [dinar] = fees_for(make_tenant, [rule], kwd)
    assert yen.amount == Money("19", "JPY")  # 18.51 -> 19
    assert dinar.amount == Money("0.185", "KWD")  # 0.185175 -> 0.185


# ------------------------------------------------------------------ matching

MATCHING_RULES: list[dict[str, Any]] = [
    {"code": "any-capture", "operation": "capture", "rate": "0.01"},
    {"code": "card", "operation": "capture", "payment_method": "card", "rate": "0.02"},
    {"code": "web", "operation": "capture", "channel": "web", "rate": "0.03"},
    {"code": "eur", "operation": "capture", "currency": "EUR", "fixed": "0.10"},
    {"code": "refund", "operation": "refund", "rate": "0.04"},
]


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (capture("100.00"), [("any-capture", "1.00"), ("eur", "0.10")]),
        (
            capture("100.00", payment_method="card", channel="web"),
            [("any-capture", "1.00"), ("card", "2.00"), ("web", "3.00"), ("eur", "0.10")],
        ),
        (capture("100.00", payment_method="sepa"), [("any-capture", "1.00"), ("eur", "0.10")]),
        (capture("100.00", "USD", channel="web"), [("any-capture", "1.00"), ("web", "3.00")]),
        (capture("100.00", "USD", channel="pos"), [("any-capture", "1.00")]),
        (FeeContext("refund", Money("-50.00", "EUR")), [("refund", "2.00")]),
        (FeeContext("payout", Money("100.00", "EUR")), []),
    ],
)
def test_rules_match_on_operation_method_channel_and_currency(
    make_tenant: MakeTenant, context: FeeContext, expected: list[tuple[str, str]]
) -> None:
    fees = fees_for(make_tenant, MATCHING_RULES, context)
    # One line per matching rule, in rule order, in the movement's currency.
    assert [(fee.code, fee.amount) for fee in fees] == [
        (code, Money(amount, context.amount.currency)) for code, amount in expected
    ]


def test_no_matching_rule_abstains(make_tenant: MakeTenant) -> None:
    tenant = make_tenant([FeeSchedulePlugin], settings={"fee-schedule": {"rules": [ACQUIRING]}})
    plugin = tenant.plugin("fee-schedule")
    assert isinstance(plugin, FeeSchedulePlugin)
    context = FeeContext("payout", Money("10.00", "EUR"))
    assert plugin.finplug_calculate_fees(context) is None
    assert fee_hooks.of(tenant.hooks).finplug_calculate_fees(context=context) == []


def test_no_rules_means_no_fees(make_tenant: MakeTenant) -> None:
    tenant = make_tenant([FeeSchedulePlugin])
    assert fee_hooks.of(tenant.hooks).finplug_calculate_fees(context=capture("10.00")) == []


def test_several_matching_rules_give_lines_in_rule_order(make_tenant: MakeTenant) -> None:
    rules = [
        {"code": "scheme", "operation": "capture", "rate": "0.002"},
        {**ACQUIRING, "payment_method": None},
        {"code": "platform", "operation": "capture", "rate": "0.001", "payer": "customer"},
    ]
    fees = fees_for(make_tenant, rules, capture("250.00"))
    assert [(f.code, f.amount, f.payer) for f in fees] == [
        ("scheme", Money("0.50", "EUR"), "merchant"),
        ("acquiring", Money("3.75", "EUR"), "merchant"),
        ("platform", Money("0.25", "EUR"), "customer"),
    ]
    assert [f.rule for f in fees] == [
        "fee-schedule:scheme",
        "fee-schedule:acquiring",
        "fee-schedule:platform",
    ]


# ------------------------------------------------------------------ settings validation


def schedule_issues(make_platform: MakePlatform, schedule: dict[str, Any]) -> list[tuple[str, str]]:
    config = {"tenant": "acme", "plugins": {"fee-schedule": schedule}}
    with pytest.raises(ConfigError) as info:
        make_platform([FeeSchedulePlugin], [config])
    return [(issue.path, issue.message) for issue in info.value.issues]


def rule_issue(make_platform: MakePlatform, **changes: Any) -> tuple[str, str]:
    rule = {"code": "acquiring", "operation": "capture", **changes}
    [issue] = schedule_issues(make_platform, {"rules": [{"code": "ok", "operation": "x"}, rule]})
    path, _ = issue
    assert path.startswith("plugins.fee-schedule.rules[1]")
    return issue


def test_valid_schedule_is_accepted(make_platform: MakePlatform) -> None:
    rule = {**ACQUIRING, "minimum": "0.50", "maximum": 5, "currency": "eur"}
    config = {"tenant": "acme", "plugins": {"fee-schedule": {"rounding": "up", "rules": [rule]}}}
    platform = make_platform([FeeSchedulePlugin], [config])
    plugin = platform.tenant("acme").plugin("fee-schedule")
    assert isinstance(plugin, FeeSchedulePlugin)
    [parsed] = plugin.settings.rules
    assert parsed.currency == "EUR"
    assert parsed.rate == Decimal("0.014")
    assert parsed.maximum == Decimal(5)


@pytest.mark.parametrize("field", ["fixed", "minimum", "maximum"])
def test_absolute_amounts_need_a_currency(make_platform: MakePlatform, field: str) -> None:
    _, message = rule_issue(make_platform, rate="0.01", **{field: "0.30"})
    assert "currency" in message


def test_minimum_above_maximum(make_platform: MakePlatform) -> None:
    _, message = rule_issue(make_platform, currency="EUR", minimum="5.00", maximum="1.00")
    assert "minimum must not be greater than maximum" in message


@pytest.mark.parametrize("field", ["rate", "fixed", "minimum", "maximum"])
def test_floats_are_rejected(make_platform: MakePlatform, field: str) -> None:
    path, message = rule_issue(make_platform, currency="EUR", **{field: 0.5})
    assert path == f"plugins.fee-schedule.rules[1].{field}"
    assert "quote the number" in message


@pytest.mark.parametrize("rate", ["1.01", "2", "-0.01"])
def test_rate_must_be_between_zero_and_one(make_platform: MakePlatform, rate: str) -> None:
    path, message = rule_issue(make_platform, rate=rate)
    assert path == "plugins.fee-schedule.rules[1].rate"
    assert "between 0 and 1" in message


@pytest.mark.parametrize(
    ("code", "field", "value"),
    [
        ("EUR", "fixed", "0.001"),
        ("EUR", "minimum", "0.505"),
        ("EUR", "maximum", "5.001"),
        ("JPY", "fixed", "0.5"),
        ("KWD", "fixed", "0.0001"),
    ],
)
def test_amounts_finer_than_the_currency(
    make_platform: MakePlatform, code: str, field: str, value: str
) -> None:
    _, message = rule_issue(make_platform, currency=code, **{field: value})
    assert "more decimals" in message
    assert code in message


@pytest.mark.parametrize("field", ["fixed", "minimum", "maximum"])
def test_negative_amounts(make_platform: MakePlatform, field: str) -> None:
    _, message = rule_issue(make_platform, currency="EUR", **{field: "-1.00"})
    assert "negative" in message


@pytest.mark.parametrize(
    ("schedule", "expected_path"),
    [
        ({"rounding": "ceiling"}, "plugins.fee-schedule.rounding"),
        ({"rules": [{"operation": "capture"}]}, "plugins.fee-schedule.rules[0].code"),
        ({"rules": [{"code": "", "operation": "capture"}]}, "plugins.fee-schedule.rules[0].code"),
        ({"rules": [{"code": "a"}]}, "plugins.fee-schedule.rules[0].operation"),
        (
            {"rules": [{"code": "a", "operation": "capture", "currency": "QQQ"}]},
            "plugins.fee-schedule.rules[0].currency",
        ),
        (
            {"rules": [{"code": "a", "operation": "capture", "payer": "bank"}]},
            "plugins.fee-schedule.rules[0].payer",
        ),
        (
            {"rules": [{"code": "a", "operation": "capture", "percent": "1"}]},
            "plugins.fee-schedule.rules[0].percent",
        ),
        ({"rule": []}, "plugins.fee-schedule.rule"),
    ],
)
def test_other_settings_errors(
    make_platform: MakePlatform, schedule: dict[str, Any], expected_path: str
) -> None:
    [(path, _)] = schedule_issues(make_platform, schedule)
    assert path == expected_path


# ------------------------------------------------------------------ properties

CODES = ("EUR", "JPY", "KWD")


@st.composite
def fee_cases(draw: st.DrawFn, max_rate_places: int = 6) -> tuple[FeeRule, Money, str]:
    """A valid rule, a movement it applies to, and a rounding mode."""
    code = draw(st.sampled_from(CODES))
    cur = currency(code)
    amount = Money.from_minor(draw(st.integers(-(10**12), 10**12)), cur)
    places = draw(st.integers(0, max_rate_places))
    rate = Decimal(draw(st.integers(0, 10**places))).scaleb(-places, context=WIDE)
    rule: dict[str, Any] = {"code": "f", "operation": "capture", "rate": str(rate)}
    if draw(st.booleans()):
        minor = st.integers(0, 10**7)
        fixed = draw(minor)
        bounds = sorted(draw(st.lists(minor, min_size=2, max_size=2)))
        rule["currency"] = code
        rule["fixed"] = str(Money.from_minor(fixed, cur).amount)
        if draw(st.booleans()):
            rule["minimum"] = str(Money.from_minor(bounds[0], cur).amount)
        if draw(st.booleans()):
            rule["maximum"] = str(Money.from_minor(bounds[1], cur).amount)
    rounding = draw(st.sampled_from(sorted(MODES)))
    return FeeRule.model_validate(rule), amount, rounding


def unrounded_fee(rule: FeeRule, amount: Money) -> Decimal:
    """The README's formula, in exact arithmetic: amount x rate + fixed, clamped."""
    base = abs(amount.amount)
    raw = WIDE.add(WIDE.multiply(base, rule.rate), rule.fixed)
    if rule.minimum is not None:
        raw = max(raw, rule.minimum)
    if rule.maximum is not None:
        raw = min(raw, rule.maximum)
    return min(raw, base)


@settings(max_examples=200, deadline=None)
@given(fee_cases())
def test_fee_invariants(case: tuple[FeeRule, Money, str]) -> None:
    rule, amount, rounding = case
    cur = amount.currency
    fee = compute_fee(rule, amount, rounding)
    size = abs(amount)

    # An exact Money in the movement's currency: no more decimals than it allows.
    assert isinstance(fee, Money)
    assert fee.currency is cur
    assert fee.amount == fee.amount.quantize(cur.quantum)
    exponent = fee.amount.as_tuple().exponent
    assert isinstance(exponent, int)
    assert exponent >= -cur.exponent
    # Never negative, never above the amount it is charged on.
    assert fee.amount >= 0
    assert fee <= size
    # Minimum and maximum hold whenever the amount leaves room for them.
    if rule.minimum is not None and rule.minimum <= size.amount:
        assert fee.amount >= rule.minimum
    if rule.maximum is not None:
        assert fee.amount <= rule.maximum
    # Less than one minor unit from the exact value, on the side the mode says.
    unrounded = unrounded_fee(rule, amount)
    error = WIDE.subtract(fee.amount, unrounded)
    assert abs(error) < cur.quantum
    if rounding == "down":
        assert error <= 0
    elif rounding == "up":
        assert error >= 0
    else:
        assert abs(error) <= cur.quantum / 2


@settings(max_examples=100, deadline=None)
@given(
    fee_cases(),
    st.integers(0, 10**40).map(lambda n: Decimal(n).scaleb(-40, context=WIDE)),
)
@example(
    (
        FeeRule(code="f", operation="capture"),
        Money("1.00", "EUR"),
        "half_even",
    ),
    Decimal("0.02500000000000000000000000000049"),
)
@example(
    (FeeRule(code="f", operation="capture"), Money("1.00", "EUR"), "down"),
    Decimal("0.0299999999999999999999999999999"),
)
def test_fee_is_rounded_once_even_with_long_rates(
    case: tuple[FeeRule, Money, str], rate: Decimal
) -> None:
    # The README: "amount x rate + fixed, clamped, then rounded once". A rate with
    # many digits (any Decimal in [0, 1] is a valid Rate) must not round twice.
    rule, amount, rounding = case
    rule = rule.model_copy(update={"rate": rate})
    expected = Money.of(unrounded_fee(rule, amount), amount.currency, rounding=MODES[rounding])
    assert compute_fee(rule, amount, rounding) == expected


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10**38 - 1).map(lambda n: Decimal(n).scaleb(-38, context=WIDE)))
def test_long_rates_are_valid_settings(rate: Decimal) -> None:
    # The property above relies on such rates (up to 38 digits) being accepted as settings.
    rule = FeeRule.model_validate({"code": "f", "operation": "capture", "rate": str(rate)})
    assert rule.rate == rate
    assert isinstance(rule.rate, Decimal)


def test_rates_beyond_38_digits_are_rejected() -> None:
    with pytest.raises(ValidationError, match="at most 38 significant digits"):
        FeeRule.model_validate({"code": "f", "operation": "capture", "rate": "0." + "1" * 39})
