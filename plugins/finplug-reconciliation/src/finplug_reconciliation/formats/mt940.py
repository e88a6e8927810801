"""SWIFT MT940 statements and MT942 interim reports, read with the ``mt-940`` package.

This module finds where each statement and each tag starts (so that lines
and errors carry the file's line number) and hands every statement's text
to :class:`mt940.models.Transactions`, which reads the tags. A statement
starts at each ``:20:``; ``-`` lines and SWIFT envelope lines (``{1:…}``,
``-}``) between statements are skipped.

Mapping: ``:25:`` is the account, ``:28C:`` the number, ``:60F:``/``:60M:``
the opening and ``:62F:``/``:62M:`` the closing balance (their dates are
``opened_on`` and ``closed_on``). Each ``:61:`` is a line: its entry date
(else its value date) is ``booked_on``, its ``N…`` type code is ``kind``,
the customer reference is ``reference`` (``NONREF`` means none; a SEPA
``EREF+`` in ``:86:`` wins) and the bank reference ``bank_reference``. A
structured ``:86:`` (``ddd?00…``) gives the description from ``?20`` to ``?29``
(else the posting text ``?00``), the counterparty from ``?32``/``?33`` and
its account from ``?38`` (IBAN), else ``?30``/``?31`` as ``bank/account``.
An unstructured ``:86:`` is the description, its lines joined as written.

A statement without ``:60a:`` but with a ``:34F:`` floor limit is an MT942
(format ``mt942``); its ``:13D:`` date is ``closed_on`` and its ``:90D:`` /
``:90C:`` totals are checked against its lines.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Final

import mt940

from finplug import Money
from finplug.sockets.reconciliation import Statement, StatementFormatError, StatementLine
from finplug_reconciliation.formats._base import (
    add_problems,
    check_balance,
    currency_code,
    iban_problem,
    looks_like_iban,
    money,
    shown,
)

# The mt-940 package logs the raw text of tags it does not know at ERROR level:
# statement data (names, IBANs, remittance text) would land in the host's logs.
# What it cannot read reaches the caller as a located StatementFormatError instead.
logging.getLogger("mt940").setLevel(logging.CRITICAL)

__all__ = ["Mt940Parser"]

_TAG: Final = re.compile(r":([0-9]{2}|NS)([A-Z])?:")
_ENVELOPE: Final = re.compile(r"\{[0-9A-Z]:|-\}|\}$|-$")
_STRUCTURED: Final = re.compile(r"[0-9]{3}\?[0-9]{2}")
_IBAN_SUBFIELD: Final = re.compile(r"\?38([^?]*)")
_SNIFF_START: Final = re.compile(rb"(?m)^:20:")
_SNIFF_BODY: Final = re.compile(rb"(?m)^:(?:25P?|28C?|60[FM]|34F):")
_KNOWN: Final = frozenset(str(key) for key in mt940.models.Transactions.default_tags())
_NO_REFERENCE: Final = frozenset({"", "NONREF", "NOTPROVIDED"})
# What the package's tag patterns want, for the error messages.
_EXPECTED: Final = {
    "13": "a date and time YYMMDDhhmm with an offset, such as 1610301730+0000",
    "20": "a reference of at most 16 characters",
    "25": "an account of at most 35 characters",
    "28": "a statement number such as 5/1",
    "34": "a currency, D or C and an amount, such as EURD0,00",
    "60": "C or D, a date YYMMDD, a currency and an amount, such as C240131EUR1234,56",
    "61": "a value date YYMMDD, an optional entry date MMDD, C, D, RC or RD, an amount"
    " such as 123,45, a type code such as NTRF and a reference",
    "90": "a number of entries, a currency and an amount, such as 1EUR2,30",
}
# The package's exceptions for input it cannot read (its tag patterns raise
# RuntimeError; dates, amounts and balances raise ValueError or decimal errors).
_PACKAGE_ERRORS: Final = (RuntimeError, ValueError, ArithmeticError, KeyError, TypeError)
# The MT942 totals: the package's key, the tag, and the sign of the lines they sum.
_TOTALS: Final = (("sum_debit_entries", "90D", -1), ("sum_credit_entries", "90C", 1))
_OPTIONS: Final = mt940.Options(
    applicant_iban=True,  # ?31 is the counterparty account, not part of the name
    merge_keeps_values=True,  # an :86: without KREF keeps the :61: reference
    reversal_sign=True,  # RC (reversal of a credit) takes money out
    case_insensitive_marks=True,
    timezone_offset=True,
    unbounded_details=True,  # never cut :86: short
    floor_limit_blank_mark=True,
    strip_bom=True,
)


def _iban_subfield(
    transactions: Any, tag: Any, tag_dict: dict[str, Any], result: dict[str, Any]
) -> dict[str, Any]:
    """Post-processor: the ``?38`` IBAN of a structured ``:86:`` as ``counterparty_iban``."""
    raw = str(tag_dict.get("transaction_details") or "")
    details = "".join(line.strip("\r\n") for line in raw.splitlines())
    found = _IBAN_SUBFIELD.search(details) if _STRUCTURED.match(details) else None
    if found and found.group(1).strip():
        result["counterparty_iban"] = found.group(1).strip()
    return result


_PROCESSORS: Final = {
    "post_transaction_details": [
        _iban_subfield,
        mt940.processors.transaction_details_post_processor,
    ]
}


@dataclass(slots=True)
class _Tag:
    """One tag as written: its id (``61``, ``60F``), first line, and raw lines."""

    id: str
    line: int
    lines: list[str]

    @property
    def number(self) -> str:
        """The two-character tag number (``60`` for ``:60F:``)."""
        return self.id[:2]

    @property
    def value(self) -> str:
        """The tag's content, lines joined by newlines, without the ``:61:`` prefix."""
        first = self.lines[0][len(self.id) + 2 :]
        return "\n".join([first, *self.lines[1:]]).strip()

    @property
    def joined(self) -> str:
        """The content with its lines joined as written (SWIFT lines wrap, they do not break)."""
        return "".join([self.lines[0][len(self.id) + 2 :], *self.lines[1:]]).strip()

    @property
    def text(self) -> str:
        """The tag as written, for the package."""
        return "\n".join(self.lines)


