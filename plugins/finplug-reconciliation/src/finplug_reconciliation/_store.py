"""Reading and writing the reconciliation tables: statements, taken items, matches, breaks, audit.

Functions over one connection (the caller's unit of work): nothing here
commits. Ids are derived from content where a rerun must find the same
thing again: a statement's id is its fingerprint, a break's id is a digest
of its account, class and items.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import polars as pl
from sqlalchemy import Connection, and_, delete, insert, select, update

from finplug import FastSQL, Money, as_utc, currency
from finplug.sockets.reconciliation import (
    AuditRecord,
    Break,
    BreakClass,
    BreakStatus,
    Match,
    MatchSide,
    ReconciliationNotFoundError,
    Statement,
    StatementLine,
)
from finplug_reconciliation._bulk import (
    bulk_driver,
    driver_cursor,
    driver_table,
    roomy_cache,
    write_columns,
)
from finplug_reconciliation._schema import (
    audit,
    break_items,
    breaks,
    decode_items,
    encode_items,
    matched_items,
    matches,
    statement_lines,
    statements,
)
from finplug_reconciliation.matching import Match as FoundMatch

__all__ = [
    "Item",
    "MatchBatch",
    "MatchPart",
    "MatchRow",
    "add_audit",
    "audit_records",
    "break_id",
    "fingerprint",
    "live_run_matches",
    "load_break",
    "load_breaks",
    "load_match",
    "load_statement",
    "run_match_ids",
    "save_match",
    "save_matches",
    "save_statement",
    "taken",
]

#: Rows per ``IN`` list.
_CHUNK: Final = 500
#: Ids per probe of :func:`taken` through the driver (SQLite allows 32,766 parameters).
_PROBE: Final = 5_000


@dataclass(frozen=True, slots=True)
class Item:
    """One item of a match or a break: its side, id, signed amount (minor units) and day."""

    side: MatchSide
    id: str
    amount: int
    on: date


def _digest(*parts: object) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(statement: Statement) -> str:
    """A statement's id: a digest of what it says, not of the file's bytes or format.

    The same statement imported twice (again, renamed, or re-encoded) has
    the same fingerprint.
    """
    head = (
        statement.account,
        statement.currency,
        statement.number,
        statement.opened_on,
        statement.closed_on,
        None if statement.opening is None else statement.opening.minor_units,
        None if statement.closing is None else statement.closing.minor_units,
    )
    body = [
        (
            line.booked_on,
            line.value_date,
            line.amount.minor_units,
            line.reference,
            line.bank_reference,
            line.description,
            line.counterparty,
            line.counterparty_account,
            line.kind,
        )
        for line in statement.lines
    ]
    return _digest(*head, *(_digest(*row) for row in body))[:40]


def save_statement(
    conn: Connection, account: str, ident: str, statement: Statement, now: datetime
) -> bool:
    """Write a statement and its lines under ``ident``; ``False`` if it is there already."""
    fast = FastSQL.of(conn)
    row = {
        "id": ident,
        "account": account,
        "statement_account": statement.account[:128],
        "currency": statement.currency,
        "format": statement.format[:64],
        "source": statement.source[:255],
        "number": statement.number[:128],
        "opened_on": statement.opened_on,
        "closed_on": statement.closed_on,
        "opening": None if statement.opening is None else statement.opening.minor_units,
        "closing": None if statement.closing is None else statement.closing.minor_units,
        "problems": json.dumps(list(statement.problems)),
        "imported_at": now,
    }
    if not fast.insert_new(conn, statements, row, ("id",)):
        return False
    lines = [
        {
            "id": f"{ident}:{line.index}",
            "statement_id": ident,
            "account": account,
            "line_index": line.index,
            "booked_on": line.booked_on,
            "value_date": line.value_date,
            "amount": line.amount.minor_units,
            "currency": line.amount.currency.code,
            "reference": line.reference[:255],
            "bank_reference": line.bank_reference[:255],
            "description": line.description,
            "counterparty": line.counterparty[:255],
            "counterparty_account": line.counterparty_account[:64],
            "kind": line.kind[:64],
            "source_line": line.source_line,
        }
        for line in statement.lines
    ]
    if lines:
        conn.execute(insert(statement_lines), lines)
    return True


def load_statement(conn: Connection, ident: str) -> Statement:
    """An imported statement with its lines."""
    row = conn.execute(select(statements).where(statements.c.id == ident)).first()
    if row is None:
        raise ReconciliationNotFoundError(f"no statement {ident!r}")
    cur = currency(row.currency)
    found = conn.execute(
        select(statement_lines)
        .where(statement_lines.c.statement_id == ident)
        .order_by(statement_lines.c.line_index)
    )
    lines = tuple(
        StatementLine(
            index=line.line_index,
            booked_on=line.booked_on,
            amount=Money.from_minor(line.amount, line.currency),
            value_date=line.value_date,
            reference=line.reference,
            bank_reference=line.bank_reference,
            description=line.description,
            counterparty=line.counterparty,
            counterparty_account=line.counterparty_account,
            kind=line.kind,
            source_line=line.source_line,
        )
        for line in found
    )
    return Statement(
        format=row.format,
        source=row.source,
        account=row.statement_account,
        currency=row.currency,
        number=row.number,
        lines=lines,
        opened_on=row.opened_on,
        closed_on=row.closed_on,
        opening=None if row.opening is None else Money.from_minor(row.opening, cur),
        closing=None if row.closing is None else Money.from_minor(row.closing, cur),
        problems=tuple(json.loads(row.problems)),
        id=row.id,
    )


def taken(conn: Connection, side: MatchSide, ids: Iterable[str]) -> dict[str, str]:
    """Which of ``ids`` (items of ``side``) are taken, and by which live match.

    Probes the primary key of ``recon_matched_items`` a chunk of ids at a
    time (an ``IN`` list on SQLite, ``= ANY`` of an array on PostgreSQL),
    so a million items cost a million index lookups, whatever the table holds.
    """
    wanted = list(ids)
    found: dict[str, str] = {}
    driver = bulk_driver(conn)
    c = matched_items.c
    if driver is None:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            query = select(c.item, c.match_id).where(c.side == side.value, c.item.in_(chunk))
            found.update((item, match) for item, match in conn.execute(query))
        return found
    table = driver_table(conn, matched_items)
    with driver_cursor(conn) as cursor:
        for start in range(0, len(wanted), _PROBE):
            chunk = wanted[start : start + _PROBE]
            if driver == "sqlite":
                marks = ", ".join("?" * len(chunk))
                sql = f"SELECT item, match_id FROM {table} WHERE side = ? AND item IN ({marks})"
                cursor.execute(sql, (side.value, *chunk))
            else:
                sql = f"SELECT item, match_id FROM {table} WHERE side = %s AND item = ANY(%s)"
                cursor.execute(sql, (side.value, chunk))
            found.update(cursor.fetchall())
    return found


def save_match(
    conn: Connection,
    *,
    ident: str,
    account: str,
    run_id: str | None,
    rule: str,
    score: int,
    code: str,
    items: Sequence[Item],
    created_by: str,
    now: datetime,
) -> None:
    """Write a live match and take its items (an item already taken: IntegrityError)."""
    statement_total = sum(i.amount for i in items if i.side is MatchSide.STATEMENT)
    ledger_total = sum(i.amount for i in items if i.side is MatchSide.LEDGER)
    save_matches(
        conn,
        [(ident, run_id, rule, score, statement_total, ledger_total, items)],
        account=account,
        code=code,
        created_by=created_by,
        now=now,
    )


def run_match_ids(run_id: str, count: int, start: int = 0, stop: int | None = None) -> list[str]:
    """The ids of matches ``start`` to ``stop`` of the ``count`` a run made.

    ``mat_<the run's hex>_<n>``, ``n`` zero-padded to one width per run: the
    ids sort as the matches were found, so the primary key grows at one end,
    and a run's matches are found from the run alone (no index on
    ``run_id``: a run writes a million of them).
    """
    width = len(str(max(count - 1, 0)))
    prefix = f"mat_{run_id.removeprefix('run_')}_"
    return [f"{prefix}{n:0{width}d}" for n in range(start, count if stop is None else stop)]


#: One match to write: id, run, rule, score, statement total, ledger total, items.
MatchRow = tuple[str, str | None, str, int, int, int, Sequence[Item]]


#: One part of a :class:`MatchBatch`: its matches' columns, and their items' columns.
MatchPart = tuple[dict[str, Sequence[Any]], dict[str, Sequence[Any] | pl.Series]]
#: Matches per part: what is built and written at a time.
_PART: Final = 100_000
#: The columns of ``recon_matched_items`` a batch writes.
_TAKEN_SCHEMA: Final = {"side": pl.Utf8, "item": pl.Utf8, "match_id": pl.Utf8}


class MatchBatch:
    """Matches to write at once, built in columns a part at a time (:func:`save_matches`).

    A part holds a value per match in each of ``id``, ``run_id``, ``rule``,
    ``score``, ``statement_total``, ``ledger_total``, ``statement_items``
    and ``ledger_items`` (or ``run_id`` is one of :attr:`constants`), and a
    value per item taken in each of ``side``, ``item`` and ``match_id``.
    """

    def __init__(
        self,
        count: int,
        parts: Callable[[], Iterator[MatchPart]],
        constants: dict[str, object] | None = None,
    ) -> None:
        self.count = count
        """How many matches."""
        self.parts = parts
        """The parts, in order, built as they are asked for."""
        self.constants: dict[str, object] = constants or {}
        """Columns of the matches with one value for all of them."""

    @classmethod
    def of_rows(cls, rows: Iterable[MatchRow]) -> MatchBatch:
        """The batch of ``rows``, in one part."""
        heads: list[tuple[Any, ...]] = []
        items: list[Item] = []
        owners: list[str] = []
        for ident, run_id, rule, score, statement_total, ledger_total, members in rows:
            listed = [
                encode_items([i.id for i in members if i.side is side])
                for side in (MatchSide.STATEMENT, MatchSide.LEDGER)
            ]
            heads.append((ident, run_id, rule, score, statement_total, ledger_total, *listed))
            items += members
            owners += [ident] * len(members)
        names = (
            "id",
            "run_id",
            "rule",
            "score",
            "statement_total",
            "ledger_total",
            "statement_items",
            "ledger_items",
        )
        columns = list(zip(*heads, strict=True)) if heads else [() for _ in names]
        part: MatchPart = (
            dict(zip(names, columns, strict=True)),
            {
                "side": [i.side.value for i in items],
                "item": [i.id for i in items],
                "match_id": owners,
            },
        )
        return cls(len(heads), lambda: iter([part]))

    @classmethod
    def of_result(cls, found: Sequence[FoundMatch], run_id: str) -> MatchBatch:
        """The matches a run found, with the ids :func:`run_match_ids` gives, in order."""

        def parts() -> Iterator[MatchPart]:
            for start in range(0, len(found), _PART):
                some = found[start : start + _PART]
                ids = run_match_ids(run_id, len(found), start, start + len(some))
                heads: dict[str, Sequence[Any]] = {
                    "id": ids,
                    "rule": [m.rule for m in some],
                    "score": [m.score for m in some],
                    "statement_total": [m.statement_total for m in some],
                    "ledger_total": [m.ledger_total for m in some],
                    "statement_items": [encode_items(m.statement_ids) for m in some],
                    "ledger_items": [encode_items(m.ledger_ids) for m in some],
                }
                side_of: list[str] = []
                items: list[str] = []
                owners: list[str] = []
                for side, chosen in (
                    (MatchSide.STATEMENT, [m.statement_ids for m in some]),
                    (MatchSide.LEDGER, [m.ledger_ids for m in some]),
                ):
                    flat = list(itertools.chain.from_iterable(chosen))
                    side_of += [side.value] * len(flat)
                    items += flat
                    if len(flat) == len(chosen):  # one item each: one_to_one, the usual
                        owners += ids
                    else:
                        owners += [i for i, of in zip(ids, chosen, strict=True) for _ in of]
                yield heads, {"side": side_of, "item": items, "match_id": owners}

        return cls(len(found), parts, {"run_id": run_id})


def save_matches(
    conn: Connection,
    rows: Iterable[MatchRow] | MatchBatch,
    *,
    account: str,
    code: str,
    created_by: str,
    now: datetime,
) -> int:
    """Write many live matches at once and take their items; how many matches.

    In bulk on the drivers finplug's storage runs on: ``executemany`` on
    the driver's cursor (SQLite), ``COPY`` (psycopg); Core statements on
    others. An item already taken is an ``IntegrityError`` (the primary key
    of ``recon_matched_items``), whatever the driver.
    """
    batch = rows if isinstance(rows, MatchBatch) else MatchBatch.of_rows(rows)
    if not batch.count:
        return 0
    every = {
        **batch.constants,
        "account": account,
        "currency": code,
        "created_by": created_by,
        "created_at": now,
        "live": True,
    }
    driver = bulk_driver(conn)
    if driver is not None:
        taken_parts = []
        with roomy_cache(conn, batch.count):
            for heads, items in batch.parts():
                write_columns(conn, driver, matches, heads, every)
                taken_parts.append(pl.DataFrame(items, schema=_TAKEN_SCHEMA))
            # In key order: a B-tree filled in order writes each page once (at random: 4x slower).
            everything = pl.concat(taken_parts).sort("side", "item")
            del taken_parts
            for start in range(0, everything.height, _PART):
                part = everything.slice(start, _PART)
                write_columns(conn, driver, matched_items, {n: part[n] for n in part.columns})
        return batch.count
    for heads, items in batch.parts():
        conn.execute(insert(matches), [{**row, **every} for row in _rows(heads)])
        conn.execute(insert(matched_items), _rows({k: list(v) for k, v in items.items()}))
    return batch.count


def _rows(columns: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def live_run_matches(conn: Connection, run_id: str, count: int) -> list[str]:
    """The ids of a run's matches still live, in order (``count``: how many the run made)."""
    live: list[str] = []
    everything = run_match_ids(run_id, count)
    for start in range(0, len(everything), _CHUNK):
        chunk = everything[start : start + _CHUNK]
        query = select(matches.c.id).where(matches.c.id.in_(chunk), matches.c.live.is_(True))
        live += sorted(conn.execute(query).scalars())
    return live


