"""Compiling a node's cells and expressions into closures, once, at load.

Each compiled node is a callable ``(input, nodes) -> output``: ``input`` is
the node's incoming data (zen's merge of its predecessors' outputs) and
``nodes`` builds the ``$nodes`` object (outputs by node name) for the few
nodes whose text reads it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from finplug import FinplugError
from finplug_risk_engine.jdm._errors import JdmError, JdmEvaluationError, Location
from finplug_risk_engine.jdm._index import column_index
from finplug_risk_engine.jdm._model import (
    DecisionTableContent,
    ExpressionContent,
    Node,
    SwitchContent,
    Transform,
)
from finplug_risk_engine.jdm._values import get_path, merge, set_path

__all__ = [
    "CompiledNode",
    "CompiledTable",
    "Compiler",
    "NodesView",
    "compile_expression_node",
    "compile_switch",
    "compile_table",
]

Context = Mapping[str, Any]
NodesView = Callable[[], dict[str, Any]]
"""Builds ``$nodes``: every output so far, by node name."""
CompiledNode = Callable[[Any, NodesView], Any]
"""A node ready to run: ``(input, nodes) -> output``."""
Evaluate = Callable[[Context], Any]
Test = Callable[[Context, Any], bool]

#: What a failing cell may raise (the language's EvaluationError is a
#: FinplugError; Decimal's errors are ArithmeticErrors). zen treats every
#: failing cell as "no match" and every failing expression node as a failed
#: evaluation, so both are caught where zen catches them.
CELL_ERRORS: tuple[type[BaseException], ...] = (
    FinplugError,
    ArithmeticError,
    TypeError,
    ValueError,
)

#: Tables with fewer rows are scanned: an index would not pay for its lookups.
_INDEX_FROM = 8

_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_KEYWORDS = frozenset({"true", "false", "null", "and", "or", "not", "in", "matches"})


class Compiler(Protocol):
    """The expression language the graph is compiled with.

    :mod:`finplug_risk_engine.expr` is the implementation; the protocol lets
    a caller (or a test) supply another. A compiler with a true
    ``indexes_tables`` attribute compiles ZEN, and first-hit tables get
    column indexes (:mod:`finplug_risk_engine.jdm._index`).
    """

    def expression(self, text: str, where: str) -> Evaluate:
        """A standard expression: ``evaluate(context) -> value``."""
        ...

    def unary(self, text: str, where: str) -> Test:
        """A decision-table input cell: ``test(context, value) -> bool``."""
        ...


def _always(context: Context, value: Any) -> bool:
    return True


def _never(context: Context) -> bool:
    return False


class _Failed:
    """The value of an input column whose field expression failed."""


_FAILED = _Failed()


def _compile(compiler: Compiler, text: str, location: Location, *, unary: bool = False) -> Any:
    where = location.describe()
    try:
        if unary:
            return compiler.unary(text, where)
        return compiler.expression(text, where)
    except FinplugError as exc:
        if isinstance(exc, JdmError) and exc.location.describe():
            raise  # already located
        message = getattr(exc, "message", str(exc))
        offset = getattr(exc, "offset", None)
        at = f" at offset {offset}" if offset is not None else ""
        raise JdmError(f"{message}{at} in {text!r}", location) from exc


def _field_getter(compiler: Compiler, field: str, location: Location) -> Evaluate:
    """A column's field: a pre-split path when it is one, else an expression."""
    evaluate: Evaluate = _compile(compiler, field, location)
    text = field.strip()
    if _PATH.match(text) and text.split(".", 1)[0] not in _KEYWORDS:
        path = tuple(text.split("."))
        if len(path) == 1:
            key = path[0]

            def get(context: Context) -> Any:
                return context.get(key)

            setattr(get, "key", key)  # noqa: B010  # read by _plain_keys
            return get
        return lambda context: get_path(context, path)
    return evaluate


def _split(field: str) -> tuple[tuple[str, ...], bool]:
    collect = field.endswith("[]")
    return tuple((field[:-2] if collect else field).split(".")), collect


class _NotAnObject(dict[str, Any]):
    """The context of a node whose input is not an object (a collect table's list).

    zen then fails every lookup of a top-level name (the cell does not match,
    the expression node fails) while constants still evaluate; ``$`` and
    ``$nodes``, which the engine itself puts there, stay readable.
    """

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        raise JdmEvaluationError(f"the node's input is not an object: {key!r} cannot be read")


def _context(value: Any) -> dict[str, Any]:
    return value if type(value) is dict else _NotAnObject()


_Row = tuple[tuple[tuple[int, Test], ...], tuple[tuple[tuple[str, ...], Evaluate], ...]]


