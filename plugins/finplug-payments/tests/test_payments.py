"""The payments plugin end to end, over the simulated channels, on SQLite and PostgreSQL.

Each test builds a tenant with ``finplug-payments`` and ``finplug-channels-sim``
(scripted amounts make every failure mode reproducible) and checks the
payment, the channel's own journal, the ledger and the outbox together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy import inspect as sa_inspect

from finplug import (
    AssemblyError,
    Money,
    MoneyError,
    Platform,
    Tenant,
)
from finplug._idempotency import idempotency_keys as idempotency
from finplug.sockets.payments import (
    PAYMENTS,
    IllegalTransitionError,
    OperationFailedError,
    Payment,
    PaymentBusyError,
    PaymentIdempotencyConflictError,
    PaymentKind,
    PaymentNotFoundError,
    PaymentsAPI,
    PaymentStatus,
    PaymentValidationError,
)
from finplug.sockets.payments.hookspecs import payments_hooks
from finplug.sockets.risk import RiskVerdict
from finplug.testing import new_tenant_id
from finplug_channels_sim import ChannelsSimPlugin, SimConnector
from finplug_fee_schedule import FeeSchedulePlugin
from finplug_payments import PaymentsPlugin
from finplug_payments._booking import Books
from finplug_payments._schema import attempts, payments, transitions
from finplug_risk_rules import RiskRulesPlugin

S = PaymentStatus
PLUGINS = [PaymentsPlugin, ChannelsSimPlugin, RiskRulesPlugin, FeeSchedulePlugin]


def eur(value: str) -> Money:
    return Money(value, "EUR")


#: Scripted amounts (see the channels-sim README): every failure mode on demand.
SCRIPT = {
    "13.00": "decline:insufficient_funds",
    "15.00": "unavailable",
    "14.00": "timeout_applied",
    "16.00": "timeout_lost",
    "17.00": "lookup_timeout",
    "21.00": "capture:decline:expired_authorization",
    "22.00": "capture:timeout_applied",
    "23.00": "capture:timeout_lost",
    "24.00": "refund:timeout_applied",
    "25.00": "refund:decline:refund_refused",
    "26.00": "void:timeout_lost",
    "27.00": "capture:unavailable",
}


def standard_config(tenant_id: str, **payments: Any) -> dict[str, Any]:
    return {
        "tenant": tenant_id,
        "plugins": {
            "payments": {
                "routing": {"strategy": "priority", "priority": ["card-a", "card-b"]},
                "janitor_grace_seconds": 0,
                **payments,
            },
            "channels-sim": {
                "seed": 7,
                "channels": [
                    {
                        "name": "card-a",
                        "methods": ["card", "wallet"],
                        "currencies": ["EUR", "USD"],
                        "script": SCRIPT,
                    },
                    {
                        "name": "card-b",
                        "methods": ["card"],
                        "currencies": ["EUR"],
                        # card-b only takes over for card-a's outages in these tests.
                        "script": {"13.00": "decline:do_not_honor"},
                    },
                    {"name": "bank", "methods": ["bank_transfer"], "currencies": ["EUR"]},
                ],
            },
        },
    }


class Shop:
    """A tenant with payments, plus the handles tests need."""

    def __init__(self, platform: Platform, tenant: Tenant) -> None:
        self.platform = platform
        self.tenant = tenant
        self.keys = 0

    @property
    def payments(self) -> PaymentsAPI:
        return self.tenant.component(PAYMENTS)

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    def channel(self, name: str) -> SimConnector:
        for batch in payments_hooks.of(self.tenant.hooks).finplug_register_channels():
            for connector in batch:
                if connector.info.name == name:
                    assert isinstance(connector, SimConnector)
                    return connector
        raise AssertionError(name)

    def authorize(self, amount: str, currency_code: str = "EUR", **kw: Any) -> Payment:
        kw.setdefault("merchant_id", "m1")
        kw.setdefault("method", "card")
        return self.payments.authorize(self.key(), amount=Money(amount, currency_code), **kw)

    def posted(self, code: str) -> Money:
        return self.tenant.ledger.balance(code).posted

    def counts(self) -> tuple[int, ...]:
        """Rows in every payments table, the ledger's entries and the outbox."""
        with self.tenant.storage.begin() as conn:
            rows = tuple(
                conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (payments, attempts, transitions, idempotency)
            )
        return (*rows, len(self.tenant.ledger.entries()), len(self.tenant.events.events()))


