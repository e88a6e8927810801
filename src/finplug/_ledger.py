"""The double-entry ledger: accounts, balanced entries, holds, reversals, a hash chain.

Design, in short (docs/ledger.md has the long form):

* **Entries** have any number of legs; legs balance per currency. A leg is an
  account debited or credited with a positive amount; stored, each amount
  has a *flow*: posted, pending (a hold) or release (of a hold).
* **Two-phase transfers**: :meth:`Ledger.hold` reserves funds (pending
  debits count against the available balance), then :meth:`Ledger.post_pending`
  posts all or part of it, or :meth:`Ledger.void_pending` /
  :meth:`Ledger.expire_pending` releases it. A hold is resolved exactly once.
* **Idempotency** (TigerBeetle/Stripe semantics): every write carries a
  client key. The same key with the same request returns the original entry;
  with another request it raises :class:`IdempotencyConflictError`. A
  rejected request stores nothing, so it can be retried with the same key.
* **Corrections** only by reversal entries; the database refuses updates and
  deletes of the ledger's transfer rows.
* **Storage** is one row per debit/credit pair (``ledger_transfers``): a
  two-leg entry is one row, an entry of more legs is split into linked rows,
  each balanced by construction (see :mod:`finplug._ledger_schema`).
* **Balances** are running totals on the account row, and every transfer row
  stores both accounts' totals after it, so a balance now or as of any past
  time is one indexed lookup per side.
* **Hash chain**: each entry's hash covers the previous hash and the entry's
  content; each account's definition is hashed, chained in opening order,
  when it is opened; :meth:`Ledger.verify` recomputes both chains and the
  balances.
* **Checkpoints**: :meth:`Ledger.checkpoint` signs where both chains stand
  (sequence number and hash) with an HMAC-SHA256 key the caller holds; kept
  outside the database, a :class:`LedgerCheckpoint` lets
  ``verify(checkpoint=..., key=...)`` notice a chain cut short or rewritten.
* **Arguments** are checked before anything is read: a wrong type or value
  is a :class:`LedgerError` naming the argument and what was expected, and
  repeating at most a few dozen characters of what was given.
* **Writers** of one tenant are serialised by the chain-head row lock
  (PostgreSQL) or the database write lock (SQLite, ``BEGIN IMMEDIATE``);
  each account update also checks a version number. Tenants write in parallel.
* **The hot path** reads the keys and accounts of a whole batch in a few
  queries, checks and hashes in Python, then writes every account with one
  statement and every row with one ``executemany`` (SQLite) or ``COPY``
  (PostgreSQL).
"""

from __future__ import annotations

import enum
import hmac
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any, Final, Literal, NamedTuple, NoReturn, TypeVar

from pydantic import SecretBytes, SecretStr
from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.sql.elements import BindParameter

from finplug._errors import FinplugError, MoneyError
from finplug._fastsql import driver_cursor as _cursor
from finplug._ledger_schema import (
    ACCOUNT_CHAIN_GUARD_DDL,
    GUARD_DDL,
    account_chain,
    accounts,
    chain,
    ledger_metadata,
    transfers,
)
from finplug._money import Currency, Money, currency
from finplug._text import cut, shorten

__all__ = [
    "Account",
    "AccountNotFoundError",
    "AccountType",
    "Balance",
    "CheckpointError",
    "CheckpointKey",
    "Entry",
    "EntryRequest",
    "IdempotencyConflictError",
    "Ledger",
    "LedgerCheckpoint",
    "LedgerError",
    "LedgerSession",
    "Leg",
    "OverdraftError",
    "PendingStateError",
    "VerifyReport",
    "install_ledger",
    "record_account_definitions",
]

_T = TypeVar("_T")

GENESIS: Final = bytes(32)
_MAX_MINOR: Final = 2**63 - 1
_IN_CHUNK: Final = 500
#: Up to this many rows, PostgreSQL gets an INSERT: a COPY costs an extra round trip.
_FEW_ROWS: Final = 8
#: Legs are numbered in a SMALLINT column.
_MAX_LEGS: Final = 32767
#: Keys of the entries expire_pending writes (``expire:<hold seq>``); clients may not use it.
_EXPIRE_PREFIX: Final = "expire:"
_MAX_KEY: Final = 200
_MAX_CODE: Final = 128
_MAX_DESCRIPTION: Final = 500
#: The shortest HMAC key a checkpoint is signed with: SHA-256's output size (RFC 2104's floor).
_MIN_KEY_BYTES: Final = 32
#: A checkpoint's JSON is a few hundred characters: refuse anything far bigger unread.
_MAX_CHECKPOINT_JSON: Final = 4096
_CHECKPOINT_FORMAT: Final = "finplug-ledger-checkpoint/1"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")

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
        """The key, in full (the message shows its start)."""
        super().__init__(
            f"idempotency key {shorten(key)} was already used for a different request;"
            " use a new key for a new request"
        )


class OverdraftError(LedgerError):
    """The request would take an account past its overdraft policy (pending included)."""

    def __init__(self, account: str, available: Money, floor: Money) -> None:
        self.account = account
        self.available = available
        self.floor = floor
        super().__init__(
            f"the request would leave account {shorten(account)} with {available} available"
            f" (posted minus pending); its overdraft policy allows no less than {floor}"
        )


class PendingStateError(LedgerError):
    """A hold cannot be posted, voided or expired in its current state."""


class CheckpointError(LedgerError):
    """A checkpoint cannot be used: unreadable, signed with another key, or changed since.

    Also raised for an unusable key, and by :meth:`Ledger.checkpoint` for books
    that do not verify. The message never contains the key. (Books that no
    longer reach a good checkpoint are a finding, not an error: see
    :attr:`VerifyReport.problems`.)
    """


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


_TYPES: Final = frozenset(t.value for t in AccountType)


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


#: An HMAC key for checkpoints, as the platform's secrets hold it: at least
#: 32 bytes (a ``str`` counts as its UTF-8 bytes).
CheckpointKey = bytes | str | SecretStr | SecretBytes


def _key_bytes(key: object) -> bytes:
    """The key's bytes; :class:`CheckpointError` (never showing it) if it cannot be one."""
    secret = key.get_secret_value() if isinstance(key, SecretStr | SecretBytes) else key
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, bytes):
        raise CheckpointError(
            "key must be bytes or str (an HMAC key from the platform's secrets);"
            f" got {type(key).__name__}"
        )
    if len(secret) < _MIN_KEY_BYTES:
        raise CheckpointError(
            f"key must be at least {_MIN_KEY_BYTES} bytes (for example the 64 hex digits"
            " of `openssl rand -hex 32`); the key given is shorter"
        )
    return secret


