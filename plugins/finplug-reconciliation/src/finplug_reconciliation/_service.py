"""The ``reconciliation`` component: imports, runs, matches, breaks, reports and the audit."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from finplug.sockets.reconciliation import (
    AuditRecord,
    Break,
    BreakClass,
    BreakStatus,
    ImportReport,
    Match,
    ReconciliationError,
    ReconciliationRun,
    Statement,
)
from finplug_reconciliation._breaks import Breaks
from finplug_reconciliation._imports import Imports
from finplug_reconciliation._matchstore import live_run_matches, load_match
from finplug_reconciliation._reports import Reports
from finplug_reconciliation._runs import Runs, load_run
from finplug_reconciliation._schema import matches, runs, statements
from finplug_reconciliation._store import audit_records, load_break, load_breaks, load_statement

__all__ = ["Reconciliation"]

#: The most rows one listing returns.
MAX_LIMIT = 1_000_000


def _limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise ReconciliationError(f"limit must be an int from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit


class Reconciliation:
    """A tenant's reconciliation component (``tenant.component(RECONCILIATION)``)."""

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        imports: Imports,
        runs: Runs,
        breaks: Breaks,
        reports: Reports,
    ) -> None:
        self._begin = begin
        self._imports = imports
        self._runs = runs
        self._breaks = breaks
        self._reports = reports

    def import_statement(
        self, data: bytes, filename: str, *, format: str | None = None
    ) -> ImportReport:
        """Import a statement file: every statement in it, or nothing."""
        return self._imports.import_statement(data, filename, format)

    def fetch(self, source: str, day: date) -> list[ImportReport]:
        """Fetch a day's files from a statement source and import each."""
        return self._imports.fetch(source, day)

    def statements(self, account: str | None = None, *, limit: int = 100) -> list[Statement]:
        """Imported statements, newest first."""
        query = select(statements.c.id).order_by(statements.c.imported_at.desc(), statements.c.id)
        if account is not None:
            query = query.where(statements.c.account == account)
        with self._begin() as conn:
            ids = list(conn.execute(query.limit(_limit(limit))).scalars())
            return [load_statement(conn, i) for i in ids]

    def run(
        self,
        account: str,
        start: date,
        end: date,
        *,
        rules: Sequence[Mapping[str, Any]] | None = None,
        dry_run: bool = False,
    ) -> ReconciliationRun:
        """Match the account's items of ``start`` to ``end``; idempotent."""
        return self._runs.run(account, start, end, rules=rules, dry_run=dry_run)

    def runs(self, account: str | None = None, *, limit: int = 100) -> list[ReconciliationRun]:
        """Runs, newest first."""
        query = select(runs).order_by(runs.c.created_at.desc(), runs.c.id)
        if account is not None:
            query = query.where(runs.c.account == account)
        with self._begin() as conn:
            return [load_run(r) for r in conn.execute(query.limit(_limit(limit)))]

    def rollback(self, run_id: str, *, actor: str) -> ReconciliationRun:
        """Undo a run: its matches undone, its breaks' adjusting entries reversed."""
        return self._runs.rollback(run_id, actor)

    def matches(self, run_id: str | None = None, *, limit: int = 1000) -> list[Match]:
        """Live matches, newest first."""
        query = (
            select(matches)
            .where(matches.c.live.is_(True))
            .order_by(matches.c.created_at.desc(), matches.c.id)
        )
        with self._begin() as conn:
            if run_id is not None:  # its matches' ids come from the run (no index on run_id)
                made = conn.execute(select(runs.c.matches).where(runs.c.id == run_id)).scalar()
                ids = live_run_matches(conn, run_id, int(made or 0))[: _limit(limit)]
                query = query.where(matches.c.id.in_(ids))
            return [load_match(conn, r) for r in conn.execute(query.limit(_limit(limit)))]

    def breaks(
        self,
        account: str | None = None,
        *,
        status: BreakStatus | None = BreakStatus.OPEN,
        kind: BreakClass | None = None,
        limit: int = 1000,
    ) -> list[Break]:
        """Breaks, oldest first (open ones by default)."""
        with self._begin() as conn:
            return load_breaks(conn, account, status, kind, _limit(limit))

    def get_break(self, break_id: str) -> Break:
        """One break."""
        with self._begin() as conn:
            return load_break(conn, break_id)

    def assign(self, break_id: str, owner: str, *, actor: str) -> Break:
        """Give a break to ``owner``."""
        return self._breaks.assign(break_id, owner, actor)

    def accept(self, break_id: str, *, actor: str, reason: str) -> Break:
        """Accept a break as it is, with a reason."""
        return self._breaks.accept(break_id, actor, reason)

    def match_by_hand(self, break_ids: Sequence[str], *, actor: str, reason: str) -> Match:
        """Match open breaks' items together; their totals must be equal."""
        return self._breaks.match_by_hand(break_ids, actor, reason)

    def resolve(
        self, break_id: str, *, actor: str, reason: str, approved_by: str | None = None
    ) -> Break:
        """Book a break's difference with an adjusting ledger entry."""
        return self._breaks.resolve(break_id, actor, reason, approved_by)

    def report(self, account: str, start: date, end: date, fmt: str = "json") -> str:
        """Match rate, breaks by class and age, reconciled balance per day."""
        return self._reports.render(account, start, end, fmt)

    def audit(self, subject: str | None = None, *, limit: int = 1000) -> list[AuditRecord]:
        """The audit trail, oldest first."""
        with self._begin() as conn:
            return audit_records(conn, subject, _limit(limit))
