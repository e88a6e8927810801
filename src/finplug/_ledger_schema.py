"""The ledger's tables and the database rules that guard them.

Amounts are integer minor units (``BigInteger``): exact, compact and fast.
Every table is declared without a schema; a tenant's storage maps it into
the tenant's own schema (PostgreSQL) or file (SQLite).

The database itself refuses what the code refuses, so that even SQL written
by a buggy plugin cannot corrupt the books (on PostgreSQL the guard functions
pin ``search_path`` to the tenant's schema when they are created):

* an entry's legs must sum to zero per currency, checked when the entry row
  is inserted (legs are inserted first; their foreign key to the entry is
  deferred to commit, so legs without an entry cannot commit either);
* no leg may be added to an entry that already exists;
* entries and legs can never be updated or deleted (nor truncated, on PostgreSQL).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
)

__all__ = ["GUARD_DDL", "accounts", "chain", "entries", "ledger_metadata", "postings"]

NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: The kernel ledger's tables.
ledger_metadata = MetaData(naming_convention=NAMING_CONVENTION)

accounts = Table(
    "ledger_accounts",
    ledger_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(128), nullable=False, unique=True),
    Column("type", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("normal", String(6), nullable=False),
    Column("overdraft", String(10), nullable=False),
    Column("overdraft_limit", BigInteger, nullable=False, default=0),
    Column("debits_posted", BigInteger, nullable=False, default=0),
    Column("credits_posted", BigInteger, nullable=False, default=0),
    Column("debits_pending", BigInteger, nullable=False, default=0),
    Column("credits_pending", BigInteger, nullable=False, default=0),
    Column("version", Integer, nullable=False, default=0),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("normal IN ('debit', 'credit')", name="normal"),
    CheckConstraint("overdraft IN ('none', 'limit', 'unlimited')", name="overdraft"),
    CheckConstraint(
        "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0"
        " AND credits_pending >= 0 AND overdraft_limit >= 0",
        name="totals_non_negative",
    ),
)

entries = Table(
    "ledger_entries",
    ledger_metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("key", String(200), nullable=False, unique=True),
    Column("request_hash", LargeBinary(32), nullable=False),
    Column("kind", String(12), nullable=False),
    Column("pending_seq", BigInteger, nullable=True),
    Column("reverses_seq", BigInteger, nullable=True, unique=True),
    Column("description", String(500), nullable=False, default=""),
    Column("posted_at", DateTime(timezone=True), nullable=False),
    Column("timeout_at", DateTime(timezone=True), nullable=True),
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    CheckConstraint(
        "kind IN ('posted', 'pending', 'post_pending', 'void', 'expire', 'reversal')",
        name="kind",
    ),
    # A hold is resolved (posted, voided or expired) at most once.
    Index("uq_ledger_entries_resolves", "pending_seq", unique=True),
    Index("ix_ledger_entries_posted_at", "posted_at"),
)

postings = Table(
    "ledger_postings",
    ledger_metadata,
    Column(
        "seq",
        BigInteger,
        ForeignKey("ledger_entries.seq", deferrable=True, initially="DEFERRED"),
        primary_key=True,
    ),
    Column("leg", SmallInteger, primary_key=True),
    Column("account_id", Integer, ForeignKey("ledger_accounts.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    # Signed minor units: debits positive, credits negative. Legs of an entry sum to 0.
    Column("amount", BigInteger, nullable=False),
    # 0 = posted amount, 1 = pending (a hold), 2 = release of a hold.
    Column("flow", SmallInteger, nullable=False),
    # The account's running totals just after this leg: balances as of any point
    # in history are one index lookup, never a scan.
    Column("posted_after", BigInteger, nullable=False),
    Column("debits_pending_after", BigInteger, nullable=False),
    Column("credits_pending_after", BigInteger, nullable=False),
    CheckConstraint("amount <> 0", name="amount_not_zero"),
    CheckConstraint("flow IN (0, 1, 2)", name="flow"),
    Index("ix_ledger_postings_account_seq", "account_id", "seq"),
)

chain = Table(
    "ledger_chain",
    ledger_metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    Column("posted_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("id = 1", name="single_row"),
)

_SQLITE_GUARDS = [
    """
    CREATE TRIGGER IF NOT EXISTS ledger_entry_balanced
    BEFORE INSERT ON ledger_entries
    BEGIN
        SELECT RAISE(ABORT, 'ledger: an entry needs at least two legs')
        WHERE (SELECT count(*) FROM ledger_postings WHERE seq = NEW.seq) < 2;
        SELECT RAISE(ABORT, 'ledger: entry legs do not balance per currency')
        WHERE EXISTS (
            SELECT 1 FROM ledger_postings WHERE seq = NEW.seq
            GROUP BY currency HAVING sum(amount) <> 0
        );
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS ledger_postings_closed
    BEFORE INSERT ON ledger_postings
    BEGIN
        SELECT RAISE(ABORT, 'ledger: legs cannot be added to an existing entry')
        WHERE EXISTS (SELECT 1 FROM ledger_entries WHERE seq = NEW.seq);
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS ledger_entries_immutable_u
    BEFORE UPDATE ON ledger_entries
    BEGIN SELECT RAISE(ABORT, 'ledger: entries are immutable; post a reversal'); END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS ledger_entries_immutable_d
    BEFORE DELETE ON ledger_entries
    BEGIN SELECT RAISE(ABORT, 'ledger: entries are immutable; post a reversal'); END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS ledger_postings_immutable_u
    BEFORE UPDATE ON ledger_postings
    BEGIN SELECT RAISE(ABORT, 'ledger: legs are immutable; post a reversal'); END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS ledger_postings_immutable_d
    BEFORE DELETE ON ledger_postings
    BEGIN SELECT RAISE(ABORT, 'ledger: legs are immutable; post a reversal'); END
    """,
]

_POSTGRES_GUARDS = [
    """
    CREATE OR REPLACE FUNCTION ledger_entry_balanced() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN
        IF (SELECT count(*) FROM ledger_postings WHERE seq = NEW.seq) < 2 THEN
            RAISE EXCEPTION 'ledger: an entry needs at least two legs'
                USING ERRCODE = 'check_violation';
        END IF;
        IF EXISTS (
            SELECT 1 FROM ledger_postings WHERE seq = NEW.seq
            GROUP BY currency HAVING sum(amount) <> 0
        ) THEN
            RAISE EXCEPTION 'ledger: entry legs do not balance per currency'
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION ledger_postings_closed() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM ledger_entries WHERE seq = NEW.seq) THEN
            RAISE EXCEPTION 'ledger: legs cannot be added to an existing entry'
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION ledger_immutable() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger: %% rows are immutable; post a reversal', TG_TABLE_NAME
            USING ERRCODE = 'check_violation';
    END $$
    """,
    "DROP TRIGGER IF EXISTS ledger_entry_balanced ON ledger_entries",
    """
    CREATE TRIGGER ledger_entry_balanced BEFORE INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced()
    """,
    "DROP TRIGGER IF EXISTS ledger_postings_closed ON ledger_postings",
    """
    CREATE TRIGGER ledger_postings_closed BEFORE INSERT ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_postings_closed()
    """,
    "DROP TRIGGER IF EXISTS ledger_entries_immutable ON ledger_entries",
    """
    CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable()
    """,
    "DROP TRIGGER IF EXISTS ledger_postings_immutable ON ledger_postings",
    """
    CREATE TRIGGER ledger_postings_immutable BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable()
    """,
    # TRUNCATE fires no row triggers: it needs statement-level guards of its own.
    "DROP TRIGGER IF EXISTS ledger_entries_no_truncate ON ledger_entries",
    """
    CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable()
    """,
    "DROP TRIGGER IF EXISTS ledger_postings_no_truncate ON ledger_postings",
    """
    CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable()
    """,
]

#: The guard DDL per dialect name, applied after the tables are created.
GUARD_DDL: Final[dict[str, list[str]]] = {
    "sqlite": _SQLITE_GUARDS,
    "postgresql": _POSTGRES_GUARDS,
}
