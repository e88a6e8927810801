"""Reading payments: every query the payments make, and rows turned into :class:`Payment`.

Each function reads inside a step's transaction (:class:`~finplug_payments._state.Tx`)
and sees that step's own changes: a payment it locked is answered from the
step's copy, which holds changes not yet written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Row, and_, or_, select

from finplug import FastSQL, Money, as_utc, currency
from finplug.sockets.payments import (
    Payment,
    PaymentAttempt,
    PaymentKind,
    PaymentMethod,
    PaymentNotFoundError,
    PaymentStatus,
    PaymentTransition,
)
from finplug.sockets.risk import RiskVerdict
from finplug_payments._schema import attempts, payments, transitions
from finplug_payments._state import Tx

__all__ = ["attempt", "due", "load", "load_many", "page", "payment_of"]


def payment_of(row: Any, tries: Sequence[Any], moves: Sequence[Any]) -> Payment:
    """A :class:`Payment` from its row, its attempts' rows and its transitions' rows."""
    cur = currency(row.currency)
    return Payment(
        id=row.id,
        kind=PaymentKind(row.kind),
        status=PaymentStatus(row.status),
        amount=Money.from_minor(row.amount, cur),
        captured=Money.from_minor(row.captured, cur),
        refunded=Money.from_minor(row.refunded, cur),
        fees=Money.from_minor(row.fees, cur),
        merchant_id=row.merchant_id,
        customer_id=row.customer_id,
        method=PaymentMethod(row.method),
        channel=row.channel,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        description=row.description,
        failure_code=row.failure_code,
        failure_message=row.failure_message,
        risk_reasons=tuple(json.loads(row.risk_reasons)),
        risk_verdict=RiskVerdict[row.risk_verdict.upper()],
        attributes=MappingProxyType(json.loads(row.attributes)),
        attempts=tuple(
            PaymentAttempt(
                t.operation,
                t.channel,
                t.reference,
                Money.from_minor(t.amount, cur),
                t.status,
                t.error_code,
                t.retriable,
                t.channel_reference,
            )
            for t in tries
        ),
        transitions=tuple(
            PaymentTransition(
                None if m.from_status is None else PaymentStatus(m.from_status),
                PaymentStatus(m.to_status),
                as_utc(m.at),
                m.reason,
            )
            for m in moves
        ),
    )


def load(tx: Tx, payment_id: str) -> Payment:
    """The payment as this transaction sees it, with its attempts and transitions."""
    conn = tx.conn
    fast = FastSQL.of(conn)
    row = tx.rows.get(payment_id)
    if row is None:
        row = fast.select_one(conn, payments, {"id": payment_id})
        if row is None:
            raise PaymentNotFoundError(payment_id)
    where = {"payment_id": payment_id}
    tries = fast.select(conn, attempts, where, order_by=("n",))
    moves = fast.select(conn, transitions, where, order_by=("n",))
    return payment_of(row, tries, moves)


def load_many(tx: Tx, ids: Sequence[str]) -> list[Payment]:
    """Several payments in three queries, whatever their number (in ``ids`` order)."""
    if not ids:
        return []
    conn = tx.conn
    rows = {r.id: r for r in conn.execute(select(payments).where(payments.c.id.in_(ids)))}
    tries: dict[str, list[Any]] = {pid: [] for pid in ids}
    for t in conn.execute(
        select(attempts)
        .where(attempts.c.payment_id.in_(ids))
        .order_by(attempts.c.payment_id, attempts.c.n)
    ):
        tries[t.payment_id].append(t)
    moves: dict[str, list[Any]] = {pid: [] for pid in ids}
    for m in conn.execute(
        select(transitions)
        .where(transitions.c.payment_id.in_(ids))
        .order_by(transitions.c.payment_id, transitions.c.n)
    ):
        moves[m.payment_id].append(m)
    return [payment_of(rows[pid], tries[pid], moves[pid]) for pid in ids]


def page(
    tx: Tx,
    *,
    merchant_id: str | None,
    status: PaymentStatus | None,
    after: str | None,
    limit: int,
) -> list[Payment]:
    """Up to ``limit`` payments in creation order after the payment ``after``, filtered."""
    query = select(payments.c.id)
    if merchant_id is not None:
        query = query.where(payments.c.merchant_id == merchant_id)
    if status is not None:
        query = query.where(payments.c.status == status.value)
    conn = tx.conn
    if after is not None:
        anchor = conn.execute(select(payments.c.created_at).where(payments.c.id == after)).first()
        if anchor is None:
            raise PaymentNotFoundError(after)
        query = query.where(
            or_(
                payments.c.created_at > anchor.created_at,
                and_(payments.c.created_at == anchor.created_at, payments.c.id > after),
            )
        )
    ids = (
        conn.execute(query.order_by(payments.c.created_at, payments.c.id).limit(limit))
        .scalars()
        .all()
    )
    return load_many(tx, ids)


def due(tx: Tx, cutoff: datetime, limit: int) -> Sequence[Row[Any, Any]]:
    """Payments the janitor settles: ``UNKNOWN``, or with a call in flight since ``cutoff``.

    Oldest first; each row has the payment's ``id`` and ``pending_reference``.
    """
    return tx.conn.execute(
        select(payments.c.id, payments.c.pending_reference)
        .where(
            or_(
                payments.c.status == PaymentStatus.UNKNOWN.value,
                and_(
                    payments.c.pending_operation.is_not(None),
                    payments.c.updated_at <= cutoff,
                ),
            )
        )
        .order_by(payments.c.updated_at)
        .limit(limit)
    ).all()


def attempt(tx: Tx, reference: str) -> Row[Any] | None:
    """The attempt recorded under ``reference``, or ``None``."""
    return tx.conn.execute(select(attempts).where(attempts.c.reference == reference)).first()
