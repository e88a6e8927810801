"""The payment sockets: payments, channel connectors and routing strategies.

These are the values that cross between the host, the payments component and
the plugins that plug channels and routing strategies into it. The kernel
owns them so that a channel connector written for one payments provider works
with any other, and so that the payment state machine is one contract, not an
implementation detail.

* :class:`Payment` and :class:`PaymentStatus`: what ``tenant.payments``
  returns, and the states a payment moves through (:data:`PAYMENT_TRANSITIONS`).
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
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Final, NamedTuple, Protocol, runtime_checkable

from finplug._errors import FinplugError
from finplug._money import Money

__all__ = [
    "PAYMENT_TRANSITIONS",
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
    "IllegalTransitionError",
    "JanitorFailure",
    "JanitorReport",
    "Payment",
    "PaymentAttempt",
    "PaymentError",
    "PaymentKind",
    "PaymentMethod",
    "PaymentNotFoundError",
    "PaymentStatus",
    "PaymentTransition",
    "RouteRequest",
    "RoutingStrategy",
]

_EMPTY: Mapping[str, str] = MappingProxyType({})


# ---------------------------------------------------------------- payments


class PaymentMethod(enum.StrEnum):
    """How the customer pays."""

    CARD = "card"
    WALLET = "wallet"
    """A third-party wallet (Alipay, WeChat Pay, PayPal …)."""
    BANK_TRANSFER = "bank_transfer"


class PaymentKind(enum.StrEnum):
    """What a payment record is for."""

    PAYMENT = "payment"
    """A customer paying a merchant (acquiring): authorize, capture, refund."""
    TOPUP = "topup"
    """A customer funding their own wallet account through a channel (充值)."""


class PaymentStatus(enum.StrEnum):
    """The states of a payment. :data:`PAYMENT_TRANSITIONS` says which moves are legal."""

    CREATED = "created"
    """Recorded; no channel has answered yet."""
    REQUIRES_ACTION = "requires_action"
    """Waiting for someone: a risk review must approve it before authorization."""
    AUTHORIZED = "authorized"
    """The channel holds the funds; nothing captured yet."""
    CAPTURED = "captured"
    """The whole authorized amount was captured."""
    PARTIALLY_CAPTURED = "partially_captured"
    """Less than the authorized amount was captured; the rest was released."""
    REFUNDED = "refunded"
    """Everything captured was refunded."""
    PARTIALLY_REFUNDED = "partially_refunded"
    """Some of what was captured was refunded; more refunds may follow."""
    VOIDED = "voided"
    """The authorization was released before any capture."""
    FAILED = "failed"
    """Declined (by risk or by every channel tried) or never authorized."""
    UNKNOWN = "unknown"
    """A channel call timed out: the outcome is unknown until the janitor asks the channel."""

    @property
    def final(self) -> bool:
        """True when no transition leaves this state."""
        return not PAYMENT_TRANSITIONS[self]


_S = PaymentStatus

#: Every legal move of the payment state machine. ``UNKNOWN`` is entered when
#: a channel call times out and left when the janitor learns the outcome (back
#: to where the payment was, or on to where the call would have taken it).
PAYMENT_TRANSITIONS: Final[Mapping[PaymentStatus, frozenset[PaymentStatus]]] = MappingProxyType(
    {
        _S.CREATED: frozenset(
            {_S.REQUIRES_ACTION, _S.AUTHORIZED, _S.CAPTURED, _S.FAILED, _S.UNKNOWN}
        ),
        _S.REQUIRES_ACTION: frozenset({_S.AUTHORIZED, _S.CAPTURED, _S.FAILED, _S.UNKNOWN}),
        _S.AUTHORIZED: frozenset({_S.CAPTURED, _S.PARTIALLY_CAPTURED, _S.VOIDED, _S.UNKNOWN}),
        _S.CAPTURED: frozenset({_S.REFUNDED, _S.PARTIALLY_REFUNDED, _S.UNKNOWN}),
        _S.PARTIALLY_CAPTURED: frozenset({_S.REFUNDED, _S.PARTIALLY_REFUNDED, _S.UNKNOWN}),
        _S.PARTIALLY_REFUNDED: frozenset({_S.REFUNDED, _S.PARTIALLY_REFUNDED, _S.UNKNOWN}),
        _S.UNKNOWN: frozenset(
            {
                _S.AUTHORIZED,
                _S.CAPTURED,
                _S.PARTIALLY_CAPTURED,
                _S.REFUNDED,
                _S.PARTIALLY_REFUNDED,
                _S.VOIDED,
                _S.FAILED,
            }
        ),
        _S.REFUNDED: frozenset(),
        _S.VOIDED: frozenset(),
        _S.FAILED: frozenset(),
    }
)


class PaymentError(FinplugError):
    """A payments call the caller got wrong, or that the payment's state forbids."""

    code: str = "payment_error"
    """A stable machine code for the error, stored with idempotent results."""


