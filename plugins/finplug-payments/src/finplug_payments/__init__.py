"""finplug-payments: aggregated payments for finplug tenants.

Provides ``tenant.payments`` (:class:`finplug.components.PaymentsAPI`): a
payment state machine, routing across the channels that channel plugins
register (``finplug_register_channels``), cascading retries, top-ups,
Stripe-style idempotency keys, acquiring bookkeeping through
``tenant.ledger`` in the same transaction as each payment record, an event
for every state change, and a janitor for calls whose outcome is unknown.
"""

from __future__ import annotations

from finplug_payments._plugin import PaymentsPlugin, PaymentsSettings
from finplug_payments._service import (
    IdempotencyInProgressError,
    OperationFailedError,
    PaymentBusyError,
    PaymentIdempotencyConflictError,
    PaymentsService,
    PaymentValidationError,
)
from finplug_payments.routing import RoutingSettings

__all__ = [
    "IdempotencyInProgressError",
    "OperationFailedError",
    "PaymentBusyError",
    "PaymentIdempotencyConflictError",
    "PaymentValidationError",
    "PaymentsPlugin",
    "PaymentsService",
    "PaymentsSettings",
    "RoutingSettings",
]