@pytest.fixture
def make_shop(finplug_database_url: str) -> Iterator[Callable[..., Shop]]:
    """Shops on the kit's backend (SQLite, and PostgreSQL when configured), dropped after."""
    made: list[Shop] = []
    suffix = new_tenant_id()

    def make(name: str = "shop", config: Mapping[str, Any] | None = None) -> Shop:
        tenant_id = f"{name}-{suffix}"
        platform = Platform(PLUGINS, environ={}, database_url=finplug_database_url)
        platform.add_tenant(dict(config or standard_config(tenant_id), tenant=tenant_id))
        platform.upgrade(tenant_id)
        shop = Shop(platform, platform.tenant(tenant_id))
        made.append(shop)
        return shop

    yield make
    for shop in made:
        shop.tenant.storage.drop()
        shop.platform.close()


@pytest.fixture
def shop(make_shop: Callable[..., Shop]) -> Shop:
    return make_shop()


# ---------------------------------------------------------------- the happy path


def test_authorize_capture_refund_books_every_step(shop: Shop) -> None:
    paid = shop.authorize("100.00")
    assert (paid.status, paid.channel, paid.kind) == (S.AUTHORIZED, "card-a", PaymentKind.PAYMENT)
    # An authorization holds: nothing posted yet, the hold shows as pending.
    merchant = "payments:merchant:m1:EUR"
    assert shop.posted(merchant) == eur("0")
    assert shop.tenant.ledger.balance(merchant).credits_pending == eur("100.00")

    captured = shop.payments.capture(shop.key(), paid.id, eur("80.00"))
    assert captured.status is S.PARTIALLY_CAPTURED
    assert captured.captured == eur("80.00")
    assert shop.posted(merchant) == eur("80.00")
    assert shop.tenant.ledger.balance(merchant).credits_pending == eur("0")  # rest released

    first = shop.payments.refund(shop.key(), paid.id, eur("30.00"))
    assert (first.status, first.refunded) == (S.PARTIALLY_REFUNDED, eur("30.00"))
    second = shop.payments.refund(shop.key(), paid.id)  # the rest
    assert (second.status, second.refunded) == (S.REFUNDED, eur("80.00"))
    assert shop.posted(merchant) == eur("0")
    assert shop.posted("payments:clearing:card-a:EUR") == eur("0")

    moves = [(t.from_status, t.to_status) for t in second.transitions]
    assert moves == [
        (None, S.CREATED),
        (S.CREATED, S.AUTHORIZED),
        (S.AUTHORIZED, S.PARTIALLY_CAPTURED),
        (S.PARTIALLY_CAPTURED, S.PARTIALLY_REFUNDED),
        (S.PARTIALLY_REFUNDED, S.REFUNDED),
    ]
    events = shop.tenant.events.events(aggregate=f"payment:{paid.id}")
    assert [e.type for e in events] == [
        "payment.created",
        "payment.authorized",
        "payment.partially_captured",
        "payment.partially_refunded",
        "payment.refunded",
    ]
    assert shop.tenant.ledger.verify().ok
    assert shop.payments.get(paid.id) == second


def test_capture_at_once_and_void(shop: Shop) -> None:
    sale = shop.authorize("40.00", capture=True)
    assert (sale.status, sale.captured) == (S.CAPTURED, eur("40.00"))
    held = shop.authorize("10.00")
    voided = shop.payments.void(shop.key(), held.id)
    assert voided.status is S.VOIDED
    assert shop.tenant.ledger.balance("payments:merchant:m1:EUR").credits_pending == eur("0")
    assert shop.posted("payments:merchant:m1:EUR") == eur("40.00")
    assert not shop.tenant.ledger.open_holds()


def test_topup_funds_the_wallet(shop: Shop) -> None:
    topped = shop.payments.topup(
        shop.key(), customer_id="ana", amount=eur("50.00"), method="bank_transfer"
    )
    assert (topped.kind, topped.status, topped.channel) == (PaymentKind.TOPUP, S.CAPTURED, "bank")
    assert shop.posted("payments:wallet:ana:EUR") == eur("50.00")
    assert shop.posted("payments:clearing:bank:EUR") == eur("50.00")
    assert [e.type for e in shop.tenant.events.events(aggregate=f"payment:{topped.id}")] == [
        "topup.created",
        "topup.captured",
    ]
    with pytest.raises(IllegalTransitionError):
        shop.payments.capture(shop.key(), topped.id)


