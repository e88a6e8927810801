"""Velocity features: exact counts, sums and distinct counts over sliding windows."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finplug import Money
from finplug.testing import FinplugTenant, isolated_tenant
from finplug_risk_engine._plugin import RiskEnginePlugin
from finplug_risk_engine.velocity import (
    Aggregate,
    FeatureSpec,
    Key,
    Outcome,
    Velocity,
    VelocityError,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)

PER_CARD = FeatureSpec("payments_per_card_1h", Aggregate.COUNT, Key.CARD_FINGERPRINT, HOUR)
SUM_CUSTOMER = FeatureSpec(
    "eur_per_customer_24h", Aggregate.SUM, Key.CUSTOMER, timedelta(hours=24), currency="EUR"
)
CARDS_PER_CUSTOMER = FeatureSpec(
    "cards_per_customer_24h",
    Aggregate.DISTINCT,
    Key.CUSTOMER,
    timedelta(hours=24),
    of=Key.CARD_FINGERPRINT,
)
DECLINES = FeatureSpec(
    "declines_per_customer_1h",
    Aggregate.COUNT,
    Key.CUSTOMER,
    HOUR,
    kinds=frozenset({"payment.declined"}),
)


def _paid(ref: str, at: datetime, amount: str = "10.00", cur: str = "EUR", **keys: str) -> Outcome:
    return Outcome(ref, "payment.authorized", at, keys, Money(amount, cur))


def test_features_count_sum_and_distinct_over_their_windows(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant = finplug_tenant([RiskEnginePlugin])
    v = Velocity(tenant.storage.begin)
    v.record(_paid("p1", T0 - timedelta(hours=30), customer="c1", card_fingerprint="A"))
    v.record(_paid("p2", T0 - timedelta(hours=2), "5.50", customer="c1", card_fingerprint="A"))
    v.record(_paid("p3", T0 - timedelta(minutes=30), "7.25", customer="c1", card_fingerprint="B"))
    v.record(
        _paid("p4", T0 - timedelta(minutes=5), "99.00", "USD", customer="c1", card_fingerprint="B")
    )
    v.record(Outcome("d1", "payment.declined", T0 - timedelta(minutes=1), {"customer": "c1"}))
    v.record(_paid("p5", T0 + timedelta(minutes=1), customer="c1", card_fingerprint="B"))  # after
    got = v.features(
        [PER_CARD, SUM_CUSTOMER, CARDS_PER_CUSTOMER, DECLINES],
        {"customer": "c1", "card_fingerprint": "B"},
        at=T0,
    )
    assert got == {
        "payments_per_card_1h": 2,
        "eur_per_customer_24h": Money("12.75", "EUR"),  # USD not added, p1 too old
        "cards_per_customer_24h": 2,
        "declines_per_customer_1h": 1,
    }


def test_an_outcome_recorded_again_counts_once(finplug_tenant: FinplugTenant) -> None:
    tenant = finplug_tenant([RiskEnginePlugin])
    v = Velocity(tenant.storage.begin)
    outcome = _paid("payment:pay_1:authorized", T0, customer="c1", card_fingerprint="A")
    assert v.record(outcome)
    assert not v.record(outcome)
    assert v.record_many([outcome, _paid("payment:pay_2:authorized", T0, customer="c1")]) == 1
    assert v.features([PER_CARD], {"card_fingerprint": "A"}, at=T0) == {"payments_per_card_1h": 1}


def test_a_missing_key_is_zero_and_the_window_edge_is_half_open(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant = finplug_tenant([RiskEnginePlugin])
    v = Velocity(tenant.storage.begin)
    v.record(_paid("edge", T0 - HOUR, card_fingerprint="A"))
    v.record(_paid("now", T0, card_fingerprint="A"))
    assert v.features([PER_CARD], {"card_fingerprint": "A"}, at=T0)["payments_per_card_1h"] == 1
    assert v.features([PER_CARD, SUM_CUSTOMER], {"card_fingerprint": None}, at=T0) == {
        "payments_per_card_1h": 0,
        "eur_per_customer_24h": Money("0.00", "EUR"),
    }


def test_concurrent_recorders_count_each_outcome_once(finplug_tenant: FinplugTenant) -> None:
    tenant = finplug_tenant([RiskEnginePlugin])
    v = Velocity(tenant.storage.begin)
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        for i in range(25):  # every worker records the same 25 outcomes
            v.record(_paid(f"p{i}", T0 - timedelta(minutes=i), card_fingerprint="A"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert v.features([PER_CARD], {"card_fingerprint": "A"}, at=T0)["payments_per_card_1h"] == 25


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FeatureSpec("s", Aggregate.SUM, Key.CUSTOMER, HOUR), "needs a currency"),
        (lambda: FeatureSpec("d", Aggregate.DISTINCT, Key.CUSTOMER, HOUR), "needs `of`"),
        (lambda: FeatureSpec("w", Aggregate.COUNT, Key.CUSTOMER, timedelta(0)), "positive"),
    ],
)
def test_bad_feature_definitions_are_refused(make: object, message: str) -> None:
    with pytest.raises(VelocityError, match=message):
        make()  # type: ignore[operator]


def test_bad_outcomes_write_nothing(finplug_tenant: FinplugTenant) -> None:
    tenant = finplug_tenant([RiskEnginePlugin])
    v = Velocity(tenant.storage.begin)
    with pytest.raises(VelocityError, match="unknown key 'planet'"):
        v.record(Outcome("x", "payment.authorized", T0, {"planet": "earth"}))
    with pytest.raises(VelocityError, match="timezone-aware"):
        v.record(Outcome("x", "payment.authorized", datetime(2026, 1, 1), {}))
    assert v.features([PER_CARD], {"card_fingerprint": "A"}, at=T0)["payments_per_card_1h"] == 0


@settings(max_examples=25, deadline=None)
@given(
    minutes=st.lists(st.integers(min_value=0, max_value=180), min_size=0, max_size=30),
    cents=st.lists(st.integers(min_value=1, max_value=10**9), min_size=30, max_size=30),
)
def test_features_equal_a_plain_fold_of_the_outcomes(minutes: list[int], cents: list[int]) -> None:
    """The SQL aggregates equal counting and adding in Python, to the minor unit."""
    with isolated_tenant([RiskEnginePlugin]) as tenant:
        v = Velocity(tenant.storage.begin)
        outcomes = [
            Outcome(
                f"p{i}",
                "payment.authorized",
                T0 - timedelta(minutes=m),
                {"customer": "c1", "card_fingerprint": f"card-{m % 4}"},
                Money.from_minor(cents[i], "EUR"),
            )
            for i, m in enumerate(minutes)
        ]
        v.record_many(outcomes)
        inside = [o for o in outcomes if T0 - HOUR < o.at <= T0]
        spec_sum = FeatureSpec("s", Aggregate.SUM, Key.CUSTOMER, HOUR, currency="EUR")
        spec_cards = FeatureSpec(
            "d", Aggregate.DISTINCT, Key.CUSTOMER, HOUR, of=Key.CARD_FINGERPRINT
        )
        got = v.features([spec_sum, spec_cards], {"customer": "c1"}, at=T0)
        assert got["s"] == Money.from_minor(
            sum(o.amount.minor_units for o in inside if o.amount), "EUR"
        )
        assert got["d"] == len({o.keys["card_fingerprint"] for o in inside})
