"""Collecting finalized invoices: charges through payments, dunning, payments received, write-offs.

**A charge** is three steps, so that money a channel moved is booked exactly
once whatever fails in between: (1) an attempt is recorded (its number
makes the payment's idempotency key, ``billing:collect:<invoice>:<n>``);
(2) payments is asked, outside billing's transaction (payments commits its
own); (3) the outcome is recorded: captured — the collection account is
debited and the receivable credited, the invoice paid; declined — the
attempt failed and the next one is scheduled; unknown (a channel timed
out) — the attempt stays open. An open attempt (a crash between the steps,
or an unknown outcome) is asked again under the same key before any new
attempt, so the customer is never charged twice for one attempt.

**Dunning**: after the ``n``-th failure the next attempt is due
``retry_days[n-1]`` days after the first failure; after the last, collection
has failed. Invoices past their due date and unpaid are ``overdue``.

**Otherwise paid** (a bank transfer that reconciliation matched):
:meth:`Collection.record_payment`. **Void**: a finalized invoice nothing
was paid or credited on; its entry is reversed and the prepaid credits it
used go back to the wallet. **Uncollectible**: what is due is written off.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from finplug import Event, FastSQL, Leg, Money, UnitOfWork, request_digest
from finplug.sockets.billing import (
    BillingError,
    BillingInputError,
    BillingNotFoundError,
    CollectionStatus,
    Invoice,
    InvoiceStatus,
)
from finplug_billing._booking import Books
from finplug_billing._catalog import BillingSettings
from finplug_billing._customers import load_customer
from finplug_billing._invoices import load_invoice
from finplug_billing._schema import attempts, invoices
from finplug_billing._wallets import add_credit
from finplug_billing.periods import today_in

__all__ = ["ChargeOutcome", "Collection"]

#: What payments said of a charge: ``("captured" | "declined" | "unknown", payment id, detail)``.
ChargeOutcome = tuple[str, str, str]
#: Asks payments for a charge: ``(key, customer id, method, amount) -> outcome``.
Collector = Callable[[str, str, str, Money], ChargeOutcome]


def _due(row: Any) -> int:
    return int(row.total) - int(row.credits) - int(row.credited_balance) - int(row.paid)


class Collection:
    """A tenant's collection of invoices."""

    def __init__(
        self,
        settings: BillingSettings,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        collector: Callable[[], Collector],
        books: Books,
    ) -> None:
        self._settings = settings
        self._books = books
        self._uow = unit_of_work
        self._clock = clock
        self._collector = collector

    # -- charges -----------------------------------------------------------------

    def collect(self, invoice_id: str) -> Invoice:
        """Charge what the invoice owes through payments (see the module docstring)."""
        with self._uow() as uow:
            conn = uow.conn
            row = _locked(conn, invoice_id)
            open_attempt = _open_attempt(conn, invoice_id)
            if open_attempt is None:
                if row.status != InvoiceStatus.FINALIZED.value or _due(row) <= 0:
                    raise BillingError(
                        f"invoice {invoice_id!r} is {row.status}: nothing to collect"
                    )
                customer = load_customer(conn, row.customer_id)
                if not customer.payment_method:
                    raise BillingError(
                        f"customer {customer.id!r} pays by bank transfer (no payment_method):"
                        " record the payment when it arrives"
                    )
                number = _attempts(conn, invoice_id) + 1
                FastSQL.of(conn).insert(
                    conn,
                    attempts,
                    {
                        "invoice_id": invoice_id,
                        "attempt": number,
                        "payment_id": None,
                        "method": customer.payment_method,
                        "amount": _due(row),
                        "status": "pending",
                        "detail": "",
                        "next_on": None,
                        "at": self._clock(),
                    },
                )
                uow.commit()
                attempt, method, amount = number, customer.payment_method, _due(row)
            else:
                attempt, method, amount = open_attempt
        key = f"billing:collect:{invoice_id}:{attempt}"
        money = Money.from_minor(amount, row.currency)
        outcome = self._collector()(key, row.customer_id, method, money)
        return self._record(invoice_id, attempt, money, outcome)

    def _record(
        self, invoice_id: str, attempt: int, amount: Money, outcome: ChargeOutcome
    ) -> Invoice:
        status, payment_id, detail = outcome
        now = self._clock()
        with self._uow() as uow:
            conn = uow.conn
            row = _locked(conn, invoice_id)
            fast = FastSQL.of(conn)
            where = {"invoice_id": invoice_id, "attempt": attempt}
            current = fast.select_one(conn, attempts, where)
            if current is None or current.status not in ("pending", "unknown"):
                return load_invoice(conn, invoice_id)  # recorded by another caller
            customer = load_customer(conn, row.customer_id)
            today = today_in(now, customer.timezone)
            values: dict[str, Any] = {"payment_id": payment_id, "detail": detail[:500], "at": now}
            if status == "captured":
                values["status"] = "succeeded"
                fast.update(conn, attempts, values, where)
                self._book_payment(uow, row, amount, f"charge {payment_id}")
            elif status == "declined":
                values["status"] = "failed"
                failures = _failures(conn, invoice_id) + 1
                first = _first_failure(conn, invoice_id) or today
                retry = self._settings.dunning.retry_days
                values["next_on"] = (
                    first + timedelta(days=retry[failures - 1]) if failures <= len(retry) else None
                )
                fast.update(conn, attempts, values, where)
                collection = (
                    CollectionStatus.RETRYING if values["next_on"] else CollectionStatus.FAILED
                )
                fast.update(conn, invoices, {"collection": collection.value}, {"id": invoice_id})
                uow.events.emit(
                    Event(
                        "billing.invoice.charge_failed",
                        f"invoice:{invoice_id}",
                        {
                            "attempt": attempt,
                            "detail": detail[:200],
                            "retry_on": str(values["next_on"]),
                        },
                    )
                )
            else:
                values["status"] = "unknown"
                fast.update(conn, attempts, values, where)
            found = load_invoice(conn, invoice_id)
            uow.commit()
        return found

    def dunning(self) -> tuple[int, int]:
        """Retry the charges due today and mark unpaid invoices past due; (tried, overdue)."""
        now = self._clock()
        with self._uow() as uow:
            conn = uow.conn
            a, i = attempts.c, invoices.c
            due_now = set(
                conn.execute(
                    select(a.invoice_id)
                    .join(invoices, i.id == a.invoice_id)
                    .where(
                        i.status == InvoiceStatus.FINALIZED.value,
                        ((a.status == "failed") & (a.next_on <= now.date()))
                        | a.status.in_(("pending", "unknown")),
                    )
                ).scalars()
            )
        tried = 0
        for invoice_id in sorted(due_now):
            with self._uow() as uow:
                latest = _latest(uow.conn, invoice_id)
            if (
                latest is not None
                and latest[0] == "failed"
                and (latest[1] is None or latest[1] > now.date())
            ):
                continue  # a later attempt is not due yet
            try:
                self.collect(invoice_id)
                tried += 1
            except BillingError:
                continue
        with self._uow() as uow:
            conn = uow.conn
            i = invoices.c
            late = list(
                conn.execute(
                    select(i.id).where(
                        i.status == InvoiceStatus.FINALIZED.value,
                        i.collection == CollectionStatus.PENDING.value,
                        i.due_on < now.date(),
                    )
                ).scalars()
            )
            for ident in late:
                FastSQL.of(conn).update(
                    conn, invoices, {"collection": CollectionStatus.OVERDUE.value}, {"id": ident}
                )
            uow.commit()
        return tried, len(late)

    # -- payments received, voids, write-offs -------------------------------------------

    def record_payment(self, key: str, invoice_id: str, amount: Money) -> Invoice:
        """Book a payment received otherwise (a bank transfer): at most what is due."""
        if not isinstance(amount, Money) or amount.minor_units <= 0:
            raise BillingInputError("expected an amount of Money above 0", field="amount")
        digest = request_digest("record_payment", {"invoice": invoice_id, "amount": str(amount)})
        with self._uow() as uow:
            conn = uow.conn
            if uow.idempotency.claim(key, "record_payment", digest) is not None:
                return load_invoice(conn, invoice_id)
            row = _locked(conn, invoice_id)
            if row.status != InvoiceStatus.FINALIZED.value:
                raise BillingError(f"invoice {invoice_id!r} is {row.status}: nothing is due")
            if amount.currency.code != row.currency:
                raise BillingInputError(
                    f"the invoice is in {row.currency} (a currency mismatch)", field="amount"
                )
            if amount.minor_units > _due(row):
                raise BillingInputError(
                    f"only {Money.from_minor(_due(row), row.currency)} is due", field="amount"
                )
            self._book_payment(uow, row, amount, f"payment {key}")
            uow.idempotency.finish(key, invoice_id, resource=invoice_id)
            found = load_invoice(conn, invoice_id)
            uow.commit()
        return found

    def _book_payment(self, uow: UnitOfWork, row: Any, amount: Money, detail: str) -> None:
        conn = uow.conn
        code = row.currency
        cash = self._books.account(uow, "cash", code)
        receivable = self._books.account(uow, "receivable", code, customer=row.customer_id)
        paid_before = int(row.paid)
        uow.ledger.post(
            f"billing:paid:{row.id}:{paid_before}",
            [Leg.debit(cash, amount), Leg.credit(receivable, amount)],
            f"invoice {row.number}: {detail}",
        )
        paid = paid_before + amount.minor_units
        values: dict[str, Any] = {"paid": paid}
        if int(row.total) - int(row.credits) - int(row.credited_balance) - paid == 0:
            values["status"] = InvoiceStatus.PAID.value
            values["collection"] = CollectionStatus.SUCCEEDED.value
        FastSQL.of(conn).update(conn, invoices, values, {"id": row.id})
        uow.events.emit(
            Event(
                "billing.invoice.paid",
                f"invoice:{row.id}",
                {"amount": str(amount.amount), "paid": paid},
            )
        )

    def void(self, invoice_id: str) -> Invoice:
        """Void a finalized invoice nothing was paid or credited on."""
        with self._uow() as uow:
            conn = uow.conn
            row = _locked(conn, invoice_id)
            if row.status != InvoiceStatus.FINALIZED.value or int(row.paid) or int(row.credited):
                raise BillingError(
                    f"invoice {invoice_id!r} is {row.status}, paid {row.paid}, credited"
                    f" {row.credited}: only a finalized invoice nothing was paid or credited on"
                    " is voided (credit it instead)"
                )
            if int(row.credits):  # first the prepaid credits it used go back (to the wallet)
                code = row.currency
                wallet = self._books.account(uow, "wallet", code, customer=row.customer_id)
                receivable = self._books.account(uow, "receivable", code, customer=row.customer_id)
                back = Money.from_minor(int(row.credits), code)
                entry = uow.ledger.post(
                    f"billing:void_credits:{invoice_id}",
                    [Leg.debit(receivable, back), Leg.credit(wallet, back)],
                    "credits of a voided invoice",
                )
                add_credit(
                    conn, row.customer_id, code, int(row.credits), None, entry.seq, self._clock()
                )
            # then the invoice's own entry (its receivable is whole again)
            if row.entry_seq is not None:
                uow.ledger.reverse(f"billing:void:{invoice_id}", int(row.entry_seq), "voided")
            FastSQL.of(conn).update(
                conn, invoices, {"status": InvoiceStatus.VOIDED.value}, {"id": invoice_id}
            )
            uow.events.emit(Event("billing.invoice.voided", f"invoice:{invoice_id}", {}))
            found = load_invoice(conn, invoice_id)
            uow.commit()
        return found

    def mark_uncollectible(self, invoice_id: str) -> Invoice:
        """Write off what a finalized invoice still owes."""
        with self._uow() as uow:
            conn = uow.conn
            row = _locked(conn, invoice_id)
            if row.status != InvoiceStatus.FINALIZED.value or _due(row) <= 0:
                raise BillingError(f"invoice {invoice_id!r} is {row.status}: nothing to write off")
            code = row.currency
            due = Money.from_minor(_due(row), code)
            loss = self._books.account(uow, "write_off", code)
            receivable = self._books.account(uow, "receivable", code, customer=row.customer_id)
            uow.ledger.post(
                f"billing:write_off:{invoice_id}",
                [Leg.debit(loss, due), Leg.credit(receivable, due)],
                f"invoice {row.number} written off",
            )
            FastSQL.of(conn).update(
                conn,
                invoices,
                {
                    "status": InvoiceStatus.UNCOLLECTIBLE.value,
                    "collection": CollectionStatus.FAILED.value,
                },
                {"id": invoice_id},
            )
            uow.events.emit(
                Event(
                    "billing.invoice.uncollectible",
                    f"invoice:{invoice_id}",
                    {"due": str(due.amount)},
                )
            )
            found = load_invoice(conn, invoice_id)
            uow.commit()
        return found


