"""Payments socket: the hooks channel and routing plugins implement.

A plugin that implements them names the socket in its meta
(``sockets={"payments": ">=1.0,<2"}``); the payments component calls them
through :data:`payments_hooks`.
"""

from __future__ import annotations

from typing import Protocol

from finplug import HookFailurePolicy, HookView, UnitOfWork, failure_policy, hookspec
from finplug.sockets.payments._bookings import PaymentBooking
from finplug.sockets.payments._channels import ChannelConnector, RoutingStrategy

__all__ = [
    "PaymentsHooks",
    "finplug_payment_booked",
    "finplug_register_channels",
    "finplug_routing_strategies",
    "payments_hooks",
]


@hookspec
@failure_policy(HookFailurePolicy.PROPAGATE)
def finplug_register_channels() -> list[ChannelConnector] | None:
    """Provide the payment channels this plugin connects, for the calling tenant.

    Return one :class:`~finplug.ChannelConnector` per channel, built from this
    plugin's tenant settings (credentials, endpoints, limits). The payments
    component asks once per tenant runtime, when it first routes.

    Combination: collect all; the caller flattens the lists. Two channels with
    the same name are an :class:`~finplug.AssemblyError`.
    Nobody implements it: the call returns ``[]``; the tenant has no channels
    and every payment fails with ``no_eligible_channel``.

    Failure policy: propagate. The payments call that first needed the
    channels fails with :class:`~finplug.HookCallError` before anything is
    written; nothing is cached, so the next call asks again.

    Example::

        @hookimpl
        def finplug_register_channels(self):
            return [AcmeCardConnector(self.settings.api_key, self.settings.limits)]
    """


@hookspec
@failure_policy(HookFailurePolicy.PROPAGATE)
def finplug_routing_strategies() -> dict[str, RoutingStrategy] | None:
    """Offer routing strategies by name, for tenants to choose in their config.

    A strategy orders the channels eligible for a payment (see
    :class:`~finplug.RoutingStrategy`); the payments component applies the
    tenant's rules and fallback list around it.

    Combination: collect all; the caller merges the dicts. A name offered by
    two plugins, or clashing with a built-in strategy, is an
    :class:`~finplug.AssemblyError`.
    Nobody implements it: the call returns ``[]``; only the built-in
    strategies exist.

    Failure policy: propagate, like :func:`finplug_register_channels`.

    Example::

        @hookimpl
        def finplug_routing_strategies(self):
            return {"cheapest_then_fastest": cheapest_then_fastest}
    """


@hookspec
@failure_policy(HookFailurePolicy.RETRY_LATER)
def finplug_payment_booked(uow: UnitOfWork, booking: PaymentBooking) -> None:
    """A capture, top-up or refund was just booked: act on it in the same transaction.

    Called by the payments component inside the unit of work that booked
    ``booking`` in the ledger, after the booking and before the commit, with
    that unit of work: what an implementation posts through ``uow.ledger``
    (or writes through ``uow.conn``) commits or rolls back with the booking
    itself. The settlement plugin splits a capture among its parties here.
    Key what you post on ``booking.ref``: the same booking may be offered
    again (see the failure policy).

    Combination: collect all (results are ignored); each implementation runs
    on its own.
    Nobody implements it: nothing happens; the booking stands alone.

    Failure policy: retry later. Each implementation runs in a savepoint of
    the booking's transaction: one that raises is rolled back to it (its
    writes undone, the booking kept, since money a channel moved is booked
    whatever a plugin does) and logged with the payment and the plugin. The
    payment's event (``payment.captured``, ``payment.refunded`` …) is in the
    same transaction's outbox, so the plugin's ``finplug_on_event`` gets it,
    with the kernel's redelivery, and does the work again from the payment.

    Example::

        @hookimpl
        def finplug_payment_booked(self, uow, booking):
            if booking.kind is BookingKind.CAPTURE:
                uow.ledger.post(f"split:{booking.ref}", self.split_legs(booking))
    """


class _RegisterChannelsCaller(Protocol):
    def __call__(self) -> list[list[ChannelConnector]]: ...


class _RoutingStrategiesCaller(Protocol):
    def __call__(self) -> list[dict[str, RoutingStrategy]]: ...


class _PaymentBookedCaller(Protocol):
    def __call__(self, *, uow: UnitOfWork, booking: PaymentBooking) -> list[None]: ...


class PaymentsHooks(Protocol):
    """The callers of the payments socket's hooks (``payments_hooks.of(hooks)``)."""

    finplug_register_channels: _RegisterChannelsCaller
    """Calls every plugin's ``finplug_register_channels``."""
    finplug_routing_strategies: _RoutingStrategiesCaller
    """Calls every plugin's ``finplug_routing_strategies``."""
    finplug_payment_booked: _PaymentBookedCaller
    """Calls every plugin's ``finplug_payment_booked`` (payments calls each on its own)."""


#: The typed view of the payments socket's hooks on a tenant's relay.
payments_hooks: HookView[PaymentsHooks] = HookView(__name__)
