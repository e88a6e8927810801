"""Bookings: the ledger accounts a payment uses, its fees, and what each channel success posts.

Identifiers become part of ledger account codes, which the ledger caps at
128 characters; each is checked against what is left for it (the ``MAX_*``
limits here) *before* any channel is asked or any key is stored, and fees
are computed and checked before the channel is asked too, so a booking can
never be refused after the money moved.
"""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any, Final, NoReturn

from finplug import HookCallError, Leg, Money, PluginContext, hook_implementations
from finplug.sockets.fees import Fee, FeeContext, fee_hooks
from finplug.sockets.payments import (
    CLEARING_ACCOUNT_PREFIX,
    MERCHANT_ACCOUNT_PREFIX,
    BookingKind,
    ChannelOperation,
    ChannelResult,
    Payment,
    PaymentBooking,
    PaymentMethod,
    PaymentStatus,
    PaymentValidationError,
)
from finplug.sockets.payments.hookspecs import payments_hooks
from finplug_payments import _repository as repository
from finplug_payments._checks import shown
from finplug_payments._state import NOTHING_PENDING, Steps, Tx, lock_row, set_columns
from finplug_payments._values import Call, FeeLine, FeeLines

__all__ = [
    "CLEARING",
    "FEES",
    "MAX_CHANNEL_NAME",
    "MAX_FEE_BENEFICIARY",
    "MAX_MERCHANT_ID",
    "MAX_WALLET_ID",
    "MERCHANT",
    "WALLET",
    "Books",
    "account_code",
    "in_code",
]

_S = PaymentStatus
_OP = ChannelOperation

#: The ledger's longest account code.
_MAX_ACCOUNT_CODE: Final = 128
#: The longest channel name: the attempts' and payments' ``channel`` columns hold 64.
_MAX_CHANNEL: Final = 64
#: What each channel owes the platform (asset).
CLEARING: Final = CLEARING_ACCOUNT_PREFIX
#: What the platform owes each merchant (liability): the socket's convention.
MERCHANT: Final = MERCHANT_ACCOUNT_PREFIX
#: Each customer's wallet (liability).
WALLET: Final = "payments:wallet:"
#: Fees charged, per beneficiary (income).
FEES: Final = "payments:fees:"


def _room(prefix: str) -> int:
    """The longest id that fits ``<prefix><id>:<CUR>`` in an account code."""
    return _MAX_ACCOUNT_CODE - len(prefix) - len(":XXX")


#: The longest ``merchant_id``: 106 (``payments:merchant:<id>:<CUR>``).
MAX_MERCHANT_ID: Final = _room(MERCHANT)
#: The longest top-up ``customer_id``: 108 (``payments:wallet:<id>:<CUR>``).
MAX_WALLET_ID: Final = _room(WALLET)
#: The longest fee beneficiary: 110 (``payments:fees:<beneficiary>:<CUR>``).
MAX_FEE_BENEFICIARY: Final = _room(FEES)
#: The longest channel name: 64, the column's size (the clearing code would allow 106).
MAX_CHANNEL_NAME: Final = min(_MAX_CHANNEL, _room(CLEARING))

_OVERDRAFT: Final[dict[str, Any]] = {
    "asset": "unlimited",
    "liability": "unlimited",
    "income": "unlimited",
}


def account_code(prefix: str, name: str, cur: str) -> str:
    """The account ``<prefix><name>:<CUR>``."""
    return f"{prefix}{name}:{cur}"


def in_code(prefix: str) -> str:
    """Why an id is limited: the account code it becomes part of."""
    return f" (it becomes part of the ledger account code {prefix}<id>:<CUR>, at most 128)"


def _fee_problem(fee: object, cur: str) -> str | None:
    """Why a fee a plugin returned cannot be booked, or ``None`` if it can."""
    if not isinstance(fee, Fee):
        return f"expected finplug.Fee lines, got {type(fee).__name__}"
    # Plugins are not type-checked: look at the fields as the objects they are.
    code: object = fee.code
    amount: object = fee.amount
    beneficiary: object = fee.beneficiary
    if not isinstance(code, str):
        return f"fee code must be a string, got {type(code).__name__}"
    label = f"fee {shown(code)}" + (f" (rule {shown(fee.rule)})" if fee.rule else "")
    if not isinstance(amount, Money):
        return f"{label}: amount must be finplug.Money, got {type(amount).__name__}"
    if amount.currency.code != cur:
        return f"{label} is in {amount.currency.code}, the payment in {cur}"
    if amount.amount < 0:
        return f"{label} is negative ({amount})"
    if not isinstance(beneficiary, str) or not beneficiary or "\x00" in beneficiary:
        return f"{label}: beneficiary must be a non-empty string without NUL"
    if len(beneficiary) > MAX_FEE_BENEFICIARY:
        return (
            f"{label}: beneficiary {shown(beneficiary)} is longer than {MAX_FEE_BENEFICIARY}"
            f" characters{in_code(FEES)}"
        )
    return None


