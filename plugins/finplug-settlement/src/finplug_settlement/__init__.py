"""finplug-settlement: exact order splits, T+N settlement runs, reserves, payouts, statements.

Enable it in a tenant config (``plugins: {settlement: {...}}``); see
:mod:`finplug_settlement._settings` for the settings and ``docs/settlement.md``.
The pure parts are public modules: :mod:`finplug_settlement.allocation` (the
split rule, Numscript's allotment) and :mod:`finplug_settlement.calendars`
(business days, schedules, value dates).
"""

from __future__ import annotations

from finplug_settlement._plugin import SettlementPlugin
from finplug_settlement._service import Settlement
from finplug_settlement._settings import SettlementSettings

__all__ = ["Settlement", "SettlementPlugin", "SettlementSettings"]
