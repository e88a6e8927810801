"""The values a payment call hands from one step to the next.

A :class:`Call` is a channel call reserved in step 1 and made in step 2; a
:class:`Flow` is what an authorize, top-up or confirm carries through its
cascade; :class:`FeeLine` is one fee to book, stored with its attempt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from finplug import Money
from finplug.sockets.payments import ChannelError, ChannelOperation, ChannelRequest, PaymentMethod

__all__ = ["Call", "FeeLine", "FeeLines", "Flow", "channel_request", "fees_from_json", "fees_json"]


@dataclass(frozen=True, slots=True)
class FeeLine:
    """One fee to book with a capture or sale: checked, in minor units of the payment."""

    code: str
    beneficiary: str
    units: int


FeeLines = tuple[FeeLine, ...]


def fees_json(lines: FeeLines | None) -> str | None:
    """Fee lines as an attempt stores them (``payments_attempts.fees``)."""
    if lines is None:
        return None
    return json.dumps(
        [{"code": f.code, "beneficiary": f.beneficiary, "units": f.units} for f in lines],
        separators=(",", ":"),
    )


def fees_from_json(text: str | None) -> FeeLines | None:
    """Fee lines as an attempt stored them; ``None`` for an attempt from before the column."""
    if text is None:
        return None
    return tuple(FeeLine(d["code"], d["beneficiary"], int(d["units"])) for d in json.loads(text))


@dataclass(slots=True)
class Call:
    """A channel call reserved in step 1, to make in step 2."""

    payment_id: str
    operation: ChannelOperation
    channel: str
    reference: str
    amount: Money
    method: PaymentMethod
    merchant_id: str
    customer_id: str
    authorization: str = ""
    fees: FeeLines | None = None
    """The fee lines to book if a capture or sale succeeds (``None``: none planned)."""
    capture_after: bool = False
    """An authorization to capture in full as soon as it succeeds."""
    capture_fees: FeeLines = ()
    """With ``capture_after``: the fee lines of that capture, computed before the call."""


def channel_request(call: Call) -> ChannelRequest:
    """What the channel is asked (or looked up by, by the janitor) for ``call``."""
    return ChannelRequest(
        call.operation,
        call.reference,
        call.amount,
        call.method,
        call.merchant_id,
        call.customer_id,
        call.payment_id,
        call.authorization,
    )


@dataclass(slots=True)
class Flow:
    """What an authorize or top-up carries from one step to the next."""

    payment_id: str
    key: str
    candidates: list[str]
    amount: Money
    method: PaymentMethod
    merchant_id: str
    customer_id: str
    capture: bool
    operation: ChannelOperation
    tried: int = 0
    errors: list[ChannelError] = field(default_factory=list)
    fees: dict[str, FeeLines] = field(default_factory=dict)
    """Per candidate channel, the fees of the sale (top-up) or of the capture that
    follows the authorization (``capture=True``), computed before anything is written."""
