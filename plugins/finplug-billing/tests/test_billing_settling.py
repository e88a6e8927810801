"""Credit notes, wallets, collection through payments, dunning, voids and write-offs."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

import pytest

from billing_helpers import CATALOG, Clock, billing, billing_tenant, customer
from finplug import Money, Tenant
from finplug.sockets.billing import (
    BillingError,
    BillingInputError,
    CollectionStatus,
    CreditTarget,
    InvoiceStatus,
)
from finplug.testing import FinplugTenant
from finplug_billing import BillingPlugin
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin

EUR = "EUR"


def eur(text: str) -> Money:
    return Money(text, EUR)


def _receivable(tenant: Tenant, who: str = "c1") -> Money:
    try:
        return tenant.ledger.balance(f"asset:billing:receivable:{who}:EUR").posted
    except Exception:  # never opened
        return eur("0")


def _invoiced(tenant: Tenant) -> tuple[Tenant, str]:
    """The tenant's customer c1 with one finalized March invoice of 23.80 (20.00 + 19 % VAT)."""
    api = billing(tenant)
    api.upsert_customer(customer())
    api.subscribe("k1", "c1", "starter", on=date(2026, 3, 1))
    (ident,) = api.run_cycle(date(2026, 4, 1)).created
    assert api.invoice(ident).total == eur("23.80")
    return tenant, ident


def _shop(
    finplug_tenant: FinplugTenant, clock: Clock, script: dict[str, str] | None = None
) -> Tenant:
    settings = {
        "billing": copy.deepcopy(CATALOG),
        "channels-sim": {
            "channels": [
                {"name": "card", "methods": ["card"], "currencies": [EUR], "script": script or {}}
            ]
        },
    }
    return finplug_tenant([PaymentsPlugin, ChannelsSimPlugin, BillingPlugin], settings, clock=clock)


