"""The items a run matches: a reconciled account's statement lines and ledger postings of a period.

Both sides come out as polars frames with the matching engine's columns
(``id``, ``amount``, ``on``, ``reference``, ``counterparty``, ``text``),
amounts as signed integers in minor units, signed as the statement sees
them. Items already taken (in a live match) are left out.

A ledger posting's day is its ``posted_at`` in the account's time zone;
its reference is its entry key, or (``reference: payment``) the key up to
its first ``:`` (payments keys entries ``<payment id>:capture`` …).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import holidays
import polars as pl
from sqlalchemy import Connection, select

from finplug import AccountNotFoundError, UnitOfWork
from finplug.sockets.reconciliation import MatchSide
from finplug_reconciliation._schema import statement_lines
from finplug_reconciliation._settings import AccountSettings
from finplug_reconciliation._store import taken
from finplug_reconciliation.matching import Calendar

__all__ = ["ITEM_SCHEMA", "calendar_of", "ledger_items", "statement_items"]

#: The columns (and types) of the frames handed to the matching engine.
ITEM_SCHEMA: Final = {
    "id": pl.Utf8,
    "amount": pl.Int64,
    "on": pl.Date,
    "reference": pl.Utf8,
    "counterparty": pl.Utf8,
    "text": pl.Utf8,
}
#: Postings read per ledger page.
_PAGE: Final = 10_000


def statement_items(
    conn: Connection, name: str, start: date, end: date, *, all_items: bool = False
) -> pl.DataFrame:
    """The account's statement lines booked ``start`` to ``end``, not yet taken (or all)."""
    done = set() if all_items else taken(conn, name, MatchSide.STATEMENT, start, end)
    c = statement_lines.c
    query = (
        select(
            c.id,
            c.amount,
            c.booked_on,
            c.reference,
            c.counterparty,
            c.description,
            c.bank_reference,
        )
        .where(c.account == name, c.booked_on >= start, c.booked_on <= end)
        .order_by(c.id)
    )
    ids: list[str] = []
    amounts: list[int] = []
    days: list[date] = []
    references: list[str] = []
    parties: list[str] = []
    texts: list[str] = []
    for ident, amount, on, reference, party, description, bank_reference in conn.execute(query):
        if ident in done:
            continue
        ids.append(ident)
        amounts.append(int(amount))
        days.append(on)
        references.append(reference)
        parties.append(party)
        texts.append(f"{description} {bank_reference}".strip())
    return pl.DataFrame(
        {
            "id": ids,
            "amount": amounts,
            "on": days,
            "reference": references,
            "counterparty": parties,
            "text": texts,
        },
        schema=ITEM_SCHEMA,
    )


def _bounds(account: AccountSettings, start: date, end: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(account.timezone)
    first = datetime.combine(start, time(0), zone)
    after = datetime.combine(end + timedelta(days=1), time(0), zone)
    return first, after


def _postings(
    uow: UnitOfWork, code: str, until: datetime
) -> Iterator[tuple[int, int, datetime, str, str]]:
    after = 0
    while True:
        try:
            page = uow.ledger.postings([code], after=after, until=until, limit=_PAGE)
        except AccountNotFoundError:
            return  # not opened yet: nothing was ever posted on it
        if not page:
            return
        for p in page:
            yield p.seq, p.amount.minor_units, p.posted_at, p.key, p.description
        after = page[-1].seq


def ledger_items(
    uow: UnitOfWork,
    name: str,
    account: AccountSettings,
    start: date,
    end: date,
    *,
    all_items: bool = False,
) -> pl.DataFrame:
    """The postings on the account's ledger accounts made ``start`` to ``end``, not yet taken."""
    done = set() if all_items else taken(uow.conn, name, MatchSide.LEDGER, start, end)
    first, after = _bounds(account, start, end)
    zone = ZoneInfo(account.timezone)
    by_payment = account.reference == "payment"
    ids: list[str] = []
    amounts: list[int] = []
    days: list[date] = []
    references: list[str] = []
    texts: list[str] = []
    for code, sign in account.ledger_accounts.items():
        for seq, amount, posted_at, key, description in _postings(uow, code, after):
            if posted_at < first or posted_at >= after:
                continue
            ident = f"{seq}:{code}"
            if ident in done or amount == 0:
                continue
            ids.append(ident)
            amounts.append(amount * sign)
            days.append(posted_at.astimezone(zone).date())
            references.append(key.split(":", 1)[0] if by_payment else key)
            texts.append(description)
    return pl.DataFrame(
        {
            "id": ids,
            "amount": amounts,
            "on": days,
            "reference": references,
            "counterparty": [""] * len(ids),
            "text": texts,
        },
        schema=ITEM_SCHEMA,
    )


@functools.lru_cache(maxsize=64)
def _holidays(country: str, first: int, last: int) -> frozenset[date]:
    found = holidays.country_holidays(country, years=range(first, last + 1))
    return frozenset(found)


def calendar_of(account: AccountSettings, start: date, end: date) -> Calendar:
    """The business days date windows count in: Monday to Friday, less the country's holidays."""
    if account.calendar_country is None:
        return Calendar()
    days = _holidays(account.calendar_country, start.year - 1, end.year + 1)
    return Calendar(holidays=days)
