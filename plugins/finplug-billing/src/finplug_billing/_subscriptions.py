"""Subscriptions: start, change plan, cancel, pause and resume; each a dated step of a timeline.

A subscription's *timeline* is the list of its steps, each from a day on
(in the customer's zone): the plan it starts on, each plan change, each
pause (no plan) and resume (the plan again). A period's fixed fee is the sum
over the timeline's segments within it of the plan's fee prorated by day
(the change day belongs to the new step); a segment of no days bills
nothing, so an upgrade and a downgrade on the same day cancel exactly.
Cancelling sets the first day no longer billed (the period's end, or a day
given).

Every step is idempotent by the caller's key (the kernel's idempotency
service): the same key and arguments return the first result; other
arguments under a used key are refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from finplug import Event, FastSQL, UnitOfWork, as_utc, request_digest
from finplug.sockets.billing import (
    Anchor,
    BillingError,
    BillingInputError,
    BillingNotFoundError,
    Customer,
    Subscription,
    SubscriptionStatus,
)
from finplug_billing._customers import load_customer
from finplug_billing._prices import Catalog
from finplug_billing._schema import plan_changes, subscriptions
from finplug_billing.periods import Interval, period_of, today_in, trial_end

__all__ = ["PAUSED", "Step", "Subscriptions", "load_subscription", "timeline"]

#: The plan of a paused step: nothing is billed.
PAUSED = ""


@dataclass(frozen=True, slots=True)
class Step:
    """From ``on`` (included), the subscription is on ``plan`` (:data:`PAUSED`: none)."""

    on: date
    plan: str


def load_subscription(
    conn: Connection, subscription_id: str, *, for_update: bool = False
) -> Subscription:
    """A subscription by id; :class:`BillingNotFoundError` if there is none."""
    row = FastSQL.of(conn).select_one(
        conn, subscriptions, {"id": subscription_id}, for_update=for_update
    )
    if row is None:
        raise BillingNotFoundError(f"no subscription {subscription_id!r}")
    return subscription_of(row)


def subscription_of(row: Any) -> Subscription:
    """A subscription from its row."""
    return Subscription(
        id=row.id,
        customer_id=row.customer_id,
        plan=row.plan,
        status=SubscriptionStatus(row.status),
        anchor=Anchor(row.anchor),
        started_on=row.started_on,
        trial_ends_on=row.trial_ends_on,
        ends_on=row.ends_on,
        paused_on=row.paused_on,
        created_at=as_utc(row.created_at),
    )


def timeline(conn: Connection, subscription_id: str) -> list[Step]:
    """The subscription's steps in order (a later step on the same day replaces earlier ones)."""
    c = plan_changes.c
    rows = conn.execute(
        select(c.on, c.plan).where(c.subscription_id == subscription_id).order_by(c.seq)
    ).all()
    steps: list[Step] = []
    for on, plan in rows:
        while steps and steps[-1].on >= on:  # the same day (or, defensively, earlier): replaced
            steps.pop()
        steps.append(Step(on, plan))
    return steps


