"""Business-day calendars, settlement schedules and value dates.

Pure functions over dates: no database, no wall clock. The holiday data comes
from the maintained ``holidays`` package, which also knows the working days a
country moves onto a weekend (China's 调休 make-up Saturdays and Sundays).

Three layers:

* :class:`BusinessCalendar`: which dates are business days in one country (or
  one financial market such as TARGET), and business-day arithmetic on them.
* :func:`calendar_for`: the calendar that settles a currency, or the calendar
  of the merchant bank's country when that is known.
* :class:`Schedule` with :func:`business_date`, :func:`value_date` and
  :func:`cutoff_instant`: when a capture is paid out.

Known limit: a country that publishes its holiday schedule year by year
(China's State Council does so each November) is only as right as the
installed ``holidays`` release. For a year not yet published, the calendar
has the statutory holidays but none of the moved working days, so keep
``holidays`` current.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Final, Literal
from zoneinfo import ZoneInfo, available_timezones

import holidays
from holidays import HolidayBase

from finplug import FinplugError, MoneyError, currency

__all__ = [
    "BANK_COUNTRY_CALENDARS",
    "CURRENCY_CALENDARS",
    "BusinessCalendar",
    "CalendarError",
    "CalendarSource",
    "Schedule",
    "ScheduleKind",
    "bank_calendar",
    "business_date",
    "calendar_for",
    "capture_day",
    "cutoff_instant",
    "value_date",
]

_ONE_DAY: Final = timedelta(days=1)
_MIDNIGHT: Final = time(0)


class CalendarError(FinplugError, ValueError):
    """A calendar, schedule or date argument is not acceptable.

    ``field`` names the argument or schedule field at fault (``"country"``,
    ``"timezone"``, ``"captured_at"`` ...), or is ``None`` when no single
    field is.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# ------------------------------------------------------------------ calendars


@dataclass(frozen=True, slots=True)
class CalendarSource:
    """Which ``holidays`` entity backs a calendar.

    ``kind`` is ``"country"`` (an ISO 3166-1 code, ``holidays.country_holidays``)
    or ``"market"`` (an ISO 10383 MIC such as ``XECB``,
    ``holidays.financial_holidays``). ``categories`` are the holiday
    categories that close the calendar, e.g. ``("bank", "public")`` for Japan.
    """

    kind: Literal["country", "market"]
    code: str
    subdivision: str | None = None
    categories: tuple[str, ...] = ("public",)


