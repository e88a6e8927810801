"""Walking a compiled graph the way zen does, and the :class:`CompiledGraph`.

zen visits nodes depth first from the input node, a node only once all its
predecessors are done, and stops at the first output node it reaches. A
switch prunes the edges of the branches not taken (and, recursively, what
they alone fed or were fed by) and the walk restarts. The result is zen's
merge, in file order, of the outputs of the visited nodes left without
outgoing edges. Orders follow zen's graph library: a node's edges are
listed newest first, so of two inputs the one whose edge comes first in
the file wins a merge.

A graph without switch nodes walks the same way whatever the data, so its
walk is recorded once at compile time into a plan; evaluating then runs the
plan without any graph bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from finplug_risk_engine.jdm._compile import (
    CompiledNode,
    CompiledTable,
    Compiler,
    NodesView,
    compile_expression_node,
    compile_switch,
    compile_table,
)
from finplug_risk_engine.jdm._errors import Location
from finplug_risk_engine.jdm._load import read_graph
from finplug_risk_engine.jdm._model import JdmGraph
from finplug_risk_engine.jdm._values import first_input, lift, merge, merge_results, to_values

__all__ = ["CompiledGraph", "ExprCompiler", "compile_graph", "load_graph"]

_UNSET: Any = object()
Route = Callable[[Any, NodesView], set[str]]


def _input_marker(data: Any, nodes: NodesView) -> Any:  # pragma: no cover - never called
    raise AssertionError("the input node takes the evaluation's input")


_INPUT: CompiledNode = _input_marker
_Step = tuple[int, tuple[int, ...], CompiledNode | None]
_Plan = tuple[tuple[_Step, ...], tuple[int, ...]]


class ExprCompiler:
    """:class:`Compiler` backed by :mod:`finplug_risk_engine.expr`.

    The language is imported on first use, so that reading, checking and
    exporting graphs never needs it.
    """

    indexes_tables = True
    """First-hit tables compiled with it get column indexes (:mod:`._index`): its
    cells' texts can be read back as ZEN to find their constants."""

    def expression(self, text: str, where: str) -> Callable[[Mapping[str, Any]], Any]:
        """Compile a standard expression."""
        from finplug_risk_engine.expr import compile_expression

        return compile_expression(text, where=where).evaluate

    def unary(self, text: str, where: str) -> Callable[[Mapping[str, Any], Any], bool]:
        """Compile a unary-test cell."""
        from finplug_risk_engine.expr import compile_unary

        return compile_unary(text, where=where).test


@dataclass(frozen=True, slots=True)
class _Shape:
    """The graph as index lists; edge lists newest first, as zen sees them."""

    kinds: tuple[str, ...]
    names: tuple[str, ...]
    source: tuple[int, ...]
    target: tuple[int, ...]
    handle: tuple[str | None, ...]
    outgoing: tuple[tuple[int, ...], ...]
    incoming: tuple[tuple[int, ...], ...]


