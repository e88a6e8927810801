"""Settlement runs: T+N on a business-day calendar, netting, carry, minimum, reserve, once."""

from __future__ import annotations

import copy
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from finplug import Money, Tenant
from finplug.sockets.payments import PAYMENTS, Payment
from finplug.sockets.settlement import SETTLEMENT
from finplug.testing import FinplugTenant
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin
from finplug_settlement import SettlementPlugin, _runs
from finplug_settlement._settings import SettlementSettings

EUR = "EUR"
MERCHANT = "payments:merchant:m1:EUR"
PARTNER = "settlement:payee:partner-7:EUR"
TRANSIT = "settlement:payouts:EUR"
SETTINGS: dict[str, Any] = {
    "channels-sim": {"channels": [{"name": "card", "methods": ["card"], "currencies": [EUR]}]},
    "settlement": {
        "rules": {
            "market": {
                "shares": [
                    {"party": "platform", "role": "platform", "percent": "10"},
                    {"party": "partner-7", "role": "partner", "fixed": "2.00"},
                    {"party": "merchant", "role": "merchant", "remainder": True},
                ]
            }
        },
        "merchants": {"m1": "market"},
        "schedule": {
            "kind": "daily",
            "delay_days": 1,
            "cutoff": "18:00",
            "timezone": "Europe/Berlin",
        },
        "calendar_country": "DE",
        "minimum_payout": {EUR: "1.00"},
    },
}
PLUGINS = [PaymentsPlugin, ChannelsSimPlugin, SettlementPlugin]


