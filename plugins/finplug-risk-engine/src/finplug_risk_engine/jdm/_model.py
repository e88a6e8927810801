"""The JDM graph as typed, immutable values, and their export back to JSON.

Every value keeps the keys this engine does not interpret (positions, a
column's ``type``, a row's ``_description``, the file's ``tests``) in
``extra``, verbatim, so that exporting a loaded graph gives back the object
that was read. A known key whose value was ``null`` is kept there too: the
typed field then says ``None`` and the export writes the ``null`` back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DecisionTableContent",
    "Edge",
    "ExpressionContent",
    "ExpressionEntry",
    "HitPolicy",
    "JdmGraph",
    "Node",
    "NodeContent",
    "NodeType",
    "SwitchContent",
    "SwitchStatement",
    "TableColumn",
    "TableRule",
    "Transform",
]

HitPolicy = Literal["first", "collect"]
"""How a decision table (or a switch) combines the rows (statements) that match."""

NodeType = Literal["inputNode", "outputNode", "decisionTableNode", "expressionNode", "switchNode"]
"""The node types this engine evaluates."""

ExecutionMode = Literal["single", "loop"]
"""Whether a node runs once on its input, or once per element of it."""


def _with_extra(known: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in known.items() if v is not None}
    out.update(extra)
    return out


@dataclass(frozen=True, slots=True)
class Transform:
    """The attributes zen applies around a table or expression node.

    ``input_field`` (an expression) picks the node's input out of the incoming
    data; ``execution_mode`` ``"loop"`` runs the node once per element of that
    input; ``output_path`` nests the output under a dotted key;
    ``pass_through`` merges the output over the node's incoming data.
    """

    pass_through: bool | None = None
    """Merge the output over the incoming data (``None``: absent, false)."""
    input_field: str | None = None
    """Expression selecting the node's input; ``None`` or empty: all of it."""
    output_path: str | None = None
    """Dotted key the output is nested under; ``None`` or empty: none."""
    execution_mode: ExecutionMode | None = None
    """``"loop"`` to run per element of the input; ``None`` means single."""

    def to_json(self) -> dict[str, Any]:
        """The attributes that were present, as JSON keys."""
        return _with_extra(
            {
                "passThrough": self.pass_through,
                "inputField": self.input_field,
                "outputPath": self.output_path,
                "executionMode": self.execution_mode,
            },
            {},
        )


@dataclass(frozen=True, slots=True)
class TableColumn:
    """One input or output column of a decision table."""

    id: str
    """The key rows use for this column's cells."""
    name: str | None
    """The column's label, used in error locations."""
    field: str | None
    """Input: expression whose value ``$`` stands for (``None``: cells are
    whole expressions). Output: the dotted key the cell's value goes to,
    ``[]``-suffixed for a per-column collect output."""
    extra: Mapping[str, Any]
    """Keys kept verbatim (``type`` and anything unknown)."""

    def to_json(self) -> dict[str, Any]:
        """The column as a JDM JSON object."""
        return _with_extra({"id": self.id, "name": self.name, "field": self.field}, self.extra)


@dataclass(frozen=True, slots=True)
class TableRule:
    """One row of a decision table: cell text keyed by column id."""

    id: str
    """The row's ``_id``."""
    cells: Mapping[str, str]
    """Every key of the row except ``_id`` (``_description`` included), as read."""

    def cell(self, column_id: str) -> str:
        """The cell's text; a missing cell reads as empty (always true / no output)."""
        return self.cells.get(column_id, "")

    def to_json(self) -> dict[str, Any]:
        """The row as a JDM JSON object."""
        return {"_id": self.id, **self.cells}


@dataclass(frozen=True, slots=True)
class DecisionTableContent:
    """A decision table: input and output columns and rows of cells."""

    hit_policy: HitPolicy
    """``first``: the first matching row; ``collect``: every matching row."""
    inputs: tuple[TableColumn, ...]
    """Conditions, left to right."""
    outputs: tuple[TableColumn, ...]
    """Results, left to right."""
    rules: tuple[TableRule, ...]
    """Rows, top to bottom."""
    transform: Transform
    """Input selection, looping, output path and pass-through."""
    extra: Mapping[str, Any]
    """Keys kept verbatim."""

    def to_json(self) -> dict[str, Any]:
        """The content as a JDM JSON object."""
        known = {
            "hitPolicy": self.hit_policy,
            "inputs": [c.to_json() for c in self.inputs],
            "outputs": [c.to_json() for c in self.outputs],
            "rules": [r.to_json() for r in self.rules],
            **self.transform.to_json(),
        }
        return _with_extra(known, self.extra)


@dataclass(frozen=True, slots=True)
class ExpressionEntry:
    """One ``key = value`` line of an expression node."""

    id: str | None
    """The line's ``id``, if it has one."""
    key: str
    """Dotted key the value goes to (empty: the line is skipped)."""
    value: str
    """The expression (empty: the line is skipped)."""
    extra: Mapping[str, Any]
    """Keys kept verbatim."""

    def to_json(self) -> dict[str, Any]:
        """The line as a JDM JSON object."""
        return _with_extra({"id": self.id, "key": self.key, "value": self.value}, self.extra)


