"""Daily settlement files: rows, signs, fee rounding, days in a time zone, discrepancies."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from finplug import Money, Tenant
from finplug.sockets.payments import (
    PAYMENTS,
    ChannelDeclinedError,
    ChannelInfo,
    ChannelOperation,
    ChannelRequest,
    PaymentMethod,
)
from finplug.testing import FinplugTenant
from finplug_channels_sim import (
    COLUMNS,
    ChannelsSimPlugin,
    Discrepancy,
    SettlementDiscrepancyError,
    SettlementFileError,
    SimChannel,
    SimConnector,
    SimSettings,
    channel_fee,
    settlement_file,
)
from finplug_payments import PaymentsPlugin

EUR = "EUR"
DAY = date(2025, 10, 7)
NEXT = date(2025, 10, 8)
HEADER = "booked_on,value_date,type,reference,payment_reference,amount,currency,account,description"
PLUGINS = [PaymentsPlugin, ChannelsSimPlugin]
CARD: dict[str, Any] = {
    "name": "card",
    "currencies": [EUR],
    "fee_rate": "0.014",
    "fee_fixed": "0.25",
    "script": {
        "7.77": "decline:do_not_honor",
        "7.78": "authorize:timeout_lost",
        "7.79": "unavailable",
        "20.00": "capture:timeout_applied",
    },
}
BANK: dict[str, Any] = {
    "name": "bank",
    "methods": ["bank_transfer"],
    "currencies": [EUR],
    "payouts": True,
    "script": {"50.00": "payout:returned"},
}


class Clock:
    """A settable UTC clock."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


Row = dict[str, str]


def rows(content: bytes) -> list[Row]:
    """The file's rows as dicts, after checking its header and line ends."""
    text = content.decode("utf-8")
    assert text.startswith(HEADER + "\n")
    assert "\r" not in text
    assert text.endswith("\n")
    return list(csv.DictReader(io.StringIO(text)))


def total(file_rows: Sequence[Row]) -> Decimal:
    return sum((Decimal(row["amount"]) for row in file_rows), Decimal(0))


def shop(finplug_tenant: FinplugTenant, clock: Clock, **card: Any) -> Tenant:
    channels = [{**CARD, **card}, BANK]
    return finplug_tenant(PLUGINS, {"channels-sim": {"channels": channels}}, clock=clock)


def sim_of(tenant: Tenant) -> ChannelsSimPlugin:
    plugin = tenant.plugin("channels-sim")
    assert isinstance(plugin, ChannelsSimPlugin)
    return plugin


def pay(tenant: Tenant, key: str, amount: str) -> str:
    payment = tenant.component(PAYMENTS).authorize(
        key, amount=Money(amount, EUR), merchant_id="m1", method="card", capture=True
    )
    return payment.id


def payout(reference: str, amount: str) -> ChannelRequest:
    return ChannelRequest(
        ChannelOperation.PAYOUT, reference, Money(amount, EUR), PaymentMethod.BANK_TRANSFER, "m1"
    )


def channel_ref(sim: SimConnector, payment_id: str, operation: str) -> str:
    [entry] = [
        e
        for e in sim.journal
        if e.request.payment_id == payment_id and e.request.operation.value == operation
    ]
    return entry.channel_reference


def line(kind: str, ref: str, payment: str, amount: str, account: str, text: str) -> str:
    return f"2025-10-07,2025-10-07,{kind},{ref},{payment},{amount},EUR,{account},{text}"


# ------------------------------------------------------------------ a day through a tenant


