"""sticky-notes 0002: notes get an author."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("notes", sa.Column("author", sa.String(100), nullable=False, server_default=""))
