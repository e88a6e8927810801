"""zen's (1.x style) date functions: dates are Unix timestamps in seconds, UTC.

``date('2022-01-01')`` and ``date('2022-01-01T10:00:00Z')`` give the
timestamp; ``time('10:00')`` the seconds since midnight; ``duration('30m')``
a number of seconds; ``year``, ``monthOfYear``, ``dayOfMonth``,
``dayOfWeek`` (ISO, Monday 1), ``dayOfYear``, ``weekOfYear`` (ISO),
``dateString``, ``monthString`` and ``weekdayString`` read a timestamp.

``'now'`` (exactly, as in zen) is the decision's instant: the clock a caller
pinned with :func:`pinned_clock` (the engine pins the decision's time, and a
backtest the logged decision's time), else the wall clock. A call that reads
``'now'`` is never folded into a constant at compile time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from finplug_risk_engine.expr._errors import EvaluationError
from finplug_risk_engine.expr._values import as_number, type_name

__all__ = ["DATE_FUNCTIONS", "NOW", "current_time", "pinned_clock"]

#: The date string that means the decision's instant.
NOW = "now"

_PINNED: ContextVar[datetime | str | None] = ContextVar("finplug_risk_engine_now", default=None)


@contextmanager
def pinned_clock(moment: datetime | str | None) -> Iterator[None]:
    """Within the block, ``date('now')`` is ``moment`` (an aware datetime or ISO text).

    ``None`` leaves the wall clock. Text is parsed only if an expression reads it.
    """
    token = _PINNED.set(moment)
    try:
        yield
    finally:
        _PINNED.reset(token)


def current_time() -> datetime:
    """The pinned instant, else the wall clock (UTC)."""
    pinned = _PINNED.get()
    if pinned is None:
        return datetime.now(UTC)
    if isinstance(pinned, str):
        return _parse(pinned)
    return pinned if pinned.tzinfo is not None else pinned.replace(tzinfo=UTC)


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*")
_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}


def _parse(text: str) -> datetime:
    if text == NOW:
        return current_time()
    candidate = text.strip().replace(" ", "T", 1)
    if candidate.endswith("Z"):
        candidate = candidate[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError as exc:
        raise EvaluationError(f"date: cannot parse {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _date(value: object) -> Decimal:
    if isinstance(value, str):
        return Decimal(int(_parse(value).timestamp()))
    return as_number(value, "date")


def _time(value: object) -> Decimal:
    if not isinstance(value, str):
        raise EvaluationError(f"time: expected a string, got {type_name(value)}")
    if value == NOW:
        moment = current_time()
        return Decimal(moment.hour * 3600 + moment.minute * 60 + moment.second)
    parts = value.strip().split(":")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise EvaluationError(f"time: cannot parse {value!r}")
    h, m, s = (int(p) for p in [*parts, "0"][:3])
    return Decimal(h * 3600 + m * 60 + s)


def _duration(value: object) -> Decimal:
    if not isinstance(value, str):
        raise EvaluationError(f"duration: expected a string, got {type_name(value)}")
    total = Decimal(0)
    pos = 0
    while pos < len(value):
        found = _DURATION.match(value, pos)
        if found is None or found.group(2) not in _UNITS:
            raise EvaluationError(f"duration: cannot parse {value!r}")
        total += Decimal(found.group(1)) * _UNITS[found.group(2)]
        pos = found.end()
    return total


def _moment(value: object, name: str) -> datetime:
    if isinstance(value, str):
        return _parse(value)
    return datetime.fromtimestamp(int(as_number(value, name)), tz=UTC)


def _reader(name: str, read: Callable[[datetime], Any]) -> Callable[[object], Any]:
    def run(value: object) -> Any:
        return read(_moment(value, name))

    return run


DATE_FUNCTIONS: dict[str, tuple[int, int, Callable[..., Any]]] = {
    "date": (1, 1, _date),
    "time": (1, 1, _time),
    "duration": (1, 1, _duration),
    "year": (1, 1, _reader("year", lambda d: Decimal(d.year))),
    "monthOfYear": (1, 1, _reader("monthOfYear", lambda d: Decimal(d.month))),
    "dayOfMonth": (1, 1, _reader("dayOfMonth", lambda d: Decimal(d.day))),
    "dayOfWeek": (1, 1, _reader("dayOfWeek", lambda d: Decimal(d.isoweekday()))),
    "dayOfYear": (1, 1, _reader("dayOfYear", lambda d: Decimal(d.timetuple().tm_yday))),
    "weekOfYear": (1, 1, _reader("weekOfYear", lambda d: Decimal(d.isocalendar()[1]))),
    "dateString": (1, 1, _reader("dateString", lambda d: d.strftime("%Y-%m-%d %H:%M:%S"))),
    "monthString": (1, 1, _reader("monthString", lambda d: d.strftime("%b"))),
    "weekdayString": (1, 1, _reader("weekdayString", lambda d: d.strftime("%a"))),
}
