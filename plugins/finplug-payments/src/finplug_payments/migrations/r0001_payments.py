"""payments 0001: payments, channel attempts, transitions and idempotency keys.

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the four tables of the payments plugin."""
    op.create_table(
        "payments_payments",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("captured", sa.BigInteger, nullable=False),
        sa.Column("refunded", sa.BigInteger, nullable=False),
        sa.Column("fees", sa.BigInteger, nullable=False),
        sa.Column("merchant_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("method", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("channel_reference", sa.String(200), nullable=False),
        sa.Column("hold_seq", sa.BigInteger, nullable=True),
        sa.Column("pending_operation", sa.String(16), nullable=True),
        sa.Column("pending_reference", sa.String(200), nullable=True),
        sa.Column("status_before", sa.String(24), nullable=True),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("failure_code", sa.String(64), nullable=False),
        sa.Column("failure_message", sa.String(500), nullable=False),
        sa.Column("risk_reasons", sa.Text, nullable=False),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("transition_count", sa.Integer, nullable=False),
        sa.Column("attempt_count", sa.Integer, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint(
            "amount > 0 AND captured >= 0 AND refunded >= 0 AND fees >= 0"
            " AND captured <= amount AND refunded <= captured",
            name="ck_payments_payments_amounts",
        ),
    )
    op.create_index(
        "ix_payments_payments_merchant", "payments_payments", ["merchant_id", "created_at"]
    )
    op.create_index("ix_payments_payments_created", "payments_payments", ["created_at", "id"])
    op.create_index("ix_payments_payments_pending", "payments_payments", ["pending_operation"])
    op.create_table(
        "payments_attempts",
        sa.Column("reference", sa.String(200), primary_key=True),
        sa.Column(
            "payment_id", sa.String(40), sa.ForeignKey("payments_payments.id"), nullable=False
        ),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=False),
        sa.Column("retriable", sa.Boolean, nullable=True),
        sa.Column("channel_reference", sa.String(200), nullable=False),
        _ts("created_at"),
        _ts("finished_at", nullable=True),
    )
    op.create_index(
        "ix_payments_attempts_payment", "payments_attempts", ["payment_id", "n"], unique=True
    )
    op.create_table(
        "payments_transitions",
        sa.Column(
            "payment_id", sa.String(40), sa.ForeignKey("payments_payments.id"), primary_key=True
        ),
        sa.Column("n", sa.Integer, primary_key=True),
        sa.Column("from_status", sa.String(24), nullable=True),
        sa.Column("to_status", sa.String(24), nullable=False),
        _ts("at"),
        sa.Column("reason", sa.String(500), nullable=False),
    )
    op.create_table(
        "payments_idempotency",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("payment_id", sa.String(40), nullable=True),
        sa.Column("response", sa.Text, nullable=True),
        _ts("created_at"),
        _ts("finished_at", nullable=True),
    )
    op.create_index("ix_payments_idempotency_payment", "payments_idempotency", ["payment_id"])
