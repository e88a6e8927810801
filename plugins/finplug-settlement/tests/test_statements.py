"""Settlement statements: per batch, JSON and CSV, reproduced from the ledger."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from finplug import Money
from finplug.sockets.payments import PAYMENTS
from finplug.sockets.settlement import SETTLEMENT, SettlementError
from finplug.testing import FinplugTenant
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin
from finplug_settlement import SettlementPlugin

EUR = "EUR"
MERCHANT = "payments:merchant:m1:EUR"
SETTINGS: dict[str, Any] = {
    "channels-sim": {
        "channels": [{"name": "card", "methods": ["card"], "currencies": [EUR], "payouts": True}]
    },
    "settlement": {
        "rules": {
            "market": {
                "shares": [
                    {"party": "platform", "role": "platform", "percent": "10"},
                    {"party": "merchant", "role": "merchant", "remainder": True},
                ]
            }
        },
        "merchants": {"m1": "market"},
        "schedule": {"kind": "daily", "delay_days": 1, "timezone": "UTC"},
        "reserve": {"rate": "0.1", "days": 30},
    },
}
PLUGINS = [PaymentsPlugin, ChannelsSimPlugin, SettlementPlugin]


class Clock:
    """A settable UTC clock."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_a_statement_lists_every_posting_and_nets_to_the_batch(
    finplug_tenant: FinplugTenant,
) -> None:
    clock = Clock(datetime(2025, 10, 6, 9, 0, tzinfo=UTC))
    tenant = finplug_tenant(PLUGINS, SETTINGS, clock=clock)
    payments = tenant.component(PAYMENTS)
    paid = payments.authorize(
        "k1", amount=Money("100.00", EUR), merchant_id="m1", method="card", capture=True
    )
    payments.refund("r1", paid.id, Money("10.00", EUR))
    settlement = tenant.component(SETTLEMENT)
    [batch_id] = settlement.run(date(2025, 10, 7)).created
    settlement.pay(batch_id)
    batch = settlement.batch(batch_id)

    document = json.loads(settlement.statement(batch_id, "json"))
    assert document["batch"] == batch_id
    assert (document["payee"], document["currency"]) == ("m1", EUR)
    assert document["payout"]["status"] == "paid"
    assert [line["kind"] for line in document["lines"]] == [
        "capture",
        "split",
        "refund",
        "refund_split",
        "reserve_held",
    ]
    assert [line["amount"] for line in document["lines"]] == [
        "100.00",
        "-10.00",
        "-10.00",
        "1.00",
        "-8.10",
    ]
    assert [line["entry"] for line in document["lines"]] == list(batch.entries)
    assert document["totals"] == {
        "movements": "81.00",
        "reserve_held": "8.10",
        "reserve_released": "0.00",
        "net": "72.90",
    }
    assert Money(document["totals"]["net"], EUR) == batch.net

    rows = list(csv.DictReader(io.StringIO(settlement.statement(batch_id, "csv"))))
    lines = [r for r in rows if r["entry"]]
    assert [Decimal(r["amount"]) for r in lines] == [
        Decimal(line["amount"]) for line in document["lines"]
    ]
    assert {r["kind"]: r["amount"] for r in rows if not r["entry"]} == {
        "total:movements": "81.00",
        "total:reserve_held": "8.10",
        "total:reserve_released": "0.00",
        "total:net": "72.90",
    }
    # The lines are the ledger's own postings on the merchant's account.
    ledger = {p.seq: p for p in tenant.ledger.postings([MERCHANT])}
    for line in document["lines"]:
        posting = ledger[line["entry"]]
        assert (posting.key, str(posting.amount.amount)) == (line["key"], line["amount"])


def test_an_unknown_format_or_batch_is_refused(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(datetime(2025, 10, 6, 9, 0, tzinfo=UTC))
    tenant = finplug_tenant(PLUGINS, SETTINGS, clock=clock)
    tenant.component(PAYMENTS).authorize(
        "k1", amount=Money("10.00", EUR), merchant_id="m1", method="card", capture=True
    )
    settlement = tenant.component(SETTLEMENT)
    [batch_id] = settlement.run(date(2025, 10, 7)).created
    with pytest.raises(SettlementError, match="one of json, csv"):
        settlement.statement(batch_id, "xml")
    with pytest.raises(SettlementError, match="no settlement batch"):
        settlement.statement("nope@2025-10-07")
