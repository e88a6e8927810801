"""The syntax tree of a ZEN expression: frozen dataclasses, one per construct.

Every node carries ``pos``, the character offset in the source text where the
construct starts, so errors found after parsing (an unknown function, a wrong
number of arguments) can still be located.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "ArrayLit",
    "Binary",
    "Call",
    "Conditional",
    "Ident",
    "IntervalLit",
    "Literal",
    "Member",
    "Node",
    "ObjectLit",
    "Pointer",
    "Template",
    "Unary",
]

#: A literal's value: what ``'a'``, ``1.5``, ``true`` or ``null`` denote.
LiteralValue = Decimal | str | bool | None


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant: number, string, boolean or ``null``."""

    value: LiteralValue
    pos: int


@dataclass(frozen=True, slots=True)
class Ident:
    """A name read from the context; ``$`` is the unary test's own value."""

    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Pointer:
    """``#``: the current element inside a closure argument (``map(xs, # * 2)``)."""

    pos: int


@dataclass(frozen=True, slots=True)
class Member:
    """``obj.key`` or ``obj[key]``."""

    obj: Node
    key: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Unary:
    """A prefix operator: ``not``/``!``, ``-`` or ``+``."""

    op: str
    operand: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Binary:
    """An infix operator (arithmetic, comparison, ``in``, ``and``/``or``, ``??``)."""

    op: str
    left: Node
    right: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Conditional:
    """``cond ? then : otherwise``."""

    cond: Node
    then: Node
    otherwise: Node
    pos: int


@dataclass(frozen=True, slots=True)
class IntervalLit:
    """``[lo..hi]``, ``(lo..hi)`` and the half-open mixes."""

    low: Node
    high: Node
    low_closed: bool
    high_closed: bool
    pos: int


@dataclass(frozen=True, slots=True)
class ArrayLit:
    """``[a, b, c]``."""

    items: tuple[Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class ObjectLit:
    """``{key: value, 'other key': value}``."""

    entries: tuple[tuple[Node, Node], ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Template:
    """A backtick string with ``${expr}`` parts; ``parts`` mixes text and nodes."""

    parts: tuple[str | Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Call:
    """A built-in function call, ``name(args...)``."""

    name: str
    args: tuple[Node, ...]
    pos: int


#: Any node of the tree.
Node = (
    Literal
    | Ident
    | Pointer
    | Member
    | Unary
    | Binary
    | Conditional
    | IntervalLit
    | ArrayLit
    | ObjectLit
    | Template
    | Call
)
