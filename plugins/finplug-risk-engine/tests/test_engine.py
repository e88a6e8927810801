"""The engine: a decision from lists, features and the live rule set; shadow runs; backtests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from finplug import Money, Tenant
from finplug.sockets.risk import RiskContext, RiskVerdict
from finplug.testing import FinplugTenant, isolated_tenant
from finplug_risk_engine._plugin import RiskEnginePlugin
from finplug_risk_engine.engine import RiskEngine
from finplug_risk_engine.velocity import Outcome, Velocity

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

RULES_V1 = {
    "features": [
        {"name": "per_card_1h", "aggregate": "count", "key": "card_fingerprint", "window": "1h"}
    ],
    "rules": [
        {"code": "trusted", "action": "allow", "when": "lists.allow.customer"},
        {"code": "listed", "action": "block", "when": "lists.block.customer", "message": "blocked"},
        {"code": "big", "action": "review", "when": "amount > 1000", "message": "over 1000"},
        {"code": "card_velocity", "action": "block", "when": "features.per_card_1h >= 3"},
    ],
}
RULES_V2 = {
    "features": RULES_V1["features"],
    "rules": [
        {"code": "big", "action": "review", "when": "amount > 500", "message": "over 500"},
        {"code": "card_velocity", "action": "block", "when": "features.per_card_1h >= 3"},
    ],
}


class Clock:
    """A settable clock (UTC)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _engine(tenant: Tenant, clock: Clock) -> tuple[RiskEngine, Velocity]:
    velocity = Velocity(tenant.storage.begin, clock=clock)
    return RiskEngine(tenant.storage.begin, features=velocity, clock=clock), velocity


def _pay(amount: str, customer: str = "c1", card: str = "A") -> RiskContext:
    return RiskContext(
        "payment.authorize",
        Money(amount, "EUR"),
        merchant_id="m1",
        customer_id=customer,
        country="DE",
        payment_method="card",
        attributes={"card_fingerprint": card, "payment_id": f"pay-{customer}-{amount}"},
    )


def test_no_live_version_approves(finplug_tenant: FinplugTenant) -> None:
    engine, _ = _engine(finplug_tenant([RiskEnginePlugin]), Clock())
    assert engine.assess(_pay("5000.00")).verdict is RiskVerdict.APPROVE
    assert engine.rules() == []


def test_lists_features_and_rules_decide_and_every_decision_is_logged(
    finplug_tenant: FinplugTenant,
) -> None:
    clock = Clock()
    engine, velocity = _engine(finplug_tenant([RiskEnginePlugin]), clock)
    engine.versions.go_live(engine.versions.publish(RULES_V1, actor="ann").version, actor="ann")
    assert engine.rules() == ["trusted", "listed", "big", "card_velocity"]

    review = engine.assess(_pay("1200.00"))
    assert review.verdict is RiskVerdict.REVIEW
    assert [(r.code, r.message, r.rule) for r in review.reasons] == [
        ("big", "over 1000", "risk-engine:v1:big")
    ]
    engine.lists.add("block", "customer", "c2", actor="ann")
    assert engine.assess(_pay("10.00", "c2")).verdict is RiskVerdict.DECLINE
    engine.lists.add("allow", "customer", "c2", actor="bob")  # allow beats block
    assert engine.assess(_pay("10.00", "c2")).verdict is RiskVerdict.APPROVE
    for i in range(3):
        velocity.record(
            Outcome(
                f"p{i}", "payment.authorized", T0 - timedelta(minutes=i), {"card_fingerprint": "B"}
            )
        )
    declined = engine.assess(_pay("10.00", "c3", card="B"))
    assert declined.verdict is RiskVerdict.DECLINE
    assert [r.code for r in declined.reasons] == ["card_velocity"]

    logged = engine.log.query()
    assert [d.verdict for d in logged] == ["review", "decline", "approve", "decline"]
    assert logged[0].ref == "pay-c1-1200.00"
    assert logged[3].snapshot["features"] == {"per_card_1h": "3"}
    assert logged[2].snapshot["lists"]["allow"]["customer"] is True
    assert all(d.version == 1 for d in logged)


