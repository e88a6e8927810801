"""The simulated channel: deterministic draws, an in-memory journal, the channel's rules."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from fractions import Fraction
from typing import Literal

from finplug import Money, utc_now
from finplug.sockets.payments import (
    ChannelDeclinedError,
    ChannelError,
    ChannelInfo,
    ChannelOperation,
    ChannelRequest,
    ChannelResult,
    ChannelTimeoutError,
    ChannelUnavailableError,
)
from finplug_channels_sim._settings import Outcome, OutcomeKind, SimChannel

__all__ = ["AuthorizationState", "JournalEntry", "SimConnector", "outcome_digest"]

_OP = ChannelOperation
_STARTS_AUTHORIZATION = frozenset({_OP.AUTHORIZE, _OP.SALE})
_ACTS_ON_AUTHORIZATION = frozenset({_OP.CAPTURE, _OP.VOID, _OP.REFUND})
_SCALE = 2**64


def outcome_digest(
    seed: int, channel: str, operation: ChannelOperation, reference: str, amount: Money
) -> str:
    """The sha256 (hex) every draw of one call is taken from.

    A pure function of its arguments, so any process, in any order, draws the
    same outcome and names it with the same channel reference.
    """
    key = "\x1f".join(
        (
            "finplug-channels-sim/1",
            str(seed),
            channel,
            operation.value,
            reference,
            f"{amount.minor_units} {amount.currency.code}",
        )
    )
    return hashlib.sha256(key.encode()).hexdigest()


def _uniform(digest: str, part: int) -> Fraction:
    """A number in [0, 1) from the ``part``-th 8 bytes of ``digest``."""
    return Fraction(int(digest[16 * part : 16 * (part + 1)], 16), _SCALE)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One call the channel received, by reference, with the answer it keeps giving."""

    request: ChannelRequest
    """The first request with this reference."""
    outcome: Outcome
    """What became of it. A refusal by the channel's rules is a decline with its code."""
    channel_reference: str
    """The channel's id for the operation, ``"{channel}_{operation}_{digest[:12]}"``."""
    code: str
    """The answer's code: ``approved``, the decline code, ``channel_unavailable``, ``timeout`` …"""
    message: str = ""
    applied_at: datetime | None = None
    """When the channel did it, from the connector's clock; ``None`` if it did not.

    For a call another process made (learnt by ``lookup``), when this connector
    learnt of it: the only instant it knows.
    """
    returned_at: datetime | None = None
    """For a payout the payee's bank sent back: when ``lookup`` first reported it
    ``returned`` (the sim's bank sends it back then); otherwise ``None``."""

    @property
    def applied(self) -> bool:
        """Whether the channel did it (a hold placed, money captured or refunded)."""
        return self.outcome.kind.applied


@dataclass(frozen=True, slots=True)
class AuthorizationState:
    """A snapshot of what the channel holds for one authorization (or sale)."""

    channel_reference: str
    """The channel reference captures, voids and refunds name in ``authorization``."""
    reference: str
    """finplug's reference of the authorize or sale call."""
    amount: Money
    captured: Money
    refunded: Money
    voided: bool = False
    capture_reference: str = ""
    """finplug's reference of the call that captured (the sale itself for a sale)."""


class _Authorization:
    """The mutable record behind :class:`AuthorizationState`."""

    __slots__ = ("amount", "capture_reference", "captured", "reference", "refunded", "voided")

    def __init__(self, reference: str, amount: Money, *, sale: bool) -> None:
        zero = Money.zero(amount.currency)
        self.reference = reference
        self.amount = amount
        self.captured = amount if sale else zero
        self.refunded = zero
        self.voided = False
        self.capture_reference = reference if sale else ""


