"""The plugin class: ``settlement`` splits captures as they are booked and provides the component.

Settings: see :mod:`finplug_settlement._settings`. The plugin implements the
payments socket's ``finplug_payment_booked`` (the split, in the capture's
transaction) and listens to the payment events, which offer a booking again
when that failed (failure policy: retry later); each split is keyed on the
booking, so nothing is split twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from finplug import Event, Plugin, PluginMeta, UnitOfWork, hookimpl
from finplug.hookspecs import ComponentRegistrar, JobRegistrar
from finplug.sockets.payments import PAYMENTS, ChannelConnector, PaymentBooking
from finplug.sockets.payments.hookspecs import payments_hooks
from finplug.sockets.risk import RISK, RiskContext, RiskDecision
from finplug_settlement._adjustments import Adjustments
from finplug_settlement._payouts import Payouts
from finplug_settlement._runs import Runs
from finplug_settlement._service import Settlement
from finplug_settlement._settings import SettlementSettings
from finplug_settlement._splits import Splits, bookings_of

__all__ = ["SettlementPlugin"]

#: The payment events after which a capture or a refund may need its split.
_BOOKED_EVENTS: Final = frozenset(
    {
        "payment.captured",
        "payment.partially_captured",
        "payment.refunded",
        "payment.partially_refunded",
    }
)


class SettlementPlugin(Plugin[SettlementSettings]):
    """Provides ``tenant.component(SETTLEMENT)``; splits captures and refunds as they are booked."""

    meta = PluginMeta(
        name="settlement",
        version="0.1.0",
        summary="Order splits booked with the capture; T+N settlement runs, reserves and payouts",
        components=frozenset({"settlement"}),
        sockets={"settlement": ">=1.0,<2", "payments": ">=1.2,<2"},
        api=">=1.0,<2",
        settings=SettlementSettings,
        migrations="finplug_settlement.migrations",
    )

    def _setup(self) -> None:
        self.splits = Splits(self.settings)
        """The tenant's split rules applied to bookings."""
        self.runs = Runs(self.settings, self.context.unit_of_work, self.context.clock)
        """The tenant's settlement runs."""
        self.payouts = Payouts(
            self.settings,
            self.context.unit_of_work,
            self._connectors,
            self._assess,
            self.context.clock,
        )
        """The tenant's payouts."""
        self.service = Settlement(
            self.context.storage.begin,
            self.splits,
            self.runs,
            self.payouts,
            self.context.clock,
            self.context.unit_of_work,
            Adjustments(self.splits, self.context.unit_of_work, self.context.clock),
            lambda payment_id: self.context.component(PAYMENTS).get(payment_id),
        )
        """The tenant's ``settlement`` component."""

    def _connectors(self) -> list[ChannelConnector]:
        """The tenant's channels, as the channel plugins register them for payments."""
        batches = payments_hooks.of(self.context.hooks).finplug_register_channels()
        return [connector for batch in batches for connector in batch]

    def _assess(self, context: RiskContext) -> RiskDecision:
        return self.context.component(RISK).assess(context)

    @hookimpl
    def finplug_register_components(self, register: ComponentRegistrar) -> None:
        """Register the tenant's ``settlement`` component."""
        register("settlement", self.service)

    @hookimpl
    def finplug_payment_booked(self, uow: UnitOfWork, booking: PaymentBooking) -> None:
        """Split a capture among its parties, or a refund back, in the booking's transaction."""
        self.splits.book(uow, booking)

    @hookimpl
    def finplug_register_jobs(self, register: JobRegistrar) -> None:
        """Register ``settlement.run`` (hourly) and ``settlement.payouts`` (every ten minutes).

        The run settles what is due today and pays the new batches out (a
        re-run makes nothing new); the other is the payout janitor.
        """
        register("settlement.run", self._run, every=timedelta(hours=1))
        register("settlement.payouts", self._janitor, every=timedelta(minutes=10))

    def _janitor(self) -> str:
        report = self.service.resolve_payouts()
        return (
            f"{len(report.paid)} paid, {len(report.failed)} failed,"
            f" {len(report.returned)} returned, {len(report.still_unknown)} still unknown"
        )

    def _run(self) -> str:
        report = self.service.run()
        for batch_id in report.created:
            self.service.pay(batch_id)
        parts = [f"{len(report.created)} batch(es) made", f"{len(report.existing)} existing"]
        parts.append(f"{len(report.carried)} carried")
        if report.failed:
            parts.append(
                f"{len(report.failed)} failed: {report.failed[0][0]}: {report.failed[0][1]}"
            )
        return ", ".join(parts)

    @hookimpl(trylast=True)  # after the other stories: it makes payments of its own
    def finplug_demo_story(self) -> list[object] | None:
        """``finplug demo``: an order split three ways, a refund, T+1 runs, a failed payout."""
        from finplug_settlement._demo import play_story

        return play_story(self.context.component(PAYMENTS), self.service, self.runs)

    @hookimpl
    def finplug_on_event(self, event: Event) -> None:
        """Do a booking's split again from the payment when the first try failed (once)."""
        if event.type not in _BOOKED_EVENTS:
            return
        payment_id = event.aggregate.partition(":")[2]
        payment = self.context.component(PAYMENTS).get(payment_id)
        with self.context.unit_of_work() as uow:
            for booking in bookings_of(payment):
                self.splits.book(uow, booking)
            uow.commit()