class _Walk:
    """One evaluation's walk over a graph that switches may prune."""

    def __init__(self, shape: _Shape, routes: Mapping[int, Route], nodes: NodesView) -> None:
        self.shape = shape
        self.routes = routes
        self.nodes_view = nodes
        self.edge_alive = [True] * len(shape.source)
        self.node_alive = [True] * len(shape.kinds)
        self.visited = [False] * len(shape.kinds)
        self.switched: set[int] = set()
        self.data: list[Any] = [_UNSET] * len(shape.kinds)
        self.stack: list[int] = []
        self.reset()

    def reset(self) -> None:
        self.visited = [False] * len(self.shape.kinds)
        self.stack = [
            i for i, k in enumerate(self.shape.kinds) if k == "inputNode" and self.node_alive[i]
        ]

    def alive(self, edges: tuple[int, ...]) -> list[int]:
        return [e for e in edges if self.edge_alive[e]]

    def predecessors(self, nid: int) -> list[int]:
        return [self.shape.source[e] for e in self.alive(self.shape.incoming[nid])]

    def incoming(self, nid: int) -> Any:
        have = [p for p in self.predecessors(nid) if self.data[p] is not _UNSET]
        if not have:
            return {}
        value = first_input(self.data[have[0]])
        for p in have[1:]:
            value = merge(value, self.data[p])
        return value

    def next(self) -> int | None:
        shape = self.shape
        while self.stack:
            nid = self.stack.pop()
            if self.visited[nid]:
                continue
            waiting = [p for p in self.predecessors(nid) if not self.visited[p]]
            if waiting:
                self.stack.append(nid)
                self.stack.extend(waiting)
                continue
            self.visited[nid] = True
            route = self.routes.get(nid)
            if route is not None and nid not in self.switched:
                chosen = route(self.incoming(nid), self.nodes_view)
                dropped = [
                    e for e in self.alive(shape.outgoing[nid]) if shape.handle[e] not in chosen
                ]
                for edge in dropped:
                    self.remove_edge(edge)
                self.switched.add(nid)
                if dropped:
                    self.reset()
                    continue
            self.stack.extend(shape.target[e] for e in self.alive(shape.outgoing[nid]))
            return nid
        return None

    def remove_edge(self, edge: int) -> None:
        if not self.edge_alive[edge]:
            return
        self.edge_alive[edge] = False
        shape = self.shape
        for nid, same, other in (
            (shape.target[edge], shape.incoming, shape.outgoing),
            (shape.source[edge], shape.outgoing, shape.incoming),
        ):
            if self.alive(same[nid]):
                continue
            for follow in self.alive(other[nid]):
                self.remove_edge(follow)
            if not self.alive(shape.outgoing[nid]):
                self.node_alive[nid] = False
                for e in (*shape.incoming[nid], *shape.outgoing[nid]):
                    self.edge_alive[e] = False

    def leaves(self) -> list[int]:
        return [
            nid
            for nid in range(len(self.shape.kinds))
            if self.node_alive[nid]
            and self.visited[nid]
            and not self.alive(self.shape.outgoing[nid])
            and self.data[nid] is not _UNSET
        ]


