"""Assembly: tenants get only their plugins, components resolve, errors name the tenant."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from finplug import (
    AssemblyError,
    ComponentNotEnabledError,
    Money,
    Platform,
    Plugin,
    PluginMeta,
    TenantNotFoundError,
    hookimpl,
)
from finplug.hookspecs import ComponentRegistrar
from finplug.sockets.billing import SOCKET as BILLING
from finplug.sockets.fees import FeeContext, fee_hooks
from finplug.sockets.payments import PAYMENTS
from finplug.sockets.reconciliation import SOCKET as RECONCILIATION
from finplug.sockets.risk import RISK, RiskAPI, RiskContext, RiskVerdict, risk_hooks
from sample_plugins import (
    FakePayments,
    FeeEcho,
    PaymentsPlugin,
    SampleRiskPlugin,
    TaggedSettings,
)

EUR10 = Money("10.00", "EUR")


@pytest.fixture
def platform() -> Platform:
    platform = Platform([PaymentsPlugin, SampleRiskPlugin, FeeEcho], environ={})
    platform.add_tenant(
        {"tenant": "acme", "plugins": {"sample-risk": {"tag": "acme-op"}, "payments": {}}}
    )
    platform.add_tenant({"tenant": "globex", "plugins": {"fee-echo": {"tag": "globex-fee"}}})
    return platform


def test_tenants_are_lazy_and_cached(platform: Platform) -> None:
    acme = platform.tenant("acme")
    assert platform.tenant("acme") is acme
    # The kernel's ledger is in every tenant; a provider runs before its dependant.
    assert acme.plugin_names == ("events", "idempotency", "ledger", "sample-risk", "payments")


def test_each_tenant_sees_only_its_plugins(platform: Platform) -> None:
    acme, globex = platform.tenant("acme"), platform.tenant("globex")
    ctx = FeeContext("capture", EUR10)
    assert fee_hooks.of(acme.hooks).finplug_calculate_fees(context=ctx) == []
    [[fee]] = fee_hooks.of(globex.hooks).finplug_calculate_fees(context=ctx)
    assert fee.code == "globex-fee"
    with pytest.raises(KeyError, match="does not enable plugin 'fee-echo'"):
        acme.plugin("fee-echo")
    assert risk_hooks.of(globex.hooks).finplug_assess_risk(context=RiskContext("acme-op")) == []


def test_components_resolve_to_the_one_provider(platform: Platform) -> None:
    acme = platform.tenant("acme")
    assert isinstance(acme.component(RISK), RiskAPI)
    assert acme.component(RISK) is acme.component("risk")
    assert acme.component(RISK).assess(RiskContext("acme-op")).verdict is RiskVerdict.DECLINE
    assert acme.component(RISK).assess(RiskContext("other")).verdict is RiskVerdict.APPROVE
    payments = acme.component(PAYMENTS)
    assert isinstance(payments, FakePayments)
    assert payments.plugin is acme.plugin("payments")
    assert acme.component_names == ("events", "idempotency", "ledger", "payments", "risk")


def test_missing_component_names_tenant_and_component(platform: Platform) -> None:
    globex = platform.tenant("globex")
    with pytest.raises(ComponentNotEnabledError) as info:
        _ = globex.component(PAYMENTS)
    assert (info.value.tenant, info.value.component) == ("globex", "payments")
    assert "tenant 'globex' has no 'payments' component" in str(info.value)
    for key in (BILLING, RECONCILIATION, "risk", "no-such-component"):
        with pytest.raises(ComponentNotEnabledError):
            globex.component(key)
    assert not globex.has_component("risk")


def test_a_socket_default_answers_when_nobody_provides_the_component(
    platform: Platform,
) -> None:
    """Risk: no plugin provides it, so the socket's default approves unless a rule objects."""
    globex = platform.tenant("globex")
    risk = globex.component(RISK)
    assert risk.assess(RiskContext("payment.authorize", EUR10)).approved
    assert risk.rules() == []
    assert globex.component(RISK) is risk  # built once per tenant


def test_unknown_tenant(platform: Platform) -> None:
    with pytest.raises(TenantNotFoundError, match="configured tenants: acme, globex"):
        platform.tenant("nobody")


def test_same_plugin_differently_configured_per_tenant() -> None:
    platform = Platform([FeeEcho], environ={})
    for tenant, tag in (("a", "fee-a"), ("b", "fee-b")):
        platform.add_tenant({"tenant": tenant, "plugins": {"fee-echo": {"tag": tag}}})
    ctx = FeeContext("capture", EUR10)
    codes = {
        t: fee_hooks.of(platform.tenant(t).hooks).finplug_calculate_fees(context=ctx)[0][0].code
        for t in ("a", "b")
    }
    assert codes == {"a": "fee-a", "b": "fee-b"}
    assert platform.tenant("a").plugin("fee-echo") is not platform.tenant("b").plugin("fee-echo")


