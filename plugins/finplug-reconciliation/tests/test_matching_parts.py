"""Properties of the matching engine's parts: tolerance arithmetic, normalisation, greedy."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from unittest import mock

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from finplug_reconciliation.matching import AmountRule, _one_to_one, normalise
from finplug_reconciliation.matching._text import normalise_series

SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(
    st.sampled_from(["0", "0.001", "0.01", "0.015", "0.3333", "0.5", "1"]),
    st.integers(0, 10**6),
    st.lists(
        st.tuples(st.integers(-(2**62) + 1, 2**62 - 1), st.integers(-(2**62) + 1, 2**62 - 1)),
        min_size=1,
        max_size=20,
    ),
)
def test_relative_tolerance_is_never_above_its_cap(
    fraction: str, cap: int, amounts: list[tuple[int, int]]
) -> None:
    rule = AmountRule(mode="relative", tolerance=fraction, cap=cap)
    frame = pl.DataFrame(amounts, schema={"a": pl.Int64, "b": pl.Int64}, orient="row")
    columnar = frame.select(rule.allowed_expr(pl.col("a"), pl.col("b"))).to_series().to_list()
    for (a, b), col in zip(amounts, columnar, strict=True):
        allowed = rule.allowed(a, b)
        assert allowed == col
        assert 0 <= allowed <= cap
        assert allowed == min(cap, int(Fraction(fraction) * max(abs(a), abs(b))))


@SETTINGS
@given(st.lists(st.text(st.characters(codec="utf-8"), max_size=12), max_size=30))
def test_columnar_normalisation_equals_python(texts: list[str]) -> None:
    series = pl.Series(texts, dtype=pl.String)
    assert normalise_series(series).to_list() == [normalise(t) for t in texts]


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 4), st.integers(0, 3)),
        unique_by=lambda t: (t[0], t[1]),
        max_size=80,
    ),
    st.integers(0, 3),
)
def test_columnar_greedy_equals_the_plain_loop(
    rows: list[tuple[int, int, int, int]], rounds: int
) -> None:
    pairs = pl.DataFrame(
        rows,
        schema={"s_idx": pl.Int64, "l_idx": pl.Int64, "score": pl.Int64, "adiff": pl.Int64},
        orient="row",
    ).with_columns(bd=pl.lit(0, dtype=pl.Int64))
    plain = _one_to_one._loop(pairs, *_one_to_one.MATCH_ORDER)
    with (
        mock.patch.object(_one_to_one, "_LOOP_BELOW", 0),
        mock.patch.object(_one_to_one, "_MAX_ROUNDS", rounds),
    ):
        columnar = _one_to_one.assign(pairs)
    assert sorted(columnar.select("s_idx", "l_idx").rows()) == sorted(
        plain.select("s_idx", "l_idx").rows()
    )


def test_relative_tolerance_is_exact_and_capped() -> None:
    rule = AmountRule(mode="relative", tolerance="0.015", cap=200)
    assert rule.tolerance == Decimal("0.015")
    assert rule.allowed(10_000, 9_000) == 150  # 1.5 % of the larger amount
    assert rule.allowed(-999, -5) == 14  # rounded down
    assert rule.allowed(1_000_000, 1) == 200  # the cap
    frame = pl.DataFrame({"a": [10_000, -999, 1_000_000, 2**61], "b": [9_000, -5, 1, 0]})
    got = frame.select(rule.allowed_expr(pl.col("a"), pl.col("b"))).to_series().to_list()
    assert got == [150, 14, 200, 200]
