"""A channel's settlement report for reconciliation: discrepancies by amount, as a script."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

from finplug import Money
from finplug.sockets.payments import PAYMENTS
from finplug.sockets.reconciliation import ChannelReports
from finplug.testing import FinplugTenant
from finplug_channels_sim import ChannelsSimPlugin, SimConnector
from finplug_payments import PaymentsPlugin

DAY = date(2025, 10, 7)
SETTINGS: dict[str, Any] = {
    "channels-sim": {
        "channels": [
            {
                "name": "card",
                "currencies": ["EUR"],
                "settlement_discrepancies": [
                    {"kind": "amount_off", "amount": "50.00", "type": "capture", "by": "0.10"},
                    {"kind": "duplicate", "amount": "66.00"},
                    {"kind": "missing", "amount": "99.99"},  # never comes: nothing happens
                ],
            }
        ]
    }
}


class Clock:
    """A settable UTC clock."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _rows(data: bytes) -> list[tuple[str, str]]:
    return [(r["type"], r["amount"]) for r in csv.DictReader(io.StringIO(data.decode()))]


def test_the_report_applies_discrepancies_by_amount_when_such_rows_come(
    finplug_tenant: FinplugTenant,
) -> None:
    clock = Clock(datetime(2025, 10, 7, 9, 0, tzinfo=UTC))
    tenant = finplug_tenant([PaymentsPlugin, ChannelsSimPlugin], SETTINGS, clock=clock)
    plugin = tenant.plugin("channels-sim")
    assert isinstance(plugin, ChannelsSimPlugin)
    connector = plugin.connector("card")
    assert isinstance(connector, SimConnector)
    assert isinstance(connector, ChannelReports)  # what the reconciliation source asks for
    assert _rows(connector.settlement_report(DAY)) == []  # nothing yet, and no error
    for key, amount in (("a", "50.00"), ("b", "66.00"), ("c", "12.00")):
        tenant.component(PAYMENTS).authorize(
            key, amount=Money(amount, "EUR"), merchant_id="m", method="card", capture=True
        )
    assert _rows(connector.settlement_report(DAY)) == [
        ("capture", "50.10"),
        ("capture", "66.00"),
        ("capture", "66.00"),
        ("capture", "12.00"),
    ]
