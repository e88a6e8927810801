"""The ``billing`` component: customers, subscriptions, usage, invoices, credit notes, wallets.

Each method hands its work to the part of the plugin that does it
(customers, subscriptions, usage, invoices, coupons, credit notes, wallets,
collection, rendering).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Literal

from finplug import Money
from finplug.sockets.billing import (
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
from finplug_billing._collection import Collection
from finplug_billing._coupons import Coupons
from finplug_billing._credits import CreditNotes
from finplug_billing._customers import Customers
from finplug_billing._invoices import Invoices
from finplug_billing._subscriptions import Subscriptions
from finplug_billing._usage import Usage
from finplug_billing._wallets import Wallets

__all__ = ["Billing"]


class Billing:
    """A tenant's billing component (``tenant.component(BILLING)``)."""

    def __init__(
        self,
        customers: Customers,
        subscriptions: Subscriptions,
        usage: Usage,
        invoices: Invoices,
        coupons: Coupons,
        credit_notes: CreditNotes,
        wallets: Wallets,
        collection: Collection,
        render: Callable[[str, str], bytes],
    ) -> None:
        self._customers = customers
        self._subscriptions = subscriptions
        self._usage = usage
        self._invoices = invoices
        self._coupons = coupons
        self._credit_notes = credit_notes
        self._wallets = wallets
        self._collection = collection
        self._render = render

    # -- customers and subscriptions -------------------------------------------------

    def upsert_customer(self, customer: Customer) -> Customer:
        """Create or update a customer (its currency cannot change once it is billed)."""
        return self._customers.upsert(customer)

    def customer(self, customer_id: str) -> Customer:
        """One customer; :class:`BillingNotFoundError` if there is none."""
        return self._customers.get(customer_id)

    def subscribe(
        self,
        key: str,
        customer_id: str,
        plan: str,
        *,
        on: date | None = None,
        anchor: Anchor = Anchor.CALENDAR,
    ) -> Subscription:
        """Start ``plan`` for a customer on ``on`` (default: today in the customer's zone)."""
        return self._subscriptions.subscribe(key, customer_id, plan, on, anchor)

    def change_plan(
        self, key: str, subscription_id: str, plan: str, *, on: date | None = None
    ) -> Subscription:
        """Upgrade or downgrade from ``on``: the fixed fees are prorated by day."""
        return self._subscriptions.change_plan(key, subscription_id, plan, on)

    def cancel(
        self, subscription_id: str, *, at_period_end: bool = True, on: date | None = None
    ) -> Subscription:
        """End a subscription at the end of its period, or on ``on``."""
        return self._subscriptions.cancel(subscription_id, at_period_end, on)

    def pause(self, subscription_id: str, *, on: date | None = None) -> Subscription:
        """Stop billing from ``on`` until resumed."""
        return self._subscriptions.pause(subscription_id, on)

    def resume(self, subscription_id: str, *, on: date | None = None) -> Subscription:
        """Bill again from ``on``."""
        return self._subscriptions.resume(subscription_id, on)

    def subscription(self, subscription_id: str) -> Subscription:
        """One subscription; :class:`BillingNotFoundError` if there is none."""
        return self._subscriptions.get(subscription_id)

    def subscriptions(self, customer_id: str | None = None) -> builtins.list[Subscription]:
        """Subscriptions (of one customer, when given), oldest first."""
        return self._subscriptions.list(customer_id)

    def apply_coupon(self, key: str, customer_id: str, coupon: str) -> str:
        """Give a catalog coupon to a customer (its next invoices, before tax); the given id."""
        return self._coupons.apply(key, customer_id, coupon)

    # -- usage -------------------------------------------------------------------------

    def ingest(self, events: Sequence[UsageEvent]) -> IngestReport:
        """Store usage events, idempotent by their ids; all or nothing on bad input."""
        return self._usage.ingest(events)

    def usage(self, subscription_id: str, metric: str, on: date | None = None) -> str:
        """The metric's aggregate in the period holding ``on``, as a decimal string."""
        return self._invoices.usage(subscription_id, metric, on)

    # -- invoices ------------------------------------------------------------------------

    def run_cycle(self, as_of: date | None = None) -> CycleReport:
        """Invoice every subscription whose period ended by ``as_of``; once per period."""
        return self._invoices.run_cycle(as_of)

    def invoice(self, invoice_id: str) -> Invoice:
        """One invoice; :class:`BillingNotFoundError` if there is none."""
        return self._invoices.get(invoice_id)

    def invoices(
        self,
        customer_id: str | None = None,
        *,
        status: InvoiceStatus | None = None,
        limit: int = 100,
    ) -> builtins.list[Invoice]:
        """Invoices, newest first."""
        return self._invoices.list(customer_id, status, limit)

    def finalize(self, invoice_id: str) -> Invoice:
        """Number a draft and book it in the ledger."""
        return self._invoices.finalize(invoice_id)

    def void(self, invoice_id: str) -> Invoice:
        """Void a finalized invoice nothing was paid or credited on."""
        return self._collection.void(invoice_id)

    def mark_uncollectible(self, invoice_id: str) -> Invoice:
        """Write a finalized invoice's receivable off."""
        return self._collection.mark_uncollectible(invoice_id)

    def collect(self, invoice_id: str) -> Invoice:
        """Charge what the invoice owes through payments."""
        return self._collection.collect(invoice_id)

    def record_payment(self, key: str, invoice_id: str, amount: Money) -> Invoice:
        """A payment received otherwise (a bank transfer reconciliation matched)."""
        return self._collection.record_payment(key, invoice_id, amount)

    def render(self, invoice_id: str, fmt: Literal["html", "pdf"] = "html") -> bytes:
        """The invoice as HTML or PDF, in the customer's locale."""
        return self._render(invoice_id, fmt)

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
        """Credit part of a finalized invoice (never more than is left of it)."""
        return self._credit_notes.issue(key, invoice_id, amount, lines, target, reason)

    def credit_notes(self, invoice_id: str) -> builtins.list[CreditNote]:
        """An invoice's credit notes, oldest first."""
        return self._credit_notes.list(invoice_id)

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
        return self._wallets.top_up(key, customer_id, amount, expires_on, paid)

    def wallet(self, customer_id: str) -> Wallet:
        """The customer's wallet (empty if never topped up)."""
        return self._wallets.get(customer_id)