class BusinessCalendar:
    """The business days of one country, subdivision or financial market.

    A date is a business day when it is not a weekend day of that calendar
    (as ``holidays`` defines the weekend: Saturday and Sunday for most
    countries, Friday and Saturday for some) and not a holiday, or when it
    is a weekend day the authorities made a working day (China's make-up
    days). Get one with :meth:`for_country`, :meth:`for_market` or
    :meth:`from_source`: each source has one shared instance.

    Holiday years load lazily, one whole year the first time a date in it is
    asked about, under a lock (``holidays`` fills a year in place, so two
    threads must not fill the same one at once). Dates outside the years the
    entity covers raise :class:`CalendarError` instead of reading as plain
    weekdays.
    """

    __slots__ = ("_holidays", "_lock", "_years", "source")

    def __init__(self, source: CalendarSource, entity: HolidayBase) -> None:
        self.source: Final = source
        self._holidays = entity
        self._lock = threading.Lock()
        self._years: frozenset[int] = frozenset()

    def __repr__(self) -> str:
        src = self.source
        where = f"{src.code}-{src.subdivision}" if src.subdivision else src.code
        return f"BusinessCalendar({src.kind} {where}, categories={list(src.categories)})"

    @classmethod
    def for_country(
        cls,
        code: str,
        subdivision: str | None = None,
        *,
        categories: tuple[str, ...] = ("public",),
    ) -> BusinessCalendar:
        """The calendar of a country (``"CN"``), optionally of one subdivision (``"BY"``)."""
        return cls.from_source(CalendarSource("country", code, subdivision, categories))

    @classmethod
    def for_market(cls, code: str) -> BusinessCalendar:
        """The calendar of a financial market by MIC: ``"XECB"`` (TARGET), ``"XFED"`` ..."""
        return cls.from_source(CalendarSource("market", code))

    @classmethod
    def from_source(cls, source: CalendarSource) -> BusinessCalendar:
        """The shared calendar for ``source``; raises :class:`CalendarError` if unknown."""
        return _calendar(_normalized(source))

    @property
    def loaded_years(self) -> frozenset[int]:
        """The years whose holidays have been loaded so far."""
        return self._years

    def is_business_day(self, d: date) -> bool:
        """Whether ``d`` is a business day of this calendar."""
        _check_date(d, "d")
        self._load(d.year)
        return self._holidays.is_working_day(d)

    def next_business_day(self, d: date) -> date:
        """The first business day strictly after ``d``."""
        _check_date(d, "d")
        return self._roll(d + _ONE_DAY)

    def add_business_days(self, d: date, n: int) -> date:
        """``d`` moved forward by ``n`` business days (``n >= 0``).

        A non-business ``d`` first rolls forward to the next business day,
        then moves ``n`` business days on, so ``n == 0`` returns ``d`` itself
        when it is a business day and the next business day otherwise. The
        result grows strictly with ``n`` (numpy's ``busday_offset`` with
        ``roll="forward"`` counts the same way). ``holidays``'s own
        ``get_nth_working_day`` does not roll first, so it is not used.
        """
        _check_date(d, "d")
        _check_int(n, "n", 0, None)
        day = self._roll(d)
        for _ in range(n):
            day = self._roll(day + _ONE_DAY)
        return day

    def business_days_between(self, a: date, b: date) -> int:
        """The number of business days ``x`` with ``a <= x < b``; negative when ``b < a``.

        It is the inverse of :meth:`add_business_days`:
        ``business_days_between(a, add_business_days(a, n)) == n`` for every
        ``a`` and ``n >= 0``, and ``add_business_days(a, business_days_between(a, b))``
        is ``b`` rolled forward to a business day whenever ``b >= a``.
        """
        _check_date(a, "a")
        _check_date(b, "b")
        if b < a:
            return -self.business_days_between(b, a)
        count = 0
        day = a
        while day < b:
            count += self.is_business_day(day)
            day += _ONE_DAY
        return count

    def _roll(self, d: date) -> date:
        while not self.is_business_day(d):
            d += _ONE_DAY
        return d

    def _load(self, year: int) -> None:
        if year in self._years:
            return
        first, last = self._holidays.start_year, self._holidays.end_year
        if not first <= year <= last:
            raise CalendarError(
                f"{self!r} has holiday data for {first}..{last} only, not for {year}",
                field="date",
            )
        with self._lock:
            if year not in self._years:
                # With expand=True, touching one date fills the whole year.
                _ = date(year, 1, 1) in self._holidays
                self._years = self._years | {year}


_REGISTRY_LOCK: Final = threading.Lock()
_REGISTRY: Final[dict[CalendarSource, BusinessCalendar]] = {}


def _calendar(source: CalendarSource) -> BusinessCalendar:
    with _REGISTRY_LOCK:
        found = _REGISTRY.get(source)
        if found is None:
            found = _REGISTRY[source] = BusinessCalendar(source, _entity(source))
        return found


def _normalized(source: CalendarSource) -> CalendarSource:
    """``source`` with its codes upper-cased and checked against ``holidays``."""
    kind: object = source.kind
    if kind not in ("country", "market"):
        raise CalendarError(f"kind must be 'country' or 'market', not {kind!r}", field="kind")
    given: object = source.code
    if not isinstance(given, str):
        raise CalendarError(
            f"{source.kind} code must be a string, not {given!r}", field=source.kind
        )
    code = given.strip().upper()
    if source.kind == "country":
        known = holidays.list_supported_countries()
        expected = "an ISO 3166-1 country code that holidays supports, such as 'CN' or 'DE'"
    else:
        known = holidays.list_supported_financial()
        expected = "an ISO 10383 market code that holidays supports, such as 'XECB' or 'XFED'"
    if code not in known:
        raise CalendarError(
            f"unknown {source.kind} code {source.code!r}: expected {expected}", field=source.kind
        )
    entity_class: type[HolidayBase] = getattr(holidays, code)
    subdivision = source.subdivision
    if subdivision is not None:
        allowed = (*entity_class.subdivisions, *entity_class.subdivisions_aliases)
        if subdivision not in allowed:
            raise CalendarError(
                f"unknown subdivision {subdivision!r} of {code}:"
                f" expected one of {', '.join(sorted(allowed)) or '(none)'}",
                field="subdivision",
            )
    categories = tuple(sorted(set(source.categories)))
    bad = [c for c in categories if c not in entity_class.supported_categories]
    if bad or not categories:
        raise CalendarError(
            f"holiday categories {list(source.categories)!r} not all supported by {code}:"
            f" expected a non-empty subset of {sorted(entity_class.supported_categories)}",
            field="categories",
        )
    return CalendarSource(source.kind, code, subdivision, categories)


