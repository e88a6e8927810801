"""The Redis velocity backend: the database's answers, each outcome once, tenants apart.

Runs when ``FINPLUG_TEST_REDIS_URL`` is set (``.ci/run`` sets it); set and
down is a failure, not a skip.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finplug import Money
from finplug.testing import isolated_tenant
from finplug_risk_engine._plugin import RiskEnginePlugin
from finplug_risk_engine.velocity import Aggregate, FeatureSpec, Key, Outcome, Velocity
from finplug_risk_engine.velocity_redis import RedisVelocity

REDIS_ENV = "FINPLUG_TEST_REDIS_URL"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SPECS = [
    FeatureSpec("per_card", Aggregate.COUNT, Key.CARD_FINGERPRINT, HOUR),
    FeatureSpec("eur", Aggregate.SUM, Key.CUSTOMER, timedelta(hours=6), currency="EUR"),
    FeatureSpec("cards", Aggregate.DISTINCT, Key.CUSTOMER, HOUR, of=Key.CARD_FINGERPRINT),
    FeatureSpec("declines", Aggregate.COUNT, Key.CUSTOMER, HOUR, kinds=frozenset({"declined"})),
]


@pytest.fixture(scope="module")
def redis_client() -> Iterator[Any]:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} is not set")
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"{REDIS_ENV} is set but Redis does not answer: {exc}")
    yield client
    client.close()


@pytest.fixture
def tenant_id(redis_client: Any) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    for key in redis_client.scan_iter(match=f"finplug:{name}:*"):
        redis_client.delete(key)


def _outcome(i: int, minutes: int, cents: int, card: str, kind: str = "authorized") -> Outcome:
    return Outcome(
        f"p{i}",
        kind,
        T0 - timedelta(minutes=minutes),
        {"customer": "c1", "card_fingerprint": card},
        Money.from_minor(cents, "EUR" if i % 5 else "USD"),
    )


def test_features_and_once_per_outcome(redis_client: Any, tenant_id: str) -> None:
    v = RedisVelocity(redis_client, tenant_id)
    assert v.record(_outcome(1, 10, 550, "A"))
    assert not v.record(_outcome(1, 10, 550, "A"))
    assert v.record_many([_outcome(2, 30, 725, "B"), _outcome(3, 120, 100, "A", "declined")]) == 2
    assert v.record(_outcome(4, 59, 1, "C", "declined"))
    got = v.features(SPECS, {"customer": "c1", "card_fingerprint": "A"}, at=T0)
    assert got == {
        "per_card": 1,
        "eur": Money("13.76", "EUR"),
        "cards": 3,
        "declines": 1,
    }
    assert v.features(SPECS, {"customer": None}, at=T0)["eur"] == Money("0.00", "EUR")


def test_tenants_share_nothing(redis_client: Any, tenant_id: str) -> None:
    other = f"{tenant_id}-other"
    try:
        RedisVelocity(redis_client, tenant_id).record(_outcome(1, 1, 100, "A"))
        theirs = RedisVelocity(redis_client, other)
        assert theirs.record(_outcome(1, 1, 100, "A"))  # the same ref is new for them
        assert theirs.features(SPECS[:1], {"card_fingerprint": "A"}, at=T0) == {"per_card": 1}
    finally:
        for key in redis_client.scan_iter(match=f"finplug:{other}:*"):
            redis_client.delete(key)


def test_concurrent_recorders_count_each_outcome_once(redis_client: Any, tenant_id: str) -> None:
    v = RedisVelocity(redis_client, tenant_id)
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        for i in range(40):
            v.record(_outcome(i, i, 100, "A"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = v.features(SPECS[:1], {"card_fingerprint": "A"}, at=T0)
    assert got == {"per_card": 40}


@settings(max_examples=20, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=400),
            st.integers(min_value=1, max_value=10**12),
            st.sampled_from(["A", "B", "C"]),
            st.sampled_from(["authorized", "declined"]),
        ),
        max_size=25,
    )
)
def test_redis_answers_what_the_database_answers(redis_client: Any, rows: list[Any]) -> None:
    tenant = f"test-{uuid.uuid4().hex[:12]}"
    try:
        hot = RedisVelocity(redis_client, tenant)
        with isolated_tenant([RiskEnginePlugin]) as t:
            cold = Velocity(t.storage.begin)
            outcomes = [_outcome(i, m, c, card, kind) for i, (m, c, card, kind) in enumerate(rows)]
            assert hot.record_many(outcomes) == cold.record_many(outcomes)
            keys = {"customer": "c1", "card_fingerprint": "A"}
            assert hot.features(SPECS, keys, at=T0) == cold.features(SPECS, keys, at=T0)
    finally:
        for key in redis_client.scan_iter(match=f"finplug:{tenant}:*"):
            redis_client.delete(key)