def test_list_filters_and_pages(shop: Shop) -> None:
    made = [shop.authorize("1.00", merchant_id=f"m{i % 2}") for i in range(5)]
    assert [p.id for p in shop.payments.list()] == [p.id for p in made]
    assert [p.id for p in shop.payments.list(merchant_id="m1")] == [made[1].id, made[3].id]
    page = shop.payments.list(after=made[1].id, limit=2)
    assert [p.id for p in page] == [made[2].id, made[3].id]
    assert shop.payments.list(status="failed") == []
    with pytest.raises(PaymentValidationError, match="status"):
        shop.payments.list(status="nonsense")


# ---------------------------------------------------------------- routing and cascade


def test_retriable_failure_cascades_to_the_next_channel(shop: Shop) -> None:
    paid = shop.authorize("15.00")  # card-a is unavailable for 15.00
    assert (paid.status, paid.channel) == (S.AUTHORIZED, "card-b")
    assert [(a.channel, a.status, a.retriable) for a in paid.attempts] == [
        ("card-a", "failed", True),
        ("card-b", "succeeded", None),
    ]


def test_final_decline_stops_and_posts_nothing(shop: Shop) -> None:
    before = len(shop.tenant.ledger.entries())
    declined = shop.authorize("13.00")
    assert (declined.status, declined.failure_code) == (S.FAILED, "insufficient_funds")
    assert [a.channel for a in declined.attempts] == ["card-a"]  # card-b never asked
    assert shop.channel("card-b").calls == ()
    assert len(shop.tenant.ledger.entries()) == before


def test_no_eligible_channel_fails_without_calls(shop: Shop) -> None:
    usd_wallet = shop.payments.authorize(
        shop.key(), amount=Money("5.00", "JPY"), merchant_id="m1", method="card"
    )
    assert (usd_wallet.status, usd_wallet.failure_code) == (S.FAILED, "no_eligible_channel")
    assert usd_wallet.attempts == ()


def test_route_is_a_dry_run(shop: Shop) -> None:
    from finplug.sockets.payments import PaymentMethod, RouteRequest

    request = RouteRequest("pay_x", eur("10.00"), PaymentMethod.CARD, "m1")
    assert shop.payments.route(request) == ["card-a", "card-b"]
    assert [c.name for c in shop.payments.channels()] == ["bank", "card-a", "card-b"]
    assert shop.counts()[0] == 0


# ---------------------------------------------------------------- timeouts and the janitor


def test_authorization_timeout_goes_unknown_then_the_janitor_settles(shop: Shop) -> None:
    applied = shop.authorize("14.00")
    lost = shop.authorize("16.00")
    assert applied.status is S.UNKNOWN
    assert lost.status is S.UNKNOWN
    assert [a.channel for a in applied.attempts] == ["card-a"]  # a timeout never cascades
    report = shop.payments.resolve_unknown()
    assert set(report.resolved) == {applied.id, lost.id}
    assert report.still_unknown == ()
    settled = shop.payments.get(applied.id)
    assert settled.status is S.AUTHORIZED
    assert shop.tenant.ledger.balance("payments:merchant:m1:EUR").credits_pending == eur("14.00")
    gone = shop.payments.get(lost.id)
    assert gone.status is S.FAILED
    assert gone.failure_code.startswith("channel_")
    assert shop.payments.resolve_unknown().resolved == ()


def test_capture_and_refund_timeouts_never_book_twice(shop: Shop) -> None:
    paid = shop.authorize("22.00")
    unknown = shop.payments.capture(shop.key(), paid.id)
    assert unknown.status is S.UNKNOWN
    with pytest.raises(PaymentBusyError):
        shop.payments.capture(shop.key(), paid.id)  # nothing else while the outcome is unknown
    shop.payments.resolve_unknown()
    captured = shop.payments.get(paid.id)
    assert (captured.status, captured.captured) == (S.CAPTURED, eur("22.00"))
    card = shop.channel("card-a")
    assert card.captured_total(captured.attempts[0].channel_reference) == eur("22.00")
    # A second janitor run, and a replay of the capture key, change nothing.
    shop.payments.resolve_unknown()
    assert shop.posted("payments:merchant:m1:EUR") == eur("22.00")

    lost = shop.authorize("23.00")
    assert shop.payments.capture(shop.key(), lost.id).status is S.UNKNOWN
    shop.payments.resolve_unknown()
    back = shop.payments.get(lost.id)
    assert (back.status, back.captured) == (S.AUTHORIZED, eur("0"))

    refund_me = shop.authorize("24.00", capture=True)
    assert shop.payments.refund(shop.key(), refund_me.id).status is S.UNKNOWN
    shop.payments.resolve_unknown()
    refunded = shop.payments.get(refund_me.id)
    assert (refunded.status, refunded.refunded) == (S.REFUNDED, eur("24.00"))
    assert card.refunded_total(refunded.attempts[0].channel_reference) == eur("24.00")
    assert shop.tenant.ledger.verify().ok


