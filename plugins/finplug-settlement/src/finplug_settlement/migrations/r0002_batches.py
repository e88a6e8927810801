"""settlement 0002: settlement batches, the ledger postings each settles, cursors, reserves.

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"


def upgrade() -> None:
    """Create the batch, batch-entry, cursor and reserve tables."""
    op.create_table(
        "settlement_batches",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("payee", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("value_date", sa.Date, nullable=False),
        sa.Column("movements", sa.BigInteger, nullable=False),
        sa.Column("carried_in", sa.BigInteger, nullable=False),
        sa.Column("reserve_held", sa.BigInteger, nullable=False),
        sa.Column("reserve_released", sa.BigInteger, nullable=False),
        sa.Column("net", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("entry_seq", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_settlement_batches_payee", "settlement_batches", ["payee", "value_date"])
    op.create_table(
        "settlement_batch_entries",
        sa.Column("entry_seq", sa.BigInteger, nullable=False),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("batch_id", sa.String(200), nullable=False),
        sa.Column("role", sa.String(12), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("entry_seq", "account", name="pk_settlement_batch_entries"),
    )
    op.create_index("ix_settlement_batch_entries_batch", "settlement_batch_entries", ["batch_id"])
    op.create_table(
        "settlement_cursors",
        sa.Column("account", sa.String(128), primary_key=True),
        sa.Column("through_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "settlement_reserves",
        sa.Column("batch_id", sa.String(200), primary_key=True),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("release_on", sa.Date, nullable=False),
        sa.Column("released_in", sa.String(200), nullable=True),
    )
    op.create_index("ix_settlement_reserves_due", "settlement_reserves", ["account", "release_on"])
