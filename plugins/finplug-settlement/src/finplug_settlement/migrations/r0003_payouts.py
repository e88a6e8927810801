"""settlement 0003: payouts, one per batch.

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    """Create ``settlement_payouts``."""
    op.create_table(
        "settlement_payouts",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("payee", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("failure_code", sa.String(64), nullable=False),
        sa.Column("attempts", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_settlement_payouts_status", "settlement_payouts", ["status", "updated_at"])
