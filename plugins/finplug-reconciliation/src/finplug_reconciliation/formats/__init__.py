"""Statement formats: parsers that turn a bank's or channel's file into statements.

Built in: ISO 20022 camt.053/camt.054 (:class:`CamtParser`), SWIFT
MT940/MT942 (:class:`Mt940Parser`) and CSV through a declared column
mapping (:class:`CsvParser` built from a :class:`CsvMapping`). Any object
satisfying :class:`StatementParser` is a format too; another plugin hands
its parsers to the reconciliation plugin through the
``finplug_recon_statement_parsers`` hook.

>>> parser = detect(data, "statement.xml", builtin_parsers())  # doctest: +SKIP
>>> statements = parser.parse(data, "statement.xml")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable

from finplug.sockets.reconciliation import Statement, StatementFormatError
from finplug_reconciliation.formats._base import StatementParser
from finplug_reconciliation.formats._base import check_balance as _check_balance
from finplug_reconciliation.formats.camt import CamtParser
from finplug_reconciliation.formats.csv import ColumnKey, CsvMapping, CsvParser
from finplug_reconciliation.formats.mt940 import Mt940Parser

__all__ = [
    "CamtParser",
    "ColumnKey",
    "CsvMapping",
    "CsvParser",
    "Mt940Parser",
    "StatementParser",
    "builtin_parsers",
    "check_balance",
    "detect",
]


def builtin_parsers() -> list[StatementParser]:
    """Fresh instances of the parsers that need no configuration: camt, then MT940.

    CSV parsers are not among them: each needs its :class:`CsvMapping`.
    """
    return [CamtParser(), Mt940Parser()]


def detect(data: bytes, filename: str, parsers: Iterable[StatementParser]) -> StatementParser:
    """The first of ``parsers`` whose :meth:`~StatementParser.sniff` claims ``data``.

    Raises :class:`StatementFormatError` naming the parsers tried when none does.
    """
    tried = []
    for parser in parsers:
        if parser.sniff(data, filename):
            return parser
        tried.append(parser.name)
    raise StatementFormatError(
        "not a statement format known here: expected one of "
        + (", ".join(tried) if tried else "(no parsers given)"),
        source=filename,
    )


def check_balance(statement: Statement) -> Statement:
    """``statement`` with a problem added when ``opening + Σ lines != closing``.

    Nothing is added when it adds up, or when it has no opening or closing
    balance, or amounts in another currency (a problem of its own). Checking
    twice reports once. The built-in parsers already check what they return.
    """
    return _check_balance(statement)
