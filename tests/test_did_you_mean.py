"""'Did you mean' for a settings key, a plugin name, a hook name and a hook argument."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from finplug import (
    ConfigError,
    NoSettings,
    Platform,
    Plugin,
    PluginMeta,
    TenantConfig,
    check_plugin,
    hookimpl,
)
from sample_plugins import FeeEcho, PaymentsPlugin


def issues(platform: Platform, config: Mapping[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        platform.add_tenant(config)
    return [f"{i.path}: {i.message}" for i in info.value.issues]


def test_unknown_plugin_name_suggests_the_closest() -> None:
    platform = Platform([FeeEcho], environ={})
    assert issues(platform, {"tenant": "t", "plugins": {"fee-ech": {}}}) == [
        "plugins.fee-ech: no plugin named 'fee-ech' is installed; did you mean 'fee-echo'?"
    ]
    [message] = issues(platform, {"tenant": "t", "plugins": {"ghost": {}}})
    assert message.endswith(
        "no plugin named 'ghost' is installed (loaded: events, fee-echo, idempotency, ledger)"
    )


def test_unknown_settings_key_suggests_a_field_of_its_model() -> None:
    platform = Platform([PaymentsPlugin], environ={})
    config = {
        "tenant": "t",
        "plugins": {
            "payments": {"limitt": "5", "channels": [{"name": "a", "currency": "EUR", "nam": 1}]}
        },
    }
    found = issues(platform, config)
    assert "plugins.payments.limitt: unknown field; did you mean 'limit'?" in found
    assert "plugins.payments.channels[0].nam: unknown field; did you mean 'name'?" in found


def test_unknown_tenant_key_suggests_a_field_and_falls_back_without_one() -> None:
    with pytest.raises(ConfigError) as info:
        TenantConfig.from_dict({"tenant": "t", "plugin": {}, "colour": "blue"})
    assert [i.message for i in info.value.issues] == [
        "unknown field; did you mean 'plugins'?",
        "unknown field; check its spelling against the documented settings",
    ]


def test_wrong_hook_argument_is_one_line_naming_hook_argument_and_spec() -> None:
    class Wrong(Plugin[NoSettings]):
        meta = PluginMeta(sockets={"risk": ">=1.0,<2"}, name="wrong", version="1")

        @hookimpl
        def finplug_assess_risk(self, contxt: object) -> None:
            return None

    record = check_plugin(Wrong)
    assert record.status == "failed"
    assert record.error == (
        "hook validation failed: finplug_assess_risk() takes 'contxt' (did you mean 'context'?),"
        " which its spec does not pass; the spec's arguments are (context)"
    )


def test_other_pluggy_validation_errors_are_one_line() -> None:
    class NotAGenerator(Plugin[NoSettings]):
        meta = PluginMeta(sockets={"risk": ">=1.0,<2"}, name="nag", version="1")

        @hookimpl(wrapper=True)
        def finplug_assess_risk(self, context: object) -> None:
            return None

    error = check_plugin(NotAGenerator).error
    assert error is not None
    assert "\n" not in error
    assert "not a generator function" in error


def test_misspelled_hook_keeps_its_did_you_mean() -> None:
    class Misspelled(Plugin[NoSettings]):
        meta = PluginMeta(sockets={"risk": ">=1.0,<2"}, name="misspelled", version="1")

        @hookimpl
        def finplug_asess_risk(self, context: object) -> None:
            return None

    assert "did you mean 'finplug_assess_risk'?" in (check_plugin(Misspelled).error or "")
