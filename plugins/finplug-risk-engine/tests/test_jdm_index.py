"""Indexed first-hit tables (8 rows and more) answer as zen-engine does, whatever the input."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import zen
from hypothesis import given, settings
from hypothesis import strategies as st

from finplug_risk_engine.jdm import (
    CompiledTable,
    DecisionTableContent,
    ExprCompiler,
    Location,
    compile_graph,
    graph_from_json,
    same_json,
)

NUMBER_CELLS = st.one_of(
    st.just(""),
    st.integers(-5, 105).map(lambda n: f"> {n}"),
    st.integers(-5, 105).map(lambda n: f"<= {n}"),
    st.integers(-5, 105).map(str),
    st.tuples(st.integers(-5, 50), st.integers(51, 105), st.booleans(), st.booleans()).map(
        lambda t: f"{'[' if t[2] else '('}{t[0]}..{t[1]}{']' if t[3] else ')'}"
    ),
    st.tuples(st.integers(0, 50), st.integers(51, 100)).map(
        lambda t: f"$ >= {t[0]} and $ < {t[1]}"
    ),
)
WORDS = ["DE", "FR", "KP", "US"]
STRING_CELLS = st.one_of(
    st.just(""),
    st.sampled_from(WORDS).map(lambda w: f"'{w}'"),
    st.lists(st.sampled_from(WORDS), min_size=2, max_size=3, unique=True).map(
        lambda ws: ", ".join(f"'{w}'" for w in ws)
    ),
    st.sampled_from(WORDS).map(lambda w: f"$ != '{w}'"),
    st.sampled_from(WORDS).map(lambda w: f"$ != '{w}'"),
)


def table(rows: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "In", "position": {"x": 0, "y": 0}},
            {
                "id": "t",
                "type": "decisionTableNode",
                "name": "T",
                "position": {"x": 1, "y": 0},
                "content": {
                    "hitPolicy": "first",
                    "inputs": [
                        {"id": "a", "name": "A", "field": "amount"},
                        {"id": "c", "name": "C", "field": "country"},
                        {"id": "s", "name": "S", "field": "score"},
                    ],
                    "outputs": [{"id": "o", "name": "O", "field": "row"}],
                    "rules": [
                        {"_id": f"r{i}", "a": a, "c": c, "s": s, "o": str(i)}
                        for i, (a, c, s) in enumerate(rows)
                    ],
                },
            },
            {"id": "out", "type": "outputNode", "name": "Out", "position": {"x": 2, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "t", "type": "edge"},
            {"id": "e2", "sourceId": "t", "targetId": "out", "type": "edge"},
        ],
    }


VALUES = st.one_of(
    st.integers(-10, 110),
    st.decimals(min_value=-10, max_value=110, places=2, allow_nan=False),
    st.none(),
    st.sampled_from(["DE", "x"]),
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(NUMBER_CELLS, STRING_CELLS, NUMBER_CELLS), min_size=8, max_size=24),
    inputs=st.lists(
        st.tuples(
            VALUES, st.one_of(st.sampled_from([*WORDS, "GB"]), st.none(), st.just(7)), VALUES
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_indexed_tables_equal_zen(rows: list[tuple[str, str, str]], inputs: list[Any]) -> None:
    graph = table(rows)
    ours = compile_graph(graph_from_json(graph))
    theirs = zen.ZenEngine().create_decision(json.dumps(graph))
    for amount, country, score in inputs:
        given_in = {"amount": amount, "country": country, "score": score}
        zen_in = {k: float(v) if isinstance(v, Decimal) else v for k, v in given_in.items()}
        expected = theirs.evaluate(zen_in)["result"]
        assert same_json(ours.evaluate(given_in), expected), (rows, given_in, expected)


def test_the_index_is_used_for_such_tables_and_not_for_others() -> None:
    rows = [(f"[{i * 10}..{i * 10 + 10})", "'DE'" if i % 2 else "", "") for i in range(10)]

    def compiled_table(rows: list[tuple[str, str, str]]) -> CompiledTable:
        graph = graph_from_json(table(rows))
        [node] = [n for n in graph.nodes if n.type == "decisionTableNode"]
        assert isinstance(node.content, DecisionTableContent)
        return CompiledTable(node.content, Location(), ExprCompiler())

    indexed = compiled_table(rows)
    assert indexed.evaluate.__name__ == "first_indexed"
    assert indexed.evaluate({"amount": Decimal(35), "country": "DE"}) == {"row": Decimal(3)}
    assert indexed.evaluate({"amount": Decimal(35), "country": "FR"}) is None  # row 3 wants DE
    assert indexed.evaluate({"amount": Decimal(45), "country": "FR"}) == {"row": Decimal(4)}
    assert indexed.evaluate({"amount": None, "country": "DE"}) is None  # scanned, as zen
    # A cell that reads the context (not only its own value) leaves the table to the scan.
    mixed = [(f"> amount_floor + {i}", "", "") for i in range(10)]
    assert compiled_table(mixed).evaluate.__name__ != "first_indexed"
    # Seven rows: scanned.
    assert compiled_table(rows[:7]).evaluate.__name__ != "first_indexed"
