"""Payments socket: channel connectors and routing strategies.

* :class:`ChannelConnector`: what a channel plugin registers through
  ``finplug_register_channels``. A connector answers with a
  :class:`ChannelResult` or raises a :class:`ChannelError` classified as
  *retriable* (another channel may be tried), *final* (stop: the customer's
  bank said no) or a :class:`ChannelTimeoutError` (the outcome is unknown: the
  money may have moved, so nothing else is tried until the channel is asked).
* :class:`RouteRequest`, :class:`ChannelStats` and :class:`RoutingStrategy`:
  the inputs and shape of a routing strategy, registered through
  ``finplug_routing_strategies``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from finplug import FinplugError, Money
from finplug.sockets.payments._values import PaymentMethod

__all__ = [
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
    "RouteRequest",
    "RoutingStrategy",
]

_EMPTY: Mapping[str, str] = MappingProxyType({})


class ChannelOperation(enum.StrEnum):
    """What finplug asks a channel to do."""

    AUTHORIZE = "authorize"
    """Reserve the amount on the customer's means of payment."""
    CAPTURE = "capture"
    """Take (part of) an authorized amount."""
    VOID = "void"
    """Release an authorization before capture."""
    REFUND = "refund"
    """Pay back (part of) a captured amount."""
    SALE = "sale"
    """Authorize and capture in one call (top-ups)."""
    PAYOUT = "payout"
    """Pay money out to a payee (settlement); only channels with ``info.payouts``."""


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What routing needs to know about a channel: what it accepts and what it costs.

    ``min_amount``/``max_amount`` are in the payment's major units and apply
    in any accepted currency; ``None`` means no bound. Cost is
    ``fee_rate * amount + fee_fixed`` (in the payment's currency).
    """

    name: str
    """The channel's name, unique in a tenant."""
    methods: frozenset[PaymentMethod]
    """The payment methods it takes."""
    currencies: frozenset[str]
    """ISO 4217 codes of the currencies it takes."""
    min_amount: Decimal | None = None
    """Smallest amount it takes, in major units (``None``: no bound)."""
    max_amount: Decimal | None = None
    """Largest amount it takes, in major units (``None``: no bound)."""
    fee_rate: Decimal = Decimal(0)
    """Its cost as a share of the amount (``0.029`` is 2.9 %)."""
    fee_fixed: Decimal = Decimal(0)
    """Its fixed cost per call, in the payment's major units."""
    enabled: bool = True
    """``False`` takes it out of routing without removing it."""
    payouts: bool = False
    """Whether it pays money out (:attr:`ChannelOperation.PAYOUT`), for settlement."""

    def accepts(self, amount: Money, method: PaymentMethod) -> bool:
        """Whether this channel may be asked to take ``amount`` by ``method`` at all."""
        if not self.enabled or method not in self.methods:
            return False
        if amount.currency.code not in self.currencies:
            return False
        value = amount.amount
        if self.min_amount is not None and value < self.min_amount:
            return False
        return self.max_amount is None or value <= self.max_amount

    def cost(self, amount: Money) -> Decimal:
        """What taking ``amount`` costs, exactly (no rounding: it only ranks channels)."""
        return amount.amount * self.fee_rate + self.fee_fixed


@dataclass(frozen=True, slots=True)
class ChannelRequest:
    """One call to a channel.

    ``reference`` is unique per call and stable across retries of the same
    call: connectors pass it to the channel as its idempotency key, and
    :meth:`ChannelConnector.lookup` finds the call's outcome by it.
    """

    operation: ChannelOperation
    """What the channel is asked to do."""
    reference: str
    """finplug's id for this call, stable across retries: the idempotency key."""
    amount: Money
    """The amount to authorize, capture, void or refund."""
    method: PaymentMethod
    """How the customer pays."""
    merchant_id: str
    """The merchant paid."""
    customer_id: str = ""
    """The customer paying, when known."""
    payment_id: str = ""
    """The payment the call is for, when there is one."""
    authorization: str = ""
    """The channel's reference of the authorization a capture, void or refund acts on."""
    attributes: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Free-form extra facts for the connector (card token, return URL …)."""


@dataclass(frozen=True, slots=True)
class ChannelResult:
    """A channel's success answer."""

    channel_reference: str
    """The channel's own id for what it did (authorization id, refund id …)."""
    code: str = "approved"
    """The channel's answer code (``"approved"`` unless it says more)."""
    message: str = ""
    """The channel's human message, if any."""


class ChannelError(FinplugError):
    """A channel did not do what was asked.

    ``retriable`` says whether another channel (or a later call) may succeed:
    ``True`` for technical failures (the channel is down, rate-limited),
    ``False`` for final answers (the issuer declined, the card is stolen).
    """

    retriable: bool = False

    def __init__(self, channel: str, code: str, message: str = "") -> None:
        self.channel = channel
        self.code = code
        super().__init__(f"{channel}: {code}" + (f": {message}" if message else ""))


class ChannelDeclinedError(ChannelError):
    """A final no: the issuer or the channel refused the operation. Do not try elsewhere."""

    retriable = False


class ChannelUnavailableError(ChannelError):
    """A technical failure before anything happened: another channel may be tried."""

    retriable = True


class ChannelTimeoutError(ChannelError):
    """No answer in time: the channel may or may not have done it.

    The payment goes ``UNKNOWN``; nothing is retried elsewhere (that could take
    the money twice) until :meth:`ChannelConnector.lookup` tells the outcome.
    """

    retriable = False


@runtime_checkable
class ChannelConnector(Protocol):
    """A payment channel, as a channel plugin registers it.

    ``execute`` either succeeds (:class:`ChannelResult`) or raises a
    :class:`ChannelError`. ``lookup`` answers what became of an earlier call
    by its reference: the result if it succeeded, a :class:`ChannelDeclinedError`
    or :class:`ChannelUnavailableError` *returned* (not raised) if it failed, or
    ``None`` if the channel never received it. It may itself raise
    :class:`ChannelTimeoutError` when the channel still does not answer.
    Both must be idempotent by ``reference``: the same reference twice has one effect.

    Payouts (:attr:`ChannelOperation.PAYOUT`, for a channel whose
    ``info.payouts`` is true): ``execute`` pays ``amount`` to the payee
    (``merchant_id``; bank details in ``attributes``). A payout the bank sent
    back after paying it is reported by ``lookup`` as a result whose ``code``
    is ``"returned"``.
    """

    @property
    def info(self) -> ChannelInfo:
        """The channel's routing facts."""
        ...

    def execute(self, request: ChannelRequest) -> ChannelResult:
        """Perform one operation; raise :class:`ChannelError` on failure."""
        ...

    def lookup(self, request: ChannelRequest) -> ChannelResult | ChannelError | None:
        """The outcome of an earlier call with the same reference."""
        ...


# ---------------------------------------------------------------- routing


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What a routing decision looks at: the payment, not the channels' state."""

    payment_id: str
    """Stable per payment: weighted splits hash it, so a payment always routes the same way."""
    amount: Money
    """The amount to route."""
    method: PaymentMethod
    """How the customer pays."""
    merchant_id: str
    """The merchant paid."""
    customer_id: str = ""
    """The customer paying, when known."""


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """A channel's recent record: successes among the last ``attempts`` authorizations."""

    attempts: int = 0
    """Recent authorizations tried on the channel."""
    successes: int = 0
    """How many of them succeeded."""

    def rate(self, prior_attempts: int = 4, prior_successes: int = 3) -> Decimal:
        """Success rate with a small prior, so an unused channel is neither best nor worst."""
        return Decimal(self.successes + prior_successes) / Decimal(self.attempts + prior_attempts)


class RoutingStrategy(Protocol):
    """A pluggable routing strategy: orders the eligible channels, best first.

    Called with channels already filtered to those that accept the payment
    (enabled, currency, method, amount bounds) and allowed by the tenant's
    rules; it must return a subset of their names, in the order to try. It
    must be a pure function of its arguments.
    """

    def __call__(
        self,
        request: RouteRequest,
        channels: Sequence[ChannelInfo],
        stats: Mapping[str, ChannelStats],
    ) -> Sequence[str]:
        """Order ``channels`` for ``request``."""
        ...
