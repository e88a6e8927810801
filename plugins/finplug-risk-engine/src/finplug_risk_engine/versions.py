"""Versioned rule sets: publishing makes an immutable version; one is live, one may shadow.

A rule set's content (its features, decision graphs and rules) is stored as
canonical JSON with its SHA-256 (``risk_rule_sets``); nothing updates or
deletes a version, and publishing identical content again returns the
version that already has it. Which version decides and which runs beside it
in shadow mode is one row (``risk_rule_set_state``), changed only through
:meth:`RuleSetVersions.go_live` and :meth:`RuleSetVersions.shadow`, each
change appended to ``risk_rule_set_audit`` with who made it and why.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from finplug import FastSQL, FinplugError, as_utc, utc_now
from finplug_risk_engine._checks import text
from finplug_risk_engine._tx import joined

__all__ = [
    "RuleSetState",
    "RuleSetVersion",
    "RuleSetVersions",
    "VersionError",
    "canonical_json",
]

MAX_ACTOR: Final = 128
MAX_NOTE: Final = 500

metadata = MetaData()

rule_sets = Table(
    "risk_rule_sets",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("sha256", LargeBinary(32), nullable=False, unique=True),
    Column("content", Text, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("published_by", String(MAX_ACTOR), nullable=False),
    Column("note", String(MAX_NOTE), nullable=False),
)

rule_set_state = Table(
    "risk_rule_set_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("live", Integer, nullable=True),
    Column("shadow", Integer, nullable=True),
    Column("changed_at", DateTime(timezone=True), nullable=True),
)

rule_set_audit = Table(
    "risk_rule_set_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(MAX_ACTOR), nullable=False),
    Column("action", String(16), nullable=False),
    Column("version", Integer, nullable=True),
    Column("note", String(MAX_NOTE), nullable=False),
)

_STATE_ROW: Final = 1


class VersionError(FinplugError, ValueError):
    """A rule-set request that cannot be done (unknown version, bad content); nothing changed."""


def canonical_json(content: Mapping[str, Any]) -> str:
    """``content`` as one canonical JSON text: sorted keys, no spaces, no floats.

    Numbers in a rule set are exact: write amounts as strings or integers.
    """

    def refuse(value: object) -> object:
        raise VersionError(f"a rule set holds JSON values only, got {type(value).__name__}")

    def check(value: object, path: str) -> None:
        if isinstance(value, float):
            raise VersionError(f"{path}: a float ({value!r}); write the number as a string")
        if isinstance(value, Mapping):
            for k, v in value.items():
                check(v, f"{path}.{k}")
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                check(v, f"{path}[{i}]")

    check(content, "content")
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=refuse)


@dataclass(frozen=True, slots=True)
class RuleSetVersion:
    """One published, immutable rule set."""

    version: int
    """1, 2, 3 … in publishing order."""
    sha256: bytes
    """The hash of :attr:`content`'s canonical JSON."""
    content: Mapping[str, Any]
    """The rule set as published."""
    published_at: datetime
    """When (UTC)."""
    published_by: str
    """Who."""
    note: str
    """Why, in the publisher's words."""


@dataclass(frozen=True, slots=True)
class RuleSetState:
    """Which version decides, and which runs beside it without being enforced."""

    live: int | None
    """The version that decides (``None``: none published live yet)."""
    shadow: int | None
    """The candidate whose decisions are logged and compared, never enforced."""


def _text(field: str, value: object, limit: int, *, empty: bool = False) -> str:
    return text(field, value, limit, lambda f, m: VersionError(f"{f}: {m}"), empty=empty)


