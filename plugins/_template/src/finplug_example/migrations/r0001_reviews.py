"""example 0001: the ``example_reviews`` table.

Declare tables without a schema: each tenant's schema (PostgreSQL) or file
(SQLite) is mapped in. Prefix table names with the plugin's name so they
never clash with the kernel's or another plugin's in the same tenant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None


def upgrade() -> None:
    """Create the table where the plugin could record the reviews it asked for."""
    op.create_table(
        "example_reviews",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
    )
