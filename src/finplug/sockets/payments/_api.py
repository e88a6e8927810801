"""Payments socket: the ``payments`` component's interface."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from finplug import Money
from finplug.sockets.payments._channels import ChannelInfo, RouteRequest
from finplug.sockets.payments._values import JanitorReport, Payment, PaymentMethod, PaymentStatus

__all__ = ["PaymentsAPI"]


@runtime_checkable
class PaymentsAPI(Protocol):
    """The ``payments`` component: one API in front of every payment channel of the tenant.

    Every mutating call takes a client idempotency key with Stripe's
    semantics: the same key with the same arguments returns the first call's
    result (its error included); the same key with other arguments raises
    :class:`PaymentIdempotencyConflictError`; concurrent duplicates have
    one effect. Declines are not exceptions: the returned payment is
    ``FAILED`` with a ``failure_code``. Operations the payment's state
    forbids raise :class:`IllegalTransitionError`.
    """

    def authorize(
        self,
        key: str,
        *,
        amount: Money,
        merchant_id: str,
        method: PaymentMethod | str,
        customer_id: str = "",
        capture: bool = False,
        description: str = "",
        attributes: Mapping[str, str] | None = None,
        channel: str | None = None,
    ) -> Payment:
        """Ask risk, route, and authorize (and capture at once if ``capture``)."""
        ...

    def confirm(self, key: str, payment_id: str, *, approve: bool) -> Payment:
        """Finish a payment a risk review held: authorize it, or fail it."""
        ...

    def capture(self, key: str, payment_id: str, amount: Money | None = None) -> Payment:
        """Capture all (``None``) or part of an authorization; the rest is released."""
        ...

    def void(self, key: str, payment_id: str) -> Payment:
        """Release an authorization nothing was captured from."""
        ...

    def refund(self, key: str, payment_id: str, amount: Money | None = None) -> Payment:
        """Refund all that is left (``None``) or part of it; may be called several times."""
        ...

    def topup(
        self,
        key: str,
        *,
        customer_id: str,
        amount: Money,
        method: PaymentMethod | str,
        description: str = "",
        channel: str | None = None,
    ) -> Payment:
        """Fund a customer's wallet account through a channel (a sale, then a posting)."""
        ...

    def get(self, payment_id: str) -> Payment:
        """One payment, with its attempts and transitions."""
        ...

    def list(
        self,
        *,
        merchant_id: str | None = None,
        status: PaymentStatus | str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Payment]:
        """Payments in creation order, optionally filtered; page with ``after`` (an id)."""
        ...

    def resolve_unknown(self, limit: int = 100) -> JanitorReport:
        """The janitor: ask channels about calls that timed out or were cut off, and settle."""
        ...

    def channels(self) -> builtins.list[ChannelInfo]:
        """The tenant's channels, as registered by channel plugins."""
        ...

    def route(self, request: RouteRequest) -> builtins.list[str]:
        """The channels a payment would try, in order (no side effect)."""
        ...