def test_lookup_timeout_stays_unknown_until_the_channel_answers(shop: Shop) -> None:
    stuck = shop.authorize("17.00")
    assert stuck.status is S.UNKNOWN
    report = shop.payments.resolve_unknown()
    assert report.still_unknown == (stuck.id,)
    assert shop.payments.get(stuck.id).status is S.UNKNOWN
    shop.channel("card-a").release_lookups(stuck.attempts[0].reference)
    assert shop.payments.resolve_unknown().resolved == (stuck.id,)
    assert shop.payments.get(stuck.id).status is S.AUTHORIZED


def test_void_timeout_that_never_happened_returns_to_authorized(shop: Shop) -> None:
    held = shop.authorize("26.00")
    assert shop.payments.void(shop.key(), held.id).status is S.UNKNOWN
    shop.payments.resolve_unknown()
    assert shop.payments.get(held.id).status is S.AUTHORIZED
    assert shop.payments.void(shop.key(), held.id).status is S.UNKNOWN  # scripted again
    assert shop.tenant.ledger.balance("payments:merchant:m1:EUR").credits_pending == eur("26.00")


def test_refused_capture_and_refund_leave_the_payment_as_it_was(shop: Shop) -> None:
    paid = shop.authorize("21.00")
    key = shop.key()
    with pytest.raises(OperationFailedError, match="expired_authorization") as first:
        shop.payments.capture(key, paid.id)
    assert shop.payments.get(paid.id).status is S.AUTHORIZED
    # The stored error is the answer to the same key, without a second channel call.
    calls = len(shop.channel("card-a").calls)
    with pytest.raises(OperationFailedError) as again:
        shop.payments.capture(key, paid.id)
    assert str(again.value) == str(first.value)
    assert not again.value.retriable
    assert len(shop.channel("card-a").calls) == calls

    retry = shop.authorize("27.00")
    with pytest.raises(OperationFailedError) as flaky:
        shop.payments.capture(shop.key(), retry.id)
    assert flaky.value.retriable

    sold = shop.authorize("25.00", capture=True)
    with pytest.raises(OperationFailedError, match="refund_refused"):
        shop.payments.refund(shop.key(), sold.id)
    after = shop.payments.get(sold.id)
    assert (after.status, after.refunded) == (S.CAPTURED, eur("0"))


# ---------------------------------------------------------------- idempotency


def test_same_key_same_body_returns_the_first_result(shop: Shop) -> None:
    first = shop.payments.authorize("same", amount=eur("10.00"), merchant_id="m1", method="card")
    shop.payments.capture("cap", first.id)
    again = shop.payments.authorize("same", amount=eur("10.00"), merchant_id="m1", method="card")
    assert again == first  # the stored first result, not today's state
    assert again.status is S.AUTHORIZED
    assert len(shop.payments.list()) == 1
    declined = shop.payments.authorize("no", amount=eur("13.00"), merchant_id="m1", method="card")
    assert (
        shop.payments.authorize("no", amount=eur("13.00"), merchant_id="m1", method="card")
        == declined
    )


def test_times_are_aware_utc_however_the_payment_is_read(shop: Shop) -> None:
    made = shop.payments.authorize("t1", amount=eur("10.00"), merchant_id="m1", method="card")
    replayed = shop.payments.authorize("t1", amount=eur("10.00"), merchant_id="m1", method="card")
    read = shop.payments.get(made.id)
    listed = shop.payments.list()[0]
    for payment in (made, replayed, read, listed):
        times = [payment.created_at, payment.updated_at, *(t.at for t in payment.transitions)]
        assert all(t.utcoffset() == timedelta(0) for t in times), payment
    # The call's answer, its replay and a later read agree to the microsecond.
    assert made == replayed == read == listed


def test_same_key_other_body_is_a_conflict(shop: Shop) -> None:
    shop.payments.authorize("k", amount=eur("10.00"), merchant_id="m1", method="card")
    before = shop.counts()
    with pytest.raises(PaymentIdempotencyConflictError, match="'k'"):
        shop.payments.authorize("k", amount=eur("10.01"), merchant_id="m1", method="card")
    with pytest.raises(PaymentIdempotencyConflictError):
        shop.payments.topup("k", customer_id="c", amount=eur("10.00"), method="card")
    assert shop.counts() == before


