"""Reconciliation reports: match rate, breaks by class and age, the reconciled balance per day.

For an account and a period: every statement line and ledger posting of
the period, whether matched (by a rule, by hand, or with an adjusting
entry), accepted, or in an open break; the match rate per mille on each
side by count and amount (accepted items are counted apart, not as
matched); open breaks by class and age bucket (0-1, 2-7, 8-30, over 30
days); and per day the statement's and the ledger's totals, their cumulative difference,
the open breaks' cumulative difference, what accepted breaks left, what
matches within a rule's tolerance left, and what none of those explains
(zero when every difference is accounted for).
Rendered as JSON or CSV; amounts are exact decimal strings.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import select

from finplug import Money, UnitOfWork
from finplug.sockets.reconciliation import BreakStatus, MatchSide, ReconciliationError
from finplug_reconciliation._collect import ledger_items, statement_items
from finplug_reconciliation._matchstore import taken
from finplug_reconciliation._runs import Runs
from finplug_reconciliation._schema import break_items, breaks, matches
from finplug_reconciliation._store import load_breaks

__all__ = ["AGE_BUCKETS", "Reports"]

#: Age buckets of open breaks, in days: (label, lowest, highest).
AGE_BUCKETS: Final = (("0-1", 0, 1), ("2-7", 2, 7), ("8-30", 8, 30), ("31+", 31, None))


def _bucket(age: int) -> str:
    for label, low, high in AGE_BUCKETS:
        if age >= low and (high is None or age <= high):
            return label
    return AGE_BUCKETS[-1][0]


class Reports:
    """A tenant's reconciliation reports."""

    def __init__(
        self, runs: Runs, unit_of_work: Callable[[], UnitOfWork], clock: Callable[[], datetime]
    ) -> None:
        self._runs = runs
        self._uow = unit_of_work
        self._clock = clock

    def data(self, name: str, start: date, end: date) -> dict[str, Any]:
        """The report as plain data (see the module docstring)."""
        account = self._runs.account(name)
        code = account.currency
        today = self._clock().astimezone(ZoneInfo(account.timezone)).date()
        with self._uow() as uow:
            conn = uow.conn
            lines = statement_items(conn, name, start, end, all_items=True)
            postings = ledger_items(uow, name, account, start, end, all_items=True)
            took = {
                (side.value, item): match
                for side, frame in ((MatchSide.STATEMENT, lines), (MatchSide.LEDGER, postings))
                for item, match in taken(conn, side, frame["id"].to_list()).items()
            }
            accepted = set(
                conn.execute(
                    select(matches.c.id).where(
                        matches.c.account == name,
                        matches.c.rule == "accepted",
                        matches.c.live.is_(True),
                    )
                ).scalars()
            )
            held = {
                (side, item)
                for side, item in conn.execute(
                    select(break_items.c.side, break_items.c.item)
                    .join(breaks, breaks.c.id == break_items.c.break_id)
                    .where(breaks.c.account == name, breaks.c.status == BreakStatus.OPEN.value)
                )
            }
            open_breaks = load_breaks(conn, name, BreakStatus.OPEN, None, 1_000_000)
        sides = {MatchSide.STATEMENT.value: lines, MatchSide.LEDGER.value: postings}
        rate: dict[str, Any] = {}
        days: dict[date, dict[str, int]] = {}
        day = start
        while day <= end:
            days[day] = {"statement": 0, "ledger": 0, "open": 0, "accepted": 0, "tolerated": 0}
            day += timedelta(days=1)
        for side, frame in sides.items():
            count = amount = matched_count = matched_amount = accepted_count = 0
            for ident, value, on in zip(frame["id"], frame["amount"], frame["on"], strict=True):
                count += 1
                amount += abs(value)
                sign = 1 if side == MatchSide.STATEMENT.value else -1
                days[on][side] += value
                match = took.get((side, ident))
                if match in accepted:
                    accepted_count += 1
                    days[on]["accepted"] += sign * value
                elif match is not None:
                    matched_count += 1
                    matched_amount += abs(value)
                    days[on]["tolerated"] += sign * value
                elif (side, ident) in held:
                    days[on]["open"] += sign * value
            rate[side] = {
                "items": count,
                "matched": matched_count,
                "accepted": accepted_count,
                "per_mille": 1000 if count == 0 else matched_count * 1000 // count,
                "amount": str(Money.from_minor(amount, code).amount),
                "matched_amount": str(Money.from_minor(matched_amount, code).amount),
                "amount_per_mille": 1000 if amount == 0 else matched_amount * 1000 // amount,
            }
        by_class: dict[str, dict[str, int]] = {}
        for found in open_breaks:
            ages = by_class.setdefault(found.kind.value, {label: 0 for label, *_ in AGE_BUCKETS})
            ages[_bucket(found.age(today))] += 1

        def money(minor: int) -> str:
            return str(Money.from_minor(minor, code).amount)

        balance: list[dict[str, str]] = []
        difference = opened = left = tolerated = 0
        for on, sums in days.items():
            difference += sums["statement"] - sums["ledger"]
            opened += sums["open"]
            left += sums["accepted"]
            tolerated += sums["tolerated"]
            balance.append(
                {
                    "day": on.isoformat(),
                    "statement": money(sums["statement"]),
                    "ledger": money(sums["ledger"]),
                    "difference": money(difference),
                    "open_breaks": money(opened),
                    "accepted": money(left),
                    "tolerated": money(tolerated),
                    "unexplained": money(difference - opened - left - tolerated),
                }
            )
        return {
            "account": name,
            "currency": code,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "as_of": today.isoformat(),
            "match_rate": rate,
            "open_breaks": by_class,
            "balance": balance,
        }

    def render(self, name: str, start: date, end: date, fmt: str) -> str:
        """The report as JSON, or its per-day balance as CSV."""
        if fmt not in ("json", "csv"):
            raise ReconciliationError(f"a report is json or csv, not {fmt!r}")
        data = self.data(name, start, end)
        if fmt == "json":
            return json.dumps(data, indent=2, sort_keys=True) + "\n"
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(data["balance"][0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(data["balance"])
        return out.getvalue()
