"""payments 0004: the risk verdict a payment was created with.

``risk_verdict`` is ``approve``, ``step_up``, ``review`` or ``decline`` (the
lower-case name of :class:`finplug.sockets.risk.RiskVerdict`), so a payment
held in ``requires_action`` says whether it waits for the customer's stronger
authentication or for a person's review. Payments made before this revision
read ``review`` when they carry risk reasons and are not declined, else
``approve`` or ``decline``, which is what they were decided as.

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    """Add ``payments_payments.risk_verdict`` and fill it for existing payments."""
    op.add_column(
        "payments_payments",
        sa.Column("risk_verdict", sa.String(16), nullable=False, server_default="approve"),
    )
    op.execute(
        "UPDATE payments_payments SET risk_verdict = CASE"
        " WHEN failure_code = 'risk_declined' THEN 'decline'"
        " WHEN risk_reasons <> '[]' THEN 'review'"
        " ELSE 'approve' END"
    )
