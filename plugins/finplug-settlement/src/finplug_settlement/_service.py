"""The ``settlement`` component: splits, settlement runs, batches and payouts."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date, datetime

from sqlalchemy import Connection

from finplug import Money, UnitOfWork
from finplug.sockets.payments import Payment
from finplug.sockets.settlement import (
    Payout,
    PayoutReport,
    RunReport,
    SettlementBatch,
    SettlementError,
    Split,
)
from finplug_settlement._adjustments import Adjustments
from finplug_settlement._payouts import Payouts
from finplug_settlement._runs import Runs
from finplug_settlement._splits import Splits
from finplug_settlement._statements import render, statement_lines

__all__ = ["Settlement"]

#: The most splits one :meth:`Settlement.splits` call returns.
MAX_LIMIT = 1000


class Settlement:
    """A tenant's settlement component (``tenant.component(SETTLEMENT)``)."""

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        splits: Splits,
        runs: Runs,
        payouts: Payouts,
        clock: Callable[[], datetime],
        unit_of_work: Callable[[], UnitOfWork],
        adjustments: Adjustments,
        payment: Callable[[str], Payment],
    ) -> None:
        self._uow = unit_of_work
        self._adjustments = adjustments
        self._payment = payment
        self._begin = begin
        self._splits = splits
        self._runs = runs
        self._payouts = payouts
        self._clock = clock

    def split_of(self, payment_id: str) -> Split | None:
        """How the payment's capture was shared (``None``: not captured, or no rule applied)."""
        with self._begin() as conn:
            return self._splits.split_of(conn, payment_id)

    def splits(self, merchant_id: str | None = None, *, limit: int = 100) -> list[Split]:
        """The latest splits, newest first (of ``merchant_id``'s payments only, when given)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise SettlementError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        with self._begin() as conn:
            return self._splits.latest(conn, merchant_id, limit)

    def run(self, as_of: date | None = None) -> RunReport:
        """Settle every payee's postings due on or before ``as_of``.

        ``as_of`` defaults to today in the schedule's time zone. Idempotent:
        one batch per payee account and value date, whatever the number of
        runs or workers.
        """
        return self._runs.run(as_of if as_of is not None else self._runs.today())

    def batches(self, payee: str | None = None, *, limit: int = 100) -> list[SettlementBatch]:
        """Batches, newest value date first (of ``payee`` only, when given)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise SettlementError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        with self._begin() as conn:
            return self._runs.batches(conn, payee, limit)

    def batch(self, batch_id: str) -> SettlementBatch:
        """One batch; :class:`~finplug.sockets.settlement.SettlementNotFoundError` if none."""
        with self._begin() as conn:
            return self._runs.batch(conn, batch_id)

    def pay(self, batch_id: str) -> Payout:
        """Pay a batch out once; asking again returns the same payout."""
        return self._payouts.pay(batch_id)

    def payout(self, batch_id: str) -> Payout | None:
        """A batch's payout (``None``: not asked for yet)."""
        return self._payouts.find(batch_id)

    def resolve_payouts(self) -> PayoutReport:
        """The janitor: settle payouts sent or unknown, and find paid ones sent back."""
        return self._payouts.resolve()

    def statement(self, batch_id: str, fmt: str = "json") -> str:
        """A batch's statement, ``json`` or ``csv``, read back from the ledger.

        One line per posting the batch settles (entry, time, kind, key,
        description, amount) and the totals recomputed from them; raises
        :class:`~finplug.sockets.settlement.SettlementError` if the ledger's
        lines do not net to the batch's net.
        """
        with self._uow() as uow:
            batch = self._runs.batch(uow.conn, batch_id)
            lines = statement_lines(uow, batch)
        return render(batch, lines, self._payouts.find(batch_id), fmt)

    def chargeback(self, key: str, payment_id: str, amount: Money) -> int:
        """Book a chargeback on a captured payment, split back like a refund; the entry's seq.

        The merchant's payable is debited and the channel's clearing account
        credited; the payment's parties give back their shares pro rata.
        The same ``key`` again books nothing new.
        """
        return self._adjustments.chargeback(key, self._payment(payment_id), amount)

    def adjust(
        self, key: str, payee: str, amount: Money, reason: str, *, party: bool = False
    ) -> int:
        """Book an adjustment on a payee's payable (positive: owed to it); the entry's seq.

        ``party`` names a partner's or sub-merchant's payable instead of a
        merchant's. The next settlement run nets it in.
        """
        return self._adjustments.adjust(key, payee, amount, reason, party=party)
