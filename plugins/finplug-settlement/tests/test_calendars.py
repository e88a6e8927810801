"""Business-day calendars, schedules, cut-offs and value dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped]  # untyped; test-only oracle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finplug_settlement.calendars import (
    BANK_COUNTRY_CALENDARS,
    CURRENCY_CALENDARS,
    BusinessCalendar,
    CalendarError,
    CalendarSource,
    Schedule,
    ScheduleKind,
    business_date,
    calendar_for,
    capture_day,
    cutoff_instant,
    value_date,
)

CN = BusinessCalendar.for_country("CN")
DE = BusinessCalendar.for_country("DE")
US = BusinessCalendar.for_country("US")
IL = BusinessCalendar.for_country("IL")  # Friday-Saturday weekend: its Sundays are business days
EUR = calendar_for("EUR")
USD = calendar_for("USD")

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
T1_BERLIN = Schedule(kind="daily", delay_days=1, timezone=BERLIN)


def d(text: str) -> date:
    return date.fromisoformat(text)


def at(text: str, zone: str) -> datetime:
    """A local wall time in ``zone`` (fold=0)."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def days(first: str, last: str) -> list[date]:
    start, end = d(first), d(last)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# ------------------------------------------------------------------ weekends and holidays


def test_cn_national_day_2025_with_its_make_up_weekend_days() -> None:
    assert CN.is_business_day(d("2025-09-26"))  # Friday
    assert not CN.is_business_day(d("2025-09-27"))  # an ordinary Saturday
    assert CN.is_business_day(d("2025-09-28"))  # make-up Sunday
    assert d("2025-09-28").weekday() == 6
    assert CN.is_business_day(d("2025-09-30"))
    assert not any(CN.is_business_day(x) for x in days("2025-10-01", "2025-10-08"))
    assert CN.is_business_day(d("2025-10-09"))
    assert CN.is_business_day(d("2025-10-11"))  # make-up Saturday
    assert d("2025-10-11").weekday() == 5
    assert not CN.is_business_day(d("2025-10-12"))


def test_cn_spring_festival_2026() -> None:
    assert CN.is_business_day(d("2026-02-14"))  # make-up Saturday before the break
    assert not any(CN.is_business_day(x) for x in days("2026-02-15", "2026-02-23"))
    assert CN.is_business_day(d("2026-02-24"))
    assert CN.is_business_day(d("2026-02-28"))  # make-up Saturday after it
    assert not CN.is_business_day(d("2026-03-01"))


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_cn_agrees_with_chinese_calendar_on_every_day(year: int) -> None:
    disagreements = [
        x
        for x in days(f"{year}-01-01", f"{year}-12-31")
        if CN.is_business_day(x) != chinese_calendar.is_workday(x)
    ]
    assert disagreements == []


def test_de_national_holidays() -> None:
    assert not DE.is_business_day(d("2025-10-03"))  # German Unity Day, a Friday
    assert DE.is_business_day(d("2025-10-02"))
    assert DE.is_business_day(d("2025-12-24"))  # not a national public holiday
    assert not DE.is_business_day(d("2025-12-25"))
    assert not DE.is_business_day(d("2025-12-26"))
    assert not DE.is_business_day(d("2025-10-04"))  # Saturday
    assert not DE.is_business_day(d("2025-10-05"))  # Sunday


def test_us_country_calendar_follows_federal_observance() -> None:
    assert not US.is_business_day(d("2025-11-27"))  # Thanksgiving
    assert US.is_business_day(d("2025-11-28"))
    # 4 July 2026 is a Saturday: the federal holiday is observed on Friday 3 July.
    assert d("2026-07-04").weekday() == 5
    assert not US.is_business_day(d("2026-07-03"))
    assert US.is_business_day(d("2026-07-06"))


