"""Break classification of the items no rule matched.

In order, each step seeing only what the earlier ones left:

1. **duplicate**: a line identical (amount, date, reference, counterparty,
   as given) to another line of its side, beyond the number of identical
   items on the other side (at least one line is the original). Among the
   unmatched lines of such a group, the highest ids are the copies.
2. **amount_mismatch**: an unmatched statement line and ledger item with the
   same sign and the same normalised reference (or, when a rule uses fuzzy
   references, a similarity at least the lowest such threshold), dates
   within the widest window of the rules, amounts not within any rule's
   tolerance. One break holds both.
3. **timing**: the same, but amounts within some rule's tolerance and dates
   outside the widest window.
4. **missing_in_ledger** / **missing_in_statement**: everything else, one
   break per item.

Pairs for 2 and 3 are chosen like 1:1 matches: greedy in the order
(reference score desc, ``|amount difference|``, business days, statement id,
ledger id), so the result does not depend on input order.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

from finplug_reconciliation.matching._one_to_one import assign
from finplug_reconciliation.matching._rules import AmountRule, MatchRule
from finplug_reconciliation.matching._text import fuzzy_block_pairs

__all__ = ["BreakPolicy", "Breaks", "classify"]

_KEY = ["amount", "on", "reference", "counterparty"]
_ORDER = (("score", "adiff", "bd", "s_idx", "l_idx"), (True, False, False, False, False))


@dataclass(frozen=True, slots=True)
class BreakPolicy:
    """What "same reference", "within tolerance" and "within the window" mean for breaks."""

    window: int
    fuzzy_threshold: int | None
    amount_rules: tuple[AmountRule, ...]

    @classmethod
    def from_rules(cls, rules: Sequence[MatchRule]) -> BreakPolicy:
        """The widest window, the lowest fuzzy reference threshold, every amount rule."""
        thresholds = [r.reference.threshold for r in rules if r.reference.threshold is not None]
        amounts = tuple(dict.fromkeys(r.amount for r in rules)) or (AmountRule(),)
        return cls(
            window=max((r.date.window for r in rules), default=0),
            fuzzy_threshold=min(thresholds) if thresholds else None,
            amount_rules=amounts,
        )

    def bound(self) -> int:
        """The largest tolerance any rule allows."""
        return max(rule.bound() for rule in self.amount_rules)

    def within(self, a: pl.Expr, b: pl.Expr) -> pl.Expr:
        """Whether ``|a - b|`` is within some rule's tolerance (signs checked elsewhere)."""
        diff = (a - b).abs()
        return pl.any_horizontal([diff <= rule.allowed_expr(a, b) for rule in self.amount_rules])


@dataclass(frozen=True, slots=True)
class Breaks:
    """Item indexes (``idx``) per break kind; pairs as frames of ``s_idx``, ``l_idx``."""

    duplicate_statement: pl.Series
    duplicate_ledger: pl.Series
    amount_mismatch: pl.DataFrame
    timing: pl.DataFrame
    missing_in_ledger: pl.Series
    missing_in_statement: pl.Series


def _duplicates(own_all: pl.DataFrame, other_all: pl.DataFrame, left: pl.DataFrame) -> pl.Series:
    keys = left.select(_KEY).unique()
    # Counts as Int64: UInt32 differences would wrap around below zero.
    count = pl.len().cast(pl.Int64)
    own = own_all.join(keys, on=_KEY, how="semi").group_by(_KEY).agg(count.alias("_own"))
    other = other_all.join(keys, on=_KEY, how="semi").group_by(_KEY).agg(count.alias("_oth"))
    counted = (
        left.select("idx", *_KEY)
        .join(own, on=_KEY, how="left")
        .join(other, on=_KEY, how="left")
        .with_columns(pl.col("_oth").fill_null(0))
        .filter(pl.col("_own") >= 2)
    )
    extra = pl.col("_own") - pl.max_horizontal(pl.col("_oth"), pl.lit(1))
    rank = pl.col("idx").rank("ordinal", descending=True).over(_KEY).cast(pl.Int64)
    return counted.filter(rank <= extra).get_column("idx")


