"""Turning the engine's index frames into the result's named tuples, in canonical order.

Items are numbered in id order (see :func:`~._items.prepare`), so sorting
by number is sorting by id. A million matches are built without a Python
loop per match: columns come out of polars as lists and are zipped straight
into ``tuple.__new__`` (what ``NamedTuple._make`` does). The cyclic garbage
collector is paused meanwhile: these tuples hold only strings and ints and
cannot form cycles, and collecting while a million containers are created
would triple the time.
"""

from __future__ import annotations

import gc
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import repeat

import polars as pl

from finplug_reconciliation.matching._breaks import Breaks
from finplug_reconciliation.matching._groups import GroupMatch
from finplug_reconciliation.matching._result import BreakCandidate, BreakKind, Match

__all__ = ["build_breaks", "build_matches"]


@contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _make_matches(rows: Iterable[tuple[object, ...]]) -> list[Match]:
    with _collector_paused():
        return list(map(tuple.__new__, repeat(Match), rows))


def _make_breaks(rows: Iterable[tuple[object, ...]]) -> list[BreakCandidate]:
    with _collector_paused():
        return list(map(tuple.__new__, repeat(BreakCandidate), rows))


def build_matches(
    statement: pl.DataFrame,
    ledger: pl.DataFrame,
    pairs: pl.DataFrame,
    names: Sequence[str],
    groups: Sequence[tuple[str, GroupMatch]],
) -> list[Match]:
    """Matches sorted by statement ids: 1:1 ``pairs`` and ``groups``, merged.

    ``pairs`` has columns ``s_idx``, ``l_idx``, ``score`` and ``rule_no``
    (an index into ``names``).
    """
    s_id, s_amount = statement.get_column("id"), statement.get_column("amount")
    l_id, l_amount = ledger.get_column("id"), ledger.get_column("amount")
    frame = pairs.sort("s_idx")
    s_idx, l_idx = frame.get_column("s_idx"), frame.get_column("l_idx")
    s_amt, l_amt = s_amount.gather(s_idx), l_amount.gather(l_idx)
    single = _make_matches(
        zip(
            map(names.__getitem__, frame.get_column("rule_no").to_list()),
            frame.get_column("score").to_list(),
            zip(s_id.gather(s_idx).to_list()),
            zip(l_id.gather(l_idx).to_list()),
            s_amt.to_list(),
            l_amt.to_list(),
            (s_amt - l_amt).to_list(),
            strict=True,
        )
    )
    keyed: list[tuple[int, Match]] = []
    for rule, group in groups:
        s_rows, l_rows = list(group.statement), list(group.ledger)
        s_total = int(s_amount.gather(s_rows).sum())
        l_total = int(l_amount.gather(l_rows).sum())
        found = Match(
            rule,
            group.score,
            tuple(s_id.gather(s_rows).to_list()),
            tuple(l_id.gather(l_rows).to_list()),
            s_total,
            l_total,
            s_total - l_total,
        )
        keyed.append((group.statement[0], found))
    keyed.sort(key=lambda pair: pair[0])
    keys = s_idx.to_list()
    out: list[Match] = []
    done = 0
    for key, found in keyed:
        at = bisect_left(keys, key)
        out += single[done:at]
        out.append(found)
        done = at
    out += single[done:]
    return out


def _singles(
    kind: BreakKind, frame: pl.DataFrame, idx: pl.Series, *, statement: bool
) -> list[BreakCandidate]:
    ordered = idx.sort()
    ids = zip(frame.get_column("id").gather(ordered).to_list())
    amounts = frame.get_column("amount").gather(ordered).to_list()
    if statement:
        return _make_breaks(zip(repeat(kind), ids, repeat(()), amounts, repeat(0)))
    return _make_breaks(zip(repeat(kind), repeat(()), ids, repeat(0), amounts))


def _pairs(
    kind: BreakKind, statement: pl.DataFrame, ledger: pl.DataFrame, pairs: pl.DataFrame
) -> list[BreakCandidate]:
    ordered = pairs.sort("s_idx")
    s_idx, l_idx = ordered.get_column("s_idx"), ordered.get_column("l_idx")
    return _make_breaks(
        zip(
            repeat(kind),
            zip(statement.get_column("id").gather(s_idx).to_list()),
            zip(ledger.get_column("id").gather(l_idx).to_list()),
            statement.get_column("amount").gather(s_idx).to_list(),
            ledger.get_column("amount").gather(l_idx).to_list(),
        )
    )


def build_breaks(
    statement: pl.DataFrame, ledger: pl.DataFrame, found: Breaks
) -> list[BreakCandidate]:
    """Breaks by kind (classification order), then statement ids, then ledger ids."""
    return [
        *_singles("duplicate", ledger, found.duplicate_ledger, statement=False),
        *_singles("duplicate", statement, found.duplicate_statement, statement=True),
        *_pairs("amount_mismatch", statement, ledger, found.amount_mismatch),
        *_pairs("timing", statement, ledger, found.timing),
        *_singles("missing_in_ledger", statement, found.missing_in_ledger, statement=True),
        *_singles("missing_in_statement", ledger, found.missing_in_statement, statement=False),
    ]
