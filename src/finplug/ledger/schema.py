"""The ledger's tables, the database rules that guard them, and their installation.

Amounts are integer minor units (``BigInteger``): exact, compact and fast.
Every table is declared without a schema; a tenant's storage maps it into
the tenant's own schema (PostgreSQL) or file (SQLite).

Storage is TigerBeetle-style: an entry is stored as one or more **transfer
rows**, each moving one positive amount from a debit account to a credit
account in one currency. A two-leg entry is one row; an entry of more legs
is split deterministically into linked rows (``pair`` 0 .. ``pairs`` - 1),
each of which remembers which of the entry's legs it belongs to, so the legs
come back exactly as they were posted. The entry's own columns (key, kind,
hashes, times, ...) live on its first row (``pair`` = 0), the *head*.

The database itself refuses what the code refuses, so that even SQL written
by a buggy plugin cannot corrupt the books (on PostgreSQL the guard functions
that read tables name them with the tenant's schema when they are created, so
the caller's ``search_path`` does not matter):

* every row balances by construction: one positive amount, debited to one
  account and credited to another, in one currency, and both accounts must
  exist and be in the row's currency. An unbalanced entry cannot even be
  written down. On SQLite a composite foreign key ``(account, currency)`` on
  each side checks the accounts; on PostgreSQL (since kernel revision 0003)
  one ``AFTER INSERT ... FOR EACH STATEMENT`` trigger checks every row an
  ``INSERT`` or ``COPY`` added at once (its transition table), at a fraction
  of two foreign keys' per-row cost, and accounts can be neither deleted
  (nor truncated) nor change their id or currency, so what was checked stays
  true, as the foreign keys kept it (on SQLite too, since revision 0003);
* an account's definition, every column that gives its numbers a meaning
  (id, code, type, normal side, currency, overdraft policy and limit,
  opening time), never changes (since revision 0004; only the running
  totals and the version, which the write path updates, may), and the hash
  of each definition, chained in account order, is recorded once in
  ``ledger_account_chain``, whose rows can be neither updated nor deleted
  (nor truncated): :meth:`finplug.Ledger.verify` recomputes them, so even
  a change made with the guards switched off shows;
* rows cannot be added to an existing entry: a row after the head must follow
  its entry's previous row and agree on the entry's row count (a trigger that
  fires only for such rows, so a two-leg transfer pays nothing for it);
* rows can never be updated or deleted (nor truncated, on PostgreSQL): row
  and statement triggers that cost nothing on insert;
* a hold is resolved at most once and an entry reversed at most once
  (partial unique indexes), and keys are unique.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    insert,
    select,
    text,
)

from finplug.ledger.chain import GENESIS

__all__ = [
    "ACCOUNT_CHAIN_GUARD_DDL",
    "DEFINITION_COLUMNS",
    "GUARD_DDL",
    "account_chain",
    "accounts",
    "chain",
    "install_ledger",
    "ledger_metadata",
    "transfers",
]

NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: The kernel ledger's tables.
ledger_metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _code(length: int) -> String:
    """A code compared byte by byte (PostgreSQL's "C" collation; SQLite's BINARY).

    Keys, account codes and currencies are identifiers, not prose: byte order
    is the same on both databases, and PostgreSQL's unique indexes and foreign
    key lookups skip the locale's collation routines, a measurable cost per row.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


accounts = Table(
    "ledger_accounts",
    ledger_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", _code(128), nullable=False, unique=True),
    Column("type", String(16), nullable=False),
    Column("currency", _code(3), nullable=False),
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
    # The target of the transfer rows' (account, currency) foreign keys.
    UniqueConstraint("id", "currency", name="uq_ledger_accounts_id_currency"),
    # Every write updates its accounts' totals: room on each page lets
    # PostgreSQL update them in place (HOT), without touching the indexes.
    postgresql_with={"fillfactor": 50},
)

