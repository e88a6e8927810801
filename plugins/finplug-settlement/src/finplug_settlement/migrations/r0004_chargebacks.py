"""settlement 0004: chargebacks, by the caller's key.

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    """Create ``settlement_chargebacks``."""
    op.create_table(
        "settlement_chargebacks",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("payment_id", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("entry_seq", sa.BigInteger, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_settlement_chargebacks_payment", "settlement_chargebacks", ["payment_id"])
