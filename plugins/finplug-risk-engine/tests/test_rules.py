"""Rule sets: located errors at compile time, Radar's precedence, every match reported."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finplug_risk_engine.rules import PRECEDENCE, Action, RuleSetError, compile_rule_set

INPUTS: dict[str, Any] = {
    "operation": "payment.authorize",
    "amount": Decimal("1200.00"),
    "currency": "EUR",
    "country": "FR",
    "attributes": {"ip_country": "DE"},
    "features": {"per_card_1h": Decimal(6)},
    "lists": {"block": {"customer": False}, "allow": {"customer": False}},
    "graphs": {},
}

SET = {
    "features": [
        {"name": "per_card_1h", "aggregate": "count", "key": "card_fingerprint", "window": "1h"}
    ],
    "rules": [
        {
            "code": "foreign_big",
            "action": "block",
            "when": "amount > 1000 and country != attributes.ip_country",
            "message": "big payment from another country than the card's",
        },
        {"code": "velocity", "action": "review", "when": "features.per_card_1h >= 5"},
        {"code": "listed", "action": "block", "when": "lists.block.customer"},
    ],
}


def test_every_match_is_reported_and_precedence_decides() -> None:
    rules = compile_rule_set(SET)
    decision = rules.decide(INPUTS)
    assert decision.action is Action.BLOCK
    assert [(f.code, f.action) for f in decision.fired] == [
        ("foreign_big", "block"),
        ("velocity", "review"),
    ]
    assert decision.fired[0].message == "big payment from another country than the card's"
    assert decision.fired[1].message == "velocity"  # the code when no message is given
    assert rules.rule_codes() == ["foreign_big", "velocity", "listed"]
    assert [f.name for f in rules.features] == ["per_card_1h"]
    assert compile_rule_set(SET).decide({**INPUTS, "amount": Decimal(5)}).action is Action.REVIEW


def test_a_failing_rule_fails_closed() -> None:
    rules = compile_rule_set(
        {"rules": [{"code": "bad", "action": "allow", "when": "amount > currency"}]}
    )
    decision = rules.decide(INPUTS)
    assert decision.action is Action.REVIEW
    assert decision.fired[0].code == "rule_failed:bad"


@pytest.mark.parametrize(
    ("content", "path", "message"),
    [
        (
            {"rules": [{"code": "r", "action": "block", "when": "amount >"}]},
            "rules[0].when",
            "expected",
        ),
        ({"rules": [{"code": "r", "action": "deny", "when": "true"}]}, "rules[0].action", "one of"),
        (
            {"rules": [{"code": "r", "action": "block", "when": "features.per_card > 3"}]},
            "rules[0].when",
            "unknown feature 'per_card'",
        ),
        (
            {"rules": [{"code": "r", "action": "block", "when": "ammount > 3"}]},
            "rules[0].when",
            "did you mean 'amount'",
        ),
        (
            {"rules": [{"code": "r", "action": "block", "when": "graphs.score.total > 3"}]},
            "rules[0].when",
            "unknown graph 'score'",
        ),
        (
            {"rules": [{"code": "r", "action": "block", "when": "nosuchfn(1)"}]},
            "rules[0].when",
            "nosuchfn",
        ),
        (
            {
                "rules": [
                    {"code": "a", "action": "block", "when": "true"},
                    {"code": "a", "action": "review", "when": "true"},
                ]
            },
            "rules[1].code",
            "used by another rule",
        ),
        (
            {
                "features": [{"name": "f", "aggregate": "count", "key": "card", "window": "1h"}],
                "rules": [],
            },
            "features[0].key",
            "one of",
        ),
        (
            {
                "features": [{"name": "f", "aggregate": "count", "key": "ip", "window": "1 hour"}],
                "rules": [],
            },
            "features[0].window",
            "'1h'",
        ),
        (
            {
                "features": [{"name": "f", "aggregate": "sum", "key": "ip", "window": "1h"}],
                "rules": [],
            },
            "features[0]",
            "needs a currency",
        ),
        ({"rulez": []}, "rule set.rulez", "did you mean 'rules'"),
        (
            {
                "graphs": {
                    "g": {
                        "nodes": [{"id": "x", "name": "js", "type": "functionNode", "content": ""}],
                        "edges": [],
                    }
                },
                "rules": [],
            },
            "graphs.g",
            "node 'js' .x.: node type 'functionNode'",
        ),
    ],
)
def test_bad_rule_sets_are_located_errors(content: Any, path: str, message: str) -> None:
    with pytest.raises(RuleSetError, match=message) as info:
        compile_rule_set(content)
    assert info.value.path == path


@given(st.sets(st.sampled_from(list(Action))))
def test_precedence_is_radars_step_up_allow_block_review(actions: set[Action]) -> None:
    rules = compile_rule_set(
        {"rules": [{"code": f"r_{a.value}", "action": a.value, "when": "true"} for a in actions]}
    )
    decision = rules.decide(INPUTS)
    expected = next((a for a in PRECEDENCE if a in actions), None)
    assert decision.action is expected
    assert {f.action for f in decision.fired} == {a.value for a in actions}
    if Action.ALLOW in actions and Action.STEP_UP not in actions:
        assert decision.action is Action.ALLOW  # allow beats block and review


@given(
    amount=st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False),
    velocity=st.integers(min_value=0, max_value=20),
)
def test_a_decision_is_a_pure_function_of_its_inputs(amount: Decimal, velocity: int) -> None:
    inputs = {**INPUTS, "amount": amount, "features": {"per_card_1h": Decimal(velocity)}}
    first = compile_rule_set(SET).decide(inputs)
    again = compile_rule_set(SET).decide(dict(inputs))
    assert first == again