def test_repeated_refund_key_never_applies_the_money_again(shop: Shop) -> None:
    paid = shop.authorize("50.00", capture=True)
    once = shop.payments.refund("r1", paid.id, eur("10.00"))
    assert shop.payments.refund("r1", paid.id, eur("10.00")) == once
    with pytest.raises(PaymentIdempotencyConflictError):
        shop.payments.refund("r1", paid.id, eur("11.00"))
    assert shop.payments.get(paid.id).refunded == eur("10.00")
    assert shop.posted("payments:merchant:m1:EUR") == eur("40.00")


# ---------------------------------------------------------------- bad input writes nothing


@pytest.mark.parametrize(
    ("call", "error"),
    [
        # Unknown currencies and sub-minor-unit amounts never become Money at all.
        (lambda s: s.authorize("5.00", currency_code="ABC"), MoneyError),
        (lambda s: s.authorize("5.001"), MoneyError),
        (lambda s: s.authorize("5.50", currency_code="JPY"), MoneyError),  # JPY has no cents
        (lambda s: s.authorize("0.00"), PaymentValidationError),
        (lambda s: s.authorize("-5.00"), PaymentValidationError),
        (lambda s: s.authorize("5.00", method="cheque"), PaymentValidationError),
        (lambda s: s.authorize("5.00", merchant_id=""), PaymentValidationError),
        (lambda s: s.authorize("5.00", channel="nope"), PaymentValidationError),
        (lambda s: s.payments.capture("k", "pay_missing"), PaymentNotFoundError),
        (
            lambda s: s.payments.authorize("", amount=eur("1"), merchant_id="m", method="card"),
            PaymentValidationError,
        ),
        (
            lambda s: s.payments.authorize("k", amount="5.00", merchant_id="m", method="card"),
            PaymentValidationError,
        ),
    ],
)
def test_bad_input_raises_a_typed_error_and_writes_nothing(
    shop: Shop, call: Callable[[Shop], object], error: type[Exception]
) -> None:
    shop.authorize("1.00")
    before = shop.counts()
    with pytest.raises(error):
        call(shop)
    assert shop.counts() == before


def test_illegal_moves_raise_and_write_nothing(shop: Shop) -> None:
    voided = shop.payments.void(shop.key(), shop.authorize("5.00").id)
    captured = shop.authorize("6.00", capture=True)
    before = shop.counts()
    with pytest.raises(IllegalTransitionError, match="is voided: cannot refund"):
        shop.payments.refund(shop.key(), voided.id)
    with pytest.raises(IllegalTransitionError):
        shop.payments.capture(shop.key(), captured.id)
    with pytest.raises(IllegalTransitionError):
        shop.payments.void(shop.key(), captured.id)
    with pytest.raises(PaymentValidationError, match="more than the refundable"):
        shop.payments.refund(shop.key(), captured.id, eur("6.01"))
    with pytest.raises(PaymentValidationError, match="differs from the payment's EUR"):
        shop.payments.refund(shop.key(), captured.id, Money("1.00", "USD"))
    held = shop.authorize("7.00")
    with pytest.raises(PaymentValidationError, match="more than the authorized"):
        shop.payments.capture(shop.key(), held.id, eur("7.01"))
    assert shop.counts()[1:] == (
        before[1] + 1,
        before[2] + 2,
        before[3] + 1,
        before[4] + 1,
        before[5] + 2,
    )  # only the new authorization's rows


# ---------------------------------------------------------------- risk and fees


def test_risk_decline_review_and_confirm(make_shop: Callable[..., Shop]) -> None:
    config = standard_config("x")
    config["plugins"]["risk-rules"] = {
        "decline_above": {"EUR": "1000.00"},
        "review_above": {"EUR": "500.00"},
    }
    shop = make_shop("risky", config)
    declined = shop.authorize("2000.00")
    assert (declined.status, declined.failure_code) == (S.FAILED, "risk_declined")
    assert declined.attempts == ()
    assert shop.channel("card-a").calls == ()
    assert declined.risk_verdict is RiskVerdict.DECLINE
    held = shop.authorize("600.00")
    assert held.status is S.REQUIRES_ACTION
    assert held.risk_reasons
    assert held.risk_verdict is RiskVerdict.REVIEW
    assert held.transitions[-1].reason.startswith("risk review: ")
    approved = shop.payments.confirm(shop.key(), held.id, approve=True)
    assert approved.status is S.AUTHORIZED
    assert approved.risk_verdict is RiskVerdict.REVIEW  # what risk decided, kept
    assert shop.authorize("10.00").risk_verdict is RiskVerdict.APPROVE
    rejected = shop.payments.confirm(shop.key(), shop.authorize("700.00").id, approve=False)
    assert (rejected.status, rejected.failure_code) == (S.FAILED, "review_rejected")


