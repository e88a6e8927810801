"""The unit of work: one tenant transaction and the kernel services bound to it.

A component that writes opens a unit of work, does everything the step needs
through it (its own tables through :attr:`UnitOfWork.conn` with SQLAlchemy
Core, ledger entries, events, idempotency keys) and commits::

    with self.context.unit_of_work() as uow:
        claimed = uow.idempotency.claim(key, "capture", digest)
        uow.conn.execute(insert(my_table).values(...))
        uow.ledger.transfer(...)
        uow.events.emit(Event(...))
        uow.commit()

Commit is explicit and rollback the default: leaving the ``with`` block
without :meth:`~UnitOfWork.commit` (an exception, a ``return`` before it)
rolls everything back, ledger entries, events and keys included. Per-step
state a component keeps (rows it read, changes to write at the end) lives on
its own objects, never on the connection; :meth:`~UnitOfWork.before_commit`
lets it write them last, inside the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import Connection, RootTransaction

from finplug._errors import UnitOfWorkError

if TYPE_CHECKING:
    from finplug._events import EventsSession
    from finplug._idempotency import IdempotencySession
    from finplug._storage import TenantStorage
    from finplug.components import EventsAPI, IdempotencyAPI, LedgerAPI
    from finplug.ledger.session import LedgerSession

__all__ = ["UnitOfWork"]


class UnitOfWork:
    """One transaction on a tenant's storage, with the ledger, events and keys bound to it.

    Made by :meth:`finplug.PluginContext.unit_of_work` (scope: the plugin's
    name) or :meth:`finplug.Tenant.unit_of_work`; use it as a context
    manager. Not thread-safe: one unit of work belongs to one caller.
    """

    __slots__ = (
        "_after",
        "_before",
        "_conn",
        "_events",
        "_events_api",
        "_idem",
        "_idem_api",
        "_large",
        "_ledger",
        "_ledger_api",
        "_state",
        "_storage",
        "_tx",
        "scope",
    )

    def __init__(
        self,
        storage: TenantStorage,
        *,
        scope: str,
        ledger: LedgerAPI,
        events: EventsAPI,
        idempotency: IdempotencyAPI,
    ) -> None:
        self._storage = storage
        self.scope = scope
        """The namespace of :attr:`idempotency`'s keys (the opening plugin's name)."""
        self._ledger_api = ledger
        self._events_api = events
        self._idem_api = idempotency
        self._conn: Connection | None = None
        self._tx: RootTransaction | None = None
        self._ledger: LedgerSession | None = None
        self._events: EventsSession | None = None
        self._idem: IdempotencySession | None = None
        self._before: list[Callable[[], None]] = []
        self._after: list[Callable[[], None]] = []
        self._large: int | None = None  # SQLite's wal_autocheckpoint before large_write()
        self._state = "new"

    # -- the frame ----------------------------------------------------------

    def __enter__(self) -> UnitOfWork:
        if self._state != "new":
            raise UnitOfWorkError("a unit of work is entered once; open a new one")
        self._conn, self._tx = self._storage.open_transaction()
        self._state = "open"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state == "open":
            self.rollback()

    def commit(self) -> None:
        """Run the ``before_commit`` callbacks, commit, then run the ``after_commit`` ones.

        A ``before_commit`` callback that raises rolls everything back (the
        error propagates). ``after_commit`` callbacks run once the data is
        durable; one that raises does not undo the commit, and its error
        propagates after the others ran.
        """
        self._require_open()
        try:
            for callback in self._before:
                callback()
        except BaseException:
            self.rollback()
            raise
        assert self._tx is not None
        try:
            self._tx.commit()
        finally:
            self._close("committed")
        failure: BaseException | None = None
        for callback in self._after:
            try:
                callback()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def rollback(self) -> None:
        """Undo everything done through this unit of work (what leaving it uncommitted does)."""
        self._require_open()
        assert self._tx is not None
        try:
            self._tx.rollback()
        finally:
            self._close("rolled back")

    def before_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` inside the transaction just before it commits (in order added)."""
        self._require_open()
        self._before.append(callback)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the transaction has committed (never after a rollback)."""
        self._require_open()
        self._after.append(callback)

    def large_write(self) -> None:
        """Say that this transaction writes a great deal (a bulk import, a million matches).

        On SQLite its commit then leaves copying the write-ahead log back
        into the database (the checkpoint: seconds for a million rows) to the
        process's background checkpointer (:mod:`finplug._storage.checkpoint`),
        as it does for every small commit, instead of doing it inside the
        commit because the log grew past the fallback bound. The commit is as
        durable as any other; the log is checkpointed in the next round. The
        connection's own bound is back once the unit of work ends. Other
        databases: nothing.
        """
        self._require_open()
        conn = self.conn
        if conn.dialect.name != "sqlite" or self._large is not None:
            return
        raw = conn.connection.dbapi_connection
        assert raw is not None
        (self._large,) = raw.execute("PRAGMA wal_autocheckpoint").fetchone()
        raw.execute("PRAGMA wal_autocheckpoint = 0")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the work that may fail alone: an exception undoes only the part.

        Inside the block the work runs in a savepoint of the transaction. If
        the block raises, the savepoint is rolled back (its rows, ledger
        entries, events and keys undone), the ``before_commit`` and
        ``after_commit`` callbacks it added are dropped, and the exception
        propagates; the unit of work stays open with what came before. The
        payments component runs each ``finplug_payment_booked`` implementation
        this way.
        """
        self._require_open()
        conn = self.conn
        before, after = len(self._before), len(self._after)
        nested = conn.begin_nested()
        try:
            yield
        except BaseException:
            if nested.is_active:
                nested.rollback()
            del self._before[before:]
            del self._after[after:]
            raise
        nested.commit()

    @property
    def active(self) -> bool:
        """Whether the unit of work is open: entered, neither committed nor rolled back."""
        return self._state == "open"

    # -- what it hands out --------------------------------------------------

    @property
    def conn(self) -> Connection:
        """The transaction's connection, for the component's own tables (SQLAlchemy Core)."""
        self._require_open()
        assert self._conn is not None
        return self._conn

    @property
    def ledger(self) -> LedgerSession:
        """The tenant's ledger inside this transaction.

        A refused ledger request (an overdraft, a reused key) writes nothing
        and leaves the unit of work usable; a database error leaves it fit
        only for rollback.
        """
        ledger = self._ledger
        if ledger is None:
            ledger = self._ledger = self._ledger_api.bind(self.conn, savepoint=False)
        return ledger

    @property
    def events(self) -> EventsSession:
        """The tenant's outbox inside this transaction: events are delivered after commit."""
        events = self._events
        if events is None:
            events = self._events = self._events_api.bind(self.conn)
        return events

    @property
    def idempotency(self) -> IdempotencySession:
        """The idempotency service inside this transaction, for keys of :attr:`scope`."""
        idem = self._idem
        if idem is None:
            idem = self._idem = self._idem_api.bind(self.conn, self.scope)
        return idem

    # -- internals ----------------------------------------------------------

    def _require_open(self) -> None:
        if self._state != "open":
            what = "not entered" if self._state == "new" else self._state
            raise UnitOfWorkError(
                f"this unit of work is {what}; open a new one (`with ….unit_of_work() as uow:`)"
            )

    def _close(self, state: str) -> None:
        conn = self._conn
        self._state = state
        self._conn = self._tx = None
        self._ledger = self._events = self._idem = None
        self._before.clear()
        if conn is not None:
            if self._large is not None:  # the connection goes back to the pool as it came
                raw = conn.connection.dbapi_connection
                if raw is not None:
                    raw.execute(f"PRAGMA wal_autocheckpoint = {int(self._large)}")
                self._large = None
            conn.close()

    def __repr__(self) -> str:
        state = self._state
        return f"<UnitOfWork tenant={self._storage.tenant_id!r} scope={self.scope!r} {state}>"
