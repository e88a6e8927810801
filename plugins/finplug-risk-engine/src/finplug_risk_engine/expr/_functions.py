"""The built-in functions of the ZEN language that this engine supports.

Each entry says how many arguments it takes, whether its second argument is a
``#`` closure, how a bare call in a unary cell meets ``$`` (``'=='``,
``'in'`` or ``None`` for "as a boolean", as zen-engine does), and the Python
implementation. A name missing here is a compile-time error. Left out on
purpose: ``rand`` (not deterministic), ``fuzzyMatch``, ``merge``/``mergeDeep``,
``startOf``/``endOf`` and the ``d(...)`` date objects of zen 2.x.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from finplug_risk_engine.expr._dates import DATE_FUNCTIONS
from finplug_risk_engine.expr._errors import EvaluationError
from finplug_risk_engine.expr._values import CTX, as_number, equals, to_text, type_name

__all__ = ["FUNCTIONS", "FunctionSpec"]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A built-in: arity, closure-ness, unary behaviour and implementation."""

    min_args: int
    max_args: int
    impl: Callable[..., Any]
    unary: str | None = "=="
    closure: bool = False


def _text(value: object, name: str, index: int = 0) -> str:
    if not isinstance(value, str):
        raise EvaluationError(f"{name}: argument {index} is not a string ({type_name(value)})")
    return value


def _array(value: object, name: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise EvaluationError(f"{name}: expected an array, got {type_name(value)}")
    return list(value)


def _numbers(value: object, name: str) -> list[Decimal]:
    return [as_number(v, name) for v in _array(value, name)]


def _nonempty(value: object, name: str) -> list[Decimal]:
    nums = _numbers(value, name)
    if not nums:
        raise EvaluationError(f"{name}: empty array")
    return nums


def _len(value: object) -> Decimal:
    if isinstance(value, str):
        return Decimal(len(value.encode()))  # zen counts UTF-8 bytes
    if isinstance(value, list | tuple):
        return Decimal(len(value))
    raise EvaluationError(f"len: cannot take the length of {type_name(value)}")


def _contains(haystack: object, needle: object) -> bool:
    if isinstance(haystack, str):
        return _text(needle, "contains", 1) in haystack
    if isinstance(haystack, list | tuple):
        return any(equals(needle, item) for item in haystack)
    raise EvaluationError(f"contains: expected a string or array, got {type_name(haystack)}")


def _search(name: str, value: object, pattern: object) -> re.Match[str] | None:
    try:
        return re.search(_text(pattern, name, 1), _text(value, name))
    except re.error as exc:
        raise EvaluationError(f"{name}: invalid pattern {pattern!r}: {exc}") from exc


def _matches(value: object, pattern: object) -> bool:
    return _search("matches", value, pattern) is not None


def _extract(value: object, pattern: object) -> list[str]:
    found = _search("extract", value, pattern)
    if found is None:
        return []
    return [found.group(0), *(g for g in found.groups() if g is not None)]


def _split(value: object, sep: object) -> list[str]:
    text, by = _text(value, "split"), _text(sep, "split", 1)
    if not by:
        return ["", *text, ""]
    return text.split(by)


def _round(value: object, places: object = None) -> Decimal:
    x = as_number(value, "round")
    dp = 0 if places is None else int(as_number(places, "round"))
    exponent = x.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -dp:
        return x
    return x.quantize(Decimal(1).scaleb(-dp), rounding=ROUND_HALF_UP, context=CTX)


def _integral(rounding: str, name: str) -> Callable[[object], Decimal]:
    def run(value: object) -> Decimal:
        return as_number(value, name).to_integral_value(rounding=rounding, context=CTX)

    return run


def _avg(value: object) -> Decimal:
    nums = _nonempty(value, "avg")
    return CTX.divide(sum(nums, Decimal(0)), Decimal(len(nums)))


def _median(value: object) -> Decimal:
    nums = sorted(_nonempty(value, "median"))
    mid = len(nums) // 2
    if len(nums) % 2:
        return nums[mid]
    return CTX.divide(CTX.add(nums[mid - 1], nums[mid]), Decimal(2))


def _mode(value: object) -> Decimal:
    counts = Counter(_nonempty(value, "mode"))
    best = max(counts.values())
    return max(n for n, c in counts.items() if c == best)


def _number(value: object) -> Decimal:
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation as exc:
            raise EvaluationError(f"number: invalid number {value!r}") from exc
    return as_number(value, "number")


def _is_numeric(value: object) -> bool:
    if isinstance(value, str):
        try:
            Decimal(value.strip())
        except InvalidOperation:
            return False
        return True
    return isinstance(value, Decimal | int | float) and not isinstance(value, bool)


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str):
        return value == "true"
    if isinstance(value, Decimal | int | float):
        return bool(value)
    return True


def _keys(value: object) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.keys())
    if isinstance(value, list | tuple):
        return [Decimal(i) for i in range(len(value))]
    raise EvaluationError(f"keys: expected an object, got {type_name(value)}")


def _values(value: object) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    raise EvaluationError(f"values: expected an object, got {type_name(value)}")


