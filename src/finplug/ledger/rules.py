"""The posting rules, in pure Python: what a request means and whether the books allow it.

* A request becomes an :class:`Op`, with the hash that tells a replay of it
  from another request under the same key (:func:`fresh`).
* An op's legs become **pairs**, the transfer rows it is stored as
  (:func:`pairs`; :func:`legs_of` is the inverse): legs must balance per
  currency, be positive and fit the 64-bit columns. Holds, captures, voids,
  expiries and reversals are expanded from the entries they refer to
  (:func:`expand`), which must be in the right state.
* :class:`AccountState` carries an account's running totals through a
  batch; :meth:`AccountState.check` applies its overdraft policy.

No SQL here: :mod:`finplug.ledger.store` reads what the rules need and
writes what they produce.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from hashlib import sha256
from typing import Any, Final, NoReturn

from finplug._money import Currency, Money
from finplug._text import shorten
from finplug.ledger.checks import EXPIRE_PREFIX
from finplug.ledger.errors import (
    EntryKeyConflictError,
    LedgerError,
    OverdraftError,
    PendingStateError,
)
from finplug.ledger.values import MAX_MINOR, Entry, Leg

__all__ = [
    "NO_LEGS",
    "OWN_LEGS",
    "PENDING",
    "POSTED",
    "RELEASE",
    "AccountState",
    "Op",
    "Pair",
    "expand",
    "expiring",
    "fresh",
    "held",
    "legs_of",
    "move_pair",
    "named_codes",
    "pairs",
    "posted",
    "posting_hold",
    "reusable",
    "reversing",
    "voiding",
]

#: A transfer row's flow: a posted amount, a pending one (a hold), or the release of a hold.
POSTED, PENDING, RELEASE = 0, 1, 2
#: Legs are numbered in a SMALLINT column.
_MAX_LEGS: Final = 32767

NO_LEGS: Final[tuple[Leg, ...]] = ()
#: Entry kinds whose legs are the request's own.
OWN_LEGS: Final = frozenset({"posted", "pending"})


# ---------------------------------------------------------------- requests


@dataclass(slots=True)
class Op:
    """One checked request: its kind, key and request hash, and what it refers to."""

    kind: str
    key: str
    request_hash: bytes
    description: str = ""
    legs: tuple[Leg, ...] = ()
    pending_seq: int | None = None
    reverses_seq: int | None = None
    amount: Money | None = None
    timeout_at: datetime | None = None


def _request_hash(*parts: object) -> bytes:
    return sha256("\x1f".join(map(str, parts)).encode()).digest()


def _legs_text(legs: Iterable[Leg]) -> str:
    return ";".join(
        f"{leg.account}:{leg.side}:{leg.amount.amount}:{leg.amount.currency.code}" for leg in legs
    )


def posted(key: str, legs: tuple[Leg, ...], description: str) -> Op:
    """The op of a posted entry whose arguments were checked (see ``check_legs``)."""
    # _request_hash("post", _legs_text(legs), description), inlined: the hot path.
    if len(legs) == 2:
        a, b = legs
        am, bm = a.amount, b.amount
        text = (
            f"{a.account}:{a.side}:{am.amount}:{am.currency.code};"
            f"{b.account}:{b.side}:{bm.amount}:{bm.currency.code}"
        )
    else:
        text = _legs_text(legs)
    request_hash = sha256(f"post\x1f{text}\x1f{description}".encode()).digest()
    return Op("posted", key, request_hash, description, legs)


def held(
    key: str,
    legs: tuple[Leg, ...],
    description: str,
    timeout: timedelta | None,
    timeout_at: datetime | None,
) -> Op:
    """The op of a hold (``timeout_at``: when ``timeout`` runs out, by the ledger's clock)."""
    request_hash = _request_hash("hold", _legs_text(legs), description, timeout)
    return Op("pending", key, request_hash, description, legs, timeout_at=timeout_at)


def posting_hold(key: str, pending_seq: int, amount: Money | None) -> Op:
    """The op that posts ``amount`` (None: all) of hold ``pending_seq``."""
    request_hash = _request_hash("post_pending", pending_seq, amount)
    return Op("post_pending", key, request_hash, pending_seq=pending_seq, amount=amount)


def voiding(key: str, pending_seq: int) -> Op:
    """The op that releases hold ``pending_seq`` without posting."""
    return Op("void", key, _request_hash("void", pending_seq), pending_seq=pending_seq)


def expiring(pending_seq: int) -> Op:
    """The op that releases hold ``pending_seq`` when its timeout has passed (its own key)."""
    key = f"{EXPIRE_PREFIX}{pending_seq}"
    return Op("expire", key, _request_hash("expire", pending_seq), pending_seq=pending_seq)


def reversing(key: str, seq: int, description: str) -> Op:
    """The op that reverses posted entry ``seq``."""
    request_hash = _request_hash("reverse", seq, description)
    return Op("reversal", key, request_hash, description, reverses_seq=seq)


def fresh(ops: Sequence[Op], known: dict[str, tuple[bytes, int]]) -> list[Op]:
    """The ops to write: not replays of a stored key, nor of an earlier op of the batch.

    ``known`` maps the stored keys among the ops' to their request hash and
    entry. A key reused for another request refuses the whole batch
    (:class:`EntryKeyConflictError`).
    """
    in_batch: dict[str, Op] = {}
    out: list[Op] = []
    for op in ops:
        prior = known.get(op.key)
        if prior is not None:
            if prior[0] != op.request_hash:
                raise EntryKeyConflictError(op.key)
            continue
        twin = in_batch.get(op.key)
        if twin is not None:
            if twin.request_hash != op.request_hash:
                raise EntryKeyConflictError(op.key)
            continue
        in_batch[op.key] = op
        out.append(op)
    return out


def named_codes(ops: Sequence[Op]) -> list[str] | None:
    """The accounts that posted entries and holds name, sorted; None if another kind is there.

    Only a guess, to read them early: what the write path reads is decided
    later, from the checked plans (every code it needs must be among these).
    """
    codes = set()
    for op in ops:
        if op.kind not in OWN_LEGS:
            return None
        for leg in op.legs:
            code = leg.account
            if type(code) is not str or "\x00" in code:
                return None
            codes.add(code)
    return sorted(codes)


def reusable(legs: tuple[Leg, ...]) -> bool:
    """True when every leg is a plain Leg (plain str code and side) of plain Money."""
    for leg in legs:
        if (
            type(leg) is not Leg
            or type(leg.amount) is not Money
            or type(leg.account) is not str
            or type(leg.side) is not str
        ):
            return False
    return True


# ---------------------------------------------------------------- legs and pairs

#: One transfer row of a plan: debit code, credit code, currency, minor units
#: (positive), flow, and the debit and credit legs' places in the entry.
Pair = tuple[str, str, Currency, int, int, int, int]


def pairs(legs: Sequence[Leg], flow: int) -> list[Pair]:
    """Check an entry's legs and split them into transfer rows.

    Two legs, a debit then a credit of the same amount, are one row (the hot
    path). Otherwise the legs are grouped by currency (in order of first
    appearance) and matched in order, debits against credits, each row
    taking the smaller of what is left of both: deterministic, every leg in
    at least one row, at most one row fewer than the legs of a currency.
    """
    if len(legs) == 2:
        d, c = legs
        if d.side == "debit" and c.side == "credit":
            da, ca = d.amount, c.amount
            if (
                type(da) is Money
                and type(ca) is Money
                and da.currency is ca.currency
                and da.amount == ca.amount
            ):
                units = da.minor_units
                if 0 < units <= MAX_MINOR:
                    return [(d.account, c.account, da.currency, units, flow, 0, 1)]
    if len(legs) < 2:
        raise LedgerError("an entry needs at least two legs")
    if len(legs) > _MAX_LEGS:
        raise LedgerError(f"an entry has at most {_MAX_LEGS} legs")
    sums: dict[str, int] = {}
    groups: dict[str, tuple[Currency, list[list[Any]], list[list[Any]]]] = {}
    for index, leg in enumerate(legs):
        if not isinstance(leg.amount, Money):
            raise LedgerError("leg amounts must be Money")
        units = leg.amount.minor_units
        if units <= 0:
            raise LedgerError(
                f"leg amounts must be positive; got {leg.amount} on {shorten(leg.account)}"
            )
        if units > MAX_MINOR:
            raise LedgerError(f"leg amount {leg.amount} exceeds the ledger's 64-bit range")
        if leg.side not in ("debit", "credit"):
            raise LedgerError("a leg's side must be 'debit' or 'credit'")
        cur = leg.amount.currency
        code = cur.code
        group = groups.get(code)
        if group is None:
            group = groups[code] = (cur, [], [])
        if leg.side == "debit":
            sums[code] = sums.get(code, 0) + units
            group[1].append([index, leg.account, units])
        else:
            sums[code] = sums.get(code, 0) - units
            group[2].append([index, leg.account, units])
    unbalanced = {c: s for c, s in sums.items() if s}
    if unbalanced:
        detail = ", ".join(f"{c}: debits - credits = {s}" for c, s in sorted(unbalanced.items()))
        raise LedgerError(f"entry does not balance per currency ({detail} minor units)")
    out: list[Pair] = []
    for cur, debits, credits in groups.values():
        di = ci = 0
        while di < len(debits):
            debit, credit = debits[di], credits[ci]
            units = min(debit[2], credit[2])
            out.append((debit[1], credit[1], cur, units, flow, debit[0], credit[0]))
            debit[2] -= units
            credit[2] -= units
            if not debit[2]:
                di += 1
            if not credit[2]:
                ci += 1
    return out


def legs_of(pairs: Iterable[tuple[str, str, str | Currency, int, int, int]]) -> tuple[Leg, ...]:
    """Legs from transfer rows (debit, credit, currency, units, debit leg, credit leg).

    The inverse of :func:`pairs`: each leg is the sum of its rows, in leg order.
    """
    legs: dict[int, list[Any]] = {}
    for debit, credit, cur, units, dleg, cleg in pairs:
        for index, code, side in ((dleg, debit, "debit"), (cleg, credit, "credit")):
            found = legs.get(index)
            if found is None:
                legs[index] = [code, side, cur, units]
            else:
                found[3] += units
    return tuple(
        Leg(code, side, Money.from_minor(units, cur))
        for _, (code, side, cur, units) in sorted(legs.items())
    )


def expand(
    op: Op,
    referenced: dict[int, Entry],
    resolved: set[int],
    reversed_: set[int],
    now: Callable[[], datetime],
) -> list[Pair]:
    """An op's transfer rows, from its legs or from the entry it refers to.

    ``referenced`` holds the entries the batch refers to; ``resolved`` the
    holds already posted, voided or expired, and ``reversed_`` the entries
    already reversed (both updated for the ops that follow). ``now`` is
    asked for the time only when a hold's timeout matters.
    """
    if op.kind == "posted":
        return pairs(op.legs, POSTED)
    if op.kind == "pending":
        return pairs(op.legs, PENDING)
    if op.kind == "reversal":
        target = referenced.get(op.reverses_seq or 0)
        if target is None:
            raise LedgerError(f"no entry {op.reverses_seq} to reverse")
        if target.kind not in ("posted", "post_pending"):
            raise LedgerError(f"entry {target.seq} is a {target.kind} entry and cannot be reversed")
        if target.seq in reversed_:
            raise LedgerError(f"entry {target.seq} has already been reversed")
        reversed_.add(target.seq)
        swapped = tuple(
            Leg(leg.account, "credit" if leg.side == "debit" else "debit", leg.amount)
            for leg in target.legs
        )
        return pairs(swapped, POSTED)
    hold = referenced.get(op.pending_seq or 0)
    if hold is None or hold.kind != "pending":
        raise PendingStateError(f"no hold {op.pending_seq}")
    if hold.seq in resolved:
        raise PendingStateError(f"hold {hold.seq} is already posted, voided or expired")
    moment = now()
    if op.kind == "post_pending" and hold.timeout_at is not None and moment >= hold.timeout_at:
        raise PendingStateError(f"hold {hold.seq} expired at {hold.timeout_at.isoformat()}")
    if op.kind == "expire" and (hold.timeout_at is None or moment < hold.timeout_at):
        raise PendingStateError(f"hold {hold.seq} has not expired")
    resolved.add(hold.seq)
    debit, credit = hold.legs
    held = debit.amount
    release: Pair = (debit.account, credit.account, held.currency, held.minor_units, RELEASE, 0, 1)
    if op.kind != "post_pending":
        return [release]
    amount = op.amount if op.amount is not None else held
    if amount.currency is not held.currency:
        raise LedgerError(f"the hold is in {held.currency.code}, not {amount.currency.code}")
    if not 0 < amount.amount <= held.amount:
        raise PendingStateError(f"can post between 0 and {held} of hold {hold.seq}, not {amount}")
    return [
        release,
        (debit.account, credit.account, held.currency, amount.minor_units, POSTED, 0, 1),
    ]


# ---------------------------------------------------------------- accounts


class AccountState:
    """An account's running totals (minor units) through a batch, and its overdraft policy."""

    __slots__ = (
        "code",
        "credits_pending",
        "credits_posted",
        "currency",
        "debits_pending",
        "debits_posted",
        "dirty",
        "id",
        "limit",
        "normal",
        "overdraft",
        "version",
    )

    def __init__(self, row: Sequence[Any], cur: Currency) -> None:
        # ``row`` holds the columns of ACCOUNT_COLS (finplug.ledger.statements), in
        # order; ``cur`` is its currency's.
        self.id: int = row[0]
        self.code: str = row[1]
        self.currency: Currency = cur
        self.normal: str = row[3]
        self.overdraft: str = row[4]
        self.limit: int = row[5]
        self.debits_posted: int = row[6]
        self.credits_posted: int = row[7]
        self.debits_pending: int = row[8]
        self.credits_pending: int = row[9]
        self.version: int = row[10]
        self.dirty = False

    def available(self) -> int:
        """Posted minus pending, on the normal side (minor units)."""
        if self.normal == "credit":
            return self.credits_posted - self.debits_posted - self.debits_pending
        return self.debits_posted - self.credits_posted - self.credits_pending

    def check(self) -> None:
        """Refuse totals the 64-bit columns cannot hold, or below the overdraft policy."""
        if (
            self.debits_posted > MAX_MINOR
            or self.credits_posted > MAX_MINOR
            or self.debits_pending > MAX_MINOR
            or self.credits_pending > MAX_MINOR
        ):
            raise LedgerError(
                f"the request would take a total of account {shorten(self.code)} past the"
                " ledger's 64-bit range"
            )
        overdraft = self.overdraft
        if overdraft == "unlimited":
            return
        if self.normal == "credit":
            available = self.credits_posted - self.debits_posted - self.debits_pending
        else:
            available = self.debits_posted - self.credits_posted - self.credits_pending
        floor = -self.limit if overdraft == "limit" else 0
        if available < floor:
            cur = self.currency
            raise OverdraftError(
                self.code, Money.from_minor(available, cur), Money.from_minor(floor, cur)
            )


def move_pair(d: AccountState, c: AccountState, cur: Currency, units: int, flow: int) -> None:
    """Apply one debit/credit pair to both accounts' running totals (checked later)."""
    if d.currency is not cur or c.currency is not cur:
        _refuse_currency(d, c, cur)
    if flow == POSTED:
        d.debits_posted += units
        c.credits_posted += units
    elif flow == PENDING:
        d.debits_pending += units
        c.credits_pending += units
    else:  # the release of a hold
        d.debits_pending -= units
        c.credits_pending -= units
    d.dirty = c.dirty = True


def _refuse_currency(debit: AccountState, credit: AccountState, cur: Currency) -> NoReturn:
    other = debit if debit.currency is not cur else credit
    raise LedgerError(
        f"account {shorten(other.code)} is in {other.currency.code}, the leg is in {cur.code}"
    )
