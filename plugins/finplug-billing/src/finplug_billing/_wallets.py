"""Prepaid wallets: credits topped up, consumed by invoices, expiring unused.

A wallet is its customer's credits, each with what is left of it and the
day it expires (in the customer's zone; ``None``: never). Finalizing an
invoice consumes credits, the soonest-expiring first (then the oldest), up
to what the invoice owes; each use is a row of ``billing_wallet_moves`` and
the ledger moves the amount from the wallet's liability to the receivable.
The expiry job zeroes what is left of expired credits (breakage income).

A top-up is paid through payments (``paid=True``: the customer's payment
method is charged first, and the money sits on the collection account) or
given (``paid=False``: a cost to the tenant).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select

from finplug import Event, FastSQL, Leg, Money, UnitOfWork, request_digest
from finplug.sockets.billing import BillingError, BillingInputError, Wallet, WalletCredit
from finplug_billing._booking import Books
from finplug_billing._catalog import BillingSettings
from finplug_billing._customers import load_customer
from finplug_billing._schema import wallet_credits, wallet_moves
from finplug_billing.periods import today_in

__all__ = ["Charger", "Wallets", "add_credit", "consume", "load_wallet"]

#: Charges ``amount`` to a customer through payments: ``(key, customer, amount) -> payment id``.
Charger = Callable[[str, str, Money], str]


def add_credit(
    conn: Connection,
    customer_id: str,
    code: str,
    amount: int,
    expires_on: date | None,
    entry_seq: int | None,
    now: datetime,
) -> str:
    """Add a credit of ``amount`` minor units to the customer's wallet; its id."""
    ident = f"wcr_{uuid.uuid4().hex[:24]}"
    FastSQL.of(conn).insert(
        conn,
        wallet_credits,
        {
            "id": ident,
            "customer_id": customer_id,
            "currency": code,
            "amount": amount,
            "remaining": amount,
            "expires_on": expires_on,
            "entry_seq": entry_seq,
            "created_at": now,
        },
    )
    return ident


def _usable(conn: Connection, customer_id: str, today: date, *, lock: bool) -> list[Any]:
    c = wallet_credits.c
    query = (
        select(wallet_credits)
        .where(
            c.customer_id == customer_id,
            c.remaining > 0,
            (c.expires_on.is_(None)) | (c.expires_on > today),
        )
        .order_by(c.expires_on.is_(None), c.expires_on, c.created_at, c.id)
    )
    if lock:
        query = query.with_for_update()
    return list(conn.execute(query).all())


def consume(
    uow: UnitOfWork,
    books: Books,
    customer_id: str,
    code: str,
    invoice_id: str,
    due: int,
    today: date,
    now: datetime,
) -> int:
    """Use the customer's credits on an invoice owing ``due``; how much was used."""
    if due <= 0:
        return 0
    conn = uow.conn
    used = 0
    moves: list[dict[str, Any]] = []
    for row in _usable(conn, customer_id, today, lock=True):
        take = min(int(row.remaining), due - used)
        if take <= 0:
            break
        FastSQL.of(conn).update(
            conn, wallet_credits, {"remaining": int(row.remaining) - take}, {"id": row.id}
        )
        moves.append(
            {"credit_id": row.id, "kind": "consumed", "invoice_id": invoice_id, "amount": take}
        )
        used += take
    if not used:
        return 0
    conn.execute(wallet_moves.insert(), [{**move, "at": now} for move in moves])
    wallet = books.account(uow, "wallet", code, customer=customer_id)
    receivable = books.account(uow, "receivable", code, customer=customer_id)
    amount = Money.from_minor(used, code)
    uow.ledger.post(
        f"billing:wallet:{invoice_id}",
        [Leg.debit(wallet, amount), Leg.credit(receivable, amount)],
        f"prepaid credits on invoice {invoice_id}",
    )
    return used


def load_wallet(conn: Connection, customer_id: str, code: str, today: date) -> Wallet:
    """The customer's wallet as of ``today`` (expired credits count for nothing)."""
    c = wallet_credits.c
    rows = conn.execute(
        select(wallet_credits).where(c.customer_id == customer_id).order_by(c.created_at, c.id)
    ).all()
    credits = tuple(
        WalletCredit(
            id=row.id,
            amount=Money.from_minor(int(row.amount), code),
            remaining=Money.from_minor(int(row.remaining), code),
            expires_on=row.expires_on,
        )
        for row in rows
    )
    balance = sum(
        int(row.remaining) for row in rows if row.expires_on is None or row.expires_on > today
    )
    return Wallet(customer_id, Money.from_minor(balance, code), credits)


