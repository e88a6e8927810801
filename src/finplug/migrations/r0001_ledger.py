"""Kernel revision 0001: create the ledger.

Calls :func:`finplug.ledger.schema.install_ledger`, which creates the tables
declared in :mod:`finplug.ledger.schema` (``ledger_accounts``,
``ledger_transfers``, ``ledger_chain``), the database guards of that module
(rows balanced by construction with ``(account, currency)`` foreign keys,
closed entries, immutable transfer rows: constraints and triggers on both
backends, trigger functions pinned to the tenant's schema on PostgreSQL)
and the chain-head row.

Before any tenant existed, this revision was changed in place from the first
layout (``ledger_entries`` plus ``ledger_postings``, one row per leg) to one
row per debit/credit pair; the revision id was kept.

This revision therefore creates the ledger *as those modules declare it when
it runs*: a tenant created after a later change already has it. So a later
revision that changes the ledger's tables must bring both kinds of tenant,
created before and after it, to the same schema (0003 and 0004 do: each is
idempotent over both, and ``tests/test_migrations.py`` compares them); or this revision
must first be frozen (the call replaced with the equivalent
``op.create_table`` and DDL for the schema as it was).
"""

from __future__ import annotations

from alembic import op

from finplug.ledger.schema import install_ledger

revision = "0001"
down_revision: str | None = None


def upgrade() -> None:
    """Create the ledger in the tenant's schema (PostgreSQL) or file (SQLite)."""
    install_ledger(op.get_bind())
