"""The kernel's idempotency service: one table of keys for every component.

Semantics are Stripe's, for any component that takes an idempotency key:

* the **first** call with a key does the work; its result (an error
  included) is stored with the key and **replayed** to every later call with
  the same key and the same request;
* the same key with **another request** (other arguments, or another
  operation) is refused: :class:`~finplug.IdempotencyConflictError`;
* **concurrent duplicates have one effect**: the key is claimed by an insert
  in the transaction that does the work, so of two callers racing with one
  key exactly one claims it; the other sees the claim once that transaction
  commits (PostgreSQL makes it wait for the insert's outcome);
* a call whose first attempt is **still in progress** is answered with
  :class:`~finplug.IdempotencyInProgressError` once the caller's wait ends;
* a finished key **expires** after the tenant's retention (24 hours unless
  configured, ``plugins: {idempotency: {retention_hours: N}}``); the job
  ``idempotency.purge`` deletes expired keys, and a key reused after its
  expiry is a new request. A key still in progress never expires: the
  component that claimed it (a janitor) must finish it.

Keys live per *scope* (a component's own namespace, by default the plugin
name that opened the unit of work), so two components never collide on a
caller's key. A component stores its result as text (usually JSON) and
decodes it itself: the kernel never interprets it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.engine import Row

from finplug._errors import IdempotencyConflictError, IdempotencyInProgressError
from finplug._fastsql import FastSQL
from finplug._text import cut
from finplug._time import as_utc, utc_now

__all__ = [
    "DEFAULT_RETENTION",
    "MAX_IDEMPOTENCY_KEY",
    "Idempotency",
    "IdempotencySession",
    "StoredKey",
    "idempotency_keys",
    "request_digest",
]

#: The longest key the service stores (characters).
MAX_IDEMPOTENCY_KEY: Final = 255
#: The longest scope name.
MAX_SCOPE: Final = 64
#: How long a finished key is kept unless the tenant configures otherwise (Stripe's 24 hours).
DEFAULT_RETENTION: Final = timedelta(hours=24)

metadata = MetaData()

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(MAX_SCOPE), primary_key=True),
    Column("key", String(MAX_IDEMPOTENCY_KEY), primary_key=True),
    Column("operation", String(64), nullable=False),
    Column("request_hash", LargeBinary(32), nullable=False),
    # "started" until the component stores its result, then "done".
    Column("state", String(8), nullable=False),
    # What the call works on (a payment id …), so a janitor can finish keys cut off.
    Column("resource", String(128), nullable=True),
    Column("response", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # Set when the key is finished: created_at's retention is not enough for a
    # call that ran long; a started key has none and never expires.
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Index("ix_idempotency_keys_expires", "expires_at"),
    Index("ix_idempotency_keys_resource", "scope", "resource"),
)

_T = idempotency_keys
_SELECT: Final = select(_T).where(
    and_(_T.c.scope == bindparam("b_scope"), _T.c.key == bindparam("b_key"))
)


def request_digest(operation: str, args: Mapping[str, object]) -> bytes:
    """The SHA-256 of a request: its operation and arguments as canonical JSON.

    Two calls are "the same request" when their digests are equal. ``args``
    holds JSON values only (str, int, bool, None, lists and dicts of them;
    money as its exact string, never a float) and no key named ``"op"``.
    """
    if "op" in args:
        raise ValueError("request arguments must not use the key 'op' (it names the operation)")
    try:
        text = json.dumps(
            {"op": operation, **args}, sort_keys=True, separators=(",", ":"), allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise TypeError(f"request arguments must be plain JSON values: {exc}") from None
    return hashlib.sha256(text.encode()).digest()


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key as the service holds it: who claimed it for what, and its result once done."""

    scope: str
    """The component namespace the key belongs to."""
    key: str
    """The caller's key."""
    operation: str
    """The operation it was first used for."""
    state: Literal["started", "done"]
    """``started`` while the first call runs (or was cut off), ``done`` with its result."""
    resource: str | None
    """What the call works on (a payment id …), if the component said."""
    response: str | None
    """The stored result (the component's own text), once ``done``."""
    request_hash: bytes
    """The digest of the request that claimed it (:func:`request_digest`)."""
    created_at: datetime
    """When the key was first claimed."""
    expires_at: datetime | None
    """When a ``done`` key may be purged; ``None`` while ``started``."""

    @property
    def done(self) -> bool:
        """Whether the first call finished and its result can be replayed."""
        return self.state == "done"


def _stored(row: Row[object]) -> StoredKey:
    r = row._mapping
    return StoredKey(
        scope=r["scope"],
        key=r["key"],
        operation=r["operation"],
        state=r["state"],
        resource=r["resource"],
        response=r["response"],
        request_hash=bytes(r["request_hash"]),
        created_at=as_utc(r["created_at"]),
        expires_at=None if r["expires_at"] is None else as_utc(r["expires_at"]),
    )


