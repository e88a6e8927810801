"""The double-entry ledger: accounts, balanced entries, holds, reversals, a hash chain.

Design, in short (docs/ledger.md has the long form):

* **Entries** have any number of legs; legs balance per currency. A leg is a
  signed integer of minor units (debit +, credit -) with a *flow*: posted,
  pending (a hold) or release (of a hold).
* **Two-phase transfers**: :meth:`Ledger.hold` reserves funds (pending
  debits count against the available balance), then :meth:`Ledger.post_pending`
  posts all or part of it, or :meth:`Ledger.void_pending` /
  :meth:`Ledger.expire_pending` releases it. A hold is resolved exactly once.
* **Idempotency** (TigerBeetle/Stripe semantics): every write carries a
  client key. The same key with the same request returns the original entry;
  with another request it raises :class:`IdempotencyConflictError`. A
  rejected request stores nothing, so it can be retried with the same key.
* **Corrections** only by reversal entries; the database refuses updates and
  deletes of entries and legs.
* **Balances** are running totals on the account row, and every leg stores
  the account's totals after it, so a balance now or as of any past time is
  one indexed lookup.
* **Hash chain**: each entry's hash covers the previous hash and the entry's
  content; :meth:`Ledger.verify` recomputes the chain and the balances.
* **Writers** of one tenant are serialised by the chain-head row lock
  (PostgreSQL) or the database write lock (SQLite, ``BEGIN IMMEDIATE``);
  each account update also checks a version number. Tenants write in parallel.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, TypeVar

from sqlalchemy import Connection, bindparam, func, insert, select, update

from finplug._errors import FinplugError
from finplug._ledger_schema import GUARD_DDL, accounts, chain, entries, ledger_metadata, postings
from finplug._money import Currency, Money, currency

__all__ = [
    "Account",
    "AccountNotFoundError",
    "AccountType",
    "Balance",
    "Entry",
    "EntryRequest",
    "IdempotencyConflictError",
    "Ledger",
    "LedgerError",
    "LedgerSession",
    "Leg",
    "OverdraftError",
    "PendingStateError",
    "VerifyReport",
    "install_ledger",
]

_T = TypeVar("_T")

GENESIS: Final = bytes(32)
_MAX_MINOR: Final = 2**63 - 1
_IN_CHUNK: Final = 500
#: Keys of the entries expire_pending writes (``expire:<hold seq>``); clients may not use it.
_EXPIRE_PREFIX: Final = "expire:"

POSTED, PENDING, RELEASE = 0, 1, 2


# ---------------------------------------------------------------- errors


class LedgerError(FinplugError):
    """A ledger request was refused; nothing was written."""


class AccountNotFoundError(LedgerError, LookupError):
    """No account has the given code."""


class IdempotencyConflictError(LedgerError):
    """The key was already used for a different request."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"idempotency key {key!r} was already used for a different request;"
            " use a new key for a new request"
        )


class OverdraftError(LedgerError):
    """The request would take an account past its overdraft policy (pending included)."""

    def __init__(self, account: str, available: Money, floor: Money) -> None:
        self.account = account
        self.available = available
        self.floor = floor
        super().__init__(
            f"the request would leave account {account!r} with {available} available"
            f" (posted minus pending); its overdraft policy allows no less than {floor}"
        )


class PendingStateError(LedgerError):
    """A hold cannot be posted, voided or expired in its current state."""


# ---------------------------------------------------------------- values


class AccountType(enum.StrEnum):
    """Account types and their normal side."""

    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def normal(self) -> Literal["debit", "credit"]:
        """``debit`` for assets and expenses, ``credit`` for the others."""
        return "debit" if self in (AccountType.ASSET, AccountType.EXPENSE) else "credit"


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of an entry: an account debited or credited with a positive amount."""

    account: str
    side: Literal["debit", "credit"]
    amount: Money

    @classmethod
    def debit(cls, account: str, amount: Money) -> Leg:
        """Debit ``account`` with ``amount``."""
        return cls(account, "debit", amount)

    @classmethod
    def credit(cls, account: str, amount: Money) -> Leg:
        """Credit ``account`` with ``amount``."""
        return cls(account, "credit", amount)


@dataclass(frozen=True, slots=True)
class EntryRequest:
    """A balanced entry to post: a client key, legs, and a description."""

    key: str
    legs: tuple[Leg, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Account:
    """An account's definition (balances come from :meth:`Ledger.balance`)."""

    code: str
    type: AccountType
    currency: Currency
    overdraft: Literal["none", "limit", "unlimited"]
    overdraft_limit: Money
    opened_at: datetime

    @property
    def normal(self) -> Literal["debit", "credit"]:
        """The account's normal side."""
        return self.type.normal


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's balances. ``posted`` is signed by the normal side."""

    account: str
    debits_posted: Money
    credits_posted: Money
    debits_pending: Money
    credits_pending: Money
    normal: Literal["debit", "credit"]

    @property
    def posted(self) -> Money:
        """Posted balance on the normal side (credits - debits for a credit account)."""
        if self.normal == "credit":
            return self.credits_posted - self.debits_posted
        return self.debits_posted - self.credits_posted

    @property
    def pending(self) -> Money:
        """Amount held against the account (pending on the side that reduces it)."""
        return self.debits_pending if self.normal == "credit" else self.credits_pending

    @property
    def available(self) -> Money:
        """Posted minus what is held: what can still be spent."""
        return self.posted - self.pending


@dataclass(frozen=True, slots=True)
class Entry:
    """A journal entry as stored."""

    seq: int
    key: str
    kind: Literal["posted", "pending", "post_pending", "void", "expire", "reversal"]
    legs: tuple[Leg, ...]
    description: str
    posted_at: datetime
    pending_seq: int | None = None
    reverses_seq: int | None = None
    timeout_at: datetime | None = None
    hash: bytes = b""
    released: tuple[Leg, ...] = ()
    """For post/void/expire: the pending legs this entry released."""


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What :meth:`Ledger.verify` found; ``ok`` only if nothing."""

    entries: int
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when the chain and every balance check out."""
        return not self.problems


