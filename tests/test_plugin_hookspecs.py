"""Plugins declare hook specifications of their own; other plugins implement them unimported."""

from __future__ import annotations

from typing import Any

import pytest

from finplug import ConfigError, HookCallError, Platform, Plugin, PluginMeta, check_plugin, hookimpl
from sample_hookspecs import greeting_hooks


class Greeter(Plugin[Any]):
    """Declares the ``finplug_sample_greetings`` hook and calls it."""

    meta = PluginMeta(name="greeter", version="1", hookspecs=("sample_hookspecs",))

    def greet(self, name: str) -> list[str]:
        batches = greeting_hooks.of(self.context.hooks).finplug_sample_greetings(name=name)
        return [line for batch in batches for line in batch]


class English(Plugin[Any]):
    """Implements the greeter's hook, naming its spec module without importing it."""

    meta = PluginMeta(name="english", version="1", hookspecs=("sample_hookspecs",))

    @hookimpl
    def finplug_sample_greetings(self, name: str) -> list[str] | None:
        return [f"Hello, {name}"]


class French(Plugin[Any]):
    meta = PluginMeta(name="french", version="1", hookspecs=("sample_hookspecs",))

    @hookimpl
    def finplug_sample_greetings(self, name: str) -> list[str] | None:
        if name == "boom":
            raise RuntimeError("no greeting for that")
        return [f"Bonjour, {name}"]


def tenant_with(*plugins: type[Plugin[Any]]) -> Any:
    platform = Platform(list(plugins), environ={})
    platform.add_tenant({"tenant": "acme", "plugins": {p.meta.name: {} for p in plugins}})
    return platform.tenant("acme")


def test_a_plugin_declares_a_hook_that_another_implements() -> None:
    tenant = tenant_with(Greeter, English, French)
    greeter = tenant.plugin("greeter")
    assert isinstance(greeter, Greeter)
    assert greeter.greet("Ana") == ["Hello, Ana", "Bonjour, Ana"]  # hook order: by name here
    # The relay answers the hook like a kernel hook, typed through the module's view.
    hooks = greeting_hooks.of(tenant.hooks)
    assert hooks.finplug_sample_greetings(name="Bo") == [["Hello, Bo"], ["Bonjour, Bo"]]


def test_a_declared_hook_nobody_implements_answers_empty() -> None:
    greeter = tenant_with(Greeter).plugin("greeter")
    assert isinstance(greeter, Greeter)
    assert greeter.greet("Ana") == []


def test_the_view_answers_on_a_tenant_that_does_not_declare_the_module() -> None:
    class Bystander(Plugin[Any]):
        meta = PluginMeta(name="bystander", version="1")

    tenant = tenant_with(Bystander)
    assert greeting_hooks.of(tenant.hooks).finplug_sample_greetings(name="x") == []


def test_a_declared_hook_that_raises_names_its_plugin() -> None:
    tenant = tenant_with(Greeter, French)
    with pytest.raises(HookCallError) as caught:
        greeting_hooks.of(tenant.hooks).finplug_sample_greetings(name="boom")
    assert (caught.value.plugin, caught.value.hook) == ("french", "finplug_sample_greetings")


def test_implementing_a_hook_without_declaring_its_module_fails_with_a_hint() -> None:
    class Undeclared(Plugin[Any]):
        meta = PluginMeta(name="undeclared", version="1")

        @hookimpl
        def finplug_sample_greetings(self, name: str) -> list[str] | None:
            return None

    record = check_plugin(Undeclared)
    assert record.status == "failed"
    assert "unknown hook 'finplug_sample_greetings'" in (record.error or "")
    assert "meta.hookspecs" in (record.error or "")


def test_misspelled_hook_gets_a_did_you_mean() -> None:
    class Typo(Plugin[Any]):
        meta = PluginMeta(name="typo", version="1")

        @hookimpl
        def finplug_on_evnt(self, event: object) -> None:
            return None

    record = check_plugin(Typo)
    assert record.status == "failed"
    assert "did you mean 'finplug_on_event'?" in (record.error or "")


def test_a_spec_module_without_failure_policies_is_refused() -> None:
    class NoPolicy(Plugin[Any]):
        meta = PluginMeta(name="no-policy", version="1", hookspecs=("sample_hookspecs_nopolicy",))

    record = check_plugin(NoPolicy)
    assert record.status == "failed"
    assert "declares no failure policy" in (record.error or "")


def test_a_spec_module_that_cannot_be_imported_is_refused() -> None:
    class Missing(Plugin[Any]):
        meta = PluginMeta(name="missing", version="1", hookspecs=("no_such_hookspecs_module",))

    record = check_plugin(Missing)
    assert record.status == "failed"
    assert "cannot be imported" in (record.error or "")


def test_two_modules_declaring_one_hook_name_cannot_share_a_tenant() -> None:
    class Clash(Plugin[Any]):
        meta = PluginMeta(name="clash", version="1", hookspecs=("sample_hookspecs_clash",))

    platform = Platform([Greeter, Clash], environ={})
    with pytest.raises(ConfigError, match="declared by both"):
        platform.add_tenant({"tenant": "acme", "plugins": {"greeter": {}, "clash": {}}})
    # Each alone is fine.
    platform.add_tenant({"tenant": "one", "plugins": {"clash": {}}})
    platform.add_tenant({"tenant": "two", "plugins": {"greeter": {}}})
