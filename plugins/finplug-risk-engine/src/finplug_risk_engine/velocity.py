"""Velocity features: count, sum and distinct count per key over sliding windows.

What happened is recorded once per outcome (``risk_velocity_facts``, one row
per reference such as ``payment:pay_01…:authorized``): its time, its kind,
its amount in minor units, and the keys it belongs to (customer, merchant,
card fingerprint, IP, device, e-mail domain, country). The reference is the
row's primary key, so recording the same outcome again (a retried key, an
event delivered twice, two processes racing) counts once. Features are
aggregates over those rows in the tenant's storage, exact across processes:

- ``count``: outcomes of the key in the window;
- ``sum``: their amounts, in one currency (others are not added);
- ``distinct``: how many different values of another key they carry
  (cards per customer, IPs per card).

A window ending at ``at`` holds the outcomes with ``at - window < time <=
at``: a decision at ``at`` sees everything recorded up to its own instant,
and a backtest asking with the decision's own ``at`` sees the same rows
(facts are never updated).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    MetaData,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FromClause

from finplug import FastSQL, FinplugError, Money, as_utc, currency, utc_now
from finplug_risk_engine._checks import text
from finplug_risk_engine._tx import joined

__all__ = [
    "Aggregate",
    "FeatureSpec",
    "Key",
    "Outcome",
    "Velocity",
    "VelocityError",
    "outcome_row",
    "velocity_facts",
]

#: The longest outcome reference and key value.
MAX_REF: Final = 200
MAX_KEY_VALUE: Final = 256


class Key(enum.StrEnum):
    """What an outcome can be counted by."""

    CUSTOMER = "customer"
    """The customer id."""
    MERCHANT = "merchant"
    """The merchant id."""
    CARD_FINGERPRINT = "card_fingerprint"
    """The card's fingerprint."""
    IP = "ip"
    """The client's IP address."""
    DEVICE = "device"
    """The client's device id."""
    EMAIL_DOMAIN = "email_domain"
    """The domain of the customer's e-mail address."""
    COUNTRY = "country"
    """The customer's country."""


class Aggregate(enum.StrEnum):
    """How a feature folds the outcomes in its window."""

    COUNT = "count"
    """How many."""
    SUM = "sum"
    """The sum of their amounts, in the feature's currency."""
    DISTINCT = "distinct"
    """How many different values of the feature's ``of`` key."""


class VelocityError(FinplugError, ValueError):
    """A bad outcome or feature definition; nothing was written."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """Something that happened, to be counted once."""

    ref: str
    """Unique per outcome (``payment:<id>:authorized``): recording it again counts nothing."""
    kind: str
    """What happened, e.g. ``payment.authorized``, ``payment.declined``, ``wallet.topup``."""
    at: datetime
    """When (aware)."""
    keys: Mapping[Key | str, str | None]
    """The keys it belongs to; ``None`` and missing keys are not counted by."""
    amount: Money | None = None
    """The amount, if any."""


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """A velocity feature rules can read, e.g. ``payments_per_card_1h``."""

    name: str
    """The feature's name, as rules refer to it."""
    aggregate: Aggregate
    """Count, sum or distinct count."""
    key: Key
    """The key the outcomes are grouped by (the decision's value for it selects the group)."""
    window: timedelta
    """How far back from the decision's time."""
    kinds: frozenset[str] = field(default_factory=frozenset)
    """Only outcomes of these kinds (empty: every kind)."""
    currency: str | None = None
    """For ``sum``: the currency whose amounts are added (required)."""
    of: Key | None = None
    """For ``distinct``: the key whose different values are counted (required)."""

    def __post_init__(self) -> None:
        if self.window <= timedelta(0):
            raise VelocityError(f"feature {self.name!r}: window must be positive")
        if self.aggregate is Aggregate.SUM and self.currency is None:
            raise VelocityError(f"feature {self.name!r}: a sum needs a currency")
        if self.aggregate is Aggregate.DISTINCT and (self.of is None or self.of is self.key):
            raise VelocityError(f"feature {self.name!r}: distinct needs `of`, another key")


metadata = MetaData()

