"""The business-day calendar: which weekdays count, which dates are holidays.

Distances are computed through a *business-day index*: the number of
business days in ``[EPOCH, day)``. The distance between two dates is the
difference of their indexes, which is the number of business days in
``[earlier, later)`` (what ``numpy.busday_count`` and polars'
``business_day_count`` return). One vectorised call per side gives every
index; a window then becomes an integer range on the index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from finplug_reconciliation.matching._errors import MatchInputError

__all__ = ["EPOCH", "Calendar"]

#: The day business-day indexes count from (any fixed day works: only differences are used).
EPOCH = date(1970, 1, 5)

_MON_TO_FRI = (True, True, True, True, True, False, False)


@dataclass(frozen=True, slots=True)
class Calendar:
    """Business days: ``weekmask`` (Monday first, seven booleans) minus ``holidays``."""

    weekmask: tuple[bool, ...] = _MON_TO_FRI
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        mask = self.weekmask
        if len(mask) != 7 or not all(isinstance(day, bool) for day in mask):
            raise MatchInputError(
                "calendar", "weekmask", f"expected 7 booleans (Monday first), got {mask!r}"
            )
        if not any(mask):
            raise MatchInputError("calendar", "weekmask", "expected at least one business day")
        for day in self.holidays:
            if isinstance(day, datetime) or not isinstance(day, date):
                raise MatchInputError(
                    "calendar", "holidays", f"expected datetime.date values, got {day!r}"
                )

    def index_expr(self, column: pl.Expr) -> pl.Expr:
        """Business-day index of each date in ``column`` (Int64), vectorised."""
        return pl.business_day_count(
            pl.lit(EPOCH, dtype=pl.Date),
            column,
            week_mask=self.weekmask,
            holidays=sorted(self.holidays),
        ).cast(pl.Int64)

    def business_days(self, a: date, b: date) -> int:
        """Business days between ``a`` and ``b`` (in ``[earlier, later)``), always ``>= 0``."""
        frame = pl.DataFrame({"a": [a], "b": [b]}, schema={"a": pl.Date, "b": pl.Date})
        index = frame.select(self.index_expr(pl.col("a")), self.index_expr(pl.col("b")).alias("c"))
        return abs(int(index.item(0, 1)) - int(index.item(0, 0)))
