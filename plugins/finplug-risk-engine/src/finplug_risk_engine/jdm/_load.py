"""Reading JDM JSON into :class:`JdmGraph`, with located errors.

This module checks structure only (types, ids, edges, cycles); it needs no
expression language. Compiling cells and expressions is
:mod:`finplug_risk_engine.jdm._compile`'s job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast, get_args

from finplug_risk_engine.jdm._errors import JdmError, Location
from finplug_risk_engine.jdm._model import (
    DecisionTableContent,
    Edge,
    ExecutionMode,
    ExpressionContent,
    ExpressionEntry,
    HitPolicy,
    JdmGraph,
    Node,
    NodeContent,
    NodeType,
    SwitchContent,
    SwitchStatement,
    TableColumn,
    TableRule,
    Transform,
)

__all__ = ["parse_graph", "read_graph"]

_SUPPORTED: tuple[str, ...] = get_args(NodeType)
_UNSUPPORTED = {
    "functionNode": "JavaScript function nodes are not supported (no script runs here)",
    "decisionNode": "decision nodes (calls to other graphs) are not supported yet",
    "customNode": "custom nodes are not supported",
}
_HIT_POLICIES: tuple[str, ...] = get_args(HitPolicy)
_MODES: tuple[str, ...] = get_args(ExecutionMode)
_TRANSFORM_KEYS = ("passThrough", "inputField", "outputPath", "executionMode")


def read_graph(path: str | Path) -> JdmGraph:
    """Read and check the JDM graph in the file at ``path``.

    Raises :class:`JdmError` (located: file, line for bad JSON, node, row,
    column, edge) for anything malformed or unsupported.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise JdmError(f"cannot read the file: {exc}", Location(source=str(p))) from exc
    return parse_graph(text, source=str(p))


