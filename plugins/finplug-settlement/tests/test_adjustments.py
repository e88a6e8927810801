"""Chargebacks split back like refunds, manual adjustments, and both netted by the next run."""

from __future__ import annotations

from datetime import UTC, date, datetime
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
    "channels-sim": {"channels": [{"name": "card", "methods": ["card"], "currencies": [EUR]}]},
    "settlement": {
        "rules": {
            "market": {
                "shares": [
                    {"party": "platform", "role": "platform", "percent": "10"},
                    {"party": "partner-7", "role": "partner", "percent": "5"},
                    {"party": "merchant", "role": "merchant", "remainder": True},
                ]
            }
        },
        "merchants": {"m1": "market"},
        "schedule": {"kind": "daily", "delay_days": 1, "timezone": "UTC"},
    },
}
PLUGINS = [PaymentsPlugin, ChannelsSimPlugin, SettlementPlugin]
MONDAY = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)


def test_a_chargeback_is_split_back_and_netted_once(finplug_tenant: FinplugTenant) -> None:
    tenant = finplug_tenant(PLUGINS, SETTINGS, clock=lambda: MONDAY)
    paid = tenant.component(PAYMENTS).authorize(
        "k1", amount=Money("200.00", EUR), merchant_id="m1", method="card", capture=True
    )
    settlement = tenant.component(SETTLEMENT)
    seq = settlement.chargeback("cb-1", paid.id, Money("40.00", EUR))
    assert settlement.chargeback("cb-1", paid.id, Money("40.00", EUR)) == seq  # replayed
    with pytest.raises(SettlementError, match="another request"):
        settlement.chargeback("cb-1", paid.id, Money("41.00", EUR))
    split = settlement.split_of(paid.id)
    assert split is not None
    assert {p.party: p.refunded for p in split.parts} == {
        "platform": Money("4.00", EUR),
        "partner-7": Money("2.00", EUR),
        "merchant": Money("34.00", EUR),
    }
    assert tenant.ledger.balance(MERCHANT).posted == Money("136.00", EUR)  # 170.00 less 34.00
    assert tenant.ledger.balance("payments:clearing:card:EUR").posted == Money("160.00", EUR)
    with pytest.raises(SettlementError, match="has left"):
        settlement.chargeback("cb-2", paid.id, Money("160.01", EUR))
    [batch_id, _partner] = settlement.run(date(2025, 10, 7)).created
    assert settlement.batch(batch_id).net == Money("136.00", EUR)
    assert tenant.ledger.verify().ok


def test_adjustments_either_way_are_netted_by_the_next_run(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant = finplug_tenant(PLUGINS, SETTINGS, clock=lambda: MONDAY)
    tenant.component(PAYMENTS).authorize(
        "k1", amount=Money("100.00", EUR), merchant_id="m1", method="card", capture=True
    )
    settlement = tenant.component(SETTLEMENT)
    settlement.adjust("fee-1", "m1", Money("-7.50", EUR), "chargeback fee")
    settlement.adjust("goodwill-1", "partner-7", Money("1.25", EUR), "late delivery", party=True)
    assert settlement.adjust("fee-1", "m1", Money("-7.50", EUR), "chargeback fee") > 0
    with pytest.raises(SettlementError, match="another request"):
        settlement.adjust("fee-1", "m1", Money("-8.00", EUR), "chargeback fee")
    with pytest.raises(SettlementError, match="zero"):
        settlement.adjust("none", "m1", Money("0.00", EUR), "nothing")
    report = settlement.run(date(2025, 10, 7))
    nets = {settlement.batch(b).payee: settlement.batch(b).net for b in report.created}
    assert nets == {"m1": Money("77.50", EUR), "partner-7": Money("6.25", EUR)}
    assert tenant.ledger.balance("settlement:adjustments:EUR").posted == Money("-6.25", EUR)
    assert tenant.ledger.verify().ok
