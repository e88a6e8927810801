"""The reconciliation tables of statements, breaks and the audit (matches: ``_matchstore``).

Functions over one connection (the caller's unit of work): nothing here
commits. Ids are derived from content where a rerun must find the same
thing again: a statement's id is its fingerprint, a break's id is a digest
of its account, class and items.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import Connection, and_, insert, select

from finplug import FastSQL, Money, as_utc, currency
from finplug.sockets.reconciliation import (
    AuditRecord,
    Break,
    BreakClass,
    BreakStatus,
    MatchSide,
    ReconciliationNotFoundError,
    Statement,
    StatementLine,
)
from finplug_reconciliation._schema import (
    audit,
    break_items,
    breaks,
    statement_lines,
    statements,
)

__all__ = [
    "Item",
    "add_audit",
    "audit_records",
    "break_id",
    "fingerprint",
    "load_break",
    "load_breaks",
    "load_statement",
    "save_statement",
]

#: Rows per ``IN`` list.
_CHUNK: Final = 500


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
