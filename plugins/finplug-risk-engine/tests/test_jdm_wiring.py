"""The graph engine's wiring, with a tiny stand-in expression language.

The stand-in knows only ``$nodes.<name>.<key>``, ``<key>``, integer literals
and ``> n`` cells. It checks what the engine hands the language (the
``$nodes`` object, each node's input), and that another language can be
plugged in through :class:`Compiler`; the real language is tested against
zen-engine in ``test_jdm_evaluate.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import pytest

from finplug_risk_engine.jdm import JdmError, compile_graph, graph_from_json


class StandIn:
    """A Compiler for the stand-in language; records what it compiled."""

    def __init__(self) -> None:
        self.compiled: list[tuple[str, str]] = []

    def expression(self, text: str, where: str) -> Callable[[Mapping[str, Any]], Any]:
        self.compiled.append((text, where))
        if text.lstrip("-").isdigit():
            number = Decimal(text)
            return lambda context: number
        if text.startswith("$nodes."):
            _, name, key = text.split(".")
            return lambda context: context["$nodes"][name].get(key)
        if text.isidentifier():
            return lambda context: context.get(text)
        raise JdmError(f"the stand-in cannot compile {text!r}")

    def unary(self, text: str, where: str) -> Callable[[Mapping[str, Any], Any], bool]:
        self.compiled.append((text, where))
        limit = Decimal(text.removeprefix(">").strip())
        return lambda context, value: isinstance(value, Decimal) and value > limit


def graph() -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "in", "name": "request", "type": "inputNode"},
            {
                "id": "a",
                "name": "first",
                "type": "expressionNode",
                "content": {"expressions": [{"id": "a1", "key": "m", "value": "7"}]},
            },
            {
                "id": "t",
                "name": "band",
                "type": "decisionTableNode",
                "content": {
                    "hitPolicy": "first",
                    "inputs": [{"id": "c", "name": "Amount", "field": "amount"}],
                    "outputs": [
                        {"id": "o", "name": "Seen", "field": "seen.m"},
                        {"id": "p", "name": "Amount", "field": "seen.amount"},
                    ],
                    "rules": [
                        {"_id": "big", "c": "> 100", "o": "$nodes.first.m", "p": "amount"},
                        {"_id": "any", "c": "", "o": "1", "p": ""},
                    ],
                },
            },
            {"id": "out", "name": "response", "type": "outputNode"},
        ],
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "a"},
            {"id": "e2", "sourceId": "a", "targetId": "t"},
            {"id": "e3", "sourceId": "in", "targetId": "t"},
            {"id": "e4", "sourceId": "t", "targetId": "out"},
        ],
    }


def test_every_cell_is_compiled_once_at_load_with_its_location() -> None:
    language = StandIn()
    compiled = compile_graph(graph_from_json(graph(), source="g.json"), compiler=language)
    texts = [text for text, _ in language.compiled]
    assert sorted(texts) == sorted(["7", "amount", "> 100", "$nodes.first.m", "amount", "1"])
    where = dict(language.compiled)
    assert where["> 100"] == "node 'band' (t) row 'big' column 'Amount' (c)"
    compiled.evaluate({"amount": 150})
    compiled.evaluate({"amount": 5})
    assert len(language.compiled) == 6  # nothing compiled while evaluating


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (150, {"seen": {"m": Decimal(7), "amount": Decimal(150)}}),
        (5, {"seen": {"m": Decimal(1)}}),
    ],
)
def test_nodes_object_and_merged_input_reach_the_language(amount: int, expected: Any) -> None:
    compiled = compile_graph(graph_from_json(graph()), compiler=StandIn())
    assert compiled.evaluate({"amount": amount}) == expected


def test_a_compiler_error_is_located() -> None:
    data = graph()
    data["nodes"][2]["content"]["rules"][1]["o"] = "1 + 1"
    with pytest.raises(JdmError) as caught:
        compile_graph(graph_from_json(data, source="g.json"), compiler=StandIn())
    loc = caught.value.location
    assert (loc.source, loc.node_name, loc.row_id, loc.column_name) == (
        "g.json",
        "band",
        "any",
        "Seen",
    )
