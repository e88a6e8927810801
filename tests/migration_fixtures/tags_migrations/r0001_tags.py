"""note-tags 0001: tags on notes (needs sticky-notes' table first)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None


def upgrade() -> None:
    op.create_table(
        "note_tags",
        sa.Column("note_id", sa.Integer, sa.ForeignKey("notes.id"), primary_key=True),
        sa.Column("tag", sa.String(50), primary_key=True),
    )
