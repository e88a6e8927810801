"""The ledger's rows: their layout, a batch of entries encoded as rows, and values read back.

An entry is stored as one or more rows of ``ledger_transfers`` (see
:mod:`finplug.ledger.schema`): each moves one positive amount from a debit
account to a credit account, carries both accounts' running totals just
after it, and the first (the *head*) carries the entry's own columns.

* :func:`encode` numbers a batch of planned entries, applies each row to its
  accounts' running totals, checks their overdraft policies, chains the
  hashes, and lays out the rows to write (the hot path: the hash text is
  built inline, as :mod:`finplug.ledger.chain` defines it).
* :func:`entries_of` rebuilds entries from stored rows; :func:`account_of`
  and :func:`balance_of` make an account's values from its row.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import Any, Final, NamedTuple

from finplug._money import Currency, Money, currency
from finplug._time import as_utc
from finplug.ledger.chain import hash_row
from finplug.ledger.rules import (
    NO_LEGS,
    OWN_LEGS,
    POSTED,
    RELEASE,
    AccountState,
    Op,
    Pair,
    legs_of,
    move_pair,
    reusable,
)
from finplug.ledger.values import Account, AccountType, Balance, Entry

__all__ = [
    "ACCOUNT_COLS",
    "PLAIN_COLS",
    "PLAIN_CONSTANTS",
    "TRANSFER_COLS",
    "Encoded",
    "StoredRow",
    "account_of",
    "balance_of",
    "encode",
    "entries_of",
    "sqlite_datetime",
    "stored_time",
]

#: The columns of ``ledger_transfers`` in the order the write path fills them.
TRANSFER_COLS: Final = (
    "seq",
    "pair",
    "pairs",
    "debit_id",
    "credit_id",
    "currency",
    "amount",
    "flow",
    "debit_leg",
    "credit_leg",
    "debit_posted_after",
    "debit_dpending_after",
    "debit_cpending_after",
    "credit_posted_after",
    "credit_dpending_after",
    "credit_cpending_after",
    "key",
    "request_hash",
    "kind",
    "pending_seq",
    "reverses_seq",
    "description",
    "posted_at",
    "timeout_at",
    "prev_hash",
    "hash",
)
#: SQLite: the columns bound for a *plain* transfer (a posted entry of one row,
#: the bulk of any ledger); the others are constants of such a row, written in
#: the statement (PLAIN_CONSTANTS) or left NULL (pending_seq, reverses_seq,
#: timeout_at). SQLite's binding costs per parameter: 17 instead of 26.
PLAIN_CONSTANTS: Final = {
    "pair": "0",
    "pairs": "1",
    "flow": str(POSTED),
    "debit_leg": "0",
    "credit_leg": "1",
    "kind": "'posted'",
}
PLAIN_COLS: Final = tuple(
    c
    for c in TRANSFER_COLS
    if c not in PLAIN_CONSTANTS and c not in ("pending_seq", "reverses_seq", "timeout_at")
)
#: The entry columns of a row after an entry's head.
_NO_ENTRY: Final = (None,) * (len(TRANSFER_COLS) - TRANSFER_COLS.index("key"))
#: The account columns the write path reads, in AccountState's order.
ACCOUNT_COLS: Final = (
    "id",
    "code",
    "currency",
    "normal",
    "overdraft",
    "overdraft_limit",
    "debits_posted",
    "credits_posted",
    "debits_pending",
    "credits_pending",
    "version",
)


# ---------------------------------------------------------------- writing


def sqlite_datetime(value: datetime | None) -> str | None:
    """A datetime as SQLAlchemy's SQLite ``DateTime`` stores it (wall-clock digits)."""
    if value is None:
        return None
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


def _totals_after(d: AccountState, c: AccountState) -> tuple[int, int, int, int, int, int]:
    """Both accounts' running totals just after a row: the ``*_after`` columns, in order."""
    return (
        d.debits_posted - d.credits_posted,
        d.debits_pending,
        d.credits_pending,
        c.debits_posted - c.credits_posted,
        c.debits_pending,
        c.credits_pending,
    )


def _pair_values(
    seq: int,
    pair_no: int,
    count: int,
    d: AccountState,
    c: AccountState,
    code: str,
    units: int,
    flow: int,
    dleg: int,
    cleg: int,
) -> tuple[Any, ...]:
    """A transfer row's pair columns, with both accounts' running totals just after it."""
    return (seq, pair_no, count, d.id, c.id, code, units, flow, dleg, cleg, *_totals_after(d, c))


