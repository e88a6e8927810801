"""CSV statements read through a declared column mapping.

A :class:`CsvMapping` names, for one bank's or channel's export, which header
column holds which :class:`StatementLine` field, how dates and amounts are
written, and where the currency and account come from. A
:class:`CsvParser` built from it reads such files: one :class:`Statement`
per (account, currency), lines in file order. Every cell that cannot be read
is a :class:`StatementFormatError` naming the line, the column and what was
expected; an amount is never read through a float and never rounded.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from finplug import Money, MoneyError, currency
from finplug.sockets.reconciliation import Statement, StatementFormatError, StatementLine
from finplug_reconciliation.formats._base import (
    add_problems,
    currency_code,
    iban_problem,
    shown,
)

__all__ = ["ColumnKey", "CsvMapping", "CsvParser"]

ColumnKey = Literal[
    "booked_on",
    "amount",
    "debit",
    "credit",
    "value_date",
    "reference",
    "bank_reference",
    "description",
    "counterparty",
    "counterparty_account",
    "kind",
    "currency",
    "account",
]
"""What a column can hold: a :class:`StatementLine` field, ``debit``/``credit``
(unsigned amounts out and in, instead of a signed ``amount``), or the line's
``currency`` or ``account``."""

_EXAMPLE_DAY: Final = date(2024, 1, 31)


class CsvMapping(BaseModel):
    """How one CSV export is laid out; a :class:`CsvParser` reads files by it.

    Example (an export with a signed amount, German number format and a
    fixed account)::

        CsvMapping(
            name="bank-de",
            delimiter=";",
            columns={"booked_on": "Buchungstag", "amount": "Betrag",
                     "reference": "Verwendungszweck"},
            date_format="%d.%m.%Y",
            decimal_separator=",",
            thousands_separator=".",
            currency="EUR",
            account="DE89370400440532013000",
        )
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    """The mapping's name; the parser is ``csv:<name>`` and so is each statement's format."""
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    """The one-character cell delimiter (``,``, ``;``, a tab …)."""
    encoding: str = "utf-8-sig"
    """The file's text encoding (``utf-8-sig`` reads UTF-8 with or without a BOM)."""
    columns: dict[ColumnKey, str]
    """Header name of each mapped column; ``booked_on`` and ``amount`` (or ``debit`` and
    ``credit``) are required."""
    date_format: str = "%Y-%m-%d"
    """The :meth:`~datetime.datetime.strptime` format of the date columns."""
    decimal_separator: Literal[".", ","] = "."
    """The amounts' decimal separator."""
    thousands_separator: Literal["", ",", ".", " ", "'", "\u00a0", "\u202f"] = ""
    """The amounts' digit-group separator, ``""`` for none; groups must be of three digits."""
    currency: str | None = None
    """The currency of every line, when the file has no ``currency`` column."""
    account: str | None = None
    """The account of every line, when the file has no ``account`` column."""
    sign: Literal["as-is", "flip"] = "as-is"
    """``flip`` when the file writes money out as positive and money in as negative."""

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value

    @field_validator("columns")
    @classmethod
    def _header_names(cls, value: dict[ColumnKey, str]) -> dict[ColumnKey, str]:
        for key, header in value.items():
            if not header.strip():
                raise ValueError(f"column {key} has an empty header name")
        return {key: header.strip() for key, header in value.items()}

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, value: str) -> str:
        try:
            parsed = datetime.strptime(_EXAMPLE_DAY.strftime(value), value).date()
        except ValueError:
            parsed = None
        if parsed != _EXAMPLE_DAY:
            raise ValueError(
                f"date format {value!r} does not read back the dates it writes;"
                " expected a strftime format with day, month and year such as '%d.%m.%Y'"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CsvMapping:
        cols = self.columns
        if "booked_on" not in cols:
            raise ValueError("columns must map booked_on")
        split = ("debit" in cols, "credit" in cols)
        if "amount" in cols and any(split):
            raise ValueError("map either amount or debit and credit, not both")
        if "amount" not in cols and not all(split):
            raise ValueError("columns must map amount, or both debit and credit")
        if (self.currency is None) == ("currency" not in cols):
            raise ValueError("give either a fixed currency or a currency column, one of them")
        if self.currency is not None:
            try:
                currency(self.currency)
            except MoneyError as error:
                raise ValueError(str(error)) from None
        if (self.account is None) == ("account" not in cols):
            raise ValueError("give either a fixed account or an account column, one of them")
        if self.account is not None and not self.account.strip():
            raise ValueError("the fixed account must not be empty")
        if self.thousands_separator == self.decimal_separator:
            raise ValueError("the thousands separator must differ from the decimal separator")
        if self.delimiter in ('"', "\r", "\n"):
            raise ValueError("the delimiter must not be a quote or a line break")
        return self


class CsvParser:
    """Reads the CSV files a :class:`CsvMapping` describes; named ``csv:<mapping name>``."""

    def __init__(self, mapping: CsvMapping) -> None:
        self.mapping = mapping
        """The layout it reads."""
        self.name: str = f"csv:{mapping.name}"
        """The parser's name."""
        self._headers: dict[str, str] = {str(k): v for k, v in mapping.columns.items()}
        dec = re.escape(mapping.decimal_separator)
        th = re.escape(mapping.thousands_separator)
        whole = f"(?:[0-9]{{1,3}}(?:{th}[0-9]{{3}})+|[0-9]+)" if th else "[0-9]+"
        self._amount = re.compile(f"[+-]?{whole}(?:{dec}[0-9]+)?")
        self._example = (
            f"1{mapping.thousands_separator}234{mapping.decimal_separator}56"
            if th
            else f"12{mapping.decimal_separator}34"
        )

    def sniff(self, data: bytes, filename: str) -> bool:
        """Whether the file's header row has every mapped column."""
        decoder = codecs.getincrementaldecoder(self.mapping.encoding)(errors="replace")
        head = decoder.decode(data[:65536])
        rows = csv.reader(io.StringIO(head, newline=""), delimiter=self.mapping.delimiter)
        try:
            header = next((row for row in rows if any(cell.strip() for cell in row)), [])
        except csv.Error:
            return False
        return set(self.mapping.columns.values()) <= {cell.strip() for cell in header}

    def parse(self, data: bytes, filename: str) -> list[Statement]:
        """One statement per (account, currency), in order of first appearance."""
        mapping = self.mapping
        try:
            text = data.decode(mapping.encoding)
        except UnicodeDecodeError as error:
            raise StatementFormatError(
                f"not {mapping.encoding} text: byte {data[error.start]:#04x} cannot be decoded",
                source=filename,
                line=data.count(b"\n", 0, error.start) + 1,
            ) from None
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter, strict=True)
        groups: dict[tuple[str, str], list[StatementLine]] = {}
        header: dict[str, int] | None = None
        width = 0
        line = 1
        try:
            for row in rows:
                start, line = line, rows.line_num + 1
                if not any(cell.strip() for cell in row):
                    continue
                if header is None:
                    header, width = self._header(row, filename, start), len(row)
                    continue
                if len(row) != width:
                    raise StatementFormatError(
                        f"expected {width} cells as in the header, got {len(row)}",
                        source=filename,
                        line=start,
                    )
                cells = {key: row[header[name]].strip() for key, name in self._headers.items()}
                self._add(groups, cells, filename, start)
        except csv.Error as error:
            raise StatementFormatError(
                f"not readable as CSV: {error}", source=filename, line=rows.line_num
            ) from None
        if header is None:
            raise StatementFormatError("empty file: expected a header row", source=filename, line=1)
        statements = []
        for (account, code), lines in groups.items():
            statement = Statement(
                format=self.name,
                source=filename,
                account=account,
                currency=code,
                number="",
                lines=tuple(lines),
            )
            problem = iban_problem(account)
            statements.append(add_problems(statement, problem) if problem else statement)
        return statements

    def _header(self, row: list[str], filename: str, line: int) -> dict[str, int]:
        names = [cell.strip() for cell in row]
        index: dict[str, int] = {}
        for key, name in self.mapping.columns.items():
            count = names.count(name)
            if count != 1:
                what = "missing" if count == 0 else f"{count} times in the header"
                has = ", ".join(shown(n) for n in names[:20]) + (" ..." if len(names) > 20 else "")
                raise StatementFormatError(
                    f"column {name!r} (mapped to {key}) is {what}; expected it once in the"
                    f" header row, which has {has}",
                    source=filename,
                    line=line,
                    field=name,
                )
            index[name] = names.index(name)
        return index

    def _error(self, key: str, message: str, filename: str, line: int) -> StatementFormatError:
        return StatementFormatError(
            f"{key}: {message}", source=filename, line=line, field=self._headers[key]
        )

    def _date(self, cells: dict[str, str], key: str, filename: str, line: int) -> date:
        text = cells[key]
        fmt = self.mapping.date_format
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            raise self._error(
                key,
                f"expected a date such as {_EXAMPLE_DAY.strftime(fmt)} ({fmt}), got {shown(text)}",
                filename,
                line,
            ) from None

    def _decimal(self, cells: dict[str, str], key: str, filename: str, line: int) -> Decimal:
        text = cells[key]
        if not self._amount.fullmatch(text):
            raise self._error(
                key,
                f"expected a decimal such as {self._example}, got {shown(text)}",
                filename,
                line,
            )
        plain = text.replace(self.mapping.thousands_separator or "\0", "")
        return Decimal(plain.replace(self.mapping.decimal_separator, "."))

    def _signed(self, cells: dict[str, str], filename: str, line: int) -> tuple[Decimal, str]:
        """The signed amount and the column it came from."""
        if "amount" in cells:
            return self._decimal(cells, "amount", filename, line), "amount"
        debit, credit = cells["debit"], cells["credit"]
        values = {
            key: self._decimal(cells, key, filename, line)
            for key in ("debit", "credit")
            if cells[key]
        }
        for key, value in values.items():
            if value < 0:
                raise self._error(
                    key,
                    f"expected an unsigned amount (the column gives the direction), got {value}",
                    filename,
                    line,
                )
        nonzero = [key for key, value in values.items() if value]
        if not values or len(nonzero) > 1:
            raise self._error(
                "debit",
                f"expected an amount in exactly one of the debit and credit columns, got"
                f" {shown(debit)} and {shown(credit)}",
                filename,
                line,
            )
        key = nonzero[0] if nonzero else next(iter(values))
        return (-values[key] if key == "debit" else values[key]), key

    def _add(
        self,
        groups: dict[tuple[str, str], list[StatementLine]],
        cells: dict[str, str],
        filename: str,
        line: int,
    ) -> None:
        mapping = self.mapping
        booked_on = self._date(cells, "booked_on", filename, line)
        value_date = None
        if cells.get("value_date"):
            value_date = self._date(cells, "value_date", filename, line)
        amount, column = self._signed(cells, filename, line)
        if mapping.sign == "flip":
            amount = -amount
        if mapping.currency is not None:
            code = currency(mapping.currency).code
        else:
            header = self._headers["currency"]
            code = currency_code(cells["currency"], source=filename, line=line, field=header)
        try:
            money = Money(amount, code)
        except MoneyError:
            raise self._error(
                column,
                f"{shown(cells[column])} has more decimals than {code} allows"
                f" ({currency(code).exponent}); expected whole minor units",
                filename,
                line,
            ) from None
        account = mapping.account if mapping.account is not None else cells["account"]
        if not account:
            raise self._error("account", "expected an account, got an empty cell", filename, line)
        lines = groups.setdefault((account, code), [])
        lines.append(
            StatementLine(
                index=len(lines),
                booked_on=booked_on,
                amount=money,
                value_date=value_date,
                reference=cells.get("reference", ""),
                bank_reference=cells.get("bank_reference", ""),
                description=cells.get("description", ""),
                counterparty=cells.get("counterparty", ""),
                counterparty_account=cells.get("counterparty_account", ""),
                kind=cells.get("kind", ""),
                source_line=line,
            )
        )