class Clock:
    """A settable UTC clock."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _shop(finplug_tenant: FinplugTenant, clock: Clock, **changes: Any) -> Tenant:
    settings = copy.deepcopy(SETTINGS)
    settings["settlement"].update(changes)
    return finplug_tenant(PLUGINS, settings, clock=clock)


def _capture(tenant: Tenant, key: str, amount: str) -> Payment:
    return tenant.component(PAYMENTS).authorize(
        key, amount=Money(amount, EUR), merchant_id="m1", method="card", capture=True
    )


def _posted(tenant: Tenant, code: str) -> Money:
    return tenant.ledger.balance(code).posted


def test_t_plus_one_across_a_holiday_and_a_weekend_then_a_rerun_makes_nothing_new(
    finplug_tenant: FinplugTenant,
) -> None:
    # Thursday 2 October 2025, noon in Berlin: T+1 would be Friday 3 October,
    # German Unity Day, then the weekend: the money is due on Monday the 6th.
    clock = Clock(datetime(2025, 10, 2, 10, 0, tzinfo=UTC))
    tenant = _shop(finplug_tenant, clock)
    paid = _capture(tenant, "k1", "100.00")
    settlement = tenant.component(SETTLEMENT)
    friday = settlement.run(date(2025, 10, 3))
    assert (friday.created, friday.carried) == ((), ())
    monday = settlement.run(date(2025, 10, 6))
    assert monday.created == (f"{MERCHANT}@2025-10-06", f"{PARTNER}@2025-10-06")
    merchant = settlement.batch(f"{MERCHANT}@2025-10-06")
    assert (merchant.payee, merchant.value_date) == ("m1", date(2025, 10, 6))
    assert merchant.movements == merchant.net == Money("88.20", EUR)
    # The batch lists the capture's and the split's entries: the ledger alone explains it.
    capture = tenant.ledger.postings([MERCHANT])
    assert merchant.entries == tuple(p.seq for p in capture if p.seq != merchant.entry_seq)
    assert sum((p.amount for p in capture if p.seq in merchant.entries), Money.zero(EUR)) == (
        merchant.net
    )
    assert settlement.batch(f"{PARTNER}@2025-10-06").net == Money("2.00", EUR)
    assert _posted(tenant, MERCHANT) == Money("0.00", EUR)
    assert _posted(tenant, TRANSIT) == Money("90.20", EUR)
    entries = len(tenant.ledger.entries())
    again = settlement.run(date(2025, 10, 6))
    assert again.created == ()
    assert again.existing == monday.created
    assert len(tenant.ledger.entries()) == entries
    assert [b.id for b in settlement.batches("m1")] == [merchant.id]
    assert paid.id  # the payment the batch came from
    assert tenant.ledger.verify().ok


def test_the_cut_off_moves_a_late_capture_to_the_next_day(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(datetime(2025, 10, 7, 15, 59, tzinfo=UTC))  # 17:59 in Berlin, a Tuesday
    tenant = _shop(finplug_tenant, clock)
    _capture(tenant, "k1", "10.00")
    clock.at = datetime(2025, 10, 7, 16, 0, tzinfo=UTC)  # 18:00 in Berlin: Wednesday's
    _capture(tenant, "k2", "20.00")
    settlement = tenant.component(SETTLEMENT)
    settlement.run(date(2025, 10, 8))
    # 10.00: the partner's 2.00 first, 10 % of the 8.00 left, the merchant's 7.20.
    assert settlement.batch(f"{MERCHANT}@2025-10-08").net == Money("7.20", EUR)
    settlement.run(date(2025, 10, 9))
    assert settlement.batch(f"{MERCHANT}@2025-10-09").net == Money("16.20", EUR)


def test_a_negative_balance_is_carried_and_recovered(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(datetime(2025, 10, 6, 8, 0, tzinfo=UTC))
    tenant = _shop(finplug_tenant, clock)
    paid = _capture(tenant, "k1", "100.00")
    settlement = tenant.component(SETTLEMENT)
    settlement.run(date(2025, 10, 7))
    clock.at = datetime(2025, 10, 7, 8, 0, tzinfo=UTC)
    tenant.component(PAYMENTS).refund("r1", paid.id, Money("50.00", EUR))
    carried = settlement.run(date(2025, 10, 8))
    assert MERCHANT in carried.carried  # the refund left the merchant owing 44.10
    assert _posted(tenant, MERCHANT) == Money("-44.10", EUR)
    clock.at = datetime(2025, 10, 8, 8, 0, tzinfo=UTC)
    _capture(tenant, "k2", "60.00")
    settlement.run(date(2025, 10, 9))
    recovered = settlement.batch(f"{MERCHANT}@2025-10-09")
    # 60.00 less the partner's 2.00 and 10 % of the 58.00 left (5.80): 52.20, less 44.10 owed.
    assert recovered.net == Money("8.10", EUR)
    assert recovered.carried_in == Money("-44.10", EUR)
    assert _posted(tenant, MERCHANT) == Money("0.00", EUR)


def test_below_the_minimum_payout_waits_for_more(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(datetime(2025, 10, 6, 8, 0, tzinfo=UTC))
    tenant = _shop(finplug_tenant, clock, minimum_payout={EUR: "50.00"})
    _capture(tenant, "k1", "30.00")
    settlement = tenant.component(SETTLEMENT)
    assert MERCHANT in settlement.run(date(2025, 10, 7)).carried
    clock.at = datetime(2025, 10, 7, 8, 0, tzinfo=UTC)
    _capture(tenant, "k2", "40.00")
    settlement.run(date(2025, 10, 8))
    assert settlement.batch(f"{MERCHANT}@2025-10-08").net == Money("59.40", EUR)


def test_a_rolling_reserve_is_held_then_released_in_full(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(datetime(2025, 10, 6, 8, 0, tzinfo=UTC))
    tenant = _shop(finplug_tenant, clock, reserve={"rate": "0.1", "days": 7})
    _capture(tenant, "k1", "100.00")
    settlement = tenant.component(SETTLEMENT)
    settlement.run(date(2025, 10, 7))
    first = settlement.batch(f"{MERCHANT}@2025-10-07")
    assert first.reserve_held == Money("8.82", EUR)  # 10 % of 88.20, rounded down
    assert first.net == Money("79.38", EUR)
    clock.at = datetime(2025, 10, 13, 8, 0, tzinfo=UTC)
    _capture(tenant, "k2", "10.00")
    settlement.run(date(2025, 10, 14))  # 7 days on: the first reserve comes back
    second = settlement.batch(f"{MERCHANT}@2025-10-14")
    assert second.reserve_released == first.reserve_held
    assert second.reserve_held == Money("0.72", EUR)
    assert second.net == Money("7.20", EUR) + Money("8.82", EUR) - Money("0.72", EUR)
    assert _posted(tenant, f"settlement:reserve:{MERCHANT}") == Money("0.72", EUR)
    assert tenant.ledger.verify().ok


def test_two_workers_running_the_same_day_make_one_batch(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(datetime(2025, 10, 6, 8, 0, tzinfo=UTC))
    tenant = _shop(finplug_tenant, clock)
    for i in range(5):
        _capture(tenant, f"k{i}", "10.00")
    settlement = tenant.component(SETTLEMENT)
    reports = []
    start = threading.Barrier(2)

    def work() -> None:
        start.wait()
        reports.append(settlement.run(date(2025, 10, 7)))

    workers = [threading.Thread(target=work) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    made = [b for r in reports for b in r.created]
    assert sorted(made) == [f"{MERCHANT}@2025-10-07", f"{PARTNER}@2025-10-07"]
    assert not [f for r in reports for f in r.failed]
    assert settlement.batch(f"{MERCHANT}@2025-10-07").net == Money("36.00", EUR)
    assert _posted(tenant, TRANSIT) == Money("46.00", EUR)
    assert tenant.ledger.verify().ok


def test_runs_over_weeks_settle_every_posting_once_and_net_to_the_ledger(
    finplug_tenant: FinplugTenant,
) -> None:
    clock = Clock(datetime(2025, 9, 29, 7, 0, tzinfo=UTC))
    tenant = _shop(finplug_tenant, clock, reserve={"rate": "0.05", "days": 5})
    payments = tenant.component(PAYMENTS)
    settlement = tenant.component(SETTLEMENT)
    day = date(2025, 9, 29)
    paid: list[Payment] = []
    for n in range(21):
        clock.at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9)
        paid.append(_capture(tenant, f"k{n}", f"{10 + n * 7 % 40}.{n % 100:02d}"))
        if n % 4 == 3:
            payments.refund(f"r{n}", paid[n - 2].id, Money("5.00", EUR))
        settlement.run(day)
        day += timedelta(days=1)
    for _ in range(10):  # let every reserve come back
        settlement.run(day)
        day += timedelta(days=1)
    batches = settlement.batches("m1", limit=1000)
    listed = [seq for b in batches for seq in b.entries]
    assert len(listed) == len(set(listed))  # no posting in two batches
    for batch in batches:
        assert batch.net == batch.movements + batch.reserve_released - batch.reserve_held
    held = sum((b.reserve_held for b in batches), Money.zero(EUR))
    released = sum((b.reserve_released for b in batches), Money.zero(EUR))
    assert held == released
    # Everything the merchant was owed left through batches: its payable is back at zero.
    assert _posted(tenant, MERCHANT) == Money.zero(EUR)
    moved = sum((p.amount for p in tenant.ledger.postings([MERCHANT])), Money.zero(EUR))
    assert moved == Money.zero(EUR)
    assert tenant.ledger.verify().ok


def test_a_payee_is_paid_on_its_bank_countrys_business_days(
    finplug_tenant: FinplugTenant,
) -> None:
    # Thursday 2 October 2025: the merchant banks in France, where Friday 3 October
    # (German Unity Day) is a business day; the partner keeps the tenant's German days.
    clock = Clock(datetime(2025, 10, 2, 10, 0, tzinfo=UTC))
    tenant = _shop(finplug_tenant, clock, payee_countries={"m1": "fr"})
    _capture(tenant, "k1", "100.00")
    settlement = tenant.component(SETTLEMENT)
    assert settlement.run(date(2025, 10, 3)).created == (f"{MERCHANT}@2025-10-03",)
    assert settlement.run(date(2025, 10, 6)).created == (f"{PARTNER}@2025-10-06",)
    assert settlement.batch(f"{MERCHANT}@2025-10-03").net == Money("88.20", EUR)


def test_an_unknown_bank_country_is_refused_where_it_is_written() -> None:
    with pytest.raises(ValueError, match=r"payee_countries[\s\S]*m1: unknown country code 'XX'"):
        SettlementSettings.model_validate({"payee_countries": {"m1": "XX"}})
    with pytest.raises(ValueError, match=r"calendar_country[\s\S]*ISO 3166-1"):
        SettlementSettings.model_validate({"calendar_country": "QQ"})


def test_a_capture_committed_while_a_run_reads_is_settled_by_the_next_run(
    finplug_tenant: FinplugTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run has read the merchant's postings; a capture due the same day commits
    # (on PostgreSQL, before the batch's entry takes its sequence number). The batch
    # must not claim it and the cursor must not pass it: the next run settles it.
    clock = Clock(datetime(2025, 10, 6, 8, 0, tzinfo=UTC))
    tenant = _shop(finplug_tenant, clock)
    _capture(tenant, "k1", "10.00")
    late = threading.Thread(target=_capture, args=(tenant, "k2", "20.00"))
    release = _runs.Runs._release

    def interleaved(self: _runs.Runs, uow: Any, account: str, *args: Any) -> Any:
        if account == MERCHANT and not late.is_alive() and late.ident is None:
            late.start()
            late.join(timeout=3)  # on SQLite it waits for the run's write lock instead
        return release(self, uow, account, *args)

    monkeypatch.setattr(_runs.Runs, "_release", interleaved)
    settlement = tenant.component(SETTLEMENT)
    settlement.run(date(2025, 10, 7))
    late.join(timeout=60)
    assert not late.is_alive()
    first = settlement.batch(f"{MERCHANT}@2025-10-07")
    assert first.net == Money("7.20", EUR)  # k1 alone
    captures = [p for p in tenant.ledger.postings([MERCHANT]) if p.amount > Money.zero(EUR)]
    second_capture = captures[-1]
    assert second_capture.seq not in first.entries
    with tenant.unit_of_work() as uow:
        on_postgresql = uow.conn.dialect.name == "postgresql"
    if on_postgresql:
        assert second_capture.seq < first.entry_seq  # the interleaving did happen
    settlement.run(date(2025, 10, 8))
    second = settlement.batch(f"{MERCHANT}@2025-10-08")
    assert second_capture.seq in second.entries
    assert second.net == second.carried_in == Money("16.20", EUR)
    assert _posted(tenant, MERCHANT) == Money.zero(EUR)
