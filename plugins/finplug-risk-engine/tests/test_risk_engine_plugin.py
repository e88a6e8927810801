"""The risk-engine plugin in a tenant: payments ask it, events feed velocity, jobs, checks."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import SecretStr

from finplug import ConfigError, Money, Tenant
from finplug._jobs import tenant_jobs
from finplug.sockets.payments import PAYMENTS, Payment, PaymentStatus
from finplug.sockets.risk import RISK, RiskVerdict
from finplug.testing import FinplugTenant
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin
from finplug_risk_engine._plugin import RiskEnginePlugin, RiskEngineSettings
from finplug_risk_engine.engine import RiskEngine
from finplug_risk_engine.velocity_redis import RedisVelocity

RULES = {
    "features": [
        {
            "name": "authorized_per_card_1h",
            "aggregate": "count",
            "key": "card_fingerprint",
            "window": "1h",
            "kinds": ["payment.authorized"],
        }
    ],
    "rules": [
        {"code": "big", "action": "review", "when": "amount > 1000", "message": "over 1000"},
        {
            "code": "card_velocity",
            "action": "block",
            "when": "features.authorized_per_card_1h >= 2",
            "message": "two authorizations on this card within the hour",
        },
    ],
}

SETTINGS: dict[str, Any] = {
    "channels-sim": {
        "seed": 1,
        "channels": [{"name": "card", "methods": ["card"], "currencies": ["EUR"]}],
    },
}


def _shop(finplug_tenant: FinplugTenant) -> Tenant:
    return finplug_tenant([PaymentsPlugin, ChannelsSimPlugin, RiskEnginePlugin], SETTINGS)


def test_payments_ask_the_engine_and_its_events_feed_velocity(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant = _shop(finplug_tenant)
    engine = tenant.component(RISK)
    assert isinstance(engine, RiskEngine)
    engine.versions.go_live(engine.versions.publish(RULES, actor="ann").version, actor="ann")
    payments = tenant.component(PAYMENTS)

    def pay(key: str, amount: str) -> PaymentStatus:
        paid = payments.authorize(
            key,
            amount=Money(amount, "EUR"),
            merchant_id="m1",
            customer_id="c1",
            method="card",
            attributes={"card_fingerprint": "fp-1", "country": "fr"},
        )
        return paid.status

    assert pay("k1", "2000.00") is PaymentStatus.REQUIRES_ACTION  # review: over 1000
    assert pay("k2", "10.00") is PaymentStatus.AUTHORIZED
    tenant.events.dispatch()  # the outbox delivers payment.authorized to the engine
    assert pay("k3", "10.00") is PaymentStatus.AUTHORIZED  # one authorization so far
    tenant.events.dispatch()
    assert pay("k4", "10.00") is PaymentStatus.FAILED  # the second: blocked
    assert pay("k2", "10.00") is PaymentStatus.AUTHORIZED  # a replay asks no one
    tenant.events.dispatch()
    tenant.events.dispatch()  # redelivery counts nothing twice
    logged = engine.log.query(limit=100)
    assert [d.verdict for d in logged] == ["review", "approve", "approve", "decline"]
    # Payments tell the engine which payment it decides, and the caller's country.
    assert logged[0].ref is not None
    assert logged[0].ref.startswith("pay_")
    assert payments.get(logged[0].ref).status is PaymentStatus.REQUIRES_ACTION
    assert logged[0].snapshot["country"] == "FR"
    assert logged[3].snapshot["features"] == {"authorized_per_card_1h": "2"}
    assert [f.code for f in logged[3].fired] == ["card_velocity"]


def test_a_step_up_rule_holds_the_payment_for_the_customers_authentication(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant = _shop(finplug_tenant)
    engine = tenant.component(RISK)
    assert isinstance(engine, RiskEngine)
    rules = {
        "rules": [
            {
                "code": "foreign_ip",
                "action": "step_up",
                "when": "attributes.ip_country != country",
                "message": "the IP is not in the card's country",
            },
            {"code": "big", "action": "review", "when": "amount > 1000"},
        ]
    }
    engine.versions.go_live(engine.versions.publish(rules, actor="ann").version, actor="ann")
    payments = tenant.component(PAYMENTS)

    def pay(key: str, amount: str, ip_country: str) -> Payment:
        attributes = {"country": "FR", "ip_country": ip_country}
        return payments.authorize(
            key, amount=Money(amount, "EUR"), merchant_id="m1", method="card", attributes=attributes
        )

    held = pay("k1", "50.00", "US")
    assert (held.status, held.risk_verdict) == (PaymentStatus.REQUIRES_ACTION, RiskVerdict.STEP_UP)
    assert held.risk_reasons == ("foreign_ip",)
    assert held.transitions[-1].reason == "risk step-up: foreign_ip (risk-engine:v1:foreign_ip)"
    # Radar's precedence: a step-up rule decides before review rules.
    assert pay("k2", "5000.00", "US").risk_verdict is RiskVerdict.STEP_UP
    assert pay("k3", "5000.00", "FR").risk_verdict is RiskVerdict.REVIEW
    assert pay("k4", "50.00", "FR").status is PaymentStatus.AUTHORIZED
    # The customer passed the authentication: the payment goes on.
    assert payments.confirm("k5", held.id, approve=True).status is PaymentStatus.AUTHORIZED
    assert [d.verdict for d in engine.log.query(limit=10)] == [
        "step_up",
        "step_up",
        "review",
        "approve",
    ]


def test_the_plugin_checks_its_live_rule_set_and_registers_its_job(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant = _shop(finplug_tenant)
    assert tenant.check() == []
    jobs, failures = tenant_jobs(tenant)
    assert failures == []
    [expire] = [j for j in jobs if j.name == "risk-engine.expire_lists"]
    assert expire.function() == "0 list entr(y/ies) expired"


def test_redis_velocity_needs_a_credential_reference(finplug_tenant: FinplugTenant) -> None:
    with pytest.raises(ConfigError, match="needs redis_url"):
        finplug_tenant([RiskEnginePlugin], {"risk-engine": {"velocity": "redis"}})
    with pytest.raises(ConfigError, match="must not be written into the config"):
        finplug_tenant(
            [RiskEnginePlugin],
            {"risk-engine": {"velocity": "redis", "redis_url": "redis://127.0.0.1:6379/0"}},
        )
    settings = RiskEngineSettings(velocity="redis", redis_url=SecretStr("redis://x:secret@h/0"))
    assert "secret" not in repr(settings)


def test_redis_velocity_through_the_plugin(finplug_tenant: FinplugTenant) -> None:
    url = os.environ.get("FINPLUG_TEST_REDIS_URL")
    if not url:
        pytest.skip("FINPLUG_TEST_REDIS_URL is not set")
    tenant = finplug_tenant(
        [RiskEnginePlugin],
        {"risk-engine": {"velocity": "redis", "redis_url": "${RISK_REDIS_URL}"}},
        environ={"RISK_REDIS_URL": url},
    )
    plugin = tenant.plugin("risk-engine")
    assert isinstance(plugin, RiskEnginePlugin)
    assert isinstance(plugin.features, RedisVelocity)
