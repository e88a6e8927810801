"""The matching engine, case by case: inputs, rules, shapes, scores, ties, breaks."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from pydantic import BaseModel, ValidationError

from finplug_reconciliation.matching import (
    AmountRule,
    BreakCandidate,
    Calendar,
    CounterpartyRule,
    DateRule,
    DuplicateIdError,
    Item,
    Limits,
    Match,
    MatchInputError,
    MatchResult,
    MatchRule,
    NonIntegerAmountError,
    ReferenceRule,
    match,
    normalise,
    similarity,
)

DOCS = Path(__file__).parents[3] / "docs" / "reconciliation-matching.md"
FRI, SAT, MON, TUE, WED = (date(2026, 3, d) for d in (6, 7, 9, 10, 11))
EXACT = MatchRule(name="exact", priority=1)


def pairs(result: MatchResult) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return [(m.rule, m.statement_ids, m.ledger_ids) for m in result.matches]


def kinds(result: MatchResult) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return [(b.kind, b.statement_ids, b.ledger_ids) for b in result.breaks]


# ---------------------------------------------------------------- inputs


def test_items_and_frames_give_the_same_result() -> None:
    stmt = [Item("s1", 100, FRI, "A"), Item("s2", -40, MON, "B", "Bob", "x")]
    ledger = [Item("l1", 100, FRI, "a"), Item("l2", -40, MON, "b")]
    frame_s = pl.DataFrame(
        {
            "id": ["s1", "s2"],
            "amount": [100, -40],
            "on": [FRI, MON],
            "reference": ["A", "B"],
            "counterparty": [None, "Bob"],
            "text": ["", "x"],
        }
    )
    frame_l = pl.DataFrame(
        {"id": ["l1", "l2"], "amount": pl.Series([100, -40], dtype=pl.Int32), "on": [FRI, MON]}
    ).with_columns(reference=pl.Series(["a", "b"]))
    from_items = match(stmt, ledger, [EXACT])
    assert match(frame_s, frame_l, [EXACT]) == from_items
    assert pairs(from_items) == [("exact", ("s1",), ("l1",)), ("exact", ("s2",), ("l2",))]
    assert from_items.matches[1] == Match("exact", 1000, ("s2",), ("l2",), -40, -40, 0)


def test_a_float_amount_column_is_refused() -> None:
    frame = pl.DataFrame({"id": ["a"], "amount": [1.5], "on": [FRI]})
    with pytest.raises(NonIntegerAmountError, match=r"^statement: amount: expected integer"):
        match(frame, [], [EXACT])


def test_a_decimal_amount_column_is_refused() -> None:
    frame = pl.DataFrame({"id": ["a"], "amount": [Decimal("1.50")], "on": [FRI]})
    with pytest.raises(NonIntegerAmountError, match="minor units"):
        match([], frame, [EXACT])


def test_a_float_item_amount_is_refused_with_its_row() -> None:
    items = [Item("a", 1, FRI), Item("b", 2.5, FRI)]  # type: ignore[arg-type]
    with pytest.raises(NonIntegerAmountError) as caught:
        match(items, [], [EXACT])
    assert (caught.value.side, caught.value.row, caught.value.field) == ("statement", 1, "amount")
    assert str(caught.value).startswith("statement row 1: amount: expected an int")


def test_duplicate_ids_are_a_typed_error() -> None:
    items = [Item("a", 1, FRI), Item("b", 1, FRI), Item("a", 2, FRI)]
    with pytest.raises(DuplicateIdError) as caught:
        match([], items, [EXACT])
    assert caught.value.side == "ledger"
    assert caught.value.row == 2
    assert "'a' is on rows [0, 2]" in str(caught.value)


@pytest.mark.parametrize(
    ("frame", "field", "row"),
    [
        (pl.DataFrame({"id": ["a"], "on": [FRI]}), "amount", None),
        (pl.DataFrame({"id": ["a", "b"], "amount": [1, None], "on": [FRI, FRI]}), "amount", 1),
        (pl.DataFrame({"id": ["a"], "amount": [1], "on": [datetime(2026, 3, 6)]}), "on", None),
        (pl.DataFrame({"id": [""], "amount": [1], "on": [FRI]}), "id", 0),
        (pl.DataFrame({"id": [1], "amount": [1], "on": [FRI]}), "id", None),
        (pl.DataFrame({"id": ["a"], "amount": [2**62], "on": [FRI]}), "amount", 0),
    ],
)
def test_bad_frames_are_located(frame: pl.DataFrame, field: str, row: int | None) -> None:
    with pytest.raises(MatchInputError) as caught:
        match(frame, [], [EXACT])
    assert (caught.value.side, caught.value.field, caught.value.row) == ("statement", field, row)


def test_rules_must_be_rules_with_unique_names() -> None:
    with pytest.raises(MatchInputError, match="unique rule names"):
        match([], [], [EXACT, EXACT])
    with pytest.raises(MatchInputError, match="expected a MatchRule"):
        match([], [], [{"name": "x"}])  # type: ignore[list-item]


def test_calendar_is_checked() -> None:
    with pytest.raises(MatchInputError, match="7 booleans"):
        Calendar(weekmask=(True,) * 5)
    with pytest.raises(MatchInputError, match="at least one"):
        Calendar(weekmask=(False,) * 7)
    with pytest.raises(MatchInputError, match=r"datetime\.date"):
        Calendar(holidays=frozenset({datetime(2026, 1, 1)}))


# ---------------------------------------------------------------- rule models


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "relative", "tolerance": 0.01, "cap": 100}, "not float"),
        ({"mode": "relative", "tolerance": "0.01"}, "requires cap"),
        ({"mode": "relative", "tolerance": "1.5", "cap": 100}, r"fraction in \[0, 1\]"),
        ({"mode": "relative", "tolerance": "abc", "cap": 100}, "decimal string"),
        ({"mode": "absolute", "tolerance": "0.5"}, "int >= 0"),
        ({"mode": "absolute", "tolerance": -1}, "int >= 0"),
        ({"mode": "absolute", "tolerance": 5, "cap": 3}, "relative tolerances only"),
        ({"mode": "exact", "tolerance": 5}, "neither tolerance nor cap"),
        ({"mode": "relative", "tolerance": "0.1", "cap": 1.0}, "cap"),
        ({"mode": "exact", "margin": 1}, "Extra inputs"),
    ],
)
def test_amount_rules_refuse_what_they_cannot_mean(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AmountRule.model_validate(fields)


@pytest.mark.parametrize(
    ("model", "fields", "message"),
    [
        (ReferenceRule, {"mode": "regex"}, "requires pattern"),
        (ReferenceRule, {"mode": "regex", "pattern": r"(\d+)"}, "named group"),
        (ReferenceRule, {"mode": "regex", "pattern": r"(?P<ref>a)(?P<x>b)"}, "named group"),
        (ReferenceRule, {"mode": "regex", "pattern": "("}, "does not compile"),
        (ReferenceRule, {"mode": "exact", "pattern": "x"}, "regex' only"),
        (ReferenceRule, {"mode": "fuzzy"}, "requires threshold"),
        (ReferenceRule, {"mode": "fuzzy", "threshold": 1001}, "less than or equal to 1000"),
        (ReferenceRule, {"mode": "fuzzy", "threshold": 900.0}, "valid integer"),
        (CounterpartyRule, {"mode": "exact", "threshold": 900}, "threshold is required"),
        (Limits, {"max_items": 13}, "less than or equal to 12"),
        (Limits, {"max_nodes": 0}, "greater than or equal to 1"),
        (DateRule, {"window": -1}, "greater than or equal to 0"),
        (MatchRule, {"name": "", "priority": 1}, "at least 1 character"),
        (MatchRule, {"name": "x", "priority": 1, "shape": "one_to_two"}, "one_to_one"),
    ],
)
def test_rule_models_validate(
    model: type[BaseModel], fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        model.model_validate(fields)


def test_rules_are_frozen_and_load_from_plain_data() -> None:
    rule = MatchRule.model_validate(
        {
            "name": "near",
            "priority": 5,
            "amount": {"mode": "relative", "tolerance": "0.01", "cap": 100},
            "reference": {"mode": "fuzzy", "threshold": 900},
        }
    )
    assert rule.amount.bound() == 100
    with pytest.raises(ValidationError, match="frozen"):
        rule.priority = 1  # type: ignore[misc]


# ---------------------------------------------------------------- one to one


def test_signs_must_agree_whatever_the_tolerance() -> None:
    rule = MatchRule(name="wide", priority=1, amount=AmountRule(mode="absolute", tolerance=5000))
    result = match([Item("s", 500, FRI, "R")], [Item("l", -500, FRI, "R")], [rule])
    assert result.matches == ()
    assert kinds(result) == [
        ("missing_in_ledger", ("s",), ()),
        ("missing_in_statement", (), ("l",)),
    ]


@pytest.mark.parametrize(
    "amount",
    [
        AmountRule(mode="relative", tolerance="0.01", cap=100),
        AmountRule(mode="relative", tolerance="0.5", cap=49_999),
        AmountRule(mode="relative", tolerance="1", cap=10_000),
        AmountRule(mode="relative", tolerance="1", cap=49_999),
        AmountRule(mode="absolute", tolerance=49_999),
        AmountRule(mode="exact"),
    ],
)
def test_odoo_44046_half_amount_never_matches_on_reference(amount: AmountRule) -> None:
    # A 500.00 payment must not reconcile a 1,000.00 transfer because the references agree.
    rule = MatchRule(
        name="tolerant", priority=1, amount=amount, reference=ReferenceRule(mode="exact")
    )
    result = match([Item("s", 50_000, FRI, "INV-7")], [Item("l", 100_000, FRI, "INV-7")], [rule])
    assert result.matches == ()
    assert result.breaks == (BreakCandidate("amount_mismatch", ("s",), ("l",), 50_000, 100_000),)
    assert amount.allowed(50_000, 100_000) < 50_000


def test_within_tolerance_matches_and_reports_the_difference() -> None:
    rule = MatchRule(
        name="1pc", priority=1, amount=AmountRule(mode="relative", tolerance="0.01", cap=1000)
    )
    result = match([Item("s", 99_000, FRI, "R")], [Item("l", 100_000, FRI, "R")], [rule])
    [found] = result.matches
    assert found.rule == "1pc"
    assert (found.statement_total, found.ledger_total, found.difference) == (99_000, 100_000, -1000)
    assert result.breaks == ()
    capped = MatchRule(
        name="cap", priority=1, amount=AmountRule(mode="relative", tolerance="0.01", cap=999)
    )
    assert (
        match([Item("s", 99_000, FRI, "R")], [Item("l", 100_000, FRI, "R")], [capped]).matches == ()
    )


def test_business_day_window_skips_weekends_and_holidays() -> None:
    one_day = MatchRule(name="w1", priority=1, date=DateRule(window=1))
    stmt, ledger = [Item("s", 10, FRI, "R")], [Item("l", 10, MON, "R")]
    assert pairs(match(stmt, ledger, [one_day])) == [("w1", ("s",), ("l",))]
    assert match(stmt, ledger, [EXACT]).matches == ()  # window 0
    assert pairs(match([Item("s", 10, SAT, "R")], ledger, [EXACT])) == [("exact", ("s",), ("l",))]
    holiday = Calendar(holidays=frozenset({MON}))
    late = [Item("l", 10, WED, "R")]
    assert match(stmt, late, [one_day], holiday).matches == ()
    two_days = MatchRule(name="w2", priority=1, date=DateRule(window=2))
    assert match(stmt, late, [two_days], holiday).matches != ()
    seven_days = Calendar(weekmask=(True,) * 7)
    assert match(stmt, ledger, [one_day], seven_days).matches == ()
    assert Calendar().business_days(FRI, MON) == 1
    assert Calendar().business_days(TUE, FRI) == 2  # Friday and Monday
    assert Calendar().business_days(MON, WED) == 2


def test_reference_normalisation_strips_casefolds_and_collapses() -> None:
    stmt = [Item("s1", 1, FRI, "  Inv \t 42 "), Item("s2", 2, FRI, "Straße 1"), Item("s3", 3, FRI)]
    ledger = [
        Item("l1", 1, FRI, "INV 42"),
        Item("l2", 2, FRI, "STRASSE\u00a01"),
        Item("l3", 3, FRI),
    ]
    result = match(stmt, ledger, [EXACT])
    assert pairs(result) == [("exact", ("s1",), ("l1",)), ("exact", ("s2",), ("l2",))]
    assert ("missing_in_ledger", ("s3",), ()) in kinds(result)  # empty references never agree
    assert normalise("  A\u2003 B ") == "a b"


def test_contains_looks_both_ways_and_into_the_text() -> None:
    rule = MatchRule(name="c", priority=1, reference=ReferenceRule(mode="contains"))
    stmt = [
        Item("s1", 5, FRI, "", text="Payment for INV-9 thanks"),
        Item("s2", 6, FRI, "ORD-2"),
        Item("s3", 7, FRI, "zzz"),
    ]
    ledger = [
        Item("l1", 5, FRI, "inv-9"),
        Item("l2", 6, FRI, "", text="order ord-2 shipped"),
        Item("l3", 7, FRI, "yyy"),
    ]
    assert pairs(match(stmt, ledger, [rule])) == [("c", ("s1",), ("l1",)), ("c", ("s2",), ("l2",))]


def test_regex_extracts_the_reference_from_reference_and_text() -> None:
    rule = MatchRule(
        name="rx",
        priority=1,
        reference=ReferenceRule(mode="regex", pattern=r"E2E[:/](?P<ref>[A-Z0-9 ]+?)(?:/|$)"),
    )
    stmt = [Item("s1", 5, FRI, "SEPA", text="E2E/AB  12/ remittance"), Item("s2", 5, FRI, "E2E:X")]
    ledger = [Item("l1", 5, FRI, "AB 12"), Item("l2", 5, FRI, "y")]
    result = match(stmt, ledger, [rule])
    assert pairs(result) == [("rx", ("s1",), ("l1",))]


def test_fuzzy_references_score_with_integer_similarity() -> None:
    assert similarity("RF12345678", "RF12345679") == 900
    assert similarity("abc", "abc") == 1000
    assert similarity("", "") == 1000
    rule = MatchRule(name="f", priority=1, reference=ReferenceRule(mode="fuzzy", threshold=900))
    stmt = [Item("s1", 5, FRI, "RF12345678"), Item("s2", 6, FRI, "RF1234")]
    ledger = [Item("l1", 5, FRI, "RF12345679"), Item("l2", 6, FRI, "RF9999")]
    result = match(stmt, ledger, [rule])
    assert pairs(result) == [("f", ("s1",), ("l1",))]
    # reference 900 (weight 5), amount 1000 (2), date 1000 (1): (4500 + 3000) // 8
    assert result.matches[0].score == 937


def test_counterparty_criteria_and_score() -> None:
    exact_cp = MatchRule(name="cp", priority=1, counterparty=CounterpartyRule(mode="exact"))
    fuzzy_cp = MatchRule(
        name="cpf",
        priority=1,
        reference=ReferenceRule(mode="ignore"),
        counterparty=CounterpartyRule(mode="fuzzy", threshold=800),
        date=DateRule(window=2),
    )
    stmt = [
        Item("s1", 5, FRI, "R", "ACME  GmbH"),
        Item("s2", 6, FRI, "Q", "Globex Inc."),
        Item("s3", 7, FRI, "Z", "Globex"),
    ]
    ledger = [
        Item("l1", 5, FRI, "r", "acme gmbh"),
        Item("l2", 6, MON, "q", "Globex Inc"),
        Item("l3", 7, FRI, "z", "Globex Inc"),
    ]
    assert pairs(match(stmt, ledger, [exact_cp])) == [("cp", ("s1",), ("l1",))]
    result = match(stmt, ledger, [fuzzy_cp])
    assert pairs(result) == [("cpf", ("s1",), ("l1",)), ("cpf", ("s2",), ("l2",))]
    assert similarity("globex", "globex inc") == 750  # below 800: s3 and l3 stay apart
    # reference ignored (weight 0); counterparty 952 (2), amount 1000 (2), Fri-Mon 666 (1)
    assert result.matches[1].score == (2 * 952 + 2 * 1000 + 666) // 5


def test_canonical_order_prefers_score_then_amount_then_days_then_ids() -> None:
    rule = MatchRule(
        name="r",
        priority=1,
        amount=AmountRule(mode="absolute", tolerance=10),
        date=DateRule(window=3),
    )
    stmt = [Item("s1", 100, MON, "R")]
    # Same score would need same closeness: l-b is 0 off, l-a 5 off -> l-b wins.
    ledger = [Item("l-a", 105, MON, "R"), Item("l-b", 100, MON, "R")]
    assert pairs(match(stmt, ledger, [rule])) == [("r", ("s1",), ("l-b",))]
    # Identical candidates: the smaller ledger id, whatever the order given.
    twins = [Item("l-9", 100, MON, "R"), Item("l-2", 100, MON, "R"), Item("l-5", 100, MON, "R")]
    assert pairs(match(stmt, twins, [rule]))[0][2] == ("l-2",)
    assert pairs(match(stmt, twins[::-1], [rule]))[0][2] == ("l-2",)
    # Two statement twins and one ledger item: the smaller statement id.
    result = match(
        [Item("s9", 1, MON, "R"), Item("s3", 1, MON, "R")], [Item("l", 1, MON, "R")], [rule]
    )
    assert pairs(result) == [("r", ("s3",), ("l",))]


def test_greedy_takes_the_best_pair_first() -> None:
    rule = MatchRule(
        name="r",
        priority=1,
        amount=AmountRule(mode="absolute", tolerance=10),
        date=DateRule(window=5),
    )
    # s1-l1 is the best pair overall; s2 then gets l2 although l1 was its best.
    stmt = [Item("s1", 100, MON, "R"), Item("s2", 103, MON, "R")]
    ledger = [Item("l1", 100, MON, "R"), Item("l2", 108, MON, "R")]
    assert pairs(match(stmt, ledger, [rule])) == [("r", ("s1",), ("l1",)), ("r", ("s2",), ("l2",))]


def test_rules_run_by_priority_then_name_over_leftovers() -> None:
    loose = MatchRule(
        name="b-loose",
        priority=1,
        amount=AmountRule(mode="absolute", tolerance=50),
        reference=ReferenceRule(mode="ignore"),
    )
    strict = MatchRule(name="a-strict", priority=1)
    later = MatchRule(name="0-later", priority=2, reference=ReferenceRule(mode="ignore"))
    stmt = [Item("s1", 100, FRI, "R1"), Item("s2", 200, FRI, "R2")]
    ledger = [Item("l1", 100, FRI, "R1"), Item("l2", 230, FRI, "X")]
    result = match(stmt, ledger, [later, loose, strict])
    assert pairs(result) == [("a-strict", ("s1",), ("l1",)), ("b-loose", ("s2",), ("l2",))]
    assert [r.rule for r in result.stats.rules] == ["a-strict", "b-loose", "0-later"]
    assert [r.statement_items for r in result.stats.rules] == [2, 1, 0]
    assert result.stats.rules[2].matches == 0


# ---------------------------------------------------------------- groups


def _group_rule(shape: str, **limits: int) -> MatchRule:
    return MatchRule(
        name=shape,
        priority=1,
        shape=shape,
        date=DateRule(window=2),
        limits=Limits(**limits),
    )


def test_one_to_many_takes_all_candidates_when_they_sum() -> None:
    stmt = [Item("s", 600, FRI, "B")]
    ledger = [Item("l3", 100, MON, "B"), Item("l1", 200, FRI, "B"), Item("l2", 300, FRI, "B")]
    result = match(stmt, ledger, [_group_rule("one_to_many")])
    # reference 1000 (weight 5), amount 1000 (2), farthest member Fri-Mon: 666 (1)
    score = (5 * 1000 + 2 * 1000 + 666) // 8
    assert result.matches == (Match("one_to_many", score, ("s",), ("l1", "l2", "l3"), 600, 600, 0),)
    assert result.stats.rules[0].searches == 0


def test_one_to_many_searches_smallest_set_then_smallest_ids() -> None:
    stmt = [Item("s", 500, FRI, "B")]
    amounts = {"l1": 100, "l2": 400, "l3": 250, "l4": 250, "l5": 500, "l6": 7}
    ledger = [Item(i, a, FRI, "B") for i, a in amounts.items()]
    result = match(stmt, ledger, [_group_rule("one_to_many")])
    assert pairs(result) == [("one_to_many", ("s",), ("l5",))]
    del amounts["l5"]
    ledger = [Item(i, a, FRI, "B") for i, a in amounts.items()]
    result = match(stmt, ledger, [_group_rule("one_to_many")])
    assert pairs(result) == [("one_to_many", ("s",), ("l1", "l2"))]  # before l3+l4
    assert result.stats.rules[0].searches == 1
    assert result.stats.rules[0].searches_cut == 0


def test_one_to_many_respects_max_items() -> None:
    stmt = [Item("s", 600, FRI, "B")]
    ledger = [Item(f"l{i}", 100, FRI, "B") for i in range(6)]
    assert match(stmt, ledger, [_group_rule("one_to_many", max_items=5)]).matches == ()
    found = match(stmt, ledger, [_group_rule("one_to_many", max_items=6)]).matches
    assert found[0].ledger_ids == tuple(f"l{i}" for i in range(6))


def test_a_search_cut_by_its_budget_matches_nothing_and_says_so() -> None:
    stmt = [Item("s", 1_000, FRI, "B")]
    ledger = [Item(f"l{i:02}", 3 + 2 * i, FRI, "B") for i in range(20)] + [Item("z", 993, FRI, "B")]
    generous = match(stmt, ledger, [_group_rule("one_to_many", max_nodes=20_000)])
    assert pairs(generous) == [("one_to_many", ("s",), ("l02", "z"))]
    tight = match(stmt, ledger, [_group_rule("one_to_many", max_nodes=10)])
    assert tight.matches == ()
    stats = tight.stats.rules[0]
    assert (stats.searches, stats.searches_cut, stats.max_search_nodes) == (1, 1, 10)
    assert tight.stats.searches_cut == 1


def test_many_to_one_mirrors_one_to_many() -> None:
    stmt = [Item("s1", 70, FRI, "P"), Item("s2", 30, MON, "P"), Item("s3", 5, MON, "P")]
    ledger = [Item("l", 100, MON, "P")]
    result = match(stmt, ledger, [_group_rule("many_to_one")])
    assert pairs(result) == [("many_to_one", ("s1", "s2"), ("l",))]
    assert kinds(result) == [("missing_in_ledger", ("s3",), ())]


def test_many_to_many_matches_a_whole_component() -> None:
    stmt = [Item("s1", 300, FRI, "X"), Item("s2", 200, FRI, "X")]
    ledger = [Item("l1", 100, FRI, "X"), Item("l2", 150, FRI, "X"), Item("l3", 250, FRI, "X")]
    result = match(stmt, ledger, [_group_rule("many_to_many")])
    assert result.matches == (
        Match("many_to_many", 1000, ("s1", "s2"), ("l1", "l2", "l3"), 500, 500, 0),
    )


def test_many_to_many_searches_a_component_that_does_not_sum() -> None:
    stmt = [Item("s1", 300, FRI, "X"), Item("s2", 200, FRI, "X"), Item("s3", 999, FRI, "X")]
    ledger = [Item("l1", 100, FRI, "X"), Item("l2", 150, FRI, "X"), Item("l3", 250, FRI, "X")]
    result = match(stmt, ledger, [_group_rule("many_to_many")])
    # No match of 2, 3 or 4 items sums; s1 + s2 = l1 + l2 + l3 does.
    assert pairs(result) == [("many_to_many", ("s1", "s2"), ("l1", "l2", "l3"))]
    assert kinds(result) == [("missing_in_ledger", ("s3",), ())]
    assert result.stats.rules[0].searches == 1


def test_many_to_many_members_need_a_pair_inside_the_match() -> None:
    rule = MatchRule(
        name="m",
        priority=1,
        shape="many_to_many",
        reference=ReferenceRule(mode="ignore"),
        date=DateRule(window=1),
    )
    # Pairs: s1-l1, s2-l1, s2-l2 (s1 to l2 is three business days). s1 + s2 = l2, but s1
    # has no pair with l2, so that is no match; nothing else sums.
    stmt = [Item("s1", 10, FRI), Item("s2", 20, TUE)]
    ledger = [Item("l1", 99, MON), Item("l2", 30, WED)]
    result = match(stmt, ledger, [rule])
    assert result.matches == ()
    assert result.stats.rules[0].candidate_pairs == 3
    assert result.stats.rules[0].searches == 1
    # With s1 paired to l2 as well (window 3), the same sets match.
    wider = rule.model_copy(update={"date": DateRule(window=3)})
    assert pairs(match(stmt, ledger, [wider])) == [("m", ("s1", "s2"), ("l2",))]


# ---------------------------------------------------------------- breaks


def test_breaks_are_classified_in_order() -> None:
    rule = MatchRule(name="r", priority=1, date=DateRule(window=1))
    stmt = [
        Item("s-dup1", 50, FRI, "D", "Shop"),
        Item("s-dup2", 50, FRI, "D", "Shop"),
        Item("s-amt", 100, FRI, "A"),
        Item("s-late", 70, FRI, "T"),
        Item("s-lone", 9, FRI, "N"),
    ]
    ledger = [
        Item("l-dup", 50, FRI, "D", "Shop"),
        Item("l-amt", 120, MON, "a"),
        Item("l-late", 70, WED, "t"),
        Item("l-lone", 8, FRI, "M"),
    ]
    result = match(stmt, ledger, [rule])
    assert pairs(result) == [("r", ("s-dup1",), ("l-dup",))]
    assert kinds(result) == [
        ("duplicate", ("s-dup2",), ()),
        ("amount_mismatch", ("s-amt",), ("l-amt",)),
        ("timing", ("s-late",), ("l-late",)),
        ("missing_in_ledger", ("s-lone",), ()),
        ("missing_in_statement", (), ("l-lone",)),
    ]
    assert dict(result.stats.breaks) == {
        "duplicate": 1,
        "amount_mismatch": 1,
        "timing": 1,
        "missing_in_ledger": 1,
        "missing_in_statement": 1,
    }


def test_duplicates_count_against_identical_counterparts() -> None:
    copies = [Item(f"s{i}", 50, FRI, "D") for i in range(4)]
    twins = [Item("l1", 50, FRI, "D"), Item("l2", 50, FRI, "D")]
    result = match(copies, twins, [EXACT])
    assert pairs(result) == [("exact", ("s0",), ("l1",)), ("exact", ("s1",), ("l2",))]
    assert kinds(result) == [("duplicate", ("s2",), ()), ("duplicate", ("s3",), ())]
    alone = match(copies[:2], [], [EXACT])  # no counterpart: one original, one copy
    assert kinds(alone) == [("duplicate", ("s1",), ()), ("missing_in_ledger", ("s0",), ())]
    ledger_side = match([], twins, [EXACT])
    assert kinds(ledger_side) == [("duplicate", (), ("l2",)), ("missing_in_statement", (), ("l1",))]
    # Two lines against three identical transfers (a rule that matches nothing): the
    # statement lines are no copies; the third transfer is.
    never = MatchRule(name="never", priority=1, counterparty=CounterpartyRule(mode="exact"))
    triplets = [*twins, Item("l3", 50, FRI, "D")]
    assert kinds(match(copies[:2], triplets, [never])) == [
        ("duplicate", (), ("l3",)),
        ("missing_in_ledger", ("s0",), ()),
        ("missing_in_ledger", ("s1",), ()),
        ("missing_in_statement", (), ("l1",)),
        ("missing_in_statement", (), ("l2",)),
    ]


def test_amount_mismatch_pairs_canonically_and_uses_fuzzy_threshold() -> None:
    fuzzy = MatchRule(name="f", priority=1, reference=ReferenceRule(mode="fuzzy", threshold=900))
    stmt = [Item("s1", 100, FRI, "RF12345678"), Item("s2", 100, FRI, "RF12345678", "x")]
    ledger = [Item("l1", 150, FRI, "RF12345679"), Item("l2", 140, FRI, "RF12345678")]
    result = match(stmt, ledger, [fuzzy])
    # exact reference (1000) before similar (900); then ids
    assert kinds(result) == [
        ("amount_mismatch", ("s1",), ("l2",)),
        ("amount_mismatch", ("s2",), ("l1",)),
    ]
    exact_only = match(stmt, ledger, [EXACT])
    assert ("amount_mismatch", ("s1",), ("l2",)) in kinds(exact_only)
    assert ("missing_in_statement", (), ("l1",)) in kinds(exact_only)


# ---------------------------------------------------------------- docs


def test_docs_example_runs() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert text.startswith("# ")
    [block] = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert "finplug_reconciliation.matching import" in block
    assert "._" not in block  # public API only
    namespace: dict[str, object] = {}
    exec(compile(block, str(DOCS), "exec"), namespace)
    result = namespace["result"]
    assert isinstance(result, MatchResult)
    assert len(result.matches) == 3
