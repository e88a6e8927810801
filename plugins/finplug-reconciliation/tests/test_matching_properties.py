"""Properties of the matching engine, checked with hypothesis (and against plain oracles)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finplug_reconciliation.matching import (
    AmountRule,
    BreakCandidate,
    Calendar,
    CounterpartyRule,
    DateRule,
    Item,
    Limits,
    Match,
    MatchResult,
    MatchRule,
    ReferenceRule,
    match,
    normalise,
    similarity,
)

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MONDAY = date(2026, 3, 2)
CALENDAR = Calendar(holidays=frozenset({date(2026, 3, 5)}))
REFS = ["INV-1", "inv-1 ", "INV-2", "RF12345678", "RF12345679", "", "BATCH 7", "Straße", "STRASSE"]
COUNTERPARTIES = ["", "ACME", "Acme GmbH", "Globex"]
TEXTS = ["", "paid INV-1", "ref inv-2 thanks", "BATCH 7 part"]
AMOUNTS = [-300, -150, -100, 0, 50, 100, 150, 200, 250, 300, 301, 1000]
PATTERN = r"(?P<ref>(?:INV|inv)-\d)"

# ---------------------------------------------------------------- strategies


@st.composite
def items(draw: st.DrawFn, prefix: str, max_size: int = 9) -> list[Item]:
    ids = draw(st.lists(st.text("abc12", min_size=1, max_size=3), unique=True, max_size=max_size))
    return [
        Item(
            id=f"{prefix}{i}",
            amount=draw(st.sampled_from(AMOUNTS) | st.integers(-400, 400)),
            on=MONDAY + timedelta(days=draw(st.integers(0, 9))),
            reference=draw(st.sampled_from(REFS)),
            counterparty=draw(st.sampled_from(COUNTERPARTIES)),
            text=draw(st.sampled_from(TEXTS)),
        )
        for i in ids
    ]


amount_rules = st.one_of(
    st.just(AmountRule()),
    st.builds(AmountRule, mode=st.just("absolute"), tolerance=st.integers(0, 60)),
    st.builds(
        AmountRule,
        mode=st.just("relative"),
        tolerance=st.sampled_from(["0", "0.01", "0.1", "0.25", "0.5", "1"]),
        cap=st.integers(0, 200),
    ),
)
reference_rules = st.one_of(
    st.sampled_from(
        [
            ReferenceRule(mode="exact"),
            ReferenceRule(mode="contains"),
            ReferenceRule(mode="regex", pattern=PATTERN),
            ReferenceRule(mode="ignore"),
        ]
    ),
    st.builds(ReferenceRule, mode=st.just("fuzzy"), threshold=st.integers(600, 1000)),
)
counterparty_rules = st.sampled_from(
    [
        CounterpartyRule(),
        CounterpartyRule(mode="exact"),
        CounterpartyRule(mode="fuzzy", threshold=700),
    ]
)


@st.composite
def rules(
    draw: st.DrawFn,
    shapes: Sequence[str] | None = None,
    max_rules: int = 3,
    references: st.SearchStrategy[ReferenceRule] = reference_rules,
    amounts: st.SearchStrategy[AmountRule] = amount_rules,
    min_window: int = 0,
) -> list[MatchRule]:
    count = draw(st.integers(1, max_rules))
    shape_choice = st.sampled_from(
        list(shapes or ["one_to_one", "one_to_many", "many_to_one", "many_to_many"])
    )
    return [
        MatchRule(
            name=f"rule-{i}",
            priority=draw(st.integers(0, 2)),
            shape=draw(shape_choice),
            amount=draw(amounts),
            date=DateRule(window=draw(st.integers(min_window, 3))),
            reference=draw(references),
            counterparty=draw(counterparty_rules),
            limits=Limits(max_items=draw(st.integers(1, 4)), max_nodes=draw(st.integers(1, 300))),
        )
        for i in range(count)
    ]


#: Rules that give the 1:1 join no exact key: pairs come from neighbouring amount buckets.
bucketed_rules = rules(
    shapes=["one_to_one"],
    max_rules=1,
    references=st.sampled_from(
        [
            ReferenceRule(mode="ignore"),
            ReferenceRule(mode="contains"),
            ReferenceRule(mode="fuzzy", threshold=700),
        ]
    ),
    amounts=amount_rules.filter(lambda rule: rule.bound() > 0),
    min_window=1,
)


# ---------------------------------------------------------------- checks


def check_partition(result: MatchResult, stmt: list[Item], ledger: list[Item]) -> None:
    amounts = {("s", i.id): i.amount for i in stmt} | {("l", i.id): i.amount for i in ledger}
    seen: list[tuple[str, str]] = []
    groups: list[Match | BreakCandidate] = [*result.matches, *result.breaks]
    for group in groups:
        s_keys = [("s", i) for i in group.statement_ids]
        l_keys = [("l", i) for i in group.ledger_ids]
        assert list(group.statement_ids) == sorted(group.statement_ids)
        assert list(group.ledger_ids) == sorted(group.ledger_ids)
        assert group.statement_total == sum(amounts[k] for k in s_keys)
        assert group.ledger_total == sum(amounts[k] for k in l_keys)
        seen += s_keys + l_keys
    assert len(seen) == len(set(seen)), "an item is in two places"
    assert set(seen) == set(amounts), "an item is nowhere"
    assert sum(g.statement_total for g in groups) == sum(i.amount for i in stmt)
    assert sum(g.ledger_total for g in groups) == sum(i.amount for i in ledger)
    s_count = sum(len(g.statement_ids) for g in groups)
    assert s_count == len(stmt) == result.stats.statement_items
    matched = sum(len(m.statement_ids) for m in result.matches)
    assert matched == result.stats.matched_statement_items
    assert sum(n for _, n in result.stats.breaks) == len(result.breaks)


def check_matches_obey_their_rules(result: MatchResult, ruleset: list[MatchRule]) -> None:
    by_name = {r.name: r for r in ruleset}
    for found in result.matches:
        rule = by_name[found.rule]
        assert found.difference == found.statement_total - found.ledger_total
        assert rule.amount.within(found.statement_total, found.ledger_total)
        assert abs(found.difference) <= rule.amount.allowed(
            found.statement_total, found.ledger_total
        )
        assert 0 <= found.score <= 1000
        sizes = (len(found.statement_ids), len(found.ledger_ids))
        assert max(sizes) <= (1 if rule.shape == "one_to_one" else rule.limits.max_items)
        if rule.shape in ("one_to_one", "one_to_many"):
            assert sizes[0] == 1
        if rule.shape in ("one_to_one", "many_to_one"):
            assert sizes[1] == 1
    for stats in result.stats.rules:
        rule = by_name[stats.rule]
        assert stats.max_search_nodes <= rule.limits.max_nodes
        assert stats.nodes_used <= stats.searches * rule.limits.max_nodes
        assert stats.searches_cut <= stats.searches
        assert stats.matches == sum(1 for m in result.matches if m.rule == stats.rule)


def check_breaks(
    result: MatchResult, stmt: list[Item], ledger: list[Item], ruleset: list[MatchRule]
) -> None:
    window = max(r.date.window for r in ruleset)
    fuzzy = [r.reference.threshold for r in ruleset if r.reference.threshold is not None]
    s_items, l_items = {i.id: i for i in stmt}, {i.id: i for i in ledger}
    for found in result.breaks:
        if found.kind in ("amount_mismatch", "timing"):
            [s] = [s_items[i] for i in found.statement_ids]
            [g] = [l_items[i] for i in found.ledger_ids]
            assert (s.amount > 0) - (s.amount < 0) == (g.amount > 0) - (g.amount < 0)
            ns, ng = normalise(s.reference), normalise(g.reference)
            assert ns
            assert ng
            assert ns == ng or (fuzzy and similarity(ns, ng) >= min(fuzzy))
            within = any(r.amount.within(s.amount, g.amount) for r in ruleset)
            days = business_days(s.on, g.on, CALENDAR)
            if found.kind == "amount_mismatch":
                assert days <= window
                assert not within
            else:
                assert days > window
                assert within
        elif found.kind == "duplicate":
            side = stmt if found.statement_ids else ledger
            [item] = [i for i in side if i.id in (*found.statement_ids, *found.ledger_ids)]
            key = (item.amount, item.on, item.reference, item.counterparty)
            twins = [i for i in side if (i.amount, i.on, i.reference, i.counterparty) == key]
            assert len(twins) >= 2
        else:
            assert len(found.statement_ids) + len(found.ledger_ids) == 1


# ---------------------------------------------------------------- engine properties


@SETTINGS
@given(items("s"), items("l"), rules())
def test_every_item_once_every_match_within_its_rule_every_break_sound(
    stmt: list[Item], ledger: list[Item], ruleset: list[MatchRule]
) -> None:
    result = match(stmt, ledger, ruleset, CALENDAR)
    check_partition(result, stmt, ledger)
    check_matches_obey_their_rules(result, ruleset)
    check_breaks(result, stmt, ledger, ruleset)


@SETTINGS
@given(st.data(), items("s"), items("l"), rules())
def test_shuffling_either_side_changes_nothing(
    data: st.DataObject, stmt: list[Item], ledger: list[Item], ruleset: list[MatchRule]
) -> None:
    result = match(stmt, ledger, ruleset, CALENDAR)
    stmt_shuffled = data.draw(st.permutations(stmt))
    ledger_shuffled = data.draw(st.permutations(ledger))
    rules_shuffled = data.draw(st.permutations(ruleset))
    assert match(stmt_shuffled, ledger, ruleset, CALENDAR) == result
    assert match(stmt, ledger_shuffled, ruleset, CALENDAR) == result
    assert match(stmt_shuffled, ledger_shuffled, rules_shuffled, CALENDAR) == result


@SETTINGS
@given(items("s", max_size=12), items("l", max_size=12), rules(shapes=["many_to_many"]))
def test_many_to_many_searches_stay_within_their_limits(
    stmt: list[Item], ledger: list[Item], ruleset: list[MatchRule]
) -> None:
    result = match(stmt, ledger, ruleset, CALENDAR)
    check_partition(result, stmt, ledger)
    check_matches_obey_their_rules(result, ruleset)


@SETTINGS
@given(
    st.lists(st.text("xyz019", min_size=1, max_size=4), min_size=2, max_size=6, unique=True),
    st.integers(0, 4),
    st.sampled_from(["one_to_one", "one_to_many", "many_to_one", "many_to_many"]),
    st.data(),
)
def test_ties_go_to_the_smallest_ids(
    ids: list[str], day: int, shape: str, data: st.DataObject
) -> None:
    on = MONDAY + timedelta(days=day)
    twins = [Item(i, 700, on, "T-1") for i in ids]
    rule = MatchRule(name="r", priority=1, shape=shape)
    one = [Item("one", 700, on, "t-1")]
    result = match(one, data.draw(st.permutations(twins)), [rule])
    assert [m.ledger_ids for m in result.matches] == [(min(ids),)]
    result = match(data.draw(st.permutations(twins)), one, [rule])
    assert [m.statement_ids for m in result.matches] == [(min(ids),)]
    # The rest are copies: duplicates beyond the one counterpart, then the original.
    assert {b.kind for b in result.breaks} == {"duplicate"}


# ---------------------------------------------------------------- oracles


def business_days(a: date, b: date, calendar: Calendar) -> int:
    start, end = min(a, b), max(a, b)
    days = (start + timedelta(days=n) for n in range((end - start).days))
    return sum(1 for d in days if calendar.weekmask[d.weekday()] and d not in calendar.holidays)


def pair_scores(rule: MatchRule, s: Item, g: Item) -> tuple[int, int, int] | None:
    """(reference, counterparty, business days) if ``s`` and ``g`` are a pair, else None."""
    if (s.amount > 0) - (s.amount < 0) != (g.amount > 0) - (g.amount < 0):
        return None
    days = business_days(s.on, g.on, CALENDAR)
    if days > rule.date.window:
        return None
    ns, ng = normalise(s.reference), normalise(g.reference)
    mode = rule.reference.mode
    if mode == "exact":
        ref = 1000 if ns and ns == ng else -1
    elif mode == "contains":
        found = (ng and (ng in ns or ng in normalise(s.text))) or (
            ns and (ns in ng or ns in normalise(g.text))
        )
        ref = 1000 if found else -1
    elif mode == "regex":
        hit = re.search(PATTERN, f"{s.reference} {s.text}")
        value = normalise(hit.group("ref")) if hit else ""
        ref = 1000 if value and value == ng else -1
    elif mode == "fuzzy":
        assert rule.reference.threshold is not None
        sim = similarity(ns, ng) if ns and ng else -1
        ref = sim if sim >= rule.reference.threshold else -1
    else:
        ref = 0
    cs, cg = normalise(s.counterparty), normalise(g.counterparty)
    if rule.counterparty.mode == "exact":
        cp = 1000 if cs and cs == cg else -1
    elif rule.counterparty.mode == "fuzzy":
        sim = similarity(cs, cg) if cs and cg else -1
        cp = sim if sim >= 700 else -1
    else:
        cp = 0
    if ref < 0 or cp < 0:
        return None
    return ref, cp, days


def score(rule: MatchRule, ref: int, cp: int, diff: int, allowed: int, days: int) -> int:
    w_ref = 0 if rule.reference.mode == "ignore" else 5
    w_cp = 0 if rule.counterparty.mode == "ignore" else 2
    amount = 1000 * (allowed + 1 - diff) // (allowed + 1)
    window = rule.date.window
    dated = 1000 * (window + 1 - days) // (window + 1)
    return (w_ref * ref + w_cp * cp + 2 * amount + dated) // (w_ref + w_cp + 3)


def one_to_one_oracle(
    rule: MatchRule, stmt: list[Item], ledger: list[Item]
) -> set[tuple[str, str, int]]:
    candidates = []
    for s, g in itertools.product(stmt, ledger):
        found = pair_scores(rule, s, g)
        allowed = rule.amount.allowed(s.amount, g.amount)
        diff = abs(s.amount - g.amount)
        if found is None or diff > allowed:
            continue
        ref, cp, days = found
        candidates.append((-score(rule, ref, cp, diff, allowed, days), diff, days, s.id, g.id))
    taken: set[tuple[str, str, int]] = set()
    used: set[str] = set()
    for neg, _, _, s_id, g_id in sorted(candidates):
        if "s" + s_id not in used and "l" + g_id not in used:
            used |= {"s" + s_id, "l" + g_id}
            taken.add((s_id, g_id, -neg))
    return taken


@SETTINGS
@given(items("s"), items("l"), rules(shapes=["one_to_one"], max_rules=1) | bucketed_rules)
def test_one_to_one_equals_the_plain_oracle(
    stmt: list[Item], ledger: list[Item], ruleset: list[MatchRule]
) -> None:
    [rule] = ruleset
    got = {
        (m.statement_ids[0], m.ledger_ids[0], m.score)
        for m in match(stmt, ledger, ruleset, CALENDAR).matches
    }
    assert got == one_to_one_oracle(rule, stmt, ledger)


def one_to_many_oracle(
    rule: MatchRule, stmt: list[Item], ledger: list[Item]
) -> list[tuple[str, tuple[str, ...]]]:
    out = []
    used: set[str] = set()
    bound = rule.amount.bound()
    for s in sorted(stmt, key=lambda i: i.id):
        pool = sorted(
            (
                g
                for g in ledger
                if g.id not in used
                and abs(g.amount) <= abs(s.amount) + bound
                and pair_scores(rule, s, g) is not None
            ),
            key=lambda i: i.id,
        )
        if not pool:
            continue

        def fits(group: Sequence[Item], s: Item = s) -> bool:
            return rule.amount.within(s.amount, sum(g.amount for g in group))

        chosen: Sequence[Item] | None = None
        if len(pool) <= rule.limits.max_items and fits(pool):
            chosen = pool
        else:
            for k in range(1, min(rule.limits.max_items, len(pool)) + 1):
                chosen = next((c for c in itertools.combinations(pool, k) if fits(c)), None)
                if chosen:
                    break
        if chosen:
            used |= {g.id for g in chosen}
            out.append((s.id, tuple(g.id for g in chosen)))
    return out


@SETTINGS
@given(items("s"), items("l"), rules(shapes=["one_to_many"], max_rules=1))
def test_one_to_many_equals_the_plain_oracle_when_not_cut(
    stmt: list[Item], ledger: list[Item], ruleset: list[MatchRule]
) -> None:
    [rule] = ruleset
    rule = rule.model_copy(
        update={"limits": Limits(max_items=rule.limits.max_items, max_nodes=10**6)}
    )
    result = match(stmt, ledger, [rule], CALENDAR)
    assert result.stats.searches_cut == 0
    got = [(m.statement_ids[0], m.ledger_ids) for m in result.matches]
    assert got == one_to_many_oracle(rule, stmt, ledger)


def many_to_many_oracle(
    rule: MatchRule, stmt: list[Item], ledger: list[Item]
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    edges = {(s.id, g.id) for s in stmt for g in ledger if pair_scores(rule, s, g) is not None}
    amount = {("s", i.id): i.amount for i in stmt} | {("l", i.id): i.amount for i in ledger}
    near: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for s_id, g_id in edges:
        near.setdefault(("s", s_id), set()).add(("l", g_id))
        near.setdefault(("l", g_id), set()).add(("s", s_id))

    def components(alive: set[tuple[str, str]]) -> list[set[tuple[str, str]]]:
        out, seen = [], set()
        for start in sorted(alive):
            if start in seen:
                continue
            comp, todo = {start}, [start]
            while todo:
                todo += [n for n in near[todo.pop()] & alive if n not in comp]
                comp |= set(todo)
            seen |= comp
            if len(comp) > 1:
                out.append(comp)
        return out

    def fits(side_s: Sequence[tuple[str, str]], side_l: Sequence[tuple[str, str]]) -> bool:
        return rule.amount.within(sum(amount[n] for n in side_s), sum(amount[n] for n in side_l))

    def search(
        cs: list[tuple[str, str]], cl: list[tuple[str, str]]
    ) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] | None:
        top = rule.limits.max_items
        for size in range(2, 2 * top + 1):
            for a in range(max(1, size - top), min(top, size - 1) + 1):
                for side_s in itertools.combinations(cs, a):
                    for side_l in itertools.combinations(cl, size - a):
                        linked = all(near[n] & set(side_l) for n in side_s) and all(
                            near[n] & set(side_s) for n in side_l
                        )
                        if linked and fits(side_s, side_l):
                            return side_s, side_l
        return None

    found = []
    todo = components(set(near))
    while todo:
        comp = todo.pop(0)
        cs = sorted(n for n in comp if n[0] == "s")
        cl = sorted(n for n in comp if n[0] == "l")
        top = rule.limits.max_items
        hit = (cs, cl) if len(cs) <= top and len(cl) <= top and fits(cs, cl) else search(cs, cl)
        if hit is None:
            continue
        found.append((tuple(n[1] for n in hit[0]), tuple(n[1] for n in hit[1])))
        if hit != (cs, cl):
            todo += components(comp - set(hit[0]) - set(hit[1]))
    return sorted(found)


@SETTINGS
@given(items("s", max_size=7), items("l", max_size=7), rules(shapes=["many_to_many"], max_rules=1))
def test_many_to_many_equals_the_plain_oracle_when_not_cut(
    stmt: list[Item], ledger: list[Item], ruleset: list[MatchRule]
) -> None:
    [rule] = ruleset
    limits = Limits(max_items=rule.limits.max_items, max_nodes=10**7)
    rule = rule.model_copy(update={"limits": limits})
    result = match(stmt, ledger, [rule], CALENDAR)
    assert result.stats.searches_cut == 0
    got = [(m.statement_ids, m.ledger_ids) for m in result.matches]
    assert got == many_to_many_oracle(rule, stmt, ledger)


def breaks_oracle(
    result: MatchResult, stmt: list[Item], ledger: list[Item], ruleset: list[MatchRule]
) -> list[BreakCandidate]:
    """The breaks, recomputed by brute force from what the result matched."""
    matched = {i for m in result.matches for i in (*m.statement_ids, *m.ledger_ids)}
    window = max(r.date.window for r in ruleset)
    fuzzy = min((r.reference.threshold for r in ruleset if r.reference.threshold), default=None)

    def key(i: Item) -> tuple[int, date, str, str]:
        return i.amount, i.on, i.reference, i.counterparty

    def copies(own: list[Item], other: list[Item]) -> set[str]:
        left = [i for i in own if i.id not in matched]
        out: set[str] = set()
        for k in {key(i) for i in left}:
            extra = sum(key(i) == k for i in own) - max(sum(key(i) == k for i in other), 1)
            out |= set(sorted((i.id for i in left if key(i) == k), reverse=True)[: max(extra, 0)])
        return out

    dup_s, dup_l = copies(stmt, ledger), copies(ledger, stmt)
    rest_s = [i for i in stmt if i.id not in matched | dup_s]
    rest_l = [i for i in ledger if i.id not in matched | dup_l]

    def paired(timing: bool) -> list[tuple[Item, Item]]:
        candidates = []
        for s, g in itertools.product(rest_s, rest_l):
            ns, ng = normalise(s.reference), normalise(g.reference)
            ref = similarity(ns, ng) if ns and ng else 0
            if not (ref == 1000 or (fuzzy is not None and ref >= fuzzy)):
                continue
            if (s.amount > 0) - (s.amount < 0) != (g.amount > 0) - (g.amount < 0):
                continue
            days = business_days(s.on, g.on, CALENDAR)
            within = any(r.amount.within(s.amount, g.amount) for r in ruleset)
            if (days > window, within) == (timing, timing):
                candidates.append((-ref, abs(s.amount - g.amount), days, s.id, g.id, s, g))
        taken, used = [], set()
        for *_, s_id, g_id, s, g in sorted(candidates, key=lambda c: c[:5]):
            if s_id not in used and g_id not in used:
                used |= {s_id, g_id}
                taken.append((s, g))
        rest_s[:] = [i for i in rest_s if i.id not in used]
        rest_l[:] = [i for i in rest_l if i.id not in used]
        return sorted(taken, key=lambda p: p[0].id)

    by_id = sorted(stmt + ledger, key=lambda i: i.id)
    out = [
        BreakCandidate("duplicate", (), (i.id,), 0, i.amount)
        for i in by_id
        if i.id in dup_l and i in ledger
    ]
    out += [
        BreakCandidate("duplicate", (i.id,), (), i.amount, 0)
        for i in by_id
        if i.id in dup_s and i in stmt
    ]
    for kind, timing in (("amount_mismatch", False), ("timing", True)):
        out += [
            BreakCandidate(kind, (s.id,), (g.id,), s.amount, g.amount)  # type: ignore[arg-type]
            for s, g in paired(timing)
        ]
    out += [
        BreakCandidate("missing_in_ledger", (i.id,), (), i.amount, 0)
        for i in sorted(rest_s, key=lambda i: i.id)
    ]
    out += [
        BreakCandidate("missing_in_statement", (), (i.id,), 0, i.amount)
        for i in sorted(rest_l, key=lambda i: i.id)
    ]
    return out


@SETTINGS
@given(items("s"), items("l"), rules())
def test_breaks_equal_the_plain_oracle(
    stmt: list[Item], ledger: list[Item], ruleset: list[MatchRule]
) -> None:
    result = match(stmt, ledger, ruleset, CALENDAR)
    assert list(result.breaks) == breaks_oracle(result, stmt, ledger, ruleset)
