"""Compile an AST into nested Python closures, once.

Every closure has the signature ``f(c, d=None, p=None)``: ``c`` the context
mapping, ``d`` the unary test's ``$`` value, ``p`` the ``#`` element inside a
closure argument. Constant sub-trees are folded at compile time (unless
folding would fail: such errors stay where zen raises them, at evaluation);
member paths with literal keys are pre-resolved into one loop; comparisons
against constants and ``$`` get specialised closures with a Decimal fast path.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from finplug_risk_engine.expr._ast import (
    ArrayLit,
    Binary,
    Call,
    Conditional,
    Ident,
    IntervalLit,
    Literal,
    Member,
    Node,
    ObjectLit,
    Pointer,
    Template,
    Unary,
)
from finplug_risk_engine.expr._dates import DATE_FUNCTIONS, NOW
from finplug_risk_engine.expr._errors import EvaluationError
from finplug_risk_engine.expr._functions import FUNCTIONS
from finplug_risk_engine.expr._ops import (
    ORDER,
    Compiled,
    Const,
    Fn,
    arith,
    as_fn,
    cell_shortcut,
    dollar,
    equality,
    logic,
    membership,
    order,
)
from finplug_risk_engine.expr._values import Interval, as_number, to_text, type_name

__all__ = ["Compiler", "compile_node", "member"]


def _fold(fn: Fn, *parts: Compiled) -> Compiled:
    """``fn`` evaluated now when every part is constant and nothing fails."""
    if all(isinstance(part, Const) for part in parts):
        try:
            return Const(fn({}))
        except EvaluationError:
            return fn
    return fn


def member(obj: Any, key: Any) -> Any:
    """``obj[key]`` with zen's rules: missing keys and out-of-range give null."""
    if isinstance(obj, Mapping):
        return obj.get(key) if type(key) is str else None
    if isinstance(obj, list | tuple):
        if isinstance(key, bool) or not isinstance(key, Decimal | int | float):
            return None
        index = int(key)
        if index < 0:
            raise EvaluationError(f"array index {key} is negative")
        return obj[index] if index < len(obj) else None
    return None


