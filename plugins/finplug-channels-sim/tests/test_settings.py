"""Settings: what a tenant may write, and the errors it gets otherwise."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from finplug import ConfigError
from finplug.sockets.payments import ChannelOperation, PaymentMethod
from finplug.testing import MakePlatform
from finplug_channels_sim import (
    ChannelsSimPlugin,
    Outcome,
    OutcomeKind,
    SimChannel,
    parse_script_entry,
)

OK = {"name": "card-eu", "currencies": ["EUR"]}
KEY = "sim_key_Q7rT2vX9wZ4"


def issues(make_platform: MakePlatform, sim: dict[str, Any]) -> list[tuple[str, str]]:
    config = {"tenant": "acme", "plugins": {"channels-sim": sim}}
    with pytest.raises(ConfigError) as info:
        make_platform([ChannelsSimPlugin], [config])
    return [(issue.path, issue.message) for issue in info.value.issues]


def channel_issue(make_platform: MakePlatform, **changes: Any) -> tuple[str, str]:
    [issue] = issues(make_platform, {"channels": [OK, {**OK, "name": "second", **changes}]})
    path, _ = issue
    assert path.startswith("plugins.channels-sim.channels[1]")
    return issue


def test_full_channel_is_accepted(make_platform: MakePlatform) -> None:
    full = {
        "name": "wallet-cn",
        "methods": ["wallet", "card"],
        "currencies": ["cny", "USD"],
        "min_amount": "1",
        "max_amount": 5000,
        "fee_rate": "0.006",
        "fee_fixed": "0.10",
        "enabled": False,
        "latency_ms": 5,
        "failure_rate": "0.1",
        "decline_rate": "0.2",
        "decline_codes": ["stolen_card"],
        "timeout_rate": "0.3",
        "timeout_applied_rate": "1",
        "script": {"13.13": "decline:do_not_honor", "42": {"capture": "timeout_lost"}},
    }
    config = {"tenant": "acme", "plugins": {"channels-sim": {"seed": 7, "channels": [full]}}}
    platform = make_platform([ChannelsSimPlugin], [config])
    plugin = platform.tenant("acme").plugin("channels-sim")
    assert isinstance(plugin, ChannelsSimPlugin)
    assert plugin.settings.seed == 7
    [parsed] = plugin.settings.channels
    assert parsed.currencies == {"CNY", "USD"}
    assert parsed.methods == {PaymentMethod.WALLET, PaymentMethod.CARD}
    assert parsed.fee_rate == Decimal("0.006")
    assert isinstance(parsed.fee_fixed, Decimal)
    assert parsed.scripted() == {
        (Decimal("13.13"), None): Outcome(OutcomeKind.DECLINE, "do_not_honor"),
        (Decimal(42), ChannelOperation.CAPTURE): Outcome(OutcomeKind.TIMEOUT_LOST),
    }


def test_defaults() -> None:
    parsed = SimChannel.model_validate(OK)
    assert parsed.methods == {PaymentMethod.CARD}
    assert parsed.latency_ms == 0
    assert parsed.failure_rate == parsed.decline_rate == parsed.timeout_rate == 0
    assert parsed.decline_codes == ("do_not_honor", "insufficient_funds")
    assert parsed.enabled
    assert parsed.script == {}


@pytest.mark.parametrize(
    "field",
    ["failure_rate", "decline_rate", "timeout_rate", "timeout_applied_rate", "fee_rate"],
)
def test_rates_must_be_between_zero_and_one(make_platform: MakePlatform, field: str) -> None:
    for bad in ("1.5", "-0.1"):
        path, message = channel_issue(make_platform, **{field: bad})
        assert path == f"plugins.channels-sim.channels[1].{field}"
        assert "between 0 and 1" in message


def test_rates_must_not_sum_above_one(make_platform: MakePlatform) -> None:
    path, message = channel_issue(
        make_platform, failure_rate="0.5", decline_rate="0.3", timeout_rate="0.25"
    )
    assert path == "plugins.channels-sim.channels[1]"
    assert "failure_rate + decline_rate + timeout_rate must not exceed 1" in message
    assert "1.05" in message


def test_rates_summing_to_exactly_one_are_fine() -> None:
    SimChannel.model_validate(
        {**OK, "failure_rate": "0.5", "decline_rate": "0.25", "timeout_rate": "0.25"}
    )


@pytest.mark.parametrize(
    "field",
    ["failure_rate", "decline_rate", "timeout_rate", "fee_rate", "fee_fixed", "max_amount"],
)
def test_floats_are_refused(make_platform: MakePlatform, field: str) -> None:
    path, message = channel_issue(make_platform, **{field: 0.5})
    assert path == f"plugins.channels-sim.channels[1].{field}"
    assert "quote the number" in message


def test_float_script_amounts_are_refused(make_platform: MakePlatform) -> None:
    # YAML reads an unquoted 13.13 key as a float: the config loader refuses it ...
    path, message = channel_issue(make_platform, script={13.13: "approve"})
    assert path.startswith("plugins.channels-sim.channels[1].script")
    assert "must be strings" in message
    # ... and so does the model itself, when built in code.
    with pytest.raises(ValueError, match="quote the number"):
        SimChannel.model_validate({**OK, "script": {13.13: "approve"}})


def test_script_amounts_match_by_value() -> None:
    parsed = SimChannel.model_validate(
        {**OK, "script": {"13.130": "approve", " 7 ": "unavailable"}}
    )
    assert set(parsed.scripted()) == {(Decimal("13.13"), None), (Decimal(7), None)}


def test_duplicate_channel_names(make_platform: MakePlatform) -> None:
    [(path, message)] = issues(make_platform, {"channels": [OK, {**OK, "currencies": ["USD"]}]})
    assert path == "plugins.channels-sim"
    assert "channels[1].name" in message
    assert "'card-eu' is defined twice" in message


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"name": "Card EU"}, "name", "lower-case"),
        ({"currencies": []}, "currencies", "at least 1"),
        ({"currencies": ["QQQ"]}, "currencies", "unknown currency"),
        ({"methods": ["cheque"]}, "methods", "card"),
        ({"latency_ms": -1}, "latency_ms", "greater than or equal to 0"),
        ({"decline_codes": []}, "decline_codes", "at least one decline code"),
        ({"decline_codes": ["Bad Code"]}, "decline_codes", "lower-case"),
        ({"max_amount": "0"}, "max_amount", "greater than zero"),
        ({"speed": "fast"}, "speed", "unknown field"),
    ],
)
def test_field_errors(
    make_platform: MakePlatform, changes: dict[str, Any], field: str, words: str
) -> None:
    path, message = channel_issue(make_platform, **changes)
    assert path.startswith(f"plugins.channels-sim.channels[1].{field}")
    assert words in message


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"min_amount": "10", "max_amount": "5"}, "min_amount must not be greater than max_amount"),
        ({"min_amount": "-1"}, "min_amount must not be negative"),
        ({"fee_fixed": "-0.10"}, "fee_fixed must not be negative"),
    ],
)
def test_cross_field_errors(
    make_platform: MakePlatform, changes: dict[str, Any], words: str
) -> None:
    path, message = channel_issue(make_platform, **changes)
    assert path == "plugins.channels-sim.channels[1]"
    assert words in message


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("explode", "unknown outcome"),
        ("decline", "a decline needs a code"),
        ("decline:", "a decline needs a code"),
        ("decline:Bad Code", "a decline needs a code"),
        ("approve:now", "only decline takes a code"),
        ("capture:explode", "unknown outcome"),
        ({"settle": "approve"}, "unknown operation"),
        ({"capture": "explode"}, "unknown outcome"),
        ({}, "at least one operation"),
    ],
)
def test_script_errors(make_platform: MakePlatform, entry: Any, words: str) -> None:
    found = issues(make_platform, {"channels": [{**OK, "script": {"1.00": entry}}]})
    assert found
    for path, _ in found:
        assert path.startswith("plugins.channels-sim.channels[0].script")
    assert any(words in message for _, message in found), found


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("approve", {None: Outcome(OutcomeKind.APPROVE)}),
        ("decline:stolen_card", {None: Outcome(OutcomeKind.DECLINE, "stolen_card")}),
        ("unavailable", {None: Outcome(OutcomeKind.UNAVAILABLE)}),
        ("timeout_applied", {None: Outcome(OutcomeKind.TIMEOUT_APPLIED)}),
        ("timeout_lost", {None: Outcome(OutcomeKind.TIMEOUT_LOST)}),
        ("lookup_timeout", {None: Outcome(OutcomeKind.LOOKUP_TIMEOUT)}),
        (
            "capture:decline:expired_card",
            {ChannelOperation.CAPTURE: Outcome(OutcomeKind.DECLINE, "expired_card")},
        ),
        ("refund:timeout_lost", {ChannelOperation.REFUND: Outcome(OutcomeKind.TIMEOUT_LOST)}),
        (
            {"authorize": "approve", "*": "unavailable"},
            {
                ChannelOperation.AUTHORIZE: Outcome(OutcomeKind.APPROVE),
                None: Outcome(OutcomeKind.UNAVAILABLE),
            },
        ),
    ],
)
def test_script_scheme(entry: Any, expected: dict[ChannelOperation | None, Outcome]) -> None:
    assert parse_script_entry(entry) == expected


def test_outcome_text_round_trips() -> None:
    for text in ("approve", "decline:do_not_honor", "lookup_timeout"):
        assert str(Outcome.parse(text)) == text


def test_settings_are_frozen() -> None:
    parsed = SimChannel.model_validate(OK)
    with pytest.raises(ValueError, match="frozen"):
        parsed.failure_rate = Decimal(1)  # type: ignore[misc]


def test_readme_example_is_valid(make_platform: MakePlatform) -> None:
    readme = Path(__file__).parents[1] / "README.md"
    [block] = re.findall(r"```yaml\n(.*?)```", readme.read_text(encoding="utf-8"), flags=re.S)
    config = {"tenant": "acme", **yaml.safe_load(block)}
    platform = make_platform([ChannelsSimPlugin], [config], environ={"CARD_EU_API_KEY": KEY})
    plugin = platform.tenant("acme").plugin("channels-sim")
    assert isinstance(plugin, ChannelsSimPlugin)
    [card, wallet] = plugin.settings.channels
    assert card.api_key is not None
    assert card.api_key.get_secret_value() == KEY
    assert wallet.api_key is None
    assert card.scripted()[(Decimal(30), ChannelOperation.REFUND)] == Outcome(
        OutcomeKind.DECLINE, "refund_refused"
    )
    assert len(card.scripted()) == 9


def test_api_key_comes_only_from_a_reference(make_platform: MakePlatform) -> None:
    config = {
        "tenant": "acme",
        "plugins": {"channels-sim": {"channels": [{**OK, "api_key": "${SIM_KEY}"}]}},
    }
    platform = make_platform([ChannelsSimPlugin], [config], environ={"SIM_KEY": KEY})
    plugin = platform.tenant("acme").plugin("channels-sim")
    assert isinstance(plugin, ChannelsSimPlugin)
    [channel] = plugin.settings.channels
    assert isinstance(channel.api_key, SecretStr)
    assert channel.api_key.get_secret_value() == KEY
    assert KEY not in repr(plugin.settings)


def test_api_key_written_into_the_config_is_refused(make_platform: MakePlatform) -> None:
    path, message = channel_issue(make_platform, api_key=KEY)
    assert path == "plugins.channels-sim.channels[1].api_key"
    assert "must not be written into the config" in message
    assert KEY not in message


def test_api_key_must_not_be_empty(make_platform: MakePlatform) -> None:
    config = {
        "tenant": "acme",
        "plugins": {"channels-sim": {"channels": [{**OK, "api_key": "${SIM_KEY}"}]}},
    }
    with pytest.raises(ConfigError) as info:
        make_platform([ChannelsSimPlugin], [config], environ={"SIM_KEY": " "})
    [issue] = info.value.issues
    assert issue.path == "plugins.channels-sim.channels[0].api_key"
    assert "empty value" in issue.message


def test_api_key_in_code_is_a_secret_str() -> None:
    parsed = SimChannel.model_validate({**OK, "api_key": SecretStr(KEY)})
    assert parsed.api_key == SecretStr(KEY)
    with pytest.raises(ValueError, match="must not be written into the config"):
        SimChannel.model_validate({**OK, "api_key": KEY})