def _entry_values(
    op: Op, stored_moment: Any, as_text: bool, prev_hash: bytes, digest: bytes
) -> tuple[Any, ...]:
    """The entry columns carried by an entry's first row (later rows carry ``_NO_ENTRY``)."""
    timeout_at = op.timeout_at
    return (
        op.key,
        op.request_hash,
        op.kind,
        op.pending_seq,
        op.reverses_seq,
        op.description,
        stored_moment,
        sqlite_datetime(timeout_at) if as_text else timeout_at,
        prev_hash,
        digest,
    )


@dataclass(slots=True)
class Encoded:
    """A batch laid out for writing: its rows, the new entries, and the chain's new head."""

    rows: list[tuple[Any, ...]]
    """Rows in :data:`TRANSFER_COLS` order."""
    plain: list[tuple[Any, ...]] | None
    """SQLite: plain transfers' rows in :data:`PLAIN_COLS` order (None: all go to ``rows``)."""
    entries: dict[str, Entry]
    """The new entries by key."""
    seq: int
    """The last entry's sequence number."""
    hash: bytes
    """The last entry's hash."""


def encode(
    ops: Sequence[Op],
    plans: Sequence[list[Pair]],
    state: dict[str, AccountState],
    head: tuple[int, bytes],
    moment: datetime,
    *,
    as_text: bool,
    plain: bool,
) -> Encoded:
    """Number, apply, check and hash ``ops`` (with their ``plans``) after the chain's ``head``.

    ``state`` holds every account the plans name, and is updated. Times are
    stored as SQLite's text when ``as_text``; ``plain`` puts plain
    transfers' rows apart (see :data:`PLAIN_COLS`). Raises what the rules
    raise (an overdraft, a currency mismatch) before anything is written.
    """
    seq, prev_hash = head
    posted_iso = as_utc(moment).isoformat()
    stored_moment = sqlite_datetime(moment) if as_text else moment
    rows: list[tuple[Any, ...]] = []
    plain_rows: list[tuple[Any, ...]] | None = [] if plain else None
    new_entries: dict[str, Entry] = {}
    for op, plan in zip(ops, plans, strict=True):
        seq += 1
        key, kind, timeout_at = op.key, op.kind, op.timeout_at
        timeout = as_utc(timeout_at).isoformat() if timeout_at else ""
        text = (
            f"{seq}\x1f{key}\x1f{kind}\x1f{op.pending_seq}\x1f{op.reverses_seq}"
            f"\x1f{op.description}\x1f{posted_iso}\x1f{timeout}"
        )
        if len(plan) == 1:  # the common case, one row: no lists to build
            dcode, ccode, cur, units, flow, dleg, cleg = plan[0]
            d = state[dcode]
            c = state[ccode]
            move_pair(d, c, cur, units, flow)
            d.check()
            c.check()
            code = cur.code
            # text + hash_row(...), inlined: the hot path.
            text = (
                f"{text}\x1e{dcode}\x1f{ccode}\x1f{code}\x1f{units}\x1f{flow}\x1f{dleg}\x1f{cleg}"
            )
            digest = sha256(prev_hash + text.encode()).digest()
            if plain_rows is not None and kind == "posted" and dleg == 0 and cleg == 1:
                plain_rows.append(
                    (
                        seq,
                        d.id,
                        c.id,
                        code,
                        units,
                        *_totals_after(d, c),
                        key,
                        op.request_hash,
                        op.description,
                        stored_moment,
                        prev_hash,
                        digest,
                    )
                )
            else:
                rows.append(
                    _pair_values(seq, 0, 1, d, c, code, units, flow, dleg, cleg)
                    + _entry_values(op, stored_moment, as_text, prev_hash, digest)
                )
        else:
            digest = _encode_rows(
                plan, state, rows, seq, text, prev_hash, op, stored_moment, as_text
            )
        prev_hash = digest
        if kind in OWN_LEGS and reusable(op.legs):
            # The request's own legs are exactly what the plan encodes (and immutable).
            legs, released = op.legs, NO_LEGS
        else:
            legs = legs_of(p[:4] + p[5:] for p in plan if p[4] != RELEASE)
            released = legs_of(p[:4] + p[5:] for p in plan if p[4] == RELEASE)
        new_entries[key] = Entry(
            seq,
            key,
            kind,  # type: ignore[arg-type]
            legs,
            op.description,
            moment,
            op.pending_seq,
            op.reverses_seq,
            timeout_at,
            digest,
            released,
        )
    return Encoded(rows, plain_rows, new_entries, seq, prev_hash)


