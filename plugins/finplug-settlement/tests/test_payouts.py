"""Payouts: one per batch, through the channel's PAYOUT operation; failures and returns undone."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest

from finplug import Money, NoSettings, Plugin, PluginMeta, Tenant, hookimpl
from finplug.sockets.payments import PAYMENTS
from finplug.sockets.risk import RiskContext, RiskDecision, RiskReason
from finplug.sockets.settlement import SETTLEMENT, BatchStatus, PayoutStatus, SettlementError
from finplug.testing import FinplugTenant
from finplug_channels_sim import ChannelsSimPlugin, SimConnector
from finplug_payments import PaymentsPlugin
from finplug_settlement import SettlementPlugin

EUR = "EUR"
MERCHANT = "payments:merchant:m1:EUR"
TRANSIT = "settlement:payouts:EUR"
CLEARING = "payments:clearing:card:EUR"
# Captures of these amounts settle to these nets (no split rule): the script keys on the net.
SCRIPT = {
    "20.00": "payout:decline:account_closed",
    "30.00": "payout:timeout_applied",
    "40.00": "payout:returned",
    "50.00": "payout:timeout_lost",
    "60.00": "payout:lookup_timeout",
}
SETTINGS: dict[str, Any] = {
    "channels-sim": {
        "channels": [
            {
                "name": "card",
                "methods": ["card"],
                "currencies": [EUR],
                "payouts": True,
                "script": SCRIPT,
            }
        ]
    },
    "settlement": {"schedule": {"kind": "daily", "delay_days": 1, "timezone": "UTC"}},
}
PLUGINS = [PaymentsPlugin, ChannelsSimPlugin, SettlementPlugin]
MONDAY = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
TUESDAY = date(2025, 10, 7)


def _settled(finplug_tenant: FinplugTenant, amount: str, **extra: Any) -> tuple[Tenant, str]:
    """A tenant with one capture of ``amount`` on Monday, settled on Tuesday."""
    settings = copy.deepcopy(SETTINGS)
    tenant = finplug_tenant([*PLUGINS, *extra.get("plugins", [])], settings, clock=lambda: MONDAY)
    tenant.component(PAYMENTS).authorize(
        "k1", amount=Money(amount, EUR), merchant_id="m1", method="card", capture=True
    )
    [batch_id] = tenant.component(SETTLEMENT).run(TUESDAY).created
    return tenant, batch_id


def _sim(tenant: Tenant) -> SimConnector:
    plugin = tenant.plugin("channels-sim")
    assert isinstance(plugin, ChannelsSimPlugin)
    connector = plugin.connector("card")
    assert isinstance(connector, SimConnector)
    return connector


def _posted(tenant: Tenant, code: str) -> Money:
    return tenant.ledger.balance(code).posted


def test_a_batch_is_paid_once_however_often_it_is_asked(finplug_tenant: FinplugTenant) -> None:
    tenant, batch_id = _settled(finplug_tenant, "10.00")
    settlement = tenant.component(SETTLEMENT)
    assert settlement.payout(batch_id) is None
    paid = settlement.pay(batch_id)
    assert (paid.status, paid.amount, paid.channel, paid.attempts) == (
        PayoutStatus.PAID,
        Money("10.00", EUR),
        "card",
        1,
    )
    assert settlement.pay(batch_id) == paid  # one payout per batch
    payouts = [c for c in _sim(tenant).calls if c.operation.value == "payout"]
    assert [c.reference for c in payouts] == [f"payout:{batch_id}"]
    assert settlement.batch(batch_id).status is BatchStatus.PAID
    assert _posted(tenant, TRANSIT) == Money("0.00", EUR)
    assert _posted(tenant, CLEARING) == Money("0.00", EUR)  # captured 10.00, paid out 10.00
    assert tenant.ledger.verify().ok


def test_a_declined_payout_puts_the_money_back_and_the_next_run_pays_it(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant, batch_id = _settled(finplug_tenant, "20.00")
    settlement = tenant.component(SETTLEMENT)
    failed = settlement.pay(batch_id)
    assert (failed.status, failed.failure_code) == (PayoutStatus.FAILED, "account_closed")
    assert settlement.batch(batch_id).status is BatchStatus.FAILED
    assert _posted(tenant, MERCHANT) == Money("20.00", EUR)
    assert _posted(tenant, TRANSIT) == Money("0.00", EUR)
    # A later capture and the next run: the restored 20.00 goes out again with it.
    tenant.component(PAYMENTS).authorize(
        "k2", amount=Money("5.00", EUR), merchant_id="m1", method="card", capture=True
    )
    [retry] = settlement.run(date(2025, 10, 8)).created
    assert settlement.batch(retry).net == Money("25.00", EUR)
    assert settlement.pay(retry).status is PayoutStatus.PAID
    assert _posted(tenant, MERCHANT) == Money("0.00", EUR)
    assert tenant.ledger.verify().ok


def test_a_timeout_is_settled_by_the_janitor(finplug_tenant: FinplugTenant) -> None:
    tenant, batch_id = _settled(finplug_tenant, "30.00")
    settlement = tenant.component(SETTLEMENT)
    assert settlement.pay(batch_id).status is PayoutStatus.UNKNOWN
    assert _posted(tenant, TRANSIT) == Money("30.00", EUR)  # still in transit
    report = settlement.resolve_payouts()
    assert report.paid == (batch_id,)
    assert settlement.payout(batch_id).status is PayoutStatus.PAID  # type: ignore[union-attr]
    assert settlement.resolve_payouts().paid == ()  # nothing twice
    assert _posted(tenant, TRANSIT) == Money("0.00", EUR)


def test_a_payout_the_channel_never_got_is_sent_again_with_the_same_reference(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant, batch_id = _settled(finplug_tenant, "50.00")
    settlement = tenant.component(SETTLEMENT)
    assert settlement.pay(batch_id).status is PayoutStatus.UNKNOWN
    report = settlement.resolve_payouts()
    # The sim keeps a lost call lost: asked again with the same reference, it times out again.
    assert report.still_unknown == (batch_id,)
    payout = settlement.payout(batch_id)
    assert payout is not None
    assert payout.attempts == 2
    references = {c.reference for c in _sim(tenant).calls if c.operation.value == "payout"}
    assert references == {f"payout:{batch_id}"}
    assert _posted(tenant, TRANSIT) == Money("50.00", EUR)  # never paid twice, never lost


def test_a_status_query_that_times_out_leaves_it_unknown_until_it_answers(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant, batch_id = _settled(finplug_tenant, "60.00")
    settlement = tenant.component(SETTLEMENT)
    assert settlement.pay(batch_id).status is PayoutStatus.UNKNOWN
    assert settlement.resolve_payouts().still_unknown == (batch_id,)
    _sim(tenant).release_lookups()
    assert settlement.resolve_payouts().paid == (batch_id,)


def test_a_returned_payout_restores_the_balance(finplug_tenant: FinplugTenant) -> None:
    tenant, batch_id = _settled(finplug_tenant, "40.00")
    settlement = tenant.component(SETTLEMENT)
    assert settlement.pay(batch_id).status is PayoutStatus.PAID
    report = settlement.resolve_payouts()
    assert report.returned == (batch_id,)
    payout = settlement.payout(batch_id)
    assert payout is not None
    assert (payout.status, payout.failure_code) == (PayoutStatus.RETURNED, "returned")
    assert settlement.batch(batch_id).status is BatchStatus.RETURNED
    assert _posted(tenant, MERCHANT) == Money("40.00", EUR)
    assert _posted(tenant, CLEARING) == Money("40.00", EUR)  # the channel holds it again
    assert settlement.resolve_payouts().returned == ()
    assert tenant.ledger.verify().ok


class NoPayouts(Plugin[NoSettings]):
    """A risk rule that stops every payout."""

    meta = PluginMeta(sockets={"risk": ">=1.0,<2"}, name="no-payouts", version="0")

    @hookimpl
    def finplug_assess_risk(self, context: RiskContext) -> RiskDecision | None:
        """Decline payouts, abstain otherwise."""
        if context.operation == "settlement.payout":
            return RiskDecision.decline(RiskReason("payouts_frozen", "payouts are frozen"))
        return None


def test_risk_is_asked_before_a_payout(finplug_tenant: FinplugTenant) -> None:
    tenant, batch_id = _settled(finplug_tenant, "10.00", plugins=[NoPayouts])
    payout = tenant.component(SETTLEMENT).pay(batch_id)
    assert (payout.status, payout.failure_code, payout.channel) == (
        PayoutStatus.FAILED,
        "risk_decline",
        "",
    )
    assert [c for c in _sim(tenant).calls if c.operation.value == "payout"] == []
    assert _posted(tenant, MERCHANT) == Money("10.00", EUR)


def test_without_a_payout_channel_nothing_is_written(finplug_tenant: FinplugTenant) -> None:
    settings = copy.deepcopy(SETTINGS)
    settings["channels-sim"]["channels"][0]["payouts"] = False
    tenant = finplug_tenant(PLUGINS, settings, clock=lambda: MONDAY)
    tenant.component(PAYMENTS).authorize(
        "k1", amount=Money("10.00", EUR), merchant_id="m1", method="card", capture=True
    )
    [batch_id] = tenant.component(SETTLEMENT).run(TUESDAY).created
    with pytest.raises(SettlementError, match="pays out EUR"):
        tenant.component(SETTLEMENT).pay(batch_id)
    assert tenant.component(SETTLEMENT).payout(batch_id) is None


def test_money_put_back_by_a_failed_payout_is_not_reserved_twice(
    finplug_tenant: FinplugTenant,
) -> None:
    settings = copy.deepcopy(SETTINGS)
    settings["settlement"]["reserve"] = {"rate": "0.1", "days": 30}
    tenant = finplug_tenant(PLUGINS, settings, clock=lambda: MONDAY)
    tenant.component(PAYMENTS).authorize(
        "k1", amount=Money("22.22", EUR), merchant_id="m1", method="card", capture=True
    )
    settlement = tenant.component(SETTLEMENT)
    [first] = settlement.run(TUESDAY).created
    batch = settlement.batch(first)
    assert (batch.reserve_held, batch.net) == (Money("2.22", EUR), Money("20.00", EUR))
    assert settlement.pay(first).status is PayoutStatus.FAILED  # the 20.00 script
    [again] = settlement.run(date(2025, 10, 8)).created
    retry = settlement.batch(again)
    # Only the 20.00 put back is due: it was reserved on already.
    assert (retry.movements, retry.reserve_held, retry.net) == (
        Money("20.00", EUR),
        Money("0.00", EUR),
        Money("20.00", EUR),
    )
