"""sticky-notes 0001: the notes table (its foreign key needs the kernel's ledger first)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("ledger_accounts.id"), nullable=True),
        sa.Column("body", sa.String(200), nullable=False),
    )