# ---------------------------------------------------------------- install


def install_ledger(conn: Connection) -> None:
    """Create the ledger's tables, guards and chain head (idempotent).

    Run inside the tenant's storage transaction (its schema is the current one).
    Migrations call this; tests may call it directly.
    """
    ledger_metadata.create_all(conn)
    for ddl in GUARD_DDL.get(conn.dialect.name, []):
        conn.exec_driver_sql(ddl)
    if conn.execute(select(chain.c.id)).first() is None:
        conn.execute(insert(chain).values(id=1, seq=0, hash=GENESIS, posted_at=None))


# ---------------------------------------------------------------- internals


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every ledger time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _utc(value: datetime, what: str) -> datetime:
    """A time given to the ledger, in UTC.

    SQLite stores a datetime's wall-clock digits without its offset, so a
    time in another zone must be converted before it is stored or compared;
    a naive time is ambiguous and refused.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise LedgerError(f"{what} must be a timezone-aware datetime; got {value!r}")
    return value.astimezone(UTC)


def _check_text(value: str, what: str, max_length: int) -> None:
    """Refuse what one backend would store and the other reject (length, NUL)."""
    if len(value) > max_length or "\x00" in value:
        raise LedgerError(f"{what} must be at most {max_length} characters, without NUL")


class _AccountState:
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

    def __init__(self, row: Any) -> None:
        self.id: int = row.id
        self.code: str = row.code
        self.currency: Currency = currency(row.currency)
        self.normal: str = row.normal
        self.overdraft: str = row.overdraft
        self.limit: int = row.overdraft_limit
        self.debits_posted: int = row.debits_posted
        self.credits_posted: int = row.credits_posted
        self.debits_pending: int = row.debits_pending
        self.credits_pending: int = row.credits_pending
        self.version: int = row.version
        self.dirty = False

    def available(self) -> int:
        if self.normal == "credit":
            return self.credits_posted - self.debits_posted - self.debits_pending
        return self.debits_posted - self.credits_posted - self.credits_pending

    def apply(self, amount: int, flow: int) -> None:
        if flow == POSTED:
            if amount > 0:
                self.debits_posted += amount
            else:
                self.credits_posted -= amount
        elif flow == PENDING:
            if amount > 0:
                self.debits_pending += amount
            else:
                self.credits_pending -= amount
        elif amount < 0:  # release of a pending debit
            self.debits_pending += amount
        else:  # release of a pending credit
            self.credits_pending -= amount
        self.dirty = True

    def check(self) -> None:
        # The totals are BIGINT columns: refuse what they cannot hold.
        if (
            max(self.debits_posted, self.credits_posted, self.debits_pending, self.credits_pending)
            > _MAX_MINOR
        ):
            raise LedgerError(
                f"the request would take a total of account {self.code!r} past the ledger's"
                " 64-bit range"
            )
        if self.overdraft == "unlimited":
            return
        floor = -self.limit if self.overdraft == "limit" else 0
        available = self.available()
        if available < floor:
            cur = self.currency
            raise OverdraftError(
                self.code, Money.from_minor(available, cur), Money.from_minor(floor, cur)
            )


@dataclass(slots=True)
class _Op:
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
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()


def _legs_text(legs: Iterable[Leg]) -> str:
    return ";".join(
        f"{leg.account}:{leg.side}:{leg.amount.amount}:{leg.amount.currency.code}" for leg in legs
    )


def _entry_hash(
    prev: bytes,
    seq: int,
    key: str,
    kind: str,
    pending_seq: int | None,
    reverses_seq: int | None,
    description: str,
    posted_at: datetime,
    timeout_at: datetime | None,
    legs: Iterable[tuple[str, str, int, int]],
) -> bytes:
    h = hashlib.sha256(prev)
    head = "\x1f".join(
        (
            str(seq),
            key,
            kind,
            str(pending_seq),
            str(reverses_seq),
            description,
            posted_at.astimezone(UTC).isoformat(),
            timeout_at.astimezone(UTC).isoformat() if timeout_at else "",
        )
    )
    h.update(head.encode())
    for code, cur, amount, flow in legs:
        h.update(f"\x1e{code}\x1f{cur}\x1f{amount}\x1f{flow}".encode())
    return h.digest()


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


# ---------------------------------------------------------------- statements
# Built once: constructing a Core statement costs more than running it on SQLite.

_POSTING_COLS: Final = (
    "seq",
    "leg",
    "account_id",
    "currency",
    "amount",
    "flow",
    "posted_after",
    "debits_pending_after",
    "credits_pending_after",
)
_ENTRY_COLS: Final = (
    "seq",
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

_UPDATE_ACCOUNT: Final = (
    update(accounts)
    .where(accounts.c.id == bindparam("b_id"), accounts.c.version == bindparam("b_v"))
    .values(
        debits_posted=bindparam("b_dp"),
        credits_posted=bindparam("b_cp"),
        debits_pending=bindparam("b_dq"),
        credits_pending=bindparam("b_cq"),
        version=bindparam("b_v") + 1,
    )
)
_UPDATE_HEAD: Final = (
    update(chain)
    .where(chain.c.id == 1)
    .values(seq=bindparam("h_seq"), hash=bindparam("h_hash"), posted_at=bindparam("h_at"))
)
_SELECT_HEAD: Final = select(chain.c.seq, chain.c.hash, chain.c.posted_at).where(chain.c.id == 1)
_SELECT_HEAD_FOR_UPDATE: Final = _SELECT_HEAD.with_for_update()
_SELECT_KNOWN: Final = select(entries.c.key, entries.c.request_hash, entries.c.seq).where(
    entries.c.key.in_(bindparam("keys", expanding=True))
)
_SELECT_ACCOUNTS: Final = select(accounts).where(
    accounts.c.code.in_(bindparam("codes", expanding=True))
)
_SELECT_RESOLVED: Final = select(entries.c.pending_seq).where(
    entries.c.pending_seq.in_(bindparam("seqs", expanding=True))
)
_SELECT_REVERSED: Final = select(entries.c.reverses_seq).where(
    entries.c.reverses_seq.in_(bindparam("seqs", expanding=True))
)

#: Raw INSERT text per (dialect, schema): (postings, entries, is SQLite).
_RAW_INSERTS: dict[tuple[str, str | None], tuple[str, str, bool] | None] = {}


def _raw_inserts(conn: Connection) -> tuple[str, str, bool] | None:
    """The two big inserts as driver SQL, or None where the Core path must be used.

    Executed through the DBAPI cursor they skip SQLAlchemy's per-row parameter
    processing; values are passed as SQLAlchemy would have stored them.
    """
    dialect = conn.dialect
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(None)
    cache_key = (dialect.name, schema)
    try:
        return _RAW_INSERTS[cache_key]
    except KeyError:
        pass
    found: tuple[str, str, bool] | None = None
    if dialect.name in ("sqlite", "postgresql") and dialect.paramstyle in (
        "qmark",
        "format",
        "pyformat",
    ):
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        prep = dialect.identifier_preparer
        prefix = f"{prep.quote_schema(schema)}." if schema else ""

        def sql(table: Any, cols: Sequence[str]) -> str:
            return (
                f"INSERT INTO {prefix}{prep.quote(table.name)}"
                f" ({', '.join(prep.quote(c) for c in cols)})"
                f" VALUES ({', '.join([mark] * len(cols))})"
            )

        found = (
            sql(postings, _POSTING_COLS),
            sql(entries, _ENTRY_COLS),
            dialect.name == "sqlite",
        )
    _RAW_INSERTS[cache_key] = found
    return found


def _sqlite_datetime(value: datetime | None) -> str | None:
    """A datetime as SQLAlchemy's SQLite ``DateTime`` stores it (wall-clock digits)."""
    if value is None:
        return None
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


