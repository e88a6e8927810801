"""Kernel revision 0005: the idempotency service's table, ``idempotency_keys``.

One row per (scope, key): the request's digest, ``started`` or ``done``, the
stored result and when it expires (see :mod:`finplug._idempotency`). The table is
declared here as this revision creates it, so a later change to
:data:`finplug._idempotency.idempotency_keys` needs a new revision rather
than an edit here (``tests/test_migrations.py`` checks that an upgraded
tenant ends with a new one's schema).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"


def _table() -> sa.Table:
    """``idempotency_keys`` as this revision creates it (frozen here on purpose)."""
    return sa.Table(
        "idempotency_keys",
        sa.MetaData(),
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("resource", sa.String(128), nullable=True),
        sa.Column("response", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Index("ix_idempotency_keys_expires", "expires_at"),
        sa.Index("ix_idempotency_keys_resource", "scope", "resource"),
    )


def upgrade() -> None:
    """Create ``idempotency_keys`` and its two indexes (if missing: the step is idempotent)."""
    _table().create(op.get_bind(), checkfirst=True)
