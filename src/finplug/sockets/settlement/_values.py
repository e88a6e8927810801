"""Settlement socket: the values that cross it (splits, batches, run reports) and its errors."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from finplug import FinplugError, Money

__all__ = [
    "BatchStatus",
    "PartyRole",
    "Payout",
    "PayoutReport",
    "PayoutStatus",
    "RunReport",
    "SettlementBatch",
    "SettlementError",
    "SettlementNotFoundError",
    "Split",
    "SplitPart",
]


class SettlementError(FinplugError):
    """A settlement request that cannot be done; nothing was written."""


class SettlementNotFoundError(SettlementError, LookupError):
    """No split, batch or payee by that id in this tenant."""


class PartyRole(enum.StrEnum):
    """Who a share of a split goes to, which decides the account it is booked on."""

    MERCHANT = "merchant"
    """The merchant paid: its share stays on its payable account."""
    PLATFORM = "platform"
    """The platform's commission: income, never paid out."""
    PARTNER = "partner"
    """A partner (a referrer, a service provider): a payable of its own, paid out."""
    SUB_MERCHANT = "sub_merchant"
    """A seller of a marketplace order: a payable of its own, paid out."""


@dataclass(frozen=True, slots=True)
class SplitPart:
    """One party's share of a split, and how much of it refunds took back."""

    party: str
    """The party's id (the merchant's id for the merchant's own share)."""
    role: PartyRole
    """Merchant, platform, partner or sub-merchant."""
    account: str
    """The ledger account its share is booked on."""
    amount: Money
    """What the party received from the capture."""
    refunded: Money
    """What refunds (and chargebacks) took back from it so far."""


@dataclass(frozen=True, slots=True)
class Split:
    """How one captured payment was shared, booked in the capture's transaction."""

    payment_id: str
    """The payment."""
    merchant_id: str
    """The merchant paid."""
    rule: str
    """The split rule's name."""
    captured: Money
    """The amount split."""
    parts: tuple[SplitPart, ...]
    """Every party's share, in the rule's order; they add up to ``captured`` exactly."""
    entry_seq: int | None
    """The ledger entry that moved the other parties' shares (``None``: the merchant kept all)."""
    at: datetime
    """When it was booked (UTC)."""


class BatchStatus(enum.StrEnum):
    """Where a settlement batch stands."""

    SETTLED = "settled"
    """Netted and moved from the payee's payable to payouts in transit."""
    PAID = "paid"
    """Its payout was paid."""
    FAILED = "failed"
    """Its payout failed (or risk stopped it): the net is back on the payee's payable."""
    RETURNED = "returned"
    """Its payout was paid, then sent back: the net is back on the payee's payable."""


@dataclass(frozen=True, slots=True)
class SettlementBatch:
    """What one payee is paid for one value date in one currency, from the postings it lists.

    ``net = movements + reserve_released - reserve_held`` to the minor unit,
    where ``movements`` is the sum of the listed postings on the payee's
    payable account (captures and split shares in; refunds, fees and
    adjustments out) whose value date is on or before ``value_date``;
    ``carried_in`` is the part of ``movements`` whose value date was earlier
    (left by runs whose net was negative or below the minimum payout).
    """

    id: str
    """The batch's id: ``<payee account>@<value date>``."""
    account: str
    """The payee's payable account in the ledger."""
    payee: str
    """Who is paid (a merchant's id, or a partner's or sub-merchant's)."""
    currency: str
    """ISO 4217 code."""
    value_date: date
    """The business day the money is due."""
    entries: tuple[int, ...]
    """Every ledger entry (seq) whose posting on the account it settles, each in no other batch."""
    movements: Money
    """The sum of those postings, reserves and the batch's own settlement left out."""
    carried_in: Money
    """The part of ``movements`` due before ``value_date``."""
    reserve_held: Money
    """What the rolling reserve kept back from this batch."""
    reserve_released: Money
    """Earlier reserves released into this batch."""
    net: Money
    """What the payee is paid: moved to payouts in transit."""
    status: BatchStatus
    """Where the batch stands."""
    entry_seq: int
    """The ledger entry that moved ``net`` to payouts in transit."""
    created_at: datetime
    """When the run made it (UTC)."""


@dataclass(frozen=True, slots=True)
class RunReport:
    """What one settlement run did."""

    as_of: date
    """The business day the run settled up to (value dates on or before it)."""
    created: tuple[str, ...] = ()
    """Ids of the batches it made."""
    existing: tuple[str, ...] = ()
    """Ids of batches an earlier run (or another worker) had made already."""
    carried: tuple[str, ...] = ()
    """Payee accounts whose due net was negative or below the minimum payout: left for
    the next run, which nets them again with what came in since."""
    failed: tuple[tuple[str, str], ...] = ()
    """(payee account, error) for accounts the run could not settle; the others went on."""


class PayoutStatus(enum.StrEnum):
    """Where a payout stands: pending → sent → paid, failed or unknown; paid → returned."""

    SENT = "sent"
    """Handed to the channel (or about to be): its answer is awaited."""
    UNKNOWN = "unknown"
    """The channel did not answer in time: the janitor asks it."""
    PAID = "paid"
    """The channel paid it; the money left the platform's account at the channel."""
    FAILED = "failed"
    """Refused (by the channel, or by risk): the amount is back on the payee's payable."""
    RETURNED = "returned"
    """Paid, then sent back by the payee's bank: the amount is back on the payee's payable."""


@dataclass(frozen=True, slots=True)
class Payout:
    """The one payout of a settlement batch (its id is the batch's)."""

    id: str
    """The batch's id; the channel call's reference is ``payout:<id>``."""
    payee: str
    """Who is paid."""
    amount: Money
    """The batch's net."""
    channel: str
    """The channel paying it out (empty when risk stopped it first)."""
    status: PayoutStatus
    """Where it stands."""
    failure_code: str
    """Why it failed or came back (the channel's code, or ``risk_<verdict>``); else empty."""
    attempts: int
    """How many times the channel was asked to pay it (always the same reference)."""
    updated_at: datetime
    """When its status last changed (UTC)."""


@dataclass(frozen=True, slots=True)
class PayoutReport:
    """What one janitor run did with payouts whose outcome was open."""

    paid: tuple[str, ...] = ()
    """Payouts now known paid."""
    failed: tuple[str, ...] = ()
    """Payouts now known failed (their amounts back on the payables)."""
    returned: tuple[str, ...] = ()
    """Paid payouts the channel now reports sent back."""
    still_unknown: tuple[str, ...] = ()
    """Payouts whose channel still does not answer; a later run asks again."""