@dataclass(frozen=True, slots=True)
class LedgerCheckpoint:
    """Where a ledger's chains stood, signed with an HMAC-SHA256 key: an anchor kept outside it.

    Made by :meth:`Ledger.checkpoint`; checked by ``Ledger.verify(checkpoint=...,
    key=...)``, which reports a problem when the entries no longer reach
    :attr:`seq` with :attr:`hash`, or the recorded account definitions no
    longer reach :attr:`accounts` with :attr:`accounts_hash`: the tail of a
    chain was cut (and its head rewound) or the chain was rewritten. Store
    it where whoever can write the database cannot (:meth:`to_json`,
    :meth:`from_json`); the key stays in the platform's secrets, never with it.
    """

    seq: int
    """The last entry covered (0: none yet)."""
    hash: bytes
    """That entry's chain hash (32 zero bytes when :attr:`seq` is 0)."""
    accounts: int
    """How many account definitions are covered, in opening order."""
    accounts_hash: bytes
    """The recorded hash of the last of them (32 zero bytes when there are none)."""
    taken_at: datetime
    """When it was taken, by the ledger's clock (UTC)."""
    signature: bytes
    """HMAC-SHA256 of the fields above under the key (not secret, but useless without it)."""

    @staticmethod
    def _message(
        seq: int, digest: bytes, accounts: int, accounts_hash: bytes, taken_at: datetime
    ) -> bytes:
        return "\x1f".join(
            (
                _CHECKPOINT_FORMAT,
                str(seq),
                digest.hex(),
                str(accounts),
                accounts_hash.hex(),
                _iso(taken_at),
            )
        ).encode()

    @classmethod
    def _signed(
        cls,
        key: bytes,
        seq: int,
        digest: bytes,
        accounts: int,
        accounts_hash: bytes,
        taken_at: datetime,
    ) -> LedgerCheckpoint:
        message = cls._message(seq, digest, accounts, accounts_hash, taken_at)
        signature = hmac.new(key, message, sha256).digest()
        return cls(seq, digest, accounts, accounts_hash, taken_at, signature)

    def _check_signature(self, key: bytes) -> None:
        """Raise :class:`CheckpointError` unless ``key`` signed exactly these fields."""
        try:
            message = self._message(
                self.seq, self.hash, self.accounts, self.accounts_hash, self.taken_at
            )
            good = isinstance(self.signature, bytes) and hmac.compare_digest(
                hmac.new(key, message, sha256).digest(), self.signature
            )
        except (AttributeError, TypeError, ValueError):  # fields of the wrong type
            good = False
        if not good:
            raise CheckpointError(
                f"checkpoint of entry {_show(self.seq)}: its signature does not match: it was"
                " signed with another key, or changed since it was signed"
            )

    def to_json(self) -> str:
        """The checkpoint as one line of JSON (hashes and signature in hex)."""
        return json.dumps(
            {
                "format": _CHECKPOINT_FORMAT,
                "seq": self.seq,
                "hash": self.hash.hex(),
                "accounts": self.accounts,
                "accounts_hash": self.accounts_hash.hex(),
                "taken_at": _iso(self.taken_at),
                "signature": self.signature.hex(),
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> LedgerCheckpoint:
        """Read what :meth:`to_json` wrote; :class:`CheckpointError` saying what is wrong.

        Only the form is checked here; the signature is checked against the
        key by :meth:`Ledger.verify`.
        """
        if not isinstance(text, str | bytes):
            raise CheckpointError(f"a checkpoint must be JSON text; got {type(text).__name__}")
        if len(text) > _MAX_CHECKPOINT_JSON:
            raise CheckpointError(
                f"a checkpoint is a few hundred characters of JSON; got {len(text)}"
            )
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise CheckpointError(f"a checkpoint must be JSON: {_show(str(exc))}") from None
        if not isinstance(data, dict):
            raise CheckpointError(f"a checkpoint must be a JSON object; got {_show(data)}")
        fields = {"format", "seq", "hash", "accounts", "accounts_hash", "taken_at", "signature"}
        if set(data) != fields:
            odd = sorted(set(data) ^ fields)
            raise CheckpointError(
                f"a checkpoint has exactly the fields {', '.join(sorted(fields))};"
                f" these are missing or unknown: {_show(', '.join(map(str, odd)))}"
            )
        if data["format"] != _CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"checkpoint format must be {_CHECKPOINT_FORMAT!r}; got {_show(data['format'])}"
            )
        counts = {}
        for name in ("seq", "accounts"):
            value = data[name]
            if type(value) is not int or not 0 <= value <= _MAX_MINOR:
                raise CheckpointError(
                    f"checkpoint {name} must be a whole number from 0; got {_show(value)}"
                )
            counts[name] = value
        digests = {}
        for name in ("hash", "accounts_hash", "signature"):
            value = data[name]
            if not isinstance(value, str) or not _HEX_DIGEST.fullmatch(value):
                raise CheckpointError(
                    f"checkpoint {name} must be 64 lower-case hex digits; got {_show(value)}"
                )
            digests[name] = bytes.fromhex(value)
        taken = data["taken_at"]
        try:
            taken_at = datetime.fromisoformat(taken) if isinstance(taken, str) else None
        except ValueError:
            taken_at = None
        if taken_at is None or taken_at.utcoffset() is None:
            raise CheckpointError(
                f"checkpoint taken_at must be an ISO 8601 time with its offset; got {_show(taken)}"
            )
        return cls(
            counts["seq"],
            digests["hash"],
            counts["accounts"],
            digests["accounts_hash"],
            taken_at.astimezone(UTC),
            digests["signature"],
        )

    def __repr__(self) -> str:
        return (
            f"LedgerCheckpoint(seq={self.seq}, hash={self.hash.hex()[:12]}…,"
            f" accounts={self.accounts}, taken_at={_iso(self.taken_at)})"
        )


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What :meth:`Ledger.verify` found; ``ok`` only if nothing."""

    entries: int
    """Entries walked."""
    problems: tuple[str, ...] = field(default=())
    """Everything that does not match, one line each."""
    accounts: int = 0
    """Accounts whose definitions were checked."""
    checkpoint: LedgerCheckpoint | None = None
    """The checkpoint the chains were checked against, if one was given."""

    @property
    def ok(self) -> bool:
        """True when the chains, every account definition and every balance check out."""
        return not self.problems


# ---------------------------------------------------------------- install


def install_ledger(conn: Connection) -> None:
    """Create the ledger's tables, guards and chain head (idempotent).

    Run inside the tenant's storage transaction (its schema is the current one).
    Migrations call this; tests may call it directly.
    """
    ledger_metadata.create_all(conn)
    dialect = conn.dialect.name
    for ddl in (*GUARD_DDL.get(dialect, []), *ACCOUNT_CHAIN_GUARD_DDL.get(dialect, [])):
        conn.exec_driver_sql(ddl)
    if conn.execute(select(chain.c.id)).first() is None:
        conn.execute(insert(chain).values(id=1, seq=0, hash=GENESIS, posted_at=None))


def record_account_definitions(conn: Connection) -> int:
    """Record the hash of every account definition not recorded yet; how many were.

    In account order, each chained to the previous recorded hash, as
    :meth:`LedgerSession.open_account` records a new one. Kernel revision
    0004 runs it once, for the accounts opened before definitions were
    recorded: it trusts them as they are then (verify the books before
    upgrading). Nothing else should: an account that shows up unrecorded
    later was not opened through the ledger, and :meth:`Ledger.verify`
    reports it.
    """
    recorded = {
        account_id: bytes(digest)
        for account_id, digest in conn.execute(
            select(account_chain.c.account_id, account_chain.c.hash)
        )
    }
    prev = GENESIS
    added = 0
    for row in conn.execute(select(accounts).order_by(accounts.c.id)).all():
        digest = recorded.get(row.id)
        if digest is None:
            digest = _definition_hash(prev, row)
            conn.execute(insert(account_chain).values(account_id=row.id, hash=digest))
            added += 1
        prev = digest
    return added


# ---------------------------------------------------------------- internals


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every ledger time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _utc(value: object, what: str) -> datetime:
    """A time given to the ledger, in UTC.

    SQLite stores a datetime's wall-clock digits without its offset, so a
    time in another zone must be converted before it is stored or compared;
    a naive time is ambiguous and refused.
    """
    if not isinstance(value, datetime):
        raise _bad(what, "a timezone-aware datetime", value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise LedgerError(f"{what} must be a timezone-aware datetime; got {value!r}")
    return value.astimezone(UTC)


# ---------------------------------------------------------------- arguments
# Each public method checks its arguments before it reads anything, so that a
# wrong one is a LedgerError naming it, never a TypeError or AttributeError
# from deep inside (or a driver's error). Messages repeat at most a few dozen
# characters of a value (finplug._text.shorten).

_MONEY: Final = "Money (for example Money('10.00', 'EUR'))"


def _show(value: object) -> str:
    """The start of ``value``'s repr, for a message; never raises, never costs much.

    (``repr`` of an int of more than 4,300 digits raises, and a caller's
    object may have a ``__repr__`` that does.)
    """
    if isinstance(value, int) and value.bit_length() > 256:
        return f"<an int of {value.bit_length()} bits>"
    try:
        return shorten(value)
    except Exception:  # a broken __repr__ must not hide the caller's real mistake
        return f"<a {type(value).__name__}>"


def _got(value: object) -> str:
    """What the caller passed, for a message: its type and the start of its repr."""
    return f"{type(value).__name__} {_show(value)}"


def _bad(name: str, expected: str, value: object) -> LedgerError:
    """The error for argument ``name``: what was expected, and what came instead."""
    return LedgerError(f"{name} must be {expected}; got {_got(value)}")


def _check_key(key: object, name: str = "key") -> str:
    """An idempotency key: a str of 1 to 200 characters, without NUL, not ``expire:...``."""
    if not isinstance(key, str):
        raise _bad(name, "an idempotency key (a str)", key)
    if not key or len(key) > _MAX_KEY or "\x00" in key:
        raise _bad(name, f"an idempotency key of 1 to {_MAX_KEY} characters, without NUL", key)
    if key.startswith(_EXPIRE_PREFIX):
        raise LedgerError(
            f"{name}: idempotency keys starting with {_EXPIRE_PREFIX!r} are reserved for"
            f" expire_pending; got {shorten(key)}"
        )
    return key


def _check_description(value: object, name: str = "description") -> str:
    """A description: a str of at most 500 characters, without NUL (both backends store it)."""
    if not isinstance(value, str):
        raise _bad(name, "a str", value)
    if len(value) > _MAX_DESCRIPTION or "\x00" in value:
        raise _bad(name, f"at most {_MAX_DESCRIPTION} characters, without NUL", value)
    return value


def _check_code(code: object, name: str) -> str:
    """An account code to look up (a str; one no account has is not found later)."""
    if not isinstance(code, str):
        raise _bad(name, "an account code (a str)", code)
    return code


def _check_money(value: object, name: str) -> Money:
    if not isinstance(value, Money):
        raise _bad(name, _MONEY, value)
    return value


def _check_int(value: object, name: str, expected: str, lowest: int) -> int:
    """A whole number from ``lowest`` that fits the ledger's 64-bit columns (bool is not one)."""
    if not isinstance(value, int) or isinstance(value, bool) or not lowest <= value <= _MAX_MINOR:
        raise _bad(name, expected, value)
    return value


def _check_seq(
    value: object, name: str, what: str = "entry", missing: type[LedgerError] = LedgerError
) -> int:
    """A sequence number: an int; one no entry can have is ``missing("no <what> <value>")``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(name, f"an {what}'s sequence number (an int)", value)
    if not 1 <= value <= _MAX_MINOR:
        raise missing(f"no {what} {_show(value)}")
    return value


def _check_legs(legs: Any, name: str) -> tuple[Leg, ...]:
    """A sequence of well-formed :class:`Leg` values, as a tuple (amounts are checked later)."""
    if type(legs) is tuple and len(legs) == 2:  # the hot path: a plain two-leg entry
        a, b = legs
        if (
            type(a) is Leg
            and type(b) is Leg
            and type(a.account) is str
            and type(b.account) is str
            and type(a.amount) is Money
            and type(b.amount) is Money
            and a.side == "debit"
            and b.side == "credit"
        ):
            return legs
    if isinstance(legs, str | bytes | Mapping | Leg):
        raise _bad(name, "a sequence of Leg", legs)
    try:
        found: tuple[Any, ...] = tuple(legs)
    except TypeError:
        raise _bad(name, "a sequence of Leg", legs) from None
    for index, leg in enumerate(found):
        where = f"{name}[{index}]"
        if not isinstance(leg, Leg):
            raise _bad(where, "a Leg (Leg.debit(code, amount) or Leg.credit(code, amount))", leg)
        _check_code(leg.account, f"{where}.account")
        if not isinstance(leg.side, str) or leg.side not in ("debit", "credit"):
            raise _bad(f"{where}.side", "'debit' or 'credit'", leg.side)
        _check_money(leg.amount, f"{where}.amount")
    return found


def _definition_hash(prev: bytes, row: Any) -> bytes:
    """An account definition's hash, chained to the previous account's recorded one.

    Covers every column of :data:`finplug._ledger_schema.DEFINITION_COLUMNS`,
    as read back from the database (so that verify recomputes exactly this).
    """
    text = (
        f"account\x1f{row.id}\x1f{row.code}\x1f{row.type}\x1f{row.currency}\x1f{row.normal}"
        f"\x1f{row.overdraft}\x1f{row.overdraft_limit}\x1f{_iso(_aware(row.opened_at))}"
    )
    return sha256(prev + text.encode()).digest()


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

    def __init__(self, row: Sequence[Any], cur: Currency) -> None:
        # ``row`` holds the columns of _ACCOUNT_COLS, in order; ``cur`` is its currency's.
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
        if self.normal == "credit":
            return self.credits_posted - self.debits_posted - self.debits_pending
        return self.debits_posted - self.credits_posted - self.credits_pending

    def check(self) -> None:
        # The totals are BIGINT columns: refuse what they cannot hold.
        if (
            self.debits_posted > _MAX_MINOR
            or self.credits_posted > _MAX_MINOR
            or self.debits_pending > _MAX_MINOR
            or self.credits_pending > _MAX_MINOR
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


#: One transfer row of a plan: debit code, credit code, currency, minor units
#: (positive), flow, and the debit and credit legs' places in the entry.
_Pair = tuple[str, str, Currency, int, int, int, int]


def _request_hash(*parts: object) -> bytes:
    return sha256("\x1f".join(map(str, parts)).encode()).digest()


def _legs_text(legs: Iterable[Leg]) -> str:
    return ";".join(
        f"{leg.account}:{leg.side}:{leg.amount.amount}:{leg.amount.currency.code}" for leg in legs
    )


def _posted(key: str, legs: tuple[Leg, ...], description: str) -> _Op:
    """The op of a posted entry whose arguments were checked (see :func:`_check_legs`)."""
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
    return _Op("posted", key, request_hash, description, legs)


def _hash_head(
    seq: int,
    key: str,
    kind: str,
    pending_seq: int | None,
    reverses_seq: int | None,
    description: str,
    posted_at: str,
    timeout_at: datetime | None,
) -> str:
    """The entry's own fields as the hash chain covers them.

    The write path builds the same text inline (with :func:`_hash_row`'s for
    each row); :meth:`LedgerSession.verify` recomputes it with these two.
    """
    timeout = timeout_at.astimezone(UTC).isoformat() if timeout_at else ""
    return (
        f"{seq}\x1f{key}\x1f{kind}\x1f{pending_seq}\x1f{reverses_seq}\x1f{description}"
        f"\x1f{posted_at}\x1f{timeout}"
    )


def _hash_row(debit: str, credit: str, cur: str, amount: int, flow: int, dl: int, cl: int) -> str:
    """One transfer row as the hash chain covers it."""
    return f"\x1e{debit}\x1f{credit}\x1f{cur}\x1f{amount}\x1f{flow}\x1f{dl}\x1f{cl}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def _pairs(legs: Sequence[Leg], flow: int) -> list[_Pair]:
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
                if 0 < units <= _MAX_MINOR:
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
        if units > _MAX_MINOR:
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
    out: list[_Pair] = []
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


# ---------------------------------------------------------------- statements
# Built once: constructing a Core statement costs more than running it on SQLite.

#: The columns of ``ledger_transfers`` in the order the write path fills them.
_TRANSFER_COLS: Final = (
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
_SELECT_HEAD_FOR_SHARE: Final = _SELECT_HEAD.with_for_update(read=True)
_VALUES: Final[BindParameter[Any]] = bindparam("values", expanding=True)
_SELECT_KNOWN: Final = select(transfers.c.key, transfers.c.request_hash, transfers.c.seq).where(
    transfers.c.key.in_(_VALUES)
)
#: SQLite: the columns bound for a *plain* transfer (a posted entry of one row,
#: the bulk of any ledger); the others are constants of such a row, written in
#: the statement (_PLAIN_CONSTANTS) or left NULL (pending_seq, reverses_seq,
#: timeout_at). SQLite's binding costs per parameter: 17 instead of 26.
_PLAIN_CONSTANTS: Final = {
    "pair": "0",
    "pairs": "1",
    "flow": str(POSTED),
    "debit_leg": "0",
    "credit_leg": "1",
    "kind": "'posted'",
}
_PLAIN_COLS: Final = tuple(
    c
    for c in _TRANSFER_COLS
    if c not in _PLAIN_CONSTANTS and c not in ("pending_seq", "reverses_seq", "timeout_at")
)
#: The account columns the write path reads, in _AccountState's order.
_ACCOUNT_COLS: Final = (
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
_SELECT_ACCOUNTS: Final = select(*(accounts.c[c] for c in _ACCOUNT_COLS)).where(
    accounts.c.code.in_(_VALUES)
)
_SELECT_RESOLVED: Final = select(transfers.c.pending_seq).where(
    transfers.c.pending_seq.in_(_VALUES)
)
_SELECT_REVERSED: Final = select(transfers.c.reverses_seq).where(
    transfers.c.reverses_seq.in_(_VALUES)
)


class _StoredRow(NamedTuple):
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


_debit_account = accounts.alias("debit_account")
_credit_account = accounts.alias("credit_account")
_SELECT_ROWS: Final = (
    select(
        *(transfers.c[c] for c in _StoredRow._fields[:-2]),
        _debit_account.c.code.label("debit_code"),
        _credit_account.c.code.label("credit_code"),
    )
    .select_from(
        transfers.join(_debit_account, _debit_account.c.id == transfers.c.debit_id).join(
            _credit_account, _credit_account.c.id == transfers.c.credit_id
        )
    )
    .where(transfers.c.seq.in_(_VALUES))
    .order_by(transfers.c.seq, transfers.c.pair)
)
_HEADS: Final = transfers.c.pair == 0

#: The reads by a list of values (see LedgerSession._fetch).
_Lookup = Literal["keys", "codes", "rows", "resolved", "reversed"]
_CORE_LOOKUPS: Final[dict[str, Any]] = {
    "keys": _SELECT_KNOWN,
    "codes": _SELECT_ACCOUNTS,
    "rows": _SELECT_ROWS,
    "resolved": _SELECT_RESOLVED,
    "reversed": _SELECT_REVERSED,
}


@dataclass(frozen=True, slots=True)
class _RawSql:
    """The write path's statements as driver SQL for one (dialect, schema)."""

    sqlite: bool
    insert_rows: str  # INSERT ... VALUES (one row)
    insert_plain: str | None  # SQLite: the same for a plain transfer's row, see _PLAIN_COLS
    copy_rows: str | None  # PostgreSQL: COPY ... FROM STDIN (binary), for many rows
    copy_types: tuple[str, ...]  # the PostgreSQL types of _TRANSFER_COLS, for binary COPY
    update_accounts: str
    update_account: str  # PostgreSQL: one account, for a pipeline of single writes
    select_head: str  # the chain head, locked on PostgreSQL
    update_head: str
    #: Per _Lookup, the SQL for that many values (one array parameter on PostgreSQL).
    lookups: dict[str, Callable[[int], str]]


_RAW: dict[tuple[str, str, str | None], _RawSql | None] = {}


def _raw_sql(conn: Connection) -> _RawSql | None:
    """The hot statements as driver SQL, or None where the Core path must be used.

    Executed through the DBAPI cursor they skip SQLAlchemy's per-row parameter
    processing; values are passed as SQLAlchemy would have stored them.
    """
    dialect = conn.dialect
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(None)
    cache_key = (dialect.name, dialect.driver, schema)
    try:
        return _RAW[cache_key]
    except KeyError:
        pass
    found: _RawSql | None = None
    prep = dialect.identifier_preparer
    prefix = f"{prep.quote_schema(schema)}." if schema else ""
    table = f"{prefix}{prep.quote(transfers.name)}"
    cols = ", ".join(prep.quote(c) for c in _TRANSFER_COLS)
    ncols = len(_TRANSFER_COLS)
    head_table = f"{prefix}{prep.quote(chain.name)}"
    head_select = f"SELECT seq, hash, posted_at FROM {head_table}"
    head_update = f"UPDATE {head_table} SET seq"
    accounts_table = f"{prefix}{prep.quote(accounts.name)}"
    account_cols = ", ".join(prep.quote(c) for c in _ACCOUNT_COLS)
    stored_cols = ", ".join(f"t.{prep.quote(c)}" for c in _StoredRow._fields[:-2])
    # Each lookup: the query up to "<column>", whether the column is unique, the
    # PostgreSQL array type of the values, and what follows the condition.
    lookups: dict[str, tuple[str, bool, str, str]] = {
        "keys": (f"SELECT key, request_hash, seq FROM {table} WHERE key", True, "text", ""),
        "codes": (f"SELECT {account_cols} FROM {accounts_table} WHERE code", True, "text", ""),
        "rows": (
            f"SELECT {stored_cols}, d.code AS debit_code, c.code AS credit_code FROM {table} AS t"
            f" JOIN {accounts_table} AS d ON d.id = t.debit_id"
            f" JOIN {accounts_table} AS c ON c.id = t.credit_id WHERE t.seq",
            False,
            "bigint",
            " ORDER BY seq, pair",
        ),
        "resolved": (f"SELECT pending_seq FROM {table} WHERE pending_seq", True, "bigint", ""),
        "reversed": (f"SELECT reverses_seq FROM {table} WHERE reverses_seq", True, "bigint", ""),
    }
    if dialect.name == "sqlite" and dialect.paramstyle == "qmark":
        marks = ", ".join("?" * ncols)

        def in_list(query: str, after: str) -> Callable[[int], str]:
            return lambda count: f"{query} IN ({', '.join('?' * count)}){after}"

        plain_cols = ", ".join(prep.quote(c) for c in (*_PLAIN_COLS, *_PLAIN_CONSTANTS))
        plain_values = ", ".join(["?"] * len(_PLAIN_COLS) + list(_PLAIN_CONSTANTS.values()))
        found = _RawSql(
            sqlite=True,
            insert_rows=f"INSERT INTO {table} ({cols}) VALUES ({marks})",
            insert_plain=f"INSERT INTO {table} ({plain_cols}) VALUES ({plain_values})",
            copy_rows=None,
            copy_types=(),
            update_accounts=(
                f"UPDATE {prefix}{prep.quote(accounts.name)} SET debits_posted = ?,"
                " credits_posted = ?, debits_pending = ?, credits_pending = ?,"
                " version = version + 1 WHERE id = ? AND version = ?"
            ),
            update_account="",
            select_head=f"{head_select} WHERE id = 1",
            update_head=f"{head_update} = ?, hash = ?, posted_at = ? WHERE id = 1",
            lookups={name: in_list(query, after) for name, (query, _, _, after) in lookups.items()},
        )
    elif dialect.name == "postgresql" and dialect.driver == "psycopg":
        found = _RawSql(
            sqlite=False,
            insert_rows=f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * ncols)})",
            insert_plain=None,
            copy_rows=f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)",
            copy_types=tuple(_PG_TYPES[type(transfers.c[c].type)] for c in _TRANSFER_COLS),
            # Arrays go as binary parameters (%b): psycopg encodes a list for the
            # text format value by value (~5 ms for a batch's six lists of ~900).
            update_accounts=(
                f"UPDATE {prefix}{prep.quote(accounts.name)} AS a SET debits_posted = v.dp,"
                " credits_posted = v.cp, debits_pending = v.dq, credits_pending = v.cq,"
                " version = a.version + 1"
                " FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[],"
                " %b::int[], %b::int[]) AS v(dp, cp, dq, cq, id, version)"
                " WHERE a.id = v.id AND a.version = v.version"
            ),
            update_account=(
                f"UPDATE {prefix}{prep.quote(accounts.name)} SET debits_posted = %s,"
                " credits_posted = %s, debits_pending = %s, credits_pending = %s,"
                " version = version + 1 WHERE id = %s AND version = %s"
            ),
            select_head=f"{head_select} WHERE id = 1 FOR UPDATE",
            update_head=f"{head_update} = %s, hash = %s, posted_at = %s WHERE id = 1",
            lookups={
                name: _probe(query, unique, array, after)
                for name, (query, unique, array, after) in lookups.items()
            },
        )
    _RAW[cache_key] = found
    return found


