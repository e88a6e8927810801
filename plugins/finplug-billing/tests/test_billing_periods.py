"""Billing periods, their instants across daylight-saving changes, proration and trials."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from finplug_billing.periods import (
    Anchor,
    Interval,
    Period,
    PlanChange,
    bounds,
    next_period,
    period_of,
    periods_between,
    plan_change,
    prorate,
    remaining_days,
    today_in,
    trial_end,
)

D = date
CAL = Anchor.CALENDAR
ANN = Anchor.ANNIVERSARY


def cents(value: Fraction) -> int:
    from finplug_billing.totals import round_minor  # billing's one rounding point

    return round_minor(value, 2)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def hours(period: Period, zone: str) -> float:
    start, end = bounds(period, zone)
    return (end - start) / timedelta(hours=1)


# --------------------------------------------------------------- calendar periods


@pytest.mark.parametrize(
    ("interval", "day", "expected"),
    [
        (Interval.WEEKLY, D(2024, 5, 15), Period(D(2024, 5, 13), D(2024, 5, 20))),  # a Wednesday
        (Interval.WEEKLY, D(2024, 5, 13), Period(D(2024, 5, 13), D(2024, 5, 20))),  # a Monday
        (Interval.WEEKLY, D(2024, 5, 19), Period(D(2024, 5, 13), D(2024, 5, 20))),  # a Sunday
        (Interval.MONTHLY, D(2024, 2, 29), Period(D(2024, 2, 1), D(2024, 3, 1))),
        (Interval.MONTHLY, D(2024, 12, 31), Period(D(2024, 12, 1), D(2025, 1, 1))),
        (Interval.QUARTERLY, D(2024, 5, 15), Period(D(2024, 4, 1), D(2024, 7, 1))),
        (Interval.QUARTERLY, D(2024, 12, 31), Period(D(2024, 10, 1), D(2025, 1, 1))),
        (Interval.QUARTERLY, D(2024, 1, 1), Period(D(2024, 1, 1), D(2024, 4, 1))),
        (Interval.YEARLY, D(2024, 7, 4), Period(D(2024, 1, 1), D(2025, 1, 1))),
    ],
)
def test_calendar_periods(interval: Interval, day: date, expected: Period) -> None:
    # The subscription date does not move calendar periods.
    for subscribed_on in (D(2023, 8, 17), D(2024, 2, 29), day):
        assert period_of(day, interval, CAL, subscribed_on) == expected


# --------------------------------------------------------------- anniversary periods


def chain(first_day: date, interval: Interval, subscribed_on: date, count: int) -> list[date]:
    period = period_of(first_day, interval, ANN, subscribed_on)
    starts = [period.start]
    for _ in range(count - 1):
        period = next_period(period, interval, ANN, subscribed_on)
        starts.append(period.start)
    return starts


def test_a_31st_falls_on_short_months_last_day_then_returns_to_the_31st() -> None:
    starts = chain(D(2023, 1, 31), Interval.MONTHLY, D(2023, 1, 31), 8)
    assert starts == [
        D(2023, 1, 31),
        D(2023, 2, 28),
        D(2023, 3, 31),
        D(2023, 4, 30),
        D(2023, 5, 31),
        D(2023, 6, 30),
        D(2023, 7, 31),
        D(2023, 8, 31),
    ]


@pytest.mark.parametrize(
    ("anchor_day", "february", "march"),
    [(29, D(2023, 2, 28), D(2023, 3, 29)), (30, D(2023, 2, 28), D(2023, 3, 30))],
)
def test_the_29th_and_30th_fall_on_the_28th_in_a_common_february(
    anchor_day: int, february: date, march: date
) -> None:
    subscribed_on = D(2023, 1, anchor_day)
    assert chain(subscribed_on, Interval.MONTHLY, subscribed_on, 3) == [
        subscribed_on,
        february,
        march,
    ]


def test_the_30th_falls_on_the_29th_in_a_leap_february() -> None:
    subscribed_on = D(2024, 1, 30)
    assert chain(subscribed_on, Interval.MONTHLY, subscribed_on, 3) == [
        subscribed_on,
        D(2024, 2, 29),
        D(2024, 3, 30),
    ]


def test_29_february_renews_on_28_february_in_common_years() -> None:
    subscribed_on = D(2024, 2, 29)
    assert chain(subscribed_on, Interval.YEARLY, subscribed_on, 6) == [
        D(2024, 2, 29),
        D(2025, 2, 28),
        D(2026, 2, 28),
        D(2027, 2, 28),
        D(2028, 2, 29),
        D(2029, 2, 28),
    ]


def test_anniversary_quarters_count_from_the_subscription_month() -> None:
    subscribed_on = D(2023, 11, 30)
    assert chain(subscribed_on, Interval.QUARTERLY, subscribed_on, 5) == [
        D(2023, 11, 30),
        D(2024, 2, 29),
        D(2024, 5, 30),
        D(2024, 8, 30),
        D(2024, 11, 30),
    ]


def test_anniversary_weeks_start_on_the_subscription_weekday() -> None:
    subscribed_on = D(2024, 5, 16)  # a Thursday
    assert period_of(D(2024, 5, 22), Interval.WEEKLY, ANN, subscribed_on) == Period(
        D(2024, 5, 16), D(2024, 5, 23)
    )
    assert period_of(D(2024, 5, 23), "weekly", "anniversary", subscribed_on).start == D(2024, 5, 23)


def test_anniversary_periods_extend_before_the_subscription() -> None:
    subscribed_on = D(2024, 3, 31)
    assert period_of(D(2024, 3, 2), Interval.MONTHLY, ANN, subscribed_on) == Period(
        D(2024, 2, 29), D(2024, 3, 31)
    )


def test_periods_between_returns_whole_periods() -> None:
    periods = periods_between(D(2024, 1, 15), D(2024, 3, 1), Interval.MONTHLY, CAL, D(2024, 1, 15))
    assert periods == [
        Period(D(2024, 1, 1), D(2024, 2, 1)),
        Period(D(2024, 2, 1), D(2024, 3, 1)),
        Period(D(2024, 3, 1), D(2024, 4, 1)),
    ]
    single = periods_between(D(2024, 1, 15), D(2024, 1, 15), Interval.MONTHLY, ANN, D(2024, 1, 15))
    assert single == [Period(D(2024, 1, 15), D(2024, 2, 15))]
    with pytest.raises(ValueError, match="first_day on or before last_day"):
        periods_between(D(2024, 2, 1), D(2024, 1, 31), Interval.MONTHLY, CAL, D(2024, 1, 1))


# --------------------------------------------------------------- instants across DST


@pytest.mark.parametrize(
    ("zone", "period", "start", "end"),
    [
        # Central Europe: summer time from 31 March, winter time from 27 October 2024.
        (
            "Europe/Berlin",
            Period(D(2024, 3, 1), D(2024, 4, 1)),
            utc(2024, 2, 29, 23),
            utc(2024, 3, 31, 22),
        ),
        (
            "Europe/Berlin",
            Period(D(2024, 10, 1), D(2024, 11, 1)),
            utc(2024, 9, 30, 22),
            utc(2024, 10, 31, 23),
        ),
        # New York: 10 March and 3 November 2024.
        (
            "America/New_York",
            Period(D(2024, 3, 1), D(2024, 4, 1)),
            utc(2024, 3, 1, 5),
            utc(2024, 4, 1, 4),
        ),
        (
            "America/New_York",
            Period(D(2024, 11, 1), D(2024, 12, 1)),
            utc(2024, 11, 1, 4),
            utc(2024, 12, 1, 5),
        ),
        # Sydney, southern hemisphere: summer time ends 7 April, starts 6 October 2024.
        (
            "Australia/Sydney",
            Period(D(2024, 4, 1), D(2024, 5, 1)),
            utc(2024, 3, 31, 13),
            utc(2024, 4, 30, 14),
        ),
        (
            "Australia/Sydney",
            Period(D(2024, 10, 1), D(2024, 11, 1)),
            utc(2024, 9, 30, 14),
            utc(2024, 10, 31, 13),
        ),
    ],
)
def test_bounds_are_local_midnights_across_dst(
    zone: str, period: Period, start: datetime, end: datetime
) -> None:
    assert bounds(period, zone) == (start, end)
    first, last = bounds(period, zone)
    assert first.tzinfo is UTC
    assert last.tzinfo is UTC


@pytest.mark.parametrize(
    ("zone", "period", "shift_hours"),
    [
        ("Europe/Berlin", Period(D(2024, 3, 1), D(2024, 4, 1)), -1),
        ("Europe/Berlin", Period(D(2024, 10, 1), D(2024, 11, 1)), 1),
        ("Europe/Berlin", Period(D(2024, 1, 1), D(2025, 1, 1)), 0),  # a whole year evens out
        ("America/New_York", Period(D(2024, 3, 1), D(2024, 4, 1)), -1),
        ("America/New_York", Period(D(2024, 11, 1), D(2024, 12, 1)), 1),
        ("Australia/Sydney", Period(D(2024, 4, 1), D(2024, 5, 1)), 1),
        ("Australia/Sydney", Period(D(2024, 10, 1), D(2024, 11, 1)), -1),
        ("Asia/Shanghai", Period(D(2024, 3, 1), D(2024, 4, 1)), 0),
        ("Asia/Shanghai", Period(D(2024, 10, 1), D(2024, 11, 1)), 0),
        ("America/Santiago", Period(D(2023, 9, 1), D(2023, 10, 1)), -1),
        ("America/Havana", Period(D(2024, 3, 1), D(2024, 4, 1)), -1),
        ("America/Havana", Period(D(2024, 11, 1), D(2024, 12, 1)), 1),
    ],
)
def test_a_month_with_a_dst_change_is_an_hour_shorter_or_longer(
    zone: str, period: Period, shift_hours: int
) -> None:
    assert hours(period, zone) == period.days * 24 + shift_hours


def test_shanghai_has_no_dst_and_a_fixed_offset() -> None:
    period = Period(D(2024, 1, 1), D(2025, 1, 1))
    assert bounds(period, "Asia/Shanghai") == (utc(2023, 12, 31, 16), utc(2024, 12, 31, 16))
    for month in range(1, 13):
        monthly = period_of(D(2024, month, 1), Interval.MONTHLY, CAL, D(2024, 1, 1))
        assert hours(monthly, "Asia/Shanghai") == monthly.days * 24


def test_a_skipped_midnight_starts_the_day_at_the_jump() -> None:
    # Chile started summer time on 3 September 2023 at 00:00, straight to 01:00.
    sept_2, sept_3 = Period(D(2023, 9, 2), D(2023, 9, 3)), Period(D(2023, 9, 3), D(2023, 9, 4))
    jump = utc(2023, 9, 3, 4)  # 00:00 at UTC-4 is 01:00 at UTC-3
    assert bounds(sept_2, "America/Santiago") == (utc(2023, 9, 2, 4), jump)
    assert bounds(sept_3, "America/Santiago") == (jump, utc(2023, 9, 4, 3))
    assert hours(sept_3, "America/Santiago") == 23
    local_start = jump.astimezone(ZoneInfo("America/Santiago"))
    assert (local_start.date(), local_start.hour) == (D(2023, 9, 3), 1)
    # Cuba did the same on 10 March 2024.
    assert bounds(Period(D(2024, 3, 10), D(2024, 3, 11)), "America/Havana") == (
        utc(2024, 3, 10, 5),
        utc(2024, 3, 11, 4),
    )


def test_a_repeated_midnight_starts_the_day_at_its_first_occurrence() -> None:
    # Cuba ended summer time on 3 November 2024 at 01:00, back to 00:00.
    day = Period(D(2024, 11, 3), D(2024, 11, 4))
    assert bounds(day, "America/Havana") == (utc(2024, 11, 3, 4), utc(2024, 11, 4, 5))
    assert hours(day, "America/Havana") == 25


def test_a_skipped_day_is_zero_seconds_long() -> None:
    # Samoa crossed the date line: 29 December 2011 was followed by 31 December.
    skipped = Period(D(2011, 12, 30), D(2011, 12, 31))
    start, end = bounds(skipped, "Pacific/Apia")
    assert start == end == utc(2011, 12, 30, 10)
    week = Period(D(2011, 12, 26), D(2012, 1, 2))
    assert hours(week, "Pacific/Apia") == 6 * 24


class _JumpOverMidnight(tzinfo):
    """A made-up zone whose clocks jump from 23:30 to 00:30 in the night to 2 January 2024.

    The tz database has no such jump today (its midnight jumps start at 00:00),
    but a gap that straddles midnight must still start the day at the jump.
    """

    JUMP = datetime(2024, 1, 1, 23, 30)  # in UTC, and local time before it

    def utcoffset(self, dt: datetime | None) -> timedelta:
        assert dt is not None
        naive = dt.replace(tzinfo=None)
        if naive < self.JUMP:
            return timedelta(0)
        if naive >= self.JUMP + timedelta(hours=1):
            return timedelta(hours=1)
        return timedelta(hours=1) if dt.fold else timedelta(0)  # PEP 495 reading of a gap

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "JUMP"

    def fromutc(self, dt: datetime) -> datetime:
        shift = timedelta(hours=1) if dt.replace(tzinfo=None) >= self.JUMP else timedelta(0)
        return dt + shift


def test_a_jump_straddling_midnight_starts_the_day_at_the_jump() -> None:
    from finplug_billing.periods import _day_start  # the resolution rule, with a made-up zone

    zone = _JumpOverMidnight()
    jump = utc(2024, 1, 1, 23, 30)
    assert _day_start(D(2024, 1, 2), zone) == jump
    assert jump.astimezone(zone).replace(tzinfo=None) == datetime(2024, 1, 2, 0, 30)
    assert _day_start(D(2024, 1, 1), zone) == utc(2024, 1, 1)
    assert _day_start(D(2024, 1, 3), zone) == utc(2024, 1, 2, 23)


def test_today_in_the_customers_zone() -> None:
    now = utc(2024, 3, 31, 23, 30)
    assert today_in(now, "Europe/Berlin") == D(2024, 4, 1)
    assert today_in(now, "America/New_York") == D(2024, 3, 31)
    assert today_in(now.astimezone(timezone(timedelta(hours=-7))), "Asia/Shanghai") == D(2024, 4, 1)
    with pytest.raises(ValueError, match="time-zone-aware"):
        today_in(datetime(2024, 3, 31, 23, 30), "Europe/Berlin")


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../../etc/passwd", "Europe/"])
def test_an_unknown_zone_is_refused(zone: str) -> None:
    with pytest.raises(ValueError, match="IANA time zone"):
        bounds(Period(D(2024, 1, 1), D(2024, 2, 1)), zone)


# --------------------------------------------------------------- proration


def test_lagos_upgrade_example_prorates_by_actual_days() -> None:
    # https://getlago.com/docs/guide/subscriptions/upgrades-downgrades
    # Plan A EUR 100/month in arrears, calendar billing; upgrade to plan B (EUR 200)
    # on 15 January: A is invoiced for 14 of January's 31 days, EUR 45.16.
    january = period_of(D(2022, 1, 15), Interval.MONTHLY, CAL, D(2022, 1, 1))
    change = plan_change(Decimal(100), Decimal(200), january, D(2022, 1, 15))
    used_by_a = Fraction(100) - change.credit
    assert used_by_a == prorate(Decimal(100), 14, january) == Fraction(1400, 31)
    assert cents(used_by_a) == 45_16
    # The page's second half is cut off; by the same rule B costs 17/31 x 200 = 109.68.
    assert change.charge == Fraction(3400, 31)
    assert cents(change.charge) == 109_68


def test_the_change_day_belongs_to_the_new_plan() -> None:
    # Lago's 2022 upgrade page (getlago/lago-docs, docs/guide/plans/upgrades-downgrades):
    # a switch to a USD 40/month plan on 11 May leaves 21 days including 11 May,
    # 21 x 40 / 31 = 27.10.
    may = Period(D(2022, 5, 1), D(2022, 6, 1))
    assert remaining_days(may, D(2022, 5, 11)) == 21
    assert cents(plan_change(Decimal(20), Decimal(40), may, D(2022, 5, 11)).charge) == 27_10
    assert remaining_days(may, may.start) == may.days
    assert remaining_days(may, D(2022, 5, 31)) == 1


def test_a_seat_added_on_10_july_is_prorated_over_july_s_31_days() -> None:
    # https://getlago.com/docs/guide/plans/charges/prorated-vs-full prints USD 7.33 for
    # 22 days of a USD 10 seat, which is 22/30; July has 31 days, so by-day proration
    # (the rule of Lago's own upgrade example) gives 22/31 x 10 = 7.10.
    july = Period(D(2024, 7, 1), D(2024, 8, 1))
    used = remaining_days(july, D(2024, 7, 10))
    assert used == 22
    assert cents(prorate(Decimal(10), used, july)) == 7_10


def test_a_first_period_from_15_april_is_16_of_30_days() -> None:
    # https://getlago.com/docs/guide/plans/plan-model rounds this to EUR 5 in prose;
    # by day it is 16/30 x 10 = EUR 5.33.
    april = period_of(D(2022, 4, 15), Interval.MONTHLY, CAL, D(2022, 4, 15))
    assert prorate(Decimal(10), remaining_days(april, D(2022, 4, 15)), april) == Fraction(16, 3)
    assert cents(Fraction(16, 3)) == 5_33


def test_an_upgrade_and_its_reverse_on_the_same_day_cancel() -> None:
    march = Period(D(2024, 3, 1), D(2024, 4, 1))
    up = plan_change(Decimal("19.99"), Decimal("49.99"), march, D(2024, 3, 12))
    down = plan_change(Decimal("49.99"), Decimal("19.99"), march, D(2024, 3, 12))
    assert up == PlanChange(credit=Fraction(1999 * 20, 100 * 31), charge=Fraction(4999 * 20, 3100))
    assert up.net + down.net == 0


def test_prorate_edges() -> None:
    week = Period(D(2024, 5, 13), D(2024, 5, 20))
    assert prorate(Decimal("7.00"), 0, week) == 0
    assert prorate(Decimal("7.00"), 7, week) == 7
    assert prorate(Decimal("-7"), 1, week) == -1


@pytest.mark.parametrize(
    ("amount", "days", "message"),
    [
        (Decimal(10), 8, "expected 0 to 7"),
        (Decimal(10), -1, "expected 0 to 7"),
        (10.0, 1, "amount: expected a Decimal, got float"),
        (Decimal("NaN"), 1, "finite"),
        (Decimal(10), 1.0, "used_days: expected an int"),
        (Decimal(10), True, "used_days: expected an int"),
    ],
)
def test_bad_proration_arguments_are_refused(amount: object, days: object, message: str) -> None:
    week = Period(D(2024, 5, 13), D(2024, 5, 20))
    with pytest.raises(ValueError, match=message):
        prorate(amount, days, week)  # type: ignore[arg-type]


def test_a_change_outside_the_period_is_refused() -> None:
    march = Period(D(2024, 3, 1), D(2024, 4, 1))
    with pytest.raises(ValueError, match="expected a day from 2024-03-01 to before 2024-04-01"):
        plan_change(Decimal(1), Decimal(2), march, D(2024, 4, 1))
    with pytest.raises(ValueError, match="old_fee: expected a Decimal"):
        plan_change(1.5, Decimal(2), march, D(2024, 3, 4))  # type: ignore[arg-type]


# --------------------------------------------------------------- periods and trials


def test_period_validation_and_membership() -> None:
    period = Period(D(2024, 3, 1), D(2024, 4, 1))
    assert period.days == 31
    assert D(2024, 3, 1) in period
    assert D(2024, 4, 1) not in period
    assert datetime(2024, 3, 5, tzinfo=UTC) not in period  # a datetime is not a day
    with pytest.raises(ValueError, match="start before end"):
        Period(D(2024, 3, 1), D(2024, 3, 1))
    with pytest.raises(ValueError, match="expected a date"):
        Period(datetime(2024, 3, 1), D(2024, 4, 1))


def test_trials_end_on_the_first_paying_day() -> None:
    assert trial_end(D(2024, 3, 1), 14) == D(2024, 3, 15)
    assert trial_end(D(2024, 2, 20), 10) == D(2024, 3, 1)
    assert trial_end(D(2024, 3, 1), 0) == D(2024, 3, 1)
    with pytest.raises(ValueError, match="trial_days"):
        trial_end(D(2024, 3, 1), -1)


def test_bad_interval_or_anchor_names_are_refused() -> None:
    with pytest.raises(ValueError, match="not a valid Interval"):
        period_of(D(2024, 1, 1), "daily", CAL, D(2024, 1, 1))
    with pytest.raises(ValueError, match="not a valid Anchor"):
        period_of(D(2024, 1, 1), Interval.MONTHLY, "birthday", D(2024, 1, 1))
