"""broken 0002: refers to a table that does not exist, so it fails on every backend."""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute("INSERT INTO no_such_table (id) VALUES (1)")
