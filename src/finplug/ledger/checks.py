"""The ledger's argument checks: each public method's arguments, before anything is read.

A wrong argument is a :class:`~finplug.ledger.errors.LedgerError` naming it,
saying what was expected and what came instead, never a ``TypeError`` or
``AttributeError`` from deep inside (or a driver's error). Messages repeat
at most a few dozen characters of a value (:func:`finplug._text.shorten`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from finplug._errors import MoneyError
from finplug._money import Currency, Money, currency
from finplug._text import cut, shorten
from finplug._time import as_utc
from finplug.ledger.errors import LedgerError, bad, got, show
from finplug.ledger.values import MAX_MINOR, AccountType, Leg

__all__ = [
    "EXPIRE_PREFIX",
    "MAX_CODE",
    "MAX_DESCRIPTION",
    "MAX_KEY",
    "check_account",
    "check_code",
    "check_description",
    "check_int",
    "check_key",
    "check_legs",
    "check_money",
    "check_seq",
    "check_time",
    "check_timeout",
]

#: Keys of the entries expire_pending writes (``expire:<hold seq>``); clients may not use it.
EXPIRE_PREFIX: Final = "expire:"
MAX_KEY: Final = 200
MAX_CODE: Final = 128
MAX_DESCRIPTION: Final = 500
_MONEY: Final = "Money (for example Money('10.00', 'EUR'))"

Overdraft = Literal["none", "limit", "unlimited"]


def check_key(key: object, name: str = "key") -> str:
    """An idempotency key: a str of 1 to 200 characters, without NUL, not ``expire:...``."""
    if not isinstance(key, str):
        raise bad(name, "an idempotency key (a str)", key)
    if not key or len(key) > MAX_KEY or "\x00" in key:
        raise bad(name, f"an idempotency key of 1 to {MAX_KEY} characters, without NUL", key)
    if key.startswith(EXPIRE_PREFIX):
        raise LedgerError(
            f"{name}: idempotency keys starting with {EXPIRE_PREFIX!r} are reserved for"
            f" expire_pending; got {shorten(key)}"
        )
    return key


def check_description(value: object, name: str = "description") -> str:
    """A description: a str of at most 500 characters, without NUL (both backends store it)."""
    if not isinstance(value, str):
        raise bad(name, "a str", value)
    if len(value) > MAX_DESCRIPTION or "\x00" in value:
        raise bad(name, f"at most {MAX_DESCRIPTION} characters, without NUL", value)
    return value


def check_code(code: object, name: str) -> str:
    """An account code to look up (a str; one no account has is not found later)."""
    if not isinstance(code, str):
        raise bad(name, "an account code (a str)", code)
    return code


def check_money(value: object, name: str) -> Money:
    """A :class:`~finplug.Money` amount (never a float, Decimal, int or str)."""
    if not isinstance(value, Money):
        raise bad(name, _MONEY, value)
    return value


def check_int(value: object, name: str, expected: str, lowest: int) -> int:
    """A whole number from ``lowest`` that fits the ledger's 64-bit columns (bool is not one)."""
    if not isinstance(value, int) or isinstance(value, bool) or not lowest <= value <= MAX_MINOR:
        raise bad(name, expected, value)
    return value


def check_seq(
    value: object, name: str, what: str = "entry", missing: type[LedgerError] = LedgerError
) -> int:
    """A sequence number: an int; one no entry can have is ``missing("no <what> <value>")``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad(name, f"an {what}'s sequence number (an int)", value)
    if not 1 <= value <= MAX_MINOR:
        raise missing(f"no {what} {show(value)}")
    return value


def check_time(value: object, what: str) -> datetime:
    """A time given to the ledger, in UTC.

    SQLite stores a datetime's wall-clock digits without its offset, so a
    time in another zone must be converted before it is stored or compared;
    a naive time is ambiguous and refused.
    """
    if not isinstance(value, datetime):
        raise bad(what, "a timezone-aware datetime", value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise LedgerError(f"{what} must be a timezone-aware datetime; got {value!r}")
    return as_utc(value)


def check_timeout(timeout: object) -> timedelta | None:
    """A hold's timeout: a positive timedelta, or None (no timeout)."""
    if timeout is None:
        return None
    if not isinstance(timeout, timedelta):
        raise bad("timeout", "a timedelta (or None: no timeout)", timeout)
    if timeout <= timedelta(0):
        raise LedgerError(f"a hold's timeout must be positive; got {timeout}")
    return timeout


def check_legs(legs: Any, name: str) -> tuple[Leg, ...]:
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
        raise bad(name, "a sequence of Leg", legs)
    try:
        found: tuple[Any, ...] = tuple(legs)
    except TypeError:
        raise bad(name, "a sequence of Leg", legs) from None
    for index, leg in enumerate(found):
        where = f"{name}[{index}]"
        if not isinstance(leg, Leg):
            raise bad(where, "a Leg (Leg.debit(code, amount) or Leg.credit(code, amount))", leg)
        check_code(leg.account, f"{where}.account")
        if not isinstance(leg.side, str) or leg.side not in ("debit", "credit"):
            raise bad(f"{where}.side", "'debit' or 'credit'", leg.side)
        check_money(leg.amount, f"{where}.amount")
    return found


def check_account(
    code: str,
    type: AccountType | str,
    currency_code: str,
    overdraft: Overdraft,
    overdraft_limit: Money | None,
) -> tuple[AccountType, Currency, Money]:
    """An account's definition, as :meth:`LedgerSession.open_account` takes it.

    Returns its type, its currency and its overdraft limit (zero when none
    is given); the code and the policy are as given.
    """
    if not isinstance(code, str):
        raise bad("code", "an account code (a str of 1 to 128 characters)", code)
    if not code or len(code) > MAX_CODE or "\x00" in code:
        raise bad("code", f"1 to {MAX_CODE} characters, without NUL", code)
    try:
        kind = AccountType(type)
    except ValueError:
        known = ", ".join(t.value for t in AccountType)
        raise bad("type", f"an account type, one of {known}", type) from None
    try:
        cur = currency(currency_code)
    except MoneyError as exc:  # with what Money says is wrong with it, cut short
        raise LedgerError(
            "currency_code must be an ISO 4217 currency code such as 'EUR';"
            f" got {got(currency_code)} ({cut(str(exc), 80)})"
        ) from exc
    if not isinstance(overdraft, str) or overdraft not in ("none", "limit", "unlimited"):
        raise bad("overdraft", "'none', 'limit' or 'unlimited'", overdraft)
    if overdraft_limit is not None:
        check_money(overdraft_limit, "overdraft_limit")
    limit = overdraft_limit if overdraft_limit is not None else Money.zero(cur)
    if limit.currency is not cur or limit.amount < 0:
        raise LedgerError(
            f"overdraft_limit must be a non-negative amount in {cur.code}; got {limit}"
        )
    if overdraft != "limit" and limit.amount:
        raise LedgerError("overdraft_limit is only meaningful with overdraft='limit'")
    return kind, cur, limit
