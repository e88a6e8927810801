"""The janitor: channel calls whose outcome is unknown, asked about and settled.

A call is unknown after a timeout (the payment is ``UNKNOWN``) or when its
process died between reserving and finishing it (the call is still
``in_flight`` after ``janitor_grace_seconds``). The channel is asked by the
call's reference; what it says is booked exactly as the finish step would
have, each payment in a step of its own.
"""

from __future__ import annotations

from datetime import timedelta

from finplug import Money, PluginContext
from finplug.sockets.payments import (
    ChannelConnector,
    ChannelOperation,
    ChannelResult,
    ChannelTimeoutError,
    JanitorFailure,
    JanitorReport,
    PaymentError,
    PaymentMethod,
    PaymentStatus,
)
from finplug_payments import _repository as repository
from finplug_payments._booking import Books
from finplug_payments._channels import Channels
from finplug_payments._replay import finish
from finplug_payments._state import Steps, Tx, lock_row, set_columns
from finplug_payments._values import Call, channel_request, fees_from_json

__all__ = ["Janitor"]

_S = PaymentStatus
_OP = ChannelOperation


class Janitor:
    """Settles one tenant's unknown and cut-off channel calls."""

    __slots__ = ("_books", "_channels", "_ctx", "_grace_seconds", "_steps")

    def __init__(
        self,
        context: PluginContext,
        grace_seconds: int,
        channels: Channels,
        steps: Steps,
        books: Books,
    ) -> None:
        self._ctx = context
        self._grace_seconds = grace_seconds
        self._channels = channels
        self._steps = steps
        self._books = books

    def resolve_unknown(self, limit: int) -> JanitorReport:
        """Settle up to ``limit`` calls, oldest first (see ``PaymentsService.resolve_unknown``).

        Each payment is settled on its own: one whose lookup or booking
        raises is rolled back, reported in ``failed``, logged, and skipped.
        """
        connectors, _ = self._channels.wire()
        cutoff = self._ctx.clock() - timedelta(seconds=self._grace_seconds)
        calls: list[Call] = []
        failed: list[JanitorFailure] = []
        with self._steps.tx() as tx:
            for row in repository.due(tx, cutoff, limit):
                try:
                    calls.append(self._pending_call(tx, row.id, row.pending_reference))
                except Exception as exc:  # one unreadable payment never stops the run
                    failed.append(self._failed(row.id, exc))
        resolved: list[str] = []
        unknown: list[str] = []
        for call in calls:
            try:
                settled = self._settle(call, connectors.get(call.channel))
            except Exception as exc:  # rolled back; reported, and the run goes on
                failed.append(self._failed(call.payment_id, exc))
                continue
            (resolved if settled else unknown).append(call.payment_id)
        return JanitorReport(tuple(resolved), tuple(unknown), tuple(failed))

    def _failed(self, payment_id: str, exc: Exception) -> JanitorFailure:
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
        self._ctx.log.error(
            "janitor: payment %s could not be settled and was skipped: %s",
            payment_id,
            reason,
            exc_info=exc,
        )
        return JanitorFailure(payment_id, reason)

    def _pending_call(self, tx: Tx, payment_id: str, reference: str | None) -> Call:
        """The call a payment left in flight or unknown, as the janitor settles it."""
        attempt = None if reference is None else repository.attempt(tx, reference)
        if attempt is None:
            raise PaymentError(
                f"payment {payment_id!r} is unknown or in flight but has no recorded call"
                f" ({reference!r})"
            )
        payment = lock_row(tx, payment_id)
        return Call(
            payment_id,
            ChannelOperation(attempt.operation),
            attempt.channel,
            attempt.reference,
            Money.from_minor(attempt.amount, payment.currency),
            PaymentMethod(payment.method),
            payment.merchant_id,
            payment.customer_id,
            payment.channel_reference,
            fees_from_json(attempt.fees),
        )

    def _settle(self, call: Call, connector: ChannelConnector | None) -> bool:
        """Ask the channel about one call and book the outcome; False if it still does not say."""
        try:
            if connector is None:
                raise ChannelTimeoutError(call.channel, "channel_removed")
            outcome = connector.lookup(channel_request(call))
        except ChannelTimeoutError:
            return False
        steps = self._steps
        with steps.tx() as tx:
            current = lock_row(tx, call.payment_id)
            if current.pending_reference != call.reference:
                return True  # settled meanwhile
            if isinstance(outcome, ChannelResult):
                steps.close_attempt(tx, call, "succeeded", "", None, outcome.channel_reference)
                # From UNKNOWN the payment moves straight to where the call
                # leads. call.capture_after is False: the janitor settles the authorization
                # only; an automatic capture it interrupted is left to the caller.
                self._books.apply_success(tx, call, outcome)
            else:
                code = outcome.code if outcome is not None else "not_received"
                steps.close_attempt(
                    tx, call, "failed", code, None if outcome is None else outcome.retriable
                )
                before = _S(current.status_before)
                steps.clear_pending(tx, call.payment_id)
                if call.operation in (_OP.AUTHORIZE, _OP.SALE):
                    set_columns(
                        tx,
                        call.payment_id,
                        failure_code=f"channel_{code}"[:64],
                        failure_message="the channel never completed the call",
                    )
                    steps.move(tx, call.payment_id, _S.FAILED, f"janitor: {code}")
                elif _S(current.status) is _S.UNKNOWN:
                    steps.move(
                        tx,
                        call.payment_id,
                        before,
                        f"janitor: {call.operation.value} did not happen ({code})",
                    )
            snapshot = repository.load(tx, call.payment_id)
            for stored in tx.uow.idempotency.started(call.payment_id):
                finish(tx, stored.key, snapshot)
        return True
