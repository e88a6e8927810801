"""finplug-reconciliation: statements in, matched against the ledger, breaks worked.

Enable it in a tenant config (``plugins: {reconciliation: {...}}``); see
:mod:`finplug_reconciliation._settings` for the settings and
``docs/reconciliation.md``. The pure parts are public modules:
:mod:`finplug_reconciliation.formats` (statement parsers) and
:mod:`finplug_reconciliation.matching` (the matching engine); other plugins
add formats and sources through :mod:`finplug_reconciliation.hookspecs`.
"""

from __future__ import annotations

from finplug_reconciliation._plugin import ReconciliationPlugin
from finplug_reconciliation._service import Reconciliation
from finplug_reconciliation._settings import ReconciliationSettings

__all__ = ["Reconciliation", "ReconciliationPlugin", "ReconciliationSettings"]
