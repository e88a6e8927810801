"""finplug-payments: aggregated payments for finplug tenants.

Provides the ``payments`` component (:class:`finplug.sockets.payments.PaymentsAPI`,
reached as ``tenant.component(PAYMENTS)``): a
payment state machine, routing across the channels that channel plugins
register (``finplug_register_channels``), cascading retries, top-ups,
Stripe-style idempotency keys (its errors are the socket's, in
:mod:`finplug.sockets.payments`), acquiring bookkeeping through
``tenant.ledger`` in the same transaction as each payment record, an event
for every state change, and a janitor for calls whose outcome is unknown.

How a call runs, and which module does which part of it: the docstring of
``finplug_payments._service`` and ``docs/payments.md`` ("Layout").
"""

from __future__ import annotations

from finplug_payments._plugin import PaymentsPlugin, PaymentsSettings
from finplug_payments._service import PaymentsService
from finplug_payments.routing import RoutingSettings

__all__ = [
    "PaymentsPlugin",
    "PaymentsService",
    "PaymentsSettings",
    "RoutingSettings",
]