def test_a_day_of_captures_refunds_and_payouts_is_written_exactly(
    finplug_tenant: FinplugTenant,
) -> None:
    clock = Clock(datetime(2025, 10, 7, 9, 0, tzinfo=UTC))
    tenant = shop(finplug_tenant, clock)
    sims = sim_of(tenant)
    card, bank = sims.connector("card"), sims.connector("bank")
    p1, p2, p3 = pay(tenant, "k1", "10.25"), pay(tenant, "k2", "7.50"), pay(tenant, "k3", "2.50")
    # Declined, lost and unavailable calls moved no money: no rows.
    for key, amount in (("k4", "7.77"), ("k5", "7.78"), ("k6", "7.79")):
        pay(tenant, key, amount)
    clock.at = datetime(2025, 10, 7, 9, 30, tzinfo=UTC)
    p7 = pay(tenant, "k7", "20.00")  # the capture timed out, but the channel did it
    clock.at = datetime(2025, 10, 7, 10, 0, tzinfo=UTC)
    tenant.component(PAYMENTS).refund("r1", p1, Money("3.00", EUR))
    clock.at = datetime(2025, 10, 7, 11, 0, tzinfo=UTC)
    bank.execute(payout("payout:b1", "30.00"))
    bank.execute(payout("payout:b2", "50.00"))
    clock.at = datetime(2025, 10, 9, 8, 0, tzinfo=UTC)
    assert bank.lookup(payout("payout:b2", "50.00")) is not None  # reported "returned" now

    files = sims.settlement_files(DAY)
    assert list(files) == ["card", "bank"]

    def cap(payment: str) -> str:
        return channel_ref(card, payment, "capture")

    refund = channel_ref(card, p1, "refund")
    fee = "channel fee on the capture"
    assert files["card"].decode().splitlines() == [
        HEADER,
        line("capture", cap(p1), p1, "10.25", "card", "capture"),
        line("fee", cap(p1), p1, "-0.39", "card", fee),  # 0.1435 + 0.25 = 0.3935
        line("capture", cap(p2), p2, "7.50", "card", "capture"),
        line("fee", cap(p2), p2, "-0.36", "card", fee),  # 0.105 + 0.25 = 0.355, once
        line("capture", cap(p3), p3, "2.50", "card", "capture"),
        line("fee", cap(p3), p3, "-0.28", "card", fee),  # 0.035 + 0.25 = 0.285: to even
        line("capture", cap(p7), p7, "20.00", "card", "capture"),
        line("fee", cap(p7), p7, "-0.53", "card", fee),
        line("refund", refund, p1, "-3.00", "card", "refund"),
    ]
    b1 = bank.entry("payout:b1")
    b2 = bank.entry("payout:b2")
    assert b1 is not None
    assert b2 is not None
    assert files["bank"].decode().splitlines() == [
        HEADER,
        line("payout", b1.channel_reference, "payout:b1", "-30.00", "bank", "payout to m1"),
        line("payout", b2.channel_reference, "payout:b2", "-50.00", "bank", "payout to m1"),
    ]
    # The return is on the day the bank sent it back, not before.
    assert rows(sims.settlement_files(NEXT)["bank"]) == []
    [back] = rows(sims.settlement_files(date(2025, 10, 9))["bank"])
    assert (back["type"], back["amount"], back["booked_on"]) == (
        "payout_return",
        "50.00",
        "2025-10-09",
    )
    assert (back["reference"], back["payment_reference"]) == (b2.channel_reference, "payout:b2")

    # Σ of the file = captured - refunded - fees - payouts, to the cent.
    captured = sum((a.captured for a in card.authorizations), Money.zero(EUR))
    refunded = sum((a.refunded for a in card.authorizations), Money.zero(EUR))
    fees = sum(
        (channel_fee(card.info, a.captured) for a in card.authorizations if a.captured),
        Money.zero(EUR),
    )
    assert (captured, refunded, fees) == (
        Money("40.25", EUR),
        Money("3.00", EUR),
        Money("1.56", EUR),
    )
    assert total(rows(files["card"])) == (captured - refunded - fees).amount == Decimal("35.69")
    assert total(rows(files["bank"])) == Decimal("-80.00")


