"""The expression language against zen-engine, GoRules' own evaluator (the oracle).

A table of a few hundred standard and unary expressions over a fixed context
(the generated cases are in ``test_expr_generated.py``). zen returns
numbers as floats; both sides are brought to the same JSON-like shape (numbers
as floats compared to 12 significant digits, since zen's own float conversion
of a 28-digit decimal can be one ulp off) and an evaluation error on both
sides counts as agreement.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
import zen

from finplug_risk_engine.expr import (
    EvaluationError,
    compile_expression,
    compile_unary,
)

_ERROR = "<error>"


def to_json(value: Any) -> Any:
    """Our value in zen's Python shape: Decimal → float, lists and dicts recursively."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def to_zen_context(value: Any) -> Any:
    """A context for zen: Decimals as ints when integral, else floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [to_zen_context(v) for v in value]
    if isinstance(value, dict):
        return {k: to_zen_context(v) for k, v in value.items()}
    return value


def same(ours: Any, theirs: Any) -> bool:
    """Equal as JSON, numbers to 12 significant digits; bools are not numbers."""
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return ours is theirs
    if isinstance(ours, float | int) and isinstance(theirs, float | int):
        return math.isclose(ours, theirs, rel_tol=1e-12, abs_tol=1e-18)
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(map(same, ours, theirs))
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(same(ours[k], theirs[k]) for k in ours)
    return bool(ours == theirs)


def ours_standard(text: str, context: dict[str, Any]) -> Any:
    try:
        return to_json(compile_expression(text).evaluate(context))
    except EvaluationError:
        return _ERROR


def zen_standard(text: str, context: dict[str, Any]) -> Any:
    try:
        return zen.evaluate_expression(text, to_zen_context(context))
    except RuntimeError:
        return _ERROR


def ours_unary(text: str, context: dict[str, Any], value: Any) -> Any:
    try:
        return compile_unary(text).test(context, value)
    except EvaluationError:
        return _ERROR


def zen_unary(text: str, context: dict[str, Any], value: Any) -> Any:
    try:
        return zen.evaluate_unary_expression(text, to_zen_context({**context, "$": value}))
    except RuntimeError:
        return _ERROR


CONTEXT: dict[str, Any] = {
    "amount": Decimal("1250.50"),
    "limit": Decimal(1000),
    "rate": Decimal("0.035"),
    "count": Decimal(3),
    "zero": Decimal(0),
    "neg": Decimal("-7.25"),
    "name": "Ada Lovelace",
    "country": "DE",
    "empty": "",
    "flag": True,
    "off": False,
    "nothing": None,
    "customer": {
        "country": "FR",
        "age": Decimal(42),
        "tier": "gold",
        "address": {"city": "Paris", "zip": "75001"},
        "tags": ["vip", "early"],
    },
    "items": [Decimal(5), Decimal("2.5"), Decimal(10), Decimal(-1)],
    "words": ["alpha", "beta", "gamma"],
    "orders": [
        {"id": "a", "total": Decimal(30), "paid": True},
        {"id": "b", "total": Decimal("12.5"), "paid": False},
        {"id": "c", "total": Decimal(100), "paid": True},
    ],
    "created": "2023-03-15T10:30:00Z",
}

STANDARD = [
    # literals
    "1",
    "1.50",
    "-3",
    "0.1 + 0.2",
    "1e3",
    "1_000",
    "1.",
    "1e-2",
    "'str'",
    '"dq"',
    "true",
    "false",
    "null",
    "[]",
    "[1, 'a', true, null]",
    "[1, 2,]",
    "{}",
    "{a: 1, 'b c': [1, 2], d: {e: null}}",
    "`plain`",
    "`n=${count}`",
    "`${name} owes ${limit}`",
    "`${flag}/${nothing}`",
    "`${customer}`",
    # identifiers and members
    "amount",
    "missing",
    "missing.deeper",
    "customer.country",
    "customer['tier']",
    "customer.address.city",
    "customer.address['zip']",
    "customer.tags[0]",
    "customer.tags[1]",
    "customer.tags[5]",
    "items[2]",
    "items[1.7]",
    "items[-1]",
    "orders[1].total",
    "orders[0]['id']",
    "customer.nothing.deeper",
    "name.x",
    "customer[country]",
    "items[count]",
    "customer.tags[zero]",
    "customer[0]",
    "words['a']",
    # arithmetic
    "amount + limit",
    "amount - limit",
    "amount * rate",
    "amount / count",
    "amount % count",
    "count ^ 3",
    "2 ^ 10",
    "2 ^ 3 ^ 2",
    "10 - 2 - 3",
    "100 / 10 / 5",
    "1 + 2 * 3",
    "(1 + 2) * 3",
    "-count",
    "--count",
    "-(amount - limit)",
    "+count",
    "-2 ^ 2",
    "1 / 3",
    "2 / 3",
    "1 / 3 * 3",
    "10 / 4",
    "7 % 3",
    "-7 % 3",
    "7 % -3",
    "3 % 1.5",
    "1 / 0",
    "5 % 0",
    "zero / zero",
    "amount * 0",
    "0.1 * 3",
    "neg * neg",
    "neg / 3",
    "123456789 * 987654321",
    "1.005 * 1000",
    "'a' + 'b'",
    "name + '!'",
    "1 + '1'",
    "'a' + 1",
    "null + 1",
    "true + 1",
    "amount + nothing",
    "-name",
    "-nothing",
    "2 ^ -1",
    "10 ^ -3",
    "items + 1",
    # comparison
    "amount > limit",
    "amount >= 1250.5",
    "amount < limit",
    "amount <= 1250.50",
    "amount == 1250.5",
    "amount != 1250.5",
    "1 == 1.0",
    "'a' == 'a'",
    "'a' != 'b'",
    "null == null",
    "nothing == null",
    "missing == null",
    "1 == '1'",
    "1 == true",
    "true == true",
    "flag == true",
    "off != true",
    "[1] == [1]",
    "[1] != [1]",
    "customer == customer",
    "'a' < 'b'",
    "1 < 'a'",
    "nothing > 1",
    "true > false",
    "1 + 2 == 3",
    "amount * 2 > limit",
    "count >= 3 == true",
    "1 < 2 < 3",
    # logic
    "true and false",
    "true or false",
    "not true",
    "!false",
    "not not true",
    "! true",
    "true and false or true",
    "false or true and false",
    "amount > limit and country == 'DE'",
    "amount > limit or missing.x > 1",
    "false and missing.x > 1",
    "true and 1",
    "1 and true",
    "false or null",
    "true or 1",
    "not 1",
    "not (1 > 2)",
    "!(amount > limit)",
    "not true == false",
    "flag and off",
    "flag or off",
    "nothing and true",
    "off and nothing",
    # ternary and coalescing
    "flag ? 'y' : 'n'",
    "off ? 'y' : 'n'",
    "amount > limit ? amount - limit : 0",
    "true ? 1 : false ? 2 : 3",
    "false ? 1 : false ? 2 : 3",
    "1 ? 2 : 3",
    "nothing ? 1 : 2",
    "nothing ?? 'dflt'",
    "missing ?? nothing ?? 3",
    "0 ?? 3",
    "'' ?? 3",
    "false ?? 3",
    "1 + nothing ?? 2",
    "nothing ?? 1 == 1",
    "customer.missing ?? customer.tier",
    # in / not in, intervals
    "country in ['DE', 'FR']",
    "country not in ['DE', 'FR']",
    "'IT' in ['DE', 'FR']",
    "count in [1, 2, 3]",
    "count in [1..3]",
    "count in [1..3)",
    "count in (1..3]",
    "count in (3..5)",
    "amount in [1000..2000]",
    "neg in [-10..-5]",
    "0.5 in [0..1]",
    "null in [null]",
    "nothing in [1, null]",
    "1 in ['1']",
    "'a' in 'abc'",
    "[1] in [[1]]",
    "'a' in {a: 1}",
    "1 in {a: 1}",
    "'tier' in customer",
    "customer.country in ['DE', 'FR']",
    "count not in [1..2]",
    "name in words",
    "'beta' in words",
    "amount in [limit..limit * 2]",
    "[1..3]",
    "(1..3)",
    "[count..10)",
    "flag ? [1..2] : 1",
    "5 in items",
    "2.5 in items",
    "'x' in [1..2]",
    "count in nothing",
    # string functions
    "len(name)",
    "len('héllo')",
    "len(words)",
    "len(customer)",
    "len(1)",
    "upper(name)",
    "lower(name)",
    "upper('ß')",
    "upper(1)",
    "trim('  pad  ')",
    "startsWith(name, 'Ada')",
    "startsWith(name, 'ada')",
    "endsWith(name, 'lace')",
    "startsWith(1, 'a')",
    "contains(name, 'Love')",
    "contains(name, 'x')",
    "contains(words, 'beta')",
    "contains(words, 'delta')",
    "contains(items, 10)",
    "contains(name, '')",
    "matches(name, '^Ada')",
    "matches(name, '[0-9]')",
    "matches(customer.address.zip, '^[0-9]{5}$')",
    "extract('2022-01-02', '(\\d+)-(\\d+)')",
    "extract('abc', '[0-9]+')",
    "split('a,b,c', ',')",
    "split(name, ' ')",
    "split('a', '')",
    "string(count)",
    "string(1.50)",
    "string(flag)",
    "string(nothing)",
    "string('s')",
    "string(words)",
    "string(1e3)",
    "number('12.5')",
    "number('abc')",
    "number(true)",
    "number(count)",
    "isNumeric('12')",
    "isNumeric('x')",
    "isNumeric(3)",
    "isNumeric(true)",
    "bool('true')",
    "bool('false')",
    "bool('x')",
    "bool(1)",
    "bool(0)",
    "bool(nothing)",
    "bool([])",
    "type(1)",
    "type('a')",
    "type(true)",
    "type(nothing)",
    "type(words)",
    "type(customer)",
    "keys(customer.address)",
    "values(customer.address)",
    "keys(words)",
    "flatten([1, [2, [3]]])",
    # math functions
    "abs(neg)",
    "abs(-0)",
    "abs('a')",
    "sum(items)",
    "sum([])",
    "sum([1, 'a'])",
    "avg(items)",
    "avg([1, 2, 2])",
    "avg([])",
    "min(items)",
    "max(items)",
    "min([])",
    "max([1, 2.5])",
    "median(items)",
    "median([3, 1, 2])",
    "mode([1, 2, 2, 3])",
    "mode([2, 1])",
    "floor(neg)",
    "floor(2.7)",
    "ceil(neg)",
    "ceil(2.1)",
    "trunc(neg)",
    "trunc(2.9)",
    "round(2.5)",
    "round(3.5)",
    "round(-2.5)",
    "round(1.2345, 2)",
    "round(1.005, 2)",
    "round(1.25, 1)",
    "round(-1.25, 1)",
    "round(amount * rate, 2)",
    "round(2, 2)",
    "floor('x')",
    # closures
    "all(items, # > -5)",
    "all(items, # > 0)",
    "some(items, # > 5)",
    "none(items, # > 50)",
    "one(items, # == 10)",
    "one(items, # > 0)",
    "filter(items, # > 2)",
    "map(items, # * 2)",
    "map(words, upper(#))",
    "count(items, # > 0)",
    "count(orders, #.paid)",
    "sum(map(filter(orders, #.paid), #.total))",
    "map(orders, #.id)",
    "filter(orders, #.total > 20 and #.paid)",
    "some(customer.tags, # == 'vip')",
    "all([], # > 0)",
    "some([], # > 0)",
    "one([], # > 0)",
    "map([], #)",
    "count(items, #)",
    "filter(items, 1)",
    "map([[1, 2], [3]], map(#, # + 1))",
    "flatMap([[1], [2, 3]], #)",
    "map(items, # + count)",
    "all(words, len(#) > 3)",
    "all(['a', 1], # == 'a')",
    "map(orders, `${#.id}:${#.total}`)",
    "filter(words, startsWith(#, 'b'))",
    "map(items, # > 3 ? 'big' : 'small')",
    "some(orders, #.total > amount)",
    # dates (zen's timestamp functions)
    "date('2022-01-01')",
    "date('2022-01-01T10:00:00Z')",
    "date('2022-01-01 10:00:00')",
    "date(created)",
    "time('10:00')",
    "time('10:00:30')",
    "duration('30m')",
    "duration('1h')",
    "duration('1d')",
    "duration('2 hours')",
    "year(date(created))",
    "monthOfYear(date(created))",
    "dayOfMonth(date(created))",
    "dayOfWeek(date('2022-01-01'))",
    "dayOfYear(date(created))",
    "weekOfYear(date(created))",
    "dateString(date(created))",
    "monthString(date(created))",
    "weekdayString(date(created))",
    "date(created) > date('2023-01-01')",
    "date('2022-13-45')",
    # mixed
    "amount * rate > 40 and customer.country in ['DE', 'FR'] or flag",
    "(amount - limit) / limit * 100",
    "round((amount - limit) / limit * 100, 2)",
    "len(filter(words, len(#) == 4)) > 0",
    "customer.age >= 18 ? 'adult' : 'minor'",
    "customer.tier == 'gold' and customer.age in [40..50]",
    "sum(items) / len(items) == avg(items)",
    "upper(customer.address.city) + '-' + country",
    "not (country in ['US']) and amount > 1000",
    "max(map(orders, #.total)) - min(items)",
]

UNARY = [
    ("> 1000", "amount"),
    (">1000", "limit"),
    ("< 1000", "amount"),
    (">= 1000", "limit"),
    ("<= 1000", "limit"),
    ("== 1000", "limit"),
    ("!= 1000", "limit"),
    ("1000", "limit"),
    ("1000", "amount"),
    ("'DE'", "country"),
    ("'DE', 'FR'", "country"),
    ("'IT', 'FR'", "country"),
    ("'DE','FR'", "country"),
    ("[1..10]", "count"),
    ("(3..10]", "count"),
    ("[1..3)", "count"),
    ("[1..3]", "count"),
    ("[1, 2, 3]", "count"),
    ("1, 2, 3", "count"),
    ("in [1, 2]", "count"),
    ("not in [1, 2]", "count"),
    ("not in [1..3]", "count"),
    ("in ['DE']", "country"),
    ("$ > 5 and $ < 9", "count"),
    ("$ > 1 and $ < 9", "count"),
    ("> 1 and < 9", "count"),
    ("< 5, > 100", "count"),
    ("> 1 or < -1", "neg"),
    ("$ > 1 or < -1", "neg"),
    ("true", "flag"),
    ("false", "flag"),
    ("null", "nothing"),
    ("null", "count"),
    ("$", "flag"),
    ("-7.25", "neg"),
    ("> limit", "amount"),
    ("< limit", "amount"),
    ("limit", "limit"),
    ("customer.country", "country"),
    ("customer.age - 39", "count"),
    ("count * 1", "count"),
    ("len($) > 3", "name"),
    ("len($)", "count"),
    ("startsWith($, 'Ada')", "name"),
    ("startsWith($, 'X')", "name"),
    ("contains($, 'Love')", "name"),
    ("matches($, '^[A-Z]{2}$')", "country"),
    ("upper('de')", "country"),
    ("lower($) == 'de'", "country"),
    ("$ == 'DE' ? true : false", "country"),
    ("> 10", "name"),
    ("< 'b'", "name"),
    ("'DE'", "count"),
    ("[1..10]", "name"),
    ("> 1000 and < 2000", "amount"),
    ("$ in customer.tags", "country"),
    ("some($, # == 'vip')", "words"),
    ("'gold', 'silver'", "name"),
    ("!= 'DE'", "country"),
    ("not ($ > 5)", "count"),
    ("abs($) > 7", "neg"),
    ("round($, 1) == -7.3", "neg"),
    ("3, > 10", "count"),
    ("[1..10] and != 3", "count"),
    ("3 or > 10", "count"),
    ("(1 + 2)", "count"),
    ("1 + 2", "count"),
    ("count", "count"),
    ("$ ?? 0", "nothing"),
    ("[]", "count"),
    ("split('DE,FR', ',')", "country"),
    ("filter([1, 3], # > 2)", "count"),
    ("> 1 > 2", "count"),
    ("not in ['DE']", "country"),
    ("'a' or 'b'", "name"),
    ("== null", "nothing"),
    ("> -8", "neg"),
    ("(1..5), 7", "count"),
    ("[1..2] or [3..4]", "count"),
    ("$ ?? 1", "nothing"),
    ("- 7.25", "neg"),
    ("> 1 and < 5 or == 9", "count"),
    ("$ * 2 == 6", "count"),
    ("`DE`", "country"),
    ("{a: 1}", "count"),
    ("startsWith($, 'X') or $ == 'DE'", "country"),
    ("null, 'a'", "nothing"),
    ("true, false", "off"),
    ("> 1, null", "nothing"),
]


@pytest.mark.parametrize("text", STANDARD)
def test_standard_matches_zen(text: str) -> None:
    ours = ours_standard(text, CONTEXT)
    theirs = zen_standard(text, CONTEXT)
    assert same(ours, theirs), f"{text!r}: ours {ours!r}, zen {theirs!r}"


@pytest.mark.parametrize(("text", "column"), UNARY)
def test_unary_matches_zen(text: str, column: str) -> None:
    value = CONTEXT[column]
    ours = ours_unary(text, CONTEXT, value)
    theirs = zen_unary(text, CONTEXT, value)
    assert same(ours, theirs), f"{text!r} with $={value!r}: ours {ours!r}, zen {theirs!r}"


def test_the_table_is_large_enough() -> None:
    assert len(STANDARD) + len(UNARY) >= 300
