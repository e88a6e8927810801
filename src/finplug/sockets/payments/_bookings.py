"""Payments socket: the money movements payments books, as listeners in its transaction see them.

After a channel success is booked in the ledger (a capture, a top-up, a
refund), the payments component hands a :class:`PaymentBooking` to every
``finplug_payment_booked`` implementation *inside the same unit of work*, so
a listener (the settlement plugin splitting a capture among the parties) can
post its own entries in the transaction that books the money.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from finplug import Money

__all__ = [
    "CLEARING_ACCOUNT_PREFIX",
    "MERCHANT_ACCOUNT_PREFIX",
    "BookingKind",
    "PaymentBooking",
    "clearing_account",
    "merchant_account",
]

#: The prefix of the ledger account of what each channel holds for the platform.
CLEARING_ACCOUNT_PREFIX = "payments:clearing:"


def clearing_account(channel: str, currency_code: str) -> str:
    """The ledger account of what ``channel`` holds for the platform in a currency (an asset).

    ``payments:clearing:<channel>:<currency>``: payments debits it with what
    the channel captured, settlement credits it with what the channel paid out.
    """
    return f"{CLEARING_ACCOUNT_PREFIX}{channel}:{currency_code}"


#: The prefix of the ledger account where payments books what each merchant is owed.
MERCHANT_ACCOUNT_PREFIX = "payments:merchant:"


def merchant_account(merchant_id: str, currency_code: str) -> str:
    """The ledger account of what ``merchant_id`` is owed in a currency (a liability).

    ``payments:merchant:<merchant id>:<currency>``: payments credits it with
    captures (less fees) and debits it with refunds; settlement pays it out.
    """
    return f"{MERCHANT_ACCOUNT_PREFIX}{merchant_id}:{currency_code}"


_EMPTY: Mapping[str, str] = MappingProxyType({})


class BookingKind(enum.StrEnum):
    """Which money movement was booked."""

    CAPTURE = "capture"
    """A capture: the channel owes the amount, the merchant is owed it less fees."""
    TOPUP = "topup"
    """A top-up: a customer's wallet is credited, less fees."""
    REFUND = "refund"
    """A refund: the merchant gives back (part of) a captured amount."""


@dataclass(frozen=True, slots=True)
class PaymentBooking:
    """One booked money movement of a payment.

    ``ref`` is unique per movement and stable (``<payment id>:capture``,
    ``<payment id>:topup``, ``<payment id>:refund:<call reference>``): a
    listener keys what it posts on it, so doing its work again (from the
    payment's event, after a failure) has no second effect.
    """

    ref: str
    """This movement's stable id (see the class docstring)."""
    kind: BookingKind
    """Capture, top-up or refund."""
    payment_id: str
    """The payment."""
    merchant_id: str
    """The merchant paid (for a top-up: the platform's account holder)."""
    customer_id: str
    """The customer paying."""
    amount: Money
    """The amount captured, topped up or refunded."""
    fees: Money
    """The fees charged on it (a capture's are the merchant's, a top-up's the wallet's)."""
    account: str
    """The ledger account the movement credited (capture, top-up) or debited (refund)."""
    at: datetime
    """When it was booked (UTC)."""
    attributes: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """The payment's attributes (a listener's own instructions, such as a split rule's name)."""
