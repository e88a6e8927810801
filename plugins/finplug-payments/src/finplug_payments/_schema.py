"""The payments plugin's tables (created by its migrations, queried through these).

Amounts are integer minor units of the payment's currency. Every table name
starts with ``payments_`` so it never clashes with the kernel's or another
plugin's tables in the same tenant storage.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["attempts", "metadata", "payments", "transitions"]

metadata = MetaData()

payments = Table(
    "payments_payments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(24), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("captured", BigInteger, nullable=False),
    Column("refunded", BigInteger, nullable=False),
    Column("fees", BigInteger, nullable=False),
    Column("merchant_id", String(128), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("method", String(24), nullable=False),
    Column("channel", String(64), nullable=True),
    Column("channel_reference", String(200), nullable=False),
    Column("hold_seq", BigInteger, nullable=True),
    # The channel call in flight (or left unknown), and the status to go back to
    # if the channel says it never happened.
    Column("pending_operation", String(16), nullable=True),
    Column("pending_reference", String(200), nullable=True),
    Column("status_before", String(24), nullable=True),
    Column("description", String(500), nullable=False),
    Column("failure_code", String(64), nullable=False),
    Column("failure_message", String(500), nullable=False),
    Column("risk_reasons", Text, nullable=False),
    Column("risk_verdict", String(16), nullable=False),
    Column("attributes", Text, nullable=False),
    Column("transition_count", Integer, nullable=False),
    Column("attempt_count", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_payments_payments_merchant", "merchant_id", "created_at"),
    Index("ix_payments_payments_created", "created_at", "id"),
    Index("ix_payments_payments_pending", "pending_operation"),
)

attempts = Table(
    "payments_attempts",
    metadata,
    Column("reference", String(200), primary_key=True),
    Column("payment_id", String(40), nullable=False),
    Column("n", Integer, nullable=False),
    Column("operation", String(16), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", String(64), nullable=False),
    Column("retriable", Boolean, nullable=True),
    Column("channel_reference", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # A capture's or sale's fee lines, computed before the channel was asked:
    # JSON ``[{"code", "beneficiary", "units"}, ...]`` in minor units (NULL: none
    # planned, or reserved before revision 0002).
    Column("fees", Text, nullable=True),
    Index("ix_payments_attempts_payment", "payment_id", "n", unique=True),
)

transitions = Table(
    "payments_transitions",
    metadata,
    Column("payment_id", String(40), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("from_status", String(24), nullable=True),
    Column("to_status", String(24), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("reason", String(500), nullable=False),
)
