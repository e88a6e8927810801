"""Numbers and ledger entries: what finalizing an invoice writes besides the invoice.

**Numbers** are gapless per series: the series' counter row is incremented
in the finalizing transaction (``UPDATE … RETURNING``; on PostgreSQL the row
lock makes concurrent finalizations wait for each other), so a transaction
that rolls back gives its number back and every committed number follows
the one before. A series is the invoice prefix (``INV``), or the prefix and
the year of issue when numbers restart yearly (``INV-2026``); credit notes
have their own (``CN``).

**The ledger**: a finalized invoice debits the customer's receivable with
its total and credits revenue with the taxable amount of its lines (fees
paid in advance go to deferred revenue instead, recognised as their period
passes), and each tax code's payable with its tax.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, update

from finplug import FastSQL, Leg, Money, UnitOfWork
from finplug_billing._catalog import BillingSettings
from finplug_billing._schema import counters
from finplug_billing.totals import InvoiceTotals

__all__ = ["Books", "account_of", "book_invoice", "next_number"]


def next_number(conn: Connection, prefix: str, digits: int, per_year: bool, on: date) -> str:
    """The next number of ``prefix``'s series (taken in ``conn``'s transaction)."""
    series = f"{prefix}-{on.year}" if per_year else prefix
    fast = FastSQL.of(conn)
    fast.insert_new(conn, counters, {"series": series, "last": 0}, ("series",))
    taken = conn.execute(
        update(counters)
        .where(counters.c.series == series)
        .values(last=counters.c.last + 1)
        .returning(counters.c.last)
    ).scalar_one()
    return f"{series}-{int(taken):0{digits}d}"


def account_of(settings: BillingSettings, kind: str, currency: str, **names: str) -> str:
    """The ledger account code of ``kind`` (a field of the settings' ``accounts``)."""
    pattern: str = getattr(settings.accounts, kind)
    return pattern.format(currency=currency, **names)


_TYPES = {
    "receivable": "asset",
    "revenue": "income",
    "deferred": "liability",
    "tax": "liability",
    "wallet": "liability",
    "cash": "asset",
    "write_off": "expense",
    "granted": "expense",
    "breakage": "income",
}


class Books:
    """The ledger accounts a tenant's billing posts on, each opened once.

    :meth:`account` opens an account the first time this plugin instance
    needs it and remembers it once the opening transaction committed (an
    account, once opened, is never removed); after that it costs nothing.
    """

    def __init__(self, settings: BillingSettings) -> None:
        self.settings = settings
        """The plugin's settings (their ``accounts`` name the codes)."""
        self._known: set[str] = set()

    def account(self, uow: UnitOfWork, kind: str, currency: str, **names: str) -> str:
        """The code of the account of ``kind``, opened in ``uow`` unless known to exist."""
        code = account_of(self.settings, kind, currency, **names)
        if code not in self._known:
            uow.ledger.open_account(code, _TYPES[kind], currency)
            uow.after_commit(lambda: self._known.add(code))
        return code


def book_invoice(
    uow: UnitOfWork,
    books: Books,
    invoice_id: str,
    number: str,
    customer_id: str,
    currency: str,
    totals: InvoiceTotals,
    deferred: Sequence[str],
) -> int | None:
    """Post a finalized invoice; the entry's seq (``None``: a zero invoice posts nothing).

    ``deferred`` are the keys of the lines whose revenue is deferred (fees
    paid in advance).
    """
    if totals.total == 0:
        return None
    receivable = books.account(uow, "receivable", currency, customer=customer_id)
    legs = [Leg.debit(receivable, Money.from_minor(totals.total, currency))]
    earned = sum(line.base for line in totals.lines if line.key not in deferred)
    later = sum(line.base for line in totals.lines if line.key in deferred)
    if earned:
        revenue = books.account(uow, "revenue", currency)
        legs.append(Leg.credit(revenue, Money.from_minor(earned, currency)))
    if later:
        deferral = books.account(uow, "deferred", currency)
        legs.append(Leg.credit(deferral, Money.from_minor(later, currency)))
    for code, tax in totals.tax_by_code:
        if tax:
            payable = books.account(uow, "tax", currency, tax=code)
            legs.append(Leg.credit(payable, Money.from_minor(tax, currency)))
    entry = uow.ledger.post(f"billing:invoice:{invoice_id}", legs, f"invoice {number}")
    return entry.seq
