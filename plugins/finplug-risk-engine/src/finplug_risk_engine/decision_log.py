"""The decision log: every decision's inputs, features, matched rules, verdict, version and latency.

A decision is logged with the snapshot it was made from (the redacted
inputs, the feature values and the list matches at its instant), so a
backtest replays a version over exactly what the live one saw, never today's
counters. Card numbers and secrets never reach the log: attribute names that
say so are masked, and any digit run that passes the Luhn check is masked
wherever it appears. Rule hits go to their own table, so a rule's hit rate
over a period is one indexed count.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
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
    Text,
    and_,
    func,
    select,
)

from finplug import FastSQL, as_utc

__all__ = [
    "DecisionLog",
    "FiredRule",
    "LoggedDecision",
    "decision_hits",
    "decisions",
    "redact",
]

#: What replaces a redacted value.
MASK: Final = "[redacted]"
#: Attribute names whose values are never logged (compared in lower case, ``-`` as ``_``).
_SECRET_NAMES: Final = re.compile(
    r"(?:^|_)(?:card_?number|pan|cvv|cvc|cv2|security_?code|password|secret|token|api_?key"
    r"|iban|account_?number)(?:$|_)"
)
#: Digit runs (spaces and dashes allowed between digits) long enough to be a card number.
_DIGITS: Final = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


@functools.lru_cache(maxsize=4096)
def _secret_name(name: str) -> bool:
    return _SECRET_NAMES.search(name.lower().replace("-", "_")) is not None


def _mask_numbers(text: str) -> str:
    if len(text) < 13:  # too short to hold a card number
        return text

    def mask(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return MASK if _luhn(digits) else m.group(0)

    return _DIGITS.sub(mask, text)


def redact(value: Any, *, name: str = "") -> Any:
    """``value`` as the log may keep it: secret-named fields and card numbers masked (recursive)."""
    if name and _secret_name(name):
        return MASK
    if isinstance(value, str):
        return _mask_numbers(value)
    if isinstance(value, Mapping):
        return {str(k): redact(v, name=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, name=name) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= 13:
        return redact(str(value))
    return value


@dataclass(frozen=True, slots=True)
class FiredRule:
    """A rule that matched a decision."""

    code: str
    """The rule's machine code."""
    action: str
    """What it asked for: ``allow``, ``block``, ``review`` or ``step_up``."""
    message: str
    """Its human message."""


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    """One decision as the log keeps it."""

    id: int
    """Its position in the log (increasing)."""
    at: datetime
    """When it was made (UTC)."""
    operation: str
    """The business step, e.g. ``payment.authorize``."""
    ref: str | None
    """What it was about (a payment id), when known."""
    customer: str | None
    """The customer, when known."""
    merchant: str | None
    """The merchant, when known."""
    verdict: str
    """``approve``, ``review``, ``decline`` (or ``step_up``)."""
    version: int
    """The rule-set version that made it."""
    fired: tuple[FiredRule, ...]
    """Every rule that matched, in evaluation order."""
    snapshot: Mapping[str, Any]
    """The redacted inputs, features and list matches it was made from."""
    latency_us: int
    """How long the decision took, in microseconds."""
    shadow_version: int | None
    """The shadow version that ran beside it, if any."""
    shadow_verdict: str | None
    """What the shadow version would have decided."""
    shadow_fired: tuple[FiredRule, ...]
    """The rules that matched in the shadow version."""


metadata = MetaData()

