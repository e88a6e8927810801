"""Reconciliation socket: the ``reconciliation`` component's interface."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Protocol, runtime_checkable

from finplug.sockets.reconciliation._statements import Statement
from finplug.sockets.reconciliation._values import (
    AuditRecord,
    Break,
    BreakClass,
    BreakStatus,
    ImportReport,
    Match,
    ReconciliationRun,
)

__all__ = ["ReconciliationAPI"]


@runtime_checkable
class ReconciliationAPI(Protocol):
    """The ``reconciliation`` component: statements in, matched against the ledger, breaks worked.

    Accounts are the names a tenant gives in the plugin's ``accounts``
    settings: each ties a statement account (an IBAN, a channel) to the
    ledger accounts it is reconciled against.
    """

    def import_statement(
        self, data: bytes, filename: str, *, format: str | None = None
    ) -> ImportReport:
        """Import a statement file: every statement in it, or nothing.

        ``format`` names a parser; without it the parsers sniff the file. A
        statement imported before (same account, number, period, balances and
        lines) is reported as a duplicate and written again nowhere. Raises
        :class:`StatementFormatError` (located) for a broken file.
        """
        ...

    def fetch(self, source: str, day: date) -> list[ImportReport]:
        """Fetch a day's files from a statement source (a plugin's) and import each."""
        ...

    def statements(self, account: str | None = None, *, limit: int = 100) -> list[Statement]:
        """Imported statements, newest first (of one reconciled account, when given)."""
        ...

    def run(
        self,
        account: str,
        start: date,
        end: date,
        *,
        rules: Sequence[Mapping[str, Any]] | None = None,
        dry_run: bool = False,
    ) -> ReconciliationRun:
        """Match the account's statement lines and ledger postings of ``start`` to ``end``.

        Idempotent: items matched before stay matched, breaks found before
        are found again under the same id, and work done on them is kept.
        ``rules`` (as the plugin's settings write them) replace the tenant's
        rules for this run: try changed rules as a dry run, or run again
        with them after a rollback. A dry run computes and reports, and
        writes nothing.
        """
        ...

    def runs(self, account: str | None = None, *, limit: int = 100) -> list[ReconciliationRun]:
        """Runs, newest first."""
        ...

    def rollback(self, run_id: str, *, actor: str) -> ReconciliationRun:
        """Undo a run: its matches undone, its breaks' adjusting entries reversed."""
        ...

    def matches(self, run_id: str | None = None, *, limit: int = 1000) -> list[Match]:
        """Live matches, newest first (of one run, when given)."""
        ...

    def breaks(
        self,
        account: str | None = None,
        *,
        status: BreakStatus | None = BreakStatus.OPEN,
        kind: BreakClass | None = None,
        limit: int = 1000,
    ) -> list[Break]:
        """Breaks, oldest first (open ones by default)."""
        ...

    def get_break(self, break_id: str) -> Break:
        """One break; :class:`ReconciliationNotFoundError` if none has that id."""
        ...

    def assign(self, break_id: str, owner: str, *, actor: str) -> Break:
        """Give a break to ``owner``."""
        ...

    def accept(self, break_id: str, *, actor: str, reason: str) -> Break:
        """Accept a break as it is (nothing booked), with a reason."""
        ...

    def match_by_hand(self, break_ids: Sequence[str], *, actor: str, reason: str) -> Match:
        """Match the items of open breaks together; their totals must be equal."""
        ...

    def resolve(
        self, break_id: str, *, actor: str, reason: str, approved_by: str | None = None
    ) -> Break:
        """Book the break's difference with an adjusting ledger entry naming it as the reason.

        Up to the account's write-off limit one person may; above it a second
        person (``approved_by``, not ``actor``) must approve.
        """
        ...

    def report(self, account: str, start: date, end: date, fmt: str = "json") -> str:
        """Match rate, breaks by class and age, reconciled balance per day: JSON or CSV."""
        ...

    def audit(self, subject: str | None = None, *, limit: int = 1000) -> list[AuditRecord]:
        """The audit trail, oldest first (of one run, match or break, when given)."""
        ...
