"""Customers and subscriptions through the component, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from billing_helpers import Clock, billing, billing_tenant, customer
from finplug import IdempotencyConflictError
from finplug.sockets.billing import (
    Anchor,
    BillingError,
    BillingInputError,
    BillingNotFoundError,
    SubscriptionStatus,
)
from finplug.testing import FinplugTenant
from finplug_billing._subscriptions import PAUSED, Step, timeline


def test_a_customer_is_created_updated_and_read_back(finplug_tenant: FinplugTenant) -> None:
    api = billing(billing_tenant(finplug_tenant))
    made = api.upsert_customer(customer(tax_ids=("DE123456789",), tax_rates=("vat_de",)))
    assert made == api.customer("c1")
    assert made.tax_ids == ("DE123456789",)
    renamed = api.upsert_customer(customer(name="Renamed GmbH", tax_ids=("DE123456789",)))
    assert renamed.name == "Renamed GmbH"
    assert renamed.tax_rates is None
    with pytest.raises(BillingNotFoundError):
        api.customer("nobody")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"currency": "EURO"}, "customer.currency"),
        ({"timezone": "Mars/Olympus"}, "customer.timezone"),
        ({"locale": "xx_NOPE"}, "customer.locale"),
        ({"tax_rates": ("vat_fr",)}, "customer.tax_rates[0]"),
        ({"id": ""}, "customer.id"),
    ],
)
def test_a_bad_customer_is_refused_where_it_is_wrong(
    finplug_tenant: FinplugTenant, changes: dict[str, Any], field: str
) -> None:
    api = billing(billing_tenant(finplug_tenant))
    with pytest.raises(BillingInputError) as caught:
        api.upsert_customer(customer(**changes))
    assert caught.value.field == field


def test_a_billed_customers_currency_cannot_change(finplug_tenant: FinplugTenant) -> None:
    api = billing(billing_tenant(finplug_tenant))
    api.upsert_customer(customer())
    api.upsert_customer(customer(currency="USD"))  # nothing billed yet: allowed
    api.upsert_customer(customer())
    api.subscribe("k1", "c1", "starter", on=date(2026, 3, 1))
    with pytest.raises(BillingInputError) as caught:
        api.upsert_customer(customer(currency="USD"))
    assert caught.value.field == "customer.currency"
    assert api.customer("c1").currency == "EUR"


def test_subscribing_is_idempotent_by_key_and_starts_a_trial(finplug_tenant: FinplugTenant) -> None:
    api = billing(billing_tenant(finplug_tenant))
    api.upsert_customer(customer())
    first = api.subscribe("k1", "c1", "pro", on=date(2026, 3, 5))
    again = api.subscribe("k1", "c1", "pro", on=date(2026, 3, 5))
    assert again == first
    assert first.status is SubscriptionStatus.ACTIVE
    assert first.trial_ends_on == date(2026, 3, 19)
    assert first.anchor is Anchor.CALENDAR
    assert api.subscriptions("c1") == [first]
    with pytest.raises(IdempotencyConflictError):
        api.subscribe("k1", "c1", "starter", on=date(2026, 3, 5))


def test_subscriptions_that_cannot_be_billed_are_refused(finplug_tenant: FinplugTenant) -> None:
    api = billing(billing_tenant(finplug_tenant))
    api.upsert_customer(customer())
    with pytest.raises(BillingInputError, match="currency mismatch") as caught:
        api.subscribe("k1", "c1", "dollar")
    assert caught.value.field == "plan"
    with pytest.raises(BillingInputError, match="no plan 'gold'"):
        api.subscribe("k2", "c1", "gold")
    with pytest.raises(BillingNotFoundError):
        api.subscribe("k3", "nobody", "starter")
    api.subscribe("k4", "c1", "starter", on=date(2026, 3, 1))
    with pytest.raises(BillingInputError, match="cannot overlap"):
        api.subscribe("k5", "c1", "starter", on=date(2026, 4, 1))
    with pytest.raises(BillingInputError) as bad_anchor:
        api.subscribe("k6", "c1", "pro", anchor="weekly")  # type: ignore[arg-type]
    assert bad_anchor.value.field == "anchor"
    assert [s.plan for s in api.subscriptions("c1")] == ["starter"]


def test_a_subscription_ended_before_another_starts_does_not_overlap(
    finplug_tenant: FinplugTenant,
) -> None:
    api = billing(billing_tenant(finplug_tenant))
    api.upsert_customer(customer())
    first = api.subscribe("k1", "c1", "starter", on=date(2026, 1, 1))
    ended = api.cancel(first.id, at_period_end=False, on=date(2026, 3, 1))
    assert ended.status is SubscriptionStatus.CANCELED
    assert ended.ends_on == date(2026, 3, 1)
    again = api.subscribe("k2", "c1", "starter", on=date(2026, 3, 1))
    assert again.id != first.id


def test_plan_changes_pauses_and_resumes_make_the_timeline(finplug_tenant: FinplugTenant) -> None:
    tenant = billing_tenant(finplug_tenant)
    api = billing(tenant)
    api.upsert_customer(customer())
    sub = api.subscribe("k1", "c1", "starter", on=date(2026, 3, 1))
    api.change_plan("k2", sub.id, "pro", on=date(2026, 3, 10))
    api.change_plan("k3", sub.id, "starter", on=date(2026, 3, 10))  # back the same day
    paused = api.pause(sub.id, on=date(2026, 3, 20))
    assert paused.status is SubscriptionStatus.PAUSED
    assert paused.paused_on == date(2026, 3, 20)
    with pytest.raises(BillingError, match="paused already"):
        api.pause(sub.id, on=date(2026, 3, 21))
    resumed = api.resume(sub.id, on=date(2026, 3, 25))
    assert resumed.status is SubscriptionStatus.ACTIVE
    with tenant.unit_of_work() as uow:
        steps = timeline(uow.conn, sub.id)
    assert steps == [
        Step(date(2026, 3, 1), "starter"),
        Step(date(2026, 3, 10), "starter"),  # pro lasted no day
        Step(date(2026, 3, 20), PAUSED),
        Step(date(2026, 3, 25), "starter"),
    ]


def test_plan_changes_that_cannot_be_prorated_are_refused(finplug_tenant: FinplugTenant) -> None:
    api = billing(billing_tenant(finplug_tenant))
    api.upsert_customer(customer())
    sub = api.subscribe("k1", "c1", "starter", on=date(2026, 3, 5))
    with pytest.raises(BillingInputError, match="currency mismatch"):
        api.change_plan("k2", sub.id, "dollar", on=date(2026, 3, 10))
    with pytest.raises(BillingInputError, match="interval"):
        api.change_plan("k3", sub.id, "yearly", on=date(2026, 3, 10))
    with pytest.raises(BillingInputError, match="cannot come before"):
        api.change_plan("k4", sub.id, "pro", on=date(2026, 3, 1))
    assert api.subscription(sub.id).plan == "starter"


def test_cancelling_at_period_end_uses_the_customers_today(finplug_tenant: FinplugTenant) -> None:
    clock = Clock()
    api = billing(billing_tenant(finplug_tenant, clock))
    api.upsert_customer(customer())
    sub = api.subscribe("k1", "c1", "starter", on=date(2026, 2, 10))
    ended = api.cancel(sub.id)  # 1 March 10:00 in Berlin: March's period
    assert ended.ends_on == date(2026, 4, 1)
    with pytest.raises(BillingError, match="canceled"):
        api.change_plan("k2", sub.id, "pro")
