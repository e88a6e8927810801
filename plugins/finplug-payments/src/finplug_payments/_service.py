"""``tenant.component(PAYMENTS)``: the payment lifecycle, channel cascade, bookkeeping and janitor.

How a call runs (each numbered step is one database transaction; channel
calls happen between transactions, never inside one):

1. *Reserve*: the idempotency key is inserted (a duplicate key stops here and
   replays, conflicts or waits), the payment is created or locked, the state
   machine is checked, and the channel call about to be made is recorded
   ``in_flight`` on the payment (``pending_operation``), with the fee lines
   a capture or sale will book. Bad input and illegal moves raise before
   anything is written.
2. *Call* the channel with a reference unique to this call (the channel's
   idempotency key).
3. *Finish*: the outcome is recorded on the attempt and the payment, the
   ledger entries are posted and the events emitted, all in one
   transaction, and the idempotency key is completed with the result.

A timeout leaves the payment ``UNKNOWN`` and the call recorded; a process
that dies between 1 and 3 leaves it ``in_flight``. Either way
:meth:`PaymentsService.resolve_unknown` (the janitor) asks the channel by
reference and finishes step 3, so nothing is captured or refunded twice and
no booking is lost.

Nothing step 3 books can be refused after the channel moved the money: ids
that become part of account codes are checked against what the ledger's
128-character codes leave for them, and fees are computed and checked
before the channel is asked (an explicit capture's in step 1; those of
``authorize(capture=True)`` and of a top-up, per candidate channel, before
step 1), then booked from what step 1 stored. Hooks keep their failure
policies: risk fails closed (review), the fee, channel and strategy hooks
propagate as :class:`~finplug.HookCallError` before anything is written, and
a replay calls no hook at all. The janitor settles each payment on its own
and reports the ones it cannot settle.

Where each part lives: this module checks a call's arguments, answers a
replay, asks risk and routes; :mod:`~finplug_payments._flows` runs the three
steps over :mod:`~finplug_payments._state` (each step's unit of work, its
rows and moves), :mod:`~finplug_payments._booking` (fees and ledger postings),
:mod:`~finplug_payments._replay` (the keys) and
:mod:`~finplug_payments._repository` (reads);
:mod:`~finplug_payments._channels` wires the channels and the routing table;
:mod:`~finplug_payments._janitor` settles unknown calls.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Final

from finplug import ConfigIssue, HookCallError, Money, PluginContext, request_digest
from finplug.sockets.payments import (
    ChannelInfo,
    ChannelOperation,
    ChannelStats,
    IdempotencyInProgressError,
    JanitorReport,
    OperationFailedError,
    Payment,
    PaymentBusyError,
    PaymentIdempotencyConflictError,
    PaymentKind,
    PaymentMethod,
    PaymentStatus,
    PaymentValidationError,
    RouteRequest,
)
from finplug.sockets.risk import RISK, RiskContext, RiskDecision, RiskReason
from finplug_payments import _repository as repository
from finplug_payments._booking import (
    MAX_CHANNEL_NAME,
    MAX_FEE_BENEFICIARY,
    MAX_MERCHANT_ID,
    MAX_WALLET_ID,
    MERCHANT,
    WALLET,
    Books,
    in_code,
)
from finplug_payments._channels import Channels
from finplug_payments._checks import (
    MAX_ID,
    MAX_KEY,
    MAX_PAYMENT_ID,
    MAX_TEXT,
    check_amount,
    check_attributes,
    check_bool,
    check_method,
    check_text,
    shown,
)
from finplug_payments._flows import Flows
from finplug_payments._janitor import Janitor
from finplug_payments._replay import Keys
from finplug_payments._state import Steps, new_payment_id
from finplug_payments._values import Flow

__all__ = [
    "MAX_CHANNEL_NAME",
    "MAX_FEE_BENEFICIARY",
    "MAX_MERCHANT_ID",
    "MAX_WALLET_ID",
    "IdempotencyInProgressError",
    "OperationFailedError",
    "PaymentBusyError",
    "PaymentIdempotencyConflictError",
    "PaymentValidationError",
    "PaymentsService",
    "new_payment_id",
]

_OP = ChannelOperation

#: The reason code of a risk decision held because a risk check raised (as
#: :func:`finplug.sockets.risk.assess_risk` names it).
_RISK_CHECK_FAILED: Final = "risk_check_failed"


class PaymentsService:
    """One tenant's payments component (see :class:`finplug.components.PaymentsAPI`).

    Built by :class:`~finplug_payments.PaymentsPlugin` with the tenant's
    settings and plugin context. Each public method checks its arguments,
    then hands the call to the part that runs it (see the module's
    docstring). Thread-safe: state shared between calls is the database, a
    lock-guarded success window per channel, and the channels and routing
    table built on first use.
    """

    def __init__(self, settings: Any, context: PluginContext) -> None:
        self._ctx = context
        self._channels = Channels(settings.routing, context)
        self._steps = steps = Steps(context)
        books = Books(context, steps)
        self._keys = keys = Keys(context, steps, settings.idempotency_wait_seconds)
        self._flows = Flows(context, settings.routing, self._channels, steps, books, keys)
        grace = settings.janitor_grace_seconds
        self._janitor = Janitor(context, grace, self._channels, steps, books)

    # -- channels and routing ---------------------------------------------

    def check(self) -> builtins.list[ConfigIssue]:
        """Problems of the routing settings against the tenant's channels and strategies.

        Builds the channel list and routing table afresh (nothing is cached or
        written) and returns every problem with its field path from the
        config root; ``finplug check`` locates them in the config file.
        """
        return self._channels.check()

    def channels(self) -> builtins.list[ChannelInfo]:
        """The tenant's channels, as registered by channel plugins, by name."""
        return self._channels.infos()

    def stats(self) -> dict[str, ChannelStats]:
        """Each channel's success record over the sliding window (``routing.success_window``)."""
        return self._channels.stats()

    def route(self, request: RouteRequest) -> builtins.list[str]:
        """The channels a payment would try, in order. No side effect."""
        return self._channels.route(request)

    # -- authorize, top-up, confirm ---------------------------------------

    def authorize(
        self,
        key: str,
        *,
        amount: Money,
        merchant_id: str,
        method: PaymentMethod | str,
        customer_id: str = "",
        capture: bool = False,
        description: str = "",
        attributes: Mapping[str, str] | None = None,
        channel: str | None = None,
    ) -> Payment:
        """Ask risk, route, and authorize through the first channel that accepts.

        A retriable channel failure cascades to the next channel of the route;
        a final decline stops with a ``FAILED`` payment; a timeout leaves it
        ``UNKNOWN`` for the janitor. With ``capture=True`` a successful
        authorization is captured in full at once. ``channel`` pins one
        channel instead of routing.
        """
        return self._begin_flow(
            PaymentKind.PAYMENT,
            key,
            amount=amount,
            merchant_id=merchant_id,
            method=method,
            customer_id=customer_id,
            capture=capture,
            description=description,
            attributes=attributes,
            channel=channel,
        )

    def topup(
        self,
        key: str,
        *,
        customer_id: str,
        amount: Money,
        method: PaymentMethod | str,
        description: str = "",
        channel: str | None = None,
    ) -> Payment:
        """Fund ``customer_id``'s wallet through a channel: a sale, then a posting to the wallet."""
        return self._begin_flow(
            PaymentKind.TOPUP,
            key,
            amount=amount,
            merchant_id="",
            method=method,
            customer_id=customer_id,
            capture=True,
            description=description,
            attributes=None,
            channel=channel,
        )

    def _begin_flow(
        self,
        kind: PaymentKind,
        key: str,
        *,
        amount: Money,
        merchant_id: str,
        method: PaymentMethod | str,
        customer_id: str,
        capture: bool,
        description: str,
        attributes: Mapping[str, str] | None,
        channel: str | None,
    ) -> Payment:
        # Everything that can be checked without a hook or the database first:
        # nothing is written and no hook is called for a call that is wrong.
        check_text("key", key, MAX_KEY)
        amount = check_amount("amount", amount)
        pay_method = check_method(method)
        if kind is PaymentKind.TOPUP:
            check_text("customer_id", customer_id, MAX_WALLET_ID, why=in_code(WALLET))
        else:
            check_text("merchant_id", merchant_id, MAX_MERCHANT_ID, why=in_code(MERCHANT))
            check_text("customer_id", customer_id, MAX_ID, empty=True)
        check_text("description", description, MAX_TEXT, empty=True)
        attrs = check_attributes(attributes)
        if channel is not None:
            check_text("channel", channel, MAX_CHANNEL_NAME)
        check_bool("capture", capture)
        operation = "topup" if kind is PaymentKind.TOPUP else "authorize"
        args = {
            "amount": _money_json(amount),
            "currency": amount.currency.code,
            "merchant_id": merchant_id,
            "customer_id": customer_id,
            "method": pay_method.value,
            "capture": capture,
            "description": description,
            "attributes": attrs,
            "channel": channel,
        }
        digest = request_digest(operation, args)
        # A replay answers from the stored result before any hook runs.
        replayed = self._keys.stored(key, operation, digest)
        if replayed is not None:
            return replayed
        connectors, table = self._channels.wire()
        if channel is not None and channel not in connectors:
            known = ", ".join(sorted(connectors)) or "none"
            raise PaymentValidationError("channel", f"unknown channel {channel!r} (known: {known})")
        now = self._ctx.clock()
        payment_id = new_payment_id(now)
        # Risk, then fees, outside any transaction: hooks may be slow. Risk sees
        # the payment's id (its decision log can name the payment) and the
        # country the caller gave in the attributes.
        country = attrs.get("country", "").strip().upper()
        risk = self._assess(
            RiskContext(
                "wallet.topup" if kind is PaymentKind.TOPUP else "payment.authorize",
                amount,
                merchant_id=merchant_id or None,
                customer_id=customer_id or None,
                country=country
                if len(country) == 2 and country.isascii() and country.isalpha()
                else None,
                payment_method=pay_method.value,
                attributes={**attrs, "payment_id": payment_id},
            )
        )
        if channel is not None:
            info = connectors[channel].info
            candidates = [channel] if info.accepts(amount, pay_method) else []
        else:
            request = RouteRequest(payment_id, amount, pay_method, merchant_id, customer_id)
            candidates = table.route(request, self._channels.stats())
        flow = Flow(
            payment_id,
            key,
            candidates,
            amount,
            pay_method,
            merchant_id,
            customer_id,
            capture,
            _OP.SALE if kind is PaymentKind.TOPUP else _OP.AUTHORIZE,
        )
        return self._flows.begin(
            flow, digest, risk, description=description, attributes=attrs, now=now
        )

    def _assess(self, context: RiskContext) -> RiskDecision:
        """The risk decision, failing closed: a raising risk check holds the payment for review.

        The tenant's ``risk`` component answers: the enabled plugin's that
        provides it, or the socket's default, which asks every
        ``finplug_assess_risk`` implementation through
        :func:`~finplug.sockets.risk.assess_risk`. Either way one raising
        risk plugin holds this payment (reason ``risk_check_failed`` naming
        the plugin) and stops no other.
        """
        component = self._ctx.component(RISK)
        try:
            return component.assess(context)
        except Exception as exc:
            # A risk component of another plugin that raises: fail closed as the hook does.
            plugin = exc.plugin if isinstance(exc, HookCallError) and exc.plugin else "risk"
            self._ctx.log.error(
                "the risk component failed (%s: %s); holding %s for review",
                type(exc).__name__,
                shown(str(exc)),
                context.operation,
            )
            return RiskDecision.review(
                RiskReason(
                    _RISK_CHECK_FAILED,
                    f"the risk component failed ({type(exc).__name__}); held for review",
                    plugin,
                )
            )

    def confirm(self, key: str, payment_id: str, *, approve: bool) -> Payment:
        """Finish a payment held for risk review: authorize it (routing now) or fail it."""
        check_text("key", key, MAX_KEY)
        check_text("payment_id", payment_id, MAX_PAYMENT_ID)
        check_bool("approve", approve)
        digest = request_digest("confirm", {"payment_id": payment_id, "approve": approve})
        return self._flows.confirm(key, payment_id, approve, digest)

    # -- capture, void, refund ----------------------------------------------

    def capture(self, key: str, payment_id: str, amount: Money | None = None) -> Payment:
        """Capture all (``None``) or part of an authorization; the rest of the hold is released."""
        return self._operate(key, _OP.CAPTURE, payment_id, amount)

    def void(self, key: str, payment_id: str) -> Payment:
        """Release an authorization from which nothing was captured."""
        return self._operate(key, _OP.VOID, payment_id, None)

    def refund(self, key: str, payment_id: str, amount: Money | None = None) -> Payment:
        """Refund all that is left (``None``) or part of it; several refunds may follow."""
        return self._operate(key, _OP.REFUND, payment_id, amount)

    def _operate(
        self, key: str, operation: ChannelOperation, payment_id: str, amount: Money | None
    ) -> Payment:
        check_text("key", key, MAX_KEY)
        check_text("payment_id", payment_id, MAX_PAYMENT_ID)
        if amount is not None:
            amount = check_amount("amount", amount)
        args = {
            "payment_id": payment_id,
            "amount": None if amount is None else _money_json(amount),
            "currency": None if amount is None else amount.currency.code,
        }
        digest = request_digest(operation.value, args)
        return self._flows.operate(key, operation, payment_id, amount, digest)

    # -- reading -------------------------------------------------------------

    def get(self, payment_id: str) -> Payment:
        """One payment, with its attempts and transitions."""
        check_text("payment_id", payment_id, MAX_PAYMENT_ID)
        with self._steps.tx() as tx:
            return repository.load(tx, payment_id)

    def list(
        self,
        *,
        merchant_id: str | None = None,
        status: PaymentStatus | str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Payment]:
        """Payments in creation order, optionally filtered; page with ``after`` (a payment id)."""
        if not 1 <= limit <= 1000:
            raise PaymentValidationError("limit", "must be between 1 and 1000")
        wanted = None
        if status is not None:
            try:
                wanted = PaymentStatus(status)
            except ValueError:
                raise PaymentValidationError("status", f"unknown status {status!r}") from None
        with self._steps.tx() as tx:
            return repository.page(
                tx, merchant_id=merchant_id, status=wanted, after=after, limit=limit
            )

    # -- the janitor -----------------------------------------------------------

    def resolve_unknown(self, limit: int = 100) -> JanitorReport:
        """Settle calls that timed out (``UNKNOWN``) or were cut off by a crash.

        For each, the channel is asked by the call's reference
        (:meth:`~finplug.ChannelConnector.lookup`): if the call happened, it
        is booked as if it had just succeeded (with the fees stored when it
        was reserved); if not, the payment goes back to where it was (an
        authorization or top-up that never happened fails). Calls still
        ``in_flight`` are only taken once older than
        ``janitor_grace_seconds``, so a live call is never second-guessed.
        Idempotency keys left ``started`` by a crash are completed with the
        settled payment.

        Each payment is settled on its own: one whose lookup or booking
        raises is rolled back, listed in :attr:`~finplug.JanitorReport.failed`
        with the reason, logged, and skipped; the run goes on with the others.
        """
        return self._janitor.resolve_unknown(limit)


def _money_json(value: Money) -> str:
    return str(value.amount)
