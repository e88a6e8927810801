"""The billing socket: catalog, subscriptions, usage, invoices, credit notes and wallets.

A plugin providing the ``billing`` component names it in its meta
(``sockets={"billing": ">=0.2,<1"}``); a host reaches the component typed::

    from finplug.sockets.billing import BILLING

    billing = tenant.component(BILLING)
    billing.ingest([UsageEvent("evt-1", "sub-1", "api_calls", now)])
    report = billing.run_cycle()

Nobody plugged in: asking for the component raises
:class:`~finplug.ComponentNotEnabledError`.

Version 0.x while the issue that builds it is open: the interface may grow.
"""

from __future__ import annotations

from typing import Final

from finplug import Socket
from finplug.sockets.billing._api import BillingAPI
from finplug.sockets.billing._values import (
    Anchor,
    BillingError,
    BillingInputError,
    BillingNotFoundError,
    CollectionStatus,
    CreditNote,
    CreditNoteLine,
    CreditTarget,
    Customer,
    CycleReport,
    IngestReport,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Subscription,
    SubscriptionStatus,
    UsageEvent,
    Wallet,
    WalletCredit,
)

__all__ = [
    "BILLING",
    "SOCKET",
    "VERSION",
    "Anchor",
    "BillingAPI",
    "BillingError",
    "BillingInputError",
    "BillingNotFoundError",
    "CollectionStatus",
    "CreditNote",
    "CreditNoteLine",
    "CreditTarget",
    "Customer",
    "CycleReport",
    "IngestReport",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "Subscription",
    "SubscriptionStatus",
    "UsageEvent",
    "Wallet",
    "WalletCredit",
]

#: The billing socket's version; plugins declare the range they support.
VERSION: Final = "0.2"

#: The billing socket: the ``billing`` component; no default provider.
SOCKET: Final = Socket[BillingAPI]("billing", version=VERSION, interface=BillingAPI)
#: The same socket, by the name hosts use: ``tenant.component(BILLING)``.
BILLING: Final = SOCKET