#: PostgreSQL type names of the transfer columns' types, for binary COPY (which
#: sends each value in its column's own binary format: ~2 us less per row to
#: encode than text).
_PG_TYPES: Final[dict[type, str]] = {
    BigInteger: "int8",
    SmallInteger: "int2",
    Integer: "int4",
    String: "varchar",
    LargeBinary: "bytea",
    DateTime: "timestamptz",
}


def _pg_values(values: Sequence[Any]) -> tuple[Any]:
    """The parameter of a PostgreSQL lookup (see :func:`_probe`): one value, or a list."""
    return (values[0],) if len(values) == 1 else (list(values),)


def _head_of(row: Sequence[Any] | None) -> tuple[int, bytes, datetime | None]:
    """The chain head's row as (sequence number, hash, time)."""
    if row is None:
        raise LedgerError("the ledger is not installed in this tenant's storage")
    seq, digest, at = row
    return seq, bytes(digest), None if at is None else _stored_time(at)


def _named_codes(ops: Sequence[_Op]) -> list[str] | None:
    """The accounts that posted entries and holds name, sorted; None if another kind is there.

    Only a guess, to read them early: what the write path reads is decided
    later, from the checked plans (every code it needs must be among these).
    """
    codes = set()
    for op in ops:
        if op.kind not in _OWN_LEGS:
            return None
        for leg in op.legs:
            code = leg.account
            if type(code) is not str or "\x00" in code:
                return None
            codes.add(code)
    return sorted(codes)