def test_usd_settles_on_federal_reserve_days() -> None:
    assert not USD.is_business_day(d("2025-11-27"))
    assert not USD.is_business_day(d("2025-10-13"))  # Columbus Day: Reserve Banks closed
    # A Saturday holiday is not moved: the Reserve Banks are open on Friday 3 July.
    assert USD.is_business_day(d("2026-07-03"))
    # A Sunday holiday is: 4 July 2027 is a Sunday, Monday 5 July is closed.
    assert not USD.is_business_day(d("2027-07-05"))


def test_eur_follows_target_closing_days() -> None:
    assert not EUR.is_business_day(d("2026-04-03"))  # Good Friday
    assert not EUR.is_business_day(d("2026-04-06"))  # Easter Monday
    assert not EUR.is_business_day(d("2026-05-01"))
    assert not EUR.is_business_day(d("2025-12-26"))
    assert EUR.is_business_day(d("2025-10-03"))  # German Unity Day: TARGET is open
    assert EUR.is_business_day(d("2026-05-14"))  # Ascension: TARGET is open


def test_other_currency_defaults() -> None:
    # Japanese banks close on 2 January; it is no public holiday.
    assert not calendar_for("JPY").is_business_day(d("2026-01-02"))
    assert BusinessCalendar.for_country("JP").is_business_day(d("2026-01-02"))
    # HKD: general holidays, Saturday-Sunday week (holidays' HK has a Sunday-only weekend).
    hkd = calendar_for("HKD")
    assert not hkd.is_business_day(d("2026-04-03"))  # Good Friday, a general holiday
    assert not hkd.is_business_day(d("2026-03-07"))  # Saturday
    assert BusinessCalendar.for_country("HK").is_business_day(d("2026-03-07"))
    # GBP: England and Wales, where Easter Monday is a bank holiday.
    assert not calendar_for("GBP").is_business_day(d("2026-04-06"))
    assert not calendar_for("GBP").is_business_day(d("2026-08-31"))
    assert not calendar_for("CHF").is_business_day(d("2026-05-25"))  # Whit Monday, Zurich
    assert not calendar_for("SGD").is_business_day(d("2026-08-10"))  # National Day observed
    assert calendar_for("CNY") is CN


def test_bank_country_overrides_the_currency_default() -> None:
    assert calendar_for("EUR", "DE") is DE
    assert not calendar_for("EUR", "de").is_business_day(d("2025-10-03"))
    assert calendar_for("USD", "US") is USD  # US banks keep the Federal Reserve's days
    assert calendar_for("JPY", "JP") is calendar_for("JPY")
    assert calendar_for("MXN", "MX") is BusinessCalendar.for_country("MX")
    assert set(BANK_COUNTRY_CALENDARS) <= {"US", "GB", "UK", "JP", "HK", "CH"}
    assert set(CURRENCY_CALENDARS) == {"EUR", "USD", "CNY", "GBP", "JPY", "HKD", "SGD", "CHF"}


def test_calendars_are_shared_and_load_years_lazily() -> None:
    assert BusinessCalendar.for_country(" cn ") is CN
    assert BusinessCalendar.from_source(CalendarSource("market", "xecb")) is EUR
    nz = BusinessCalendar.for_country("NZ")  # used by no other test
    assert nz.loaded_years == frozenset()
    assert not nz.is_business_day(d("2031-12-25"))
    assert nz.loaded_years == {2031}
    nz.add_business_days(d("2031-12-31"), 1)
    assert nz.loaded_years == {2031, 2032}


# ------------------------------------------------------------------ business-day arithmetic


def test_add_business_days_rolls_first_then_counts() -> None:
    assert DE.add_business_days(d("2025-10-02"), 0) == d("2025-10-02")
    assert DE.add_business_days(d("2025-10-03"), 0) == d("2025-10-06")  # holiday rolls
    assert DE.add_business_days(d("2025-10-03"), 1) == d("2025-10-07")
    assert DE.add_business_days(d("2025-10-02"), 1) == d("2025-10-06")
    assert DE.add_business_days(d("2025-10-02"), 5) == d("2025-10-10")
    # China: Friday + 1 is the make-up Sunday.
    assert CN.add_business_days(d("2025-09-26"), 1) == d("2025-09-28")
    assert CN.add_business_days(d("2025-09-30"), 1) == d("2025-10-09")


