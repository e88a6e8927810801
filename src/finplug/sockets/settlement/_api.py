"""Settlement socket: the ``settlement`` component's interface."""

from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

from finplug import Money
from finplug.sockets.settlement._values import (
    Payout,
    PayoutReport,
    RunReport,
    SettlementBatch,
    Split,
)

__all__ = ["SettlementAPI"]


@runtime_checkable
class SettlementAPI(Protocol):
    """The ``settlement`` component: splits booked with captures, settlement runs, batches.

    Splits are booked by the component itself, in the capture's transaction
    (through the payments socket's ``finplug_payment_booked``), and refunds
    are split back in theirs; a host reads them here.
    """

    def split_of(self, payment_id: str) -> Split | None:
        """How the payment's capture was shared (``None``: not captured, or no rule applied)."""
        ...

    def splits(self, merchant_id: str | None = None, *, limit: int = 100) -> list[Split]:
        """The latest splits, newest first (of ``merchant_id``'s payments only, when given)."""
        ...

    def run(self, as_of: date | None = None) -> RunReport:
        """Settle every payee's postings due on or before ``as_of`` (default: today).

        Idempotent: one batch per payee account and value date, whatever the
        number of runs or workers.
        """
        ...

    def batches(self, payee: str | None = None, *, limit: int = 100) -> list[SettlementBatch]:
        """Batches, newest value date first (of ``payee`` only, when given)."""
        ...

    def batch(self, batch_id: str) -> SettlementBatch:
        """One batch; :class:`SettlementNotFoundError` if there is none by that id."""
        ...

    def pay(self, batch_id: str) -> Payout:
        """Pay a batch out through a payout channel, once: a second call returns the payout.

        Risk is asked first (operation ``settlement.payout``); anything but
        approve fails the payout and puts the amount back on the payable.
        """
        ...

    def payout(self, batch_id: str) -> Payout | None:
        """A batch's payout (``None``: not asked for yet)."""
        ...

    def resolve_payouts(self) -> PayoutReport:
        """The janitor: ask the channels about payouts sent or unknown, and recently paid ones."""
        ...

    def statement(self, batch_id: str, fmt: str = "json") -> str:
        """A batch's statement (``json`` or ``csv``), reproduced from the ledger."""
        ...

    def chargeback(self, key: str, payment_id: str, amount: Money) -> int:
        """Book a chargeback on a captured payment, split back like a refund; the entry's seq."""
        ...

    def adjust(
        self, key: str, payee: str, amount: Money, reason: str, *, party: bool = False
    ) -> int:
        """Book an adjustment on a payee's payable (positive: owed to it); the entry's seq."""
        ...
