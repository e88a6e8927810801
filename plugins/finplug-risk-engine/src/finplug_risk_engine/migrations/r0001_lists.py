"""risk-engine 0001: block and allow lists, and their audit.

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None


def upgrade() -> None:
    """Create ``risk_list_entries`` and ``risk_list_audit``."""
    op.create_table(
        "risk_list_entries",
        sa.Column("list", sa.String(8), primary_key=True),
        sa.Column("subject", sa.String(24), primary_key=True),
        sa.Column("value", sa.String(256), primary_key=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("added_by", sa.String(128), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_risk_list_entries_lookup", "risk_list_entries", ["subject", "value"])
    op.create_table(
        "risk_list_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("list", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(24), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_risk_list_audit_value", "risk_list_audit", ["subject", "value", "id"])
