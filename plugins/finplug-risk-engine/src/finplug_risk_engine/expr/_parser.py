"""Parse ZEN expression text into the AST of :mod:`._ast` (precedence climbing).

Precedences follow zen-engine: ``or`` 10, ``and`` 15, comparisons and
``in``/``not in`` 20, ``+ -`` 30, ``* / %`` 60, ``^`` 70 (right
associative), ``??`` 80; prefix ``not``/``!`` binds at 50 and ``-``/``+`` at
200; the ternary ``? :`` sits below everything. Unary mode (decision-table
cells) joins alternatives with ``,``/``or``/``and`` left to right and supplies
``$`` where a cell starts with a comparison or is a bare value.
"""

from __future__ import annotations

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
from finplug_risk_engine.expr._errors import ExpressionError
from finplug_risk_engine.expr._functions import FUNCTIONS
from finplug_risk_engine.expr._lexer import Token, tokenize

__all__ = ["parse_standard", "parse_unary"]

_BINARY: dict[str, tuple[int, bool]] = {
    "or": (10, False),
    "and": (15, False),
    "==": (20, False),
    "!=": (20, False),
    "<": (20, False),
    ">": (20, False),
    "<=": (20, False),
    ">=": (20, False),
    "in": (20, False),
    "not in": (20, False),
    "+": (30, False),
    "-": (30, False),
    "*": (60, False),
    "/": (60, False),
    "%": (60, False),
    "^": (70, True),
    "??": (80, False),
}
_COMPARISONS = frozenset({"==", "!=", "<", ">", "<=", ">=", "in", "not in"})
_KEYWORDS = frozenset({"and", "or", "not", "in"})
_NOT_PREC = 50
_SIGN_PREC = 200


def _describe(tok: Token) -> str:
    if tok.kind == "end":
        return "end of text"
    if tok.kind == "str":
        return f"string '{tok.value}'"
    if tok.kind == "tpl":
        return "template string"
    return f"'{tok.value}'"