def test_a_shadow_version_is_logged_never_enforced(finplug_tenant: FinplugTenant) -> None:
    engine, _ = _engine(finplug_tenant([RiskEnginePlugin]), Clock())
    v1 = engine.versions.publish(RULES_V1, actor="ann").version
    v2 = engine.versions.publish(RULES_V2, actor="ann").version
    engine.versions.go_live(v1, actor="ann")
    engine.versions.shadow(v2, actor="ann")
    assert engine.assess(_pay("700.00")).verdict is RiskVerdict.APPROVE  # v2 would review
    [logged] = engine.log.query()
    assert (logged.verdict, logged.shadow_version, logged.shadow_verdict) == (
        "approve",
        2,
        "review",
    )
    assert [f.code for f in logged.shadow_fired] == ["big"]


def test_a_backtest_of_the_live_version_reproduces_its_log_and_shows_a_change(
    finplug_tenant: FinplugTenant,
) -> None:
    clock = Clock()
    engine, velocity = _engine(finplug_tenant([RiskEnginePlugin]), clock)
    v1 = engine.versions.publish(RULES_V1, actor="ann").version
    v2 = engine.versions.publish(RULES_V2, actor="ann").version
    engine.versions.go_live(v1, actor="ann")
    for i, amount in enumerate(["10.00", "700.00", "1500.00", "20.00", "800.00"]):
        velocity.record(
            Outcome(f"p{i}", "payment.authorized", clock.now, {"card_fingerprint": "A"})
        )
        engine.assess(_pay(amount))
        clock.now += timedelta(minutes=1)
    # Counters moved on since; the backtest reads what each decision saw.
    velocity.record(Outcome("late", "payment.authorized", clock.now, {"card_fingerprint": "A"}))
    same = engine.backtest(v1)
    assert (same.total, same.changed) == (5, 0)
    changed = engine.backtest(v2)
    assert changed.total == 5
    assert changed.changed == 1  # 700.00: approved by v1, reviewed by v2 (the others: velocity)
    assert changed.verdicts[("approve", "review")] == 1
    assert changed.rules["big"] == 3


def test_now_in_a_rule_is_the_decisions_instant_live_and_in_a_backtest(
    finplug_tenant: FinplugTenant,
) -> None:
    weekend = {
        "rules": [
            {
                "code": "weekend_large",
                "action": "review",
                "when": "dayOfWeek(date('now')) >= 6 and amount > 100",
            }
        ]
    }
    clock = Clock()
    clock.now = datetime(2026, 12, 5, 23, 59, 59, tzinfo=UTC)  # a Saturday
    engine, _ = _engine(finplug_tenant([RiskEnginePlugin]), clock)
    engine.versions.go_live(engine.versions.publish(weekend, actor="ann").version, actor="ann")
    assert engine.assess(_pay("500.00")).verdict is RiskVerdict.REVIEW
    clock.now = datetime(2026, 12, 7, 0, 0, 1, tzinfo=UTC)  # the Monday after
    assert engine.assess(_pay("500.00", customer="c2")).verdict is RiskVerdict.APPROVE
    # Replayed on Monday, each decision still reads its own instant.
    report = engine.backtest(engine.versions.state().live or 0)
    assert (report.total, report.changed) == (2, 0)
    assert report.verdicts == {("review", "review"): 1, ("approve", "approve"): 1}


@settings(max_examples=10, deadline=None)
@given(st.lists(st.sampled_from(["5.00", "600.00", "1200.00"]), min_size=1, max_size=12))
def test_shadow_and_backtest_agree_with_each_version_run_alone(amounts: list[str]) -> None:
    with isolated_tenant([RiskEnginePlugin]) as tenant:
        clock = Clock()
        engine, _ = _engine(tenant, clock)
        v1 = engine.versions.publish(RULES_V1, actor="t").version
        v2 = engine.versions.publish(RULES_V2, actor="t").version
        engine.versions.go_live(v1, actor="t")
        engine.versions.shadow(v2, actor="t")
        for amount in amounts:
            engine.assess(_pay(amount))
        logged = engine.log.query(limit=1000)
        alone = [engine.backtest(v2, [d]).verdicts for d in logged]
        for d, verdicts in zip(logged, alone, strict=True):
            [(_, replayed)] = verdicts
            assert d.shadow_verdict == replayed
        assert engine.backtest(v1).changed == 0