def test_days_are_cut_in_the_given_time_zone(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(datetime(2025, 10, 7, 21, 59, tzinfo=UTC))  # 23:59 in Berlin
    tenant = shop(finplug_tenant, clock)
    early = pay(tenant, "k1", "10.25")
    clock.at = datetime(2025, 10, 7, 23, 30, tzinfo=UTC)  # 01:30 on the 8th in Berlin
    late = pay(tenant, "k2", "2.50")
    sims = sim_of(tenant)

    def of(day: date, zone: str) -> list[tuple[str, str, str]]:
        content = sims.settlement_files(day, timezone=zone)["card"]
        return [(r["booked_on"], r["type"], r["payment_reference"]) for r in rows(content)]

    assert of(DAY, "UTC") == [
        ("2025-10-07", "capture", early),
        ("2025-10-07", "fee", early),
        ("2025-10-07", "capture", late),
        ("2025-10-07", "fee", late),
    ]
    assert of(NEXT, "UTC") == []
    assert of(DAY, "Europe/Berlin") == [
        ("2025-10-07", "capture", early),
        ("2025-10-07", "fee", early),
    ]
    assert of(NEXT, "Europe/Berlin") == [
        ("2025-10-08", "capture", late),
        ("2025-10-08", "fee", late),
    ]
    # The connectors journal on the platform's clock.
    [*_, entry] = sims.connector("card").journal
    assert entry.applied_at == clock.at
    with pytest.raises(SettlementFileError, match="IANA time zone name"):
        sims.settlement_files(DAY, timezone="Mars/Olympus")


def test_files_are_written_to_a_folder_whole_or_not_at_all(
    finplug_tenant: FinplugTenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(datetime(2025, 10, 7, 9, 0, tzinfo=UTC))
    tenant = shop(finplug_tenant, clock)
    pay(tenant, "k1", "10.25")
    sims = sim_of(tenant)
    folder = tmp_path / "reports" / "in"
    folder.mkdir(parents=True)
    (folder / "card-2025-10-07.csv").write_bytes(b"an older version\n")
    files = sims.settlement_files(DAY, folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        "bank-2025-10-07.csv",
        "card-2025-10-07.csv",
    ]
    assert (folder / "card-2025-10-07.csv").read_bytes() == files["card"]
    assert (
        (folder / "bank-2025-10-07.csv").read_bytes() == files["bank"] == (HEADER + "\n").encode()
    )
    assert len(rows(files["card"])) == 2

    # A rename that fails leaves the old file and no temporary one behind.
    def broken(source: str, target: str) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken)
    pay(tenant, "k2", "2.50")
    with pytest.raises(OSError, match="disk gone"):
        sims.settlement_files(DAY, folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        "bank-2025-10-07.csv",
        "card-2025-10-07.csv",
    ]
    assert (folder / "card-2025-10-07.csv").read_bytes() == files["card"]


def test_settings_discrepancies_change_the_plugins_files(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(datetime(2025, 10, 7, 9, 0, tzinfo=UTC))
    late = {"kind": "late", "line": 2, "day": "2025-10-07", "days": 1}
    off = {"kind": "fee_off", "line": 1, "day": "2025-10-07", "by": "-0.05"}
    tenant = shop(finplug_tenant, clock, settlement_discrepancies=[late, off])
    first, second = pay(tenant, "k1", "10.25"), pay(tenant, "k2", "2.50")
    sims = sim_of(tenant)
    today = rows(sims.settlement_files(DAY)["card"])
    assert [(r["type"], r["payment_reference"], r["amount"]) for r in today] == [
        ("capture", first, "10.25"),
        ("fee", first, "-0.44"),  # -0.39 and 0.05 more
        ("fee", second, "-0.28"),  # its capture (line 2) is a day late
    ]
    [moved] = rows(sims.settlement_files(NEXT)["card"])
    assert (moved["type"], moved["payment_reference"], moved["amount"]) == (
        "capture",
        second,
        "2.50",
    )
    assert (moved["booked_on"], moved["value_date"]) == ("2025-10-08", "2025-10-08")


def test_a_settings_discrepancy_that_selects_nothing_is_an_error(
    finplug_tenant: FinplugTenant, tmp_path: Path
) -> None:
    clock = Clock(datetime(2025, 10, 7, 9, 0, tzinfo=UTC))
    wrong = {"kind": "missing", "line": 5, "day": "2025-10-07"}
    tenant = shop(finplug_tenant, clock, settlement_discrepancies=[wrong])
    pay(tenant, "k1", "10.25")
    with pytest.raises(SettlementDiscrepancyError) as info:
        sim_of(tenant).settlement_files(DAY, tmp_path / "out")
    assert info.value.field == "settlement_discrepancies[0]"
    assert str(info.value) == (
        "channel 'card', settlement_discrepancies[0]:"
        " missing of line 5 on 2025-10-07 selects no row"
    )
    assert not (tmp_path / "out").exists()  # no file written, not even the bank's
    # A discrepancy of a later day waits for that day's file.
    assert len(rows(sim_of(tenant).settlement_files(date(2025, 10, 6))["card"])) == 0


# ------------------------------------------------------------------ discrepancies, one by one


class Day:
    """A bare connector with a known day: two captures, a refund, a payout."""

    def __init__(self) -> None:
        self.clock = Clock(datetime(2025, 10, 7, 9, 0, tzinfo=UTC))
        channel = SimChannel.model_validate(
            {"name": "card", "currencies": [EUR], "fee_rate": "0.014", "payouts": True}
        )
        self.sim = SimConnector(channel, clock=self.clock)
        auth1 = self.call("authorize", "a1", "10.25", "p1")
        self.call("capture", "c1", "10.25", "p1", auth1)
        self.call("sale", "s2", "2.50", "p2")
        self.call("refund", "r1", "1.00", "p1", auth1)
        self.sim.execute(payout("payout:b1", "5.00"))

    def call(
        self, operation: str, reference: str, amount: str, payment: str, authorization: str = ""
    ) -> str:
        request = ChannelRequest(
            ChannelOperation(operation),
            reference,
            Money(amount, EUR),
            PaymentMethod.CARD,
            "m1",
            payment_id=payment,
            authorization=authorization,
        )
        return self.sim.execute(request).channel_reference

    def file(self, *changes: dict[str, Any], day: date = DAY) -> list[tuple[str, str, str]]:
        found = [Discrepancy.model_validate(change) for change in changes]
        content = settlement_file(self.sim, day, discrepancies=found)
        return [(r["type"], r["payment_reference"], r["amount"]) for r in rows(content)]


PLAIN = [
    ("capture", "p1", "10.25"),
    ("fee", "p1", "-0.14"),  # 0.1435
    ("capture", "p2", "2.50"),
    ("fee", "p2", "-0.04"),  # 0.035: half to even
    ("refund", "p1", "-1.00"),
    ("payout", "payout:b1", "-5.00"),
]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"kind": "missing", "payment": "p2"}, [PLAIN[0], PLAIN[1], PLAIN[4], PLAIN[5]]),
        ({"kind": "missing", "line": 4}, [*PLAIN[:4], PLAIN[5]]),
        ({"kind": "missing", "payment": "p1", "type": "fee"}, [PLAIN[0], *PLAIN[2:]]),
        ({"kind": "duplicate", "line": 0}, [PLAIN[0], *PLAIN]),
        ({"kind": "duplicate", "payment": "payout:b1"}, [*PLAIN, PLAIN[5]]),
        (
            {"kind": "amount_off", "payment": "p1", "by": "0.10"},  # not its fee
            [
                ("capture", "p1", "10.35"),
                PLAIN[1],
                *PLAIN[2:4],
                ("refund", "p1", "-0.90"),
                PLAIN[5],
            ],
        ),
        (
            {"kind": "amount_off", "payment": "p1", "type": "capture", "by": "-0.05"},
            [("capture", "p1", "10.20"), *PLAIN[1:]],
        ),
        (
            {"kind": "amount_off", "line": 5, "by": "-0.01"},
            [*PLAIN[:5], ("payout", "payout:b1", "-5.01")],
        ),
        (
            {"kind": "fee_off", "payment": "p2", "by": "-0.05"},
            [*PLAIN[:3], ("fee", "p2", "-0.09"), *PLAIN[4:]],
        ),
        (
            {"kind": "fee_off", "line": 1, "by": "0.14"},
            [PLAIN[0], ("fee", "p1", "0.00"), *PLAIN[2:]],
        ),
        ({"kind": "late", "payment": "p2", "days": 1}, [*PLAIN[:2], *PLAIN[4:]]),
    ],
)
def test_each_discrepancy_kind(
    change: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    day = Day()
    assert day.file() == PLAIN
    assert day.file(change) == expected
    assert day.file() == PLAIN  # nothing sticks to the journal


def test_a_late_row_appears_in_the_later_days_file() -> None:
    day = Day()
    late = {"kind": "late", "payment": "p2", "type": "capture", "days": 2, "day": "2025-10-07"}
    assert day.file(late) == [*PLAIN[:2], *PLAIN[3:]]
    assert day.file(day=NEXT) == []
    later = date(2025, 10, 9)
    assert day.file(late, day=later) == [PLAIN[2]]
    content = settlement_file(day.sim, later, discrepancies=[Discrepancy.model_validate(late)])
    [moved] = rows(content)
    assert (moved["booked_on"], moved["value_date"]) == ("2025-10-09", "2025-10-09")
    # Several discrepancies apply in order to the rows as the journal gives them.
    dup = {"kind": "duplicate", "line": 2, "day": "2025-10-07"}
    assert day.file(dup, late, day=later) == [PLAIN[2], PLAIN[2]]
    # Passed in, a discrepancy must change the file asked for, not only another day's.
    with pytest.raises(SettlementDiscrepancyError) as info:
        day.file({**late, "type": "fee"}, dup, day=later)
    assert str(info.value) == (
        "channel 'card', discrepancies[1]: duplicate of line 2 on 2025-10-07"
        " changes no row of the file of 2025-10-09"
    )
    one_day = {**late, "days": 1}
    with pytest.raises(SettlementDiscrepancyError, match=r"discrepancies\[0\]: late of payment"):
        day.file(one_day, day=later)
    assert day.file(one_day, day=NEXT) == [PLAIN[2]]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            [{"kind": "missing", "payment": "p9"}],
            "discrepancies[0]",
            "missing of payment 'p9' on 2025-10-07 selects no row",
        ),
        (
            [{"kind": "missing", "line": 0}, {"kind": "duplicate", "line": 6}],
            "discrepancies[1]",
            "duplicate of line 6 on 2025-10-07 selects no row",
        ),
        ([{"kind": "missing", "line": 0, "type": "refund"}], "discrepancies[0]", "of type refund"),
        (
            [{"kind": "fee_off", "payment": "payout:b1", "by": "1"}],
            "discrepancies[0]",
            "of type fee",
        ),
        (
            [{"kind": "amount_off", "line": 0, "by": "0.001"}],
            "discrepancies[0]",
            "more decimals than EUR allows (2)",
        ),
        (
            [{"kind": "missing", "line": 0, "day": "2025-10-08"}],
            "discrepancies[0]",
            "missing of line 0 on 2025-10-08 selects no row",
        ),
        (
            [{"kind": "late", "line": 0, "day": "2025-10-06", "days": 1}],
            "discrepancies[0]",
            "selects no row",
        ),
    ],
)
def test_a_discrepancy_that_cannot_apply_is_named(
    changes: list[dict[str, Any]], field: str, message: str
) -> None:
    day = Day()
    with pytest.raises(SettlementDiscrepancyError) as info:
        day.file(*changes)
    assert isinstance(info.value, ValueError)
    assert info.value.field == field
    assert info.value.channel == "card"
    assert message in str(info.value)
    assert str(info.value).startswith(f"channel 'card', {field}: ")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "amount_off", "payment": "p1", "by": 0.1}, "numbers are refused"),
        ({"kind": "amount_off", "payment": "p1", "by": 1}, "numbers are refused"),
        ({"kind": "amount_off", "payment": "p1", "by": "ten"}, "decimal number"),
        ({"kind": "amount_off", "payment": "p1", "by": "0"}, "would change nothing"),
        ({"kind": "amount_off", "payment": "p1"}, "amount_off needs by"),
        ({"kind": "missing", "payment": "p1", "by": "1"}, "by is for amount_off and fee_off"),
        ({"kind": "late", "payment": "p1"}, "late needs days"),
        ({"kind": "late", "payment": "p1", "days": 0}, "greater than or equal to 1"),
        ({"kind": "missing", "payment": "p1", "days": 1}, "days is for late"),
        ({"kind": "missing", "payment": "p1", "line": 0}, "one of payment"),
        ({"kind": "missing"}, "one of payment"),
        ({"kind": "missing", "amount": "1.00", "line": 0}, "one of payment"),
        ({"kind": "missing", "amount": 1.5}, "amount"),
        ({"kind": "missing", "line": 1.0}, "valid integer"),
        ({"kind": "missing", "line": -1}, "greater than or equal to 0"),
        ({"kind": "fee_off", "payment": "p1", "type": "capture", "by": "1"}, "selects none"),
        ({"kind": "missing", "payment": "p1", "type": "authorize"}, "Input should be 'capture'"),
        ({"kind": "vanished", "payment": "p1"}, "Input should be 'missing'"),
        ({"kind": "missing", "payment": "p1", "reason": "x"}, "Extra inputs"),
    ],
)
def test_discrepancy_settings_are_checked(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Discrepancy.model_validate(change)


def test_a_line_in_the_channel_settings_needs_its_day() -> None:
    fields = {"name": "card", "currencies": [EUR]}
    with pytest.raises(ValidationError, match=r"settlement_discrepancies\[1\]: a line selection"):
        SimChannel.model_validate(
            {
                **fields,
                "settlement_discrepancies": [
                    {"kind": "missing", "payment": "p1"},
                    {"kind": "missing", "line": 0},
                ],
            }
        )
    parsed = SimChannel.model_validate(
        {
            **fields,
            "settlement_discrepancies": [{"kind": "fee_off", "payment": "p1", "by": "-0.05"}],
        }
    )
    [found] = parsed.settlement_discrepancies
    assert found.by == Decimal("-0.05")
    with pytest.raises(ValidationError, match="frozen"):
        found.by = Decimal(1)  # type: ignore[misc]


# ------------------------------------------------------------------ fees and sums


@pytest.mark.parametrize(
    ("rate", "fixed", "amount", "currency", "fee"),
    [
        ("0.014", "0", "10.25", EUR, "0.14"),  # 0.1435
        ("0.014", "0", "7.50", EUR, "0.10"),  # 0.105: half to even, down
        ("0.014", "0", "2.50", EUR, "0.04"),  # 0.035: half to even, up
        ("0.014", "0.25", "7.50", EUR, "0.36"),  # 0.355 rounded once (not 0.10 + 0.25)
        ("0.014", "0.25", "2.50", EUR, "0.28"),  # 0.285
        ("0.015", "0", "1100", "JPY", "16"),  # 16.5
        ("0", "0", "5.00", EUR, "0.00"),
    ],
)
def test_channel_fee_rounds_once_half_to_even(
    rate: str, fixed: str, amount: str, currency: str, fee: str
) -> None:
    info = ChannelInfo(
        name="card",
        methods=frozenset({PaymentMethod.CARD}),
        currencies=frozenset({currency}),
        fee_rate=Decimal(rate),
        fee_fixed=Decimal(fixed),
    )
    assert channel_fee(info, Money(amount, currency)) == Money(fee, currency)


def reference_fee(rate: Decimal, fixed: Decimal, minor: int) -> int:
    """The fee in minor units by exact fractions; ``round`` on a Fraction is half to even."""
    return round(Fraction(rate) * minor + Fraction(fixed) * 100)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.decimals(min_value=0, max_value=Decimal("0.05"), places=4),
    fixed=st.decimals(min_value=0, max_value=1, places=3),
    sales=st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 10**6)), min_size=0, max_size=8),
    payouts=st.lists(st.integers(1, 10**6), max_size=3),
)
def test_the_files_sum_is_captured_less_refunds_fees_and_payouts(
    rate: Decimal, fixed: Decimal, sales: list[tuple[int, int]], payouts: list[int]
) -> None:
    clock = Clock(datetime(2025, 10, 7, 9, 0, tzinfo=UTC))
    channel = SimChannel.model_validate(
        {
            "name": "card",
            "currencies": [EUR],
            "fee_rate": str(rate),
            "fee_fixed": str(fixed),
            "payouts": True,
        }
    )
    sim = SimConnector(channel, clock=clock)
    expected = 0
    for number, (minor, refund) in enumerate(sales):
        clock.at += timedelta(minutes=1)
        amount = Money.from_minor(minor, EUR)
        request = ChannelRequest(
            ChannelOperation.SALE,
            f"s{number}",
            amount,
            PaymentMethod.CARD,
            "m1",
            payment_id=f"p{number}",
        )
        authorization = sim.execute(request).channel_reference
        expected += minor - reference_fee(rate, fixed, minor)
        if 0 < refund <= minor:
            back = ChannelRequest(
                ChannelOperation.REFUND,
                f"r{number}",
                Money.from_minor(refund, EUR),
                PaymentMethod.CARD,
                "m1",
                payment_id=f"p{number}",
                authorization=authorization,
            )
            sim.execute(back)
            expected -= refund
    for number, minor in enumerate(payouts):
        sim.execute(payout(f"payout:{number}", str(Money.from_minor(minor, EUR).amount)))
        expected -= minor
    file_rows = rows(settlement_file(sim, DAY))
    assert total(file_rows) == Money.from_minor(expected, EUR).amount
    assert all(len(r["amount"].rpartition(".")[2]) == 2 for r in file_rows)
    assert all(r["type"] != "fee" or Decimal(r["amount"]) < 0 for r in file_rows)


