"""Billing periods, their instants in the customer's time zone, proration and trials.

A subscription is billed period by period. This module computes those periods
as calendar dates, turns them into UTC instants in the customer's time zone,
and prorates fees by day. It is pure date arithmetic: no clock, no database.

Periods
    A :class:`Period` is a half-open range of local dates, ``start`` included,
    ``end`` excluded, so consecutive periods share a boundary date and tile time
    without gaps or overlaps. Its length in days is :attr:`Period.days`.

    With **calendar** billing, weeks start on Monday, months on the 1st,
    quarters on 1 January, 1 April, 1 July and 1 October, and years on
    1 January, whenever the subscription started (its first period is then
    partial and prorated).

    With **anniversary** billing, periods start on the subscription date's
    weekday (weekly) or day of the month (monthly, quarterly, yearly; quarters
    and years counted from the subscription's month). A day that a month does
    not have falls on that month's last day: a subscription from 31 January
    renews on 28 (or 29) February, 31 March, 30 April, 31 May, and so on; the
    anchor always stays the 31st, so a short month never shortens the months
    after it. A yearly subscription from 29 February renews on 28 February in
    common years and on 29 February in leap years.

Instants
    :func:`bounds` gives a period's start and end as UTC instants: local
    midnight of the start and end dates in the customer's IANA time zone. Days
    are not all 24 hours long: a month holding a daylight-saving change is one
    hour shorter or longer in seconds, and usage is measured over those real
    instants. Where a zone's clocks jump over midnight (Chile and Cuba have
    started summer time at 00:00), the local day begins at the first instant
    that exists on or after its midnight, the moment of the jump. Where midnight
    happens twice (clocks turned back from 01:00 to 00:00), the day begins at
    the first of the two. A local day skipped entirely (Samoa's 30 December 2011)
    begins and ends at the same instant.

Proration
    Fees are prorated by whole days, over the period's actual number of days:
    ``amount x days / period.days``, an exact :class:`~fractions.Fraction` that
    the invoice rounds once. On a plan change the **change day counts as a day
    of the new plan**: changing on day ``on`` leaves the old plan the days
    ``[period.start, on)`` and gives the new plan ``[on, period.end)``
    (:func:`remaining_days`). :func:`plan_change` returns the credit for the old
    plan's unused days and the charge for the new plan's remaining days; both
    are prorated over the same days, so an upgrade and its reverse on the same
    day cancel exactly, and the old plan's used part is
    ``Fraction(old_fee) - credit`` exactly.

Trials
    A trial of ``n`` days started on day ``d`` covers the days ``d`` to
    ``d + n - 1``; :func:`trial_end` returns ``d + n``, the first paying day
    (exclusive, like a period's end).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from finplug.sockets.billing import Anchor  # the socket's: subscriptions carry it

__all__ = [
    "Anchor",
    "Interval",
    "Period",
    "PlanChange",
    "bounds",
    "next_period",
    "period_of",
    "periods_between",
    "plan_change",
    "prorate",
    "remaining_days",
    "today_in",
    "trial_end",
]

# A Monday: calendar weeks are anniversary weeks anchored on any Monday.
_A_MONDAY = date(2001, 1, 1)
_SECOND = timedelta(seconds=1)


class Interval(StrEnum):
    """How often a plan bills."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


_MONTHS = {Interval.MONTHLY: 1, Interval.QUARTERLY: 3, Interval.YEARLY: 12}


@dataclass(frozen=True, slots=True)
class Period:
    """A billing period: the local dates from ``start`` (included) to ``end`` (excluded).

    Raises :class:`ValueError` unless both are dates and ``start`` is before ``end``.
    """

    start: date
    end: date

    def __post_init__(self) -> None:
        _require_date(self.start, "period start")
        _require_date(self.end, "period end")
        if self.start >= self.end:
            raise ValueError(f"period: expected start before end, got {self.start} and {self.end}")

    @property
    def days(self) -> int:
        """The number of days in the period."""
        return (self.end - self.start).days

    def __contains__(self, day: object) -> bool:
        """Whether ``day`` (a date) is one of the period's days."""
        if not isinstance(day, date) or isinstance(day, datetime):
            return False
        return self.start <= day < self.end