def test_credit_notes_never_exceed_the_invoice_and_the_last_closes_it(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant, ident = _invoiced(billing_tenant(finplug_tenant))
    api = billing(tenant)
    first = api.credit("cn1", ident, amount=eur("10.00"), reason="goodwill")
    assert api.credit("cn1", ident, amount=eur("10.00"), reason="goodwill") == first
    assert first.number == "CN-000001"
    assert (first.amount, first.tax, first.total) == (eur("8.40"), eur("1.60"), eur("10.00"))
    with pytest.raises(BillingInputError, match=r"only 13\.80 is left"):
        api.credit("cn2", ident, amount=eur("13.81"))
    with pytest.raises(BillingInputError, match="currency mismatch"):
        api.credit("cn3", ident, amount=Money("1.00", "USD"))
    last = api.credit("cn4", ident, lines={"fee:0": eur("13.80")})
    assert first.total + last.total == eur("23.80")
    invoice = api.invoice(ident)
    assert invoice.status is InvoiceStatus.PAID
    assert invoice.amount_due == eur("0.00")
    assert _receivable(tenant) == eur("0.00")
    assert tenant.ledger.balance("income:billing:EUR").posted == eur("0.00")
    assert tenant.ledger.balance("liability:tax:vat_de:EUR").posted == eur("0.00")
    assert [n.number for n in api.credit_notes(ident)] == ["CN-000001", "CN-000002"]


def test_wallet_credits_pay_invoices_soonest_expiring_first(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(datetime(2026, 3, 1, 9, tzinfo=UTC))
    tenant = billing_tenant(finplug_tenant, clock)
    api = billing(tenant)
    api.upsert_customer(customer())
    api.top_up("t1", "c1", eur("10.00"), paid=False)
    api.top_up("t2", "c1", eur("5.00"), expires_on=date(2026, 4, 30), paid=False)
    assert api.top_up(
        "t2", "c1", eur("5.00"), expires_on=date(2026, 4, 30), paid=False
    ).balance == eur("15.00")
    with pytest.raises(BillingInputError, match="currency mismatch"):
        api.top_up("t3", "c1", Money("5.00", "USD"), paid=False)
    api.subscribe("k1", "c1", "starter", on=date(2026, 3, 1))
    clock.now = datetime(2026, 4, 1, 9, tzinfo=UTC)
    (ident,) = api.run_cycle().created
    invoice = api.invoice(ident)
    assert (invoice.total, invoice.credits, invoice.amount_due) == (
        eur("23.80"),
        eur("15.00"),
        eur("8.80"),
    )
    wallet = api.wallet("c1")
    assert wallet.balance == eur("0.00")
    assert [c.remaining for c in wallet.credits] == [eur("0.00"), eur("0.00")]
    assert _receivable(tenant) == eur("8.80")
    assert tenant.ledger.balance("liability:billing:wallet:c1:EUR").posted == eur("0.00")


def test_expired_credits_are_breakage(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(datetime(2026, 3, 1, 9, tzinfo=UTC))
    tenant = billing_tenant(finplug_tenant, clock)
    api = billing(tenant)
    api.upsert_customer(customer())
    api.top_up("t1", "c1", eur("7.00"), expires_on=date(2026, 3, 15), paid=False)
    clock.now = datetime(2026, 3, 15, 9, tzinfo=UTC)
    assert api.wallet("c1").balance == eur("0.00")
    plugin = tenant.plugin("billing")
    assert isinstance(plugin, BillingPlugin)
    assert plugin.wallets.expire() == 1
    assert plugin.wallets.expire() == 0
    assert tenant.ledger.balance("income:billing:expired_credits:EUR").posted == eur("7.00")


def test_a_failed_charge_is_retried_on_the_dunning_schedule(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(datetime(2026, 4, 1, 9, tzinfo=UTC))
    tenant = _shop(finplug_tenant, clock, {"23.80": "decline:insufficient_funds"})
    api = billing(tenant)
    api.upsert_customer(customer(payment_method="card"))
    api.subscribe("k1", "c1", "starter", on=date(2026, 3, 1))
    (ident,) = api.run_cycle().created
    failed = api.collect(ident)
    assert failed.collection is CollectionStatus.RETRYING
    assert failed.status is InvoiceStatus.FINALIZED
    plugin = tenant.plugin("billing")
    assert isinstance(plugin, BillingPlugin)
    assert plugin.collection.dunning() == (0, 0)  # the retry is due on 2 April
    clock.now += timedelta(days=1)
    assert plugin.collection.dunning()[0] == 1  # declined again (same amount)
    assert api.invoice(ident).collection is CollectionStatus.RETRYING
    with pytest.raises(BillingInputError, match=r"only 23\.80 EUR is due"):
        api.record_payment("bank-1", ident, eur("30.00"))
    paid = api.record_payment("bank-1", ident, eur("23.80"))
    assert paid.status is InvoiceStatus.PAID
    assert api.record_payment("bank-1", ident, eur("23.80")) == paid
    assert _receivable(tenant) == eur("0.00")
    assert tenant.ledger.balance("asset:billing:clearing:EUR").posted == eur("23.80")


def test_a_charge_captured_through_payments_pays_the_invoice(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(datetime(2026, 4, 1, 9, tzinfo=UTC))
    tenant = _shop(finplug_tenant, clock)
    api = billing(tenant)
    api.upsert_customer(customer(payment_method="card"))
    api.subscribe("k1", "c1", "starter", on=date(2026, 3, 1))
    (ident,) = api.run_cycle().created
    paid = api.collect(ident)
    assert (paid.status, paid.paid, paid.amount_due) == (
        InvoiceStatus.PAID,
        eur("23.80"),
        eur("0.00"),
    )
    with pytest.raises(BillingError, match="nothing to collect"):
        api.collect(ident)
    refund = api.credit("r1", ident, amount=eur("5.00"), target=CreditTarget.REFUND)
    assert refund.total == eur("5.00")
    assert tenant.ledger.balance("asset:billing:clearing:EUR").posted == eur("18.80")


def test_void_and_write_off(finplug_tenant: FinplugTenant) -> None:
    tenant = billing_tenant(finplug_tenant)
    api = billing(tenant)
    for who in ("c1", "c2"):
        api.upsert_customer(customer(who))
        api.subscribe(f"k-{who}", who, "starter", on=date(2026, 3, 1))
    first, second = sorted(api.run_cycle(date(2026, 4, 1)).created)
    by_customer = {api.invoice(i).customer_id: i for i in (first, second)}
    voided = api.void(by_customer["c1"])
    assert voided.status is InvoiceStatus.VOIDED
    assert _receivable(tenant, "c1") == eur("0.00")
    with pytest.raises(BillingError):
        api.void(by_customer["c1"])
    lost = api.mark_uncollectible(by_customer["c2"])
    assert lost.status is InvoiceStatus.UNCOLLECTIBLE
    assert _receivable(tenant, "c2") == eur("0.00")
    assert tenant.ledger.balance("expense:billing:bad_debt:EUR").posted == eur("23.80")
    html = api.render(by_customer["c2"]).decode()
    assert "23,80" in html
    assert api.render(by_customer["c2"], "pdf").startswith(b"%PDF")