def _flatten(value: object) -> list[Any]:
    out: list[Any] = []
    for item in _array(value, "flatten"):
        if isinstance(item, list | tuple):
            out.extend(item)
        else:
            out.append(item)
    return out


def _predicate(result: object, name: str) -> bool:
    if result is True or result is False:
        return result
    raise EvaluationError(f"{name}: the closure must give a boolean, got {type_name(result)}")


Pred = Callable[[Any], Any]


def _all(items: object, pred: Pred) -> bool:
    return all(_predicate(pred(x), "all") for x in _array(items, "all"))


def _some(items: object, pred: Pred) -> bool:
    return any(_predicate(pred(x), "some") for x in _array(items, "some"))


def _none(items: object, pred: Pred) -> bool:
    return not any(_predicate(pred(x), "none") for x in _array(items, "none"))


def _one(items: object, pred: Pred) -> bool:
    return sum(_predicate(pred(x), "one") for x in _array(items, "one")) == 1


def _filter(items: object, pred: Pred) -> list[Any]:
    return [x for x in _array(items, "filter") if _predicate(pred(x), "filter")]


def _map(items: object, pred: Pred) -> list[Any]:
    return [pred(x) for x in _array(items, "map")]


def _flat_map(items: object, pred: Pred) -> list[Any]:
    return _flatten(_map(items, pred))


def _count(items: object, pred: Pred) -> Decimal:
    return Decimal(sum(_predicate(pred(x), "count") for x in _array(items, "count")))


def _abs(value: object) -> Decimal:
    return abs(as_number(value, "abs"))


def _sum(value: object) -> Decimal:
    total = Decimal(0)
    for n in _numbers(value, "sum"):
        total = CTX.add(total, n)
    return total


def _str_fn(name: str, fn: Callable[[str], Any]) -> Callable[[object], Any]:
    def run(value: object) -> Any:
        return fn(_text(value, name))

    return run


def _str2_fn(name: str, fn: Callable[[str, str], bool]) -> Callable[[object, object], bool]:
    def run(value: object, other: object) -> bool:
        return fn(_text(value, name), _text(other, name, 1))

    return run


FUNCTIONS: dict[str, FunctionSpec] = {
    "len": FunctionSpec(1, 1, _len),
    "upper": FunctionSpec(1, 1, _str_fn("upper", str.upper)),
    "lower": FunctionSpec(1, 1, _str_fn("lower", str.lower)),
    "trim": FunctionSpec(1, 1, _str_fn("trim", str.strip)),
    "startsWith": FunctionSpec(2, 2, _str2_fn("startsWith", str.startswith), None),
    "endsWith": FunctionSpec(2, 2, _str2_fn("endsWith", str.endswith), None),
    "contains": FunctionSpec(2, 2, _contains, None),
    "matches": FunctionSpec(2, 2, _matches, None),
    "extract": FunctionSpec(2, 2, _extract, "in"),
    "split": FunctionSpec(2, 2, _split, "in"),
    "abs": FunctionSpec(1, 1, _abs),
    "sum": FunctionSpec(1, 1, _sum),
    "avg": FunctionSpec(1, 1, _avg),
    "min": FunctionSpec(1, 1, lambda v: min(_nonempty(v, "min"))),
    "max": FunctionSpec(1, 1, lambda v: max(_nonempty(v, "max"))),
    "median": FunctionSpec(1, 1, _median),
    "mode": FunctionSpec(1, 1, _mode),
    "floor": FunctionSpec(1, 1, _integral(ROUND_FLOOR, "floor")),
    "ceil": FunctionSpec(1, 1, _integral(ROUND_CEILING, "ceil")),
    "trunc": FunctionSpec(1, 1, _integral(ROUND_DOWN, "trunc")),
    "round": FunctionSpec(1, 2, _round),
    "string": FunctionSpec(1, 1, to_text),
    "number": FunctionSpec(1, 1, _number),
    "bool": FunctionSpec(1, 1, _bool),
    "isNumeric": FunctionSpec(1, 1, _is_numeric, None),
    "type": FunctionSpec(1, 1, type_name),
    "keys": FunctionSpec(1, 1, _keys, "in"),
    "values": FunctionSpec(1, 1, _values, "in"),
    "flatten": FunctionSpec(1, 1, _flatten, "in"),
    "all": FunctionSpec(2, 2, _all, None, closure=True),
    "some": FunctionSpec(2, 2, _some, None, closure=True),
    "none": FunctionSpec(2, 2, _none, None, closure=True),
    "one": FunctionSpec(2, 2, _one, None, closure=True),
    "filter": FunctionSpec(2, 2, _filter, "in", closure=True),
    "map": FunctionSpec(2, 2, _map, "in", closure=True),
    "flatMap": FunctionSpec(2, 2, _flat_map, "in", closure=True),
    "count": FunctionSpec(2, 2, _count, closure=True),
}
FUNCTIONS.update(
    {name: FunctionSpec(lo, hi, impl) for name, (lo, hi, impl) in DATE_FUNCTIONS.items()}
)