class _Parser:
    """Recursive-descent state over one token list."""

    def __init__(self, text: str, tokens: list[Token], where: str) -> None:
        self.text = text
        self.tokens = tokens
        self.where = where
        self.i = 0
        self.closure_depth = 0
        self.stop_at_join = False

    # ------------------------------------------------------------ helpers

    @property
    def cur(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def is_op(self, value: str) -> bool:
        tok = self.tokens[self.i]
        return tok.kind == "op" and tok.value == value

    def fail(self, expected: str, tok: Token | None = None) -> ExpressionError:
        tok = tok or self.cur
        return ExpressionError(
            f"expected {expected}",
            text=self.text,
            offset=tok.pos,
            where=self.where,
            found=_describe(tok),
        )

    def expect_op(self, value: str) -> Token:
        if not self.is_op(value):
            raise self.fail(f"'{value}'")
        return self.advance()

    def binary_op(self) -> str | None:
        """The binary operator at the cursor, if any (``not in`` is one)."""
        tok = self.cur
        if tok.kind == "op":
            value = str(tok.value)
            return value if value in _BINARY else None
        if tok.kind == "name":
            if tok.value in ("and", "or", "in"):
                return str(tok.value)
            nxt = self.tokens[self.i + 1]
            if tok.value == "not" and nxt.kind == "name" and nxt.value == "in":
                return "not in"
        return None

    def nested(self) -> Node:
        """A full expression inside brackets: joins are operators again."""
        saved = self.stop_at_join
        self.stop_at_join = False
        try:
            return self.expression(0)
        finally:
            self.stop_at_join = saved

    # ------------------------------------------------------------ grammar

    def expression(self, min_prec: int) -> Node:
        left = self.prefix()
        while True:
            op = self.binary_op()
            if op is None:
                break
            if self.stop_at_join and op in ("and", "or"):
                break
            prec, right_assoc = _BINARY[op]
            if prec < min_prec:
                break
            tok = self.advance()
            if op == "not in":
                self.advance()
            right = self.expression(prec if right_assoc else prec + 1)
            left = Binary(op, left, right, tok.pos)
        if min_prec == 0 and self.is_op("?"):
            tok = self.advance()
            then = self.expression(0)
            self.expect_op(":")
            otherwise = self.expression(0)
            left = Conditional(left, then, otherwise, tok.pos)
        return left

    def prefix(self) -> Node:
        tok = self.cur
        if (tok.kind == "op" and tok.value == "!") or (tok.kind == "name" and tok.value == "not"):
            self.advance()
            return Unary("not", self.expression(_NOT_PREC), tok.pos)
        if tok.kind == "op" and tok.value in ("-", "+"):
            self.advance()
            return Unary(str(tok.value), self.expression(_SIGN_PREC), tok.pos)
        return self.primary()

    def primary(self) -> Node:
        tok = self.cur
        if tok.kind == "num" or tok.kind == "str":
            self.advance()
            return Literal(tok.value, tok.pos)  # type: ignore[arg-type]  # lexer values
        if tok.kind == "tpl":
            self.advance()
            return self.template(tok)
        if tok.kind == "name":
            return self.name()
        if tok.kind == "op":
            if tok.value == "$":
                self.advance()
                return self.postfix(Ident("$", tok.pos))
            if tok.value == "#":
                if self.closure_depth == 0:
                    raise ExpressionError(
                        "'#' is only allowed in a closure argument (all, map, filter...)",
                        text=self.text,
                        offset=tok.pos,
                        where=self.where,
                    )
                self.advance()
                return self.postfix(Pointer(tok.pos))
            if tok.value == "[":
                return self.bracket()
            if tok.value == "(":
                return self.paren()
            if tok.value == "{":
                return self.object()
        raise self.fail("a value")

    def name(self) -> Node:
        tok = self.advance()
        name = str(tok.value)
        if name == "true" or name == "false":
            return Literal(name == "true", tok.pos)
        if name == "null":
            return Literal(None, tok.pos)
        if name in _KEYWORDS:
            raise self.fail("a value", tok)
        if self.is_op("("):
            return self.postfix(self.call(tok))
        return self.postfix(Ident(name, tok.pos))

    def call(self, tok: Token) -> Node:
        name = str(tok.value)
        spec = FUNCTIONS.get(name)
        if spec is None:
            raise ExpressionError(
                f"unknown or unsupported function '{name}'",
                text=self.text,
                offset=tok.pos,
                where=self.where,
            )
        self.advance()
        args: list[Node] = []
        saved = self.stop_at_join
        self.stop_at_join = False
        while not self.is_op(")"):
            if args:
                self.expect_op(",")
                if self.is_op(")"):
                    break
            closure = spec.closure and len(args) == 1
            self.closure_depth += closure
            args.append(self.expression(0))
            self.closure_depth -= closure
        self.stop_at_join = saved
        self.advance()
        if not spec.min_args <= len(args) <= spec.max_args:
            counts = (
                str(spec.min_args)
                if spec.min_args == spec.max_args
                else f"{spec.min_args} to {spec.max_args}"
            )
            raise ExpressionError(
                f"function '{name}' takes {counts} argument(s), got {len(args)}",
                text=self.text,
                offset=tok.pos,
                where=self.where,
            )
        return Call(name, tuple(args), tok.pos)

    def postfix(self, node: Node) -> Node:
        while True:
            if self.is_op("."):
                self.advance()
                tok = self.cur
                if tok.kind != "name":
                    raise self.fail("a property name after '.'")
                self.advance()
                node = Member(node, Literal(str(tok.value), tok.pos), tok.pos)
            elif self.is_op("["):
                tok = self.advance()
                key = self.nested()
                self.expect_op("]")
                node = Member(node, key, tok.pos)
            else:
                return node

    def interval_end(self, start: Token, low: Node, low_closed: bool) -> Node:
        self.advance()  # '..'
        high = self.nested()
        if self.is_op("]"):
            high_closed = True
        elif self.is_op(")"):
            high_closed = False
        else:
            raise self.fail("']' or ')' closing the interval")
        self.advance()
        return IntervalLit(low, high, low_closed, high_closed, start.pos)

    def bracket(self) -> Node:
        start = self.advance()
        if self.is_op("]"):
            self.advance()
            return ArrayLit((), start.pos)
        first = self.nested()
        if self.is_op(".."):
            return self.interval_end(start, first, low_closed=True)
        items = [first]
        while self.is_op(","):
            self.advance()
            if self.is_op("]"):
                break
            items.append(self.nested())
        self.expect_op("]")
        return ArrayLit(tuple(items), start.pos)

    def paren(self) -> Node:
        start = self.advance()
        inner = self.nested()
        if self.is_op(".."):
            return self.interval_end(start, inner, low_closed=False)
        self.expect_op(")")
        return self.postfix(inner)

    def object(self) -> Node:
        start = self.advance()
        entries: list[tuple[Node, Node]] = []
        while not self.is_op("}"):
            if entries:
                self.expect_op(",")
                if self.is_op("}"):
                    break
            tok = self.cur
            if tok.kind not in ("name", "str"):
                raise self.fail("a property name")
            self.advance()
            self.expect_op(":")
            entries.append((Literal(str(tok.value), tok.pos), self.nested()))
        self.advance()
        return ObjectLit(tuple(entries), start.pos)

    def template(self, tok: Token) -> Node:
        parts: list[str | Node] = []
        for part in tok.value:  # type: ignore[attr-defined]  # tpl tokens hold a tuple
            if isinstance(part, str):
                parts.append(part)
                continue
            base, source = part
            inner = [Token(t.kind, t.value, t.pos + base) for t in tokenize(source, self.where)]
            sub = _Parser(self.text, inner, self.where)
            sub.closure_depth = self.closure_depth
            parts.append(sub.whole())
        return Template(tuple(parts), tok.pos)

    def whole(self) -> Node:
        node = self.expression(0)
        if self.cur.kind != "end":
            raise self.fail("an operator or the end of the expression")
        return node

    # ------------------------------------------------------------ unary mode

    def unary_cell(self) -> Node:
        self.stop_at_join = True
        left = self.unary_pair()
        while self.cur.kind != "end":
            tok = self.cur
            if tok.kind == "op" and tok.value == ",":
                op = "or"
            elif tok.kind == "name" and tok.value in ("and", "or"):
                op = str(tok.value)
            else:
                raise self.fail("',', 'and', 'or' or the end of the cell")
            self.advance()
            left = Binary(op, left, self.unary_pair(), tok.pos)
        return left

    def unary_pair(self) -> Node:
        tok = self.cur
        op = self.binary_op()
        if op in _COMPARISONS:
            left: Node = Ident("$", tok.pos)
        else:
            left = self.expression(0)
            op = self.binary_op()
            if op not in _COMPARISONS:
                return _against_reference(left)
        self.advance()
        if op == "not in":
            self.advance()
        return Binary(str(op), left, self.expression(0), tok.pos)


def _behaviour(node: Node) -> str | None:
    """How a bare unary cell meets ``$``: ``'=='``, ``'in'``, or ``None`` (as boolean)."""
    if isinstance(node, ArrayLit | IntervalLit):
        return "in"
    if isinstance(node, Pointer):
        return None
    if isinstance(node, Unary):
        return _behaviour(node.operand)
    if isinstance(node, Conditional):
        a, b = _behaviour(node.then), _behaviour(node.otherwise)
        return a if a == b else "=="
    if isinstance(node, Binary):
        if node.op in ("+", "-", "*", "/", "%", "^"):
            a, b = _behaviour(node.left), _behaviour(node.right)
            return a if a == b else "=="
        return None
    if isinstance(node, Call):
        return FUNCTIONS[node.name].unary
    return "=="


def _against_reference(node: Node) -> Node:
    behaviour = _behaviour(node)
    root = Ident("$", 0)
    if behaviour is None:
        return Call("bool", (node,), 0)
    return Binary(behaviour, root, node, 0)


def _too_deep(text: str, where: str) -> ExpressionError:
    return ExpressionError("expression nested too deeply", text=text, offset=0, where=where)


def parse_standard(text: str, where: str = "") -> Node:
    """Parse a standard expression; raises :class:`ExpressionError`."""
    try:
        return _Parser(text, tokenize(text, where), where).whole()
    except RecursionError:
        raise _too_deep(text, where) from None


def parse_unary(text: str, where: str = "") -> Node | None:
    """Parse a unary-test cell; ``None`` for an empty cell (always true)."""
    tokens = tokenize(text, where)
    if tokens[0].kind == "end":
        return None
    try:
        return _Parser(text, tokens, where).unary_cell()
    except RecursionError:
        raise _too_deep(text, where) from None
