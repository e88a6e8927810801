"""The plugin class: ``billing`` provides the component, its hook, checks and jobs.

Settings: the catalog (:mod:`finplug_billing._catalog`). Its own hook
(:mod:`finplug_billing.hookspecs`) lets other plugins add charge models;
``finplug check`` checks every charge's properties against its model.
"""

from __future__ import annotations

from finplug import ConfigIssue, Plugin, PluginMeta, hookimpl
from finplug.hookspecs import ComponentRegistrar
from finplug_billing._catalog import BillingSettings
from finplug_billing._coupons import Coupons
from finplug_billing._customers import Customers
from finplug_billing._invoices import Invoices
from finplug_billing._prices import Catalog
from finplug_billing._service import Billing
from finplug_billing._subscriptions import Subscriptions
from finplug_billing._usage import Usage
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
        sockets={"billing": ">=0.2,<1"},
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
        self.invoices = Invoices(self.catalog, ctx.unit_of_work, ctx.clock)
        """The tenant's invoices and billing cycles."""
        coupons = Coupons(self.catalog, ctx.unit_of_work, ctx.clock)
        self.service = Billing(
            self.customers, self.subscriptions, self.usage, self.invoices, coupons
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