@dataclass(frozen=True, slots=True)
class ExpressionContent:
    """An expression node: keys computed in order; ``$`` holds those done so far."""

    expressions: tuple[ExpressionEntry, ...]
    """The lines, top to bottom."""
    transform: Transform
    """Input selection, looping, output path and pass-through."""
    extra: Mapping[str, Any]
    """Keys kept verbatim."""

    def to_json(self) -> dict[str, Any]:
        """The content as a JDM JSON object."""
        known = {"expressions": [e.to_json() for e in self.expressions]}
        return _with_extra({**known, **self.transform.to_json()}, self.extra)


@dataclass(frozen=True, slots=True)
class SwitchStatement:
    """One branch of a switch: edges whose ``sourceHandle`` is ``id`` follow it."""

    id: str
    """The handle outgoing edges name."""
    condition: str
    """The condition; empty is always true (zen treats a default branch so)."""
    is_default: bool | None
    """The editor's default flag (zen routes on the condition alone)."""
    extra: Mapping[str, Any]
    """Keys kept verbatim."""

    def to_json(self) -> dict[str, Any]:
        """The statement as a JDM JSON object."""
        known = {"id": self.id, "condition": self.condition, "isDefault": self.is_default}
        return _with_extra(known, self.extra)


@dataclass(frozen=True, slots=True)
class SwitchContent:
    """A switch node: its input flows on along the branches whose condition holds."""

    hit_policy: HitPolicy
    """``first``: the first true statement; ``collect``: every true one."""
    statements: tuple[SwitchStatement, ...]
    """Branches, top to bottom."""
    hit_policy_given: bool
    """Whether the file spelled ``hitPolicy`` (``first`` is the default)."""
    extra: Mapping[str, Any]
    """Keys kept verbatim."""

    def to_json(self) -> dict[str, Any]:
        """The content as a JDM JSON object."""
        known: dict[str, Any] = {"statements": [s.to_json() for s in self.statements]}
        if self.hit_policy_given:
            known["hitPolicy"] = self.hit_policy
        return _with_extra(known, self.extra)


NodeContent = DecisionTableContent | ExpressionContent | SwitchContent
"""The content of a node this engine interprets."""


@dataclass(frozen=True, slots=True)
class Node:
    """A node of the graph."""

    id: str
    """Unique within the graph; edges name it."""
    name: str
    """Human label; ``$nodes.<name>`` reads its output."""
    type: NodeType
    """What the node does."""
    content: NodeContent | None
    """Table, expression or switch content (``None`` for input and output nodes,
    whose content, such as a JSON schema, is kept in ``extra``)."""
    extra: Mapping[str, Any]
    """Keys kept verbatim (``position``, an input node's ``content`` ...)."""

    def to_json(self) -> dict[str, Any]:
        """The node as a JDM JSON object."""
        known: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type}
        if self.content is not None:
            known["content"] = self.content.to_json()
        return _with_extra(known, self.extra)


@dataclass(frozen=True, slots=True)
class Edge:
    """A directed edge: data flows from ``source_id`` to ``target_id``."""

    id: str
    """The edge's id."""
    source_id: str
    """The node data comes from."""
    target_id: str
    """The node data goes to."""
    source_handle: str | None
    """For an edge leaving a switch: the statement it follows."""
    extra: Mapping[str, Any]
    """Keys kept verbatim (``type`` ...)."""

    def to_json(self) -> dict[str, Any]:
        """The edge as a JDM JSON object."""
        known = {
            "id": self.id,
            "sourceId": self.source_id,
            "targetId": self.target_id,
            "sourceHandle": self.source_handle,
        }
        return _with_extra(known, self.extra)


@dataclass(frozen=True, slots=True)
class JdmGraph:
    """A JDM decision graph, checked for structure but not compiled.

    Build one with :func:`~finplug_risk_engine.jdm.read_graph` or
    :func:`~finplug_risk_engine.jdm.parse_graph`; compile it with
    :func:`~finplug_risk_engine.jdm.compile_graph`.
    """

    nodes: tuple[Node, ...]
    """Nodes in file order (zen's order, which decides merges between leaves)."""
    edges: tuple[Edge, ...]
    """Edges in file order (zen's order, which decides merges between inputs)."""
    source: str | None
    """The file it was read from, for error locations."""
    extra: Mapping[str, Any]
    """Top-level keys kept verbatim (``contentType``, ``tests`` ...)."""

    def node(self, node_id: str) -> Node:
        """The node with this id (``KeyError`` if there is none)."""
        for candidate in self.nodes:
            if candidate.id == node_id:
                return candidate
        raise KeyError(node_id)

    def to_json(self) -> dict[str, Any]:
        """The graph as a JDM JSON object, equal to the one it was read from."""
        known = {
            "nodes": [n.to_json() for n in self.nodes],
            "edges": [e.to_json() for e in self.edges],
        }
        return _with_extra(known, self.extra)

    def to_text(self, *, indent: int | None = 2) -> str:
        """The graph as JDM JSON text."""
        return json.dumps(self.to_json(), indent=indent, ensure_ascii=False)