def _locked(conn: Connection, invoice_id: str) -> Any:
    row = FastSQL.of(conn).select_one(conn, invoices, {"id": invoice_id}, for_update=True)
    if row is None:
        raise BillingNotFoundError(f"no invoice {invoice_id!r}")
    return row


def _attempts(conn: Connection, invoice_id: str) -> int:
    a = attempts.c
    return int(conn.execute(select(func.count()).where(a.invoice_id == invoice_id)).scalar_one())


def _failures(conn: Connection, invoice_id: str) -> int:
    a = attempts.c
    return int(
        conn.execute(
            select(func.count()).where(a.invoice_id == invoice_id, a.status == "failed")
        ).scalar_one()
    )


def _first_failure(conn: Connection, invoice_id: str) -> date | None:
    a = attempts.c
    first = conn.execute(
        select(func.min(a.at)).where(a.invoice_id == invoice_id, a.status == "failed")
    ).scalar()
    return None if first is None else first.date()


def _latest(conn: Connection, invoice_id: str) -> tuple[str, date | None] | None:
    a = attempts.c
    row = conn.execute(
        select(a.status, a.next_on)
        .where(a.invoice_id == invoice_id)
        .order_by(a.attempt.desc())
        .limit(1)
    ).first()
    return None if row is None else (row.status, row.next_on)


def _open_attempt(conn: Connection, invoice_id: str) -> tuple[int, str, int] | None:
    """The attempt whose outcome is not recorded: ``(number, method, amount)``."""
    a = attempts.c
    row = conn.execute(
        select(a.attempt, a.method, a.amount)
        .where(a.invoice_id == invoice_id, a.status.in_(("pending", "unknown")))
        .order_by(a.attempt)
        .limit(1)
    ).first()
    if row is None:
        return None
    return int(row.attempt), str(row.method), int(row.amount)
