"""The routing engine: strategies, rules, fallback, config errors, and its guarantees."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from finplug import ConfigError, FinplugError, Money
from finplug.sockets.payments import (
    ChannelInfo,
    ChannelStats,
    PaymentMethod,
    RouteRequest,
    RoutingStrategy,
)
from finplug_payments.routing import (
    BUILTIN_STRATEGIES,
    RoutingConfigError,
    RoutingRule,
    RoutingSettings,
    RoutingTable,
    route,
)

CARD = PaymentMethod.CARD
WALLET = PaymentMethod.WALLET
BANK = PaymentMethod.BANK_TRANSFER
ALL_METHODS = frozenset(PaymentMethod)
NO_STATS: Mapping[str, ChannelStats] = {}
DOCS = Path(__file__).resolve().parents[3] / "docs" / "routing.md"


def channel(
    name: str,
    *,
    methods: Collection[PaymentMethod] = ALL_METHODS,
    currencies: Collection[str] = ("EUR", "USD"),
    min_amount: str | None = None,
    max_amount: str | None = None,
    fee_rate: str = "0",
    fee_fixed: str = "0",
    enabled: bool = True,
) -> ChannelInfo:
    return ChannelInfo(
        name=name,
        methods=frozenset(methods),
        currencies=frozenset(currencies),
        min_amount=None if min_amount is None else Decimal(min_amount),
        max_amount=None if max_amount is None else Decimal(max_amount),
        fee_rate=Decimal(fee_rate),
        fee_fixed=Decimal(fee_fixed),
        enabled=enabled,
    )


def request(
    amount: str = "100.00",
    currency: str = "EUR",
    *,
    method: PaymentMethod = CARD,
    merchant: str = "m1",
    payment_id: str = "pay-1",
) -> RouteRequest:
    return RouteRequest(
        payment_id=payment_id,
        amount=Money(amount, currency),
        method=method,
        merchant_id=merchant,
    )


def settings_of(**values: Any) -> RoutingSettings:
    """Settings as a tenant config would give them: validated from plain data."""
    return RoutingSettings.model_validate(values)


FIVE = [channel(n) for n in ("a", "b", "c", "d", "e")]


def decide(
    config: Mapping[str, Any],
    channels: Sequence[ChannelInfo] = FIVE,
    req: RouteRequest | None = None,
    stats: Mapping[str, ChannelStats] = NO_STATS,
    strategies: Mapping[str, RoutingStrategy] | None = None,
) -> list[str]:
    table = RoutingTable.build(settings_of(**config), channels, strategies or {})
    return table.route(req or request(), stats)


# ---------------------------------------------------------------- strategies


def test_default_settings_route_by_name_up_to_three() -> None:
    assert decide({}) == ["a", "b", "c"]


def test_priority_follows_the_list_then_the_rest_by_name() -> None:
    config = {"priority": ["d", "b"], "max_attempts": 5}
    assert decide(config) == ["d", "b", "a", "c", "e"]


def test_priority_skips_ineligible_channels() -> None:
    channels = [channel("a"), channel("b", enabled=False), channel("c", currencies={"USD"})]
    config = {"priority": ["c", "b", "a"], "max_attempts": 5}
    assert decide(config, channels) == ["a"]


def test_lowest_cost_orders_by_cost_then_name() -> None:
    channels = [
        channel("pricey", fee_rate="0.03"),
        channel("flat", fee_fixed="1.50"),  # 1.50 on 100
        channel("tie-b", fee_rate="0.02"),  # 2.00 on 100
        channel("tie-a", fee_rate="0.01", fee_fixed="1.00"),  # 2.00 on 100
    ]
    config = {"strategy": "lowest_cost", "max_attempts": 10}
    assert decide(config, channels) == ["flat", "tie-a", "tie-b", "pricey"]
    # On a small amount the fixed fee dominates.
    assert decide(config, channels, request("10.00")) == ["tie-b", "pricey", "tie-a", "flat"]


def test_success_rate_orders_by_rate_then_name_with_a_prior_for_unused() -> None:
    stats = {
        "a": ChannelStats(attempts=100, successes=60),
        "b": ChannelStats(attempts=100, successes=95),
        "c": ChannelStats(attempts=10, successes=10),
        "d": ChannelStats(attempts=100, successes=95),
    }
    # rates: a 63/104, b 98/104, c 13/14, d 98/104, e (unused) 3/4
    config = {"strategy": "success_rate", "max_attempts": 10}
    assert decide(config, stats=stats) == ["b", "d", "c", "e", "a"]


def test_volume_split_is_stable_per_payment_and_ignores_stats() -> None:
    config = {"strategy": "volume_split", "weights": {"a": 1, "b": 1}, "max_attempts": 5}
    table = RoutingTable.build(settings_of(**config), FIVE)
    first = table.route(request(payment_id="pay-42"), NO_STATS)
    bad_a = {"a": ChannelStats(attempts=100, successes=0)}
    assert table.route(request(payment_id="pay-42"), bad_a) == first
    assert first[0] in {"a", "b"}
    assert set(first[:2]) == {"a", "b"}
    assert first[2:] == ["c", "d", "e"]


def test_volume_split_orders_the_others_by_weight_then_name() -> None:
    weights = {"a": 1, "b": 5, "c": 5, "d": 0}
    config = {"strategy": "volume_split", "weights": weights, "max_attempts": 10}
    firsts = set()
    for i in range(50):
        order = decide(config, req=request(payment_id=f"p{i}"))
        firsts.add(order[0])
        rest = sorted({"a", "b", "c"} - {order[0]}, key=lambda n: (-weights[n], n))
        # Weight 0 is no volume: "d" comes with the unweighted channels, by name.
        assert order == [order[0], *rest, "d", "e"]
    assert firsts == {"a", "b", "c"}


def test_volume_split_distribution_follows_the_weights() -> None:
    weights = {"a": 50, "b": 30, "c": 15, "d": 5}
    table = RoutingTable.build(
        settings_of(strategy="volume_split", weights=weights, max_attempts=1), FIVE
    )
    n = 10_000
    firsts = Counter(table.route(request(payment_id=f"pay-{i}"), NO_STATS)[0] for i in range(n))
    assert set(firsts) == set(weights)
    for name, weight in weights.items():
        share = Decimal(firsts[name]) / n
        assert abs(share - Decimal(weight) / 100) <= Decimal("0.02"), (name, share)


def test_volume_split_renormalises_over_eligible_channels() -> None:
    channels = [channel("a", currencies={"USD"}), channel("b"), channel("c")]
    config = {"strategy": "volume_split", "weights": {"a": 99, "b": 1}, "max_attempts": 3}
    for i in range(20):
        assert decide(config, channels, request(payment_id=str(i))) == ["b", "c"]


# ---------------------------------------------------------------- fallback and cap


def test_fallback_comes_after_the_picks_in_its_own_order() -> None:
    config = {"priority": ["a"], "fallback": ["e", "c"], "max_attempts": 5}
    assert decide(config) == ["a", "e", "c", "b", "d"]


def test_fallback_skips_ineligible_and_already_picked_channels() -> None:
    channels = [*FIVE[:4], channel("e", enabled=False)]
    config = {"priority": ["a", "c"], "fallback": ["e", "c", "d"], "max_attempts": 5}
    assert decide(config, channels) == ["a", "c", "d", "b"]


def test_max_attempts_caps_the_list() -> None:
    assert decide({"priority": ["e", "d"], "max_attempts": 1}) == ["e"]
    assert len(decide({"max_attempts": 50})) == 5


def test_no_eligible_channel_gives_an_empty_list() -> None:
    assert decide({}, req=request("5", "JPY")) == []
    assert decide({}, []) == []


def test_eligibility_uses_every_channel_limit() -> None:
    channels = [
        channel("off", enabled=False),
        channel("usd", currencies={"USD"}),
        channel("wallet", methods={WALLET}),
        channel("small", max_amount="50"),
        channel("big", min_amount="500"),
        channel("edge", min_amount="100", max_amount="100"),
        channel("ok"),
    ]
    assert decide({"max_attempts": 10}, channels) == ["edge", "ok"]


# ---------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("condition", "matching", "other"),
    [
        ({"min_amount": "100"}, request("100.00"), request("99.99")),
        ({"max_amount": "100"}, request("100.00"), request("100.01")),
        ({"min_amount": 10, "max_amount": "20.5"}, request("20.50"), request("9.99")),
        ({"currencies": ["usd"]}, request(currency="USD"), request(currency="EUR")),
        ({"methods": ["wallet"]}, request(method=WALLET), request(method=CARD)),
        ({"merchants": ["m7", "m8"]}, request(merchant="m8"), request(merchant="m1")),
        (
            {"currencies": ["EUR"], "min_amount": "50", "methods": ["card"]},
            request("50"),
            request("50", method=BANK),
        ),
    ],
)
def test_rule_conditions(
    condition: dict[str, Any], matching: RouteRequest, other: RouteRequest
) -> None:
    config = {"rules": [{"name": "r", "channels": ["e", "c"], **condition}], "max_attempts": 5}
    assert decide(config, req=matching) == ["e", "c"]
    assert decide(config, req=other) == ["a", "b", "c", "d", "e"]
    table = RoutingTable.build(settings_of(**config), FIVE)
    assert table.rule_for(matching) is table.settings.rules[0]
    assert table.rule_for(other) is None


def test_first_matching_rule_wins() -> None:
    config = {
        "rules": [
            {"name": "big", "min_amount": "1000", "channels": ["d"]},
            {"name": "eur", "currencies": ["EUR"], "channels": ["e"]},
            {"name": "any", "channels": ["a"]},
        ]
    }
    assert decide(config, req=request("5000")) == ["d"]
    assert decide(config, req=request("10")) == ["e"]
    assert decide(config, req=request("10", "USD")) == ["a"]


def test_rule_channels_are_exclusive_even_against_the_fallback() -> None:
    config = {
        "fallback": ["a", "b"],
        "rules": [{"name": "only", "channels": ["c", "b"]}],
        "max_attempts": 5,
    }
    assert decide(config) == ["c", "b"]


def test_rule_channels_skip_ineligible() -> None:
    channels = [*FIVE[:2], channel("c", max_amount="10")]
    config = {"rules": [{"name": "r", "channels": ["c", "a"]}]}
    assert decide(config, channels) == ["a"]


def test_rule_exclude_removes_channels_from_picks_fallback_and_rest() -> None:
    config = {
        "priority": ["a", "b"],
        "fallback": ["b", "c"],
        "rules": [{"name": "no-b", "merchants": ["m1"], "exclude": ["b"]}],
        "max_attempts": 5,
    }
    assert decide(config) == ["a", "c", "d", "e"]
    assert decide(config, req=request(merchant="m2")) == ["a", "b", "c", "d", "e"]


def test_rule_strategy_overrides_the_tenants() -> None:
    channels = [channel("a", fee_rate="0.03"), channel("b", fee_rate="0.01"), channel("c")]
    config = {
        "priority": ["a", "b", "c"],
        "rules": [{"name": "cheap-usd", "currencies": ["USD"], "strategy": "lowest_cost"}],
    }
    assert decide(config, channels) == ["a", "b", "c"]
    assert decide(config, channels, request(currency="USD")) == ["c", "b", "a"]


def test_rule_strategy_orders_the_rules_channels() -> None:
    channels = [channel("a", fee_rate="0.03"), channel("b", fee_rate="0.01"), channel("c")]
    config = {"rules": [{"name": "r", "channels": ["a", "b"], "strategy": "lowest_cost"}]}
    assert decide(config, channels) == ["b", "a"]


# ---------------------------------------------------------------- plugged strategies


def test_plugged_strategy_orders_and_is_filtered() -> None:
    seen: list[tuple[str, ...]] = []

    def reverse_then_junk(
        request: RouteRequest, channels: Sequence[ChannelInfo], stats: Mapping[str, ChannelStats]
    ) -> Sequence[str]:
        seen.append(tuple(c.name for c in channels))
        names = [c.name for c in channels]
        return ["nope", "off", *reversed(names), names[-1], "usd-only"]

    channels = [*FIVE[:3], channel("off", enabled=False), channel("usd-only", currencies={"USD"})]
    config = {"strategy": "reverse", "max_attempts": 10}
    assert decide(config, channels, strategies={"reverse": reverse_then_junk}) == ["c", "b", "a"]
    # It is handed only the eligible channels, by name.
    assert seen == [("a", "b", "c")]


def test_plugged_strategy_picks_are_followed_by_fallback_and_rest() -> None:
    def only_d(
        request: RouteRequest, channels: Sequence[ChannelInfo], stats: Mapping[str, ChannelStats]
    ) -> Sequence[str]:
        return ["d"]

    config = {"strategy": "only-d", "fallback": ["e"], "max_attempts": 5}
    assert decide(config, strategies={"only-d": only_d}) == ["d", "e", "a", "b", "c"]


def test_plugged_strategy_chosen_by_a_rule_sees_the_stats() -> None:
    def most_attempts(
        request: RouteRequest, channels: Sequence[ChannelInfo], stats: Mapping[str, ChannelStats]
    ) -> Sequence[str]:
        return sorted(
            (c.name for c in channels), key=lambda n: -stats.get(n, ChannelStats()).attempts
        )

    config = {"rules": [{"name": "w", "methods": ["wallet"], "strategy": "busy"}]}
    stats = {"c": ChannelStats(9, 1), "e": ChannelStats(5, 5)}
    strategies = {"busy": most_attempts}
    assert decide(config, stats=stats, strategies=strategies) == ["a", "b", "c"]
    wallet = request(method=WALLET)
    assert decide(config, req=wallet, stats=stats, strategies=strategies) == ["c", "e", "a"]


def test_plugged_strategy_may_not_shadow_a_builtin() -> None:
    with pytest.raises(ValueError, match="'priority' clash with built-ins"):
        RoutingTable.build(RoutingSettings(), FIVE, {"priority": lambda r, c, s: []})


def test_module_level_route_matches_the_table() -> None:
    config = settings_of(strategy="volume_split", weights={"b": 2, "d": 1}, fallback=["a"])
    req = request(payment_id="pay-7")
    assert route(config, FIVE, req, NO_STATS) == RoutingTable.build(config, FIVE).route(
        req, NO_STATS
    )


# ---------------------------------------------------------------- config errors


def test_unknown_names_are_all_listed_with_their_paths() -> None:
    config = settings_of(
        strategy="fastest",
        priority=["a", "cardx"],
        weights={"zz": 1},
        fallback=["b", "q"],
        rules=[
            {"name": "ok", "channels": ["a"]},
            {"name": "bad", "channels": ["e", "f"], "exclude": ["g"], "strategy": "nope"},
        ],
    )
    with pytest.raises(RoutingConfigError) as caught:
        RoutingTable.build(config, FIVE, {"cheapest": lambda r, c, s: []})
    lines = str(caught.value).splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "routing.strategy",
        "routing.priority[1]",
        "routing.weights.zz",
        "routing.fallback[1]",
        "routing.rules[1].channels[1]",
        "routing.rules[1].exclude[0]",
        "routing.rules[1].strategy",
    ]
    assert lines[1] == "routing.priority[1]: unknown channel 'cardx'; known: a, b, c, d, e"
    assert lines[0] == (
        "routing.strategy: unknown strategy 'fastest';"
        " known: cheapest, lowest_cost, priority, success_rate, volume_split"
    )
    assert isinstance(caught.value, ConfigError)
    assert isinstance(caught.value, FinplugError)
    assert len(caught.value.issues) == 7


def test_config_error_suggests_a_close_name_and_takes_a_path_prefix() -> None:
    config = settings_of(rules=[{"name": "r", "channels": ["card-uss"]}])
    channels = [channel("card-eu"), channel("card-us")]
    with pytest.raises(RoutingConfigError) as caught:
        RoutingTable.build(config, channels, path="plugins.payments.routing")
    assert str(caught.value) == (
        "plugins.payments.routing.rules[0].channels[0]: unknown channel 'card-uss'"
        " (did you mean 'card-us'?); known: card-eu, card-us"
    )


def test_volume_split_needs_a_positive_weight() -> None:
    config = settings_of(
        strategy="volume_split",
        weights={"a": 0},
        rules=[{"name": "r", "currencies": ["USD"], "strategy": "volume_split"}],
    )
    with pytest.raises(RoutingConfigError) as caught:
        RoutingTable.build(config, FIVE)
    assert [issue.path for issue in caught.value.issues] == [
        "routing.strategy",
        "routing.rules[0].strategy",
    ]
    assert "needs a positive weight" in str(caught.value)


def test_two_channels_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="two channels are named 'a'"):
        RoutingTable.build(RoutingSettings(), [channel("a"), channel("a")])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"weights": {"a": -1}}, "greater than or equal to 0"),
        ({"weights": {"a": True}}, "valid integer"),
        ({"weights": {"a": 1.5}}, "valid integer"),
        ({"max_attempts": 0}, "greater than or equal to 1"),
        ({"success_window": 0}, "greater than or equal to 1"),
        ({"priority": ["a", "b", "a"]}, "priority lists 'a' more than once"),
        ({"fallback": ["c", "c"]}, "fallback lists 'c' more than once"),
        ({"strategy": ""}, "at least 1 character"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
        ({"rules": [{"name": "r"}]}, "a rule needs an action"),
        (
            {"rules": [{"name": "r", "min_amount": "10", "max_amount": "9.99", "exclude": ["a"]}]},
            "min_amount 10 is above max_amount 9.99",
        ),
        ({"rules": [{"name": "r", "min_amount": 1.5, "exclude": ["a"]}]}, "floats are not exact"),
        ({"rules": [{"name": "r", "currencies": ["EURO"], "exclude": ["a"]}]}, "unknown currency"),
        ({"rules": [{"name": "r", "methods": ["cash"], "exclude": ["a"]}]}, "card"),
        ({"rules": [{"name": "r", "currencies": [], "exclude": ["a"]}]}, "at least 1 item"),
        ({"rules": [{"name": "r", "channels": []}]}, "at least 1 item"),
        ({"rules": [{"name": "r", "channels": ["a"], "exclude": ["a"]}]}, "in both channels"),
        ({"rules": [{"name": "r", "channels": ["a", "a"]}]}, "channels lists 'a' more than once"),
        (
            {"rules": [{"name": "r", "exclude": ["a"]}, {"name": "r", "exclude": ["b"]}]},
            "rule names must be unique: 'r'",
        ),
    ],
)
def test_settings_validation(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        RoutingSettings.model_validate(config)


def test_settings_are_frozen_and_allow_plugged_strategy_names() -> None:
    config = settings_of(strategy="from-a-plugin", rules=[{"name": "r", "strategy": "other"}])
    assert config.rules[0].strategy == "other"
    with pytest.raises(ValidationError):
        config.max_attempts = 5  # type: ignore[misc]  # frozen: the assignment is the point


def test_docs_example_is_valid() -> None:
    block = re.search(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None
    tenant = yaml.safe_load(block.group(1))
    config = RoutingSettings.model_validate(tenant["plugins"]["payments"]["routing"])
    names = {name for rule in config.rules for name in rule.channels or ()}
    names |= set(config.priority) | set(config.fallback) | set(config.weights)
    table = RoutingTable.build(config, [channel(n) for n in sorted(names)])
    assert table.route(request(), NO_STATS)


def test_docs_plugged_strategy_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    for i, block in enumerate(blocks):
        compile(block, f"docs/routing.md block {i}", "exec")
    [example] = [b for b in blocks if "def cheapest_reliable" in b]
    namespace: dict[str, Any] = {}
    exec(compile(example, "docs/routing.md", "exec"), namespace)
    strategies = {"cheapest_reliable": namespace["cheapest_reliable"]}
    channels = [channel("a", fee_rate="0.02"), channel("b", fee_rate="0.01"), channel("c")]
    stats = {
        "a": ChannelStats(attempts=100, successes=99),
        "b": ChannelStats(attempts=100, successes=98),
        "c": ChannelStats(attempts=100, successes=10),
    }
    config = {"strategy": "cheapest_reliable", "fallback": ["a"], "max_attempts": 5}
    # "c" is cheapest but unreliable: not a pick, so it comes after the fallback.
    assert decide(config, channels, stats=stats, strategies=strategies) == ["b", "a", "c"]


# ---------------------------------------------------------------- properties

POOL = ("a", "b", "c", "d", "e", "f")
CURRENCIES = ("EUR", "USD", "JPY")
MERCHANTS = ("m1", "m2", "m3")


def _subset(options: Sequence[Any]) -> st.SearchStrategy[list[Any]]:
    if not options:
        return st.just([])
    return st.lists(st.sampled_from(options), unique=True, max_size=len(options))


def _mostly(value: Any, other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``value`` about two times in three, else ``other``: keeps most channels eligible."""
    return st.integers(0, 2).flatmap(lambda i: other if i == 2 else st.just(value))