def _fuzzy_pairs(
    stmt: pl.DataFrame, ledg: pl.DataFrame, threshold: int, column: str, width: int
) -> pl.DataFrame:
    """Pairs of equal sign, neighbouring ``column // width`` blocks, similar references."""
    stmt = stmt.filter(pl.col("ref_n") != "")
    ledg = ledg.filter(pl.col("ref_n") != "")
    choices: dict[Hashable, tuple[list[str], list[int]]] = {}
    l_block = ledg.select(pl.col("sign"), pl.col(column) // width, "ref_n", "idx")
    for sign, block, ref, idx in l_block.iter_rows():
        texts, keys = choices.setdefault((sign, block), ([], []))
        texts.append(ref)
        keys.append(idx)
    s_block = stmt.select("idx", "ref_n", "sign", (pl.col(column) // width).alias("_b"))
    queries = (
        (idx, ref, [(sign, b - 1), (sign, b), (sign, b + 1)])
        for idx, ref, sign, b in s_block.iter_rows()
    )
    q, c, score = fuzzy_block_pairs(queries, choices, threshold)
    return pl.DataFrame(
        {"s_idx": q, "l_idx": c, "score": score},
        schema={"s_idx": pl.Int64, "l_idx": pl.Int64, "score": pl.Int64},
    )


def _reference_pairs(
    stmt: pl.DataFrame,
    ledg: pl.DataFrame,
    policy: BreakPolicy,
    block: Literal["bdi", "amount"],
    threshold: int | None,
) -> pl.DataFrame:
    """Pairs with equal (or, given a threshold, similar) references and equal signs.

    With ``adiff``, ``bd`` and ``within`` columns, for the kind filters.
    """
    width = (policy.window if block == "bdi" else policy.bound()) + 1
    if threshold is None:
        bucket = pl.col(block) // width
        pairs = (
            stmt.filter(pl.col("ref_n") != "")
            .select(
                pl.col("idx").alias("s_idx"),
                "sign",
                "ref_n",
                pl.concat_list(bucket - 1, bucket, bucket + 1).alias("_b"),
            )
            .explode("_b")
            .join(
                ledg.select(pl.col("idx").alias("l_idx"), "sign", "ref_n", bucket.alias("_b")),
                on=["sign", "ref_n", "_b"],
                how="inner",
            )
            .select("s_idx", "l_idx", pl.lit(1000, dtype=pl.Int64).alias("score"))
        )
    else:
        pairs = _fuzzy_pairs(stmt, ledg, threshold, block, width)
    s_side = stmt.select(
        pl.col("idx").alias("s_idx"),
        pl.col("amount").alias("s_amount"),
        pl.col("bdi").alias("s_bdi"),
    )
    l_side = ledg.select(
        pl.col("idx").alias("l_idx"),
        pl.col("amount").alias("l_amount"),
        pl.col("bdi").alias("l_bdi"),
    )
    s_amount, l_amount = pl.col("s_amount"), pl.col("l_amount")
    return (
        pairs.join(s_side, on="s_idx")
        .join(l_side, on="l_idx")
        .with_columns(
            (s_amount - l_amount).abs().alias("adiff"),
            (pl.col("s_bdi") - pl.col("l_bdi")).abs().alias("bd"),
            policy.within(s_amount, l_amount).alias("within"),
        )
    )


def _paired(
    stmt: pl.DataFrame, ledg: pl.DataFrame, policy: BreakPolicy, kind: Literal["mismatch", "timing"]
) -> pl.DataFrame:
    """The pairs of one kind, taken greedily in the canonical order.

    Equal references (score 1000) come before every merely similar pair in
    that order, so the greedy loop takes them first whatever else exists:
    they are paired on their own (a join), and similar references are
    compared only among the items they leave, which is the same result.
    """
    taken = [pl.DataFrame(schema={"s_idx": pl.Int64, "l_idx": pl.Int64})]
    for threshold in (None, policy.fuzzy_threshold):
        if stmt.height == 0 or ledg.height == 0:
            break
        if kind == "mismatch":
            pairs = _reference_pairs(stmt, ledg, policy, "bdi", threshold)
            pairs = pairs.filter((pl.col("bd") <= policy.window) & ~pl.col("within"))
        else:
            pairs = _reference_pairs(stmt, ledg, policy, "amount", threshold)
            pairs = pairs.filter((pl.col("bd") > policy.window) & pl.col("within"))
        chosen = assign(pairs, _ORDER).select("s_idx", "l_idx")
        taken.append(chosen)
        if policy.fuzzy_threshold is None:
            break
        stmt = stmt.join(chosen.select(idx="s_idx"), on="idx", how="anti")
        ledg = ledg.join(chosen.select(idx="l_idx"), on="idx", how="anti")
    return pl.concat(taken)


def classify(
    statement: pl.DataFrame,
    ledger: pl.DataFrame,
    s_left: pl.DataFrame,
    l_left: pl.DataFrame,
    policy: BreakPolicy,
) -> Breaks:
    """Classify the unmatched items ``s_left`` / ``l_left`` (prepared frames)."""
    dup_s = _duplicates(statement, ledger, s_left)
    dup_l = _duplicates(ledger, statement, l_left)
    s_rest = s_left.filter(~pl.col("idx").is_in(dup_s.implode()))
    l_rest = l_left.filter(~pl.col("idx").is_in(dup_l.implode()))
    mismatch = _paired(s_rest, l_rest, policy, "mismatch")
    s_rest = s_rest.join(mismatch.select(idx="s_idx"), on="idx", how="anti")
    l_rest = l_rest.join(mismatch.select(idx="l_idx"), on="idx", how="anti")
    timing = _paired(s_rest, l_rest, policy, "timing")
    s_rest = s_rest.join(timing.select(idx="s_idx"), on="idx", how="anti")
    l_rest = l_rest.join(timing.select(idx="l_idx"), on="idx", how="anti")
    return Breaks(
        duplicate_statement=dup_s,
        duplicate_ledger=dup_l,
        amount_mismatch=mismatch,
        timing=timing,
        missing_in_ledger=s_rest.get_column("idx"),
        missing_in_statement=l_rest.get_column("idx"),
    )