def _entity(source: CalendarSource) -> HolidayBase:
    if source.kind == "country":
        return holidays.country_holidays(
            source.code, subdiv=source.subdivision, categories=source.categories
        )
    return holidays.financial_holidays(source.code, categories=source.categories)


# ------------------------------------------------------------------ currencies

_EUR: Final = CalendarSource("market", "XECB")
_USD: Final = CalendarSource("market", "XFED")
_GB: Final = CalendarSource("country", "GB", "ENG")
_JP: Final = CalendarSource("country", "JP", None, ("bank", "public"))
_HK: Final = CalendarSource("market", "XHKG")
_CH: Final = CalendarSource("country", "CH", "ZH")

CURRENCY_CALENDARS: Final[Mapping[str, CalendarSource]] = MappingProxyType(
    {
        # Euro payments settle in T2 (TARGET): closed 1 Jan, Good Friday, Easter
        # Monday, 1 May, 25 and 26 Dec; national holidays such as 3 Oct do not stop it.
        "EUR": _EUR,
        # Fedwire and ACH settle on Federal Reserve Bank days. A holiday on a
        # Saturday is not moved: the Reserve Banks open the Friday before.
        "USD": _USD,
        # CNAPS follows the State Council schedule, make-up working days included.
        "CNY": CalendarSource("country", "CN"),
        # CHAPS, Bacs and Faster Payments follow the England and Wales bank holidays.
        "GBP": _GB,
        # The Zengin system also closes 31 Dec and 2-3 Jan (holidays' "bank" category).
        "JPY": _JP,
        # Hong Kong banks close on general holidays, and HKD clearing runs Monday
        # to Friday; holidays' HK country calendar has a Sunday-only weekend and
        # splits general holidays off as "optional", so the HKEX calendar
        # (general holidays, Saturday-Sunday weekend) is the closer match. It
        # also carries exchange-only closures such as typhoon days.
        "HKD": _HK,
        # Singapore's gazetted public holidays.
        "SGD": CalendarSource("country", "SG"),
        # Swiss holidays are cantonal; SIX Interbank Clearing runs from Zurich.
        "CHF": _CH,
    }
)
"""Settlement currency -> the calendar its payments settle on (see the comments)."""

BANK_COUNTRY_CALENDARS: Final[Mapping[str, CalendarSource]] = MappingProxyType(
    {"US": _USD, "GB": _GB, "UK": _GB, "JP": _JP, "HK": _HK, "CH": _CH}
)
"""Bank country -> its banking calendar, where that differs from its public holidays.

US banks keep the Federal Reserve's days, not the federal government's;
UK clearing keeps England and Wales; Japanese banks close 31 Dec to 3 Jan;
Hong Kong banks keep the general holidays with a Saturday-Sunday week; Swiss
clearing keeps Zurich's. Any other country uses its national public holidays.
"""


def calendar_for(currency_code: str, country: str | None = None) -> BusinessCalendar:
    """The calendar to settle ``currency_code`` on.

    With ``country`` (the merchant bank's ISO 3166-1 country), that country's
    banking calendar: :data:`BANK_COUNTRY_CALENDARS` when listed there, else
    its national public holidays. Without it, the currency's default from
    :data:`CURRENCY_CALENDARS`. Raises :class:`CalendarError` for an unknown
    currency, an unknown country, or a currency with no default and no country.
    """
    try:
        code = currency(currency_code).code
    except MoneyError as exc:
        raise CalendarError(str(exc), field="currency") from exc
    if country is not None:
        return bank_calendar(country)
    source = CURRENCY_CALENDARS.get(code)
    if source is None:
        raise CalendarError(
            f"no default calendar for {code}: pass the merchant bank's country, or use"
            f" one of {', '.join(sorted(CURRENCY_CALENDARS))}",
            field="currency",
        )
    return BusinessCalendar.from_source(source)


