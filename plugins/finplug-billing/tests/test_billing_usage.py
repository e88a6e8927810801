"""Usage ingestion: checked whole, stored once, late events counted; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update

from billing_helpers import billing, billing_tenant, customer
from finplug import Tenant
from finplug.sockets.billing import BillingInputError, UsageEvent
from finplug.testing import FinplugTenant
from finplug_billing._schema import events, subscriptions

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _tenant(finplug_tenant: FinplugTenant) -> tuple[Tenant, str]:
    tenant = billing_tenant(finplug_tenant)
    api = billing(tenant)
    api.upsert_customer(customer())
    return tenant, api.subscribe("k1", "c1", "starter", on=date(2026, 3, 1)).id


def _stored(tenant: Tenant) -> list[tuple[Any, ...]]:
    with tenant.unit_of_work() as uow:
        return [tuple(r) for r in uow.conn.execute(select(events).order_by(events.c.id))]


def test_events_are_stored_exactly_once_whatever_is_replayed(finplug_tenant: FinplugTenant) -> None:
    tenant, sub = _tenant(finplug_tenant)
    api = billing(tenant)
    batch = [
        UsageEvent("e1", sub, "api_calls", AT),
        UsageEvent("e2", sub, "storage", AT, {"gb": "1.250"}),
        UsageEvent("e3", sub, "volume", AT, {"amount": Decimal("19.99")}),
        UsageEvent("e4", sub, "seats", AT, {"user": 42}),
        UsageEvent("e5", sub, "storage", AT + timedelta(hours=1), {"gb": -1}),  # an increment down
    ]
    report = api.ingest(batch)
    assert (report.accepted, report.duplicates, report.late) == (5, 0, 0)
    stored = _stored(tenant)
    again = api.ingest([*batch[:3], UsageEvent("e6", sub, "api_calls", AT), batch[0]])
    assert (again.accepted, again.duplicates) == (1, 4)
    assert _stored(tenant)[:5] == stored
    micros = int((AT - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000
    assert stored == [
        ("e1", sub, "api_calls", micros, None, None),
        ("e2", sub, "storage", micros, 1250, None),
        ("e3", sub, "volume", micros, 1999, None),
        ("e4", sub, "seats", micros, None, "42"),
        ("e5", sub, "storage", micros + 3_600_000_000, -1000, None),
    ]


@pytest.mark.parametrize(
    ("event", "field", "message"),
    [
        (UsageEvent("x", "SUB", "nope", AT), "events[1].metric", "no billable metric"),
        (UsageEvent("x", "sub_missing", "api_calls", AT), "events[1].subscription_id", "no sub"),
        (
            UsageEvent("x", "SUB", "volume", AT, {"amount": 1.5}),  # type: ignore[dict-item]
            "events[1].properties.amount",
            "float",
        ),
        (
            UsageEvent("x", "SUB", "volume", AT, {"amount": "-2"}),
            "events[1].properties.amount",
            "0 or more",
        ),
        (
            UsageEvent("x", "SUB", "volume", AT, {"amount": "1.234"}),
            "events[1].properties.amount",
            "decimals",
        ),
        (UsageEvent("x", "SUB", "volume", AT, {}), "events[1].properties.amount", "missing"),
        (UsageEvent("x", "SUB", "seats", AT, {"user": True}), "events[1].properties.user", "text"),
        (UsageEvent("x", "SUB", "api_calls", AT.replace(tzinfo=None)), "events[1].at", "aware"),
        (UsageEvent("", "SUB", "api_calls", AT), "events[1].id", "characters"),
    ],
)
def test_one_bad_event_refuses_the_batch_naming_where(
    finplug_tenant: FinplugTenant, event: UsageEvent, field: str, message: str
) -> None:
    tenant, sub = _tenant(finplug_tenant)
    if event.subscription_id == "SUB":
        event = UsageEvent(event.id, sub, event.metric, event.at, event.properties)
    with pytest.raises(BillingInputError, match=message) as caught:
        billing(tenant).ingest([UsageEvent("ok", sub, "api_calls", AT), event])
    assert caught.value.field == field
    assert _stored(tenant) == []


def test_an_id_given_twice_with_other_contents_is_refused(finplug_tenant: FinplugTenant) -> None:
    tenant, sub = _tenant(finplug_tenant)
    with pytest.raises(BillingInputError, match="twice") as caught:
        billing(tenant).ingest(
            [
                UsageEvent("e1", sub, "api_calls", AT),
                UsageEvent("e1", sub, "api_calls", AT + timedelta(seconds=1)),
            ]
        )
    assert caught.value.field == "events[1].id"
    assert _stored(tenant) == []


def test_events_before_the_last_invoiced_period_are_late(finplug_tenant: FinplugTenant) -> None:
    tenant, sub = _tenant(finplug_tenant)
    with tenant.unit_of_work() as uow:  # as a cycle leaves it: March invoiced
        uow.conn.execute(
            update(subscriptions)
            .where(subscriptions.c.id == sub)
            .values(billed_through=date(2026, 4, 1))
        )
        uow.commit()
    # 31 March 23:30 in Berlin is before April there; 1 April 00:30 in Berlin is not.
    late = UsageEvent("late", sub, "api_calls", datetime(2026, 3, 31, 21, 30, tzinfo=UTC))
    on_time = UsageEvent("new", sub, "api_calls", datetime(2026, 3, 31, 22, 30, tzinfo=UTC))
    report = billing(tenant).ingest([late, on_time])
    assert (report.accepted, report.late) == (2, 1)
    replay = billing(tenant).ingest([late])
    assert (replay.accepted, replay.duplicates, replay.late) == (0, 1, 0)


def test_a_large_batch_is_written_in_chunks(finplug_tenant: FinplugTenant) -> None:
    tenant, sub = _tenant(finplug_tenant)
    batch = [
        UsageEvent(f"e{n:06d}", sub, "volume", AT + timedelta(seconds=n), {"amount": n % 500})
        for n in range(120_000)
    ]
    report = billing(tenant).ingest(batch)
    assert report.accepted == 120_000
    with tenant.unit_of_work() as uow:
        count, total = uow.conn.execute(select(func.count(), func.sum(events.c.value))).one()
    assert (count, int(total)) == (120_000, sum(n % 500 for n in range(120_000)) * 100)
