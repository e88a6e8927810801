"""The ledger's hot statements, built once per database kind and shared by all its tenants.

Constructing a Core statement costs more than running it on SQLite, so the
statements the write path runs are module constants (SQLAlchemy applies a
tenant's schema to them through ``schema_translate_map``, as it does to any
Core statement).

Where the driver allows (``sqlite3``, ``psycopg``), the hottest go through
the DBAPI cursor instead, as driver SQL (:class:`DriverSql`): that skips
SQLAlchemy's per-row parameter processing; values are passed as SQLAlchemy
would have stored them. Its text is generated once per (dialect, driver):
for tables in no schema (SQLite's file per tenant), and with a placeholder
where a table's schema goes, which the store replaces, statement by
statement, with the schema the connection's ``schema_translate_map`` names
(as SQLAlchemy renders Core statements). So the cache holds one entry per
kind of database, shared by all its tenants; it never grows with them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    Select,
    SmallInteger,
    String,
    bindparam,
    func,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from finplug.ledger.rows import ACCOUNT_COLS, PLAIN_COLS, PLAIN_CONSTANTS, TRANSFER_COLS, StoredRow
from finplug.ledger.rules import POSTED
from finplug.ledger.schema import accounts, chain, transfers

__all__ = [
    "CORE_LOOKUPS",
    "FEW_ROWS",
    "HEADS",
    "MAX_POSTING_ACCOUNTS",
    "SCHEMA",
    "SELECT_HEAD",
    "SELECT_HEAD_FOR_SHARE",
    "SELECT_HEAD_FOR_UPDATE",
    "UPDATE_ACCOUNT",
    "UPDATE_HEAD",
    "DriverSql",
    "Lookup",
    "driver_sql",
    "open_holds",
    "pg_values",
    "select_postings",
]

#: Up to this many rows, PostgreSQL gets an INSERT: a COPY costs an extra round trip.
FEW_ROWS: Final = 8
#: At most this many accounts in one :func:`select_postings`: two members of a
#: compound SELECT each, and SQLite allows 500 members.
MAX_POSTING_ACCOUNTS: Final = 200
#: Where a table's schema goes in driver SQL text (replaced by :func:`driver_sql`'s prefix).
SCHEMA: Final = "\x00schema\x00."

# ---------------------------------------------------------------- Core

UPDATE_ACCOUNT: Final = (
    update(accounts)
    .where(accounts.c.id == bindparam("b_id"), accounts.c.version == bindparam("b_v"))
    .values(
        debits_posted=bindparam("b_dp"),
        credits_posted=bindparam("b_cp"),
        debits_pending=bindparam("b_dq"),
        credits_pending=bindparam("b_cq"),
        version=bindparam("b_v") + 1,
    )
)
UPDATE_HEAD: Final = (
    update(chain)
    .where(chain.c.id == 1)
    .values(seq=bindparam("h_seq"), hash=bindparam("h_hash"), posted_at=bindparam("h_at"))
)
SELECT_HEAD: Final = select(chain.c.seq, chain.c.hash, chain.c.posted_at).where(chain.c.id == 1)
SELECT_HEAD_FOR_UPDATE: Final = SELECT_HEAD.with_for_update()
SELECT_HEAD_FOR_SHARE: Final = SELECT_HEAD.with_for_update(read=True)
_VALUES: Final[BindParameter[Any]] = bindparam("values", expanding=True)
_debit_account = accounts.alias("debit_account")
_credit_account = accounts.alias("credit_account")
#: Entry heads: an entry's first row.
HEADS: Final = transfers.c.pair == 0

#: The reads by a list of values (see LedgerStore.fetch).
Lookup = Literal["keys", "codes", "rows", "resolved", "reversed"]
CORE_LOOKUPS: Final[dict[str, Any]] = {
    "keys": select(transfers.c.key, transfers.c.request_hash, transfers.c.seq).where(
        transfers.c.key.in_(_VALUES)
    ),
    "codes": select(*(accounts.c[c] for c in ACCOUNT_COLS)).where(accounts.c.code.in_(_VALUES)),
    "rows": select(
        *(transfers.c[c] for c in StoredRow._fields[:-2]),
        _debit_account.c.code.label("debit_code"),
        _credit_account.c.code.label("credit_code"),
    )
    .select_from(
        transfers.join(_debit_account, _debit_account.c.id == transfers.c.debit_id).join(
            _credit_account, _credit_account.c.id == transfers.c.credit_id
        )
    )
    .where(transfers.c.seq.in_(_VALUES))
    .order_by(transfers.c.seq, transfers.c.pair),
    "resolved": select(transfers.c.pending_seq).where(transfers.c.pending_seq.in_(_VALUES)),
    "reversed": select(transfers.c.reverses_seq).where(transfers.c.reverses_seq.in_(_VALUES)),
}


def open_holds(moment: datetime | None = None) -> Any:
    """Sequence numbers of unresolved holds (due at ``moment``, if given), in order."""
    t = transfers.c
    resolved = transfers.alias("resolved")
    # A literal, not a parameter: it lets both databases use the holds' partial index.
    query = select(t.seq).where(
        t.kind == literal_column("'pending'"),
        ~select(resolved.c.seq).where(resolved.c.pending_seq == t.seq).exists(),
    )
    if moment is not None:
        query = query.where(t.timeout_at.is_not(None), t.timeout_at <= moment)
    return query.order_by(t.seq)


def select_postings(
    dialect: str, ids: Sequence[int], after: int, until: datetime | None, limit: int
) -> Select[tuple[int, str, int, Any, str, str, str]]:
    """At most ``limit`` postings of accounts ``ids`` after entry ``after``, in one query.

    Each row: the entry's seq, the account's code, the sum of its posted
    rows' amounts on the account (debits positive, credits negative), and the
    entry's time, key, description and kind; by seq, then code.

    Whatever the accounts' history, it reads little more than what it
    returns. Each account's side is its own member of a ``UNION ALL``, an
    ordered range of the side's index (``debit_id, seq``), from ``after``
    on; both databases merge the members in ``seq`` order (SQLite's
    ``MERGE``, PostgreSQL's ``Merge Append``) and stop after ``limit``
    rows: the last of them bounds the page. The accounts' rows up to it are
    read again from the same ranges and summed per (entry, account), and
    the first ``limit`` sums kept: every entry up to the bound is whole,
    and its postings are about as many as those rows (fewer where an entry
    has several rows on an account, more where the LIMIT cut the last
    entry's). An ``OR`` of
    the two sides, or an ``IN`` list of accounts, could not be read in
    ``seq`` order from one index: it would read and sort every row of the
    accounts.

    ``until`` becomes a bound on ``seq``, the last entry written by then:
    entries' times never decrease along the chain (the write path stamps
    each with the later of the clock and the previous entry's time), so the
    entries written by then are exactly those up to it.
    """
    t = transfers.c
    posted: ColumnElement[int] = literal_column(str(POSTED))
    bound = None
    if until is not None:
        # The index on posted_at (SQLite's ends with the primary key, seq and
        # pair): the last entry by then, without reading the entries before it.
        last = transfers.alias("last_by_then")
        bound = (
            select(last.c.seq)
            .where(last.c.posted_at <= until)
            .order_by(last.c.posted_at.desc(), last.c.seq.desc())
            .limit(1)
            .scalar_subquery()
        )
    members: list[Select[tuple[int]]] = []
    for account_id in ids:
        for side in (t.debit_id, t.credit_id):
            member = select(t.seq).where(side == account_id, t.flow == posted, t.seq > after)
            if bound is not None:
                member = member.where(t.seq <= bound)
            if dialect != "sqlite":
                # Its own LIMIT bounds each member whatever the plan. (SQLite
                # would sort such a member, wrapped, before merging it.)
                first = member.order_by(t.seq).limit(limit).subquery()
                member = select(first.c.seq)
            members.append(member)
    firsts = union_all(*members).order_by(t.seq).limit(limit).subquery("firsts")
    # Computed once, used by both sides below.
    page_end = select(func.max(firsts.c.seq).label("seq")).cte("page_end")
    end = select(page_end.c.seq).scalar_subquery()
    moved = transfers.alias("moved")
    m = moved.c
    sides = [
        select(m.seq, side.label("account_id"), delta.label("delta")).where(
            side.in_(ids), m.flow == posted, m.seq > after, m.seq <= end
        )
        for side, delta in ((m.debit_id, m.amount), (m.credit_id, -m.amount))
    ]
    moves = union_all(*sides).subquery("moves")
    sums = (
        select(moves.c.seq, moves.c.account_id, func.sum(moves.c.delta).label("delta"))
        .group_by(moves.c.seq, moves.c.account_id)
        .subquery("sums")
    )
    head = transfers.alias("head")
    h = head.c
    query = (
        select(sums.c.seq, accounts.c.code, sums.c.delta, h.posted_at, h.key, h.description, h.kind)
        .join(head, (h.seq == sums.c.seq) & (h.pair == 0))
        .join(accounts, accounts.c.id == sums.c.account_id)
    )
    return query.order_by(sums.c.seq, accounts.c.code).limit(limit)


# ---------------------------------------------------------------- driver SQL


@dataclass(frozen=True, slots=True)
class DriverSql:
    """The write path's statements as driver SQL for one (dialect, driver).

    Built twice: for tables in no schema, and with :data:`SCHEMA` before each
    table's name, for the store to replace with a tenant's (see :func:`driver_sql`).
    """

    sqlite: bool
    insert_rows: str  # INSERT ... VALUES (one row)
    insert_plain: str | None  # SQLite: the same for a plain transfer's row, see PLAIN_COLS
    copy_rows: str | None  # PostgreSQL: COPY ... FROM STDIN (binary), for many rows
    copy_types: tuple[str, ...]  # the PostgreSQL types of TRANSFER_COLS, for binary COPY
    update_accounts: str
    update_account: str  # PostgreSQL: one account, for a pipeline of single writes
    select_head: str  # the chain head, locked on PostgreSQL
    update_head: str
    #: Per Lookup, the SQL for that many values (one array parameter on PostgreSQL).
    lookups: dict[str, Callable[[int], str]]


#: Per (dialect name, driver): the driver SQL for tables in no schema, and with
#: :data:`SCHEMA` before each table; None where the Core path must be used.
_DRIVER_SQL: dict[tuple[str, str], tuple[DriverSql, DriverSql] | None] = {}


def driver_sql(conn: Connection) -> tuple[DriverSql, str | None] | None:
    """The hot statements as driver SQL, and what replaces :data:`SCHEMA` in them.

    That is the quoted schema that ``conn``'s ``schema_translate_map`` maps
    the tables to, and a dot; None when the tables are in no schema (the
    statements then have no :data:`SCHEMA` to replace). None where the Core
    path must be used.
    """
    dialect = conn.dialect
    key = (dialect.name, dialect.driver)
    try:
        found = _DRIVER_SQL[key]
    except KeyError:
        bare = _build(dialect, "")
        found = None if bare is None else (bare, _build(dialect, SCHEMA) or bare)
        found = _DRIVER_SQL.setdefault(key, found)
    if found is None:
        return None
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(None)
    if not schema:
        return found[0], None
    return found[1], f"{dialect.identifier_preparer.quote_schema(schema)}."


def _build(dialect: Dialect, prefix: str) -> DriverSql | None:
    """The driver SQL for ``dialect``, each table's name after ``prefix``."""
    prep = dialect.identifier_preparer
    table = f"{prefix}{prep.quote(transfers.name)}"
    cols = ", ".join(prep.quote(c) for c in TRANSFER_COLS)
    ncols = len(TRANSFER_COLS)
    head_table = f"{prefix}{prep.quote(chain.name)}"
    head_select = f"SELECT seq, hash, posted_at FROM {head_table}"
    head_update = f"UPDATE {head_table} SET seq"
    accounts_table = f"{prefix}{prep.quote(accounts.name)}"
    account_cols = ", ".join(prep.quote(c) for c in ACCOUNT_COLS)
    stored_cols = ", ".join(f"t.{prep.quote(c)}" for c in StoredRow._fields[:-2])
    # Each lookup: the query up to "<column>", whether the column is unique, the
    # PostgreSQL array type of the values, and what follows the condition.
    lookups: dict[str, tuple[str, bool, str, str]] = {
        "keys": (f"SELECT key, request_hash, seq FROM {table} WHERE key", True, "text", ""),
        "codes": (f"SELECT {account_cols} FROM {accounts_table} WHERE code", True, "text", ""),
        "rows": (
            f"SELECT {stored_cols}, d.code AS debit_code, c.code AS credit_code FROM {table} AS t"
            f" JOIN {accounts_table} AS d ON d.id = t.debit_id"
            f" JOIN {accounts_table} AS c ON c.id = t.credit_id WHERE t.seq",
            False,
            "bigint",
            " ORDER BY seq, pair",
        ),
        "resolved": (f"SELECT pending_seq FROM {table} WHERE pending_seq", True, "bigint", ""),
        "reversed": (f"SELECT reverses_seq FROM {table} WHERE reverses_seq", True, "bigint", ""),
    }
    if dialect.name == "sqlite" and dialect.paramstyle == "qmark":
        marks = ", ".join("?" * ncols)

        def in_list(query: str, after: str) -> Callable[[int], str]:
            return lambda count: f"{query} IN ({', '.join('?' * count)}){after}"

        plain_cols = ", ".join(prep.quote(c) for c in (*PLAIN_COLS, *PLAIN_CONSTANTS))
        plain_values = ", ".join(["?"] * len(PLAIN_COLS) + list(PLAIN_CONSTANTS.values()))
        return DriverSql(
            sqlite=True,
            insert_rows=f"INSERT INTO {table} ({cols}) VALUES ({marks})",
            insert_plain=f"INSERT INTO {table} ({plain_cols}) VALUES ({plain_values})",
            copy_rows=None,
            copy_types=(),
            update_accounts=(
                f"UPDATE {accounts_table} SET debits_posted = ?,"
                " credits_posted = ?, debits_pending = ?, credits_pending = ?,"
                " version = version + 1 WHERE id = ? AND version = ?"
            ),
            update_account="",
            select_head=f"{head_select} WHERE id = 1",
            update_head=f"{head_update} = ?, hash = ?, posted_at = ? WHERE id = 1",
            lookups={name: in_list(query, after) for name, (query, _, _, after) in lookups.items()},
        )
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        return DriverSql(
            sqlite=False,
            insert_rows=f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * ncols)})",
            insert_plain=None,
            copy_rows=f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)",
            copy_types=tuple(_PG_TYPES[type(transfers.c[c].type)] for c in TRANSFER_COLS),
            # Arrays go as binary parameters (%b): psycopg encodes a list for the
            # text format value by value (~5 ms for a batch's six lists of ~900).
            update_accounts=(
                f"UPDATE {accounts_table} AS a SET debits_posted = v.dp,"
                " credits_posted = v.cp, debits_pending = v.dq, credits_pending = v.cq,"
                " version = a.version + 1"
                " FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[],"
                " %b::int[], %b::int[]) AS v(dp, cp, dq, cq, id, version)"
                " WHERE a.id = v.id AND a.version = v.version"
            ),
            update_account=(
                f"UPDATE {accounts_table} SET debits_posted = %s,"
                " credits_posted = %s, debits_pending = %s, credits_pending = %s,"
                " version = version + 1 WHERE id = %s AND version = %s"
            ),
            select_head=f"{head_select} WHERE id = 1 FOR UPDATE",
            update_head=f"{head_update} = %s, hash = %s, posted_at = %s WHERE id = 1",
            lookups={
                name: _probe(query, unique, array, after)
                for name, (query, unique, array, after) in lookups.items()
            },
        )
    return None


