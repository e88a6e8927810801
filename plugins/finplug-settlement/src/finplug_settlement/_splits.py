"""Splits booked as they happen: a capture shared among its parties, a refund taken back.

Called inside the payments unit of work that books the capture or the refund
(``finplug_payment_booked``), and again from the payment's event if that
failed: each split is keyed on the booking's ``ref`` (a table row and a
ledger key), so the second time is a no-op.

Accounts: the merchant's share stays on its payable account
(``payments:merchant:<merchant>:<CUR>``); a partner's or sub-merchant's share
goes to ``settlement:payee:<party>:<CUR>`` (a liability, paid out by
settlement); the platform's to ``settlement:commission:<CUR>`` (income).
When the rule says the platform bears the payment's fees, the commission
gives the merchant back the fees payments charged it, in the same entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError
from sqlalchemy import Connection, select

from finplug import FastSQL, Leg, Money, UnitOfWork, as_utc, currency
from finplug.sockets.payments import BookingKind, Payment, PaymentBooking, merchant_account
from finplug.sockets.settlement import PartyRole, SettlementError, Split, SplitPart
from finplug_settlement._schema import refund_splits, splits
from finplug_settlement._settings import RuleSettings, SettlementSettings, ShareSettings
from finplug_settlement.allocation import (
    Allocation,
    Share,
    SplitError,
    SplitRule,
    SplitRuleError,
    allocate,
    allocate_refund,
)

__all__ = [
    "COMMISSION",
    "PAYEE",
    "Splits",
    "booking_of",
    "bookings_of",
    "party_account",
]

#: What the platform earns from splits, per currency (income).
COMMISSION: Final = "settlement:commission:"
#: What settlement owes each partner or sub-merchant, per currency (liability).
PAYEE: Final = "settlement:payee:"
#: The attribute a payment names its own split rule with.
RULE_ATTRIBUTE: Final = "split_rule"
#: The attribute carrying a payment's own split instructions (JSON, as a rule in the settings).
SPLIT_ATTRIBUTE: Final = "split"
#: The rule name a split made from the payment's own instructions is recorded under.
PAYMENT_RULE: Final = "(payment)"


def party_account(role: PartyRole, party: str, merchant_id: str, currency_code: str) -> str:
    """The ledger account a party's share is booked on."""
    if role is PartyRole.MERCHANT:
        return merchant_account(merchant_id, currency_code)
    if role is PartyRole.PLATFORM:
        return f"{COMMISSION}{currency_code}"
    return f"{PAYEE}{party}:{currency_code}"


def _kind(role: PartyRole) -> str:
    return "income" if role is PartyRole.PLATFORM else "liability"


def _share(spec: ShareSettings, code: str) -> Share:
    if spec.remainder:
        return Share(spec.party, remainder=True)
    if spec.percent is not None:
        return Share(spec.party, percent=spec.percent)
    assert spec.fixed is not None
    return Share(spec.party, fixed_minor=Money(spec.fixed, code).minor_units)


def _compile(rule: RuleSettings, code: str) -> SplitRule:
    return SplitRule(tuple(_share(s, code) for s in rule.shares))


def booking_of(
    payment: Payment,
    kind: BookingKind,
    ref: str,
    amount: Money,
    *,
    fees: Money | None = None,
    at: datetime | None = None,
) -> PaymentBooking:
    """A movement of ``payment`` on its merchant's payable, as payments hands one over."""
    cur = payment.amount.currency.code
    return PaymentBooking(
        ref=ref,
        kind=kind,
        payment_id=payment.id,
        merchant_id=payment.merchant_id,
        customer_id=payment.customer_id,
        amount=amount,
        fees=fees if fees is not None else Money.zero(cur),
        account=merchant_account(payment.merchant_id, cur),
        at=at if at is not None else payment.updated_at,
        attributes=payment.attributes,
    )


def bookings_of(payment: Payment) -> list[PaymentBooking]:
    """The captures and refunds a payment's record shows, as payments booked them."""
    found: list[PaymentBooking] = []
    if payment.captured.minor_units and payment.kind.value == "payment":
        capture = f"{payment.id}:capture"
        found.append(
            booking_of(payment, BookingKind.CAPTURE, capture, payment.captured, fees=payment.fees)
        )
    for attempt in payment.attempts:
        if attempt.operation == "refund" and attempt.status == "succeeded":
            ref = f"{payment.id}:refund:{attempt.reference}"
            found.append(booking_of(payment, BookingKind.REFUND, ref, attempt.amount))
    return found


