"""The ledger's two hash chains, their checkpoints, and the walk that verifies the books.

* **Entries**: each entry's hash is SHA-256 over the previous entry's hash
  and the entry's content: its own fields (:func:`hash_head`) and each of its
  transfer rows with its accounts' codes (:func:`hash_row`). The write path
  (:func:`finplug.ledger.rows.encode`) builds the same text inline.
* **Account definitions**: each account's definition is hashed when it is
  opened, chained to the previous account's recorded hash
  (:func:`definition_hash`).
* **Checkpoints** sign where both chains stand with an HMAC-SHA256 key the
  caller holds (:func:`sign_checkpoint`, :func:`check_signature`).
* :func:`verify_books` recomputes both chains and every running total from
  rows the store read, and returns what does not match as a
  :class:`~finplug.VerifyReport` (findings, not errors).

No SQL here.
"""

from __future__ import annotations

import hmac
import itertools
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from hashlib import sha256
from typing import Any, Final

from pydantic import SecretBytes, SecretStr

from finplug._text import cut
from finplug._time import as_utc
from finplug.ledger.errors import CheckpointError, show
from finplug.ledger.rules import PENDING, POSTED
from finplug.ledger.values import (
    CHECKPOINT_FORMAT,
    TYPES,
    AccountType,
    LedgerCheckpoint,
    VerifyReport,
)

__all__ = [
    "GENESIS",
    "check_signature",
    "definition_hash",
    "hash_head",
    "hash_row",
    "key_bytes",
    "sign_checkpoint",
    "verify_books",
]

#: The hash before the first entry, and before the first account definition.
GENESIS: Final = bytes(32)
#: The shortest HMAC key a checkpoint is signed with: SHA-256's output size (RFC 2104's floor).
_MIN_KEY_BYTES: Final = 32


# ---------------------------------------------------------------- hashes


def hash_head(
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

    The write path builds the same text inline (with :func:`hash_row`'s for
    each row); :func:`verify_books` recomputes it with these two.
    """
    timeout = as_utc(timeout_at).isoformat() if timeout_at else ""
    return (
        f"{seq}\x1f{key}\x1f{kind}\x1f{pending_seq}\x1f{reverses_seq}\x1f{description}"
        f"\x1f{posted_at}\x1f{timeout}"
    )


def hash_row(debit: str, credit: str, cur: str, amount: int, flow: int, dl: int, cl: int) -> str:
    """One transfer row as the hash chain covers it."""
    return f"\x1e{debit}\x1f{credit}\x1f{cur}\x1f{amount}\x1f{flow}\x1f{dl}\x1f{cl}"


def definition_hash(prev: bytes, row: Any) -> bytes:
    """An account definition's hash, chained to the previous account's recorded one.

    Covers every column of :data:`finplug.ledger.schema.DEFINITION_COLUMNS`,
    as read back from the database (so that verify recomputes exactly this).
    """
    text = (
        f"account\x1f{row.id}\x1f{row.code}\x1f{row.type}\x1f{row.currency}\x1f{row.normal}"
        f"\x1f{row.overdraft}\x1f{row.overdraft_limit}\x1f{as_utc(row.opened_at).isoformat()}"
    )
    return sha256(prev + text.encode()).digest()


# ---------------------------------------------------------------- checkpoints


def key_bytes(key: object) -> bytes:
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


def _message(
    seq: int, digest: bytes, accounts: int, accounts_hash: bytes, taken_at: datetime
) -> bytes:
    return "\x1f".join(
        (
            CHECKPOINT_FORMAT,
            str(seq),
            digest.hex(),
            str(accounts),
            accounts_hash.hex(),
            as_utc(taken_at).isoformat(),
        )
    ).encode()


def sign_checkpoint(
    key: bytes,
    seq: int,
    digest: bytes,
    accounts: int,
    accounts_hash: bytes,
    taken_at: datetime,
) -> LedgerCheckpoint:
    """A checkpoint of these fields, signed with ``key`` (see :func:`key_bytes`)."""
    signature = hmac.new(key, _message(seq, digest, accounts, accounts_hash, taken_at), sha256)
    return LedgerCheckpoint(seq, digest, accounts, accounts_hash, taken_at, signature.digest())


def check_signature(checkpoint: LedgerCheckpoint, key: bytes) -> None:
    """Raise :class:`CheckpointError` unless ``key`` signed exactly the checkpoint's fields."""
    try:
        message = _message(
            checkpoint.seq,
            checkpoint.hash,
            checkpoint.accounts,
            checkpoint.accounts_hash,
            checkpoint.taken_at,
        )
        good = isinstance(checkpoint.signature, bytes) and hmac.compare_digest(
            hmac.new(key, message, sha256).digest(), checkpoint.signature
        )
    except (AttributeError, TypeError, ValueError):  # fields of the wrong type
        good = False
    if not good:
        raise CheckpointError(
            f"checkpoint of entry {show(checkpoint.seq)}: its signature does not match: it was"
            " signed with another key, or changed since it was signed"
        )


# ---------------------------------------------------------------- verify


def verify_books(
    definitions: Mapping[int, Any],
    recorded: Mapping[int, bytes],
    rows: Iterable[Any],
    head: Callable[[], Any],
    checkpoint: LedgerCheckpoint | None,
) -> VerifyReport:
    """Recompute both chains and every running total; what does not match, as a report.

    ``definitions`` are the account rows by id, ``recorded`` the recorded
    definition hashes by account id, ``rows`` every transfer row in (seq,
    pair) order; ``head`` reads the chain head's row (after the rows). A
    ``checkpoint`` (its signature already checked) must be reached by both
    chains with its hashes.
    """
    problems: list[str] = []
    _verify_accounts(definitions, recorded, checkpoint, problems)
    known = {r.id: (r.code, r.currency) for r in definitions.values()}
    totals: dict[int, list[int]] = {}
    count, last_seq, prev = _verify_entries(known, rows, checkpoint, totals, problems)
    head_row = head()
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


def _verify_accounts(
    definitions: Mapping[int, Any],
    recorded: Mapping[int, bytes],
    checkpoint: LedgerCheckpoint | None,
    problems: list[str],
) -> None:
    """Every definition against its recorded hash, and the recorded hashes as a chain."""
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
        elif definition_hash(prev, row) != stored:
            problems.append(
                f"account {cut(row.code)}: its definition differs from the one recorded"
                " when it was opened"
            )
        elif row.type not in TYPES or row.normal != AccountType(row.type).normal:
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


def _verify_entries(
    known: Mapping[int, tuple[str, str]],
    rows: Iterable[Any],
    checkpoint: LedgerCheckpoint | None,
    totals: dict[int, list[int]],
    problems: list[str],
) -> tuple[int, int, bytes]:
    """Walk the entries; sum each account's totals. Entries walked, the last seq, its hash."""
    prev = GENESIS
    count = 0
    last_seq = 0
    reached = checkpoint is None or checkpoint.seq == 0
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
        text = hash_head(
            seq,
            head.key,
            head.kind,
            head.pending_seq,
            head.reverses_seq,
            head.description,
            as_utc(head.posted_at).isoformat(),
            as_utc(head.timeout_at) if head.timeout_at else None,
        )
        balanced = True
        for r in found:
            debit = known.get(r.debit_id, ("?", None))
            credit = known.get(r.credit_id, ("?", None))
            text += hash_row(
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
    return count, last_seq, prev
