"""Payments socket: the payment, its state machine, what the janitor reports, and errors.

What ``PaymentsAPI`` returns and raises. The state machine is one contract
(:data:`PAYMENT_TRANSITIONS`), not an implementation detail of a provider.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Final, NamedTuple

from finplug import FinplugError, IdempotencyConflictError, IdempotencyInProgressError, Money
from finplug.sockets.risk import RiskVerdict

__all__ = [
    "PAYMENT_TRANSITIONS",
    "IdempotencyInProgressError",
    "IllegalTransitionError",
    "JanitorFailure",
    "JanitorReport",
    "OperationFailedError",
    "Payment",
    "PaymentAttempt",
    "PaymentBusyError",
    "PaymentError",
    "PaymentIdempotencyConflictError",
    "PaymentKind",
    "PaymentMethod",
    "PaymentNotFoundError",
    "PaymentStatus",
    "PaymentTransition",
    "PaymentValidationError",
]

_EMPTY: Mapping[str, str] = MappingProxyType({})


# ---------------------------------------------------------------- payments


class PaymentMethod(enum.StrEnum):
    """How the customer pays."""

    CARD = "card"
    """A debit or credit card."""
    WALLET = "wallet"
    """A third-party wallet (Alipay, WeChat Pay, PayPal …)."""
    BANK_TRANSFER = "bank_transfer"
    """A bank transfer or direct debit."""


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
    """Waiting for someone: a risk review or the customer's step-up authentication
    (see :attr:`Payment.risk_verdict`) must approve it before authorization."""
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


class PaymentValidationError(PaymentError, ValueError):
    """A payments call with bad arguments; nothing was written."""

    code = "invalid_request"

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class PaymentIdempotencyConflictError(PaymentError, IdempotencyConflictError):
    """An idempotency key reused with other arguments (or for another operation).

    Also a :class:`finplug.IdempotencyConflictError`, the kernel's class for
    every reused key: a host may catch either.
    """

    code = "idempotency_conflict"

    def __init__(self, key: str, operation: str) -> None:
        IdempotencyConflictError.__init__(
            self,
            key,
            f"idempotency key {key!r} was first used for {operation} with other arguments;"
            " use a new key for a new request",
            operation=operation,
        )


class PaymentBusyError(PaymentError):
    """Another channel call for this payment is in flight (or unknown); try again later."""

    code = "payment_busy"

    def __init__(self, payment_id: str, operation: str) -> None:
        self.payment_id = payment_id
        super().__init__(
            f"payment {payment_id!r} has a {operation} in flight; wait for it (or for the"
            " janitor) before another operation"
        )


class OperationFailedError(PaymentError):
    """The channel refused a capture, void or refund; the payment is unchanged.

    Stored with the idempotency key: the same call again raises it again.
    """

    code = "operation_failed"

    def __init__(self, payment_id: str, operation: str, channel_code: str, retriable: bool) -> None:
        self.payment_id = payment_id
        self.operation = operation
        self.channel_code = channel_code
        self.retriable = retriable
        kind = "retriable" if retriable else "final"
        super().__init__(
            f"payment {payment_id!r}: the channel refused the {operation} ({channel_code}, {kind})"
        )


@dataclass(frozen=True, slots=True)
class PaymentTransition:
    """One recorded move of a payment's state machine."""

    from_status: PaymentStatus | None
    """``None`` for the creation of the payment."""
    to_status: PaymentStatus
    """The state it moved to."""
    at: datetime
    """When it moved (UTC)."""
    reason: str = ""
    """Why: ``"authorized by card-eu"``, ``"risk: amount_over_limit"`` …"""


@dataclass(frozen=True, slots=True)
class PaymentAttempt:
    """One call to a channel on behalf of a payment."""

    operation: str
    """``authorize``, ``capture``, ``void``, ``refund`` or ``sale``."""
    channel: str
    """The channel called."""
    reference: str
    """finplug's reference for the call, unique; the channel's idempotency key."""
    amount: Money
    """The amount the call was for."""
    status: str
    """``in_flight``, ``succeeded``, ``failed`` or ``unknown``."""
    error_code: str = ""
    """The channel's (or finplug's) code when the call failed."""
    retriable: bool | None = None
    """Whether a failure may succeed on another channel or later (``None``: no failure)."""
    channel_reference: str = ""
    """The channel's own id for what it did, once it answered."""


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment (or top-up) as ``tenant.payments`` reports it.

    Amounts are :class:`~finplug.Money` in the payment's currency:
    ``captured`` is what was captured, ``refunded`` what was refunded of it,
    ``fees`` what the fee hooks charged the merchant at capture.
    """

    id: str
    """finplug's id for the payment."""
    kind: PaymentKind
    """A payment to a merchant or a wallet top-up."""
    status: PaymentStatus
    """Where it stands in the state machine."""
    amount: Money
    """The amount asked for."""
    captured: Money
    """What was captured so far."""
    refunded: Money
    """What was refunded of the captured amount."""
    fees: Money
    """What the fee hooks charged the merchant at capture."""
    merchant_id: str
    """The merchant paid (for a top-up: the platform's account holder)."""
    customer_id: str
    """The customer paying."""
    method: PaymentMethod
    """How the customer pays."""
    channel: str | None
    """The channel that authorized it (``None`` before one did)."""
    created_at: datetime
    """When it was created (UTC)."""
    updated_at: datetime
    """When it last changed (UTC)."""
    description: str = ""
    """Free text given at creation."""
    failure_code: str = ""
    """Why it failed: a decline code, ``risk_declined``, ``no_eligible_channel`` …"""
    failure_message: str = ""
    """Human explanation of the failure, safe to show to an operator."""
    risk_reasons: tuple[str, ...] = ()
    """Codes of the risk reasons that asked for a step-up or review, or declined."""
    risk_verdict: RiskVerdict = RiskVerdict.APPROVE
    """What risk decided when the payment was created. A payment in
    ``requires_action`` waits for the customer's stronger authentication
    (``STEP_UP``) or a person's review (``REVIEW``); either way
    ``confirm`` finishes it."""
    attributes: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False, repr=False)
    """The free-form facts given when it was created (a split rule's name, card keys …);
    left out of the repr, since a caller may put tokens there."""
    attempts: tuple[PaymentAttempt, ...] = ()
    """Every channel call made for it, oldest first."""
    transitions: tuple[PaymentTransition, ...] = ()
    """Every state move, oldest first."""

    @property
    def refundable(self) -> Money:
        """What may still be refunded: captured minus refunded."""
        return self.captured - self.refunded


class JanitorFailure(NamedTuple):
    """A payment one janitor run could not settle, and why; a later run tries again."""

    payment_id: str
    """The payment left as it was."""
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
