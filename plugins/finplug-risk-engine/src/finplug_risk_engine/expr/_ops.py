"""Closure factories for operators: one specialised closure per shape.

Comparisons against constants, ``$`` in unary cells (no call to fetch it),
constant lists as frozensets, closed intervals as chained comparisons and
``+ - * /`` with an inline Decimal fast path; everything else falls back to
the general rules of :mod:`._values`.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from finplug_risk_engine.expr._ast import Binary, Ident, Literal, Node
from finplug_risk_engine.expr._errors import EvaluationError
from finplug_risk_engine.expr._values import (
    Interval,
    arithmetic,
    compare,
    contains,
    equals,
    type_name,
)

__all__ = [
    "ORDER",
    "Compiled",
    "Const",
    "Fn",
    "arith",
    "as_fn",
    "cell_shortcut",
    "dollar",
    "equality",
    "logic",
    "membership",
    "order",
]

#: A compiled closure: ``f(context, dollar=None, pointer=None) -> value``.
Fn = Callable[..., Any]

ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class Const:
    """A value known at compile time."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


#: What compiling a node gives: a closure, or a constant folded at compile time.
Compiled = Fn | Const


def as_fn(item: Compiled) -> Fn:
    """A closure for ``item``; constant lists and dicts are deep-copied per call."""
    if not isinstance(item, Const):
        return item
    value = item.value
    if isinstance(value, list | dict):

        def fresh(c: Any, d: Any = None, p: Any = None) -> Any:
            return copy.deepcopy(value)

        return fresh

    def const(c: Any, d: Any = None, p: Any = None) -> Any:
        return value

    return const


def dollar(c: Any, d: Any = None, p: Any = None) -> Any:
    """``$`` in a unary cell: the tested value (compiled closures special-case it)."""
    return d


def _dollar_literal(node: Node, ops: tuple[str, ...]) -> tuple[str, Any] | None:
    """``(op, constant)`` when ``node`` is ``$ op literal`` with ``op`` in ``ops``."""
    if (
        isinstance(node, Binary)
        and node.op in ops
        and isinstance(node.left, Ident)
        and node.left.name == "$"
        and isinstance(node.right, Literal)
        and type(node.right.value) in (str, Decimal)
    ):
        return node.op, node.right.value
    return None


def _alternatives(node: Node) -> list[Any] | None:
    """The constants of ``'DE', 'FR'`` (an ``or`` chain of ``$ == literal``)."""
    if isinstance(node, Binary) and node.op == "or":
        left, right = _alternatives(node.left), _alternatives(node.right)
        return None if left is None or right is None else left + right
    found = _dollar_literal(node, ("==",))
    return None if found is None else [found[1]]


def cell_shortcut(node: Binary) -> Fn | None:
    """One closure for the commonest cells: value lists and two-sided bounds."""
    values = _alternatives(node)
    if values is not None:
        fast = frozenset(values)

        def one_of(c: Any, d: Any = None, p: Any = None) -> bool:
            t = type(d)
            if t is str or t is Decimal:
                return d in fast
            return any(equals(d, v) for v in values)

        return one_of
    if node.op != "and":
        return None
    low = _dollar_literal(node.left, tuple(ORDER))
    high = _dollar_literal(node.right, tuple(ORDER))
    if low is None or high is None or type(low[1]) is not Decimal or type(high[1]) is not Decimal:
        return None
    (op1, k1), (op2, k2) = low, high
    cmp1, cmp2 = ORDER[op1], ORDER[op2]

    def bounded(c: Any, d: Any = None, p: Any = None) -> bool:
        if type(d) is Decimal:
            return cmp1(d, k1) and cmp2(d, k2)  # type: ignore[no-any-return]  # operator module
        return compare(op1, d, k1) and compare(op2, d, k2)

    return bounded


