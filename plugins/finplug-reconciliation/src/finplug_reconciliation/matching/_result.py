"""What :func:`~finplug_reconciliation.matching.match` returns: matches, breaks, stats.

:class:`Match` and :class:`BreakCandidate` are named tuples: a million of
them are built in well under a second, and they are immutable and compare
by value like the frozen dataclasses around them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

from finplug_reconciliation.matching._rules import Shape

__all__ = [
    "BREAK_KINDS",
    "BreakCandidate",
    "BreakKind",
    "Match",
    "MatchResult",
    "MatchStats",
    "RuleStats",
]

#: What a break can be.
BreakKind = Literal[
    "duplicate", "amount_mismatch", "timing", "missing_in_ledger", "missing_in_statement"
]
#: Break kinds in the order they are classified (and listed in a result).
BREAK_KINDS: Final[tuple[BreakKind, ...]] = (
    "duplicate",
    "amount_mismatch",
    "timing",
    "missing_in_ledger",
    "missing_in_statement",
)


class Match(NamedTuple):
    """Items of the two sides that a rule matched.

    Ids are sorted; totals are in minor units; ``difference`` is
    ``statement_total - ledger_total``; ``score`` is per mille.
    """

    rule: str
    score: int
    statement_ids: tuple[str, ...]
    ledger_ids: tuple[str, ...]
    statement_total: int
    ledger_total: int
    difference: int


class BreakCandidate(NamedTuple):
    """Items no rule matched, classified. One side may be empty (``missing_in_*``)."""

    kind: BreakKind
    statement_ids: tuple[str, ...]
    ledger_ids: tuple[str, ...]
    statement_total: int
    ledger_total: int


@dataclass(frozen=True, slots=True)
class RuleStats:
    """What one rule did: items it saw, candidate pairs, matches, and search work.

    ``max_search_nodes`` is the most nodes one search used; it never exceeds
    the rule's ``limits.max_nodes``. A search cut by its budget matched nothing.
    """

    rule: str
    shape: Shape
    statement_items: int
    ledger_items: int
    candidate_pairs: int
    matches: int
    matched_statement_items: int
    matched_ledger_items: int
    searches: int
    searches_cut: int
    nodes_used: int
    max_search_nodes: int


@dataclass(frozen=True, slots=True)
class MatchStats:
    """Counts of a whole run: per rule (in the order they ran), and per break kind."""

    rules: tuple[RuleStats, ...]
    statement_items: int
    ledger_items: int
    matched_statement_items: int
    matched_ledger_items: int
    breaks: tuple[tuple[BreakKind, int], ...]

    @property
    def searches_cut(self) -> int:
        """Group searches, over all rules, that hit their node budget."""
        return sum(r.searches_cut for r in self.rules)


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Every input item is in exactly one match or one break.

    ``matches`` are sorted by statement ids (then ledger ids); ``breaks`` by
    kind (in :data:`BREAK_KINDS` order), then statement ids, then ledger ids.
    """

    matches: tuple[Match, ...]
    breaks: tuple[BreakCandidate, ...]
    stats: MatchStats