def test_next_business_day_is_strictly_after() -> None:
    assert DE.next_business_day(d("2025-10-02")) == d("2025-10-06")
    assert DE.next_business_day(d("2025-10-06")) == d("2025-10-07")
    assert DE.next_business_day(d("2025-10-04")) == d("2025-10-06")


def test_business_days_between_is_half_open_and_signed() -> None:
    assert DE.business_days_between(d("2025-10-02"), d("2025-10-06")) == 1
    assert DE.business_days_between(d("2025-10-03"), d("2025-10-06")) == 0
    assert DE.business_days_between(d("2025-10-06"), d("2025-10-06")) == 0
    assert DE.business_days_between(d("2025-10-06"), d("2025-10-13")) == 5
    assert DE.business_days_between(d("2025-10-13"), d("2025-10-06")) == -5


# ------------------------------------------------------------------ T+N


def test_t_plus_1_from_friday_is_monday() -> None:
    assert value_date(at("2025-10-10T10:00", BERLIN), T1_BERLIN, DE) == d("2025-10-13")


def test_t_plus_1_from_thursday_before_a_friday_holiday_is_monday() -> None:
    assert value_date(at("2025-10-02T10:00", BERLIN), T1_BERLIN, DE) == d("2025-10-06")
    # Easter 2026: Good Friday and Easter Monday both closed.
    assert value_date(at("2026-04-02T10:00", BERLIN), T1_BERLIN, EUR) == d("2026-04-07")


def test_capture_on_a_holiday_counts_from_the_next_business_day() -> None:
    captured = at("2025-10-03T10:00", BERLIN)
    assert business_date(captured, T1_BERLIN, DE) == d("2025-10-06")
    assert value_date(captured, T1_BERLIN, DE) == d("2025-10-07")
    weekend = at("2025-10-04T10:00", BERLIN)
    assert value_date(weekend, T1_BERLIN, DE) == d("2025-10-07")


def test_t_plus_0_is_the_business_date() -> None:
    schedule = Schedule(kind="daily", timezone=BERLIN)
    assert value_date(at("2025-10-02T23:59", BERLIN), schedule, DE) == d("2025-10-02")
    assert value_date(at("2025-10-03T00:00", BERLIN), schedule, DE) == d("2025-10-06")


def test_capture_time_is_read_in_the_schedule_time_zone() -> None:
    schedule = Schedule(kind="daily", timezone="Asia/Shanghai")
    # 20:00 UTC on Thursday 25 Sep is 04:00 on Friday 26 Sep in Shanghai.
    captured = datetime(2025, 9, 25, 20, 0, tzinfo=UTC)
    assert business_date(captured, schedule, CN) == d("2025-09-26")


# ------------------------------------------------------------------ cut-offs and DST


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        (BERLIN, "2026-03-29"),  # spring forward
        (BERLIN, "2026-10-25"),  # fall back
        (NEW_YORK, "2026-03-08"),
        (NEW_YORK, "2026-11-01"),
    ],
)
def test_cutoff_at_18_00_on_a_dst_change_day(zone: str, day: str) -> None:
    schedule = Schedule(kind="daily", cutoff=time(18), timezone=zone)
    before, after = at(f"{day}T17:59", zone), at(f"{day}T18:00", zone)
    assert capture_day(before, schedule) == d(day)
    assert capture_day(after, schedule) == d(day) + timedelta(days=1)
    # On a calendar where that Sunday is a business day, the business date shows it too.
    assert business_date(before, schedule, IL) == d(day)
    assert business_date(after, schedule, IL) == d(day) + timedelta(days=1)
    # On a Monday-Friday calendar both roll to Monday.
    assert business_date(before, schedule, DE) == business_date(after, schedule, DE)
    assert cutoff_instant(d(day), schedule) == after.astimezone(UTC)


