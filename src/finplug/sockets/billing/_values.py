"""Billing socket: the values that cross it (customers, subscriptions, usage, invoices, credits)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from finplug import FinplugError, Money

__all__ = [
    "Anchor",
    "BillingError",
    "BillingInputError",
    "BillingNotFoundError",
    "CollectionStatus",
    "CreditNote",
    "CreditNoteLine",
    "CreditTarget",
    "Customer",
    "CycleReport",
    "IngestReport",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "Subscription",
    "SubscriptionStatus",
    "UsageEvent",
    "Wallet",
    "WalletCredit",
]


class BillingError(FinplugError):
    """A billing operation cannot be done as asked (its state, a limit, a missing part)."""


class BillingNotFoundError(BillingError, LookupError):
    """No customer, subscription, invoice, credit note or wallet by that id."""


class BillingInputError(BillingError, ValueError):
    """Bad input: where (``field``, a dotted path) and what was expected; nothing written."""

    def __init__(self, message: str, *, field: str = "") -> None:
        self.field = field
        """Where the bad value is: ``events[3].properties.gb``, ``customer.currency``, ``plan``."""
        super().__init__(f"{field}: {message}" if field else message)


class Anchor(enum.StrEnum):
    """Where a subscription's billing periods start."""

    CALENDAR = "calendar"
    """On calendar boundaries (the 1st of the month, Monday, 1 January …); the first is prorated."""
    ANNIVERSARY = "anniversary"
    """On the day the subscription started (a 31st: the month's last day in shorter months)."""


@dataclass(frozen=True, slots=True)
class Customer:
    """Someone billed: the currency, time zone, locale and taxes of their invoices."""

    id: str
    """The host's id for the customer."""
    name: str
    """As printed on invoices."""
    currency: str
    """ISO 4217 code of every invoice, payment and wallet of this customer."""
    timezone: str = "UTC"
    """IANA zone: periods, trials and credit expiry are days in this zone."""
    locale: str = "en"
    """A CLDR locale (``de_DE``, ``fr``, ``zh_Hans_CN``) for rendered invoices."""
    tax_ids: tuple[str, ...] = ()
    """The customer's own tax ids (VAT number …), printed on invoices."""
    tax_rates: tuple[str, ...] | None = None
    """Codes of the catalog's tax rates for this customer (``None``: the catalog's default)."""
    email: str = ""
    """Where invoices are sent (the host sends them)."""
    payment_method: str = ""
    """How invoices are collected: a payments ``method`` (``card``); empty: bank transfer."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    """The host's own fields, kept as given."""


class SubscriptionStatus(enum.StrEnum):
    """Where a subscription is in its life."""

    ACTIVE = "active"
    """Billed every period (in its trial, its plan's fee is not charged)."""
    PAUSED = "paused"
    """Not billed until resumed."""
    CANCELED = "canceled"
    """Ends at its ``ends_on``; billed up to it."""
    TERMINATED = "terminated"
    """Ended; its last invoice is made."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """A customer on a plan."""

    id: str
    """The subscription's id."""
    customer_id: str
    """Whose subscription."""
    plan: str
    """The catalog plan's code (the current one after a plan change)."""
    status: SubscriptionStatus
    """Where it is in its life."""
    anchor: Anchor
    """Calendar or anniversary periods."""
    started_on: date
    """The first day billed, in the customer's time zone."""
    trial_ends_on: date | None
    """The first day after the trial (``None``: no trial)."""
    ends_on: date | None
    """The first day no longer billed (cancelled or terminated), else ``None``."""
    paused_on: date | None
    """The day it was paused, while it is."""
    created_at: datetime
    """When it was made."""


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One usage event: ``id`` makes it idempotent (the same id again changes nothing).

    ``properties`` are text, integers or decimals (never floats): the
    metric's ``field`` is read from them.
    """

    id: str
    """Unique per tenant: the key of idempotent ingestion."""
    subscription_id: str
    """Whose usage."""
    metric: str
    """The billable metric's code."""
    at: datetime
    """When it happened (aware); it counts in the period holding that instant."""
    properties: Mapping[str, str | int | Decimal] = field(default_factory=dict)
    """The event's values."""


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What an ingestion did."""

    accepted: int
    """New events stored."""
    duplicates: int
    """Events whose id was stored before (nothing changed)."""
    late: int = 0
    """Accepted events of a period already invoiced: billed on the next invoice, as late usage."""


class InvoiceStatus(enum.StrEnum):
    """An invoice's life: draft → finalized → paid, voided or uncollectible."""

    DRAFT = "draft"
    """Computed, may still change (a refresh recomputes it); no number, nothing booked."""
    FINALIZED = "finalized"
    """Numbered, booked in the ledger (receivable, revenue, tax), open for payment."""
    PAID = "paid"
    """Settled in full (payments, credits and credit notes)."""
    VOIDED = "voided"
    """Cancelled after finalization: its booking reversed; the number stays used."""
    UNCOLLECTIBLE = "uncollectible"
    """Given up on: the receivable written off."""


