"""Component interfaces: what the host calls on a tenant.

Each component has exactly one provider per tenant: the enabled plugin whose
``meta.components`` names it, registered through
:func:`finplug.hookspecs.finplug_register_components`. The host reaches it as
``tenant.<name>`` (``tenant.risk``) or ``tenant.component("<name>")``; a
component no enabled plugin provides raises
:class:`~finplug.ComponentNotEnabledError` naming the tenant and component.

Interfaces are :class:`typing.Protocol` classes, so a provider need not
inherit from them; ``tests`` check providers structurally.

Status: :class:`RiskAPI`, :class:`LedgerAPI`, :class:`EventsAPI` and
:class:`PaymentsAPI` are complete. The billing and reconciliation sockets
are named and reserved here so that tenants, configs and plugins can refer
to them; their methods are specified by the issues that build them.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Final, Literal, Protocol, runtime_checkable

from sqlalchemy import Connection

from finplug._domain import RiskContext, RiskDecision
from finplug._events import DispatchReport, Event, EventsSession
from finplug._ledger import (
    Account,
    AccountType,
    Balance,
    CheckpointKey,
    Entry,
    EntryRequest,
    LedgerCheckpoint,
    LedgerSession,
    Leg,
    VerifyReport,
)
from finplug._money import Money
from finplug._payments import (
    ChannelInfo,
    JanitorReport,
    Payment,
    PaymentMethod,
    PaymentStatus,
    RouteRequest,
)

__all__ = [
    "COMPONENTS",
    "BillingAPI",
    "EventsAPI",
    "LedgerAPI",
    "PaymentsAPI",
    "ReconciliationAPI",
    "RiskAPI",
]


@runtime_checkable
class RiskAPI(Protocol):
    """``tenant.risk``: assess operations against every risk rule of the tenant."""

    def assess(self, context: RiskContext) -> RiskDecision:
        """Run every ``finplug_assess_risk`` implementation and combine the answers."""
        ...

    def rules(self) -> list[str]:
        """Names of the rules this tenant's risk component evaluates, in order."""
        ...


@runtime_checkable
class PaymentsAPI(Protocol):
    """``tenant.payments``: one API in front of every payment channel of the tenant.

    Every mutating call takes a client idempotency key with Stripe's
    semantics: the same key with the same arguments returns the first call's
    result (its error included); the same key with other arguments raises
    :class:`~finplug.IdempotencyConflictError`; concurrent duplicates have
    one effect. Declines are not exceptions: the returned payment is
    ``FAILED`` with a ``failure_code``. Operations the payment's state
    forbids raise :class:`~finplug.IllegalTransitionError`.
    """

    def authorize(
        self,
        key: str,
        *,
        amount: Money,
        merchant_id: str,
        method: PaymentMethod | str,
        customer_id: str = "",
        capture: bool = False,
        description: str = "",
        attributes: Mapping[str, str] | None = None,
    ) -> Payment:
        """Ask risk, route, and authorize (and capture at once if ``capture``)."""
        ...

    def confirm(self, key: str, payment_id: str, *, approve: bool) -> Payment:
        """Finish a payment a risk review held: authorize it, or fail it."""
        ...

    def capture(self, key: str, payment_id: str, amount: Money | None = None) -> Payment:
        """Capture all (``None``) or part of an authorization; the rest is released."""
        ...

    def void(self, key: str, payment_id: str) -> Payment:
        """Release an authorization nothing was captured from."""
        ...

    def refund(self, key: str, payment_id: str, amount: Money | None = None) -> Payment:
        """Refund all that is left (``None``) or part of it; may be called several times."""
        ...

    def topup(
        self,
        key: str,
        *,
        customer_id: str,
        amount: Money,
        method: PaymentMethod | str,
        description: str = "",
    ) -> Payment:
        """Fund a customer's wallet account through a channel (a sale, then a posting)."""
        ...

    def get(self, payment_id: str) -> Payment:
        """One payment, with its attempts and transitions."""
        ...

    def list(
        self,
        *,
        merchant_id: str | None = None,
        status: PaymentStatus | str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Payment]:
        """Payments in creation order, optionally filtered; page with ``after`` (an id)."""
        ...

    def resolve_unknown(self, limit: int = 100) -> JanitorReport:
        """The janitor: ask channels about calls that timed out or were cut off, and settle."""
        ...

    def channels(self) -> builtins.list[ChannelInfo]:
        """The tenant's channels, as registered by channel plugins."""
        ...

    def route(self, request: RouteRequest) -> builtins.list[str]:
        """The channels a payment would try, in order (no side effect)."""
        ...


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
class BillingAPI(Protocol):
    """``tenant.billing``: fee schedules and invoices (specified by the billing issue)."""


@runtime_checkable
class ReconciliationAPI(Protocol):
    """``tenant.reconciliation``: statements matched to the ledger (its own issue)."""


#: The component names the kernel knows, with the interface each must satisfy.
#: Plugins may provide other components too (``lending``, ``cockpit`` …);
#: those are reached with ``tenant.component(name)``.
COMPONENTS: Final[dict[str, type]] = {
    "billing": BillingAPI,
    "events": EventsAPI,
    "ledger": LedgerAPI,
    "payments": PaymentsAPI,
    "reconciliation": ReconciliationAPI,
    "risk": RiskAPI,
}
