"""Splits booked with the capture, refunds split back, and the event as the retry path."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finplug import ConfigError, Money, Tenant
from finplug.sockets.payments import PAYMENTS, Payment, PaymentStatus
from finplug.sockets.settlement import SETTLEMENT, PartyRole, SettlementError
from finplug.testing import FinplugTenant, isolated_tenant
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin
from finplug_settlement import SettlementPlugin
from finplug_settlement._splits import Splits

EUR = "EUR"
MARKET = {
    "shares": [
        {"party": "platform", "role": "platform", "percent": "10"},
        {"party": "partner-7", "role": "partner", "fixed": "2.00"},
        {"party": "merchant", "role": "merchant", "remainder": True},
    ]
}
SETTINGS: dict[str, Any] = {
    "channels-sim": {"channels": [{"name": "card", "methods": ["card"], "currencies": [EUR]}]},
    "settlement": {"rules": {"market": MARKET}, "merchants": {"m1": "market"}},
}
PLUGINS = [PaymentsPlugin, ChannelsSimPlugin, SettlementPlugin]
MERCHANT = "payments:merchant:m1:EUR"
PARTNER = "settlement:payee:partner-7:EUR"
COMMISSION = "settlement:commission:EUR"


def _settings(**rule: Any) -> dict[str, Any]:
    changed = copy.deepcopy(SETTINGS)
    changed["settlement"]["rules"]["market"].update(rule)
    return changed


def _posted(tenant: Tenant, code: str) -> Money:
    return tenant.ledger.balance(code).posted


def _capture(tenant: Tenant, key: str, amount: str, **extra: Any) -> Payment:
    paid = tenant.component(PAYMENTS).authorize(
        key, amount=Money(amount, EUR), merchant_id="m1", method="card", capture=True, **extra
    )
    assert paid.status is PaymentStatus.CAPTURED
    return paid


def test_a_capture_is_split_three_ways_in_its_own_transaction(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant = finplug_tenant(PLUGINS, SETTINGS)
    paid = _capture(tenant, "k1", "100.00")
    # Numscript's allotment: the fixed 2.00 first, then 10 % of the 98.00 left, the rest.
    assert _posted(tenant, PARTNER) == Money("2.00", EUR)
    assert _posted(tenant, COMMISSION) == Money("9.80", EUR)
    assert _posted(tenant, MERCHANT) == Money("88.20", EUR)
    split = tenant.component(SETTLEMENT).split_of(paid.id)
    assert split is not None
    assert (split.rule, split.captured) == ("market", Money("100.00", EUR))
    assert [(p.party, p.role, p.account, p.amount) for p in split.parts] == [
        ("platform", PartyRole.PLATFORM, COMMISSION, Money("9.80", EUR)),
        ("partner-7", PartyRole.PARTNER, PARTNER, Money("2.00", EUR)),
        ("merchant", PartyRole.MERCHANT, MERCHANT, Money("88.20", EUR)),
    ]
    # The split entry directly follows the capture's, in the same commit.
    assert split.entry_seq is not None
    entry = tenant.ledger.entry(split.entry_seq)
    assert entry.key == f"settlement:split:{paid.id}:capture"
    before = tenant.ledger.entry(split.entry_seq - 1)
    assert before.key == f"{paid.id}:capture"
    assert tenant.ledger.verify().ok


def test_refunds_are_split_back_and_a_full_refund_returns_every_share(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant = finplug_tenant(PLUGINS, SETTINGS)
    paid = _capture(tenant, "k1", "100.00")
    payments = tenant.component(PAYMENTS)
    payments.refund("r1", paid.id, Money("33.33", EUR))
    split = tenant.component(SETTLEMENT).split_of(paid.id)
    assert split is not None
    back = {p.party: p.refunded for p in split.parts}
    assert sum(back.values(), Money.zero(EUR)) == Money("33.33", EUR)
    assert back == {
        "platform": Money("3.27", EUR),
        "partner-7": Money("0.67", EUR),
        "merchant": Money("29.39", EUR),
    }
    payments.refund("r2", paid.id, Money("66.67", EUR))
    split = tenant.component(SETTLEMENT).split_of(paid.id)
    assert split is not None
    assert all(p.refunded == p.amount for p in split.parts)
    for code in (MERCHANT, PARTNER, COMMISSION):
        assert _posted(tenant, code) == Money("0.00", EUR), code
    assert tenant.ledger.verify().ok


def test_merchant_first_refunds_take_from_the_merchant_before_the_others(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant = finplug_tenant(PLUGINS, _settings(refunds="merchant_first"))
    paid = _capture(tenant, "k1", "100.00")
    tenant.component(PAYMENTS).refund("r1", paid.id, Money("90.00", EUR))
    split = tenant.component(SETTLEMENT).split_of(paid.id)
    assert split is not None
    assert {p.party: p.refunded for p in split.parts} == {
        "platform": Money("1.50", EUR),  # the 1.80 left, pro rata 9.80 : 2.00
        "partner-7": Money("0.30", EUR),
        "merchant": Money("88.20", EUR),
    }


def test_the_platform_can_bear_the_payment_fees(finplug_tenant: FinplugTenant) -> None:
    fees = {"rules": [{"code": "acquiring", "operation": "capture", "rate": "0.02"}]}
    tenant = finplug_tenant(
        [*PLUGINS, _fee_plugin()], {**_settings(fees_borne_by="platform"), "fee-schedule": fees}
    )
    _capture(tenant, "k1", "100.00")
    # Payments charged the merchant 2.00 of fees; the platform's commission gives them back.
    assert _posted(tenant, MERCHANT) == Money("88.20", EUR)
    assert _posted(tenant, COMMISSION) == Money("7.80", EUR)
    assert tenant.ledger.verify().ok


def _fee_plugin() -> Any:
    from finplug_fee_schedule import FeeSchedulePlugin

    return FeeSchedulePlugin


def test_a_payment_can_name_its_rule_and_a_merchant_without_one_keeps_all(
    finplug_tenant: FinplugTenant,
) -> None:
    settings = copy.deepcopy(SETTINGS)
    settings["settlement"]["rules"]["half"] = {
        "shares": [
            {"party": "merchant", "role": "merchant", "percent": "50"},
            {"party": "seller-2", "role": "sub_merchant", "remainder": True},
        ]
    }
    tenant = finplug_tenant(PLUGINS, settings)
    named = _capture(tenant, "k1", "10.01", attributes={"split_rule": "half"})
    split = tenant.component(SETTLEMENT).split_of(named.id)
    assert split is not None
    assert [p.amount for p in split.parts] == [Money("5.01", EUR), Money("5.00", EUR)]
    assert _posted(tenant, "settlement:payee:seller-2:EUR") == Money("5.00", EUR)
    other = tenant.component(PAYMENTS).authorize(
        "k2", amount=Money("7.00", EUR), merchant_id="m9", method="card", capture=True
    )
    assert tenant.component(SETTLEMENT).split_of(other.id) is None
    assert _posted(tenant, "payments:merchant:m9:EUR") == Money("7.00", EUR)
    assert [s.payment_id for s in tenant.component(SETTLEMENT).splits("m1")] == [named.id]


def test_a_failed_split_keeps_the_capture_and_the_event_splits_it_once(
    finplug_tenant: FinplugTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = finplug_tenant(PLUGINS, SETTINGS)
    real = Splits.book
    broken = {"on": True}

    def flaky(self: Splits, uow: Any, booking: Any) -> None:
        real(self, uow, booking)
        if broken["on"]:
            raise RuntimeError("split store down")

    monkeypatch.setattr(Splits, "book", flaky)
    paid = _capture(tenant, "k1", "100.00")
    # The split was rolled back alone: the merchant holds the whole capture for now.
    assert tenant.component(SETTLEMENT).split_of(paid.id) is None
    assert _posted(tenant, MERCHANT) == Money("100.00", EUR)
    broken["on"] = False
    tenant.events.dispatch()  # payment.captured reaches the plugin: the split, late
    assert _posted(tenant, MERCHANT) == Money("88.20", EUR)
    tenant.events.dispatch()
    tenant.component(PAYMENTS).refund("r1", paid.id, Money("10.00", EUR))
    tenant.events.dispatch()  # the refund's event: already split back, nothing twice
    split = tenant.component(SETTLEMENT).split_of(paid.id)
    assert split is not None
    assert sum((p.refunded for p in split.parts), Money.zero(EUR)) == Money("10.00", EUR)
    assert _posted(tenant, MERCHANT) == Money("79.38", EUR)
    assert tenant.ledger.verify().ok


def test_a_payment_naming_an_unknown_rule_is_not_split_and_says_why(
    finplug_tenant: FinplugTenant, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = finplug_tenant(PLUGINS, SETTINGS)
    paid = _capture(tenant, "k1", "5.00", attributes={"split_rule": "nope"})
    assert tenant.component(SETTLEMENT).split_of(paid.id) is None
    assert "split rule 'nope'" in caplog.text
    plugin = tenant.plugin("settlement")
    assert isinstance(plugin, SettlementPlugin)
    splits = Splits(plugin.settings)
    with pytest.raises(SettlementError, match="'nope'"):
        splits.rule_for("m1", {"split_rule": "nope"})


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"shares": [{"party": "m", "role": "merchant", "percent": 10.5}]}, "as a string"),
        ({"shares": [{"party": "p", "role": "partner", "percent": "100"}]}, "role: merchant"),
        (
            {"shares": [{"party": "m", "role": "merchant", "percent": "50", "fixed": "1"}]},
            "exactly one of",
        ),
    ],
)
def test_bad_rules_are_config_errors_naming_the_field(rule: dict[str, Any], message: str) -> None:
    settings = {"settlement": {"rules": {"bad": rule}}}
    with (
        pytest.raises(ConfigError, match=message) as caught,
        isolated_tenant([SettlementPlugin], settings=settings),
    ):
        pass
    assert "plugins.settlement.rules.bad" in str(caught.value)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    amount=st.integers(min_value=200, max_value=10**7),
    refunds=st.lists(st.integers(min_value=1, max_value=10**7), max_size=4),
)
def test_parts_always_add_up_and_no_party_gives_back_more_than_it_got(
    amount: int, refunds: list[int]
) -> None:
    with isolated_tenant(PLUGINS, settings=SETTINGS) as tenant:
        captured = Money.from_minor(amount, EUR)
        paid = _capture(tenant, "k", str(captured.amount))
        left = amount
        for i, minor in enumerate(refunds):
            if minor > left:
                continue
            tenant.component(PAYMENTS).refund(f"r{i}", paid.id, Money.from_minor(minor, EUR))
            left -= minor
        split = tenant.component(SETTLEMENT).split_of(paid.id)
        assert split is not None
        assert sum((p.amount for p in split.parts), Money.zero(EUR)) == captured
        assert sum((p.refunded for p in split.parts), Money.zero(EUR)) == Money.from_minor(
            amount - left, EUR
        )
        for part in split.parts:
            assert Money.zero(EUR) <= part.refunded <= part.amount
        assert tenant.ledger.verify().ok


def test_a_payment_may_carry_its_own_split_when_the_tenant_accepts_it(
    finplug_tenant: FinplugTenant, caplog: pytest.LogCaptureFixture
) -> None:
    instructions = json.dumps(
        {
            "shares": [
                {"party": "seller-1", "role": "sub_merchant", "percent": "60"},
                {"party": "seller-2", "role": "sub_merchant", "percent": "30"},
                {"party": "m", "role": "merchant", "remainder": True},
            ]
        }
    )
    settings = copy.deepcopy(SETTINGS)
    settings["settlement"]["allow_payment_splits"] = True
    tenant = finplug_tenant(PLUGINS, settings)
    paid = _capture(tenant, "k1", "50.00", attributes={"split": instructions})
    split = tenant.component(SETTLEMENT).split_of(paid.id)
    assert split is not None
    assert split.rule == "(payment)"
    assert [(p.party, p.amount) for p in split.parts] == [
        ("seller-1", Money("30.00", EUR)),
        ("seller-2", Money("15.00", EUR)),
        ("m", Money("5.00", EUR)),
    ]
    # Bad instructions: the capture stands whole, and the log says where.
    bad = _capture(tenant, "k2", "5.00", attributes={"split": '{"shares": [{"party": "x"}]}'})
    assert tenant.component(SETTLEMENT).split_of(bad.id) is None
    assert "split instructions: shares.0" in caplog.text
    # A tenant that does not accept them keeps the capture whole too.
    strict = finplug_tenant(PLUGINS, SETTINGS)
    kept = _capture(strict, "k1", "50.00", attributes={"split": instructions})
    assert strict.component(SETTLEMENT).split_of(kept.id) is None
    assert "allow_payment_splits: false" in caplog.text