class Subscriptions:
    """A tenant's subscriptions."""

    def __init__(
        self,
        catalog: Callable[[], Catalog],
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
    ) -> None:
        self._catalog = catalog
        self._uow = unit_of_work
        self._clock = clock

    # -- reading ---------------------------------------------------------------

    def get(self, subscription_id: str) -> Subscription:
        """One subscription; :class:`BillingNotFoundError` if there is none."""
        with self._uow() as uow:
            return load_subscription(uow.conn, subscription_id)

    def list(self, customer_id: str | None) -> list[Subscription]:
        """Subscriptions (of one customer, when given), oldest first."""
        query = select(subscriptions).order_by(subscriptions.c.started_on, subscriptions.c.id)
        if customer_id is not None:
            query = query.where(subscriptions.c.customer_id == customer_id)
        with self._uow() as uow:
            return [subscription_of(row) for row in uow.conn.execute(query)]

    # -- steps -----------------------------------------------------------------

    def subscribe(
        self, key: str, customer_id: str, plan: str, on: date | None, anchor: Anchor
    ) -> Subscription:
        """Start ``plan`` for the customer (see :meth:`BillingAPI.subscribe`)."""
        catalog = self._catalog()
        chosen = catalog.plan(plan)
        anchor = _anchor(anchor)
        args = {"customer": customer_id, "plan": plan, "on": _day_text(on), "anchor": anchor.value}
        with self._uow() as uow:
            conn = uow.conn
            replay = _claim(uow, key, "subscribe", args)
            if replay is not None:
                return load_subscription(conn, replay)
            customer = load_customer(conn, customer_id)
            if chosen.currency != customer.currency:
                raise BillingInputError(
                    f"plan {plan!r} is priced in {chosen.currency}; customer {customer_id!r}"
                    f" is billed in {customer.currency} (a currency mismatch)",
                    field="plan",
                )
            day = on if on is not None else today_in(self._clock(), customer.timezone)
            _check_day(day, "on")
            self._refuse_overlap(conn, customer, plan, day)
            ident = f"sub_{uuid.uuid4().hex[:24]}"
            now = self._clock()
            FastSQL.of(conn).insert(
                conn,
                subscriptions,
                {
                    "id": ident,
                    "customer_id": customer_id,
                    "plan": plan,
                    "status": SubscriptionStatus.ACTIVE.value,
                    "anchor": anchor.value,
                    "started_on": day,
                    "trial_ends_on": trial_end(day, chosen.trial_days)
                    if chosen.trial_days
                    else None,
                    "ends_on": None,
                    "paused_on": None,
                    "billed_through": None,
                    "created_at": now,
                },
            )
            _step(conn, ident, day, plan, now)
            _emit(uow, "billing.subscription.started", ident, {"plan": plan, "on": day.isoformat()})
            uow.idempotency.finish(key, ident, resource=ident)
            found = load_subscription(conn, ident)
            uow.commit()
        return found

    def change_plan(
        self, key: str, subscription_id: str, plan: str, on: date | None
    ) -> Subscription:
        """Move to ``plan`` from ``on``: the fixed fees are prorated by day."""
        catalog = self._catalog()
        chosen = catalog.plan(plan)
        args = {"subscription": subscription_id, "plan": plan, "on": _day_text(on)}
        with self._uow() as uow:
            conn = uow.conn
            replay = _claim(uow, key, "change_plan", args)
            if replay is not None:
                return load_subscription(conn, replay)
            current = self._live(conn, subscription_id)
            customer = load_customer(conn, current.customer_id)
            before = catalog.plan(current.plan, field="subscription.plan")
            if chosen.currency != before.currency:
                raise BillingInputError(
                    f"plan {plan!r} is priced in {chosen.currency}, the subscription in"
                    f" {before.currency} (a currency mismatch)",
                    field="plan",
                )
            if chosen.interval != before.interval:
                raise BillingInputError(
                    f"plan {plan!r} bills {chosen.interval}, the subscription {before.interval}:"
                    " to change the interval, cancel and subscribe again",
                    field="plan",
                )
            day = self._day_within(current, customer, on)
            now = self._clock()
            _step(conn, subscription_id, day, plan, now)
            FastSQL.of(conn).update(conn, subscriptions, {"plan": plan}, {"id": subscription_id})
            _emit(
                uow,
                "billing.subscription.plan_changed",
                subscription_id,
                {"from": current.plan, "to": plan, "on": day.isoformat()},
            )
            uow.idempotency.finish(key, subscription_id, resource=subscription_id)
            found = load_subscription(conn, subscription_id)
            uow.commit()
        return found

    def cancel(self, subscription_id: str, at_period_end: bool, on: date | None) -> Subscription:
        """End the subscription at its period's end, or on ``on`` (the first day not billed)."""
        catalog = self._catalog()
        with self._uow() as uow:
            conn = uow.conn
            current = self._live(conn, subscription_id)
            customer = load_customer(conn, current.customer_id)
            today = today_in(self._clock(), customer.timezone)
            if at_period_end:
                if on is not None:
                    raise BillingInputError("give on, or at_period_end, not both", field="on")
                interval = Interval(catalog.plan(current.plan, field="subscription.plan").interval)
                ends = period_of(today, interval, current.anchor, current.started_on).end
            else:
                ends = on if on is not None else today
                _check_day(ends, "on")
                if ends < current.started_on:
                    raise BillingInputError(
                        f"the subscription started on {current.started_on}; it cannot end before",
                        field="on",
                    )
            FastSQL.of(conn).update(
                conn,
                subscriptions,
                {"status": SubscriptionStatus.CANCELED.value, "ends_on": ends},
                {"id": subscription_id},
            )
            _emit(
                uow, "billing.subscription.canceled", subscription_id, {"ends_on": ends.isoformat()}
            )
            found = load_subscription(conn, subscription_id)
            uow.commit()
        return found

    def pause(self, subscription_id: str, on: date | None) -> Subscription:
        """Stop billing the fixed fee from ``on`` until resumed."""
        with self._uow() as uow:
            conn = uow.conn
            current = self._live(conn, subscription_id)
            if current.status is SubscriptionStatus.PAUSED:
                raise BillingError(f"subscription {subscription_id!r} is paused already")
            customer = load_customer(conn, current.customer_id)
            day = self._day_within(current, customer, on)
            _step(conn, subscription_id, day, PAUSED, self._clock())
            FastSQL.of(conn).update(
                conn,
                subscriptions,
                {"status": SubscriptionStatus.PAUSED.value, "paused_on": day},
                {"id": subscription_id},
            )
            _emit(uow, "billing.subscription.paused", subscription_id, {"on": day.isoformat()})
            found = load_subscription(conn, subscription_id)
            uow.commit()
        return found

    def resume(self, subscription_id: str, on: date | None) -> Subscription:
        """Bill the plan again from ``on``."""
        with self._uow() as uow:
            conn = uow.conn
            current = load_subscription(conn, subscription_id, for_update=True)
            if current.status is not SubscriptionStatus.PAUSED:
                raise BillingError(f"subscription {subscription_id!r} is not paused")
            customer = load_customer(conn, current.customer_id)
            day = self._day_within(current, customer, on)
            assert current.paused_on is not None
            if day < current.paused_on:
                raise BillingInputError(
                    f"it was paused on {current.paused_on}; it cannot resume before", field="on"
                )
            _step(conn, subscription_id, day, current.plan, self._clock())
            FastSQL.of(conn).update(
                conn,
                subscriptions,
                {"status": SubscriptionStatus.ACTIVE.value, "paused_on": None},
                {"id": subscription_id},
            )
            _emit(uow, "billing.subscription.resumed", subscription_id, {"on": day.isoformat()})
            found = load_subscription(conn, subscription_id)
            uow.commit()
        return found

    # -- checks ----------------------------------------------------------------

    @staticmethod
    def _live(conn: Connection, subscription_id: str) -> Subscription:
        current = load_subscription(conn, subscription_id, for_update=True)
        if current.status in (SubscriptionStatus.CANCELED, SubscriptionStatus.TERMINATED):
            raise BillingError(f"subscription {subscription_id!r} is {current.status.value}")
        return current

    def _day_within(self, current: Subscription, customer: Customer, on: date | None) -> date:
        day = on if on is not None else today_in(self._clock(), customer.timezone)
        _check_day(day, "on")
        if day < current.started_on:
            raise BillingInputError(
                f"the subscription started on {current.started_on}; a step cannot come before",
                field="on",
            )
        return day

    @staticmethod
    def _refuse_overlap(conn: Connection, customer: Customer, plan: str, day: date) -> None:
        c = subscriptions.c
        clash = conn.execute(
            select(c.id, c.started_on, c.ends_on).where(
                c.customer_id == customer.id,
                c.plan == plan,
                c.status != SubscriptionStatus.TERMINATED.value,
                (c.ends_on.is_(None)) | (c.ends_on > day),
            )
        ).first()
        if clash is not None:
            until = f"until {clash.ends_on}" if clash.ends_on else "with no end"
            raise BillingInputError(
                f"customer {customer.id!r} has subscription {clash.id!r} to {plan!r} from"
                f" {clash.started_on} {until}: subscriptions to one plan cannot overlap",
                field="plan",
            )


