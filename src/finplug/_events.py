"""Domain events: a transactional outbox, delivered after commit, at least once.

A plugin emits an :class:`Event` on the connection of the transaction that
makes the business change (``events.emit(conn, event)``); the event is a row
in the tenant's outbox table, so it commits or rolls back with that change.
:meth:`Events.dispatch` later reads committed, undelivered events and calls
every ``finplug_on_event`` implementation with each, then records it as
delivered.

Ordering: positions follow commit order
=======================================

An autoincrement id is handed out at ``INSERT``, but transactions commit in
any order: with ids 7 and 8 in flight, 8 may commit first, and a dispatcher
that delivered 8 and remembers "delivered up to 8" never delivers 7. Here an
event's position (:attr:`Event.id`) comes from a per-tenant counter row
(``events_counter``) that :meth:`EventsSession.emit` increments in the
emitting transaction (``UPDATE … RETURNING``: one statement that takes the
row lock and reads the new position; a duplicate event gives it back). The
row lock is held until that transaction ends, so a second emitter waits for
the first to commit or roll back before it gets the next position. Hence:

* position order is commit order: when position *p* is visible, every
  position below *p* is already committed or was never used;
* positions have no gaps: a rolled-back transaction also rolls back its
  counter increment, and the next emitter reuses the position;
* events of one aggregate are numbered in the order they committed.

On SQLite, ``BEGIN IMMEDIATE`` (see :mod:`finplug._storage`) already
serialises writers; the counter works the same way there. The price is that
emitting transactions of one tenant are serialised from their first emit to
their commit (as ledger writers already are by the chain head). Emit as late
as possible in a transaction, just before it commits, to keep that window
short and to take locks in one order (ledger first, then events).

Delivery state is kept per event as well (``delivered_at``, ``attempts``,
``last_error`` on the outbox row, with a partial index over the undelivered
ones), not as a "delivered up to" cursor: that is what lets one failing
aggregate wait while the others move on.

Failure policy: the aggregate waits, the tenant does not
=========================================================

:meth:`Events.dispatch` walks undelivered events in position order. If a
listener raises, that event stays undelivered (its ``attempts`` and
``last_error`` are recorded) and its aggregate is *blocked* for the rest of
the dispatch: no later event of that aggregate is delivered before it. Other
aggregates carry on, so one poison event does not stall a tenant. The next
dispatch retries the oldest undelivered event of each aggregate first. A
listener exception stops pluggy's call loop, so the retry goes to every
listener again: delivery is *at least once*, and listeners deduplicate by
:attr:`Event.dedupe_key`. A crash (or ``KeyboardInterrupt``) after the
listeners ran but before the delivery was recorded also redelivers.

One dispatcher per tenant
=========================

Order per aggregate needs a single dispatcher per tenant, also across worker
processes. The dispatcher holds a database lock for the whole dispatch, so a
crashed dispatcher's lock goes away with its process:

* PostgreSQL: a row lock on ``events_dispatcher`` (``FOR UPDATE SKIP
  LOCKED``), held by a transaction on a dedicated connection that writes
  nothing. Reads and delivery records use their own short transactions.
* SQLite: SQLite's write lock (``BEGIN EXCLUSIVE``) on a companion lock
  database next to the tenant's file (``<file>-events-lock``). Holding the
  tenant file's own write lock across listener calls would block every writer
  of the tenant for as long as listeners run, including listeners that write
  to the tenant's storage (a projection, a follow-up event), which would wait
  for the lock their own dispatcher holds.

A dispatcher that finds the lock taken returns at once with
``DispatchReport(busy=True)``; it does not wait.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    bindparam,
    insert,
    select,
    update,
)

from finplug._errors import FinplugError
from finplug._fastsql import FastSQL
from finplug._time import as_utc, utc_now

if TYPE_CHECKING:
    from finplug._storage import TenantStorage

__all__ = [
    "DeliveryFailure",
    "DispatchReport",
    "Event",
    "EventError",
    "Events",
    "EventsSession",
    "events_metadata",
    "install_events",
]

_MAX_NAME: Final = 200
_MAX_ERROR: Final = 1000
_PAGE: Final = 200

# ---------------------------------------------------------------- tables

#: The outbox's tables (declared without a schema, like the ledger's).
events_metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

outbox = Table(
    "events_outbox",
    events_metadata,
    # Allocated from events_counter in the emitting transaction: commit order, no gaps.
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("dedupe_key", String(_MAX_NAME), nullable=False, unique=True),
    Column("aggregate", String(_MAX_NAME), nullable=False),
    Column("type", String(_MAX_NAME), nullable=False),
    Column("payload", Text, nullable=False),  # canonical JSON
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(_MAX_ERROR), nullable=True),
    CheckConstraint("position > 0", name="position_positive"),
    CheckConstraint("attempts >= 0", name="attempts_non_negative"),
    Index("ix_events_outbox_aggregate_position", "aggregate", "position"),
)

# What dispatch scans: only the undelivered rows, in position order.
Index(
    "ix_events_outbox_undelivered",
    outbox.c.position,
    postgresql_where=outbox.c.delivered_at.is_(None),
    sqlite_where=outbox.c.delivered_at.is_(None),
)

counter = Table(
    "events_counter",
    events_metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("last_position", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

dispatcher = Table(
    "events_dispatcher",
    events_metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    CheckConstraint("id = 1", name="single_row"),
)


def install_events(conn: Connection) -> None:
    """Create the outbox tables and their single-row state (idempotent).

    Run inside the tenant's storage transaction, like
    :func:`finplug.ledger.schema.install_ledger`; migrations call this, tests may
    call it directly.
    """
    events_metadata.create_all(conn)
    if conn.execute(select(counter.c.id)).first() is None:
        conn.execute(insert(counter).values(id=1, last_position=0))
    if conn.execute(select(dispatcher.c.id)).first() is None:
        conn.execute(insert(dispatcher).values(id=1))


# ---------------------------------------------------------------- values


class EventError(FinplugError):
    """An event was refused (invalid value) or the outbox is not installed."""


def _check_json(value: object, path: str) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EventError(f"event payload {path} is {value}; JSON has no NaN or infinity")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EventError(f"event payload {path} has a non-string key {key!r}")
            _check_json(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]")
        return
    hint = " (pass amounts as strings)" if type(value).__name__ in ("Decimal", "Money") else ""
    raise EventError(f"event payload {path} is a {type(value).__name__}, which is not JSON{hint}")


def _canonical_json(payload: Mapping[str, Any]) -> str:
    """The payload as canonical JSON: sorted keys, no spaces (its stored form)."""
    _check_json(payload, "payload")
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _check_name(what: str, value: object) -> None:
    if not isinstance(value, str) or not value or len(value) > _MAX_NAME:
        raise EventError(f"an event's {what} must be a string of 1 to {_MAX_NAME} characters")


@dataclass(frozen=True, slots=True)
class Event:
    """A domain event: something that happened to an aggregate.

    ``Event("payment.captured", "payment:pay_123", {"amount": "12.50"})``.
    The payload is a JSON-able mapping (string keys; ``None``, booleans,
    numbers, strings, lists and mappings; amounts as strings) and is copied
    on construction. Events are equal when all their fields are.
    """

    type: str
    """What happened, e.g. ``"payment.captured"``."""
    aggregate: str
    """What it happened to, e.g. ``"payment:pay_123"``; the unit of ordering."""
    payload: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """The event's data (JSON-able); treat it as read-only."""
    dedupe_key: str = ""
    """Unique per event. Default: derived from type, aggregate and payload, so
    an identical event emitted twice is stored once; pass your operation's
    idempotency key when the same content may legitimately happen twice."""
    id: int | None = None
    """The outbox position, set when stored (ignored by :meth:`EventsSession.emit`)."""
    occurred_at: datetime | None = None
    """When it happened (UTC, timezone-aware); default: the clock at emit time."""

    def __post_init__(self) -> None:
        _check_name("type", self.type)
        _check_name("aggregate", self.aggregate)
        if not isinstance(self.payload, Mapping):
            raise EventError("an event's payload must be a mapping")
        text = _canonical_json(self.payload)
        object.__setattr__(self, "payload", json.loads(text))
        if not self.dedupe_key:
            digest = hashlib.sha256(f"{self.type}\x1f{self.aggregate}\x1f{text}".encode())
            object.__setattr__(self, "dedupe_key", "sha256:" + digest.hexdigest())
        _check_name("dedupe_key", self.dedupe_key)
        if self.occurred_at is not None and self.occurred_at.tzinfo is None:
            raise EventError("an event's occurred_at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    """An event a listener refused during a dispatch; it stays undelivered."""

    event: Event
    """The event that was not delivered."""
    error: Exception
    """What the listener raised."""
    attempts: int
    """Deliveries tried so far, this one included."""


@dataclass(frozen=True, slots=True)
class DispatchReport:
    """What one :meth:`Events.dispatch` did."""

    delivered: tuple[Event, ...] = ()
    """Events delivered to every listener and recorded, in delivery order."""
    failed: tuple[DeliveryFailure, ...] = ()
    """Events a listener raised on; their aggregates waited for the next dispatch."""
    busy: bool = False
    """Another dispatcher of this tenant was running; this one did nothing."""


def _event_from_row(row: Any) -> Event:
    return Event(
        type=row.type,
        aggregate=row.aggregate,
        payload=json.loads(row.payload),
        dedupe_key=row.dedupe_key,
        id=row.position,
        occurred_at=as_utc(row.occurred_at),
    )


# ---------------------------------------------------------------- emitting


# The outbox is on every business write's path: emit runs its two statements
# through FastSQL; the rare duplicate's give-back and read are prebuilt Core.
_COUNTER_ROW: Final = {"id": 1}
_GIVE_BACK_POSITION = (
    update(counter).where(counter.c.id == 1).values(last_position=counter.c.last_position - 1)
)
_BY_DEDUPE_KEY = select(outbox).where(outbox.c.dedupe_key == bindparam("b_key"))


class EventsSession:
    """Outbox calls inside a transaction the caller owns (see :meth:`Events.bind`)."""

    def __init__(self, conn: Connection, clock: Callable[[], datetime] = utc_now) -> None:
        self.conn = conn
        self._clock = clock

    def emit(self, event: Event) -> Event:
        """Store ``event`` in this transaction; it is delivered once the transaction commits.

        Returns the stored event (its ``id`` is its position). If an event with
        the same ``dedupe_key`` is already stored (committed, or emitted earlier
        in this transaction), nothing is written and that event is returned.
        Takes the tenant's outbox counter lock until the transaction ends.
        """
        conn = self.conn
        fast = FastSQL.of(conn)
        # Taking the next position locks the counter row (the writers' queue) and
        # reads it in one statement; a duplicate gives the position back.
        position = fast.increment(conn, counter, "last_position", _COUNTER_ROW)
        if position is None:
            raise EventError("the events outbox is not installed in this tenant's storage")
        occurred = as_utc(event.occurred_at or self._clock())
        written = fast.insert_new(
            conn,
            outbox,
            {
                "position": position,
                "dedupe_key": event.dedupe_key,
                "aggregate": event.aggregate,
                "type": event.type,
                "payload": _canonical_json(event.payload),
                "occurred_at": occurred,
                "delivered_at": None,
                "attempts": 0,
                "last_error": None,
            },
            ("dedupe_key",),
        )
        if not written:
            conn.execute(_GIVE_BACK_POSITION)
            stored = conn.execute(_BY_DEDUPE_KEY, {"b_key": event.dedupe_key}).one()
            return _event_from_row(stored)
        return Event(
            event.type, event.aggregate, event.payload, event.dedupe_key, position, occurred
        )


# ---------------------------------------------------------------- the component


class Events:
    """A tenant's outbox: emit in the caller's transaction, dispatch after commit.

    ``deliver`` is called with each event by :meth:`dispatch` (the kernel's
    plugin passes the tenant's ``finplug_on_event`` hook); an exception from
    it means "not delivered".
    """

    def __init__(
        self,
        storage: TenantStorage,
        deliver: Callable[[Event], object],
        *,
        clock: Callable[[], datetime] = utc_now,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self._storage = storage
        self._deliver = deliver
        self._clock = clock
        self._log = log or logging.getLogger("finplug.events")
        self._local_lock = threading.Lock()  # in-memory SQLite only: no file to lock

    # -- emitting ---------------------------------------------------------

    def bind(self, conn: Connection) -> EventsSession:
        """Outbox calls inside a transaction the caller owns on the tenant's storage."""
        return EventsSession(conn, self._clock)

    def emit(self, conn: Connection, event: Event) -> Event:
        """Store ``event`` in the caller's transaction (see :meth:`EventsSession.emit`)."""
        return EventsSession(conn, self._clock).emit(event)

    # -- reading ----------------------------------------------------------

    def events(
        self, after: int = 0, limit: int = 1000, *, aggregate: str | None = None
    ) -> list[Event]:
        """Committed events in position order after position ``after``, delivered or not."""
        query = select(outbox).where(outbox.c.position > after)
        if aggregate is not None:
            query = query.where(outbox.c.aggregate == aggregate)
        with self._storage.begin() as conn:
            rows = conn.execute(query.order_by(outbox.c.position).limit(limit)).all()
        return [_event_from_row(r) for r in rows]

    def undelivered(self, limit: int = 1000) -> list[Event]:
        """Committed events not yet delivered, in position order."""
        query = select(outbox).where(outbox.c.delivered_at.is_(None))
        with self._storage.begin() as conn:
            rows = conn.execute(query.order_by(outbox.c.position).limit(limit)).all()
        return [_event_from_row(r) for r in rows]

    # -- delivering -------------------------------------------------------

    def dispatch(self, limit: int = 100) -> DispatchReport:
        """Deliver up to ``limit`` undelivered events to the listeners, in position order.

        Each event is recorded as delivered, in its own transaction, right
        after every listener accepted it. If a listener raises, the event
        stays undelivered and later events of its aggregate wait (other
        aggregates go on). Returns at once with ``busy=True`` if another
        dispatcher of this tenant is running. Call it outside any transaction
        on the tenant's storage (it opens its own).
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        with self._dispatcher_lock() as held:
            if not held:
                return DispatchReport(busy=True)
            return self._dispatch(limit)

    def _dispatch(self, limit: int) -> DispatchReport:
        delivered: list[Event] = []
        failed: list[DeliveryFailure] = []
        blocked: set[str] = set()
        after = 0
        while (room := limit - len(delivered) - len(failed)) > 0:
            query = select(outbox).where(outbox.c.delivered_at.is_(None), outbox.c.position > after)
            if blocked:
                query = query.where(outbox.c.aggregate.not_in(sorted(blocked)))
            with self._storage.begin() as conn:
                rows = conn.execute(query.order_by(outbox.c.position).limit(min(room, _PAGE))).all()
            if not rows:
                break
            for row in rows:
                after = row.position
                event = _event_from_row(row)
                if event.aggregate in blocked:
                    continue  # an earlier event of this aggregate failed in this page
                try:
                    self._deliver(event)
                except Exception as exc:
                    blocked.add(event.aggregate)
                    failed.append(DeliveryFailure(event, exc, row.attempts + 1))
                    self._record(event, error=f"{type(exc).__name__}: {exc}")
                    self._log.warning(
                        "event %s (%s, %s) not delivered, attempt %d; its aggregate waits",
                        event.id,
                        event.type,
                        event.aggregate,
                        row.attempts + 1,
                        exc_info=exc,
                    )
                    continue
                self._record(event, error=None)
                delivered.append(event)
        return DispatchReport(tuple(delivered), tuple(failed))

    def _record(self, event: Event, *, error: str | None) -> None:
        values: dict[str, Any] = {"attempts": outbox.c.attempts + 1}
        if error is None:
            values.update(delivered_at=self._clock(), last_error=None)
        else:
            values.update(last_error=error[:_MAX_ERROR])
        with self._storage.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.position == event.id).values(**values))

    @contextmanager
    def _dispatcher_lock(self) -> Iterator[bool]:
        """Hold this tenant's dispatcher lock for the block; yields whether it was free."""
        if self._storage.dialect == "sqlite":
            with self._sqlite_lock() as held:
                yield held
            return
        with self._storage.begin() as conn:
            row = conn.execute(
                select(dispatcher.c.id)
                .where(dispatcher.c.id == 1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None and conn.execute(select(dispatcher.c.id)).first() is None:
                raise EventError("the events outbox is not installed in this tenant's storage")
            yield row is not None

    @contextmanager
    def _sqlite_lock(self) -> Iterator[bool]:
        database = self._storage.engine.url.database
        if not database or database == ":memory:":
            held = self._local_lock.acquire(blocking=False)
            try:
                yield held
            finally:
                if held:
                    self._local_lock.release()
            return
        lock = sqlite3.connect(
            f"{database}-events-lock", timeout=0, isolation_level=None, check_same_thread=False
        )
        try:
            try:
                lock.execute("BEGIN EXCLUSIVE")
                held = True
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                held = False
            yield held
        finally:
            if lock.in_transaction:
                lock.execute("ROLLBACK")  # releases the lock
            lock.close()
