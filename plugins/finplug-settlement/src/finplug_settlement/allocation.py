"""Exact splits of one payment among parties, and of its refunds back over them.

Everything here works on integer minor units (cents for EUR, yen for JPY) and
touches no database. A payment is split by a :class:`SplitRule`, an ordered
tuple of :class:`Share` specs; :func:`allocate` turns an amount into one
:class:`Allocation` per share, and :func:`allocate_refund` spreads a (partial)
refund back over what each party received. :func:`split_money` and
:func:`refund_money` do the same on :class:`finplug.Money`.

The split rule: Numscript's allotment
-------------------------------------
:func:`allocate` follows the allotment of Formance's Numscript (a destination
block such as ``{ 10% to @platform  remaining to @merchant }``), taken from its
documentation ("Rounding") and its interpreter:

1. Fixed shares are taken first, each exactly its amount. (Numscript writes
   this as an in-order destination, ``max [EUR/2 200] to @fee`` ahead of the
   allotment; it caps a ``max`` at what is there, whereas here a rule whose
   fixed shares need more than the amount raises :class:`SplitError`.)
2. What is left, ``L``, is split among the portion shares. A remainder share
   is *itself a portion*: ``1 -`` the sum of the others, as Numscript's
   ``remaining`` is. Each portion ``p`` gets ``floor(p * L)``.
3. The units lost to flooring (always fewer than the number of portion
   shares) are handed out one each to the portion shares in declaration
   order, the remainder share included at its own position, from the top.

So ``100`` split ``1/3, 1/3, remaining`` gives ``34, 33, 33``: the remainder
share is a third like the others and gets ``floor(33.3) = 33``, and the unit
lost goes to the first share. The remainder share does **not** simply take
"whatever the others leave"; it joins the rounding at its position. A share
declared higher receives the odd unit, so the order of the shares is the
tie-break, and a rule author can decide who absorbs rounding by putting that
party first (Numscript's documentation shows ``99`` split ``50%/50%`` giving
``50, 49``, and ``49, 50`` once the lines are swapped).

Why it is fair: the parts always sum to the amount exactly (no unit is lost
or created); fixed parts are exact; every portion part is ``floor(exact)`` or
``floor(exact) + 1``, so it is never more than one minor unit away from its
exact rational value ``p * L``. The result depends only on the amount and the
rule, never on hashing or iteration order, so it is deterministic.

Two consequences of handing units out by position rather than by size of the
lost fraction, both exactly as Numscript does it, and both still within one
unit: a share whose exact value is a whole number can receive a unit
(``2`` split ``1/2, 1/4, 1/4`` gives ``2, 0, 0``), and a remainder share whose
portion is zero (the other portions already make 100%) can receive one when
it is declared before them. ``finplug.allocate`` (core) uses the
largest-remainder rule instead (``15`` by ``80/8/12`` gives ``12, 1, 2`` there
and ``13, 1, 1`` here); this module deliberately matches Numscript so a
split computed here equals the one a Formance ledger would post.

Refunds
-------
:func:`allocate_refund` spreads a refund over the parties in proportion to
what each received in the original split, with the same rule (floor, then one
unit each in declaration order), and never takes from a party more than it
received minus what was already refunded from it: a part above that room is
cut to it, and the excess goes to the next parties with room, in declaration
order. With ``first=party`` that party's room is used first and the rest is
spread over the others. A sequence of partial refunds that adds up to the
whole amount therefore refunds every party exactly what it received.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from fractions import Fraction
from math import lcm
from types import MappingProxyType

from finplug import Money

__all__ = [
    "Allocation",
    "Share",
    "SplitError",
    "SplitRule",
    "SplitRuleError",
    "allocate",
    "allocate_refund",
    "refund_money",
    "split_money",
]

_NO_REFUNDS: Mapping[str, int] = MappingProxyType({})


class SplitRuleError(ValueError):
    """A share or split rule is malformed; says which share and what was expected."""

    def __init__(self, problem: str, *, index: int | None = None, party: str | None = None):
        self.problem = problem
        """What is wrong and what was expected."""
        self.index = index
        """The position of the share in the rule (0-based), when the rule is known."""
        self.party = party
        """The party of the share at fault, when one is."""
        if index is not None:
            where = f"share {index} ({party!r})"
        elif party is not None:
            where = f"share {party!r}"
        else:
            where = "split rule"
        super().__init__(f"{where}: {problem}")


class SplitError(ValueError):
    """An amount or refund cannot be split as asked (too small, too large, negative …)."""


def _percent_text(fraction: Fraction) -> str:
    """``Fraction(1, 8)`` as ``12.5%``; a percentage with no finite decimal as ``100/3%``."""
    percent = fraction * 100
    rest = percent.denominator
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    if rest != 1:
        return f"{percent.numerator}/{percent.denominator}%"
    with localcontext() as ctx:
        ctx.prec = len(str(percent.numerator)) + len(str(percent.denominator)) + 2
        return f"{Decimal(percent.numerator) / Decimal(percent.denominator):f}%"


@dataclass(frozen=True, slots=True)
class Share:
    """One party's share in a :class:`SplitRule`: give exactly one of the four kinds.

    * ``percent``: a :class:`~decimal.Decimal` with ``0 < percent <= 100``
      (``Decimal("12.5")``, ``Decimal("33.333")``), read as ``percent / 100``;
    * ``portion``: an exact :class:`~fractions.Fraction` with ``0 < portion <= 1``
      (``Fraction(1, 3)``);
    * ``fixed_minor``: an int ``> 0`` of minor units, taken before the portions;
    * ``remainder=True``: ``1 -`` the other portions (at most one per rule).

    Construction validates and raises :class:`SplitRuleError` naming the party.
    """

    party: str
    """Who receives this share (a merchant, the platform, a partner …)."""
    percent: Decimal | None = None
    """A percentage of what is left after the fixed shares."""
    portion: Fraction | None = None
    """An exact fraction of what is left after the fixed shares."""
    fixed_minor: int | None = None
    """A fixed amount, in minor units of the currency being split."""
    remainder: bool = False
    """Whether this share is the rest of the portions (``remaining`` in Numscript)."""

    def __post_init__(self) -> None:
        party = self.party
        if not isinstance(party, str) or not party.strip():
            raise SplitRuleError(
                f"a share's party must be a non-empty string, got {party!r}",
                party=party if isinstance(party, str) else None,
            )

        def fail(problem: str) -> SplitRuleError:
            return SplitRuleError(problem, party=party)

        given = [
            name
            for name, value in (
                ("percent", self.percent),
                ("portion", self.portion),
                ("fixed_minor", self.fixed_minor),
            )
            if value is not None
        ]
        if not isinstance(self.remainder, bool):
            raise fail(f"remainder must be True or False, got {self.remainder!r}")
        if self.remainder:
            given.append("remainder")
        if len(given) != 1:
            got = " and ".join(given) if given else "none"
            raise fail(
                f"expected exactly one of percent, portion, fixed_minor or remainder=True;"
                f" got {got}"
            )
        if self.percent is not None:
            p = self.percent
            if not isinstance(p, Decimal):
                raise fail(f"percent must be a Decimal, got {type(p).__name__} {p!r}")
            if not p.is_finite() or not 0 < p <= 100:
                raise fail(f"percent must be > 0 and <= 100, got {p}")
        elif self.portion is not None:
            f = self.portion
            if not isinstance(f, Fraction):
                raise fail(f"portion must be a fractions.Fraction, got {type(f).__name__} {f!r}")
            if not 0 < f <= 1:
                raise fail(f"portion must be > 0 and <= 1, got {f}")
        elif self.fixed_minor is not None:
            m = self.fixed_minor
            if isinstance(m, bool) or not isinstance(m, int):
                raise fail(f"fixed_minor must be an int of minor units, got {m!r}")
            if m <= 0:
                raise fail(f"fixed_minor must be > 0 minor units, got {m}")

    @property
    def fraction(self) -> Fraction | None:
        """The exact portion (``percent / 100`` or ``portion``); ``None`` if fixed or remainder."""
        if self.percent is not None:
            return Fraction(self.percent) / 100
        return self.portion


@dataclass(frozen=True, slots=True)
class SplitRule:
    """An ordered set of shares, validated as a whole; the order is the rounding tie-break.

    Party names are unique; at most one share is the remainder; the portion
    shares (percent and portion) total at most 100%, and exactly 100% when
    there is no remainder share (what would be left has nowhere to go).
    Raises :class:`SplitRuleError` naming the share (index and party).
    """

    shares: tuple[Share, ...]
    """The shares in declaration order."""
    _fixed: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)
    _fixed_total: int = field(init=False, repr=False, compare=False)
    _portions: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)
    _denominator: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        shares = tuple(self.shares)
        object.__setattr__(self, "shares", shares)
        if not shares:
            raise SplitRuleError("needs at least one share")
        seen: dict[str, int] = {}
        remainder_at: int | None = None
        fractions: list[tuple[int, Fraction]] = []
        total = Fraction(0)
        for i, share in enumerate(shares):
            if not isinstance(share, Share):
                raise SplitRuleError(f"expected a Share, got {type(share).__name__}", index=i)
            if share.party in seen:
                raise SplitRuleError(
                    f"party {share.party!r} already has share {seen[share.party]};"
                    " expected unique party names",
                    index=i,
                    party=share.party,
                )
            seen[share.party] = i
            if share.remainder:
                if remainder_at is not None:
                    raise SplitRuleError(
                        f"a second remainder share (share {remainder_at} is one);"
                        " expected at most one",
                        index=i,
                        party=share.party,
                    )
                remainder_at = i
            fraction = share.fraction
            if fraction is not None:
                total += fraction
                if total > 1:
                    raise SplitRuleError(
                        f"the portion shares reach {_percent_text(total)} here;"
                        " expected at most 100% in total",
                        index=i,
                        party=share.party,
                    )
                fractions.append((i, fraction))
        if remainder_at is None and total != 1:
            raise SplitRuleError(
                f"the portion shares sum to {_percent_text(total)}; without a remainder"
                " share they must sum to exactly 100%"
            )
        if remainder_at is not None:
            fractions.append((remainder_at, 1 - total))
            fractions.sort()
        denominator = lcm(*(fraction.denominator for _, fraction in fractions))
        fixed = tuple((i, s.fixed_minor) for i, s in enumerate(shares) if s.fixed_minor is not None)
        portions = tuple((i, f.numerator * (denominator // f.denominator)) for i, f in fractions)
        object.__setattr__(self, "_fixed", fixed)
        object.__setattr__(self, "_fixed_total", sum(m for _, m in fixed))
        object.__setattr__(self, "_portions", portions)
        object.__setattr__(self, "_denominator", denominator)

    @classmethod
    def of(cls, *shares: Share) -> SplitRule:
        """``SplitRule.of(share, share, …)``: the shares in declaration order."""
        return cls(shares)

    @property
    def parties(self) -> tuple[str, ...]:
        """The parties in declaration order."""
        return tuple(share.party for share in self.shares)

    @property
    def fixed_total_minor(self) -> int:
        """The minor units the fixed shares take before any portion: the least splittable."""
        return self._fixed_total


@dataclass(frozen=True, slots=True)
class Allocation:
    """One party's part of a split or of a refund, in minor units."""

    party: str
    """The party."""
    minor: int
    """Its part, in minor units (never negative)."""


