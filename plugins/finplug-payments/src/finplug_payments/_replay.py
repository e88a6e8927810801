"""Idempotency keys: claimed in step 1, finished with the result, replayed to repeated calls.

The keys live in the kernel's idempotency service (scope ``payments``); a
key's stored response is the first call's payment, or its error, as JSON.
A replay answers from it and calls no hook; the same key with another
request is a :class:`~finplug.sockets.payments.PaymentIdempotencyConflictError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, cast

from finplug import IdempotencyConflictError, Money, PluginContext, StoredKey, as_utc
from finplug.components import IdempotencyAPI
from finplug.sockets.payments import (
    IdempotencyInProgressError,
    OperationFailedError,
    Payment,
    PaymentAttempt,
    PaymentError,
    PaymentIdempotencyConflictError,
    PaymentKind,
    PaymentMethod,
    PaymentStatus,
    PaymentTransition,
)
from finplug.sockets.risk import RiskVerdict
from finplug_payments._state import Steps, Tx
from finplug_payments._values import Call

__all__ = ["SCOPE", "Keys", "finish", "from_response", "to_response"]

#: The namespace of the payments' keys in the kernel's idempotency service.
SCOPE: Final = "payments"

#: The errors a stored response raises again as themselves (others as :class:`PaymentError`).
_REPLAYABLE: Final[dict[str, type[PaymentError]]] = {"OperationFailedError": OperationFailedError}


class Keys:
    """One tenant's payment keys, over its idempotency service."""

    __slots__ = ("_ctx", "_steps", "_wait_seconds")

    def __init__(self, context: PluginContext, steps: Steps, wait_seconds: int) -> None:
        self._ctx = context
        self._steps = steps
        self._wait_seconds = wait_seconds

    @property
    def _service(self) -> IdempotencyAPI:
        return cast("IdempotencyAPI", self._ctx.component("idempotency"))

    def start(
        self,
        key: str,
        operation: str,
        digest: bytes,
        body: Callable[[Tx], Payment | Call],
        payment_id: str,
    ) -> Payment | Call:
        """Step 1: claim the key and run ``body`` in the same unit of work, or replay.

        The key records its payment from the start (the claim's resource), so
        the janitor can finish a key whose call was cut off, whatever the
        operation. ``body`` runs only for a new key, so a replay calls no
        hook; whatever ``body`` raises (a hook's :class:`~finplug.HookCallError`
        included) rolls the claim back with everything else, and the same key
        may be used again.
        """
        try:
            with self._steps.tx() as tx:
                stored = tx.uow.idempotency.claim(key, operation, digest, resource=payment_id)
                if stored is None:
                    return body(tx)
        except IdempotencyConflictError as exc:
            if isinstance(exc, PaymentIdempotencyConflictError):
                raise
            raise PaymentIdempotencyConflictError(key, exc.operation) from None
        return self.replay(key, operation, digest, stored)

    def stored(self, key: str, operation: str, digest: bytes) -> Payment | None:
        """The stored answer to ``key`` (waiting for a call in progress), or ``None`` if new.

        Authorize and top-up look the key up before they ask risk, so a
        replay runs no hook at all (a velocity rule must not count a client's
        retries). Two first calls with one key at the same instant may both
        miss here and both ask risk once; the key's claim in step 1 still
        lets only one of them call a channel, and the other replays its result.
        """
        stored = self._service.get(SCOPE, key)
        if stored is None:
            return None
        return self.replay(key, operation, digest, stored)

    def replay(self, key: str, operation: str, digest: bytes, stored: StoredKey) -> Payment:
        """The first call's result (or its error, raised again) for a repeated key."""
        if stored.request_hash != digest or stored.operation != operation:
            raise PaymentIdempotencyConflictError(key, stored.operation)
        if not stored.done:
            try:
                stored = self._service.wait(
                    SCOPE, key, operation, digest, timeout=self._wait_seconds
                )
            except IdempotencyConflictError as exc:
                raise PaymentIdempotencyConflictError(key, exc.operation) from None
            except LookupError:
                # The first call rolled its claim back while we waited: the key is
                # free again, and a retry with it runs afresh.
                raise IdempotencyInProgressError(key) from None
        assert stored.response is not None
        return from_response(stored.response)


def finish(tx: Tx, key: str, payment: Payment | None, error: PaymentError | None = None) -> None:
    """Complete ``key`` in ``tx`` with the call's result: ``payment``, or ``error``."""
    tx.uow.idempotency.finish(key, to_response(payment, error))


def to_response(payment: Payment | None, error: PaymentError | None) -> str:
    """A call's result as its key stores it."""
    if error is not None:
        details = {k: v for k, v in vars(error).items() if isinstance(v, str | bool | int)}
        return json.dumps(
            {"error": type(error).__name__, "message": str(error), "details": details}
        )
    assert payment is not None
    return json.dumps({"payment": _payment_json(payment)}, sort_keys=True)


def from_response(text: str) -> Payment:
    """The payment a key stored, or the error it stored, raised again."""
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
        "risk_verdict": p.risk_verdict.name.lower(),
        "attributes": dict(p.attributes),
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


def _verdict_before_0004(d: Mapping[str, Any]) -> str:
    """The verdict of a response stored before payments 0004 (as that revision fills it)."""
    if d["failure_code"] == "risk_declined":
        return "decline"
    return "review" if d["risk_reasons"] else "approve"


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
        created_at=as_utc(datetime.fromisoformat(d["created_at"])),
        updated_at=as_utc(datetime.fromisoformat(d["updated_at"])),
        description=d["description"],
        failure_code=d["failure_code"],
        failure_message=d["failure_message"],
        risk_reasons=tuple(d["risk_reasons"]),
        risk_verdict=RiskVerdict[d.get("risk_verdict", _verdict_before_0004(d)).upper()],
        attributes=MappingProxyType(d.get("attributes", {})),
        attempts=tuple(
            PaymentAttempt(op, ch, ref, Money(amt, cur), st, code, retr, chref)
            for op, ch, ref, amt, st, code, retr, chref in d["attempts"]
        ),
        transitions=tuple(
            PaymentTransition(
                None if f is None else PaymentStatus(f),
                PaymentStatus(t),
                as_utc(datetime.fromisoformat(at)),
                reason,
            )
            for f, t, at, reason in d["transitions"]
        ),
    )
