"""Chargebacks and manual adjustments: money a payee's next settlement nets in.

* A **chargeback** is money a channel took back from the platform for a
  captured payment (the cardholder disputed it): the merchant's payable is
  debited and the channel's clearing account credited, then the payment's
  split is taken back from the parties exactly as a refund is (same rule,
  never more than a party received), in one transaction. Refunds and
  chargebacks together never exceed what was captured.
* An **adjustment** is a correction an operator books on a payee's payable
  (a fee, a goodwill credit): positive amounts are owed to the payee,
  negative ones owed by it; the other side is ``settlement:adjustments:<CUR>``.

Both are keyed (``key``, the caller's idempotency key): the same key again
books nothing new; the same key with another amount is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

from sqlalchemy import func, select

from finplug import EntryKeyConflictError, FastSQL, Money, UnitOfWork
from finplug.sockets.payments import (
    BookingKind,
    Payment,
    clearing_account,
    merchant_account,
)
from finplug.sockets.settlement import SettlementError
from finplug_settlement._schema import chargebacks
from finplug_settlement._splits import PAYEE, Splits, booking_of

__all__ = ["ADJUSTMENTS", "Adjustments"]

#: The other side of manual adjustments, per currency (expense: the platform's cost or gain).
ADJUSTMENTS: Final = "settlement:adjustments:"
#: The longest caller key.
MAX_KEY: Final = 120


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY:
        raise SettlementError(f"key must be 1 to {MAX_KEY} characters, got {key!r}")
    return key


class Adjustments:
    """A tenant's chargebacks and adjustments."""

    def __init__(
        self,
        splits: Splits,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
    ) -> None:
        self._splits = splits
        self._uow = unit_of_work
        self._clock = clock

    def chargeback(self, key: str, payment: Payment, amount: Money) -> int:
        """Book a chargeback of ``amount`` on a captured payment; the entry's seq."""
        _check_key(key)
        if payment.channel is None or not payment.captured.minor_units:
            raise SettlementError(f"payment {payment.id} was not captured: nothing to charge back")
        if amount.currency is not payment.amount.currency or amount.minor_units <= 0:
            raise SettlementError(
                f"a chargeback of {payment.id} must be a positive amount in"
                f" {payment.amount.currency.code}, got {amount}"
            )
        cur = amount.currency.code
        merchant = merchant_account(payment.merchant_id, cur)
        with self._uow() as uow:
            conn = uow.conn
            fast = FastSQL.of(conn)
            done = fast.select_one(conn, chargebacks, {"key": key})
            if done is not None:
                if (done.payment_id, done.amount) != (payment.id, amount.minor_units):
                    raise SettlementError(f"key {key!r} was used for another request")
                return int(done.entry_seq)
            # The payment's earlier chargebacks, counted under this transaction's lock.
            before = conn.execute(
                select(func.coalesce(func.sum(chargebacks.c.amount), 0)).where(
                    chargebacks.c.payment_id == payment.id
                )
            ).scalar_one()
            left = payment.refundable.minor_units - int(before)
            if amount.minor_units > left:
                raise SettlementError(
                    f"a chargeback of {amount} exceeds what {payment.id} has left"
                    f" ({Money.from_minor(max(left, 0), cur)})"
                )
            try:
                entry = uow.ledger.transfer(
                    f"settlement:chargeback:{key}",
                    debit=merchant,
                    credit=clearing_account(payment.channel, cur),
                    amount=amount,
                    description=f"chargeback of {payment.id}",
                )
            except EntryKeyConflictError as exc:
                raise SettlementError(f"key {key!r} was used for another request") from exc
            ref = f"{payment.id}:chargeback:{key}"
            back = booking_of(payment, BookingKind.REFUND, ref, amount, at=self._clock())
            self._splits.book(uow, back)
            fast.insert(
                conn,
                chargebacks,
                {
                    "key": key,
                    "payment_id": payment.id,
                    "currency": cur,
                    "amount": amount.minor_units,
                    "entry_seq": entry.seq,
                    "at": self._clock(),
                },
            )
            uow.commit()
        return entry.seq

    def adjust(
        self, key: str, payee: str, amount: Money, reason: str, *, party: bool = False
    ) -> int:
        """Book ``amount`` on a payee's payable (a merchant's, or a party's); the entry's seq."""
        _check_key(key)
        if not amount.minor_units:
            raise SettlementError("an adjustment of zero books nothing")
        if not reason.strip() or len(reason) > 200:
            raise SettlementError("reason must be 1 to 200 characters")
        cur = amount.currency.code
        account = f"{PAYEE}{payee}:{cur}" if party else merchant_account(payee, cur)
        other = f"{ADJUSTMENTS}{cur}"
        size = Money.from_minor(abs(amount.minor_units), cur)
        owed_to_payee = amount.minor_units > 0
        with self._uow() as uow:
            ledger = uow.ledger
            ledger.open_account(account, "liability", cur, overdraft="unlimited")
            ledger.open_account(other, "expense", cur, overdraft="unlimited")
            try:
                entry = ledger.transfer(
                    f"settlement:adjustment:{key}",
                    debit=other if owed_to_payee else account,
                    credit=account if owed_to_payee else other,
                    amount=size,
                    description=f"adjustment: {reason}",
                )
            except EntryKeyConflictError as exc:
                raise SettlementError(f"key {key!r} was used for another request") from exc
            uow.commit()
        return entry.seq