def undo_match(conn: Connection, ident: str, at: datetime, actor: str) -> None:
    """Mark a match undone and give its items back; the audit keeps which they were."""
    c = matched_items.c
    row = conn.execute(
        select(matches.c.statement_items, matches.c.ledger_items).where(matches.c.id == ident)
    ).one()
    items = [
        (side.value, item)
        for side, text in (
            (MatchSide.LEDGER, row.ledger_items),
            (MatchSide.STATEMENT, row.statement_items),
        )
        for item in sorted(decode_items(text))
    ]
    conn.execute(update(matches).where(matches.c.id == ident).values(live=False))
    for side in (MatchSide.STATEMENT, MatchSide.LEDGER):
        mine = [item for s, item in items if s == side.value]
        for start in range(0, len(mine), _CHUNK):
            conn.execute(
                delete(matched_items).where(
                    c.side == side.value,
                    c.item.in_(mine[start : start + _CHUNK]),
                    c.match_id == ident,
                )
            )
    add_audit(conn, at, actor, "undone", ident, " ".join(f"{s}:{i}" for s, i in items))


def load_match(conn: Connection, row: Any) -> Match:
    """A live match from its row, with its items."""
    return Match(
        id=row.id,
        run_id=row.run_id,
        rule=row.rule,
        score=row.score,
        statement_items=tuple(sorted(decode_items(row.statement_items))),
        ledger_items=tuple(sorted(decode_items(row.ledger_items))),
        statement_total=Money.from_minor(row.statement_total, row.currency),
        ledger_total=Money.from_minor(row.ledger_total, row.currency),
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
    )


