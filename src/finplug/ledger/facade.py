"""The tenant's ledger component: :class:`Ledger`, provided as ``tenant.ledger``.

Each method opens its own transaction on the tenant's storage and runs one
:class:`~finplug.ledger.session.LedgerSession` call in it; ``session()``
groups several calls in one transaction, and ``bind(conn)`` runs them in a
transaction the caller owns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection

from finplug._money import Money
from finplug._time import utc_now
from finplug.ledger.session import LedgerSession
from finplug.ledger.values import (
    Account,
    AccountType,
    Balance,
    CheckpointKey,
    Entry,
    EntryRequest,
    LedgerCheckpoint,
    Leg,
    Posting,
    VerifyReport,
)

__all__ = ["Ledger"]

_T = TypeVar("_T")


class Ledger:
    """A tenant's ledger over one database connection factory.

    ``begin`` opens a transaction on the tenant's storage (see
    :meth:`finplug.TenantStorage.begin`); every public write runs in its own
    transaction unless called through a :class:`LedgerSession` that joins the
    caller's (payments use this to book in the same transaction as the
    payment record).
    """

    def __init__(
        self,
        begin: Callable[[], Any],
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._begin = begin
        self._clock = clock

    @contextmanager
    def session(self) -> Iterator[LedgerSession]:
        """One transaction for several ledger calls (commit on success)."""
        with self._begin() as conn:
            yield LedgerSession(conn, self._clock)

    def bind(self, conn: Connection, *, savepoint: bool = True) -> LedgerSession:
        """Ledger calls inside a transaction the caller owns.

        Each write runs in a savepoint, so a refused write leaves the caller's
        transaction usable. A caller that rolls its whole transaction back on
        any ledger error passes ``savepoint=False`` and saves the savepoint's
        round trips on every write.
        """
        return LedgerSession(conn, self._clock, savepoint=savepoint)

    def _run(self, fn: Callable[[LedgerSession], _T]) -> _T:
        # The transaction is ours: a refused request rolls all of it back, so
        # writes need no savepoint of their own.
        with self._begin() as conn:
            return fn(LedgerSession(conn, self._clock, savepoint=False))

    # Each method below opens its own transaction; see LedgerSession for docs.

    def open_account(
        self,
        code: str,
        type: AccountType | str,
        currency_code: str,
        *,
        overdraft: Literal["none", "limit", "unlimited"] = "none",
        overdraft_limit: Money | None = None,
    ) -> Account:
        """Open an account (idempotent for an identical definition)."""
        return self._run(
            lambda s: s.open_account(
                code, type, currency_code, overdraft=overdraft, overdraft_limit=overdraft_limit
            )
        )

    def account(self, code: str) -> Account:
        """An account's definition."""
        return self._run(lambda s: s.account(code))

    def post(self, key: str, legs: Sequence[Leg], description: str = "") -> Entry:
        """Post one balanced entry."""
        return self._run(lambda s: s.post(key, legs, description))

    def transfer(
        self, key: str, debit: str, credit: str, amount: Money, description: str = ""
    ) -> Entry:
        """Post a two-leg entry: debit one account, credit another."""
        return self._run(lambda s: s.transfer(key, debit, credit, amount, description))

    def post_batch(self, requests: Sequence[EntryRequest]) -> list[Entry]:
        """Post many entries in one transaction: all of them, or none."""
        return self._run(lambda s: s.post_batch(requests))

    def hold(
        self,
        key: str,
        debit: str,
        credit: str,
        amount: Money,
        *,
        timeout: timedelta | None = None,
        description: str = "",
    ) -> Entry:
        """Reserve ``amount``: a pending transfer from ``debit`` to ``credit``."""
        return self._run(
            lambda s: s.hold(key, debit, credit, amount, timeout=timeout, description=description)
        )

    def post_pending(self, key: str, pending_seq: int, amount: Money | None = None) -> Entry:
        """Post all (default) or part of a hold; the rest is released."""
        return self._run(lambda s: s.post_pending(key, pending_seq, amount))

    def void_pending(self, key: str, pending_seq: int) -> Entry:
        """Release a hold without posting anything."""
        return self._run(lambda s: s.void_pending(key, pending_seq))

    def expire_pending(self, now: datetime | None = None) -> list[Entry]:
        """Release every open hold whose timeout has passed."""
        return self._run(lambda s: s.expire_pending(now))

    def reverse(self, key: str, seq: int, description: str = "") -> Entry:
        """Post the reversal of a posted entry (its posted legs, sides swapped)."""
        return self._run(lambda s: s.reverse(key, seq, description))

    def balance(self, code: str, as_of: datetime | None = None) -> Balance:
        """Balances of an account, now or as of a past time."""
        return self._run(lambda s: s.balance(code, as_of))

    def entry(self, seq: int) -> Entry:
        """One entry by its sequence number."""
        return self._run(lambda s: s.entry(seq))

    def entries(self, after: int = 0, limit: int = 1000) -> list[Entry]:
        """Entries in chain order, after sequence number ``after``."""
        return self._run(lambda s: s.entries(after, limit))

    def postings(
        self,
        accounts: Sequence[str],
        *,
        after: int = 0,
        until: datetime | None = None,
        limit: int = 10_000,
    ) -> list[Posting]:
        """What entries did to the posted balances of ``accounts``, by ``seq`` then code."""
        return self._run(lambda s: s.postings(accounts, after=after, until=until, limit=limit))

    def open_holds(self) -> list[Entry]:
        """Holds not yet posted, voided or expired."""
        return self._run(lambda s: s.open_holds())

    def accounts(self) -> list[Account]:
        """Every account, by code."""
        return self._run(lambda s: s.accounts())

    def verify(
        self,
        *,
        checkpoint: LedgerCheckpoint | None = None,
        key: CheckpointKey | None = None,
    ) -> VerifyReport:
        """Recompute both hash chains and every running balance (against a checkpoint, if given)."""
        return self._run(lambda s: s.verify(checkpoint=checkpoint, key=key))

    def checkpoint(
        self, key: CheckpointKey, *, previous: LedgerCheckpoint | None = None
    ) -> LedgerCheckpoint:
        """Verify the books (against ``previous``, if given) and sign where their chains stand."""
        return self._run(lambda s: s.checkpoint(key, previous=previous))
