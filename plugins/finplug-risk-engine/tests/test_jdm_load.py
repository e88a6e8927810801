"""JDM graphs: loading, export round trip, and located errors for malformed files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from finplug import FinplugError
from finplug_risk_engine.expr import ExpressionTypeError
from finplug_risk_engine.jdm import (
    DecisionTableContent,
    JdmError,
    compile_graph,
    graph_from_json,
    load_graph,
    parse_graph,
    read_graph,
)
from shared_data import ZEN_DATA


def zen_files() -> list[Path]:
    files = sorted(ZEN_DATA.glob("*.json"))
    # Fail, never skip: CI has the shared folder beside the checkout.
    assert files, f"no JDM graphs found in {ZEN_DATA.resolve()}"
    return files


def small_graph() -> dict[str, Any]:
    """input -> table (two rows) -> output, as the editor writes it."""
    return {
        "nodes": [
            {"id": "in", "name": "Request", "type": "inputNode", "position": {"x": 0, "y": 0}},
            {
                "id": "t1",
                "name": "Fees",
                "type": "decisionTableNode",
                "position": {"x": 1, "y": 0},
                "content": {
                    "hitPolicy": "first",
                    "inputs": [{"id": "c-amount", "name": "Amount", "field": "amount"}],
                    "outputs": [{"id": "c-fee", "name": "Fee", "field": "fee"}],
                    "rules": [
                        {"_id": "r1", "c-amount": "> 100", "c-fee": "2"},
                        {"_id": "r2", "c-amount": "", "c-fee": "1"},
                    ],
                },
            },
            {"id": "out", "name": "Response", "type": "outputNode", "position": {"x": 2, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "t1", "type": "edge"},
            {"id": "e2", "sourceId": "t1", "targetId": "out", "type": "edge"},
        ],
    }


def replace_middle(data: dict[str, Any], node: dict[str, Any]) -> None:
    """Put ``node`` where the table was, edges included."""
    data["nodes"][1] = node
    data["edges"][0]["targetId"] = node["id"]
    data["edges"][1]["sourceId"] = node["id"]


def load_error(data: dict[str, Any]) -> JdmError:
    with pytest.raises(JdmError) as caught:
        compile_graph(graph_from_json(data, source="fees.json"))
    return caught.value


# ------------------------------------------------------------------ shared files


@pytest.mark.parametrize("path", zen_files(), ids=lambda p: p.name)
def test_shared_graph_round_trips(path: Path) -> None:
    original = json.loads(path.read_text(encoding="utf-8"))
    graph = read_graph(path)
    assert graph.to_json() == original
    assert json.loads(graph.to_text()) == original


@pytest.mark.parametrize("path", zen_files(), ids=lambda p: p.name)
def test_shared_graph_compiles_and_round_trips(path: Path) -> None:
    original = json.loads(path.read_text(encoding="utf-8"))
    compiled = load_graph(str(path))
    assert compiled.to_json() == original
    assert compiled.graph.source == str(path)


def test_collect_columns_file_is_typed() -> None:
    graph = read_graph(ZEN_DATA / "table-collect-columns.json")
    table = graph.node("9d2c3a44-5c1e-4a2f-a0e3-6f6d2b9c8e02").content
    assert isinstance(table, DecisionTableContent)
    assert table.hit_policy == "first"
    assert [c.field for c in table.outputs] == ["customer.tier", "customer.tags[]"]
    assert [r.id for r in table.rules] == [
        "row-senior00",
        "row-adult000",
        "row-verified",
        "row-everyone",
    ]
    assert table.rules[3].cell("ageInput001") == ""


def test_export_keeps_unknown_keys_and_nulls() -> None:
    data = small_graph()
    data["contentType"] = "application/vnd.gorules.decision"
    content = data["nodes"][1]["content"]
    content.update(passThrough=True, inputField=None, outputPath=None, futureKey={"a": [1]})
    content["rules"][0]["_description"] = "big amounts"
    content["inputs"][0]["type"] = "expression"
    assert graph_from_json(copy.deepcopy(data)).to_json() == data


# ------------------------------------------------------------------ located errors


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "nodes": [\n    {"id": "a",, }\n  ]\n}\n', encoding="utf-8")
    with pytest.raises(JdmError) as caught:
        read_graph(path)
    error = caught.value
    assert isinstance(error, FinplugError)
    assert error.location.source == str(path)
    assert error.location.line == 3
    assert str(error).startswith(f"{path}:3:")
    assert "not valid JSON" in str(error)


def test_bad_json_text_has_a_line_too() -> None:
    with pytest.raises(JdmError) as caught:
        parse_graph("{\n\n  nodes: []}", source="inline")
    assert caught.value.location.line == 3
    assert str(caught.value).startswith("inline:3:")


@pytest.mark.parametrize("kind", ["functionNode", "decisionNode", "customNode", "mysteryNode"])
def test_unsupported_node_type_is_located(kind: str) -> None:
    data = small_graph()
    replace_middle(data, {"id": "f1", "name": "Script", "type": kind, "content": {"source": "x"}})
    error = load_error(data)
    assert error.location.node_id == "f1"
    assert error.location.node_name == "Script"
    assert kind in str(error)
    assert str(error).startswith("fees.json: node 'Script' (f1)")


def test_cell_that_does_not_compile_names_node_row_and_column() -> None:
    data = small_graph()
    data["nodes"][1]["content"]["rules"][1]["c-amount"] = "> (5"
    error = load_error(data)
    loc = error.location
    assert (loc.source, loc.node_id, loc.node_name) == ("fees.json", "t1", "Fees")
    assert (loc.row_id, loc.column_id, loc.column_name) == ("r2", "c-amount", "Amount")
    assert "'> (5'" in str(error)
    assert "node 'Fees' (t1) row 'r2' column 'Amount' (c-amount)" in str(error)
    assert isinstance(error.__cause__, FinplugError)


@pytest.mark.parametrize(
    ("column", "cell", "row", "got"),
    [
        ("c-amount", "> 'high'", "r1", "a string"),
        ("c-amount", "[1..'x']", "r2", "a string"),
        ("c-fee", "amount * 'x'", "r1", "a string"),
        ("c-fee", "upper(5)", "r2", "literal arguments it rejects"),
    ],
)
def test_type_mismatch_in_a_cell_is_located_at_load(
    column: str, cell: str, row: str, got: str
) -> None:
    data = small_graph()
    [rule] = [r for r in data["nodes"][1]["content"]["rules"] if r["_id"] == row]
    rule[column] = cell
    error = load_error(data)
    loc = error.location
    assert (loc.source, loc.node_id, loc.row_id, loc.column_id) == ("fees.json", "t1", row, column)
    assert "type mismatch" in str(error)
    assert repr(cell) in str(error)
    assert isinstance(error.__cause__, ExpressionTypeError)
    assert error.__cause__.got == got


def test_output_cell_that_does_not_compile_is_located() -> None:
    data = small_graph()
    data["nodes"][1]["content"]["rules"][0]["c-fee"] = "2 +"
    loc = load_error(data).location
    assert (loc.row_id, loc.column_id, loc.column_name) == ("r1", "c-fee", "Fee")


def test_expression_that_does_not_compile_is_located() -> None:
    data = small_graph()
    expressions = [{"id": "k1", "key": "total", "value": "amount *"}]
    node = {"id": "x1", "name": "Vars", "type": "expressionNode"}
    replace_middle(data, {**node, "content": {"expressions": expressions}})
    loc = load_error(data).location
    assert (loc.node_id, loc.column_id, loc.column_name) == ("x1", "k1", "total")


def test_switch_condition_that_does_not_compile_is_located() -> None:
    data = small_graph()
    statements = [{"id": "big", "condition": "amount >>> 1"}]
    node = {"id": "s1", "name": "Route", "type": "switchNode"}
    replace_middle(data, {**node, "content": {"statements": statements}})
    data["edges"][1]["sourceHandle"] = "big"
    loc = load_error(data).location
    assert (loc.node_id, loc.column_id) == ("s1", "big")


def test_non_string_cell_is_located() -> None:
    data = small_graph()
    data["nodes"][1]["content"]["rules"][0]["c-fee"] = 2
    loc = load_error(data).location
    assert (loc.node_id, loc.row_id, loc.column_id, loc.column_name) == ("t1", "r1", "c-fee", "Fee")


def test_row_without_id_is_located() -> None:
    data = small_graph()
    del data["nodes"][1]["content"]["rules"][1]["_id"]
    error = load_error(data)
    assert error.location.row_id == "#1"
    assert "_id" in error.message


def test_dangling_edge_is_located() -> None:
    data = small_graph()
    data["edges"][1]["targetId"] = "nowhere"
    error = load_error(data)
    assert error.location.edge_id == "e2"
    assert "dangling" in error.message
    assert "'nowhere'" in error.message


def test_cycle_is_located() -> None:
    data = small_graph()
    data["nodes"].insert(2, {"id": "x1", "name": "Loop", "type": "expressionNode"})
    data["nodes"][2]["content"] = {"expressions": [{"id": "k", "key": "a", "value": "1"}]}
    data["edges"] += [
        {"id": "e3", "sourceId": "t1", "targetId": "x1"},
        {"id": "e4", "sourceId": "x1", "targetId": "t1"},
    ]
    error = load_error(data)
    assert "cycle" in error.message
    assert "'Fees' -> 'Loop' -> 'Fees'" in error.message or "'Loop' -> 'Fees' -> 'Loop'" in (
        error.message
    )
    assert error.location.node_id in {"t1", "x1"}


@pytest.mark.parametrize("inputs", [0, 2])
def test_graph_needs_exactly_one_input_node(inputs: int) -> None:
    data = small_graph()
    if inputs == 0:
        data["nodes"][0]["type"] = "outputNode"
    else:
        data["nodes"].append({"id": "in2", "name": "Other", "type": "inputNode"})
    error = load_error(data)
    assert "exactly one inputNode" in error.message


def test_graph_without_output_node_loads_as_zen_allows() -> None:
    data = small_graph()
    del data["nodes"][2]
    del data["edges"][1]
    compile_graph(graph_from_json(data))


def test_duplicate_node_id_is_located() -> None:
    data = small_graph()
    data["nodes"][2]["id"] = "t1"
    assert load_error(data).location.node_id == "t1"


def test_bad_hit_policy_is_located() -> None:
    data = small_graph()
    data["nodes"][1]["content"]["hitPolicy"] = "priority"
    error = load_error(data)
    assert error.location.node_id == "t1"
    assert "'priority'" in error.message


def test_switch_edge_must_name_a_statement() -> None:
    data = small_graph()
    statements = [{"id": "big", "condition": ""}]
    node = {"id": "s1", "name": "Route", "type": "switchNode"}
    replace_middle(data, {**node, "content": {"hitPolicy": "first", "statements": statements}})
    data["edges"][1]["sourceHandle"] = "small"
    error = load_error(data)
    assert (error.location.node_id, error.location.edge_id) == ("s1", "e2")
    assert "'big'" in error.message


def test_output_column_needs_a_field() -> None:
    data = small_graph()
    data["nodes"][1]["content"]["outputs"][0]["field"] = ""
    loc = load_error(data).location
    assert (loc.node_id, loc.column_id, loc.column_name) == ("t1", "c-fee", "Fee")


def test_missing_content_is_located() -> None:
    data = small_graph()
    del data["nodes"][1]["content"]
    error = load_error(data)
    assert error.location.node_id == "t1"
    assert "'content'" in error.message