def test_unimplemented_hook_answers_empty_and_checks_arguments(platform: Platform) -> None:
    globex = platform.tenant("globex")
    assert risk_hooks.of(globex.hooks).finplug_assess_risk(context=RiskContext("x")) == []
    with pytest.raises(TypeError, match="unexpected arguments"):
        risk_hooks.of(globex.hooks).finplug_assess_risk(ctx=RiskContext("x"))  # type: ignore[call-arg]
    with pytest.raises(AttributeError, match="finplug_nope"):
        _ = globex.hooks.finplug_nope  # type: ignore[attr-defined]


def test_plugin_failing_to_start_is_an_assembly_error_for_that_tenant_only() -> None:
    class Exploding(Plugin[TaggedSettings]):
        meta = PluginMeta(name="exploding", version="0", settings=TaggedSettings)

        def _setup(self) -> None:
            raise RuntimeError("cannot reach vendor")

    platform = Platform([Exploding, FeeEcho], environ={})
    platform.add_tenant({"tenant": "bad", "plugins": {"exploding": {}}})
    platform.add_tenant({"tenant": "good", "plugins": {"fee-echo": {}}})
    with pytest.raises(AssemblyError, match="tenant 'bad': plugin 'exploding' failed to start"):
        platform.tenant("bad")
    assert platform.tenant("good").plugin_names == ("events", "fee-echo", "idempotency", "ledger")


class _Settings(BaseModel):
    pass


def _component_plugin(
    name: str, declared: set[str], registers: dict[str, Any]
) -> type[Plugin[Any]]:
    class Provider(Plugin[_Settings]):
        meta = PluginMeta(
            name=name, version="0", components=frozenset(declared), settings=_Settings
        )

        @hookimpl
        def finplug_register_components(self, register: ComponentRegistrar) -> None:
            for component, obj in registers.items():
                register(component, obj)

    return Provider


@pytest.mark.parametrize(
    ("declared", "registers", "message"),
    [
        ({"risk"}, {}, "declared components they did not register: 'risk'"),
        ({"risk"}, {"risk": object()}, "does not satisfy RiskAPI"),
        ({"lending"}, {"lending": 1, "cockpit": 2}, "registered component 'cockpit'"),
    ],
)
def test_component_registration_is_checked(
    declared: set[str], registers: dict[str, Any], message: str
) -> None:
    platform = Platform([_component_plugin("provider", declared, registers)], environ={})
    platform.add_tenant({"tenant": "t", "plugins": {"provider": {}}})
    tenant = platform.tenant("t")
    with pytest.raises(AssemblyError, match=message):
        tenant.component(next(iter(declared)))


def test_custom_components_are_reachable_by_name() -> None:
    lending = object()
    platform = Platform([_component_plugin("lender", {"lending"}, {"lending": lending})])
    platform.add_tenant({"tenant": "t", "plugins": {"lender": {}}})
    assert platform.tenant("t").component("lending") is lending


def test_describe_and_remove(platform: Platform) -> None:
    described = platform.tenant("acme").describe()
    assert described["tenant"] == "acme"
    assert [p["name"] for p in described["plugins"]] == [
        "events",
        "idempotency",
        "ledger",
        "sample-risk",
        "payments",
    ]
    assert described["components"] == {
        "events": "events",
        "idempotency": "idempotency",
        "ledger": "ledger",
        "payments": "payments",
        "risk": "sample-risk",
    }
    held = platform.tenant("globex")
    platform.remove_tenant("globex")
    assert platform.tenant_ids == ("acme",)
    assert fee_hooks.of(held.hooks).finplug_calculate_fees(context=FeeContext("capture", EUR10))
    with pytest.raises(TenantNotFoundError):
        platform.remove_tenant("globex")


def test_duplicate_tenant_needs_replace(platform: Platform) -> None:
    from finplug import ConfigError

    config = {"tenant": "acme", "plugins": {"fee-echo": {}}}
    with pytest.raises(ConfigError, match="already configured"):
        platform.add_tenant(config)
    platform.add_tenant(config, replace=True)
    assert platform.tenant("acme").plugin_names == ("events", "fee-echo", "idempotency", "ledger")


def test_hooks_used_during_setup_get_a_clear_error() -> None:
    class Eager(Plugin[TaggedSettings]):
        meta = PluginMeta(name="eager", version="0", settings=TaggedSettings)

        def _setup(self) -> None:
            risk_hooks.of(self.context.hooks).finplug_assess_risk(context=RiskContext("x"))

    platform = Platform([Eager], environ={})
    platform.add_tenant({"tenant": "t", "plugins": {"eager": {}}})
    with pytest.raises(AssemblyError, match="used hooks during set-up"):
        platform.tenant("t")


def test_kernel_components_are_in_every_tenant(platform: Platform) -> None:
    globex = platform.tenant("globex")
    assert globex.events is globex.component("events")
    assert globex.ledger is globex.component("ledger")
    assert {"events", "idempotency", "ledger"} <= set(globex.component_names)