def break_id(account: str, kind: BreakClass, items: Iterable[Item]) -> str:
    """A break's id: the same account, class and items give the same id, run after run."""
    keys = sorted(f"{i.side.value}:{i.id}" for i in items)
    return "brk_" + _digest(account, kind.value, *keys)[:32]


def open_breaks_holding(conn: Connection, items: Sequence[Item]) -> set[str]:
    """The open breaks that hold any of ``items``."""
    found: set[str] = set()
    by_side: dict[str, list[str]] = {}
    for item in items:
        by_side.setdefault(item.side.value, []).append(item.id)
    for side, ids in by_side.items():
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            query = (
                select(break_items.c.break_id)
                .join(breaks, breaks.c.id == break_items.c.break_id)
                .where(
                    break_items.c.side == side,
                    break_items.c.item.in_(chunk),
                    breaks.c.status == BreakStatus.OPEN.value,
                )
            )
            found.update(conn.execute(query).scalars())
    return found


def break_items_of(conn: Connection, ident: str) -> list[Item]:
    """A break's items, by side then id."""
    c = break_items.c
    rows = conn.execute(
        select(c.side, c.item, c.amount, c.on).where(c.break_id == ident).order_by(c.side, c.item)
    )
    return [Item(MatchSide(side), item, int(amount), on) for side, item, amount, on in rows]