class RuleSetVersions:
    """A tenant's rule-set versions and their live and shadow pointers."""

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._begin = begin
        self._clock = clock

    def publish(self, content: Mapping[str, Any], *, actor: str, note: str = "") -> RuleSetVersion:
        """Store ``content`` as the next version (or return the version that has it already)."""
        _text("actor", actor, MAX_ACTOR)
        _text("note", note, MAX_NOTE, empty=True)
        text = canonical_json(content)
        digest = hashlib.sha256(text.encode()).digest()
        now = self._clock()
        with self._begin() as conn:
            self._lock_state(conn)
            found = conn.execute(select(rule_sets).where(rule_sets.c.sha256 == digest)).first()
            if found is not None:
                return _version(found)
            last = conn.execute(select(func.max(rule_sets.c.version))).scalar()
            number = int(last or 0) + 1
            conn.execute(
                insert(rule_sets).values(
                    version=number,
                    sha256=digest,
                    content=text,
                    published_at=now,
                    published_by=actor,
                    note=note,
                )
            )
            self._audit(conn, now, actor, "publish", number, note)
        return RuleSetVersion(number, digest, json.loads(text), now, actor, note)

    def get(self, version: int, conn: Connection | None = None) -> RuleSetVersion:
        """One version; :class:`VersionError` if there is none with that number."""
        with joined(self._begin, conn) as conn:
            row = conn.execute(select(rule_sets).where(rule_sets.c.version == version)).first()
        if row is None:
            raise VersionError(f"no rule-set version {version}")
        return _version(row)

    def versions(self) -> Sequence[RuleSetVersion]:
        """Every version, oldest first."""
        with self._begin() as conn:
            rows = conn.execute(select(rule_sets).order_by(rule_sets.c.version)).all()
        return [_version(r) for r in rows]

    def state(self, conn: Connection | None = None) -> RuleSetState:
        """The live and shadow versions now (in ``conn``'s transaction, when given)."""
        with joined(self._begin, conn) as conn:
            # Read on every decision: on the driver's cursor, without Core's per-call work.
            row = FastSQL.of(conn).select_one(conn, rule_set_state, {"id": _STATE_ROW})
        return RuleSetState(None, None) if row is None else RuleSetState(row.live, row.shadow)

    def go_live(self, version: int, *, actor: str, note: str = "") -> RuleSetState:
        """Make ``version`` the one that decides; a shadow of the same version is cleared."""
        return self._point("live", version, actor, note)

    def shadow(self, version: int | None, *, actor: str, note: str = "") -> RuleSetState:
        """Run ``version`` beside the live one (``None``: stop shadowing)."""
        return self._point("shadow", version, actor, note)

    def _point(self, which: str, version: int | None, actor: str, note: str) -> RuleSetState:
        _text("actor", actor, MAX_ACTOR)
        _text("note", note, MAX_NOTE, empty=True)
        now = self._clock()
        with self._begin() as conn:
            state = self._lock_state(conn)
            if version is not None:
                exists = conn.execute(
                    select(rule_sets.c.version).where(rule_sets.c.version == version)
                ).first()
                if exists is None:
                    raise VersionError(f"no rule-set version {version}")
            live, shadow = state.live, state.shadow
            if which == "live":
                if version is None:
                    raise VersionError("a live version cannot be removed, only replaced")
                live = version
                shadow = None if shadow == version else shadow
            else:
                if version is not None and version == live:
                    raise VersionError(f"version {version} is live; shadow another version")
                shadow = version
            conn.execute(
                update(rule_set_state)
                .where(rule_set_state.c.id == _STATE_ROW)
                .values(live=live, shadow=shadow, changed_at=now)
            )
            action = "go_live" if which == "live" else ("shadow" if version else "unshadow")
            self._audit(conn, now, actor, action, version, note)
        return RuleSetState(live, shadow)

    def audit(self) -> Sequence[tuple[datetime, str, str, int | None, str]]:
        """Every publish and pointer change, oldest first: (at, actor, action, version, note)."""
        with self._begin() as conn:
            rows = conn.execute(select(rule_set_audit).order_by(rule_set_audit.c.id)).all()
        return [(as_utc(r.at), r.actor, r.action, r.version, r.note) for r in rows]

    @staticmethod
    def _lock_state(conn: Connection) -> RuleSetState:
        """The state row, locked for the transaction (created on first use)."""
        query = select(rule_set_state).where(rule_set_state.c.id == _STATE_ROW)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            conn.execute(insert(rule_set_state).values(id=_STATE_ROW, live=None, shadow=None))
            return RuleSetState(None, None)
        return RuleSetState(row.live, row.shadow)

    @staticmethod
    def _audit(
        conn: Connection, at: datetime, actor: str, action: str, version: int | None, note: str
    ) -> None:
        conn.execute(
            insert(rule_set_audit).values(
                at=at, actor=actor, action=action, version=version, note=note
            )
        )


def _version(row: Any) -> RuleSetVersion:
    return RuleSetVersion(
        version=row.version,
        sha256=bytes(row.sha256),
        content=json.loads(row.content),
        published_at=as_utc(row.published_at),
        published_by=row.published_by,
        note=row.note,
    )