#: PostgreSQL type names of the transfer columns' types, for binary COPY (which
#: sends each value in its column's own binary format: ~2 us less per row to
#: encode than text).
_PG_TYPES: Final[dict[type, str]] = {
    BigInteger: "int8",
    SmallInteger: "int2",
    Integer: "int4",
    String: "varchar",
    LargeBinary: "bytea",
    DateTime: "timestamptz",
}


def pg_values(values: Sequence[Any]) -> tuple[Any]:
    """The parameter of a PostgreSQL lookup (see :func:`_probe`): one value, or a list."""
    return (values[0],) if len(values) == 1 else (list(values),)


def _probe(query: str, unique: bool, array: str, after: str) -> Callable[[int], str]:
    """PostgreSQL: ``query``'s rows whose column is one of a list.

    ``column = ANY(list)`` leaves the plan to the statistics: a table that grew
    since it was last analysed (a new tenant's, within its first minutes) is
    scanned whole for every batch. A ``LATERAL`` subquery with ``LIMIT 1`` (a
    unique column) or ``OFFSET 0`` cannot be flattened into a join, so each
    value is one lookup in the column's index whatever the statistics say. The
    list is a binary parameter (see ``update_accounts``).
    """
    limit = "LIMIT 1" if unique else "OFFSET 0"
    many = (
        f"SELECT f.* FROM unnest(%b::{array}[]) AS v(value)"
        f" CROSS JOIN LATERAL ({query} = v.value {limit}) AS f{after}"
    )
    # One value or a few (single writes): quicker to plan, and an index lookup
    # on any table big enough for it to matter, whatever its statistics.
    one = f"{query} = %s{after}"
    few = f"{query} = ANY(%s::{array}[]){after}"
    return lambda count: one if count == 1 else few if count <= FEW_ROWS else many
