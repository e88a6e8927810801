"""payments 0002: the fee lines a capture or top-up will book, stored with its attempt.

Fees are computed while the channel call is reserved, before any money moves,
and booked from this column when the call's outcome is recorded (by the call
itself or by the janitor). JSON text of integer minor units; ``NULL`` for
attempts that carry no fees (authorizations, voids, refunds) and for
attempts reserved before this revision, whose fees are still computed when
they are settled.

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"


def upgrade() -> None:
    """Add ``payments_attempts.fees``."""
    op.add_column("payments_attempts", sa.Column("fees", sa.Text, nullable=True))
