"""``match``: rules in priority order over what earlier rules left, then breaks.

The engine holds no state and touches no storage: two sides and a rule set
in, a :class:`~._result.MatchResult` out. Inside, items are known by their
rank in id order (``idx``); ids come back only when the result is built, so
the result never depends on input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from finplug_reconciliation.matching._assemble import build_breaks, build_matches
from finplug_reconciliation.matching._breaks import BreakPolicy, classify
from finplug_reconciliation.matching._calendar import Calendar
from finplug_reconciliation.matching._candidates import Single, candidate_pairs
from finplug_reconciliation.matching._errors import MatchInputError
from finplug_reconciliation.matching._groups import GroupMatch, SearchStats, group_matches
from finplug_reconciliation.matching._items import Item, prepare, to_frame
from finplug_reconciliation.matching._one_to_one import assign
from finplug_reconciliation.matching._result import BREAK_KINDS, MatchResult, MatchStats, RuleStats
from finplug_reconciliation.matching._rules import MatchRule

__all__ = ["match"]

_NO_PAIRS: Final = pl.DataFrame(
    schema={"s_idx": pl.Int64, "l_idx": pl.Int64, "score": pl.Int64, "rule_no": pl.Int32}
)
_SINGLE: Final[dict[str, Single]] = {
    "one_to_one": "pair",
    "one_to_many": "statement",
    "many_to_one": "ledger",
    "many_to_many": "graph",
}


def _checked_rules(rules: Sequence[MatchRule]) -> list[MatchRule]:
    given: object = rules
    if isinstance(given, MatchRule | str) or not isinstance(given, Sequence):
        raise MatchInputError("rules", "rules", "expected a sequence of MatchRule")
    seen: set[str] = set()
    for position, rule in enumerate(rules):
        if not isinstance(rule, MatchRule):
            raise MatchInputError(
                "rules", "rule", f"expected a MatchRule, got {type(rule).__name__}", row=position
            )
        if rule.name in seen:
            raise MatchInputError(
                "rules", "name", f"expected unique rule names, {rule.name!r} repeats", row=position
            )
        seen.add(rule.name)
    return sorted(rules, key=lambda r: (r.priority, r.name))


class _Run:
    """The state of one ``match`` call: the frames, what is left, what was found."""

    def __init__(self, statement: pl.DataFrame, ledger: pl.DataFrame) -> None:
        self.statement = statement
        self.ledger = ledger
        self.s_left = statement
        self.l_left = ledger
        self.pairs: list[pl.DataFrame] = [_NO_PAIRS]
        self.names: list[str] = []
        self.groups: list[tuple[str, GroupMatch]] = []
        self.stats: list[RuleStats] = []

    def run(self, rule: MatchRule) -> None:
        seen_s, seen_l = self.s_left.height, self.l_left.height
        search = SearchStats()
        candidates = 0
        if seen_s and seen_l:
            edges = candidate_pairs(self.s_left, self.l_left, rule, _SINGLE[rule.shape])
            candidates = edges.height
            if rule.shape == "one_to_one":
                chosen = assign(edges).select("s_idx", "l_idx", "score")
                rule_no = pl.lit(len(self.names), dtype=pl.Int32).alias("rule_no")
                self.pairs.append(chosen.with_columns(rule_no))
                self.names.append(rule.name)
                found = chosen.height
                s_idx, l_idx = chosen.get_column("s_idx"), chosen.get_column("l_idx")
            else:
                groups, search = group_matches(edges, rule)
                self.groups += [(rule.name, g) for g in groups]
                found = len(groups)
                s_idx = pl.Series([i for g in groups for i in g.statement], dtype=pl.Int64)
                l_idx = pl.Series([i for g in groups for i in g.ledger], dtype=pl.Int64)
            self.s_left = self.s_left.join(pl.DataFrame({"idx": s_idx}), on="idx", how="anti")
            self.l_left = self.l_left.join(pl.DataFrame({"idx": l_idx}), on="idx", how="anti")
        else:
            found = 0
        self.stats.append(
            RuleStats(
                rule=rule.name,
                shape=rule.shape,
                statement_items=seen_s,
                ledger_items=seen_l,
                candidate_pairs=candidates,
                matches=found,
                matched_statement_items=seen_s - self.s_left.height,
                matched_ledger_items=seen_l - self.l_left.height,
                searches=search.searches,
                searches_cut=search.cut,
                nodes_used=search.nodes,
                max_search_nodes=search.max_nodes,
            )
        )


def match(
    statement: pl.DataFrame | Sequence[Item],
    ledger: pl.DataFrame | Sequence[Item],
    rules: Sequence[MatchRule],
    calendar: Calendar | None = None,
) -> MatchResult:
    """Match statement lines against ledger transfers with ``rules``; classify the rest.

    Rules run by ``(priority, name)``, each over the items no earlier rule
    matched. ``calendar`` (Monday to Friday, no holidays, by default) counts
    the business days of date windows. Raises
    :class:`~._errors.MatchInputError` (or a subclass) for invalid input.
    """
    ordered = _checked_rules(rules)
    if calendar is None:
        calendar = Calendar()
    elif not isinstance(calendar, Calendar):
        raise MatchInputError("calendar", "calendar", "expected a Calendar")
    s_frame, l_frame = to_frame("statement", statement), to_frame("ledger", ledger)
    needs = {
        "counterparty": any(r.counterparty.mode != "ignore" for r in ordered),
        "text": any(r.reference.mode == "contains" for r in ordered),
    }
    run = _Run(prepare(s_frame, calendar, **needs), prepare(l_frame, calendar, **needs))
    for rule in ordered:
        run.run(rule)
    found = classify(
        run.statement, run.ledger, run.s_left, run.l_left, BreakPolicy.from_rules(ordered)
    )
    matches = build_matches(run.statement, run.ledger, pl.concat(run.pairs), run.names, run.groups)
    breaks = build_breaks(run.statement, run.ledger, found)
    counts = dict.fromkeys(BREAK_KINDS, 0)
    for item in breaks:
        counts[item.kind] += 1
    stats = MatchStats(
        rules=tuple(run.stats),
        statement_items=s_frame.height,
        ledger_items=l_frame.height,
        matched_statement_items=s_frame.height - run.s_left.height,
        matched_ledger_items=l_frame.height - run.l_left.height,
        breaks=tuple(counts.items()),
    )
    return MatchResult(matches=tuple(matches), breaks=tuple(breaks), stats=stats)
