"""Billing cycles: invoices per billing date, once, numbered and booked; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing_helpers import CATALOG, Clock, billing, billing_tenant, customer
from finplug import Money, Tenant
from finplug.sockets.billing import BillingInputError, InvoiceStatus, SubscriptionStatus, UsageEvent
from finplug.testing import FinplugTenant

EUR = "EUR"


def eur(text: str) -> Money:
    return Money(text, EUR)


def _calls(sub: str, day: date, count: int, prefix: str = "c") -> list[UsageEvent]:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return [
        UsageEvent(f"{prefix}{n}", sub, "api_calls", at + timedelta(seconds=n))
        for n in range(count)
    ]


def _balance(tenant: Tenant, code: str) -> Money:
    return tenant.ledger.balance(code).posted


def test_a_month_in_arrears_is_invoiced_once_numbered_and_booked(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant = billing_tenant(finplug_tenant, Clock(datetime(2026, 4, 1, 6, tzinfo=UTC)))
    api = billing(tenant)
    api.upsert_customer(customer())
    sub = api.subscribe("k1", "c1", "starter", on=date(2026, 3, 1))
    api.ingest(_calls(sub.id, date(2026, 3, 15), 1500))
    api.ingest(_calls(sub.id, date(2026, 4, 1), 7, prefix="april"))  # April's, not March's

    report = api.run_cycle(date(2026, 4, 1))
    assert report.failed == ()
    (ident,) = report.created
    invoice = api.invoice(ident)
    assert invoice.status is InvoiceStatus.PAID or invoice.status is InvoiceStatus.FINALIZED
    assert invoice.number == "INV-000001"
    assert (invoice.period_start, invoice.period_end) == (date(2026, 3, 1), date(2026, 4, 1))
    assert [(line.kind, line.amount) for line in invoice.lines] == [
        ("plan", eur("20.00")),
        ("charge", eur("1.00")),  # 1,500 calls: 1,000 free, 500 at 0.002
    ]
    assert invoice.lines[1].quantity == Decimal(1500)
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        eur("21.00"),
        eur("3.99"),
        eur("24.99"),
    )
    assert invoice.amount_due == eur("24.99")

    again = api.run_cycle(date(2026, 4, 1))
    assert (again.created, again.existing) == ((), ())  # billed through 1 April already
    assert api.invoices("c1") == [invoice]
    assert _balance(tenant, "asset:billing:receivable:c1:EUR") == eur("24.99")
    assert _balance(tenant, "income:billing:EUR") == eur("21.00")
    assert _balance(tenant, "liability:tax:vat_de:EUR") == eur("3.99")


def test_an_upgrade_mid_month_is_prorated_by_day(finplug_tenant: FinplugTenant) -> None:
    plans = dict(CATALOG["plans"])
    plans["business"] = {"name": "Business", "currency": EUR, "amount": "62.00"}
    tenant = billing_tenant(finplug_tenant, plans=plans)
    api = billing(tenant)
    api.upsert_customer(customer())
    sub = api.subscribe("k1", "c1", "starter", on=date(2026, 3, 1))
    api.change_plan("k2", sub.id, "business", on=date(2026, 3, 17))  # 16 days, then 15
    (ident,) = api.run_cycle(date(2026, 4, 1)).created
    lines = api.invoice(ident).lines
    assert [(line.description, line.period_start, line.amount) for line in lines] == [
        ("Starter", date(2026, 3, 1), eur("10.32")),  # 20 x 16/31 = 10.3225…
        ("Business", date(2026, 3, 17), eur("30.00")),  # 62 x 15/31
    ]


def test_an_upgrade_and_a_downgrade_on_one_day_cancel_out(finplug_tenant: FinplugTenant) -> None:
    plans = dict(CATALOG["plans"])
    plans["business"] = {"name": "Business", "currency": EUR, "amount": "62.00"}
    tenant = billing_tenant(finplug_tenant, plans=plans)
    api = billing(tenant)
    api.upsert_customer(customer())
    api.upsert_customer(customer("c2"))
    changed = api.subscribe("k1", "c1", "starter", on=date(2026, 3, 1))
    api.change_plan("k2", changed.id, "business", on=date(2026, 3, 17))
    api.change_plan("k3", changed.id, "starter", on=date(2026, 3, 17))
    plain = api.subscribe("k4", "c2", "starter", on=date(2026, 3, 1))
    report = api.run_cycle(date(2026, 4, 1))
    totals = {api.invoice(i).subscription_id: api.invoice(i).total for i in report.created}
    assert totals[changed.id] == totals[plain.id]


def test_a_plan_paid_in_advance_with_a_trial(finplug_tenant: FinplugTenant) -> None:
    tenant = billing_tenant(finplug_tenant)
    api = billing(tenant)
    api.upsert_customer(customer())
    sub = api.subscribe("k1", "c1", "pro", on=date(2026, 3, 5))  # trial to 18 March
    at = datetime(2026, 3, 20, 12, tzinfo=UTC)
    api.ingest([UsageEvent("v1", sub.id, "volume", at, {"amount": "200.00"})])
    first, second = api.run_cycle(date(2026, 4, 1)).created
    start = api.invoice(first)
    assert [(line.kind, line.period_start, line.amount) for line in start.lines] == [
        ("plan", date(2026, 3, 19), eur("20.97")),  # 50 x 13/31, the trial days left out
    ]
    renewal = api.invoice(second)
    assert [(line.kind, line.description, line.amount) for line in renewal.lines] == [
        ("charge", "volume", eur("3.00")),  # 1.5 % of March's 200.00
        ("plan", "Pro", eur("50.00")),  # April, in advance
    ]
    deferred = _balance(tenant, "liability:billing:deferred:EUR")
    assert deferred == eur("70.97")


def test_a_cancelled_subscription_gets_its_last_invoice_and_ends(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant = billing_tenant(finplug_tenant)
    api = billing(tenant)
    api.upsert_customer(customer())
    sub = api.subscribe("k1", "c1", "starter", on=date(2026, 3, 1))
    api.cancel(sub.id, at_period_end=False, on=date(2026, 4, 11))
    report = api.run_cycle(date(2026, 6, 1))
    amounts = [api.invoice(i).lines[0].amount for i in report.created]
    assert amounts == [eur("20.00"), eur("6.67")]  # March; 10 April days of 30
    assert api.subscription(sub.id).status is SubscriptionStatus.TERMINATED
    assert api.run_cycle(date(2026, 9, 1)).created == ()


def test_coupons_apply_before_tax_oldest_first_and_carry_over(
    finplug_tenant: FinplugTenant,
) -> None:
    coupons = {
        "welcome": {"kind": "fixed", "currency": EUR, "amount": "30.00", "frequency": "once"},
        "launch": {"kind": "percentage", "rate": "0.10", "frequency": "recurring", "periods": 2},
    }
    tenant = billing_tenant(finplug_tenant, coupons=coupons)
    api = billing(tenant)
    api.upsert_customer(customer())
    sub = api.subscribe("k1", "c1", "starter", on=date(2026, 3, 1))
    api.apply_coupon("cp1", "c1", "welcome")
    assert api.apply_coupon("cp1", "c1", "welcome") == api.apply_coupon("cp1", "c1", "welcome")
    api.apply_coupon("cp2", "c1", "launch")
    invoices = [api.invoice(i) for i in api.run_cycle(date(2026, 6, 1)).created]
    assert [i.subtotal for i in invoices] == [eur("20.00")] * 3
    # March: 20.00 of the fixed 30.00 (10.00 carries), then 10 % of nothing left.
    # April: the fixed coupon's last 10.00, then 10 % of 10.00. May: nothing left.
    assert [i.discount for i in invoices] == [eur("20.00"), eur("11.00"), eur("0.00")]
    assert [i.tax for i in invoices] == [eur("0.00"), eur("1.71"), eur("3.80")]
    assert sub.id == invoices[0].subscription_id


def test_a_coupon_in_another_currency_is_refused(finplug_tenant: FinplugTenant) -> None:
    coupons = {"usd": {"kind": "fixed", "currency": "USD", "amount": "5.00"}}
    api = billing(billing_tenant(finplug_tenant, coupons=coupons))
    api.upsert_customer(customer())
    with pytest.raises(BillingInputError, match="currency mismatch"):
        api.apply_coupon("cp1", "c1", "usd")
    with pytest.raises(BillingInputError, match="no coupon"):
        api.apply_coupon("cp2", "c1", "nope")