def logic(op: str, lf: Fn, rf: Fn) -> Fn:
    if op == "and":

        def both(c: Any, d: Any = None, p: Any = None) -> Any:
            v = lf(c, d, p)
            if v is True:
                return rf(c, d, p)
            if v is False:
                return False
            raise EvaluationError(f"'and' needs a boolean, got {type_name(v)}")

        return both

    def either(c: Any, d: Any = None, p: Any = None) -> Any:
        v = lf(c, d, p)
        if v is False:
            return rf(c, d, p)
        if v is True:
            return True
        raise EvaluationError(f"'or' needs a boolean, got {type_name(v)}")

    return either


def order(op: str, lf: Fn, right: Compiled) -> Fn:
    cmp = ORDER[op]
    if isinstance(right, Const) and type(right.value) is Decimal:
        k = right.value
        return _order_const(op, cmp, lf, k)
    rf = as_fn(right)
    if lf is dollar:

        def dollar_order(c: Any, d: Any = None, p: Any = None) -> bool:
            b = rf(c, d, p)
            if type(d) is Decimal and type(b) is Decimal:
                return cmp(d, b)  # type: ignore[no-any-return]  # operator module
            return compare(op, d, b)

        return dollar_order

    def order(c: Any, d: Any = None, p: Any = None) -> bool:
        a = lf(c, d, p)
        b = rf(c, d, p)
        if type(a) is Decimal and type(b) is Decimal:
            return cmp(a, b)  # type: ignore[no-any-return]  # operator module
        return compare(op, a, b)

    return order


def _order_const(op: str, cmp: Callable[[Any, Any], Any], lf: Fn, k: Decimal) -> Fn:
    if lf is dollar:
        return _dollar_order(op, cmp, k)
    if op == ">":

        def gt(c: Any, d: Any = None, p: Any = None) -> bool:
            a = lf(c, d, p)
            return a > k if type(a) is Decimal else compare(op, a, k)

        return gt
    if op == "<":

        def lt(c: Any, d: Any = None, p: Any = None) -> bool:
            a = lf(c, d, p)
            return a < k if type(a) is Decimal else compare(op, a, k)

        return lt

    def order_k(c: Any, d: Any = None, p: Any = None) -> bool:
        a = lf(c, d, p)
        if type(a) is Decimal:
            return cmp(a, k)  # type: ignore[no-any-return]  # operator module
        return compare(op, a, k)

    return order_k


def _dollar_order(op: str, cmp: Callable[[Any, Any], Any], k: Decimal) -> Fn:
    """``> 10`` in a cell: no call to fetch ``$``."""
    if op == ">":

        def gt(c: Any, d: Any = None, p: Any = None) -> bool:
            return d > k if type(d) is Decimal else compare(op, d, k)

        return gt
    if op == "<":

        def lt(c: Any, d: Any = None, p: Any = None) -> bool:
            return d < k if type(d) is Decimal else compare(op, d, k)

        return lt
    if op == ">=":

        def ge(c: Any, d: Any = None, p: Any = None) -> bool:
            return d >= k if type(d) is Decimal else compare(op, d, k)

        return ge

    def le(c: Any, d: Any = None, p: Any = None) -> bool:
        return d <= k if type(d) is Decimal else compare(op, d, k)

    return le


def equality(negate: bool, lf: Fn, right: Compiled) -> Fn:
    if isinstance(right, Const) and type(right.value) in (str, Decimal):
        k = right.value
        tk = type(k)
        if lf is dollar and not negate:

            def dollar_eq(c: Any, d: Any = None, p: Any = None) -> bool:
                return d == k if type(d) is tk else equals(d, k)

            return dollar_eq

        def eq_k(c: Any, d: Any = None, p: Any = None) -> bool:
            a = lf(c, d, p)
            return (a == k if type(a) is tk else equals(a, k)) is not negate

        return eq_k
    rf = as_fn(right)

    def eq(c: Any, d: Any = None, p: Any = None) -> bool:
        return equals(lf(c, d, p), rf(c, d, p)) is not negate

    return eq