@pytest.mark.parametrize(
    ("zone", "day", "offset_before", "offset_after"),
    [
        (BERLIN, "2026-03-29", 1, 2),
        (BERLIN, "2026-10-25", 2, 1),
        (NEW_YORK, "2026-03-08", -5, -4),
        (NEW_YORK, "2026-11-01", -4, -5),
    ],
)
def test_cutoff_instant_offsets_on_both_sides(
    zone: str, day: str, offset_before: int, offset_after: int
) -> None:
    schedule = Schedule(kind="daily", cutoff=time(18), timezone=zone)
    change = d(day)
    day_before = cutoff_instant(change - timedelta(days=1), schedule)
    day_of = cutoff_instant(change, schedule)
    assert day_before.tzinfo is UTC
    assert day_of.tzinfo is UTC
    assert day_before == datetime.combine(change - timedelta(days=1), time(18 - offset_before), UTC)
    assert day_of == datetime.combine(change, time(18 - offset_after), UTC)
    # The business day spanning the change is 23 or 25 hours long.
    assert day_of - day_before == timedelta(hours=24 - (offset_after - offset_before))


def test_midnight_cutoff_closes_at_the_next_local_midnight() -> None:
    schedule = Schedule(kind="daily", timezone=BERLIN)
    assert cutoff_instant(d("2026-03-28"), schedule) == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert cutoff_instant(d("2026-03-29"), schedule) == datetime(2026, 3, 29, 22, tzinfo=UTC)
    assert cutoff_instant(d("2026-10-25"), schedule) == datetime(2026, 10, 25, 23, tzinfo=UTC)


def test_cutoff_in_a_skipped_hour_uses_the_offset_before_the_jump() -> None:
    berlin = Schedule(kind="daily", cutoff=time(2, 30), timezone=BERLIN)
    # 02:30 does not exist on 29 Mar 2026 in Berlin: read as 02:30 CET = 03:30 CEST.
    assert cutoff_instant(d("2026-03-29"), berlin) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    new_york = Schedule(kind="daily", cutoff=time(2, 30), timezone=NEW_YORK)
    assert cutoff_instant(d("2026-03-08"), new_york) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_cutoff_in_a_repeated_hour_is_the_first_occurrence() -> None:
    schedule = Schedule(kind="daily", cutoff=time(2, 30), timezone=BERLIN)
    cut = cutoff_instant(d("2026-10-25"), schedule)
    assert cut == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    first_pass = datetime(2026, 10, 25, 0, 40, tzinfo=UTC)  # 02:40 CEST
    second_pass = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET, 30 minutes later
    assert second_pass.astimezone(ZoneInfo(BERLIN)).time() == time(2, 10)
    # Both are after the cut-off instant, though the second's wall time is before 02:30.
    assert capture_day(first_pass, schedule) == d("2026-10-26")
    assert capture_day(second_pass, schedule) == d("2026-10-26")
    assert capture_day(datetime(2026, 10, 25, 0, 20, tzinfo=UTC), schedule) == d("2026-10-25")


# ------------------------------------------------------------------ weekly and monthly


def weekly(weekday: int, delay_days: int = 0) -> Schedule:
    return Schedule(kind="weekly", weekday=weekday, delay_days=delay_days, timezone=BERLIN)


def monthly(day_of_month: int, delay_days: int = 0) -> Schedule:
    return Schedule(
        kind="monthly", day_of_month=day_of_month, delay_days=delay_days, timezone=BERLIN
    )


