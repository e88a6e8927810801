"""Every decision table the plugin ships (the demo's) answers as zen-engine does."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import zen
from hypothesis import given, settings
from hypothesis import strategies as st

from finplug_risk_engine._demo import DEMO_RULES, DEMO_RULES_V2
from finplug_risk_engine.jdm import compile_graph, graph_from_json, same_json

SHIPPED: list[dict[str, Any]] = [
    graph for rules in (DEMO_RULES, DEMO_RULES_V2) for graph in rules["graphs"].values()
]


@settings(max_examples=200, deadline=None)
@given(
    which=st.integers(min_value=0, max_value=len(SHIPPED) - 1),
    amount=st.decimals(min_value=-10, max_value=10**6, places=2, allow_nan=False),
    extra=st.sampled_from([{}, {"currency": "EUR"}, {"amount_text": "12"}]),
)
def test_shipped_tables_equal_zen_engine(
    which: int, amount: Decimal, extra: dict[str, str]
) -> None:
    graph = SHIPPED[which]
    ours = compile_graph(graph_from_json(graph)).evaluate({"amount": amount, **extra})
    theirs = (
        zen.ZenEngine()
        .create_decision(json.dumps(graph))
        .evaluate({"amount": float(amount), **extra})
    )
    assert same_json(ours, theirs["result"]), (amount, ours, theirs["result"])