_ENTRY_COLUMNS: Final = (
    "key",
    "request_hash",
    "kind",
    "description",
    "posted_at",
    "prev_hash",
    "hash",
)

transfers = Table(
    "ledger_transfers",
    ledger_metadata,
    # The entry's sequence number (gapless, the hash chain's order) and the
    # row's place in the entry.
    Column("seq", BigInteger, nullable=False, autoincrement=False),
    Column("pair", SmallInteger, nullable=False),
    Column("pairs", SmallInteger, nullable=False),
    Column("debit_id", Integer, nullable=False),
    Column("credit_id", Integer, nullable=False),
    Column("currency", _code(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    # 0 = posted amount, 1 = pending (a hold), 2 = release of a hold.
    Column("flow", SmallInteger, nullable=False),
    # Which of the entry's legs (0-based, per flow group) each side belongs to.
    Column("debit_leg", SmallInteger, nullable=False),
    Column("credit_leg", SmallInteger, nullable=False),
    # Both accounts' running totals just after this row: balances as of any
    # point in history are one index lookup, never a scan.
    Column("debit_posted_after", BigInteger, nullable=False),
    Column("debit_dpending_after", BigInteger, nullable=False),
    Column("debit_cpending_after", BigInteger, nullable=False),
    Column("credit_posted_after", BigInteger, nullable=False),
    Column("credit_dpending_after", BigInteger, nullable=False),
    Column("credit_cpending_after", BigInteger, nullable=False),
    # The entry's columns: on its head row (pair 0) only.
    Column("key", _code(200), nullable=True, unique=True),
    Column("request_hash", LargeBinary(32), nullable=True),
    Column("kind", String(12), nullable=True),
    Column("pending_seq", BigInteger, nullable=True),
    Column("reverses_seq", BigInteger, nullable=True),
    Column("description", String(500), nullable=True),
    Column("posted_at", DateTime(timezone=True), nullable=True),
    Column("timeout_at", DateTime(timezone=True), nullable=True),
    Column("prev_hash", LargeBinary(32), nullable=True),
    Column("hash", LargeBinary(32), nullable=True),
    PrimaryKeyConstraint("seq", "pair"),
    # SQLite only: PostgreSQL checks the same with one statement trigger per
    # INSERT or COPY (see _POSTGRES_GUARDS), where these two cost more than
    # anything else in writing a row.
    ForeignKeyConstraint(
        ["debit_id", "currency"],
        ["ledger_accounts.id", "ledger_accounts.currency"],
        name="fk_ledger_transfers_debit_account",
    ).ddl_if(dialect="sqlite"),
    ForeignKeyConstraint(
        ["credit_id", "currency"],
        ["ledger_accounts.id", "ledger_accounts.currency"],
        name="fk_ledger_transfers_credit_account",
    ).ddl_if(dialect="sqlite"),
    CheckConstraint("amount > 0", name="amount_positive"),
    # Comparisons, not IN lists: SQLite evaluates an IN list per row at a
    # cost that shows in the ledger's throughput.
    CheckConstraint("flow >= 0 AND flow <= 2", name="flow"),
    CheckConstraint("pair >= 0 AND pair < pairs", name="pair"),
    CheckConstraint("debit_leg >= 0 AND credit_leg >= 0 AND debit_leg <> credit_leg", name="legs"),
    CheckConstraint(
        " OR ".join(
            f"kind = '{k}'"
            for k in ("posted", "pending", "post_pending", "void", "expire", "reversal")
        ),
        name="kind",
    ),
    CheckConstraint(
        "(pair = 0 AND "
        + " AND ".join(f"{c} IS NOT NULL" for c in _ENTRY_COLUMNS)
        + ") OR (pair > 0 AND "
        + " AND ".join(
            f"{c} IS NULL" for c in (*_ENTRY_COLUMNS, "pending_seq", "reverses_seq", "timeout_at")
        )
        + ")",
        name="head",
    ),
    # A hold is resolved (posted, voided or expired) at most once; an entry is
    # reversed at most once. Partial: plain transfers add nothing to them.
    Index(
        "uq_ledger_transfers_resolves",
        "pending_seq",
        unique=True,
        sqlite_where=text("pending_seq IS NOT NULL"),
        postgresql_where=text("pending_seq IS NOT NULL"),
    ),
    Index(
        "uq_ledger_transfers_reverses",
        "reverses_seq",
        unique=True,
        sqlite_where=text("reverses_seq IS NOT NULL"),
        postgresql_where=text("reverses_seq IS NOT NULL"),
    ),
    # Open holds are found without a scan of the transfers.
    Index(
        "ix_ledger_transfers_holds",
        "seq",
        sqlite_where=text("kind = 'pending'"),
        postgresql_where=text("kind = 'pending'"),
    ),
    Index("ix_ledger_transfers_posted_at", "posted_at"),
    Index("ix_ledger_transfers_debit", "debit_id", "seq", "pair"),
    Index("ix_ledger_transfers_credit", "credit_id", "seq", "pair"),
    # SQLite: the table is its primary key's B-tree (one tree less to write).
    sqlite_with_rowid=False,
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

#: The columns of ``ledger_accounts`` that define an account (the others are
#: its running totals and their version): immutable once the account exists,
#: and covered by its hash in ``ledger_account_chain``.
DEFINITION_COLUMNS: Final = (
    "id",
    "code",
    "type",
    "currency",
    "normal",
    "overdraft",
    "overdraft_limit",
    "opened_at",
)

account_chain = Table(
    "ledger_account_chain",
    ledger_metadata,
    # The account (ledger_accounts.id) whose definition this hash covers. No
    # foreign key: on PostgreSQL it would turn TRUNCATE ledger_accounts into
    # a different error than the accounts' own guard, and rows are never
    # deleted anyway; verify() reports a hash whose account is missing.
    Column("account_id", Integer, primary_key=True, autoincrement=False),
    # sha256(previous account's hash + this account's definition), in id order.
    Column("hash", LargeBinary(32), nullable=False),
)

_CLOSED_MESSAGE: Final = (
    "ledger: rows cannot be added to an existing entry"
    " (the rows of an entry are written together, in order)"
)

_ACCOUNTS_MESSAGE: Final = (
    "ledger: the debit and credit accounts of a transfer row must exist and be in its currency"
)
_ACCOUNT_FIXED_MESSAGE: Final = (
    "ledger: accounts cannot be deleted, and the definition of an account (id, code, type,"
    " normal side, currency, overdraft policy and limit, opening time) and its recorded hash"
    " are immutable"
)
_DEFINITION_LIST: Final = ", ".join(DEFINITION_COLUMNS)

_SQLITE_GUARDS = [
    f"""
    CREATE TRIGGER IF NOT EXISTS ledger_transfers_closed
    AFTER INSERT ON ledger_transfers WHEN NEW.pair > 0
    BEGIN
        SELECT RAISE(ABORT, '{_CLOSED_MESSAGE}')
        WHERE NOT EXISTS (
            SELECT 1 FROM ledger_transfers
            WHERE seq = NEW.seq AND pair = NEW.pair - 1 AND pairs = NEW.pairs
        );
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS ledger_transfers_immutable_u
    BEFORE UPDATE ON ledger_transfers
    BEGIN SELECT RAISE(ABORT, 'ledger: transfers are immutable; post a reversal'); END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS ledger_transfers_immutable_d
    BEFORE DELETE ON ledger_transfers
    BEGIN SELECT RAISE(ABORT, 'ledger: transfers are immutable; post a reversal'); END
    """,
    # As on PostgreSQL: accounts stay, with their definition (the foreign keys
    # alone would let an account no row refers to go or change currency, and
    # nothing would keep its type, normal side or overdraft policy). Dropped
    # and created, not "IF NOT EXISTS": revision 0004 widened its columns.
    "DROP TRIGGER IF EXISTS ledger_accounts_fixed_u",
    f"""
    CREATE TRIGGER ledger_accounts_fixed_u
    BEFORE UPDATE OF {_DEFINITION_LIST} ON ledger_accounts
    BEGIN SELECT RAISE(ABORT, '{_ACCOUNT_FIXED_MESSAGE}'); END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS ledger_accounts_fixed_d
    BEFORE DELETE ON ledger_accounts
    BEGIN SELECT RAISE(ABORT, '{_ACCOUNT_FIXED_MESSAGE}'); END
    """,
]


def _in_tenant_schema(create_function: str) -> str:
    """``create_function`` run with ``%%1$I`` replaced by the tenant's (current) schema.

    (``%%`` because the DDL goes through the driver's parameter syntax: the
    server's ``format`` sees ``%1$I``, the schema as a quoted identifier.)

    The guard functions that read tables name them so, when they are created,
    rather than pinning ``search_path`` with a ``SET`` clause: a function that
    sets a setting has its plans rebuilt on every call (it tripled the cost of
    a one-row INSERT), and these run on every write.
    """
    return (
        f"DO $create$ BEGIN EXECUTE format($function${create_function}$function$,"
        " current_schema()); END $create$"
    )


_POSTGRES_GUARDS = [
    # Runs for every row after an entry's head.
    _in_tenant_schema(f"""
    CREATE OR REPLACE FUNCTION ledger_transfers_closed() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT EXISTS (
            SELECT 1 FROM %%1$I.ledger_transfers
            WHERE seq = NEW.seq AND pair = NEW.pair - 1 AND pairs = NEW.pairs
        ) THEN
            RAISE EXCEPTION '{_CLOSED_MESSAGE}' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """),
    """
    CREATE OR REPLACE FUNCTION ledger_immutable() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger: %% rows are immutable; post a reversal', TG_TABLE_NAME
            USING ERRCODE = 'check_violation';
    END $$
    """,
    "DROP TRIGGER IF EXISTS ledger_transfers_closed ON ledger_transfers",
    """
    CREATE TRIGGER ledger_transfers_closed BEFORE INSERT ON ledger_transfers
    FOR EACH ROW WHEN (NEW.pair > 0) EXECUTE FUNCTION ledger_transfers_closed()
    """,
    "DROP TRIGGER IF EXISTS ledger_transfers_immutable ON ledger_transfers",
    """
    CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable()
    """,
    # TRUNCATE fires no row triggers: it needs a statement-level guard of its own.
    "DROP TRIGGER IF EXISTS ledger_transfers_no_truncate ON ledger_transfers",
    """
    CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON ledger_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable()
    """,
    # The (account, currency) foreign keys' check, once per statement: the rows
    # an INSERT or COPY added (its transition table) whose debit or credit
    # account is missing or in another currency refuse the whole statement.
    # Each side is a scalar subquery, one primary-key probe per row: PL/pgSQL
    # plans the query once per session, for the size of the first statement's
    # rows, and a join planned for a COPY of 1,000 rows (hashing every
    # account) would then cost ~0.5 ms on every one-row INSERT after it.
    _in_tenant_schema(f"""
    CREATE OR REPLACE FUNCTION ledger_transfers_accounts() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (
            SELECT 1 FROM ledger_added_transfers AS t
            WHERE (SELECT a.currency FROM %%1$I.ledger_accounts AS a WHERE a.id = t.debit_id)
                IS DISTINCT FROM t.currency
            OR (SELECT a.currency FROM %%1$I.ledger_accounts AS a WHERE a.id = t.credit_id)
                IS DISTINCT FROM t.currency
        ) THEN
            RAISE EXCEPTION '{_ACCOUNTS_MESSAGE}' USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END $$
    """),
    "DROP TRIGGER IF EXISTS ledger_transfers_accounts ON ledger_transfers",
    """
    CREATE TRIGGER ledger_transfers_accounts AFTER INSERT ON ledger_transfers
    REFERENCING NEW TABLE AS ledger_added_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_transfers_accounts()
    """,
    # What the foreign keys also did: keep a referenced account from vanishing
    # or changing currency; and more: an account's definition never changes
    # (a column trigger: the write path's UPDATE of the totals does not fire
    # it), so a row's accounts checked once stay right forever, and a balance
    # keeps its sign and its overdraft policy.
    f"""
    CREATE OR REPLACE FUNCTION ledger_accounts_fixed() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{_ACCOUNT_FIXED_MESSAGE}' USING ERRCODE = 'check_violation';
    END $$
    """,
    "DROP TRIGGER IF EXISTS ledger_accounts_fixed ON ledger_accounts",
    f"""
    CREATE TRIGGER ledger_accounts_fixed BEFORE UPDATE OF {_DEFINITION_LIST} OR DELETE
    ON ledger_accounts FOR EACH ROW EXECUTE FUNCTION ledger_accounts_fixed()
    """,
    "DROP TRIGGER IF EXISTS ledger_accounts_no_truncate ON ledger_accounts",
    """
    CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_accounts_fixed()
    """,
]

#: The guard DDL per dialect name, applied after the tables are created.
GUARD_DDL: Final[dict[str, list[str]]] = {
    "sqlite": _SQLITE_GUARDS,
    "postgresql": _POSTGRES_GUARDS,
}

# The recorded hashes of account definitions are written once, never changed.
_SQLITE_ACCOUNT_CHAIN_GUARDS = [
    f"""
    CREATE TRIGGER IF NOT EXISTS ledger_account_chain_immutable_u
    BEFORE UPDATE ON ledger_account_chain
    BEGIN SELECT RAISE(ABORT, '{_ACCOUNT_FIXED_MESSAGE}'); END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS ledger_account_chain_immutable_d
    BEFORE DELETE ON ledger_account_chain
    BEGIN SELECT RAISE(ABORT, '{_ACCOUNT_FIXED_MESSAGE}'); END
    """,
]

_POSTGRES_ACCOUNT_CHAIN_GUARDS = [
    # ledger_accounts_fixed() is created by _POSTGRES_GUARDS, applied first.
    "DROP TRIGGER IF EXISTS ledger_account_chain_immutable ON ledger_account_chain",
    """
    CREATE TRIGGER ledger_account_chain_immutable BEFORE UPDATE OR DELETE
    ON ledger_account_chain FOR EACH ROW EXECUTE FUNCTION ledger_accounts_fixed()
    """,
    "DROP TRIGGER IF EXISTS ledger_account_chain_no_truncate ON ledger_account_chain",
    """
    CREATE TRIGGER ledger_account_chain_no_truncate BEFORE TRUNCATE ON ledger_account_chain
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_accounts_fixed()
    """,
]

#: The guards of ``ledger_account_chain`` per dialect name (kernel revision
#: 0004), applied after :data:`GUARD_DDL`. Kept apart from it because revision
#: 0003 applies :data:`GUARD_DDL` to tenants that do not have this table yet.
ACCOUNT_CHAIN_GUARD_DDL: Final[dict[str, list[str]]] = {
    "sqlite": _SQLITE_ACCOUNT_CHAIN_GUARDS,
    "postgresql": _POSTGRES_ACCOUNT_CHAIN_GUARDS,
}


def install_ledger(conn: Connection) -> None:
    """Create the ledger's tables, guards and chain head (idempotent).

    Run inside the tenant's storage transaction (its schema is the current one).
    Migrations call this; tests may call it directly.
    """
    ledger_metadata.create_all(conn)
    dialect = conn.dialect.name
    for ddl in (*GUARD_DDL.get(dialect, []), *ACCOUNT_CHAIN_GUARD_DDL.get(dialect, [])):
        conn.exec_driver_sql(ddl)
    if conn.execute(select(chain.c.id)).first() is None:
        conn.execute(insert(chain).values(id=1, seq=0, hash=GENESIS, posted_at=None))