class CompiledTable:
    """A decision table's rows as closures, with field paths resolved once.

    ``evaluate(context)`` gives what zen's table gives: ``first`` the first
    matching row's outputs (``null`` if none), ``collect`` the list of every
    matching row's outputs. A first-hit table's ``field[]`` columns gather the
    values of every matching row into a list.
    """

    __slots__ = ("_collect_columns", "_getters", "_one", "_rows", "_rows_if_failed", "evaluate")

    def __init__(self, content: DecisionTableContent, at: Location, compiler: Compiler) -> None:
        getters: list[Evaluate | None] = []
        for col in content.inputs:
            loc = _with(at, column_id=col.id, column_name=col.name)
            field = (col.field or "").strip()
            getters.append(_field_getter(compiler, field, loc) if field else None)
        rows: list[_Row] = []
        collects: list[tuple[tuple[tuple[str, ...], Evaluate], ...]] = []
        by_column: list[list[tuple[int, str, Test]]] = [[] for _ in content.inputs]
        for rule in content.rules:
            tests: list[tuple[int, Test]] = []
            for index, col in enumerate(content.inputs):
                text = rule.cell(col.id)
                if not text.strip():
                    continue
                loc = _with(at, row_id=rule.id, column_id=col.id, column_name=col.name)
                if getters[index] is None:
                    tests.append((index, _standard_cell(_compile(compiler, text, loc))))
                else:
                    test = _compile(compiler, text, loc, unary=True)
                    tests.append((index, test))
                    by_column[index].append((len(rows), text, test))
            outs: list[tuple[tuple[str, ...], Evaluate]] = []
            gathered: list[tuple[tuple[str, ...], Evaluate]] = []
            for col in content.outputs:
                text = rule.cell(col.id)
                if not text.strip():
                    continue
                loc = _with(at, row_id=rule.id, column_id=col.id, column_name=col.name)
                path, collect = _split(col.field or "")
                pair = (path, _compile(compiler, text, loc))
                (gathered if collect and content.hit_policy == "first" else outs).append(pair)
            rows.append((tuple(tests), tuple(outs)))
            collects.append(tuple(gathered))
        self._getters = tuple(getters)
        self._rows = tuple(rows)
        self._rows_if_failed = tuple(
            (tests, outs) for tests, outs in rows if not tests
        )  # every condition column failed: only rows with no condition match
        paths = [
            _split(c.field or "")[0] for c in content.outputs if (c.field or "").endswith("[]")
        ]
        self._collect_columns: tuple[tuple[str, ...], ...] = tuple(paths)
        self._one = len(getters) == 1 and getters[0] is not None
        if content.hit_policy == "collect":
            self.evaluate: Evaluate = self._collect
        elif paths:
            self.evaluate = self._first_gathering(tuple(collects))
        elif self._one:
            single = tuple((tests[0][1] if tests else _always, outs) for tests, outs in rows)
            self.evaluate = self._first_single(single)
        else:
            self.evaluate = self._first
            if getattr(compiler, "indexes_tables", False) and len(rows) >= _INDEX_FROM:
                indexed = self._indexed(by_column, len(rows))
                if indexed is not None:
                    self.evaluate = indexed

    def _values(self, context: Context) -> list[Any]:
        values: list[Any] = []
        for getter in self._getters:
            if getter is None:
                values.append(None)
                continue
            try:
                values.append(getter(context))
            except CELL_ERRORS:
                values.append(_FAILED)
        return values

    def _first_single(self, rows: tuple[tuple[Test, Any], ...]) -> Evaluate:
        getter = self._getters[0]
        assert getter is not None
        fallback = tuple((_always, outs) for _tests, outs in self._rows_if_failed)

        def first(context: Context) -> Any:
            try:
                value = getter(context)
                candidates = rows
            except CELL_ERRORS:
                value, candidates = None, fallback
            for test, outs in candidates:
                try:
                    if test(context, value):
                        out: dict[str, Any] = {}
                        for path, fn in outs:
                            set_path(out, path, fn(context))
                        return out
                except CELL_ERRORS:
                    continue
            return None

        return first

    def _match(self, context: Context, values: list[Any], row: _Row) -> dict[str, Any] | None:
        tests, outs = row
        try:
            for index, test in tests:
                value = values[index]
                if value is _FAILED or not test(context, value):
                    return None
            out: dict[str, Any] = {}
            for path, fn in outs:
                set_path(out, path, fn(context))
        except CELL_ERRORS:
            return None
        return out

    def _indexed(
        self, by_column: list[list[tuple[int, str, Test]]], n_rows: int
    ) -> Evaluate | None:
        """A first-hit evaluation that visits only the rows the indexed columns let through."""
        indexes = []
        for index, cells in enumerate(by_column):
            if self._getters[index] is not None and cells:
                found = column_index(cells, n_rows)
                if found is not None:
                    indexes.append((index, found))
        if not indexes:
            return None
        covered = {index for index, _ in indexes}
        # What is left of each row once its indexed cells are answered by the index.
        rest = tuple(
            (tuple((i, t) for i, t in tests if i not in covered), _emitter(outs))
            for tests, outs in self._rows
        )
        every = (1 << n_rows) - 1
        plan = tuple(indexes)
        scan = self._scan
        read = self._values
        keys = _plain_keys(self._getters)

        def first_indexed(context: Context) -> Any:
            values = [context.get(key) for key in keys] if keys is not None else read(context)
            mask = every
            for index, found in plan:
                passing = found.lookup(values[index])
                if passing is None:
                    return scan(context, values)
                mask &= passing
                if not mask:
                    return None
            while mask:
                low = mask & -mask
                mask ^= low
                tests, emit = rest[low.bit_length() - 1]
                try:
                    for index, test in tests:
                        value = values[index]
                        if value is _FAILED or not test(context, value):
                            break
                    else:
                        return emit(context)
                except CELL_ERRORS:
                    continue
            return None

        return first_indexed

    def _first(self, context: Context) -> Any:
        return self._scan(context, self._values(context))

    def _scan(self, context: Context, values: list[Any]) -> Any:
        # _match inlined: this loop runs for every row of every evaluation.
        for tests, outs in self._rows:
            try:
                for index, test in tests:
                    value = values[index]
                    if value is _FAILED or not test(context, value):
                        break
                else:
                    out: dict[str, Any] = {}
                    for path, fn in outs:
                        set_path(out, path, fn(context))
                    return out
            except CELL_ERRORS:
                continue
        return None

    def _collect(self, context: Context) -> Any:
        values = self._values(context)
        found: list[Any] = []
        for row in self._rows:
            out = self._match(context, values, row)
            if out is not None:
                found.append(out)
        return found

    def _first_gathering(
        self, collects: tuple[tuple[tuple[tuple[str, ...], Evaluate], ...], ...]
    ) -> Evaluate:
        columns = self._collect_columns

        def first(context: Context) -> Any:
            values = self._values(context)
            result: dict[str, Any] | None = None
            lists: dict[tuple[str, ...], list[Any]] = {path: [] for path in columns}
            for row, gathered in zip(self._rows, collects, strict=True):
                tests, outs = row
                out = self._match(context, values, (tests, outs if result is None else ()))
                if out is None:
                    continue
                try:
                    extra = [(path, fn(context)) for path, fn in gathered]
                except CELL_ERRORS:
                    continue
                if result is None:
                    result = out
                for path, value in extra:
                    lists[path].append(value)
            if result is not None:
                for path, items in lists.items():
                    set_path(result, path, items)
            return result

        return first