@dataclass(slots=True)
class _Block:
    """One statement: the tags from a ``:20:`` to the next."""

    tags: list[_Tag] = field(default_factory=list)

    @property
    def first_line(self) -> int:
        """The line of its ``:20:``."""
        return self.tags[0].line

    @property
    def last_line(self) -> int:
        """The last line it has."""
        return self.tags[-1].line + len(self.tags[-1].lines) - 1

    def find(self, *numbers: str) -> _Tag | None:
        """Its first tag numbered one of ``numbers`` (``60`` finds ``:60F:``)."""
        return next((t for t in self.tags if t.number in numbers), None)


def _blocks(text: str) -> list[_Block]:
    """The statements of ``text``: a new one at every ``:20:``."""
    blocks: list[_Block] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.replace("\r", "")
        stripped = line.strip()
        if not stripped or _ENVELOPE.match(stripped):
            continue
        match = _TAG.match(line)
        if match and match.group(1) in _KNOWN:
            if match.group(1) == "20":
                blocks.append(_Block())
            if blocks:
                blocks[-1].tags.append(
                    _Tag(match.group(1) + (match.group(2) or ""), number, [line])
                )
        elif blocks and blocks[-1].tags:
            blocks[-1].tags[-1].lines.append(line)
    return blocks


def _first_balance(data: mt940.models.Transactions, which: str) -> Any:
    """The package's final, plain or intermediate ``opening``/``closing`` balance, or ``None``."""
    for kind in ("final_", "", "intermediate_"):
        balance = data.data.get(f"{kind}{which}_balance")
        if balance is not None:
            return balance
    return None


def _day(value: Any) -> datetime.date:
    return datetime.date(value.year, value.month, value.day)


class Mt940Parser:
    """SWIFT MT940 (statement) and MT942 (interim report), several statements per file.

    ``encoding`` is the file's text encoding; without one, UTF-8 is tried
    and Latin-1 (which reads any byte) is used when it fails.
    """

    name: str = "mt940"
    """The parser's name."""

    def __init__(self, encoding: str | None = None) -> None:
        self.encoding = encoding
        """The declared encoding, or ``None`` for UTF-8 with a Latin-1 fallback."""

    def sniff(self, data: bytes, filename: str) -> bool:
        """Whether ``data`` has a ``:20:`` line and a ``:25:``/``:28C:``/``:60F:``/``:34F:``."""
        head = data[:16384]
        return bool(_SNIFF_START.search(head) and _SNIFF_BODY.search(head))

    def parse(self, data: bytes, filename: str) -> list[Statement]:
        """Every statement of the file, in file order."""
        text = self._decode(data, filename)
        blocks = _blocks(text)
        if not blocks:
            raise StatementFormatError(
                "no statement: expected a line starting with :20:", source=filename, line=1
            )
        return [_Reader(block, filename).statement() for block in blocks]

    def _decode(self, data: bytes, filename: str) -> str:
        data = data.removeprefix(b"\xef\xbb\xbf")
        try:
            return data.decode(self.encoding or "utf-8")
        except UnicodeDecodeError as error:
            if self.encoding is None:
                return data.decode("latin-1")
            raise StatementFormatError(
                f"not {self.encoding} text: byte {data[error.start]:#04x} cannot be decoded",
                source=filename,
                line=data.count(b"\n", 0, error.start) + 1,
            ) from None


