"""risk-engine 0002: the velocity facts, one row per outcome, indexed per key and time.

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"

#: The keys an outcome is counted by, one column and one index each.
_KEYS = ("customer", "merchant", "card_fingerprint", "ip", "device", "email_domain", "country")


def upgrade() -> None:
    """Create ``risk_velocity_facts`` and its per-key indexes."""
    op.create_table(
        "risk_velocity_facts",
        sa.Column("ref", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        *(sa.Column(key, sa.String(256), nullable=True) for key in _KEYS),
    )
    for key in _KEYS:
        op.create_index(f"ix_risk_velocity_{key}", "risk_velocity_facts", [key, "at"])
