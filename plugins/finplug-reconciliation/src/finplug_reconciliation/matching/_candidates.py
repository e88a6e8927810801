"""Candidate pairs of a rule, found with joins, and their integer scores.

A candidate pair is a statement item and a ledger item that satisfy every
pairwise criterion of a rule: same sign, dates within the window,
references and counterparties agreeing; for 1:1 rules also amounts within
tolerance. For group rules, a member larger in magnitude than the single
item plus the rule's largest tolerance is no candidate (it could not be part
of any group). Pairs are never formed as a cross product: the two sides
are joined on the sign plus every exact key the rule offers (normalised
reference, regex-extracted reference, normalised counterparty, amount when
the tolerance is 0, business-day index when the window is 0), and on
neighbouring *buckets* of an integer range: the amount for 1:1 rules with a
tolerance, the business-day index for group rules with a window. Bucket
``v // (w + 1)`` joined against ``k - 1, k, k + 1`` finds every pair within
``w`` exactly once, and keeps a reference shared by thousands of items from
pairing all of them with each other.

Scores are per mille (``0..1000``), all integers::

    amount_closeness = 1000 * (tolerance + 1 - |difference|) // (tolerance + 1)
    date_closeness   = 1000 * (window + 1 - business_days) // (window + 1)
    score = (5 * reference + 2 * counterparty + 2 * amount_closeness + 1 * date_closeness)
            // (5 + 2 + 2 + 1)

where ``reference`` is 1000 for exact/contains/regex and the similarity for
fuzzy (likewise ``counterparty``: 1000 for exact, the similarity for
fuzzy). A criterion the rule ignores has weight 0 and leaves the divisor.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

from finplug_reconciliation.matching._rules import MatchRule
from finplug_reconciliation.matching._text import normalise, similarities

__all__ = ["Single", "candidate_pairs", "closeness", "combine", "combine_expr"]

#: Which side holds the single item of a group rule; ``"pair"`` for 1:1, ``"graph"`` for n:m.
Single = Literal["pair", "statement", "ledger", "graph"]

_W_REF, _W_CP, _W_AMOUNT, _W_DATE = 5, 2, 2, 1


def closeness(distance: int, allowed: int) -> int:
    """Per mille: 1000 at distance 0, falling linearly, above 0 while ``distance <= allowed``."""
    return 1000 * (allowed + 1 - distance) // (allowed + 1)


def _weights(rule: MatchRule) -> tuple[int, int, int]:
    """Reference and counterparty weights (0 when the rule ignores them), and their total."""
    w_ref = 0 if rule.reference.mode == "ignore" else _W_REF
    w_cp = 0 if rule.counterparty.mode == "ignore" else _W_CP
    return w_ref, w_cp, w_ref + w_cp + _W_AMOUNT + _W_DATE


def combine(
    rule: MatchRule, reference: int, counterparty: int, amount_close: int, date_close: int
) -> int:
    """The score of a match from its four per-mille components (see the module doc)."""
    w_ref, w_cp, total = _weights(rule)
    weighted = w_ref * reference + w_cp * counterparty + _W_AMOUNT * amount_close
    return (weighted + _W_DATE * date_close) // total


def combine_expr(
    rule: MatchRule,
    reference: pl.Expr,
    counterparty: pl.Expr,
    amount_close: pl.Expr,
    date_close: pl.Expr,
) -> pl.Expr:
    """:func:`combine` as a polars expression."""
    w_ref, w_cp, total = _weights(rule)
    weighted = w_ref * reference + w_cp * counterparty + _W_AMOUNT * amount_close
    return (weighted + _W_DATE * date_close) // total


def _closeness_expr(distance: pl.Expr, allowed: pl.Expr | int) -> pl.Expr:
    return 1000 * (allowed + 1 - distance) // (allowed + 1)


def _regex_refs(frame: pl.DataFrame, rule: MatchRule) -> pl.Series:
    pattern = rule.reference.compiled()
    out: list[str] = []
    refs = frame.get_column("reference").to_list()
    texts = frame.get_column("text").to_list()
    for ref, text in zip(refs, texts, strict=True):
        found = pattern.search(f"{ref} {text}")
        value = found.group("ref") if found is not None else None
        out.append(normalise(value) if value else "")
    return pl.Series("rx", out, dtype=pl.String)


def _side(frame: pl.DataFrame, prefix: str, columns: list[str], keys: list[str]) -> pl.DataFrame:
    """``columns`` renamed with ``prefix``, plus the join keys as ``_k0``, ``_k1``, ..."""
    return frame.select(
        *(pl.col(c).alias(f"{prefix}{c}") for c in columns),
        *(pl.col(k).alias(f"_k{i}") for i, k in enumerate(keys)),
    )


def candidate_pairs(
    statement: pl.DataFrame, ledger: pl.DataFrame, rule: MatchRule, single: Single
) -> pl.DataFrame:
    """Every pair of ``rule`` between two prepared frames (see :func:`~._items.prepare`).

    Columns: ``s_idx``, ``l_idx``, ``s_amount``, ``l_amount``, ``bd``
    (business days apart), ``ref_score``, ``cp_score``;
    for ``single="pair"`` also ``adiff``, ``tol`` and ``score``.
    """
    ref, cp, amount = rule.reference, rule.counterparty, rule.amount
    window, bound, pairwise = rule.date.window, amount.bound(), single == "pair"
    base = ["idx", "amount", "bdi"]
    s_keys, l_keys = ["sign"], ["sign"]
    s_cols, l_cols = list(base), list(base)
    if ref.mode == "exact":
        statement = statement.filter(pl.col("ref_n") != "")
        ledger = ledger.filter(pl.col("ref_n") != "")
        s_keys.append("ref_n")
        l_keys.append("ref_n")
    elif ref.mode == "regex":
        statement = statement.with_columns(_regex_refs(statement, rule)).filter(pl.col("rx") != "")
        ledger = ledger.filter(pl.col("ref_n") != "")
        s_keys.append("rx")
        l_keys.append("ref_n")
    elif ref.mode in ("fuzzy", "contains"):
        s_cols.append("ref_n")
        l_cols.append("ref_n")
        if ref.mode == "contains":
            s_cols.append("text_n")
            l_cols.append("text_n")
    if cp.mode == "exact":
        statement = statement.filter(pl.col("cp_n") != "")
        ledger = ledger.filter(pl.col("cp_n") != "")
        s_keys.append("cp_n")
        l_keys.append("cp_n")
    elif cp.mode == "fuzzy":
        s_cols.append("cp_n")
        l_cols.append("cp_n")
    bucketed: tuple[str, int] | None = None
    if pairwise:
        if bound == 0:
            s_keys.append("amount")
            l_keys.append("amount")
        else:
            bucketed = ("amount", bound + 1)
    if window == 0:
        s_keys.append("bdi")
        l_keys.append("bdi")
    elif not pairwise:
        bucketed = ("bdi", window + 1)
    if bucketed is not None:
        column, width = bucketed
        bucket = pl.col(column) // width
        statement = statement.with_columns(
            pl.concat_list(bucket - 1, bucket, bucket + 1).alias("bucket")
        ).explode("bucket")
        ledger = ledger.with_columns(bucket.alias("bucket"))
        s_keys.append("bucket")
        l_keys.append("bucket")
    on = [f"_k{i}" for i in range(len(s_keys))]
    s_frame = _side(statement, "s_", s_cols, s_keys)
    l_frame = _side(ledger, "l_", l_cols, l_keys)
    pairs = s_frame.join(l_frame, on=on, how="inner").drop(on)
    pairs = pairs.with_columns((pl.col("s_bdi") - pl.col("l_bdi")).abs().alias("bd")).filter(
        pl.col("bd") <= window
    )
    s_amount, l_amount = pl.col("s_amount"), pl.col("l_amount")
    if pairwise:
        pairs = pairs.with_columns(
            (s_amount - l_amount).abs().alias("adiff"),
            amount.allowed_expr(s_amount, l_amount).alias("tol"),
        ).filter(pl.col("adiff") <= pl.col("tol"))
    elif single == "statement":
        pairs = pairs.filter(l_amount.abs() <= s_amount.abs() + bound)
    elif single == "ledger":
        pairs = pairs.filter(s_amount.abs() <= l_amount.abs() + bound)
    if ref.mode == "contains":
        s_ref, l_ref = pl.col("s_ref_n"), pl.col("l_ref_n")
        ledger_in = (l_ref != "") & (
            pl.col("s_ref_n").str.contains(l_ref, literal=True)
            | pl.col("s_text_n").str.contains(l_ref, literal=True)
        )
        statement_in = (s_ref != "") & (
            pl.col("l_ref_n").str.contains(s_ref, literal=True)
            | pl.col("l_text_n").str.contains(s_ref, literal=True)
        )
        pairs = pairs.filter(ledger_in | statement_in)
    pairs = _fuzzy(pairs, "ref_score", "ref_n", ref.threshold if ref.mode == "fuzzy" else None)
    pairs = _fuzzy(pairs, "cp_score", "cp_n", cp.threshold if cp.mode == "fuzzy" else None)
    if ref.mode != "fuzzy":
        pairs = pairs.with_columns(pl.lit(0 if ref.mode == "ignore" else 1000).alias("ref_score"))
    if cp.mode != "fuzzy":
        pairs = pairs.with_columns(pl.lit(0 if cp.mode == "ignore" else 1000).alias("cp_score"))
    pairs = pairs.with_columns(pl.col("ref_score", "cp_score").cast(pl.Int64))
    keep = ["s_idx", "l_idx", "s_amount", "l_amount", "bd"]
    keep += ["ref_score", "cp_score"]
    if not pairwise:
        return pairs.select(keep)
    score = combine_expr(
        rule,
        pl.col("ref_score"),
        pl.col("cp_score"),
        _closeness_expr(pl.col("adiff"), pl.col("tol")),
        _closeness_expr(pl.col("bd"), window),
    )
    return pairs.select(*keep, "adiff", "tol", score.cast(pl.Int64).alias("score"))


def _fuzzy(pairs: pl.DataFrame, out: str, column: str, threshold: int | None) -> pl.DataFrame:
    if threshold is None:
        return pairs
    pairs = pairs.filter((pl.col(f"s_{column}") != "") & (pl.col(f"l_{column}") != ""))
    scores = similarities(
        pairs.get_column(f"s_{column}").to_list(), pairs.get_column(f"l_{column}").to_list()
    )
    scored = pairs.with_columns(pl.Series(out, scores, dtype=pl.Int64))
    return scored.filter(pl.col(out) >= threshold)