def period_of(
    day: date, interval: Interval | str, anchor: Anchor | str, subscribed_on: date
) -> Period:
    """The billing period holding ``day``, for a subscription started on ``subscribed_on``.

    Calendar periods ignore ``subscribed_on``; anniversary periods start on its
    weekday or its day of the month (clamped to short months, see the module's
    documentation). ``day`` may fall before ``subscribed_on``: the periods extend
    backwards on the same grid.
    """
    _require_date(day, "day")
    _require_date(subscribed_on, "subscribed_on")
    interval = Interval(interval)
    anchor = Anchor(anchor)
    if interval is Interval.WEEKLY:
        origin = _A_MONDAY if anchor is Anchor.CALENDAR else subscribed_on
        start = day - timedelta(days=(day - origin).days % 7)
        return Period(start, start + timedelta(days=7))
    step = _MONTHS[interval]
    if anchor is Anchor.CALENDAR:
        origin_month, anchor_day = 0, 1  # month 0 is January of year 0: quarters from January
    else:
        origin_month, anchor_day = _month_index(subscribed_on), subscribed_on.day
    month = origin_month + (_month_index(day) - origin_month) // step * step
    start = _on_day(month, anchor_day)
    if day < start:
        month -= step
        start = _on_day(month, anchor_day)
    return Period(start, _on_day(month + step, anchor_day))


def next_period(
    period: Period, interval: Interval | str, anchor: Anchor | str, subscribed_on: date
) -> Period:
    """The period after ``period`` on the same grid (it starts on ``period.end``)."""
    return period_of(period.end, interval, anchor, subscribed_on)


def periods_between(
    first_day: date,
    last_day: date,
    interval: Interval | str,
    anchor: Anchor | str,
    subscribed_on: date,
) -> list[Period]:
    """The whole periods holding any day from ``first_day`` to ``last_day``, both included.

    The first period may start before ``first_day`` and the last end after
    ``last_day``: periods are not cut; prorate the partial ones by day. Raises
    :class:`ValueError` when ``last_day`` is before ``first_day``.
    """
    _require_date(first_day, "first_day")
    _require_date(last_day, "last_day")
    if last_day < first_day:
        raise ValueError(
            f"expected first_day on or before last_day, got {first_day} and {last_day}"
        )
    periods = [period_of(first_day, interval, anchor, subscribed_on)]
    while periods[-1].end <= last_day:
        periods.append(next_period(periods[-1], interval, anchor, subscribed_on))
    return periods


def bounds(period: Period, zone: str) -> tuple[datetime, datetime]:
    """The UTC instants at which ``period`` starts and ends in the IANA time zone ``zone``.

    Each is local midnight of the date, resolved as the module's documentation
    says when midnight is skipped or repeated. Raises :class:`ValueError` for an
    unknown zone.
    """
    where = _zone(zone)
    return _day_start(period.start, where), _day_start(period.end, where)


def today_in(now: datetime, zone: str) -> date:
    """The local date in the IANA time zone ``zone`` at the aware instant ``now``."""
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError(f"now: expected a time-zone-aware datetime, got {now!r}")
    return now.astimezone(_zone(zone)).date()


def remaining_days(period: Period, on: date) -> int:
    """The days of ``period`` from ``on`` (included) to its end: the new plan's days.

    The change day belongs to the new plan. Raises :class:`ValueError` unless
    ``on`` is one of the period's days.
    """
    _require_date(on, "on")
    if on not in period:
        raise ValueError(f"expected a day from {period.start} to before {period.end}, got {on}")
    return (period.end - on).days


def prorate(amount: Decimal, used_days: int, period: Period) -> Fraction:
    """``amount x used_days / period.days``, exact.

    Raises :class:`ValueError` unless ``amount`` is a finite Decimal and
    ``used_days`` an integer from 0 to ``period.days``.
    """
    _require_amount(amount, "amount")
    if not isinstance(used_days, int) or isinstance(used_days, bool):
        raise ValueError(f"used_days: expected an int, got {type(used_days).__name__}")
    if not 0 <= used_days <= period.days:
        raise ValueError(
            f"used_days: expected 0 to {period.days} (the period's days), got {used_days}"
        )
    return Fraction(amount) * used_days / period.days