# ------------------------------------------------------------------ the journal's clock


def test_the_journal_knows_when_each_call_was_applied() -> None:
    clock = Clock(datetime(2025, 10, 7, 9, 0, tzinfo=UTC))
    channel = SimChannel.model_validate(
        {
            "name": "card",
            "currencies": [EUR, "JPY"],
            "payouts": True,
            "script": {"9": "decline:x", "7": "payout:returned"},
        }
    )
    sim = SimConnector(channel, clock=clock)
    sale = ChannelRequest(
        ChannelOperation.SALE, "s1", Money("1030", "JPY"), PaymentMethod.CARD, "m1", payment_id="p1"
    )
    sim.execute(sale)
    clock.at = datetime(2025, 10, 7, 9, 5, tzinfo=UTC)
    declined = ChannelRequest(
        ChannelOperation.SALE, "s2", Money("9", "JPY"), PaymentMethod.CARD, "m1"
    )
    with pytest.raises(ChannelDeclinedError):
        sim.execute(declined)
    sent = payout("payout:b1", "7.00")
    sim.execute(sent)
    first, second, third = sim.journal
    assert first.applied_at == datetime(2025, 10, 7, 9, 0, tzinfo=UTC)
    assert (second.applied, second.applied_at) == (False, None)
    assert (third.applied_at, third.returned_at) == (clock.at, None)
    clock.at = datetime(2025, 10, 8, 7, 0, tzinfo=UTC)
    sim.lookup(sent)
    clock.at = datetime(2025, 10, 9, 7, 0, tzinfo=UTC)
    sim.lookup(sent)  # asked again: it came back once, on the 8th
    returned = sim.entry("payout:b1")
    assert returned is not None
    assert returned.returned_at == datetime(2025, 10, 8, 7, 0, tzinfo=UTC)
    # JPY has no decimals; a channel without fees writes no fee rows.
    assert rows(settlement_file(sim, DAY))[0]["amount"] == "1030"
    assert [r["type"] for r in rows(settlement_file(sim, DAY))] == ["capture", "payout"]
    assert [r["type"] for r in rows(settlement_file(sim, NEXT))] == ["payout_return"]


