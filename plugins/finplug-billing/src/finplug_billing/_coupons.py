"""Coupons given to customers, applied to their invoices before tax, oldest first.

A fixed coupon takes its amount off the next invoices until it is used up
(what an invoice could not take carries to the next); ``once`` and
``recurring`` percentage coupons apply to one invoice or to ``periods``
invoices, ``forever`` ones to every invoice. The order of application is
the order the coupons were given; each is spread over the invoice's lines
in proportion to them (:func:`~finplug_billing.totals.compute`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, func, select

from finplug import FastSQL, Money, UnitOfWork, request_digest
from finplug.sockets.billing import BillingError, BillingInputError
from finplug_billing._customers import load_customer
from finplug_billing._prices import Catalog
from finplug_billing._schema import customer_coupons
from finplug_billing.totals import DiscountInput, InvoiceTotals

__all__ = ["Coupons", "active_coupons", "use_coupons"]


class Coupons:
    """A tenant's coupons given to customers."""

    def __init__(
        self,
        catalog: Callable[[], Catalog],
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
    ) -> None:
        self._catalog = catalog
        self._uow = unit_of_work
        self._clock = clock

    def apply(self, key: str, customer_id: str, coupon: str) -> str:
        """Give ``coupon`` to the customer (idempotent by ``key``); the given coupon's id."""
        catalog = self._catalog()
        found = catalog.settings.coupons.get(coupon)
        if found is None:
            known = ", ".join(sorted(catalog.settings.coupons)) or "none"
            raise BillingInputError(f"no coupon {coupon!r} ({known})", field="coupon")
        if not isinstance(key, str) or not 0 < len(key) <= 255:
            raise BillingInputError("expected a key of 1 to 255 characters", field="key")
        with self._uow() as uow:
            conn = uow.conn
            digest = request_digest("apply_coupon", {"customer": customer_id, "coupon": coupon})
            stored = uow.idempotency.claim(key, "apply_coupon", digest)
            if stored is not None:
                if stored.response is None:
                    raise BillingError(f"the request under key {key!r} is still running")
                return stored.response
            customer = load_customer(conn, customer_id)
            amount_left = None
            if found.kind == "fixed":
                assert found.amount is not None
                assert found.currency is not None
                if found.currency != customer.currency:
                    raise BillingInputError(
                        f"coupon {coupon!r} is in {found.currency}; customer {customer_id!r} is"
                        f" billed in {customer.currency} (a currency mismatch)",
                        field="coupon",
                    )
                amount_left = Money(found.amount, found.currency).minor_units
            periods = {"once": 1, "recurring": found.periods, "forever": None}[found.frequency]
            ident = f"cpn_{uuid.uuid4().hex[:24]}"
            c = customer_coupons.c
            last = conn.execute(
                select(func.max(c.position)).where(c.customer_id == customer_id)
            ).scalar()
            FastSQL.of(conn).insert(
                conn,
                customer_coupons,
                {
                    "id": ident,
                    "customer_id": customer_id,
                    "coupon": coupon,
                    "position": 0 if last is None else int(last) + 1,
                    "amount_left": amount_left,
                    "periods_left": None if found.kind == "fixed" else periods,
                    "status": "active",
                    "created_at": self._clock(),
                },
            )
            uow.idempotency.finish(key, ident, resource=ident)
            uow.commit()
        return ident


def active_coupons(
    conn: Connection, catalog: Catalog, customer_id: str
) -> list[tuple[str, DiscountInput]]:
    """The customer's active coupons, oldest first, as discounts: ``(given id, discount)``.

    The rows are locked until the caller's transaction ends: another invoice of
    the customer being made at the same time waits, then reads what this one
    left of them (else both would take the same amount or period).
    """
    c = customer_coupons.c
    rows = conn.execute(
        select(customer_coupons)
        .where(c.customer_id == customer_id, c.status == "active")
        .order_by(c.position)
        .with_for_update()
    ).all()
    found = []
    for row in rows:
        settings = catalog.settings.coupons.get(row.coupon)
        if settings is None:  # removed from the catalog since: no longer applied
            continue
        if settings.kind == "fixed":
            found.append((row.id, DiscountInput(row.id, amount=int(row.amount_left))))
        else:
            assert settings.rate is not None
            found.append((row.id, DiscountInput(row.id, rate=settings.rate)))
    return found


def use_coupons(
    conn: Connection, totals: InvoiceTotals, given: list[tuple[str, DiscountInput]]
) -> None:
    """Record what an invoice took of each coupon: amounts left, invoices left, used up."""
    applied = dict(totals.discount_by_code)
    fast = FastSQL.of(conn)
    for ident, discount in given:
        row = fast.select_one(conn, customer_coupons, {"id": ident})
        assert row is not None
        if discount.amount is not None:
            left = int(row.amount_left) - applied.get(ident, 0)
            values = {"amount_left": left, "status": "active" if left > 0 else "used"}
        elif row.periods_left is None:  # forever
            continue
        else:
            left = int(row.periods_left) - 1
            values = {"periods_left": left, "status": "active" if left > 0 else "used"}
        fast.update(conn, customer_coupons, values, {"id": ident})