def _probe(query: str, unique: bool, array: str, after: str) -> Callable[[int], str]:
    """PostgreSQL: ``query``'s rows whose column is one of a list.

    ``column = ANY(list)`` leaves the plan to the statistics: a table that grew
    since it was last analysed (a new tenant's, within its first minutes) is
    scanned whole for every batch. A ``LATERAL`` subquery with ``LIMIT 1`` (a
    unique column) or ``OFFSET 0`` cannot be flattened into a join, so each
    value is one lookup in the column's index whatever the statistics say. The
    list is a binary parameter (see ``update_accounts``).
    """
    limit = "LIMIT 1" if unique else "OFFSET 0"
    many = (
        f"SELECT f.* FROM unnest(%b::{array}[]) AS v(value)"
        f" CROSS JOIN LATERAL ({query} = v.value {limit}) AS f{after}"
    )
    # One value or a few (single writes): quicker to plan, and an index lookup
    # on any table big enough for it to matter, whatever its statistics.
    one = f"{query} = %s{after}"
    few = f"{query} = ANY(%s::{array}[]){after}"
    return lambda count: one if count == 1 else few if count <= _FEW_ROWS else many


def _pair_values(
    seq: int,
    pair_no: int,
    count: int,
    d: _AccountState,
    c: _AccountState,
    code: str,
    units: int,
    flow: int,
    dleg: int,
    cleg: int,
) -> tuple[Any, ...]:
    """A transfer row's pair columns, with both accounts' running totals just after it."""
    return (seq, pair_no, count, d.id, c.id, code, units, flow, dleg, cleg, *_totals_after(d, c))


def _account_updates(dirty: list[_AccountState]) -> list[tuple[int, ...]]:
    """The parameters of one-account updates: the new totals, then the id and old version."""
    return [
        (a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending, a.id, a.version)
        for a in dirty
    ]


def _totals_after(d: _AccountState, c: _AccountState) -> tuple[int, int, int, int, int, int]:
    """Both accounts' running totals just after a row: the ``*_after`` columns, in order."""
    return (
        d.debits_posted - d.credits_posted,
        d.debits_pending,
        d.credits_pending,
        c.debits_posted - c.credits_posted,
        c.debits_pending,
        c.credits_pending,
    )


def _entry_values(
    op: _Op, stored_moment: Any, as_text: bool, prev_hash: bytes, digest: bytes
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
        _sqlite_datetime(timeout_at) if as_text else timeout_at,
        prev_hash,
        digest,
    )


def _move_pair(d: _AccountState, c: _AccountState, cur: Currency, units: int, flow: int) -> None:
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


