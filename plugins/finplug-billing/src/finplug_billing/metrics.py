"""Billable-metric aggregations: how a period's usage events become billable units.

A billable metric turns the usage events of one subscription into one number
per billing period, the quantity a charge model then prices. This module is
the pure arithmetic of that step: it takes the events already selected for a
subscription and metric (:class:`MeteredEvent`) and a period given as two UTC
instants, and returns an exact value. It never rounds: a sum of decimals stays
a :class:`~decimal.Decimal` with every digit, and a time-weighted level is a
:class:`~fractions.Fraction`; the invoice rounds each line once, later.

Rules, the same for every aggregation:

* **The period is half open.** An event counts when ``start <= at < end``: an
  event stamped exactly at a period boundary belongs to the period that starts
  there. ``start`` must be strictly before ``end``; both are time-zone-aware
  (the billing period's bounds in UTC, see :func:`finplug_billing.periods.bounds`).
* **Input order does not matter.** Events may arrive late or out of order; the
  result depends only on the set of events, never on the order of the list.
* **An event id names one event.** When the same id appears more than once with
  the same content (a replayed event), it is counted once. Two events that
  share an id but differ in time, value or key are a caller error
  (:class:`ValueError`), because no order-independent choice between them is
  right. The caller deduplicates on ingestion as well; this is the safety net.
* **Events without the metric's field are skipped** by the aggregations that
  read it: ``sum``, ``max``, ``latest`` and ``weighted_sum`` ignore events
  whose ``value`` is ``None``, ``unique_count`` ignores events whose ``key`` is
  ``None``. ``count`` counts every event.
* **Nothing to aggregate is zero**, for every aggregation (the latest value of
  no events is 0, the maximum of no values is 0).

The aggregations, as Lago defines them:

``count``
    The number of events in the period.
``sum``
    The sum of the events' values. Values may be negative.
``max``
    The largest value in the period.
``unique_count``
    The number of distinct keys (the field's text) in the period.
``latest``
    The value of the most recent event. Ties on the timestamp are broken by the
    event id (the larger id is the later event), so the answer is the same
    whatever order the events come in.
``weighted_sum``
    The time-weighted level over the period. Each event's value is an
    *increment* of a level; the level starts at ``carried`` (a recurring metric
    carries the previous period's closing level in) or 0 (a metered metric), and
    the result is the integral of the level over the period divided by the
    period's length: a level of 20 held for one day of a 31-day month then 30
    for fifteen days gives 20 x 1/31 + 30 x 15/31 = 470/31. Time is measured
    exactly (to the microsecond, which weighs "per second" the same way), and
    events at the same instant apply together. The closing level to carry into
    the next period is ``aggregate(Aggregation.SUM, ..., carried=carried)``
    over the same events and period.

``carried`` is accepted by ``sum`` (a recurring sum adds the previous total)
and ``weighted_sum`` (the opening level) only; Lago allows ``count``, ``max``
and ``latest`` on metered metrics only (see :attr:`Aggregation.can_recur`), and
a recurring ``unique_count`` needs the carried set of keys, not a number, so it
is the caller's to assemble.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Literal, overload

__all__ = ["Aggregation", "MeteredEvent", "aggregate"]

# Addition and comparison under this context never round: the precision is the
# largest libmpdec allows, and an inexact result would raise instead.
_EXACT = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow],
)
_MICROSECOND = timedelta(microseconds=1)


class Aggregation(StrEnum):
    """How a billable metric aggregates its events over a billing period."""

    COUNT = "count"
    SUM = "sum"
    MAX = "max"
    UNIQUE_COUNT = "unique_count"
    LATEST = "latest"
    WEIGHTED_SUM = "weighted_sum"

    @property
    def can_recur(self) -> bool:
        """Whether a metric with this aggregation may be recurring (Lago's rule).

        ``sum``, ``unique_count`` and ``weighted_sum`` may carry their result
        into later periods; ``count``, ``max`` and ``latest`` reset every period.
        """
        return self in _RECURRING


_RECURRING = frozenset({Aggregation.SUM, Aggregation.UNIQUE_COUNT, Aggregation.WEIGHTED_SUM})
_TAKES_CARRIED = frozenset({Aggregation.SUM, Aggregation.WEIGHTED_SUM})


@dataclass(frozen=True, slots=True)
class MeteredEvent:
    """One usage event, reduced to what the aggregations read.

    ``id`` is the event's idempotency key (Lago's transaction id); ``at`` is the
    event's time (any time-zone-aware datetime, stored converted to UTC);
    ``value`` is the metric's field as an exact decimal, or ``None`` when the
    metric has no field or the event lacks it; ``key`` is the field's text, the
    identity ``unique_count`` counts. Invalid fields raise :class:`ValueError`.
    """

    id: str
    at: datetime
    value: Decimal | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"event id: expected a non-empty string, got {self.id!r}")
        _require_aware(self.at, "event at")
        object.__setattr__(self, "at", self.at.astimezone(UTC))
        if self.value is not None:
            _require_decimal(self.value, f"event {self.id!r} value")
        if self.key is not None and not isinstance(self.key, str):
            raise ValueError(
                f"event {self.id!r} key: expected a string or None, got {type(self.key).__name__}"
            )


@overload
def aggregate(
    kind: Literal[Aggregation.WEIGHTED_SUM, "weighted_sum"],
    events: Iterable[MeteredEvent],
    *,
    start: datetime,
    end: datetime,
    carried: Decimal | None = None,
) -> Fraction: ...


@overload
def aggregate(
    kind: Literal[
        Aggregation.COUNT,
        Aggregation.SUM,
        Aggregation.MAX,
        Aggregation.UNIQUE_COUNT,
        Aggregation.LATEST,
        "count",
        "sum",
        "max",
        "unique_count",
        "latest",
    ],
    events: Iterable[MeteredEvent],
    *,
    start: datetime,
    end: datetime,
    carried: Decimal | None = None,
) -> Decimal: ...


@overload
def aggregate(
    kind: Aggregation | str,
    events: Iterable[MeteredEvent],
    *,
    start: datetime,
    end: datetime,
    carried: Decimal | None = None,
) -> Decimal | Fraction: ...


def aggregate(
    kind: Aggregation | str,
    events: Iterable[MeteredEvent],
    *,
    start: datetime,
    end: datetime,
    carried: Decimal | None = None,
) -> Decimal | Fraction:
    """Aggregate ``events`` falling in ``[start, end)`` the way ``kind`` says.

    Returns an exact :class:`~decimal.Decimal` for every aggregation but
    ``weighted_sum``, which returns a :class:`~fractions.Fraction` (the
    overloads tell a type checker which, for a literal ``kind``). ``carried``
    is the previous period's result for a recurring ``sum`` (added) or
    ``weighted_sum`` (the opening level). The rules (half-open period, order
    independence, duplicate ids, missing fields, zero for nothing) are in the
    module's documentation. Raises :class:`ValueError` for an unknown ``kind``,
    a naive or empty window, a ``carried`` the aggregation does not take, or two
    different events sharing one id.
    """
    kind = Aggregation(kind)
    _require_aware(start, "start")
    _require_aware(end, "end")
    if start >= end:
        raise ValueError(f"expected start before end, got start={start} and end={end}")
    if carried is not None:
        if kind not in _TAKES_CARRIED:
            raise ValueError(f"carried applies to sum and weighted_sum only, not to {kind.value}")
        _require_decimal(carried, "carried")
    inside = [event for event in _distinct(events) if start <= event.at < end]
    if kind is Aggregation.COUNT:
        return Decimal(len(inside))
    if kind is Aggregation.UNIQUE_COUNT:
        return Decimal(len({event.key for event in inside if event.key is not None}))
    valued = [event for event in inside if event.value is not None]
    if kind is Aggregation.WEIGHTED_SUM:
        return _weighted_sum(valued, start, end, carried)
    values = [_value(event) for event in valued]
    if kind is Aggregation.SUM:
        with decimal.localcontext(_EXACT):
            return sum(values, carried if carried is not None else Decimal(0))
    if kind is Aggregation.MAX:
        return max(values, default=Decimal(0))
    # LATEST: the greatest (at, id) wins, whatever the input order.
    if not valued:
        return Decimal(0)
    return _value(max(valued, key=lambda event: (event.at, event.id)))


def _weighted_sum(
    valued: list[MeteredEvent], start: datetime, end: datetime, carried: Decimal | None
) -> Fraction:
    """The time-weighted level over ``[start, end)``: the area under it over its length."""
    level = Fraction(carried) if carried is not None else Fraction(0)
    area = Fraction(0)
    cursor = start
    for event in sorted(valued, key=lambda event: event.at):
        area += level * ((event.at - cursor) // _MICROSECOND)
        level += Fraction(_value(event))
        cursor = event.at
    area += level * ((end - cursor) // _MICROSECOND)
    return area / ((end - start) // _MICROSECOND)


def _distinct(events: Iterable[MeteredEvent]) -> list[MeteredEvent]:
    """The events with each id once; a conflicting reuse of an id raises."""
    by_id: dict[str, MeteredEvent] = {}
    for event in events:
        if not isinstance(event, MeteredEvent):
            raise ValueError(f"expected MeteredEvent items, got {type(event).__name__}")
        first = by_id.setdefault(event.id, event)
        if first != event:
            raise ValueError(
                f"two different events share the id {event.id!r}: an event id must name "
                "one event (a replay must repeat the same time, value and key)"
            )
    return list(by_id.values())


def _value(event: MeteredEvent) -> Decimal:
    """An event's value, known to be present."""
    assert event.value is not None  # callers filter on it
    return event.value


def _require_aware(moment: object, what: str) -> None:
    """Raise unless ``moment`` is a time-zone-aware datetime."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{what}: expected a time-zone-aware datetime, got {moment!r}")


def _require_decimal(number: object, what: str) -> None:
    """Raise unless ``number`` is a finite Decimal (floats are not exact)."""
    if not isinstance(number, Decimal):
        raise ValueError(f"{what}: expected a Decimal, got {type(number).__name__}")
    if not number.is_finite():
        raise ValueError(f"{what}: expected a finite Decimal, got {number}")