def membership(negate: bool, lf: Fn, right: Compiled) -> Fn:
    if isinstance(right, Const):
        hay = right.value
        if isinstance(hay, list) and all(type(v) in (str, Decimal) for v in hay):
            fast = frozenset(hay)
            if lf is dollar and not negate:

                def dollar_in(c: Any, d: Any = None, p: Any = None) -> bool:
                    t = type(d)
                    if t is str or t is Decimal:
                        return d in fast
                    return contains(d, hay)

                return dollar_in

            def in_set(c: Any, d: Any = None, p: Any = None) -> bool:
                a = lf(c, d, p)
                t = type(a)
                if t is str or t is Decimal:
                    return (a in fast) is not negate
                return contains(a, hay) is not negate

            return in_set
        if isinstance(hay, Interval):
            return _in_interval(negate, lf, hay)
    rf = as_fn(right)

    def in_any(c: Any, d: Any = None, p: Any = None) -> bool:
        return contains(lf(c, d, p), rf(c, d, p)) is not negate

    return in_any


def _in_interval(negate: bool, lf: Fn, hay: Interval) -> Fn:
    lo, hi = hay.low, hay.high
    if hay.low_closed and hay.high_closed and lf is dollar and not negate:

        def dollar_in_closed(c: Any, d: Any = None, p: Any = None) -> bool:
            if type(d) is Decimal:
                return lo <= d <= hi
            return d in hay

        return dollar_in_closed
    if lf is dollar and not negate:
        # The other bounds on a table cell's own value: decision tables run these per row.
        if hay.low_closed:

            def dollar_in_right_open(c: Any, d: Any = None, p: Any = None) -> bool:
                if type(d) is Decimal:
                    return lo <= d < hi
                return d in hay

            return dollar_in_right_open
        if hay.high_closed:

            def dollar_in_left_open(c: Any, d: Any = None, p: Any = None) -> bool:
                if type(d) is Decimal:
                    return lo < d <= hi
                return d in hay

            return dollar_in_left_open

        def dollar_in_open(c: Any, d: Any = None, p: Any = None) -> bool:
            if type(d) is Decimal:
                return lo < d < hi
            return d in hay

        return dollar_in_open
    if hay.low_closed and hay.high_closed:

        def in_closed(c: Any, d: Any = None, p: Any = None) -> bool:
            a = lf(c, d, p)
            if type(a) is Decimal:
                return (lo <= a <= hi) is not negate
            return (a in hay) is not negate

        return in_closed

    def in_interval(c: Any, d: Any = None, p: Any = None) -> bool:
        return (lf(c, d, p) in hay) is not negate

    return in_interval


def arith(op: str, lf: Fn, rf: Fn) -> Fn:
    """``+ - * / %`` with an inline Decimal fast path; ``^`` always via number_op.

    The fast path uses Python's operators, i.e. the thread's decimal context,
    which by default is zen's: 28 significant digits, half-even.
    """
    if op == "+":

        def add(c: Any, d: Any = None, p: Any = None) -> Any:
            a = lf(c, d, p)
            b = rf(c, d, p)
            if type(a) is Decimal and type(b) is Decimal:
                return a + b
            return arithmetic(op, a, b)

        return add
    if op == "-":

        def sub(c: Any, d: Any = None, p: Any = None) -> Any:
            a = lf(c, d, p)
            b = rf(c, d, p)
            if type(a) is Decimal and type(b) is Decimal:
                return a - b
            return arithmetic(op, a, b)

        return sub
    if op == "*":

        def mul(c: Any, d: Any = None, p: Any = None) -> Any:
            a = lf(c, d, p)
            b = rf(c, d, p)
            if type(a) is Decimal and type(b) is Decimal:
                return a * b
            return arithmetic(op, a, b)

        return mul
    if op == "/":

        def div(c: Any, d: Any = None, p: Any = None) -> Any:
            a = lf(c, d, p)
            b = rf(c, d, p)
            if type(a) is Decimal and type(b) is Decimal:
                return a / b if b else None
            return arithmetic(op, a, b)

        return div

    def other(c: Any, d: Any = None, p: Any = None) -> Any:
        return arithmetic(op, lf(c, d, p), rf(c, d, p))

    return other
