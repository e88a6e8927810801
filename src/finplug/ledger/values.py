"""The ledger's values, in and out: accounts, legs, entries, postings, balances, checkpoints.

All immutable. They cross the ``ledger`` component's interface
(:class:`finplug.components.LedgerAPI`) and are exported by :mod:`finplug`.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from pydantic import SecretBytes, SecretStr

from finplug._money import Currency, Money
from finplug._time import as_utc
from finplug.ledger.errors import CheckpointError, show

__all__ = [
    "CHECKPOINT_FORMAT",
    "MAX_MINOR",
    "TYPES",
    "Account",
    "AccountType",
    "Balance",
    "CheckpointKey",
    "Entry",
    "EntryRequest",
    "LedgerCheckpoint",
    "Leg",
    "Posting",
    "VerifyReport",
]

#: The largest amount (in minor units), total or sequence number the ledger's
#: 64-bit columns hold.
MAX_MINOR: Final = 2**63 - 1
#: A checkpoint's JSON is a few hundred characters: refuse anything far bigger unread.
_MAX_CHECKPOINT_JSON: Final = 4096
CHECKPOINT_FORMAT: Final = "finplug-ledger-checkpoint/1"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


class AccountType(enum.StrEnum):
    """Account types and their normal side."""

    ASSET = "asset"
    """What the business owns or is owed (cash, receivables); normal side debit."""
    LIABILITY = "liability"
    """What the business owes (customer funds, payables); normal side credit."""
    EQUITY = "equity"
    """The owners' stake; normal side credit."""
    INCOME = "income"
    """What the business earns (fees); normal side credit."""
    EXPENSE = "expense"
    """What the business spends (channel costs); normal side debit."""

    @property
    def normal(self) -> Literal["debit", "credit"]:
        """``debit`` for assets and expenses, ``credit`` for the others."""
        return "debit" if self in (AccountType.ASSET, AccountType.EXPENSE) else "credit"


#: The account types' values, as stored.
TYPES: Final = frozenset(t.value for t in AccountType)


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of an entry: an account debited or credited with a positive amount."""

    account: str
    """The account's code."""
    side: Literal["debit", "credit"]
    """``"debit"`` or ``"credit"``."""
    amount: Money
    """Greater than zero, in the account's currency."""

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
    """The client's idempotency key: the same key with the same legs posts once."""
    legs: tuple[Leg, ...]
    """At least two legs; debits equal credits in each currency."""
    description: str = ""
    """Free text stored with the entry."""


@dataclass(frozen=True, slots=True)
class Account:
    """An account's definition (balances come from :meth:`Ledger.balance`)."""

    code: str
    """The account's code, unique in the ledger (e.g. ``"merchant:m1:available"``)."""
    type: AccountType
    """Asset, liability, equity, income or expense; sets the normal side."""
    currency: Currency
    """The one currency every leg on this account uses."""
    overdraft: Literal["none", "limit", "unlimited"]
    """``none``: never below zero; ``limit``: down to ``overdraft_limit``; ``unlimited``."""
    overdraft_limit: Money
    """How far below zero the balance may go when ``overdraft`` is ``"limit"``."""
    opened_at: datetime
    """When the account was opened (UTC)."""

    @property
    def normal(self) -> Literal["debit", "credit"]:
        """The account's normal side."""
        return self.type.normal


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's balances. ``posted`` is signed by the normal side."""

    account: str
    """The account's code."""
    debits_posted: Money
    """Sum of posted debits."""
    credits_posted: Money
    """Sum of posted credits."""
    debits_pending: Money
    """Sum of debits held by pending entries not yet posted, voided or expired."""
    credits_pending: Money
    """Sum of credits held by pending entries not yet posted, voided or expired."""
    normal: Literal["debit", "credit"]
    """The account's normal side, which signs :attr:`posted`."""

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
    """Position in the ledger's journal, from 1, without gaps."""
    key: str
    """The idempotency key it was posted under."""
    kind: Literal["posted", "pending", "post_pending", "void", "expire", "reversal"]
    """Posted at once, a pending hold, what settled a hold, or a reversal."""
    legs: tuple[Leg, ...]
    """The legs it booked."""
    description: str
    """Free text given when it was posted."""
    posted_at: datetime
    """When it was written, by the ledger's clock (UTC)."""
    pending_seq: int | None = None
    """For post/void/expire: the pending entry it settles."""
    reverses_seq: int | None = None
    """For a reversal: the entry it reverses."""
    timeout_at: datetime | None = None
    """For a pending entry: when it expires unless posted or voided first."""
    hash: bytes = b""
    """Its chain hash (SHA-256 over the entry and the previous hash)."""
    released: tuple[Leg, ...] = ()
    """For post/void/expire: the pending legs this entry released."""