def _plain_keys(getters: tuple[Evaluate | None, ...]) -> tuple[str, ...] | None:
    """The keys when every column reads one top-level key (``amount``), else ``None``.

    Such a column cannot fail, so its values are one ``get`` each.
    """
    keys = [getattr(getter, "key", None) for getter in getters]
    if all(isinstance(key, str) for key in keys):
        return tuple(key for key in keys if isinstance(key, str))
    return None


def _emitter(outs: tuple[tuple[tuple[str, ...], Evaluate], ...]) -> Evaluate:
    """A row's output object, built in one expression when every field is one key."""
    if not all(len(path) == 1 for path, _ in outs) or len({p for p, _ in outs}) != len(outs):

        def nested(context: Context) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for path, fn in outs:
                set_path(out, path, fn(context))
            return out

        return nested
    pairs = tuple((path[0], fn) for path, fn in outs)
    if len(pairs) == 1:
        ((k1, f1),) = pairs
        return lambda context: {k1: f1(context)}
    if len(pairs) == 2:
        (k1, f1), (k2, f2) = pairs
        return lambda context: {k1: f1(context), k2: f2(context)}
    return lambda context: {key: fn(context) for key, fn in pairs}


def _standard_cell(evaluate: Evaluate) -> Test:
    """A condition cell of a column without a field: it must be exactly ``true``."""
    return lambda context, _value: evaluate(context) is True


def _with(at: Location, **parts: str | None) -> Location:
    fields = {name: getattr(at, name) for name in Location.__slots__}
    fields.update(parts)
    return Location(**fields)


def _reads_nodes(*texts: str | None) -> bool:
    return any(text is not None and "$nodes" in text for text in texts)


