"""Kernel revision 0004: account definitions are immutable, hashed and chained.

Until this revision the database kept an account's id and currency, but not
the other columns that give its numbers a meaning: ``UPDATE ledger_accounts
SET normal = 'debit', type = 'asset'`` flipped the sign of a liability's
balance, and ``SET overdraft = 'unlimited'`` let it go overdrawn, and
``verify()`` saw neither. This revision:

* widens the accounts' guards (``ledger_accounts_fixed_u`` on SQLite,
  ``ledger_accounts_fixed`` on PostgreSQL) to every column of
  :data:`finplug.ledger.schema.DEFINITION_COLUMNS`: id, code, type,
  currency, normal side, overdraft policy and limit, opening time. The write
  path's update of the running totals does not fire them;
* creates ``ledger_account_chain``: one row per account, the hash of its
  definition chained to the previous account's, written when the account is
  opened and guarded against update, delete and truncate;
* records the hashes of the accounts opened before it (in id order), *as they
  are when it runs*: run ``verify()`` before upgrading if in doubt.

Revision 0001 creates the ledger as :mod:`finplug.ledger.schema` declares it
when it runs, so a tenant created after this change already has all of this;
every step here is idempotent (``CREATE TABLE`` if missing, guards dropped
and created, only unrecorded accounts recorded), and
``tests/test_migrations.py`` checks that a tenant upgraded from 0003 ends
with the schema of a new one.
"""

from __future__ import annotations

from alembic import op

from finplug.ledger.schema import ACCOUNT_CHAIN_GUARD_DDL, GUARD_DDL, account_chain
from finplug.ledger.store import record_account_definitions

revision = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    """Guard every definition column, create the chain of definitions, record existing ones."""
    conn = op.get_bind()
    account_chain.create(conn, checkfirst=True)
    dialect = conn.dialect.name
    for ddl in (*GUARD_DDL.get(dialect, []), *ACCOUNT_CHAIN_GUARD_DDL.get(dialect, [])):
        conn.exec_driver_sql(ddl)
    record_account_definitions(conn)