# ---------------------------------------------------------------- the ledger


class Ledger:
    """A tenant's ledger over one database connection factory.

    ``begin`` opens a transaction on the tenant's storage (see
    :meth:`finplug.TenantStorage.begin`); every public write runs in its own
    transaction unless called through a :class:`LedgerSession` that joins the
    caller's (payments use this to book in the same transaction as the
    payment record).
    """

    def __init__(
        self,
        begin: Callable[[], Any],
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._begin = begin
        self._clock = clock

    @contextmanager
    def session(self) -> Iterator[LedgerSession]:
        """One transaction for several ledger calls (commit on success)."""
        with self._begin() as conn:
            yield LedgerSession(conn, self._clock)

    def bind(self, conn: Connection) -> LedgerSession:
        """Ledger calls inside a transaction the caller owns."""
        return LedgerSession(conn, self._clock)

    def _run(self, fn: Callable[[LedgerSession], _T]) -> _T:
        # The transaction is ours: a refused request rolls all of it back, so
        # writes need no savepoint of their own.
        with self._begin() as conn:
            return fn(LedgerSession(conn, self._clock, savepoint=False))

    # Each method below opens its own transaction; see LedgerSession for docs.

    def open_account(
        self,
        code: str,
        type: AccountType | str,
        currency_code: str,
        *,
        overdraft: Literal["none", "limit", "unlimited"] = "none",
        overdraft_limit: Money | None = None,
    ) -> Account:
        """Open an account (idempotent for an identical definition)."""
        return self._run(
            lambda s: s.open_account(
                code, type, currency_code, overdraft=overdraft, overdraft_limit=overdraft_limit
            )
        )

    def account(self, code: str) -> Account:
        """An account's definition."""
        return self._run(lambda s: s.account(code))

    def post(self, key: str, legs: Sequence[Leg], description: str = "") -> Entry:
        """Post one balanced entry."""
        return self._run(lambda s: s.post(key, legs, description))

    def transfer(
        self, key: str, debit: str, credit: str, amount: Money, description: str = ""
    ) -> Entry:
        """Post a two-leg entry: debit one account, credit another."""
        return self._run(lambda s: s.transfer(key, debit, credit, amount, description))

    def post_batch(self, requests: Sequence[EntryRequest]) -> list[Entry]:
        """Post many entries in one transaction: all of them, or none."""
        return self._run(lambda s: s.post_batch(requests))

    def hold(
        self,
        key: str,
        debit: str,
        credit: str,
        amount: Money,
        *,
        timeout: timedelta | None = None,
        description: str = "",
    ) -> Entry:
        """Reserve ``amount``: a pending transfer from ``debit`` to ``credit``."""
        return self._run(
            lambda s: s.hold(key, debit, credit, amount, timeout=timeout, description=description)
        )

    def post_pending(self, key: str, pending_seq: int, amount: Money | None = None) -> Entry:
        """Post all (default) or part of a hold; the rest is released."""
        return self._run(lambda s: s.post_pending(key, pending_seq, amount))

    def void_pending(self, key: str, pending_seq: int) -> Entry:
        """Release a hold without posting anything."""
        return self._run(lambda s: s.void_pending(key, pending_seq))

    def expire_pending(self, now: datetime | None = None) -> list[Entry]:
        """Release every open hold whose timeout has passed."""
        return self._run(lambda s: s.expire_pending(now))

    def reverse(self, key: str, seq: int, description: str = "") -> Entry:
        """Post the reversal of a posted entry (its posted legs, sides swapped)."""
        return self._run(lambda s: s.reverse(key, seq, description))

    def balance(self, code: str, as_of: datetime | None = None) -> Balance:
        """Balances of an account, now or as of a past time."""
        return self._run(lambda s: s.balance(code, as_of))

    def entry(self, seq: int) -> Entry:
        """One entry by its sequence number."""
        return self._run(lambda s: s.entry(seq))

    def entries(self, after: int = 0, limit: int = 1000) -> list[Entry]:
        """Entries in chain order, after sequence number ``after``."""
        return self._run(lambda s: s.entries(after, limit))

    def open_holds(self) -> list[Entry]:
        """Holds not yet posted, voided or expired."""
        return self._run(lambda s: s.open_holds())

    def accounts(self) -> list[Account]:
        """Every account, by code."""
        return self._run(lambda s: s.accounts())

    def verify(self) -> VerifyReport:
        """Recompute the hash chain and every running balance."""
        return self._run(lambda s: s.verify())


class LedgerSession:
    """Ledger operations inside one open transaction (see :meth:`Ledger.session`).

    Each write runs in a savepoint (unless ``savepoint`` is false, when the
    transaction is the ledger's own): a refused request leaves the caller's
    transaction exactly as it was, even if the caller catches the error and
    commits.
    """

    def __init__(
        self, conn: Connection, clock: Callable[[], datetime], *, savepoint: bool = True
    ) -> None:
        self.conn = conn
        self._clock = clock
        self._savepoint = savepoint

    def _now(self) -> datetime:
        return _utc(self._clock(), "the ledger clock's time")

    # -- accounts ---------------------------------------------------------

    def open_account(
        self,
        code: str,
        type: AccountType | str,
        currency_code: str,
        *,
        overdraft: Literal["none", "limit", "unlimited"] = "none",
        overdraft_limit: Money | None = None,
    ) -> Account:
        """Open an account; opening an identical one again returns it, a different one raises."""
        self._lock_head()  # concurrent identical opens: the second sees the first's row
        kind = AccountType(type)
        cur = currency(currency_code)
        if not code or len(code) > 128 or "\x00" in code:
            raise LedgerError("account code must be 1 to 128 characters, without NUL")
        if overdraft not in ("none", "limit", "unlimited"):
            raise LedgerError("overdraft must be 'none', 'limit' or 'unlimited'")
        limit = overdraft_limit if overdraft_limit is not None else Money.zero(cur)
        if limit.currency is not cur or limit.amount < 0:
            raise LedgerError(f"overdraft_limit must be a non-negative amount in {cur.code}")
        if overdraft != "limit" and limit.amount:
            raise LedgerError("overdraft_limit is only meaningful with overdraft='limit'")
        existing = self.conn.execute(select(accounts).where(accounts.c.code == code)).first()
        if existing is None:
            self.conn.execute(
                insert(accounts).values(
                    code=code,
                    type=kind.value,
                    currency=cur.code,
                    normal=kind.normal,
                    overdraft=overdraft,
                    overdraft_limit=limit.minor_units,
                    debits_posted=0,
                    credits_posted=0,
                    debits_pending=0,
                    credits_pending=0,
                    version=0,
                    opened_at=self._now(),
                )
            )
            return self.account(code)
        found = self._account(existing)
        if (found.type, found.currency, found.overdraft, found.overdraft_limit) != (
            kind,
            cur,
            overdraft,
            limit,
        ):
            raise IdempotencyConflictError(f"account:{code}")
        return found

    def _account_row(self, code: str) -> Any:
        row = None
        if "\x00" not in code:  # no account has one; PostgreSQL would refuse the query
            row = self.conn.execute(select(accounts).where(accounts.c.code == code)).first()
        if row is None:
            raise AccountNotFoundError(f"no account {code!r}")
        return row

    @staticmethod
    def _account(row: Any) -> Account:
        cur = currency(row.currency)
        return Account(
            code=row.code,
            type=AccountType(row.type),
            currency=cur,
            overdraft=row.overdraft,
            overdraft_limit=Money.from_minor(row.overdraft_limit, cur),
            opened_at=_aware(row.opened_at),
        )

    def account(self, code: str) -> Account:
        """An account's definition; :class:`AccountNotFoundError` if none."""
        row = self._account_row(code)
        return self._account(row)

    def accounts(self) -> list[Account]:
        """Every account, by code."""
        rows = self.conn.execute(select(accounts).order_by(accounts.c.code))
        return [self._account(r) for r in rows]

    # -- writes -----------------------------------------------------------

    def post(self, key: str, legs: Sequence[Leg], description: str = "") -> Entry:
        """Post one balanced entry of any number of legs."""
        return self.post_batch([EntryRequest(key, tuple(legs), description)])[0]

    def transfer(
        self, key: str, debit: str, credit: str, amount: Money, description: str = ""
    ) -> Entry:
        """Post a two-leg entry: debit one account, credit another."""
        return self.post(key, [Leg.debit(debit, amount), Leg.credit(credit, amount)], description)

    def post_batch(self, requests: Sequence[EntryRequest]) -> list[Entry]:
        """Post many entries in this transaction: all or none."""
        ops = []
        for req in requests:
            legs = tuple(req.legs)
            ops.append(
                _Op(
                    "posted",
                    req.key,
                    _request_hash("post", _legs_text(legs), req.description),
                    req.description,
                    legs,
                )
            )
        return self._apply(ops)

    def hold(
        self,
        key: str,
        debit: str,
        credit: str,
        amount: Money,
        *,
        timeout: timedelta | None = None,
        description: str = "",
    ) -> Entry:
        """Reserve ``amount`` from ``debit`` to ``credit`` until posted, voided or expired."""
        legs = (Leg.debit(debit, amount), Leg.credit(credit, amount))
        if timeout is not None and timeout <= timedelta(0):
            raise LedgerError("a hold's timeout must be positive")
        op = _Op(
            "pending",
            key,
            _request_hash("hold", _legs_text(legs), description, timeout),
            description,
            legs,
            timeout_at=None if timeout is None else self._now() + timeout,
        )
        return self._apply([op])[0]

    def post_pending(self, key: str, pending_seq: int, amount: Money | None = None) -> Entry:
        """Post ``amount`` (default: all) of hold ``pending_seq``; release the rest."""
        op = _Op(
            "post_pending",
            key,
            _request_hash("post_pending", pending_seq, amount),
            pending_seq=pending_seq,
            amount=amount,
        )
        return self._apply([op])[0]

    def void_pending(self, key: str, pending_seq: int) -> Entry:
        """Release hold ``pending_seq`` without posting."""
        op = _Op("void", key, _request_hash("void", pending_seq), pending_seq=pending_seq)
        return self._apply([op])[0]

    def expire_pending(self, now: datetime | None = None) -> list[Entry]:
        """Release every open hold whose timeout is at or before ``now``."""
        moment = self._now() if now is None else _utc(now, "now")
        # Lock before looking: a hold resolved by a writer that commits while we
        # wait for the lock must not be in the list (it would refuse the batch).
        head = self._lock_head()
        resolved = entries.alias("resolved")
        rows = self.conn.execute(
            select(entries.c.seq)
            .where(
                entries.c.kind == "pending",
                entries.c.timeout_at.is_not(None),
                entries.c.timeout_at <= moment,
                ~select(resolved.c.seq).where(resolved.c.pending_seq == entries.c.seq).exists(),
            )
            .order_by(entries.c.seq)
        ).all()
        ops = [
            _Op(
                "expire",
                f"{_EXPIRE_PREFIX}{r.seq}",
                _request_hash("expire", r.seq),
                pending_seq=r.seq,
            )
            for r in rows
        ]
        return self._apply(ops, now=moment, head=head) if ops else []

    def reverse(self, key: str, seq: int, description: str = "") -> Entry:
        """Reverse posted entry ``seq`` (once); overdraft rules apply to the reversal."""
        op = _Op(
            "reversal",
            key,
            _request_hash("reverse", seq, description),
            description,
            reverses_seq=seq,
        )
        return self._apply([op])[0]

    # -- the write path ---------------------------------------------------

    def _lock_head(self) -> Any:
        query = _SELECT_HEAD_FOR_UPDATE if self.conn.dialect.name == "postgresql" else _SELECT_HEAD
        head = self.conn.execute(query).first()
        if head is None:
            raise LedgerError("the ledger is not installed in this tenant's storage")
        return head

    def _apply(self, ops: list[_Op], now: datetime | None = None, head: Any = None) -> list[Entry]:
        if not ops:
            return []
        conn = self.conn
        if head is None:
            head = self._lock_head()
        for op in ops:
            if not op.key or len(op.key) > 200 or "\x00" in op.key:
                raise LedgerError("an idempotency key must be 1 to 200 characters, without NUL")
            if op.kind != "expire" and op.key.startswith(_EXPIRE_PREFIX):
                raise LedgerError(
                    f"idempotency keys starting with {_EXPIRE_PREFIX!r} are reserved for"
                    " expire_pending"
                )
            if op.description:
                _check_text(op.description, "a description", 500)
        # 1. idempotency: replays return the stored entry; conflicts refuse the batch.
        known: dict[str, Any] = {}
        for chunk in _chunks([op.key for op in ops]):
            for row in conn.execute(_SELECT_KNOWN, {"keys": list(chunk)}):
                known[row.key] = row
        in_batch: dict[str, _Op] = {}
        fresh: list[_Op] = []
        for op in ops:
            prior = known.get(op.key)
            if prior is not None:
                if bytes(prior.request_hash) != op.request_hash:
                    raise IdempotencyConflictError(op.key)
                continue
            twin = in_batch.get(op.key)
            if twin is not None:
                if twin.request_hash != op.request_hash:
                    raise IdempotencyConflictError(op.key)
                continue
            in_batch[op.key] = op
            fresh.append(op)
        # 2. holds referenced by post/void/expire/reversal.
        refs = sorted({op.pending_seq or op.reverses_seq or 0 for op in fresh} - {0})
        referenced = self._load_entries(refs) if refs else {}
        resolved = self._resolved([op.pending_seq for op in fresh if op.pending_seq is not None])
        reversed_ = self._reversed([op.reverses_seq for op in fresh if op.reverses_seq is not None])
        # 3. expand each op into legs (code, signed minor units, flow).
        plans: list[list[tuple[str, Currency, int, int]]] = []
        for op in fresh:
            plans.append(self._expand(op, referenced, resolved, reversed_, now))
        # 4. accounts touched, in one query.
        codes = sorted({leg[0] for plan in plans for leg in plan})
        for code in codes:
            if "\x00" in code:  # no account has one; PostgreSQL would refuse the query
                raise AccountNotFoundError(f"no account {code!r}")
        state: dict[str, _AccountState] = {}
        for chunk in _chunks(codes):
            for row in conn.execute(_SELECT_ACCOUNTS, {"codes": list(chunk)}):
                state[row.code] = _AccountState(row)
        missing = [c for c in codes if c not in state]
        if missing:
            raise AccountNotFoundError(f"no account {missing[0]!r}")
        # 5. apply in order: running totals, overdraft checks, chain.
        seq, prev_hash = head.seq, bytes(head.hash)
        moment = max(
            now if now is not None else self._now(),
            _aware(head.posted_at) if head.posted_at else datetime.min.replace(tzinfo=UTC),
        )
        posting_rows: list[tuple[Any, ...]] = []
        entry_rows: list[tuple[Any, ...]] = []
        new_entries: dict[str, Entry] = {}
        for op, plan in zip(fresh, plans, strict=True):
            seq += 1
            touched: list[_AccountState] = []
            hash_legs = []
            for leg_no, (code, cur, amount, flow) in enumerate(plan):
                acct = state[code]
                if acct.currency is not cur:
                    raise LedgerError(
                        f"account {code!r} is in {acct.currency.code}, the leg is in {cur.code}"
                    )
                acct.apply(amount, flow)
                touched.append(acct)
                posting_rows.append(
                    (
                        seq,
                        leg_no,
                        acct.id,
                        cur.code,
                        amount,
                        flow,
                        acct.debits_posted - acct.credits_posted,
                        acct.debits_pending,
                        acct.credits_pending,
                    )
                )
                hash_legs.append((code, cur.code, amount, flow))
            for acct in touched:
                acct.check()
            digest = _entry_hash(
                prev_hash,
                seq,
                op.key,
                op.kind,
                op.pending_seq,
                op.reverses_seq,
                op.description,
                moment,
                op.timeout_at,
                hash_legs,
            )
            entry_rows.append(
                (
                    seq,
                    op.key,
                    op.request_hash,
                    op.kind,
                    op.pending_seq,
                    op.reverses_seq,
                    op.description,
                    moment,
                    op.timeout_at,
                    prev_hash,
                    digest,
                )
            )
            prev_hash = digest
            new_entries[op.key] = _entry_from_plan(seq, op, plan, moment, digest)
        # 6. write: accounts first (a stale version refuses the request before
        #    anything else is written), then legs (their FK to the entry is
        #    deferred), then entries (whose insert trigger checks the balance),
        #    then the head. In a caller's transaction this runs in a savepoint.
        if posting_rows:
            with conn.begin_nested() if self._savepoint else nullcontext():
                self._write(state, posting_rows, entry_rows, seq, prev_hash, moment)
        # 7. answer in request order: new entries, or the stored originals of replays.
        replay_seqs = [known[op.key].seq for op in ops if op.key in known]
        stored = self._load_entries(replay_seqs) if replay_seqs else {}
        out = []
        for op in ops:
            if op.key in new_entries:
                out.append(new_entries[op.key])
            else:
                out.append(stored[known[op.key].seq])
        return out

    def _write(
        self,
        state: dict[str, _AccountState],
        posting_rows: list[tuple[Any, ...]],
        entry_rows: list[tuple[Any, ...]],
        seq: int,
        head_hash: bytes,
        moment: datetime,
    ) -> None:
        conn = self.conn
        dirty = [a for a in state.values() if a.dirty]
        result = conn.execute(
            _UPDATE_ACCOUNT,
            [
                {
                    "b_id": a.id,
                    "b_v": a.version,
                    "b_dp": a.debits_posted,
                    "b_cp": a.credits_posted,
                    "b_dq": a.debits_pending,
                    "b_cq": a.credits_pending,
                }
                for a in dirty
            ],
        )
        if result.rowcount != len(dirty):
            raise LedgerError("an account changed concurrently; the request was not applied")
        raw = _raw_inserts(conn)
        if raw is None:
            conn.execute(
                insert(postings), [dict(zip(_POSTING_COLS, r, strict=True)) for r in posting_rows]
            )
            conn.execute(
                insert(entries), [dict(zip(_ENTRY_COLS, r, strict=True)) for r in entry_rows]
            )
        else:
            postings_sql, entries_sql, sqlite = raw
            if sqlite:
                entry_rows = [
                    (*r[:7], _sqlite_datetime(r[7]), _sqlite_datetime(r[8]), *r[9:])
                    for r in entry_rows
                ]
            conn.exec_driver_sql(postings_sql, posting_rows)
            conn.exec_driver_sql(entries_sql, entry_rows)
        conn.execute(_UPDATE_HEAD, {"h_seq": seq, "h_hash": head_hash, "h_at": moment})

    def _expand(
        self,
        op: _Op,
        referenced: dict[int, Entry],
        resolved: set[int],
        reversed_: set[int],
        now: datetime | None,
    ) -> list[tuple[str, Currency, int, int]]:
        if op.kind in ("posted", "pending"):
            return _signed_legs(op.legs, PENDING if op.kind == "pending" else POSTED)
        if op.kind == "reversal":
            target = referenced.get(op.reverses_seq or 0)
            if target is None:
                raise LedgerError(f"no entry {op.reverses_seq} to reverse")
            if target.kind not in ("posted", "post_pending"):
                raise LedgerError(
                    f"entry {target.seq} is a {target.kind} entry and cannot be reversed"
                )
            if target.seq in reversed_:
                raise LedgerError(f"entry {target.seq} has already been reversed")
            reversed_.add(target.seq)
            swapped = tuple(
                Leg(leg.account, "credit" if leg.side == "debit" else "debit", leg.amount)
                for leg in target.legs
            )
            return _signed_legs(swapped, POSTED)
        hold = referenced.get(op.pending_seq or 0)
        if hold is None or hold.kind != "pending":
            raise PendingStateError(f"no hold {op.pending_seq}")
        if hold.seq in resolved:
            raise PendingStateError(f"hold {hold.seq} is already posted, voided or expired")
        moment = now if now is not None else self._now()
        if op.kind == "post_pending" and hold.timeout_at is not None and moment >= hold.timeout_at:
            raise PendingStateError(f"hold {hold.seq} expired at {hold.timeout_at.isoformat()}")
        if op.kind == "expire" and (hold.timeout_at is None or moment < hold.timeout_at):
            raise PendingStateError(f"hold {hold.seq} has not expired")
        resolved.add(hold.seq)
        debit, credit = hold.legs
        release = [
            (debit.account, debit.amount.currency, -debit.amount.minor_units, RELEASE),
            (credit.account, credit.amount.currency, credit.amount.minor_units, RELEASE),
        ]
        if op.kind != "post_pending":
            return release
        amount = op.amount if op.amount is not None else debit.amount
        if amount.currency is not debit.amount.currency:
            raise LedgerError(
                f"the hold is in {debit.amount.currency.code}, not {amount.currency.code}"
            )
        if not 0 < amount.amount <= debit.amount.amount:
            raise PendingStateError(
                f"can post between 0 and {debit.amount} of hold {hold.seq}, not {amount}"
            )
        units = amount.minor_units
        return [
            *release,
            (debit.account, amount.currency, units, POSTED),
            (credit.account, amount.currency, -units, POSTED),
        ]

    # -- reads ------------------------------------------------------------

    def _resolved(self, seqs: list[int]) -> set[int]:
        found: set[int] = set()
        for chunk in _chunks(sorted(set(seqs))):
            found.update(self.conn.execute(_SELECT_RESOLVED, {"seqs": list(chunk)}).scalars())
        return found

    def _reversed(self, seqs: list[int]) -> set[int]:
        found: set[int] = set()
        for chunk in _chunks(sorted(set(seqs))):
            found.update(self.conn.execute(_SELECT_REVERSED, {"seqs": list(chunk)}).scalars())
        return found

    def _load_entries(self, seqs: Sequence[int]) -> dict[int, Entry]:
        out: dict[int, Entry] = {}
        for chunk in _chunks(sorted(set(seqs))):
            rows = self.conn.execute(select(entries).where(entries.c.seq.in_(chunk))).all()
            legs = self.conn.execute(
                select(postings, accounts.c.code)
                .join(accounts, accounts.c.id == postings.c.account_id)
                .where(postings.c.seq.in_(chunk))
                .order_by(postings.c.seq, postings.c.leg)
            ).all()
            by_seq: dict[int, list[Any]] = {}
            for leg in legs:
                by_seq.setdefault(leg.seq, []).append(leg)
            for row in rows:
                out[row.seq] = _entry_from_rows(row, by_seq.get(row.seq, []))
        return out

    def entry(self, seq: int) -> Entry:
        """One entry by sequence number; :class:`LedgerError` if none."""
        found = self._load_entries([seq])
        if seq not in found:
            raise LedgerError(f"no entry {seq}")
        return found[seq]

    def entries(self, after: int = 0, limit: int = 1000) -> list[Entry]:
        """Entries in chain order after ``after``, at most ``limit``."""
        seqs = (
            self.conn.execute(
                select(entries.c.seq)
                .where(entries.c.seq > after)
                .order_by(entries.c.seq)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        found = self._load_entries(seqs)
        return [found[s] for s in seqs]

    def open_holds(self) -> list[Entry]:
        """Holds not yet resolved, in chain order."""
        resolved = entries.alias("resolved")
        seqs = (
            self.conn.execute(
                select(entries.c.seq)
                .where(
                    entries.c.kind == "pending",
                    ~select(resolved.c.seq).where(resolved.c.pending_seq == entries.c.seq).exists(),
                )
                .order_by(entries.c.seq)
            )
            .scalars()
            .all()
        )
        found = self._load_entries(seqs)
        return [found[s] for s in seqs]

    def balance(self, code: str, as_of: datetime | None = None) -> Balance:
        """Balances now, or just after the last entry posted at or before ``as_of``."""
        row = self._account_row(code)
        cur = currency(row.currency)
        if as_of is None:
            dp, cp, dq, cq = (
                row.debits_posted,
                row.credits_posted,
                row.debits_pending,
                row.credits_pending,
            )
            return _balance(code, cur, row.normal, dp, cp, dq, cq)
        last_seq = self.conn.execute(
            select(func.max(entries.c.seq)).where(entries.c.posted_at <= _utc(as_of, "as_of"))
        ).scalar()
        leg = None
        if last_seq is not None:
            leg = self.conn.execute(
                select(
                    postings.c.posted_after,
                    postings.c.debits_pending_after,
                    postings.c.credits_pending_after,
                )
                .where(postings.c.account_id == row.id, postings.c.seq <= last_seq)
                .order_by(postings.c.seq.desc(), postings.c.leg.desc())
                .limit(1)
            ).first()
        if leg is None:
            return _balance(code, cur, row.normal, 0, 0, 0, 0)
        net = leg.posted_after
        return _balance(
            code,
            cur,
            row.normal,
            max(net, 0),
            max(-net, 0),
            leg.debits_pending_after,
            leg.credits_pending_after,
        )

    def verify(self) -> VerifyReport:
        """Walk the chain and recompute every account's totals from its legs."""
        problems: list[str] = []
        codes = {r.id: r.code for r in self.conn.execute(select(accounts.c.id, accounts.c.code))}
        prev = GENESIS
        count = 0
        totals: dict[int, list[int]] = {}
        last_seq = 0
        rows = self.conn.execute(select(entries).order_by(entries.c.seq))
        leg_rows = self.conn.execute(select(postings).order_by(postings.c.seq, postings.c.leg))
        legs_iter = itertools.groupby(leg_rows, key=lambda r: r.seq)
        pending_group = next(legs_iter, None)
        for row in rows:
            count += 1
            if row.seq != last_seq + 1:
                problems.append(f"entry {row.seq}: sequence gap after {last_seq}")
            last_seq = row.seq
            legs: list[Any] = []
            while pending_group is not None and pending_group[0] <= row.seq:
                if pending_group[0] == row.seq:
                    legs = list(pending_group[1])
                else:
                    problems.append(f"legs for missing entry {pending_group[0]}")
                pending_group = next(legs_iter, None)
            if bytes(row.prev_hash) != prev:
                problems.append(f"entry {row.seq}: previous hash does not match the chain")
            digest = _entry_hash(
                prev,
                row.seq,
                row.key,
                row.kind,
                row.pending_seq,
                row.reverses_seq,
                row.description,
                _aware(row.posted_at),
                _aware(row.timeout_at) if row.timeout_at else None,
                [
                    (codes.get(leg.account_id, "?"), leg.currency, leg.amount, leg.flow)
                    for leg in legs
                ],
            )
            if digest != bytes(row.hash):
                problems.append(f"entry {row.seq}: hash mismatch (content changed)")
            prev = bytes(row.hash)
            by_currency: dict[str, int] = {}
            for leg in legs:
                by_currency[leg.currency] = by_currency.get(leg.currency, 0) + leg.amount
                t = totals.setdefault(leg.account_id, [0, 0, 0, 0])
                _accumulate(t, leg.amount, leg.flow)
                if (t[0] - t[1], t[2], t[3]) != (
                    leg.posted_after,
                    leg.debits_pending_after,
                    leg.credits_pending_after,
                ):
                    problems.append(f"entry {row.seq} leg {leg.leg}: running totals are wrong")
            if any(by_currency.values()) or len(legs) < 2:
                problems.append(f"entry {row.seq}: legs do not balance")
        while pending_group is not None:
            problems.append(f"legs for missing entry {pending_group[0]}")
            pending_group = next(legs_iter, None)
        head = self.conn.execute(select(chain.c.seq, chain.c.hash)).first()
        if head is not None and (head.seq != last_seq or bytes(head.hash) != prev):
            problems.append("chain head does not match the last entry")
        for acct in self.conn.execute(select(accounts)):
            t = totals.get(acct.id, [0, 0, 0, 0])
            if t != [
                acct.debits_posted,
                acct.credits_posted,
                acct.debits_pending,
                acct.credits_pending,
            ]:
                problems.append(f"account {acct.code}: totals differ from its legs")
        return VerifyReport(entries=count, problems=tuple(problems))


def _accumulate(t: list[int], amount: int, flow: int) -> None:
    if flow == POSTED:
        t[0 if amount > 0 else 1] += abs(amount)
    elif flow == PENDING:
        t[2 if amount > 0 else 3] += abs(amount)
    elif amount < 0:
        t[2] += amount
    else:
        t[3] -= amount


def _signed_legs(legs: Sequence[Leg], flow: int) -> list[tuple[str, Currency, int, int]]:
    if len(legs) < 2:
        raise LedgerError("an entry needs at least two legs")
    sums: dict[str, int] = {}
    out = []
    for leg in legs:
        if not isinstance(leg.amount, Money):
            raise LedgerError("leg amounts must be Money")
        units = leg.amount.minor_units
        if units <= 0:
            raise LedgerError(f"leg amounts must be positive; got {leg.amount} on {leg.account!r}")
        if units > _MAX_MINOR:
            raise LedgerError(f"leg amount {leg.amount} exceeds the ledger's 64-bit range")
        signed = units if leg.side == "debit" else -units
        if leg.side not in ("debit", "credit"):
            raise LedgerError("a leg's side must be 'debit' or 'credit'")
        code = leg.amount.currency.code
        sums[code] = sums.get(code, 0) + signed
        out.append((leg.account, leg.amount.currency, signed, flow))
    unbalanced = {c: s for c, s in sums.items() if s}
    if unbalanced:
        detail = ", ".join(f"{c}: debits - credits = {s}" for c, s in sorted(unbalanced.items()))
        raise LedgerError(f"entry does not balance per currency ({detail} minor units)")
    return out


def _balance(code: str, cur: Currency, normal: str, dp: int, cp: int, dq: int, cq: int) -> Balance:
    return Balance(
        account=code,
        debits_posted=Money.from_minor(dp, cur),
        credits_posted=Money.from_minor(cp, cur),
        debits_pending=Money.from_minor(dq, cur),
        credits_pending=Money.from_minor(cq, cur),
        normal="credit" if normal == "credit" else "debit",
    )


def _legs_from_rows(rows: Sequence[Any], flows: set[int]) -> tuple[Leg, ...]:
    out = []
    for r in rows:
        if r.flow in flows:
            money = Money.from_minor(abs(r.amount), r.currency)
            out.append(Leg(r.code, "debit" if r.amount > 0 else "credit", money))
    return tuple(out)


def _entry_from_rows(row: Any, legs: Sequence[Any]) -> Entry:
    return Entry(
        seq=row.seq,
        key=row.key,
        kind=row.kind,
        legs=_legs_from_rows(legs, {POSTED, PENDING}),
        description=row.description,
        posted_at=_aware(row.posted_at),
        pending_seq=row.pending_seq,
        reverses_seq=row.reverses_seq,
        timeout_at=_aware(row.timeout_at) if row.timeout_at else None,
        hash=bytes(row.hash),
        released=tuple(
            Leg(leg.account, "credit" if leg.side == "debit" else "debit", leg.amount)
            for leg in _legs_from_rows(legs, {RELEASE})
        ),
    )


def _entry_from_plan(
    seq: int,
    op: _Op,
    plan: Sequence[tuple[str, Currency, int, int]],
    moment: datetime,
    digest: bytes,
) -> Entry:
    if op.kind in ("posted", "pending") and _reusable(op.legs):
        # The request's own legs are exactly what the plan encodes (and immutable).
        return Entry(
            seq=seq,
            key=op.key,
            kind=op.kind,  # type: ignore[arg-type]
            legs=op.legs,
            description=op.description,
            posted_at=moment,
            pending_seq=op.pending_seq,
            reverses_seq=op.reverses_seq,
            timeout_at=op.timeout_at,
            hash=digest,
        )

    def legs(flows: set[int], flip: bool = False) -> tuple[Leg, ...]:
        out = []
        for code, cur, amount, flow in plan:
            if flow in flows:
                debit = (amount > 0) != flip
                out.append(
                    Leg(code, "debit" if debit else "credit", Money.from_minor(abs(amount), cur))
                )
        return tuple(out)

    return Entry(
        seq=seq,
        key=op.key,
        kind=op.kind,  # type: ignore[arg-type]
        legs=legs({POSTED, PENDING}),
        description=op.description,
        posted_at=moment,
        pending_seq=op.pending_seq,
        reverses_seq=op.reverses_seq,
        timeout_at=op.timeout_at,
        hash=digest,
        released=legs({RELEASE}, flip=True),
    )


def _reusable(legs: tuple[Leg, ...]) -> bool:
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
