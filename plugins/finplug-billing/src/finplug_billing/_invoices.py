"""Invoices: the billing cycle that makes them, their storage, and finalization.

A cycle takes each subscription in a transaction of its own (one that
fails is reported and the others are billed): it locks the subscription's
row, finds its billing dates since the last one invoiced
(:func:`~finplug_billing._drafts.billing_dates`), aggregates the usage of
each ended period, drafts the lines, computes the invoice
(:func:`~finplug_billing.totals.compute`) and stores it under the key
``(subscription, billing date, "cycle")``: a second run, or a second worker
at the same time, finds the invoice made and makes none. With
``invoices.auto_finalize`` the invoice is finalized in the same
transaction: numbered, booked in the ledger.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from finplug import Event, FastSQL, Money, UnitOfWork, as_utc, currency
from finplug.sockets.billing import (
    BillingError,
    BillingNotFoundError,
    CollectionStatus,
    Customer,
    CycleReport,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Subscription,
    SubscriptionStatus,
)
from finplug_billing._booking import Books, book_invoice, next_number
from finplug_billing._coupons import active_coupons, use_coupons
from finplug_billing._customers import load_customer
from finplug_billing._drafts import DraftLine, billing_dates, draft_lines
from finplug_billing._meter import metric_usage, usage_of
from finplug_billing._prices import Catalog
from finplug_billing._schema import invoice_lines, invoices, subscriptions
from finplug_billing._subscriptions import load_subscription, subscription_of, timeline
from finplug_billing._usage import micros
from finplug_billing._wallets import consume
from finplug_billing.periods import Interval, Period, bounds, period_of, today_in
from finplug_billing.totals import (
    DiscountInput,
    InvoiceTotals,
    LineInput,
    LineTotals,
    TaxRate,
    compute,
)

__all__ = ["Invoices", "load_invoice"]

_LIVE = (
    SubscriptionStatus.ACTIVE.value,
    SubscriptionStatus.PAUSED.value,
    SubscriptionStatus.CANCELED.value,
)


class Invoices:
    """A tenant's invoices."""

    def __init__(
        self,
        catalog: Callable[[], Catalog],
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        books: Books,
    ) -> None:
        self._catalog = catalog
        self._uow = unit_of_work
        self._clock = clock
        self._books = books

    # -- the cycle ---------------------------------------------------------------

    def run_cycle(self, as_of: date | None) -> CycleReport:
        """Invoice every live subscription up to ``as_of`` (default: each customer's today)."""
        with self._uow() as uow:
            c = subscriptions.c
            ids = list(
                uow.conn.execute(select(c.id).where(c.status.in_(_LIVE)).order_by(c.id)).scalars()
            )
        created: list[str] = []
        existing: list[str] = []
        failed: list[tuple[str, str]] = []
        for ident in ids:
            try:
                made, found = self.bill(ident, as_of)
            except BillingError as exc:
                failed.append((ident, str(exc)))
                continue
            created += made
            existing += found
        day = as_of if as_of is not None else self._clock().date()
        return CycleReport(day, tuple(created), tuple(existing), tuple(failed))

    def bill(self, subscription_id: str, as_of: date | None) -> tuple[list[str], list[str]]:
        """Invoice one subscription's billing dates up to ``as_of``: (made, found made)."""
        catalog = self._catalog()
        made: list[str] = []
        found: list[str] = []
        with self._uow() as uow:
            conn = uow.conn
            row = FastSQL.of(conn).select_one(
                conn, subscriptions, {"id": subscription_id}, for_update=True
            )
            if row is None:
                raise BillingNotFoundError(f"no subscription {subscription_id!r}")
            subscription = subscription_of(row)
            customer = load_customer(conn, subscription.customer_id)
            until = as_of if as_of is not None else today_in(self._clock(), customer.timezone)
            steps = timeline(conn, subscription_id)
            interval = Interval(catalog.plan(subscription.plan).interval)
            dates = billing_dates(subscription, interval, until, row.billed_through)
            exponent = currency(customer.currency).exponent
            for day, ended, following in dates:
                usage = usage_of(conn, catalog, steps, subscription, customer, ended)
                lines = draft_lines(
                    catalog, customer, subscription, steps, ended, following, usage, exponent
                )
                if not lines:  # nothing to bill on this date (a plan paid later, just started)
                    continue
                ident, new = self._store(
                    uow, catalog, customer, subscription, day, ended, following, lines
                )
                (made if new else found).append(ident)
            if dates:
                last = dates[-1]
                values: dict[str, Any] = {"billed_through": last[0]}
                if last[2] is None:  # the period holding its end is invoiced: done
                    values["status"] = SubscriptionStatus.TERMINATED.value
                FastSQL.of(conn).update(conn, subscriptions, values, {"id": subscription_id})
            uow.commit()
        return made, found

    def _store(
        self,
        uow: UnitOfWork,
        catalog: Catalog,
        customer: Customer,
        subscription: Subscription,
        day: date,
        ended: Period | None,
        following: Period | None,
        lines: Sequence[DraftLine],
    ) -> tuple[str, bool]:
        conn = uow.conn
        given = active_coupons(conn, catalog, customer.id)
        totals = _totals(catalog, customer, lines, [discount for _, discount in given])
        period = ended if ended is not None else following
        assert period is not None
        ident = f"inv_{uuid.uuid4().hex[:24]}"
        now = self._clock()
        head = {
            "id": ident,
            "number": None,
            "customer_id": customer.id,
            "subscription_id": subscription.id,
            "cycle_on": day,
            "reason": "cycle",
            "currency": customer.currency,
            "status": InvoiceStatus.DRAFT.value,
            "collection": CollectionStatus.PENDING.value,
            "period_start": period.start,
            "period_end": period.end,
            "issued_on": None,
            "due_on": None,
            "subtotal": totals.subtotal,
            "discount": totals.discount,
            "tax": totals.tax,
            "total": totals.total,
            "credits": 0,
            "credited": 0,
            "credited_balance": 0,
            "paid": 0,
            "entry_seq": None,
            "created_at": now,
        }
        fast = FastSQL.of(conn)
        if not fast.insert_new(conn, invoices, head, ("subscription_id", "cycle_on", "reason")):
            other = conn.execute(
                select(invoices.c.id).where(
                    invoices.c.subscription_id == subscription.id,
                    invoices.c.cycle_on == day,
                    invoices.c.reason == "cycle",
                )
            ).scalar_one()
            return str(other), False
        use_coupons(conn, totals, given)
        if lines:
            conn.execute(
                invoice_lines.insert(),
                [
                    _line_row(ident, n, line, total)
                    for n, (line, total) in enumerate(zip(lines, totals.lines, strict=True))
                ],
            )
        uow.events.emit(
            Event(
                "billing.invoice.created",
                f"invoice:{ident}",
                {
                    "subscription": subscription.id,
                    "cycle_on": day.isoformat(),
                    "total": str(totals.total),
                },
            )
        )
        settings = catalog.settings
        if settings.invoices.auto_finalize:
            self._finalize(uow, catalog, ident, totals)
        return ident, True

    # -- finalization --------------------------------------------------------------

    def finalize(self, invoice_id: str) -> Invoice:
        """Number a draft and book it (see :func:`~finplug_billing._booking.book_invoice`)."""
        catalog = self._catalog()
        with self._uow() as uow:
            self._finalize(uow, catalog, invoice_id)
            found = load_invoice(uow.conn, invoice_id)
            uow.commit()
        return found

    def _finalize(
        self,
        uow: UnitOfWork,
        catalog: Catalog,
        invoice_id: str,
        totals: InvoiceTotals | None = None,
    ) -> None:
        conn = uow.conn
        row = FastSQL.of(conn).select_one(conn, invoices, {"id": invoice_id}, for_update=True)
        if row is None:
            raise BillingNotFoundError(f"no invoice {invoice_id!r}")
        if row.status != InvoiceStatus.DRAFT.value:
            raise BillingError(f"invoice {invoice_id!r} is {row.status}, not a draft")
        settings = catalog.settings
        customer = load_customer(conn, row.customer_id)
        issued = today_in(self._clock(), customer.timezone)
        numbering = settings.invoices
        number = next_number(conn, numbering.prefix, numbering.digits, numbering.per_year, issued)
        if totals is None:  # a draft finalized later: its totals as stored
            totals = totals_of(conn, invoice_id)
        deferred = [line.key for line in totals.lines if line.key.startswith("advance:")]
        seq = book_invoice(
            uow, self._books, invoice_id, number, customer.id, row.currency, totals, deferred
        )
        used = consume(
            uow,
            self._books,
            customer.id,
            row.currency,
            invoice_id,
            int(row.total),
            issued,
            self._clock(),
        )
        paid = int(row.total) - used == 0
        FastSQL.of(conn).update(
            conn,
            invoices,
            {
                "number": number,
                "credits": used,
                "status": (InvoiceStatus.PAID if paid else InvoiceStatus.FINALIZED).value,
                "collection": (
                    CollectionStatus.SUCCEEDED if paid else CollectionStatus.PENDING
                ).value,
                "issued_on": issued,
                "due_on": issued + timedelta(days=numbering.net_days),
                "entry_seq": seq,
            },
            {"id": invoice_id},
        )
        uow.events.emit(
            Event(
                "billing.invoice.finalized",
                f"invoice:{invoice_id}",
                {"number": number, "total": str(Money.from_minor(row.total, row.currency).amount)},
            )
        )

    def usage(self, subscription_id: str, metric: str, on: date | None) -> str:
        """A metric's aggregate over the period holding ``on`` (default: the customer's today)."""
        catalog = self._catalog()
        chosen = catalog.metric(metric)
        with self._uow() as uow:
            conn = uow.conn
            subscription = load_subscription(conn, subscription_id)
            customer = load_customer(conn, subscription.customer_id)
            day = on if on is not None else today_in(self._clock(), customer.timezone)
            interval = Interval(catalog.plan(subscription.plan).interval)
            period = period_of(day, interval, subscription.anchor, subscription.started_on)
            start, end = (micros(moment) for moment in bounds(period, customer.timezone))
            units = metric_usage(conn, subscription_id, metric, chosen, start, end, False).units
        if isinstance(units, Decimal):
            return str(units)
        exact = Decimal(units.numerator) / Decimal(units.denominator)
        return str(exact.quantize(Decimal("0.000001")))

    # -- reading -------------------------------------------------------------------

    def get(self, invoice_id: str) -> Invoice:
        """One invoice; :class:`BillingNotFoundError` if there is none."""
        with self._uow() as uow:
            return load_invoice(uow.conn, invoice_id)

    def list(
        self, customer_id: str | None, status: InvoiceStatus | None, limit: int
    ) -> list[Invoice]:
        """Invoices, newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise BillingError(f"limit: expected an int from 1 to 10000, got {limit!r}")
        c = invoices.c
        query = select(c.id).order_by(c.created_at.desc(), c.id.desc()).limit(limit)
        if customer_id is not None:
            query = query.where(c.customer_id == customer_id)
        if status is not None:
            query = query.where(c.status == InvoiceStatus(status).value)
        with self._uow() as uow:
            conn = uow.conn
            return [load_invoice(conn, ident) for ident in conn.execute(query).scalars()]


def _totals(
    catalog: Catalog,
    customer: Customer,
    lines: Sequence[DraftLine],
    discounts: Sequence[DiscountInput] = (),
) -> InvoiceTotals:
    inputs = []
    for line in lines:
        codes = catalog.settings.default_taxes if line.taxes == ("*",) else list(line.taxes)
        rates, inclusive = catalog.taxes_for(tuple(codes), None)
        inputs.append(LineInput(line.id, line.amount, rates, inclusive))
    return compute(inputs, discounts, exponent=currency(customer.currency).exponent)


def _line_row(invoice_id: str, position: int, line: DraftLine, total: Any) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "position": position,
        "id": line.id,
        "kind": line.kind,
        "description": line.description,
        "period_start": line.period.start,
        "period_end": line.period.end,
        "quantity": str(line.quantity),
        "unit_price": str(line.unit_price),
        "amount": line.amount,
        "discount": total.discount,
        "taxes": json.dumps([[code, tax] for code, tax in total.taxes]),
        "total": total.total,
        "inclusive": 1 if total.inclusive else 0,
        "rates": json.dumps([[rate.code, str(rate.rate)] for rate in total.rates]),
    }


def load_invoice(conn: Connection, invoice_id: str) -> Invoice:
    """An invoice by id, with its lines; :class:`BillingNotFoundError` if there is none."""
    row = FastSQL.of(conn).select_one(conn, invoices, {"id": invoice_id})
    if row is None:
        raise BillingNotFoundError(f"no invoice {invoice_id!r}")
    code = row.currency

    def money(minor: int) -> Money:
        return Money.from_minor(int(minor), code)

    c = invoice_lines.c
    lines = tuple(
        InvoiceLine(
            id=r.id,
            kind=r.kind,
            description=r.description,
            period_start=r.period_start,
            period_end=r.period_end,
            quantity=Decimal(r.quantity),
            unit_price=Decimal(r.unit_price),
            amount=money(r.amount),
            discount=money(r.discount),
            taxes=tuple((c, money(t)) for c, t in json.loads(r.taxes)),
            total=money(r.total),
        )
        for r in conn.execute(
            select(invoice_lines).where(c.invoice_id == invoice_id).order_by(c.position)
        )
    )
    due = row.total - row.credits - row.credited_balance - row.paid
    return Invoice(
        id=row.id,
        number=row.number,
        customer_id=row.customer_id,
        subscription_id=row.subscription_id,
        currency=code,
        status=InvoiceStatus(row.status),
        collection=CollectionStatus(row.collection),
        period_start=row.period_start,
        period_end=row.period_end,
        issued_on=row.issued_on,
        due_on=row.due_on,
        lines=lines,
        subtotal=money(row.subtotal),
        discount=money(row.discount),
        tax=money(row.tax),
        total=money(row.total),
        credits=money(row.credits),
        credited=money(row.credited),
        paid=money(row.paid),
        amount_due=money(max(due, 0)),
        created_at=as_utc(row.created_at),
    )


def totals_of(conn: Connection, invoice_id: str) -> InvoiceTotals:
    """An invoice's totals rebuilt from its stored rows (checked for consistency on the way)."""
    row = FastSQL.of(conn).select_one(conn, invoices, {"id": invoice_id})
    if row is None:
        raise BillingNotFoundError(f"no invoice {invoice_id!r}")
    c = invoice_lines.c
    lines = []
    for r in conn.execute(
        select(invoice_lines).where(c.invoice_id == invoice_id).order_by(c.position)
    ):
        taxes = tuple((code, int(tax)) for code, tax in json.loads(r.taxes))
        lines.append(
            LineTotals(
                key=r.id,
                amount=int(r.amount),
                discount=int(r.discount),
                base=int(r.total) - sum(tax for _, tax in taxes),
                taxes=taxes,
                total=int(r.total),
                rates=tuple(TaxRate(code, Decimal(rate)) for code, rate in json.loads(r.rates)),
                inclusive=bool(r.inclusive),
            )
        )
    by_code: dict[str, int] = {}
    for line in lines:
        for code, tax in line.taxes:
            by_code[code] = by_code.get(code, 0) + tax
    tax = sum(by_code.values())
    included = sum(line.tax for line in lines if line.inclusive)
    return InvoiceTotals(
        lines=tuple(lines),
        exponent=currency(row.currency).exponent,
        subtotal=int(row.subtotal),
        discount=int(row.discount),
        discount_by_code=(("coupons", int(row.discount)),) if row.discount else (),
        net=sum(line.base for line in lines),
        tax=tax,
        tax_by_code=tuple(by_code.items()),
        tax_included=included,
        total=int(row.total),
        credits=int(row.credits),
        amount_due=int(row.total) - int(row.credits),
        unused_discounts=(),
    )
