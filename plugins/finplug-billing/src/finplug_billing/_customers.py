"""Customers: who is billed, in which currency, zone, locale and taxes.

A customer's currency is fixed once it has a subscription, an invoice or
credits: everything of a customer is in one currency (a subscription to a
plan priced in another is refused as a currency mismatch).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from sqlalchemy import Connection, func, select

from finplug import FastSQL, MoneyError, UnitOfWork, currency
from finplug.sockets.billing import BillingInputError, BillingNotFoundError, Customer
from finplug_billing._catalog import BillingSettings
from finplug_billing._schema import customers, invoices, subscriptions, wallet_credits

__all__ = ["Customers", "load_customer"]

_MAX_ID = 64


def load_customer(conn: Connection, customer_id: str, *, for_update: bool = False) -> Customer:
    """A customer by id; :class:`BillingNotFoundError` if there is none."""
    row = FastSQL.of(conn).select_one(conn, customers, {"id": customer_id}, for_update=for_update)
    if row is None:
        raise BillingNotFoundError(f"no customer {customer_id!r}")
    return _customer(row)


def _customer(row: Any) -> Customer:
    rates = json.loads(row.tax_rates) if row.tax_rates is not None else None
    return Customer(
        id=row.id,
        name=row.name,
        currency=row.currency,
        timezone=row.timezone,
        locale=row.locale,
        tax_ids=tuple(json.loads(row.tax_ids)),
        tax_rates=None if rates is None else tuple(rates),
        email=row.email,
        payment_method=row.payment_method,
        metadata=json.loads(row.meta),
    )


def check_customer(customer: Customer, settings: BillingSettings) -> None:
    """Refuse a customer that cannot be billed (:class:`BillingInputError` naming the field)."""
    if not isinstance(customer, Customer):
        raise BillingInputError(f"expected a Customer, got {type(customer).__name__}")
    if not isinstance(customer.id, str) or not 0 < len(customer.id) <= _MAX_ID:
        raise BillingInputError(f"expected 1 to {_MAX_ID} characters", field="customer.id")
    if not isinstance(customer.name, str) or not 0 < len(customer.name) <= 255:
        raise BillingInputError("expected 1 to 255 characters", field="customer.name")
    try:
        currency(customer.currency)
    except MoneyError:
        raise BillingInputError(
            f"expected an ISO 4217 currency code, got {customer.currency!r}",
            field="customer.currency",
        ) from None
    try:
        ZoneInfo(customer.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise BillingInputError(
            f"expected an IANA time zone such as 'Europe/Berlin', got {customer.timezone!r}",
            field="customer.timezone",
        ) from None
    try:
        Locale.parse(customer.locale)
    except (UnknownLocaleError, ValueError, TypeError):
        raise BillingInputError(
            f"expected a CLDR locale such as 'de_DE', got {customer.locale!r}",
            field="customer.locale",
        ) from None
    for n, code in enumerate(customer.tax_rates or ()):
        if code not in settings.taxes:
            known = ", ".join(sorted(settings.taxes)) or "none"
            raise BillingInputError(
                f"no tax {code!r} in the catalog ({known})", field=f"customer.tax_rates[{n}]"
            )
    for key, value in customer.metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise BillingInputError("expected text keys and values", field="customer.metadata")


class Customers:
    """A tenant's customers."""

    def __init__(
        self,
        settings: BillingSettings,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._clock = clock

    def upsert(self, customer: Customer) -> Customer:
        """Create or update a customer; its currency cannot change once it is billed."""
        check_customer(customer, self._settings)
        now = self._clock()
        values = {
            "name": customer.name,
            "currency": currency(customer.currency).code,
            "timezone": customer.timezone,
            "locale": customer.locale,
            "tax_ids": json.dumps(list(customer.tax_ids)),
            "tax_rates": None
            if customer.tax_rates is None
            else json.dumps(list(customer.tax_rates)),
            "email": customer.email,
            "payment_method": customer.payment_method,
            "meta": json.dumps(dict(customer.metadata), sort_keys=True),
            "updated_at": now,
        }
        with self._uow() as uow:
            conn = uow.conn
            fast = FastSQL.of(conn)
            inserted = fast.insert_new(
                conn, customers, {"id": customer.id, **values, "created_at": now}, ("id",)
            )
            if not inserted:
                before = load_customer(conn, customer.id, for_update=True)
                if before.currency != values["currency"] and _billed(conn, customer.id):
                    raise BillingInputError(
                        f"customer {customer.id!r} is billed in {before.currency}; its currency"
                        " cannot change (open a new customer)",
                        field="customer.currency",
                    )
                fast.update(conn, customers, values, {"id": customer.id})
            found = load_customer(conn, customer.id)
            uow.commit()
        return found

    def get(self, customer_id: str) -> Customer:
        """One customer; :class:`BillingNotFoundError` if there is none."""
        with self._uow() as uow:
            return load_customer(uow.conn, customer_id)


def _billed(conn: Connection, customer_id: str) -> bool:
    """Whether the customer has a subscription, an invoice or credits."""
    for table in (subscriptions, invoices, wallet_credits):
        count = conn.execute(
            select(func.count()).select_from(table).where(table.c.customer_id == customer_id)
        ).scalar_one()
        if count:
            return True
    return False
