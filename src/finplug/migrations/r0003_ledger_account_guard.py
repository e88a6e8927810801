"""Kernel revision 0003: PostgreSQL checks transfer rows' accounts per statement.

Until this revision, both backends refused a transfer row whose debit or
credit account is missing or in another currency with two composite foreign
keys ``(account, currency)``. On PostgreSQL their per-row checks cost more
than anything else in writing a row; this revision replaces them with one
``AFTER INSERT ... FOR EACH STATEMENT`` trigger over the statement's
transition table (it fires for ``COPY`` too), and with triggers that keep
accounts from being deleted, truncated or changing id or currency (what the
foreign keys also ensured). SQLite keeps its foreign keys (it has no
statement triggers, and its foreign keys are the cheapest check there) and
gets the same two account triggers, so that accounts stay on both backends.

Revision 0001 creates the ledger *as* :mod:`finplug.ledger.schema` *declares
it when it runs*, so a tenant created after this change already has the new
guards, and one created before has the foreign keys. This revision brings
both to the same schema: it drops the foreign keys if they exist and applies
the current guards, which are idempotent (``CREATE OR REPLACE``,
``DROP ... IF EXISTS`` then ``CREATE``). ``tests/test_migrations.py`` checks
that a tenant upgraded from revision 0002 ends with the schema of a new one.
"""

from __future__ import annotations

from alembic import op

from finplug.ledger.schema import GUARD_DDL

revision = "0003"
down_revision: str | None = "0002"

_FOREIGN_KEYS = ("fk_ledger_transfers_debit_account", "fk_ledger_transfers_credit_account")


def upgrade() -> None:
    """Swap PostgreSQL's foreign keys for the statement guard; keep accounts on both backends."""
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for name in _FOREIGN_KEYS:
            conn.exec_driver_sql(f"ALTER TABLE ledger_transfers DROP CONSTRAINT IF EXISTS {name}")
    for ddl in GUARD_DDL.get(conn.dialect.name, []):
        conn.exec_driver_sql(ddl)
