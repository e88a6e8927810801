"""The plugin class: ``billing`` provides the component, its hook, checks and jobs.

Settings: the catalog (:mod:`finplug_billing._catalog`). Its own hook
(:mod:`finplug_billing.hookspecs`) lets other plugins add charge models;
``finplug check`` checks every charge's properties against its model.
"""

from __future__ import annotations

from datetime import timedelta

from finplug import ConfigIssue, Money, Plugin, PluginMeta, hookimpl
from finplug.hookspecs import ComponentRegistrar, JobRegistrar
from finplug.sockets.billing import BillingError, BillingInputError
from finplug.sockets.payments import PAYMENTS, PaymentsAPI, PaymentStatus
from finplug_billing._booking import Books
from finplug_billing._catalog import BillingSettings
from finplug_billing._collection import ChargeOutcome, Collection
from finplug_billing._coupons import Coupons
from finplug_billing._credits import CreditNotes
from finplug_billing._customers import Customers, load_customer
from finplug_billing._invoices import Invoices
from finplug_billing._prices import Catalog
from finplug_billing._service import Billing
from finplug_billing._subscriptions import Subscriptions
from finplug_billing._usage import Usage
from finplug_billing._wallets import Wallets
from finplug_billing.charges import ChargeModel
from finplug_billing.hookspecs import billing_hooks

__all__ = ["BillingPlugin"]


class BillingPlugin(Plugin[BillingSettings]):
    """Provides ``tenant.component(BILLING)``."""

    meta = PluginMeta(
        name="billing",
        version="0.1.0",
        summary="Plans, subscriptions, usage, charge models, invoices, credit notes and wallets",
        components=frozenset({"billing"}),
        # payments: charges of finalized invoices and paid top-ups (optional: bank transfers).
        sockets={"billing": ">=0.2,<1", "payments": ">=1.0,<2"},
        api=">=1.0,<2",
        settings=BillingSettings,
        migrations="finplug_billing.migrations",
        hookspecs=("finplug_billing.hookspecs",),
    )

    def _setup(self) -> None:
        ctx = self.context
        self._catalog: Catalog | None = None
        self.customers = Customers(self.settings, ctx.unit_of_work, ctx.clock)
        """The tenant's customers."""
        self.subscriptions = Subscriptions(self.catalog, ctx.unit_of_work, ctx.clock)
        """The tenant's subscriptions."""
        self.usage = Usage(self.catalog, ctx.unit_of_work, ctx.clock)
        """The tenant's usage events."""
        books = Books(self.settings)
        self.invoices = Invoices(self.catalog, ctx.unit_of_work, ctx.clock, books)
        """The tenant's invoices and billing cycles."""
        coupons = Coupons(self.catalog, ctx.unit_of_work, ctx.clock)
        self.wallets = Wallets(
            self.settings, ctx.unit_of_work, ctx.clock, lambda: self._top_up, books
        )
        """The tenant's prepaid wallets."""
        self.collection = Collection(
            self.settings, ctx.unit_of_work, ctx.clock, lambda: self._charge, books
        )
        """Charges, dunning, payments received, voids and write-offs."""
        self.service = Billing(
            self.customers,
            self.subscriptions,
            self.usage,
            self.invoices,
            coupons,
            CreditNotes(self.catalog, ctx.unit_of_work, ctx.clock, books),
            self.wallets,
            self.collection,
            self._render,
        )
        """The tenant's ``billing`` component."""

    def _models(self) -> list[ChargeModel]:
        found = billing_hooks.of(self.context.hooks).finplug_billing_charge_models()
        return [model for batch in found for model in batch]

    def catalog(self) -> Catalog:
        """The catalog with its charges bound to their models (built on first use)."""
        if self._catalog is None:
            self._catalog = Catalog(self.settings, self._models()).check()
        return self._catalog

    def _payments(self) -> PaymentsAPI:
        if not self.context.has_component("payments"):
            raise BillingError(
                "charging a customer needs the payments component: enable a payments plugin,"
                " or collect by bank transfer (record_payment)"
            )
        return self.context.component(PAYMENTS)

    def _charge(self, key: str, customer_id: str, method: str, amount: Money) -> ChargeOutcome:
        """Capture ``amount`` through payments; what the channel said."""
        payment = self._payments().authorize(
            key,
            amount=amount,
            merchant_id=self.settings.merchant_id,
            method=method,
            customer_id=customer_id,
            capture=True,
            description=f"billing {key}",
        )
        status = payment.status
        if status is PaymentStatus.CAPTURED:
            return "captured", payment.id, ""
        if status is PaymentStatus.UNKNOWN:
            return "unknown", payment.id, "the channel's answer is not known yet"
        detail = payment.failure_code or status.value
        return "declined", payment.id, detail

    def _top_up(self, key: str, customer_id: str, amount: Money) -> str:
        with self.context.unit_of_work() as uow:
            method = load_customer(uow.conn, customer_id).payment_method
        if not method:
            raise BillingError(f"customer {customer_id!r} has no payment_method to charge")
        status, payment_id, detail = self._charge(key, customer_id, method, amount)
        if status != "captured":
            raise BillingError(f"the top-up charge was not captured ({status}: {detail})")
        return payment_id

    def _render(self, invoice_id: str, fmt: str) -> bytes:
        from finplug_billing.render import Issuer, render_html, render_pdf

        if fmt not in ("html", "pdf"):
            raise BillingInputError(f"expected 'html' or 'pdf', got {fmt!r}", field="fmt")
        issuer = self.settings.issuer
        who = Issuer(issuer.name, tuple(issuer.address_lines), issuer.tax_id, issuer.email)
        invoice = self.invoices.get(invoice_id)
        customer = self.customers.get(invoice.customer_id)
        notes = self.service.credit_notes(invoice_id)
        if fmt == "pdf":
            return render_pdf(invoice, customer, who, credit_notes=notes)
        return render_html(invoice, customer, who, credit_notes=notes).encode()

    @hookimpl
    def finplug_register_jobs(self, register: JobRegistrar) -> None:
        """``billing.cycle`` (hourly), ``billing.dunning`` (hourly), ``billing.credits`` (daily)."""
        register("billing.cycle", self._cycle, every=timedelta(hours=1))
        register("billing.dunning", self._dunning, every=timedelta(hours=1))
        register("billing.credits", self._expire, every=timedelta(days=1))

    def _cycle(self) -> str:
        report = self.service.run_cycle()
        text = f"{len(report.created)} invoice(s) made, {len(report.existing)} existing"
        if report.failed:
            text += f", {len(report.failed)} failed: {report.failed[0][0]}: {report.failed[0][1]}"
        return text

    def _expire(self) -> str:
        return f"{self.wallets.expire()} credit(s) expired"

    def _dunning(self) -> str:
        tried, overdue = self.collection.dunning()
        return f"{tried} charge(s) tried, {overdue} invoice(s) now overdue"

    @hookimpl
    def finplug_register_components(self, register: ComponentRegistrar) -> None:
        """Register the tenant's ``billing`` component."""
        register("billing", self.service)

    @hookimpl
    def finplug_check_tenant(self) -> list[ConfigIssue] | None:
        """Each charge's properties checked by its model; models offered twice."""
        problems = Catalog(self.settings, self._models()).problems
        return [
            ConfigIssue(None, None, f"plugins.billing.{path}", message)
            for path, message in problems
        ]
