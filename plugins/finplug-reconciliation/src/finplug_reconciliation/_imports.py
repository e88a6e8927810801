"""Statement imports: a file parsed, each statement tied to its reconciled account, stored once.

A file is read by the parser it names, or by the first that sniffs it:
the built-in camt.05x and MT940/MT942 parsers, then the tenant's CSV
mappings, then the parsers other plugins add
(``finplug_recon_statement_parsers``). Every statement of the file must
belong to a reconciled account (its statement account and currency in the
``accounts`` settings) and have lines in that currency only; else nothing
of the file is imported. A statement imported before (same fingerprint)
is a duplicate: reported, written nowhere.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Final

from finplug import UnitOfWork
from finplug.sockets.reconciliation import (
    ImportReport,
    ReconciliationError,
    Statement,
    StatementFormatError,
)
from finplug_reconciliation._settings import ReconciliationSettings
from finplug_reconciliation._store import add_audit, fingerprint, save_statement
from finplug_reconciliation.formats import StatementParser, builtin_parsers, detect
from finplug_reconciliation.formats.csv import CsvParser
from finplug_reconciliation.hookspecs import StatementSource

__all__ = ["Imports"]

#: Lines from which an import is a large write (:meth:`UnitOfWork.large_write`).
_LARGE: Final = 10_000

#: The largest statement file accepted.
MAX_BYTES = 512 * 1024 * 1024


class Imports:
    """A tenant's statement imports."""

    def __init__(
        self,
        settings: ReconciliationSettings,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        added_parsers: Callable[[], list[StatementParser]],
        sources: Callable[[], list[StatementSource]],
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._clock = clock
        self._added = added_parsers
        self._sources = sources
        self._parsers: list[StatementParser] | None = None

    def parsers(self) -> list[StatementParser]:
        """Every parser this tenant reads with, in the order they sniff."""
        if self._parsers is None:
            found: list[StatementParser] = list(builtin_parsers())
            found += [CsvParser(mapping) for mapping in self._settings.csv_formats]
            found += self._added()
            names = [p.name for p in found]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ReconciliationError(f"two statement parsers have the same name: {twice}")
            self._parsers = found
        return self._parsers

    def _parser(self, data: bytes, filename: str, name: str | None) -> StatementParser:
        parsers = self.parsers()
        if name is None:
            return detect(data, filename, parsers)
        for parser in parsers:
            if parser.name == name:
                return parser
        known = ", ".join(p.name for p in parsers)
        raise ReconciliationError(f"no statement format {name!r} (formats: {known})")

    def import_statement(self, data: bytes, filename: str, name: str | None) -> ImportReport:
        """Import one file (see the module docstring)."""
        if not isinstance(data, bytes):
            raise ReconciliationError(f"expected the file's bytes, got {type(data).__name__}")
        if len(data) > MAX_BYTES:
            raise StatementFormatError(
                f"the file has {len(data)} bytes; at most {MAX_BYTES} are read", source=filename
            )
        parser = self._parser(data, filename, name)
        statements = parser.parse(data, filename)
        tied = [(self._account_of(s), s) for s in statements]
        now = self._clock()
        new: list[str] = []
        duplicates: list[str] = []
        lines = 0
        with self._uow() as uow:
            if sum(len(s.lines) for _, s in tied) >= _LARGE:
                uow.large_write()  # SQLite: the log's checkpoint is the background thread's
            for account, statement in tied:
                ident = fingerprint(statement)
                if save_statement(uow.conn, account, ident, statement, now):
                    new.append(ident)
                    lines += len(statement.lines)
                    add_audit(
                        uow.conn,
                        now,
                        "import",
                        "import",
                        ident,
                        f"{filename} ({parser.name}): {len(statement.lines)} lines into {account}",
                    )
                else:
                    duplicates.append(ident)
            uow.commit()
        return ImportReport(
            source=filename,
            format=parser.name,
            statements=tuple(new),
            duplicates=tuple(duplicates),
            lines=lines,
            problems=tuple(p for s in statements for p in s.problems),
        )

    def _account_of(self, statement: Statement) -> str:
        account = self._settings.account_for(statement.account, statement.currency)
        if account is None:
            raise ReconciliationError(
                f"{statement.source}: statement account {statement.account!r} in"
                f" {statement.currency} is not a reconciled account: add it to the"
                " reconciliation plugin's accounts (statement_account, currency)"
            )
        other = sorted(
            {line.amount.currency.code for line in statement.lines} - {statement.currency}
        )
        if other:
            raise ReconciliationError(
                f"{statement.source}: statement {statement.number or '(unnumbered)'} of"
                f" {statement.account} in {statement.currency} has lines in {', '.join(other)}"
            )
        return account

    def fetch(self, source: str, day: date) -> list[ImportReport]:
        """Fetch a source's files for ``day`` and import each (each whole or not at all)."""
        found_sources = self._sources()
        names = [s.name for s in found_sources]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ReconciliationError(f"two statement sources have the same name: {twice}")
        sources = {s.name: s for s in found_sources}
        found = sources.get(source)
        if found is None:
            known = ", ".join(sorted(sources)) or "none"
            raise ReconciliationError(f"no statement source {source!r} (sources: {known})")
        return [self.import_statement(f.data, f.name, None) for f in found.fetch(day)]
