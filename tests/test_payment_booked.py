"""``finplug_payment_booked``: listeners act on a booking inside its transaction."""

from __future__ import annotations

from typing import Any, ClassVar

from finplug import Money, NoSettings, Plugin, PluginMeta, Tenant, UnitOfWork, hookimpl
from finplug.sockets.payments import (
    PAYMENTS,
    BookingKind,
    PaymentBooking,
    PaymentMethod,
    PaymentStatus,
)
from finplug.testing import FinplugTenant
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin

EUR = "EUR"
SIM = {
    "channels-sim": {
        "channels": [{"name": "card", "methods": ["card", "bank_transfer"], "currencies": [EUR]}]
    }
}


class Splitter(Plugin[NoSettings]):
    """Moves a tenth of each capture to a partner, in the capture's transaction."""

    meta = PluginMeta(sockets={"payments": ">=1.1,<2"}, name="splitter", version="0")
    seen: ClassVar[list[tuple[PaymentBooking, bool]]] = []

    @hookimpl
    def finplug_payment_booked(self, uow: UnitOfWork, booking: PaymentBooking) -> None:
        """Record what was offered; split captures."""
        Splitter.seen.append((booking, uow.active))
        if booking.kind is BookingKind.CAPTURE:
            partner = f"partner:{booking.amount.currency.code}"
            if partner not in {a.code for a in uow.ledger.accounts()}:
                uow.ledger.open_account(partner, "liability", booking.amount.currency.code)
            uow.ledger.transfer(
                f"split:{booking.ref}",
                debit=booking.account,
                credit=partner,
                amount=booking.amount.multiply("0.1"),
            )


class Broken(Plugin[NoSettings]):
    """Writes, registers a commit callback, then raises: all of it must vanish."""

    meta = PluginMeta(sockets={"payments": ">=1.1,<2"}, name="broken", version="0")
    called_back: ClassVar[list[str]] = []

    @hookimpl
    def finplug_payment_booked(self, uow: UnitOfWork, booking: PaymentBooking) -> None:
        """Post, then fail."""
        uow.ledger.open_account(f"broken:{booking.ref}", "liability", EUR)
        uow.after_commit(lambda: Broken.called_back.append(booking.ref))
        raise RuntimeError("listener down")


def _posted(tenant: Tenant, code: str) -> Money:
    return tenant.ledger.balance(code).posted


def _pay(tenant: Tenant, key: str, amount: str, **extra: Any) -> Any:
    return tenant.component(PAYMENTS).authorize(
        key, amount=Money(amount, EUR), merchant_id="m1", method="card", capture=True, **extra
    )


def test_hook_finplug_payment_booked(finplug_tenant: FinplugTenant) -> None:
    Splitter.seen.clear()
    tenant = finplug_tenant([PaymentsPlugin, ChannelsSimPlugin, Splitter], SIM)
    paid = _pay(tenant, "k1", "100.00", attributes={"split_rule": "three-way"})
    assert paid.status is PaymentStatus.CAPTURED
    (capture, in_transaction), *_ = Splitter.seen
    assert in_transaction
    assert (capture.kind, capture.ref, capture.payment_id) == (
        BookingKind.CAPTURE,
        f"{paid.id}:capture",
        paid.id,
    )
    assert (capture.amount, capture.fees, capture.account) == (
        Money("100.00", EUR),
        Money("0.00", EUR),
        "payments:merchant:m1:EUR",
    )
    assert capture.attributes == {"split_rule": "three-way"}
    # The split is in the ledger with the capture.
    assert _posted(tenant, "payments:merchant:m1:EUR") == Money("90.00", EUR)
    assert _posted(tenant, "partner:EUR") == Money("10.00", EUR)
    refunded = tenant.component(PAYMENTS).refund("k2", paid.id, Money("5.00", EUR))
    refund = Splitter.seen[-1][0]
    assert refund.kind is BookingKind.REFUND
    assert refund.ref == f"{paid.id}:refund:{refunded.attempts[-1].reference}"
    assert refund.amount == Money("5.00", EUR)
    tenant.component(PAYMENTS).topup(
        "k3", customer_id="c1", amount=Money("20.00", EUR), method=PaymentMethod.BANK_TRANSFER
    )
    topup = Splitter.seen[-1][0]
    assert (topup.kind, topup.account) == (BookingKind.TOPUP, "payments:wallet:c1:EUR")
    assert tenant.ledger.verify().ok
    # Nobody implements it: the booking stands alone.
    bare = finplug_tenant([PaymentsPlugin, ChannelsSimPlugin], SIM)
    assert _pay(bare, "k1", "100.00").status is PaymentStatus.CAPTURED
    assert _posted(bare, "payments:merchant:m1:EUR") == Money("100.00", EUR)


def test_a_failing_listener_is_rolled_back_alone_and_the_booking_kept(
    finplug_tenant: FinplugTenant,
) -> None:
    Splitter.seen.clear()
    Broken.called_back.clear()
    tenant = finplug_tenant([PaymentsPlugin, ChannelsSimPlugin, Broken, Splitter], SIM)
    paid = _pay(tenant, "k1", "50.00")
    assert paid.status is PaymentStatus.CAPTURED
    codes = {a.code for a in tenant.ledger.accounts()}
    assert not any(code.startswith("broken:") for code in codes)  # its writes undone
    assert Broken.called_back == []  # its commit callback dropped
    # The other listener and the booking itself stand, and the event is there to retry from.
    assert _posted(tenant, "payments:merchant:m1:EUR") == Money("45.00", EUR)
    assert _posted(tenant, "partner:EUR") == Money("5.00", EUR)
    kinds = [e.type for e in tenant.events.events(aggregate=f"payment:{paid.id}")]
    assert "payment.captured" in kinds
    assert tenant.ledger.verify().ok
