"""Hook order follows requires, before and after; a cycle is a config error, never a call error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finplug import (
    ConfigError,
    Money,
    Platform,
    hookimpl,
)
from finplug.sockets.fees import FeeContext, fee_hooks
from sample_plugins import tagged_plugin

CTX = FeeContext("capture", Money("1.00", "EUR"))


def call_order(platform: Platform, tenant_id: str) -> list[str]:
    batches = fee_hooks.of(platform.tenant(tenant_id).hooks).finplug_calculate_fees(context=CTX)
    return [batch[0].code for batch in batches]


def test_before_and_after_decide_call_order() -> None:
    a = tagged_plugin("a", after=frozenset({"c"}))
    b = tagged_plugin("b", before=frozenset({"a"}))
    c = tagged_plugin("c")
    platform = Platform([a, b, c], environ={})
    platform.add_tenant({"tenant": "t", "plugins": {"a": {}, "b": {}, "c": {}}})
    assert call_order(platform, "t") == ["b", "c", "a"]
    assert platform.tenant("t").plugin_names == ("b", "c", "a", "events", "idempotency", "ledger")


def test_requirements_run_first_and_absent_targets_are_ignored() -> None:
    base = tagged_plugin("base")
    addon = tagged_plugin("addon", requires=frozenset({"base"}), before=frozenset({"absent"}))
    platform = Platform([addon, base], environ={})
    platform.add_tenant({"tenant": "t", "plugins": {"addon": {}, "base": {}}})
    assert call_order(platform, "t") == ["base", "addon"]


def test_tryfirst_still_wins_within_the_declared_order() -> None:
    plain = tagged_plugin("plain")
    eager_base = tagged_plugin("eager", after=frozenset({"plain"}))

    class Eager(eager_base):  # type: ignore[valid-type,misc]
        meta = eager_base.meta

        @hookimpl(tryfirst=True)
        def finplug_calculate_fees(self, context: FeeContext) -> list[object] | None:
            return super().finplug_calculate_fees(context)  # type: ignore[no-any-return]

    platform = Platform([plain, Eager], environ={})
    platform.add_tenant({"tenant": "t", "plugins": {"plain": {}, "eager": {}}})
    assert call_order(platform, "t") == ["eager", "plain"]


def test_cycle_is_rejected_with_the_cycle_named() -> None:
    a = tagged_plugin("a", before=frozenset({"b"}))
    b = tagged_plugin("b", before=frozenset({"c"}))
    c = tagged_plugin("c", before=frozenset({"a"}))
    platform = Platform([a, b, c], environ={})
    with pytest.raises(ConfigError) as info:
        platform.add_tenant({"tenant": "t", "plugins": {"a": {}, "b": {}, "c": {}}})
    [issue] = info.value.issues
    assert issue.path == "plugins.a"
    assert "cycle: a -> b -> c -> a" in issue.message
    assert platform.tenant_ids == ()


names = st.sampled_from([f"p{i}" for i in range(6)])
constraints = st.lists(st.tuples(names, names), max_size=12)


@settings(max_examples=150, deadline=None)
@given(enabled=st.sets(names, min_size=1), edges=constraints)
def test_any_constraint_set_is_honoured_or_rejected(
    enabled: set[str], edges: list[tuple[str, str]]
) -> None:
    """Random before-constraints: either the order honours all of them, or it is a cycle error."""
    before: dict[str, set[str]] = {n: set() for n in enabled}
    for first, then in edges:
        if first in enabled and first != then:
            before[first].add(then)
    plugins = [tagged_plugin(n, before=frozenset(before[n])) for n in sorted(enabled)]
    platform = Platform(plugins, environ={})
    config = {"tenant": "t", "plugins": {n: {} for n in enabled}}
    try:
        platform.add_tenant(config)
    except ConfigError as exc:
        assert "cycle" in str(exc)
        assert _has_cycle(before)
        return
    assert not _has_cycle({k: {t for t in v if t in enabled} for k, v in before.items()})
    order = call_order(platform, "t")
    assert sorted(order) == sorted(enabled)
    position = {name: i for i, name in enumerate(order)}
    for first, thens in before.items():
        for then in thens:
            if then in enabled:
                assert position[first] < position[then]
    # Deterministic: the same config gives the same order.
    again = Platform(plugins, environ={})
    again.add_tenant(config)
    assert call_order(again, "t") == order


def _has_cycle(graph: dict[str, set[str]]) -> bool:
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        if state.get(node) == 1:
            return True
        if state.get(node) == 2:
            return False
        state[node] = 1
        if any(visit(n) for n in graph.get(node, ()) if n in graph):
            return True
        state[node] = 2
        return False

    return any(visit(n) for n in graph)
