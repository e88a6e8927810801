"""The payments socket: aggregated payments, channel connectors and routing strategies.

The contract between a host, the ``payments`` component and the plugins that
plug channels and routing strategies into it, versioned on its own
(:data:`VERSION`). A plugin names it in its meta::

    meta = PluginMeta(..., sockets={"payments": ">=1.0,<2"})

and a host reaches the component typed::

    from finplug.sockets.payments import PAYMENTS

    paid = tenant.component(PAYMENTS).authorize("order-1", amount=..., merchant_id="m-1",
                                                method="card")

Nobody plugged in: asking for the component raises
:class:`~finplug.ComponentNotEnabledError`; with no channel plugin the tenant
has no channels and every payment fails with ``no_eligible_channel``.
"""

from __future__ import annotations

from typing import Final

from finplug import Socket
from finplug.sockets.payments._api import PaymentsAPI
from finplug.sockets.payments._bookings import (
    CLEARING_ACCOUNT_PREFIX,
    MERCHANT_ACCOUNT_PREFIX,
    BookingKind,
    PaymentBooking,
    clearing_account,
    merchant_account,
)
from finplug.sockets.payments._channels import (
    ChannelConnector,
    ChannelDeclinedError,
    ChannelError,
    ChannelInfo,
    ChannelOperation,
    ChannelRequest,
    ChannelResult,
    ChannelStats,
    ChannelTimeoutError,
    ChannelUnavailableError,
    RouteRequest,
    RoutingStrategy,
)
from finplug.sockets.payments._values import (
    PAYMENT_TRANSITIONS,
    IdempotencyInProgressError,
    IllegalTransitionError,
    JanitorFailure,
    JanitorReport,
    OperationFailedError,
    Payment,
    PaymentAttempt,
    PaymentBusyError,
    PaymentError,
    PaymentIdempotencyConflictError,
    PaymentKind,
    PaymentMethod,
    PaymentNotFoundError,
    PaymentStatus,
    PaymentTransition,
    PaymentValidationError,
)
from finplug.sockets.payments.hookspecs import PaymentsHooks, payments_hooks

__all__ = [
    "CLEARING_ACCOUNT_PREFIX",
    "MERCHANT_ACCOUNT_PREFIX",
    "PAYMENTS",
    "PAYMENT_TRANSITIONS",
    "SOCKET",
    "VERSION",
    "BookingKind",
    "ChannelConnector",
    "ChannelDeclinedError",
    "ChannelError",
    "ChannelInfo",
    "ChannelOperation",
    "ChannelRequest",
    "ChannelResult",
    "ChannelStats",
    "ChannelTimeoutError",
    "ChannelUnavailableError",
    "IdempotencyInProgressError",
    "IllegalTransitionError",
    "JanitorFailure",
    "JanitorReport",
    "OperationFailedError",
    "Payment",
    "PaymentAttempt",
    "PaymentBooking",
    "PaymentBusyError",
    "PaymentError",
    "PaymentIdempotencyConflictError",
    "PaymentKind",
    "PaymentMethod",
    "PaymentNotFoundError",
    "PaymentStatus",
    "PaymentTransition",
    "PaymentValidationError",
    "PaymentsAPI",
    "PaymentsHooks",
    "RouteRequest",
    "RoutingStrategy",
    "clearing_account",
    "merchant_account",
    "payments_hooks",
]

#: The payments socket's version; plugins declare the range they support.
VERSION: Final = "1.2"

#: The payments socket: the ``payments`` component and its hooks; no default provider.
SOCKET: Final = Socket[PaymentsAPI](
    "payments",
    version=VERSION,
    interface=PaymentsAPI,
    hookspecs="finplug.sockets.payments.hookspecs",
)
PAYMENTS: Final = SOCKET
