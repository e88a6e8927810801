"""Reading for settlement runs: postings read ahead in groups, value dates computed once.

Reading takes most of a large run, so the postings of up to 50 accounts at
a time are read ahead together, outside their transactions, each account's
posted totals just before (:func:`read_ahead`). In its transaction an account
reads its totals again: unchanged, the postings read ahead are all there is;
else it reads what came after. Either way it settles exactly what reading
in its transaction alone would have found. :class:`ValueDates` computes a
posting's value date once per calendar and capture day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import select

from finplug import Posting, UnitOfWork
from finplug_settlement._schema import batches, cursors
from finplug_settlement.calendars import (
    BusinessCalendar,
    CalendarError,
    CalendarSource,
    Schedule,
    capture_day,
    cutoff_instant,
    value_date,
)

__all__ = ["GROUP", "PAGE", "Ahead", "ValueDates", "batch_id", "read_ahead", "totals"]

#: Postings read from the ledger per page (reading ahead: per short transaction too).
PAGE: Final = 5_000
#: Payee accounts read ahead together (a ledger read's cost grows with its accounts).
GROUP: Final = 50
#: Postings held read ahead for one group at most; past that, accounts read their own.
_AHEAD_MOST: Final = 50_000
#: Accounts whose cursors are at most this many entries apart are read ahead together.
_SPREAD: Final = 20_000


def batch_id(account: str, day: date) -> str:
    """The id of an account's batch for a value date."""
    return f"{account}@{day.isoformat()}"


@dataclass(slots=True)
class Ahead:
    """An account's postings read ahead of its transaction (see :func:`read_ahead`)."""

    after: int  # the postings read are those after this seq,
    through: int  # up to this one: a later read goes on from here
    totals: tuple[int, int]  # the account's debits and credits posted, read before them
    postings: list[Posting]
    complete: bool  # read until the ledger had no more


def totals(uow: UnitOfWork, account: str) -> tuple[int, int]:
    """An account's debits and credits posted: each only grows, with every posting."""
    balance = uow.ledger.balance(account)
    return balance.debits_posted.minor_units, balance.credits_posted.minor_units


def read_ahead(
    unit_of_work: Callable[[], UnitOfWork], accounts: list[str], day: date
) -> tuple[set[str], dict[str, Ahead]]:
    """Which ``accounts`` have their batch for ``day``, and the others' postings read ahead.

    Accounts whose cursors are close are read together from the lowest
    (postings behind an account's own cursor are skipped when it settles).
    Each account's totals are read before any posting, so totals unchanged
    later mean no posting came after those read. Each page is read in a
    short transaction (on SQLite every transaction holds the write lock).
    Past :data:`_AHEAD_MOST` postings the reading stops: the accounts left
    go on from where it stopped.
    """
    with unit_of_work() as uow:
        conn = uow.conn
        ids = [batch_id(account, day) for account in accounts]
        found_ids = set(conn.execute(select(batches.c.id).where(batches.c.id.in_(ids))).scalars())
        made = {a for a, ident in zip(accounts, ids, strict=True) if ident in found_ids}
        accounts = [a for a in accounts if a not in made]
        found = conn.execute(
            select(cursors.c.account, cursors.c.through_seq).where(cursors.c.account.in_(accounts))
        )
        cursor_of = dict.fromkeys(accounts, 0)
        cursor_of.update((account, int(seq)) for account, seq in found)
        before = {account: totals(uow, account) for account in accounts}
    ahead: dict[str, Ahead] = {}
    held = 0
    ordered = sorted(accounts, key=cursor_of.__getitem__)
    while ordered:
        low = cursor_of[ordered[0]]
        members = [a for a in ordered if cursor_of[a] - low <= _SPREAD]
        ordered = ordered[len(members) :]
        read: dict[str, list[Posting]] = {account: [] for account in members}
        after, complete = low, False
        while held < _AHEAD_MOST:
            with unit_of_work() as uow:
                if uow.conn.dialect.name == "postgresql":
                    # Compiling this union of many index ranges to machine code
                    # (JIT) takes PostgreSQL seconds when its estimates run high.
                    uow.conn.exec_driver_sql("SET LOCAL jit = off")
                page = uow.ledger.postings(members, after=after, limit=PAGE)
            if not page:
                complete = True
                break
            for posting in page:
                read[posting.account].append(posting)
            held += len(page)
            after = page[-1].seq  # pages hold whole entries
        for account in members:
            ahead[account] = Ahead(low, after, before[account], read[account], complete)
    return made, ahead


class ValueDates:
    """One run's value dates, each computed once per (calendar, capture day).

    A value date depends on the posting's capture day and the payee's
    calendar alone (the schedule fixed), and every instant from the cut-off
    of the day before up to the day's own has that capture day: the last
    such span is kept, so postings in time order mostly skip even finding
    their day.
    """

    __slots__ = ("_dates", "_schedule", "_span")

    def __init__(self, schedule: Schedule) -> None:
        self._schedule = schedule
        self._span: tuple[datetime, datetime, date] | None = None
        self._dates: dict[tuple[CalendarSource, date], date] = {}

    def __call__(self, posted_at: datetime, calendar: BusinessCalendar) -> date:
        """The value date of a posting made at ``posted_at``, paid on ``calendar``."""
        span = self._span
        if span is not None and span[0] <= posted_at < span[1]:
            day = span[2]
        else:
            day = capture_day(posted_at, self._schedule)
            self._span = self._span_of(day, posted_at)
        key = (calendar.source, day)
        found = self._dates.get(key)
        if found is None:
            found = self._dates[key] = value_date(posted_at, self._schedule, calendar)
        return found

    def _span_of(self, day: date, posted_at: datetime) -> tuple[datetime, datetime, date] | None:
        try:
            start = cutoff_instant(day - timedelta(days=1), self._schedule)
            end = cutoff_instant(day, self._schedule)
        except (CalendarError, OverflowError):  # at the ends of the calendar: no span
            return None
        return (start, end, day) if start <= posted_at < end else None