def _encode_rows(
    plan: list[Pair],
    state: dict[str, AccountState],
    rows: list[tuple[Any, ...]],
    seq: int,
    text: str,
    prev_hash: bytes,
    op: Op,
    stored_moment: Any,
    as_text: bool,
) -> bytes:
    """An entry of several rows: apply, check, hash and append them; the entry's hash."""
    count = len(plan)
    parts: list[tuple[Any, ...]] = []
    touched: list[AccountState] = []
    for pair_no, (dcode, ccode, cur, units, flow, dleg, cleg) in enumerate(plan):
        d = state[dcode]
        c = state[ccode]
        move_pair(d, c, cur, units, flow)
        touched.append(d)
        touched.append(c)
        code = cur.code
        parts.append(_pair_values(seq, pair_no, count, d, c, code, units, flow, dleg, cleg))
        text += hash_row(dcode, ccode, code, units, flow, dleg, cleg)
    for acct in touched:  # overdraft rules apply to the entry as a whole
        acct.check()
    digest = sha256(prev_hash + text.encode()).digest()
    rows.append(parts[0] + _entry_values(op, stored_moment, as_text, prev_hash, digest))
    rows.extend((*part, *_NO_ENTRY) for part in parts[1:])
    return digest


# ---------------------------------------------------------------- reading


class StoredRow(NamedTuple):
    """A transfer row as entries are rebuilt from it, with its accounts' codes."""

    seq: int
    pair: int
    currency: str
    amount: int
    flow: int
    debit_leg: int
    credit_leg: int
    key: str | None
    kind: str | None
    description: str | None
    posted_at: datetime | str | None  # SQLite's text through the driver
    pending_seq: int | None
    reverses_seq: int | None
    timeout_at: datetime | str | None
    hash: bytes | None
    debit_code: str
    credit_code: str


def stored_time(value: datetime | str) -> datetime:
    """A time as read back: SQLite's text (through the driver) or naive datetime, in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value)


def entries_of(rows: Iterable[Sequence[Any]]) -> dict[int, Entry]:
    """Entries from their transfer rows (the ``rows`` lookup's, in (seq, pair) order)."""
    out: dict[int, Entry] = {}
    for seq, group in itertools.groupby(map(StoredRow._make, rows), key=_seq_of):
        found = list(group)
        if found[0].pair == 0:
            out[seq] = _entry_from_rows(found)
    return out


def _seq_of(row: StoredRow) -> int:
    return row.seq


def _entry_from_rows(rows: Sequence[StoredRow]) -> Entry:
    head = rows[0]
    # A head row carries its entry's columns (the database's check ck_ledger_transfers_head).
    assert head.key is not None
    assert head.posted_at is not None
    assert head.hash is not None
    main = [
        (r.debit_code, r.credit_code, r.currency, r.amount, r.debit_leg, r.credit_leg)
        for r in rows
        if r.flow != RELEASE
    ]
    release = [
        (r.debit_code, r.credit_code, r.currency, r.amount, r.debit_leg, r.credit_leg)
        for r in rows
        if r.flow == RELEASE
    ]
    return Entry(
        seq=head.seq,
        key=head.key,
        kind=head.kind,  # type: ignore[arg-type]
        legs=legs_of(main),
        description=head.description or "",
        posted_at=stored_time(head.posted_at),
        pending_seq=head.pending_seq,
        reverses_seq=head.reverses_seq,
        timeout_at=stored_time(head.timeout_at) if head.timeout_at else None,
        hash=bytes(head.hash),
        released=legs_of(release),
    )


def account_of(row: Any) -> Account:
    """An account's definition from its ``ledger_accounts`` row."""
    cur = currency(row.currency)
    return Account(
        code=row.code,
        type=AccountType(row.type),
        currency=cur,
        overdraft=row.overdraft,
        overdraft_limit=Money.from_minor(row.overdraft_limit, cur),
        opened_at=as_utc(row.opened_at),
    )


def balance_of(
    code: str, cur: Currency, normal: str, dp: int, cp: int, dq: int, cq: int
) -> Balance:
    """An account's :class:`Balance` from its totals in minor units."""
    return Balance(
        account=code,
        debits_posted=Money.from_minor(dp, cur),
        credits_posted=Money.from_minor(cp, cur),
        debits_pending=Money.from_minor(dq, cur),
        credits_pending=Money.from_minor(cq, cur),
        normal="credit" if normal == "credit" else "debit",
    )
