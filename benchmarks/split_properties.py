"""Split invariants at scale: 1,000,000 random splits and refund sequences, checked exactly.

Run ``python benchmarks/split_properties.py`` (full: a million cases, about
45 s on one core) or ``python benchmarks/split_properties.py --quick``
(20,000 cases, a second or two, for tests). It prints human-readable lines,
then, as its last line, one JSON object with every figure. It exits 0 even
when an invariant fails: ``violations`` says so (it must be 0).

What is run, and how:

1. **Rules**: a pool of random :class:`SplitRule` (``rules``: 10,000; quick
   2,000) from a seeded ``random.Random``: up to five percent (three
   decimals) or fraction (denominators up to 997) shares, a remainder share
   or not (without one the portions make exactly 100%; with one they may
   make exactly 100% too, leaving the remainder a zero portion), up to two
   fixed shares, in shuffled order.
2. **Cases** (``cases``): each picks a rule and an amount (the rule's fixed
   total plus 0-100, 0-10^6 or 0-10^12 minor units), calls ``allocate`` and
   checks, in integer arithmetic from each share's exact fraction (not the
   module's own plan): the parts sum to the amount, none is negative, fixed
   parts are exact, every portion part is ``floor(exact)`` or
   ``floor(exact) + 1``, and the ``+1`` units sit on the first portion
   shares in declaration order (Numscript's rule). Then 1-4 partial refunds
   that add up to the amount, each with ``first`` set to a random party one
   time in three, through ``allocate_refund``: each sums to its refund,
   takes from no party more than its room, ``first`` gives
   ``min(refund, room)``, every party ends refunded exactly what it
   received, and one more unit is refused (``refunds``: the calls checked).
   ``violations`` counts the cases breaking any of it; ``elapsed_s`` and
   ``cases_per_s`` cover the whole checking run (drawing, splitting,
   refunding, checking, and the baseline).
3. **Baseline** (``naive_mismatch_cases``): on the same cases, every share
   rounded on its own (round half to even of its exact value, as Python's
   ``round()`` does; fixed shares exact, the remainder share as its implied
   portion). ``naive_lost_cases`` / ``naive_gained_cases``: the parts sum
   below / above the amount; ``naive_mismatch_ratio``: mismatches / cases;
   ``naive_max_error_units``: the largest gap seen.
4. **Speed** (``allocate_per_s``): ``allocate`` alone over the same
   (rule, amount) pairs, the garbage collector off (``_bench.timed``).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from array import array
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any

from _bench import load_average, log, parse_args, timed
from finplug_settlement.allocation import (
    Allocation,
    Share,
    SplitError,
    SplitRule,
    allocate,
    allocate_refund,
)

SEED = 20_261_201
MILLI_PERCENT = 100_000  # a percent with three decimals is m / 100000 of the whole

# One share as the checker sees it: (fixed minor units or None, numerator, denominator).
Spec = tuple[tuple[int | None, int, int], ...]


def random_portion(rng: random.Random, party: str, budget: Fraction, *, strict: bool) -> Share:
    """A percent or fraction share of at most ``budget`` (less than it when ``strict``)."""
    scaled = budget * MILLI_PERCENT
    top = math.ceil(scaled) - 1 if strict else math.floor(scaled)
    if top >= 1 and rng.random() < 0.5:
        return Share(party, percent=Decimal(rng.randint(1, top)) / 1000)
    denominator = rng.randint(2 if strict else 1, 997)
    numerator = rng.randint(1, denominator - 1 if strict else denominator)
    return Share(party, portion=budget * Fraction(numerator, denominator))


def random_rule(rng: random.Random) -> SplitRule:
    n_portions = rng.randint(0, 5)
    with_remainder = n_portions == 0 or rng.random() < 0.5
    shares: list[Share] = []
    budget = Fraction(1)
    for k in range(n_portions):
        if budget == 0:
            break
        party = f"portion{k}"
        if k == n_portions - 1 and not with_remainder:
            if (budget * MILLI_PERCENT).denominator == 1 and rng.random() < 0.5:
                percent = Decimal(budget.numerator * 100) / budget.denominator
                shares.append(Share(party, percent=percent))
            else:
                shares.append(Share(party, portion=budget))
            continue
        # With a remainder, one share in eight takes the whole budget (a zero remainder).
        whole = with_remainder and rng.random() < 0.125
        share = (
            Share(party, portion=budget)
            if whole
            else random_portion(rng, party, budget, strict=not with_remainder)
        )
        shares.append(share)
        budget -= share.fraction or Fraction(0)
    if with_remainder:
        shares.append(Share("rest", remainder=True))
    for k in range(rng.randint(0, 2)):
        fixed = rng.randint(1, 100) if rng.random() < 0.5 else rng.randint(1, 10**6)
        shares.append(Share(f"fixed{k}", fixed_minor=fixed))
    rng.shuffle(shares)
    return SplitRule(tuple(shares))


def spec_of(rule: SplitRule) -> Spec:
    named = sum((s.fraction or Fraction(0) for s in rule.shares), Fraction(0))
    spec: list[tuple[int | None, int, int]] = []
    for share in rule.shares:
        if share.fixed_minor is not None:
            spec.append((share.fixed_minor, 0, 1))
        else:
            portion = share.fraction if share.fraction is not None else 1 - named
            spec.append((None, portion.numerator, portion.denominator))
    return tuple(spec)


def split_problem(amount: int, fixed_total: int, spec: Spec, parts: list[int]) -> str | None:
    """What is wrong with ``parts`` as a split of ``amount``, or ``None``."""
    if sum(parts) != amount:
        return f"parts sum to {sum(parts)}, not {amount}"
    left = amount - fixed_total
    previous_extra = 1
    for (fixed, numerator, denominator), part in zip(spec, parts, strict=True):
        if part < 0:
            return f"negative part {part}"
        if fixed is not None:
            if part != fixed:
                return f"fixed share {fixed} got {part}"
            continue
        extra = part - numerator * left // denominator
        if extra not in (0, 1):
            return f"portion {numerator}/{denominator} of {left} got {part}"
        if extra > previous_extra:
            return "a rounding unit skipped an earlier portion share"
        previous_extra = extra
    return None


def naive_total(amount: int, fixed_total: int, spec: Spec) -> int:
    """The sum of every share rounded on its own (half to even, as ``round()``)."""
    left = amount - fixed_total
    total = fixed_total
    for fixed, numerator, denominator in spec:
        if fixed is not None:
            continue
        quotient, rest = divmod(numerator * left, denominator)
        if 2 * rest > denominator or (2 * rest == denominator and quotient % 2):
            quotient += 1
        total += quotient
    return total


def refund_problem(rng: random.Random, original: tuple[Allocation, ...]) -> tuple[str | None, int]:
    """Run 1-4 partial refunds adding up to the whole; (what went wrong or None, calls made)."""
    received = [p.minor for p in original]
    parties = [p.party for p in original]
    total = sum(received)
    cuts = sorted(rng.randint(0, total) for _ in range(rng.randint(0, 3)))
    bounds = [0, *cuts, total]
    refunded = dict.fromkeys(parties, 0)
    calls = 0
    for start, end in pairwise(bounds):
        refund = end - start
        first = rng.choice(parties) if rng.random() < 1 / 3 else None
        parts = [p.minor for p in allocate_refund(refund, original, refunded, first=first)]
        calls += 1
        if sum(parts) != refund:
            return f"refund parts sum to {sum(parts)}, not {refund}", calls
        for party, got, part in zip(parties, received, parts, strict=True):
            room = got - refunded[party]
            if not 0 <= part <= room:
                return f"{party} refunded {part} with room {room}", calls
            if party == first and part != min(refund, room):
                return f"first party {party} gave {part}, not min({refund}, {room})", calls
            refunded[party] += part
    if [refunded[p] for p in parties] != received:
        return "the refunds do not return what each party received", calls
    try:
        allocate_refund(1, original, refunded)
    except SplitError:
        return None, calls + 1
    return "a refund beyond what was received was accepted", calls + 1


def draw_amount(rng: random.Random, fixed_total: int) -> int:
    size = rng.random()
    top = 100 if size < 0.3 else 10**6 if size < 0.7 else 10**12
    return fixed_total + rng.randint(0, top)


def run_cases(results: dict[str, Any], count: int, pool: int) -> None:
    rng = random.Random(SEED)
    started = time.perf_counter()
    rules = [random_rule(rng) for _ in range(pool)]
    specs = [spec_of(rule) for rule in rules]
    fixed_totals = [rule.fixed_total_minor for rule in rules]
    log(f"  {pool:,} random rules built in {time.perf_counter() - started:.2f} s")

    picks = array("l")
    amounts = array("q")
    violations = refunds = lost = gained = worst = 0
    examples: list[str] = []
    started = time.perf_counter()
    for _ in range(count):
        which = rng.randrange(pool)
        rule, spec, fixed_total = rules[which], specs[which], fixed_totals[which]
        amount = draw_amount(rng, fixed_total)
        picks.append(which)
        amounts.append(amount)
        original = allocate(amount, rule)
        problem = split_problem(amount, fixed_total, spec, [p.minor for p in original])
        if problem is None:
            problem, calls = refund_problem(rng, original)
            refunds += calls
        if problem is not None:
            violations += 1
            if len(examples) < 5:
                examples.append(f"{rule} at {amount}: {problem}")
        gap = naive_total(amount, fixed_total, spec) - amount
        if gap:
            lost += gap < 0
            gained += gap > 0
            worst = max(worst, abs(gap))
    elapsed = time.perf_counter() - started
    for example in examples:
        log(f"  VIOLATION {example}")

    def split_all() -> int:
        for which, amount in zip(picks, amounts, strict=True):
            allocate(amount, rules[which])
        return count

    results.update(
        rules=pool,
        cases=count,
        refunds=refunds,
        violations=violations,
        elapsed_s=round(elapsed, 2),
        cases_per_s=round(count / elapsed, 1),
        naive_mismatch_cases=lost + gained,
        naive_lost_cases=lost,
        naive_gained_cases=gained,
        naive_mismatch_ratio=round((lost + gained) / count, 4),
        naive_max_error_units=worst,
        allocate_per_s=round(timed(split_all), 1),
    )
    log(
        f"  {count:,} splits and {refunds:,} refund calls checked in {elapsed:.2f} s"
        f" ({results['cases_per_s']:,.0f} cases/s): {violations} violations"
    )
    log(
        f"  naive round() per share: {lost + gained:,} cases off"
        f" ({results['naive_mismatch_ratio']:.2%}; {lost:,} lose, {gained:,} gain;"
        f" worst {worst} units)"
    )
    log(f"  allocate alone: {results['allocate_per_s']:,.0f} splits/s")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__, argv, quick_help="20,000 cases, for tests", database_url=False)
    results: dict[str, Any] = {"quick": args.quick, "seed": SEED, "loadavg_1m": load_average()}
    count, pool = (20_000, 2_000) if args.quick else (1_000_000, 10_000)
    log(f"== {count:,} random splits and refund sequences, checked exactly ==")
    run_cases(results, count, pool)
    log("PASS  no violation" if results["violations"] == 0 else "FAIL  violations above")
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
