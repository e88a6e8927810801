"""JDM decision graphs (GoRules' JSON Decision Model): load, export, evaluate.

Built on :mod:`finplug_risk_engine.expr`: every cell and expression of a
graph is compiled once, when the graph is loaded; evaluation runs closures.

- :func:`read_graph` / :func:`parse_graph` check a graph's structure (no
  expression language needed) and give a :class:`JdmGraph`, whose
  ``to_json()`` exports it back unchanged.
- :func:`compile_graph` / :func:`load_graph` compile it into a
  :class:`CompiledGraph`; ``evaluate(input)`` returns what zen-engine's
  ``evaluate(...)["result"]`` returns, numbers as ``Decimal``.
- Every problem a load can see is a :class:`JdmError` naming file, node,
  row and column; an expression node failing at decision time is a
  :class:`JdmEvaluationError`.

Supported: input, output, decision-table (``first``, ``collect``, per-column
``field[]`` collect outputs), expression and switch nodes, with zen's
``passThrough``, ``inputField``, ``outputPath`` and loop execution mode.
Function, decision (sub-graph) and custom nodes are refused at load.
"""

from __future__ import annotations

from finplug_risk_engine.jdm._compile import CompiledTable, Compiler
from finplug_risk_engine.jdm._errors import JdmError, JdmEvaluationError, Location
from finplug_risk_engine.jdm._graph import CompiledGraph, ExprCompiler, compile_graph, load_graph
from finplug_risk_engine.jdm._load import graph_from_json, parse_graph, read_graph
from finplug_risk_engine.jdm._model import (
    DecisionTableContent,
    Edge,
    ExpressionContent,
    ExpressionEntry,
    JdmGraph,
    Node,
    SwitchContent,
    SwitchStatement,
    TableColumn,
    TableRule,
    Transform,
)
from finplug_risk_engine.jdm._values import json_ready, same_json, to_values

__all__ = [
    "CompiledGraph",
    "CompiledTable",
    "Compiler",
    "DecisionTableContent",
    "Edge",
    "ExprCompiler",
    "ExpressionContent",
    "ExpressionEntry",
    "JdmError",
    "JdmEvaluationError",
    "JdmGraph",
    "Location",
    "Node",
    "SwitchContent",
    "SwitchStatement",
    "TableColumn",
    "TableRule",
    "Transform",
    "compile_graph",
    "graph_from_json",
    "json_ready",
    "load_graph",
    "parse_graph",
    "read_graph",
    "same_json",
    "to_values",
]
