"""Compile-time errors: located (``where``, text, offset) and saying what was expected."""

from __future__ import annotations

import re

import pytest

from finplug_risk_engine.expr import ExpressionError, compile_expression, compile_unary


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("a + (b * 2", 10, "expected ')'"),
        ("a[1", 3, "expected ']'"),
        ("[1..2", 5, "expected ']' or ')' closing the interval"),
        ("1 +", 3, "expected a value"),
        ("", 0, "expected a value"),
        ("a b", 2, "expected an operator or the end of the expression"),
        ("{a 1}", 3, "expected ':'"),
        ("true ? 1", 8, "expected ':'"),
        ("a.", 2, "expected a property name after '.'"),
        ("1 == == 2", 5, "expected a value"),
        ("'abc", 4, "expected closing '"),
        ("`abc", 4, "expected closing `"),
        ("`${1 +}`", 6, "expected a value"),
        ("a @ b", 2, "unexpected character '@'"),
        ("# > 1", 0, "'#' is only allowed in a closure argument"),
        ("map([1], #) + #", 14, "'#' is only allowed in a closure argument"),
        ("x and", 5, "expected a value"),
        ("in", 0, "expected a value"),
    ],
)
def test_syntax_errors_are_located(text: str, offset: int, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text, where="node 'Fees'")
    error = info.value
    assert error.offset == offset
    assert error.text == text
    assert error.where == "node 'Fees'"
    assert error.message.startswith(message)
    assert str(error).startswith(f"node 'Fees': {message}")
    assert f"at offset {offset} in {text!r}" in str(error)


def test_found_token_is_reported() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression("a + (b * 2")
    assert info.value.found == "end of text"
    assert str(info.value) == "expected ')' at offset 10 in 'a + (b * 2' (found end of text)"


@pytest.mark.parametrize(
    ("text", "offset", "name"),
    [
        ("foo(1)", 0, "foo"),
        ("1 + rand(10)", 4, "rand"),  # not deterministic: left out on purpose
        ("fuzzyMatch(a, 'b')", 0, "fuzzyMatch"),
        ("map(xs, nope(#))", 8, "nope"),
    ],
)
def test_unknown_functions_are_compile_errors_naming_them(
    text: str, offset: int, name: str
) -> None:
    with pytest.raises(ExpressionError, match=f"unknown or unsupported function '{name}'") as info:
        compile_expression(text)
    assert info.value.offset == offset


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("len(1, 2)", "function 'len' takes 1 argument(s), got 2"),
        ("round()", "function 'round' takes 1 to 2 argument(s), got 0"),
        ("map([1])", "function 'map' takes 2 argument(s), got 1"),
    ],
)
def test_wrong_argument_counts_are_compile_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        compile_expression(text)


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("'a' 'b'", 4, "expected ',', 'and', 'or' or the end of the cell"),
        (",", 0, "expected a value"),
        ("> ", 2, "expected a value"),
        ("'DE',", 5, "expected a value"),
        ("[1..", 4, "expected a value"),
        ("unknown($)", 0, "unknown or unsupported function 'unknown'"),
    ],
)
def test_unary_errors_are_located(text: str, offset: int, message: str) -> None:
    where = "node 'Fees' row 'r1' column 'Amount'"
    with pytest.raises(ExpressionError) as info:
        compile_unary(text, where=where)
    assert info.value.offset == offset
    assert info.value.where == where
    assert str(info.value).startswith(f"{where}: {message}")


def test_absurd_nesting_is_a_located_error_not_a_crash() -> None:
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression("(" * 5000 + "1" + ")" * 5000)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression("+".join(["1"] * 3000))
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_unary("(" * 5000 + "1" + ")" * 5000)
    assert compile_expression("+".join(["1"] * 200)).evaluate({}) == 200


def test_where_is_optional() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_unary("> )")
    assert info.value.where == ""
    assert str(info.value).startswith("expected a value at offset 2")