def _refuse_currency(debit: _AccountState, credit: _AccountState, cur: Currency) -> NoReturn:
    other = debit if debit.currency is not cur else credit
    raise LedgerError(
        f"account {shorten(other.code)} is in {other.currency.code}, the leg is in {cur.code}"
    )


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

    def bind(self, conn: Connection, *, savepoint: bool = True) -> LedgerSession:
        """Ledger calls inside a transaction the caller owns.

        Each write runs in a savepoint, so a refused write leaves the caller's
        transaction usable. A caller that rolls its whole transaction back on
        any ledger error passes ``savepoint=False`` and saves the savepoint's
        round trips on every write.
        """
        return LedgerSession(conn, self._clock, savepoint=savepoint)

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

    def verify(
        self,
        *,
        checkpoint: LedgerCheckpoint | None = None,
        key: CheckpointKey | None = None,
    ) -> VerifyReport:
        """Recompute both hash chains and every running balance (against a checkpoint, if given)."""
        return self._run(lambda s: s.verify(checkpoint=checkpoint, key=key))

    def checkpoint(
        self, key: CheckpointKey, *, previous: LedgerCheckpoint | None = None
    ) -> LedgerCheckpoint:
        """Verify the books (against ``previous``, if given) and sign where their chains stand."""
        return self._run(lambda s: s.checkpoint(key, previous=previous))


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
        """Open an account; opening an identical one again returns it, a different one raises.

        A new account's definition is immutable (the database refuses to
        change it) and its hash is recorded, chained to the previous
        account's, for :meth:`verify` to check.
        """
        if not isinstance(code, str):
            raise _bad("code", "an account code (a str of 1 to 128 characters)", code)
        if not code or len(code) > _MAX_CODE or "\x00" in code:
            raise _bad("code", f"1 to {_MAX_CODE} characters, without NUL", code)
        try:
            kind = AccountType(type)
        except ValueError:
            known = ", ".join(t.value for t in AccountType)
            raise _bad("type", f"an account type, one of {known}", type) from None
        try:
            cur = currency(currency_code)
        except MoneyError as exc:  # with what Money says is wrong with it, cut short
            raise LedgerError(
                "currency_code must be an ISO 4217 currency code such as 'EUR';"
                f" got {_got(currency_code)} ({cut(str(exc), 80)})"
            ) from exc
        if not isinstance(overdraft, str) or overdraft not in ("none", "limit", "unlimited"):
            raise _bad("overdraft", "'none', 'limit' or 'unlimited'", overdraft)
        if overdraft_limit is not None:
            _check_money(overdraft_limit, "overdraft_limit")
        limit = overdraft_limit if overdraft_limit is not None else Money.zero(cur)
        if limit.currency is not cur or limit.amount < 0:
            raise LedgerError(
                f"overdraft_limit must be a non-negative amount in {cur.code}; got {limit}"
            )
        if overdraft != "limit" and limit.amount:
            raise LedgerError("overdraft_limit is only meaningful with overdraft='limit'")
        # Concurrent identical opens: the second sees the first's row. The lock
        # also orders new accounts, whose recorded hashes form a chain.
        self._lock_head()
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
            # The definition as stored (and as verify reads it) is what is hashed.
            row = self._account_row(code)
            last = self.conn.execute(
                select(account_chain.c.hash).order_by(account_chain.c.account_id.desc()).limit(1)
            ).scalar()
            digest = _definition_hash(GENESIS if last is None else bytes(last), row)
            self.conn.execute(insert(account_chain).values(account_id=row.id, hash=digest))
            return self._account(row)
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
        # No account has a NUL (PostgreSQL would refuse the query) or is longer.
        if "\x00" not in code and len(code) <= _MAX_CODE:
            row = self.conn.execute(select(accounts).where(accounts.c.code == code)).first()
        if row is None:
            raise AccountNotFoundError(f"no account {shorten(code)}")
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
        row = self._account_row(_check_code(code, "code"))
        return self._account(row)

    def accounts(self) -> list[Account]:
        """Every account, by code."""
        rows = self.conn.execute(select(accounts).order_by(accounts.c.code))
        return [self._account(r) for r in rows]

    # -- writes -----------------------------------------------------------

    def post(self, key: str, legs: Sequence[Leg], description: str = "") -> Entry:
        """Post one balanced entry of any number of legs."""
        checked = _check_legs(legs, "legs")
        op = _posted(_check_key(key), checked, _check_description(description))
        return self._apply([op])[0]

    def transfer(
        self, key: str, debit: str, credit: str, amount: Money, description: str = ""
    ) -> Entry:
        """Post a two-leg entry: debit one account, credit another."""
        legs = (
            Leg.debit(_check_code(debit, "debit"), _check_money(amount, "amount")),
            Leg.credit(_check_code(credit, "credit"), amount),
        )
        op = _posted(_check_key(key), legs, _check_description(description))
        return self._apply([op])[0]

    def post_batch(self, requests: Sequence[EntryRequest]) -> list[Entry]:
        """Post many entries in this transaction: all or none."""
        if isinstance(requests, str | bytes | Mapping | EntryRequest):
            raise _bad("requests", "a sequence of EntryRequest", requests)
        try:
            items = iter(requests)
        except TypeError:
            raise _bad("requests", "a sequence of EntryRequest", requests) from None
        ops = []
        for index, req in enumerate(items):
            if type(req) is not EntryRequest and not isinstance(req, EntryRequest):
                raise _bad(f"requests[{index}]", "an EntryRequest", req)
            key, description = req.key, req.description
            # The checks' common case inline (the hot path); the functions say what is wrong.
            if (
                type(key) is not str
                or not key
                or len(key) > _MAX_KEY
                or "\x00" in key
                or key.startswith(_EXPIRE_PREFIX)
            ):
                _check_key(key, f"requests[{index}].key")
            if type(description) is not str or (
                description and (len(description) > _MAX_DESCRIPTION or "\x00" in description)
            ):
                _check_description(description, f"requests[{index}].description")
            legs = _check_legs(req.legs, f"requests[{index}].legs")
            ops.append(_posted(key, legs, description))
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
        _check_key(key)
        legs = (
            Leg.debit(_check_code(debit, "debit"), _check_money(amount, "amount")),
            Leg.credit(_check_code(credit, "credit"), amount),
        )
        _check_description(description)
        if timeout is not None and not isinstance(timeout, timedelta):
            raise _bad("timeout", "a timedelta (or None: no timeout)", timeout)
        if timeout is not None and timeout <= timedelta(0):
            raise LedgerError(f"a hold's timeout must be positive; got {timeout}")
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
        _check_key(key)
        _check_seq(pending_seq, "pending_seq", "hold", PendingStateError)
        if amount is not None:
            _check_money(amount, "amount")
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
        _check_key(key)
        _check_seq(pending_seq, "pending_seq", "hold", PendingStateError)
        op = _Op("void", key, _request_hash("void", pending_seq), pending_seq=pending_seq)
        return self._apply([op])[0]

    def expire_pending(self, now: datetime | None = None) -> list[Entry]:
        """Release every open hold whose timeout is at or before ``now``."""
        moment = self._now() if now is None else _utc(now, "now")
        # Lock before looking: a hold resolved by a writer that commits while we
        # wait for the lock must not be in the list (it would refuse the batch).
        head = self._lock_head()
        rows = self.conn.execute(_open_holds(moment)).all()
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
        _check_key(key)
        _check_seq(seq, "seq")
        _check_description(description)
        op = _Op(
            "reversal",
            key,
            _request_hash("reverse", seq, description),
            description,
            reverses_seq=seq,
        )
        return self._apply([op])[0]

    # -- the write path ---------------------------------------------------

    def _lock_head(self) -> tuple[int, bytes, datetime | None]:
        """The chain head (sequence number, hash, time), locked until the transaction ends.

        PostgreSQL locks the row; on SQLite the transaction holds the write lock.
        """
        raw = _raw_sql(self.conn)
        row: Any
        if raw is None:
            postgres = self.conn.dialect.name == "postgresql"
            row = self.conn.execute(_SELECT_HEAD_FOR_UPDATE if postgres else _SELECT_HEAD).first()
        else:
            with _cursor(self.conn) as cursor:
                cursor.execute(raw.select_head)
                row = cursor.fetchone()
        return _head_of(row)

    def _read_pipelined(
        self, raw: _RawSql, keys: list[str], codes: list[str] | None
    ) -> tuple[tuple[int, bytes, datetime | None], list[Any], list[Any] | None]:
        """PostgreSQL, a few requests: lock the head, read the keys (and ``codes``'s accounts).

        One round trip (psycopg's pipeline) for what :meth:`_lock_head` and
        two :meth:`_fetch` calls would send one by one. The server runs the
        statements in order, each with a snapshot taken when it starts, so the
        keys and accounts are read after the head's lock is held, as before.
        """
        with _cursor(self.conn) as cursor:
            driver = cursor.connection
            known = driver.cursor()
            found = driver.cursor() if codes else None
            try:
                with driver.pipeline():
                    cursor.execute(raw.select_head)
                    known.execute(raw.lookups["keys"](len(keys)), _pg_values(keys))
                    if found is not None and codes:
                        found.execute(raw.lookups["codes"](len(codes)), _pg_values(codes))
                head = _head_of(cursor.fetchone())
                return head, known.fetchall(), None if found is None else found.fetchall()
            finally:
                known.close()
                if found is not None:
                    found.close()

    def _fetch(
        self, raw: _RawSql | None, name: _Lookup, values: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """Rows whose column matches one of ``values``: a hot read, as plain tuples.

        Through the DBAPI cursor where there is driver SQL (SQLAlchemy's
        result rows cost more than the query on SQLite); Core otherwise.
        Sorted ``values`` give the ``rows`` lookup's rows in (seq, pair) order.
        """
        if raw is None:
            core = _CORE_LOOKUPS[name]
            found: list[tuple[Any, ...]] = []
            for chunk in _chunks(values):
                found.extend(tuple(r) for r in self.conn.execute(core, {"values": list(chunk)}))
            return found
        sql = raw.lookups[name]
        with _cursor(self.conn) as cursor:
            if not raw.sqlite:
                cursor.execute(sql(len(values)), _pg_values(values))
                return list(cursor.fetchall())
            found = []
            for chunk in _chunks(values):
                cursor.execute(sql(len(chunk)), tuple(chunk))
                found.extend(cursor.fetchall())
            return found

    def _fetch_together(
        self, raw: _RawSql | None, wanted: list[tuple[_Lookup, list[Any]]]
    ) -> list[list[Any]]:
        """Several :meth:`_fetch` lookups (none for an empty list): the rows of each.

        PostgreSQL runs two or more short ones in one round trip (psycopg's
        pipeline; each statement reads with its own snapshot, as one by one).
        """
        out: list[list[Any]] = [[] for _ in wanted]
        todo = [(i, name, values) for i, (name, values) in enumerate(wanted) if values]
        if (
            raw is None
            or raw.sqlite
            or len(todo) < 2
            or any(len(values) > _FEW_ROWS for _, _, values in todo)
        ):
            for i, name, values in todo:
                out[i] = self._fetch(raw, name, values)
            return out
        with _cursor(self.conn) as cursor:
            driver = cursor.connection
            cursors = [driver.cursor() for _ in todo]
            try:
                with driver.pipeline():
                    for each, (_, name, values) in zip(cursors, todo, strict=True):
                        each.execute(raw.lookups[name](len(values)), _pg_values(values))
                for each, (i, _, _) in zip(cursors, todo, strict=True):
                    out[i] = each.fetchall()
            finally:
                for each in cursors:
                    each.close()
        return out

    def _apply(
        self,
        ops: list[_Op],
        now: datetime | None = None,
        head: tuple[int, bytes, datetime | None] | None = None,
    ) -> list[Entry]:
        if not ops:
            return []
        conn = self.conn
        # Keys and descriptions were checked by the public methods (expire_pending makes its own).
        keys = [op.key for op in ops]
        raw = _raw_sql(conn)
        named: list[str] | None = None  # accounts read with the keys, if any
        named_rows: list[Any] | None = None
        if head is None and raw is not None and not raw.sqlite and len(ops) <= _FEW_ROWS:
            named = _named_codes(ops)
            head, key_rows, named_rows = self._read_pipelined(raw, keys, named)
        else:
            if head is None:
                head = self._lock_head()
            key_rows = self._fetch(raw, "keys", keys)
        # 1. idempotency: replays return the stored entry; conflicts refuse the batch.
        known: dict[str, tuple[bytes, int]] = {
            key: (bytes(request_hash), seq) for key, request_hash, seq in key_rows
        }
        in_batch: dict[str, _Op] = {}
        fresh: list[_Op] = []
        for op in ops:
            prior = known.get(op.key)
            if prior is not None:
                if prior[0] != op.request_hash:
                    raise IdempotencyConflictError(op.key)
                continue
            twin = in_batch.get(op.key)
            if twin is not None:
                if twin.request_hash != op.request_hash:
                    raise IdempotencyConflictError(op.key)
                continue
            in_batch[op.key] = op
            fresh.append(op)
        # 2. holds and entries referenced by post/void/expire/reversal.
        others = [op for op in fresh if op.kind != "posted"]
        refs = sorted({op.pending_seq or op.reverses_seq or 0 for op in others} - {0})
        holds = sorted({op.pending_seq for op in others if op.pending_seq is not None})
        targets = sorted({op.reverses_seq for op in others if op.reverses_seq is not None})
        ref_rows, resolved_rows, reversed_rows = self._fetch_together(
            raw, [("rows", refs), ("resolved", holds), ("reversed", targets)]
        )
        referenced = _entries_of(ref_rows)
        resolved = {r[0] for r in resolved_rows}
        reversed_ = {r[0] for r in reversed_rows}
        # 3. expand each op into transfer rows (debit, credit, currency, units, flow, legs),
        # 4. and collect the accounts they touch, to read in one query.
        plans = []
        wanted = set()
        for op in fresh:
            if op.kind == "posted":
                plan = _pairs(op.legs, POSTED)
            else:
                plan = self._expand(op, referenced, resolved, reversed_, now)
            plans.append(plan)
            for pair in plan:
                wanted.add(pair[0])
                wanted.add(pair[1])
        codes = sorted(wanted)
        for code in codes:
            if "\x00" in code:  # no account has one; PostgreSQL would refuse the query
                raise AccountNotFoundError(f"no account {shorten(code)}")
        if named_rows is None or named is None or not wanted.issubset(named):
            named_rows = self._fetch(raw, "codes", codes)
        state: dict[str, _AccountState] = {}
        currencies: dict[str, Currency] = {}
        for row in named_rows:
            cur = currencies.get(row[2])
            if cur is None:
                cur = currencies[row[2]] = currency(row[2])
            state[row[1]] = _AccountState(row, cur)
        missing = [c for c in codes if c not in state]
        if missing:
            raise AccountNotFoundError(f"no account {shorten(missing[0])}")
        # 5. apply in order: running totals, overdraft checks, chain.
        seq, prev_hash, last_at = head
        moment = max(
            now if now is not None else self._now(),
            last_at if last_at is not None else datetime.min.replace(tzinfo=UTC),
        )
        posted_iso = _iso(moment)
        as_text = raw is not None and raw.sqlite
        stored_moment = _sqlite_datetime(moment) if as_text else moment
        rows: list[tuple[Any, ...]] = []
        # SQLite: the rows of plain transfers, in _PLAIN_COLS (else they go to ``rows``).
        plain: list[tuple[Any, ...]] | None = [] if raw and raw.insert_plain else None
        new_entries: dict[str, Entry] = {}
        for op, plan in zip(fresh, plans, strict=True):
            seq += 1
            key, kind, timeout_at = op.key, op.kind, op.timeout_at
            text = (
                f"{seq}\x1f{key}\x1f{kind}\x1f{op.pending_seq}\x1f{op.reverses_seq}"
                f"\x1f{op.description}\x1f{posted_iso}\x1f{_iso(timeout_at) if timeout_at else ''}"
            )
            if len(plan) == 1:  # the common case, one row: no lists to build
                dcode, ccode, cur, units, flow, dleg, cleg = plan[0]
                d = state[dcode]
                c = state[ccode]
                _move_pair(d, c, cur, units, flow)
                d.check()
                c.check()
                code = cur.code
                # text + _hash_row(...), inlined: the hot path.
                text = (
                    f"{text}\x1e{dcode}\x1f{ccode}\x1f{code}\x1f{units}"
                    f"\x1f{flow}\x1f{dleg}\x1f{cleg}"
                )
                digest = sha256(prev_hash + text.encode()).digest()
                if plain is not None and kind == "posted" and dleg == 0 and cleg == 1:
                    plain.append(
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
                digest = self._rows_of(
                    plan, state, rows, seq, text, prev_hash, op, stored_moment, as_text
                )
            prev_hash = digest
            if kind in _OWN_LEGS and _reusable(op.legs):
                # The request's own legs are exactly what the plan encodes (and immutable).
                legs, released = op.legs, _NO_LEGS
            else:
                legs = _legs_of(p[:4] + p[5:] for p in plan if p[4] != RELEASE)
                released = _legs_of(p[:4] + p[5:] for p in plan if p[4] == RELEASE)
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
        # 6. write: accounts first (a stale version refuses the request before
        #    anything else is written), then the transfer rows, then the head.
        #    In a caller's transaction this runs in a savepoint.
        if rows or plain:
            with conn.begin_nested() if self._savepoint else nullcontext():
                self._write(raw, state, rows, plain, seq, prev_hash, moment)
        # 7. answer in request order: new entries, or the stored originals of replays.
        replay_seqs = [known[op.key][1] for op in ops if op.key in known]
        stored = self._load_entries(replay_seqs) if replay_seqs else {}
        out = []
        for op in ops:
            if op.key in new_entries:
                out.append(new_entries[op.key])
            else:
                out.append(stored[known[op.key][1]])
        return out

    @staticmethod
    def _rows_of(
        plan: list[_Pair],
        state: dict[str, _AccountState],
        rows: list[tuple[Any, ...]],
        seq: int,
        text: str,
        prev_hash: bytes,
        op: _Op,
        stored_moment: Any,
        as_text: bool,
    ) -> bytes:
        """An entry of several rows: apply, check, hash and append them; the entry's hash."""
        count = len(plan)
        parts: list[tuple[Any, ...]] = []
        touched: list[_AccountState] = []
        for pair_no, (dcode, ccode, cur, units, flow, dleg, cleg) in enumerate(plan):
            d = state[dcode]
            c = state[ccode]
            _move_pair(d, c, cur, units, flow)
            touched.append(d)
            touched.append(c)
            code = cur.code
            parts.append(_pair_values(seq, pair_no, count, d, c, code, units, flow, dleg, cleg))
            text += _hash_row(dcode, ccode, code, units, flow, dleg, cleg)
        for acct in touched:  # overdraft rules apply to the entry as a whole
            acct.check()
        digest = sha256(prev_hash + text.encode()).digest()
        rows.append(parts[0] + _entry_values(op, stored_moment, as_text, prev_hash, digest))
        rows.extend((*part, *_NO_ENTRY) for part in parts[1:])
        return digest

    def _write(
        self,
        raw: _RawSql | None,
        state: dict[str, _AccountState],
        rows: list[tuple[Any, ...]],
        plain: list[tuple[Any, ...]] | None,
        seq: int,
        head_hash: bytes,
        moment: datetime,
    ) -> None:
        conn = self.conn
        dirty = [a for a in state.values() if a.dirty]
        if raw is None:
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
            conn.execute(
                insert(transfers), [dict(zip(_TRANSFER_COLS, r, strict=True)) for r in rows]
            )
            conn.execute(_UPDATE_HEAD, {"h_seq": seq, "h_hash": head_hash, "h_at": moment})
            return
        with _cursor(conn) as cursor:
            if raw.sqlite:
                cursor.executemany(raw.update_accounts, _account_updates(dirty))
            elif len(rows) <= _FEW_ROWS:
                self._write_pipelined(cursor, raw, dirty, rows, seq, head_hash, moment)
                return
            else:
                cursor.execute(
                    raw.update_accounts,
                    (
                        [a.debits_posted for a in dirty],
                        [a.credits_posted for a in dirty],
                        [a.debits_pending for a in dirty],
                        [a.credits_pending for a in dirty],
                        [a.id for a in dirty],
                        [a.version for a in dirty],
                    ),
                )
            if cursor.rowcount != len(dirty):
                raise LedgerError("an account changed concurrently; the request was not applied")
            if raw.copy_rows is not None and len(rows) > _FEW_ROWS:
                # COPY: the fastest way into PostgreSQL; constraints and triggers apply.
                with cursor.copy(raw.copy_rows) as copy:
                    copy.set_types(raw.copy_types)
                    for row in rows:
                        copy.write_row(row)
            elif len(rows) == 1:
                cursor.execute(raw.insert_rows, rows[0])
            elif rows:
                cursor.executemany(raw.insert_rows, rows)
            if plain:
                assert raw.insert_plain is not None
                if len(plain) == 1:
                    cursor.execute(raw.insert_plain, plain[0])
                else:
                    cursor.executemany(raw.insert_plain, plain)
            if raw.sqlite:
                cursor.execute(raw.update_head, (seq, head_hash, _sqlite_datetime(moment)))
            else:
                cursor.execute(raw.update_head, (seq, head_hash, moment))

    @staticmethod
    def _write_pipelined(
        cursor: Any,
        raw: _RawSql,
        dirty: list[_AccountState],
        rows: list[tuple[Any, ...]],
        seq: int,
        head_hash: bytes,
        moment: datetime,
    ) -> None:
        """PostgreSQL, a few rows (single writes): every statement in one round trip.

        psycopg's pipeline sends the account updates, the rows and the head
        together; the server runs them in order, as if sent one by one. The
        account updates' version check is read when the results are in: a
        stale version raises then, and the transaction (or savepoint) the
        statements ran in is rolled back with everything they wrote.
        """
        updated = cursor.connection.cursor()
        try:
            with cursor.connection.pipeline():
                updated.executemany(raw.update_account, _account_updates(dirty))
                cursor.executemany(raw.insert_rows, rows)
                cursor.execute(raw.update_head, (seq, head_hash, moment))
            if updated.rowcount != len(dirty):
                raise LedgerError("an account changed concurrently; the request was not applied")
        finally:
            updated.close()

    def _expand(
        self,
        op: _Op,
        referenced: dict[int, Entry],
        resolved: set[int],
        reversed_: set[int],
        now: datetime | None,
    ) -> list[_Pair]:
        if op.kind == "posted":
            return _pairs(op.legs, POSTED)
        if op.kind == "pending":
            return _pairs(op.legs, PENDING)
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
            return _pairs(swapped, POSTED)
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
        held = debit.amount
        release: _Pair = (
            debit.account,
            credit.account,
            held.currency,
            held.minor_units,
            RELEASE,
            0,
            1,
        )
        if op.kind != "post_pending":
            return [release]
        amount = op.amount if op.amount is not None else held
        if amount.currency is not held.currency:
            raise LedgerError(f"the hold is in {held.currency.code}, not {amount.currency.code}")
        if not 0 < amount.amount <= held.amount:
            raise PendingStateError(
                f"can post between 0 and {held} of hold {hold.seq}, not {amount}"
            )
        return [
            release,
            (debit.account, credit.account, held.currency, amount.minor_units, POSTED, 0, 1),
        ]

    # -- reads ------------------------------------------------------------

    def _load_entries(self, seqs: Sequence[int]) -> dict[int, Entry]:
        if not seqs:
            return {}
        return _entries_of(self._fetch(_raw_sql(self.conn), "rows", sorted(set(seqs))))

    def entry(self, seq: int) -> Entry:
        """One entry by sequence number; :class:`LedgerError` if none."""
        _check_seq(seq, "seq")
        found = self._load_entries([seq])
        if seq not in found:
            raise LedgerError(f"no entry {seq}")
        return found[seq]

    def entries(self, after: int = 0, limit: int = 1000) -> list[Entry]:
        """Entries in chain order after ``after``, at most ``limit``."""
        _check_int(after, "after", "a sequence number (an int)", -_MAX_MINOR)
        _check_int(limit, "limit", "a number of entries (an int from 0)", 0)
        seqs = (
            self.conn.execute(
                select(transfers.c.seq)
                .where(_HEADS, transfers.c.seq > after)
                .order_by(transfers.c.seq)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        found = self._load_entries(seqs)
        return [found[s] for s in seqs]

    def open_holds(self) -> list[Entry]:
        """Holds not yet resolved, in chain order."""
        seqs = self.conn.execute(_open_holds()).scalars().all()
        found = self._load_entries(seqs)
        return [found[s] for s in seqs]

    def balance(self, code: str, as_of: datetime | None = None) -> Balance:
        """Balances now, or just after the last entry posted at or before ``as_of``."""
        row = self._account_row(_check_code(code, "code"))
        if as_of is not None:
            as_of = _utc(as_of, "as_of")
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
            select(func.max(transfers.c.seq)).where(transfers.c.posted_at <= _utc(as_of, "as_of"))
        ).scalar()
        found: tuple[int, int, int, int, int] | None = None
        if last_seq is not None:
            # The account's last row on either side (each side has its index).
            for side in ("debit", "credit"):
                t = transfers.c
                last = self.conn.execute(
                    select(
                        t.seq,
                        t.pair,
                        t[f"{side}_posted_after"],
                        t[f"{side}_dpending_after"],
                        t[f"{side}_cpending_after"],
                    )
                    .where(t[f"{side}_id"] == row.id, t.seq <= last_seq)
                    .order_by(t.seq.desc(), t.pair.desc())
                    .limit(1)
                ).first()
                if last is not None and (found is None or tuple(last[:2]) > found[:2]):
                    found = (last[0], last[1], last[2], last[3], last[4])
        if found is None:
            return _balance(code, cur, row.normal, 0, 0, 0, 0)
        net = found[2]
        return _balance(code, cur, row.normal, max(net, 0), max(-net, 0), found[3], found[4])

    def verify(
        self,
        *,
        checkpoint: LedgerCheckpoint | None = None,
        key: CheckpointKey | None = None,
    ) -> VerifyReport:
        """Walk both chains and recompute every account's totals from the transfer rows.

        Checks every entry's hash and rows, every running total, every
        account's totals, and every account's definition against the hash
        recorded when it was opened. With a ``checkpoint`` (and the ``key`` it
        was signed with) also that the entries still reach its sequence
        number with its hash, and the recorded definitions its count with
        its hash: a cut or rewritten chain is a problem in the report. A
        checkpoint whose signature does not match the key raises
        :class:`CheckpointError`.

        Holds a shared lock on the chain head (PostgreSQL; SQLite's
        transaction holds the write lock): writers wait, so the books are
        read as of one moment.
        """
        if checkpoint is not None:
            if not isinstance(checkpoint, LedgerCheckpoint):
                raise _bad("checkpoint", "a LedgerCheckpoint (or None)", checkpoint)
            if key is None:
                raise CheckpointError("verify(checkpoint=...) needs the key it was signed with")
            checkpoint._check_signature(_key_bytes(key))
        elif key is not None:
            raise CheckpointError("verify(key=...) is only for checking a checkpoint")
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(_SELECT_HEAD_FOR_SHARE)
        problems: list[str] = []
        # -- account definitions, and their chain of recorded hashes
        definitions = {r.id: r for r in self.conn.execute(select(accounts).order_by(accounts.c.id))}
        recorded = {
            account_id: bytes(digest)
            for account_id, digest in self.conn.execute(
                select(account_chain.c.account_id, account_chain.c.hash)
            )
        }
        prev = GENESIS
        position = 0
        for account_id in sorted(definitions.keys() | recorded.keys()):
            row = definitions.get(account_id)
            stored = recorded.get(account_id)
            if stored is None:
                if row is not None:  # always: the id came from the accounts
                    problems.append(
                        f"account {cut(row.code)}: its definition was never recorded"
                        " (opened outside the ledger?)"
                    )
                continue
            position += 1
            if row is None:
                problems.append(
                    f"account chain: a definition is recorded for account id {account_id},"
                    " which does not exist (deleted?)"
                )
            elif _definition_hash(prev, row) != stored:
                problems.append(
                    f"account {cut(row.code)}: its definition differs from the one recorded"
                    " when it was opened"
                )
            elif row.type not in _TYPES or row.normal != AccountType(row.type).normal:
                problems.append(f"account {cut(row.code)}: its type and normal side disagree")
            prev = stored
            if (
                checkpoint is not None
                and position == checkpoint.accounts
                and stored != checkpoint.accounts_hash
            ):
                problems.append(
                    f"checkpoint: the recorded definition of account {position} (in opening"
                    " order) has another hash than the checkpoint's (the account chain was"
                    " rewritten)"
                )
        if checkpoint is not None and position < checkpoint.accounts:
            problems.append(
                f"checkpoint: {position} account definitions are recorded, fewer than the"
                f" checkpoint's {checkpoint.accounts} (accounts were removed)"
            )
        # -- entries
        known = {r.id: (r.code, r.currency) for r in definitions.values()}
        prev = GENESIS
        count = 0
        totals: dict[int, list[int]] = {}
        last_seq = 0
        reached = checkpoint is None or checkpoint.seq == 0
        rows = self.conn.execute(select(transfers).order_by(transfers.c.seq, transfers.c.pair))
        for seq, group in itertools.groupby(rows, key=lambda r: r.seq):
            found = list(group)
            head = found[0]
            if head.pair != 0:
                problems.append(f"legs for missing entry {seq}")
                continue
            count += 1
            if seq != last_seq + 1:
                problems.append(f"entry {seq}: sequence gap after {last_seq}")
            last_seq = seq
            if [r.pair for r in found] != list(range(head.pairs)) or any(
                r.pairs != head.pairs for r in found
            ):
                problems.append(f"entry {seq}: rows are missing or out of order")
            if bytes(head.prev_hash) != prev:
                problems.append(f"entry {seq}: previous hash does not match the chain")
            text = _hash_head(
                seq,
                head.key,
                head.kind,
                head.pending_seq,
                head.reverses_seq,
                head.description,
                _iso(_aware(head.posted_at)),
                _aware(head.timeout_at) if head.timeout_at else None,
            )
            balanced = True
            for r in found:
                debit = known.get(r.debit_id, ("?", None))
                credit = known.get(r.credit_id, ("?", None))
                text += _hash_row(
                    debit[0], credit[0], r.currency, r.amount, r.flow, r.debit_leg, r.credit_leg
                )
                if r.amount <= 0 or debit[1] != r.currency or credit[1] != r.currency:
                    balanced = False
                d = totals.setdefault(r.debit_id, [0, 0, 0, 0])
                c = totals.setdefault(r.credit_id, [0, 0, 0, 0])
                if r.flow == POSTED:
                    d[0] += r.amount
                    c[1] += r.amount
                elif r.flow == PENDING:
                    d[2] += r.amount
                    c[3] += r.amount
                else:
                    d[2] -= r.amount
                    c[3] -= r.amount
                if (d[0] - d[1], d[2], d[3]) != (
                    r.debit_posted_after,
                    r.debit_dpending_after,
                    r.debit_cpending_after,
                ) or (c[0] - c[1], c[2], c[3]) != (
                    r.credit_posted_after,
                    r.credit_dpending_after,
                    r.credit_cpending_after,
                ):
                    problems.append(f"entry {seq} row {r.pair}: running totals are wrong")
            if sha256(prev + text.encode()).digest() != bytes(head.hash):
                problems.append(f"entry {seq}: hash mismatch (content changed)")
            if not balanced:
                problems.append(f"entry {seq}: legs do not balance")
            prev = bytes(head.hash)
            if checkpoint is not None and seq == checkpoint.seq:
                reached = True
                if prev != checkpoint.hash:
                    problems.append(
                        f"checkpoint: entry {seq} has another hash than the checkpoint's"
                        " (the chain was rewritten)"
                    )
        if not reached and checkpoint is not None:
            if last_seq < checkpoint.seq:
                problems.append(
                    f"checkpoint: the chain ends at entry {last_seq}, before the checkpoint's"
                    f" entry {checkpoint.seq} (entries were removed)"
                )
            else:
                problems.append(f"checkpoint: the checkpoint's entry {checkpoint.seq} is missing")
        head_row = self.conn.execute(select(chain.c.seq, chain.c.hash)).first()
        if head_row is not None and (head_row.seq != last_seq or bytes(head_row.hash) != prev):
            problems.append("chain head does not match the last entry")
        for acct in definitions.values():
            t = totals.get(acct.id, [0, 0, 0, 0])
            if t != [
                acct.debits_posted,
                acct.credits_posted,
                acct.debits_pending,
                acct.credits_pending,
            ]:
                problems.append(f"account {cut(acct.code)}: totals differ from its legs")
        return VerifyReport(
            entries=count,
            problems=tuple(problems),
            accounts=len(definitions),
            checkpoint=checkpoint,
        )

    def checkpoint(
        self, key: CheckpointKey, *, previous: LedgerCheckpoint | None = None
    ) -> LedgerCheckpoint:
        """Sign where both chains stand now, once the books verify (against ``previous``, if given).

        Locks the chain head first (writers wait while the books are
        verified), so the checkpoint is of the books just verified. Raises
        :class:`CheckpointError` if they do not verify: a checkpoint must not
        vouch for books already wrong. Keep the result outside the database
        (see :meth:`LedgerCheckpoint.to_json`).
        """
        secret = _key_bytes(key)
        seq, digest, _ = self._lock_head()
        report = self.verify(checkpoint=previous, key=key if previous is not None else None)
        if not report.ok:
            more = len(report.problems) - 1
            raise CheckpointError(
                f"the books do not verify ({report.problems[0]}"
                + (f", and {more} more problem(s)" if more else "")
                + "); no checkpoint is signed for them"
            )
        last = self.conn.execute(
            select(account_chain.c.hash).order_by(account_chain.c.account_id.desc()).limit(1)
        ).scalar()
        return LedgerCheckpoint._signed(
            secret,
            seq,
            digest,
            report.accounts,
            GENESIS if last is None else bytes(last),
            self._now(),
        )


#: The entry columns of a row after an entry's head.
_NO_ENTRY: Final = (None,) * (len(_TRANSFER_COLS) - _TRANSFER_COLS.index("key"))


def _open_holds(moment: datetime | None = None) -> Any:
    """Sequence numbers of unresolved holds (due at ``moment``, if given), in order."""
    t = transfers.c
    resolved = transfers.alias("resolved")
    # A literal, not a parameter: it lets both databases use the holds' partial index.
    query = select(t.seq).where(
        t.kind == literal_column("'pending'"),
        ~select(resolved.c.seq).where(resolved.c.pending_seq == t.seq).exists(),
    )
    if moment is not None:
        query = query.where(t.timeout_at.is_not(None), t.timeout_at <= moment)
    return query.order_by(t.seq)


def _balance(code: str, cur: Currency, normal: str, dp: int, cp: int, dq: int, cq: int) -> Balance:
    return Balance(
        account=code,
        debits_posted=Money.from_minor(dp, cur),
        credits_posted=Money.from_minor(cp, cur),
        debits_pending=Money.from_minor(dq, cur),
        credits_pending=Money.from_minor(cq, cur),
        normal="credit" if normal == "credit" else "debit",
    )


def _legs_of(pairs: Iterable[tuple[str, str, str | Currency, int, int, int]]) -> tuple[Leg, ...]:
    """Legs from transfer rows (debit, credit, currency, units, debit leg, credit leg).

    The inverse of :func:`_pairs`: each leg is the sum of its rows, in leg order.
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


def _entries_of(rows: Iterable[Sequence[Any]]) -> dict[int, Entry]:
    """Entries from their transfer rows (the ``rows`` lookup's, in (seq, pair) order)."""
    out: dict[int, Entry] = {}
    for seq, group in itertools.groupby(map(_StoredRow._make, rows), key=_seq_of):
        found = list(group)
        if found[0].pair == 0:
            out[seq] = _entry_from_rows(found)
    return out


def _seq_of(row: _StoredRow) -> int:
    return row.seq


def _stored_time(value: datetime | str) -> datetime:
    """A time as read back: SQLite's text (through the driver) or naive datetime, in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return _aware(value)


def _entry_from_rows(rows: Sequence[_StoredRow]) -> Entry:
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
        legs=_legs_of(main),
        description=head.description or "",
        posted_at=_stored_time(head.posted_at),
        pending_seq=head.pending_seq,
        reverses_seq=head.reverses_seq,
        timeout_at=_stored_time(head.timeout_at) if head.timeout_at else None,
        hash=bytes(head.hash),
        released=_legs_of(release),
    )


_NO_LEGS: Final[tuple[Leg, ...]] = ()
#: Entry kinds whose legs are the request's own.
_OWN_LEGS: Final = frozenset({"posted", "pending"})


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
