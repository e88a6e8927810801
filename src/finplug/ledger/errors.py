"""The ledger's errors, and how their messages show what the caller passed.

Every error is a :class:`LedgerError`: the request was refused and nothing
was written. Messages repeat at most a few dozen characters of a value
(:func:`finplug._text.shorten`); an exception keeps the full value where it
has an attribute for it (:attr:`EntryKeyConflictError.key`).
"""

from __future__ import annotations

from finplug._errors import FinplugError, IdempotencyConflictError
from finplug._money import Money
from finplug._text import shorten

__all__ = [
    "AccountNotFoundError",
    "CheckpointError",
    "EntryKeyConflictError",
    "IdempotencyConflictError",
    "LedgerError",
    "OverdraftError",
    "PendingStateError",
    "bad",
    "got",
    "show",
]


class LedgerError(FinplugError):
    """A ledger request was refused; nothing was written."""


class AccountNotFoundError(LedgerError, LookupError):
    """No account has the given code."""


class EntryKeyConflictError(LedgerError, IdempotencyConflictError):
    """An entry's key was already used for a different request.

    A :class:`finplug.IdempotencyConflictError` (the kernel's class for every
    reused key) and a :class:`LedgerError`: either ``except`` clause catches it.
    """

    def __init__(self, key: str) -> None:
        IdempotencyConflictError.__init__(
            self,
            key,
            f"idempotency key {shorten(key)} was already used for a different request;"
            " use a new key for a new request",
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


def show(value: object) -> str:
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


def got(value: object) -> str:
    """What the caller passed, for a message: its type and the start of its repr."""
    return f"{type(value).__name__} {show(value)}"


def bad(name: str, expected: str, value: object) -> LedgerError:
    """The error for argument ``name``: what was expected, and what came instead."""
    return LedgerError(f"{name} must be {expected}; got {got(value)}")
