"""Shared test setup for the billing plugin: a catalog, a clock, a tenant with customers."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from finplug import Tenant
from finplug.sockets.billing import BILLING, BillingAPI, Customer
from finplug.testing import FinplugTenant
from finplug_billing import BillingPlugin

CATALOG: dict[str, Any] = {
    "metrics": {
        "api_calls": {"aggregation": "count"},
        "storage": {"aggregation": "weighted_sum", "field": "gb", "decimals": 3},
        "volume": {"aggregation": "sum", "field": "amount", "decimals": 2},
        "seats": {"aggregation": "unique_count", "field": "user"},
    },
    "plans": {
        "starter": {
            "name": "Starter",
            "currency": "EUR",
            "amount": "20.00",
            "charges": [
                {
                    "metric": "api_calls",
                    "model": "graduated",
                    "properties": {
                        "tiers": [
                            {"from_value": "0", "to_value": "1000", "per_unit_amount": "0"},
                            {"from_value": "1000", "per_unit_amount": "0.002"},
                        ]
                    },
                }
            ],
        },
        "pro": {
            "name": "Pro",
            "currency": "EUR",
            "amount": "50.00",
            "pay_in_advance": True,
            "trial_days": 14,
            "charges": [
                {"metric": "volume", "model": "percentage", "properties": {"rate": "0.015"}}
            ],
        },
        "dollar": {"name": "Dollar", "currency": "USD", "amount": "10.00"},
        "yearly": {"name": "Yearly", "currency": "EUR", "interval": "yearly", "amount": "500"},
    },
    "taxes": {"vat_de": {"rate": "0.19"}},
    "default_taxes": ["vat_de"],
}


class Clock:
    """A settable clock (UTC)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def billing_tenant(
    finplug_tenant: FinplugTenant, clock: Clock | None = None, **changes: Any
) -> Tenant:
    """A tenant with the billing plugin and :data:`CATALOG` (``changes`` replace its keys)."""
    settings = copy.deepcopy(CATALOG)
    settings.update(changes)
    return finplug_tenant([BillingPlugin], {"billing": settings}, clock=clock or Clock())


def billing(tenant: Tenant) -> BillingAPI:
    """The tenant's billing component."""
    return tenant.component(BILLING)


def customer(ident: str = "c1", **changes: Any) -> Customer:
    """A customer in EUR, Berlin, German."""
    fields: dict[str, Any] = {
        "id": ident,
        "name": f"Customer {ident}",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "locale": "de_DE",
    }
    fields.update(changes)
    return Customer(**fields)
