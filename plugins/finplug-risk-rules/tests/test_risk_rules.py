"""The risk-rules plugin: its README table, the ``risk`` component, settings checks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finplug import (
    ConfigError,
    Money,
    NoSettings,
    Plugin,
    PluginMeta,
    hookimpl,
)
from finplug.sockets.risk import (
    RISK,
    RiskAPI,
    RiskContext,
    RiskDecision,
    RiskReason,
    RiskVerdict,
    risk_hooks,
)
from finplug.testing import MakePlatform, MakeTenant, assert_valid_plugin
from finplug_risk_rules import RiskRulesPlugin

AUTHORIZE = "payment.authorize"


class ExtraRulePlugin(Plugin[NoSettings]):
    """A second risk rule from another plugin: looks at the device attribute."""

    meta = PluginMeta(sockets={"risk": ">=1.0,<2"}, name="extra-rule", version="0", api=">=1.0")

    @hookimpl
    def finplug_assess_risk(self, context: RiskContext) -> RiskDecision | None:
        device = context.attributes.get("device")
        if device == "emulator":
            return RiskDecision.review(
                RiskReason("device_emulator", "device is an emulator", "extra-rule:device")
            )
        if device == "banned":
            return RiskDecision.decline(
                RiskReason("device_banned", "device is banned", "extra-rule:device")
            )
        return None


def ctx(
    amount: str | None = "10.00",
    currency: str = "EUR",
    *,
    operation: str = AUTHORIZE,
    country: str | None = None,
    merchant: str | None = None,
    device: str | None = None,
) -> RiskContext:
    return RiskContext(
        operation,
        amount=None if amount is None else Money(amount, currency),
        merchant_id=merchant,
        country=country,
        attributes={} if device is None else {"device": device},
    )


def codes(decision: RiskDecision) -> list[str]:
    return [reason.code for reason in decision.reasons]


# ------------------------------------------------------------------ the plugin


def test_plugin_matches_the_specs() -> None:
    assert_valid_plugin(RiskRulesPlugin)
    assert_valid_plugin(ExtraRulePlugin)
    assert RiskRulesPlugin.meta.name == "risk-rules"
    assert RiskRulesPlugin.meta.components == frozenset({"risk"})


def test_provides_the_risk_component(make_tenant: MakeTenant) -> None:
    tenant = make_tenant([RiskRulesPlugin])
    assert tenant.has_component("risk")
    assert isinstance(tenant.component(RISK), RiskAPI)
    assert tenant.component(RISK) is tenant.component("risk")
    assert tenant.component(RISK).rules() == []


# ------------------------------------------------------------------ README table

README_RULES: list[tuple[dict[str, Any], RiskContext, RiskVerdict, str, str]] = [
    (
        {"allowed_currencies": ["EUR", "USD"]},
        ctx("10.00", "GBP"),
        RiskVerdict.DECLINE,
        "currency_not_allowed",
        "allowed_currencies",
    ),
    (
        {"decline_above": {"EUR": "10000.00"}},
        ctx("10000.01"),
        RiskVerdict.DECLINE,
        "amount_over_limit",
        "decline_above",
    ),
    (
        {"review_above": {"EUR": "2500.00"}},
        ctx("2500.01"),
        RiskVerdict.REVIEW,
        "amount_needs_review",
        "review_above",
    ),
    (
        {"blocked_countries": ["KP", "IR"]},
        ctx(country="KP"),
        RiskVerdict.DECLINE,
        "country_blocked",
        "blocked_countries",
    ),
    (
        {"review_countries": ["RU"]},
        ctx(country="RU"),
        RiskVerdict.REVIEW,
        "country_needs_review",
        "review_countries",
    ),
    (
        {"blocked_merchants": ["m-0666"]},
        ctx(merchant="m-0666"),
        RiskVerdict.DECLINE,
        "merchant_blocked",
        "blocked_merchants",
    ),
]


@pytest.mark.parametrize(
    ("config", "context", "verdict", "code", "rule"),
    README_RULES,
    ids=[row[3] for row in README_RULES],
)
def test_each_readme_rule(
    make_tenant: MakeTenant,
    config: dict[str, Any],
    context: RiskContext,
    verdict: RiskVerdict,
    code: str,
    rule: str,
) -> None:
    tenant = make_tenant([RiskRulesPlugin], settings={"risk-rules": config})
    [answer] = risk_hooks.of(tenant.hooks).finplug_assess_risk(context=context)
    assert answer.verdict is verdict
    assert codes(answer) == [code]
    assert answer.reasons[0].rule == f"risk-rules:{rule}"
    assert answer.reasons[0].message
    decision = tenant.component(RISK).assess(context)
    assert decision.verdict is verdict
    assert codes(decision) == [code]
    assert tenant.component(RISK).rules() == [f"risk-rules:{rule}"]


@pytest.mark.parametrize(
    ("config", "context"),
    [
        ({"allowed_currencies": ["EUR", "USD"]}, ctx("10.00", "usd")),
        ({"decline_above": {"EUR": "10000.00"}}, ctx("10000.00")),
        ({"decline_above": {"EUR": "10000.00"}}, ctx("20000.00", "USD")),
        ({"review_above": {"EUR": "2500.00"}}, ctx("2500.00")),
        ({"review_above": {"EUR": "2500.00"}}, ctx(None)),
        ({"blocked_countries": ["KP"]}, ctx(country="DE")),
        ({"blocked_countries": ["KP"]}, ctx(country=None)),
        ({"review_countries": ["RU"]}, ctx(country="UA")),
        ({"blocked_merchants": ["m-0666"]}, ctx(merchant="m-0667")),
        ({}, ctx("1000000000.00", "GBP", country="KP", merchant="m-0666")),
    ],
)
def test_abstains_when_nothing_objects(
    make_tenant: MakeTenant, config: dict[str, Any], context: RiskContext
) -> None:
    tenant = make_tenant([RiskRulesPlugin], settings={"risk-rules": config})
    plugin = tenant.plugin("risk-rules")
    assert isinstance(plugin, RiskRulesPlugin)
    assert plugin.finplug_assess_risk(context) is None
    assert risk_hooks.of(tenant.hooks).finplug_assess_risk(context=context) == []
    decision = tenant.component(RISK).assess(context)
    assert decision.approved
    assert decision == RiskDecision.approve()


def test_country_codes_in_contexts_are_matched_case_insensitively(
    make_tenant: MakeTenant,
) -> None:
    tenant = make_tenant([RiskRulesPlugin], settings={"risk-rules": {"blocked_countries": ["kp"]}})
    assert tenant.component(RISK).assess(ctx(country="kp")).verdict is RiskVerdict.DECLINE
    assert tenant.component(RISK).assess(ctx(country="KP")).verdict is RiskVerdict.DECLINE


def test_blocked_wins_over_review_for_one_country(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(
        [RiskRulesPlugin],
        settings={"risk-rules": {"blocked_countries": ["IR"], "review_countries": ["IR"]}},
    )
    decision = tenant.component(RISK).assess(ctx(country="IR"))
    assert decision.verdict is RiskVerdict.DECLINE
    assert codes(decision) == ["country_blocked"]


def test_several_rules_keep_every_reason(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(
        [RiskRulesPlugin],
        settings={
            "risk-rules": {
                "decline_above": {"EUR": "10000.00"},
                "review_above": {"EUR": "2500.00"},
                "review_countries": ["RU"],
                "blocked_merchants": ["m-0666"],
            }
        },
    )
    reviews = tenant.component(RISK).assess(ctx("3000.00", country="RU"))
    assert reviews.verdict is RiskVerdict.REVIEW
    assert sorted(codes(reviews)) == ["amount_needs_review", "country_needs_review"]

    declines = tenant.component(RISK).assess(ctx("20000.00", country="RU", merchant="m-0666"))
    assert declines.verdict is RiskVerdict.DECLINE
    assert sorted(codes(declines)) == [
        "amount_needs_review",
        "amount_over_limit",
        "country_needs_review",
        "merchant_blocked",
    ]
    assert sorted(tenant.component(RISK).rules()) == [
        "risk-rules:blocked_merchants",
        "risk-rules:decline_above",
        "risk-rules:review_above",
        "risk-rules:review_countries",
    ]


def test_operations_filter(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(
        [RiskRulesPlugin],
        settings={
            "risk-rules": {
                "blocked_countries": ["KP"],
                "operations": [AUTHORIZE, "wallet.topup"],
            }
        },
    )
    for operation in (AUTHORIZE, "wallet.topup"):
        decision = tenant.component(RISK).assess(ctx(country="KP", operation=operation))
        assert decision.verdict is RiskVerdict.DECLINE, operation
    skipped = ctx(country="KP", operation="merchant.onboard")
    assert risk_hooks.of(tenant.hooks).finplug_assess_risk(context=skipped) == []
    assert tenant.component(RISK).assess(skipped).approved


def test_empty_operations_list_assesses_nothing(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(
        [RiskRulesPlugin],
        settings={"risk-rules": {"blocked_countries": ["KP"], "operations": []}},
    )
    assert tenant.component(RISK).assess(ctx(country="KP")).approved


# ------------------------------------------------------------------ with another plugin


def test_assess_combines_rules_of_other_plugins(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(
        [RiskRulesPlugin, ExtraRulePlugin],
        settings={"risk-rules": {"blocked_countries": ["KP"], "review_above": {"EUR": "100"}}},
    )
    # Only the other plugin objects: its verdict and reason come through tenant.component(RISK).
    only_extra = tenant.component(RISK).assess(ctx(device="emulator"))
    assert only_extra.verdict is RiskVerdict.REVIEW
    assert codes(only_extra) == ["device_emulator"]
    assert only_extra.reasons[0].rule == "extra-rule:device"

    # Both object: the strictest verdict wins, every reason is kept.
    review_and_decline = tenant.component(RISK).assess(ctx(country="KP", device="emulator"))
    assert review_and_decline.verdict is RiskVerdict.DECLINE
    assert sorted(codes(review_and_decline)) == ["country_blocked", "device_emulator"]

    decline_and_review = tenant.component(RISK).assess(ctx("100.01", device="banned"))
    assert decline_and_review.verdict is RiskVerdict.DECLINE
    assert sorted(codes(decline_and_review)) == ["amount_needs_review", "device_banned"]

    # Only risk-rules objects.
    only_own = tenant.component(RISK).assess(ctx("100.01"))
    assert only_own.verdict is RiskVerdict.REVIEW
    assert codes(only_own) == ["amount_needs_review"]

    # Nobody objects.
    assert tenant.component(RISK).assess(ctx("100.00")).approved
    assert risk_hooks.of(tenant.hooks).finplug_assess_risk(context=ctx("100.00")) == []
    # rules() lists only risk-rules' own rules.
    assert sorted(tenant.component(RISK).rules()) == [
        "risk-rules:blocked_countries",
        "risk-rules:review_above",
    ]


def test_without_risk_rules_the_socket_default_runs_the_other_rules(
    make_tenant: MakeTenant,
) -> None:
    tenant = make_tenant([ExtraRulePlugin], tenant_id="acme")
    assert not tenant.has_component("risk")
    # Nobody provides the component: the risk socket's default asks the rules there are.
    default = tenant.component(RISK)
    assert default.rules() == []
    assert default.assess(ctx(device="banned")).verdict is RiskVerdict.DECLINE
    assert default.assess(ctx("100.00")).approved
    # The other plugin's rule still answers the hook directly.
    [answer] = risk_hooks.of(tenant.hooks).finplug_assess_risk(context=ctx(device="banned"))
    assert answer.verdict is RiskVerdict.DECLINE


# ------------------------------------------------------------------ settings validation


def config_issues(make_platform: MakePlatform, settings: dict[str, Any]) -> list[tuple[str, str]]:
    config = {"tenant": "acme", "plugins": {"risk-rules": settings}}
    with pytest.raises(ConfigError) as info:
        make_platform([RiskRulesPlugin], [config])
    return [(issue.path, issue.message) for issue in info.value.issues]


def test_valid_settings_are_accepted(make_platform: MakePlatform) -> None:
    config = {
        "tenant": "acme",
        "plugins": {
            "risk-rules": {
                "allowed_currencies": ["eur", "USD"],
                "decline_above": {"eur": "10000.00", "JPY": 1000000},
                "review_above": {"EUR": "2500"},
                "blocked_countries": ["kp", "IR"],
                "review_countries": ["RU"],
                "blocked_merchants": ["m-0666"],
                "operations": [AUTHORIZE],
            }
        },
    }
    platform = make_platform([RiskRulesPlugin], [config])
    plugin = platform.tenant("acme").plugin("risk-rules")
    assert isinstance(plugin, RiskRulesPlugin)
    assert plugin.settings.allowed_currencies == frozenset({"EUR", "USD"})
    assert plugin.settings.decline_above == {"EUR": Decimal("10000.00"), "JPY": Decimal(1000000)}
    assert plugin.settings.blocked_countries == frozenset({"KP", "IR"})


@pytest.mark.parametrize("field", ["decline_above", "review_above"])
@pytest.mark.parametrize("limit", ["-1", "0", -5, "-0.01"])
def test_limits_must_be_positive(make_platform: MakePlatform, field: str, limit: Any) -> None:
    [(path, message)] = config_issues(make_platform, {field: {"EUR": limit}})
    assert path == f"plugins.risk-rules.{field}.EUR"
    assert "greater than zero" in message


def test_non_positive_limit_is_located_at_the_offending_value(
    make_platform: MakePlatform,
) -> None:
    # Like every other settings error, the issue names the field path of the bad
    # value (so a YAML config reports the line of `EUR:`, not of `risk-rules:`).
    issues = config_issues(
        make_platform, {"decline_above": {"EUR": "-1"}, "review_above": {"USD": "0"}}
    )
    assert sorted(path for path, _ in issues) == [
        "plugins.risk-rules.decline_above.EUR",
        "plugins.risk-rules.review_above.USD",
    ]


@pytest.mark.parametrize("field", ["decline_above", "review_above"])
def test_float_limits_are_rejected(make_platform: MakePlatform, field: str) -> None:
    [(path, message)] = config_issues(make_platform, {field: {"EUR": 2500.0}})
    assert path == f"plugins.risk-rules.{field}.EUR"
    assert "quote the number" in message


@pytest.mark.parametrize("field", ["decline_above", "review_above"])
def test_unknown_currency_as_limit_key(make_platform: MakePlatform, field: str) -> None:
    [(path, message)] = config_issues(make_platform, {field: {"QQQ": "100"}})
    assert path.startswith(f"plugins.risk-rules.{field}.QQQ")
    assert "unknown currency" in message


def test_unknown_currency_in_allowed_currencies(make_platform: MakePlatform) -> None:
    [(path, message)] = config_issues(make_platform, {"allowed_currencies": ["EUR", "QQQ"]})
    assert path == "plugins.risk-rules.allowed_currencies[1]"
    assert "unknown currency" in message


def test_bad_country_code(make_platform: MakePlatform) -> None:
    [(path, message)] = config_issues(make_platform, {"blocked_countries": ["DEU"]})
    assert path == "plugins.risk-rules.blocked_countries[0]"
    assert "ISO 3166-1" in message


def test_unknown_key(make_platform: MakePlatform) -> None:
    [(path, message)] = config_issues(make_platform, {"max_amount": {"EUR": "10"}})
    assert path == "plugins.risk-rules.max_amount"
    assert "unknown field" in message


def test_every_issue_is_reported_at_once(make_platform: MakePlatform) -> None:
    issues = config_issues(
        make_platform,
        {
            "decline_above": {"EUR": 1.5},
            "blocked_countries": ["XXX"],
            "typo": True,
        },
    )
    paths = sorted(path for path, _ in issues)
    assert paths == [
        "plugins.risk-rules.blocked_countries[0]",
        "plugins.risk-rules.decline_above.EUR",
        "plugins.risk-rules.typo",
    ]


# ------------------------------------------------------------------ property

minor_amounts = st.integers(-(10**12), 10**12)


@settings(
    max_examples=100,
    deadline=None,
    # make_tenant is a stateless factory, so reusing it across examples is safe.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(amount=minor_amounts, limit=st.integers(1, 10**12))
def test_declines_exactly_above_the_limit(make_tenant: MakeTenant, amount: int, limit: int) -> None:
    money = Money.from_minor(amount, "EUR")
    limit_money = Money.from_minor(limit, "EUR")
    tenant = make_tenant(
        [RiskRulesPlugin],
        settings={"risk-rules": {"decline_above": {"EUR": str(limit_money.amount)}}},
    )
    decision = tenant.component(RISK).assess(RiskContext(AUTHORIZE, amount=money))
    assert (decision.verdict is RiskVerdict.DECLINE) == (amount > limit)
    if amount > limit:
        assert codes(decision) == ["amount_over_limit"]
    else:
        assert decision.approved
        assert decision.reasons == ()