velocity_facts = Table(
    "risk_velocity_facts",
    metadata,
    Column("ref", String(MAX_REF), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("amount", BigInteger, nullable=True),
    Column("currency", String(3), nullable=True),
    *(Column(k.value, String(MAX_KEY_VALUE), nullable=True) for k in Key),
    *(Index(f"ix_risk_velocity_{k.value}", k.value, "at") for k in Key),
)

_T = velocity_facts


def _check_text(what: str, value: object, limit: int) -> str:
    return text(what, value, limit, lambda f, m: VelocityError(f"{f}: {m}"))


class Velocity:
    """A tenant's velocity facts and features, over its storage."""

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._begin = begin
        self._clock = clock

    def record(self, outcome: Outcome, conn: Connection | None = None) -> bool:
        """Count ``outcome`` once; whether it was new (``False``: recorded before).

        With ``conn``, the row joins that transaction (a unit of work's), so
        the outcome counts exactly when the business write commits.
        """
        row = outcome_row(outcome)
        if conn is not None:
            return FastSQL.of(conn).insert_new(conn, _T, row, ("ref",))
        with self._begin() as own:
            return FastSQL.of(own).insert_new(own, _T, row, ("ref",))

    def record_many(self, outcomes: Iterable[Outcome]) -> int:
        """Record several outcomes in one transaction; how many were new."""
        rows = [outcome_row(o) for o in outcomes]
        with self._begin() as conn:
            fast = FastSQL.of(conn)
            return sum(fast.insert_new(conn, _T, row, ("ref",)) for row in rows)

    def features(
        self,
        specs: Sequence[FeatureSpec],
        keys: Mapping[Key | str, str | None],
        *,
        at: datetime | None = None,
        conn: Connection | None = None,
    ) -> dict[str, int | Money]:
        """Each feature's value for the decision's keys, as of ``at`` (default: now).

        One statement in ``conn``'s transaction when given: a subquery per key
        the features group by (several features of one key share it), joined
        into one row. A feature whose key the decision lacks is 0.
        """
        when = as_utc(at) if at is not None else self._clock()
        values: dict[str, int | Money] = {}
        by_key: dict[Key, list[FeatureSpec]] = {}
        for spec in specs:
            by_key.setdefault(spec.key, []).append(spec)
        wanted = {Key(k): v for k, v in keys.items()}
        asked: list[tuple[Key, tuple[FeatureSpec, ...]]] = []
        params: dict[str, object] = {}
        for key, group in by_key.items():
            value = wanted.get(key)
            if value is None:
                for spec in group:
                    values[spec.name] = _zero(spec)
                continue
            g = len(asked)
            asked.append((key, tuple(group)))
            params[f"g{g}_value"] = value
            params[f"g{g}_from"] = when - max(s.window for s in group)
            params[f"g{g}_to"] = when
            for i, spec in enumerate(group):
                params[f"g{g}_start{i}"] = when - spec.window
        if asked:
            with joined(self._begin, conn) as conn:
                row = conn.execute(_statement(tuple(asked)), params).one()
            found = iter(row)
            for _key, specs_of_key in asked:
                for spec in specs_of_key:
                    values[spec.name] = _value(spec, next(found))
        return {spec.name: values[spec.name] for spec in specs}


def outcome_row(outcome: Outcome) -> dict[str, object]:
    """``outcome`` as a row of :data:`velocity_facts`, checked; :class:`VelocityError` if bad."""
    _check_text("ref", outcome.ref, MAX_REF)
    _check_text("kind", outcome.kind, 64)
    if outcome.at.tzinfo is None:
        raise VelocityError(f"outcome {outcome.ref!r}: `at` must be timezone-aware")
    row: dict[str, object] = {
        "ref": outcome.ref,
        "kind": outcome.kind,
        "at": as_utc(outcome.at),
        "amount": None if outcome.amount is None else outcome.amount.minor_units,
        "currency": None if outcome.amount is None else outcome.amount.currency.code,
    }
    for k in Key:
        row[k.value] = None
    for name, value in outcome.keys.items():
        try:
            key = Key(name)
        except ValueError:
            raise VelocityError(f"outcome {outcome.ref!r}: unknown key {name!r}") from None
        if value is not None:
            row[key.value] = _check_text(f"key {key.value}", value, MAX_KEY_VALUE)
    return row


def _zero(spec: FeatureSpec) -> int | Money:
    if spec.aggregate is Aggregate.SUM:
        assert spec.currency is not None
        return Money.from_minor(0, spec.currency)
    return 0


def _value(spec: FeatureSpec, found: int | Decimal | None) -> int | Money:
    # SUM comes back as int (SQLite) or Decimal (PostgreSQL's numeric): both exact.
    number = int(found or 0)
    if spec.aggregate is Aggregate.SUM:
        assert spec.currency is not None
        return Money.from_minor(number, spec.currency)
    return number


def _aggregate(spec: FeatureSpec, i: int, g: int) -> ColumnElement[Any]:
    conditions: list[ColumnElement[bool]] = [_T.c.at > bindparam(f"g{g}_start{i}", type_=_AT)]
    if spec.kinds:
        conditions.append(_T.c.kind.in_(sorted(spec.kinds)))
    if spec.aggregate is Aggregate.SUM:
        assert spec.currency is not None
        conditions.append(_T.c.currency == currency(spec.currency).code)
    inside = and_(*conditions)
    if spec.aggregate is Aggregate.COUNT:
        return func.coalesce(func.sum(case((inside, 1), else_=0)), 0)
    if spec.aggregate is Aggregate.SUM:
        return func.coalesce(func.sum(case((inside, _T.c.amount), else_=0)), 0)
    assert spec.of is not None
    return func.count(func.distinct(case((inside, _T.c[spec.of.value]), else_=literal(None))))


_AT: Final = DateTime(timezone=True)


@functools.lru_cache(maxsize=256)
def _statement(groups: tuple[tuple[Key, tuple[FeatureSpec, ...]], ...]) -> Select[Any]:
    """One query for the features of several keys, built once per set of groups.

    Each key's group is a one-row subquery of its aggregates (values bound as
    ``g<n>_value``, ``g<n>_from``, ``g<n>_to``, ``g<n>_start<i>``); the
    subqueries are joined into one row, their columns in group order.
    """
    subqueries = []
    for g, (key, group) in enumerate(groups):
        columns = [_aggregate(spec, i, g).label(f"f{i}") for i, spec in enumerate(group)]
        where = and_(
            _T.c[key.value] == bindparam(f"g{g}_value"),
            _T.c.at > bindparam(f"g{g}_from", type_=_AT),
            _T.c.at <= bindparam(f"g{g}_to", type_=_AT),
        )
        subqueries.append(select(*columns).where(where).subquery(f"g{g}"))
    joined_rows: FromClause = subqueries[0]
    for sub in subqueries[1:]:
        joined_rows = joined_rows.join(sub, true())  # one row each: the join is one row
    return select(*(column for sub in subqueries for column in sub.c)).select_from(joined_rows)
