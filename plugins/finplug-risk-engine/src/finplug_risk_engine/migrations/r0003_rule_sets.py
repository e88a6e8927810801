"""risk-engine 0003: rule-set versions, the live/shadow state row, and their audit.

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    """Create the three tables and the single state row (nothing live yet)."""
    op.create_table(
        "risk_rule_sets",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sha256", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(128), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
    )
    state = op.create_table(
        "risk_rule_set_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("live", sa.Integer, nullable=True),
        sa.Column("shadow", sa.Integer, nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
    )
    # The one row publishers and pointer changes lock, so they queue on PostgreSQL.
    op.bulk_insert(state, [{"id": 1, "live": None, "shadow": None, "changed_at": None}])
    op.create_table(
        "risk_rule_set_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("note", sa.String(500), nullable=False),
    )
