"""Payout faults at random: whatever the channel does, nobody is paid twice and nothing is lost.

A payout channel drawing declines, outages and timeouts (applied or lost)
from its seed pays out a few weeks of settlement runs, with the janitor between runs.
Every step leaves each merchant's money in exactly one place: paid out, in
transit on a payout whose outcome is still unknown, or back on its payable.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from finplug import Money, Tenant
from finplug.sockets.payments import PAYMENTS
from finplug.sockets.settlement import SETTLEMENT, PayoutStatus
from finplug.testing import FinplugTenant
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin
from finplug_settlement import SettlementPlugin

EUR = "EUR"
MERCHANTS = ("m1", "m2", "m3")
PLUGINS = [PaymentsPlugin, ChannelsSimPlugin, SettlementPlugin]


class Clock:
    """A settable UTC clock."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _settings(seed: int) -> dict[str, Any]:
    card = {"name": "card", "methods": ["card"], "currencies": [EUR]}
    bank = {
        "name": "bank",
        "methods": ["bank_transfer"],
        "currencies": [EUR],
        "payouts": True,
        "failure_rate": "0.15",
        "decline_rate": "0.15",
        "timeout_rate": "0.2",
        "timeout_applied_rate": "0.5",
    }
    return {
        "channels-sim": {"seed": seed, "channels": [card, bank]},
        "settlement": {
            "schedule": {"kind": "daily", "delay_days": 1, "timezone": "UTC"},
            "payout_channel": "bank",
        },
    }


def _where_the_money_is(tenant: Tenant, merchant: str) -> dict[str, Money]:
    settlement = tenant.component(SETTLEMENT)
    zero = Money.zero(EUR)
    places = {"paid": zero, "in_transit": zero}
    for batch in settlement.batches(merchant, limit=1000):
        payout = settlement.payout(batch.id)
        if payout is None or payout.status in (PayoutStatus.SENT, PayoutStatus.UNKNOWN):
            places["in_transit"] += batch.net
        elif payout.status is PayoutStatus.PAID:
            places["paid"] += batch.net
    places["payable"] = tenant.ledger.balance(f"payments:merchant:{merchant}:EUR").posted
    return places


@pytest.mark.parametrize("seed", [3, 11])
def test_whatever_the_channel_does_each_merchant_is_paid_what_the_ledger_says_once(
    finplug_tenant: FinplugTenant, seed: int
) -> None:
    clock = Clock(datetime(2025, 10, 6, 8, 0, tzinfo=UTC))
    tenant = finplug_tenant(PLUGINS, _settings(seed), clock=clock)
    payments = tenant.component(PAYMENTS)
    settlement = tenant.component(SETTLEMENT)
    owed = dict.fromkeys(MERCHANTS, Money.zero(EUR))
    day = date(2025, 10, 6)
    n = 0
    for _ in range(12):
        for merchant in MERCHANTS:
            n += 1
            amount = Money(f"{7 + n % 13}.{n % 100:02d}", EUR)
            paid = payments.authorize(
                f"k{n}", amount=amount, merchant_id=merchant, method="card", capture=True
            )
            assert paid.captured == amount
            owed[merchant] += amount
        day += timedelta(days=1)
        clock.at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=8)
        report = settlement.run(day)
        for batch_id in report.created:
            settlement.pay(batch_id)
        settlement.resolve_payouts()
        for merchant in MERCHANTS:
            places = _where_the_money_is(tenant, merchant)
            assert sum(places.values(), Money.zero(EUR)) == owed[merchant], (merchant, places)
    # Every payout call used its batch's reference, and no batch was paid twice.
    statuses = [settlement.payout(b.id) for m in MERCHANTS for b in settlement.batches(m)]
    assert all(p is not None for p in statuses)
    seen = [p.status for p in statuses if p is not None]
    assert PayoutStatus.PAID in seen
    assert PayoutStatus.FAILED in seen  # the seeds were chosen so that faults happen
    assert tenant.ledger.verify().ok