class PaymentNotFoundError(PaymentError, LookupError):
    """No payment with that id in this tenant."""

    code = "payment_not_found"

    def __init__(self, payment_id: str) -> None:
        self.payment_id = payment_id
        super().__init__(f"no payment {payment_id!r} in this tenant")


class IllegalTransitionError(PaymentError):
    """The payment's state does not allow the requested operation."""

    code = "illegal_transition"

    def __init__(self, payment_id: str, status: PaymentStatus, operation: str) -> None:
        self.payment_id = payment_id
        self.status = status
        self.operation = operation
        super().__init__(
            f"payment {payment_id!r} is {status.value}: cannot {operation}"
            f" (legal moves from {status.value}: "
            f"{', '.join(sorted(s.value for s in PAYMENT_TRANSITIONS[status])) or 'none'})"
        )


@dataclass(frozen=True, slots=True)
class PaymentTransition:
    """One recorded move of a payment's state machine."""

    from_status: PaymentStatus | None
    """``None`` for the creation of the payment."""
    to_status: PaymentStatus
    at: datetime
    reason: str = ""
    """Why: ``"authorized by card-eu"``, ``"risk: amount_over_limit"`` …"""


@dataclass(frozen=True, slots=True)
class PaymentAttempt:
    """One call to a channel on behalf of a payment."""

    operation: str
    """``authorize``, ``capture``, ``void``, ``refund`` or ``sale``."""
    channel: str
    reference: str
    """finplug's reference for the call, unique; the channel's idempotency key."""
    amount: Money
    status: str
    """``in_flight``, ``succeeded``, ``failed`` or ``unknown``."""
    error_code: str = ""
    retriable: bool | None = None
    channel_reference: str = ""


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment (or top-up) as ``tenant.payments`` reports it.

    Amounts are :class:`~finplug.Money` in the payment's currency:
    ``captured`` is what was captured, ``refunded`` what was refunded of it,
    ``fees`` what the fee hooks charged the merchant at capture.
    """

    id: str
    kind: PaymentKind
    status: PaymentStatus
    amount: Money
    captured: Money
    refunded: Money
    fees: Money
    merchant_id: str
    customer_id: str
    method: PaymentMethod
    channel: str | None
    """The channel that authorized it (``None`` before one did)."""
    created_at: datetime
    updated_at: datetime
    description: str = ""
    failure_code: str = ""
    """Why it failed: a decline code, ``risk_declined``, ``no_eligible_channel`` …"""
    failure_message: str = ""
    risk_reasons: tuple[str, ...] = ()
    """Codes of the risk reasons that asked for review or declined."""
    attempts: tuple[PaymentAttempt, ...] = ()
    transitions: tuple[PaymentTransition, ...] = ()

    @property
    def refundable(self) -> Money:
        """What may still be refunded: captured minus refunded."""
        return self.captured - self.refunded


class JanitorFailure(NamedTuple):
    """A payment one janitor run could not settle, and why; a later run tries again."""

    payment_id: str
    reason: str
    """The error, as ``"<type>: <message>"`` (the message cut to 200 characters)."""


@dataclass(frozen=True, slots=True)
class JanitorReport:
    """What one janitor run did with the calls left in flight or unknown.

    Every payment the run looked at is in exactly one of the three lists.
    """

    resolved: tuple[str, ...] = ()
    """Ids of payments whose outcome is now known and booked."""
    still_unknown: tuple[str, ...] = ()
    """Ids of payments whose channel still did not answer; a later run asks again."""
    failed: tuple[JanitorFailure, ...] = ()
    """Payments that could not be settled (the lookup or the booking raised), each with
    the reason. The run skipped them and went on with the others; nothing of theirs was
    written, so a later run tries again."""


# ---------------------------------------------------------------- channels


class ChannelOperation(enum.StrEnum):
    """What finplug asks a channel to do."""

    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"
    SALE = "sale"
    """Authorize and capture in one call (top-ups)."""


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What routing needs to know about a channel: what it accepts and what it costs.

    ``min_amount``/``max_amount`` are in the payment's major units and apply
    in any accepted currency; ``None`` means no bound. Cost is
    ``fee_rate * amount + fee_fixed`` (in the payment's currency).
    """

    name: str
    methods: frozenset[PaymentMethod]
    currencies: frozenset[str]
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    fee_rate: Decimal = Decimal(0)
    fee_fixed: Decimal = Decimal(0)
    enabled: bool = True

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
    reference: str
    amount: Money
    method: PaymentMethod
    merchant_id: str
    customer_id: str = ""
    payment_id: str = ""
    authorization: str = ""
    """The channel's reference of the authorization a capture, void or refund acts on."""
    attributes: Mapping[str, str] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class ChannelResult:
    """A channel's success answer."""

    channel_reference: str
    """The channel's own id for what it did (authorization id, refund id …)."""
    code: str = "approved"
    message: str = ""


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
    method: PaymentMethod
    merchant_id: str
    customer_id: str = ""


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """A channel's recent record: successes among the last ``attempts`` authorizations."""

    attempts: int = 0
    successes: int = 0

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
