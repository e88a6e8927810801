"""Reconciliation socket: matches, breaks, runs and reports, as the component hands them out."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from finplug import Money

__all__ = [
    "AuditRecord",
    "Break",
    "BreakAction",
    "BreakClass",
    "BreakStatus",
    "ImportReport",
    "Match",
    "MatchSide",
    "ReconciliationRun",
    "RunStatus",
]


class MatchSide(enum.StrEnum):
    """Which side an item of a match or a break is on."""

    STATEMENT = "statement"
    """A statement line: id ``<statement id>:<line index>``."""
    LEDGER = "ledger"
    """A ledger posting: id ``<entry seq>:<account>``."""


class BreakClass(enum.StrEnum):
    """Why an item is unmatched, as the reconciliation found it."""

    MISSING_IN_LEDGER = "missing_in_ledger"
    """The statement has it; the ledger has nothing like it."""
    MISSING_IN_STATEMENT = "missing_in_statement"
    """The ledger has it; the statement does not."""
    AMOUNT_MISMATCH = "amount_mismatch"
    """Both have it (same reference, dates in the window), but the amounts differ too much."""
    DUPLICATE = "duplicate"
    """A second copy of a line (or posting) whose first copy matched."""
    TIMING = "timing"
    """Both have it with the same amount, but its dates are further apart than the window."""


class BreakStatus(enum.StrEnum):
    """Where a break stands in its workflow."""

    OPEN = "open"
    """Found and not worked yet."""
    MATCHED = "matched"
    """Matched by hand with other items."""
    ACCEPTED = "accepted"
    """Accepted as it is, with a reason (say, a timing break that clears tomorrow)."""
    RESOLVED = "resolved"
    """Resolved by an adjusting ledger entry that names the break as its reason."""
    CLEARED = "cleared"
    """Gone: a later run matched its items, or its run was rolled back."""

    @property
    def worked(self) -> bool:
        """Whether a person worked it (matched, accepted or resolved): reruns keep it."""
        return self in (BreakStatus.MATCHED, BreakStatus.ACCEPTED, BreakStatus.RESOLVED)


class RunStatus(enum.StrEnum):
    """Where a reconciliation run stands."""

    DONE = "done"
    """Its matches and breaks are recorded."""
    ROLLED_BACK = "rolled_back"
    """Its matches were undone and its adjusting entries reversed."""


class BreakAction(enum.StrEnum):
    """What a person (or a run) did to a break: each is one audit record."""

    FOUND = "found"
    ASSIGNED = "assigned"
    MATCHED = "matched"
    ACCEPTED = "accepted"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class Match:
    """Items of both sides that reconcile: one statement line and one posting, or groups."""

    id: str
    """The match's id."""
    run_id: str | None
    """The run that made it (``None``: matched by hand)."""
    rule: str
    """The rule that matched it (``manual`` by hand, ``adjustment`` for a resolved break)."""
    score: int
    """How well the items agreed, per mille (1000: reference, amount and date exact)."""
    statement_items: tuple[str, ...]
    """The statement line ids, sorted."""
    ledger_items: tuple[str, ...]
    """The ledger posting ids (``<seq>:<account>``), sorted."""
    statement_total: Money
    """The lines' total."""
    ledger_total: Money
    """The postings' total (signed as the statement's account sees them)."""
    created_by: str
    """Who matched it (``run`` for a run)."""
    created_at: datetime
    """When (UTC)."""

    @property
    def difference(self) -> Money:
        """``statement_total - ledger_total``: within the rule's tolerance, never above its cap."""
        return self.statement_total - self.ledger_total


@dataclass(frozen=True, slots=True)
class Break:
    """An unmatched or partly matched item (or pair of items), to be worked."""

    id: str
    """The break's id: the same items make the same id, so a rerun finds it again."""
    account: str
    """The reconciled account (the name in the plugin's ``accounts`` settings)."""
    kind: BreakClass
    """Why it is a break."""
    status: BreakStatus
    """Where it stands."""
    statement_items: tuple[str, ...]
    """Its statement line ids, sorted."""
    ledger_items: tuple[str, ...]
    """Its ledger posting ids, sorted."""
    statement_total: Money
    """Its lines' total."""
    ledger_total: Money
    """Its postings' total."""
    found_on: date
    """The day of its oldest item: its age counts from here."""
    owner: str
    """Who works it."""
    run_id: str
    """The run that first found it."""
    entry_seq: int | None
    """The adjusting ledger entry that resolved it, if any."""
    note: str
    """The last reason given (accepted, resolved, matched)."""

    @property
    def difference(self) -> Money:
        """``statement_total - ledger_total``: what an adjusting entry would book."""
        return self.statement_total - self.ledger_total

    def age(self, today: date) -> int:
        """Its age in calendar days on ``today``."""
        return max(0, (today - self.found_on).days)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What importing one file did."""

    source: str
    """The file's name."""
    format: str
    """The parser that read it."""
    statements: tuple[str, ...]
    """The ids of the statements imported (new ones)."""
    duplicates: tuple[str, ...]
    """The ids of statements already imported before: nothing written for them."""
    lines: int
    """Lines imported (of the new statements)."""
    problems: tuple[str, ...]
    """What the statements' checks reported (not balancing, a bad IBAN …)."""


@dataclass(frozen=True, slots=True)
class ReconciliationRun:
    """One match run of one account over a period, and what it found."""

    id: str
    """The run's id."""
    account: str
    """The reconciled account."""
    start: date
    """The first day reconciled."""
    end: date
    """The last day reconciled."""
    status: RunStatus
    """Done, or rolled back."""
    dry_run: bool
    """A dry run: computed and reported, nothing written."""
    statement_items: int
    """Statement lines looked at."""
    ledger_items: int
    """Ledger postings looked at."""
    matched_statement_items: int
    """Of those lines, how many it matched (with earlier matches: see the report)."""
    matched_ledger_items: int
    """Of those postings, how many it matched."""
    matches: int
    """Matches it made."""
    breaks: tuple[tuple[str, int], ...]
    """Open breaks after it, by class: ``(class, count)``."""
    created_at: datetime
    """When it ran (UTC)."""

    @property
    def match_rate_permille(self) -> int:
        """Items matched per mille of items looked at, both sides together (1000 when none)."""
        total = self.statement_items + self.ledger_items
        matched = self.matched_statement_items + self.matched_ledger_items
        return 1000 if total == 0 else matched * 1000 // total


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One thing done to a run, a match or a break, by whom and when."""

    seq: int
    """Its place in the tenant's audit trail (increasing)."""
    at: datetime
    """When (UTC)."""
    actor: str
    """Who did it (``run`` for a run, else the person's id)."""
    action: str
    """What was done: a :class:`BreakAction` value, or ``run``, ``rollback``, ``import``."""
    subject: str
    """The run, match, break or statement it was done to."""
    detail: str
    """The reason given, the approver, the entry posted …"""
