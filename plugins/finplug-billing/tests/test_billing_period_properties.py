"""Properties of billing periods, their instants and proration, over generated dates."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from finplug_billing.periods import (
    Anchor,
    Interval,
    Period,
    bounds,
    next_period,
    period_of,
    periods_between,
    plan_change,
    prorate,
    remaining_days,
    today_in,
)

days = st.dates(min_value=date(1980, 1, 1), max_value=date(2060, 12, 31))
intervals = st.sampled_from(list(Interval))
anchors = st.sampled_from(list(Anchor))
# Subscription dates weighted towards the days short months lack.
subscription_days = st.one_of(
    days,
    st.builds(
        lambda year, month, day: date(year, month, min(day, calendar.monthrange(year, month)[1])),
        st.integers(1980, 2060),
        st.integers(1, 12),
        st.sampled_from([28, 29, 30, 31]),
    ),
)
fees = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False, allow_infinity=False)
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Asia/Tehran",
    "Pacific/Chatham",
    "America/Santiago",  # midnight jumps
    "America/Havana",  # midnight jumps and repeated midnights
    "America/Asuncion",
    "Asia/Beirut",
    "Pacific/Apia",  # a skipped day
]
zones = st.sampled_from(ZONES)
LENGTHS = {
    Interval.WEEKLY: (7, 7),
    Interval.MONTHLY: (28, 31),
    Interval.QUARTERLY: (89, 92),
    Interval.YEARLY: (365, 366),
}


@settings(max_examples=150, deadline=None)
@given(
    first=days,
    span=st.integers(min_value=0, max_value=800),
    interval=intervals,
    anchor=anchors,
    subscribed_on=subscription_days,
)
def test_periods_tile_time_without_gaps_or_overlaps(
    first: date, span: int, interval: Interval, anchor: Anchor, subscribed_on: date
) -> None:
    last = first + timedelta(days=span)
    periods = periods_between(first, last, interval, anchor, subscribed_on)
    assert periods[0].start <= first
    assert periods[-1].end > last
    for earlier, later in pairwise(periods):
        assert later.start == earlier.end  # no gap, no overlap
        assert next_period(earlier, interval, anchor, subscribed_on) == later
    low, high = LENGTHS[interval]
    assert all(low <= period.days <= high for period in periods)
    # Every day lands in exactly the period of the chain that holds it.
    index = 0
    day = first
    while day <= last:
        while day not in periods[index]:
            index += 1
        assert period_of(day, interval, anchor, subscribed_on) == periods[index]
        day += timedelta(days=1)


@settings(max_examples=200, deadline=None)
@given(day=days, interval=intervals, anchor=anchors, subscribed_on=subscription_days)
def test_a_period_is_the_period_of_its_own_days(
    day: date, interval: Interval, anchor: Anchor, subscribed_on: date
) -> None:
    period = period_of(day, interval, anchor, subscribed_on)
    assert day in period
    assert period_of(period.start, interval, anchor, subscribed_on) == period
    assert period_of(period.end - timedelta(days=1), interval, anchor, subscribed_on) == period


@settings(max_examples=200, deadline=None)
@given(day=days, interval=intervals, subscribed_on=subscription_days)
def test_anniversary_periods_start_on_the_anchor_day(
    day: date, interval: Interval, subscribed_on: date
) -> None:
    period = period_of(day, interval, Anchor.ANNIVERSARY, subscribed_on)
    if interval is Interval.WEEKLY:
        assert period.start.weekday() == subscribed_on.weekday()
        return
    month_length = calendar.monthrange(period.start.year, period.start.month)[1]
    assert period.start.day == min(subscribed_on.day, month_length)
    step = {Interval.MONTHLY: 1, Interval.QUARTERLY: 3, Interval.YEARLY: 12}[interval]
    assert (period.start.month - subscribed_on.month) % step == 0


@settings(max_examples=200, deadline=None)
@given(day=days, zone=zones)
def test_a_day_starts_at_its_first_instant(day: date, zone: str) -> None:
    """The start is the first instant whose local time is on or after the day's midnight."""
    where = ZoneInfo(zone)
    start, end = bounds(Period(day, day + timedelta(days=1)), zone)
    assert start.tzinfo is UTC
    assert start.astimezone(where).date() >= day
    assert (start - timedelta(microseconds=1)).astimezone(where).date() < day
    assert timedelta(0) <= end - start <= timedelta(hours=26)


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1980, 1, 2), max_value=datetime(2060, 12, 30), timezones=st.just(UTC)
    ),
    zone=zones,
)
def test_today_in_lies_within_that_days_bounds(moment: datetime, zone: str) -> None:
    today = today_in(moment, zone)
    start, end = bounds(Period(today, today + timedelta(days=1)), zone)
    assert start <= moment < end


@settings(max_examples=200, deadline=None)
@given(
    old=fees,
    new=fees,
    day=days,
    interval=intervals,
    anchor=anchors,
    subscribed_on=subscription_days,
    data=st.data(),
)
def test_an_upgrade_and_a_downgrade_on_the_same_day_cancel_exactly(
    old: Decimal,
    new: Decimal,
    day: date,
    interval: Interval,
    anchor: Anchor,
    subscribed_on: date,
    data: st.DataObject,
) -> None:
    period = period_of(day, interval, anchor, subscribed_on)
    on = data.draw(st.dates(min_value=period.start, max_value=period.end - timedelta(days=1)))
    there = plan_change(old, new, period, on)
    back = plan_change(new, old, period, on)
    # Credits taken as negative, charges as positive: the round trip is worth nothing.
    assert (-there.credit + there.charge) + (-back.credit + back.charge) == 0
    assert there.net + back.net == 0
    # The old plan's used days and its credit make up its fee, exactly.
    used = period.days - remaining_days(period, on)
    assert prorate(old, used, period) + there.credit == old


@settings(max_examples=150, deadline=None)
@given(
    fee=fees,
    day=days,
    interval=intervals,
    anchor=anchors,
    subscribed_on=subscription_days,
    data=st.data(),
)
def test_prorations_over_a_periods_days_sum_to_the_fee(
    fee: Decimal,
    day: date,
    interval: Interval,
    anchor: Anchor,
    subscribed_on: date,
    data: st.DataObject,
) -> None:
    period = period_of(day, interval, anchor, subscribed_on)
    assert sum((prorate(fee, 1, period) for _ in range(period.days)), Fraction(0)) == fee
    # Any split of the period into stretches of days sums to the fee as well.
    cuts = data.draw(st.lists(st.integers(1, period.days - 1), max_size=6, unique=True))
    edges = [0, *sorted(cuts), period.days]
    stretches = [prorate(fee, b - a, period) for a, b in pairwise(edges)]
    assert sum(stretches, Fraction(0)) == fee
