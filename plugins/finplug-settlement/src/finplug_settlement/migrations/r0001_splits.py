"""settlement 0001: splits of captures and of their refunds.

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None


def upgrade() -> None:
    """Create ``settlement_splits`` and ``settlement_refund_splits``."""
    op.create_table(
        "settlement_splits",
        sa.Column("payment_id", sa.String(40), primary_key=True),
        sa.Column("merchant_id", sa.String(128), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("captured", sa.BigInteger, nullable=False),
        sa.Column("parts", sa.Text, nullable=False),
        sa.Column("refunded", sa.Text, nullable=False),
        sa.Column("entry_seq", sa.BigInteger, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_settlement_splits_merchant", "settlement_splits", ["merchant_id", "at"])
    op.create_table(
        "settlement_refund_splits",
        sa.Column("ref", sa.String(200), primary_key=True),
        sa.Column("payment_id", sa.String(40), nullable=False),
        sa.Column("parts", sa.Text, nullable=False),
        sa.Column("entry_seq", sa.BigInteger, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
