"""Turn ZEN expression text into tokens.

Token kinds: ``num`` (value a :class:`~decimal.Decimal`), ``str`` (value the
text between the quotes; zen has no escapes), ``tpl`` (a backtick template,
value a tuple of text parts and ``(offset, source)`` pairs for ``${...}``),
``name`` (identifiers and the keywords ``and or not in true false null``),
``op`` (operators and punctuation, value the operator text) and ``end``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from finplug_risk_engine.expr._errors import ExpressionError

__all__ = ["Token", "tokenize"]

# Longest operators first, so ``>=`` wins over ``>`` and ``..`` over ``.``.
_OPERATORS = (
    "??",
    "..",
    "==",
    "!=",
    "<=",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "<",
    ">",
    "!",
    "?",
    ":",
    ",",
    ".",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "#",
    "$",
)

TemplatePart = str | tuple[int, str]


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its value and its offset in the text."""

    kind: str
    value: object
    pos: int


def _is_name_start(ch: str) -> bool:
    return ch.isalpha() or ch == "_"


def _is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def tokenize(text: str, where: str = "") -> list[Token]:
    """Split ``text`` into tokens, ending with an ``end`` token.

    Raises :class:`ExpressionError` for an unterminated string or a character
    that starts no token.
    """
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch.isdigit():
            i = _number(text, i, tokens)
        elif ch in "'\"":
            end = text.find(ch, i + 1)
            if end < 0:
                raise ExpressionError(f"expected closing {ch}", text=text, offset=n, where=where)
            tokens.append(Token("str", text[i + 1 : end], i))
            i = end + 1
        elif ch == "`":
            i = _template(text, i, tokens, where)
        elif _is_name_start(ch):
            j = i + 1
            while j < n and _is_name_char(text[j]):
                j += 1
            tokens.append(Token("name", text[i:j], i))
            i = j
        else:
            for op in _OPERATORS:
                if text.startswith(op, i):
                    tokens.append(Token("op", op, i))
                    i += len(op)
                    break
            else:
                raise ExpressionError(
                    f"unexpected character {ch!r}", text=text, offset=i, where=where
                )
    tokens.append(Token("end", None, n))
    return tokens


def _digits(text: str, i: int) -> int:
    n = len(text)
    while i < n and (text[i].isdigit() or text[i] == "_"):
        i += 1
    return i


def _number(text: str, start: int, tokens: list[Token]) -> int:
    """Lex ``12``, ``1_000``, ``1.5``, ``1.`` and ``1e-3``; ``1..5`` is a range."""
    n = len(text)
    i = _digits(text, start)
    if i < n and text[i] == "." and not text.startswith("..", i):
        i = _digits(text, i + 1)
    if i < n and text[i] == "e":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and text[j].isdigit():
            i = _digits(text, j)
    literal = text[start:i].replace("_", "")
    if literal.endswith("."):
        literal = literal[:-1]
    tokens.append(Token("num", Decimal(literal), start))
    return i


def _template(text: str, start: int, tokens: list[Token], where: str) -> int:
    """Lex a backtick template into text parts and ``${...}`` sources."""
    parts: list[TemplatePart] = []
    n = len(text)
    i = start + 1
    buf: list[str] = []
    while True:
        if i >= n:
            raise ExpressionError("expected closing `", text=text, offset=n, where=where)
        ch = text[i]
        if ch == "`":
            break
        if text.startswith("${", i):
            end = _placeholder_end(text, i + 2)
            if end < 0:
                raise ExpressionError("expected '}' closing '${'", text=text, offset=n, where=where)
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append((i + 2, text[i + 2 : end]))
            i = end + 1
            continue
        buf.append(ch)
        i += 1
    if buf:
        parts.append("".join(buf))
    tokens.append(Token("tpl", tuple(parts), start))
    return i + 1


def _placeholder_end(text: str, i: int) -> int:
    """The offset of the ``}`` closing a ``${`` opened before ``i``, or -1.

    Quoted strings are skipped (``${"}"}``) and nested braces counted
    (``${ {a: 1}.a }``).
    """
    depth = 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            end = text.find(ch, i + 1)
            if end < 0:
                return -1
            i = end
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1