def test_weekly_pays_on_the_first_anchor_on_or_after_availability() -> None:
    # Tuesday capture, Monday payouts: the next Monday.
    assert value_date(at("2025-09-30T10:00", BERLIN), weekly(0), DE) == d("2025-10-06")
    # Thursday + 1 business day is Monday 6 Oct, itself an anchor: paid that day.
    assert value_date(at("2025-10-02T10:00", BERLIN), weekly(0, 1), DE) == d("2025-10-06")
    # Monday capture with a Monday anchor and no delay: same day.
    assert value_date(at("2025-10-06T10:00", BERLIN), weekly(0), DE) == d("2025-10-06")
    # Delay pushes past the anchor: Monday + 2 is Wednesday, so next Monday.
    assert value_date(at("2025-10-06T10:00", BERLIN), weekly(0, 2), DE) == d("2025-10-13")


def test_weekly_anchor_on_a_holiday_rolls_forward() -> None:
    # Friday anchor on German Unity Day -> Monday.
    assert value_date(at("2025-09-29T10:00", BERLIN), weekly(4), DE) == d("2025-10-06")
    # Monday anchor on Easter Monday -> Tuesday.
    assert value_date(at("2026-03-31T10:00", BERLIN), weekly(0), DE) == d("2026-04-07")
    # A Saturday anchor always rolls to Monday on a Monday-Friday calendar.
    assert value_date(at("2025-10-07T10:00", BERLIN), weekly(5), DE) == d("2025-10-13")
    # China: the Sunday anchor of 28 Sep 2025 is a make-up working day, so no roll.
    sunday = Schedule(kind="weekly", weekday=6, timezone="Asia/Shanghai")
    assert value_date(at("2025-09-23T10:00", "Asia/Shanghai"), sunday, CN) == d("2025-09-28")


def test_monthly_pays_on_the_anchor_day_this_month_or_next() -> None:
    assert value_date(at("2025-09-15T10:00", BERLIN), monthly(20), DE) == d("2025-09-22")
    # 20 Sep 2025 is a Saturday: the anchor rolls to Monday 22.
    assert value_date(at("2025-09-19T10:00", BERLIN), monthly(20), DE) == d("2025-09-22")
    # Funds captured on the Saturday itself are available on Monday 22, after the
    # anchor date (the 20th): they wait for 20 Oct, though the Sep payout lands on the 22nd.
    assert value_date(at("2025-09-20T10:00", BERLIN), monthly(20), DE) == d("2025-10-20")
    assert value_date(at("2025-09-22T10:00", BERLIN), monthly(22), DE) == d("2025-09-22")
    assert value_date(at("2025-09-23T10:00", BERLIN), monthly(22), DE) == d("2025-10-22")


def test_monthly_anchor_on_a_holiday_rolls_forward_and_wraps_the_year() -> None:
    # 3 Oct 2025 is German Unity Day.
    assert value_date(at("2025-09-15T10:00", BERLIN), monthly(3), DE) == d("2025-10-06")
    # Captured on Saturday 4 Oct: T is Monday 6 Oct, past the 3rd, so 3 Nov.
    assert value_date(at("2025-10-04T10:00", BERLIN), monthly(3), DE) == d("2025-11-03")
    assert value_date(at("2025-12-20T10:00", BERLIN), monthly(5), DE) == d("2026-01-05")
    # Friday 2 Jan + 3 business days is Wednesday 7 Jan, past the 5th: 5 Feb.
    assert value_date(at("2026-01-02T10:00", BERLIN), monthly(5, 3), DE) == d("2026-02-05")


# ------------------------------------------------------------------ properties

