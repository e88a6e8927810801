"""Unit tests of the expression language, one group per construct.

The oracle comparisons live in ``test_expr_oracle.py``; these pin exact
values (Decimals, not floats), the AST, compile-time folding and the unary
cell forms.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from finplug import FinplugError
from finplug_risk_engine.expr import (
    EvaluationError,
    Expression,
    ExpressionError,
    ExpressionTypeError,
    UnaryTest,
    compile_expression,
    compile_unary,
    current_time,
    pinned_clock,
)
from finplug_risk_engine.expr._ast import Binary, Ident, IntervalLit, Literal, Member, Unary
from finplug_risk_engine.expr._parser import parse_standard

D = Decimal
CTX: dict[str, Any] = {
    "amount": D("1250.50"),
    "limit": D(1000),
    "name": "Ada",
    "flag": True,
    "nothing": None,
    "customer": {"country": "FR", "address": {"city": "Paris"}, "tags": ["vip", "new"]},
    "items": [D(5), D("2.5"), D(10)],
    "orders": [{"total": D(30), "paid": True}, {"total": D("12.5"), "paid": False}],
}


def ev(text: str, context: dict[str, Any] | None = None) -> Any:
    return compile_expression(text).evaluate(CTX if context is None else context)


def cell(text: str, value: Any, context: dict[str, Any] | None = None) -> bool:
    return compile_unary(text).test(CTX if context is None else context, value)


# ---------------------------------------------------------------- API


def test_compile_returns_reusable_objects() -> None:
    expr = compile_expression("amount > limit", where="node 'n'")
    assert isinstance(expr, Expression)
    assert (expr.text, expr.where) == ("amount > limit", "node 'n'")
    assert expr.evaluate(CTX) is True
    assert expr.evaluate({**CTX, "amount": D(1)}) is False
    test = compile_unary("> 10")
    assert isinstance(test, UnaryTest)
    assert test.test({}, D(11)) is True
    assert repr(test) == "UnaryTest('> 10')"


def test_errors_are_finplug_errors() -> None:
    assert issubclass(ExpressionError, FinplugError)
    assert issubclass(EvaluationError, FinplugError)
    assert not issubclass(EvaluationError, ExpressionError)


def test_context_is_read_only_and_not_copied() -> None:
    frozen = MappingProxyType({"a": D(1), "b": {"c": D(2)}})
    assert compile_expression("a + b.c").evaluate(frozen) == D(3)


# ---------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", D(1)),
        ("1.50", D("1.50")),
        ("1_000", D(1000)),
        ("1.", D(1)),
        ("1e3", D(1000)),
        ("1e-2", D("0.01")),
        ("'single'", "single"),
        ('"double"', "double"),
        ("'no\\nescape'", "no\\nescape"),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[]", []),
        ("[1, 'a', [true]]", [D(1), "a", [True]]),
        ("[1, 2,]", [D(1), D(2)]),
        ("{a: 1, 'b c': {d: null}}", {"a": D(1), "b c": {"d": None}}),
        ("`plain`", "plain"),
        ("`${name} has ${amount} (${flag}, ${nothing})`", "Ada has 1250.50 (true, null)"),
        ("`${'}'}|${ {a: 1} == null }`", "}|false"),
    ],
)
def test_literals(text: str, expected: Any) -> None:
    result = ev(text)
    assert result == expected
    assert type(result) is type(expected)


def test_numbers_are_decimals_never_floats() -> None:
    assert ev("0.1 + 0.2") == D("0.3")
    assert type(ev("0.1 + 0.2")) is Decimal
    assert ev("1 / 3") == D("0.3333333333333333333333333333")
    assert ev("2 / 3") == D("0.6666666666666666666666666667")
    assert ev("1 / 3 * 3") == D("0.9999999999999999999999999999")
    assert ev("1.10 + 1.20") == D("2.30")


def test_constant_lists_are_fresh_each_evaluation() -> None:
    expr = compile_expression("[1, [2], {a: 3}]")
    first = expr.evaluate({})
    first[1].append(D(3))
    first[2]["b"] = D(4)
    assert expr.evaluate({}) == [D(1), [D(2)], {"a": D(3)}]


# ---------------------------------------------------------------- members


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("customer.country", "FR"),
        ("customer['country']", "FR"),
        ("customer.address.city", "Paris"),
        ("customer.tags[1]", "new"),
        ("items[1.9]", D("2.5")),
        ("items[7]", None),
        ("items['x']", None),
        ("customer[0]", None),
        ("missing", None),
        ("missing.deeper.still", None),
        ("name.length", None),
        ("orders[0].total", D(30)),
        ("customer[name]", None),
    ],
)
def test_member_access(text: str, expected: Any) -> None:
    assert ev(text) == expected


def test_negative_index_fails_like_zen() -> None:
    with pytest.raises(EvaluationError, match="negative"):
        ev("items[-1]")


# ---------------------------------------------------------------- operators


def test_precedence_follows_zen() -> None:
    assert ev("1 + 2 * 3") == D(7)
    assert ev("2 ^ 3 ^ 2") == D(512)  # right associative
    assert ev("-2 ^ 2") == D(4)  # sign binds tighter than ^
    assert ev("1 + nothing ?? 2") == D(3)  # ?? binds tighter than +
    assert ev("not true == false") is True  # (not true) == false
    assert ev("true or false and false") is True
    tree = parse_standard("a + b * c")
    assert isinstance(tree, Binary)
    assert tree.op == "+"
    assert isinstance(tree.right, Binary)
    assert tree.right.op == "*"


def test_ast_is_frozen_and_positioned() -> None:
    tree = parse_standard("not a.b in [1..2)")
    assert isinstance(tree, Binary)
    assert tree.op == "in"
    assert tree.pos == 8
    assert isinstance(tree.left, Unary)
    assert isinstance(tree.left.operand, Member)
    assert tree.left.operand.obj == Ident("a", 4)
    assert tree.left.operand.key == Literal("b", 6)
    assert isinstance(tree.right, IntervalLit)
    assert (tree.right.low_closed, tree.right.high_closed) == (True, False)
    with pytest.raises(AttributeError):
        tree.op = "or"  # type: ignore[misc]  # frozen on purpose


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amount - limit", D("250.50")),
        ("amount * 2", D("2501.00")),
        ("10 / 4", D("2.5")),
        ("7 % 3", D(1)),
        ("-7 % 3", D(-1)),
        ("2 ^ 10", D(1024)),
        ("2 ^ -1", D("0.5")),
        ("0 ^ 0", D(1)),
        ("-amount", D("-1250.50")),
        ("+amount", D("1250.50")),
        ("1 / 0", None),
        ("5 % 0", None),
        ("'a' + 'b'", "ab"),
    ],
)
def test_arithmetic(text: str, expected: Any) -> None:
    assert ev(text) == expected


@pytest.mark.parametrize("text", ["nothing + 1", "-name", "items * 2", "name > 1"])
def test_type_errors_of_variables_raise_at_evaluation(text: str) -> None:
    expr = compile_expression(text)  # a variable's type is known only when it runs
    with pytest.raises(EvaluationError):
        expr.evaluate(CTX)


@pytest.mark.parametrize(
    ("text", "offset", "got"),
    [
        ("1 + 'a'", 2, "a number and a string"),
        ("true + 1", 5, "a bool"),
        ("amount * 'x'", 7, "a string"),
        ("amount > 'high'", 7, "a string"),
        ("not 5", 0, "a number"),
        ("x in [1..'z']", 9, "a string"),
        ("(amount > 1) < 2", 13, "a bool"),
        ("upper(5)", 0, "literal arguments it rejects"),
    ],
)
def test_type_errors_of_literals_are_located_at_compile_time(
    text: str, offset: int, got: str
) -> None:
    with pytest.raises(ExpressionTypeError) as info:
        compile_expression(text, where="node 'Fees' row 'r1'")
    assert info.value.offset == offset
    assert info.value.got == got
    assert str(info.value).startswith("node 'Fees' row 'r1': type mismatch")


@pytest.mark.parametrize("text", ["false and 'a' > 1", "x ?? 1 + 'a'", "flag ? 1 : 'a' * 2"])
def test_a_branch_that_may_not_run_fails_only_when_it_runs(text: str) -> None:
    compile_expression(text)  # zen too fails these only when the branch runs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amount > limit", True),
        ("amount >= 1250.5", True),
        ("amount < limit", False),
        ("amount <= 1250.50", True),
        ("amount == 1250.5", True),
        ("amount != 1250.5", False),
        ("'a' == 'a'", True),
        ("1 == '1'", False),
        ("1 == true", False),
        ("null == nothing", True),
        ("[1] == [1]", False),
        ("customer == customer", False),
    ],
)
def test_comparison(text: str, expected: bool) -> None:
    assert ev(text) is expected


@pytest.mark.parametrize("text", ["name < limit", "nothing > 1", "flag > limit", "customer >= 1"])
def test_ordering_needs_numbers(text: str) -> None:
    with pytest.raises(EvaluationError, match="numbers only"):
        ev(text)


@pytest.mark.parametrize("text", ["'a' < 'b'", "true > false", "1 < 2 < 3", "amount > null"])
def test_ordering_literals_that_are_not_numbers_fails_at_compile_time(text: str) -> None:
    with pytest.raises(ExpressionTypeError, match="comparison"):
        compile_expression(text)


def test_ints_and_floats_in_the_context_count_as_numbers() -> None:
    assert ev("a + b > 2", {"a": 1, "b": 1.5}) is True
    assert ev("a == 1", {"a": 1}) is True
    assert cell("> 1", 2) is True
    assert cell("[1..3]", 2.5) is True
    assert cell("1, 2", 2) is True


def test_logic_short_circuits_and_needs_booleans() -> None:
    assert ev("false and missing.x > 1") is False
    assert ev("true or missing.x > 1") is True
    assert ev("true and 5") == D(5)
    assert ev("false or nothing") is None
    for text in ["limit and true", "nothing or true", "not limit", "!nothing"]:
        with pytest.raises(EvaluationError):
            ev(text)
    for text in ["1 and true", "not 1", "'yes' or flag"]:
        with pytest.raises(ExpressionTypeError):
            compile_expression(text)


def test_conditional_and_coalescing() -> None:
    assert ev("flag ? 'y' : 'n'") == "y"
    assert ev("false ? 1 : false ? 2 : 3") == D(3)
    assert ev("nothing ?? 'd'") == "d"
    assert ev("0 ?? 3") == D(0)
    assert ev("false ?? 3") is False
    with pytest.raises(EvaluationError, match="boolean condition"):
        ev("limit ? 2 : 3")
    with pytest.raises(ExpressionTypeError, match="condition"):
        compile_expression("1 ? 2 : 3")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'FR' in ['DE', 'FR']", True),
        ("'IT' not in ['DE', 'FR']", True),
        ("customer.country in ['DE', 'FR']", True),
        ("amount in [1000..2000]", True),
        ("limit in (1000..2000]", False),
        ("limit in [1000..2000)", True),
        ("2000 in [1000..2000)", False),
        ("null in [1, null]", True),
        ("1 in ['1']", False),
        ("'country' in customer", True),
        ("name in customer.tags", False),
        ("5 in items", True),
        ("amount in [limit..limit * 2]", True),
    ],
)
def test_membership(text: str, expected: bool) -> None:
    assert ev(text) is expected


def test_interval_on_its_own_is_its_text() -> None:
    assert ev("[1..10)") == "[1..10)"
    assert ev("flag ? (0.5..2] : 1") == "(0.5..2]"
    with pytest.raises(EvaluationError):
        ev("name in [1..2]")
    with pytest.raises(EvaluationError):
        ev("'a' in name")
    with pytest.raises(ExpressionTypeError):
        compile_expression("'a' in [1..2]")
    with pytest.raises(ExpressionTypeError):
        compile_expression("'a' in 'abc'")


# ---------------------------------------------------------------- functions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("len(name)", D(3)),
        ("len('héllo')", D(6)),  # zen counts UTF-8 bytes
        ("len(items)", D(3)),
        ("upper(name)", "ADA"),
        ("lower(name)", "ada"),
        ("trim('  x ')", "x"),
        ("startsWith(name, 'A')", True),
        ("endsWith(name, 'a')", True),
        ("contains(name, 'd')", True),
        ("contains(customer.tags, 'vip')", True),
        ("matches('75001', '^[0-9]{5}$')", True),
        ("extract('2022-01-02', '(\\d+)-(\\d+)')", ["2022-01", "2022", "01"]),
        ("split('a,b', ',')", ["a", "b"]),
        ("split('ab', '')", ["", "a", "b", ""]),
        ("abs(-1.5)", D("1.5")),
        ("sum(items)", D("17.5")),
        ("sum([])", D(0)),
        ("avg([1, 2])", D("1.5")),
        ("min(items)", D("2.5")),
        ("max(items)", D(10)),
        ("median([3, 1, 2, 4])", D("2.5")),
        ("mode([1, 2, 2])", D(2)),
        ("floor(-1.5)", D(-2)),
        ("ceil(1.1)", D(2)),
        ("trunc(-1.9)", D(-1)),
        ("round(2.5)", D(3)),
        ("round(-2.5)", D(-3)),
        ("round(1.2345, 2)", D("1.23")),
        ("round(1.25, 1)", D("1.3")),
        ("string(1.50)", "1.50"),
        ("string(1e3)", "1000"),
        ("string(true)", "true"),
        ("number('12.5')", D("12.5")),
        ("number(true)", D(1)),
        ("bool('true')", True),
        ("bool(0)", False),
        ("isNumeric('1.5')", True),
        ("isNumeric('x')", False),
        ("type(items)", "array"),
        ("type(customer)", "object"),
        ("keys(customer.address)", ["city"]),
        ("values(customer.address)", ["Paris"]),
        ("flatten([1, [2, [3]]])", [D(1), D(2), [D(3)]]),
        ("date('2022-01-01')", D(1640995200)),
        ("date('2022-01-01 10:00:00')", D(1641031200)),
        ("time('10:00:30')", D(36030)),
        ("duration('1h 30m')", D(5400)),
        ("dayOfWeek(date('2022-01-01'))", D(6)),
        ("weekdayString(date('2022-03-04'))", "Fri"),
    ],
)
def test_functions(text: str, expected: Any) -> None:
    assert ev(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "upper(limit)",
        "abs(name)",
        "avg([])",
        "min([])",
        "number(name)",
        "len(customer)",
        "matches(name, '[')",
        "date(name)",
        "duration(name)",
    ],
)
def test_function_argument_errors(text: str) -> None:
    with pytest.raises(EvaluationError):
        ev(text)


@pytest.mark.parametrize(
    "text",
    ["upper(1)", "abs('a')", "number('x')", "date('2022-13-45')", "duration('3 fortnights')"],
)
def test_function_literal_argument_errors_fail_at_compile_time(text: str) -> None:
    with pytest.raises(ExpressionTypeError, match=r"\(\): "):
        compile_expression(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all(items, # > 0)", True),
        ("some(items, # > 9)", True),
        ("none(items, # > 99)", True),
        ("one(items, # == 10)", True),
        ("filter(items, # > 3)", [D(5), D(10)]),
        ("map(items, # * 2)", [D(10), D(5), D(20)]),
        ("count(orders, #.paid)", D(1)),
        ("sum(map(filter(orders, #.paid), #.total))", D(30)),
        ("map([[1, 2]], map(#, # + 1))", [[D(2), D(3)]]),
        ("flatMap([[1], [2]], #)", [D(1), D(2)]),
        ("map(items, # + limit)", [D(1005), D("1002.5"), D(1010)]),
    ],
)
def test_closures(text: str, expected: Any) -> None:
    assert ev(text) == expected


def test_closure_predicates_must_be_boolean() -> None:
    with pytest.raises(EvaluationError, match="boolean"):
        ev("filter(items, 1)")


def test_now_is_the_pinned_instant_and_never_folded() -> None:
    expr = compile_expression("dayOfWeek(date('now'))")
    seconds = compile_expression("time('now')")
    with pinned_clock(datetime(2026, 12, 6, 9, 30, tzinfo=UTC)):  # a Sunday
        assert expr.evaluate({}) == D(7)
        assert seconds.evaluate({}) == D(9 * 3600 + 30 * 60)
    with pinned_clock("2026-12-07T00:00:01Z"):  # text, parsed when read
        assert expr.evaluate({}) == D(1)
        assert current_time() == datetime(2026, 12, 7, 0, 0, 1, tzinfo=UTC)
    before = datetime.now(UTC).timestamp()
    unpinned = compile_expression("date('now')").evaluate({})
    assert before - 1 <= unpinned <= datetime.now(UTC).timestamp()


def test_constants_are_folded_at_compile_time() -> None:
    expr = compile_expression("round(2 * 3.5 + len('abc'), 0)")
    assert expr.evaluate({}) == D(10)
    # A constant that cannot be computed is a type error found at compile time.
    with pytest.raises(ExpressionTypeError):
        compile_expression("1 + 'a'")


# ---------------------------------------------------------------- unary cells


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("", D(1), True),
        ("   ", "anything", True),
        ("> 10", D(11), True),
        ("> 10", D(10), False),
        (">= 10", D(10), True),
        ("< 10", D(10), False),
        ("<= 10", D(10), True),
        ("== 10", D(10), True),
        ("!= 10", D(10), False),
        ("10", D("10.0"), True),
        ("'DE'", "DE", True),
        ("'DE', 'FR'", "FR", True),
        ("'DE', 'FR'", "IT", False),
        ("'DE', 'FR'", None, False),
        ("1, 2, 'x'", D(2), True),
        ("[1..10]", D(10), True),
        ("[1..10)", D(10), False),
        ("(1..10]", D(1), False),
        ("[1, 2]", D(2), True),
        ("in ['a']", "a", True),
        ("not in [1..3]", D(2), False),
        ("> 1 and < 9", D(5), True),
        ("> 1 and < 9", D(9), False),
        ("< 0, > 100", D(50), False),
        ("< 0, > 100", D(101), True),
        ("$ > 5 and $ < 9", D(6), True),
        ("$ > limit", D(1001), True),
        ("> limit", D(999), False),
        ("limit", D(1000), True),
        ("customer.country", "FR", True),
        ("len($) > 2", "abc", True),
        ("len($)", "abc", False),  # a bare call is compared: 'abc' == 3
        ("startsWith($, 'A')", "Ada", True),
        ("contains($, 'x')", "Ada", False),
        ("true", True, True),
        ("null", None, True),
        ("$", True, True),
        ("not ($ > 5)", D(3), True),
        # zen compares a bare ternary of literals with $: 'DE' == true is false
        ("$ == 'DE' ? true : false", "DE", False),
    ],
)
def test_unary_cells(text: str, value: Any, expected: bool) -> None:
    assert cell(text, value) is expected


def test_unary_comparison_against_the_wrong_type_fails_like_zen() -> None:
    with pytest.raises(EvaluationError):
        cell("> 10", "ten")
    with pytest.raises(EvaluationError):
        cell("> 1 and < 9", None)
    with pytest.raises(EvaluationError):
        cell("[1..10]", "x")


def test_joins_inside_parentheses_are_accepted_in_cells() -> None:
    # Deliberately more lenient than zen, which rejects and/or inside
    # parentheses in a unary cell ("incomplete parser output").
    assert cell("($ > 1 and $ < 5)", D(3)) is True


def test_dollar_in_a_standard_expression_reads_the_context() -> None:
    assert ev("$ + 1", {"$": D(1)}) == D(2)
