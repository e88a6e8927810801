"""broken 0001: a table (rolled back with the rest when 0002 fails)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None


def upgrade() -> None:
    op.create_table("broken_things", sa.Column("id", sa.Integer, primary_key=True))
