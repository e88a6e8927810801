"""Every hook's failure policy: declared in its spec, kept by the kernel, named in the error."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from finplug import (
    ConfigIssue,
    HookCallError,
    HookFailurePolicy,
    Money,
    Platform,
    Plugin,
    PluginMeta,
    hookimpl,
    hookspecs,
)
from finplug._plugin import FAILURE_POLICY_ATTR
from finplug._registry import spec_names
from finplug.hookspecs import ComponentRegistrar
from finplug.sockets.risk import (
    RiskContext,
    RiskDecision,
    RiskReason,
    RiskVerdict,
    assess_risk,
    risk_hooks,
)

ROOT = Path(__file__).parents[1]
CTX = RiskContext("payment.authorize", Money("10.00", "EUR"))


class Broken(Plugin[Any]):
    """Raises in every hook it implements."""

    meta = PluginMeta(
        sockets={"risk": ">=1.0,<2"}, name="broken", version="1", components=frozenset({"risk"})
    )

    @hookimpl
    def finplug_assess_risk(self, context: RiskContext) -> RiskDecision | None:
        raise RuntimeError("rules table is gone")

    @hookimpl
    def finplug_check_tenant(self) -> list[ConfigIssue] | None:
        raise KeyError("no such setting")

    @hookimpl
    def finplug_register_components(self, register: ComponentRegistrar) -> None:
        raise ValueError("cannot build the risk service")


class Strict(Plugin[Any]):
    """A healthy plugin beside the broken one: declines big amounts, reports one issue."""

    meta = PluginMeta(sockets={"risk": ">=1.0,<2"}, name="strict", version="1")

    @hookimpl
    def finplug_assess_risk(self, context: RiskContext) -> RiskDecision | None:
        return RiskDecision.decline(RiskReason("too_big", "too big", "strict"))

    @hookimpl
    def finplug_check_tenant(self) -> list[ConfigIssue] | None:
        return [ConfigIssue(None, None, "plugins.strict", "strict has a complaint")]


class BrokenRisk(Plugin[Any]):
    """Raises in its one hook."""

    meta = PluginMeta(sockets={"risk": ">=1.0,<2"}, name="broken-risk", version="1")

    @hookimpl
    def finplug_assess_risk(self, context: RiskContext) -> RiskDecision | None:
        raise RuntimeError("velocity store is down")


class Nested(Plugin[Any]):
    """Calls another hook from inside its own: the inner culprit is the one named."""

    meta = PluginMeta(name="nested", version="1")

    @hookimpl
    def finplug_check_tenant(self) -> list[ConfigIssue] | None:
        risk_hooks.of(self.context.hooks).finplug_assess_risk(context=CTX)
        return None


def platform(*plugins: type[Plugin[Any]]) -> Platform:
    p = Platform(list(plugins), environ={})
    p.add_tenant({"tenant": "acme", "plugins": {cls.meta.name: {} for cls in plugins}})
    return p


def test_every_hookspec_declares_a_failure_policy() -> None:
    for name in spec_names():
        policy = getattr(getattr(hookspecs, name), FAILURE_POLICY_ATTR, None)
        assert isinstance(policy, HookFailurePolicy), name
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert f"Failure policy: {policy.value.replace('_', ' ')}" in doc, name


def test_hooks_doc_states_each_failure_policy() -> None:
    text = (ROOT / "docs" / "hooks.md").read_text()
    for name in spec_names():
        policy = getattr(getattr(hookspecs, name), FAILURE_POLICY_ATTR)
        section = text.split(f"## {name}", 1)[1].split("\n## ", 1)[0]
        wanted = policy.value.replace("_", " ")
        assert re.search(rf"\*\*Failure policy:\*\* {wanted}\b", section), name


def test_hook_error_names_tenant_plugin_and_hook() -> None:
    tenant = platform(Broken, Strict).tenant("acme")
    with pytest.raises(HookCallError) as caught:
        risk_hooks.of(tenant.hooks).finplug_assess_risk(context=CTX)
    error = caught.value
    assert (error.tenant, error.plugin, error.hook) == ("acme", "broken", "finplug_assess_risk")
    assert isinstance(error.__cause__, RuntimeError)
    assert str(error) == (
        "tenant 'acme': plugin 'broken' failed in hook finplug_assess_risk:"
        " RuntimeError: rules table is gone"
    )


def test_hook_error_message_cuts_a_long_plugin_message() -> None:
    class Chatty(Plugin[Any]):
        meta = PluginMeta(sockets={"risk": ">=1.0,<2"}, name="chatty", version="1")

        @hookimpl
        def finplug_assess_risk(self, context: RiskContext) -> RiskDecision | None:
            raise RuntimeError("x" * 100_000)

    with pytest.raises(HookCallError) as caught:
        risk_hooks.of(platform(Chatty).tenant("acme").hooks).finplug_assess_risk(context=CTX)
    assert len(str(caught.value)) < 400
    assert "100000 characters" in str(caught.value)


def test_nested_hook_error_names_the_innermost_plugin() -> None:
    tenant = platform(BrokenRisk, Nested).tenant("acme")
    with pytest.raises(HookCallError) as caught:
        tenant.hooks.finplug_check_tenant()
    assert (caught.value.plugin, caught.value.hook) == ("broken-risk", "finplug_assess_risk")


def test_raising_risk_plugin_fails_closed_for_review() -> None:
    tenant = platform(Broken).tenant("acme")
    decision = assess_risk(tenant.hooks, CTX)
    assert decision.verdict is RiskVerdict.REVIEW
    [reason] = decision.reasons
    assert reason.code == "risk_check_failed"
    assert reason.rule == "broken"
    assert "'broken'" in reason.message


def test_raising_risk_plugin_never_weakens_a_decline() -> None:
    # Strict's decline is lost with the failed call, so the review must not be an approve.
    tenant = platform(Strict).tenant("acme")
    assert assess_risk(tenant.hooks, CTX).verdict is RiskVerdict.DECLINE
    mixed = platform(Broken, Strict).tenant("acme")
    assert assess_risk(mixed.hooks, CTX).verdict is not RiskVerdict.APPROVE


def test_register_components_error_is_a_hook_call_error() -> None:
    tenant = platform(Broken).tenant("acme")
    with pytest.raises(HookCallError) as caught:
        tenant.component("risk")
    assert (caught.value.plugin, caught.value.hook) == ("broken", "finplug_register_components")
    assert isinstance(caught.value.__cause__, ValueError)


def test_check_reports_a_raising_check_hook_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text("tenant: acme\nplugins:\n  broken: {}\n  strict: {}\n")
    (tmp_path / "zeta.yaml").write_text("tenant: zeta\nplugins:\n  strict: {}\n")
    issues = Platform([Broken, Strict], environ={}).check(tmp_path)
    text = [str(i) for i in issues]
    assert any(
        s.startswith(f"{tmp_path / 'acme.yaml'}:3: plugins.broken: tenant 'acme': plugin 'broken'")
        and "KeyError" in s
        for s in text
    ), text
    # The healthy plugin's check ran in the same tenant and in the other file.
    assert sum("strict has a complaint" in s for s in text) == 2, text