class Wallets:
    """A tenant's wallets."""

    def __init__(
        self,
        settings: BillingSettings,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        charger: Callable[[], Charger],
        books: Books,
    ) -> None:
        self._settings = settings
        self._books = books
        self._uow = unit_of_work
        self._clock = clock
        self._charger = charger

    def get(self, customer_id: str) -> Wallet:
        """The customer's wallet (empty if never topped up)."""
        with self._uow() as uow:
            customer = load_customer(uow.conn, customer_id)
            today = today_in(self._clock(), customer.timezone)
            return load_wallet(uow.conn, customer_id, customer.currency, today)

    def top_up(
        self, key: str, customer_id: str, amount: Money, expires_on: date | None, paid: bool
    ) -> Wallet:
        """Add credits (paid through payments first when ``paid``); the wallet after."""
        if not isinstance(amount, Money) or amount.minor_units <= 0:
            raise BillingInputError("expected an amount of Money above 0", field="amount")
        if expires_on is not None and (
            not isinstance(expires_on, date) or isinstance(expires_on, datetime)
        ):
            raise BillingInputError("expected a date or None", field="expires_on")
        args = {
            "customer": customer_id,
            "amount": str(amount),
            "currency": amount.currency.code,
            "expires_on": None if expires_on is None else expires_on.isoformat(),
            "paid": paid,
        }
        with self._uow() as uow:
            conn = uow.conn
            customer = load_customer(conn, customer_id)
            if amount.currency.code != customer.currency:
                raise BillingInputError(
                    f"customer {customer_id!r} is billed in {customer.currency}, not"
                    f" {amount.currency.code} (a currency mismatch)",
                    field="amount",
                )
            stored = uow.idempotency.claim(key, "top_up", request_digest("top_up", args))
            today = today_in(self._clock(), customer.timezone)
            if stored is not None:
                if not stored.done:
                    raise BillingError(f"the request under key {key!r} is still running")
                return load_wallet(conn, customer_id, customer.currency, today)
            if expires_on is not None and expires_on <= today:
                raise BillingInputError(
                    f"{expires_on} is not after today ({today})", field="expires_on"
                )
            code = customer.currency
            wallet = self._books.account(uow, "wallet", code, customer=customer_id)
            if paid:
                payment = self._charger()(f"billing:top_up:{key}", customer_id, amount)
                source = self._books.account(uow, "cash", code)
                detail = f"wallet top-up {payment}"
            else:
                source = self._books.account(uow, "granted", code)
                detail = "credits given"
            entry = uow.ledger.post(
                f"billing:top_up:{key}",
                [Leg.debit(source, amount), Leg.credit(wallet, amount)],
                detail,
            )
            ident = add_credit(
                conn, customer_id, code, amount.minor_units, expires_on, entry.seq, self._clock()
            )
            uow.events.emit(
                Event(
                    "billing.wallet.topped_up",
                    f"customer:{customer_id}",
                    {"credit": ident, "amount": str(amount.amount), "paid": paid},
                )
            )
            uow.idempotency.finish(key, ident, resource=ident)
            found = load_wallet(conn, customer_id, code, today)
            uow.commit()
        return found

    def expire(self) -> int:
        """Zero what is left of expired credits (breakage income); how many credits expired."""
        now = self._clock()
        c = wallet_credits.c
        with self._uow() as uow:
            conn = uow.conn
            rows = conn.execute(  # locked, as consume() locks them: never both at once
                select(wallet_credits)
                .where(c.remaining > 0, c.expires_on.is_not(None))
                .with_for_update()
            ).all()
            expired = 0
            for row in rows:
                customer = load_customer(conn, row.customer_id)
                if row.expires_on > today_in(now, customer.timezone):
                    continue
                code, left = row.currency, Money.from_minor(int(row.remaining), row.currency)
                wallet = self._books.account(uow, "wallet", code, customer=row.customer_id)
                breakage = self._books.account(uow, "breakage", code)
                uow.ledger.post(
                    f"billing:expired:{row.id}",
                    [Leg.debit(wallet, left), Leg.credit(breakage, left)],
                    f"credits {row.id} expired",
                )
                FastSQL.of(conn).update(conn, wallet_credits, {"remaining": 0}, {"id": row.id})
                conn.execute(
                    wallet_moves.insert().values(
                        credit_id=row.id,
                        kind="expired",
                        invoice_id=None,
                        amount=left.minor_units,
                        at=now,
                    )
                )
                expired += 1
            uow.commit()
        return expired