class Splits:
    """A tenant's split rules applied to bookings, and the splits they made."""

    def __init__(self, settings: SettlementSettings) -> None:
        self._settings = settings
        self._rules: dict[tuple[str, str], SplitRule] = {}

    def rule_for(self, merchant_id: str, attributes: Mapping[str, str]) -> str | None:
        """The name of the rule a payment is split by (its own, its merchant's, the default)."""
        named = attributes.get(RULE_ATTRIBUTE)
        if named:
            if named not in self._settings.rules:
                raise SettlementError(
                    f"the payment names split rule {named!r}, which this tenant does not have"
                )
            return named
        return self._settings.merchants.get(merchant_id, self._settings.default_rule)

    def _compiled(self, name: str, code: str) -> SplitRule:
        key = (name, code)
        found = self._rules.get(key)
        if found is None:
            found = self._rules[key] = _compile(self._settings.rules[name], code)
        return found

    def _inline(self, payment_id: str, text: str) -> RuleSettings:
        """A payment's own split instructions, when the tenant accepts them."""
        if not self._settings.allow_payment_splits:
            raise SettlementError(
                f"payment {payment_id} carries split instructions, which this tenant does not"
                " accept (allow_payment_splits: false)"
            )
        try:
            return RuleSettings.model_validate_json(text)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'split'}: {e['msg']}" for e in exc.errors()
            )
            raise SettlementError(f"payment {payment_id}: split instructions: {problems}") from None

    # -- booking ------------------------------------------------------------

    def book(self, uow: UnitOfWork, booking: PaymentBooking) -> None:
        """Split a capture, or take a refund back from the parties (once per booking)."""
        if booking.kind is BookingKind.CAPTURE:
            self._capture(uow, booking)
        elif booking.kind is BookingKind.REFUND:
            self._refund(uow, booking)

    def _capture(self, uow: UnitOfWork, booking: PaymentBooking) -> None:
        conn = uow.conn
        fast = FastSQL.of(conn)
        if fast.select_one(conn, splits, {"payment_id": booking.payment_id}) is not None:
            return  # split already (this is the event's second offer)
        cur = booking.amount.currency.code
        inline = booking.attributes.get(SPLIT_ATTRIBUTE)
        if inline:
            name, rule = PAYMENT_RULE, self._inline(booking.payment_id, inline)
            compiled = _compile(rule, cur)
        else:
            named = self.rule_for(booking.merchant_id, booking.attributes)
            if named is None:
                return
            name, rule = named, self._settings.rules[named]
            compiled = self._compiled(named, cur)
        try:
            parts = allocate(booking.amount.minor_units, compiled)
        except (SplitError, SplitRuleError) as exc:
            raise SettlementError(f"payment {booking.payment_id}: rule {name!r}: {exc}") from exc
        booked = [
            (spec, part, party_account(spec.role, spec.party, booking.merchant_id, cur))
            for spec, part in zip(rule.shares, parts, strict=True)
        ]
        moves: dict[str, int] = {}  # account -> minor units credited (negative: debited)
        for spec, part, account in booked:
            if spec.role is not PartyRole.MERCHANT and part.minor:
                moves[account] = moves.get(account, 0) + part.minor
                moves[booking.account] = moves.get(booking.account, 0) - part.minor
        fees = booking.fees.minor_units
        if rule.fees_borne_by == "platform" and fees:
            commission = f"{COMMISSION}{cur}"
            moves[commission] = moves.get(commission, 0) - fees
            moves[booking.account] = moves.get(booking.account, 0) + fees
        kinds = {account: _kind(spec.role) for spec, _part, account in booked}
        seq = self._post(uow, f"settlement:split:{booking.ref}", moves, kinds, cur, booking)
        fast.insert(
            conn,
            splits,
            {
                "payment_id": booking.payment_id,
                "merchant_id": booking.merchant_id,
                "rule": name,
                "currency": cur,
                "captured": booking.amount.minor_units,
                "parts": json.dumps(
                    [[s.party, s.role.value, a, p.minor] for s, p, a in booked],
                    separators=(",", ":"),
                ),
                "refunded": "{}",
                "entry_seq": seq,
                "at": as_utc(booking.at),
            },
        )

    def _refund(self, uow: UnitOfWork, booking: PaymentBooking) -> None:
        conn = uow.conn
        fast = FastSQL.of(conn)
        if fast.select_one(conn, refund_splits, {"ref": booking.ref}) is not None:
            return
        row = fast.select_one(conn, splits, {"payment_id": booking.payment_id}, for_update=True)
        if row is None:
            return  # the capture was not split: the merchant alone gives back
        stored = json.loads(row.parts)
        already: dict[str, int] = json.loads(row.refunded)
        rule = self._settings.rules.get(row.rule)
        merchant_party = next(p for p, role, _a, _m in stored if role == PartyRole.MERCHANT)
        first = merchant_party if rule is not None and rule.refunds == "merchant_first" else None
        original = [Allocation(party, minor) for party, _role, _account, minor in stored]
        try:
            back = allocate_refund(booking.amount.minor_units, original, already, first=first)
        except SplitError as exc:
            raise SettlementError(f"refund {booking.ref}: {exc}") from exc
        moves: dict[str, int] = {}
        kinds: dict[str, str] = {}
        for (party, role, account, _minor), part in zip(stored, back, strict=True):
            kinds[account] = _kind(PartyRole(role))
            if role != PartyRole.MERCHANT and part.minor:
                moves[account] = moves.get(account, 0) - part.minor
                moves[booking.account] = moves.get(booking.account, 0) + part.minor
            if part.minor:
                already[party] = already.get(party, 0) + part.minor
        cur = booking.amount.currency.code
        seq = self._post(uow, f"settlement:split:{booking.ref}", moves, kinds, cur, booking)
        fast.update(conn, splits, {"refunded": json.dumps(already)}, {"payment_id": row.payment_id})
        fast.insert(
            conn,
            refund_splits,
            {
                "ref": booking.ref,
                "payment_id": booking.payment_id,
                "parts": json.dumps({p.party: p.minor for p in back if p.minor}),
                "entry_seq": seq,
                "at": as_utc(booking.at),
            },
        )

    @staticmethod
    def _post(
        uow: UnitOfWork,
        key: str,
        moves: Mapping[str, int],
        kinds: Mapping[str, str],
        cur: str,
        booking: PaymentBooking,
    ) -> int | None:
        """One balanced entry of ``moves`` (credits positive); ``None`` when nothing moves."""
        legs: list[Leg] = []
        ledger = uow.ledger
        for account, minor in moves.items():
            if not minor:
                continue
            if account in kinds and account != booking.account:
                ledger.open_account(account, kinds[account], cur, overdraft="unlimited")
            amount = Money.from_minor(abs(minor), cur)
            legs.append(Leg.credit(account, amount) if minor > 0 else Leg.debit(account, amount))
        if not legs:
            return None
        what = "split" if booking.kind is BookingKind.CAPTURE else "refund split back"
        return ledger.post(key, legs, description=f"{what} of {booking.payment_id}").seq

    # -- reading ------------------------------------------------------------

    def split_of(self, conn: Connection, payment_id: str) -> Split | None:
        """The payment's split, with what refunds took back so far."""
        row = conn.execute(select(splits).where(splits.c.payment_id == payment_id)).first()
        return None if row is None else _split(row)

    def latest(self, conn: Connection, merchant_id: str | None, limit: int) -> list[Split]:
        """The latest splits, newest first."""
        query = select(splits).order_by(splits.c.at.desc(), splits.c.payment_id.desc())
        if merchant_id is not None:
            query = query.where(splits.c.merchant_id == merchant_id)
        return [_split(r) for r in conn.execute(query.limit(limit))]


def _split(row: Any) -> Split:
    cur = currency(row.currency)
    refunded: dict[str, int] = json.loads(row.refunded)
    parts: Sequence[list[Any]] = json.loads(row.parts)
    return Split(
        payment_id=row.payment_id,
        merchant_id=row.merchant_id,
        rule=row.rule,
        captured=Money.from_minor(row.captured, cur),
        parts=tuple(
            SplitPart(
                party=party,
                role=PartyRole(role),
                account=account,
                amount=Money.from_minor(minor, cur),
                refunded=Money.from_minor(refunded.get(party, 0), cur),
            )
            for party, role, account, minor in parts
        ),
        entry_seq=row.entry_seq,
        at=as_utc(row.at) if isinstance(row.at, datetime) else row.at,
    )
