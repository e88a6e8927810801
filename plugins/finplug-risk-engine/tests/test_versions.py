"""Rule-set versions: immutable, numbered in order, one live and one shadow, all audited."""

from __future__ import annotations

import threading

import pytest

from finplug.testing import FinplugTenant
from finplug_risk_engine._plugin import RiskEnginePlugin
from finplug_risk_engine.versions import RuleSetState, RuleSetVersions, VersionError

RULES_V1 = {"rules": [{"code": "big", "action": "review", "when": "amount > 1000"}]}
RULES_V2 = {"rules": [{"code": "big", "action": "review", "when": "amount > 500"}]}


def _versions(finplug_tenant: FinplugTenant) -> RuleSetVersions:
    tenant = finplug_tenant([RiskEnginePlugin])
    return RuleSetVersions(tenant.storage.begin)


def test_publishing_numbers_versions_and_identical_content_is_one_version(
    finplug_tenant: FinplugTenant,
) -> None:
    versions = _versions(finplug_tenant)
    v1 = versions.publish(RULES_V1, actor="ann", note="first cut")
    v2 = versions.publish(RULES_V2, actor="bob")
    again = versions.publish(
        {"rules": [{"when": "amount > 1000", "action": "review", "code": "big"}]}, actor="cy"
    )
    assert (v1.version, v2.version, again.version) == (1, 2, 1)
    assert again.published_by == "ann"
    assert versions.get(2).content == RULES_V2
    assert [v.version for v in versions.versions()] == [1, 2]
    with pytest.raises(VersionError, match="no rule-set version 9"):
        versions.get(9)


def test_one_live_one_shadow_and_the_audit(finplug_tenant: FinplugTenant) -> None:
    versions = _versions(finplug_tenant)
    assert versions.state() == RuleSetState(None, None)
    versions.publish(RULES_V1, actor="ann")
    versions.publish(RULES_V2, actor="ann")
    assert versions.go_live(1, actor="ann", note="launch") == RuleSetState(1, None)
    assert versions.shadow(2, actor="bob", note="try 500") == RuleSetState(1, 2)
    with pytest.raises(VersionError, match="version 1 is live"):
        versions.shadow(1, actor="bob")
    # Promoting the shadow clears it.
    assert versions.go_live(2, actor="bob", note="backtest ok") == RuleSetState(2, None)
    with pytest.raises(VersionError, match="no rule-set version 3"):
        versions.go_live(3, actor="bob")
    assert versions.state() == RuleSetState(2, None)
    assert [(a, act, v) for _, a, act, v, _ in versions.audit()] == [
        ("ann", "publish", 1),
        ("ann", "publish", 2),
        ("ann", "go_live", 1),
        ("bob", "shadow", 2),
        ("bob", "go_live", 2),
    ]


def test_floats_are_refused_numbers_stay_exact(finplug_tenant: FinplugTenant) -> None:
    versions = _versions(finplug_tenant)
    with pytest.raises(VersionError, match=r"content.limits.eur: a float"):
        versions.publish({"limits": {"eur": 1000.5}}, actor="ann")
    assert versions.versions() == []


def test_concurrent_publishers_get_distinct_consecutive_versions(
    finplug_tenant: FinplugTenant,
) -> None:
    versions = _versions(finplug_tenant)
    start = threading.Barrier(6)
    got: list[int] = []
    lock = threading.Lock()

    def publish(i: int) -> None:
        start.wait()
        v = versions.publish({"rules": [], "n": i}, actor=f"p{i}")
        with lock:
            got.append(v.version)

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [1, 2, 3, 4, 5, 6]
