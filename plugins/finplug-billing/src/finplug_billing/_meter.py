"""A subscription's usage over a period, aggregated where the events are.

For each charge of the plan in effect at the period's end, the metric's
events between the period's bounds (local midnights in the customer's
zone, :func:`~finplug_billing.periods.bounds`) are aggregated in SQL on the
index ``(subscription_id, metric, at)``: ``COUNT``, ``SUM``, ``MAX``,
``COUNT(DISTINCT key)``, and the latest value by ``(at, id)``. Stored
values are integers of ``10^-decimals``, so sums are exact; they come back
as decimals. A recurring ``sum`` adds what came before the period.

Two cases read the events themselves: a ``weighted_sum`` (the level over
time, :func:`~finplug_billing.metrics.aggregate`, starting from the level
the earlier events left when the metric is recurring), and a charge whose
model prices each event (``percentage``, ``dynamic``: each event's value,
in the order of ``(at, id)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import Connection, func, select

from finplug.sockets.billing import Customer, Subscription
from finplug_billing._catalog import MetricSettings
from finplug_billing._prices import Catalog
from finplug_billing._schema import events
from finplug_billing._subscriptions import PAUSED, Step
from finplug_billing._usage import micros
from finplug_billing.charges import Usage
from finplug_billing.metrics import Aggregation, MeteredEvent, aggregate
from finplug_billing.periods import Period, bounds

__all__ = ["PER_EVENT_MODELS", "metric_usage", "usage_of"]

#: Built-in models that price each event, not the aggregate.
PER_EVENT_MODELS = frozenset({"percentage", "dynamic"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _decimal(stored: int | None, metric: MetricSettings) -> Decimal:
    return Decimal(int(stored or 0)).scaleb(-metric.decimals)


def usage_of(
    conn: Connection,
    catalog: Catalog,
    steps: Sequence[Step],
    subscription: Subscription,
    customer: Customer,
    ended: Period | None,
) -> dict[str, Usage]:
    """Each charged metric's usage over ``ended`` (nothing when no period ended)."""
    if ended is None:
        return {}
    last = ended.end - timedelta(days=1)
    plan = next((s.plan for s in reversed(steps) if s.on <= last), PAUSED)
    if plan == PAUSED:
        return {}
    start, end = (micros(moment) for moment in bounds(ended, customer.timezone))
    found: dict[str, Usage] = {}
    for charge in catalog.charges(plan):
        code = charge.settings.metric
        if code in found:
            continue
        per_event = charge.model.name in PER_EVENT_MODELS
        found[code] = metric_usage(
            conn, subscription.id, code, charge.metric, start, end, per_event
        )
    return found


def metric_usage(
    conn: Connection,
    subscription_id: str,
    code: str,
    metric: MetricSettings,
    start: int,
    end: int,
    per_event: bool,
) -> Usage:
    """One metric's usage by one subscription between two instants (µs since the epoch)."""
    e = events.c
    within = (
        e.subscription_id == subscription_id,
        e.metric == code,
        e.at >= start,
        e.at < end,
    )
    kind = Aggregation(metric.aggregation)
    if kind is Aggregation.WEIGHTED_SUM or per_event:
        rows = conn.execute(select(e.id, e.at, e.value).where(*within).order_by(e.at, e.id)).all()
        values = tuple(_decimal(value, metric) for _, _, value in rows)
        if kind is Aggregation.WEIGHTED_SUM:
            carried = (
                _before(conn, subscription_id, code, metric, start) if metric.recurring else None
            )
            metered = [
                MeteredEvent(
                    ident, _EPOCH + timedelta(microseconds=at), _decimal(value, metric), None
                )
                for ident, at, value in rows
            ]
            level = aggregate(
                Aggregation.WEIGHTED_SUM,
                metered,
                start=_EPOCH + timedelta(microseconds=start),
                end=_EPOCH + timedelta(microseconds=end),
                carried=carried,
            )
            return Usage(Fraction(level), events=len(rows))
        units = sum(values, Decimal(0))
        if kind is Aggregation.SUM and metric.recurring:
            units += _before(conn, subscription_id, code, metric, start)
        return Usage(units, amounts=values)
    if kind is Aggregation.COUNT:
        count = conn.execute(select(func.count()).where(*within)).scalar_one()
        return Usage(Decimal(int(count)), events=int(count))
    if kind is Aggregation.SUM:
        count, total = conn.execute(select(func.count(), func.sum(e.value)).where(*within)).one()
        units = _decimal(total, metric)
        if metric.recurring:
            units += _before(conn, subscription_id, code, metric, start)
        return Usage(units, events=int(count))
    if kind is Aggregation.MAX:
        count, top = conn.execute(select(func.count(), func.max(e.value)).where(*within)).one()
        return Usage(_decimal(top, metric), events=int(count))
    if kind is Aggregation.UNIQUE_COUNT:
        query = select(func.count(), func.count(e.key.distinct())).where(*within)
        if metric.recurring:  # every key seen since the start
            query = select(func.count(), func.count(e.key.distinct())).where(
                e.subscription_id == subscription_id, e.metric == code, e.at < end
            )
        count, keys = conn.execute(query).one()
        return Usage(Decimal(int(keys)), events=int(count))
    # latest: the value of the last event by (at, id)
    count = conn.execute(select(func.count()).where(*within)).scalar_one()
    value = conn.execute(
        select(e.value).where(*within).order_by(e.at.desc(), e.id.desc()).limit(1)
    ).scalar()
    return Usage(_decimal(value, metric), events=int(count))


def _before(
    conn: Connection, subscription_id: str, code: str, metric: MetricSettings, start: int
) -> Decimal:
    """The sum of the metric's values before ``start`` (a recurring metric's level)."""
    e = events.c
    total = conn.execute(
        select(func.sum(e.value)).where(
            e.subscription_id == subscription_id, e.metric == code, e.at < start
        )
    ).scalar()
    return _decimal(total, metric)
