"""JDM graphs built here (every node kind, merges, switches, zen's quirks) against zen-engine.

Hand-picked graphs pin one behaviour each; generated tables and graphs
(hypothesis) look for the ones nobody thought of. zen-engine is the oracle:
results must be exactly equal as JSON, and where zen fails an evaluation
(``null + 1`` in an expression node) the engine must fail too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finplug_risk_engine.jdm import JdmEvaluationError, compile_graph, graph_from_json
from zen_oracle import assert_same_as_zen, zen_result

# ------------------------------------------------------------------ built graphs


def node(node_id: str, kind: str, content: Any = None) -> dict[str, Any]:
    built: dict[str, Any] = {"id": node_id, "name": node_id, "type": kind}
    if content is not None:
        built["content"] = content
    return built


def edge(source: str, target: str, handle: str | None = None) -> dict[str, Any]:
    built = {"id": f"{source}-{target}", "sourceId": source, "targetId": target}
    if handle is not None:
        built["sourceHandle"] = handle
    return built


def expr(node_id: str, *pairs: tuple[str, str], **transform: Any) -> dict[str, Any]:
    lines = [{"id": f"{node_id}{i}", "key": k, "value": v} for i, (k, v) in enumerate(pairs)]
    return node(node_id, "expressionNode", {"expressions": lines, **transform})


def table(
    node_id: str,
    policy: str,
    fields: list[str | None],
    outs: list[str],
    rows: list[list[str]],
    **transform: Any,
) -> dict[str, Any]:
    inputs = [
        {"id": f"i{n}", "name": f"In{n}", **({"field": f} if f else {})}
        for n, f in enumerate(fields)
    ]
    outputs = [{"id": f"o{n}", "name": f"Out{n}", "field": f} for n, f in enumerate(outs)]
    rules = []
    for r, cells in enumerate(rows):
        rule = {"_id": f"r{r}"}
        for n, text in enumerate(cells[: len(fields)]):
            rule[f"i{n}"] = text
        for n, text in enumerate(cells[len(fields) :]):
            rule[f"o{n}"] = text
        rules.append(rule)
    body = {"hitPolicy": policy, "inputs": inputs, "outputs": outputs, "rules": rules}
    return node(node_id, "decisionTableNode", {**body, **transform})


def switch(node_id: str, policy: str, *statements: tuple[str, str]) -> dict[str, Any]:
    rows = [{"id": s, "condition": c, "isDefault": not c} for s, c in statements]
    return node(node_id, "switchNode", {"hitPolicy": policy, "statements": rows})


IN, OUT = node("in", "inputNode"), node("out", "outputNode")
A, B = expr("a", ("x.p", "1"), ("k", "'a'")), expr("b", ("x.q", "2"), ("k", "'b'"))
X, Y = expr("x", ("c", "v + 1")), expr("y", ("d", "v + 2"))
T_FIRST = table("t", "first", ["v"], ["out.x"], [["> 10", "1"]])
T_COLLECT = table("t", "collect", ["v"], ["out.x"], [["> 10", "1"], ["", "v"]])
S_FIRST = switch("s", "first", ("s1", "v > 5"), ("s2", ""))
S_COLLECT = switch("s", "collect", ("s1", "v > 5"), ("s2", ""), ("s3", "v > 7"))
S_NONE = switch("s", "first", ("s1", "v > 5"), ("s2", "v > 100"))
TAGS = table(
    "t",
    "first",
    ["v"],
    ["x", "t[]", "a.u[]"],
    [["> 10", "1", "'a'", "null"], ["> 5", "2", "", "[3]"], ["> 3", "3", "'c'", "v"]],
)

BUILT: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    "merge-first-edge-wins": (
        [IN, A, B, OUT],
        [edge("in", "a"), edge("in", "b"), edge("a", "out"), edge("b", "out")],
    ),
    "merge-edge-order": (
        [IN, A, B, OUT],
        [edge("in", "a"), edge("in", "b"), edge("b", "out"), edge("a", "out")],
    ),
    "no-output-leaves-in-node-order": ([IN, A, B], [edge("in", "a"), edge("in", "b")]),
    "no-match-null": ([IN, T_FIRST, OUT], [edge("in", "t"), edge("t", "out")]),
    "no-match-merged": (
        [IN, T_FIRST, A, OUT],
        [edge("in", "t"), edge("in", "a"), edge("t", "out"), edge("a", "out")],
    ),
    "collect-array-replaces": (
        [IN, T_COLLECT, A, OUT],
        [edge("in", "t"), edge("in", "a"), edge("t", "out"), edge("a", "out")],
    ),
    "object-replaces-array": (
        [IN, T_COLLECT, A, OUT],
        [edge("in", "t"), edge("in", "a"), edge("a", "out"), edge("t", "out")],
    ),
    "input-to-output": ([IN, OUT], [edge("in", "out")]),
    "output-stops-walk": ([IN, X, Y, OUT], [edge("in", "x"), edge("in", "y"), edge("x", "out")]),
    "output-after-leaf": ([IN, X, Y, OUT], [edge("in", "y"), edge("in", "x"), edge("x", "out")]),
    "expression-dollar": (
        [
            IN,
            expr(
                "e", ("a.b", "1"), ("c", "$.a.b + 1"), ("", "5"), ("d", ""), ("e", "$"), ("f", "a")
            ),
            OUT,
        ],
        [edge("in", "e"), edge("e", "out")],
    ),
    "expression-dollar-first": (
        [IN, expr("e", ("a", "$"), ("b", "$.v"), ("c", "1"), ("d", "$.c")), OUT],
        [edge("in", "e"), edge("e", "out")],
    ),
    "expression-null-and-collide": (
        [IN, expr("e", ("k", "null"), ("c", "1"), ("c.d", "2"), ("m", "v.w.z")), OUT],
        [edge("in", "e"), edge("e", "out")],
    ),
    "pass-through": (
        [IN, expr("e", ("c", "v + 1"), ("k", "null"), ("z", "[1]"), passThrough=True), OUT],
        [edge("in", "e"), edge("e", "out")],
    ),
    "pass-through-output-path": (
        [IN, expr("e", ("c", "v + 1"), passThrough=True, outputPath="res.deep"), OUT],
        [edge("in", "e"), edge("e", "out")],
    ),
    "input-field": (
        [IN, expr("e", ("c", "v + 1"), inputField="item"), OUT],
        [edge("in", "e"), edge("e", "out")],
    ),
    "loop": (
        [
            IN,
            expr("e", ("c", "v + 1"), inputField="items", executionMode="loop", passThrough=True),
            OUT,
        ],
        [edge("in", "e"), edge("e", "out")],
    ),
    "table-transform": (
        [
            IN,
            table(
                "t",
                "first",
                ["v"],
                ["x"],
                [["", "1"]],
                passThrough=True,
                inputField="item",
                outputPath="res",
            ),
            OUT,
        ],
        [edge("in", "t"), edge("t", "out")],
    ),
    "table-loop": (
        [
            IN,
            table(
                "t",
                "collect",
                ["v"],
                ["x"],
                [["> 1", "v"]],
                inputField="items",
                executionMode="loop",
            ),
            OUT,
        ],
        [edge("in", "t"), edge("t", "out")],
    ),
    "table-first-pass-through": (
        [IN, table("t", "first", ["v"], ["x"], [["> 100", "v"]], passThrough=True), OUT],
        [edge("in", "t"), edge("t", "out")],
    ),
    "table-tags": ([IN, TAGS, OUT], [edge("in", "t"), edge("t", "out")]),
    "table-no-field-column": (
        [
            IN,
            table(
                "t",
                "first",
                [None, "v"],
                ["x"],
                [["v", "", "1"], ["v > 3", "< 8", "2"], ["", "", "3"]],
            ),
            OUT,
        ],
        [edge("in", "t"), edge("t", "out")],
    ),
    "table-field-expression": (
        [
            IN,
            table(
                "t",
                "collect",
                ["v * 2", "len(items)"],
                ["x.y", "x.z"],
                [["> 10", "", "'big'", "null"], ["", "> 1", "", "2"], ["'a'", "", "1", ""]],
            ),
            OUT,
        ],
        [edge("in", "t"), edge("t", "out")],
    ),
    "table-failing-cells": (
        [IN, table("t", "first", ["v"], ["x"], [["> 'a'", "1"], ["", "v + 'a'"], ["", "3"]]), OUT],
        [edge("in", "t"), edge("t", "out")],
    ),
    "switch-passes-input": (
        [IN, S_FIRST, X, OUT],
        [edge("in", "s"), edge("s", "x", "s1"), edge("x", "out")],
    ),
    "switch-to-output": (
        [IN, S_FIRST, X, OUT],
        [edge("in", "s"), edge("s", "x", "s1"), edge("s", "out", "s2")],
    ),
    "switch-collect": (
        [IN, S_COLLECT, X, Y, OUT],
        [
            edge("in", "s"),
            edge("s", "x", "s1"),
            edge("s", "y", "s2"),
            edge("x", "out"),
            edge("y", "out"),
        ],
    ),
    "switch-prunes-upstream": (
        [IN, S_NONE, X, Y],
        [edge("in", "s"), edge("in", "y"), edge("s", "x", "s1")],
    ),
    "switch-blank-condition": (
        [IN, switch("s", "first", ("s1", "  "), ("s2", "")), X, Y, OUT],
        [
            edge("in", "s"),
            edge("s", "x", "s1"),
            edge("s", "y", "s2"),
            edge("x", "out"),
            edge("y", "out"),
        ],
    ),
    "switch-prunes-all": (
        [IN, S_NONE, X, OUT],
        [edge("in", "s"), edge("s", "x", "s1"), edge("x", "out")],
    ),
}


@pytest.mark.parametrize("name", sorted(BUILT))
@pytest.mark.parametrize(
    "data",
    [
        {"v": 1},
        {"v": 4},
        {"v": 6},
        {"v": 11, "k": 5, "z": {"q": 1}, "n": None},
        {"v": 8, "item": {"v": 6}, "items": [{"v": 6}, {"v": 0}]},
        {"v": "s", "items": []},
    ],
    ids=["v1", "v4", "v6", "v11", "v8-items", "v-text"],
)
def test_built_graph_matches_zen(name: str, data: dict[str, Any]) -> None:
    nodes, edges = BUILT[name]
    assert_same_as_zen({"nodes": nodes, "edges": edges}, data)


def test_failing_expression_node_raises_located() -> None:
    graph = {
        "nodes": [IN, expr("e", ("c", "v + 'a'")), OUT],
        "edges": [edge("in", "e"), edge("e", "out")],
    }
    compiled = compile_graph(graph_from_json(graph, source="g.json"))
    with pytest.raises(JdmEvaluationError) as caught:
        compiled.evaluate({"v": 1})
    assert (caught.value.location.node_id, caught.value.location.column_name) == ("e", "c")
    with pytest.raises(RuntimeError):  # zen fails the evaluation too
        zen_result(graph, {"v": 1})


# ------------------------------------------------------------------ generated tables and graphs

cells = st.sampled_from(
    [
        "",
        "> 5",
        "< 3",
        ">= 10",
        "[2..8]",
        "(2..8]",
        "5",
        "'a'",
        "'a', 'b'",
        "not(5)",
        "$ > 1 and $ < 9",
    ]
)
outputs = st.sampled_from(["", "1", "2.5", "'x'", "v", "null", "v * 2", "[1, 2]", "{a: 1}"])
values = st.one_of(st.integers(-2, 12), st.sampled_from(["a", "b", None]))


@st.composite
def tables(draw: Callable[..., Any]) -> dict[str, Any]:
    policy = draw(st.sampled_from(["first", "collect"]))
    width = draw(st.integers(1, 2))
    fields = ["v", "w"][:width]
    outs = draw(
        st.lists(
            st.sampled_from(["r", "r.a", "r.b", "s[]", "r.t[]"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    rows = draw(
        st.lists(
            st.tuples(
                st.lists(cells, min_size=width, max_size=width),
                st.lists(outputs, min_size=len(outs), max_size=len(outs)),
            ).map(lambda p: p[0] + p[1]),
            max_size=6,
        )
    )
    return table("t", policy, list(fields), outs, rows)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(built=tables(), v=values, w=values)
def test_generated_tables_match_zen(built: dict[str, Any], v: Any, w: Any) -> None:
    graph = {"nodes": [IN, built, OUT], "edges": [edge("in", "t"), edge("t", "out")]}
    assert_same_as_zen(graph, {"v": v, "w": w})


@st.composite
def dags(draw: Callable[..., Any]) -> dict[str, Any]:
    count = draw(st.integers(1, 5))
    nodes = [IN]
    names = ["in"]
    edges: list[dict[str, Any]] = []
    for i in range(count):
        name = f"n{i}"
        kind = draw(st.sampled_from(["expr", "table", "switch", "loop"]))
        transform = {
            "passThrough": draw(st.booleans()),
            **draw(st.sampled_from([{}, {"outputPath": "o"}, {"outputPath": "b.o"}])),
        }
        if kind == "expr":
            key = draw(st.sampled_from(["v", "a", "b.c", "k"]))
            value = draw(st.sampled_from(["v + 1", "1", "'s'", "null", "v", "[v]", "{q: v}"]))
            nodes.append(expr(name, (key, value), **transform))
        elif kind == "loop":
            pick = {"inputField": "items", "executionMode": "loop"}
            nodes.append(expr(name, ("v", "v * 2"), ("m", "$.v"), **transform, **pick))
        elif kind == "table":
            built = draw(tables())
            built["id"] = built["name"] = name
            built["content"].update(transform)
            nodes.append(built)
        else:
            nodes.append(
                switch(
                    name, draw(st.sampled_from(["first", "collect"])), ("h1", "v > 3"), ("h2", "")
                )
            )
        parents = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
        for parent in parents:
            handle = (
                draw(st.sampled_from(["h1", "h2"]))
                if parent.startswith("n") and nodes[names.index(parent)]["type"] == "switchNode"
                else None
            )
            edges.append(edge(parent, name, handle))
        names.append(name)
    if draw(st.booleans()):
        nodes.append(OUT)
        for parent in draw(
            st.lists(st.sampled_from(names[1:]), min_size=1, max_size=2, unique=True)
        ):
            source = nodes[names.index(parent)]
            handle = draw(st.sampled_from(["h1", "h2"])) if source["type"] == "switchNode" else None
            edges.append(edge(parent, "out", handle))
    order = draw(st.permutations(list(range(len(edges)))))
    return {"nodes": nodes, "edges": [edges[i] for i in order]}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=dags(), v=values, w=values)
def test_generated_graphs_match_zen(graph: dict[str, Any], v: Any, w: Any) -> None:
    assert_same_as_zen(graph, {"v": v, "w": w, "items": [{"v": 1}, {"v": 5, "w": None}]})
