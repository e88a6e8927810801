"""billing 0001: customers, subscriptions, usage events, invoices, credit notes, wallets, dunning.

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None


def upgrade() -> None:
    """Create the ``billing_*`` tables."""
    op.create_table(
        "billing_attempts",
        sa.Column("invoice_id", sa.String(40), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("payment_id", sa.String(64), nullable=True),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("next_on", sa.Date, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("invoice_id", "attempt", name="pk_billing_attempts"),
    )
    op.create_table(
        "billing_counters",
        sa.Column("series", sa.String(40), primary_key=True),
        sa.Column("last", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "billing_credit_note_lines",
        sa.Column("credit_note_id", sa.String(40), nullable=False),
        sa.Column("line_id", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("taxes", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("credit_note_id", "line_id", name="pk_billing_credit_note_lines"),
    )
    op.create_table(
        "billing_credit_notes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("number", sa.String(40), nullable=False, unique=True),
        sa.Column("invoice_id", sa.String(40), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("tax", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("entry_seq", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_billing_credit_notes_invoice", "billing_credit_notes", ["invoice_id", "created_at"]
    )
    op.create_table(
        "billing_customer_coupons",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("coupon", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("amount_left", sa.BigInteger, nullable=True),
        sa.Column("periods_left", sa.Integer, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("customer_id", "position", name="uq_billing_customer_coupons_position"),
    )
    op.create_index(
        "ix_billing_customer_coupons_customer",
        "billing_customer_coupons",
        ["customer_id", "status"],
    )
    op.create_table(
        "billing_customers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("locale", sa.String(35), nullable=False),
        sa.Column("tax_ids", sa.Text, nullable=False),
        sa.Column("tax_rates", sa.Text, nullable=True),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("payment_method", sa.String(64), nullable=False),
        sa.Column("meta", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "billing_events",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("subscription_id", sa.String(64), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("value", sa.BigInteger, nullable=True),
        sa.Column("key", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_billing_events"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_billing_events_usage", "billing_events", ["subscription_id", "metric", "at"]
    )
    op.create_table(
        "billing_invoice_lines",
        sa.Column("invoice_id", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("quantity", sa.String(64), nullable=False),
        sa.Column("unit_price", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("discount", sa.BigInteger, nullable=False),
        sa.Column("taxes", sa.Text, nullable=False),
        sa.Column("rates", sa.Text, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("inclusive", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("invoice_id", "position", name="pk_billing_invoice_lines"),
    )
    op.create_table(
        "billing_invoices",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("number", sa.String(40), nullable=True, unique=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("subscription_id", sa.String(64), nullable=True),
        sa.Column("cycle_on", sa.Date, nullable=False),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("collection", sa.String(16), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("issued_on", sa.Date, nullable=True),
        sa.Column("due_on", sa.Date, nullable=True),
        sa.Column("subtotal", sa.BigInteger, nullable=False),
        sa.Column("discount", sa.BigInteger, nullable=False),
        sa.Column("tax", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("credits", sa.BigInteger, nullable=False),
        sa.Column("credited", sa.BigInteger, nullable=False),
        sa.Column("credited_balance", sa.BigInteger, nullable=False),
        sa.Column("paid", sa.BigInteger, nullable=False),
        sa.Column("entry_seq", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "subscription_id", "cycle_on", "reason", name="uq_billing_invoices_cycle"
        ),
    )
    op.create_index(
        "ix_billing_invoices_customer", "billing_invoices", ["customer_id", "created_at"]
    )
    op.create_index("ix_billing_invoices_status", "billing_invoices", ["status", "due_on"])
    op.create_table(
        "billing_plan_changes",
        sa.Column("subscription_id", sa.String(64), nullable=False),
        sa.Column("on", sa.Date, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("plan", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", "seq", name="pk_billing_plan_changes"),
    )
    op.create_table(
        "billing_subscriptions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("plan", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("anchor", sa.String(16), nullable=False),
        sa.Column("started_on", sa.Date, nullable=False),
        sa.Column("trial_ends_on", sa.Date, nullable=True),
        sa.Column("ends_on", sa.Date, nullable=True),
        sa.Column("paused_on", sa.Date, nullable=True),
        sa.Column("billed_through", sa.Date, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_billing_subscriptions_customer", "billing_subscriptions", ["customer_id", "started_on"]
    )
    op.create_table(
        "billing_wallet_credits",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("remaining", sa.BigInteger, nullable=False),
        sa.Column("expires_on", sa.Date, nullable=True),
        sa.Column("entry_seq", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_billing_wallet_credits_customer",
        "billing_wallet_credits",
        ["customer_id", "expires_on"],
    )
    op.create_table(
        "billing_wallet_moves",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("credit_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("invoice_id", sa.String(40), nullable=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_billing_wallet_moves_credit", "billing_wallet_moves", ["credit_id", "seq"])