def test_the_default_clock_is_utc_now_and_a_naive_clock_is_refused() -> None:
    channel = SimChannel.model_validate({"name": "card", "currencies": [EUR]})
    sim = SimConnector(channel)
    before = datetime.now(UTC)
    sim.execute(_sale("s1"))
    [entry] = sim.journal
    assert entry.applied_at is not None
    assert before <= entry.applied_at <= datetime.now(UTC)
    naive = SimConnector(channel, clock=lambda: datetime(2025, 10, 7, 9, 0))
    with pytest.raises(ValueError, match="naive time"):
        naive.execute(_sale("s1"))
    assert (naive.journal, naive.authorizations) == ((), ())  # refused before any effect
    with pytest.raises(SettlementFileError, match="expected a date, got datetime"):
        settlement_file(sim, datetime(2025, 10, 7, tzinfo=UTC))
    assert tuple(HEADER.split(",")) == COLUMNS


def _sale(reference: str) -> ChannelRequest:
    return ChannelRequest(
        ChannelOperation.SALE, reference, Money("1.00", EUR), PaymentMethod.CARD, "m1"
    )


def test_the_docs_show_these_columns_and_valid_discrepancy_settings() -> None:
    page = Path(__file__).parents[3] / "docs" / "channel-connectors.md"
    text = page.read_text(encoding="utf-8")
    section = text[text.index("## Daily settlement files") :]
    [example] = re.findall(r"```text\n(.*?)```", section, flags=re.S)
    assert example.splitlines()[0] == HEADER
    assert all(len(row.split(",")) == len(COLUMNS) for row in example.splitlines())
    [config] = [
        block
        for block in re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
        if "settlement_discrepancies" in block
    ]
    parsed = SimSettings.model_validate(yaml.safe_load(config)["plugins"]["channels-sim"])
    [channel] = parsed.channels
    kinds = [d.kind for d in channel.settlement_discrepancies]
    assert kinds == ["missing", "duplicate", "amount_off", "fee_off", "late"]
