"""The risk engine's part of ``finplug demo``: a table, a velocity rule, a list, a backtest.

Publishes :data:`DEMO_RULES` (a JDM decision table that bands the amount,
a velocity feature, and rules over both and the block list), plays a few
decisions, then publishes a stricter version and backtests it over the
decisions just logged. Every step is idempotent (fixed content, list
values and outcome references), so a second demo run replays rather than
piles up, apart from the decision log, which keeps every decision.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rich.table import Table

from finplug import Money
from finplug.sockets.risk import RiskContext
from finplug_risk_engine.engine import RiskEngine
from finplug_risk_engine.velocity import Outcome

__all__ = ["DEMO_RULES", "DEMO_RULES_V2", "play_story"]


def _band_table(high: str) -> dict[str, Any]:
    """A JDM graph: a ``first`` decision table giving ``band`` from ``amount``."""
    return {
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 0}},
            {
                "id": "bands",
                "type": "decisionTableNode",
                "name": "Amount bands",
                "position": {"x": 200, "y": 0},
                "content": {
                    "hitPolicy": "first",
                    "inputs": [{"id": "amt", "name": "Amount", "field": "amount"}],
                    "outputs": [{"id": "band", "name": "Band", "field": "band"}],
                    "rules": [
                        {"_id": "r-high", "amt": f">= {high}", "band": "'high'"},
                        {"_id": "r-mid", "amt": "[100..500)", "band": "'medium'"},
                        {"_id": "r-low", "amt": "", "band": "'low'"},
                    ],
                },
            },
            {"id": "out", "type": "outputNode", "name": "Response", "position": {"x": 400, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "bands", "type": "edge"},
            {"id": "e2", "sourceId": "bands", "targetId": "out", "type": "edge"},
        ],
    }


def _rules(high: str) -> dict[str, Any]:
    return {
        "description": f"demo: review from {high} EUR, velocity and list blocks",
        "features": [
            {
                "name": "payments_per_card_1h",
                "aggregate": "count",
                "key": "card_fingerprint",
                "window": "1h",
            }
        ],
        "graphs": {"amount": _band_table(high)},
        "rules": [
            {
                "code": "listed_customer",
                "action": "block",
                "when": "lists.block.customer",
                "message": "the customer is on the block list",
            },
            {
                "code": "card_velocity",
                "action": "block",
                "when": "features.payments_per_card_1h >= 3",
                "message": "three or more payments on this card within the hour",
            },
            {
                "code": "high_band",
                "action": "review",
                "when": "graphs.amount.band == 'high'",
                "message": "a high amount for this merchant",
            },
        ],
    }


#: The demo's live rule set: amounts of 500 EUR and more are reviewed.
DEMO_RULES = _rules("500")
#: The candidate it backtests: amounts of 100 EUR and more are reviewed.
DEMO_RULES_V2 = _rules("100")


def _context(amount: str, customer: str, card: str) -> RiskContext:
    return RiskContext(
        "payment.authorize",
        Money(amount, "EUR"),
        merchant_id="m-001",
        customer_id=customer,
        country="DE",
        payment_method="card",
        attributes={"card_fingerprint": card},
    )


def play_story(engine: RiskEngine) -> list[object]:
    """Publish, decide, backtest; tables of what happened."""
    live = engine.versions.publish(DEMO_RULES, actor="demo", note="demo rule set").version
    engine.versions.go_live(live, actor="demo", note="demo")
    engine.lists.add("block", "customer", "c-666", actor="demo", reason="chargeback fraud")
    now = engine.clock()
    for i in range(3):
        engine.features_source.record(
            Outcome(
                f"demo:card-9:{i}",
                "payment.authorized",
                now - timedelta(minutes=i),
                {"card_fingerprint": "fp-9"},
            )
        )
    decisions = Table(title="risk engine decisions (live version)", title_justify="left")
    for column in ("payment", "verdict", "rules that fired"):
        decisions.add_column(column, overflow="fold")
    for label, context in (
        ("45.00 EUR, new customer", _context("45.00", "c-001", "fp-1")),
        ("120.00 EUR", _context("120.00", "c-002", "fp-2")),
        ("900.00 EUR (decision table: high)", _context("900.00", "c-003", "fp-3")),
        ("30.00 EUR, listed customer", _context("30.00", "c-666", "fp-4")),
        ("20.00 EUR, busy card (velocity)", _context("20.00", "c-005", "fp-9")),
    ):
        decision = engine.assess(context)
        fired = ", ".join(r.code for r in decision.reasons) or "-"
        decisions.add_row(label, decision.verdict.name.lower(), fired)
    candidate = engine.versions.publish(DEMO_RULES_V2, actor="demo", note="review from 100").version
    report = engine.backtest(candidate)
    backtest = Table(
        title=f"backtest of version {candidate} (review from 100 EUR) over the decision log",
        title_justify="left",
    )
    for column in ("logged verdict", "would be", "decisions"):
        backtest.add_column(column)
    for (logged, replayed), count in sorted(report.verdicts.items()):
        backtest.add_row(logged, replayed, str(count))
    summary = f"{report.changed} of {report.total} logged decisions would change"
    return [decisions, backtest, summary]