class Books:
    """One tenant's payment bookings: fees computed, accounts opened, successes posted.

    Everything is posted through the step's unit of work (``tx.uow.ledger``),
    so it commits or rolls back with the payment's rows.
    """

    __slots__ = ("_ctx", "_opened", "_steps")

    def __init__(self, context: PluginContext, steps: Steps) -> None:
        self._ctx = context
        self._steps = steps
        self._opened = steps.opened

    def fees(
        self, operation: str, amount: Money, channel: str, method: PaymentMethod, merchant_id: str
    ) -> FeeLines:
        """The checked fee lines ``finplug_calculate_fees`` gives a capture or top-up.

        A raising implementation propagates as :class:`~finplug.HookCallError`;
        a line that cannot be booked (another currency, negative, a
        beneficiary too long for an account code) is a
        :class:`~finplug.HookCallError` too, chaining a
        :class:`PaymentValidationError` that says what is wrong with it.
        Zero fees are dropped.
        """
        cur = amount.currency.code
        context = FeeContext(
            operation,
            amount,
            channel=channel,
            payment_method=method.value,
            merchant_id=merchant_id or None,
        )
        lines: list[FeeLine] = []
        for batch in fee_hooks.of(self._ctx.hooks).finplug_calculate_fees(context=context):
            if not isinstance(batch, list | tuple):
                self._bad_fee(f"expected a list of finplug.Fee, got {type(batch).__name__}")
            for fee in batch:
                problem = _fee_problem(fee, cur)
                if problem is not None:
                    self._bad_fee(problem)
                if fee.amount.amount:
                    lines.append(FeeLine(fee.code, fee.beneficiary, fee.amount.minor_units))
        return tuple(lines)

    def _bad_fee(self, problem: str) -> NoReturn:
        cause = PaymentValidationError("fees", problem)
        raise HookCallError(self._ctx.tenant_id, "finplug_calculate_fees", None, cause) from cause

    def account(self, tx: Tx, code: str, kind: str, cur: str) -> str:
        """``code``, opened in ``tx`` unless a committed step already opened it."""
        if code not in self._opened:
            tx.uow.ledger.open_account(code, kind, cur, overdraft=_OVERDRAFT[kind])
            tx.opened.append(code)
        return code

    def apply_success(self, tx: Tx, call: Call, result: ChannelResult) -> Payment | Call:
        """Book a channel success and move the payment; may reserve the capture that follows."""
        steps = self._steps
        row = lock_row(tx, call.payment_id)
        cur = row.currency
        ledger = tx.uow.ledger
        clearing = self.account(tx, account_code(CLEARING, call.channel, cur), "asset", cur)
        pid = call.payment_id
        now = self._ctx.clock()
        values: dict[str, object] = {**NOTHING_PENDING, "updated_at": now}
        if call.operation is _OP.AUTHORIZE:
            merchant = self.account(
                tx, account_code(MERCHANT, row.merchant_id, cur), "liability", cur
            )
            hold = ledger.hold(
                f"{pid}:hold",
                debit=clearing,
                credit=merchant,
                amount=call.amount,
                description=f"authorization {pid} via {call.channel}",
            )
            values.update(
                channel=call.channel, channel_reference=result.channel_reference, hold_seq=hold.seq
            )
            set_columns(tx, pid, **values)
            steps.move(tx, pid, _S.AUTHORIZED, f"authorized by {call.channel}")
            if call.capture_after:
                # Its fees were computed before the authorization was asked for:
                # no hook runs here, so nothing can undo the booking above.
                row = lock_row(tx, pid)
                return steps.reserve_call(
                    tx,
                    row,
                    _OP.CAPTURE,
                    call.channel,
                    call.amount,
                    status_before=_S.AUTHORIZED,
                    fees=call.capture_fees,
                )
            return repository.load(tx, pid)
        if call.operation is _OP.SALE:
            wallet = self.account(tx, account_code(WALLET, row.customer_id, cur), "liability", cur)
            ledger.transfer(
                f"{pid}:topup",
                debit=clearing,
                credit=wallet,
                amount=call.amount,
                description=f"top-up {pid} via {call.channel}",
            )
            fees = self.book_fees(tx, "topup", call, wallet, cur)
            self._booked(tx, BookingKind.TOPUP, f"{pid}:topup", row, call, fees, wallet)
            values.update(
                channel=call.channel,
                channel_reference=result.channel_reference,
                captured=call.amount.minor_units,
                fees=fees,
            )
            set_columns(tx, pid, **values)
            steps.move(tx, pid, _S.CAPTURED, f"topped up via {call.channel}")
            return repository.load(tx, pid)
        merchant = account_code(MERCHANT, row.merchant_id, cur)
        if call.operation is _OP.CAPTURE:
            ledger.post_pending(f"{pid}:capture", row.hold_seq, call.amount)
            fees = self.book_fees(tx, "capture", call, merchant, cur)
            self._booked(tx, BookingKind.CAPTURE, f"{pid}:capture", row, call, fees, merchant)
            values.update(captured=call.amount.minor_units, fees=fees)
            set_columns(tx, pid, **values)
            full = call.amount.minor_units == row.amount
            steps.move(
                tx,
                pid,
                _S.CAPTURED if full else _S.PARTIALLY_CAPTURED,
                f"captured {call.amount} via {call.channel}",
            )
            return repository.load(tx, pid)
        if call.operation is _OP.VOID:
            ledger.void_pending(f"{pid}:void", row.hold_seq)
            set_columns(tx, pid, **values)
            steps.move(tx, pid, _S.VOIDED, f"voided via {call.channel}")
            return repository.load(tx, pid)
        # refund
        ledger.transfer(
            f"{pid}:refund:{call.reference}",
            debit=merchant,
            credit=clearing,
            amount=call.amount,
            description=f"refund of {pid} via {call.channel}",
        )
        ref = f"{pid}:refund:{call.reference}"
        self._booked(tx, BookingKind.REFUND, ref, row, call, 0, merchant)
        refunded = row.refunded + call.amount.minor_units
        values.update(refunded=refunded)
        set_columns(tx, pid, **values)
        target = _S.REFUNDED if refunded == row.captured else _S.PARTIALLY_REFUNDED
        steps.move(tx, pid, target, f"refunded {call.amount} via {call.channel}")
        return repository.load(tx, pid)

    def _booked(
        self, tx: Tx, kind: BookingKind, ref: str, row: Any, call: Call, fees: int, account: str
    ) -> None:
        """Hand the booking to ``finplug_payment_booked``, each plugin in a savepoint.

        Failure policy (retry later): an implementation that raises is rolled
        back alone and logged; the booking stands, and the payment's event,
        emitted in this transaction, lets the plugin do it again.
        """
        implementations = hook_implementations(
            payments_hooks.of(self._ctx.hooks).finplug_payment_booked
        )
        if not implementations:
            return
        cur = row.currency
        booking = PaymentBooking(
            ref=ref,
            kind=kind,
            payment_id=call.payment_id,
            merchant_id=row.merchant_id,
            customer_id=row.customer_id,
            amount=call.amount,
            fees=Money.from_minor(fees, cur),
            account=account,
            at=self._ctx.clock(),
            attributes=MappingProxyType(json.loads(row.attributes)),
        )
        for plugin, implementation in implementations:
            try:
                with tx.uow.savepoint():
                    implementation(uow=tx.uow, booking=booking)
            except Exception as exc:
                self._ctx.log.warning(
                    "finplug_payment_booked of plugin %r failed for %s (%s: %s);"
                    " rolled back alone, the payment's event will offer it again",
                    plugin,
                    ref,
                    type(exc).__name__,
                    str(exc)[:200],
                )

    def book_fees(self, tx: Tx, operation: str, call: Call, payer: str, cur: str) -> int:
        """Post the call's fee lines (debit ``payer``); returns their total in minor units.

        The lines were computed and checked when the call was reserved. Only
        an attempt reserved before the ``fees`` column existed has none
        stored: its fees are computed now, as they were then.
        """
        lines = call.fees
        if lines is None:
            lines = self.fees(operation, call.amount, call.channel, call.method, call.merchant_id)
        total = 0
        legs: list[Leg] = []
        for line in lines:
            account = self.account(tx, account_code(FEES, line.beneficiary, cur), "income", cur)
            legs.append(Leg.credit(account, Money.from_minor(line.units, cur)))
            total += line.units
        if total:
            legs.insert(0, Leg.debit(payer, Money.from_minor(total, cur)))
            tx.uow.ledger.post(
                f"{call.payment_id}:fees:{operation}",
                legs,
                description=f"fees on {operation} of {call.payment_id}",
            )
        return total
