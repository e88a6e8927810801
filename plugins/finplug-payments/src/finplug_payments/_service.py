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
"""

from __future__ import annotations

import builtins
import json
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NoReturn, cast

from sqlalchemy import Connection, and_, or_, select

from finplug import (
    AssemblyError,
    ConfigIssue,
    Event,
    FastSQL,
    HookCallError,
    IdempotencyConflictError,
    Leg,
    Money,
    PluginContext,
    Record,
    StoredKey,
    UnitOfWork,
    currency,
    request_digest,
)
from finplug.components import IdempotencyAPI
from finplug.sockets.fees import Fee, FeeContext, fee_hooks
from finplug.sockets.payments import (
    PAYMENT_TRANSITIONS,
    ChannelConnector,
    ChannelError,
    ChannelInfo,
    ChannelOperation,
    ChannelRequest,
    ChannelResult,
    ChannelStats,
    ChannelTimeoutError,
    IdempotencyInProgressError,
    IllegalTransitionError,
    JanitorFailure,
    JanitorReport,
    OperationFailedError,
    Payment,
    PaymentAttempt,
    PaymentBusyError,
    PaymentError,
    PaymentIdempotencyConflictError,
    PaymentKind,
    PaymentMethod,
    PaymentNotFoundError,
    PaymentStatus,
    PaymentTransition,
    PaymentValidationError,
    RouteRequest,
    RoutingStrategy,
)
from finplug.sockets.payments.hookspecs import payments_hooks
from finplug.sockets.risk import RISK, RiskContext, RiskDecision, RiskReason, RiskVerdict
from finplug_payments._schema import attempts, payments, transitions
from finplug_payments.routing import RoutingConfigError, RoutingSettings, RoutingTable

__all__ = [
    "IdempotencyInProgressError",
    "OperationFailedError",
    "PaymentBusyError",
    "PaymentIdempotencyConflictError",
    "PaymentValidationError",
    "PaymentsService",
]

_S = PaymentStatus
_OP = ChannelOperation

#: Statuses from which a refund may be made.
_REFUNDABLE: Final = frozenset({_S.CAPTURED, _S.PARTIALLY_CAPTURED, _S.PARTIALLY_REFUNDED})
_MAX_TEXT: Final = 500
_MAX_ID: Final = 128
_MAX_KEY: Final = 200
#: The longest channel name: the attempts' and payments' ``channel`` columns hold 64.
_MAX_CHANNEL: Final = 64
#: How many characters of a caller's value an error message repeats at most.
_SHOWN: Final = 40

# ---------------------------------------------------------------- account codes
#
# Identifiers become part of ledger account codes, which the ledger caps at
# 128 characters; each is checked against what is left for it *before* any
# channel is asked or any key is stored, so the booking can never be refused
# after the money moved.

#: The ledger's longest account code.
_MAX_ACCOUNT_CODE: Final = 128
_CLEARING: Final = "payments:clearing:"
_MERCHANT: Final = "payments:merchant:"
_WALLET: Final = "payments:wallet:"
_FEES: Final = "payments:fees:"


def _room(prefix: str) -> int:
    """The longest id that fits ``<prefix><id>:<CUR>`` in an account code."""
    return _MAX_ACCOUNT_CODE - len(prefix) - len(":XXX")


#: The longest ``merchant_id``: 106 (``payments:merchant:<id>:<CUR>``).
MAX_MERCHANT_ID: Final = _room(_MERCHANT)
#: The longest top-up ``customer_id``: 108 (``payments:wallet:<id>:<CUR>``).
MAX_WALLET_ID: Final = _room(_WALLET)
#: The longest fee beneficiary: 110 (``payments:fees:<beneficiary>:<CUR>``).
MAX_FEE_BENEFICIARY: Final = _room(_FEES)
#: The longest channel name: 64, the column's size (the clearing code would allow 106).
MAX_CHANNEL_NAME: Final = min(_MAX_CHANNEL, _room(_CLEARING))


def _code(prefix: str, name: str, cur: str) -> str:
    return f"{prefix}{name}:{cur}"


def _shown(value: object) -> str:
    """``repr(value)``, cut to a few dozen characters for an error message."""
    text = repr(value)
    if len(text) <= _SHOWN:
        return text
    size = len(value) if isinstance(value, str) else len(text)
    return f"{text[: _SHOWN - 1]}… ({size} characters)"


#: The namespace of the payments' keys in the kernel's idempotency service.
_SCOPE: Final = "payments"
#: The attempt statuses a call's outcome may still be recorded over.
_OPEN_ATTEMPT: Final = ("in_flight", "unknown")


class _Tx:
    """One payments step: its unit of work, and the payments it read and changed.

    The rows it locked are the truth until it commits: :func:`_set` changes
    them, and :func:`_flush` writes the changes (one ``UPDATE`` per payment)
    just before the commit. Ledger accounts opened in it are remembered by the
    service only once it commits.
    """

    __slots__ = ("conn", "dirty", "opened", "rows", "uow")

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.conn: Connection = uow.conn
        self.rows: dict[str, Record] = {}
        self.dirty: dict[str, dict[str, object]] = {}
        self.opened: list[str] = []


#: The payment columns that say no channel call is in flight.
_NOTHING_PENDING: Final = {
    "pending_operation": None,
    "pending_reference": None,
    "status_before": None,
}


def _lock_row(tx: _Tx, payment_id: str) -> Record:
    """The payment's row, locked until the transaction ends; read once per transaction.

    The transaction's copy is the truth until it commits: :func:`_set` changes
    it, and :meth:`PaymentsService._tx` writes the changes in one ``UPDATE``
    per payment before committing.
    """
    rows = tx.rows
    row = rows.get(payment_id)
    if row is None:
        conn = tx.conn
        row = FastSQL.of(conn).select_one(conn, payments, {"id": payment_id}, for_update=True)
        if row is None:
            raise PaymentNotFoundError(payment_id)
        rows[payment_id] = row
    return row


def _set(tx: _Tx, payment_id: str, **values: object) -> None:
    """Change columns of one payment: its transaction's copy now, the database at commit."""
    row = _lock_row(tx, payment_id)
    vars(row).update(values)
    tx.dirty.setdefault(payment_id, {}).update(values)


def _flush(tx: _Tx) -> None:
    """Write the payments changed in this transaction (one ``UPDATE`` each)."""
    dirty, conn = tx.dirty, tx.conn
    if dirty:
        fast = FastSQL.of(conn)
        for payment_id, values in dirty.items():
            fast.update(conn, payments, values, {"id": payment_id})
        dirty.clear()