class CollectionStatus(enum.StrEnum):
    """Where collecting a finalized invoice is."""

    PENDING = "pending"
    """Not tried yet (or left for a bank transfer)."""
    RETRYING = "retrying"
    """A charge failed; the next try is on the dunning schedule."""
    OVERDUE = "overdue"
    """Past its due date and unpaid."""
    SUCCEEDED = "succeeded"
    """Paid."""
    FAILED = "failed"
    """Every try of the dunning schedule failed."""


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One line of an invoice: a plan fee, a charge, an add-on, a commitment true-up."""

    id: str
    """The line's key within its invoice."""
    kind: str
    """``plan``, ``charge``, ``add_on``, ``commitment``, ``proration`` or ``late_usage``."""
    description: str
    """As printed."""
    period_start: date
    """The first day it bills."""
    period_end: date
    """The first day after it."""
    quantity: Decimal
    """Units billed (1 for a fee)."""
    unit_price: Decimal
    """The exact price per unit (informative; ``amount`` is what counts)."""
    amount: Money
    """The line's amount, rounded once (billing's one rounding point)."""
    discount: Money
    """Its share of the invoice's coupons."""
    taxes: tuple[tuple[str, Money], ...]
    """``(tax code, amount)`` per rate applied to it."""
    total: Money
    """``amount - discount + Σ taxes`` (an inclusive line: ``amount - discount``)."""


@dataclass(frozen=True, slots=True)
class Invoice:
    """An invoice and where it stands."""

    id: str
    """The invoice's id."""
    number: str | None
    """Its number, given when finalized (gapless per tenant and series); ``None`` while draft."""
    customer_id: str
    """Whose invoice."""
    subscription_id: str | None
    """The subscription billed (``None``: a one-off invoice)."""
    currency: str
    """The customer's currency."""
    status: InvoiceStatus
    """Its life."""
    collection: CollectionStatus
    """Where collecting it stands."""
    period_start: date
    """The first day billed."""
    period_end: date
    """The first day after the period."""
    issued_on: date | None
    """The day it was finalized."""
    due_on: date | None
    """The day payment is due."""
    lines: tuple[InvoiceLine, ...]
    """Its lines."""
    subtotal: Money
    """Σ line amounts."""
    discount: Money
    """Σ coupons applied."""
    tax: Money
    """Σ line taxes (equal to the invoice's tax per code after one largest-remainder step)."""
    total: Money
    """``subtotal - discount + tax``."""
    credits: Money
    """Prepaid credits (wallet) applied when finalized."""
    credited: Money
    """Σ its credit notes."""
    paid: Money
    """Paid through payments or by a bank transfer matched."""
    amount_due: Money
    """``total - credits - paid -`` its credit notes to the balance (never below 0)."""
    created_at: datetime
    """When the draft was made."""


class CreditTarget(enum.StrEnum):
    """Where a credit note's money goes."""

    REFUND = "refund"
    """Back through payments (a refund of the invoice's payment)."""
    WALLET = "wallet"
    """To the customer's prepaid wallet."""
    BALANCE = "balance"
    """Off what the invoice still owes (an unpaid invoice)."""


@dataclass(frozen=True, slots=True)
class CreditNoteLine:
    """What a credit note credits of one invoice line."""

    line_id: str
    """The invoice line."""
    amount: Money
    """Credited before tax."""
    taxes: tuple[tuple[str, Money], ...]
    """Tax credited, per code."""


@dataclass(frozen=True, slots=True)
class CreditNote:
    """A credit note on a finalized invoice: never more than is left of it."""

    id: str
    """The credit note's id."""
    number: str
    """Its number (gapless, series ``credit_notes``)."""
    invoice_id: str
    """The invoice credited."""
    target: CreditTarget
    """Where the money goes."""
    lines: tuple[CreditNoteLine, ...]
    """Per invoice line."""
    amount: Money
    """Σ line amounts (before tax)."""
    tax: Money
    """Σ line taxes."""
    total: Money
    """``amount + tax``."""
    reason: str
    """Why."""
    created_at: datetime
    """When."""


@dataclass(frozen=True, slots=True)
class WalletCredit:
    """Credits added to a wallet at once, and what is left of them."""

    id: str
    """The top-up's id."""
    amount: Money
    """Added."""
    remaining: Money
    """Not consumed or expired yet."""
    expires_on: date | None
    """The first day it is no longer usable, in the customer's time zone (``None``: never)."""


@dataclass(frozen=True, slots=True)
class Wallet:
    """A customer's prepaid credits, consumed by invoices oldest-expiring first."""

    customer_id: str
    """Whose wallet."""
    balance: Money
    """Σ remaining credits not expired."""
    credits: tuple[WalletCredit, ...]
    """Each top-up."""


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What a billing cycle did: invoices made, found made, failed."""

    as_of: date
    """The day the cycle billed up to."""
    created: tuple[str, ...] = ()
    """Invoices made now."""
    existing: tuple[str, ...] = ()
    """Invoices an earlier run (or another worker) made for the same period."""
    failed: tuple[tuple[str, str], ...] = ()
    """``(subscription id, error)`` of subscriptions that could not be billed (the others were)."""
