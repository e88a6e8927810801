"""Typed, located errors for what a caller passes to the matching engine.

Findings about the data (an unmatched line, an amount mismatch) are never
errors: they are :class:`~finplug_reconciliation.matching.BreakCandidate`
values. These errors are for input the engine refuses to read.
"""

from __future__ import annotations

from finplug import FinplugError

__all__ = ["DuplicateIdError", "MatchInputError", "NonIntegerAmountError"]


class MatchInputError(FinplugError, ValueError):
    """An input of :func:`~finplug_reconciliation.matching.match` is invalid.

    Located as precisely as possible: ``side`` is ``"statement"``, ``"ledger"``,
    ``"rules"`` or ``"calendar"``; ``row`` the 0-based row (or sequence
    index) when one row is at fault; ``field`` the column or attribute.
    ``str(error)`` reads ``statement row 3: amount: expected ...``.
    """

    def __init__(self, side: str, field: str, message: str, *, row: int | None = None) -> None:
        self.side = side
        self.row = row
        self.field = field
        self.message = message
        where = side if row is None else f"{side} row {row}"
        super().__init__(f"{where}: {field}: {message}")


class DuplicateIdError(MatchInputError):
    """Two rows of one side share an id (ids must be unique per side)."""


class NonIntegerAmountError(MatchInputError):
    """An amount is not an integer number of minor units (a float or decimal column)."""
