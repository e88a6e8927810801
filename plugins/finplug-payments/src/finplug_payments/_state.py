"""A payment's state inside one step: the step's unit of work, its rows, its moves and calls.

Every write the payments make to their own tables is here. A step
(:meth:`Steps.tx`) reads and locks each payment row once (:func:`lock_row`);
changes go to that copy (:func:`set_columns`) and reach the database in one
``UPDATE`` per payment just before the commit (:func:`flush`). The state
machine is :data:`~finplug.sockets.payments.PAYMENT_TRANSITIONS`; each move
is recorded as a transition and emitted as an event in the same step.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection

from finplug import Event, FastSQL, Money, PluginContext, Record, UnitOfWork
from finplug.sockets.payments import (
    PAYMENT_TRANSITIONS,
    ChannelOperation,
    IllegalTransitionError,
    PaymentMethod,
    PaymentNotFoundError,
    PaymentStatus,
)
from finplug_payments._checks import MAX_TEXT
from finplug_payments._schema import attempts, payments, transitions
from finplug_payments._values import Call, FeeLines, fees_json

__all__ = [
    "NOTHING_PENDING",
    "Steps",
    "Tx",
    "flush",
    "lock_row",
    "new_payment_id",
    "set_columns",
]

#: The attempt statuses a call's outcome may still be recorded over.
_OPEN_ATTEMPT: Final = ("in_flight", "unknown")

#: The payment columns that say no channel call is in flight.
NOTHING_PENDING: Final = {
    "pending_operation": None,
    "pending_reference": None,
    "status_before": None,
}

_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_payment_id(now: datetime) -> str:
    """A time-ordered unique id: ``pay_`` + 10 chars of milliseconds + 16 random chars."""
    value = (int(now.timestamp() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "pay_" + "".join(reversed(chars))


class Tx:
    """One payments step: its unit of work, and the payments it read and changed.

    The rows it locked are the truth until it commits: :func:`set_columns`
    changes them, and :func:`flush` writes the changes (one ``UPDATE`` per
    payment) just before the commit. Ledger accounts opened in it are
    remembered (:attr:`Steps.opened`) only once it commits.
    """

    __slots__ = ("conn", "dirty", "opened", "rows", "uow")

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.conn: Connection = uow.conn
        self.rows: dict[str, Record] = {}
        self.dirty: dict[str, dict[str, object]] = {}
        self.opened: list[str] = []


def lock_row(tx: Tx, payment_id: str) -> Record:
    """The payment's row, locked until the transaction ends; read once per transaction.

    The transaction's copy is the truth until it commits: :func:`set_columns`
    changes it, and :func:`flush` writes the changes in one ``UPDATE`` per
    payment before the commit.
    """
    rows = tx.rows
    row = rows.get(payment_id)
    if row is None:
        conn = tx.conn
        row = FastSQL.of(conn).select_one(conn, payments, {"id": payment_id}, for_update=True)
        if row is None:
            raise PaymentNotFoundError(payment_id)
        rows[payment_id] = row
    return row


def set_columns(tx: Tx, payment_id: str, **values: object) -> None:
    """Change columns of one payment: its transaction's copy now, the database at commit."""
    row = lock_row(tx, payment_id)
    vars(row).update(values)
    tx.dirty.setdefault(payment_id, {}).update(values)


def flush(tx: Tx) -> None:
    """Write the payments changed in this transaction (one ``UPDATE`` each)."""
    dirty, conn = tx.dirty, tx.conn
    if dirty:
        fast = FastSQL.of(conn)
        for payment_id, values in dirty.items():
            fast.update(conn, payments, values, {"id": payment_id})
        dirty.clear()