class _Reader:
    """One statement block, read by the package and mapped to a :class:`Statement`."""

    def __init__(self, block: _Block, source: str) -> None:
        self.block = block
        self.source = source

    def _error(self, message: str, tag: _Tag | None, field: str) -> StatementFormatError:
        line = tag.line if tag else self.block.last_line
        return StatementFormatError(message, source=self.source, line=line, field=field)

    def _transactions(self, text: str) -> mt940.models.Transactions:
        transactions = mt940.models.Transactions(processors=_PROCESSORS, options=_OPTIONS)
        transactions.parse(text)
        return transactions

    def _read(self) -> mt940.models.Transactions:
        try:
            return self._transactions("\n".join(tag.text for tag in self.block.tags))
        except _PACKAGE_ERRORS as error:
            # Find the tag the package could not read: the first that fails alone.
            for tag in self.block.tags:
                try:
                    self._transactions(tag.text)
                except _PACKAGE_ERRORS:
                    expected = _EXPECTED.get(tag.number, "a value the tag allows")
                    raise self._error(
                        f"cannot read {shown(tag.value)}: expected {expected}",
                        tag,
                        f":{tag.id}:",
                    ) from None
            raise StatementFormatError(
                f"cannot read the statement: {type(error).__name__}: {shown(str(error))}",
                source=self.source,
                line=self.block.first_line,
            ) from None

    def _money(self, amount: Any, tag: _Tag) -> Money:
        """A package :class:`mt940.models.Amount` as exact Money."""
        if not isinstance(amount, mt940.models.Amount) or amount.currency is None:
            raise self._error(f"expected an amount, got {shown(tag.value)}", tag, f":{tag.id}:")
        field = f":{tag.id}:"
        code = currency_code(amount.currency, source=self.source, line=tag.line, field=field)
        return money(amount.amount, code, source=self.source, line=tag.line, field=field)

    def statement(self) -> Statement:
        """The block as a checked :class:`Statement`."""
        data = self._read()
        block = self.block
        account_tag = block.find("25")
        account = str(data.data.get("account_identification") or "").strip()
        if account_tag is None or not account:
            raise self._error(
                "missing :25: account identification", account_tag or block.tags[0], ":25:"
            )
        opening_tag, closing_tag = block.find("60"), block.find("62")
        interim = opening_tag is None
        if interim and block.find("34") is None:
            raise self._error(
                "expected an opening balance :60F: (MT940) or a floor limit :34F: (MT942)",
                block.tags[0],
                ":60F:",
            )
        if not interim and closing_tag is None:
            raise self._error(
                "missing closing balance :62F: (is the statement cut short?)", None, ":62F:"
            )
        currency_tag = opening_tag or block.find("34") or block.tags[0]
        code = currency_code(
            str(data.currency or ""),
            source=self.source,
            line=currency_tag.line,
            field=f":{currency_tag.id}:",
        )
        problems: list[str] = []
        opening = self._balance(data, opening_tag, code, problems, "opening")
        closing = self._balance(data, closing_tag, code, problems, "closing")
        lines = self._lines(data)
        if interim:
            problems += self._totals(data, lines, code)
        number_tag = block.find("28")
        dates = self._dates(data, interim, problems)
        bad_iban = iban_problem(account)
        statement = Statement(
            format="mt942" if interim else "mt940",
            source=self.source,
            account=account,
            currency=code,
            number=number_tag.value if number_tag else block.tags[0].value,
            lines=lines,
            opened_on=dates[0],
            closed_on=dates[1],
            opening=opening,
            closing=closing,
        )
        return check_balance(add_problems(statement, *([bad_iban] if bad_iban else []), *problems))

    def _balance(
        self, data: Any, tag: _Tag | None, code: str, problems: list[str], which: str
    ) -> Money | None:
        if tag is None:
            return None
        balance = _first_balance(data, which)
        amount = self._money(getattr(balance, "amount", None), tag)
        if amount.currency.code != code:
            problems.append(
                f"{which} balance :{tag.id}: (line {tag.line}) is in {amount.currency.code},"
                f" not the statement's {code}: not used"
            )
            return None
        return amount

    def _dates(
        self, data: Any, interim: bool, problems: list[str]
    ) -> tuple[datetime.date | None, datetime.date | None]:
        if interim:
            at = data.data.get("date")
            return None, (_day(at) if isinstance(at, datetime.date) else None)
        opened = getattr(_first_balance(data, "opening"), "date", None)
        closed = getattr(_first_balance(data, "closing"), "date", None)
        opened_on = _day(opened) if opened else None
        closed_on = _day(closed) if closed else None
        if opened_on and closed_on and closed_on < opened_on:
            problems.append(
                f"the closing balance is dated {closed_on}, before the opening balance's"
                f" {opened_on}"
            )
        return opened_on, closed_on

    def _lines(self, data: mt940.models.Transactions) -> tuple[StatementLine, ...]:
        tags = [t for t in self.block.tags if t.number == "61"]
        transactions = data.transactions
        if len(transactions) != len(tags) or not all(t.data.get("id") for t in transactions):
            # The package merges a :61: without a type code with the next one.
            for tag in tags:
                if not self._transactions(tag.text).transactions[0].data.get("id"):
                    raise self._error(
                        f"cannot read {shown(tag.value)}: expected a type code such as NTRF"
                        " after the amount",
                        tag,
                        ":61:",
                    )
            raise self._error("a :61: line was not read", tags[0], ":61:")
        return tuple(
            self._line(index, tag, transaction.data)
            for index, (tag, transaction) in enumerate(zip(tags, transactions, strict=True))
        )

    def _line(self, index: int, tag: _Tag, tx: dict[str, Any]) -> StatementLine:
        value_date = _day(tx["date"])
        booked_on = _day(tx["entry_date"]) if tx.get("entry_date") else value_date
        details = self._details_tag(tag)
        structured = "transaction_details" not in tx and details is not None
        reference = next(
            (
                str(r).strip()
                for r in (tx.get("end_to_end_reference"), tx.get("customer_reference"))
                if r and str(r).strip() not in _NO_REFERENCE
            ),
            "",
        )
        extra = str(tx.get("extra_details") or "").strip()
        if structured:
            description = str(tx.get("purpose") or tx.get("posting_text") or "").strip()
            if tx.get("additional_purpose"):
                description = f"{description} {str(tx['additional_purpose']).strip()}".strip()
            counterparty = str(tx.get("applicant_name") or "").strip()
            bank, account = tx.get("applicant_bin"), tx.get("applicant_iban")
            counterparty_account = str(
                tx.get("counterparty_iban")
                or "/".join(str(p).strip() for p in (bank, account) if p)
            )
        else:
            description = details.joined if details else ""
            counterparty = ""
            counterparty_account = extra if looks_like_iban(extra) else ""
        return StatementLine(
            index=index,
            booked_on=booked_on,
            amount=self._money(tx.get("amount"), tag),
            value_date=value_date,
            reference=reference,
            bank_reference=str(tx.get("bank_reference") or "").strip(),
            description=description or extra,
            counterparty=counterparty,
            counterparty_account=counterparty_account,
            kind=str(tx["id"]).strip(),
            source_line=tag.line,
        )

    def _details_tag(self, statement_line: _Tag) -> _Tag | None:
        """The ``:86:`` that follows ``statement_line`` before the next ``:61:``."""
        tags = self.block.tags
        for tag in tags[tags.index(statement_line) + 1 :]:
            if tag.number == "61":
                return None
            if tag.number == "86":
                return tag
        return None

    def _totals(
        self, data: mt940.models.Transactions, lines: tuple[StatementLine, ...], code: str
    ) -> list[str]:
        """Problems where ``:90D:``/``:90C:`` disagree with the lines."""
        problems = []
        for key, tag_id, sign in _TOTALS:
            total = data.data.get(key)
            if total is None:
                continue
            side = [line.amount for line in lines if line.amount.amount * sign > 0]
            stated = abs(total.amount)
            found = abs(sum(side, Money.zero(code)).amount)
            number = str(getattr(total, "number", "") or "")
            if stated != found or (number and int(number) != len(side)):
                problems.append(
                    f":{tag_id}: says {number or '?'} entries totalling {stated} {code},"
                    f" the lines have {len(side)} totalling {found} {code}"
                )
        return problems
