"""The zen-engine oracle for the expression and graph tests: both sides in one shape.

zen returns numbers as floats; ours are Decimals. ``same`` compares numbers to
12 significant digits (zen's own float conversion of a 28-digit decimal can be
one ulp off), and an evaluation error on both sides counts as agreement. An
``ExpressionTypeError`` (our compile-time check of an operation that fails on
every input) agrees with zen failing that evaluation at run time.
"""

from __future__ import annotations

import json
import math
import os
from decimal import Decimal
from typing import Any

import pytest

from finplug_risk_engine.expr import (
    EvaluationError,
    ExpressionTypeError,
    compile_expression,
    compile_unary,
    pinned_clock,
)
from finplug_risk_engine.jdm import (
    JdmError,
    JdmEvaluationError,
    compile_graph,
    graph_from_json,
    same_json,
)

#: The instant both engines read as ``'now'``. zen-engine's own tests pin the
#: clock with this variable, which it reads once, at its first ``'now'``: it is
#: set before zen is imported, and ours is pinned with ``pinned_clock``.
MOCK_NOW = "2023-03-20T10:11:12Z"
os.environ["__ZEN_MOCK_UTC_TIME"] = MOCK_NOW

import zen  # noqa: E402

__all__ = [
    "ERROR",
    "MOCK_NOW",
    "assert_same_as_zen",
    "assert_zen_fails_the_rejected_text",
    "ours_standard",
    "ours_unary",
    "same",
    "to_json",
    "zen_result",
    "zen_standard",
    "zen_unary",
]

ENGINE = zen.ZenEngine()

#: What either side gives for an evaluation that fails.
ERROR = "<error>"


def to_json(value: Any) -> Any:
    """Our value in zen's Python shape: Decimal → float, lists and dicts recursively."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def to_zen_context(value: Any) -> Any:
    """A context for zen: Decimals as ints when integral, else floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [to_zen_context(v) for v in value]
    if isinstance(value, dict):
        return {k: to_zen_context(v) for k, v in value.items()}
    return value


def same(ours: Any, theirs: Any) -> bool:
    """Equal as JSON, numbers to 12 significant digits; bools are not numbers."""
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return ours is theirs
    if isinstance(ours, float | int) and isinstance(theirs, float | int):
        return math.isclose(ours, theirs, rel_tol=1e-12, abs_tol=1e-18)
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(map(same, ours, theirs))
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(same(ours[k], theirs[k]) for k in ours)
    return bool(ours == theirs)


def ours_standard(text: str, context: dict[str, Any]) -> Any:
    try:
        with pinned_clock(MOCK_NOW):
            return to_json(compile_expression(text).evaluate(context))
    except (EvaluationError, ExpressionTypeError):
        return ERROR


def zen_standard(text: str, context: dict[str, Any]) -> Any:
    try:
        return zen.evaluate_expression(text, to_zen_context(context))
    except RuntimeError:
        return ERROR


def ours_unary(text: str, context: dict[str, Any], value: Any) -> Any:
    try:
        with pinned_clock(MOCK_NOW):
            return compile_unary(text).test(context, value)
    except (EvaluationError, ExpressionTypeError):
        return ERROR


def zen_unary(text: str, context: dict[str, Any], value: Any) -> Any:
    try:
        return zen.evaluate_unary_expression(text, to_zen_context({**context, "$": value}))
    except RuntimeError:
        return ERROR


def zen_result(graph: dict[str, Any], data: Any) -> Any:
    """What zen-engine's ``evaluate(...)["result"]`` gives for ``graph`` on ``data``."""
    return ENGINE.create_decision(json.dumps(graph)).evaluate(data)["result"]


#: ``$`` values a rejected input cell is tried with: it must fail on each in zen.
PROBES: tuple[Any, ...] = (0, 1, -3, 2.5, "a", "", None, True, False, [1], {"a": 1})


def _input_column_ids(graph: dict[str, Any], node_id: str | None) -> set[str]:
    for node in graph["nodes"]:
        if node.get("id") == node_id and node.get("type") == "decisionTableNode":
            return {column["id"] for column in node["content"]["inputs"]}
    return set()


def assert_zen_fails_the_rejected_text(
    graph: dict[str, Any], rejected: JdmError, data: Any
) -> None:
    """Our load-time type error names text that zen fails on every input.

    An input cell is tried against every probe ``$``; an expression (an output
    cell, an expression node, a switch condition) against the data and an empty
    context. zen treats a failing input cell as "no match" and fails the graph
    on a failing expression: either way the text never computes.
    """
    cause = rejected.__cause__
    assert isinstance(cause, ExpressionTypeError), rejected
    context = data if isinstance(data, dict) else {}
    if rejected.location.column_id in _input_column_ids(graph, rejected.location.node_id):
        results = [zen_unary(cause.text, context, probe) for probe in PROBES]
    else:
        results = [zen_standard(cause.text, context), zen_standard(cause.text, {})]
    assert results == [ERROR] * len(results), (cause.text, results)


def assert_same_as_zen(graph: dict[str, Any], data: Any) -> None:
    """Our graph's result equals zen's, or both fail the evaluation.

    A graph our loader rejects for a type mismatch must hold text that zen
    cannot compute either (see :func:`assert_zen_fails_the_rejected_text`).
    """
    try:
        compiled = compile_graph(graph_from_json(graph))
    except JdmError as rejected:
        assert_zen_fails_the_rejected_text(graph, rejected, data)
        return
    try:
        expected = zen_result(graph, data)
    except RuntimeError as zen_failed:
        # zen fails the whole evaluation (an expression node met null + 1 ...): so must we.
        with pytest.raises(JdmEvaluationError), pinned_clock(MOCK_NOW):
            compiled.evaluate(data)
        assert "NodeError" in str(zen_failed)
        return
    with pinned_clock(MOCK_NOW):
        ours = compiled.evaluate(data)
    assert same_json(ours, expected), (json.dumps(graph), data, expected, ours)
