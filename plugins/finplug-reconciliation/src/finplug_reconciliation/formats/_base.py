"""The statement parser protocol and what every parser shares.

A parser turns the bytes of one file into :class:`Statement` values. The
helpers here are the rules all of them keep: amounts become :class:`Money`
exactly from the file's decimal text (never through a float, never rounded),
a statement that does not add up or an account IBAN with a bad checksum is a
:attr:`Statement.problems` entry (never an exception), and a file that cannot
be read is a located :class:`StatementFormatError`.
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from typing import Final, Protocol, runtime_checkable

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from finplug import Money, MoneyError, currency
from finplug.sockets.reconciliation import Statement, StatementFormatError

__all__ = [
    "StatementParser",
    "add_problems",
    "balance_problem",
    "check_balance",
    "currency_code",
    "iban_problem",
    "looks_like_iban",
    "money",
    "shown",
    "unsigned_decimal",
]


@runtime_checkable
class StatementParser(Protocol):
    """What a statement format is: a name, a cheap sniff and a parse.

    A parser holds no state between calls; the same instance reads any
    number of files. ``filename`` is the name the file was imported under;
    it is used in error messages and :attr:`Statement.source`, and a parser
    may use its extension as a hint in :meth:`sniff`, never as the only one.
    """

    name: str
    """The parser's name: ``camt``, ``mt940``, ``csv:<mapping>`` …"""

    def sniff(self, data: bytes, filename: str) -> bool:
        """Whether ``data`` looks like this format, judged from its first bytes.

        Cheap and never raising: a ``True`` is a claim, :meth:`parse` decides.
        """
        ...

    def parse(self, data: bytes, filename: str) -> list[Statement]:
        """Read every statement of the file, in file order.

        Raises :class:`StatementFormatError` (located: ``source``, ``line``,
        ``field``) for a file that cannot be read; what is read but wrong
        (does not balance, a bad IBAN checksum …) is in
        :attr:`Statement.problems` instead.
        """
        ...


#: Most characters of a file's text that an error message repeats.
SHOWN_CHARACTERS: Final = 40


def shown(text: str) -> str:
    """``text`` quoted for an error message, cut to :data:`SHOWN_CHARACTERS` characters."""
    if len(text) <= SHOWN_CHARACTERS:
        return repr(text)
    return f"{text[:SHOWN_CHARACTERS]!r}... ({len(text)} characters)"


# xs:decimal without a sign (ISO 20022 amounts are never negative): 12, 12.5, .5, 12.
_UNSIGNED: Final = re.compile(r"[ \t\r\n]*\+?([0-9]+(?:\.[0-9]*)?|\.[0-9]+)[ \t\r\n]*")


def unsigned_decimal(text: str, *, source: str, line: int | None, field: str) -> Decimal:
    """An unsigned decimal written with ``.`` (``12.34``), exactly, or a located error.

    Refused: a sign other than ``+``, an exponent (``1e3``), group separators,
    anything but ASCII digits.
    """
    match = _UNSIGNED.fullmatch(text)
    if match is None:
        raise StatementFormatError(
            f"expected an unsigned decimal amount such as 12.34, got {shown(text)}",
            source=source,
            line=line,
            field=field,
        )
    return Decimal(match.group(1))


def currency_code(code: str, *, source: str, line: int | None, field: str) -> str:
    """The ISO 4217 code ``code`` names, upper case, or a located error."""
    try:
        return currency(code).code
    except MoneyError:
        raise StatementFormatError(
            f"expected an ISO 4217 currency code such as EUR, got {shown(code)}",
            source=source,
            line=line,
            field=field,
        ) from None


def money(amount: Decimal, code: str, *, source: str, line: int | None, field: str) -> Money:
    """``amount`` in ``code`` exactly, or a located error.

    An amount finer than the currency's minor unit (``8.855 EUR``, ``1.5 JPY``)
    is an error, never rounded.
    """
    cur = currency_code(code, source=source, line=line, field=field)
    try:
        return Money(amount, cur)
    except MoneyError:
        exponent = currency(cur).exponent
        raise StatementFormatError(
            f"amount {amount} has more decimals than {cur} allows ({exponent});"
            " expected an amount in whole minor units",
            source=source,
            line=line,
            field=field,
        ) from None


# Two letters, two check digits, 11 to 30 letters or digits: the shape of every IBAN.
_IBAN_SHAPE: Final = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")


def looks_like_iban(account: str) -> bool:
    """Whether ``account`` has the shape of an IBAN (spaces ignored)."""
    return _IBAN_SHAPE.fullmatch(account.replace(" ", "").upper()) is not None


def iban_problem(account: str) -> str | None:
    """What is wrong with ``account`` as an IBAN, or ``None``.

    Only an account with the shape of an IBAN is checked (checksum, length
    and structure for its country, by :mod:`schwifty`); another account id,
    such as ``10020030/1234567``, is not an IBAN and not checked.
    """
    if not looks_like_iban(account):
        return None
    try:
        IBAN(account.replace(" ", "").upper())
    except SchwiftyException as error:
        return f"account {account} is not a valid IBAN: {str(error).lower() or 'rejected'}"
    return None


def add_problems(statement: Statement, *problems: str) -> Statement:
    """``statement`` with ``problems`` added to its own, each once, in order."""
    new = tuple(p for p in dict.fromkeys(problems) if p not in statement.problems)
    if not new:
        return statement
    return dataclasses.replace(statement, problems=statement.problems + new)


def balance_problem(statement: Statement) -> str | None:
    """Why ``opening + Σ lines != closing`` for ``statement``, or ``None``.

    ``None`` too when it cannot be checked: no opening or no closing balance,
    or a line or balance in another currency than the statement's (that is
    a problem of its own, reported by the parser).
    """
    opening, closing = statement.opening, statement.closing
    if opening is None or closing is None:
        return None
    code = statement.currency
    amounts = [line.amount for line in statement.lines]
    if any(m.currency.code != code for m in (opening, closing, *amounts)):
        return None
    total = sum(amounts, Money.zero(code))
    if opening + total == closing:
        return None
    return (
        f"does not balance: opening {opening} + {len(amounts)} lines {total}"
        f" = {opening + total}, but the closing balance is {closing}"
        f" (difference {closing - opening - total})"
    )


def check_balance(statement: Statement) -> Statement:
    """``statement`` with a problem added when ``opening + Σ lines != closing``.

    Idempotent: checking twice reports once.
    """
    problem = balance_problem(statement)
    return statement if problem is None else add_problems(statement, problem)