# ---------------------------------------------------------------- errors


#: The reason code of a risk decision held because a risk check raised (as
#: :func:`finplug.sockets.risk.assess_risk` names it).
_RISK_CHECK_FAILED: Final = "risk_check_failed"

_REPLAYABLE: Final[dict[str, type[PaymentError]]] = {"OperationFailedError": OperationFailedError}


# ---------------------------------------------------------------- helpers


_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_payment_id(now: datetime) -> str:
    """A time-ordered unique id: ``pay_`` + 10 chars of milliseconds + 16 random chars."""
    value = (int(now.timestamp() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "pay_" + "".join(reversed(chars))


def _check_text(
    field: str, value: object, max_length: int, *, empty: bool = False, why: str = ""
) -> str:
    if not isinstance(value, str):
        raise PaymentValidationError(field, f"expected a string, got {type(value).__name__}")
    if not value and not empty:
        raise PaymentValidationError(field, "must not be empty")
    if len(value) > max_length:
        raise PaymentValidationError(
            field, f"at most {max_length} characters{why}, got {len(value)}"
        )
    if "\x00" in value:
        raise PaymentValidationError(field, "must not contain NUL")
    return value


def _in_code(prefix: str) -> str:
    """Why an id is limited: the account code it becomes part of."""
    return f" (it becomes part of the ledger account code {prefix}<id>:<CUR>, at most 128)"


def _check_attributes(attributes: object) -> dict[str, str]:
    """The attributes as a plain dict of strings, or a validation error naming them."""
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise PaymentValidationError(
            "attributes",
            f"expected a mapping of strings to strings, got {type(attributes).__name__}",
        )
    checked: dict[str, str] = {}
    for name, value in attributes.items():
        if not isinstance(name, str):
            raise PaymentValidationError(
                "attributes",
                f"keys must be strings, got {type(name).__name__} key {_shown(name)}",
            )
        _check_text(f"attributes[{_shown(name)}]", value, _MAX_TEXT, empty=True)
        checked[name] = value
    return checked


def _check_amount(field: str, amount: object, expected_currency: str | None = None) -> Money:
    if not isinstance(amount, Money):
        raise PaymentValidationError(field, f"expected finplug.Money, got {type(amount).__name__}")
    if amount.amount <= 0:
        raise PaymentValidationError(field, f"must be positive, got {amount}")
    if expected_currency is not None and amount.currency.code != expected_currency:
        raise PaymentValidationError(
            field, f"currency {amount.currency.code} differs from the payment's {expected_currency}"
        )
    return amount


def _check_method(method: object) -> PaymentMethod:
    try:
        return PaymentMethod(cast("str", method))
    except ValueError:
        allowed = ", ".join(m.value for m in PaymentMethod)
        raise PaymentValidationError(
            "method", f"expected one of {allowed}, got {method!r}"
        ) from None


def _money_json(value: Money) -> str:
    return str(value.amount)


@dataclass(frozen=True, slots=True)
class _FeeLine:
    """One fee to book with a capture or sale: checked, in minor units of the payment."""

    code: str
    beneficiary: str
    units: int


_FeeLines = tuple[_FeeLine, ...]


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
    label = f"fee {_shown(code)}" + (f" (rule {_shown(fee.rule)})" if fee.rule else "")
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
            f"{label}: beneficiary {_shown(beneficiary)} is longer than {MAX_FEE_BENEFICIARY}"
            f" characters{_in_code(_FEES)}"
        )
    return None


def _fees_json(lines: _FeeLines | None) -> str | None:
    if lines is None:
        return None
    return json.dumps(
        [{"code": f.code, "beneficiary": f.beneficiary, "units": f.units} for f in lines],
        separators=(",", ":"),
    )


def _fees_from_json(text: str | None) -> _FeeLines | None:
    if text is None:
        return None
    return tuple(_FeeLine(d["code"], d["beneficiary"], int(d["units"])) for d in json.loads(text))


@dataclass(slots=True)
class _Call:
    """A channel call reserved in step 1, to make in step 2."""

    payment_id: str
    operation: ChannelOperation
    channel: str
    reference: str
    amount: Money
    method: PaymentMethod
    merchant_id: str
    customer_id: str
    authorization: str = ""
    fees: _FeeLines | None = None
    """The fee lines to book if a capture or sale succeeds (``None``: none planned)."""
    capture_after: bool = False
    """An authorization to capture in full as soon as it succeeds."""
    capture_fees: _FeeLines = ()
    """With ``capture_after``: the fee lines of that capture, computed before the call."""


@dataclass(slots=True)
class _Flow:
    """What an authorize or top-up carries from one step to the next."""

    payment_id: str
    key: str
    candidates: list[str]
    amount: Money
    method: PaymentMethod
    merchant_id: str
    customer_id: str
    capture: bool
    operation: ChannelOperation
    tried: int = 0
    errors: list[ChannelError] = field(default_factory=list)
    fees: dict[str, _FeeLines] = field(default_factory=dict)
    """Per candidate channel, the fees of the sale (top-up) or of the capture that
    follows the authorization (``capture=True``), computed before anything is written."""


# ---------------------------------------------------------------- the service


class PaymentsService:
    """One tenant's payments component (see :class:`finplug.components.PaymentsAPI`).

    Built by :class:`~finplug_payments.PaymentsPlugin` with the tenant's
    settings and plugin context. Thread-safe: state shared between calls is
    the database, a lock-guarded success window per channel, and the
    channel and routing table built on first use.
    """

    def __init__(self, settings: Any, context: PluginContext) -> None:
        self._settings = settings
        self._routing: RoutingSettings = settings.routing
        self._ctx = context
        self._lock = threading.Lock()
        self._connectors: dict[str, ChannelConnector] | None = None
        self._table: RoutingTable | None = None
        self._window: dict[str, deque[bool]] = {}
        self._opened: set[str] = set()

    # -- wiring -----------------------------------------------------------

    @property
    def _keys(self) -> IdempotencyAPI:
        return cast("IdempotencyAPI", self._ctx.component("idempotency"))

    def _clock(self) -> datetime:
        return self._ctx.clock()

    def _wire(self) -> tuple[dict[str, ChannelConnector], RoutingTable]:
        connectors, table = self._connectors, self._table
        if connectors is not None and table is not None:
            return connectors, table
        with self._lock:
            if self._connectors is None or self._table is None:
                self._connectors, self._table = self._build()
            return self._connectors, self._table

    def _build(self) -> tuple[dict[str, ChannelConnector], RoutingTable]:
        found: dict[str, ChannelConnector] = {}
        for batch in payments_hooks.of(self._ctx.hooks).finplug_register_channels():
            for connector in batch:
                name = connector.info.name
                if (
                    not isinstance(name, str)
                    or not name
                    or len(name) > MAX_CHANNEL_NAME
                    or "\x00" in name
                ):
                    raise AssemblyError(
                        self._ctx.tenant_id,
                        f"a channel plugin registers a channel named {_shown(name)}: channel"
                        f" names must be 1 to {MAX_CHANNEL_NAME} characters without NUL (each"
                        " attempt stores it, and it becomes part of the ledger account code"
                        f" {_CLEARING}<channel>:<CUR>)",
                    )
                if name in found:
                    raise AssemblyError(
                        self._ctx.tenant_id,
                        f"two channel plugins register a channel named {name!r}",
                    )
                found[name] = connector
        strategies: dict[str, RoutingStrategy] = {}
        for offered in payments_hooks.of(self._ctx.hooks).finplug_routing_strategies():
            for name, strategy in offered.items():
                if name in strategies:
                    raise AssemblyError(
                        self._ctx.tenant_id,
                        f"two plugins offer a routing strategy named {name!r}",
                    )
                strategies[name] = strategy
        infos = [c.info for c in found.values()]
        try:
            table = RoutingTable.build(
                self._routing, infos, strategies, path="plugins.payments.routing"
            )
        except ValueError as exc:  # a plugged strategy named like a built-in
            raise AssemblyError(self._ctx.tenant_id, str(exc)) from None
        return found, table

    def check(self) -> builtins.list[ConfigIssue]:
        """Problems of the routing settings against the tenant's channels and strategies.

        Builds the channel list and routing table afresh (nothing is cached or
        written) and returns every problem with its field path from the
        config root; ``finplug check`` locates them in the config file.
        """
        try:
            self._build()
        except RoutingConfigError as exc:
            return list(exc.issues)
        except AssemblyError as exc:
            return [ConfigIssue(None, None, "plugins", str(exc))]
        return []

    def channels(self) -> builtins.list[ChannelInfo]:
        """The tenant's channels, as registered by channel plugins, by name."""
        connectors, _ = self._wire()
        return sorted((c.info for c in connectors.values()), key=lambda i: i.name)

    def stats(self) -> dict[str, ChannelStats]:
        """Each channel's success record over the sliding window (``routing.success_window``)."""
        with self._lock:
            return {
                name: ChannelStats(len(window), sum(window))
                for name, window in self._window.items()
            }

    def route(self, request: RouteRequest) -> builtins.list[str]:
        """The channels a payment would try, in order. No side effect."""
        _, table = self._wire()
        return table.route(request, self.stats())

    def _record_outcome(self, channel: str, success: bool) -> None:
        with self._lock:
            window = self._window.get(channel)
            if window is None:
                window = self._window[channel] = deque(maxlen=self._routing.success_window)
            window.append(success)

    # -- transactions and idempotency -------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[_Tx]:
        """One step: a unit of work, committed when the block ends without an error."""
        with self._ctx.unit_of_work() as uow:
            tx = _Tx(uow)
            uow.before_commit(lambda: _flush(tx))
            uow.after_commit(lambda: self._opened.update(tx.opened))
            yield tx
            uow.commit()

    def _start(
        self,
        key: str,
        operation: str,
        digest: bytes,
        body: Callable[[_Tx], Payment | _Call],
        payment_id: str,
    ) -> Payment | _Call:
        """Step 1: claim the key and run ``body`` in the same unit of work, or replay.

        The key records its payment from the start (the claim's resource), so
        the janitor can finish a key whose call was cut off, whatever the
        operation. ``body`` runs only for a new key, so a replay calls no
        hook; whatever ``body`` raises (a hook's :class:`~finplug.HookCallError`
        included) rolls the claim back with everything else, and the same key
        may be used again.
        """
        try:
            with self._tx() as tx:
                stored = tx.uow.idempotency.claim(key, operation, digest, resource=payment_id)
                if stored is None:
                    return body(tx)
        except IdempotencyConflictError as exc:
            if isinstance(exc, PaymentIdempotencyConflictError):
                raise
            raise PaymentIdempotencyConflictError(key, exc.operation) from None
        return self._replay(key, operation, digest, stored)

    def _stored(self, key: str, operation: str, digest: bytes) -> Payment | None:
        """The stored answer to ``key`` (waiting for a call in progress), or ``None`` if new.

        Authorize and top-up look the key up before they ask risk, so a
        replay runs no hook at all (a velocity rule must not count a client's
        retries). Two first calls with one key at the same instant may both
        miss here and both ask risk once; the key's claim in step 1 still
        lets only one of them call a channel, and the other replays its result.
        """
        stored = self._keys.get(_SCOPE, key)
        if stored is None:
            return None
        return self._replay(key, operation, digest, stored)

    def _replay(self, key: str, operation: str, digest: bytes, stored: StoredKey) -> Payment:
        """The first call's result (or its error, raised again) for a repeated key."""
        if stored.request_hash != digest or stored.operation != operation:
            raise PaymentIdempotencyConflictError(key, stored.operation)
        if not stored.done:
            try:
                stored = self._keys.wait(
                    _SCOPE,
                    key,
                    operation,
                    digest,
                    timeout=self._settings.idempotency_wait_seconds,
                )
            except IdempotencyConflictError as exc:
                raise PaymentIdempotencyConflictError(key, exc.operation) from None
            except LookupError:
                # The first call rolled its claim back while we waited: the key is
                # free again, and a retry with it runs afresh.
                raise IdempotencyInProgressError(key) from None
        assert stored.response is not None
        return _from_response(stored.response)

    def _finish_key(
        self, tx: _Tx, key: str, payment: Payment | None, error: PaymentError | None
    ) -> None:
        tx.uow.idempotency.finish(key, _to_response(payment, error))

    # -- public calls -----------------------------------------------------

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
        _check_text("key", key, _MAX_KEY)
        amount = _check_amount("amount", amount)
        pay_method = _check_method(method)
        if kind is PaymentKind.TOPUP:
            _check_text("customer_id", customer_id, MAX_WALLET_ID, why=_in_code(_WALLET))
        else:
            _check_text("merchant_id", merchant_id, MAX_MERCHANT_ID, why=_in_code(_MERCHANT))
            _check_text("customer_id", customer_id, _MAX_ID, empty=True)
        _check_text("description", description, _MAX_TEXT, empty=True)
        attrs = _check_attributes(attributes)
        if channel is not None:
            _check_text("channel", channel, MAX_CHANNEL_NAME)
        if not isinstance(capture, bool):
            raise PaymentValidationError(
                "capture", f"expected a bool, got {type(capture).__name__}"
            )
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
        replayed = self._stored(key, operation, digest)
        if replayed is not None:
            return replayed
        connectors, table = self._wire()
        if channel is not None and channel not in connectors:
            known = ", ".join(sorted(connectors)) or "none"
            raise PaymentValidationError("channel", f"unknown channel {channel!r} (known: {known})")
        # Risk, then fees, outside any transaction: hooks may be slow.
        risk = self._assess(
            RiskContext(
                "wallet.topup" if kind is PaymentKind.TOPUP else "payment.authorize",
                amount,
                merchant_id=merchant_id or None,
                customer_id=customer_id or None,
                payment_method=pay_method.value,
                attributes=attrs,
            )
        )
        now = self._clock()
        payment_id = new_payment_id(now)
        if channel is not None:
            info = connectors[channel].info
            candidates = [channel] if info.accepts(amount, pay_method) else []
        else:
            request = RouteRequest(payment_id, amount, pay_method, merchant_id, customer_id)
            candidates = table.route(request, self.stats())
        flow = _Flow(
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
        if risk.verdict is RiskVerdict.APPROVE:
            self._plan_fees(flow)

        def create(tx: _Tx) -> Payment | _Call:
            values = {
                "id": payment_id,
                "kind": kind.value,
                "status": _S.CREATED.value,
                "currency": amount.currency.code,
                "amount": amount.minor_units,
                "captured": 0,
                "refunded": 0,
                "fees": 0,
                "merchant_id": merchant_id,
                "customer_id": customer_id,
                "method": pay_method.value,
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
                "attributes": json.dumps(attrs, sort_keys=True),
                "transition_count": 0,
                "attempt_count": 0,
                "created_at": now,
                "updated_at": now,
            }
            FastSQL.of(tx.conn).insert(tx.conn, payments, values)
            tx.rows[payment_id] = Record(**values)
            self._transition(tx, payment_id, None, _S.CREATED, "created")
            if risk.verdict is RiskVerdict.DECLINE:
                return self._fail(tx, flow, "risk_declined", _reasons(risk.reasons))
            if risk.verdict is RiskVerdict.REVIEW:
                self._move(
                    tx, payment_id, _S.REQUIRES_ACTION, "risk review: " + _reasons(risk.reasons)
                )
                snapshot = self._load(tx, payment_id)
                self._finish_key(tx, key, snapshot, None)
                return snapshot
            return self._next_attempt(tx, flow)

        started = self._start(key, operation, digest, create, payment_id)
        if isinstance(started, Payment):
            return started
        return self._run_flow(flow, started)

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
                _shown(str(exc)),
                context.operation,
            )
            return RiskDecision.review(
                RiskReason(
                    _RISK_CHECK_FAILED,
                    f"the risk component failed ({type(exc).__name__}); held for review",
                    plugin,
                )
            )

    def _plan_fees(self, flow: _Flow) -> None:
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
            flow.fees[channel] = self._fees(
                operation, flow.amount, channel, flow.method, flow.merchant_id
            )

    def _fees(
        self, operation: str, amount: Money, channel: str, method: PaymentMethod, merchant_id: str
    ) -> _FeeLines:
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
        lines: list[_FeeLine] = []
        for batch in fee_hooks.of(self._ctx.hooks).finplug_calculate_fees(context=context):
            if not isinstance(batch, list | tuple):
                self._bad_fee(f"expected a list of finplug.Fee, got {type(batch).__name__}")
            for fee in batch:
                problem = _fee_problem(fee, cur)
                if problem is not None:
                    self._bad_fee(problem)
                if fee.amount.amount:
                    lines.append(_FeeLine(fee.code, fee.beneficiary, fee.amount.minor_units))
        return tuple(lines)

    def _bad_fee(self, problem: str) -> NoReturn:
        cause = PaymentValidationError("fees", problem)
        raise HookCallError(self._ctx.tenant_id, "finplug_calculate_fees", None, cause) from cause

    def confirm(self, key: str, payment_id: str, *, approve: bool) -> Payment:
        """Finish a payment held for risk review: authorize it (routing now) or fail it."""
        _check_text("key", key, _MAX_KEY)
        _check_text("payment_id", payment_id, 40)
        if not isinstance(approve, bool):
            raise PaymentValidationError(
                "approve", f"expected a bool, got {type(approve).__name__}"
            )
        holder: list[_Flow] = []

        def reserve(tx: _Tx) -> Payment | _Call:
            # Hooks (channels, fees) run only for a new key, inside its
            # transaction: a raise rolls everything back, the key included.
            _, table = self._wire()
            row = _lock_row(tx, payment_id)
            status = _S(row.status)
            if status is not _S.REQUIRES_ACTION:
                raise IllegalTransitionError(payment_id, status, "confirm")
            amount = Money.from_minor(row.amount, row.currency)
            method = PaymentMethod(row.method)
            request = RouteRequest(payment_id, amount, method, row.merchant_id, row.customer_id)
            flow = _Flow(
                payment_id,
                key,
                table.route(request, self.stats()),
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
            self._plan_fees(flow)
            return self._next_attempt(tx, flow)

        digest = request_digest("confirm", {"payment_id": payment_id, "approve": approve})
        started = self._start(key, "confirm", digest, reserve, payment_id)
        if isinstance(started, Payment):
            return started
        return self._run_flow(holder[0], started)

    def capture(self, key: str, payment_id: str, amount: Money | None = None) -> Payment:
        """Capture all (``None``) or part of an authorization; the rest of the hold is released."""
        return self._operate(key, _OP.CAPTURE, payment_id, amount)

    def void(self, key: str, payment_id: str) -> Payment:
        """Release an authorization from which nothing was captured."""
        return self._operate(key, _OP.VOID, payment_id, None)

    def refund(self, key: str, payment_id: str, amount: Money | None = None) -> Payment:
        """Refund all that is left (``None``) or part of it; several refunds may follow."""
        return self._operate(key, _OP.REFUND, payment_id, amount)

    # -- authorize / sale flow ---------------------------------------------

    def _next_attempt(self, tx: _Tx, flow: _Flow) -> Payment | _Call:
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
        row = _lock_row(tx, flow.payment_id)
        sale = flow.operation is _OP.SALE
        call = self._reserve_call(
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

    def _run_flow(self, flow: _Flow, step: Payment | _Call) -> Payment:
        connectors, _ = self._wire()
        while isinstance(step, _Call):
            call = step
            try:
                result = connectors[call.channel].execute(_request(call))
            except ChannelTimeoutError as exc:
                self._record_outcome(call.channel, False)
                step = self._tx_timeout(call, exc, flow.key)
                break
            except ChannelError as exc:
                self._record_outcome(call.channel, False)
                flow.errors.append(exc)
                step = self._tx_failed_attempt(flow, call, exc)
                continue
            self._record_outcome(call.channel, True)
            step = self._tx_succeeded(call, result, flow)
        assert isinstance(step, Payment)
        return step

    def _tx_failed_attempt(self, flow: _Flow, call: _Call, exc: ChannelError) -> Payment | _Call:
        with self._tx() as tx:
            if not self._close_attempt(tx, call, "failed", exc.code, exc.retriable):
                return self._resolved_elsewhere(tx, flow.key, call.payment_id)
            self._clear_pending(tx, call.payment_id)
            if call.operation is _OP.CAPTURE:
                # The automatic capture after an authorization failed: the payment
                # stays authorized (the attempt shows why); the caller may capture later.
                snapshot = self._load(tx, call.payment_id)
                self._finish_key(tx, flow.key, snapshot, None)
                return snapshot
            if not exc.retriable:
                return self._fail(tx, flow, exc.code, str(exc))
            return self._next_attempt(tx, flow)

    def _tx_succeeded(
        self, call: _Call, result: ChannelResult, flow: _Flow | None
    ) -> Payment | _Call:
        key = flow.key if flow is not None else None
        with self._tx() as tx:
            if not self._close_attempt(tx, call, "succeeded", "", None, result.channel_reference):
                return self._resolved_elsewhere(tx, key, call.payment_id)
            step = self._apply_success(tx, call, result)
            if isinstance(step, _Call):
                return step
            if key is not None:
                self._finish_key(tx, key, step, None)
            return step

    def _tx_timeout(self, call: _Call, exc: ChannelTimeoutError, key: str) -> Payment:
        with self._tx() as tx:
            if not self._close_attempt(tx, call, "unknown", exc.code, None):
                return self._resolved_elsewhere(tx, key, call.payment_id)
            row = _lock_row(tx, call.payment_id)
            self._move(
                tx,
                call.payment_id,
                _S.UNKNOWN,
                f"{call.operation.value} timed out on {call.channel}",
                row=row,
            )
            snapshot = self._load(tx, call.payment_id)
            self._finish_key(tx, key, snapshot, None)
            return snapshot

    def _resolved_elsewhere(self, tx: _Tx, key: str | None, payment_id: str) -> Payment:
        # The janitor settled this call while the channel answered us late.
        self._ctx.log.error(
            "payment %s: a channel answer arrived after the janitor had settled the call;"
            " the janitor's outcome stands",
            payment_id,
        )
        snapshot = self._load(tx, payment_id)
        if key is not None:
            self._finish_key(tx, key, snapshot, None)
        return snapshot

    # -- capture / void / refund -----------------------------------------

    def _operate(
        self, key: str, operation: ChannelOperation, payment_id: str, amount: Money | None
    ) -> Payment:
        _check_text("key", key, _MAX_KEY)
        _check_text("payment_id", payment_id, 40)
        if amount is not None:
            amount = _check_amount("amount", amount)
        args = {
            "payment_id": payment_id,
            "amount": None if amount is None else _money_json(amount),
            "currency": None if amount is None else amount.currency.code,
        }

        def reserve(tx: _Tx) -> Payment | _Call:
            # Hooks (channels, fees) run only for a new key, inside its
            # transaction: a raise rolls everything back, the key included.
            self._wire()
            row = _lock_row(tx, payment_id)
            status = _S(row.status)
            if row.pending_operation is not None:
                raise PaymentBusyError(payment_id, row.pending_operation)
            cur = row.currency
            if amount is not None:
                _check_amount("amount", amount, cur)
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
                fees = self._fees(
                    "capture", value, row.channel, PaymentMethod(row.method), row.merchant_id
                )
            return self._reserve_call(
                tx, row, operation, row.channel, value, status_before=status, fees=fees
            )

        digest = request_digest(operation.value, args)
        started = self._start(key, operation.value, digest, reserve, payment_id)
        if isinstance(started, Payment):
            return started
        call = started
        connector = self._wire()[0].get(call.channel)
        try:
            if connector is None:
                raise ChannelError(
                    call.channel, "channel_removed", "the channel is no longer configured"
                )
            result = connector.execute(_request(call))
        except ChannelTimeoutError as exc:
            return self._tx_timeout(call, exc, key)
        except ChannelError as exc:
            with self._tx() as tx:
                if not self._close_attempt(tx, call, "failed", exc.code, exc.retriable):
                    return self._resolved_elsewhere(tx, key, call.payment_id)
                self._clear_pending(tx, call.payment_id)
                error = OperationFailedError(payment_id, operation.value, exc.code, exc.retriable)
                self._finish_key(tx, key, None, error)
            raise error from None
        with self._tx() as tx:
            if not self._close_attempt(tx, call, "succeeded", "", None, result.channel_reference):
                return self._resolved_elsewhere(tx, key, call.payment_id)
            step = self._apply_success(tx, call, result)
            assert isinstance(step, Payment)
            self._finish_key(tx, key, step, None)
            return step

    # -- state, attempts, bookings -----------------------------------------

    def _reserve_call(
        self,
        tx: _Tx,
        row: Any,
        operation: ChannelOperation,
        channel: str,
        amount: Money,
        *,
        status_before: PaymentStatus,
        fees: _FeeLines | None = None,
    ) -> _Call:
        n = row.attempt_count + 1
        reference = f"{row.id}:{n}:{operation.value}"
        now = self._clock()
        FastSQL.of(tx.conn).insert(
            tx.conn,
            attempts,
            {
                "reference": reference,
                "payment_id": row.id,
                "n": n,
                "operation": operation.value,
                "channel": channel,
                "amount": amount.minor_units,
                "status": "in_flight",
                "error_code": "",
                "retriable": None,
                "channel_reference": "",
                "created_at": now,
                "finished_at": None,
                "fees": _fees_json(fees),
            },
        )
        _set(
            tx,
            row.id,
            attempt_count=n,
            pending_operation=operation.value,
            pending_reference=reference,
            status_before=status_before.value,
            updated_at=now,
        )
        return _Call(
            row.id,
            operation,
            channel,
            reference,
            amount,
            PaymentMethod(row.method),
            row.merchant_id,
            row.customer_id,
            row.channel_reference,
            fees,
        )

    def _close_attempt(
        self,
        tx: _Tx,
        call: _Call,
        status: str,
        error_code: str,
        retriable: bool | None,
        channel_reference: str = "",
    ) -> bool:
        """Record an attempt's outcome; False if it was already settled (by the janitor)."""
        _lock_row(tx, call.payment_id)
        done = FastSQL.of(tx.conn).update(
            tx.conn,
            attempts,
            {
                "status": status,
                "error_code": error_code,
                "retriable": retriable,
                "channel_reference": channel_reference,
                "finished_at": self._clock(),
            },
            {"reference": call.reference, "status": _OPEN_ATTEMPT},
        )
        return done == 1

    def _clear_pending(self, tx: _Tx, payment_id: str) -> None:
        """No channel call is in flight for the payment any more."""
        _set(tx, payment_id, **_NOTHING_PENDING, updated_at=self._clock())

    def _transition(
        self,
        tx: _Tx,
        payment_id: str,
        from_status: PaymentStatus | None,
        to_status: PaymentStatus,
        reason: str,
        *,
        row: Any = None,
    ) -> None:
        if row is None:
            row = _lock_row(tx, payment_id)
        n = row.transition_count + 1
        now = self._clock()
        FastSQL.of(tx.conn).insert(
            tx.conn,
            transitions,
            {
                "payment_id": payment_id,
                "n": n,
                "from_status": None if from_status is None else from_status.value,
                "to_status": to_status.value,
                "at": now,
                "reason": reason[:_MAX_TEXT],
            },
        )
        _set(
            tx,
            payment_id,
            transition_count=n,
            status=to_status.value,
            updated_at=now,
        )
        tx.uow.events.emit(
            Event(
                f"{row.kind}.{to_status.value}",
                f"payment:{payment_id}",
                {
                    "payment_id": payment_id,
                    "from": None if from_status is None else from_status.value,
                    "to": to_status.value,
                    "merchant_id": row.merchant_id,
                    "reason": reason[:_MAX_TEXT],
                },
                dedupe_key=f"{payment_id}:{n}",
            )
        )

    def _move(
        self,
        tx: _Tx,
        payment_id: str,
        to_status: PaymentStatus,
        reason: str,
        *,
        row: Any = None,
    ) -> None:
        if row is None:
            row = _lock_row(tx, payment_id)
        current = _S(row.status)
        if to_status not in PAYMENT_TRANSITIONS[current] and to_status is not current:
            raise IllegalTransitionError(payment_id, current, f"move to {to_status.value}")
        if to_status is current:
            return
        self._transition(tx, payment_id, current, to_status, reason, row=row)

    def _fail(self, tx: _Tx, flow: _Flow, code: str, message: str) -> Payment:
        _set(
            tx,
            flow.payment_id,
            failure_code=code[:64],
            failure_message=message[:_MAX_TEXT],
        )
        self._move(tx, flow.payment_id, _S.FAILED, f"{code}: {message}")
        snapshot = self._load(tx, flow.payment_id)
        self._finish_key(tx, flow.key, snapshot, None)
        return snapshot

    def _account(self, tx: _Tx, code: str, kind: str, cur: str) -> str:
        if code not in self._opened:
            tx.uow.ledger.open_account(code, kind, cur, overdraft=_OVERDRAFT[kind])
            tx.opened.append(code)
        return code

    def _apply_success(self, tx: _Tx, call: _Call, result: ChannelResult) -> Payment | _Call:
        """Book a channel success and move the payment; may reserve the capture that follows."""
        row = _lock_row(tx, call.payment_id)
        cur = row.currency
        ledger = tx.uow.ledger
        clearing = self._account(tx, _code(_CLEARING, call.channel, cur), "asset", cur)
        pid = call.payment_id
        now = self._clock()
        values: dict[str, object] = {**_NOTHING_PENDING, "updated_at": now}
        if call.operation is _OP.AUTHORIZE:
            merchant = self._account(tx, _code(_MERCHANT, row.merchant_id, cur), "liability", cur)
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
            _set(tx, pid, **values)
            self._move(tx, pid, _S.AUTHORIZED, f"authorized by {call.channel}")
            if call.capture_after:
                # Its fees were computed before the authorization was asked for:
                # no hook runs here, so nothing can undo the booking above.
                row = _lock_row(tx, pid)
                return self._reserve_call(
                    tx,
                    row,
                    _OP.CAPTURE,
                    call.channel,
                    call.amount,
                    status_before=_S.AUTHORIZED,
                    fees=call.capture_fees,
                )
            return self._load(tx, pid)
        if call.operation is _OP.SALE:
            wallet = self._account(tx, _code(_WALLET, row.customer_id, cur), "liability", cur)
            ledger.transfer(
                f"{pid}:topup",
                debit=clearing,
                credit=wallet,
                amount=call.amount,
                description=f"top-up {pid} via {call.channel}",
            )
            fees = self._book_fees(tx, "topup", call, wallet, cur)
            values.update(
                channel=call.channel,
                channel_reference=result.channel_reference,
                captured=call.amount.minor_units,
                fees=fees,
            )
            _set(tx, pid, **values)
            self._move(tx, pid, _S.CAPTURED, f"topped up via {call.channel}")
            return self._load(tx, pid)
        merchant = _code(_MERCHANT, row.merchant_id, cur)
        if call.operation is _OP.CAPTURE:
            ledger.post_pending(f"{pid}:capture", row.hold_seq, call.amount)
            fees = self._book_fees(tx, "capture", call, merchant, cur)
            values.update(captured=call.amount.minor_units, fees=fees)
            _set(tx, pid, **values)
            full = call.amount.minor_units == row.amount
            self._move(
                tx,
                pid,
                _S.CAPTURED if full else _S.PARTIALLY_CAPTURED,
                f"captured {call.amount} via {call.channel}",
            )
            return self._load(tx, pid)
        if call.operation is _OP.VOID:
            ledger.void_pending(f"{pid}:void", row.hold_seq)
            _set(tx, pid, **values)
            self._move(tx, pid, _S.VOIDED, f"voided via {call.channel}")
            return self._load(tx, pid)
        # refund
        ledger.transfer(
            f"{pid}:refund:{call.reference}",
            debit=merchant,
            credit=clearing,
            amount=call.amount,
            description=f"refund of {pid} via {call.channel}",
        )
        refunded = row.refunded + call.amount.minor_units
        values.update(refunded=refunded)
        _set(tx, pid, **values)
        target = _S.REFUNDED if refunded == row.captured else _S.PARTIALLY_REFUNDED
        self._move(tx, pid, target, f"refunded {call.amount} via {call.channel}")
        return self._load(tx, pid)

    def _book_fees(self, tx: _Tx, operation: str, call: _Call, payer: str, cur: str) -> int:
        """Post the call's fee lines (debit ``payer``); returns their total in minor units.

        The lines were computed and checked when the call was reserved. Only
        an attempt reserved before the ``fees`` column existed has none
        stored: its fees are computed now, as they were then.
        """
        lines = call.fees
        if lines is None:
            lines = self._fees(operation, call.amount, call.channel, call.method, call.merchant_id)
        total = 0
        legs: list[Leg] = []
        for line in lines:
            account = self._account(tx, _code(_FEES, line.beneficiary, cur), "income", cur)
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

    # -- reading ---------------------------------------------------------

    def _load(self, tx: _Tx, payment_id: str) -> Payment:
        """The payment as this transaction sees it, with its attempts and transitions."""
        conn = tx.conn
        fast = FastSQL.of(conn)
        row = tx.rows.get(payment_id)
        if row is None:
            row = fast.select_one(conn, payments, {"id": payment_id})
            if row is None:
                raise PaymentNotFoundError(payment_id)
        where = {"payment_id": payment_id}
        tries = fast.select(conn, attempts, where, order_by=("n",))
        moves = fast.select(conn, transitions, where, order_by=("n",))
        return _payment(row, tries, moves)

    def _load_many(self, tx: _Tx, ids: Sequence[str]) -> builtins.list[Payment]:
        """Several payments in three queries, whatever their number (in ``ids`` order)."""
        if not ids:
            return []
        conn = tx.conn
        rows = {r.id: r for r in conn.execute(select(payments).where(payments.c.id.in_(ids)))}
        tries: dict[str, builtins.list[Any]] = {pid: [] for pid in ids}
        for t in conn.execute(
            select(attempts)
            .where(attempts.c.payment_id.in_(ids))
            .order_by(attempts.c.payment_id, attempts.c.n)
        ):
            tries[t.payment_id].append(t)
        moves: dict[str, builtins.list[Any]] = {pid: [] for pid in ids}
        for m in conn.execute(
            select(transitions)
            .where(transitions.c.payment_id.in_(ids))
            .order_by(transitions.c.payment_id, transitions.c.n)
        ):
            moves[m.payment_id].append(m)
        return [_payment(rows[pid], tries[pid], moves[pid]) for pid in ids]

    def get(self, payment_id: str) -> Payment:
        """One payment, with its attempts and transitions."""
        _check_text("payment_id", payment_id, 40)
        with self._tx() as tx:
            return self._load(tx, payment_id)

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
        query = select(payments.c.id)
        if merchant_id is not None:
            query = query.where(payments.c.merchant_id == merchant_id)
        if status is not None:
            try:
                wanted = PaymentStatus(status)
            except ValueError:
                raise PaymentValidationError("status", f"unknown status {status!r}") from None
            query = query.where(payments.c.status == wanted.value)
        with self._tx() as tx:
            conn = tx.conn
            if after is not None:
                anchor = conn.execute(
                    select(payments.c.created_at).where(payments.c.id == after)
                ).first()
                if anchor is None:
                    raise PaymentNotFoundError(after)
                query = query.where(
                    or_(
                        payments.c.created_at > anchor.created_at,
                        and_(payments.c.created_at == anchor.created_at, payments.c.id > after),
                    )
                )
            ids = (
                conn.execute(query.order_by(payments.c.created_at, payments.c.id).limit(limit))
                .scalars()
                .all()
            )
            return self._load_many(tx, ids)

    # -- the janitor -------------------------------------------------------

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
        connectors, _ = self._wire()
        cutoff = self._clock() - timedelta(seconds=self._settings.janitor_grace_seconds)
        calls: builtins.list[_Call] = []
        failed: builtins.list[JanitorFailure] = []
        with self._tx() as tx:
            rows = tx.conn.execute(
                select(payments.c.id, payments.c.pending_reference)
                .where(
                    or_(
                        payments.c.status == _S.UNKNOWN.value,
                        and_(
                            payments.c.pending_operation.is_not(None),
                            payments.c.updated_at <= cutoff,
                        ),
                    )
                )
                .order_by(payments.c.updated_at)
                .limit(limit)
            ).all()
            for row in rows:
                try:
                    calls.append(self._pending_call(tx, row.id, row.pending_reference))
                except Exception as exc:  # one unreadable payment never stops the run
                    failed.append(self._janitor_failed(row.id, exc))
        resolved: builtins.list[str] = []
        unknown: builtins.list[str] = []
        for call in calls:
            try:
                settled = self._settle(call, connectors.get(call.channel))
            except Exception as exc:  # rolled back; reported, and the run goes on
                failed.append(self._janitor_failed(call.payment_id, exc))
                continue
            (resolved if settled else unknown).append(call.payment_id)
        return JanitorReport(tuple(resolved), tuple(unknown), tuple(failed))

    def _janitor_failed(self, payment_id: str, exc: Exception) -> JanitorFailure:
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
        self._ctx.log.error(
            "janitor: payment %s could not be settled and was skipped: %s",
            payment_id,
            reason,
            exc_info=exc,
        )
        return JanitorFailure(payment_id, reason)

    def _pending_call(self, tx: _Tx, payment_id: str, reference: str | None) -> _Call:
        """The call a payment left in flight or unknown, as the janitor settles it."""
        attempt = (
            None
            if reference is None
            else tx.conn.execute(select(attempts).where(attempts.c.reference == reference)).first()
        )
        if attempt is None:
            raise PaymentError(
                f"payment {payment_id!r} is unknown or in flight but has no recorded call"
                f" ({reference!r})"
            )
        payment = _lock_row(tx, payment_id)
        return _Call(
            payment_id,
            ChannelOperation(attempt.operation),
            attempt.channel,
            attempt.reference,
            Money.from_minor(attempt.amount, payment.currency),
            PaymentMethod(payment.method),
            payment.merchant_id,
            payment.customer_id,
            payment.channel_reference,
            _fees_from_json(attempt.fees),
        )

    def _settle(self, call: _Call, connector: ChannelConnector | None) -> bool:
        """Ask the channel about one call and book the outcome; False if it still does not say."""
        try:
            if connector is None:
                raise ChannelTimeoutError(call.channel, "channel_removed")
            outcome = connector.lookup(_request(call))
        except ChannelTimeoutError:
            return False
        with self._tx() as tx:
            current = _lock_row(tx, call.payment_id)
            if current.pending_reference != call.reference:
                return True  # settled meanwhile
            if isinstance(outcome, ChannelResult):
                self._close_attempt(tx, call, "succeeded", "", None, outcome.channel_reference)
                # From UNKNOWN the payment moves straight to where the call
                # leads. call.capture_after is False: the janitor settles the authorization
                # only; an automatic capture it interrupted is left to the caller.
                self._apply_success(tx, call, outcome)
            else:
                code = outcome.code if outcome is not None else "not_received"
                self._close_attempt(
                    tx, call, "failed", code, None if outcome is None else outcome.retriable
                )
                before = _S(current.status_before)
                self._clear_pending(tx, call.payment_id)
                if call.operation in (_OP.AUTHORIZE, _OP.SALE):
                    _set(
                        tx,
                        call.payment_id,
                        failure_code=f"channel_{code}"[:64],
                        failure_message="the channel never completed the call",
                    )
                    self._move(tx, call.payment_id, _S.FAILED, f"janitor: {code}")
                elif _S(current.status) is _S.UNKNOWN:
                    self._move(
                        tx,
                        call.payment_id,
                        before,
                        f"janitor: {call.operation.value} did not happen ({code})",
                    )
            snapshot = self._load(tx, call.payment_id)
            for stored in tx.uow.idempotency.started(call.payment_id):
                self._finish_key(tx, stored.key, snapshot, None)
        return True


_OVERDRAFT: Final[dict[str, Any]] = {
    "asset": "unlimited",
    "liability": "unlimited",
    "income": "unlimited",
}


def _reasons(reasons: Sequence[RiskReason]) -> str:
    """The reasons' codes, each with the rule (or the failing plugin) that gave it."""
    return (
        ", ".join(f"{r.code} ({r.rule})" if r.rule else r.code for r in reasons)
        or "no reason given"
    )


def _request(call: _Call) -> ChannelRequest:
    return ChannelRequest(
        call.operation,
        call.reference,
        call.amount,
        call.method,
        call.merchant_id,
        call.customer_id,
        call.payment_id,
        call.authorization,
    )


def _utc(value: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite gives them back naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _payment(row: Any, tries: Sequence[Any], moves: Sequence[Any]) -> Payment:
    cur = currency(row.currency)
    return Payment(
        id=row.id,
        kind=PaymentKind(row.kind),
        status=PaymentStatus(row.status),
        amount=Money.from_minor(row.amount, cur),
        captured=Money.from_minor(row.captured, cur),
        refunded=Money.from_minor(row.refunded, cur),
        fees=Money.from_minor(row.fees, cur),
        merchant_id=row.merchant_id,
        customer_id=row.customer_id,
        method=PaymentMethod(row.method),
        channel=row.channel,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        description=row.description,
        failure_code=row.failure_code,
        failure_message=row.failure_message,
        risk_reasons=tuple(json.loads(row.risk_reasons)),
        attempts=tuple(
            PaymentAttempt(
                t.operation,
                t.channel,
                t.reference,
                Money.from_minor(t.amount, cur),
                t.status,
                t.error_code,
                t.retriable,
                t.channel_reference,
            )
            for t in tries
        ),
        transitions=tuple(
            PaymentTransition(
                None if m.from_status is None else PaymentStatus(m.from_status),
                PaymentStatus(m.to_status),
                _utc(m.at),
                m.reason,
            )
            for m in moves
        ),
    )


# ---------------------------------------------------------------- stored results


def _to_response(payment: Payment | None, error: PaymentError | None) -> str:
    if error is not None:
        details = {k: v for k, v in vars(error).items() if isinstance(v, str | bool | int)}
        return json.dumps(
            {"error": type(error).__name__, "message": str(error), "details": details}
        )
    assert payment is not None
    return json.dumps({"payment": _payment_json(payment)}, sort_keys=True)


def _from_response(text: str) -> Payment:
    data = json.loads(text)
    if "error" in data:
        cls = _REPLAYABLE.get(data["error"], PaymentError)
        error = cls.__new__(cls)
        Exception.__init__(error, data["message"])
        vars(error).update(data["details"])
        raise error
    return _payment_from_json(data["payment"])


def _payment_json(p: Payment) -> dict[str, Any]:
    def money(m: Money) -> str:
        return str(m.amount)

    return {
        "id": p.id,
        "kind": p.kind.value,
        "status": p.status.value,
        "currency": p.amount.currency.code,
        "amount": money(p.amount),
        "captured": money(p.captured),
        "refunded": money(p.refunded),
        "fees": money(p.fees),
        "merchant_id": p.merchant_id,
        "customer_id": p.customer_id,
        "method": p.method.value,
        "channel": p.channel,
        "created_at": p.created_at.isoformat(),
        "updated_at": p.updated_at.isoformat(),
        "description": p.description,
        "failure_code": p.failure_code,
        "failure_message": p.failure_message,
        "risk_reasons": list(p.risk_reasons),
        "attempts": [
            [
                a.operation,
                a.channel,
                a.reference,
                money(a.amount),
                a.status,
                a.error_code,
                a.retriable,
                a.channel_reference,
            ]
            for a in p.attempts
        ],
        "transitions": [
            [
                None if t.from_status is None else t.from_status.value,
                t.to_status.value,
                t.at.isoformat(),
                t.reason,
            ]
            for t in p.transitions
        ],
    }


def _payment_from_json(d: Mapping[str, Any]) -> Payment:
    cur = d["currency"]
    return Payment(
        id=d["id"],
        kind=PaymentKind(d["kind"]),
        status=PaymentStatus(d["status"]),
        amount=Money(d["amount"], cur),
        captured=Money(d["captured"], cur),
        refunded=Money(d["refunded"], cur),
        fees=Money(d["fees"], cur),
        merchant_id=d["merchant_id"],
        customer_id=d["customer_id"],
        method=PaymentMethod(d["method"]),
        channel=d["channel"],
        created_at=_utc(datetime.fromisoformat(d["created_at"])),
        updated_at=_utc(datetime.fromisoformat(d["updated_at"])),
        description=d["description"],
        failure_code=d["failure_code"],
        failure_message=d["failure_message"],
        risk_reasons=tuple(d["risk_reasons"]),
        attempts=tuple(
            PaymentAttempt(op, ch, ref, Money(amt, cur), st, code, retr, chref)
            for op, ch, ref, amt, st, code, retr, chref in d["attempts"]
        ),
        transitions=tuple(
            PaymentTransition(
                None if f is None else PaymentStatus(f),
                PaymentStatus(t),
                _utc(datetime.fromisoformat(at)),
                reason,
            )
            for f, t, at, reason in d["transitions"]
        ),
    )