CALENDARS = [CN, DE, US, IL, EUR, USD, calendar_for("HKD"), calendar_for("JPY")]
ZONES = [
    "UTC",
    BERLIN,
    NEW_YORK,
    "Asia/Shanghai",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "America/Santiago",  # DST changes at midnight
    "Pacific/Chatham",
]
some_dates = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31))
calendars = st.sampled_from(CALENDARS)
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2026, 10, 31), timezones=st.just(UTC)
)
cutoffs = st.one_of(
    st.sampled_from([time(0), time(2, 30), time(18), time(23, 59)]),
    st.times(),
)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    kinds: list[ScheduleKind] = ["daily", "weekly", "monthly"]
    kind = draw(st.sampled_from(kinds))
    return Schedule(
        kind=kind,
        timezone=draw(st.sampled_from(ZONES)),
        delay_days=draw(st.integers(0, 5)),
        weekday=draw(st.integers(0, 6)) if kind == "weekly" else None,
        day_of_month=draw(st.integers(1, 28)) if kind == "monthly" else None,
        cutoff=draw(cutoffs),
    )


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=some_dates, n=st.integers(0, 25))
def test_add_business_days_properties(calendar: BusinessCalendar, start: date, n: int) -> None:
    result = calendar.add_business_days(start, n)
    assert calendar.is_business_day(result)
    assert result >= start
    assert calendar.add_business_days(start, n + 1) > result
    assert calendar.business_days_between(start, result) == n
    assert calendar.business_days_between(result, start) == -n


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, a=some_dates, span=st.integers(0, 60))
def test_between_then_add_lands_on_b_rolled(calendar: BusinessCalendar, a: date, span: int) -> None:
    b = a + timedelta(days=span)
    count = calendar.business_days_between(a, b)
    assert 0 <= count <= span
    assert calendar.add_business_days(a, count) == calendar.add_business_days(b, 0)


@settings(max_examples=200, deadline=None)
@given(calendar=calendars, schedule=schedules(), captured=instants)
def test_capture_day_matches_cutoff_instants(
    calendar: BusinessCalendar, schedule: Schedule, captured: datetime
) -> None:
    day = capture_day(captured, schedule)
    assert cutoff_instant(day - timedelta(days=1), schedule) <= captured
    assert captured < cutoff_instant(day, schedule)
    local = captured.astimezone(schedule.zone).date()
    assert day in (local, local + timedelta(days=1))
    if schedule.cutoff == time(0):
        assert day == local


@settings(max_examples=200, deadline=None)
@given(calendar=calendars, schedule=schedules(), captured=instants)
def test_value_date_is_a_business_day_not_before_the_capture(
    calendar: BusinessCalendar, schedule: Schedule, captured: datetime
) -> None:
    paid = value_date(captured, schedule, calendar)
    assert calendar.is_business_day(paid)
    assert paid >= captured.astimezone(schedule.zone).date()
    assert paid >= business_date(captured, schedule, calendar)
    anchor_day = paid
    if schedule.kind == "weekly":
        # Paid on the anchor weekday unless that day was closed and rolled.
        assert schedule.weekday is not None
        while anchor_day.weekday() != schedule.weekday:
            anchor_day -= timedelta(days=1)
            assert not calendar.is_business_day(anchor_day)


@settings(max_examples=200, deadline=None)
@given(
    calendar=calendars,
    schedule=schedules(),
    first=instants,
    gap=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)),
)
def test_value_date_is_monotonic_in_capture_time(
    calendar: BusinessCalendar, schedule: Schedule, first: datetime, gap: timedelta
) -> None:
    later = first + gap
    assert business_date(first, schedule, calendar) <= business_date(later, schedule, calendar)
    assert value_date(first, schedule, calendar) <= value_date(later, schedule, calendar)


# ------------------------------------------------------------------ errors


def field_of(exc: pytest.ExceptionInfo[CalendarError]) -> str | None:
    return exc.value.field


def test_unknown_country_names_the_code_and_what_was_expected() -> None:
    with pytest.raises(CalendarError, match=r"'XX'.*ISO 3166-1") as exc:
        BusinessCalendar.for_country("XX")
    assert field_of(exc) == "country"
    assert isinstance(exc.value, ValueError)