def parse_graph(text: str, *, source: str | None = None) -> JdmGraph:
    """Parse and check JDM JSON text; ``source`` names it in error locations."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        loc = Location(source=source or "<text>", line=exc.lineno, column=exc.colno)
        raise JdmError(f"not valid JSON: {exc.msg}", loc) from exc
    return graph_from_json(data, source=source)


def graph_from_json(data: Any, *, source: str | None = None) -> JdmGraph:
    """Check an already-parsed JDM JSON object and build the graph from it."""
    top = Location(source=source)
    obj = _object(data, top, "the graph")
    nodes_raw = _list(obj.get("nodes"), top, "'nodes'")
    edges_raw = _list(obj.get("edges"), top, "'edges'")
    nodes: list[Node] = []
    seen: set[str] = set()
    for index, raw in enumerate(nodes_raw):
        node = _node(raw, index, source)
        if node.id in seen:
            raise JdmError("duplicate node id", _at(source, node))
        seen.add(node.id)
        nodes.append(node)
    by_id = {n.id: n for n in nodes}
    edges = tuple(_edge(raw, index, source, by_id) for index, raw in enumerate(edges_raw))
    inputs = [n for n in nodes if n.type == "inputNode"]
    if len(inputs) != 1:
        found = ", ".join(repr(n.name) for n in inputs) or "none"
        raise JdmError(f"expected exactly one inputNode, found {len(inputs)} ({found})", top)
    _check_acyclic(nodes, edges, source)
    extra = {k: v for k, v in obj.items() if k not in ("nodes", "edges")}
    return JdmGraph(nodes=tuple(nodes), edges=edges, source=source, extra=extra)


# ------------------------------------------------------------------ helpers


def _at(source: str | None, node: Node) -> Location:
    return Location(source=source, node_id=node.id, node_name=node.name)


def _object(value: Any, loc: Location, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise JdmError(f"{what} must be a JSON object, found {_kind(value)}", loc)
    return cast("dict[str, Any]", value)


def _list(value: Any, loc: Location, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise JdmError(f"{what} must be a JSON array, found {_kind(value)}", loc)
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null (or nothing)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _text(obj: Mapping[str, Any], key: str, loc: Location) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise JdmError(f"'{key}' must be a string, found {_kind(value)}", loc)
    return value


def _str(obj: Mapping[str, Any], key: str, loc: Location) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise JdmError(f"'{key}' must be a string, found {_kind(value)}", loc)
    return value


def _extra(obj: Mapping[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    """Unknown keys, and known keys whose value is null, kept for the export."""
    return {k: v for k, v in obj.items() if k not in known or v is None}


def _node(raw: Any, index: int, source: str | None) -> Node:
    loc = Location(source=source, node_id=f"#{index}")
    obj = _object(raw, loc, f"node #{index}")
    node_id = _str(obj, "id", loc)
    loc = Location(source=source, node_id=node_id)
    name = _str(obj, "name", loc)
    loc = Location(source=source, node_id=node_id, node_name=name)
    kind = obj.get("type")
    if kind in _UNSUPPORTED:
        raise JdmError(f"node type {kind!r}: {_UNSUPPORTED[kind]}", loc)
    if kind not in _SUPPORTED:
        raise JdmError(f"unknown node type {kind!r}; expected one of {', '.join(_SUPPORTED)}", loc)
    content: NodeContent | None = None
    known: tuple[str, ...] = ("id", "name", "type")
    if kind in ("decisionTableNode", "expressionNode", "switchNode"):
        body = _object(obj.get("content"), loc, "'content'")
        if kind == "decisionTableNode":
            content = _table(body, loc)
        elif kind == "expressionNode":
            content = _expressions(body, loc)
        else:
            content = _switch(body, loc)
        known = (*known, "content")
    return Node(
        id=node_id,
        name=name,
        type=cast("NodeType", kind),
        content=content,
        extra=_extra(obj, known),
    )


def _transform(body: Mapping[str, Any], loc: Location) -> Transform:
    through = body.get("passThrough")
    if through is not None and not isinstance(through, bool):
        raise JdmError(f"'passThrough' must be a boolean, found {_kind(through)}", loc)
    mode = body.get("executionMode")
    if mode is not None and mode not in _MODES:
        raise JdmError(f"'executionMode' must be one of {', '.join(_MODES)}, not {mode!r}", loc)
    return Transform(
        pass_through=through,
        input_field=_text(body, "inputField", loc),
        output_path=_text(body, "outputPath", loc),
        execution_mode=cast("ExecutionMode | None", mode),
    )


def _hit_policy(body: Mapping[str, Any], loc: Location, *, default: HitPolicy | None) -> HitPolicy:
    policy = body.get("hitPolicy", default)
    if policy not in _HIT_POLICIES:
        expected = " or ".join(repr(p) for p in _HIT_POLICIES)
        raise JdmError(f"'hitPolicy' must be {expected}, not {policy!r}", loc)
    return cast("HitPolicy", policy)


def _columns(body: Mapping[str, Any], key: str, loc: Location) -> tuple[TableColumn, ...]:
    columns: list[TableColumn] = []
    seen: set[str] = set()
    for index, raw in enumerate(_list(body.get(key), loc, f"'{key}'")):
        obj = _object(raw, loc, f"{key}[{index}]")
        col_id = _str(obj, "id", loc)
        name = _text(obj, "name", loc)
        at = Location(**{**_fields(loc), "column_id": col_id, "column_name": name})
        if col_id in seen or col_id == "_id":
            raise JdmError(f"duplicate or reserved column id in '{key}'", at)
        seen.add(col_id)
        field = _str(obj, "field", at) if key == "outputs" else _text(obj, "field", at)
        if key == "outputs" and not (field or "").strip():
            raise JdmError("an output column needs a non-empty 'field' (the key to set)", at)
        columns.append(TableColumn(col_id, name, field, _extra(obj, ("id", "name", "field"))))
    return tuple(columns)


def _fields(loc: Location) -> dict[str, Any]:
    return {name: getattr(loc, name) for name in Location.__slots__}


def _table(body: Mapping[str, Any], loc: Location) -> DecisionTableContent:
    policy = _hit_policy(body, loc, default=None)
    inputs = _columns(body, "inputs", loc)
    outputs = _columns(body, "outputs", loc)
    if {c.id for c in inputs} & {c.id for c in outputs}:
        raise JdmError("an input and an output column share an id", loc)
    names = {c.id: c.name for c in (*inputs, *outputs)}
    rules: list[TableRule] = []
    seen: set[str] = set()
    for index, raw in enumerate(_list(body.get("rules"), loc, "'rules'")):
        row = _object(raw, loc, f"rules[{index}]")
        row_id = row.get("_id")
        if not isinstance(row_id, str) or row_id in seen:
            problem = "a duplicate" if isinstance(row_id, str) else _kind(row_id)
            where = Location(**{**_fields(loc), "row_id": f"#{index}"})
            raise JdmError(f"each row needs a unique string '_id', found {problem}", where)
        seen.add(row_id)
        for key, value in row.items():
            if not isinstance(value, str):
                col = {"column_id": key, "column_name": names.get(key)}
                where = Location(**{**_fields(loc), "row_id": row_id, **col})
                raise JdmError(f"a cell must be a string, found {_kind(value)}", where)
        cells = {k: v for k, v in row.items() if k != "_id"}
        rules.append(TableRule(row_id, cells))
    known = ("hitPolicy", "inputs", "outputs", "rules", *_TRANSFORM_KEYS)
    return DecisionTableContent(
        hit_policy=policy,
        inputs=inputs,
        outputs=outputs,
        rules=tuple(rules),
        transform=_transform(body, loc),
        extra=_extra(body, known),
    )


def _expressions(body: Mapping[str, Any], loc: Location) -> ExpressionContent:
    entries: list[ExpressionEntry] = []
    for index, raw in enumerate(_list(body.get("expressions"), loc, "'expressions'")):
        obj = _object(raw, loc, f"expressions[{index}]")
        entry_id = _text(obj, "id", loc)
        key = _str(obj, "key", loc)
        at = Location(**{**_fields(loc), "column_id": entry_id or f"#{index}", "column_name": key})
        value = _str(obj, "value", at)
        entries.append(ExpressionEntry(entry_id, key, value, _extra(obj, ("id", "key", "value"))))
    known = ("expressions", *_TRANSFORM_KEYS)
    return ExpressionContent(tuple(entries), _transform(body, loc), _extra(body, known))


def _switch(body: Mapping[str, Any], loc: Location) -> SwitchContent:
    policy = _hit_policy(body, loc, default="first")
    statements: list[SwitchStatement] = []
    seen: set[str] = set()
    for index, raw in enumerate(_list(body.get("statements"), loc, "'statements'")):
        obj = _object(raw, loc, f"statements[{index}]")
        statement_id = _str(obj, "id", loc)
        at = Location(**{**_fields(loc), "column_id": statement_id, "column_name": "condition"})
        if statement_id in seen:
            raise JdmError("duplicate statement id", at)
        seen.add(statement_id)
        condition = _str(obj, "condition", at)
        default = obj.get("isDefault")
        if default is not None and not isinstance(default, bool):
            raise JdmError(f"'isDefault' must be a boolean, found {_kind(default)}", at)
        known = ("id", "condition", "isDefault")
        statements.append(SwitchStatement(statement_id, condition, default, _extra(obj, known)))
    return SwitchContent(
        hit_policy=policy,
        statements=tuple(statements),
        hit_policy_given=body.get("hitPolicy") is not None,
        extra=_extra(body, ("hitPolicy", "statements")),
    )


def _edge(raw: Any, index: int, source: str | None, by_id: Mapping[str, Node]) -> Edge:
    loc = Location(source=source, edge_id=f"#{index}")
    obj = _object(raw, loc, f"edge #{index}")
    edge_id = _str(obj, "id", loc)
    loc = Location(source=source, edge_id=edge_id)
    ends: list[str] = []
    for key in ("sourceId", "targetId"):
        end = _str(obj, key, loc)
        if end not in by_id:
            raise JdmError(f"dangling edge: '{key}' {end!r} names no node", loc)
        ends.append(end)
    handle = _text(obj, "sourceHandle", loc)
    origin = by_id[ends[0]]
    if isinstance(origin.content, SwitchContent):
        handles = [s.id for s in origin.content.statements]
        if handle not in handles:
            at = Location(source=source, edge_id=edge_id, node_id=origin.id, node_name=origin.name)
            raise JdmError(
                f"an edge leaving a switch needs a 'sourceHandle' naming one of its "
                f"statements ({', '.join(map(repr, handles)) or 'none'}), found {handle!r}",
                at,
            )
    known = ("id", "sourceId", "targetId", "sourceHandle")
    return Edge(edge_id, ends[0], ends[1], handle, _extra(obj, known))


def _check_acyclic(nodes: list[Node], edges: tuple[Edge, ...], source: str | None) -> None:
    successors: dict[str, list[str]] = {n.id: [] for n in nodes}
    for edge in edges:
        successors[edge.source_id].append(edge.target_id)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in successors:
        if state.get(start):
            continue
        path = [start]
        stack = [iter(successors[start])]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                names = {n.id: n.name for n in nodes}
                shown = " -> ".join(repr(names[c]) for c in cycle)
                node = next(n for n in nodes if n.id == nxt)
                raise JdmError(f"the graph has a cycle: {shown}", _at(source, node))
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(successors[nxt]))