@st.composite
def channel_sets(draw: st.DrawFn) -> list[ChannelInfo]:
    names = draw(st.lists(st.sampled_from(POOL), unique=True, min_size=0, max_size=len(POOL)))
    result = []
    for name in names:
        low = draw(_mostly(None, st.integers(0, 600)))
        high = draw(_mostly(None, st.integers(low or 0, 1000)))
        result.append(
            ChannelInfo(
                name=name,
                methods=frozenset(draw(_mostly(list(PaymentMethod), _subset(list(PaymentMethod))))),
                currencies=frozenset(draw(_mostly(list(CURRENCIES), _subset(CURRENCIES)))),
                min_amount=None if low is None else Decimal(low),
                max_amount=None if high is None else Decimal(high),
                fee_rate=Decimal(draw(st.integers(0, 40))) / 1000,
                fee_fixed=Decimal(draw(st.integers(0, 300))) / 100,
                enabled=draw(_mostly(True, st.booleans())),
            )
        )
    return result


@st.composite
def rule_data(draw: st.DrawFn, names: list[str], index: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"name": f"rule-{index}"}
    if draw(st.booleans()):
        low, high = sorted(draw(st.lists(st.integers(0, 1000), min_size=2, max_size=2)))
        rule["min_amount"], rule["max_amount"] = str(low), str(high)
    if draw(st.booleans()):
        rule["currencies"] = draw(_subset(CURRENCIES).filter(bool))
    if draw(st.booleans()):
        rule["methods"] = [m.value for m in draw(_subset(list(PaymentMethod)).filter(bool))]
    if draw(st.booleans()):
        rule["merchants"] = draw(_subset(MERCHANTS).filter(bool))
    picked = draw(st.permutations(names))
    split = draw(st.integers(0, len(picked)))
    if draw(st.booleans()) and names:
        rule["channels"] = picked[: max(split, 1)]
        picked = picked[max(split, 1) :]
    rule["exclude"] = picked[: draw(st.integers(0, len(picked)))]
    if draw(st.booleans()) or ("channels" not in rule and not rule["exclude"]):
        rule["strategy"] = draw(st.sampled_from(sorted(BUILTIN_STRATEGIES - {"volume_split"})))
    return rule


