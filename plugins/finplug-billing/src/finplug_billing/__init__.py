"""finplug-billing: plans, subscriptions, usage, charge models, invoices (in progress).

The pure parts are public modules: :mod:`finplug_billing.charges` (charge
models), :mod:`finplug_billing.metrics` (billable-metric aggregations),
:mod:`finplug_billing.periods` (billing periods and proration) and
:mod:`finplug_billing.totals` (an invoice's arithmetic: discounts, taxes,
credits, credit notes).
"""

from __future__ import annotations

from finplug_billing._catalog import BillingSettings
from finplug_billing._plugin import BillingPlugin
from finplug_billing._service import Billing

__all__ = ["Billing", "BillingPlugin", "BillingSettings"]
