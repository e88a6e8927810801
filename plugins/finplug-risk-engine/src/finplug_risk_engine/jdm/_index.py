"""Column indexes for first-hit decision tables: the rows a column's value lets through, looked up.

A column qualifies when each of its cells only compares the column's own
value (``$``) with constants: numbers (``> 10``, ``[100..500)``, ``5``,
``$ >= 1 and $ < 9``) or, for a string column, equality with strings
(``'DE'``, ``'DE', 'FR'``, ``not('KP')``). Its constants cut the values into
points and the open regions between them; every such cell is true or false
on a whole region. So the index evaluates each row's *compiled* cell once
per region, at a representative value, and keeps, per region, the bit set
of rows that pass; at evaluation a value finds its region by bisection (a
number) or a dictionary (a string) and the table only visits the rows every
indexed column lets through, in order. The truth of each cell still comes
from the compiled closure, never from a second reading of the text.

A value of another type (``null``, a string in a number column, a failed
field) is not looked up: the table then scans every row as without index,
so errors and ``null`` behave exactly as they do there.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from itertools import pairwise
from typing import Any, Final

__all__ = ["ColumnIndex", "column_index"]

Test = Callable[[Mapping[str, Any], Any], bool]

_ORDER_OPS: Final = frozenset({"<", "<=", ">", ">="})
_EQUALITY_OPS: Final = frozenset({"==", "!=", "in", "not in", "and", "or"})


class ColumnIndex:
    """The rows one column lets through, for a number (bisection) or a string (dictionary)."""

    __slots__ = ("_at", "_between", "_kind", "_other", "_points")

    def __init__(
        self,
        kind: type,
        points: list[Any],
        at: list[int],
        between: list[int],
        other: int,
    ) -> None:
        self._kind = kind
        self._points = points
        self._at = at
        self._between = between
        self._other = other

    def lookup(self, value: Any) -> int | None:
        """The bit set of rows that pass for ``value``; ``None``: not indexable, scan."""
        points = self._points
        if self._kind is str:
            if type(value) is not str:
                return None
            i = bisect_left(points, value)
            found = i < len(points) and points[i] == value
            return self._at[i] if found else self._other
        if type(value) is not Decimal or not value.is_finite():
            return None  # null, strings, NaN, infinities: the scan answers as the cells do
        i = bisect_left(points, value)
        if i < len(points) and points[i] == value:
            return self._at[i]
        return self._between[i]


def _constants(node: Any, found: list[Any], ops: set[str]) -> bool:
    """Whether ``node`` reads only ``$`` and constants; collects the constants and operators."""
    from finplug_risk_engine.expr._ast import (
        ArrayLit,
        Binary,
        Call,
        Ident,
        IntervalLit,
        Literal,
        Unary,
    )

    if isinstance(node, Ident):
        return node.name == "$"
    if isinstance(node, Literal):
        found.append(node.value)
        return True
    if isinstance(node, IntervalLit):
        ops.add("<")
        return _constants(node.low, found, ops) and _constants(node.high, found, ops)
    if isinstance(node, ArrayLit):
        return all(isinstance(i, Literal) and _constants(i, found, ops) for i in node.items)
    if isinstance(node, Binary):
        if node.op not in _ORDER_OPS | _EQUALITY_OPS:
            return False
        ops.add(node.op)
        return _constants(node.left, found, ops) and _constants(node.right, found, ops)
    if isinstance(node, Unary):
        return node.op in ("not", "!") and _constants(node.operand, found, ops)
    if isinstance(node, Call):
        return node.name == "bool" and len(node.args) == 1 and _constants(node.args[0], found, ops)
    return False


def _masks(cells: Sequence[tuple[int, Test]], n_rows: int, probe: Any) -> int:
    """The rows that pass for ``probe``: those without a cell, and those whose cell does."""
    mask = (1 << n_rows) - 1
    for row, test in cells:
        if not test({}, probe):
            mask &= ~(1 << row)
    return mask


def column_index(cells: Sequence[tuple[int, str, Test]], n_rows: int) -> ColumnIndex | None:
    """An index of one column from its non-empty cells (row, text, compiled test), or ``None``."""
    from finplug_risk_engine.expr import ExpressionError, compile_unary

    found: list[Any] = []
    ops: set[str] = set()
    for _, text, _ in cells:
        try:
            tree = compile_unary(text).tree
        except ExpressionError:
            return None
        if tree is None or not _constants(tree, found, ops):
            return None
    if not found:
        return None
    tests = [(row, test) for row, _, test in cells]
    try:
        if all(type(v) is Decimal for v in found):
            points = sorted(set(found))
            reps = [points[0] - 1]
            for low, high in pairwise(points):
                mid = (low + high) / 2
                if not low < mid < high:
                    return None  # too close to split exactly: no index
                reps.append(mid)
            reps.append(points[-1] + 1)
            at = [_masks(tests, n_rows, p) for p in points]
            between = [_masks(tests, n_rows, r) for r in reps]
            return ColumnIndex(Decimal, points, at, between, 0)
        if all(type(v) is str for v in found) and not ops & _ORDER_OPS:
            points = sorted(set(found))
            other = "\x00" * (max(len(p) for p in points) + 1)  # equal to none of them
            at = [_masks(tests, n_rows, p) for p in points]
            return ColumnIndex(str, points, at, [], _masks(tests, n_rows, other))
    except Exception:  # a probe the cell refuses: leave the column to the scan
        return None
    return None