decisions = Table(
    "risk_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("ref", String(128), nullable=True),
    Column("customer", String(256), nullable=True),
    Column("merchant", String(256), nullable=True),
    Column("verdict", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("fired", Text, nullable=False),
    Column("snapshot", Text, nullable=False),
    Column("latency_us", Integer, nullable=False),
    Column("shadow_version", Integer, nullable=True),
    Column("shadow_verdict", String(16), nullable=True),
    Column("shadow_fired", Text, nullable=True),
    Index("ix_risk_decisions_at", "at"),
    Index("ix_risk_decisions_ref", "ref"),
    Index("ix_risk_decisions_customer", "customer", "at"),
    Index("ix_risk_decisions_merchant", "merchant", "at"),
)

decision_hits = Table(
    "risk_decision_hits",
    metadata,
    Column("decision_id", Integer, primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_risk_decision_hits_code", "code", "at"),
)


def _fired_json(fired: Sequence[FiredRule]) -> str:
    return json.dumps([[f.code, f.action, f.message] for f in fired], separators=(",", ":"))


def _fired(text: str | None) -> tuple[FiredRule, ...]:
    return tuple(FiredRule(*item) for item in json.loads(text or "[]"))


def _logged(r: Any) -> LoggedDecision:
    return LoggedDecision(
        id=r.id,
        at=as_utc(r.at),
        operation=r.operation,
        ref=r.ref,
        customer=r.customer,
        merchant=r.merchant,
        verdict=r.verdict,
        version=r.version,
        fired=_fired(r.fired),
        snapshot=json.loads(r.snapshot),
        latency_us=r.latency_us,
        shadow_version=r.shadow_version,
        shadow_verdict=r.shadow_verdict,
        shadow_fired=_fired(r.shadow_fired),
    )


class DecisionLog:
    """A tenant's decision log, over its storage."""

    def __init__(self, begin: Callable[[], AbstractContextManager[Connection]]) -> None:
        self._begin = begin

    def append(
        self,
        *,
        at: datetime,
        operation: str,
        verdict: str,
        version: int,
        fired: Sequence[FiredRule],
        snapshot: Mapping[str, Any],
        latency_us: int,
        ref: str | None = None,
        customer: str | None = None,
        merchant: str | None = None,
        shadow: tuple[int, str, Sequence[FiredRule]] | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Log one decision (its snapshot redacted here); its id.

        ``shadow`` is (version, verdict, fired) of the candidate that ran
        beside it. With ``conn`` the entry joins that transaction.
        """
        when = as_utc(at)
        row = {
            "at": when,
            "operation": operation,
            "ref": ref,
            "customer": customer,
            "merchant": merchant,
            "verdict": verdict,
            "version": version,
            "fired": _fired_json(fired),
            "snapshot": json.dumps(redact(snapshot), sort_keys=True, separators=(",", ":")),
            "latency_us": latency_us,
            "shadow_version": None if shadow is None else shadow[0],
            "shadow_verdict": None if shadow is None else shadow[1],
            "shadow_fired": None if shadow is None else _fired_json(shadow[2]),
        }

        def write(c: Connection) -> int:
            # Written on every decision: on the driver's cursor (FastSQL).
            fast = FastSQL.of(c)
            new_id = int(fast.insert_returning(c, decisions, row, "id"))
            for code in sorted({f.code for f in fired}):
                hit = {"decision_id": new_id, "code": code, "version": version, "at": when}
                fast.insert(c, decision_hits, hit)
            return new_id

        if conn is not None:
            return write(conn)
        with self._begin() as own:
            return write(own)

    def query(
        self,
        *,
        ref: str | None = None,
        customer: str | None = None,
        merchant: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> Sequence[LoggedDecision]:
        """Decisions in log order, filtered by payment, customer, merchant and time."""
        query = select(decisions).where(decisions.c.id > after)
        for column, value in (
            (decisions.c.ref, ref),
            (decisions.c.customer, customer),
            (decisions.c.merchant, merchant),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(decisions.c.at >= as_utc(since))
        if until is not None:
            query = query.where(decisions.c.at < as_utc(until))
        query = query.order_by(decisions.c.id).limit(limit)
        with self._begin() as conn:
            return [_logged(r) for r in conn.execute(query)]

    def scan(self, *, since: datetime | None = None, batch: int = 5000) -> Iterator[LoggedDecision]:
        """Every decision in log order (from ``since``), read in batches: for backtests."""
        after = 0
        while True:
            query = select(decisions).where(decisions.c.id > after)
            if since is not None:
                query = query.where(decisions.c.at >= as_utc(since))
            with self._begin() as conn:
                rows = [
                    _logged(r) for r in conn.execute(query.order_by(decisions.c.id).limit(batch))
                ]
            if not rows:
                return
            yield from rows
            after = rows[-1].id

    def snapshots(self, *, batch: int = 20_000) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
        """(id, verdict, snapshot) of every decision in log order: what a backtest reads.

        Reads only those three columns, in batches, so replaying a million
        decisions builds no :class:`LoggedDecision` for each.
        """
        after = 0
        query = select(decisions.c.id, decisions.c.verdict, decisions.c.snapshot)
        loads = json.loads
        while True:
            with self._begin() as conn:
                rows = conn.execute(
                    query.where(decisions.c.id > after).order_by(decisions.c.id).limit(batch)
                ).all()
            if not rows:
                return
            for row in rows:
                yield row[0], row[1], loads(row[2])
            after = rows[-1][0]

    def hit_rate(self, code: str, *, since: datetime, until: datetime) -> tuple[int, int]:
        """(decisions the rule fired in, all decisions) between ``since`` and ``until``."""
        start, end = as_utc(since), as_utc(until)
        with self._begin() as conn:
            hits = conn.execute(
                select(func.count()).where(
                    and_(
                        decision_hits.c.code == code,
                        decision_hits.c.at >= start,
                        decision_hits.c.at < end,
                    )
                )
            ).scalar_one()
            total = conn.execute(
                select(func.count()).where(and_(decisions.c.at >= start, decisions.c.at < end))
            ).scalar_one()
        return int(hits), int(total)