class PlanChange(NamedTuple):
    """A mid-period plan change, prorated: what to credit and what to charge.

    ``credit`` is the amount to give back for the old plan's unused days (0 or
    more for a fee of 0 or more); ``charge`` is the new plan's fee for the
    remaining days. The customer's net effect is ``charge - credit``
    (:attr:`net`).
    """

    credit: Fraction
    charge: Fraction

    @property
    def net(self) -> Fraction:
        """``charge - credit``: what the change costs the customer (negative: owed back)."""
        return self.charge - self.credit


def plan_change(old_fee: Decimal, new_fee: Decimal, period: Period, on: date) -> PlanChange:
    """Prorate a change from a plan of ``old_fee`` to one of ``new_fee`` on day ``on``.

    Both fees are for the whole ``period``; the new plan owns the change day
    and the days after it (:func:`remaining_days`). For a plan paid in advance
    the credit goes back on a credit note; for one paid in arrears the old
    plan's used days are invoiced as ``Fraction(old_fee) - credit``.
    """
    _require_amount(old_fee, "old_fee")
    _require_amount(new_fee, "new_fee")
    days = remaining_days(period, on)
    return PlanChange(prorate(old_fee, days, period), prorate(new_fee, days, period))


def trial_end(started_on: date, trial_days: int) -> date:
    """The first day after a trial of ``trial_days`` days started on ``started_on``.

    A trial of 0 days ends on the day it starts. Raises :class:`ValueError` for
    a negative or non-integer ``trial_days``.
    """
    _require_date(started_on, "started_on")
    if not isinstance(trial_days, int) or isinstance(trial_days, bool) or trial_days < 0:
        raise ValueError(f"trial_days: expected an int of 0 or more, got {trial_days!r}")
    return started_on + timedelta(days=trial_days)


def _month_index(day: date) -> int:
    """Months since January of year 0."""
    return day.year * 12 + day.month - 1


def _on_day(month_index: int, anchor_day: int) -> date:
    """Day ``anchor_day`` of the month, or the month's last day if it is shorter."""
    year, month = divmod(month_index, 12)
    return date(year, month + 1, min(anchor_day, calendar.monthrange(year, month + 1)[1]))


def _day_start(day: date, zone: tzinfo) -> datetime:
    """The first instant (UTC) whose local time in ``zone`` is on or after ``day``'s midnight."""
    midnight = datetime.combine(day, time())
    # fold=0 is the earlier reading of a repeated midnight: the day's first instant.
    instant = midnight.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == midnight:
        return instant
    # Midnight is skipped. fold=1 reads it with the offset after the jump, an
    # instant before the jump; fold=0 with the offset before it, an instant at
    # or after the jump. Search between them for the first instant on or after
    # midnight (jumps happen on whole seconds).
    before = midnight.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = instant
    while after - before > _SECOND:
        middle = before + (after - before) // 2 // _SECOND * _SECOND
        if middle.astimezone(zone).replace(tzinfo=None) >= midnight:
            after = middle
        else:
            before = middle
    return after


def _zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; :class:`ValueError` when there is none."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"zone: expected an IANA time zone name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(
            f"zone: expected an IANA time zone name such as 'Europe/Berlin', got {name!r}"
        ) from error


def _require_date(day: object, what: str) -> None:
    """Raise unless ``day`` is a date (and not a datetime, whose time would be dropped)."""
    if not isinstance(day, date) or isinstance(day, datetime):
        raise ValueError(f"{what}: expected a date, got {day!r}")


def _require_amount(amount: object, what: str) -> None:
    """Raise unless ``amount`` is a finite Decimal (floats are not exact)."""
    if not isinstance(amount, Decimal):
        raise ValueError(f"{what}: expected a Decimal, got {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError(f"{what}: expected a finite Decimal, got {amount}")
