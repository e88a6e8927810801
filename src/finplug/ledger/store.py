"""The ledger's SQL: every read and write it makes, on one connection, in its transaction.

:class:`LedgerStore` runs the statements of :mod:`finplug.ledger.statements`:
through the DBAPI cursor where there is driver SQL (SQLAlchemy's result rows
cost more than the query on SQLite; driver errors still surface as
SQLAlchemy's), through Core otherwise. On PostgreSQL, a few short statements
go to the server together in psycopg's pipeline, one round trip, run in
order (each with the snapshot taken when it starts, as one by one).

It neither decides nor checks anything: :mod:`finplug.ledger.rules` and
:mod:`finplug.ledger.rows` say what to read and what to write.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, func, insert, select

from finplug._fastsql import driver_cursor
from finplug._money import Currency, currency
from finplug._text import shorten
from finplug.ledger.chain import GENESIS, definition_hash
from finplug.ledger.errors import AccountNotFoundError, LedgerError
from finplug.ledger.rows import TRANSFER_COLS, Encoded, entries_of, sqlite_datetime, stored_time
from finplug.ledger.rules import AccountState, Op
from finplug.ledger.schema import account_chain, accounts, chain, transfers
from finplug.ledger.statements import (
    CORE_LOOKUPS,
    FEW_ROWS,
    HEADS,
    SCHEMA,
    SELECT_HEAD,
    SELECT_HEAD_FOR_SHARE,
    SELECT_HEAD_FOR_UPDATE,
    UPDATE_ACCOUNT,
    UPDATE_HEAD,
    DriverSql,
    Lookup,
    driver_sql,
    open_holds,
    pg_values,
    select_postings,
)
from finplug.ledger.values import Entry

__all__ = ["Head", "LedgerStore", "record_account_definitions"]

#: At most this many values in one SQL ``IN`` list.
_IN_CHUNK: Final = 500
#: An account code longer than this cannot be stored (see checks.MAX_CODE).
_MAX_CODE: Final = 128

#: The chain head: the last entry's sequence number, its hash and its time.
Head = tuple[int, bytes, datetime | None]


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def _head_of(row: Sequence[Any] | None) -> Head:
    """The chain head's row as (sequence number, hash, time)."""
    if row is None:
        raise LedgerError("the ledger is not installed in this tenant's storage")
    seq, digest, at = row
    return seq, bytes(digest), None if at is None else stored_time(at)


def _account_updates(dirty: list[AccountState]) -> list[tuple[int, ...]]:
    """The parameters of one-account updates: the new totals, then the id and old version."""
    return [
        (a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending, a.id, a.version)
        for a in dirty
    ]


def _stale() -> LedgerError:
    return LedgerError("an account changed concurrently; the request was not applied")