def load_break(conn: Connection, ident: str, *, for_update: bool = False) -> Break:
    """One break; :class:`ReconciliationNotFoundError` if there is none by that id."""
    row = FastSQL.of(conn).select_one(conn, breaks, {"id": ident}, for_update=for_update)
    if row is None:
        raise ReconciliationNotFoundError(f"no break {ident!r}")
    return _break(conn, row)


def load_breaks(
    conn: Connection,
    account: str | None,
    status: BreakStatus | None,
    kind: BreakClass | None,
    limit: int,
) -> list[Break]:
    """Breaks, oldest first."""
    query = select(breaks).order_by(breaks.c.found_on, breaks.c.id).limit(limit)
    conditions = []
    if account is not None:
        conditions.append(breaks.c.account == account)
    if status is not None:
        conditions.append(breaks.c.status == status.value)
    if kind is not None:
        conditions.append(breaks.c.kind == kind.value)
    if conditions:
        query = query.where(and_(*conditions))
    return [_break(conn, row) for row in conn.execute(query)]


def _break(conn: Connection, row: Any) -> Break:
    items = break_items_of(conn, row.id)
    return Break(
        id=row.id,
        account=row.account,
        kind=BreakClass(row.kind),
        status=BreakStatus(row.status),
        statement_items=tuple(i.id for i in items if i.side is MatchSide.STATEMENT),
        ledger_items=tuple(i.id for i in items if i.side is MatchSide.LEDGER),
        statement_total=Money.from_minor(row.statement_total, row.currency),
        ledger_total=Money.from_minor(row.ledger_total, row.currency),
        found_on=row.found_on,
        owner=row.owner,
        run_id=row.run_id,
        entry_seq=None if row.entry_seq is None else int(row.entry_seq),
        note=row.note,
    )


def add_audit(
    conn: Connection, at: datetime, actor: str, action: str, subject: str, detail: str = ""
) -> None:
    """Append one record to the audit trail."""
    FastSQL.of(conn).insert(
        conn,
        audit,
        {"at": at, "actor": actor[:128], "action": action, "subject": subject, "detail": detail},
    )


def add_audits(conn: Connection, records: Sequence[dict[str, Any]]) -> None:
    """Append many records (``at``, ``actor``, ``action``, ``subject``, ``detail``) at once."""
    if records:
        conn.execute(insert(audit), list(records))


def audit_records(conn: Connection, subject: str | None, limit: int) -> list[AuditRecord]:
    """The audit trail, oldest first."""
    query = select(audit).order_by(audit.c.seq).limit(limit)
    if subject is not None:
        query = query.where(audit.c.subject == subject)
    return [
        AuditRecord(
            seq=int(r.seq),
            at=as_utc(r.at),
            actor=r.actor,
            action=r.action,
            subject=r.subject,
            detail=r.detail,
        )
        for r in conn.execute(query)
    ]