class Compiler:
    """Turns nodes into closures; ``unary`` makes ``$`` the tested value."""

    def __init__(self, unary: bool) -> None:
        self.unary = unary

    def fn(self, node: Node) -> Fn:
        """The node as a closure (constants wrapped)."""
        return as_fn(self.compile(node))

    def compile(self, node: Node) -> Compiled:
        """The node as a closure or a folded constant."""
        if isinstance(node, Literal):
            return Const(node.value)
        if isinstance(node, Ident):
            return self.ident(node)
        if isinstance(node, Pointer):
            return lambda c, d=None, p=None: p
        if isinstance(node, Member):
            return self.member(node)
        if isinstance(node, Unary):
            return self.unary_op(node)
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, Conditional):
            return self.conditional(node)
        if isinstance(node, IntervalLit):
            return self.interval(node)
        if isinstance(node, ArrayLit):
            items = [self.compile(item) for item in node.items]
            fns = [as_fn(item) for item in items]
            return _fold(lambda c, d=None, p=None: [f(c, d, p) for f in fns], *items)
        if isinstance(node, ObjectLit):
            return self.object(node)
        if isinstance(node, Template):
            return self.template(node)
        return self.call(node)

    def ident(self, node: Ident) -> Compiled:
        if node.name == "$" and self.unary:
            return dollar
        name = node.name
        return lambda c, d=None, p=None: c.get(name)

    def member(self, node: Member) -> Compiled:
        keys: list[str] = []
        base: Node = node
        while isinstance(base, Member) and isinstance(base.key, Literal):
            if type(base.key.value) is not str:
                break
            keys.append(base.key.value)
            base = base.obj
        if isinstance(base, Ident) and not (base.name == "$" and self.unary) and keys:
            return _path(base.name, tuple(reversed(keys)))
        obj = self.compile(node.obj)
        key = self.compile(node.key)
        of, kf = as_fn(obj), as_fn(key)
        return _fold(lambda c, d=None, p=None: member(of(c, d, p), kf(c, d, p)), obj, key)

    def unary_op(self, node: Unary) -> Compiled:
        operand = self.compile(node.operand)
        f = as_fn(operand)
        if node.op == "+":
            return operand
        if node.op == "-":

            def negate(c: Any, d: Any = None, p: Any = None) -> Any:
                v = f(c, d, p)
                if type(v) is Decimal:
                    return -v
                return -as_number(v, "unary -")

            return _fold(negate, operand)

        def logical_not(c: Any, d: Any = None, p: Any = None) -> bool:
            v = f(c, d, p)
            if v is True:
                return False
            if v is False:
                return True
            raise EvaluationError(f"'not' needs a boolean, got {type_name(v)}")

        return _fold(logical_not, operand)

    def binary(self, node: Binary) -> Compiled:
        op = node.op
        if self.unary and op in ("or", "and"):
            shortcut = cell_shortcut(node)
            if shortcut is not None:
                return shortcut
        left = self.compile(node.left)
        right = self.compile(node.right)
        lf, rf = as_fn(left), as_fn(right)
        if op == "and" or op == "or":
            fn = logic(op, lf, rf)
        elif op == "??":

            def coalesce(c: Any, d: Any = None, p: Any = None) -> Any:
                v = lf(c, d, p)
                return rf(c, d, p) if v is None else v

            fn = coalesce
        elif op in ORDER:
            fn = order(op, lf, right)
        elif op == "==" or op == "!=":
            fn = equality(op == "!=", lf, right)
        elif op == "in" or op == "not in":
            fn = membership(op == "not in", lf, right)
        else:
            fn = arith(op, lf, rf)
        return _fold(fn, left, right)

    def conditional(self, node: Conditional) -> Compiled:
        cond = self.compile(node.cond)
        then = self.compile(node.then)
        other = self.compile(node.otherwise)
        cf, tf, of = as_fn(cond), as_fn(then), as_fn(other)

        def choose(c: Any, d: Any = None, p: Any = None) -> Any:
            v = cf(c, d, p)
            if v is True:
                return tf(c, d, p)
            if v is False:
                return of(c, d, p)
            raise EvaluationError(f"'?' needs a boolean condition, got {type_name(v)}")

        return _fold(choose, cond, then, other)

    def interval(self, node: IntervalLit) -> Compiled:
        low = self.compile(node.low)
        high = self.compile(node.high)
        lo, hi = as_fn(low), as_fn(high)
        lc, hc = node.low_closed, node.high_closed

        def make(c: Any, d: Any = None, p: Any = None) -> Interval:
            return Interval(
                as_number(lo(c, d, p), "interval"), as_number(hi(c, d, p), "interval"), lc, hc
            )

        return _fold(make, low, high)

    def object(self, node: ObjectLit) -> Compiled:
        parts = [(str(k.value), self.compile(v)) for k, v in node.entries if isinstance(k, Literal)]
        fns = [(k, as_fn(v)) for k, v in parts]
        return _fold(
            lambda c, d=None, p=None: {k: f(c, d, p) for k, f in fns}, *(v for _, v in parts)
        )

    def template(self, node: Template) -> Compiled:
        parts = [part if isinstance(part, str) else self.compile(part) for part in node.parts]
        fns: list[str | Fn] = [part if isinstance(part, str) else as_fn(part) for part in parts]

        def render(c: Any, d: Any = None, p: Any = None) -> str:
            return "".join(f if isinstance(f, str) else to_text(f(c, d, p)) for f in fns)

        return _fold(render, *(part for part in parts if not isinstance(part, str)))

    def call(self, node: Call) -> Compiled:
        impl = FUNCTIONS[node.name].impl
        if FUNCTIONS[node.name].closure:
            items = self.fn(node.args[0])
            body = self.fn(node.args[1])

            def run_closure(c: Any, d: Any = None, p: Any = None) -> Any:
                return impl(items(c, d, p), lambda x: body(c, d, x))

            return run_closure
        args = [self.compile(arg) for arg in node.args]
        fns = [as_fn(arg) for arg in args]
        if len(fns) == 1:
            (a,) = fns
            single: Fn = lambda c, d=None, p=None: impl(a(c, d, p))  # noqa: E731
            return single if _reads_clock(node) else _fold(single, *args)
        many: Fn = lambda c, d=None, p=None: impl(*[f(c, d, p) for f in fns])  # noqa: E731
        return many if _reads_clock(node) else _fold(many, *args)


def _reads_clock(node: Call) -> bool:
    """``date('now')``, ``time('now')``...: the value changes with the decision's instant."""
    return node.name in DATE_FUNCTIONS and any(
        isinstance(arg, Literal) and arg.value == NOW for arg in node.args
    )


def _path(name: str, keys: tuple[str, ...]) -> Fn:
    """``name.k1.k2...`` with literal keys: one closure, dicts walked inline."""
    if len(keys) == 1:
        (k1,) = keys

        def path1(c: Any, d: Any = None, p: Any = None) -> Any:
            v = c.get(name)
            if type(v) is dict:
                return v.get(k1)
            return member(v, k1)

        return path1

    def path(c: Any, d: Any = None, p: Any = None) -> Any:
        v = c.get(name)
        for k in keys:
            if type(v) is dict:
                v = v.get(k)
            elif v is None:
                return None
            else:
                v = member(v, k)
        return v

    return path


def compile_node(node: Node, *, unary: bool) -> Fn:
    """Compile ``node``; in unary mode ``$`` reads the tested value."""
    return as_fn(Compiler(unary).compile(node))