def test_unknown_market_subdivision_and_category() -> None:
    with pytest.raises(CalendarError, match=r"'NOPE'.*ISO 10383") as exc:
        BusinessCalendar.for_market("NOPE")
    assert field_of(exc) == "market"
    with pytest.raises(CalendarError, match="'ZZ' of DE") as exc:
        BusinessCalendar.for_country("DE", "ZZ")
    assert field_of(exc) == "subdivision"
    with pytest.raises(CalendarError, match="'country' or 'market'") as exc:
        BusinessCalendar.from_source(CalendarSource("city", "DE"))  # type: ignore[arg-type]
    assert field_of(exc) == "kind"
    with pytest.raises(CalendarError, match="categories") as exc:
        BusinessCalendar.for_country("DE", categories=("bank",))
    assert field_of(exc) == "categories"


def test_unknown_currency_or_missing_default() -> None:
    with pytest.raises(CalendarError, match="ABC") as exc:
        calendar_for("ABC")
    assert field_of(exc) == "currency"
    with pytest.raises(CalendarError, match="no default calendar for MXN") as exc:
        calendar_for("mxn")
    assert field_of(exc) == "currency"
    with pytest.raises(CalendarError, match="'ZZ'") as exc:
        calendar_for("EUR", "ZZ")
    assert field_of(exc) == "country"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "europe/berlin"])
def test_bad_time_zone(zone: str) -> None:
    with pytest.raises(CalendarError, match="IANA") as exc:
        Schedule(kind="daily", timezone=zone)
    assert field_of(exc) == "timezone"


def test_naive_capture_time() -> None:
    with pytest.raises(CalendarError, match="timezone-aware") as exc:
        value_date(datetime(2025, 10, 2, 10), T1_BERLIN, DE)
    assert field_of(exc) == "captured_at"
    with pytest.raises(CalendarError) as exc:
        business_date(date(2025, 10, 2), T1_BERLIN, DE)  # type: ignore[arg-type]
    assert field_of(exc) == "captured_at"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "hourly"}, "kind"),
        ({"kind": "daily", "delay_days": -1}, "delay_days"),
        ({"kind": "daily", "delay_days": True}, "delay_days"),
        ({"kind": "daily", "delay_days": 1.0}, "delay_days"),
        ({"kind": "daily", "weekday": 0}, "weekday"),
        ({"kind": "weekly"}, "weekday"),
        ({"kind": "weekly", "weekday": 7}, "weekday"),
        ({"kind": "weekly", "weekday": -1}, "weekday"),
        ({"kind": "weekly", "weekday": 1, "day_of_month": 1}, "day_of_month"),
        ({"kind": "monthly"}, "day_of_month"),
        ({"kind": "monthly", "day_of_month": 0}, "day_of_month"),
        ({"kind": "monthly", "day_of_month": 29}, "day_of_month"),
        ({"kind": "monthly", "day_of_month": 1, "weekday": 0}, "weekday"),
        ({"kind": "daily", "cutoff": "18:00"}, "cutoff"),
        ({"kind": "daily", "cutoff": time(18, tzinfo=UTC)}, "cutoff"),
    ],
)
def test_bad_schedule_fields_are_named(fields: dict[str, object], field: str) -> None:
    with pytest.raises(CalendarError, match=field) as exc:
        Schedule(timezone=BERLIN, **fields)  # type: ignore[arg-type]
    assert field_of(exc) == field


def test_bad_calendar_arguments() -> None:
    with pytest.raises(CalendarError) as exc:
        DE.add_business_days(d("2025-10-02"), -1)
    assert field_of(exc) == "n"
    with pytest.raises(CalendarError, match="not a datetime") as exc:
        DE.is_business_day(datetime(2025, 10, 2, 10, tzinfo=UTC))
    assert field_of(exc) == "d"
    with pytest.raises(CalendarError, match=r"1999\.\.2100") as exc:
        EUR.is_business_day(d("1998-06-01"))
    assert field_of(exc) == "date"
