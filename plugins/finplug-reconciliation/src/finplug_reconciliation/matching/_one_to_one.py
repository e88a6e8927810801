"""1:1 assignment: greedy in a canonical order, computed mostly with columns.

The reference semantics is the plain greedy loop: sort the candidate pairs
by the canonical key (for matches: score descending, then ``|amount
difference|``, business days apart, statement id, ledger id, all
ascending) and take each pair whose two items are both still free. The ids
close the key (items are numbered in id order, so the numbers stand in for
the ids), the order is total and the result does not depend on input order.

The same result is computed without a per-pair Python loop:

* a pair whose statement item and ledger item have no other candidate is
  taken by the greedy loop whatever the order; such pairs are taken at once;
* a pair that comes first, in the canonical order, among both its
  statement item's and its ledger item's pairs (*mutual best*) is taken by
  the loop too (no earlier pair touches either item); taking all of them and
  dropping every pair touching their items leaves a smaller problem whose
  greedy result is the rest of the original one.

Rounds of these two steps run until few pairs remain; those go through the
plain loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

__all__ = ["MATCH_ORDER", "assign"]

#: The canonical order of candidate pairs for 1:1 matches: (columns, descending flags).
MATCH_ORDER: tuple[tuple[str, ...], tuple[bool, ...]] = (
    ("score", "adiff", "bd", "s_idx", "l_idx"),
    (True, False, False, False, False),
)
_LOOP_BELOW = 2_000
_MAX_ROUNDS = 8


def _loop(pairs: pl.DataFrame, by: Sequence[str], descending: Sequence[bool]) -> pl.DataFrame:
    ordered = pairs.sort(list(by), descending=list(descending))
    used_s: set[int] = set()
    used_l: set[int] = set()
    taken: list[bool] = []
    s_idx = ordered.get_column("s_idx").to_list()
    l_idx = ordered.get_column("l_idx").to_list()
    for s, g in zip(s_idx, l_idx, strict=True):
        free = s not in used_s and g not in used_l
        if free:
            used_s.add(s)
            used_l.add(g)
        taken.append(free)
    return ordered.filter(pl.Series(taken, dtype=pl.Boolean))


def assign(
    pairs: pl.DataFrame,
    order: tuple[Sequence[str], Sequence[bool]] = MATCH_ORDER,
) -> pl.DataFrame:
    """The pairs the canonical greedy loop takes (columns ``s_idx``, ``l_idx`` + ``order``)."""
    by, descending = list(order[0]), list(order[1])
    taken: list[pl.DataFrame] = []
    rest = pairs
    for round_ in range(_MAX_ROUNDS + 1):
        degrees = rest.with_columns(
            pl.len().over("s_idx").alias("_ds"), pl.len().over("l_idx").alias("_dl")
        )
        alone = (pl.col("_ds") == 1) & (pl.col("_dl") == 1)
        taken.append(degrees.filter(alone).drop("_ds", "_dl"))
        rest = degrees.filter(~alone).drop("_ds", "_dl")
        if rest.height == 0:
            break
        if rest.height < _LOOP_BELOW or round_ == _MAX_ROUNDS:
            taken.append(_loop(rest, by, descending))
            break
        ranked = rest.sort(by, descending=descending).with_row_index("_rank")
        rank = pl.col("_rank")
        best = ranked.filter(
            (rank == rank.min().over("s_idx")) & (rank == rank.min().over("l_idx"))
        )
        taken.append(best.drop("_rank"))
        rest = (
            ranked.drop("_rank")
            .join(best.select("s_idx"), on="s_idx", how="anti")
            .join(best.select("l_idx"), on="l_idx", how="anti")
        )
        if rest.height == 0:
            break
    return pl.concat(taken, how="vertical")