def bank_calendar(country: str) -> BusinessCalendar:
    """The banking calendar of a bank's ISO 3166-1 ``country``.

    :data:`BANK_COUNTRY_CALENDARS` when listed there, else the country's
    national public holidays. Raises :class:`CalendarError` for a country
    ``holidays`` does not know.
    """
    if not isinstance(country, str):
        raise CalendarError("country must be a string", field="country")
    normalized = country.strip().upper()
    source = BANK_COUNTRY_CALENDARS.get(normalized)
    if source is None:
        return BusinessCalendar.for_country(normalized)
    return BusinessCalendar.from_source(source)


# ------------------------------------------------------------------ schedules

ScheduleKind = Literal["daily", "weekly", "monthly"]
"""How often a schedule pays out."""


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


@dataclass(frozen=True, kw_only=True, slots=True)
class Schedule:
    """When a merchant is paid for a capture.

    * ``kind="daily"``: ``delay_days`` business days after the business date.
    * ``kind="weekly"``: on ``weekday`` (0 = Monday .. 6 = Sunday) once the
      ``delay_days`` have passed.
    * ``kind="monthly"``: on ``day_of_month`` (1..28, so every month has it)
      once the ``delay_days`` have passed.

    ``delay_days`` (``>= 0``) always counts business days, as Stripe's payout
    ``delay_days`` does. ``cutoff`` is the local time (naive, ``fold`` ignored)
    at which the business day closes in ``timezone`` (an IANA name); the
    default ``00:00`` closes it at the local midnight that ends it, so a
    capture belongs to its own local date. A weekly schedule must set
    ``weekday`` and a monthly one ``day_of_month``; the field the kind does
    not use must stay ``None``. Bad fields raise :class:`CalendarError`
    naming the field.
    """

    kind: ScheduleKind
    timezone: str
    delay_days: int = 0
    weekday: int | None = None
    day_of_month: int | None = None
    cutoff: time = _MIDNIGHT

    def __post_init__(self) -> None:
        kind: object = self.kind
        if kind not in ("daily", "weekly", "monthly"):
            raise CalendarError(
                f"kind must be 'daily', 'weekly' or 'monthly', not {kind!r}", field="kind"
            )
        _check_int(self.delay_days, "delay_days", 0, None)
        _check_anchor(self.weekday, "weekday", 0, 6, kind=kind, owner="weekly")
        _check_anchor(self.day_of_month, "day_of_month", 1, 28, kind=kind, owner="monthly")
        cutoff: object = self.cutoff
        if not isinstance(cutoff, time) or cutoff.tzinfo is not None:
            raise CalendarError(
                f"cutoff must be a naive datetime.time (local to timezone), not {cutoff!r}",
                field="cutoff",
            )
        name: object = self.timezone
        if not isinstance(name, str) or name not in _zone_names():
            raise CalendarError(
                f"timezone must be an IANA time zone name such as 'Europe/Berlin', not {name!r}",
                field="timezone",
            )

    @property
    def zone(self) -> ZoneInfo:
        """``timezone`` as a :class:`zoneinfo.ZoneInfo`."""
        return ZoneInfo(self.timezone)


def cutoff_instant(d: date, schedule: Schedule) -> datetime:
    """The UTC instant at which calendar day ``d`` closes under ``schedule``.

    That is ``d`` at the schedule's cut-off in its time zone, or the local
    midnight starting the day after ``d`` when the cut-off is ``00:00``.
    A wall time that does not exist (skipped by a spring-forward) or exists
    twice (a fall-back) is read with ``fold=0``: a skipped time is taken
    with the offset before the jump, so 02:30 on a 02:00->03:00 night closes
    at 03:30 new time; a doubled time is its first, earlier occurrence.
    Successive days' instants always increase.
    """
    _check_date(d, "d")
    if schedule.cutoff == _MIDNIGHT:
        local = datetime.combine(d + _ONE_DAY, _MIDNIGHT, tzinfo=schedule.zone)
    else:
        local = datetime.combine(d, schedule.cutoff.replace(fold=0), tzinfo=schedule.zone)
    return local.astimezone(UTC)


