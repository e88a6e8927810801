"""The kernel's component interfaces: the ledger, the event outbox, the idempotency service.

Every tenant has all three (kernel default plugins): ``tenant.ledger``,
``tenant.events`` and ``tenant.component("idempotency")``; a unit of work
(:class:`finplug.UnitOfWork`) hands out all three bound to one transaction.
Business components (payments, risk, billing …) are declared by their
sockets under :mod:`finplug.sockets`, each with its own interface and
version, and reached typed as ``tenant.component(SOCKET)``.

Interfaces are :class:`typing.Protocol` classes, so a provider need not
inherit from them; the kernel checks providers structurally when a tenant's
components are registered.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Final, Literal, Protocol, runtime_checkable

from sqlalchemy import Connection

from finplug._events import DispatchReport, Event, EventsSession
from finplug._idempotency import IdempotencySession, StoredKey
from finplug._money import Money
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

__all__ = [
    "COMPONENTS",
    "EventsAPI",
    "IdempotencyAPI",
    "LedgerAPI",
]


@runtime_checkable
class LedgerAPI(Protocol):
    """``tenant.ledger``: the tenant's double-entry ledger (a kernel default plugin).

    Every write takes a client idempotency key and runs in its own
    transaction; :meth:`session` groups calls in one transaction, and
    :meth:`bind` joins a transaction the caller already owns (so a plugin
    books in the same transaction as its business record).
    """

    def session(self) -> AbstractContextManager[LedgerSession]:
        """One transaction for several ledger calls."""
        ...

    def bind(self, conn: Connection, *, savepoint: bool = True) -> LedgerSession:
        """Ledger calls inside the caller's transaction on the tenant's storage.

        ``savepoint=False``: no savepoint per write, for callers that roll the
        whole transaction back on any ledger error.
        """
        ...

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
        ...

    def account(self, code: str) -> Account:
        """An account's definition."""
        ...

    def accounts(self) -> list[Account]:
        """Every account, by code."""
        ...

    def post(self, key: str, legs: Sequence[Leg], description: str = "") -> Entry:
        """Post one balanced entry of any number of legs."""
        ...

    def transfer(
        self, key: str, debit: str, credit: str, amount: Money, description: str = ""
    ) -> Entry:
        """Post a two-leg entry."""
        ...

    def post_batch(self, requests: Sequence[EntryRequest]) -> list[Entry]:
        """Post many entries in one transaction: all or none."""
        ...

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
        """Reserve funds: a pending transfer."""
        ...

    def post_pending(self, key: str, pending_seq: int, amount: Money | None = None) -> Entry:
        """Post all or part of a hold; the rest is released."""
        ...

    def void_pending(self, key: str, pending_seq: int) -> Entry:
        """Release a hold."""
        ...

    def expire_pending(self, now: datetime | None = None) -> list[Entry]:
        """Release every hold past its timeout."""
        ...

    def reverse(self, key: str, seq: int, description: str = "") -> Entry:
        """Post the reversal of a posted entry."""
        ...

    def balance(self, code: str, as_of: datetime | None = None) -> Balance:
        """Balances now or as of a past time."""
        ...

    def entry(self, seq: int) -> Entry:
        """One entry."""
        ...

    def entries(self, after: int = 0, limit: int = 1000) -> list[Entry]:
        """Entries in chain order."""
        ...

    def postings(
        self,
        accounts: Sequence[str],
        *,
        after: int = 0,
        until: datetime | None = None,
        limit: int = 10_000,
    ) -> list[Posting]:
        """What entries did to the posted balances of ``accounts``: a posting per entry and account.

        By ``seq``, then account code. Each amount is the change to the
        account's posted balance, signed by its normal side (as
        :attr:`Balance.posted`): holds make none, a capture makes one at its
        own ``seq``, a void or an expiry none. ``after`` is a cursor (entries
        after that ``seq``), ``until`` keeps entries written at or before that
        time; a page holds whole entries, at most ``limit`` postings
        (``limit`` is 0 or at least the number of accounts), maybe fewer
        even when more follow. Page on with ``after`` set to the last
        posting's ``seq`` until a page is empty.
        Unknown codes raise :class:`~finplug.AccountNotFoundError`; at most
        200 accounts per call.
        """
        ...

    def open_holds(self) -> list[Entry]:
        """Unresolved holds."""
        ...

    def verify(
        self,
        *,
        checkpoint: LedgerCheckpoint | None = None,
        key: CheckpointKey | None = None,
    ) -> VerifyReport:
        """Recompute both hash chains (entries, account definitions) and every running balance.

        With a ``checkpoint`` and the ``key`` it was signed with, also check
        that the chains still reach it (a cut or rewritten chain is a
        problem in the report); a signature that does not match raises
        :class:`~finplug.CheckpointError`.
        """
        ...

    def checkpoint(
        self, key: CheckpointKey, *, previous: LedgerCheckpoint | None = None
    ) -> LedgerCheckpoint:
        """Verify the books (against ``previous``, if given), then sign where their chains stand.

        Raises :class:`~finplug.CheckpointError` for books that do not verify
        or a key that cannot be one. Keep the result outside the database.
        """
        ...


@runtime_checkable
class EventsAPI(Protocol):
    """``tenant.component("events")``: the tenant's outbox of domain events (a kernel default).

    :meth:`emit` stores an event in the caller's transaction, so it commits or
    rolls back with the business write; :meth:`dispatch` delivers committed
    events to every ``finplug_on_event`` implementation, in commit order, at
    least once.
    """

    def bind(self, conn: Connection) -> EventsSession:
        """Outbox calls inside a transaction the caller owns."""
        ...

    def emit(self, conn: Connection, event: Event) -> Event:
        """Store an event in the caller's transaction; a known dedupe key returns the stored one."""
        ...

    def dispatch(self, limit: int = 100) -> DispatchReport:
        """Deliver up to ``limit`` undelivered events, in order; report what happened."""
        ...

    def events(
        self, after: int = 0, limit: int = 1000, *, aggregate: str | None = None
    ) -> list[Event]:
        """Committed events in position order, delivered or not."""
        ...

    def undelivered(self, limit: int = 1000) -> list[Event]:
        """Committed events not yet delivered, in position order."""
        ...


@runtime_checkable
class IdempotencyAPI(Protocol):
    """``tenant.component("idempotency")``: the kernel's idempotency service (a kernel default).

    Stripe's semantics for every component's keys: see
    :mod:`finplug._idempotency` and ``docs/idempotency.md``. Components
    reach it through their unit of work (``uow.idempotency``).
    """

    retention: timedelta
    """How long a finished key is kept (the tenant's ``idempotency.retention_hours``)."""

    def bind(self, conn: Connection, scope: str) -> IdempotencySession:
        """The service inside a transaction the caller owns, for keys of ``scope``."""
        ...

    def get(self, scope: str, key: str) -> StoredKey | None:
        """The key as stored now (its own transaction)."""
        ...

    def wait(
        self,
        scope: str,
        key: str,
        operation: str,
        digest: bytes,
        *,
        timeout: float,
        poll: float = 0.01,
    ) -> StoredKey:
        """The finished key, waiting up to ``timeout`` seconds for a call in progress."""
        ...

    def purge(self, now: datetime | None = None) -> int:
        """Delete the finished keys whose retention has passed; how many went."""
        ...


#: The kernel's own components by name (sockets declare the others).
COMPONENTS: Final[dict[str, type]] = {
    "events": EventsAPI,
    "idempotency": IdempotencyAPI,
    "ledger": LedgerAPI,
}
