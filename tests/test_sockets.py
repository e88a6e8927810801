"""Sockets: one versioned contract per domain, typed component lookup, defaults, swapping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from finplug import Money, Platform, Plugin, PluginMeta, check_plugin, hookimpl
from finplug.hookspecs import ComponentRegistrar
from finplug.sockets.payments import PAYMENTS, PaymentsAPI, PaymentStatus
from finplug.sockets.risk import RISK, RiskAPI, RiskContext, RiskDecision, RiskReason
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin

ROOT = Path(__file__).parents[1]


def eur(amount: str) -> Money:
    return Money(amount, "EUR")


class StrictRisk:
    """A risk component of another vendor: declines everything over 50."""

    def __init__(self) -> None:
        self.asked: list[RiskContext] = []

    def assess(self, context: RiskContext) -> RiskDecision:
        self.asked.append(context)
        if context.amount is not None and context.amount > Money("50.00", context.amount.currency):
            return RiskDecision.decline(RiskReason("too_big", "over 50", "strict-risk:limit"))
        return RiskDecision.approve()

    def rules(self) -> list[str]:
        return ["strict-risk:limit"]


class StrictRiskPlugin(Plugin[Any]):
    meta = PluginMeta(
        name="strict-risk",
        version="1",
        components=frozenset({"risk"}),
        sockets={"risk": ">=1.0,<2"},
    )

    def _setup(self) -> None:
        self.component = StrictRisk()

    @hookimpl
    def finplug_register_components(self, register: ComponentRegistrar) -> None:
        register("risk", self.component)


def shop(database_url: str, tenant_id: str, *extra: type[Plugin[Any]]) -> Platform:
    platform = Platform([PaymentsPlugin, ChannelsSimPlugin, *extra], database_url=database_url)
    plugins: dict[str, Any] = {
        "payments": {"routing": {"strategy": "priority", "priority": ["card"]}},
        "channels-sim": {
            "channels": [{"name": "card", "methods": ["card"], "currencies": ["EUR"]}]
        },
    }
    plugins.update({p.meta.name: {} for p in extra})
    platform.add_tenant({"tenant": tenant_id, "plugins": plugins})
    platform.upgrade(tenant_id)
    return platform


def test_another_risk_plugin_providing_the_component_is_used_by_payments(
    database_url: str, unique_id: str
) -> None:
    platform = shop(database_url, f"sk-{unique_id}", StrictRiskPlugin)
    try:
        tenant = platform.tenant(f"sk-{unique_id}")
        payments = tenant.component(PAYMENTS)
        small = payments.authorize(
            "a", amount=Money("10.00", "EUR"), merchant_id="m", method="card"
        )
        big = payments.authorize("b", amount=Money("80.00", "EUR"), merchant_id="m", method="card")
        assert small.status is PaymentStatus.AUTHORIZED
        assert (big.status, big.failure_code) == (PaymentStatus.FAILED, "risk_declined")
        strict = tenant.plugin("strict-risk")
        assert isinstance(strict, StrictRiskPlugin)
        assert [c.amount for c in strict.component.asked] == [
            Money("10.00", "EUR"),
            Money("80.00", "EUR"),
        ]
        assert tenant.component(RISK) is strict.component
    finally:
        platform.close()


def test_component_lookup_by_socket_is_typed_and_checked() -> None:
    platform = Platform([PaymentsPlugin, ChannelsSimPlugin], environ={})
    platform.add_tenant({"tenant": "acme", "plugins": {"payments": {}, "channels-sim": {}}})
    tenant = platform.tenant("acme")
    assert isinstance(tenant.component(PAYMENTS), PaymentsAPI)
    assert tenant.component(PAYMENTS) is tenant.component("payments")
    assert isinstance(tenant.component(RISK), RiskAPI)  # nobody provides it: the default


def test_mypy_knows_the_component_type_without_a_cast(tmp_path: Path) -> None:
    snippet = tmp_path / "typed_lookup.py"
    snippet.write_text(
        dedent(
            """
            from finplug import Money, Tenant
            from finplug.sockets.payments import PAYMENTS, Payment
            from finplug.sockets.risk import RISK, RiskDecision, RiskContext

            def use(tenant: Tenant) -> None:
                paid: Payment = tenant.component(PAYMENTS).authorize(
                    "k", amount=Money(1, "EUR"), merchant_id="m", method="card"
                )
                decision: RiskDecision = tenant.component(RISK).assess(RiskContext("x"))
                tenant.component(PAYMENTS).authorise("k")
                wrong: str = tenant.component(RISK).assess(RiskContext("x"))
            """
        )
    )
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(snippet)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 1, out.stdout
    assert '"PaymentsAPI" has no attribute "authorise"' in out.stdout
    assert 'expression has type "RiskDecision", variable has type "str"' in out.stdout
    assert out.stdout.count("error:") == 2, out.stdout


def test_a_plugin_outside_a_sockets_version_range_fails_to_load() -> None:
    class Future(Plugin[Any]):
        meta = PluginMeta(name="future", version="1", sockets={"payments": ">=2,<3"})

    record = check_plugin(Future)
    assert record.status == "failed"
    assert "supports the payments socket '>=2,<3', but this finplug provides 1.2" in (
        record.error or ""
    )


def test_an_unknown_socket_fails_to_load() -> None:
    class Lost(Plugin[Any]):
        meta = PluginMeta(name="lost", version="1", sockets={"teleport": ">=1"})

    record = check_plugin(Lost)
    assert record.status == "failed"
    assert "no socket named 'teleport'" in (record.error or "")


def test_a_component_named_like_a_socket_is_checked_against_its_interface() -> None:
    class Fake(Plugin[Any]):
        meta = PluginMeta(name="fake", version="1", components=frozenset({"risk"}))

        @hookimpl
        def finplug_register_components(self, register: ComponentRegistrar) -> None:
            register("risk", object())

    platform = Platform([Fake], environ={})
    platform.add_tenant({"tenant": "acme", "plugins": {"fake": {}}})
    with pytest.raises(Exception, match="does not satisfy RiskAPI"):
        platform.tenant("acme").component(RISK)
