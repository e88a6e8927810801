"""The steps of each mutating call, and the channel calls between them.

:meth:`Flows.begin` (authorize, top-up) and :meth:`Flows.confirm` run a
cascade: step 1 reserves the first channel call of the route, then each
channel answer is finished in a step of its own, which books a success,
reserves the next candidate after a retriable failure, or fails the payment.
:meth:`Flows.operate` runs a capture, void or refund: one call, no cascade.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from finplug import Money, PluginContext
from finplug.sockets.payments import (
    ChannelError,
    ChannelOperation,
    ChannelResult,
    ChannelTimeoutError,
    IllegalTransitionError,
    OperationFailedError,
    Payment,
    PaymentBusyError,
    PaymentKind,
    PaymentMethod,
    PaymentStatus,
    PaymentValidationError,
    RouteRequest,
)
from finplug.sockets.risk import RiskDecision, RiskReason, RiskVerdict
from finplug_payments import _repository as repository
from finplug_payments._booking import Books
from finplug_payments._channels import Channels
from finplug_payments._checks import MAX_TEXT, check_amount
from finplug_payments._replay import Keys, finish
from finplug_payments._state import Steps, Tx, lock_row, set_columns
from finplug_payments._values import Call, Flow, channel_request
from finplug_payments.routing import RoutingSettings

__all__ = ["Flows"]

_S = PaymentStatus
_OP = ChannelOperation

#: Statuses from which a refund may be made.
_REFUNDABLE: Final = frozenset({_S.CAPTURED, _S.PARTIALLY_CAPTURED, _S.PARTIALLY_REFUNDED})


class Flows:
    """One tenant's mutating calls, step by step: reserve, call the channel, finish."""

    __slots__ = ("_books", "_channels", "_ctx", "_keys", "_routing", "_steps")

    def __init__(
        self,
        context: PluginContext,
        routing: RoutingSettings,
        channels: Channels,
        steps: Steps,
        books: Books,
        keys: Keys,
    ) -> None:
        self._ctx = context
        self._routing = routing
        self._channels = channels
        self._steps = steps
        self._books = books
        self._keys = keys

    # -- authorize, top-up, confirm: the cascade ----------------------------

    def begin(
        self,
        flow: Flow,
        digest: bytes,
        risk: RiskDecision,
        *,
        description: str,
        attributes: dict[str, str],
        now: datetime,
    ) -> Payment:
        """Create the payment (step 1, with its key) as risk decided, then run its cascade.

        ``flow`` is routed and its arguments checked; ``now`` is the time
        its id was made from. An approved flow's fees are planned first.
        """
        sale = flow.operation is _OP.SALE
        if risk.verdict is RiskVerdict.APPROVE:
            self.plan_fees(flow)
        payment_id, key, amount = flow.payment_id, flow.key, flow.amount

        def create(tx: Tx) -> Payment | Call:
            self._steps.create(
                tx,
                {
                    "id": payment_id,
                    "kind": (PaymentKind.TOPUP if sale else PaymentKind.PAYMENT).value,
                    "status": _S.CREATED.value,
                    "currency": amount.currency.code,
                    "amount": amount.minor_units,
                    "captured": 0,
                    "refunded": 0,
                    "fees": 0,
                    "merchant_id": flow.merchant_id,
                    "customer_id": flow.customer_id,
                    "method": flow.method.value,
                    "channel": None,
                    "channel_reference": "",
                    "hold_seq": None,
                    "pending_operation": None,
                    "pending_reference": None,
                    "status_before": None,
                    "description": description,
                    "failure_code": "",
                    "failure_message": "",
                    "risk_reasons": json.dumps([r.code for r in risk.reasons]),
                    "risk_verdict": risk.verdict.name.lower(),
                    "attributes": json.dumps(attributes, sort_keys=True),
                    "transition_count": 0,
                    "attempt_count": 0,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            if risk.verdict is RiskVerdict.DECLINE:
                return self._fail(tx, flow, "risk_declined", _reasons(risk.reasons))
            if risk.verdict in _HELD:
                self._steps.move(
                    tx, payment_id, _S.REQUIRES_ACTION, _HELD[risk.verdict] + _reasons(risk.reasons)
                )
                snapshot = repository.load(tx, payment_id)
                finish(tx, key, snapshot)
                return snapshot
            return self._next_attempt(tx, flow)

        operation = "topup" if sale else "authorize"
        started = self._keys.start(key, operation, digest, create, payment_id)
        if isinstance(started, Payment):
            return started
        return self._run(flow, started)

    def confirm(self, key: str, payment_id: str, approve: bool, digest: bytes) -> Payment:
        """Finish a payment held for review: route and authorize it, or fail it."""
        holder: list[Flow] = []

        def reserve(tx: Tx) -> Payment | Call:
            # Hooks (channels, fees) run only for a new key, inside its
            # transaction: a raise rolls everything back, the key included.
            self._channels.wire()
            row = lock_row(tx, payment_id)
            status = _S(row.status)
            if status is not _S.REQUIRES_ACTION:
                raise IllegalTransitionError(payment_id, status, "confirm")
            amount = Money.from_minor(row.amount, row.currency)
            method = PaymentMethod(row.method)
            request = RouteRequest(payment_id, amount, method, row.merchant_id, row.customer_id)
            flow = Flow(
                payment_id,
                key,
                self._channels.route(request),
                amount,
                method,
                row.merchant_id,
                row.customer_id,
                False,
                _OP.SALE if row.kind == PaymentKind.TOPUP.value else _OP.AUTHORIZE,
            )
            holder.append(flow)
            if not approve:
                return self._fail(tx, flow, "review_rejected", "a reviewer rejected it")
            self.plan_fees(flow)
            return self._next_attempt(tx, flow)

        started = self._keys.start(key, "confirm", digest, reserve, payment_id)
        if isinstance(started, Payment):
            return started
        return self._run(holder[0], started)

    def plan_fees(self, flow: Flow) -> None:
        """Compute the fees of the sale (top-up) or of the automatic capture, per candidate.

        Done before step 1 writes anything: a raising fee hook (or a fee that
        cannot be booked) fails the call with :class:`~finplug.HookCallError`
        before any channel is asked and leaves no trace, not even the key.
        A candidate the cascade never reaches costs one fee computation, so
        fee hooks must be pure functions of their context.
        """
        if flow.operation is _OP.SALE:
            operation = "topup"
        elif flow.capture:
            operation = "capture"
        else:
            return
        for channel in flow.candidates[: self._routing.max_attempts]:
            flow.fees[channel] = self._books.fees(
                operation, flow.amount, channel, flow.method, flow.merchant_id
            )

    def _next_attempt(self, tx: Tx, flow: Flow) -> Payment | Call:
        """Record the next channel call of the cascade, or fail the payment if none is left."""
        limit = self._routing.max_attempts
        if flow.tried >= len(flow.candidates) or flow.tried >= limit:
            if not flow.candidates:
                return self._fail(
                    tx, flow, "no_eligible_channel", "no enabled channel accepts this payment"
                )
            last = flow.errors[-1] if flow.errors else None
            code = "all_channels_failed"
            message = f"{last}" if last is not None else "no channel succeeded"
            return self._fail(tx, flow, code, message)
        channel = flow.candidates[flow.tried]
        flow.tried += 1
        row = lock_row(tx, flow.payment_id)
        sale = flow.operation is _OP.SALE
        call = self._steps.reserve_call(
            tx,
            row,
            flow.operation,
            channel,
            flow.amount,
            status_before=_S(row.status),
            fees=flow.fees.get(channel) if sale else None,
        )
        if flow.capture and not sale:
            call.capture_after = True
            call.capture_fees = flow.fees.get(channel, ())
        return call

    def _run(self, flow: Flow, step: Payment | Call) -> Payment:
        """Make the reserved calls one after the other, each finished in a step of its own."""
        channels = self._channels
        connectors, _ = channels.wire()
        while isinstance(step, Call):
            call = step
            try:
                result = connectors[call.channel].execute(channel_request(call))
            except ChannelTimeoutError as exc:
                channels.record(call.channel, False)
                step = self._timed_out(call, exc, flow.key)
                break
            except ChannelError as exc:
                channels.record(call.channel, False)
                flow.errors.append(exc)
                step = self._failed_attempt(flow, call, exc)
                continue
            channels.record(call.channel, True)
            step = self._succeeded(call, result, flow.key)
        assert isinstance(step, Payment)
        return step

    def _failed_attempt(self, flow: Flow, call: Call, exc: ChannelError) -> Payment | Call:
        with self._steps.tx() as tx:
            if not self._steps.close_attempt(tx, call, "failed", exc.code, exc.retriable):
                return self._resolved_elsewhere(tx, flow.key, call.payment_id)
            self._steps.clear_pending(tx, call.payment_id)
            if call.operation is _OP.CAPTURE:
                # The automatic capture after an authorization failed: the payment
                # stays authorized (the attempt shows why); the caller may capture later.
                snapshot = repository.load(tx, call.payment_id)
                finish(tx, flow.key, snapshot)
                return snapshot
            if not exc.retriable:
                return self._fail(tx, flow, exc.code, str(exc))
            return self._next_attempt(tx, flow)

    def _succeeded(self, call: Call, result: ChannelResult, key: str) -> Payment | Call:
        with self._steps.tx() as tx:
            if not self._steps.close_attempt(
                tx, call, "succeeded", "", None, result.channel_reference
            ):
                return self._resolved_elsewhere(tx, key, call.payment_id)
            step = self._books.apply_success(tx, call, result)
            if isinstance(step, Call):
                return step
            finish(tx, key, step)
            return step

    def _timed_out(self, call: Call, exc: ChannelTimeoutError, key: str) -> Payment:
        with self._steps.tx() as tx:
            if not self._steps.close_attempt(tx, call, "unknown", exc.code, None):
                return self._resolved_elsewhere(tx, key, call.payment_id)
            row = lock_row(tx, call.payment_id)
            self._steps.move(
                tx,
                call.payment_id,
                _S.UNKNOWN,
                f"{call.operation.value} timed out on {call.channel}",
                row=row,
            )
            snapshot = repository.load(tx, call.payment_id)
            finish(tx, key, snapshot)
            return snapshot

    def _resolved_elsewhere(self, tx: Tx, key: str, payment_id: str) -> Payment:
        # The janitor settled this call while the channel answered us late.
        self._ctx.log.error(
            "payment %s: a channel answer arrived after the janitor had settled the call;"
            " the janitor's outcome stands",
            payment_id,
        )
        snapshot = repository.load(tx, payment_id)
        finish(tx, key, snapshot)
        return snapshot

    def _fail(self, tx: Tx, flow: Flow, code: str, message: str) -> Payment:
        set_columns(
            tx,
            flow.payment_id,
            failure_code=code[:64],
            failure_message=message[:MAX_TEXT],
        )
        self._steps.move(tx, flow.payment_id, _S.FAILED, f"{code}: {message}")
        snapshot = repository.load(tx, flow.payment_id)
        finish(tx, flow.key, snapshot)
        return snapshot

    # -- capture, void, refund ---------------------------------------------

    def operate(
        self,
        key: str,
        operation: ChannelOperation,
        payment_id: str,
        amount: Money | None,
        digest: bytes,
    ) -> Payment:
        """A capture, void or refund of ``amount`` (``None``: all there is): reserve, call, finish.

        A channel refusal is an :class:`OperationFailedError`, stored with the
        key and raised again on a replay; the payment is unchanged.
        """

        def reserve(tx: Tx) -> Payment | Call:
            # Hooks (channels, fees) run only for a new key, inside its
            # transaction: a raise rolls everything back, the key included.
            self._channels.wire()
            row = lock_row(tx, payment_id)
            status = _S(row.status)
            if row.pending_operation is not None:
                raise PaymentBusyError(payment_id, row.pending_operation)
            cur = row.currency
            if amount is not None:
                check_amount("amount", amount, cur)
            if operation is _OP.CAPTURE:
                if row.kind != PaymentKind.PAYMENT.value or status is not _S.AUTHORIZED:
                    raise IllegalTransitionError(payment_id, status, "capture")
                value = amount if amount is not None else Money.from_minor(row.amount, cur)
                if value.minor_units > row.amount:
                    raise PaymentValidationError(
                        "amount",
                        f"{value} is more than the authorized {Money.from_minor(row.amount, cur)}",
                    )
            elif operation is _OP.VOID:
                if status is not _S.AUTHORIZED:
                    raise IllegalTransitionError(payment_id, status, "void")
                value = Money.from_minor(row.amount, cur)
            else:
                if status not in _REFUNDABLE:
                    raise IllegalTransitionError(payment_id, status, "refund")
                left = row.captured - row.refunded
                value = amount if amount is not None else Money.from_minor(left, cur)
                if value.minor_units > left:
                    raise PaymentValidationError(
                        "amount",
                        f"{value} is more than the refundable {Money.from_minor(left, cur)}",
                    )
            fees = None
            if operation is _OP.CAPTURE:
                # Fees before the channel is asked: a failure here writes nothing.
                fees = self._books.fees(
                    "capture", value, row.channel, PaymentMethod(row.method), row.merchant_id
                )
            return self._steps.reserve_call(
                tx, row, operation, row.channel, value, status_before=status, fees=fees
            )

        started = self._keys.start(key, operation.value, digest, reserve, payment_id)
        if isinstance(started, Payment):
            return started
        call = started
        connector = self._channels.wire()[0].get(call.channel)
        try:
            if connector is None:
                raise ChannelError(
                    call.channel, "channel_removed", "the channel is no longer configured"
                )
            result = connector.execute(channel_request(call))
        except ChannelTimeoutError as exc:
            return self._timed_out(call, exc, key)
        except ChannelError as exc:
            with self._steps.tx() as tx:
                if not self._steps.close_attempt(tx, call, "failed", exc.code, exc.retriable):
                    return self._resolved_elsewhere(tx, key, call.payment_id)
                self._steps.clear_pending(tx, call.payment_id)
                error = OperationFailedError(payment_id, operation.value, exc.code, exc.retriable)
                finish(tx, key, None, error)
            raise error from None
        with self._steps.tx() as tx:
            if not self._steps.close_attempt(
                tx, call, "succeeded", "", None, result.channel_reference
            ):
                return self._resolved_elsewhere(tx, key, call.payment_id)
            step = self._books.apply_success(tx, call, result)
            assert isinstance(step, Payment)
            finish(tx, key, step)
            return step


#: The verdicts that hold a new payment in ``requires_action``, and the note they leave.
_HELD: Final[Mapping[RiskVerdict, str]] = {
    RiskVerdict.STEP_UP: "risk step-up: ",
    RiskVerdict.REVIEW: "risk review: ",
}


def _reasons(reasons: Sequence[RiskReason]) -> str:
    """The reasons' codes, each with the rule (or the failing plugin) that gave it."""
    return (
        ", ".join(f"{r.code} ({r.rule})" if r.rule else r.code for r in reasons)
        or "no reason given"
    )