def capture_day(captured_at: datetime, schedule: Schedule) -> date:
    """The calendar day a capture belongs to, before any business-day roll.

    The first day ``D`` whose :func:`cutoff_instant` is after ``captured_at``:
    the capture's local date when its local time is before the cut-off, the
    next day from the cut-off on. Comparing instants rather than wall times
    keeps this right in a fall-back hour, when the wall clock runs twice.
    Raises :class:`CalendarError` for a naive ``captured_at``.
    """
    _check_aware(captured_at)
    try:
        day = captured_at.astimezone(schedule.zone).date() - _ONE_DAY
        while cutoff_instant(day, schedule) <= captured_at:
            day += _ONE_DAY
    except OverflowError as exc:
        raise CalendarError(
            "captured_at is too close to the date limits", field="captured_at"
        ) from exc
    return day


def business_date(captured_at: datetime, schedule: Schedule, calendar: BusinessCalendar) -> date:
    """The business date ("T") of a capture.

    :func:`capture_day`, rolled forward to a business day of ``calendar``: a
    capture on a weekend or a holiday counts from the next business day.
    """
    return calendar.add_business_days(capture_day(captured_at, schedule), 0)


def value_date(captured_at: datetime, schedule: Schedule, calendar: BusinessCalendar) -> date:
    """The date the merchant is paid for a capture.

    Let ``T`` be :func:`business_date` and ``A`` (the date the funds become
    available) be ``T`` plus ``delay_days`` business days.

    * daily: ``A``. T+1 from a Friday is Monday, or Tuesday when Monday is a
      holiday.
    * weekly: the first date on or after ``A`` that falls on ``weekday``,
      rolled forward to the next business day if it is not one.
    * monthly: the first date on or after ``A`` whose day of the month is
      ``day_of_month`` (this month's or next month's), rolled forward the same
      way.

    ``A`` is compared with the anchor date itself, not with the business day
    it rolls to: funds that become available on the business day a closed
    anchor rolled to wait for the next anchor (as a payout is drawn up on
    its anchor date, with the funds available by then).

    Every result is a business day, never before the capture's local date,
    and a later capture never gets an earlier value date.
    """
    available = calendar.add_business_days(
        business_date(captured_at, schedule, calendar), schedule.delay_days
    )
    if schedule.kind == "daily":
        return available
    if schedule.kind == "weekly":
        assert schedule.weekday is not None  # checked by Schedule
        anchor = available + timedelta(days=(schedule.weekday - available.weekday()) % 7)
    else:
        assert schedule.day_of_month is not None  # checked by Schedule
        anchor = available.replace(day=schedule.day_of_month)
        if anchor < available:
            anchor = _next_month(anchor)
    return calendar.add_business_days(anchor, 0)


# ------------------------------------------------------------------ checks


def _next_month(d: date) -> date:
    return d.replace(year=d.year + 1, month=1) if d.month == 12 else d.replace(month=d.month + 1)


def _check_date(value: object, field: str) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise CalendarError(
            f"{field} must be a datetime.date (not a datetime), not {value!r}", field=field
        )


def _check_aware(value: object) -> None:
    if not isinstance(value, datetime):
        raise CalendarError(
            f"captured_at must be a timezone-aware datetime, not {value!r}", field="captured_at"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise CalendarError(
            f"captured_at must be timezone-aware, got naive {value.isoformat()}",
            field="captured_at",
        )


def _check_int(value: object, field: str, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CalendarError(f"{field} must be an int, not {value!r}", field=field)
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in {low}..{high}"
        raise CalendarError(f"{field} must be {bounds}, not {value}", field=field)


def _check_anchor(
    value: object, field: str, low: int, high: int, *, kind: object, owner: str
) -> None:
    if kind != owner:
        if value is not None:
            raise CalendarError(
                f"{field} is for kind={owner!r} only; leave it None for kind={kind!r}", field=field
            )
        return
    if value is None:
        raise CalendarError(f"{field} is required for kind={owner!r}", field=field)
    _check_int(value, field, low, high)