class Steps:
    """One tenant's payment steps: each a unit of work, and the state moves inside one.

    ``opened`` is shared with the bookings: the ledger accounts known to
    exist, learned from steps that committed.
    """

    __slots__ = ("_ctx", "opened")

    def __init__(self, context: PluginContext) -> None:
        self._ctx = context
        self.opened: set[str] = set()

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        """One step: a unit of work, committed when the block ends without an error."""
        with self._ctx.unit_of_work() as uow:
            tx = Tx(uow)
            uow.before_commit(lambda: flush(tx))
            uow.after_commit(lambda: self.opened.update(tx.opened))
            yield tx
            uow.commit()

    def create(self, tx: Tx, values: dict[str, Any]) -> None:
        """Insert a new payment (``values`` are its columns) and record it ``CREATED``."""
        payment_id = values["id"]
        FastSQL.of(tx.conn).insert(tx.conn, payments, values)
        tx.rows[payment_id] = Record(**values)
        self.transition(tx, payment_id, None, PaymentStatus.CREATED, "created")

    def reserve_call(
        self,
        tx: Tx,
        row: Any,
        operation: ChannelOperation,
        channel: str,
        amount: Money,
        *,
        status_before: PaymentStatus,
        fees: FeeLines | None = None,
    ) -> Call:
        """Record the channel call about to be made: an ``in_flight`` attempt, pending on ``row``.

        The reference (``<payment>:<n>:<operation>``) is the channel's
        idempotency key; ``fees`` are stored with the attempt, so the finish
        step or the janitor books them without asking a hook.
        """
        n = row.attempt_count + 1
        reference = f"{row.id}:{n}:{operation.value}"
        now = self._ctx.clock()
        FastSQL.of(tx.conn).insert(
            tx.conn,
            attempts,
            {
                "reference": reference,
                "payment_id": row.id,
                "n": n,
                "operation": operation.value,
                "channel": channel,
                "amount": amount.minor_units,
                "status": "in_flight",
                "error_code": "",
                "retriable": None,
                "channel_reference": "",
                "created_at": now,
                "finished_at": None,
                "fees": fees_json(fees),
            },
        )
        set_columns(
            tx,
            row.id,
            attempt_count=n,
            pending_operation=operation.value,
            pending_reference=reference,
            status_before=status_before.value,
            updated_at=now,
        )
        return Call(
            row.id,
            operation,
            channel,
            reference,
            amount,
            PaymentMethod(row.method),
            row.merchant_id,
            row.customer_id,
            row.channel_reference,
            fees,
        )

    def close_attempt(
        self,
        tx: Tx,
        call: Call,
        status: str,
        error_code: str,
        retriable: bool | None,
        channel_reference: str = "",
    ) -> bool:
        """Record an attempt's outcome; False if it was already settled (by the janitor)."""
        lock_row(tx, call.payment_id)
        done = FastSQL.of(tx.conn).update(
            tx.conn,
            attempts,
            {
                "status": status,
                "error_code": error_code,
                "retriable": retriable,
                "channel_reference": channel_reference,
                "finished_at": self._ctx.clock(),
            },
            {"reference": call.reference, "status": _OPEN_ATTEMPT},
        )
        return done == 1

    def clear_pending(self, tx: Tx, payment_id: str) -> None:
        """No channel call is in flight for the payment any more."""
        set_columns(tx, payment_id, **NOTHING_PENDING, updated_at=self._ctx.clock())

    def transition(
        self,
        tx: Tx,
        payment_id: str,
        from_status: PaymentStatus | None,
        to_status: PaymentStatus,
        reason: str,
        *,
        row: Any = None,
    ) -> None:
        """Record a move (unchecked) and emit its event, ``<kind>.<status>``, in ``tx``."""
        if row is None:
            row = lock_row(tx, payment_id)
        n = row.transition_count + 1
        now = self._ctx.clock()
        FastSQL.of(tx.conn).insert(
            tx.conn,
            transitions,
            {
                "payment_id": payment_id,
                "n": n,
                "from_status": None if from_status is None else from_status.value,
                "to_status": to_status.value,
                "at": now,
                "reason": reason[:MAX_TEXT],
            },
        )
        set_columns(
            tx,
            payment_id,
            transition_count=n,
            status=to_status.value,
            updated_at=now,
        )
        tx.uow.events.emit(
            Event(
                f"{row.kind}.{to_status.value}",
                f"payment:{payment_id}",
                {
                    "payment_id": payment_id,
                    "from": None if from_status is None else from_status.value,
                    "to": to_status.value,
                    "merchant_id": row.merchant_id,
                    "customer_id": row.customer_id,
                    "amount": str(Money.from_minor(row.amount, row.currency).amount),
                    "currency": row.currency,
                    "method": row.method,
                    "keys": _event_keys(row.attributes),
                    "reason": reason[:MAX_TEXT],
                },
                dedupe_key=f"{payment_id}:{n}",
            )
        )

    def move(
        self,
        tx: Tx,
        payment_id: str,
        to_status: PaymentStatus,
        reason: str,
        *,
        row: Any = None,
    ) -> None:
        """Move the payment to ``to_status`` if the state machine allows it; staying is no move."""
        if row is None:
            row = lock_row(tx, payment_id)
        current = PaymentStatus(row.status)
        if to_status not in PAYMENT_TRANSITIONS[current] and to_status is not current:
            raise IllegalTransitionError(payment_id, current, f"move to {to_status.value}")
        if to_status is current:
            return
        self.transition(tx, payment_id, current, to_status, reason, row=row)


#: The attributes a payment's events carry, so that listeners (a risk
#: engine's velocity features) can count by card, IP, device and e-mail
#: domain; the others stay on the payment.
EVENT_KEYS: Final = ("card_fingerprint", "ip", "device", "email_domain")


def _event_keys(attributes: str) -> dict[str, str]:
    """The :data:`EVENT_KEYS` among a payment's stored attributes (JSON text)."""
    return dict(_parsed_keys(attributes))


@functools.lru_cache(maxsize=1024)
def _parsed_keys(attributes: str) -> tuple[tuple[str, str], ...]:
    # A payment's attributes never change: its transitions parse them once.
    found = json.loads(attributes or "{}")
    return tuple((k, found[k]) for k in EVENT_KEYS if isinstance(found.get(k), str))