def _check(scope: str, key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError("an idempotency key must be a non-empty string")
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise ValueError(
            f"idempotency key {cut(key, 40)!r}: at most {MAX_IDEMPOTENCY_KEY} characters"
        )
    if "\x00" in key:
        raise ValueError("an idempotency key must not contain NUL")
    if not scope or len(scope) > MAX_SCOPE:
        raise ValueError(f"an idempotency scope has 1 to {MAX_SCOPE} characters, got {scope!r}")


class IdempotencySession:
    """The idempotency service inside one transaction (a unit of work's).

    The claim is written in the caller's transaction: if the work fails and
    the transaction rolls back, the claim goes with it and the key may be
    used again; if it commits, the key is taken.
    """

    __slots__ = ("_clock", "_retention", "conn", "scope")

    def __init__(
        self,
        conn: Connection,
        scope: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.conn = conn
        """The transaction's connection."""
        self.scope = scope
        """The namespace this session's keys live in."""
        self._retention = retention
        self._clock = clock

    def claim(
        self, key: str, operation: str, digest: bytes, *, resource: str | None = None
    ) -> StoredKey | None:
        """Take ``key`` for this request, or say who has it.

        Returns ``None`` when the key is new (or had expired): it is now
        claimed in this transaction and the caller does the work, then calls
        :meth:`finish` before committing (or later, in another transaction,
        if the work spans calls to the outside world). Returns the stored key
        when the same request already claimed it: ``done`` (replay its
        response) or ``started`` (in progress; see :meth:`Idempotency.wait`).
        Raises :class:`~finplug.IdempotencyConflictError` when the key was
        used for another request. On PostgreSQL a claim racing with another
        transaction's uncommitted claim of the same key waits for it.
        """
        _check(self.scope, key)
        conn = self.conn
        now = self._clock()
        values = {
            "scope": self.scope,
            "key": key,
            "operation": operation,
            "request_hash": digest,
            "state": "started",
            "resource": resource,
            "response": None,
            "created_at": now,
            "finished_at": None,
            "expires_at": None,
        }
        if FastSQL.of(conn).insert_new(conn, _T, values, ("scope", "key")):
            return None
        row = conn.execute(_SELECT, {"b_scope": self.scope, "b_key": key}).one()
        stored = _stored(row)
        if stored.done and stored.expires_at is not None and stored.expires_at <= now:
            # Expired but not purged yet: the key is free again.
            conn.execute(
                update(_T)
                .where(and_(_T.c.scope == self.scope, _T.c.key == key))
                .values(**{k: v for k, v in values.items() if k not in ("scope", "key")})
            )
            return None
        if stored.request_hash != digest or stored.operation != operation:
            raise IdempotencyConflictError(
                key,
                f"idempotency key {cut(key, 40)!r} was first used for {stored.operation}"
                " with other arguments; use a new key for a new request",
                operation=stored.operation,
            )
        return stored

    def finish(self, key: str, response: str, *, resource: str | None = None) -> None:
        """Store the first call's result (``response``) with the key; later calls replay it.

        ``resource`` replaces the one given at the claim, when given. The
        key expires after the tenant's retention, counted from now.
        """
        now = self._clock()
        values: dict[str, object] = {
            "state": "done",
            "response": response,
            "finished_at": now,
            "expires_at": now + self._retention,
        }
        if resource is not None:
            values["resource"] = resource
        changed = FastSQL.of(self.conn).update(
            self.conn, _T, values, {"scope": self.scope, "key": key}
        )
        if changed != 1:
            raise LookupError(f"idempotency key {cut(key, 40)!r} is not claimed in {self.scope!r}")

    def get(self, key: str) -> StoredKey | None:
        """The key as stored (``None`` if never claimed or purged)."""
        row = self.conn.execute(_SELECT, {"b_scope": self.scope, "b_key": key}).first()
        return None if row is None else _stored(row)

    def started(self, resource: str) -> list[StoredKey]:
        """Keys of this scope still in progress for ``resource`` (calls a janitor must finish)."""
        rows = self.conn.execute(
            select(_T)
            .where(
                and_(_T.c.scope == self.scope, _T.c.resource == resource, _T.c.state == "started")
            )
            .order_by(_T.c.created_at, _T.c.key)
        )
        return [_stored(r) for r in rows]


class Idempotency:
    """A tenant's idempotency service, provided as the ``idempotency`` component.

    :meth:`bind` gives the service inside a transaction (a unit of work does
    it for you: ``uow.idempotency``); :meth:`wait` and :meth:`purge` run
    transactions of their own.
    """

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        *,
        retention: timedelta = DEFAULT_RETENTION,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if retention <= timedelta(0):
            raise ValueError(f"retention must be positive, got {retention}")
        self._begin = begin
        self.retention = retention
        """How long a finished key is kept."""
        self._clock = clock

    def bind(self, conn: Connection, scope: str) -> IdempotencySession:
        """The service inside a transaction the caller owns, for keys of ``scope``."""
        return IdempotencySession(conn, scope, retention=self.retention, clock=self._clock)

    def get(self, scope: str, key: str) -> StoredKey | None:
        """The key as stored now (its own transaction)."""
        with self._begin() as conn:
            return self.bind(conn, scope).get(key)

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
        """The finished key, waiting up to ``timeout`` seconds for a call in progress.

        Raises :class:`~finplug.IdempotencyInProgressError` when the first call
        has not finished by then, :class:`~finplug.IdempotencyConflictError`
        when the key holds another request, and :class:`LookupError` when the
        key is not (or no longer) stored: the claim was rolled back, so the
        caller may claim it again.
        """
        deadline = time.monotonic() + timeout
        while True:
            stored = self.get(scope, key)
            if stored is None:
                raise LookupError(f"idempotency key {cut(key, 40)!r} is not claimed in {scope!r}")
            if stored.operation != operation or stored.request_hash != digest:
                raise IdempotencyConflictError(
                    key,
                    f"idempotency key {cut(key, 40)!r} was first used for {stored.operation}"
                    " with other arguments; use a new key for a new request",
                    operation=stored.operation,
                )
            if stored.done:
                return stored
            if time.monotonic() >= deadline:
                raise IdempotencyInProgressError(key)
            time.sleep(poll)

    def purge(self, now: datetime | None = None) -> int:
        """Delete the finished keys whose retention has passed; how many went.

        Keys still in progress are kept whatever their age.
        """
        at = now or self._clock()
        with self._begin() as conn:
            done = conn.execute(delete(_T).where(and_(_T.c.state == "done", _T.c.expires_at <= at)))
            return int(done.rowcount)
