"""A static type check run once at compile time: type mismatches found at load.

zen-engine fails ``'abc' * 2``, ``amount > 'high'``, ``[1..'x']`` or
``not 5`` at run time, whatever the input. This pass finds such an operation
before any input is seen: it infers what it can (a literal's type, an
operator's result type, a few functions' result types; a variable or ``$`` is
unknown) and raises :class:`ExpressionTypeError` where an operator meets a
type it never accepts.

Only operations that run on every evaluation are checked: the right side of
``and``, ``or`` and ``??``, a conditional's branches and a closure's body may
never run, and zen only fails them when they do, so there a mismatch stays an
evaluation error, as in zen.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from finplug_risk_engine.expr._ast import (
    ArrayLit,
    Binary,
    Call,
    Conditional,
    IntervalLit,
    Literal,
    Node,
    ObjectLit,
    Template,
    Unary,
)
from finplug_risk_engine.expr._errors import EvaluationError, ExpressionError
from finplug_risk_engine.expr._functions import FUNCTIONS

__all__ = ["ExpressionTypeError", "check_types"]

#: Static types: what a node is known to give; ``None`` means not known.
NUMBER: Final = "number"
STRING: Final = "string"
BOOL: Final = "bool"
NULL: Final = "null"
ARRAY: Final = "array"
OBJECT: Final = "object"
INTERVAL: Final = "interval"

_ARITHMETIC: Final = frozenset({"-", "*", "/", "%", "^"})
_ORDER: Final = frozenset({"<", "<=", ">", ">="})
_MEMBERSHIP: Final = frozenset({"in", "not in"})
_SHORT_CIRCUIT: Final = frozenset({"and", "or", "??"})
#: What ``x in <right>`` accepts on its right.
_CONTAINERS: Final = frozenset({ARRAY, INTERVAL, OBJECT})

_RESULTS: Final[dict[str, str]] = {
    **dict.fromkeys(("len", "sum", "avg", "min", "max", "median", "mode"), NUMBER),
    **dict.fromkeys(("abs", "floor", "ceil", "trunc", "round", "number"), NUMBER),
    **dict.fromkeys(("date", "time", "duration", "year", "monthOfYear"), NUMBER),
    **dict.fromkeys(("dayOfMonth", "dayOfWeek", "dayOfYear", "weekOfYear"), NUMBER),
    **dict.fromkeys(("upper", "lower", "trim", "string", "type"), STRING),
    **dict.fromkeys(("dateString", "monthString", "weekdayString"), STRING),
    **dict.fromkeys(("startsWith", "endsWith", "contains", "matches", "isNumeric"), BOOL),
    **dict.fromkeys(("bool", "all", "some", "none", "one"), BOOL),
    **dict.fromkeys(("extract", "split", "keys", "values", "flatten"), ARRAY),
    **dict.fromkeys(("filter", "map", "flatMap"), ARRAY),
    "count": NUMBER,
}


class ExpressionTypeError(ExpressionError):
    """An operation that fails for every input: ``'abc' * 2``, ``amount > 'high'``.

    A subclass of :class:`ExpressionError`, so it is located the same way
    (``where``, ``text``, ``offset`` of the operator); ``expected`` and
    ``got`` name the types.
    """

    def __init__(
        self, message: str, *, text: str, offset: int, where: str, expected: str, got: str
    ) -> None:
        self.expected = expected
        self.got = got
        super().__init__(f"type mismatch: {message}", text=text, offset=offset, where=where)


def _literal_type(value: object) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, Decimal):
        return NUMBER
    return STRING


class _Checker:
    """One pass over a tree; ``always`` marks nodes evaluated on every run."""

    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.where = where

    def fail(self, node: Node, what: str, expected: str, got: str) -> ExpressionTypeError:
        return ExpressionTypeError(
            f"{what} needs {expected}, got {got}",
            text=self.text,
            offset=node.pos,
            where=self.where,
            expected=expected,
            got=got,
        )

    def need(self, node: Node, got: str | None, allowed: frozenset[str], what: str) -> None:
        if got is not None and got not in allowed:
            expected = " or ".join(f"a {t}" if t != ARRAY else "an array" for t in sorted(allowed))
            raise self.fail(node, what, expected, f"a {got}" if got != ARRAY else "an array")

    def type_of(self, node: Node, always: bool) -> str | None:
        """The node's static type; raises for a certain mismatch when ``always``."""
        if isinstance(node, Literal):
            return _literal_type(node.value)
        if isinstance(node, Unary):
            return self.unary(node, always)
        if isinstance(node, Binary):
            return self.binary(node, always)
        if isinstance(node, Conditional):
            cond = self.type_of(node.cond, always)
            if always:
                self.need(node, cond, frozenset({BOOL}), "a condition '? :'")
            then = self.type_of(node.then, False)
            otherwise = self.type_of(node.otherwise, False)
            return then if then == otherwise else None
        if isinstance(node, IntervalLit):
            for bound in (node.low, node.high):
                got = self.type_of(bound, always)
                if always:
                    self.need(bound, got, frozenset({NUMBER}), "an interval's bound")
            return INTERVAL
        if isinstance(node, ArrayLit):
            for item in node.items:
                self.type_of(item, always)
            return ARRAY
        if isinstance(node, ObjectLit):
            for key, value in node.entries:
                self.type_of(key, always)
                self.type_of(value, always)
            return OBJECT
        if isinstance(node, Template):
            for part in node.parts:
                if not isinstance(part, str):
                    self.type_of(part, always)
            return STRING
        if isinstance(node, Call):
            return self.call(node, always)
        return None  # identifiers, $, #, member access: known only at run time

    def unary(self, node: Unary, always: bool) -> str | None:
        got = self.type_of(node.operand, always)
        if node.op == "not":
            if always:
                self.need(node, got, frozenset({BOOL}), "'not'")
            return BOOL
        if always:
            self.need(node, got, frozenset({NUMBER}), f"sign '{node.op}'")
        return NUMBER

    def binary(self, node: Binary, always: bool) -> str | None:
        op = node.op
        left = self.type_of(node.left, always)
        right = self.type_of(node.right, always and op not in _SHORT_CIRCUIT)
        if op in _SHORT_CIRCUIT:
            if op != "??" and always:
                self.need(node, left, frozenset({BOOL}), f"'{op}'")
            return left if left == right else None
        if op in ("==", "!="):
            return BOOL
        if not always:
            return BOOL if op in _ORDER or op in _MEMBERSHIP else None
        if op in _ORDER:
            for got in (left, right):
                self.need(node, got, frozenset({NUMBER}), f"comparison '{op}'")
            return BOOL
        if op in _MEMBERSHIP:
            self.need(node, right, _CONTAINERS, f"'{op}'")
            if right == INTERVAL:
                self.need(node, left, frozenset({NUMBER}), f"'{op}' an interval")
            return BOOL
        if op == "+":
            allowed = frozenset({NUMBER, STRING})
            self.need(node, left, allowed, "'+'")
            self.need(node, right, allowed, "'+'")
            if left is not None and right is not None and left != right:
                raise self.fail(node, "'+'", f"two {left}s", f"a {left} and a {right}")
            return left or right
        if op in _ARITHMETIC:
            for got in (left, right):
                self.need(node, got, frozenset({NUMBER}), f"'{op}'")
            return NUMBER
        return None

    def call(self, node: Call, always: bool) -> str | None:
        spec = FUNCTIONS.get(node.name)
        constant = True
        for index, arg in enumerate(node.args):
            body = spec is not None and spec.closure and index == 1
            self.type_of(arg, always and not body)
            constant = constant and isinstance(arg, Literal)
        if always and constant and spec is not None and not spec.closure and node.args:
            values = [arg.value for arg in node.args if isinstance(arg, Literal)]
            try:
                spec.impl(*values)
            except EvaluationError as exc:
                raise ExpressionTypeError(
                    f"{node.name}(): {exc.message}",
                    text=self.text,
                    offset=node.pos,
                    where=self.where,
                    expected="arguments it accepts",
                    got="literal arguments it rejects",
                ) from None
        return _RESULTS.get(node.name)


def check_types(tree: Node, text: str, where: str) -> None:
    """Raise :class:`ExpressionTypeError` for an operation that fails on every input."""
    _Checker(text, where).type_of(tree, True)
