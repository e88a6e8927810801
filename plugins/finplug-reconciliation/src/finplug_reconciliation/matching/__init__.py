"""The matching engine: statement lines against ledger transfers, pure and storage-free.

:func:`match` takes the two sides (polars DataFrames or sequences of
:class:`Item`), a sequence of :class:`MatchRule` and a :class:`Calendar`,
and returns a :class:`MatchResult`: every item is in exactly one
:class:`Match` or one :class:`BreakCandidate`. Amounts are integer minor
units and scores integers per mille throughout; results never depend on
input order or machine speed. See ``docs/reconciliation-matching.md``.
"""

from __future__ import annotations

from finplug_reconciliation.matching._calendar import Calendar
from finplug_reconciliation.matching._engine import match
from finplug_reconciliation.matching._errors import (
    DuplicateIdError,
    MatchInputError,
    NonIntegerAmountError,
)
from finplug_reconciliation.matching._items import Item
from finplug_reconciliation.matching._result import (
    BREAK_KINDS,
    BreakCandidate,
    BreakKind,
    Match,
    MatchResult,
    MatchStats,
    RuleStats,
)
from finplug_reconciliation.matching._rules import (
    AmountRule,
    CounterpartyRule,
    DateRule,
    Limits,
    MatchRule,
    ReferenceRule,
    Shape,
)
from finplug_reconciliation.matching._text import normalise, similarity

__all__ = [
    "BREAK_KINDS",
    "AmountRule",
    "BreakCandidate",
    "BreakKind",
    "Calendar",
    "CounterpartyRule",
    "DateRule",
    "DuplicateIdError",
    "Item",
    "Limits",
    "Match",
    "MatchInputError",
    "MatchResult",
    "MatchRule",
    "MatchStats",
    "NonIntegerAmountError",
    "ReferenceRule",
    "RuleStats",
    "Shape",
    "match",
    "normalise",
    "similarity",
]
