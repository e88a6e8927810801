"""Property tests of the payments plugin: random operation sequences keep the books right.

After every step of a random sequence of authorizations (with scripted
declines, outages and timeouts), captures, voids, refunds, replays and
janitor runs:

* no payment's refunds exceed what it captured, nor its captures what it authorized;
* per merchant, the ledger's posted balance equals the payments' captured
  minus refunded (minus the fees booked against the merchant);
* the channel's own journal agrees: what it captured and refunded per
  authorization equals the payment's figures, so nothing happened twice;
* the ledger's hash chain and running balances verify.
"""

from __future__ import annotations

import contextlib
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from finplug import Money, Platform
from finplug.sockets.payments import PAYMENTS, PaymentError, PaymentStatus
from finplug.sockets.payments.hookspecs import payments_hooks
from finplug_channels_sim import ChannelsSimPlugin, SimConnector
from finplug_fee_schedule import FeeSchedulePlugin
from finplug_payments import PaymentsPlugin

S = PaymentStatus
AMOUNTS = ["10.00", "3.33", "99.99", "13.00", "15.00", "14.00", "16.00", "22.00", "24.00"]
SCRIPT = {
    "13.00": "decline:do_not_honor",
    "15.00": "unavailable",
    "14.00": "timeout_applied",
    "16.00": "timeout_lost",
    "22.00": "capture:timeout_applied",
    "24.00": "refund:timeout_lost",
}
MERCHANTS = ["m1", "m2"]


def tenant_config() -> dict[str, object]:
    return {
        "tenant": "prop",
        "plugins": {
            "payments": {"janitor_grace_seconds": 0},
            "channels-sim": {
                "seed": 11,
                "channels": [
                    {"name": "card", "methods": ["card"], "currencies": ["EUR"], "script": SCRIPT},
                ],
            },
            "fee-schedule": {"rules": [{"code": "acq", "operation": "capture", "rate": "0.013"}]},
        },
    }


class PaymentsMachine(RuleBasedStateMachine):
    """Random payment operations against one tenant on a fresh SQLite file."""

    payments = Bundle("payments")

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        url = f"sqlite:///{Path(self.folder.name)}/{{tenant}}.db"
        self.platform = Platform(
            [PaymentsPlugin, ChannelsSimPlugin, FeeSchedulePlugin], environ={}, database_url=url
        )
        self.platform.add_tenant(tenant_config())
        self.platform.upgrade("prop")
        self.tenant = self.platform.tenant("prop")
        self.api = self.tenant.component(PAYMENTS)
        self.n = 0
        self.calls: list[tuple[str, str, tuple[object, ...]]] = []

    def teardown(self) -> None:
        self.platform.close()
        self.folder.cleanup()

    def key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    @property
    def card(self) -> SimConnector:
        connector = payments_hooks.of(self.tenant.hooks).finplug_register_channels()[0][0]
        assert isinstance(connector, SimConnector)
        return connector

    @initialize()
    def start(self) -> None:
        assert self.api.list() == []

    @rule(
        target=payments,
        amount=st.sampled_from(AMOUNTS),
        merchant=st.sampled_from(MERCHANTS),
        capture=st.booleans(),
    )
    def authorize(self, amount: str, merchant: str, capture: bool) -> str:
        key = self.key()
        paid = self.api.authorize(
            key, amount=Money(amount, "EUR"), merchant_id=merchant, method="card", capture=capture
        )
        # Replaying the key gives the stored result, whatever happened since.
        assert (
            self.api.authorize(
                key,
                amount=Money(amount, "EUR"),
                merchant_id=merchant,
                method="card",
                capture=capture,
            )
            == paid
        )
        if paid.status is S.FAILED:
            assert paid.captured == Money("0", "EUR")
        return paid.id

    @rule(payment=payments, share=st.integers(min_value=1, max_value=120))
    def capture(self, payment: str, share: int) -> None:
        current = self.api.get(payment)
        amount = (current.amount.amount * share / 100).quantize(Decimal("0.01"))
        try:
            if amount > 0:
                self.api.capture(self.key(), payment, Money(amount, "EUR"))
        except PaymentError:
            pass  # refused: the invariants show nothing changed for the worse

    @rule(payment=payments)
    def void(self, payment: str) -> None:
        with contextlib.suppress(PaymentError):
            self.api.void(self.key(), payment)

    @rule(payment=payments, share=st.integers(min_value=1, max_value=150))
    def refund(self, payment: str, share: int) -> None:
        current = self.api.get(payment)
        amount = (current.captured.amount * share / 100).quantize(Decimal("0.01"))
        try:
            if amount > 0:
                key = self.key()
                first = self.api.refund(key, payment, Money(amount, "EUR"))
                assert self.api.refund(key, payment, Money(amount, "EUR")) == first
        except PaymentError:
            pass

    @rule(payment=consumes(payments))
    def forget(self, payment: str) -> None:
        """Stop touching a payment (keeps sequences varied)."""

    @rule()
    def janitor(self) -> None:
        report = self.api.resolve_unknown()
        assert report.still_unknown == ()
        assert self.api.list(status="unknown") == []

    @invariant()
    def books_agree(self) -> None:
        zero = Money("0", "EUR")
        owed = dict.fromkeys(MERCHANTS, zero)
        for p in self.api.list(limit=1000):
            assert zero <= p.refunded <= p.captured <= p.amount
            if p.status in (S.FAILED, S.VOIDED, S.CREATED, S.REQUIRES_ACTION):
                assert p.captured == zero
            owed[p.merchant_id] += p.captured - p.refunded - p.fees
            auths = [
                a for a in p.attempts if a.operation == "authorize" and a.status == "succeeded"
            ]
            assert len(auths) <= 1
            # An UNKNOWN payment may lag its channel until the janitor settles it.
            if auths and p.status is not S.UNKNOWN:
                ref = auths[0].channel_reference
                assert self.card.captured_total(ref) == p.captured
                assert self.card.refunded_total(ref) == p.refunded
        for merchant, amount in owed.items():
            code = f"payments:merchant:{merchant}:EUR"
            if any(a.code == code for a in self.tenant.ledger.accounts()):
                assert self.tenant.ledger.balance(code).posted == amount
            else:
                assert amount == zero
        assert self.tenant.ledger.verify().ok


PaymentsMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPayments = PaymentsMachine.TestCase
