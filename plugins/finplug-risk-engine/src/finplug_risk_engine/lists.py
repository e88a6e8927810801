"""Block and allow lists: customers, merchants, card fingerprints, IPs, countries, e-mail domains.

Entries live in the tenant's storage (``risk_list_entries``), each with who
added it, why, and an optional expiry; every change is appended to
``risk_list_audit`` (who did what, when, why), which nothing updates or
deletes. Values are normalized before they are stored or looked up, so
``de`` and ``DE``, ``2001:DB8::1`` and ``2001:db8::1``, ``Example.COM`` and
``example.com`` are one entry each. A decision asks for all of its subjects
at once (:meth:`RiskLists.matches`): one query, whatever the number of lists.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Row

from finplug import FastSQL, FinplugError, as_utc, utc_now
from finplug_risk_engine._checks import text
from finplug_risk_engine._tx import joined

__all__ = [
    "AuditRecord",
    "ListEntry",
    "ListError",
    "ListKind",
    "RiskLists",
    "Subject",
    "list_audit",
    "list_entries",
    "normalize",
]

#: The longest value a list holds (after normalization).
MAX_VALUE: Final = 256
#: The longest actor name and reason.
MAX_ACTOR: Final = 128
MAX_REASON: Final = 500


class ListKind(enum.StrEnum):
    """Which list: an allow list wins over a block list in a decision (Radar's precedence)."""

    BLOCK = "block"
    """Decline (or review, as the rule set says) what matches."""
    ALLOW = "allow"
    """Let through what matches, whatever a block rule says."""


class Subject(enum.StrEnum):
    """What a list entry names."""

    CUSTOMER = "customer"
    """A customer id, as the platform gives it."""
    MERCHANT = "merchant"
    """A merchant id."""
    CARD_FINGERPRINT = "card_fingerprint"
    """A card's fingerprint (never its number)."""
    IP = "ip"
    """An IPv4 or IPv6 address, stored in its compressed form."""
    COUNTRY = "country"
    """An ISO 3166-1 alpha-2 code, upper case."""
    EMAIL_DOMAIN = "email_domain"
    """The domain of an e-mail address, lower case (``user@`` is dropped)."""


class ListError(FinplugError, ValueError):
    """A list request with a bad value; nothing was written."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        """The argument at fault."""
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One value on one list."""

    list: ListKind
    """Block or allow."""
    subject: Subject
    """What the value names."""
    value: str
    """The normalized value."""
    reason: str
    """Why it was added."""
    added_by: str
    """Who added it (or last changed its expiry)."""
    added_at: datetime
    """When (UTC)."""
    expires_at: datetime | None
    """When it stops applying (UTC); ``None``: never."""

    def active(self, at: datetime) -> bool:
        """Whether the entry applies at ``at``."""
        return self.expires_at is None or self.expires_at > at


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One change to a list, as the audit keeps it."""

    id: int
    """The record's position in the audit (increasing)."""
    at: datetime
    """When (UTC)."""
    actor: str
    """Who."""
    action: str
    """``add`` (or re-add, changing the expiry), ``remove`` or ``expire``."""
    list: ListKind
    """Block or allow."""
    subject: Subject
    """What the value names."""
    value: str
    """The normalized value."""
    reason: str
    """Why."""
    expires_at: datetime | None
    """The expiry the entry had after the change."""


metadata = MetaData()

list_entries = Table(
    "risk_list_entries",
    metadata,
    Column("list", String(8), primary_key=True),
    Column("subject", String(24), primary_key=True),
    Column("value", String(MAX_VALUE), primary_key=True),
    Column("reason", String(MAX_REASON), nullable=False),
    Column("added_by", String(MAX_ACTOR), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    # A decision looks its subjects up on both lists at once.
    Index("ix_risk_list_entries_lookup", "subject", "value"),
)

list_audit = Table(
    "risk_list_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(MAX_ACTOR), nullable=False),
    Column("action", String(8), nullable=False),
    Column("list", String(8), nullable=False),
    Column("subject", String(24), nullable=False),
    Column("value", String(MAX_VALUE), nullable=False),
    Column("reason", String(MAX_REASON), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Index("ix_risk_list_audit_value", "subject", "value", "id"),
)

_COUNTRY = re.compile(r"[A-Z]{2}")
_DOMAIN_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _text(field: str, value: object, limit: int, *, empty: bool = False) -> str:
    return text(field, value, limit, ListError, empty=empty)


def normalize(subject: Subject | str, value: str) -> str:
    """``value`` as lists store it for ``subject``; :class:`ListError` if it is not one."""
    kind = _subject(subject)
    raw = _text("value", value, MAX_VALUE).strip()
    if kind is Subject.COUNTRY:
        code = raw.upper()
        if not _COUNTRY.fullmatch(code):
            raise ListError("value", f"a country is an ISO 3166-1 alpha-2 code, got {raw!r}")
        return code
    if kind is Subject.IP:
        try:
            return ipaddress.ip_address(raw).compressed
        except ValueError:
            raise ListError("value", f"not an IPv4 or IPv6 address: {raw[:60]!r}") from None
    if kind is Subject.EMAIL_DOMAIN:
        domain = raw.rsplit("@", 1)[-1].rstrip(".").lower()
        try:
            ascii_domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise ListError("value", f"not a domain name: {raw[:60]!r}") from None
        labels = ascii_domain.split(".")
        if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
            raise ListError("value", f"not a domain name: {raw[:60]!r}")
        return ascii_domain
    return raw


def _subject(subject: Subject | str) -> Subject:
    try:
        return Subject(subject)
    except ValueError:
        known = ", ".join(s.value for s in Subject)
        raise ListError("subject", f"unknown subject {subject!r} (known: {known})") from None


def _kind(kind: ListKind | str) -> ListKind:
    try:
        return ListKind(kind)
    except ValueError:
        raise ListError("list", f"expected 'block' or 'allow', got {kind!r}") from None


def _entry(row: Row[Any]) -> ListEntry:
    return _entry_of(dict(row._mapping))


def _entry_of(r: Mapping[str, Any]) -> ListEntry:
    return ListEntry(
        list=ListKind(r["list"]),
        subject=Subject(r["subject"]),
        value=r["value"],
        reason=r["reason"],
        added_by=r["added_by"],
        added_at=as_utc(r["added_at"]),
        expires_at=None if r["expires_at"] is None else as_utc(r["expires_at"]),
    )


class RiskLists:
    """A tenant's block and allow lists, over its storage.

    ``begin`` opens a transaction on the tenant's storage
    (:meth:`finplug.TenantStorage.begin`); every method runs in its own.
    """

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._begin = begin
        self._clock = clock

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._begin() as conn:
            yield conn

    def add(
        self,
        list: ListKind | str,
        subject: Subject | str,
        value: str,
        *,
        actor: str,
        reason: str = "",
        expires_at: datetime | None = None,
        ttl: timedelta | None = None,
    ) -> ListEntry:
        """Put ``value`` on a list (again: its reason and expiry are replaced); audited.

        ``expires_at`` (aware) or ``ttl`` (from now) makes it stop applying;
        neither: it applies until removed.
        """
        kind, subj = _kind(list), _subject(subject)
        normalized = normalize(subj, value)
        _text("actor", actor, MAX_ACTOR)
        _text("reason", reason, MAX_REASON, empty=True)
        now = self._clock()
        if expires_at is not None and ttl is not None:
            raise ListError("expires_at", "give expires_at or ttl, not both")
        if ttl is not None:
            if ttl <= timedelta(0):
                raise ListError("ttl", f"must be positive, got {ttl}")
            expires_at = now + ttl
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise ListError("expires_at", "must be timezone-aware")
            expires_at = as_utc(expires_at)
        entry = ListEntry(kind, subj, normalized, reason, actor, now, expires_at)
        key = and_(
            list_entries.c.list == kind.value,
            list_entries.c.subject == subj.value,
            list_entries.c.value == normalized,
        )
        values = {
            "reason": reason,
            "added_by": actor,
            "added_at": now,
            "expires_at": expires_at,
        }
        with self._tx() as conn:
            changed = conn.execute(update(list_entries).where(key).values(**values)).rowcount
            if not changed:
                conn.execute(
                    insert(list_entries).values(
                        list=kind.value, subject=subj.value, value=normalized, **values
                    )
                )
            self._audit(conn, now, actor, "add", kind, subj, normalized, reason, expires_at)
        return entry

    def remove(
        self,
        list: ListKind | str,
        subject: Subject | str,
        value: str,
        *,
        actor: str,
        reason: str = "",
    ) -> bool:
        """Take ``value`` off a list; whether it was there. Audited when it was."""
        kind, subj = _kind(list), _subject(subject)
        normalized = normalize(subj, value)
        _text("actor", actor, MAX_ACTOR)
        _text("reason", reason, MAX_REASON, empty=True)
        now = self._clock()
        with self._tx() as conn:
            gone = conn.execute(
                delete(list_entries).where(
                    and_(
                        list_entries.c.list == kind.value,
                        list_entries.c.subject == subj.value,
                        list_entries.c.value == normalized,
                    )
                )
            ).rowcount
            if gone:
                self._audit(conn, now, actor, "remove", kind, subj, normalized, reason, None)
        return bool(gone)

    def matches(
        self,
        subjects: Mapping[Subject | str, str | None],
        *,
        at: datetime | None = None,
        conn: Connection | None = None,
    ) -> list[ListEntry]:
        """Every active entry, on either list, for the given subjects' values (one query).

        ``subjects`` maps a subject to the decision's value for it; ``None``
        and values that do not normalize (a malformed IP in a request) match
        nothing. Entries come back allow list first, then by subject.
        """
        when = as_utc(at) if at is not None else self._clock()
        pairs = []
        for subject, value in subjects.items():
            if value is None:
                continue
            try:
                pairs.append((_subject(subject).value, normalize(subject, value)))
            except ListError:
                continue
        if not pairs:
            return []
        wanted = set(pairs)
        # subject IN (...) AND value IN (...) through the (subject, value) index,
        # then the exact pairs and the expiry here: one cheap statement per decision.
        where = {
            "subject": tuple(sorted({s for s, _ in pairs})),
            "value": tuple(sorted({v for _, v in pairs})),
        }
        with joined(self._begin, conn) as conn:
            rows = FastSQL.of(conn).select(conn, list_entries, where)
        found = [
            _entry_of(vars(r))
            for r in rows
            if (r.subject, r.value) in wanted
            and (r.expires_at is None or as_utc(r.expires_at) > when)
        ]
        order = {ListKind.ALLOW: 0, ListKind.BLOCK: 1}
        return sorted(found, key=lambda e: (order[e.list], e.subject.value, e.value))

    def contains(
        self,
        list: ListKind | str,
        subject: Subject | str,
        value: str,
        *,
        at: datetime | None = None,
    ) -> bool:
        """Whether ``value`` is on the list and active at ``at`` (default: now)."""
        kind = _kind(list)
        return any(e.list is kind for e in self.matches({subject: value}, at=at))

    def entries(
        self,
        list: ListKind | str | None = None,
        subject: Subject | str | None = None,
        *,
        at: datetime | None = None,
        include_expired: bool = False,
    ) -> Sequence[ListEntry]:
        """The entries of a list (or both), of a subject (or all), by list, subject and value."""
        query = select(list_entries)
        if list is not None:
            query = query.where(list_entries.c.list == _kind(list).value)
        if subject is not None:
            query = query.where(list_entries.c.subject == _subject(subject).value)
        if not include_expired:
            when = as_utc(at) if at is not None else self._clock()
            query = query.where(
                or_(list_entries.c.expires_at.is_(None), list_entries.c.expires_at > when)
            )
        query = query.order_by(list_entries.c.list, list_entries.c.subject, list_entries.c.value)
        with self._tx() as conn:
            return [_entry(r) for r in conn.execute(query)]

    def expire(self, *, at: datetime | None = None, actor: str = "risk-engine") -> int:
        """Delete the entries whose expiry has passed, auditing each as ``expire``; how many."""
        when = as_utc(at) if at is not None else self._clock()
        with self._tx() as conn:
            gone = [
                _entry(r)
                for r in conn.execute(select(list_entries).where(list_entries.c.expires_at <= when))
            ]
            for e in gone:
                conn.execute(
                    delete(list_entries).where(
                        and_(
                            list_entries.c.list == e.list.value,
                            list_entries.c.subject == e.subject.value,
                            list_entries.c.value == e.value,
                        )
                    )
                )
                self._audit(
                    conn, when, actor, "expire", e.list, e.subject, e.value, e.reason, e.expires_at
                )
        return len(gone)

    def audit(
        self,
        *,
        subject: Subject | str | None = None,
        value: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> Sequence[AuditRecord]:
        """The audit trail, oldest first, after record ``after``; of one value if given."""
        query = select(list_audit).where(list_audit.c.id > after)
        if subject is not None:
            subj = _subject(subject)
            query = query.where(list_audit.c.subject == subj.value)
            if value is not None:
                query = query.where(list_audit.c.value == normalize(subj, value))
        query = query.order_by(list_audit.c.id).limit(limit)
        with self._tx() as conn:
            return [
                AuditRecord(
                    id=r.id,
                    at=as_utc(r.at),
                    actor=r.actor,
                    action=r.action,
                    list=ListKind(r.list),
                    subject=Subject(r.subject),
                    value=r.value,
                    reason=r.reason,
                    expires_at=None if r.expires_at is None else as_utc(r.expires_at),
                )
                for r in conn.execute(query)
            ]

    @staticmethod
    def _audit(
        conn: Connection,
        at: datetime,
        actor: str,
        action: str,
        kind: ListKind,
        subject: Subject,
        value: str,
        reason: str,
        expires_at: datetime | None,
    ) -> None:
        conn.execute(
            insert(list_audit).values(
                at=at,
                actor=actor,
                action=action,
                list=kind.value,
                subject=subject.value,
                value=value,
                reason=reason,
                expires_at=expires_at,
            )
        )