class CompiledGraph:
    """A JDM graph with every cell and expression compiled, ready to evaluate.

    ``evaluate(input)`` returns what zen-engine's ``evaluate(...)["result"]``
    returns, with numbers as :class:`~decimal.Decimal`.
    """

    __slots__ = ("_chain", "_plan", "_routes", "_runners", "_shape", "graph", "tables")

    def __init__(self, graph: JdmGraph, compiler: Compiler | None = None) -> None:
        self.graph: JdmGraph = graph
        """The graph as loaded; ``to_json()`` exports it."""
        self.tables: dict[str, CompiledTable] = {}
        """Each decision table by node id, to evaluate or time one on its own."""
        use: Compiler = compiler if compiler is not None else ExprCompiler()
        index = {node.id: i for i, node in enumerate(graph.nodes)}
        runners: list[CompiledNode | None] = []
        routes: dict[int, Route] = {}
        for i, node in enumerate(graph.nodes):
            at = Location(source=graph.source, node_id=node.id, node_name=node.name)
            runner: CompiledNode | None = None
            if node.type == "decisionTableNode":
                runner, self.tables[node.id] = compile_table(node, at, use)
            elif node.type == "expressionNode":
                runner = compile_expression_node(node, at, use)
            elif node.type == "switchNode":
                routes[i] = compile_switch(node, at, use)
            runners.append(runner)
        count = len(graph.nodes)
        outgoing: list[list[int]] = [[] for _ in range(count)]
        incoming: list[list[int]] = [[] for _ in range(count)]
        for e, edge in enumerate(graph.edges):
            outgoing[index[edge.source_id]].insert(0, e)
            incoming[index[edge.target_id]].insert(0, e)
        self._shape = _Shape(
            kinds=tuple(n.type for n in graph.nodes),
            names=tuple(n.name for n in graph.nodes),
            source=tuple(index[e.source_id] for e in graph.edges),
            target=tuple(index[e.target_id] for e in graph.edges),
            handle=tuple(e.source_handle for e in graph.edges),
            outgoing=tuple(map(tuple, outgoing)),
            incoming=tuple(map(tuple, incoming)),
        )
        self._runners = tuple(runners)
        self._routes = routes
        self._plan = None if routes else self._record()
        self._chain = self._as_chain()

    def to_json(self) -> dict[str, Any]:
        """The graph as a JDM JSON object, equal to the one it was loaded from."""
        return self.graph.to_json()

    def evaluate(self, input: Mapping[str, Any]) -> Any:
        """Evaluate the graph on ``input`` (numbers may be int, float or Decimal).

        Returns zen's result: an object, or a list when a collect table's
        output is what reaches the end. Raises
        :class:`~finplug_risk_engine.jdm.JdmEvaluationError` when an
        expression node fails, as zen does.
        """
        context = to_values(input)
        if self._chain is not None:
            # input -> one node -> output: the node's data is the result.
            name, runner = self._chain
            incoming = context if type(context) is dict or type(context) is list else {}
            out = runner(incoming, lambda: {name: context})
            if type(out) is dict and None not in out.values():
                return out  # made for this evaluation: nothing to drop, no copy
            return lift(out)
        if self._plan is not None:
            return self._run_plan(context)
        return self._run_walk(context)

    def _as_chain(self) -> tuple[str, CompiledNode] | None:
        """(input node's name, the runner) when the plan is input -> one node -> output."""
        if self._plan is None:
            return None
        steps, leaves = self._plan
        if len(steps) != 3 or len(leaves) != 1:
            return None
        (first, _, entry), (middle, into_middle, runner), (last, into_last, exit_) = steps
        if entry is not _INPUT or runner is None or exit_ is not None:
            return None
        if into_middle != (first,) or into_last != (middle,) or leaves != (last,):
            return None
        if self._shape.kinds[last] != "outputNode":
            return None
        return self._shape.names[first], runner

    # ----------------------------------------------------------------- runs

    def _names_view(self, data: list[Any]) -> NodesView:
        names = self._shape.names
        return lambda: {names[i]: v for i, v in enumerate(data) if v is not _UNSET}

    def _step(self, nid: int, incoming: Any, context: Any, nodes: NodesView) -> Any:
        kind = self._shape.kinds[nid]
        if kind == "inputNode":
            return context
        runner = self._runners[nid]
        return incoming if runner is None else runner(incoming, nodes)

    def _run_walk(self, context: Any) -> Any:
        data: list[Any] = [_UNSET] * len(self._shape.kinds)
        walk = _Walk(self._shape, self._routes, self._names_view(data))
        walk.data = data
        while (nid := walk.next()) is not None:
            if data[nid] is not _UNSET:
                continue
            data[nid] = self._step(nid, walk.incoming(nid), context, walk.nodes_view)
            if self._shape.kinds[nid] == "outputNode":
                break
        return merge_results([data[leaf] for leaf in walk.leaves()])

    def _record(self) -> _Plan:
        """The walk of a switch-free graph: steps with their predecessors, and the leaves."""
        kinds = self._shape.kinds
        walk = _Walk(self._shape, {}, dict)
        steps: list[_Step] = []
        while (nid := walk.next()) is not None:
            if walk.data[nid] is not _UNSET:
                continue
            runner = _INPUT if kinds[nid] == "inputNode" else self._runners[nid]
            steps.append((nid, tuple(walk.predecessors(nid)), runner))
            walk.data[nid] = True
            if kinds[nid] == "outputNode":
                break
        return tuple(steps), tuple(walk.leaves())

    def _run_plan(self, context: Any) -> Any:
        assert self._plan is not None
        steps, leaves = self._plan
        data: list[Any] = [_UNSET] * len(self._shape.kinds)
        nodes = self._names_view(data)
        for nid, preds, runner in steps:
            if runner is _INPUT:
                data[nid] = context
                continue
            if preds:
                # The first predecessor's object is handed over as it is.
                incoming = data[preds[0]]
                if type(incoming) is not dict and type(incoming) is not list:
                    incoming = {}
                for p in preds[1:]:
                    incoming = merge(incoming, data[p])
            else:
                incoming = {}
            data[nid] = incoming if runner is None else runner(incoming, nodes)
        if len(leaves) == 1:
            return lift(data[leaves[0]])
        return merge_results([data[leaf] for leaf in leaves])


def compile_graph(graph: JdmGraph, *, compiler: Compiler | None = None) -> CompiledGraph:
    """Compile every cell and expression of ``graph`` once.

    Raises :class:`~finplug_risk_engine.jdm.JdmError`, located at the node,
    row and column, for text that does not compile.
    """
    return CompiledGraph(graph, compiler)


def load_graph(path: str, *, compiler: Compiler | None = None) -> CompiledGraph:
    """Read, check and compile the JDM graph in the file at ``path``."""
    return CompiledGraph(read_graph(path), compiler)
