"""The ZEN expression language (GoRules JDM), compiled into Python closures.

The contract the rest of the engine builds on (the JDM graph engine in
:mod:`finplug_risk_engine.jdm`, later the rules):

- ``compile_expression(text, *, where="") -> Expression``: a *standard*
  expression (``amount * 2 > limit and customer.country in ['DE', 'FR']``);
  ``Expression.evaluate(context: Mapping[str, Any]) -> Any``.
- ``compile_unary(text, *, where="") -> UnaryTest``: a decision-table input
  cell (``> 10``, ``[1..10]``, ``'DE', 'FR'``, ``$ > 5 and $ < 9``, empty:
  always true); ``UnaryTest.test(context: Mapping[str, Any], value: Any) ->
  bool``, ``$`` being ``value``.
- ``ExpressionError`` (a :class:`finplug.FinplugError`): raised at compile
  time, never at evaluation, for text that does not parse or names an unknown
  function; it carries ``where`` (the caller's location, e.g. ``node 'Fees'
  row 'r1' column 'Amount'``), the expression text and the character offset,
  and says what was expected there.

Numbers are :class:`decimal.Decimal` (exact, as zen's are decimal), never
float; strings, booleans, ``None``, lists and dicts as JSON gives them.
Parsing makes an AST of this package's own; compiling turns it into nested
closures once; nothing is ever passed to ``eval``.

Evaluation raises :class:`EvaluationError` (also a ``FinplugError``, not an
``ExpressionError``) where zen-engine fails at run time too: ``1 + 'a'``,
``'a' < 1``, ``not 1``, ``> 10`` tested against a string. Arithmetic runs in
the thread's decimal context, which by default is zen's (28 significant
digits, half-even); a caller that changes it changes the results.

``date('now')`` (and the other date functions given ``'now'``) reads the
instant pinned with ``pinned_clock(moment)``, else the wall clock; the risk
engine pins each decision's own time, so a replay reads the time it replays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from finplug_risk_engine.expr._ast import Binary, Conditional, IntervalLit, Node
from finplug_risk_engine.expr._compiler import compile_node
from finplug_risk_engine.expr._dates import current_time, pinned_clock
from finplug_risk_engine.expr._errors import EvaluationError, ExpressionError
from finplug_risk_engine.expr._parser import parse_standard, parse_unary
from finplug_risk_engine.expr._types import ExpressionTypeError, check_types
from finplug_risk_engine.expr._values import Interval

__all__ = [
    "EvaluationError",
    "Expression",
    "ExpressionError",
    "ExpressionTypeError",
    "UnaryTest",
    "compile_expression",
    "compile_unary",
    "current_time",
    "pinned_clock",
]


def _may_yield_interval(node: Node) -> bool:
    if isinstance(node, IntervalLit):
        return True
    if isinstance(node, Conditional):
        return _may_yield_interval(node.then) or _may_yield_interval(node.otherwise)
    if isinstance(node, Binary) and node.op in ("??", "and", "or"):
        return _may_yield_interval(node.left) or _may_yield_interval(node.right)
    return False


class Expression:
    """A compiled standard expression.

    ``evaluate(context)`` returns the value (``Decimal``, ``str``, ``bool``,
    ``None``, ``list`` or ``dict``; an interval on its own evaluates to its
    text, as in zen). It raises :class:`EvaluationError` where zen-engine
    fails too (``1 + 'a'``, ``'a' < 1``, ``not 1``). ``text``, ``where`` and
    ``tree`` (the parsed AST) are kept for messages and tooling.
    """

    __slots__ = ("evaluate", "text", "tree", "where")

    evaluate: Callable[[Mapping[str, Any]], Any]

    def __init__(self, text: str, where: str, tree: Node) -> None:
        self.text = text
        self.where = where
        self.tree = tree
        fn = compile_node(tree, unary=False)
        if _may_yield_interval(tree):

            def evaluate(context: Mapping[str, Any]) -> Any:
                value = fn(context)
                return str(value) if isinstance(value, Interval) else value

            self.evaluate = evaluate
        else:
            self.evaluate = fn

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def _always(context: Mapping[str, Any], value: Any) -> bool:
    return True


class UnaryTest:
    """A compiled decision-table input cell.

    ``test(context, value)`` returns whether ``value`` (the column's value,
    ``$``) passes; an empty cell always passes. Like zen, ``test`` raises
    :class:`EvaluationError` for values the cell cannot compare (``> 10``
    against a string). ``tree`` is ``None`` for an empty cell.
    """

    __slots__ = ("test", "text", "tree", "where")

    test: Callable[[Mapping[str, Any], Any], bool]

    def __init__(self, text: str, where: str, tree: Node | None) -> None:
        self.text = text
        self.where = where
        self.tree = tree
        self.test = _always if tree is None else compile_node(tree, unary=True)

    def __repr__(self) -> str:
        return f"UnaryTest({self.text!r})"


def _too_deep(text: str, where: str) -> ExpressionError:
    return ExpressionError("expression nested too deeply", text=text, offset=0, where=where)


def compile_expression(text: str, *, where: str = "") -> Expression:
    """Parse and compile a standard expression; :class:`ExpressionError` if it is invalid."""
    tree = parse_standard(text, where)
    try:
        check_types(tree, text, where)
        return Expression(text, where, tree)
    except RecursionError:
        raise _too_deep(text, where) from None


def compile_unary(text: str, *, where: str = "") -> UnaryTest:
    """Parse and compile a unary-test cell; :class:`ExpressionError` if it is invalid."""
    tree = parse_unary(text, where)
    try:
        if tree is not None:
            check_types(tree, text, where)
        return UnaryTest(text, where, tree)
    except RecursionError:
        raise _too_deep(text, where) from None