def _transformed(
    body: CompiledNode, transform: Transform, at: Location, compiler: Compiler
) -> CompiledNode:
    """Wrap a node in zen's input field, loop mode, output path and pass-through."""
    field = (transform.input_field or "").strip()
    pick = _compile(compiler, field, _with(at, column_name="inputField")) if field else None
    loop = transform.execution_mode == "loop"
    out_path = tuple((transform.output_path or "").split(".")) if transform.output_path else ()
    through = bool(transform.pass_through)
    if pick is None and not loop and not out_path and not through:
        return body
    needs_nodes = _reads_nodes(field)

    def run(data: Any, nodes: NodesView) -> Any:
        selected = data
        if pick is not None:
            context = _context(data)
            if needs_nodes:
                context = type(context)({**context, "$nodes": nodes()})
            try:
                selected = pick(context)
            except CELL_ERRORS as exc:
                raise JdmEvaluationError(f"inputField {field!r} failed: {exc}", at) from exc
        if loop:
            if not isinstance(selected, list):
                raise JdmEvaluationError("loop mode expects an array as the node's input", at)
            output: Any = [
                merge(item, body(item, nodes)) if through else body(item, nodes)
                for item in selected
            ]
        else:
            output = body(selected, nodes)
        if out_path:
            wrapped: dict[str, Any] = {}
            set_path(wrapped, out_path, output)
            output = wrapped
        return merge(data, output) if through else output

    return run


def compile_table(
    node: Node, at: Location, compiler: Compiler
) -> tuple[CompiledNode, CompiledTable]:
    """A decision-table node, and its table for callers that time or test it alone."""
    content = node.content
    assert isinstance(content, DecisionTableContent)
    table = CompiledTable(content, at, compiler)
    evaluate = table.evaluate
    texts = [c.field for c in (*content.inputs, *content.outputs)]
    texts += [v for rule in content.rules for v in rule.cells.values()]
    if _reads_nodes(*texts):

        def body(data: Any, nodes: NodesView) -> Any:
            context = _context(data)
            context = type(context)({**context, "$nodes": nodes()})
            return evaluate(context)

    else:

        def body(data: Any, nodes: NodesView) -> Any:
            return evaluate(data if type(data) is dict else _NotAnObject())

    return _transformed(body, content.transform, at, compiler), table


def compile_expression_node(node: Node, at: Location, compiler: Compiler) -> CompiledNode:
    """An expression node: keys in order, ``$`` being the object built so far."""
    content = node.content
    assert isinstance(content, ExpressionContent)
    lines: list[tuple[tuple[str, ...], Evaluate, str]] = []
    for index, entry in enumerate(content.expressions):
        if not entry.key or not entry.value:
            continue
        loc = _with(at, column_id=entry.id or f"#{index}", column_name=entry.key)
        lines.append((tuple(entry.key.split(".")), _compile(compiler, entry.value, loc), entry.key))
    needs_nodes = _reads_nodes(*(e.value for e in content.expressions))

    def body(data: Any, nodes: NodesView) -> Any:
        result: dict[str, Any] = {}
        context = _context(data)
        context = type(context)(context)
        if needs_nodes:
            context["$nodes"] = nodes()
        for path, evaluate, key in lines:
            try:
                value = evaluate(context)
            except CELL_ERRORS as exc:
                where = _with(at, column_name=key)
                raise JdmEvaluationError(f"expression failed: {exc}", where) from exc
            if value is result:  # ``$`` itself: a snapshot, as zen clones it
                value = dict(result)
            set_path(result, path, value)
            # ``$`` (the keys done so far) exists once the first one is.
            context["$"] = result
        return result

    return _transformed(body, content.transform, at, compiler)


def compile_switch(
    node: Node, at: Location, compiler: Compiler
) -> Callable[[Any, NodesView], set[str]]:
    """A switch's statements: ``(input, nodes) -> ids of the branches to follow``."""
    content = node.content
    assert isinstance(content, SwitchContent)
    conditions: list[tuple[str, Evaluate | None]] = []
    evaluate: Evaluate | None
    for statement in content.statements:
        text = statement.condition
        loc = _with(at, column_id=statement.id, column_name="condition")
        if not text:
            evaluate = None  # empty: always true (zen's default branch)
        elif not text.strip():
            evaluate = _never  # blank but not empty: zen fails to run it, so false
        else:
            evaluate = _compile(compiler, text, loc)
        conditions.append((statement.id, evaluate))
    first = content.hit_policy == "first"
    needs_nodes = _reads_nodes(*(s.condition for s in content.statements))

    def route(data: Any, nodes: NodesView) -> set[str]:
        context = _context(data)
        if needs_nodes:
            context = type(context)({**context, "$nodes": nodes()})
        chosen: set[str] = set()
        for statement_id, evaluate in conditions:
            try:
                hit = evaluate is None or evaluate(context) is True
            except CELL_ERRORS:
                hit = False
            if hit:
                chosen.add(statement_id)
                if first:
                    break
        return chosen

    return route
