"""payments 0003: idempotency keys move to the kernel's service; ``payments_idempotency`` goes.

Every row of ``payments_idempotency`` is copied into the kernel's
``idempotency_keys`` (kernel revision 0005, which runs before any plugin's
migrations) under the scope ``payments``, its ``payment_id`` as the key's
resource. A finished key expires 24 hours after it finished (the kernel's
default retention; the purge job applies the tenant's own retention to keys
finished from now on); a key still ``started`` keeps no expiry, so the
janitor still finishes it. Then ``payments_idempotency`` is dropped.

Frozen: both tables are declared here as this revision reads and writes them.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"

_RETENTION = timedelta(hours=24)
_BATCH = 1000

_meta = sa.MetaData()
_old = sa.Table(
    "payments_idempotency",
    _meta,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("operation", sa.String(16), nullable=False),
    sa.Column("request_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("state", sa.String(8), nullable=False),
    sa.Column("payment_id", sa.String(40), nullable=True),
    sa.Column("response", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)
_new = sa.Table(
    "idempotency_keys",
    _meta,
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
)


def upgrade() -> None:
    """Copy the keys into ``idempotency_keys`` (scope ``payments``); drop the old table."""
    conn = op.get_bind()
    if not sa.inspect(conn).has_table("payments_idempotency"):
        return
    after = ""
    while True:
        rows = conn.execute(
            sa.select(_old).where(_old.c.key > after).order_by(_old.c.key).limit(_BATCH)
        ).all()
        if not rows:
            break
        conn.execute(
            sa.insert(_new),
            [
                {
                    "scope": "payments",
                    "key": r.key,
                    "operation": r.operation,
                    "request_hash": r.request_hash,
                    "state": r.state,
                    "resource": r.payment_id,
                    "response": r.response,
                    "created_at": r.created_at,
                    "finished_at": r.finished_at,
                    "expires_at": (
                        r.finished_at + _RETENTION
                        if r.state == "done" and r.finished_at is not None
                        else None
                    ),
                }
                for r in rows
            ],
        )
        after = rows[-1].key
    op.drop_table("payments_idempotency")