def test_fees_are_booked_with_the_capture(make_shop: Callable[..., Shop]) -> None:
    config = standard_config("x")
    config["plugins"]["fee-schedule"] = {
        "rules": [{"code": "acquiring", "operation": "capture", "rate": "0.02"}]
    }
    shop = make_shop("fees", config)
    paid = shop.authorize("100.00", capture=True)
    assert paid.fees == eur("2.00")
    assert shop.posted("payments:merchant:m1:EUR") == eur("98.00")
    assert shop.posted("payments:fees:platform:EUR") == eur("2.00")
    assert shop.tenant.ledger.verify().ok


# ---------------------------------------------------------------- tenants apart


def test_two_tenants_with_different_channels_never_cross(make_shop: Callable[..., Shop]) -> None:
    eu = make_shop("eu")
    other = standard_config("x")
    other["plugins"]["payments"]["routing"] = {"strategy": "lowest_cost"}
    other["plugins"]["channels-sim"]["channels"] = [
        {"name": "wallet-x", "methods": ["wallet"], "currencies": ["USD"], "fee_rate": "0.01"},
        {"name": "wallet-y", "methods": ["wallet"], "currencies": ["USD"], "fee_rate": "0.02"},
    ]
    us = make_shop("us", other)
    a = eu.authorize("10.00")
    b = us.payments.authorize(
        "shared-key", amount=Money("10.00", "USD"), merchant_id="m1", method="wallet"
    )
    assert (a.channel, b.channel) == ("card-a", "wallet-x")
    assert [p.id for p in eu.payments.list()] == [a.id]
    assert [p.id for p in us.payments.list()] == [b.id]
    with pytest.raises(PaymentNotFoundError):
        eu.payments.get(b.id)
    with pytest.raises(PaymentNotFoundError):
        us.payments.capture("k9", a.id)
    # The same key in two tenants is two requests.
    assert (
        eu.payments.authorize(
            "shared-key", amount=eur("1.00"), merchant_id="m1", method="card"
        ).status
        is S.AUTHORIZED
    )
    assert [c.name for c in us.payments.channels()] == ["wallet-x", "wallet-y"]
    assert {acc.code for acc in us.tenant.ledger.accounts()} == {
        "payments:clearing:wallet-x:USD",
        "payments:merchant:m1:USD",
    }


def test_topup_timeout_is_settled_once(shop: Shop) -> None:
    lost = shop.payments.topup(shop.key(), customer_id="ana", amount=eur("16.00"), method="card")
    applied = shop.payments.topup(shop.key(), customer_id="ana", amount=eur("14.00"), method="card")
    assert (lost.status, applied.status) == (S.UNKNOWN, S.UNKNOWN)
    shop.payments.resolve_unknown()
    assert shop.payments.get(lost.id).status is S.FAILED
    assert shop.payments.get(applied.id).status is S.CAPTURED
    assert shop.posted("payments:wallet:ana:EUR") == eur("14.00")
    shop.payments.resolve_unknown()
    assert shop.posted("payments:wallet:ana:EUR") == eur("14.00")