@st.composite
def routing_settings(draw: st.DrawFn, names: list[str]) -> RoutingSettings:
    strategy = draw(st.sampled_from(sorted(BUILTIN_STRATEGIES)))
    weights = {n: draw(st.integers(0, 10)) for n in draw(_subset(names))}
    if strategy == "volume_split" and not any(weights.values()):
        if not names:
            strategy = "priority"
        else:
            weights[names[0]] = 1
    n_rules = draw(st.integers(0, 4))
    return settings_of(
        strategy=strategy,
        priority=draw(_subset(names)),
        weights=weights,
        fallback=draw(_subset(names)),
        rules=[draw(rule_data(names, i)) for i in range(n_rules)],
        max_attempts=draw(st.integers(1, 8)),
    )


requests = st.builds(
    lambda amount, cur, method, merchant, pid: RouteRequest(
        pid, Money(amount, cur), method, merchant
    ),
    st.integers(0, 1100),
    st.sampled_from(CURRENCIES),
    st.sampled_from(list(PaymentMethod)),
    st.sampled_from(MERCHANTS),
    st.text(max_size=12),
)


@st.composite
def stats_for(draw: st.DrawFn, names: list[str]) -> dict[str, ChannelStats]:
    result = {}
    for name in draw(_subset(names)):
        attempts = draw(st.integers(0, 100))
        result[name] = ChannelStats(attempts, draw(st.integers(0, attempts)))
    return result


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[list[ChannelInfo], RoutingSettings, RouteRequest, dict[str, ChannelStats]]:
    channels = draw(channel_sets())
    names = [c.name for c in channels]
    return channels, draw(routing_settings(names)), draw(requests), draw(stats_for(names))


