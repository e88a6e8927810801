"""Billing socket: the ``billing`` component's interface."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Literal, Protocol, runtime_checkable

from finplug import Money
from finplug.sockets.billing._values import (
    Anchor,
    CreditNote,
    CreditTarget,
    Customer,
    CycleReport,
    IngestReport,
    Invoice,
    InvoiceStatus,
    Subscription,
    UsageEvent,
    Wallet,
)

__all__ = ["BillingAPI"]


@runtime_checkable
class BillingAPI(Protocol):
    """The ``billing`` component: the tenant bills its own customers from its catalog.

    The catalog (plans, charges over billable metrics, add-ons, coupons, tax
    rates) is the plugin's settings. Every method taking a ``key`` is
    idempotent by it: the same key and arguments return the first result.
    Bad input raises :class:`~finplug.sockets.billing.BillingInputError` with
    nothing written.
    """

    # -- customers and subscriptions -------------------------------------------------

    def upsert_customer(self, customer: Customer) -> Customer:
        """Create or update a customer (its currency cannot change once invoiced)."""
        ...

    def customer(self, customer_id: str) -> Customer:
        """One customer; :class:`BillingNotFoundError` if there is none."""
        ...

    def subscribe(
        self,
        key: str,
        customer_id: str,
        plan: str,
        *,
        on: date | None = None,
        anchor: Anchor = Anchor.CALENDAR,
    ) -> Subscription:
        """Start ``plan`` for a customer on ``on`` (default: today in the customer's zone).

        A subscription overlapping another of the same customer and plan is
        refused.
        """
        ...

    def change_plan(
        self, key: str, subscription_id: str, plan: str, *, on: date | None = None
    ) -> Subscription:
        """Upgrade or downgrade from ``on``: the fixed fees are prorated by day."""
        ...

    def cancel(
        self, subscription_id: str, *, at_period_end: bool = True, on: date | None = None
    ) -> Subscription:
        """End a subscription at the end of its period, or on ``on`` (prorated)."""
        ...

    def pause(self, subscription_id: str, *, on: date | None = None) -> Subscription:
        """Stop billing from ``on`` until resumed."""
        ...

    def resume(self, subscription_id: str, *, on: date | None = None) -> Subscription:
        """Bill again from ``on``."""
        ...

    def subscription(self, subscription_id: str) -> Subscription:
        """One subscription; :class:`BillingNotFoundError` if there is none."""
        ...

    def subscriptions(self, customer_id: str | None = None) -> builtins.list[Subscription]:
        """Subscriptions (of one customer, when given), oldest first."""
        ...

    def apply_coupon(self, key: str, customer_id: str, coupon: str) -> str:
        """Give a catalog coupon to a customer (its next invoices, before tax); the given id."""
        ...

    # -- usage -------------------------------------------------------------------------

    def ingest(self, events: Sequence[UsageEvent]) -> IngestReport:
        """Store usage events, idempotent by their ids; all or nothing on bad input."""
        ...

    def usage(self, subscription_id: str, metric: str, on: date | None = None) -> str:
        """The metric's aggregate in the period holding ``on``, as a decimal string."""
        ...

    # -- invoices ------------------------------------------------------------------------

    def run_cycle(self, as_of: date | None = None) -> CycleReport:
        """Invoice every subscription whose period ended by ``as_of``; once per period.

        Idempotent: re-running, or running on several workers at once, makes
        one invoice per subscription and period.
        """
        ...

    def invoice(self, invoice_id: str) -> Invoice:
        """One invoice; :class:`BillingNotFoundError` if there is none."""
        ...

    def invoices(
        self,
        customer_id: str | None = None,
        *,
        status: InvoiceStatus | None = None,
        limit: int = 100,
    ) -> builtins.list[Invoice]:
        """Invoices, newest first."""
        ...

    def finalize(self, invoice_id: str) -> Invoice:
        """Number a draft, apply prepaid credits and book it in the ledger."""
        ...

    def void(self, invoice_id: str) -> Invoice:
        """Void a finalized, unpaid invoice: its booking is reversed."""
        ...

    def mark_uncollectible(self, invoice_id: str) -> Invoice:
        """Write a finalized invoice's receivable off."""
        ...

    def collect(self, invoice_id: str) -> Invoice:
        """Charge what the invoice owes through payments (the customer's payment method)."""
        ...

    def record_payment(self, key: str, invoice_id: str, amount: Money) -> Invoice:
        """A payment received otherwise (a bank transfer reconciliation matched)."""
        ...

    def render(self, invoice_id: str, fmt: Literal["html", "pdf"] = "html") -> bytes:
        """The invoice as HTML or PDF, in the customer's locale."""
        ...

    # -- credit notes and wallets ------------------------------------------------------

    def credit(
        self,
        key: str,
        invoice_id: str,
        *,
        amount: Money | None = None,
        lines: Mapping[str, Money] | None = None,
        target: CreditTarget = CreditTarget.BALANCE,
        reason: str = "",
    ) -> CreditNote:
        """Credit part of a finalized invoice, by an amount (tax included) or per line.

        Never more than is left of the invoice; the note crediting the rest
        leaves it at exactly zero.
        """
        ...

    def credit_notes(self, invoice_id: str) -> builtins.list[CreditNote]:
        """An invoice's credit notes, oldest first."""
        ...

    def top_up(
        self,
        key: str,
        customer_id: str,
        amount: Money,
        *,
        expires_on: date | None = None,
        paid: bool = True,
    ) -> Wallet:
        """Add credits to the customer's wallet (``paid``: charged through payments first)."""
        ...

    def wallet(self, customer_id: str) -> Wallet:
        """The customer's wallet (empty if never topped up)."""
        ...
