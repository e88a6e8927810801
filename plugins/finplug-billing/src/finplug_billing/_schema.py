"""The billing plugin's tables (created by its migrations, read and written here).

Amounts are integers in minor units of the row's currency; exact decimals
that are not money (quantities, unit prices) are decimal strings. Usage
events keep their metric's value as an integer of ``10^-decimals`` (the
metric's ``decimals``), so sums are exact in SQL on every database, and the
instant as microseconds since the epoch (UTC).

Keys that make the issue's guarantees:

* ``billing_events.id`` — an event is stored once, whatever is re-sent;
* ``billing_invoices (subscription_id, cycle_on, reason)`` — one invoice per
  subscription, billing date and reason, however often or on how many
  workers a cycle runs;
* ``billing_counters.series`` — numbers are taken in the finalizing
  transaction (row lock), so a rollback gives the number back: gapless.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "attempts",
    "counters",
    "credit_note_lines",
    "credit_notes",
    "customer_coupons",
    "customers",
    "events",
    "invoice_lines",
    "invoices",
    "metadata",
    "plan_changes",
    "subscriptions",
    "wallet_credits",
    "wallet_moves",
]

metadata: Final = MetaData()

#: Customers.
customers = Table(
    "billing_customers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("locale", String(35), nullable=False),
    Column("tax_ids", Text, nullable=False),  # JSON list
    Column("tax_rates", Text, nullable=True),  # JSON list, or NULL: the catalog's default
    Column("email", String(255), nullable=False),
    Column("payment_method", String(64), nullable=False),
    Column("meta", Text, nullable=False),  # JSON object
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: Subscriptions: a customer on a plan.
subscriptions = Table(
    "billing_subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("plan", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("anchor", String(16), nullable=False),
    Column("started_on", Date, nullable=False),
    Column("trial_ends_on", Date, nullable=True),
    Column("ends_on", Date, nullable=True),
    Column("paused_on", Date, nullable=True),
    Column("billed_through", Date, nullable=True),  # the end of the last period invoiced
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_billing_subscriptions_customer", "customer_id", "started_on"),
)

#: A subscription's plans over time: each change, from the day it takes effect.
plan_changes = Table(
    "billing_plan_changes",
    metadata,
    Column("subscription_id", String(64), nullable=False),
    Column("on", Date, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("plan", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("subscription_id", "seq", name="pk_billing_plan_changes"),
)

#: Usage events, once each (``id``).
events = Table(
    "billing_events",
    metadata,
    Column("id", String(128), nullable=False),
    Column("subscription_id", String(64), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("at", BigInteger, nullable=False),  # microseconds since the epoch, UTC
    Column("value", BigInteger, nullable=True),  # the field, in 10^-decimals of the metric
    Column("key", String(255), nullable=True),  # the field's text (unique_count)
    PrimaryKeyConstraint("id", name="pk_billing_events"),
    Index("ix_billing_events_usage", "subscription_id", "metric", "at"),
    sqlite_with_rowid=False,
)

#: Invoices; one per subscription, billing date and reason.
invoices = Table(
    "billing_invoices",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("number", String(40), nullable=True, unique=True),
    Column("customer_id", String(64), nullable=False),
    Column("subscription_id", String(64), nullable=True),
    Column("cycle_on", Date, nullable=False),
    Column("reason", String(24), nullable=False),  # cycle, plan_change, termination, one_off
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("collection", String(16), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("issued_on", Date, nullable=True),
    Column("due_on", Date, nullable=True),
    Column("subtotal", BigInteger, nullable=False),
    Column("discount", BigInteger, nullable=False),
    Column("tax", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("credits", BigInteger, nullable=False),
    Column("credited", BigInteger, nullable=False),  # all its credit notes
    Column("credited_balance", BigInteger, nullable=False),  # those off what it owes
    Column("paid", BigInteger, nullable=False),
    Column("entry_seq", BigInteger, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("subscription_id", "cycle_on", "reason", name="uq_billing_invoices_cycle"),
    Index("ix_billing_invoices_customer", "customer_id", "created_at"),
    Index("ix_billing_invoices_status", "status", "due_on"),
)

#: Invoice lines.
invoice_lines = Table(
    "billing_invoice_lines",
    metadata,
    Column("invoice_id", String(40), nullable=False),
    Column("position", Integer, nullable=False),
    Column("id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("description", String(255), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("quantity", String(64), nullable=False),  # decimal string
    Column("unit_price", String(64), nullable=False),  # decimal string
    Column("amount", BigInteger, nullable=False),
    Column("discount", BigInteger, nullable=False),
    Column("taxes", Text, nullable=False),  # JSON [[code, minor units], ...]
    Column("rates", Text, nullable=False),  # JSON [[code, rate], ...]
    Column("total", BigInteger, nullable=False),
    Column("inclusive", Integer, nullable=False),  # 1: taxes are inside amount
    PrimaryKeyConstraint("invoice_id", "position", name="pk_billing_invoice_lines"),
)

#: Gapless counters, one row per series (``INV``, ``INV-2026``, ``CN`` …).
counters = Table(
    "billing_counters",
    metadata,
    Column("series", String(40), primary_key=True),
    Column("last", BigInteger, nullable=False),
)

#: Credit notes.
credit_notes = Table(
    "billing_credit_notes",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("number", String(40), nullable=False, unique=True),
    Column("invoice_id", String(40), nullable=False),
    Column("target", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("tax", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("entry_seq", BigInteger, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_billing_credit_notes_invoice", "invoice_id", "created_at"),
)

#: What each credit note credits of each invoice line.
credit_note_lines = Table(
    "billing_credit_note_lines",
    metadata,
    Column("credit_note_id", String(40), nullable=False),
    Column("line_id", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("taxes", Text, nullable=False),  # JSON [[code, minor units], ...]
    PrimaryKeyConstraint("credit_note_id", "line_id", name="pk_billing_credit_note_lines"),
)

#: Coupons given to customers, and what is left of them.
customer_coupons = Table(
    "billing_customer_coupons",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("coupon", String(64), nullable=False),
    Column("position", Integer, nullable=False),  # the order given: the order applied
    Column("amount_left", BigInteger, nullable=True),  # a fixed coupon's unused part
    Column("periods_left", Integer, nullable=True),  # a recurring one's invoices to come
    Column("status", String(16), nullable=False),  # active, used
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("customer_id", "position", name="uq_billing_customer_coupons_position"),
    Index("ix_billing_customer_coupons_customer", "customer_id", "status"),
)

#: Prepaid credits (a wallet is the customer's credits).
wallet_credits = Table(
    "billing_wallet_credits",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("expires_on", Date, nullable=True),
    Column("entry_seq", BigInteger, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_billing_wallet_credits_customer", "customer_id", "expires_on"),
)

#: Every use of a credit: consumed by an invoice, expired, added back by a credit note.
wallet_moves = Table(
    "billing_wallet_moves",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("credit_id", String(40), nullable=False),
    Column("kind", String(16), nullable=False),  # consumed, expired
    Column("invoice_id", String(40), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_billing_wallet_moves_credit", "credit_id", "seq"),
)

#: Collection attempts through payments, and the dunning schedule's next one.
attempts = Table(
    "billing_attempts",
    metadata,
    Column("invoice_id", String(40), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("payment_id", String(64), nullable=True),
    Column("method", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # pending, unknown, succeeded, failed
    Column("detail", Text, nullable=False),
    Column("next_on", Date, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("invoice_id", "attempt", name="pk_billing_attempts"),
)
