"""Hypothesis-generated expressions and cells, compared with zen-engine (the oracle).

Random expression trees (numbers, strings, paths into a generated context,
arithmetic, comparisons, and/or, ternaries, ``??``, ``in``, a few functions),
mostly well-typed so that most cases compute a value, some untyped so that type
errors are compared too, are rendered to text and evaluated by both engines.
The comparison helpers repeat those of ``test_expr_oracle.py`` (test modules
cannot import each other under ``--import-mode=importlib``). zen returns
numbers as floats; both sides are brought to the same JSON-like shape (numbers
as floats compared to 12 significant digits, since zen's own float conversion
of a 28-digit decimal can be one ulp off) and an evaluation error on both
sides counts as agreement.

Generated trees leave out, on purpose, what this engine does not match:
``^`` with fractional exponents (zen's power of a negative base to a fractional
exponent keeps the sign, where this engine fails), numbers beyond zen's range
(zen overflows where Python's Decimal carries on), and ``string()`` of computed
quotients (zen keeps trailing zeros such as ``2.50`` for ``10 / 4``).
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zen_oracle import ours_standard, ours_unary, same, zen_standard, zen_unary

# ---------------------------------------------------------------- generated

_NUMBERS = st.decimals(
    min_value=-100, max_value=100, places=2, allow_nan=False, allow_infinity=False
)
_WORDS = st.text(alphabet="abcXY z", max_size=4)
_PATHS = ["a", "b", "s", "t", "f", "n", "o.x", "o.y", "o['x']", "o.z.w", "o.missing", "gone"]


def _number_text(value: Decimal) -> str:
    text = format(value, "f")
    return f"({text})" if value < 0 else text


def _leaf() -> st.SearchStrategy[str]:
    return st.one_of(
        _NUMBERS.map(_number_text),
        _WORDS.map(lambda w: f"'{w}'"),
        st.sampled_from(["true", "false", "null"]),
        st.sampled_from(_PATHS),
    )


_BINARY_OPS = ["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or", "??"]


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(_BINARY_OPS), children).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    )
    power = st.tuples(children, st.integers(0, 3)).map(lambda t: f"({t[0]} ^ {t[1]})")
    negation = children.map(lambda c: f"(not {c})")
    minus = children.map(lambda c: f"(-{c})")
    ternary = st.tuples(children, children, children).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})")
    member = st.tuples(children, st.lists(_leaf(), min_size=1, max_size=3)).map(
        lambda t: f"({t[0]} in [{', '.join(t[1])}])"
    )
    interval = st.tuples(children, _NUMBERS, _NUMBERS, st.sampled_from(["[]", "[)", "(]", "()"]))
    ranged = interval.map(
        lambda t: (
            f"({t[0]} in {t[3][0]}{_number_text(min(t[1], t[2]))}.."
            f"{_number_text(max(t[1], t[2]))}{t[3][1]})"
        )
    )
    calls = st.tuples(st.sampled_from(_CALLS), children).map(lambda t: t[0].format(t[1]))
    return st.one_of(binary, power, negation, minus, ternary, member, ranged, calls)


# ``string()`` is left out: zen keeps a quotient's trailing zeros (``2.50``).
_CALLS = [
    "abs({})",
    "floor({})",
    "ceil({})",
    "round({})",
    "round({}, 1)",
    "trunc({})",
    "len({})",
    "upper({})",
    "lower({})",
    "type({})",
    "bool({})",
    "isNumeric({})",
    "contains({}, 'a')",
    "startsWith({}, 'a')",
]


_UNTYPED = st.recursive(_leaf(), _extend, max_leaves=8)

_NUM_PATHS = ["a", "b", "o.x", "o['x']", "o.z.w"]
_STR_PATHS = ["s", "t", "o.y", "o['y']"]


def _paren(template: str) -> Any:
    return lambda parts: "(" + template.format(*parts) + ")"


@functools.cache
def _typed(kind: str, depth: int) -> st.SearchStrategy[str]:
    """Well-typed expressions of ``kind`` (num, str, bool), ``depth`` levels deep."""
    if kind == "num":
        leaves = st.one_of(_NUMBERS.map(_number_text), st.sampled_from(_NUM_PATHS))
    elif kind == "str":
        leaves = st.one_of(_WORDS.map(lambda w: f"'{w}'"), st.sampled_from(_STR_PATHS))
    else:
        leaves = st.sampled_from(["true", "false", "f"])
    if depth == 0:
        return leaves
    num, text, flag = _typed("num", depth - 1), _typed("str", depth - 1), _typed("bool", depth - 1)
    if kind == "num":
        return st.one_of(
            leaves,
            st.tuples(num, st.sampled_from(["+", "-", "*", "/", "%"]), num).map(_paren("{} {} {}")),
            st.tuples(num, st.integers(0, 3)).map(_paren("{} ^ {}")),
            num.map(lambda x: f"(-{x})"),
            st.tuples(st.sampled_from(["abs", "floor", "ceil", "round", "trunc"]), num).map(
                lambda t: f"{t[0]}({t[1]})"
            ),
            st.tuples(num, st.integers(0, 2)).map(lambda t: f"round({t[0]}, {t[1]})"),
            text.map(lambda t: f"len({t})"),
            st.tuples(flag, num, num).map(_paren("{} ? {} : {}")),
            num.map(lambda x: f"(n ?? {x})"),
        )
    if kind == "str":
        return st.one_of(
            leaves,
            st.tuples(text, text).map(_paren("{} + {}")),
            st.tuples(st.sampled_from(["upper", "lower", "trim"]), text).map(
                lambda t: f"{t[0]}({t[1]})"
            ),
            st.tuples(flag, text, text).map(_paren("{} ? {} : {}")),
            st.tuples(leaves, leaves).map(lambda t: f"`<${{{t[0]}}}|${{{t[1]}}}>`"),
        )
    return st.one_of(
        leaves,
        st.tuples(num, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), num).map(
            _paren("{} {} {}")
        ),
        st.tuples(text, st.sampled_from(["==", "!="]), text).map(_paren("{} {} {}")),
        st.tuples(flag, st.sampled_from(["and", "or", "=="]), flag).map(_paren("{} {} {}")),
        flag.map(lambda x: f"(not {x})"),
        st.tuples(num, st.lists(num, min_size=1, max_size=3)).map(
            lambda t: f"({t[0]} in [{', '.join(t[1])}])"
        ),
        st.tuples(text, st.lists(text, min_size=1, max_size=3)).map(
            lambda t: f"({t[0]} not in [{', '.join(t[1])}])"
        ),
        st.tuples(num, _NUMBERS, _NUMBERS, st.sampled_from(["[]", "[)", "(]", "()"])).map(
            lambda t: (
                f"({t[0]} in {t[3][0]}{_number_text(min(t[1], t[2]))}.."
                f"{_number_text(max(t[1], t[2]))}{t[3][1]})"
            )
        ),
        st.tuples(st.sampled_from(["startsWith", "endsWith", "contains"]), text, text).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
    )


# Mostly well-typed trees (so most cases compute a value), some untyped ones
# (so type errors are compared too).
_EXPRESSIONS = st.one_of(
    _typed("num", 3), _typed("str", 2), _typed("bool", 3), _typed("bool", 3), _UNTYPED
)
_CONTEXTS = st.fixed_dictionaries(
    {
        "a": _NUMBERS,
        "b": _NUMBERS,
        "s": _WORDS,
        "t": _WORDS,
        "f": st.booleans(),
        "n": st.none(),
        "o": st.fixed_dictionaries(
            {"x": _NUMBERS, "y": _WORDS, "z": st.fixed_dictionaries({"w": _NUMBERS})}
        ),
    }
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_EXPRESSIONS, context=_CONTEXTS)
def test_generated_expressions_match_zen(text: str, context: dict[str, Any]) -> None:
    ours = ours_standard(text, context)
    theirs = zen_standard(text, context)
    assert same(ours, theirs), f"{text!r} over {context!r}: ours {ours!r}, zen {theirs!r}"


_CELL_VALUES = st.one_of(_NUMBERS.map(_number_text), _WORDS.map(lambda w: f"'{w}'"))
_CELLS = st.one_of(
    st.tuples(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), _NUMBERS).map(
        lambda t: f"{t[0]} {_number_text(t[1])}"
    ),
    st.lists(_CELL_VALUES, min_size=1, max_size=3).map(", ".join),
    st.lists(_CELL_VALUES, min_size=1, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
    st.tuples(_NUMBERS, _NUMBERS).map(
        lambda t: f"[{_number_text(min(t))}..{_number_text(max(t))})"
    ),
    st.tuples(_NUMBERS, _NUMBERS).map(
        lambda t: f"> {_number_text(t[0])} and < {_number_text(t[1])}"
    ),
    st.sampled_from(
        [
            "$ > a",
            "$ == s",
            "$ in [a, b]",
            "len($) > 1",
            "not ($ > 0)",
            "a",
            "o.y, s",
            "> a or < o.x",
            "upper($)",
            "contains($, 'a')",
            "[a..o.z.w]",
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(cell=_CELLS, value=st.one_of(_NUMBERS, _WORDS, st.none()), context=_CONTEXTS)
def test_generated_cells_match_zen(cell: str, value: Any, context: dict[str, Any]) -> None:
    ours = ours_unary(cell, context, value)
    theirs = zen_unary(cell, context, value)
    assert same(ours, theirs), f"{cell!r} with $={value!r}: ours {ours!r}, zen {theirs!r}"