def _first_match(config: RoutingSettings, req: RouteRequest) -> RoutingRule | None:
    """An independent reading of "first matching rule" for the oracle."""
    for rule in config.rules:
        amount = req.amount.amount
        if rule.min_amount is not None and amount < rule.min_amount:
            continue
        if rule.max_amount is not None and amount > rule.max_amount:
            continue
        if rule.currencies is not None and req.amount.currency.code not in rule.currencies:
            continue
        if rule.methods is not None and req.method not in rule.methods:
            continue
        if rule.merchants is not None and req.merchant_id not in rule.merchants:
            continue
        return rule
    return None


def _allowed(
    channels: Sequence[ChannelInfo], config: RoutingSettings, req: RouteRequest
) -> tuple[RoutingRule | None, set[str]]:
    rule = _first_match(config, req)
    allowed = {c.name for c in channels if c.accepts(req.amount, req.method)}
    if rule is not None:
        if rule.channels is not None:
            allowed &= set(rule.channels)
        allowed -= set(rule.exclude)
    return rule, allowed


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_property_only_eligible_unique_capped_and_deterministic(
    scenario: tuple[list[ChannelInfo], RoutingSettings, RouteRequest, dict[str, ChannelStats]],
) -> None:
    channels, config, req, stats = scenario
    table = RoutingTable.build(config, channels)
    order = table.route(req, stats)
    rule, allowed = _allowed(channels, config, req)
    assert set(order) <= allowed
    assert len(order) == len(set(order))
    assert len(order) == min(config.max_attempts, len(allowed))
    assert order == table.route(req, stats)
    assert order == RoutingTable.build(config, list(reversed(channels))).route(req, dict(stats))
    assert table.rule_for(req) == rule


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_property_order_is_picks_then_fallback_then_rest_by_name(
    scenario: tuple[list[ChannelInfo], RoutingSettings, RouteRequest, dict[str, ChannelStats]],
) -> None:
    channels, config, req, stats = scenario
    uncapped = config.model_copy(update={"max_attempts": 100})
    full = RoutingTable.build(uncapped, channels).route(req, stats)
    capped = RoutingTable.build(config, channels).route(req, stats)
    assert capped == full[: config.max_attempts]

    rule, allowed = _allowed(channels, config, req)
    by_name = {c.name: c for c in channels}
    strategy = config.strategy
    if rule is not None and rule.strategy is not None:
        strategy = rule.strategy
    elif rule is not None and rule.channels is not None:
        strategy = "rule-order"
    eligible = sorted(allowed)
    picks: list[str]
    if strategy == "rule-order":
        assert rule is not None
        picks = [n for n in rule.channels or () if n in allowed]
    elif strategy == "priority":
        picks = [n for n in config.priority if n in allowed]
    elif strategy == "lowest_cost":
        picks = sorted(eligible, key=lambda n: (by_name[n].cost(req.amount), n))
    elif strategy == "success_rate":
        picks = sorted(eligible, key=lambda n: (-stats.get(n, ChannelStats()).rate(), n))
    else:
        weight = {n: w for n, w in config.weights.items() if w > 0 and n in allowed}
        picks = []
        if weight:
            assert full[0] in weight
            others = sorted(set(weight) - {full[0]}, key=lambda n: (-weight[n], n))
            picks = [full[0], *others]
    fallback = [n for n in config.fallback if n in allowed and n not in picks]
    rest = sorted(allowed - set(picks) - set(fallback))
    assert full == picks + fallback + rest


@settings(max_examples=200, deadline=None)
@given(
    scenarios(),
    st.lists(st.sampled_from([*POOL, "unknown", ""]), max_size=12),
)
def test_property_plugged_strategy_cannot_pick_an_ineligible_channel(
    scenario: tuple[list[ChannelInfo], RoutingSettings, RouteRequest, dict[str, ChannelStats]],
    answer: list[str],
) -> None:
    channels, config, req, stats = scenario

    def rogue(
        request: RouteRequest, channels: Sequence[ChannelInfo], stats: Mapping[str, ChannelStats]
    ) -> Sequence[str]:
        assert all(c.accepts(request.amount, request.method) for c in channels)
        return answer

    plugged = config.model_copy(update={"strategy": "rogue", "max_attempts": 100})
    order = RoutingTable.build(plugged, channels, {"rogue": rogue}).route(req, stats)
    rule, allowed = _allowed(channels, plugged, req)
    assert set(order) <= allowed
    assert len(order) == len(set(order)) == len(allowed)
    if rule is None or (rule.channels is None and rule.strategy is None):
        picks = list(dict.fromkeys(n for n in answer if n in allowed))
        assert order[: len(picks)] == picks