class LedgerStore:
    """The ledger's reads and writes on ``conn``, in the transaction the caller framed."""

    __slots__ = ("_prefix", "_raw", "conn")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        found = driver_sql(conn)
        self._raw: DriverSql | None = None if found is None else found[0]
        self._prefix: str | None = None if found is None else found[1]

    def _sql(self, text: str) -> str:
        """Driver SQL with the tenant's schema in place (see :func:`driver_sql`)."""
        prefix = self._prefix
        return text if prefix is None else text.replace(SCHEMA, prefix)

    @property
    def as_text(self) -> bool:
        """True when times are written as SQLite's text (through the driver)."""
        raw = self._raw
        return raw is not None and raw.sqlite

    @property
    def plain(self) -> bool:
        """True when plain transfers' rows are written apart (see ``PLAIN_COLS``)."""
        raw = self._raw
        return raw is not None and raw.insert_plain is not None

    @property
    def pipelined(self) -> bool:
        """True where a few statements can share one round trip (psycopg's pipeline)."""
        raw = self._raw
        return raw is not None and not raw.sqlite

    # -- the chain head ---------------------------------------------------

    def lock_head(self) -> Head:
        """The chain head, locked until the transaction ends.

        PostgreSQL locks the row; on SQLite the transaction holds the write lock.
        """
        raw = self._raw
        row: Any
        if raw is None:
            postgres = self.conn.dialect.name == "postgresql"
            row = self.conn.execute(SELECT_HEAD_FOR_UPDATE if postgres else SELECT_HEAD).first()
        else:
            with driver_cursor(self.conn) as cursor:
                cursor.execute(self._sql(raw.select_head))
                row = cursor.fetchone()
        return _head_of(row)

    def read_pipelined(
        self, keys: list[str], codes: list[str] | None
    ) -> tuple[Head, list[Any], list[Any] | None]:
        """PostgreSQL, a few requests: lock the head, read the keys (and ``codes``'s accounts).

        One round trip for what :meth:`lock_head` and two :meth:`fetch` calls
        would send one by one. The server runs the statements in order, so the
        keys and accounts are read after the head's lock is held, as before.
        """
        raw = self._raw
        assert raw is not None
        with driver_cursor(self.conn) as cursor:
            driver = cursor.connection
            known = driver.cursor()
            found = driver.cursor() if codes else None
            try:
                with driver.pipeline():
                    cursor.execute(self._sql(raw.select_head))
                    known.execute(self._sql(raw.lookups["keys"](len(keys))), pg_values(keys))
                    if found is not None and codes:
                        lookup = raw.lookups["codes"](len(codes))
                        found.execute(self._sql(lookup), pg_values(codes))
                head = _head_of(cursor.fetchone())
                return head, known.fetchall(), None if found is None else found.fetchall()
            finally:
                known.close()
                if found is not None:
                    found.close()

    # -- reads by lists of values ----------------------------------------

    def fetch(self, name: Lookup, values: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows whose column matches one of ``values``: a hot read, as plain tuples.

        Sorted ``values`` give the ``rows`` lookup's rows in (seq, pair) order.
        """
        raw = self._raw
        if raw is None:
            core = CORE_LOOKUPS[name]
            found: list[tuple[Any, ...]] = []
            for chunk in _chunks(values):
                found.extend(tuple(r) for r in self.conn.execute(core, {"values": list(chunk)}))
            return found
        sql = raw.lookups[name]
        with driver_cursor(self.conn) as cursor:
            if not raw.sqlite:
                cursor.execute(self._sql(sql(len(values))), pg_values(values))
                return list(cursor.fetchall())
            found = []
            for chunk in _chunks(values):
                cursor.execute(self._sql(sql(len(chunk))), tuple(chunk))
                found.extend(cursor.fetchall())
            return found

    def fetch_together(self, wanted: list[tuple[Lookup, list[Any]]]) -> list[list[Any]]:
        """Several :meth:`fetch` lookups (none for an empty list): the rows of each.

        PostgreSQL runs two or more short ones in one round trip.
        """
        raw = self._raw
        out: list[list[Any]] = [[] for _ in wanted]
        todo = [(i, name, values) for i, (name, values) in enumerate(wanted) if values]
        if (
            raw is None
            or raw.sqlite
            or len(todo) < 2
            or any(len(values) > FEW_ROWS for _, _, values in todo)
        ):
            for i, name, values in todo:
                out[i] = self.fetch(name, values)
            return out
        with driver_cursor(self.conn) as cursor:
            driver = cursor.connection
            cursors = [driver.cursor() for _ in todo]
            try:
                with driver.pipeline():
                    for each, (_, name, values) in zip(cursors, todo, strict=True):
                        each.execute(self._sql(raw.lookups[name](len(values))), pg_values(values))
                for each, (i, _, _) in zip(cursors, todo, strict=True):
                    out[i] = each.fetchall()
            finally:
                for each in cursors:
                    each.close()
        return out

    def references(self, ops: Sequence[Op]) -> tuple[dict[int, Entry], set[int], set[int]]:
        """What ``ops`` refer to: the entries, the holds resolved, the entries reversed."""
        others = [op for op in ops if op.kind != "posted"]
        refs = sorted({op.pending_seq or op.reverses_seq or 0 for op in others} - {0})
        holds = sorted({op.pending_seq for op in others if op.pending_seq is not None})
        targets = sorted({op.reverses_seq for op in others if op.reverses_seq is not None})
        ref_rows, resolved_rows, reversed_rows = self.fetch_together(
            [("rows", refs), ("resolved", holds), ("reversed", targets)]
        )
        resolved = {r[0] for r in resolved_rows}
        return entries_of(ref_rows), resolved, {r[0] for r in reversed_rows}

    def account_states(
        self, codes: list[str], rows: list[Any] | None = None
    ) -> dict[str, AccountState]:
        """The accounts of ``codes`` (sorted) by code; ``rows``: already read, if not None.

        :class:`AccountNotFoundError` for the first code no account has.
        """
        for code in codes:
            if "\x00" in code:  # no account has one; PostgreSQL would refuse the query
                raise AccountNotFoundError(f"no account {shorten(code)}")
        if rows is None:
            rows = self.fetch("codes", codes)
        state: dict[str, AccountState] = {}
        currencies: dict[str, Currency] = {}
        for row in rows:
            cur = currencies.get(row[2])
            if cur is None:
                cur = currencies[row[2]] = currency(row[2])
            state[row[1]] = AccountState(row, cur)
        missing = [c for c in codes if c not in state]
        if missing:
            raise AccountNotFoundError(f"no account {shorten(missing[0])}")
        return state

    def load_entries(self, seqs: Sequence[int]) -> dict[int, Entry]:
        """The entries of ``seqs``, by sequence number (those that exist)."""
        if not seqs:
            return {}
        return entries_of(self.fetch("rows", sorted(set(seqs))))

    # -- the write --------------------------------------------------------

    def write(self, state: dict[str, AccountState], batch: Encoded, moment: datetime) -> None:
        """Write a batch: accounts first (a stale version refuses it), rows, then the head."""
        conn = self.conn
        raw = self._raw
        rows, plain, seq, head_hash = batch.rows, batch.plain, batch.seq, batch.hash
        dirty = [a for a in state.values() if a.dirty]
        if raw is None:
            result = conn.execute(
                UPDATE_ACCOUNT,
                [
                    {
                        "b_id": a.id,
                        "b_v": a.version,
                        "b_dp": a.debits_posted,
                        "b_cp": a.credits_posted,
                        "b_dq": a.debits_pending,
                        "b_cq": a.credits_pending,
                    }
                    for a in dirty
                ],
            )
            if result.rowcount != len(dirty):
                raise _stale()
            conn.execute(
                insert(transfers), [dict(zip(TRANSFER_COLS, r, strict=True)) for r in rows]
            )
            conn.execute(UPDATE_HEAD, {"h_seq": seq, "h_hash": head_hash, "h_at": moment})
            return
        sql = self._sql
        with driver_cursor(conn) as cursor:
            if raw.sqlite:
                cursor.executemany(sql(raw.update_accounts), _account_updates(dirty))
            elif len(rows) <= FEW_ROWS:
                self._write_pipelined(cursor, raw, dirty, rows, seq, head_hash, moment)
                return
            else:
                cursor.execute(
                    sql(raw.update_accounts),
                    (
                        [a.debits_posted for a in dirty],
                        [a.credits_posted for a in dirty],
                        [a.debits_pending for a in dirty],
                        [a.credits_pending for a in dirty],
                        [a.id for a in dirty],
                        [a.version for a in dirty],
                    ),
                )
            if cursor.rowcount != len(dirty):
                raise _stale()
            if raw.copy_rows is not None and len(rows) > FEW_ROWS:
                # COPY: the fastest way into PostgreSQL; constraints and triggers apply.
                with cursor.copy(sql(raw.copy_rows)) as copy:
                    copy.set_types(raw.copy_types)
                    for row in rows:
                        copy.write_row(row)
            elif len(rows) == 1:
                cursor.execute(sql(raw.insert_rows), rows[0])
            elif rows:
                cursor.executemany(sql(raw.insert_rows), rows)
            if plain:
                assert raw.insert_plain is not None
                if len(plain) == 1:
                    cursor.execute(sql(raw.insert_plain), plain[0])
                else:
                    cursor.executemany(sql(raw.insert_plain), plain)
            if raw.sqlite:
                cursor.execute(sql(raw.update_head), (seq, head_hash, sqlite_datetime(moment)))
            else:
                cursor.execute(sql(raw.update_head), (seq, head_hash, moment))

    def _write_pipelined(
        self,
        cursor: Any,
        raw: DriverSql,
        dirty: list[AccountState],
        rows: list[tuple[Any, ...]],
        seq: int,
        head_hash: bytes,
        moment: datetime,
    ) -> None:
        """PostgreSQL, a few rows (single writes): every statement in one round trip.

        The account updates' version check is read when the results are in: a
        stale version raises then, and the transaction (or savepoint) the
        statements ran in is rolled back with everything they wrote.
        """
        updated = cursor.connection.cursor()
        try:
            with cursor.connection.pipeline():
                updated.executemany(self._sql(raw.update_account), _account_updates(dirty))
                cursor.executemany(self._sql(raw.insert_rows), rows)
                cursor.execute(self._sql(raw.update_head), (seq, head_hash, moment))
            if updated.rowcount != len(dirty):
                raise _stale()
        finally:
            updated.close()

    # -- accounts ---------------------------------------------------------

    def account_row(self, code: str) -> Any:
        """The ``ledger_accounts`` row of ``code``; :class:`AccountNotFoundError` if none."""
        row = None
        # No account has a NUL (PostgreSQL would refuse the query) or is longer.
        if "\x00" not in code and len(code) <= _MAX_CODE:
            row = self.conn.execute(select(accounts).where(accounts.c.code == code)).first()
        if row is None:
            raise AccountNotFoundError(f"no account {shorten(code)}")
        return row

    def find_account(self, code: str) -> Any:
        """The ``ledger_accounts`` row of ``code`` (a valid code), or None."""
        return self.conn.execute(select(accounts).where(accounts.c.code == code)).first()

    def add_account(self, values: dict[str, Any]) -> Any:
        """Insert an account and record its definition's hash, chained; its row as stored."""
        self.conn.execute(insert(accounts).values(**values))
        # The definition as stored (and as verify reads it) is what is hashed.
        row = self.account_row(values["code"])
        digest = definition_hash(self.last_definition_hash(), row)
        self.conn.execute(insert(account_chain).values(account_id=row.id, hash=digest))
        return row

    def last_definition_hash(self) -> bytes:
        """The last recorded definition hash (:data:`GENESIS` when there is none)."""
        last = self.conn.execute(
            select(account_chain.c.hash).order_by(account_chain.c.account_id.desc()).limit(1)
        ).scalar()
        return GENESIS if last is None else bytes(last)

    def account_rows(self, order: str = "code") -> list[Any]:
        """Every ``ledger_accounts`` row, by ``code`` or by ``id``."""
        return list(self.conn.execute(select(accounts).order_by(accounts.c[order])))

    def recorded_definitions(self) -> dict[int, bytes]:
        """The recorded definition hashes, by account id."""
        return {
            account_id: bytes(digest)
            for account_id, digest in self.conn.execute(
                select(account_chain.c.account_id, account_chain.c.hash)
            )
        }

    # -- other reads ------------------------------------------------------

    def entry_seqs(self, after: int, limit: int) -> list[int]:
        """Sequence numbers of at most ``limit`` entries after ``after``, in order."""
        query = select(transfers.c.seq).where(HEADS, transfers.c.seq > after)
        found = self.conn.execute(query.order_by(transfers.c.seq).limit(limit))
        return list(found.scalars().all())

    def hold_seqs(self, due: datetime | None = None) -> list[int]:
        """Sequence numbers of the open holds (whose timeout is at or before ``due``, if given)."""
        return list(self.conn.execute(open_holds(due)).scalars().all())

    def totals_as_of(self, account_id: int, as_of: datetime) -> tuple[int, int, int] | None:
        """An account's net posted, debits and credits pending after the last entry by ``as_of``.

        None when it has no row by then.
        """
        t = transfers.c
        last_seq = self.conn.execute(select(func.max(t.seq)).where(t.posted_at <= as_of)).scalar()
        found: tuple[int, int, int, int, int] | None = None
        if last_seq is not None:
            # The account's last row on either side (each side has its index).
            for side in ("debit", "credit"):
                last = self.conn.execute(
                    select(
                        t.seq,
                        t.pair,
                        t[f"{side}_posted_after"],
                        t[f"{side}_dpending_after"],
                        t[f"{side}_cpending_after"],
                    )
                    .where(t[f"{side}_id"] == account_id, t.seq <= last_seq)
                    .order_by(t.seq.desc(), t.pair.desc())
                    .limit(1)
                ).first()
                if last is not None and (found is None or tuple(last[:2]) > found[:2]):
                    found = (last[0], last[1], last[2], last[3], last[4])
        return None if found is None else found[2:]

    def postings(
        self, ids: Sequence[int], after: int, until: datetime | None, limit: int
    ) -> list[Any]:
        """The rows of :func:`~finplug.ledger.statements.select_postings`, in its order."""
        query = select_postings(self.conn.dialect.name, ids, after, until, limit)
        return list(self.conn.execute(query))

    def lock_head_shared(self) -> None:
        """PostgreSQL: share-lock the chain head (writers wait); SQLite holds the write lock."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(SELECT_HEAD_FOR_SHARE)

    def transfer_rows(self) -> Any:
        """Every transfer row, in (seq, pair) order."""
        return self.conn.execute(select(transfers).order_by(transfers.c.seq, transfers.c.pair))

    def head_row(self) -> Any:
        """The chain head's row (seq, hash), or None."""
        return self.conn.execute(select(chain.c.seq, chain.c.hash)).first()


def record_account_definitions(conn: Connection) -> int:
    """Record the hash of every account definition not recorded yet; how many were.

    In account order, each chained to the previous recorded hash, as
    :meth:`LedgerSession.open_account` records a new one. Kernel revision
    0004 runs it once, for the accounts opened before definitions were
    recorded: it trusts them as they are then (verify the books before
    upgrading). Nothing else should: an account that shows up unrecorded
    later was not opened through the ledger, and :meth:`Ledger.verify`
    reports it.
    """
    store = LedgerStore(conn)
    recorded = store.recorded_definitions()
    prev = GENESIS
    added = 0
    for row in store.account_rows("id"):
        digest = recorded.get(row.id)
        if digest is None:
            digest = definition_hash(prev, row)
            conn.execute(insert(account_chain).values(account_id=row.id, hash=digest))
            added += 1
        prev = digest
    return added