@dataclass(frozen=True, slots=True)
class Posting:
    """What one entry did to one account's posted balance (see :meth:`LedgerSession.postings`).

    Only posted money makes a posting: a hold makes none, its capture
    (``post_pending``) makes one at the capture's own ``seq`` for the amount
    captured, and a hold voided or expired never makes one.

    :attr:`amount` is signed as the account's :attr:`Balance.posted` is, by
    its normal side: for a credit-normal account (liability, equity, income)
    a credit is positive and a debit negative; for a debit-normal one (asset,
    expense) the other way round. So it is the change the entry made to the
    account's posted balance, and an account's postings add up to it.
    """

    seq: int
    """The entry's sequence number."""
    account: str
    """The account's code."""
    amount: Money
    """The change to the account's posted balance, signed by its normal side.

    The sum over every transfer row of the entry on the account; zero when
    the entry debits and credits it by the same amount.
    """
    posted_at: datetime
    """When the entry was written, by the ledger's clock (UTC)."""
    key: str
    """The entry's idempotency key."""
    description: str
    """The entry's description (``""`` when none was given)."""
    kind: Literal["posted", "post_pending", "reversal"]
    """The entry's kind: posted at once, the capture of a hold, or a reversal."""


#: An HMAC key for checkpoints, as the platform's secrets hold it: at least
#: 32 bytes (a ``str`` counts as its UTF-8 bytes).
CheckpointKey = bytes | str | SecretStr | SecretBytes


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
    (Signing and checking the signature: :mod:`finplug.ledger.chain`.)
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

    def to_json(self) -> str:
        """The checkpoint as one line of JSON (hashes and signature in hex)."""
        return json.dumps(
            {
                "format": CHECKPOINT_FORMAT,
                "seq": self.seq,
                "hash": self.hash.hex(),
                "accounts": self.accounts,
                "accounts_hash": self.accounts_hash.hex(),
                "taken_at": as_utc(self.taken_at).isoformat(),
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
            raise CheckpointError(f"a checkpoint must be JSON: {show(str(exc))}") from None
        if not isinstance(data, dict):
            raise CheckpointError(f"a checkpoint must be a JSON object; got {show(data)}")
        fields = {"format", "seq", "hash", "accounts", "accounts_hash", "taken_at", "signature"}
        if set(data) != fields:
            odd = sorted(set(data) ^ fields)
            raise CheckpointError(
                f"a checkpoint has exactly the fields {', '.join(sorted(fields))};"
                f" these are missing or unknown: {show(', '.join(map(str, odd)))}"
            )
        if data["format"] != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"checkpoint format must be {CHECKPOINT_FORMAT!r}; got {show(data['format'])}"
            )
        counts = {}
        for name in ("seq", "accounts"):
            value = data[name]
            if type(value) is not int or not 0 <= value <= MAX_MINOR:
                raise CheckpointError(
                    f"checkpoint {name} must be a whole number from 0; got {show(value)}"
                )
            counts[name] = value
        digests = {}
        for name in ("hash", "accounts_hash", "signature"):
            value = data[name]
            if not isinstance(value, str) or not _HEX_DIGEST.fullmatch(value):
                raise CheckpointError(
                    f"checkpoint {name} must be 64 lower-case hex digits; got {show(value)}"
                )
            digests[name] = bytes.fromhex(value)
        taken = data["taken_at"]
        try:
            taken_at = datetime.fromisoformat(taken) if isinstance(taken, str) else None
        except ValueError:
            taken_at = None
        if taken_at is None or taken_at.utcoffset() is None:
            raise CheckpointError(
                f"checkpoint taken_at must be an ISO 8601 time with its offset; got {show(taken)}"
            )
        return cls(
            counts["seq"],
            digests["hash"],
            counts["accounts"],
            digests["accounts_hash"],
            as_utc(taken_at),
            digests["signature"],
        )

    def __repr__(self) -> str:
        return (
            f"LedgerCheckpoint(seq={self.seq}, hash={self.hash.hex()[:12]}…,"
            f" accounts={self.accounts}, taken_at={as_utc(self.taken_at).isoformat()})"
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
