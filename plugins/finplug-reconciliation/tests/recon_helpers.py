"""Shared pieces of the reconciliation plugin's tests: a shop tenant and statement files."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from finplug import Money, Tenant
from finplug.sockets.payments import PAYMENTS, Payment
from finplug.testing import FinplugTenant
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin
from finplug_reconciliation import ReconciliationPlugin
from shared_data import shared_data

#: The third-party statements (``../shared/data/statements``; see shared_data.py, on the
#: test path from the risk-engine plugin's tests, for where that folder is looked for).
STATEMENTS = shared_data() / "statements"
EUR = "EUR"
CLEARING = "payments:clearing:card:EUR"
HEADER = "booked_on,type,reference,payment_reference,amount,currency,account,description"
SETTINGS: dict[str, Any] = {
    "channels-sim": {"channels": [{"name": "card", "methods": ["card"], "currencies": [EUR]}]},
    "reconciliation": {
        "accounts": {
            "card": {
                "statement_account": "card",
                "currency": EUR,
                "ledger_accounts": {CLEARING: 1},
                "owner": "treasury",
                "write_off_limit": "1.00",
            }
        },
        "csv_formats": [
            {
                "name": "sim",
                "columns": {
                    "booked_on": "booked_on",
                    "amount": "amount",
                    "reference": "payment_reference",
                    "bank_reference": "reference",
                    "kind": "type",
                    "currency": "currency",
                    "account": "account",
                    "description": "description",
                },
            }
        ],
    },
}
PLUGINS = [PaymentsPlugin, ChannelsSimPlugin, ReconciliationPlugin]


class Clock:
    """A settable UTC clock."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def shop(finplug_tenant: FinplugTenant, clock: Clock, **changes: Any) -> Tenant:
    """A tenant with payments on a simulated card channel and reconciliation of it."""
    settings = copy.deepcopy(SETTINGS)
    settings["reconciliation"].update(changes)
    return finplug_tenant(PLUGINS, settings, clock=clock)


def capture(tenant: Tenant, key: str, amount: str) -> Payment:
    """A captured card payment."""
    return tenant.component(PAYMENTS).authorize(
        key, amount=Money(amount, EUR), merchant_id="m1", method="card", capture=True
    )


def day_at(day: date, hour: int = 10) -> datetime:
    """``day`` at ``hour`` UTC."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def csv_file(rows: Sequence[tuple[date, str, str, str]]) -> bytes:
    """A channel settlement file: (day, type, payment id, amount) per row."""
    lines = [HEADER]
    for n, (day, kind, payment, amount) in enumerate(rows):
        lines.append(
            f"{day.isoformat()},{kind},ref{n},{payment},{amount},EUR,card,{kind} {payment}"
        )
    return ("\n".join(lines) + "\n").encode()
