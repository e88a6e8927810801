"""risk-engine 0004: the decision log and its rule hits.

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    """Create ``risk_decisions`` and ``risk_decision_hits`` with their indexes."""
    op.create_table(
        "risk_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(128), nullable=True),
        sa.Column("customer", sa.String(256), nullable=True),
        sa.Column("merchant", sa.String(256), nullable=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("fired", sa.Text, nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("latency_us", sa.Integer, nullable=False),
        sa.Column("shadow_version", sa.Integer, nullable=True),
        sa.Column("shadow_verdict", sa.String(16), nullable=True),
        sa.Column("shadow_fired", sa.Text, nullable=True),
    )
    op.create_index("ix_risk_decisions_at", "risk_decisions", ["at"])
    op.create_index("ix_risk_decisions_ref", "risk_decisions", ["ref"])
    op.create_index("ix_risk_decisions_customer", "risk_decisions", ["customer", "at"])
    op.create_index("ix_risk_decisions_merchant", "risk_decisions", ["merchant", "at"])
    op.create_table(
        "risk_decision_hits",
        sa.Column("decision_id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_risk_decision_hits_code", "risk_decision_hits", ["code", "at"])