def _check_minor(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int of minor units, got {type(value).__name__}")
    if value < 0:
        raise SplitError(f"{what} must not be negative, got {value}")
    return value


def allocate(amount_minor: int, rule: SplitRule) -> tuple[Allocation, ...]:
    """Split ``amount_minor`` by ``rule``: one :class:`Allocation` per share, in declaration order.

    Fixed shares first, then Numscript's allotment of the rest (see the module
    docstring). The parts sum to ``amount_minor`` exactly. Raises
    :class:`SplitError` for a negative amount, or when the fixed shares need
    more than ``amount_minor`` (so zero splits to all zeros only for a rule
    without fixed shares).
    """
    amount = _check_minor(amount_minor, "the amount to split")
    needed = rule._fixed_total
    if needed > amount:
        raise SplitError(
            f"the fixed shares need {needed} minor units but only {amount} are available"
        )
    parts = [0] * len(rule.shares)
    for i, minor in rule._fixed:
        parts[i] = minor
    left = amount - needed
    denominator = rule._denominator
    given = 0
    for i, numerator in rule._portions:
        floor = numerator * left // denominator
        parts[i] = floor
        given += floor
    leftover = left - given
    for i, _ in rule._portions:
        if not leftover:
            break
        parts[i] += 1
        leftover -= 1
    return tuple(Allocation(s.party, m) for s, m in zip(rule.shares, parts, strict=True))


def _spread(amount: int, weights: list[int], rooms: list[int]) -> list[int]:
    """``amount`` in proportion to ``weights``, floored then +1 in order, capped at ``rooms``.

    Needs ``amount <= sum(rooms)`` and ``rooms[i] <= weights[i]``. Units above a
    room go to the next entries with room, in order.
    """
    parts = [0] * len(weights)
    if not amount:
        return parts
    total = sum(weights)
    given = 0
    for i, weight in enumerate(weights):
        floor = weight * amount // total
        parts[i] = floor
        given += floor
    leftover = amount - given
    for i, weight in enumerate(weights):
        if not leftover:
            break
        if weight:
            parts[i] += 1
            leftover -= 1
    excess = 0
    for i, room in enumerate(rooms):
        if parts[i] > room:
            excess += parts[i] - room
            parts[i] = room
    for i, room in enumerate(rooms):
        if not excess:
            break
        space = room - parts[i]
        if space > 0:
            take = min(space, excess)
            parts[i] += take
            excess -= take
    return parts


def allocate_refund(
    refund_minor: int,
    original: Sequence[Allocation],
    already_refunded: Mapping[str, int] = _NO_REFUNDS,
    *,
    first: str | None = None,
) -> tuple[Allocation, ...]:
    """Spread a refund back over the parties of ``original``, in its order.

    Proportional to what each party received (floor, then one unit each in
    declaration order), never more than a party's room (received minus
    ``already_refunded``); a part cut to its room passes the excess to the
    next parties with room, in declaration order. With ``first``, that party
    gives up to its room first and the rest is spread over the others.

    Raises :class:`SplitError` when the refund exceeds what is left to refund,
    for a negative refund, an unknown ``first`` or ``already_refunded`` party,
    a duplicate party in ``original``, or an ``already_refunded`` value that
    is negative or above what the party received.
    """
    refund = _check_minor(refund_minor, "the refund")
    received: list[int] = []
    index: dict[str, int] = {}
    for i, part in enumerate(original):
        if part.party in index:
            raise SplitError(f"party {part.party!r} appears twice in the original split")
        index[part.party] = i
        received.append(_check_minor(part.minor, f"what {part.party!r} received"))
    rooms = list(received)
    for party, minor in already_refunded.items():
        if party not in index:
            raise SplitError(f"already_refunded names {party!r}, not a party of the original split")
        done = _check_minor(minor, f"what was already refunded from {party!r}")
        if done > received[index[party]]:
            raise SplitError(
                f"already_refunded says {done} minor units came back from {party!r},"
                f" which received only {received[index[party]]}"
            )
        rooms[index[party]] -= done
    available = sum(rooms)
    if refund > available:
        raise SplitError(
            f"the refund needs {refund} minor units but only {available} are left to refund"
            f" ({sum(received)} received, {sum(received) - available} already refunded)"
        )
    if first is None:
        parts = _spread(refund, received, rooms)
    else:
        if first not in index:
            raise SplitError(f"first names {first!r}, not a party of the original split")
        at = index[first]
        taken = min(refund, rooms[at])
        weights = list(received)
        weights[at] = 0
        rooms[at] = 0
        parts = _spread(refund - taken, weights, rooms)
        parts[at] = taken
    return tuple(Allocation(p.party, m) for p, m in zip(original, parts, strict=True))


def split_money(amount: Money, rule: SplitRule) -> dict[str, Money]:
    """:func:`allocate` on a :class:`~finplug.Money`: party → its part, in declaration order.

    Fixed shares are read in the minor units of ``amount``'s currency.
    """
    parts = allocate(amount.minor_units, rule)
    return {p.party: Money.from_minor(p.minor, amount.currency) for p in parts}


def _minor_of(money: Money, refund: Money, what: str) -> int:
    if money.currency is not refund.currency:
        raise SplitError(
            f"{what} is in {money.currency.code}, the refund in {refund.currency.code}"
        )
    return money.minor_units


def refund_money(
    refund: Money,
    original: Mapping[str, Money],
    already_refunded: Mapping[str, Money] | None = None,
    *,
    first: str | None = None,
) -> dict[str, Money]:
    """:func:`allocate_refund` on :class:`~finplug.Money`: party → its part of ``refund``.

    ``original`` maps each party to what it received, in declaration order;
    every amount must be in the refund's currency (else :class:`SplitError`).
    """
    received = tuple(
        Allocation(party, _minor_of(money, refund, f"what {party!r} received"))
        for party, money in original.items()
    )
    done = {
        party: _minor_of(money, refund, f"what was refunded from {party!r}")
        for party, money in (already_refunded or {}).items()
    }
    parts = allocate_refund(refund.minor_units, received, done, first=first)
    return {p.party: Money.from_minor(p.minor, refund.currency) for p in parts}
