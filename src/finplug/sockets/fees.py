"""Fees socket: what a money movement costs, and who is paid.

Plugins that compute fees implement :func:`finplug_calculate_fees` and
declare ``sockets={"fees": ">=1.0,<2"}``; components that move money (the
payments component) call it through :data:`fee_hooks` before the money moves.
Nobody plugged in: no fees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from finplug import HookFailurePolicy, HookView, Money, Socket, failure_policy, hookspec

__all__ = [
    "FEES",
    "SOCKET",
    "VERSION",
    "Fee",
    "FeeContext",
    "FeeHooks",
    "fee_hooks",
    "finplug_calculate_fees",
]

#: The fees socket's version; plugins declare the range they support.
VERSION: Final = "1.0"


@dataclass(frozen=True, slots=True)
class FeeContext:
    """A money movement that may carry fees."""

    operation: str
    """The business step: ``"capture"``, ``"refund"``, ``"payout"``, ``"topup"`` …"""
    amount: Money
    """The amount moved; fees are in its currency."""
    channel: str | None = None
    """The channel that moves it, when one does."""
    payment_method: str | None = None
    """``card``, ``bank_transfer``, ``wallet`` … when the movement is a payment."""
    merchant_id: str | None = None
    """The merchant whose money it is, when there is one."""


@dataclass(frozen=True, slots=True)
class Fee:
    """One fee line: who pays whom how much, and which rule said so."""

    code: str
    """Stable machine code, e.g. ``"acquiring"``."""
    amount: Money
    """What is paid, in the movement's currency, rounded to its minor unit."""
    payer: str = "merchant"
    """Party that pays: ``"merchant"``, ``"customer"`` or ``"platform"``."""
    beneficiary: str = "platform"
    """Party that receives: ``"platform"``, ``"channel"`` or a partner id."""
    rule: str = ""
    """Which rule (and plugin) produced it."""


@hookspec
@failure_policy(HookFailurePolicy.PROPAGATE)
def finplug_calculate_fees(context: FeeContext) -> list[Fee] | None:
    """Compute the fees a money movement carries.

    Return the fee lines this plugin's rules produce (or ``None`` / ``[]``
    when none apply). Amounts must already be in the movement's currency and
    rounded to its minor unit (use :meth:`~finplug.Money.multiply`).

    Combination: collect all; the caller flattens the lists, in hook order.
    Nobody implements it: the call returns ``[]``, meaning no fees.

    Failure policy: propagate, before any money moves. Callers compute
    fees before they ask a channel to move money (the payments component
    does so before it reserves the channel call, and stores them with it),
    so a raising implementation fails the operation with
    :class:`~finplug.HookCallError` and nothing is written or moved; the same
    call may be retried. Implementations must be pure: a caller may ask for
    the fees of several candidate channels and use one.

    Example::

        @hookimpl
        def finplug_calculate_fees(self, context):
            return [Fee("acquiring", context.amount.multiply(Decimal("0.029")))]
    """


class _CalculateFeesCaller(Protocol):
    def __call__(self, *, context: FeeContext) -> list[list[Fee]]: ...


class FeeHooks(Protocol):
    """The callers of the fees socket's hooks (``fee_hooks.of(hooks)``)."""

    finplug_calculate_fees: _CalculateFeesCaller
    """Calls every plugin's :func:`finplug_calculate_fees`."""


#: The typed view of the fees socket's hooks on a tenant's relay.
fee_hooks: HookView[FeeHooks] = HookView(__name__)

#: The fees socket: hooks only, no component (nobody plugged in: no fees).
SOCKET: Final[Socket[object]] = Socket(
    "fees", version=VERSION, interface=object, hookspecs=__name__
)
FEES: Final = SOCKET
