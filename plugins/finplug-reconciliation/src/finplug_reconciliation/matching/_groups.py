"""Group matches: 1:n, n:1 and n:m, found by bounded, deterministic subset searches.

The candidate pairs of a group rule (every criterion except the amount,
which applies to the group's totals) form a bipartite graph.

* **1:n** (n:1 mirrors it): the single items are taken by id; each sees its
  still-free neighbours, sorted by id. If they number at most ``max_items``
  and their total is within tolerance, they all match. Otherwise sizes
  ``1..max_items`` are tried in turn, subsets of one size in lexicographic
  order of ids: the first within tolerance wins (smallest set, then
  smallest ids).
* **n:m**: each connected component is matched whole if it fits the limits
  and its totals agree; otherwise the search orders candidates by total
  size, then statement-side size, then statement ids, then ledger ids; the
  ledger side of a candidate is drawn from the neighbours of its statement
  side, and every item must have a neighbour on the other side. After a
  match the rest of the component is split again and searched again.

Every search has a budget of ``max_nodes`` nodes (a node is one subset
considered, pruned or not); a search that spends it matches nothing and is
counted as cut. Bounds on what a suffix of the pool can still add prune
hopeless branches; node counts are a function of the data alone.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from finplug_reconciliation.matching._candidates import closeness, combine
from finplug_reconciliation.matching._rules import MatchRule

__all__ = ["GroupMatch", "SearchStats", "group_matches"]


@dataclass(frozen=True, slots=True)
class GroupMatch:
    """One group found by a rule: item indexes of each side, and its score."""

    statement: tuple[int, ...]
    ledger: tuple[int, ...]
    score: int


@dataclass(slots=True)
class SearchStats:
    """Search work of one rule: searches run, searches cut, nodes used."""

    searches: int = 0
    cut: int = 0
    nodes: int = 0
    max_nodes: int = 0

    def add(self, used: int, *, cut: bool) -> None:
        """Count one finished search that used ``used`` nodes."""
        self.searches += 1
        self.cut += cut
        self.nodes += used
        self.max_nodes = max(self.max_nodes, used)


class _ExhaustedError(Exception):
    pass


class _Budget:
    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def tick(self) -> None:
        if self.used >= self.limit:
            raise _ExhaustedError
        self.used += 1


def _suffix_bounds(values: Sequence[int], k: int) -> tuple[list[list[int]], list[list[int]]]:
    """``top[i][r]``, ``bottom[i][r]``: largest, smallest sum of ``r`` values in ``values[i:]``."""
    top: list[list[int]] = [[0]]
    bottom: list[list[int]] = [[0]]
    largest: list[int] = []  # ascending, the k largest of the suffix
    smallest: list[int] = []  # ascending, the k smallest of the suffix
    for value in reversed(values):
        bisect.insort(largest, value)
        if len(largest) > k:
            largest.pop(0)
        bisect.insort(smallest, value)
        if len(smallest) > k:
            smallest.pop()
        top.append(list(itertools.accumulate(reversed(largest), initial=0)))
        bottom.append(list(itertools.accumulate(smallest, initial=0)))
    top.reverse()
    bottom.reverse()
    return top, bottom


def first_subset(
    values: Sequence[int],
    k: int,
    lo: int,
    hi: int,
    accept: Callable[[tuple[int, ...]], bool],
    budget: _Budget,
) -> tuple[int, ...] | None:
    """The first ``k``-subset (positions, lexicographic) with sum in ``[lo, hi]`` and accepted."""
    n = len(values)
    if k > n or k < 1:
        return None
    top, bottom = _suffix_bounds(values, k)
    chosen: list[int] = []

    def walk(start: int, partial: int) -> tuple[int, ...] | None:
        need = k - len(chosen)
        for i in range(start, n - need + 1):
            budget.tick()
            total = partial + values[i]
            rest = need - 1
            if total + bottom[i + 1][rest] > hi or total + top[i + 1][rest] < lo:
                continue
            chosen.append(i)
            if rest == 0:
                found = tuple(chosen) if accept(tuple(chosen)) else None
            else:
                found = walk(i + 1, total)
            chosen.pop()
            if found is not None:
                return found
        return None

    return walk(0, 0)


class _Graph:
    """The candidate graph of one rule, with node data and edge scores."""

    def __init__(self, edges: pl.DataFrame) -> None:
        cols = ["s_idx", "l_idx", "s_amount", "l_amount", "bd", "ref_score", "cp_score"]
        self.amount: dict[tuple[int, int], int] = {}
        self.adj: dict[tuple[int, int], set[tuple[int, int]]] = {}
        self.edge: dict[frozenset[tuple[int, int]], tuple[int, int, int]] = {}
        for s, g, s_amt, l_amt, bd, ref, cp in edges.select(cols).iter_rows():
            a, b = (0, s), (1, g)
            self.amount[a], self.amount[b] = s_amt, l_amt
            self.adj.setdefault(a, set()).add(b)
            self.adj.setdefault(b, set()).add(a)
            self.edge[frozenset((a, b))] = (ref, cp, bd)

    @staticmethod
    def key(node: tuple[int, int]) -> tuple[int, int]:
        """Nodes are (side, idx); idx order is id order."""
        return node

    def score(self, rule: MatchRule, nodes: Sequence[tuple[int, int]]) -> int:
        members = set(nodes)
        ref = cp = 1000
        bd = 0
        for node in nodes:
            own = [self.edge[frozenset((node, o))] for o in self.adj[node] & members]
            ref = min(ref, max(e[0] for e in own))
            cp = min(cp, max(e[1] for e in own))
            bd = max(bd, min(e[2] for e in own))
        s_total = sum(self.amount[n] for n in nodes if n[0] == 0)
        l_total = sum(self.amount[n] for n in nodes if n[0] == 1)
        tol = rule.amount.allowed(s_total, l_total)
        window = rule.date.window
        return combine(rule, ref, cp, closeness(abs(s_total - l_total), tol), closeness(bd, window))

    def found(self, rule: MatchRule, nodes: Sequence[tuple[int, int]]) -> GroupMatch:
        stmt = tuple(n[1] for n in sorted(nodes, key=self.key) if n[0] == 0)
        ledger = tuple(n[1] for n in sorted(nodes, key=self.key) if n[0] == 1)
        return GroupMatch(stmt, ledger, self.score(rule, nodes))


def _group_for(
    graph: _Graph,
    rule: MatchRule,
    single: tuple[int, int],
    pool: list[tuple[int, int]],
    stats: SearchStats,
) -> list[tuple[int, int]] | None:
    """The members ``single`` matches among ``pool`` (sorted by id), or ``None``."""
    amount_rule, limits = rule.amount, rule.limits
    amount = graph.amount[single]

    def within(members: Sequence[tuple[int, int]]) -> bool:
        total = sum(graph.amount[m] for m in members)
        if single[0] == 0:
            return amount_rule.within(amount, total)
        return amount_rule.within(total, amount)

    def accept(chosen: tuple[int, ...]) -> bool:
        return within([pool[i] for i in chosen])

    if len(pool) <= limits.max_items and within(pool):
        return pool
    values = [abs(graph.amount[m]) for m in pool]
    lo, hi = abs(amount) - amount_rule.bound(), abs(amount) + amount_rule.bound()
    budget = _Budget(limits.max_nodes)
    try:
        for k in range(1, min(limits.max_items, len(pool)) + 1):
            hit = first_subset(values, k, lo, hi, accept, budget)
            if hit is not None:
                stats.add(budget.used, cut=False)
                return [pool[i] for i in hit]
    except _ExhaustedError:
        stats.add(budget.used, cut=True)
        return None
    stats.add(budget.used, cut=False)
    return None


def _single_side(graph: _Graph, rule: MatchRule, side: int, stats: SearchStats) -> list[GroupMatch]:
    used: set[tuple[int, int]] = set()
    out: list[GroupMatch] = []
    for single in sorted((n for n in graph.adj if n[0] == side), key=graph.key):
        pool = sorted((m for m in graph.adj[single] if m not in used), key=graph.key)
        if not pool:
            continue
        chosen = _group_for(graph, rule, single, pool, stats)
        if chosen is not None:
            used.update(chosen)
            out.append(graph.found(rule, [single, *chosen]))
    return out


def _components(graph: _Graph, alive: set[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    seen: set[tuple[int, int]] = set()
    out: list[list[tuple[int, int]]] = []
    for start in sorted(alive, key=graph.key):
        if start in seen:
            continue
        seen.add(start)
        comp, todo = [start], [start]
        while todo:
            for other in graph.adj[todo.pop()] & alive:
                if other not in seen:
                    seen.add(other)
                    comp.append(other)
                    todo.append(other)
        if len(comp) > 1:
            out.append(comp)
    return out


def _search_component(
    graph: _Graph, rule: MatchRule, comp: list[tuple[int, int]], budget: _Budget
) -> list[tuple[int, int]] | None:
    limits, amount_rule = rule.limits, rule.amount
    stmt = sorted((n for n in comp if n[0] == 0), key=graph.key)
    ledger = sorted((n for n in comp if n[0] == 1), key=graph.key)
    rank = {n: i for i, n in enumerate(ledger)}
    cap = limits.max_items
    for size in range(2, 2 * cap + 1):
        for a in range(max(1, size - cap), min(cap, size - 1) + 1):
            b = size - a
            if a > len(stmt) or b > len(ledger):
                continue
            for picked in itertools.combinations(stmt, a):
                budget.tick()
                near = set().union(*(graph.adj[s] for s in picked))
                pool = sorted((n for n in near if n in rank), key=rank.__getitem__)
                if len(pool) < b:
                    continue
                s_total = sum(graph.amount[s] for s in picked)
                lo = abs(s_total) - amount_rule.bound()
                hi = abs(s_total) + amount_rule.bound()

                def accept(
                    ch: tuple[int, ...],
                    pool: list[tuple[int, int]] = pool,
                    picked: tuple[tuple[int, int], ...] = picked,
                    s_total: int = s_total,
                ) -> bool:
                    side = {pool[i] for i in ch}
                    l_total = sum(graph.amount[n] for n in side)
                    if not amount_rule.within(s_total, l_total):
                        return False
                    return all(graph.adj[s] & side for s in picked)

                values = [abs(graph.amount[n]) for n in pool]
                hit = first_subset(values, b, lo, hi, accept, budget)
                if hit is not None:
                    return [*picked, *(pool[i] for i in hit)]
    return None


def _many_to_many(graph: _Graph, rule: MatchRule, stats: SearchStats) -> list[GroupMatch]:
    limits = rule.limits
    out: list[GroupMatch] = []
    todo = _components(graph, set(graph.adj))
    while todo:
        comp = todo.pop(0)
        stmt = [n for n in comp if n[0] == 0]
        ledger = [n for n in comp if n[0] == 1]
        if len(stmt) <= limits.max_items and len(ledger) <= limits.max_items:
            s_total = sum(graph.amount[n] for n in stmt)
            l_total = sum(graph.amount[n] for n in ledger)
            if rule.amount.within(s_total, l_total):
                out.append(graph.found(rule, comp))
                continue
        budget = _Budget(limits.max_nodes)
        try:
            hit = _search_component(graph, rule, comp, budget)
        except _ExhaustedError:
            stats.add(budget.used, cut=True)
            continue
        stats.add(budget.used, cut=False)
        if hit is None:
            continue
        out.append(graph.found(rule, hit))
        rest = set(comp) - set(hit)
        todo = sorted([*todo, *_components(graph, rest)], key=lambda c: min(map(graph.key, c)))
    return out


def group_matches(edges: pl.DataFrame, rule: MatchRule) -> tuple[list[GroupMatch], SearchStats]:
    """The groups ``rule`` (not 1:1) finds among its candidate pairs ``edges``."""
    graph = _Graph(edges)
    stats = SearchStats()
    if rule.shape == "one_to_many":
        return _single_side(graph, rule, 0, stats), stats
    if rule.shape == "many_to_one":
        return _single_side(graph, rule, 1, stats), stats
    return _many_to_many(graph, rule, stats), stats
