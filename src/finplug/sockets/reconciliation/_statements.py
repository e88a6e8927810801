"""Reconciliation socket: statements as parsers hand them over, and their errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol, runtime_checkable

from finplug import FinplugError, Money

__all__ = [
    "ChannelReports",
    "ReconciliationError",
    "ReconciliationNotFoundError",
    "Statement",
    "StatementFormatError",
    "StatementLine",
]


class ReconciliationError(FinplugError):
    """A reconciliation request that cannot be done; nothing was written."""


class ReconciliationNotFoundError(ReconciliationError, LookupError):
    """No statement, run, match or break by that id in this tenant."""


class StatementFormatError(ReconciliationError, ValueError):
    """A statement file that cannot be read: broken, truncated, or not the format named.

    Says where: :attr:`source` (the file's name), :attr:`line` (1-based, when
    known) and :attr:`field` (the element or field path, when known), and
    what was expected. Nothing of the file is imported.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        where = source + (f":{line}" if line is not None else "")
        where += f" ({field})" if field else ""
        super().__init__(f"{where}: {message}")
        self.source = source
        """The file's name, as given to the import."""
        self.line = line
        """The 1-based line of the file, when known."""
        self.field = field
        """The element or field path, when known (``Stmt/Bal[1]/Amt``, ``:61:``, ``amount``)."""


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One booked movement of a statement, as the bank or channel reports it.

    :attr:`amount` is signed from the account holder's side: a credit to the
    account (money in) is positive, a debit negative.
    """

    index: int
    """The line's position in its statement, from 0."""
    booked_on: date
    """The booking date."""
    amount: Money
    """The signed amount: money in positive, money out negative."""
    value_date: date | None = None
    """The value date, when the file gives one."""
    reference: str = ""
    """The payer's or channel's reference (end-to-end id, payment reference)."""
    bank_reference: str = ""
    """The bank's own reference of the booking (``AcctSvcrRef``, MT940's bank reference)."""
    description: str = ""
    """Remittance information or the ``:86:`` text, as one string."""
    counterparty: str = ""
    """The other party's name."""
    counterparty_account: str = ""
    """The other party's account (an IBAN where the file gives one)."""
    kind: str = ""
    """The file's transaction code (camt ``BkTxCd``, MT940 ``N…`` code, a CSV type column)."""
    source_line: int | None = None
    """The 1-based line of the file it was read from, when known."""


@dataclass(frozen=True, slots=True)
class Statement:
    """One account's statement for one period, as a parser read it from one file.

    A statement that does not add up (``opening + Σ lines != closing``), an
    account IBAN that fails its checksum, a balance in another currency:
    each is a :attr:`problems` entry, never an exception, so what a bank
    sent is imported and looked at as it is.
    """

    format: str
    """The parser that read it (``camt.053.001.08``, ``mt940``, ``csv:<mapping>`` …)."""
    source: str
    """The file's name."""
    account: str
    """The account as the file names it (an IBAN, or a channel's account id)."""
    currency: str
    """The account's ISO 4217 currency."""
    number: str
    """The statement's own id or sequence number in the file (``""`` when none)."""
    lines: tuple[StatementLine, ...]
    """The booked lines, in file order."""
    opened_on: date | None = None
    """The first day it covers, when known."""
    closed_on: date | None = None
    """The last day it covers, when known."""
    opening: Money | None = None
    """The opening booked balance, when the file gives one."""
    closing: Money | None = None
    """The closing booked balance, when the file gives one."""
    problems: tuple[str, ...] = field(default=())
    """What is wrong with it but did not stop it being read (see the class docstring)."""
    id: str = ""
    """Its id once imported (a fingerprint of what it says; its lines are
    ``<id>:<index>``); ``""`` as a parser hands it over."""


@runtime_checkable
class ChannelReports(Protocol):
    """A payment channel's connector that hands over its daily settlement report.

    A channel plugin's connector (the object its ``finplug_register_channels``
    returns) implements this too when the channel publishes a report of what
    it did each day (captures, fees, refunds, payouts), as acquirers do. The
    reconciliation plugin's built-in statement source ``channels`` fetches a
    day's report from every connector that does, and imports it with the
    tenant's parsers (a channel's CSV needs a mapping in ``csv_formats``).
    """

    def settlement_report(self, day: date) -> bytes:
        """The channel's report of ``day`` (its own file format), as bytes."""
        ...