def _anchor(value: object) -> Anchor:
    try:
        return Anchor(str(value))
    except ValueError:
        raise BillingInputError(
            f"expected 'calendar' or 'anniversary', got {value!r}", field="anchor"
        ) from None


def _check_day(day: object, field: str) -> None:
    if not isinstance(day, date) or isinstance(day, datetime):
        raise BillingInputError(f"expected a date, got {day!r}", field=field)


def _day_text(day: date | None) -> str | None:
    if day is None:
        return None
    _check_day(day, "on")
    return day.isoformat()


def _claim(uow: UnitOfWork, key: str, operation: str, args: dict[str, Any]) -> str | None:
    """Claim ``key``; the id the first call made when it is a replay."""
    if not isinstance(key, str) or not 0 < len(key) <= 255:
        raise BillingInputError("expected an idempotency key of 1 to 255 characters", field="key")
    stored = uow.idempotency.claim(key, operation, request_digest(operation, args))
    if stored is None:
        return None
    if not stored.done or stored.response is None:
        raise BillingError(f"the request under key {key!r} is still running; try again")
    return stored.response


def _step(conn: Connection, subscription_id: str, on: date, plan: str, now: datetime) -> None:
    c = plan_changes.c
    last = conn.execute(
        select(func.max(c.seq)).where(c.subscription_id == subscription_id)
    ).scalar_one()
    FastSQL.of(conn).insert(
        conn,
        plan_changes,
        {
            "subscription_id": subscription_id,
            "on": on,
            "seq": 0 if last is None else int(last) + 1,
            "plan": plan,
            "created_at": now,
        },
    )


def _emit(uow: UnitOfWork, kind: str, subscription_id: str, payload: dict[str, Any]) -> None:
    uow.events.emit(Event(kind, f"subscription:{subscription_id}", json.loads(json.dumps(payload))))