@pytest.mark.parametrize("operation", ["authorize", "capture", "refund", "void"])
def test_a_failure_while_booking_leaves_the_call_for_the_janitor(
    shop: Shop, operation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The channel said yes, then the finishing transaction failed: nothing half-written."""
    paid = None
    if operation != "authorize":
        paid = shop.authorize("30.00", capture=operation == "refund")
    service = shop.payments
    real = Books.apply_success
    calls = {"n": 0}

    def broken(self: object, *args: object) -> object:
        calls["n"] += 1
        raise RuntimeError("database went away")

    monkeypatch.setattr(Books, "apply_success", broken)
    before = len(shop.tenant.ledger.entries())
    key = shop.key()
    act: Callable[[], object] = (
        (lambda: service.authorize(key, amount=eur("30.00"), merchant_id="m1", method="card"))
        if paid is None
        else (lambda: getattr(service, operation)(key, paid.id))
    )
    with pytest.raises(RuntimeError, match="went away"):
        act()
    assert calls["n"] == 1
    assert len(shop.tenant.ledger.entries()) == before  # the finish rolled back whole
    stuck = shop.payments.list()[-1] if paid is None else shop.payments.get(paid.id)
    assert stuck.attempts[-1].status == "in_flight"
    with pytest.raises(PaymentBusyError):
        service.void(shop.key(), stuck.id)
    monkeypatch.setattr(Books, "apply_success", real)
    assert shop.payments.resolve_unknown().resolved == (stuck.id,)
    settled = shop.payments.get(stuck.id)
    expected = {
        "authorize": S.AUTHORIZED,
        "capture": S.CAPTURED,
        "refund": S.REFUNDED,
        "void": S.VOIDED,
    }
    assert settled.status is expected[operation]
    assert settled.attempts[-1].status == "succeeded"
    # The key of the cut-off call now answers with the settled payment.
    replayed = act()
    assert isinstance(replayed, Payment)
    assert (replayed.id, replayed.status) == (settled.id, settled.status)
    assert shop.payments.resolve_unknown().resolved == ()
    assert shop.tenant.ledger.verify().ok
    merchant = shop.tenant.ledger.balance("payments:merchant:m1:EUR")
    assert merchant.posted == settled.captured - settled.refunded


# ---------------------------------------------------------------- ids in account codes


@pytest.mark.parametrize(
    ("call", "field", "limit"),
    [
        (lambda s, n: s.authorize("5.00", merchant_id="m" * n), "merchant_id", 106),
        (
            lambda s, n: s.payments.topup(
                s.key(), customer_id="c" * n, amount=eur("5.00"), method="card"
            ),
            "customer_id",
            108,
        ),
    ],
    ids=["merchant_id", "topup_customer_id"],
)
def test_long_merchant_id_is_refused_before_the_channel(
    shop: Shop, call: Callable[[Shop, int], Payment], field: str, limit: int
) -> None:
    """Issue 8 point 1: an id the ledger's account code cannot hold never reaches a channel."""
    shop.authorize("1.00")
    before = shop.counts()
    calls = len(shop.channel("card-a").calls)
    for length in (limit + 1, 128):
        with pytest.raises(PaymentValidationError, match=f"at most {limit} characters") as caught:
            call(shop, length)
        assert caught.value.field == field
        assert "account code" in str(caught.value)
    assert shop.counts() == before
    assert len(shop.channel("card-a").calls) == calls
    # The longest id that fits gives an account code of exactly 128 characters.
    paid = call(shop, limit)
    assert paid.status in {S.AUTHORIZED, S.CAPTURED}
    assert max(len(a.code) for a in shop.tenant.ledger.accounts()) == 128


@pytest.mark.parametrize(
    "attributes",
    [{1: "x"}, {1: "x", "b": "y"}, {("k",): "v"}, ["a"], {"k": 1}],
    ids=["int_key", "mixed_keys", "tuple_key", "not_a_mapping", "int_value"],
)
def test_non_string_attribute_key_is_a_validation_error(shop: Shop, attributes: Any) -> None:
    """Issue 8 point 13: bad attributes are a PaymentValidationError naming them."""
    before = shop.counts()
    with pytest.raises(PaymentValidationError, match="attributes") as caught:
        shop.authorize("5.00", attributes=attributes)
    assert caught.value.field.startswith("attributes")
    assert shop.counts() == before


def test_channel_name_too_long_for_the_tables_is_an_assembly_error(
    make_shop: Callable[..., Shop],
) -> None:
    config = standard_config("x")
    config["plugins"]["payments"]["routing"] = {"strategy": "priority"}
    config["plugins"]["channels-sim"]["channels"] = [
        {"name": "c" * 65, "methods": ["card"], "currencies": ["EUR"]}
    ]
    shop = make_shop("longchannel", config)
    [issue] = shop.tenant.check()
    assert "1 to 64 characters" in issue.message
    with pytest.raises(AssemblyError, match="1 to 64 characters"):
        shop.authorize("5.00")
    assert shop.counts() == (0, 0, 0, 0, 0, 0)


def test_a_tenant_from_payments_0001_gets_the_attempt_fees_column(
    shop: Shop,
) -> None:
    """Payments revision 0002 adds ``payments_attempts.fees`` to an existing tenant."""
    paid = shop.authorize("10.00")
    with shop.tenant.storage.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE payments_attempts DROP COLUMN fees")
        conn.exec_driver_sql("ALTER TABLE payments_payments DROP COLUMN risk_verdict")
        conn.exec_driver_sql("UPDATE alembic_version_payments SET version_num = '0001'")
    report = shop.platform.upgrade(shop.tenant.id)
    assert report[shop.tenant.id]["payments"].applied == ("0002", "0003", "0004")
    assert shop.payments.capture(shop.key(), paid.id).status is S.CAPTURED
    assert shop.tenant.ledger.verify().ok


def test_a_tenant_from_payments_0003_gets_the_risk_verdict_of_its_payments(
    make_shop: Callable[..., Shop],
) -> None:
    """Payments revision 0004 adds ``risk_verdict``, filled from what each payment shows."""
    config = standard_config("x")
    config["plugins"]["risk-rules"] = {
        "decline_above": {"EUR": "1000.00"},
        "review_above": {"EUR": "500.00"},
    }
    shop = make_shop("old", config)
    made = [shop.authorize(amount) for amount in ("2000.00", "600.00", "10.00")]
    with shop.tenant.storage.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE payments_payments DROP COLUMN risk_verdict")
        conn.exec_driver_sql("UPDATE alembic_version_payments SET version_num = '0003'")
    report = shop.platform.upgrade(shop.tenant.id)
    assert report[shop.tenant.id]["payments"].applied == ("0004",)
    assert [shop.payments.get(p.id).risk_verdict for p in made] == [
        RiskVerdict.DECLINE,
        RiskVerdict.REVIEW,
        RiskVerdict.APPROVE,
    ]


#: ``payments_idempotency`` as payments revisions 0001 and 0002 made it.
_OLD_KEYS_DDL = (
    "CREATE TABLE payments_idempotency (key VARCHAR(200) PRIMARY KEY,"
    " operation VARCHAR(16) NOT NULL, request_hash {blob} NOT NULL, state VARCHAR(8) NOT NULL,"
    " payment_id VARCHAR(40), response TEXT, created_at {ts} NOT NULL, finished_at {ts})"
)


def test_a_tenant_from_payments_0002_keeps_its_keys_in_the_kernels_service(
    shop: Shop,
) -> None:
    """Payments revision 0003 moves ``payments_idempotency`` into ``idempotency_keys``."""
    key = shop.key()
    paid = shop.payments.authorize(
        key, amount=Money("10.00", "EUR"), merchant_id="m1", method="card"
    )
    pg = shop.tenant.storage.dialect == "postgresql"
    blob, ts = ("BYTEA", "TIMESTAMPTZ") if pg else ("BLOB", "DATETIME")
    with shop.tenant.storage.begin() as conn:
        # Put the key back where payments kept it before 0003, and rewind to 0002.
        row = conn.execute(select(idempotency).where(idempotency.c.key == key)).one()
        conn.exec_driver_sql(_OLD_KEYS_DDL.format(blob=blob, ts=ts))
        conn.execute(
            text(
                "INSERT INTO payments_idempotency VALUES"
                " (:key, :op, :hash, :state, :pid, :response, :created, :finished)"
            ),
            {
                "key": key,
                "op": row.operation,
                "hash": row.request_hash,
                "state": row.state,
                "pid": row.resource,
                "response": row.response,
                "created": row.created_at,
                "finished": row.finished_at,
            },
        )
        conn.execute(delete(idempotency))
        conn.exec_driver_sql("ALTER TABLE payments_payments DROP COLUMN risk_verdict")
        conn.exec_driver_sql("UPDATE alembic_version_payments SET version_num = '0002'")
    report = shop.platform.upgrade(shop.tenant.id)
    assert report[shop.tenant.id]["payments"].applied == ("0003", "0004")
    # The same key replays the stored payment; another request with it is a conflict.
    again = shop.payments.authorize(
        key, amount=Money("10.00", "EUR"), merchant_id="m1", method="card"
    )
    assert again == paid
    with pytest.raises(PaymentIdempotencyConflictError):
        shop.payments.authorize(key, amount=Money("11.00", "EUR"), merchant_id="m1", method="card")
    with shop.tenant.storage.begin() as conn:
        moved = conn.execute(select(idempotency)).one()
        tables = sa_inspect(conn).get_table_names()
    assert (moved.scope, moved.resource, moved.state) == ("payments", paid.id, "done")
    assert moved.expires_at is not None
    assert "payments_idempotency" not in tables