class SimConnector:
    """A simulated payment channel implementing :class:`~finplug.ChannelConnector`.

    Every outcome is a pure function of ``(seed, channel name, operation,
    reference, amount)``: the channel's ``script`` first, then random draws
    from :func:`outcome_digest`. On top of the draws the channel keeps an
    in-memory journal and enforces what a real acquirer does: captures, voids
    and refunds must name an authorization it approved; an authorization is
    captured at most once and for at most its amount; a void comes before any
    capture; refunds never exceed what was captured. A repeat of a reference
    returns the first answer and has no second effect.

    ``clock`` (default :func:`finplug.utc_now`) gives the instant each applied
    call is journalled at (:attr:`JournalEntry.applied_at`); it must return
    timezone-aware times.
    """

    def __init__(
        self,
        channel: SimChannel,
        *,
        seed: int = 0,
        lookup_unseen: Literal["recompute", "not_received"] = "recompute",
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._channel = channel
        self._clock = clock
        self._seed = seed
        self._lookup_unseen = lookup_unseen
        self._script = channel.scripted()
        self._info = ChannelInfo(
            name=channel.name,
            methods=frozenset(channel.methods),
            currencies=frozenset(channel.currencies),
            min_amount=channel.min_amount,
            max_amount=channel.max_amount,
            fee_rate=channel.fee_rate,
            fee_fixed=channel.fee_fixed,
            enabled=channel.enabled,
            payouts=channel.payouts,
        )
        self._lock = threading.Lock()
        self._entries: dict[str, JournalEntry] = {}
        self._authorizations: dict[str, _Authorization] = {}
        self._calls: list[ChannelRequest] = []
        self._lookups: list[ChannelRequest] = []
        self._released: set[str] = set()
        self._all_released = False

    # ------------------------------------------------------------ the socket

    @property
    def info(self) -> ChannelInfo:
        """The channel's routing facts, from its settings."""
        return self._info

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._info.name

    def settlement_report(self, day: date) -> bytes:
        """The channel's settlement file of ``day`` (UTC), with its scripted discrepancies.

        The reconciliation socket's ``ChannelReports``: the reconciliation
        plugin's ``channels`` statement source fetches it. See
        :func:`finplug_channels_sim.settlement_file` for the format.
        """
        from finplug_channels_sim._files import settlement_file  # it imports this module

        return settlement_file(self, day)

    @property
    def channel(self) -> SimChannel:
        """The channel's settings."""
        return self._channel

    @property
    def seed(self) -> int:
        """The seed its draws are taken under."""
        return self._seed

    def execute(self, request: ChannelRequest) -> ChannelResult:
        """Perform one operation, or raise the :class:`~finplug.ChannelError` it draws."""
        self._sleep()
        with self._lock:
            self._calls.append(request)
            entry = self._entries.get(request.reference)
            if entry is None:
                now = self._now()  # first: a faulty clock must not leave half an effect
                entry = self._stamped(self._receive(request), now)
                self._entries[request.reference] = entry
            elif not _same_call(entry.request, request):
                raise ChannelDeclinedError(
                    self.name,
                    "reference_reused",
                    "this reference was used for a different operation, amount or authorization",
                )
        answer = self._answer(entry, lookup=False)
        if entry.outcome.kind.timeout or answer is None:
            raise ChannelTimeoutError(self.name, "timeout", "no answer in time")
        if isinstance(answer, ChannelError):
            raise answer
        return answer

    def lookup(self, request: ChannelRequest) -> ChannelResult | ChannelError | None:
        """What became of an earlier call with ``request.reference``.

        The result if the channel did it, the error *returned* if it refused,
        ``None`` if it never did. A ``lookup_timeout`` call raises
        :class:`~finplug.ChannelTimeoutError` here too until
        :meth:`release_lookups`. A reference this connector never executed is
        recomputed from the seed, as the process that executed it drew it
        (unless the settings say ``lookup_unseen: not_received``).
        """
        self._sleep()
        with self._lock:
            self._lookups.append(request)
            entry = self._entries.get(request.reference)
            if entry is None:
                if self._lookup_unseen == "not_received":
                    return None
                now = self._now()
                entry = self._stamped(self._recompute(request), now)
                self._entries[request.reference] = entry
            if (
                entry.outcome.kind is OutcomeKind.RETURNED
                and entry.request.operation is _OP.PAYOUT
                and entry.returned_at is None
            ):
                entry = replace(entry, returned_at=self._now())
                self._entries[request.reference] = entry
            released = self._all_released or request.reference in self._released
        if entry.outcome.kind is OutcomeKind.LOOKUP_TIMEOUT and not released:
            raise ChannelTimeoutError(self.name, "lookup_timeout", "the status query timed out")
        return self._answer(entry, lookup=True)

    # ------------------------------------------------------------ for tests and demos

    def predict(self, request: ChannelRequest) -> Outcome:
        """The outcome the script or the draws give ``request``; ignores the journal.

        A pure function of the seed, the channel name and the request's
        operation, reference and amount.
        """
        scripted = self._script.get((request.amount.amount, request.operation))
        if scripted is None:
            scripted = self._script.get((request.amount.amount, None))
        if scripted is not None:
            return scripted
        channel = self._channel
        digest = self._digest(request)
        draw = _uniform(digest, 0)
        edge = Fraction(channel.failure_rate)
        if draw < edge:
            return Outcome(OutcomeKind.UNAVAILABLE)
        edge += Fraction(channel.decline_rate)
        if draw < edge:
            codes = channel.decline_codes
            return Outcome(OutcomeKind.DECLINE, codes[int(digest[16:32], 16) % len(codes)])
        edge += Fraction(channel.timeout_rate)
        if draw < edge:
            if _uniform(digest, 2) < Fraction(channel.timeout_applied_rate):
                return Outcome(OutcomeKind.TIMEOUT_APPLIED)
            return Outcome(OutcomeKind.TIMEOUT_LOST)
        return Outcome(OutcomeKind.APPROVE)

    def channel_reference(self, request: ChannelRequest) -> str:
        """The channel's id for ``request``: ``"{channel}_{operation}_{digest[:12]}"``."""
        return f"{self.name}_{request.operation.value}_{self._digest(request)[:12]}"

    def release_lookups(self, *references: str) -> None:
        """Let ``lookup`` answer for these ``lookup_timeout`` references (all, if none given)."""
        with self._lock:
            if references:
                self._released.update(references)
            else:
                self._all_released = True

    @property
    def journal(self) -> tuple[JournalEntry, ...]:
        """Every distinct reference received, in the order first received."""
        with self._lock:
            return tuple(self._entries.values())

    def entry(self, reference: str) -> JournalEntry | None:
        """The journal entry of ``reference``, or ``None`` if never received."""
        with self._lock:
            return self._entries.get(reference)

    @property
    def calls(self) -> tuple[ChannelRequest, ...]:
        """Every ``execute`` request, repeats included, in call order."""
        with self._lock:
            return tuple(self._calls)

    @property
    def lookups(self) -> tuple[ChannelRequest, ...]:
        """Every ``lookup`` request, in call order."""
        with self._lock:
            return tuple(self._lookups)

    @property
    def authorizations(self) -> tuple[AuthorizationState, ...]:
        """Snapshots of every authorization and sale the channel holds."""
        with self._lock:
            return tuple(_snapshot(ref, auth) for ref, auth in self._authorizations.items())

    def authorization(self, channel_reference: str) -> AuthorizationState | None:
        """A snapshot of one authorization, or ``None`` if the channel holds none by that id."""
        with self._lock:
            auth = self._authorizations.get(channel_reference)
            return None if auth is None else _snapshot(channel_reference, auth)

    def captured_total(self, authorization: str) -> Money:
        """What was captured on ``authorization`` (raises :class:`KeyError` if unknown)."""
        return self._known(authorization).captured

    def refunded_total(self, authorization: str) -> Money:
        """What was refunded on ``authorization`` (raises :class:`KeyError` if unknown)."""
        return self._known(authorization).refunded

    # ------------------------------------------------------------ internals

    def _known(self, authorization: str) -> AuthorizationState:
        state = self.authorization(authorization)
        if state is None:
            raise KeyError(f"{self.name} holds no authorization {authorization!r}")
        return state

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(
                f"the clock of channel {self.name!r} returned a naive time;"
                " expected a timezone-aware one (UTC)"
            )
        return now

    @staticmethod
    def _stamped(entry: JournalEntry, now: datetime) -> JournalEntry:
        """``entry`` with the instant it was applied, if it was."""
        return replace(entry, applied_at=now) if entry.applied else entry

    def _sleep(self) -> None:
        if self._channel.latency_ms:
            time.sleep(self._channel.latency_ms / 1000)

    def _digest(self, request: ChannelRequest) -> str:
        return outcome_digest(
            self._seed, self.name, request.operation, request.reference, request.amount
        )

    def _receive(self, request: ChannelRequest) -> JournalEntry:
        """Decide a new call: the channel's own checks, then script and draws; apply it."""
        channel_reference = self.channel_reference(request)
        if not self._info.enabled:
            return JournalEntry(
                request,
                Outcome(OutcomeKind.UNAVAILABLE),
                channel_reference,
                "channel_disabled",
                "the channel is switched off",
            )
        payout = request.operation is _OP.PAYOUT
        if payout and not (
            self._info.payouts and request.amount.currency.code in self._info.currencies
        ):
            return JournalEntry(
                request,
                Outcome(OutcomeKind.UNAVAILABLE),
                channel_reference,
                "not_supported",
                "this channel makes no payouts in that currency",
            )
        if request.operation in _STARTS_AUTHORIZATION and not self._info.accepts(
            request.amount, request.method
        ):
            return JournalEntry(
                request,
                Outcome(OutcomeKind.UNAVAILABLE),
                channel_reference,
                "not_supported",
                "this channel does not take that method, currency or amount",
            )
        refusal = self._refusal(request)
        if refusal is not None:
            code, message = refusal
            return JournalEntry(
                request, Outcome(OutcomeKind.DECLINE, code), channel_reference, code, message
            )
        entry = self._entry(request, self.predict(request), channel_reference)
        if entry.applied:
            self._apply(entry)
        return entry

    def _recompute(self, request: ChannelRequest) -> JournalEntry:
        """Rebuild an unseen call's entry from the draws, as its executing process did."""
        entry = self._entry(request, self.predict(request), self.channel_reference(request))
        if entry.applied and self._refusal(request) is None:
            self._apply(entry)  # so later captures and refunds here know of it
        return entry

    def _entry(self, request: ChannelRequest, outcome: Outcome, reference: str) -> JournalEntry:
        kind = outcome.kind
        if kind is OutcomeKind.DECLINE:
            return JournalEntry(request, outcome, reference, outcome.code, "declined by the issuer")
        if kind is OutcomeKind.UNAVAILABLE:
            return JournalEntry(
                request, outcome, reference, "channel_unavailable", "the channel is not answering"
            )
        if kind.timeout:
            return JournalEntry(request, outcome, reference, "timeout", "no answer in time")
        return JournalEntry(request, outcome, reference, "approved")

    def _answer(self, entry: JournalEntry, *, lookup: bool) -> ChannelResult | ChannelError | None:
        kind = entry.outcome.kind
        if kind is OutcomeKind.RETURNED and lookup:
            return ChannelResult(
                entry.channel_reference, "returned", "the payee's bank sent it back"
            )
        if kind.applied:
            return ChannelResult(entry.channel_reference)
        if kind is OutcomeKind.DECLINE:
            return ChannelDeclinedError(self.name, entry.code, entry.message)
        if kind is OutcomeKind.UNAVAILABLE:
            return ChannelUnavailableError(self.name, entry.code, entry.message)
        return None  # a lost timeout: the channel never did it

    def _refusal(self, request: ChannelRequest) -> tuple[str, str] | None:
        """Why the channel's rules refuse ``request`` (code, message), or ``None``."""
        amount = request.amount
        if request.operation is not _OP.VOID and amount.amount <= 0:
            return "invalid_amount", "the amount must be greater than zero"
        if request.operation not in _ACTS_ON_AUTHORIZATION:
            return None
        auth = self._authorizations.get(request.authorization)
        if auth is None:
            return "unknown_authorization", "this channel approved no such authorization"
        if amount.currency != auth.amount.currency:
            return "currency_mismatch", f"the authorization is in {auth.amount.currency.code}"
        if request.operation is _OP.CAPTURE:
            if auth.voided:
                return "authorization_voided", "the authorization was voided"
            if auth.capture_reference:
                return "already_captured", "the authorization was already captured"
            if amount > auth.amount:
                return "amount_exceeds_authorization", f"only {auth.amount} was authorized"
        elif request.operation is _OP.VOID:
            if auth.voided:
                return "already_voided", "the authorization was already voided"
            if auth.capture_reference:
                return "already_captured", "a captured authorization cannot be voided"
        else:
            if not auth.captured:
                return "not_captured", "nothing was captured on this authorization"
            if auth.refunded + amount > auth.captured:
                left = auth.captured - auth.refunded
                return "amount_exceeds_captured", f"only {left} is left to refund"
        return None

    def _apply(self, entry: JournalEntry) -> None:
        """Book the effect of a call the channel did (the rules already passed)."""
        request = entry.request
        operation = request.operation
        if operation is _OP.PAYOUT:
            return  # money out: nothing the channel keeps for later calls
        if operation in _STARTS_AUTHORIZATION:
            self._authorizations[entry.channel_reference] = _Authorization(
                request.reference, request.amount, sale=operation is _OP.SALE
            )
            return
        auth = self._authorizations[request.authorization]
        if operation is _OP.CAPTURE:
            auth.captured = request.amount
            auth.capture_reference = request.reference
        elif operation is _OP.VOID:
            auth.voided = True
        else:
            auth.refunded = auth.refunded + request.amount


def _same_call(first: ChannelRequest, again: ChannelRequest) -> bool:
    return (
        first.operation == again.operation
        and first.amount == again.amount
        and first.authorization == again.authorization
    )


def _snapshot(channel_reference: str, auth: _Authorization) -> AuthorizationState:
    return AuthorizationState(
        channel_reference=channel_reference,
        reference=auth.reference,
        amount=auth.amount,
        captured=auth.captured,
        refunded=auth.refunded,
        voided=auth.voided,
        capture_reference=auth.capture_reference,
    )
