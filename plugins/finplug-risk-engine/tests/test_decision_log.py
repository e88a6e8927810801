"""The decision log: snapshots redacted, queries by payment, customer and time, rule hit rates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from finplug.testing import FinplugTenant
from finplug_risk_engine._plugin import RiskEnginePlugin
from finplug_risk_engine.decision_log import MASK, DecisionLog, FiredRule, redact

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BIG = FiredRule("amount_over_limit", "review", "over 1000 EUR")
NEW_CARD = FiredRule("new_card", "review", "first use of this card")


def test_decisions_are_logged_with_their_snapshot_and_found_again(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant = finplug_tenant([RiskEnginePlugin])
    log = DecisionLog(tenant.storage.begin)
    first = log.append(
        at=T0,
        operation="payment.authorize",
        verdict="review",
        version=3,
        fired=[BIG, NEW_CARD],
        snapshot={"amount": "1200.00", "features": {"per_card": 4}, "lists": []},
        latency_us=420,
        ref="pay_1",
        customer="c1",
        merchant="m1",
        shadow=(4, "decline", [BIG]),
    )
    log.append(
        at=T0 + timedelta(minutes=5),
        operation="payment.authorize",
        verdict="approve",
        version=3,
        fired=[],
        snapshot={"amount": "12.00"},
        latency_us=180,
        ref="pay_2",
        customer="c2",
        merchant="m1",
    )
    [found] = log.query(ref="pay_1")
    assert found.id == first
    assert (found.verdict, found.version, found.fired) == ("review", 3, (BIG, NEW_CARD))
    assert (found.shadow_version, found.shadow_verdict, found.shadow_fired) == (
        4,
        "decline",
        (BIG,),
    )
    assert found.snapshot == {"amount": "1200.00", "features": {"per_card": 4}, "lists": []}
    assert [d.ref for d in log.query(merchant="m1")] == ["pay_1", "pay_2"]
    assert [d.ref for d in log.query(customer="c2")] == ["pay_2"]
    assert [d.ref for d in log.query(since=T0 + timedelta(minutes=1))] == ["pay_2"]
    assert [d.ref for d in log.query(until=T0 + timedelta(minutes=1))] == ["pay_1"]
    assert [d.ref for d in log.scan(batch=1)] == ["pay_1", "pay_2"]
    assert log.hit_rate("new_card", since=T0, until=T0 + timedelta(hours=1)) == (1, 2)
    assert log.hit_rate(
        "new_card", since=T0 + timedelta(minutes=1), until=T0 + timedelta(hours=1)
    ) == (0, 1)


def test_card_numbers_and_secrets_never_reach_the_log(finplug_tenant: FinplugTenant) -> None:
    tenant = finplug_tenant([RiskEnginePlugin])
    log = DecisionLog(tenant.storage.begin)
    log.append(
        at=T0,
        operation="payment.authorize",
        verdict="approve",
        version=1,
        fired=[],
        snapshot={
            "attributes": {
                "card_number": "4111111111111111",
                "CVV": "123",
                "note": "paid with 4111 1111 1111 1111 yesterday",
                "order": "12345678901234",  # not a Luhn number: kept
                "api-key": "sk_live_abc",
                "company": "ACME",  # a name that merely contains "pan": kept
            },
            "pan_as_int": 5555555555554444,
        },
        latency_us=1,
        ref="pay_1",
    )
    [found] = log.query(ref="pay_1")
    assert found.snapshot == {
        "attributes": {
            "card_number": MASK,
            "CVV": MASK,
            "note": f"paid with {MASK} yesterday",
            "order": "12345678901234",
            "api-key": MASK,
            "company": "ACME",
        },
        "pan_as_int": MASK,
    }


@given(st.text(alphabet="0123456789 -abc", max_size=60))
def test_redaction_never_leaves_a_luhn_card_number(text: str) -> None:
    out = redact(text)
    assert isinstance(out, str)
    for run in re.findall(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)", out):
        digits = "".join(c for c in run if c.isdigit())
        total = 0
        for i, ch in enumerate(reversed(digits)):
            n = int(ch) * (2 if i % 2 else 1)
            total += n - 9 if n > 9 else n
        assert total % 10 != 0, run
